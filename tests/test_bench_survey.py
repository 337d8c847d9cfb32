"""The survey benchmark's smoke run (``bench/survey.py --quick``): counts, never times.

The run indexes 8 epochs of the sandbox's TDS field in both layouts, cuts the transient out of
each, and compares with roman_datamodels / astropy opening every file. Its server-side counts are
checked here against bounds computed from the generated files themselves: the YAML tree of each
ASDF file, the lz4 chunk holding the cut-out's rows, the gzip prefix up to its last row.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import yaml
from astropy.io import fits

from roman_helpers import stream

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 8
KIB = 1024


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("survey")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "survey.py"),
            "--quick",
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
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((folder / "out" / "results.json").read_text())
    local = {
        str(path.relative_to(next(folder.glob("cache/tds-small-*")))).split("/", 1)[1]: path
        for path in (folder / "cache").rglob("*")
        if path.suffix in (".asdf", ".gz")
    }
    return results, local, folder / "out"


def tree_size(path: Path) -> int:
    raw = path.read_bytes()
    return raw.index(b"\n...\n") + 5


def data_chunks(path: Path, rows: tuple[int, int], width: int = 128, itemsize: int = 4) -> int:
    """Bytes of the lz4 chunks (length word and payload) of the first block holding ``rows``."""
    raw = path.read_bytes()
    block = yaml.safe_load(raw[raw.rindex(b"#ASDF BLOCK INDEX") :].split(b"\n", 1)[1])[0]
    position = block + 6 + struct.unpack(">H", raw[block + 4 : block + 6])[0]
    produced, total = 0, 0
    while produced < rows[1] * width * itemsize:
        compressed, uncompressed = (
            struct.unpack(">I", raw[position : position + 4])[0],
            struct.unpack("<I", raw[position + 4 : position + 8])[0],
        )
        if produced + uncompressed > rows[0] * width * itemsize:
            total += 4 + compressed
        position, produced = position + 4 + compressed, produced + uncompressed
    return total


def gzip_bytes_for(path: Path, decompressed: int) -> int:
    """Compressed bytes to read, 1 KiB at a time, before ``decompressed`` bytes come out."""
    decoder, produced, consumed = zlib.decompressobj(16 + zlib.MAX_WBITS), 0, 0
    raw = path.read_bytes()
    while produced < decompressed:
        produced += len(decoder.decompress(raw[consumed : consumed + KIB]))
        consumed += KIB
    return consumed


def test_outputs(run):
    results, _local, out = run
    assert {p.name for p in out.iterdir()} == {
        "results.json",
        "table.md",
        "scaling.png",
        "ways.png",
        "light_curve.png",
    }
    assert results["settings"]["epochs"] == EPOCHS and results["settings"]["image_side"] == 128


def test_index_reads_little_of_each_file(run):
    results, local, _ = run
    for layout, bound in (("roman", lambda p: 1.2 * tree_size(p)), ("openuniverse", lambda p: 64 * KIB)):
        index = results["index"][layout]
        assert index["files"] == EPOCHS and index["failed"] == 0
        assert index["listing_requests"] == 1  # one listing gives every file's size and ETag: no HEAD
        assert index["requests"] == index["listing_requests"] + sum(f["requests"] for f in index["per_file"])
        for entry in index["per_file"]:
            assert entry["requests"] >= 1 and 0 < entry["bytes"] <= bound(local[entry["key"]])


def test_light_curve_bytes_within_floor(run):
    results, local, _ = run
    roman = results["light_curve"]["roman"]
    assert roman["ok"] == EPOCHS and roman["failed"] == []
    for entry in roman["per_file"]:
        path = local[entry["key"]]
        floor = tree_size(path) + data_chunks(path, tuple(entry["rows"]))
        assert entry["floor"] == floor
        assert entry["bytes"] <= 1.2 * floor + 4 * KIB  # and the block index read from the end
    kit, default = roman["ways"][:2]
    assert default["name"].startswith("rdm.open") and default["files"] == default["ok"] == EPOCHS
    assert default["bytes"] >= sum(local[e["key"]].stat().st_size for e in roman["per_file"])  # whole files
    assert kit["identical"] == default["identical"] == EPOCHS  # the same pixels both ways

    gz = results["light_curve"]["openuniverse"]
    assert gz["ok"] == EPOCHS
    for entry in gz["per_file"]:
        path = local[entry["key"]]
        with fits.open(path) as hdul:
            sci_data = hdul.fileinfo(1)["datLoc"]
        prefix = gzip_bytes_for(path, sci_data + entry["rows"][1] * 128 * 4)
        assert entry["bytes"] <= prefix + stream.GZIP_BLOCK
    assert all(way["identical"] == EPOCHS for way in gz["ways"][:3])


def test_counts_do_not_depend_on_concurrency(run):
    results, _, _ = run
    for layout in ("roman", "openuniverse"):
        rows = [r for r in results["scaling"] if r["layout"] == layout]
        assert [r["workers"] for r in rows] == [1, 2, 4, 8, 16]
        assert {(r["files"], r["ok"], r["requests"], r["bytes"]) for r in rows} == {
            (
                EPOCHS,
                EPOCHS,
                results["light_curve"][layout]["ways"][0]["requests"],
                results["light_curve"][layout]["ways"][0]["bytes"],
            )
        }


def test_query_finds_the_field_among_synthetic_footprints(run):
    results, _, _ = run
    query = results["query"]
    assert query["rows"] == 10_000 + EPOCHS and query["found_real"] == EPOCHS
