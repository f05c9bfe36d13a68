"""``python -m zoo`` is the same as the ``zoo`` command."""

from zoo.cli import main

main()
