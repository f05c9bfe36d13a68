"""The ``zoo`` command line (console script ``zoo = zoo.cli:main``).

* :mod:`~zoo.cli.app` - :func:`create_app`, the app factory;
* :mod:`~zoo.cli.catalog` - list, info, pull, cache;
* :mod:`~zoo.cli.commands` - run, eval, train;
* :mod:`~zoo.cli.params` - flags generated from option declarations;
* :mod:`~zoo.cli.console` - consoles, JSON and report printing.

``batch``, ``serve``, ``export`` and ``plugins``/``doctor`` live with their feature and are
added by the factory. Every user error is a :class:`zoo.errors.ZooError`, printed as one
line on stderr with exit code 2.
"""

from __future__ import annotations

import sys
from typing import Any

from rich.markup import escape

from .app import create_app

__all__ = ["create_app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    import warnings

    from zoo.errors import ZooDeprecationWarning, ZooError, cli_surface

    from .console import err_console

    def show(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        if issubclass(category, ZooDeprecationWarning):
            err_console.print(
                f"[yellow]note:[/] {escape(str(message))}", highlight=False, soft_wrap=True
            )
        else:
            shown(message, category, *args, **kwargs)

    shown = warnings.showwarning
    warnings.showwarning = show
    app = create_app()
    try:
        with cli_surface():
            app(args=argv, prog_name="zoo")
    except ZooError as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        err_console.print(f"[red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    finally:
        warnings.showwarning = shown
