"""Sphinx extension: emit each ``<script>`` of a page once.

sphinx-thebe 0.3.1 registers its inline configuration script (``const THEBE_JS_URL = ...``)
through ``app.add_js_file`` after the HTML builder exists; Sphinx 7.4 then lists it twice and
every page logs ``SyntaxError: Identifier 'THEBE_JS_URL' has already been declared`` in the
browser console. Dropping exact duplicates keeps the pages' consoles clean.
"""

from __future__ import annotations

from typing import Any


def _identity(script: Any) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    # the same inline script arrives once with filename None and once with ""
    filename = getattr(script, "filename", script) or ""
    return (str(filename), tuple(sorted((key, str(value)) for key, value in attributes.items())))


def drop_duplicate_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Remove repeated entries from the page's ``script_files``."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = _identity(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # in place: the template renders this very list object


def setup(app: Any) -> dict:
    """Register the handler (late, after sphinx-thebe and the theme filled the context)."""
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
