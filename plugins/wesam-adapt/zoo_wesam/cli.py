"""``zoo corrupt``: a COCO-C style corrupted copy of an image folder (no torch involved).

Added to every ``zoo`` app the core builds (``zoo_register_commands``); it prints through the
core's consoles (:mod:`zoo.cli.console`): the report on stdout, progress on stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def corrupt_cmd(
    src: Annotated[Path, typer.Argument(help="Folder of images (searched recursively).")],
    dst: Annotated[Path, typer.Argument(help="Output folder (written atomically).")],
    corruption: Annotated[
        str,
        typer.Option(help="A corruption name, a comma list, or 'all' (one sub-folder each)."),
    ] = "all",
    severity: Annotated[int, typer.Option(help="1 (mild) to 5 (COCO-C's strongest).")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed (noise, snow, frost, fog...).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Write a COCO-C style corrupted copy of an image folder (15 ImageNet-C corruptions).

    File names are kept, so the COCO JSON of SRC works with the copy. With several
    corruptions (or 'all') each goes to DST/<corruption>/. Frost uses a procedurally
    synthesised frost layer (the benchmark's frost photographs are not bundled).

    Corruptions: gaussian_noise, shot_noise, impulse_noise, defocus_blur, glass_blur,
    motion_blur, zoom_blur, snow, frost, fog, brightness, contrast, elastic_transform,
    pixelate, jpeg_compression.

    Examples:

      zoo corrupt val2017/ val2017-fog/ --corruption fog --severity 3

      zoo corrupt val2017/ coco-c/ --corruption all --severity 5   # coco-c/<name>/...

    Then adapt to the shifted copy with the clean annotations:

      zoo train wesam-adapt --images val2017-fog/ --annotations instances_val2017.json --name fog
    """
    from zoo.cli.console import console, print_json

    from .corruptions import corrupt_folder

    report = corrupt_folder(src, dst, corruption, severity, seed=seed, progress=not as_json)
    files = report.pop("files")
    report["written"] = len(files)
    if as_json:
        print_json(report)
    else:
        console.print(
            f"[green]ok[/] {report['written']} images written to {dst} "
            f"({', '.join(report['corruptions'])}, severity {severity})"
        )
