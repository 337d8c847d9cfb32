"""Sphinx extension: make ``[text](#id)`` links reach ``<a id="id"></a>`` anchors in the same page.

Notebooks written for JupyterLab mark their sections with raw HTML anchors, because JupyterLab
does not understand MyST targets (``(id)=``). MyST cannot see ids inside raw HTML, so it reports
every such link as a missing cross-reference (a warning, which fails the ``-W`` build) and drops
the link. This turns a MyST reference whose target is an anchor of the *same* page into a plain
in-page link; references to anything else are left for MyST to resolve (or to warn about). The
browser test checks that every in-page fragment points at an existing id.
"""

from __future__ import annotations

import re
from typing import Any

from docutils import nodes
from sphinx.addnodes import pending_xref

ANCHOR = re.compile(r"""<a\s[^>]*\b(?:id|name)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


def link_html_anchors(app: Any, doctree: nodes.document) -> None:
    """Replace same-page MyST references to raw-HTML anchors by in-page links."""
    anchors = {
        match
        for raw in doctree.findall(nodes.raw)
        if "html" in raw.get("format", "")
        for match in ANCHOR.findall(raw.astext())
    }
    if not anchors:
        return
    for ref in list(doctree.findall(pending_xref)):
        if ref.get("reftype") == "myst" and not ref.get("refdomain") and ref.get("reftarget") in anchors:
            link = nodes.reference("", "", internal=True, refuri="#" + ref["reftarget"])
            link += ref.children
            ref.replace_self(link)


def setup(app: Any) -> dict:
    """Register the handler on every freshly read page."""
    app.connect("doctree-read", link_html_anchors)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
