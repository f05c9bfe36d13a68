"""Class vocabularies and CLIP prompt construction.

A vocabulary is an ordered list of class names; the position of a name is its class index
everywhere (semantic map value ``index + 1``, PLY ``label`` column, COCO ``category_id``
``index + 1``). The built-in lists are the benchmark label sets of ScanNet v2 (20 classes),
ScanNet200 and NYU Depth v2 (40 classes), spelled exactly as the benchmarks spell them so
that evaluation tables line up with published ones; :func:`prompt_name` turns the few
benchmark spellings that are not English (``otherfurniture``, the NYU ``refridgerator``
typo) into words CLIP understands before prompting.

This module imports nothing heavy.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo.errors import InputError

#: ScanNet v2 semantic benchmark (NYU40 ids 1-12, 14, 16, 24, 28, 33, 34, 36, 39).
SCANNET20: tuple[str, ...] = (
    "wall",
    "floor",
    "cabinet",
    "bed",
    "chair",
    "sofa",
    "table",
    "door",
    "window",
    "bookshelf",
    "picture",
    "counter",
    "desk",
    "curtain",
    "refrigerator",
    "shower curtain",
    "toilet",
    "sink",
    "bathtub",
    "otherfurniture",
)
#: NYU40 id of each ScanNet-20 class (the values found in NYU40-labelled ScanNet frames).
SCANNET20_NYU40_IDS: tuple[int, ...] = (
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
    12,
    14,
    16,
    24,
    28,
    33,
    34,
    36,
    39,
)

#: NYU Depth v2 40-class set (Gupta et al. 2013), ids 1..40 in this order.
NYU40: tuple[str, ...] = (
    "wall",
    "floor",
    "cabinet",
    "bed",
    "chair",
    "sofa",
    "table",
    "door",
    "window",
    "bookshelf",
    "picture",
    "counter",
    "blinds",
    "desk",
    "shelves",
    "curtain",
    "dresser",
    "pillow",
    "mirror",
    "floor mat",
    "clothes",
    "ceiling",
    "books",
    "refridgerator",
    "television",
    "paper",
    "towel",
    "shower curtain",
    "box",
    "whiteboard",
    "person",
    "night stand",
    "toilet",
    "sink",
    "lamp",
    "bathtub",
    "bag",
    "otherstructure",
    "otherfurniture",
    "otherprop",
)

#: ScanNet200 benchmark classes (Rozenberszki et al. 2022), in benchmark order.
SCANNET200: tuple[str, ...] = (
    "wall",
    "chair",
    "floor",
    "table",
    "door",
    "couch",
    "cabinet",
    "shelf",
    "desk",
    "office chair",
    "bed",
    "pillow",
    "sink",
    "picture",
    "window",
    "toilet",
    "bookshelf",
    "monitor",
    "curtain",
    "book",
    "armchair",
    "coffee table",
    "box",
    "refrigerator",
    "lamp",
    "kitchen cabinet",
    "towel",
    "clothes",
    "tv",
    "nightstand",
    "counter",
    "dresser",
    "stool",
    "cushion",
    "plant",
    "ceiling",
    "bathtub",
    "end table",
    "dining table",
    "keyboard",
    "bag",
    "backpack",
    "toilet paper",
    "printer",
    "tv stand",
    "whiteboard",
    "blanket",
    "shower curtain",
    "trash can",
    "closet",
    "stairs",
    "microwave",
    "stove",
    "shoe",
    "computer tower",
    "bottle",
    "bin",
    "ottoman",
    "bench",
    "board",
    "washing machine",
    "mirror",
    "copier",
    "basket",
    "sofa chair",
    "file cabinet",
    "fan",
    "laptop",
    "shower",
    "paper",
    "person",
    "paper towel dispenser",
    "oven",
    "blinds",
    "rack",
    "plate",
    "blackboard",
    "piano",
    "suitcase",
    "rail",
    "radiator",
    "recycling bin",
    "container",
    "wardrobe",
    "soap dispenser",
    "telephone",
    "bucket",
    "clock",
    "stand",
    "light",
    "laundry basket",
    "pipe",
    "clothes dryer",
    "guitar",
    "toilet paper holder",
    "seat",
    "speaker",
    "column",
    "bicycle",
    "ladder",
    "bathroom stall",
    "shower wall",
    "cup",
    "jacket",
    "storage bin",
    "coffee maker",
    "dishwasher",
    "paper towel roll",
    "machine",
    "mat",
    "windowsill",
    "bar",
    "toaster",
    "bulletin board",
    "ironing board",
    "fireplace",
    "soap dish",
    "kitchen counter",
    "doorframe",
    "toilet paper dispenser",
    "mini fridge",
    "fire extinguisher",
    "ball",
    "hat",
    "shower curtain rod",
    "water cooler",
    "paper cutter",
    "tray",
    "shower door",
    "pillar",
    "ledge",
    "toaster oven",
    "mouse",
    "toilet seat cover dispenser",
    "furniture",
    "cart",
    "storage container",
    "scale",
    "tissue box",
    "light switch",
    "crate",
    "power outlet",
    "decoration",
    "sign",
    "projector",
    "closet door",
    "vacuum cleaner",
    "candle",
    "plunger",
    "stuffed animal",
    "headphones",
    "dish rack",
    "broom",
    "guitar case",
    "range hood",
    "dustpan",
    "hair dryer",
    "water bottle",
    "handicap bar",
    "purse",
    "vent",
    "shower floor",
    "water pitcher",
    "mailbox",
    "bowl",
    "paper bag",
    "alarm clock",
    "music stand",
    "projector screen",
    "divider",
    "laundry detergent",
    "bathroom counter",
    "object",
    "bathroom vanity",
    "closet wall",
    "laundry hamper",
    "bathroom stall door",
    "ceiling light",
    "trash bin",
    "dumbbell",
    "stair rail",
    "tube",
    "bathroom cabinet",
    "cd case",
    "closet rod",
    "coffee kettle",
    "structure",
    "shower head",
    "keyboard piano",
    "case of water bottles",
    "coat rack",
    "storage organizer",
    "folded chair",
    "fire alarm",
    "power strip",
    "calendar",
    "poster",
    "potted plant",
    "luggage",
    "mattress",
)
#: Raw ScanNet category id of each ScanNet200 class (values of ScanNet's label-filt PNGs).
SCANNET200_IDS: tuple[int, ...] = (
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
    13,
    14,
    15,
    16,
    17,
    18,
    19,
    21,
    22,
    23,
    24,
    26,
    27,
    28,
    29,
    31,
    32,
    33,
    34,
    35,
    36,
    38,
    39,
    40,
    41,
    42,
    44,
    45,
    46,
    47,
    48,
    49,
    50,
    51,
    52,
    54,
    55,
    56,
    57,
    58,
    59,
    62,
    63,
    64,
    65,
    66,
    67,
    68,
    69,
    70,
    71,
    72,
    73,
    74,
    75,
    76,
    77,
    78,
    79,
    80,
    82,
    84,
    86,
    87,
    88,
    89,
    90,
    93,
    95,
    96,
    97,
    98,
    99,
    100,
    101,
    102,
    103,
    104,
    105,
    106,
    107,
    110,
    112,
    115,
    116,
    118,
    120,
    121,
    122,
    125,
    128,
    130,
    131,
    132,
    134,
    136,
    138,
    139,
    140,
    141,
    145,
    148,
    154,
    155,
    156,
    157,
    159,
    161,
    163,
    165,
    166,
    168,
    169,
    170,
    177,
    180,
    185,
    188,
    191,
    193,
    195,
    202,
    208,
    213,
    214,
    221,
    229,
    230,
    232,
    233,
    242,
    250,
    261,
    264,
    276,
    283,
    286,
    300,
    304,
    312,
    323,
    325,
    331,
    342,
    356,
    370,
    392,
    395,
    399,
    408,
    417,
    488,
    540,
    562,
    570,
    572,
    581,
    609,
    748,
    776,
    1156,
    1163,
    1164,
    1165,
    1166,
    1167,
    1168,
    1169,
    1170,
    1171,
    1172,
    1173,
    1174,
    1175,
    1176,
    1178,
    1179,
    1180,
    1181,
    1182,
    1183,
    1184,
    1185,
    1186,
    1187,
    1188,
    1189,
    1190,
    1191,
)

#: Named vocabularies accepted by ``--vocabulary`` (aliases map to the same list).
VOCABULARIES: dict[str, tuple[str, ...]] = {
    "scannet20": SCANNET20,
    "scannet200": SCANNET200,
    "nyu40": NYU40,
}
_ALIASES = {
    "scannet-20": "scannet20",
    "scannet_20": "scannet20",
    "scannet": "scannet20",
    "scannet-200": "scannet200",
    "scannet_200": "scannet200",
    "nyu-40": "nyu40",
    "nyu_40": "nyu40",
    "nyuv2": "nyu40",
    "nyu": "nyu40",
}
DEFAULT_VOCABULARY = "scannet20"

#: A few CLIP templates, averaged per class (prompt ensembling as in the CLIP paper).
#: Indoor scenes dominate RGB-D data, so two of them mention a room or scene.
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a photo of the {}.",
    "a cropped photo of a {}.",
    "a photo of a {} in a room.",
    "there is a {} in the scene.",
)

#: Benchmark spellings that CLIP would read as one unknown word (or a typo).
_PROMPT_NAMES = {
    "otherfurniture": "other furniture",
    "otherstructure": "other structure",
    "otherprop": "object",
    "refridgerator": "refrigerator",
    "night stand": "nightstand",
}

#: Common spellings of NYU40 classes that the benchmark list spells differently.
_NYU40_SPELLING = {"refrigerator": "refridgerator", "nightstand": "night stand"}

MAX_CLASSES = 254  # semantic maps are palette PNGs: 0 = unlabelled, 1..254 classes, 255 ignore


def _check(classes: list[str], where: str) -> list[str]:
    if not classes:
        raise InputError(
            f"the vocabulary from {where} is empty; give at least one class, e.g. "
            '--classes "chair,table,floor"'
        )
    seen: set[str] = set()
    for c in classes:
        key = c.lower()
        if key in seen:
            raise InputError(f"the vocabulary from {where} lists {c!r} twice; list each class once")
        seen.add(key)
    if len(classes) > MAX_CLASSES:
        raise InputError(
            f"the vocabulary from {where} has {len(classes)} classes; at most {MAX_CLASSES} "
            "fit a palette semantic map"
        )
    return classes


def _split(text: str) -> list[str]:
    """Split a class list on commas and newlines; ``#`` starts a comment."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        out += [c.strip() for c in line.split(",")]
    return [c for c in out if c]


