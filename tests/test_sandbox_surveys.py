"""The WFI focal plane and the survey tables of sandbox.sky, checked against independent computations.

Geometry is compared with astropy's own WCS and coordinate code; survey tables with the published
designs their docstrings cite (counts, cadences, filters, date ranges, the coadd grid's definition);
every parameter value of datasets.yaml must name something the tables hold. No number here comes
from a public notebook.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.time import Time
from astropy.wcs import WCS

from roman_helpers import datasets
from roman_helpers.sandbox.sky import wfi
from roman_helpers.sandbox.sky.surveys import ccs, roman, rubin, tds, was

POINTINGS = [(9.45, -44.0, 0.0), (200.0, 35.0, 123.4), (359.95, 2.0, 271.0), (45.0, 88.9, 10.0)]
CORNER_PIXELS = np.array([[-0.5, -0.5], [4087.5, -0.5], [4087.5, 4087.5], [-0.5, 4087.5]])


# ---------------------------------------------------------------- the focal plane
@pytest.mark.parametrize("pointing", POINTINGS)
@pytest.mark.parametrize("convention", ["openuniverse", "roman"])
def test_vectorised_corners_match_astropy_wcs_of_every_detector(pointing, convention):
    ra, dec = wfi.corners(*pointing, convention=convention)
    for sca in wfi.DETECTORS:
        expected = WCS(wfi.fits_header(*pointing, sca, convention)).wcs_pix2world(CORNER_PIXELS, 0)
        got = SkyCoord(ra[sca - 1] * u.deg, dec[sca - 1] * u.deg)
        want = SkyCoord(expected[:, 0] * u.deg, expected[:, 1] * u.deg)
        assert got.separation(want).max() < 1e-6 * u.arcsec


def test_footprints_of_many_pointings_equal_the_one_at_a_time_corners():
    ra = np.array([p[0] for p in POINTINGS])
    dec = np.array([p[1] for p in POINTINGS])
    pa = np.array([p[2] for p in POINTINGS])
    many = wfi.footprints(ra, dec, pa)
    assert many.shape == (len(POINTINGS), 18, 4, 2)
    for index, pointing in enumerate(POINTINGS):
        one_ra, one_dec = wfi.corners(*pointing)
        assert np.array_equal(many[index, ..., 0], one_ra) and np.array_equal(many[index, ..., 1], one_dec)


@pytest.mark.parametrize("sca", [1, 3, 11, 18])
def test_gwcs_and_fits_wcs_agree_and_the_bounding_box_is_the_detector(sca):
    pointing = (80.48, -69.51, 37.0)
    fits_wcs = WCS(wfi.fits_header(*pointing, sca, "roman"))
    g = wfi.gwcs(*pointing, sca, "roman")
    x, y = np.random.default_rng(sca).uniform(-0.5, 4087.5, (2, 50))
    ra, dec = g(x, y)
    expected = fits_wcs.wcs_pix2world(np.column_stack([x, y]), 0)
    assert np.allclose(ra, expected[:, 0], atol=1e-10) and np.allclose(dec, expected[:, 1], atol=1e-10)
    assert g.bounding_box.bounding_box() == ((-0.5, 4087.5), (-0.5, 4087.5))
    assert np.isnan(g(4100.0, 10.0)[0])  # outside the detector


def test_no_two_detectors_of_a_pointing_share_sky():
    pointing = (150.0, 2.2, 17.0)
    wcses = [WCS(wfi.fits_header(*pointing, sca)) for sca in wfi.DETECTORS]
    grid = np.linspace(-0.5, 4087.5, 41)
    samples = np.array([(x, y) for x in grid for y in grid])
    for a, wcs_a in enumerate(wcses):
        sky = wcs_a.wcs_pix2world(samples, 0)
        for b, wcs_b in enumerate(wcses):
            if a == b:
                continue
            x, y = wcs_b.wcs_world2pix(sky, 0).T
            inside = (x > -0.5 + 1e-6) & (x < 4087.5 - 1e-6) & (y > -0.5 + 1e-6) & (y < 4087.5 - 1e-6)
            assert not inside.any(), f"detectors {a + 1} and {b + 1} overlap"


def test_the_field_covers_0_281_square_degrees():
    ra, dec = wfi.corners(9.45, -44.0, 33.0)
    area = 0.0
    for sca in range(18):
        c = SkyCoord(ra[sca] * u.deg, dec[sca] * u.deg)
        area += (c[0].separation(c[1]) * c[1].separation(c[2])).to_value(u.deg**2)
    assert area == pytest.approx(0.281, abs=0.001)


def test_field_extent_is_0_8_by_0_4_degrees_and_the_long_axis_follows_the_position_angle():
    # at PA 0 the focal plane's long axis runs east-west
    ra, dec = wfi.corners(0.0, 0.0, 0.0)
    ra = (ra + 180.0) % 360.0 - 180.0  # across RA 0 without a jump
    assert ra.max() - ra.min() == pytest.approx(0.8, abs=0.03)
    assert dec.max() - dec.min() == pytest.approx(0.5, abs=0.03)
    _ra90, dec90 = wfi.corners(0.0, 0.0, 90.0)
    assert dec90.max() - dec90.min() == pytest.approx(0.8, abs=0.03)


def test_flipped_detectors_are_rotated_by_180_degrees_and_orientat_is_the_focal_planes():
    for pa in (0.0, 256.4, 91.0):
        assert np.allclose(wfi.cd_matrix(pa, 3), -wfi.cd_matrix(pa, 2))
        assert np.allclose(wfi.cd_matrix(pa, 3, "roman"), wfi.cd_matrix(pa, 2, "roman"))
        headers = [wfi.fits_header(1.0, 1.0, pa, sca) for sca in (1, 3)]
        assert headers[0]["ORIENTAT"] == headers[1]["ORIENTAT"] == pytest.approx(pa % 360)
        # image +y of an unflipped detector points at ORIENTAT east of north
        w = WCS(headers[0])
        centre = SkyCoord(*w.wcs_pix2world([[2043.0, 2043.0]], 0)[0], unit="deg")
        up = SkyCoord(*w.wcs_pix2world([[2043.0, 3043.0]], 0)[0], unit="deg")
        assert centre.position_angle(up).to_value(u.deg) == pytest.approx(pa % 360, abs=0.01)
        assert np.linalg.det(wfi.cd_matrix(pa, 1)) > 0


def test_overlaps_disc_agrees_with_sampling_the_detectors():
    rng = np.random.default_rng(5)
    ra, dec, pa = rng.uniform(9, 10, 40), rng.uniform(-44.5, -43.5, 40), rng.uniform(0, 360, 40)
    centre, radius = SkyCoord(9.5 * u.deg, -44.0 * u.deg), 0.3
    mask = wfi.overlaps_disc(ra, dec, pa, (9.5, -44.0), radius)
    grid = np.linspace(-0.5, 4087.5, 61)
    samples = np.array([(x, y) for x in grid for y in grid])
    for i in range(40):
        for sca in wfi.DETECTORS:
            sky = WCS(wfi.fits_header(ra[i], dec[i], pa[i], sca)).wcs_pix2world(samples, 0)
            nearest = SkyCoord(sky[:, 0] * u.deg, sky[:, 1] * u.deg).separation(centre).deg.min()
            if nearest < radius - 0.005:
                assert mask[i, sca - 1]
            elif nearest > radius + 0.005:
                assert not mask[i, sca - 1]


# ---------------------------------------------------------------- determinism
def _digest(expression: str) -> str:
    code = (
        "import hashlib, numpy as np\n"
        "from roman_helpers.sandbox.sky.surveys import tds, was, ccs\n"
        f"t = {expression}\n"
        "h = hashlib.sha256()\n"
        "[h.update(np.ascontiguousarray(t[c]).tobytes()) for c in t.colnames]\n"
        "print(h.hexdigest())\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize(
    "expression", ['tds.images("full")', "was.observation_sequence()", 'ccs.manifest("r00342")']
)
def test_tables_are_identical_in_separate_processes(expression):
    assert _digest(expression) == _digest(expression)


def test_tables_are_cached_and_shared_read_only_views():
    assert tds.observation_sequence()["ra"] is not None
    first, second = tds.images("preview"), tds.images("preview")
    assert first is not second and np.shares_memory(np.asarray(first["ra"]), np.asarray(second["ra"]))


# ---------------------------------------------------------------- the OpenUniverse TDS
def test_tds_sequence_has_the_published_columns_filters_and_span():
    sequence = tds.observation_sequence()
    assert sequence.colnames == ["ra", "dec", "filter", "exptime", "date", "pa"]
    assert sorted(set(sequence["filter"].tolist())) == sorted(
        ["R062", "Z087", "Y106", "J129", "H158", "F184", "K213"]
    )
    days = sequence["date"].max() - sequence["date"].min()
    assert 700 < days < 760  # about two years
    assert np.all(np.diff(sequence["date"]) > 0)  # in time order, row = pointing


def test_tds_visits_are_five_days_apart_with_385_pointings_and_five_filters_a_place():
    table = tds.pointings()
    starts = np.array([table["date"][table["visit"] == v].min() for v in range(table["visit"].max() + 1)])
    assert np.allclose(np.diff(starts), 5.0, atol=1e-6)
    assert np.all(np.bincount(table["visit"]) == 385)
    # a place's five exposures are consecutive rows in five different filters
    for tile in (0, 40, 70):
        rows = table[(table["visit"] == 3) & (table["tile"] == tile)]
        assert len(rows) == 5 and len(set(rows["filter"].tolist())) == 5
        assert np.all(np.diff(rows["pointing"]) == 1)
    # the same place in the same filter recurs 385 rows later
    assert np.all(table["filter"][:-385] == table["filter"][385:])
    assert set(table["filter"][table["pointing"] % 5 == 2].tolist()) == {"R062", "F184"}


def test_tds_images_overlap_their_region_and_preview_is_part_of_full():
    full, preview = tds.images("full"), tds.images("preview")
    assert 50_000 < len(full) < 300_000 and 5_000 < len(preview) < len(full)
    keys = set(zip(full["pointing"].tolist(), full["sca"].tolist(), strict=True))
    assert all(key in keys for key in zip(preview["pointing"].tolist(), preview["sca"].tolist(), strict=True))
    sequence = tds.observation_sequence()
    disc = tds.region("full")
    centre = SkyCoord(disc.ra * u.deg, disc.dec * u.deg)
    for index in np.random.default_rng(3).choice(len(full), 30, replace=False):
        row = sequence[int(full["pointing"][index])]
        w = WCS(wfi.fits_header(row["ra"], row["dec"], row["pa"], int(full["sca"][index])))
        assert full["filter"][index] == row["filter"]
        corners = SkyCoord(*w.wcs_pix2world(CORNER_PIXELS, 0).T, unit="deg")
        # an overlapping detector comes within the radius plus its half-diagonal of the centre
        assert centre.separation(corners).deg.min() < disc.radius + 0.18


def test_the_tds_field_is_seen_in_every_filter_at_many_epochs():
    target = SkyCoord(9.45 * u.deg, -44.0 * u.deg)
    full = tds.images("full")
    sequence = tds.observation_sequence()
    seen = {}
    for row in full[np.hypot((full["ra"] - 9.45) * 0.72, full["dec"] + 44.0) < 0.2]:
        pointing = sequence[int(row["pointing"])]
        w = WCS(wfi.fits_header(pointing["ra"], pointing["dec"], pointing["pa"], int(row["sca"])))
        x, y = w.world_to_pixel(target)
        if -0.5 < x < 4087.5 and -0.5 < y < 4087.5:
            seen.setdefault(str(row["filter"]), []).append(float(row["date"]))
    assert sorted(seen) == sorted(tds.FILTERS)
    assert all(len(dates) > 30 for dates in seen.values())


# ---------------------------------------------------------------- the OpenUniverse WAS
def test_was_sequence_has_one_filter_a_pointing_and_the_images_hold_whole_pointings():
    sequence = was.observation_sequence()
    assert sorted(set(sequence["filter"].tolist())) == sorted(was.COADD_FILTERS)
    for release in was.RELEASES:
        table = was.images(release)
        counts = np.bincount(table["pointing"])
        assert set(counts[counts > 0].tolist()) == {18}
        assert np.all(table["filter"] == sequence["filter"][table["pointing"]])


def _grid_definition_wcs() -> WCS:
    """The coadd grid as its description defines it, written out independently of was.py."""
    scale = 1.25 / 32 / 3600
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---STG", "DEC--STG"]
    w.wcs.crval = [9.55, -44.1]
    w.wcs.crpix = [1.0, 1.0]  # 0-based pixel 0 at the tangent point
    w.wcs.cd = [[-scale, 0], [0, scale]]
    return w


@pytest.mark.parametrize(("row", "col"), [(0, 0), (12, 23), (17, 18), (35, 35), (20, 3)])
def test_block_centre_follows_the_grid_definition(row, col):
    w = _grid_definition_wcs()
    pitch = 100.0 / (1.25 / 32)  # output pixels between block centres
    # the listed centre: FITS pixel 1344 of the block, half a pixel short of its middle
    x, y = (col - 17.5) * pitch - 0.5, (row - 17.5) * pitch - 0.5
    expected = SkyCoord(*w.wcs_pix2world([[x, y]], 0)[0], unit="deg")
    got = SkyCoord(*(float(v) for v in was.block_centre(row, col)), unit="deg")
    assert got.separation(expected) < 1e-6 * u.arcsec
    assert [int(v) for v in was.block_of(got.ra.deg, got.dec.deg)] == [row, col]
    header = was.block_header(row, col)
    assert header["CTYPE1"] == "RA---STG"
    middle = SkyCoord(*WCS(header).wcs_pix2world([[1343.5, 1343.5]], 0)[0], unit="deg")
    truth = SkyCoord(*w.wcs_pix2world([[(col - 17.5) * pitch, (row - 17.5) * pitch]], 0)[0], unit="deg")
    assert middle.separation(truth) < 1e-6 * u.arcsec


def test_blocks_are_100_arcsec_apart_and_the_preview_is_the_central_twelve():
    ra, dec = was.block_centre(np.full(36, 17), np.arange(36))
    steps = SkyCoord(ra[1:] * u.deg, dec[1:] * u.deg).separation(SkyCoord(ra[:-1] * u.deg, dec[:-1] * u.deg))
    assert np.allclose(steps.arcsec, 100.0, atol=0.01)
    assert np.all(np.diff(ra) < 0)  # columns run west
    preview = was.coadd_blocks("preview")
    assert sorted(set(preview["row"].tolist())) == list(range(12, 24)) == sorted(set(preview["col"].tolist()))
    assert len(was.coadd_blocks("full")) == 36 * 36 * 5


def test_the_rubin_patch_covers_the_roman_coadd_centre_and_its_tract_is_in_a_120_ring_skymap():
    header = rubin.patch_header()
    assert (header["NAXIS1"], header["NAXIS2"]) == (4200, 4200)
    x, y = WCS(header).world_to_pixel(SkyCoord(9.55 * u.deg, -44.1 * u.deg))
    assert 0 < x < 4200 and 0 < y < 4200
    _ra, dec = rubin.tract_centre(rubin.TRACT)
    assert abs(dec - (-44.0)) < 180 / 121  # within a ring's width
    assert rubin.tract_centre(18937) == (0.0, 90.0)


# ---------------------------------------------------------------- the CCS simulations
def test_gbtds_counts_cadence_and_span_follow_the_published_design():
    table = ccs.exposures("r00340")
    assert len(table) == 4891 and len(ccs.manifest("r00340")) == 88_038
    start = Time(table["start_time"].tolist()).mjd
    assert 7.6 < start.max() - start.min() < 8.0
    f146 = table["optical_element"] == "F146"
    for field in range(1, 6):
        times = np.sort(start[f146 & (table["observation"] == field)])
        assert np.median(np.diff(times)) * 1440 == pytest.approx(12.1, abs=0.05)
    for element in ("F087", "F213"):
        times = np.sort(start[(table["optical_element"] == element) & (table["observation"] == 1)])
        assert np.median(np.diff(times)) * 24 == pytest.approx(12.0, abs=0.1)
    # six fields: five on a strip along the Galactic plane, one on the Galactic Centre
    fields = SkyCoord(table["wfi_ra"] * u.deg, table["wfi_dec"] * u.deg).galactic
    centre = SkyCoord(0 * u.deg, 0 * u.deg, frame="galactic")
    assert fields.separation(centre).deg.min() < 0.01
    assert np.all(np.abs(fields.b.deg) < 2.0)


def test_hlwas_counts_and_area():
    table = ccs.exposures("r00342")
    assert len(table) == 3780 and len(ccs.manifest("r00342")) == 68_040
    places = SkyCoord(table["wfi_ra"] * u.deg, table["wfi_dec"] * u.deg)
    assert places.separation(SkyCoord(9.0 * u.deg, -44.0 * u.deg)).deg.max() < 2.0


@pytest.mark.parametrize("program", ["r00340", "r00342"])
def test_manifest_columns_names_and_detector_centres(program):
    table = ccs.manifest(program)
    for column in ("wfi_ra", "wfi_dec", "wfi_pa", "detector_ra", "detector_dec", "start_time", "exptime",
                   "detector", "optical_element", "pass", "visit", "l1_s3_uri", "l2_s3_uri"):  # fmt: skip
        assert column in table.colnames
    pattern = rf"s3://stpubdata/roman/nexus/soc_simulations/{program}/l2/{program}01\d{{12}}_\d{{4}}_wfi\d\d_f\d{{3}}_cal\.asdf"
    assert all(np.char.find(table["l2_s3_uri"][:50].astype(str), "_cal.asdf") > 0)
    import re

    assert all(re.fullmatch(pattern, uri) for uri in table["l2_s3_uri"][::997].tolist())
    assert len(set(table["l2_s3_uri"].tolist())) == len(table)
    for index in (0, len(table) // 2, len(table) - 1):
        row = table[index]
        header = wfi.fits_header(
            row["wfi_ra"], row["wfi_dec"], row["wfi_pa"], int(row["detector"][3:]), "roman"
        )
        centre = WCS(header).wcs_pix2world([[2043.0, 2043.0]], 0)[0]
        assert np.allclose(centre, [row["detector_ra"], row["detector_dec"]], atol=1e-7)


@pytest.mark.parametrize("program", ["r00340", "r00342"])
def test_input_catalog_cells_hold_every_detector_centre_and_corner(program):
    import hpgeom

    cells = set(ccs.input_catalog_cells(program).tolist())
    table = ccs.exposures(program)[::50]
    ra, dec = wfi.corners(
        np.asarray(table["wfi_ra"]), np.asarray(table["wfi_dec"]), np.asarray(table["wfi_pa"])
    )
    points = SkyCoord(ra.ravel() * u.deg, dec.ravel() * u.deg).galactic
    needed = hpgeom.angle_to_pixel(512, points.l.deg, points.b.deg, nest=True, lonlat=True)
    assert set(needed.tolist()) <= cells


# ---------------------------------------------------------------- the project's datasets
def test_every_datasets_yaml_value_names_something_the_tables_hold():
    tutorial = roman.tutorial_exposures()
    names = set(tutorial["name"].tolist())
    data = datasets.get("roman-tutorial-2026")
    for params in data.all_params():
        assert data.key(**params).rsplit("/", 1)[1] in names

    dense = roman.dense_region()
    data = datasets.get("romanisim-dense-region")
    held = set(zip(dense["pointing"].tolist(), dense["name"].tolist(), strict=True))
    for params in data.all_params():
        pointing, name = data.key(**params).split("/")[-2:]
        assert (pointing, name) in held

    preview = was.images("preview")
    data = datasets.get("openuniverse-was-fits")
    for pointing in data.parameters["pointing"].values:
        held_bands = set(preview["filter"][preview["pointing"] == int(pointing)].tolist())
        assert held_bands & set(data.parameters["band"].values)
        assert set(preview["sca"][preview["pointing"] == int(pointing)].tolist()) == set(range(1, 19))

    full = tds.region("full")
    data = datasets.get("openuniverse-tds-fits")
    assert data.prefix == "openuniverse2024/roman/full/RomanTDS/"  # the release the IRSA notebooks read
    ra, dec = (float(v) for v in data.parameters["field"].default.split(","))
    assert full.contains(ra, dec)
    assert sorted(data.parameters["band"].values) == sorted(tds.FILTERS)


def test_the_tables_are_serialisable_as_the_archive_stores_them(tmp_path):
    sequence = tds.observation_sequence()
    path = tmp_path / tds.OBSEQ_NAME
    sequence.write(path)
    from astropy.io import fits

    with fits.open(path) as hdul:
        assert hdul[1].columns.names == ["ra", "dec", "filter", "exptime", "date", "pa"]
        assert float(hdul[1].data["date"][100]) == float(sequence["date"][100])
    table = ccs.manifest("r00340")[:100]
    table.write(tmp_path / "gbtds_manifest.ecsv")
    assert json.dumps(hashlib.sha256((tmp_path / "gbtds_manifest.ecsv").read_bytes()).hexdigest())
