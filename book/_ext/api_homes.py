"""Sphinx extension: document each public name of the API once, where users import it.

``stream``, ``footprints`` and ``cli`` are packages of private rooms (``stream/_cutouts.py`` ...)
whose public names are imported into the package; sphinx-autoapi's ``imported-members`` option
documents them there. A name a module imports from another *public* module (the sandbox's launcher
re-exports an error of its S3 server) is left to that module's page, so that no object is
documented twice (a "duplicate object description" warning, which fails the ``-W`` build).
"""

from __future__ import annotations

from typing import Any


def _documented_elsewhere(obj: Any) -> bool:
    """An imported name whose own module is public (has no private part, such as ``_s3``)."""
    if not getattr(obj, "imported", False):
        return False
    home = str(obj.obj.get("original_path", "")).rpartition(".")[0]
    return not any(part.startswith("_") for part in home.split("."))


def skip_member(app: Any, what: str, name: str, obj: Any, skip: bool, options: Any) -> bool | None:
    """``autoapi-skip-member``: skip an imported name documented at its public home."""
    return True if _documented_elsewhere(obj) else None


def setup(app: Any) -> dict:
    app.connect("autoapi-skip-member", skip_member)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
