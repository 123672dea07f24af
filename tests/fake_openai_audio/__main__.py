"""``python -m tests.fake_openai_audio``: run the fake as a process (demos, manual runs).

Example::

    python -m tests.fake_openai_audio --port 8792 --latency 1
    AIRFLOW_CONN_OPENAI_AUDIO_DEFAULT='{"conn_type":"http","host":"http://127.0.0.1:8792",
        "password":"sk-fake-audio-0123456789abcdefTESTKEY","extra":{"model":"whisper-1"}}'
"""

from __future__ import annotations

import argparse
import sys

from tests.background_server import wait_for_shutdown

from .config import DEFAULT_API_KEY, AudioConfig
from .server import FakeOpenAIAudio


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.fake_openai_audio", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = any free port (printed)")
    p.add_argument("--api-key", action="append", help=f"accepted key, repeatable (default {DEFAULT_API_KEY})")
    p.add_argument("--open", action="store_true", help="accept any request without a key")
    p.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    p.add_argument("--max-upload-mb", type=float, default=25.0)
    args = p.parse_args(argv)
    config = AudioConfig(api_keys=set() if args.open else set(args.api_key or [DEFAULT_API_KEY]),
                         latency_s=args.latency, max_upload_bytes=int(args.max_upload_mb * 1024 * 1024))
    with FakeOpenAIAudio(config, host=args.host, port=args.port) as fake:
        print(f"fake openai audio listening on {fake.base_url}", flush=True)
        wait_for_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