def resolve_vocabulary(spec: str | Sequence[str] | None = None) -> list[str]:
    """Turn what a user wrote into an ordered list of class names.

    Accepted: ``None`` (ScanNet-20, the default), a vocabulary name (``scannet20``,
    ``scannet200``, ``nyu40``), a path to a text file (one class per line or comma
    separated, ``#`` comments), a comma-separated string ``"chair,table,floor"``, or a
    list of names. Empty, duplicated or over-long vocabularies are an ``InputError``.
    """
    if spec is None:
        return list(VOCABULARIES[DEFAULT_VOCABULARY])
    if isinstance(spec, (list, tuple)):
        classes = [str(c).strip() for c in spec]
        if any(not c for c in classes):
            raise InputError("the vocabulary contains an empty class name; remove it")
        return _check(classes, "the given list")
    if not isinstance(spec, str):
        raise InputError(
            f"cannot use a {type(spec).__name__} as vocabulary; pass a list of class names, "
            "a vocabulary name or a file"
        )
    text = spec.strip()
    key = _ALIASES.get(text.lower(), text.lower())
    if key in VOCABULARIES:
        return list(VOCABULARIES[key])
    path = Path(text).expanduser()
    if text and "," not in text and (path.is_file() or path.suffix in (".txt", ".csv")):
        if not path.is_file():
            raise InputError(f"class file {path} does not exist; check the --classes path")
        try:
            content = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(
                f"cannot read class file {path} ({exc}); use a UTF-8 text file"
            ) from exc
        return _check(_split(content), str(path))
    if "," not in text and text and not any(c.isspace() for c in text):
        close = difflib.get_close_matches(key, list(VOCABULARIES) + list(_ALIASES), n=1)
        if close:
            raise InputError(
                f"unknown vocabulary {text!r}; did you mean {close[0]!r}? (for a single class "
                f'write --classes "{text},"; named: {", ".join(VOCABULARIES)})'
            )
    return _check(_split(text), repr(text))


