"""Checkpoint resolution, the download cache, and safe loading.

Every model variant names its weights by URI (``hf://``, ``ms://``, ``https://``,
``gdrive://``, ``file://`` or a plain path) plus a sha256 and a size. This package turns
such a URI into a local file and loads it without ever executing code from it.

Layout (one concern per module, in the order a call goes through them):

* :mod:`~zoo.weights.resolving` - ``resolve``/``resolve_file``: check the arguments, then
  hand off to the resolver that the scheme table (:mod:`~zoo.weights.schemes`) holds for
  the URI's scheme. The built-in schemes are registered by :mod:`~zoo.weights.builtin`
  through the same ``zoo_register_resolvers`` hook as a plugin's.
* :mod:`~zoo.weights.request` - what a resolver is asked and what it answers.
* sources: :mod:`~zoo.weights.hf`, :mod:`~zoo.weights.ms`, :mod:`~zoo.weights.http`
  (also behind :mod:`~zoo.weights.gdrive`), :mod:`~zoo.weights.local`.
* :mod:`~zoo.weights.store` (blob store + ``index.json``), :mod:`~zoo.weights.cache`
  (``zoo cache`` and the cached column), :mod:`~zoo.weights.verify` (size + sha256).
* :mod:`~zoo.weights.loading` - safetensors or ``torch.load(weights_only=True)``; a
  checkpoint from the internet is data, never code.
* :mod:`~zoo.weights.uris`, :mod:`~zoo.weights.env`, :mod:`~zoo.weights.messages`,
  :mod:`~zoo.weights.progress`, :mod:`~zoo.weights.spec` - parsing, environment switches,
  fixes phrased for the CLI or Python, what the user sees while waiting, ``WeightSpec``.

The public API is what this module exports (``__all__``); the submodules are the
implementation. ``ZOO_OFFLINE=1`` (and ``HF_HUB_OFFLINE=1`` for ``hf://``) means *no*
network call at all; an unreachable hub is reported within ``ZOO_HUB_TIMEOUT`` seconds per
try. Heavy libraries (torch, huggingface_hub, modelscope, rich) are imported inside the
functions that need them so that ``import zoo.weights`` stays cheap for the CLI and for
plugin registration.
"""

from __future__ import annotations

from zoo.weights.cache import CacheEntry, is_cached, list_cache, remove_from_cache, verify_cache
from zoo.weights.env import cache_dir, is_offline
from zoo.weights.loading import load_state_dict, safe_torch_load
from zoo.weights.messages import no_weights_fix, without_checkpoint_option
from zoo.weights.progress import ProgressArg, ProgressCallback
from zoo.weights.request import (
    LegacySchemeResolver,
    ResolvedFile,
    ResolveRequest,
    SchemeResolver,
)
from zoo.weights.resolving import resolve, resolve_file
from zoo.weights.schemes import register_scheme, supported_schemes, unregister_scheme
from zoo.weights.spec import WeightSpec
from zoo.weights.uris import HfRef, MsRef, check_uri, parse_hf_uri, parse_ms_uri
from zoo.weights.verify import sha256_file

__all__ = [
    "CacheEntry",
    "HfRef",
    "LegacySchemeResolver",
    "MsRef",
    "ProgressArg",
    "ProgressCallback",
    "ResolveRequest",
    "ResolvedFile",
    "SchemeResolver",
    "WeightSpec",
    "cache_dir",
    "check_uri",
    "is_cached",
    "is_offline",
    "list_cache",
    "load_state_dict",
    "no_weights_fix",
    "parse_hf_uri",
    "parse_ms_uri",
    "register_scheme",
    "remove_from_cache",
    "resolve",
    "resolve_file",
    "safe_torch_load",
    "sha256_file",
    "supported_schemes",
    "unregister_scheme",
    "verify_cache",
    "without_checkpoint_option",
]
