"""Sphinx extension: read pages only from ``book/`` and ``notebooks/``.

The book's source directory is the repository root (jupyter-book 1.x keeps ``_config.yml`` and
``_toc.yml`` there). Without this, any Markdown file or notebook elsewhere in the repository (a
README in a new folder, a scratch notebook) would be read, reported as "not included in any
toctree" and fail the ``-W`` build. ``only_build_toc_files`` cannot be used instead: the API pages
that sphinx-autoapi writes during the build are not in ``_toc.yml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

BOOK_FOLDERS = frozenset({"book", "notebooks"})


def exclude_outside_book(app: Any, config: Any) -> None:
    """Add every top-level entry other than the book's folders to ``exclude_patterns``."""
    outside = sorted(entry.name for entry in Path(app.srcdir).iterdir() if entry.name not in BOOK_FOLDERS)
    config.exclude_patterns = list(config.exclude_patterns) + [
        name for name in outside if name not in config.exclude_patterns
    ]


def setup(app: Any) -> dict:
    """Register the config hook, before sphinx-external-toc reads the toc (priority 500)."""
    app.connect("config-inited", exclude_outside_book, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
