"""The survey benchmark's smoke run (``bench/survey.py --quick``): counts, never times.

The run finds, through the sandbox's IRSA, the 4 full-size OpenUniverse TDS images of the
tutorial's transient nearest its peak, indexes them, cuts the transient out of each, and compares
with astropy opening every file. Its server-side counts are checked here against bounds worked out
from the FITS layout itself: a header read per file for the index; for a cut-out, the science
array's bytes up to the box's last row, give or take what a gzip stream adds (its members are
read whole only up to 1 MiB, plus one read block of the kit).

Publishing (``bench/survey.py --publish``): a run's results go into a page's ``survey-table``
section with their figures and JSON, twice alike, never from a ``--quick`` run; and the book's
published section holds the numbers of the JSON published beside it.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from roman_helpers import stream

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 2  # the fewest that make a curve; each full-size epoch costs the sandbox about 20 s to make
KIB, MIB = 1024, 1024 * 1024
SIDE = 4088
HEADERS = 20 * 2880  # more than the primary and SCI headers of an OpenUniverse image take


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("survey")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "survey.py"),
            "--quick",
            "--epochs",
            str(EPOCHS),
            "--latency",
            "0",
            "--no-astrocut",
            "--cache",
            str(folder / "cache"),
            "--output-dir",
            str(folder / "out"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((folder / "out" / "results.json").read_text())
    return results, folder / "out"


def test_outputs(run):
    results, out = run
    assert {p.name for p in out.iterdir()} == {
        "results.json",
        "table.md",
        "gain.png",
        "scaling.png",
        "ways.png",
        "light_curve.png",
    }
    assert results["settings"]["epochs"] == EPOCHS and results["settings"]["image_side"] == SIDE


def test_index_reads_little_of_each_file(run):
    results, _ = run
    index = results["index"]["openuniverse"]
    assert index["files"] == EPOCHS and index["failed"] == 0
    assert index["listing_requests"] == 0  # the files come from IRSA's cloud_access: nothing listed
    assert index["requests"] == sum(f["requests"] for f in index["per_file"])
    for entry in index["per_file"]:
        assert entry["key"].startswith("openuniverse2024/roman/full/RomanTDS/images/simple_model/H158/")
        assert entry["requests"] >= 1 and 0 < entry["bytes"] <= 64 * KIB


def test_light_curve_bytes_within_floor(run):
    results, _ = run
    gz = results["light_curve"]["openuniverse"]
    assert gz["ok"] == EPOCHS and gz["failed"] == []
    for entry in gz["per_file"]:
        first, last = entry["rows"]
        assert 0 <= first < last <= SIDE and last - first <= 25
        # it must reach the box's first row of SCI, and need not pass its last row's gzip member
        assert entry["bytes"] >= first * SIDE * 4
        assert entry["bytes"] <= 1.001 * (HEADERS + last * SIDE * 4) + MIB + stream.GZIP_BLOCK
        # a read the sandbox was slow to make may be timed out and tried again (twice at most)
        assert entry["bytes"] <= 3 * entry["floor"] and entry["floor"] < entry["size"]
    kit, data, section = gz["ways"][:3]
    assert data["name"].startswith("fits.open + Cutout2D(.data)") and data["files"] == data["ok"] == EPOCHS
    assert data["bytes"] >= EPOCHS * SIDE * SIDE * 4  # the whole science array of every file
    assert all(way["identical"] == EPOCHS for way in (kit, data, section))  # the same pixels
    assert len(gz["curve"]["mjd"]) == EPOCHS and max(gz["curve"]["truth"]) > 0


def test_counts_do_not_depend_on_concurrency(run):
    """The scaling runs read files the light curve read before: no retries, the same counts, and
    within the bound of every file."""
    results, _ = run
    rows = [r for r in results["scaling"] if r["layout"] == "openuniverse"]
    assert [r["workers"] for r in rows] == [1, 2, 4, 8, 16]
    assert len({(r["files"], r["ok"], r["requests"], r["bytes"]) for r in rows}) == 1
    floors = sum(entry["floor"] for entry in results["light_curve"]["openuniverse"]["per_file"])
    assert rows[0]["files"] == rows[0]["ok"] == EPOCHS and rows[0]["bytes"] <= floors


def test_query_finds_the_field_among_synthetic_footprints(run):
    results, _ = run
    query = results["query"]
    assert query["rows"] == 10_000 + EPOCHS and query["found_real"] == EPOCHS


# ------------------------------------------------------------------ publishing

LAYOUT_NAMES = {"openuniverse": "OpenUniverse .fits.gz"}
START, END = "<!-- survey-table:start -->", "<!-- survey-table:end -->"


@pytest.fixture(scope="module")
def survey():
    spec = importlib.util.spec_from_file_location("bench_survey", ROOT / "bench" / "survey.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_survey"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def section(page: Path) -> str:
    text = page.read_text()
    assert text.count(START) == text.count(END) == 1
    return text.split(START, 1)[1].split(END, 1)[0]


def markdown_table(text: str, heading: str) -> list[dict[str, str]]:
    """The first table under ``### heading``, one dict per row keyed by the header's cells."""
    body = text.split(f"### {heading}\n", 1)[1].split("\n### ", 1)[0]
    lines = body.strip("\n").splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = list(itertools.takewhile(lambda line: line.startswith("|"), lines[first:]))
    cells = [[c.strip() for c in line.strip("|").split(" | ")] for line in rows]
    return [dict(zip(cells[0], row, strict=True)) for row in cells[2:]]


