"""Run the app under uvicorn: load named models, bind, print the URL, stop on Ctrl-C.

The socket is bound first (a port in use or an address this machine does not have is one
line, exit 2, before any model loads), then named models load, then uvicorn serves on that
socket: a misspelt name or missing weights fail the command instead of the first click.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

from zoo.errors import InputError
from zoo.serve.config import ServeConfig


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (as uvicorn binds: ``SO_REUSEADDR``), or one line.

    Done before any model loads, so ``zoo serve`` on a busy port says so in a second
    instead of after loading models and then dying in uvicorn's event loop.

    Raises:
        InputError: the port is in use, the address is not this machine's, or the port
            needs privileges.
    """
    name = host.strip().strip("[]")
    try:
        infos = socket.getaddrinfo(
            name, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE | socket.AI_NUMERICSERV
        )
    except socket.gaierror as exc:
        raise InputError(
            f"cannot listen on --host {host}: {exc.strerror}; give an address of this machine "
            "(127.0.0.1, or 0.0.0.0 for every interface)"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise InputError(
                f"port {port} on {host} is already in use (another zoo serve?); stop that "
                "server or choose another --port (--port 0 picks a free one)"
            ) from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise InputError(
                f"no permission to listen on port {port} (ports below 1024 need root); "
                "choose --port 8000 or another port above 1023"
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise InputError(
                f"cannot listen on --host {host}: not an address of this machine; give one of "
                "its addresses (127.0.0.1, or 0.0.0.0 for every interface)"
            ) from None
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def run(config: ServeConfig, *, out: TextIO | None = None, log_level: str = "warning") -> None:
    """Serve until interrupted. Prints ``zoo serve: listening on URL`` once requests work."""
    stream = out or sys.stderr
    config.check()
    sock = bind_socket(config.host, config.port)
    try:
        _serve(config, sock, stream, log_level)
    finally:
        sock.close()
    print("zoo serve: stopped", file=stream, flush=True)


def _serve(config: ServeConfig, sock: socket.socket, stream: TextIO, log_level: str) -> None:
    import uvicorn

    from zoo.serve.app import create_app

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
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():  # start-up failed: uvicorn already said why
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
