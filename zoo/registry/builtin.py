"""The core's own catalogue (``registry.yaml`` + ``cards/``), registered through the same
``zoo_register_catalogs`` hook a plugin uses for its own."""

from __future__ import annotations

from zoo.hookspecs import RegisterCatalogue, hookimpl

from .catalogue import builtin_catalogue

#: The name ``zoo plugins`` shows for the core's catalogue.
BUILTIN_PLUGIN = "zoo-builtin-catalogue"


@hookimpl
def zoo_register_catalogs(register: RegisterCatalogue) -> None:
    register(builtin_catalogue())
