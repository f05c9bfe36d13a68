"""``gdrive://FILE_ID``: Google Drive files shared by link.

Why a module of its own: research checkpoints are often published only on Google Drive.
A file ID is turned into Drive's direct-download URL (``confirm=t`` skips the "cannot scan
for viruses" page of large files) and handed to the https store, which resumes, verifies
and caches it like any URL; the store recognises Drive's HTML error pages (quota exceeded,
not shared) so that a web page is never cached as a checkpoint.
"""

from __future__ import annotations

from zoo.weights.http import fetch_into_store
from zoo.weights.request import ResolvedFile, ResolveRequest
from zoo.weights.uris import gdrive_url


def resolve_gdrive(request: ResolveRequest) -> ResolvedFile:
    """The ``gdrive`` resolver (endpoint overridable with ``ZOO_GDRIVE_ENDPOINT``)."""
    return fetch_into_store(request, gdrive_url(request.uri), gdrive=True)
