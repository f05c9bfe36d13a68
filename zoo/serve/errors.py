"""One error shape for every failure: ``{"error": {"code": "...", "message": "..."}}``.

A client (the page, ``curl``, a script) should never have to parse a traceback or guess
which of several shapes it got. Every user-fixable problem is a 4xx with a stable
``code`` and a one-line ``message`` that names the fix, as on the command line; anything
else is a bug, logged with its traceback on the server and answered with a generic 500
that carries no internals.

No answer names a path on the server: messages pass through :func:`hide_paths`, which
turns any path under the server's private folders (its temporary files, the temp dir, the
home and cache folders, the Python installation, the package's own folder) into its last
component, so ``cannot decode video /tmp/zoo-serve-x1/y2/video.mp4`` reaches the client
as ``cannot decode video video.mp4``.

This module is framework-free except :func:`install_handlers`, which imports FastAPI.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import InputError, PluginError, UnknownModelError, WeightsError, ZooError

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("zoo.serve")


class ApiError(Exception):
    """A failure with its HTTP status and stable machine-readable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = one_line(message)


def one_line(message: str) -> str:
    """The first non-empty line: the contract every zoo error message keeps."""
    for line in str(message).splitlines():
        if line.strip():
            return line.strip()
    return "error"


#: folders added at run time (the server's temporary folder, ``--allow-paths``)
_EXTRA_PRIVATE: set[str] = set()


def add_private_folder(path: str | os.PathLike[str]) -> None:
    """Never name paths under ``path`` in an answer (see :func:`hide_paths`)."""
    for p in {os.path.abspath(path), os.path.realpath(path)}:
        if len(p.rstrip("/")) > 1:
            _EXTRA_PRIVATE.add(p.rstrip("/"))


def _private_folders() -> set[str]:
    from zoo.weights.env import cache_dir, hf_cache_dir

    roots = {tempfile.gettempdir(), sys.prefix, sys.base_prefix, os.getcwd()}
    roots.add(str(Path(__file__).resolve().parents[2]))  # the zoo package's folder
    roots.update((str(cache_dir()), str(hf_cache_dir())))
    with contextlib.suppress(RuntimeError):  # no home directory
        roots.add(str(Path.home()))
    out = set(_EXTRA_PRIVATE)
    for r in roots:
        for p in {os.path.abspath(r), os.path.realpath(r)}:
            if len(p.rstrip("/")) > 1:  # never "/" itself
                out.add(p.rstrip("/"))
    return out


@functools.lru_cache(maxsize=8)
def _pattern(roots: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(r) for r in roots)
    return re.compile(
        # a path starts a word (not "http://host/tmp/x") and ends at a separator
        rf"(?<![\w.~/-])(?:file://)?(?:{alternatives})(?![^/\s'\"`,;:()<>\[\]{{}}])"
        rf"(?:/[^\s'\"`,;()<>\[\]{{}}]*)?"
    )


def hide_paths(text: str) -> str:
    """Replace every path under a private folder of the server by its last component."""

    def short(m: re.Match[str]) -> str:
        name = os.path.basename(m.group(0).rstrip("/"))
        return name if m.group(0).count("/") > 1 and name else "<server folder>"

    roots = tuple(sorted(_private_folders(), key=lambda r: (-len(r), r)))
    return _pattern(roots).sub(short, text)


def hide_paths_in(value: Any) -> Any:
    """:func:`hide_paths` on every string inside a JSON-like value (dicts, lists)."""
    if isinstance(value, str):
        return hide_paths(value)
    if isinstance(value, dict):
        return {k: hide_paths_in(v) for k, v in value.items()}
    if isinstance(value, list):
        return [hide_paths_in(v) for v in value]
    return value


def body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": hide_paths(one_line(message))}}


def from_zoo_error(exc: ZooError) -> ApiError:
    """Map the SDK's exception types to HTTP: the same message a CLI user would read."""
    if isinstance(exc, UnknownModelError):
        return ApiError(404, "unknown_model", str(exc))
    if isinstance(exc, WeightsError):  # the server cannot get the files: not the client's fault
        return ApiError(503, "weights_unavailable", str(exc))
    if isinstance(exc, PluginError):
        return ApiError(503, "model_unavailable", str(exc))
    if isinstance(exc, InputError):
        return ApiError(400, "bad_input", str(exc))
    return ApiError(400, "bad_request", str(exc))


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


def install_handlers(app: FastAPI) -> None:
    """Route every exception type through :func:`body`; nothing reaches the client raw."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.requests import Request

    def respond(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse(body(code, message), status_code=status)

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return respond(exc.status, exc.code, exc.message)

    @app.exception_handler(ZooError)
    async def _zoo(_: Request, exc: ZooError) -> JSONResponse:
        err = from_zoo_error(exc)
        return respond(err.status, err.code, err.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return respond(422, "invalid_request", describe_validation(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no such endpoint; see /docs for the API"
        return respond(exc.status_code, code, detail)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return respond(500, "internal", "internal server error; the server log has the details")


def describe_validation(errors: Any) -> str:
    """FastAPI's list of pydantic errors -> one line naming the first bad field."""
    items = list(errors or [])
    if not items:
        return "invalid request"
    first = items[0]
    loc = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body",)) or "body"
    msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    more = len(items) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
    return f"bad request field {loc}: {msg}{tail}"
