"""A fake CallMissed call-analytics API, written from the public docs only.

Self-contained (imports nothing from callmine or include): bearer auth (401), a size
limit (413), format checks (415 by name, 400 by content), injected 5xx, latency, analysis
text in several shapes, the question endpoint, and a record of every request.
"""

from .answers import ANALYSIS_VARIANTS, SUMMARY, TRANSCRIPT
from .config import ACCEPTED_FORMATS, DEFAULT_API_KEY, CallMissedConfig, RecordedRequest
from .server import BackgroundServer, FakeCallMissed

__all__ = [
    "ACCEPTED_FORMATS", "ANALYSIS_VARIANTS", "DEFAULT_API_KEY", "SUMMARY", "TRANSCRIPT", "BackgroundServer",
    "CallMissedConfig", "FakeCallMissed", "RecordedRequest",
]
