"""``python -m tests.fake_pyai``: run the fake as a process (demo, benchmarks).

Example::

    python -m tests.fake_pyai --host 127.0.0.1 --port 8700 --result-port 8701 \
        --latency 20 --allow-http-audio --open
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .config import ALL_SCOPES, DEFAULT_API_KEY, FakeConfig, KeyConfig
from .server import FakePyAIServer


def _optional_int(text: str) -> int | None:
    return None if text.lower() in ("none", "inline", "") else int(text)


def _optional_float(text: str) -> float | None:
    return None if text.lower() in ("none", "off", "0", "") else float(text)


def build_parser() -> argparse.ArgumentParser:
    d = FakeConfig()
    p = argparse.ArgumentParser(prog="python -m tests.fake_pyai", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1", help="API bind address (default %(default)s)")
    p.add_argument("--port", type=int, default=8700, help="API port, 0 = any free (default %(default)s)")
    p.add_argument("--result-host", default=None, help="result listener bind address (default: --host)")
    p.add_argument("--result-port", type=int, default=8701, help="result port (default %(default)s)")
    p.add_argument("--public-host", default=None, help="host name in API URLs (default: --host)")
    p.add_argument(
        "--result-public-host", default=None, help="host name in signed URLs (default: localhost, must differ)"
    )
    auth = p.add_mutually_exclusive_group()
    auth.add_argument("--open", action="store_true", help="no authentication (local dev mode)")
    auth.add_argument("--api-key", action="append", help=f"accepted key, repeatable (default {DEFAULT_API_KEY})")
    p.add_argument("--exhausted-api-key", action="append", default=[], help="key that gets 402 on submit")
    p.add_argument("--latency", type=float, default=d.latency_s, help="job latency seconds (%(default)s)")
    p.add_argument("--slow-latency", type=float, default=d.slow_latency_s, help="latency of 'slow' jobs")
    p.add_argument("--allow-http-audio", action="store_true", help="let audio_url use http:// (loopback demos)")
    p.add_argument(
        "--rps", type=_optional_float, default=d.requests_per_second, help="per-key rate, 'off' to disable"
    )
    p.add_argument("--burst", type=int, default=d.burst, help="per-key burst (%(default)s)")
    p.add_argument("--fail-every-n-get", type=int, default=0, help="every Nth job GET answers 503")
    p.add_argument("--slow-response-every-n", type=int, default=0, help="every Nth request sleeps first")
    p.add_argument("--slow-response-s", type=float, default=d.slow_response_s)
    p.add_argument("--fault-seed", type=int, default=d.fault_seed, help="seed of the random faults")
    p.add_argument("--fault-rate-429", type=float, default=0.0, help="share of API requests answered 429")
    p.add_argument("--fault-rate-5xx", type=float, default=0.0, help="share answered 500/502/503")
    p.add_argument("--fault-rate-slow", type=float, default=0.0, help="share answered after --fault-slow-s")
    p.add_argument("--fault-rate-drop", type=float, default=0.0, help="share whose connection is dropped unanswered")
    p.add_argument("--fault-slow-s", type=float, default=d.fault_slow_s)
    p.add_argument("--fault-retry-after-s", type=int, default=d.fault_retry_after_s)
    p.add_argument(
        "--offload-over-bytes",
        type=_optional_int,
        default=d.offload_over_bytes,
        help="results larger than this go to result_url; 'none' = always inline, 0 = always offloaded",
    )
    p.add_argument(
        "--error-shape", choices=["by_kind", "string", "object"], default=d.error_shape, help="failed job 'error'"
    )
    p.add_argument("--word-token-key", choices=["word", "text"], default=None, help="default: varies per job")
    p.add_argument("--webhook-secret", default=d.webhook_secret)
    p.add_argument("--signed-url-ttl", type=float, default=d.signed_url_ttl_s)
    return p


def config_from_args(args: argparse.Namespace) -> FakeConfig:
    keys: dict[str, KeyConfig] = {}
    if not args.open:
        keys = {key: KeyConfig() for key in (args.api_key or [DEFAULT_API_KEY])}
        keys.update({key: KeyConfig(scopes=ALL_SCOPES, state="credit_exhausted") for key in args.exhausted_api_key})
    return FakeConfig(
        keys=keys,
        latency_s=args.latency,
        slow_latency_s=args.slow_latency,
        allow_http_audio=args.allow_http_audio,
        requests_per_second=args.rps,
        burst=args.burst,
        fail_every_n_get=args.fail_every_n_get,
        slow_response_every_n=args.slow_response_every_n,
        slow_response_s=args.slow_response_s,
        fault_seed=args.fault_seed,
        fault_rate_429=args.fault_rate_429,
        fault_rate_5xx=args.fault_rate_5xx,
        fault_rate_slow=args.fault_rate_slow,
        fault_rate_drop=args.fault_rate_drop,
        fault_slow_s=args.fault_slow_s,
        fault_retry_after_s=args.fault_retry_after_s,
        offload_over_bytes=args.offload_over_bytes,
        error_shape=args.error_shape,
        word_token_key=args.word_token_key,
        webhook_secret=args.webhook_secret,
        signed_url_ttl_s=args.signed_url_ttl,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    server = FakePyAIServer(
        config_from_args(args),
        host=args.host,
        port=args.port,
        result_host=args.result_host,
        result_port=args.result_port,
        public_host=args.public_host,
        result_public_host=args.result_public_host,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with server:
        print(f"fake pyai listening on {server.base_url} (results on {server.result_base_url})", flush=True)
        while not stop.wait(1.0):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
