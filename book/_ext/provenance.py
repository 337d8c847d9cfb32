"""Sphinx extension: say on every page where the executed outputs came from.

``book/build.py`` runs Sphinx inside the offline sandbox's environment, which names its state
file in ``ROMAN_HELPERS_SANDBOX``. When that variable is present the banner says the outputs'
pixels are simulated; a build against the real services (``build.py --real``) shows no banner.
"""

from __future__ import annotations

import os
from typing import Any

SANDBOX_BANNER = (
    "Notebook outputs in this book were computed against the offline sandbox: file names, "
    "layouts, formats, image dimensions and request patterns match MAST and AWS, and file sizes "
    "are close to theirs; pixel values, source counts and timings are simulated."
)


def set_banner(app: Any, config: Any) -> None:
    """Put the provenance banner into the theme's announcement slot."""
    if not os.environ.get("ROMAN_HELPERS_SANDBOX"):
        return
    options = dict(config.html_theme_options or {})
    if not options.get("announcement"):  # jupyter-book passes html.announcement, "" by default
        options["announcement"] = SANDBOX_BANNER
    config.html_theme_options = options


def setup(app: Any) -> dict:
    """Register the config hook."""
    app.connect("config-inited", set_banner)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