def parse_classes(spec: str | Sequence[str]) -> list[str]:
    """Your own classes (``--classes``): ``"chair,table"``, a text file or a list. Unlike
    :func:`resolve_vocabulary`, a single name is one class, never a vocabulary name."""
    from .notes import setting

    if not isinstance(spec, str):
        return resolve_vocabulary(list(spec))
    text = spec.strip()
    if not text or not [c for c in text.replace("\n", ",").split(",") if c.strip()]:
        flag = setting("classes")
        raise InputError(f'{flag} is empty; give names like {flag} "chair,table,floor"')
    if "," not in text and not Path(text).expanduser().is_file() and not text.endswith(".txt"):
        return resolve_vocabulary([text])
    return resolve_vocabulary(text)


def choose_vocabulary(vocabulary: Any = None, classes: Any = None) -> list[str]:
    """The class names of a call: ``classes`` (your own) or ``vocabulary`` (names, a
    vocabulary name, a file; default ScanNet-20), not both."""
    if classes is not None:
        if vocabulary is not None:
            from .notes import setting

            raise InputError(
                f"use either {setting('classes')} or {setting('vocabulary')}, not both"
            )
        return parse_classes(classes)
    return resolve_vocabulary(vocabulary)


def prompt_name(name: str) -> str:
    """The words CLIP sees for a class name (underscores to spaces, benchmark oddities fixed)."""
    clean = re.sub(r"[_\s]+", " ", name).strip()
    return _PROMPT_NAMES.get(clean.lower(), clean)


