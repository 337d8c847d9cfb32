"""The performance page: what an astronomer gains comes first, and its figures read at page width.

- the page opens with the cost of one light curve (bytes and time, in words and one figure) and
  keeps the engineering (how the bytes are saved, how they are counted) in a later section;
- every figure the benchmarks publish, drawn again from the results published beside it, has
  tick labels of at least 9 pt when shown as wide as the book's text column, and the published
  images are those drawings (same size in pixels).
"""

from __future__ import annotations

import importlib.util
import json
import re
import struct
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "performance.md"
IMAGES = ROOT / "book" / "images"
# The book's text column at the width it is read at: 676 px, at 96 px an inch (measured by the
# browser test, tests/test_book_browser.py, which also checks every figure as shown).
COLUMN_INCHES = 676 / 96
LEGIBLE_PT = 9
ENGINEERING = re.compile(r"cat_ranges|botocore|fsync|\bmoto\b|tracemalloc", re.IGNORECASE)


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[f"bench_{name}"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _module("run")


@pytest.fixture(scope="module")
def survey():
    return _module("survey")


def test_the_page_leads_with_what_one_light_curve_costs() -> None:
    text = PAGE.read_text()
    title, rest = text.split("\n", 1)
    assert title.startswith("# ")
    lead = rest.split("\n## ", 1)[0]
    # in words: bytes and time per light curve, for each layout; and one figure
    assert "per light curve" in lead or "for the whole light curve" in lead
    layouts = re.findall(r"^- \*\*", lead, flags=re.MULTILINE)  # one bullet per file layout measured
    assert layouts, "no layout measured"
    # the kit's way and the usual way, for each layout
    assert len(re.findall(r"\d+(?:\.\d+)? (?:GB|MB)", lead)) >= 2 * len(layouts), (
        "bytes of each way, each layout"
    )
    assert len(re.findall(r"takes [\d.]+ s", lead)) >= 2 * len(layouts), "time of each way, each layout"
    assert len(re.findall(r"!\[[^\]]*\]\(([^)]+)\)", lead)) == 1
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    engineering = next(i for i, heading in enumerate(headings) if heading.startswith("How it is done"))
    assert engineering == len(headings) - 1, "the engineering comes last"
    before = text.split("\n## How it is done", 1)[0]
    after = text.split("\n## How it is done", 1)[1]
    assert ENGINEERING.findall(before) == [], "engineering words before the engineering section"
    assert {"cat_ranges", "botocore", "fsync", "moto"} <= {w.lower() for w in ENGINEERING.findall(after)}


def _tick_labels(fig) -> list:
    fig.canvas.draw()
    return [
        label
        for axis in fig.axes
        for label in (*axis.get_xticklabels(), *axis.get_yticklabels())
        if label.get_visible() and label.get_text()
    ]


def _png_size(path: Path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


def _check(fig, name: str, dpi: int) -> tuple[float, float]:
    """(smallest tick label in pt as shown at page width, the figure's width in inches)."""
    width = fig.get_figwidth()
    shown = min(1.0, COLUMN_INCHES / width)  # a figure wider than the column is shrunk to it
    labels = _tick_labels(fig)
    assert labels, name
    smallest = min(label.get_fontsize() for label in labels) * shown
    published = IMAGES / name
    assert published.is_file(), name
    assert _png_size(published) == (round(width * dpi), round(fig.get_figheight() * dpi)), (
        f"{name} was not drawn by this version: publish again"
    )
    return smallest, width


@pytest.fixture(autouse=True)
def _close_figures():
    """Each test's figures are closed after it (pyplot keeps them otherwise)."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_streaming_figure_is_legible_at_page_width(bench) -> None:
    _settings, results = bench.load(ROOT / "book" / "performance-results.json")
    fig = bench.figure(results)
    smallest, width = _check(fig, "performance.png", 110)
    assert smallest >= LEGIBLE_PT, f"tick labels {smallest:.1f} pt at page width (figure {width:.1f} in wide)"


@pytest.mark.parametrize("name", ["gain.png", "scaling.png", "ways.png", "light_curve.png"])
def test_survey_figures_are_legible_at_page_width(survey, name: str) -> None:
    results = json.loads((ROOT / "book" / "survey-results.json").read_text())
    figures = survey._figures(results)
    smallest, width = _check(figures[name], f"survey-{name}", 110)
    assert smallest >= LEGIBLE_PT, (
        f"{name}: tick labels {smallest:.1f} pt at page width ({width:.1f} in wide)"
    )
