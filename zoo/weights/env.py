"""Every environment switch the weights package honours, read when it is used.

Why a module of its own: huggingface_hub freezes ``HF_HOME``, ``HF_ENDPOINT`` and friends into
constants when it is imported, so a variable set later (by a test, by ``zoo --offline``, by a
notebook cell) would silently not apply. Everything here is read at call time, and this is
the one place that lists what the zoo reads:

``ZOO_HOME`` (cache root), ``ZOO_OFFLINE`` (no network at all), ``ZOO_HUB_TIMEOUT`` (seconds to
wait for a hub or server to answer, per try), ``ZOO_HTTP_TIMEOUT`` (seconds a running download
may stall), ``ZOO_GDRIVE_ENDPOINT``, ``HF_HUB_OFFLINE``, ``HF_ENDPOINT``, ``HF_HUB_CACHE`` /
``HF_HOME`` / ``XDG_CACHE_HOME``, ``MODELSCOPE_CACHE`` and ``MODELSCOPE_ENDPOINT`` (or the
older ``MODELSCOPE_DOMAIN``).
"""

from __future__ import annotations

import os
from pathlib import Path

from zoo.errors import InputError

_TRUE = {"1", "true", "yes", "on"}

GDRIVE_DEFAULT_ENDPOINT = "https://drive.usercontent.google.com"
HF_DEFAULT_ENDPOINT = "https://huggingface.co"
MS_DEFAULT_ENDPOINT = "https://www.modelscope.cn"
#: Default of ``ZOO_HUB_TIMEOUT``: long enough for a TLS handshake across the world, short
#: enough that an unreachable hub is reported in seconds rather than minutes.
HUB_TIMEOUT_S = 5.0
#: How many times we try to reach a hub or server before saying it is unreachable.
HUB_TRIES = 2


def env_true(name: str) -> bool:
    """Whether an environment variable is set to a true-ish value (1, true, yes, on)."""
    return os.environ.get(name, "").strip().lower() in _TRUE


def is_offline() -> bool:
    """True when ``ZOO_OFFLINE`` is set: no resolver may touch the network.

    Read at call time (not import time) so tests and ``zoo --offline`` can flip it.
    Plugin resolvers should honour it too (new-style resolvers get ``request.offline``).
    """
    return env_true("ZOO_OFFLINE")


def hf_offline() -> bool:
    """``HF_HUB_OFFLINE``: the Hugging Face switch, honoured for ``hf://`` URIs."""
    return env_true("HF_HUB_OFFLINE")


def cache_dir() -> Path:
    """The zoo cache root: ``$ZOO_HOME``, default ``~/.cache/zoo``.

    Holds ``blobs/`` (content-addressed downloads) and ``index.json`` (URI -> file).
    Hugging Face and ModelScope files stay in those libraries' caches.
    """
    home = os.environ.get("ZOO_HOME")
    return Path(home).expanduser() if home else Path("~/.cache/zoo").expanduser()


def hf_cache_dir() -> Path:
    """Hugging Face hub cache, computed from the environment *now*.

    Passing this directory to huggingface_hub explicitly keeps ``HF_HOME`` set after its
    import (tests, CLI flags) effective.
    """
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    hf_home = os.environ.get("HF_HOME")
    if hf_home:
        return Path(hf_home).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path("~/.cache").expanduser()
    return base / "huggingface" / "hub"


def ms_cache_dir() -> Path:
    """ModelScope's cache (``MODELSCOPE_CACHE``, default ``~/.cache/modelscope/hub``)."""
    explicit = os.environ.get("MODELSCOPE_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    return Path("~/.cache/modelscope/hub").expanduser()


def ms_endpoint() -> str:
    """ModelScope's address as the modelscope client picks it: ``MODELSCOPE_ENDPOINT``, else
    ``MODELSCOPE_DOMAIN`` (a bare host gets ``https://``), else www.modelscope.cn."""
    for var in ("MODELSCOPE_ENDPOINT", "MODELSCOPE_DOMAIN"):
        value = os.environ.get(var, "").strip().rstrip("/")
        if value:
            return value if "://" in value else f"https://{value}"
    return MS_DEFAULT_ENDPOINT


def hf_endpoint() -> str | None:
    """``HF_ENDPOINT`` read at call time (huggingface_hub reads it only at import)."""
    endpoint = os.environ.get("HF_ENDPOINT", "").strip()
    return endpoint.rstrip("/") or None


def gdrive_endpoint() -> str:
    """Where ``gdrive://`` downloads go (``ZOO_GDRIVE_ENDPOINT`` lets tests use a stand-in)."""
    base = os.environ.get("ZOO_GDRIVE_ENDPOINT", "").strip().rstrip("/")
    return base or GDRIVE_DEFAULT_ENDPOINT


def http_timeout() -> float:
    """``ZOO_HTTP_TIMEOUT``: seconds a download that has started may stall (default 30)."""
    try:
        return float(os.environ.get("ZOO_HTTP_TIMEOUT", "30"))
    except ValueError:
        return 30.0


def hub_timeout() -> float:
    """``ZOO_HUB_TIMEOUT``: seconds to wait for a hub or server to connect and answer, per try.

    An unreachable hub costs at most about ``HUB_TRIES`` times this before the one-line
    error. A value that is not a positive number is a mistake worth saying, not ignoring.
    """
    raw = os.environ.get("ZOO_HUB_TIMEOUT", "").strip()
    if not raw:
        return HUB_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise InputError(
            f"ZOO_HUB_TIMEOUT={raw!r} is not a positive number of seconds; "
            f"set e.g. ZOO_HUB_TIMEOUT={HUB_TIMEOUT_S:g} or unset it"
        )
    return value