def check_numbers(text: str, results: dict) -> None:
    """Each count and rate of ``results`` stands in the section's tables, as printed (rounded)."""
    index = {row["layout"]: row for row in markdown_table(text, "Indexing the field")}
    assert set(index) == {LAYOUT_NAMES[layout] for layout in results["index"]}
    for layout, entry in results["index"].items():
        row = index[LAYOUT_NAMES[layout]]
        assert (int(row["files"]), int(row["requests"])) == (entry["files"], entry["requests"])
        assert row["within bound"] == f"{entry['within_bound']}/{entry['files']}"
        assert abs(float(row["files / s"]) - entry["files_per_second"]) <= 0.05 + 1e-9

    ways = {(r["layout"], r["way"]): r for r in markdown_table(text, "One light curve, every epoch")}
    shown = 0
    for layout, curve in results["light_curve"].items():
        for way in curve["ways"]:
            row = ways[(LAYOUT_NAMES[layout], way["name"])]
            assert int(row["requests"]) == way["requests"]
            assert row["files"].split(" of ")[0] == str(way["files"])
            assert row["same pixels"] == f"{way['identical']}/{way['ok']}"
            assert abs(float(row["s / file"]) - way["seconds"] / way["files"]) <= 0.0005 + 1e-9
            shown += 1
    assert len(ways) == shown + len(results["light_curve"])  # and one floor row per layout

    scaling = markdown_table(text, "Scaling")
    assert len(scaling) == len(results["scaling"])
    for row, entry in zip(scaling, results["scaling"], strict=True):
        assert (row["layout"], row["how"]) == (LAYOUT_NAMES[entry["layout"]], entry["backend"])
        assert [int(row[k]) for k in ("workers", "files", "requests")] == [
            entry["workers"],
            entry["files"],
            entry["requests"],
        ]
        assert abs(float(row["files / s"]) - entry["files_per_second"]) <= 0.05 + 1e-9


GAIN_START, GAIN_END = "<!-- survey-gain:start -->", "<!-- survey-gain:end -->"


def gain_section(page: Path) -> str:
    text = page.read_text()
    assert text.count(GAIN_START) == text.count(GAIN_END) == 1
    return text.split(GAIN_START, 1)[1].split(GAIN_END, 1)[0]


