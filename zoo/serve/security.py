"""Who may use the server and what it may read.

* **Token.** With ``--token`` (always when listening beyond loopback) every ``/v1`` request
  carries ``Authorization: Bearer <token>``, compared in constant time. It is checked
  before the body is read, so an anonymous client cannot make the server parse uploads.
* **Loopback without a token.** A page on any web site can make the browser send requests
  to ``127.0.0.1``; DNS rebinding can even make them look same-origin. So a token-less
  server accepts only ``Host: localhost/127.0.0.1/[::1]`` and rejects ``/v1`` requests whose
  ``Origin`` is another site (CORS being off, their answers would be unreadable anyway,
  but an upload would still run a model). A request that came through a reverse proxy
  (``X-Forwarded-For`` and kin) is refused too: behind a proxy the server is not local.
* **Body size.** ``Content-Length`` over ``--max-upload-mb`` is refused up front; a body
  without one is counted as it streams in.
* **Paths.** A client may name a file only with ``--allow-paths DIR``, and only inside DIR
  after resolving symlinks and ``..``; no answer names a path on the server (see
  :func:`zoo.serve.errors.hide_paths`).
* **Health.** ``/healthz`` answers anyone (load balancers probe it without credentials),
  but on a server with a token only an authenticated caller gets more than
  ``{"status": "ok"}``: loaded models, cache use, counters and the process id are for the
  people who hold the token.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from zoo.serve.config import ServeConfig, is_loopback
from zoo.serve.errors import ApiError, body, hide_paths_in

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def allowed_path(path: str, root: Path | None) -> Path:
    """The real file ``path`` names, if it lies inside ``root`` (else 403/404)."""
    if root is None:
        raise ApiError(
            403,
            "paths_forbidden",
            "this server does not read files by path; upload the file in the form field "
            "'file' (or start the server with --allow-paths DIR)",
        )
    if not path or "\x00" in path:
        raise ApiError(400, "bad_path", "the path is empty or contains a NUL byte")
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = root / candidate
    real = Path(os.path.realpath(candidate))  # symlinks and .. resolved before the check
    if real != root and root not in real.parents:
        raise ApiError(
            403,
            "path_outside",
            f"{path} is outside the folder this server may read (--allow-paths {root})",
        )
    if not real.is_file():
        raise ApiError(404, "no_such_file", f"{path} is not a file inside {root}")
    return real


def token_ok(header: str | None, token: str) -> bool:
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def health_view(
    health: dict[str, Any], config: ServeConfig, authorization: str | None
) -> dict[str, Any]:
    """What ``/healthz`` tells this caller: everything (paths hidden) to a caller with the
    token or on a token-less (loopback) server, the status alone to anyone else."""
    if config.token and not token_ok(authorization, config.token):
        return {"status": health.get("status", "ok")}
    return dict(hide_paths_in(health))


#: Headers a reverse proxy adds: their presence means "not only this machine" after all.
_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")


def _host_name(host_header: str) -> str:
    """``127.0.0.1:8000`` -> ``127.0.0.1``; ``[::1]:8000`` -> ``::1``."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class GuardMiddleware:
    """Token, host/origin and body-size checks, before any route or body parser runs."""

    def __init__(
        self, app: ASGIApp, config: ServeConfig, page_headers: dict[bytes, bytes] | None = None
    ) -> None:
        self.app = app
        self.config = config
        self.page_headers = page_headers or {}

    async def _reject(self, send: Send, status: int, code: str, message: str) -> None:
        payload = json.dumps(body(code, message)).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ]
        if status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    def _problem(self, scope: Scope) -> tuple[int, str, str] | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path: str = scope.get("path", "")
        api = path.startswith("/v1")
        token = self.config.token
        if token:
            if api and not token_ok(headers.get("authorization"), token):
                return (
                    401,
                    "unauthorized",
                    "this server needs its token: send 'Authorization: Bearer <token>' (the "
                    "page reads it from the URL printed at start, after #token=)",
                )
        else:
            proxied = [h for h in _PROXY_HEADERS if h in headers]
            if proxied:
                return (
                    403,
                    "proxy_needs_token",
                    f"this request came through a proxy ({proxied[0]} header) but the server "
                    "has no token, so anyone reaching the proxy could use it; start it with "
                    "--token",
                )
            host = _host_name(headers.get("host", ""))
            if host and not is_loopback(host):
                return (
                    403,
                    "bad_host",
                    f"Host {host!r} is not this machine; a server without --token answers "
                    "only localhost (start it with --token to serve other names)",
                )
            origin = headers.get("origin")
            if api and origin and not self._same_origin(origin, headers.get("host", "")):
                return (
                    403,
                    "cross_origin",
                    f"requests from the web page at {origin} are refused (CORS is off); "
                    "start the server with --cors-origin to allow that site",
                )
        length = headers.get("content-length")
        limit = self.config.max_upload_bytes
        if length is not None and length.isdigit() and int(length) > limit:
            return (
                413,
                "too_large",
                f"the request body is {int(length) / 1e6:.3g} MB; this server accepts "
                f"at most {limit / 1e6:.3g} MB (--max-upload-mb)",
            )
        return None

    def _same_origin(self, origin: str, host_header: str) -> bool:
        if origin in self.config.cors_origins:
            return True
        parts = urlsplit(origin)
        return bool(parts.netloc) and parts.netloc == host_header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self._problem(scope)
        if problem is not None:
            await self._reject(send, *problem)
            return
        limit = self.config.max_upload_bytes
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    from starlette.exceptions import HTTPException

                    raise HTTPException(
                        413,
                        f"the request body passed {limit / 1e6:.3g} MB; this server accepts "
                        "at most that (--max-upload-mb)",
                    )
            return message

        if not scope.get("path", "").startswith("/static/") or not self.page_headers:
            await self.app(scope, counted, send)
            return

        async def with_headers(message: Message) -> None:
            """The page's assets get the same security headers as the page itself."""
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.page_headers.items() if k not in names]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, counted, with_headers)