def check_templates(templates: Sequence[str]) -> list[str]:
    """Every template needs exactly one ``{}`` where the class name goes."""
    out = [str(t) for t in templates]
    if not out:
        raise InputError("no prompt templates given; use e.g. 'a photo of a {}.'")
    for t in out:
        if t.count("{}") != 1:
            raise InputError(
                f"prompt template {t!r} must contain exactly one {{}} for the class name"
            )
    return out


def build_prompts(
    classes: Sequence[str], templates: Sequence[str] = DEFAULT_TEMPLATES
) -> list[str]:
    """All prompts, class-major: ``[t0(c0), t1(c0), ..., t0(c1), ...]``.

    The class-major order lets the text embeddings be reshaped to
    ``(classes, templates, dim)`` and averaged per class.
    """
    tmpl = check_templates(templates)
    return [t.format(prompt_name(c)) for c in classes for t in tmpl]


def label_lookup(label_format: str, vocabulary: Sequence[str]) -> dict[int, int]:
    """Map raw label-PNG values to vocabulary indices for evaluation.

    ``label_format``:
      * ``nyu40``: values are NYU40 ids (ScanNet frames exported with the nyu40 mapping);
        each vocabulary class found in NYU40 (or the ScanNet-20 subset) maps by name.
      * ``scannet200``: values are raw ScanNet category ids (``label-filt``); each
        vocabulary class found in ScanNet200 maps by name.
      * ``index``: value ``k`` is vocabulary class ``k - 1`` (0 = unlabelled).
    Values that map to no class are ignored in the metric.
    """
    vocab = [v.lower() for v in vocabulary]
    if label_format == "index":
        return {i + 1: i for i in range(len(vocab))}
    if label_format == "nyu40":
        table = {name: i + 1 for i, name in enumerate(NYU40)}
    elif label_format == "scannet200":
        table = dict(zip(SCANNET200, SCANNET200_IDS, strict=True))
    else:
        raise InputError(f"unknown --label-format {label_format!r}; use nyu40, scannet200 or index")
    out = {}
    for i, name in enumerate(vocab):
        raw = table.get(name)
        if raw is None and label_format == "nyu40":
            raw = table.get(_NYU40_SPELLING.get(name, ""))
        if raw is not None:
            out[raw] = i
    if not out:
        raise InputError(
            f"no vocabulary class exists in the {label_format} label set; use a matching "
            "--vocabulary or --label-format index"
        )
    return out
