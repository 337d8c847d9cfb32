"""The manifest benchmark's smoke run (``bench/manifest.py --quick``): counts, never times.

One position a survey, in its rarest band, over that band's rows of both Core Community Survey
manifests (a full run takes all 156,078 rows). The counts
are checked against what is worked out here from the manifests themselves: the files a first
search must read are those whose detector lies within reach of the position (and of the band),
the truth is the sky model's (astropy's WCS of each file's detector), and a second search reads
nothing.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from roman_helpers import footprints
from roman_helpers.sandbox.sky import wfi
from roman_helpers.sandbox.sky.surveys import ccs
from tests.conftest import sandbox_environment

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(sandbox, tmp_path_factory):
    """``bench/manifest.py --quick --positions 1 --running`` in this process, on the session sandbox."""
    spec = importlib.util.spec_from_file_location("bench_manifest", ROOT / "bench" / "manifest.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path_factory.mktemp("manifest-bench") / "out"
    with sandbox_environment(sandbox):
        assert bench.main(["--quick", "--positions", "1", "--running", "--output-dir", str(out)]) == 0
    return json.loads((out / "results.json").read_text()), out


def test_outputs_and_rows(run) -> None:
    results, out = run
    assert {p.name for p in out.iterdir()} == {"results.json", "table.md"}
    bands = results["settings"]["bands"]  # a quick run keeps the rows of the band searched
    rows = {program: ccs.manifest(program) for program in bands}
    assert results["rows"] == sum(int(np.sum(rows[p]["optical_element"] == bands[p])) for p in bands) > 0
    assert "wrongly included" in (out / "table.md").read_text()


def _truth(program: str, band: str, ra: float, dec: float) -> tuple[int, int]:
    """Files of ``band`` whose pixels hold the position (astropy), and those within reach."""
    table = ccs.manifest(program)
    table = table[table["optical_element"] == band]
    target = SkyCoord(ra, dec, unit="deg")
    distance = target.separation(SkyCoord(table["detector_ra"], table["detector_dec"], unit="deg"))
    held = 0
    for row in table[distance < 0.3 * u.deg]:
        sca = int(str(row["detector"])[3:])
        w = wfi.wcs(row["wfi_ra"], row["wfi_dec"], row["wfi_pa"], sca, convention="roman")
        x, y = w.world_to_pixel(target)
        held += bool(-0.5 <= x < wfi.DETECTOR_SIDE - 0.5 and -0.5 <= y < wfi.DETECTOR_SIDE - 0.5)
    return held, int(np.sum(distance.deg <= footprints.DETECTOR_REACH_DEG))


def test_find_is_exact_reads_only_files_within_reach_and_nothing_the_second_time(run) -> None:
    results, _ = run
    for survey in results["surveys"]:
        (query,) = survey["queries"]
        held, reach = _truth(survey["program"], survey["band"], query["ra"], query["dec"])
        assert query["truth"] == held > 0
        first, again = query["kit_first"], query["kit_again"]
        assert (first["found"], first["missed"], first["wrong"]) == (held, 0, 0)
        assert first["reads"] == reach and first["requests"] >= 2 * reach
        assert first["bytes"] <= 64 * 1024 * reach  # headers only
        assert (again["reads"], again["requests"], again["bytes"]) == (0, 0, 0)
        assert (again["found"], again["missed"], again["wrong"]) == (held, 0, 0)


def test_the_notebooks_cone_is_scored_against_the_same_truth(run) -> None:
    results, _ = run
    for survey in results["surveys"]:
        (query,) = survey["queries"]
        table = ccs.manifest(survey["program"])
        table = table[table["optical_element"] == survey["band"]]
        target = SkyCoord(query["ra"], query["dec"], unit="deg")
        inside = (
            target.separation(SkyCoord(table["detector_ra"], table["detector_dec"], unit="deg"))
            <= 0.1 * u.deg
        )
        cone = query["notebook"]
        assert cone["found"] == int(np.sum(inside))
        assert cone["found"] - cone["wrong"] + cone["missed"] == query["truth"]
        small = query["half_side"]  # a cone within half a detector's side includes no wrong file
        assert small["wrong"] == 0 and small["found"] + small["missed"] == query["truth"]
