"""Reading the JSON files users hand us (prompts, annotations, detections, manifests).

One reader, so every command says the same one line for a missing file, a folder given
instead of a file, or broken JSON - naming what the file was for and the option it came from.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from zoo.errors import InputError, hint


def read_json(
    path: str | os.PathLike[str], what: str = "annotations file", flag: str = "--annotations"
) -> Any:
    """Parse a JSON file, or a one-line ``InputError`` naming ``what``, the file and the fix
    (``flag`` is the CLI option that gave the path). Also for COCO *results* files."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} {path} does not exist; check {hint(flag, 'the path')}")
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder; pass the JSON file inside it")
    try:
        with path.open("rb") as fh:  # bytes: json detects UTF-8/16/32 and skips one str copy
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{what} {path} is not valid JSON: {exc.msg} (line {exc.lineno}); re-export it"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {what} {path} ({exc}); check the file") from None
