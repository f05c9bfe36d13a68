"""The ``zoo serve`` command (registered on the main app by :mod:`zoo.cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from zoo.cli.params import command, flags
from zoo.errors import InputError
from zoo.options import LoadOptions

EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


def _split_serve_args(tokens: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Model names and loader options (``--image-size 256``) as click hands them over.

    Unknown options arrive among the positional names; a ``--name`` token takes the next
    token as its value unless that is another option (write ``--flag=true`` before names).
    """
    from zoo.options import parse_extras

    names: list[str] = []
    extras: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("--") and tok != "--":
            extras.append(tok)
            if "=" not in tok and i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
                extras.append(tokens[i + 1])
                i += 1
        else:
            names.append(tok)
        i += 1
    return names, parse_extras(extras)


def serve_cmd(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Models to load now (any other loads on first use)."),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Interface; anything but loopback requires --token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port).")] = 8000,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="ZOO_SERVE_TOKEN",
            show_envvar=True,
            help="Every /v1 request must send 'Authorization: Bearer TOKEN'.",
        ),
    ] = None,
    max_images: Annotated[
        int, typer.Option(help="Images (and embeddings per model) kept in memory.")
    ] = 32,
    max_cache_mb: Annotated[
        float, typer.Option(help="Memory for kept images and embeddings together.")
    ] = 2048,
    max_upload_mb: Annotated[float, typer.Option(help="Largest request body.")] = 25,
    max_pixels: Annotated[int, typer.Option(help="Largest image (width x height).")] = 40_000_000,
    max_video_frames: Annotated[int, typer.Option(help="Longest video.")] = 600,
    request_timeout: Annotated[
        float,
        typer.Option(help="Seconds a request may take before the client gets a 503."),
    ] = 120.0,
    allow_paths: Annotated[
        Path | None,
        typer.Option(help="Let clients name image files inside this folder (off by default)."),
    ] = None,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(help="A web origin allowed to call the API from its pages (repeatable)."),
    ] = None,
    only: Annotated[bool, typer.Option("--only", help="Serve only the named models.")] = False,
    log_level: Annotated[
        str, typer.Option(help="uvicorn log level (info shows every request).")
    ] = "warning",
    **kwargs: Any,
) -> None:
    """Serve models over HTTP with a click-to-segment page at / (API docs at /docs).

    Loader options of the named models go after them, e.g.
    `zoo serve sam2:tiny --image-size 512`. Needs `pip install 'sam-zoo\\[serve]'`.
    """
    from zoo.options import validate
    from zoo.serve.config import ServeConfig

    given = {k: kwargs.pop(k) for k in list(kwargs) if k in LoadOptions.model_fields}
    load = validate(
        LoadOptions,
        {k: v for k, v in given.items() if v is not None},
        command="serve",
        where="zoo serve",
    )
    model_names, options = _split_serve_args(list(names or []) + list(ctx.args))
    if only and not model_names:
        raise InputError("--only needs model names, e.g. zoo serve sam2:tiny --only")
    config = ServeConfig(
        host=host,
        port=port,
        models=model_names,
        device=load.device,
        weights=load.weights,
        dtype=load.dtype,
        seed=load.seed,
        backend=load.backend,
        model_options=options,
        token=token,
        max_images=max_images,
        max_cache_mb=max_cache_mb,
        max_upload_mb=max_upload_mb,
        max_pixels=max_pixels,
        max_video_frames=max_video_frames,
        request_timeout=request_timeout,
        allow_paths=allow_paths,
        cors_origins=list(cors_origin or []),
        only_named=only,
    ).check()
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise InputError(
            f"zoo serve needs the serve extra ({exc.name} is missing): pip install 'sam-zoo[serve]'"
        ) from None
    from zoo.serve.server import run

    run(config, log_level=log_level)


def register(app: typer.Typer) -> None:
    """Add the command(s) to the ``zoo`` app (called by :mod:`zoo.cli`)."""
    app.command("serve", context_settings=EXTRA)(
        command(serve_cmd, flags(LoadOptions, "serve", panel="Loading"))
    )
