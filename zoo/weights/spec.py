"""``WeightSpec``: where a checkpoint comes from and what its bytes must hash to.

Why a module of its own: registry entries and plugins declare weights long before anything
is fetched; the declaration is validated then (URI form, sha256 form, size), with pydantic,
and resolving it is one call away.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zoo.errors import WeightsError
from zoo.weights.progress import ProgressArg
from zoo.weights.resolving import resolve
from zoo.weights.uris import check_uri, normalize_sha256, uri_basename


class WeightSpec(BaseModel):
    """Where a checkpoint comes from and what its bytes must hash to.

    Registry entries carry one of these per variant; ``sha256`` and ``size`` make a
    download verifiable and let a wrong file be deleted instead of loaded. The revision of
    ``hf://``/``ms://`` files is part of the URI (``...@<revision>``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    uri: str
    sha256: str | None = None
    size: int | None = Field(default=None, ge=0)
    filename: str | None = None
    pattern: str | None = None

    @field_validator("uri")
    @classmethod
    def _valid_uri(cls, value: str) -> str:
        value = value.strip()
        try:
            check_uri(value)
        except WeightsError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("sha256")
    @classmethod
    def _valid_sha(cls, value: str | None) -> str | None:
        try:
            return normalize_sha256(value)
        except WeightsError as exc:
            raise ValueError(str(exc)) from None

    @property
    def display_name(self) -> str:
        """``filename`` if given, else the last path component of the URI."""
        return self.filename or uri_basename(self.uri)

    def resolve(
        self,
        *,
        progress: ProgressArg = True,
        name: str | None = None,
        offline: bool | None = None,
    ) -> Path:
        """Shorthand for :func:`zoo.weights.resolve` with this spec's fields."""
        return resolve(
            self.uri,
            self.sha256,
            self.size,
            progress=progress,
            pattern=self.pattern,
            name=name,
            offline=offline,
            filename=self.filename,
        )
