"""``zoo serve``: one HTTP API and a click-to-segment page for every family.

The pieces, each small enough to read in one go:

* :mod:`.config`   what the command line sets, and the start-up security rules;
* :mod:`.uploads`  content sniffing and size/pixel limits for images, depth maps, videos;
* :mod:`.cache`    the byte-bounded LRU that keeps uploaded images and embeddings;
* :mod:`.pool`     models loaded lazily, one lock each;
* :mod:`.service`  the task calls (``segment``, ``segment_amodal`` ...) off the event loop;
* :mod:`.schemas`  request and response bodies (OpenAPI at ``/docs``);
* :mod:`.errors`   the one error shape, ``{"error": {"code", "message"}}``;
* :mod:`.security` token, loopback host/origin guards, allowed paths;
* :mod:`.routes`   the ``/v1`` endpoints; :mod:`.app` puts it together;
* ``static/``      the page at ``/`` (plain HTML + JS + CSS, no build step, no CDN).

FastAPI and uvicorn are an optional extra (``pip install 'sam-zoo[serve]'``) and are
imported only when a server is built: ``import zoo.serve`` alone stays light, so the CLI
can name the command without paying for it.
"""

from __future__ import annotations

from typing import Any

from zoo.serve.config import ServeConfig

__all__ = ["ServeConfig", "create_app"]


def create_app(config: ServeConfig | None = None, **kwargs: Any) -> Any:
    """The FastAPI application (see :func:`zoo.serve.app.create_app`)."""
    from zoo.serve.app import create_app as _create

    return _create(config, **kwargs)
