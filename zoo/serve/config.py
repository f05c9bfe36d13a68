"""What ``zoo serve`` is told, checked before anything binds a socket.

The security rules of the server live here as start-up checks rather than as advice: a
server reachable from other machines (any ``--host`` that is not loopback) refuses to
start without a token, because it runs models on uploaded files for whoever asks.

Torch- and FastAPI-free, so the command line can validate its options cheaply.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import InputError

#: Environment variable read when ``--token`` is not given.
TOKEN_ENV = "ZOO_SERVE_TOKEN"
#: Shorter tokens can be guessed over a network; 16 characters of ``token_urlsafe`` is 96 bits.
MIN_TOKEN_LENGTH = 16
TOKEN_HINT = "e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))'"


def is_loopback(host: str) -> bool:
    """``127.0.0.1``, ``::1``, ``localhost``: reachable from this machine only.

    Any other name could resolve to a public interface, so it counts as exposed.
    """
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass
class ServeConfig:
    """Every setting of a server; :meth:`check` enforces the rules the issue states.

    Memory is bounded twice: ``max_images`` entries per store and ``max_cache_mb`` bytes
    for uploaded pixels plus embeddings together, whichever binds first.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    models: list[str] = field(default_factory=list)
    device: str = "auto"
    weights: str | None = None
    dtype: str | None = None
    backend: str = "torch"  # or "onnxruntime": every model runs its exported graphs
    seed: int | None = None
    #: raw ``--image-size 256`` style options; cast per family against its declarations
    model_options: dict[str, Any] = field(default_factory=dict)
    token: str | None = None
    max_images: int = 32
    max_cache_mb: float = 2048.0
    max_upload_mb: float = 25.0
    max_pixels: int = 40_000_000
    max_video_frames: int = 600
    #: seconds a request may take before the client gets a 503 (the model finishes it)
    request_timeout: float = 120.0
    allow_paths: Path | None = None
    cors_origins: list[str] = field(default_factory=list)
    #: Only the named models may be used (otherwise every registered model loads on demand).
    only_named: bool = False

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1e6)

    @property
    def max_cache_bytes(self) -> int:
        return int(self.max_cache_mb * 1e6)

    @property
    def exposed(self) -> bool:
        return not is_loopback(self.host)

    def check(self) -> ServeConfig:
        """Refuse unsafe or meaningless settings with one line naming the fix."""
        if self.token is None:
            self.token = os.environ.get(TOKEN_ENV) or None
        if self.token is not None:
            self.token = self.token.strip()
            if len(self.token) < MIN_TOKEN_LENGTH:
                raise InputError(
                    f"--token is {len(self.token)} characters; use at least "
                    f"{MIN_TOKEN_LENGTH} random ones ({TOKEN_HINT})"
                )
        if self.exposed and not self.token:
            raise InputError(
                f"refusing to listen on {self.host} without a token: anyone who can reach "
                f"it could run models on this machine; pass --token T or set {TOKEN_ENV} "
                f"({TOKEN_HINT}), or keep the default --host 127.0.0.1"
            )
        if not 0 <= int(self.port) <= 65535:
            raise InputError(f"--port {self.port} is not a TCP port; use 1-65535 (0: any free)")
        for name, value, low in (
            ("--max-images", self.max_images, 1),
            ("--max-cache-mb", self.max_cache_mb, 1),
            ("--max-upload-mb", self.max_upload_mb, 0.001),
            ("--max-pixels", self.max_pixels, 1),
            ("--max-video-frames", self.max_video_frames, 1),
            ("--request-timeout", self.request_timeout, 0.01),
        ):
            if value < low:
                raise InputError(f"{name} must be at least {low:g}, got {value:g}")
        from zoo.loading import normalize_backend

        self.backend = normalize_backend(self.backend)
        if self.weights not in (None, "random", "pretrained"):
            raise InputError(f"--weights takes 'random' or 'pretrained', got {self.weights!r}")
        if self.allow_paths is not None:
            root = Path(os.path.expanduser(str(self.allow_paths)))
            if not root.is_dir():
                raise InputError(f"--allow-paths {root} is not a folder; give an existing folder")
            self.allow_paths = root.resolve()
        for origin in self.cors_origins:
            if origin == "*" or not origin.startswith(("http://", "https://")):
                raise InputError(
                    f"--cors-origin {origin!r}: give a full origin like https://app.example.org "
                    "(a wildcard would let any web page use this server)"
                )
        return self

    def url(self, port: int | None = None) -> str:
        """What to open in a browser; the token rides in the fragment, never sent to servers."""
        host = self.host
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        base = f"http://{host}:{port if port is not None else self.port}/"
        return base + (f"#token={self.token}" if self.token else "")
