"""``python -m tests.fake_callmissed``: run the fake as a process (demos, manual runs).

Example::

    python -m tests.fake_callmissed --port 8791 --latency 2 --variant markdown
    AIRFLOW_CONN_CALLMISSED_DEFAULT='{"conn_type":"http","host":"http://127.0.0.1:8791",
        "password":"cm_fake_access_token_0123456789abcdef"}'
"""

from __future__ import annotations

import argparse
import sys

from tests.background_server import wait_for_shutdown

from .answers import ANALYSIS_VARIANTS
from .config import DEFAULT_API_KEY, CallMissedConfig
from .server import FakeCallMissed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.fake_callmissed", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = any free port (printed)")
    p.add_argument("--api-key", action="append", help=f"accepted key, repeatable (default {DEFAULT_API_KEY})")
    p.add_argument("--open", action="store_true", help="accept any request without a key")
    p.add_argument("--latency", type=float, default=0.0, help="seconds per analyze answer")
    p.add_argument("--max-upload-mb", type=float, default=100.0)
    p.add_argument("--variant", choices=sorted(ANALYSIS_VARIANTS), default="documented", help="analysis text shape")
    args = p.parse_args(argv)
    config = CallMissedConfig(
        api_keys=set() if args.open else set(args.api_key or [DEFAULT_API_KEY]),
        latency_s=args.latency, max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        analysis_variant=args.variant,
    )
    with FakeCallMissed(config, host=args.host, port=args.port) as fake:
        print(f"fake callmissed listening on {fake.base_url}", flush=True)
        wait_for_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
