"""The sandbox's ``raw.githubusercontent.com``: the Core Community Survey manifests, where users get them.

The Roman Research Nexus's notebooks (spacetelescope/roman_notebooks, ``notebooks/ccs_simulations``)
ship the simulations' manifests as plain files of the repository, so a program anywhere reads
them from GitHub's raw file host:

``GET|HEAD /spacetelescope/roman_notebooks/<ref>/notebooks/ccs_simulations/<manifest>``
    ``<manifest>`` one of ``gbtds_manifest.ecsv``, ``hlwas_manifest.ecsv`` and
    ``hlwas_coadd_manifest.ecsv``; ``<ref>`` a branch or tag name (any is answered with the
    sandbox's manifests). ``200`` with the ECSV text (``text/plain; charset=utf-8``, as GitHub
    serves it), ``Content-Length`` and an ``ETag``; ``Range`` requests are answered as GitHub
    answers them (``206``).

Any other path answers ``404`` with GitHub's body ``404: Not Found``. The manifests are the
sandbox's own (:func:`~roman_helpers.sandbox.sky.surveys.ccs.write_manifests`): their rows are the
files its S3 serves, written once into the sandbox's cache and read from there.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from roman_helpers.sandbox.services.serving import Environ, StartResponse, WsgiService

__all__ = ["RAW_GITHUB_HOSTS", "RawGitHubApp", "RawGitHubServer", "manifest_path"]

#: The host the TLS proxy sends here.
RAW_GITHUB_HOSTS = ("raw.githubusercontent.com",)
#: Where the manifests sit in the roman_notebooks repository.
_REPOSITORY = ("spacetelescope", "roman_notebooks")
_FOLDER = ("notebooks", "ccs_simulations")


def manifest_path(path: str) -> str | None:
    """The manifest's file name a raw-file path asks for, or None for any other path.

    Examples
    --------
    >>> manifest_path("/spacetelescope/roman_notebooks/main/notebooks/ccs_simulations/gbtds_manifest.ecsv")
    'gbtds_manifest.ecsv'
    >>> manifest_path("/spacetelescope/roman_notebooks/main/README.md") is None
    True
    """
    from roman_helpers.sandbox.sky.surveys.ccs import MANIFEST_FILES

    parts = path.strip("/").split("/")
    if len(parts) != 6 or tuple(parts[:2]) != _REPOSITORY or tuple(parts[3:5]) != _FOLDER:
        return None
    return parts[5] if parts[5] in MANIFEST_FILES else None


class RawGitHubApp:
    """WSGI application answering raw-file requests for the CCS manifests from ``folder``.

    Parameters
    ----------
    folder : path
        Where each manifest is written the first time it is asked for, and read from after.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()

    def _file(self, name: str) -> Path:
        from roman_helpers.sandbox.sky.surveys.ccs import write_manifests

        with self._lock:  # two first requests write it once; the others when asked for
            write_manifests(self.folder, overwrite=False, names=(name,))
        return self.folder / name

    def __call__(self, environ: Environ, start_response: StartResponse) -> Any:
        """Answer one request: a manifest's bytes (or a range of them), else GitHub's 404."""
        request = Request(environ)
        name = manifest_path(request.path)
        if request.method not in ("GET", "HEAD") or name is None:
            response = Response("404: Not Found", status=404, content_type="text/plain; charset=utf-8")
            return response(environ, start_response)
        path = self._file(name)
        stat = path.stat()
        etag = hashlib.sha1(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
        response = Response(
            path.open("rb"),  # werkzeug closes it; conditional() cuts the range
            content_type="text/plain; charset=utf-8",
            direct_passthrough=True,
        )
        response.content_length = stat.st_size
        response.set_etag(etag)
        return response.make_conditional(request, accept_ranges=True, complete_length=stat.st_size)(
            environ, start_response
        )


class RawGitHubServer(WsgiService):
    """Serve :class:`RawGitHubApp` with werkzeug on 127.0.0.1 in a background thread.

    Parameters
    ----------
    folder : path
        Passed to :class:`RawGitHubApp`.
    host, port : str, int
        Address to bind; port 0 picks a free one.
    """

    name = "GitHub"

    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = self._wsgi = RawGitHubApp(folder)
        self.host, self.port = host, port
