"""The many-target benchmark's smoke run (``bench/many.py --quick``): counts, never times.

The run takes 6 targets of each layout's field over 2 full-size epochs: the OpenUniverse TDS
``.fits.gz`` images of tutorial 4's transient (its truth catalogs' transients and stars around
it) and the first GBTDS F146 ``_cal.asdf`` exposures of one detector (its input catalogs' stars),
measures every target with ``catalog_photometry.light_curves``, then one target with the
one-target light curve. Checked here against what the benchmark works out from the files' own
layout (the WCS the sandbox made each image with, the gzip members and lz4 chunks): the stamps
that touch each file, the bytes against the floor, the requests per file, and that one target at
a time measures the same fluxes. astrocut is left out (its ``.fits.gz`` reads take a minute).

Joining runs made side by side, and publishing (never a ``--quick`` run), are checked on the
run's own results.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from roman_helpers import stream

ROOT = Path(__file__).resolve().parents[1]
TARGETS, EPOCHS = 6, 2
LZ4_CHUNK = 4 * 2**20


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("many")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "many.py"),
            "--quick",
            "--latency",
            "0",
            "--no-astrocut",
            "--cache",
            str(folder / "cache"),
            "--output-dir",
            str(folder / "out"),
        ],
        # the sandbox makes each image while the kit reads it (no untimed first pass in --quick):
        # on a busy machine that can pass the kit's 60 s per file, and a second attempt would read
        # the file again; the counts checked here are those of one attempt a file
        env={**os.environ, "PYTHONPATH": str(ROOT), "ROMAN_HELPERS_TIMEOUT": "900"},
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((folder / "out" / "results.json").read_text()), folder / "out", done.stdout


def test_outputs_and_sizes(run):
    results, out, printed = run
    assert {p.name for p in out.iterdir()} == {"results.json", "table.md", "many.png"}
    assert set(results["layouts"]) == {"openuniverse", "gbtds"}
    for layout in results["layouts"].values():
        assert layout["epochs"] == EPOCHS and layout["targets"] == TARGETS
        assert [way["name"] for way in layout["ways"]] == [
            "roman_helpers light_curves",
            "one target at a time",
        ]
    assert "| roman_helpers light_curves |" in printed and "read / floor" in (out / "table.md").read_text()


def test_every_stamp_on_the_files_is_measured(run):
    results, _, _ = run
    for layout in results["layouts"].values():
        kit = layout["ways"][0]
        stamps = {f["key"]: f["stamps"] for f in layout["per_file"]}
        # the targets on each image by the WCS the sandbox made it with (not the kit's)
        assert kit["pairs"] == kit["floor_stamps"] == sum(stamps.values()) > 0
        assert kit["files"] == sum(n > 0 for n in stamps.values())
        assert kit["failed"] == []


def test_bytes_at_the_floor(run):
    results, _, _ = run
    for name, layout in results["layouts"].items():
        for f in layout["per_file"]:
            if not f["stamps"]:
                assert f["bytes"] == 0
                continue
            assert f["floor"] <= f["bytes"] <= 1.2 * f["floor"], (name, f)
        kit = layout["ways"][0]
        assert kit["bytes"] == sum(f["bytes"] for f in layout["per_file"])


def test_requests_per_file(run):
    results, _, _ = run
    gz = results["layouts"]["openuniverse"]
    for f in gz["per_file"]:
        if f["stamps"]:  # the headers, then the stream in the kit's read blocks: one pass
            assert f["requests"] <= 2 + math.ceil(f["bytes"] / stream.GZIP_BLOCK), f
    asdf = results["layouts"]["gbtds"]
    for f in asdf["per_file"]:
        # the tree, then for data and err one read per run of chunks and the chunks' headers:
        # never more than a few requests per 4 MiB chunk read
        assert f["requests"] <= 4 + 3 * math.ceil(f["bytes"] / LZ4_CHUNK), f


def test_one_target_at_a_time_measures_the_same(run):
    results, _, _ = run
    for layout in results["layouts"].values():
        kit, single = layout["ways"][0], layout["ways"][1]
        assert single["targets"] == 1 and single["pairs"] == single["files"] >= 1  # one point a file
        assert single["files"] <= kit["files"]
        assert single["same_flux"] == single["pairs"]


def test_join_and_publish(run, tmp_path):
    results, out, _ = run
    spec = importlib.util.spec_from_file_location("bench_many", ROOT / "bench" / "many.py")
    many = importlib.util.module_from_spec(spec)
    sys.modules["bench_many"] = many
    spec.loader.exec_module(many)
    parts = []
    for layout in ("openuniverse", "gbtds"):
        part = tmp_path / layout
        part.mkdir()
        one = dict(results, layouts={layout: results["layouts"][layout]})
        (part / "results.json").write_text(json.dumps(one))
        parts.append(part)
    many.join(parts, tmp_path / "joined")
    joined = json.loads((tmp_path / "joined" / "results.json").read_text())
    assert joined["layouts"] == results["layouts"]
    page = tmp_path / "page.md"
    page.write_text("# P\n<!-- many-table:start -->\nold\n<!-- many-table:end -->\ntail\n")
    with pytest.raises(SystemExit, match="--quick"):
        many.publish(out, page, tmp_path / "images", tmp_path / "copy.json")
    full = dict(results, settings=dict(results["settings"], quick=False))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "results.json").write_text(json.dumps(full))
    many.publish(tmp_path / "full", page, tmp_path / "images", tmp_path / "copy.json")
    text = page.read_text()
    assert "old" not in text and text.endswith("tail\n") and "images/many.png" in text
    assert (tmp_path / "images" / "many.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "copy.json").read_text())["layouts"] == results["layouts"]


def test_the_published_run(tmp_path):
    """The book's section holds the published run's table, and its figure is that run's drawing,
    legible at the book's text column (676 px at 96 px an inch; tick labels of 9 pt or more)."""
    spec = importlib.util.spec_from_file_location("bench_many_published", ROOT / "bench" / "many.py")
    many = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(many)
    results = json.loads((ROOT / "book" / "many-results.json").read_text())
    assert not results["settings"]["quick"]
    assert results["settings"]["targets"] >= 200 and results["settings"]["epochs"] >= 100
    page = (ROOT / "book" / "performance.md").read_text()
    section = page.split("<!-- many-table:start -->", 1)[1].split("<!-- many-table:end -->", 1)[0]
    assert many.table(results) in section
    fig = many.figure(results)
    shown = min(1.0, (676 / 96) / fig.get_figwidth())
    labels = [label for axis in fig.axes for label in axis.get_xticklabels() + axis.get_yticklabels()]
    assert labels and min(label.get_fontsize() for label in labels) * shown >= 9
    width, height = struct.unpack(">II", (ROOT / "book" / "images" / "many.png").read_bytes()[16:24])
    assert (width, height) == (round(fig.get_figwidth() * 110), round(fig.get_figheight() * 110))
