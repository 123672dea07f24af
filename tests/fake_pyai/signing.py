"""Signed URLs on the result host, S3-presigned style: the engine's HMAC scheme mounted at /signed."""

from __future__ import annotations

import functools

from include.engine import signing as _engine
from include.engine.signing import SIGNED_KINDS as RESULT_KINDS
from include.engine.signing import verify

__all__ = ["RESULT_KINDS", "signed_path", "verify"]

signed_path = functools.partial(_engine.signed_path, prefix="/signed")
