"""Sphinx extension: the book reads at its own width (the rules are in ``static/book-width.css``).

Outputs of code cells wrap at the column instead of ending mid-word at its edge; table cells,
inline literals and headings wrap inside their column instead of running off the page. The
browser test (``tests/test_book_browser.py``) measures every page for overflow and clipped text.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

STATIC = Path(__file__).resolve().parent / "static"
STYLESHEET = "book-width.css"


def add_static_folder(app: Any, config: Any) -> None:
    """Serve ``static/`` with the theme's files (copied to ``_static/``), and note the rules' digest.

    Sphinx copies static files only when it writes pages; a changed digest (a config value that
    rebuilds HTML) makes it write them all, so edited rules reach the built book.
    """
    config.html_static_path = [*config.html_static_path, str(STATIC)]
    config.book_width_digest = hashlib.sha256((STATIC / STYLESHEET).read_bytes()).hexdigest()


def setup(app: Any) -> dict:
    """Register the stylesheet on every page."""
    app.add_config_value("book_width_digest", "", "html")
    app.connect("config-inited", add_static_folder)
    app.add_css_file(STYLESHEET)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
