"""Run the app under uvicorn: load named models, bind, print the URL, stop on Ctrl-C.

Named models load *before* the socket is bound, so a misspelt name or missing weights
fail the command (one line, exit 2) instead of the first click.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

from zoo.serve.config import ServeConfig


def run(config: ServeConfig, *, out: TextIO | None = None, log_level: str = "warning") -> None:
    """Serve until interrupted. Prints ``zoo serve: listening on URL`` once requests work."""
    import uvicorn

    from zoo.serve.app import create_app

    stream = out or sys.stderr
    config.check()
    app = create_app(config)
    service = app.state.service
    service.pool.check_options()
    for name in config.models:
        start = time.perf_counter()
        slot = service.pool.get(name)
        mode = "  TEST MODE: random weights, not real predictions" if slot.test_mode else ""
        print(
            f"zoo serve: loaded {slot.key} on {getattr(slot.model, 'device', '?')} in "
            f"{time.perf_counter() - start:.1f} s (weights: {slot.weights}){mode}",
            file=stream,
            flush=True,
        )
    logging.getLogger("zoo.serve").setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    server = _make_server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_level=log_level,
            access_log=log_level in ("info", "debug", "trace"),
            timeout_graceful_shutdown=5,
            server_header=False,
        )
    )

    async def main() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():  # bind failed (port in use...): uvicorn already said why
                await task
                raise SystemExit(1)
            await asyncio.sleep(0.05)
        port = _bound_port(server) or config.port
        print(f"zoo serve: listening on {config.url(port)}", file=stream, flush=True)
        if config.exposed:
            print(
                "zoo serve: reachable from other machines; every /v1 request needs the token",
                file=stream,
                flush=True,
            )
        print("zoo serve: press Ctrl-C to stop", file=stream, flush=True)
        await task

    with contextlib.suppress(KeyboardInterrupt):  # uvicorn stops gracefully on the signal
        asyncio.run(main())
    busy = [
        t
        for t in threading.enumerate()
        if t.is_alive() and not t.daemon and t.name.startswith("AnyIO")
    ]
    if busy:  # a model call in progress must not hold the process: stop now
        print(
            f"zoo serve: stopped (abandoned {len(busy)} request(s) in progress)",
            file=stream,
            flush=True,
        )
        service.close()
        os._exit(0)
    print("zoo serve: stopped", file=stream, flush=True)


def _quiet_server_class() -> type:
    import uvicorn

    class QuietServer(uvicorn.Server):  # type: ignore[misc]
        """uvicorn re-raises Ctrl-C after its graceful shutdown (for the default handler);
        ``zoo serve`` has already stopped cleanly by then, so it ends here instead of
        printing a KeyboardInterrupt traceback from the event loop."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                try:
                    yield
                finally:
                    captured = getattr(self, "_captured_signals", None)
                    if isinstance(captured, list):
                        captured.clear()

    return QuietServer


def _make_server(config: Any) -> Any:
    return _quiet_server_class()(config)


def _bound_port(server: Any) -> int | None:
    """The port actually bound (``--port 0`` asks the OS for a free one)."""
    for srv in getattr(server, "servers", []) or []:
        for sock in getattr(srv, "sockets", []) or []:
            try:
                return int(sock.getsockname()[1])
            except (OSError, IndexError, TypeError):
                continue
    return None
