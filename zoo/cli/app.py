"""The ``zoo`` command line, built fresh by :func:`create_app` on every invocation.

No module-level app is mutated by imports: the factory adds the core's commands (the
catalogue, run/eval/train, and the commands that live with their feature: batch, serve,
export, plugins/doctor), then each plugin's (``zoo_register_commands``), so in-process
runs (tests, notebooks) always see the registry as it is now.

Start-up stays cheap: ``zoo list``, ``zoo info`` and ``zoo --help`` never import torch.
"""

from __future__ import annotations

from typing import Annotated

import typer

from zoo import __version__

from .console import console

HELP = (
    "sam-zoo: the Segment-Anything research family behind one registry.\n\n"
    "Examples:\n\n"
    "  zoo list '*sam2*'                      # what is available\n\n"
    "  zoo info sam2:tiny                      # model card, weights, licence, options\n\n"
    "  zoo run sam2:tiny --image photo.jpg --boxes '10,10,200,200' --out masks/\n\n"
    "  zoo batch sam2:tiny --input photos/ --boxes '10,10,200,200' --out out/\n\n"
    "  zoo serve sam2:tiny                     # HTTP API + click-to-segment page\n\n"
    "Set ZOO_OFFLINE=1 to forbid the network; ZOO_HOME moves the cache (~/.cache/zoo)."
)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"sam-zoo {__version__}")
        raise typer.Exit()


def create_app(*, plugins: bool = True) -> typer.Typer:
    """A new ``zoo`` app with every command (``plugins=False``: the core's only)."""
    from zoo.batch.cli import register as register_batch
    from zoo.doctor import register as register_doctor
    from zoo.export.cli import register as register_export
    from zoo.serve.cli import register as register_serve

    from .catalog import register as register_catalog
    from .commands import register as register_commands
    from .data import register as register_data

    app = typer.Typer(
        name="zoo",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
    )

    @app.callback()
    def _main(
        version: Annotated[
            bool,
            typer.Option(
                "--version",
                callback=_version_callback,
                is_eager=True,
                help="Print the version and exit.",
            ),
        ] = False,
    ) -> None:
        """sam-zoo command line."""

    register_catalog(app)
    register_commands(app)
    register_data(app)
    register_batch(app)
    register_serve(app)
    register_export(app)
    register_doctor(app)
    if plugins:
        _add_plugin_commands(app)
    return app


def _add_plugin_commands(app: typer.Typer) -> None:
    """Let plugins add sub-commands (hook ``zoo_register_commands``), one plugin at a time."""
    from zoo.registry import get_registry

    try:
        reg = get_registry()
    except Exception:  # the registry itself failing is reported by `zoo doctor`
        return
    if reg.pm is None:
        return
    for impl in reg.pm.hook.zoo_register_commands.get_hookimpls():
        try:
            impl.function(app)
        except Exception as exc:
            reg.warnings.append(f"plugin {impl.plugin_name} failed to add commands: {exc}")
