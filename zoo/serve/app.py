"""The FastAPI application: routes, the page, the guards, the one error shape.

``create_app`` is what ``zoo serve`` runs under uvicorn and what tests drive with
FastAPI's ``TestClient``; it loads nothing until asked (models load on first use, or in
:func:`zoo.serve.server.run` when named on the command line).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from zoo import __version__
from zoo.serve.config import ServeConfig
from zoo.serve.errors import add_private_folder, install_handlers
from zoo.serve.pool import ModelPool
from zoo.serve.routes import build_router
from zoo.serve.security import GuardMiddleware, health_view
from zoo.serve.service import Service

STATIC = Path(__file__).with_name("static")

#: The page loads nothing from elsewhere and may not be framed by another site.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def create_app(
    config: ServeConfig | None = None,
    *,
    models: dict[str, Any] | None = None,
    service: Service | None = None,
) -> FastAPI:
    """Build the application.

    ``models`` serves ready-made model objects under fixed names (e.g. a model fine-tuned
    in this notebook) besides every registered one; ``service`` replaces the whole state
    (tests). The config is checked here too, so no caller can skip the security rules.
    """
    cfg = (config or ServeConfig()).check()
    svc = service or Service(cfg, ModelPool(cfg, models))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        svc.close()

    app = FastAPI(
        title="sam-zoo",
        version=__version__,
        description=(
            "Segment-Anything models of the zoo over HTTP. Upload an image once "
            "(`POST /v1/images`), then prompt it as often as you like: the image embedding "
            "is cached, so later clicks run only the mask decoder. Every error is "
            '`{"error": {"code", "message"}}`.'
        ),
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = svc
    app.state.config = cfg
    if cfg.allow_paths is not None:  # clients name files relative to it; answers never do
        add_private_folder(cfg.allow_paths)
    install_handlers(app)
    app.include_router(build_router())
    _add_docs(app)

    @app.get(
        "/healthz",
        summary="Liveness; loaded models, cache use (with the token, if the server has one)",
    )
    async def healthz(request: Request) -> dict[str, Any]:
        health = await run_in_threadpool(svc.health)
        return health_view(health, cfg, request.headers.get("authorization"))

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # pure ASGI (not @app.middleware): a body-limit error raised while a route reads the
    # body must reach the error handlers as itself, not wrapped in a task group
    app.add_middleware(
        GuardMiddleware,  # type: ignore[arg-type]
        config=cfg,
        page_headers={k.lower().encode(): v.encode() for k, v in PAGE_HEADERS.items()},
    )
    if cfg.cors_origins:  # outermost: preflights are answered before the token check
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,  # type: ignore[arg-type]
            allow_origins=list(cfg.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app


def _add_docs(app: FastAPI) -> None:
    """``/docs`` from the Swagger UI files of the ``swagger-ui-py`` package (Apache-2.0),
    so the API page works without network; without that package, FastAPI's CDN default."""
    from fastapi.openapi.docs import get_swagger_ui_html

    try:
        import swagger_ui

        assets: Path | None = Path(swagger_ui.__file__).with_name("static")
        if assets is not None and not (assets / "swagger-ui-bundle.js").is_file():
            assets = None
    except ImportError:
        assets = None
    if assets is not None:
        app.mount("/docs-static", StaticFiles(directory=assets), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        if assets is None:
            return get_swagger_ui_html(openapi_url="/openapi.json", title="sam-zoo API")
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="sam-zoo API",
            swagger_js_url="/docs-static/swagger-ui-bundle.js",
            swagger_css_url="/docs-static/swagger-ui.css",
            swagger_favicon_url="/docs-static/favicon-32x32.png",
        )

    @app.get("/docs/licence", include_in_schema=False)
    async def docs_licence() -> Any:
        if assets is None or not (assets / "LICENSE").is_file():
            return JSONResponse({"swagger_ui": "served from a CDN (swagger-ui-py not installed)"})
        return FileResponse(assets / "LICENSE", media_type="text/plain")
