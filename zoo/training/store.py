"""Deprecated home of the local-variant store, now :mod:`zoo.registry.local` (local variants
are a registry concern). Plugin API 2 trainers imported ``write_variant`` and friends here;
they keep working until sam-zoo 0.3."""

from __future__ import annotations

from zoo.registry.local import (  # noqa: F401
    CARD_FILE,
    TRAIN_DIR,
    VARIANT_FILE,
    check_name,
    extra_of,
    local_root,
    read_variant,
    scan,
    variant_dir,
    write_variant,
)