def check_gain(text: str, results: dict) -> None:
    """Per light curve, each layout: the kit's and the usual way's bytes and seconds, as printed.

    The usual way is the first after the kit, a loop that opens each file; its totals are its
    per-file numbers times the epochs asked (it may have been stopped early)."""
    for layout, curve in results["light_curve"].items():
        kit, usual = curve["ways"][0], curve["ways"][1]
        [line] = [
            line for line in text.splitlines() if line.startswith(f"- **{LAYOUT_NAMES[layout]} images**")
        ]
        sizes = [
            float(n) * (1e9 if unit == "GB" else 1e6) for n, unit in re.findall(r"([\d.]+) (GB|MB)", line)
        ]
        seconds = [float(n) for n in re.findall(r"takes ([\d.]+) s", line)]
        expected_bytes = [
            kit["bytes"] / kit["files"] * kit["asked"],
            usual["bytes"] / usual["files"] * usual["asked"],
        ]
        expected_seconds = [
            kit["seconds"] / kit["files"] * kit["asked"],
            usual["seconds"] / usual["files"] * usual["asked"],
        ]
        # printed to three figures
        for shown, expected in zip([*sizes, *seconds], [*expected_bytes, *expected_seconds], strict=True):
            assert abs(shown - expected) <= 0.005 * expected, line


def figures(text: str, page: Path) -> list[Path]:
    return [page.parent / link for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)]


def test_publish_refuses_quick_results(run):
    _results, out = run
    page = ROOT / "book" / "performance.md"
    before = page.read_bytes()
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "survey.py"), "--publish", "--output-dir", str(out)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 1
    assert "--quick results" in done.stderr and "make bench-survey" in done.stderr
    assert page.read_bytes() == before


def test_publish_writes_section_figures_and_json_alike_twice(run, survey, tmp_path):
    results, _out = run
    full = {**results, "settings": {**results["settings"], "quick": False}}
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text(json.dumps(full))
    book = tmp_path / "book"
    (book / "images").mkdir(parents=True)
    head = (
        "# Performance\n\n<!-- survey-gain:start -->\nold gain\n<!-- survey-gain:end -->\n\n"
        "<!-- bench-table:start -->\nother\n<!-- bench-table:end -->\n\n"
    )
    page = book / "performance.md"
    page.write_text(head + f"## Survey scale\n\n{START}\nold\n{END}\n\nAfter.\n")
    copy = book / "survey-results.json"

    survey.publish(out, page=page, images=book / "images", results_copy=copy)
    text = page.read_text()
    gained = head.replace("old gain", survey.gain(full, "images"))
    assert text.startswith(gained + "## Survey scale\n\n" + START) and text.endswith(END + "\n\nAfter.\n")
    published = section(page)
    assert "old" not in published
    check_numbers(published, full)
    check_gain(gain_section(page), full)
    shown = figures(published, page) + figures(gain_section(page), page)
    assert sorted(p.name for p in shown) == [
        "survey-gain.png",
        "survey-light_curve.png",
        "survey-scaling.png",
        "survey-ways.png",
    ]
    assert sorted(p.name for p in (book / "images").iterdir()) == sorted(p.name for p in shown)
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in shown)
    copied = json.loads(copy.read_text())
    assert {k: v for k, v in copied.items() if k != "targets"} == {
        k: v for k, v in full.items() if k != "targets"
    }

    written = {p: p.read_bytes() for p in [page, copy, *shown]}
    survey.publish(out, page=page, images=book / "images", results_copy=copy)
    assert {p: p.read_bytes() for p in written} == written


def test_book_section_holds_the_numbers_of_its_json(survey):
    page, copy = ROOT / "book" / "performance.md", ROOT / "book" / "survey-results.json"
    results = json.loads(copy.read_text())
    assert results["settings"]["quick"] is False
    assert (results["settings"]["epochs"], results["settings"]["image_side"]) == (40, 4088)
    published = section(page)
    check_numbers(published, results)
    assert published == "\n" + survey.tables(results, "images") + "\n"  # no hand edit since publishing
    check_gain(gain_section(page), results)
    assert gain_section(page) == "\n" + survey.gain(results, "images") + "\n"
    shown = figures(published, page) + figures(gain_section(page), page)
    assert len(shown) == 4 and all(p.is_file() for p in shown)
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text()):
        assert (page.parent / link).is_file(), link  # every figure of the page is in the book
