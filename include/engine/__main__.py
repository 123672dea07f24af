"""`python -m include.engine [--host H] [--port P] [--data-dir D]`: run the embedded engine."""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

# The engine shares the dialect's definition with the client (callmine.dialects, under plugins/):
# `python -m include.engine` from the project root has only the root on sys.path.
_PLUGINS = str(Path(__file__).resolve().parents[2] / "plugins")
if _PLUGINS not in sys.path:
    sys.path.insert(0, _PLUGINS)

from .config import parse_args  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    from .app import create_app
    from .storage import redact_url

    config = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    problem = config.exposure_problem()
    if problem:  # before anything is created or bound
        print(f"callmine engine: {problem}", file=sys.stderr, flush=True)
        return 2
    config.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(config)
    gate = app.state.gate
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    server = uvicorn.Server(
        uvicorn.Config(app, host=config.host, port=config.port, loop=loop, http=http, access_log=False,
                       log_level="warning", lifespan="on")
    )
    original_startup = server.startup

    async def startup(sockets=None) -> None:  # type: ignore[no-untyped-def]
        await original_startup(sockets=sockets)
        if server.started:
            if not config.open_mode:
                auth = f"{gate.keys.count()} API key(s)"
            elif config.local_open_mode:
                auth = "open (no API key, loopback only)"
            else:
                auth = "OPEN ON A NON-LOOPBACK ADDRESS (--insecure-open): INSECURE"
            shared = ""
            if config.queue_url:
                shared = (f" queue={redact_url(config.queue_url)} storage={redact_url(config.storage_url or '')}"
                          f" instance={config.instance_id_in_force()}")
            print(
                f"callmine engine ready on http://{config.host}:{config.port} data_dir={config.data_dir} "
                f"workers={config.workers} model={config.model} auth={auth}{shared}",
                flush=True,
            )

    server.startup = startup  # type: ignore[method-assign]
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
