"""An index made from a Core Community Survey manifest, against the sandbox's GBTDS files (r00340).

The manifest is the sandbox's table of the simulation's files, written to ECSV with astropy and
read back from that file as a user reads the published one. What ``find`` returns is checked
against the truth computed here from the sky model's own detector WCS (astropy's WCS of each
file's pointing and detector, never the kit's index), and what it reads is counted by the client.
Only the F087 exposures are used (1,728 rows): a search reads a few tens of headers.
"""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

from roman_helpers import footprints
from roman_helpers.cli import main
from roman_helpers.sandbox.sky import wfi
from roman_helpers.sandbox.sky.surveys import ccs
from roman_helpers.transfer import measure

BAND = "F087"
NOTEBOOK_RADIUS = 0.1 * u.deg  # the ccs_simulations notebook's cone on detector_ra/dec
SIDE = wfi.DETECTOR_SIDE


@pytest.fixture(scope="module")
def manifest_file(tmp_path_factory):
    """The F087 rows of the GBTDS manifest, as an ECSV file."""
    table = ccs.manifest("r00340")
    path = tmp_path_factory.mktemp("manifest") / "gbtds_manifest.ecsv"
    table[table["optical_element"] == BAND].write(path, format="ascii.ecsv")
    return path


@pytest.fixture(scope="module")
def manifest(manifest_file) -> Table:
    return Table.read(manifest_file, format="ascii.ecsv")


def _sca(row) -> int:
    return int(str(row["detector"])[3:])


def _pixel(row, target: SkyCoord) -> tuple[float, float]:
    """The target's 0-based pixel in the file of ``row``: astropy's WCS of the sky model's detector."""
    w = wfi.wcs(
        float(row["wfi_ra"]), float(row["wfi_dec"]), float(row["wfi_pa"]), _sca(row), convention="roman"
    )
    x, y = w.world_to_pixel(target)
    return float(x), float(y)


def truth(manifest: Table, target: SkyCoord) -> set[str]:
    """The files whose pixels hold ``target`` (every row whose detector lies within 0.3 degrees)."""
    centres = SkyCoord(manifest["detector_ra"], manifest["detector_dec"], unit="deg")
    near = np.flatnonzero(target.separation(centres) < 0.3 * u.deg)
    held = set()
    for i in near:
        x, y = _pixel(manifest[i], target)
        if -0.5 <= x < SIDE - 0.5 and -0.5 <= y < SIDE - 0.5:
            held.add(str(manifest["l2_s3_uri"][i]))
    return held


def cone(manifest: Table, target: SkyCoord, radius) -> set[str]:
    """The notebook's search: the files whose detector centre lies within ``radius``."""
    centres = SkyCoord(manifest["detector_ra"], manifest["detector_dec"], unit="deg")
    return {str(uri) for uri in manifest["l2_s3_uri"][target.separation(centres) <= radius]}


def at_pixel(row, x: float, y: float) -> SkyCoord:
    """The sky position of a pixel of one file, from the sky model's detector geometry."""
    ra, dec = wfi.pixel_to_sky(
        row["wfi_ra"], row["wfi_dec"], row["wfi_pa"], _sca(row), [x], [y], convention="roman"
    )
    return SkyCoord(float(ra[0]), float(dec[0]), unit="deg")


def test_the_reach_bound_holds_every_detector_pixel_of_both_surveys() -> None:
    """No pixel corner of any file of either manifest lies farther from its detector position."""
    farthest = 0.0
    for program in ccs.PROGRAMS:
        table = ccs.manifest(program)
        ra, dec = wfi.corners(table["wfi_ra"], table["wfi_dec"], table["wfi_pa"], _detectors(table), "roman")
        centres = SkyCoord(
            np.asarray(table["detector_ra"])[:, None], np.asarray(table["detector_dec"])[:, None], unit="deg"
        )
        farthest = max(farthest, float(np.max(centres.separation(SkyCoord(ra, dec, unit="deg")).deg)))
    assert farthest < footprints.DETECTOR_REACH_DEG < 1.2 * farthest  # safe, and not wasteful


def _detectors(table: Table) -> np.ndarray:
    return np.array([int(str(name)[3:]) for name in table["detector"]])


def test_an_index_from_a_manifest_equals_one_built_from_the_files_headers(
    manifest_file, manifest, sandbox_env
) -> None:
    later = 18 * 40  # two detectors of the first exposure and two of the 41st
    rows = Table(np.concatenate([manifest[:2].as_array(), manifest[later : later + 2].as_array()]))
    path = manifest_file.parent / "four.ecsv"
    rows.write(path, format="ascii.ecsv", overwrite=True)
    seeded = footprints.from_manifest(path)
    built = footprints.build_index(list(rows["l2_s3_uri"]), progress=False)
    assert list(seeded["uri"]) == list(built["uri"])
    for name in ("instrument", "band", "detector"):  # from the manifest alone, no file read
        assert list(seeded[name]) == list(built[name]), name
    for name in ("t_start", "t_end", "exptime"):
        np.testing.assert_allclose(seeded[name], built[name], rtol=0, atol=1e-8, err_msg=name)  # < 1 ms
    assert not np.any(seeded["naxis1"]) and set(seeded["wcs"]) == {""}  # no footprint yet
    with measure() as client:
        found = footprints.find_many(seeded, [at_pixel(row, 2043.5, 2043.5) for row in rows], progress=False)
    assert found.meta["footprints"]["read"] == 4 and client.requests > 0
    assert sorted(found["uri"]) == sorted(rows["l2_s3_uri"])
    for name in footprints.COLUMNS:  # every footprint learned: the same rows as the headers give
        left, right = np.asarray(seeded[name]), np.asarray(built[name])
        if left.dtype.kind == "f":
            np.testing.assert_allclose(left, right, rtol=0, atol=1e-9, err_msg=name)
        else:
            assert left.tolist() == right.tolist(), name
    assert {"wfi_ra", "wfi_pa", "pass", "visit", "l1_s3_uri"} <= set(seeded.colnames)  # kept beside


@pytest.fixture(scope="module")
def targets(manifest) -> list[SkyCoord]:
    """Two positions on files of the manifest: pixels drawn at random (seeded) of rows drawn at random."""
    rng = np.random.default_rng(20)
    rows = rng.choice(len(manifest), 2, replace=False)
    return [at_pixel(manifest[i], *rng.uniform(0, SIDE - 1, 2)) for i in rows]


def test_find_over_a_manifest_gives_exactly_the_files_whose_pixels_hold_the_target(
    manifest_file, manifest, targets, sandbox_env
) -> None:
    index = footprints.from_manifest(manifest_file)
    centres = SkyCoord(manifest["detector_ra"], manifest["detector_dec"], unit="deg")
    for target in targets:
        expected = truth(manifest, target)
        reach = int(np.sum(target.separation(centres).deg <= footprints.DETECTOR_REACH_DEG))
        before = int(np.sum(index["naxis1"] == 0))
        with measure() as client:
            found = footprints.find(index, target, band=BAND, progress=False)
        assert set(found["uri"]) == expected and len(expected) > 0
        for row in found:  # and the pixel there is the sky model's
            x, y = _pixel(manifest[list(manifest["l2_s3_uri"]).index(row["uri"])], target)
            assert abs(row["x"] - x) < 0.02 and abs(row["y"] - y) < 0.02
        # only the files within reach were read, and only those not read by an earlier search
        read = found.meta["footprints"]["read"]
        assert read == before - int(np.sum(index["naxis1"] == 0)) <= reach
        assert (client.requests > 0) == (read > 0)
        with measure() as again:
            second = footprints.find(index, target, band=BAND, progress=False)
        assert again.requests == 0 and second.meta["footprints"]["read"] == 0
        assert list(second["uri"]) == list(found["uri"])


def test_the_first_search_reads_exactly_the_files_within_reach(
    manifest_file, manifest, targets, sandbox_env
) -> None:
    index = footprints.from_manifest(manifest_file)
    target = targets[0]
    centres = SkyCoord(manifest["detector_ra"], manifest["detector_dec"], unit="deg")
    reach = set(manifest["l2_s3_uri"][target.separation(centres).deg <= footprints.DETECTOR_REACH_DEG])
    with measure() as client:
        found = footprints.find(index, target, band=BAND, progress=False)
    read = set(index["uri"][index["naxis1"] > 0])
    assert read == reach and found.meta["footprints"]["read"] == len(reach)
    assert client.requests >= 2 * len(reach)  # a HEAD and the tree of each, no more than headers:
    assert client.bytes <= 64 * 1024 * len(reach)


def test_the_manifests_centre_distance_misses_or_wrongly_includes_near_a_detector_corner(
    manifest_file, manifest, sandbox_env
) -> None:
    """Near a corner, a cone on detector centres small enough to include no wrong file misses this
    one, and the notebook's 0.1-degree cone includes files whose pixels do not hold it."""
    row = manifest[18 * 7 + 4]  # detector 5 of an exposure
    target = at_pixel(row, 3.0, SIDE - 4.0)
    expected = truth(manifest, target)
    assert str(row["l2_s3_uri"]) in expected
    half_side = (SIDE / 2 - 0.5) * wfi.PIXEL_SCALE * u.arcsec  # the largest cone that holds no wrong file
    missed = expected - cone(manifest, target, half_side)
    wrong = cone(manifest, target, NOTEBOOK_RADIUS) - expected
    assert str(row["l2_s3_uri"]) in missed and wrong
    index = footprints.from_manifest(manifest_file)
    found = footprints.find(index, target, band=BAND, progress=False)
    assert set(found["uri"]) == expected


@pytest.mark.parametrize("suffix", [".ecsv", ".parquet"])
def test_a_saved_index_keeps_its_rows_and_the_footprints_read(
    manifest_file, manifest, targets, tmp_path, suffix, sandbox_env
) -> None:
    path = tmp_path / f"index{suffix}"
    footprints.save_index(footprints.from_manifest(manifest_file), path)
    first = footprints.find(path, targets[1], band=BAND, progress=False)  # a path: saved back
    assert first.meta["footprints"]["read"] > 0
    loaded = footprints.load_index(path)
    assert len(loaded) == 1728 and int(np.sum(loaded["naxis1"] > 0)) == first.meta["footprints"]["read"]
    assert loaded.meta["manifest"]["uri_column"] == "l2_s3_uri" and "visit" in loaded.colnames
    with measure() as client:
        second = footprints.find(loaded, targets[1], band=BAND, progress=False)
    assert client.requests == 0 and list(second["uri"]) == list(first["uri"])
    if suffix == ".ecsv":  # read by astropy itself: its text columns are as wide as their longest value
        plain = Table.read(path, format="ascii.ecsv")
        found = footprints.find(plain, targets[0], band=BAND, progress=False)
        assert found.meta["footprints"]["read"] > 0 and set(found["uri"]) == truth(manifest, targets[0])
        for row in found:  # the whole WCS was kept: the pixel is the sky model's
            x, y = _pixel(manifest[list(manifest["l2_s3_uri"]).index(row["uri"])], targets[0])
            assert abs(row["x"] - x) < 0.02 and abs(row["y"] - y) < 0.02


def test_a_file_that_cannot_be_fetched_is_left_out_with_a_warning_and_tried_again(
    manifest, targets, sandbox_env
) -> None:
    """A manifest row whose file is not in the bucket stays unread: the next search tries it again."""
    target = targets[0]
    rows = manifest[manifest["l2_s3_uri"] == sorted(truth(manifest, target))[0]]
    gone = rows.copy()
    gone["l2_s3_uri"] = [str(rows["l2_s3_uri"][0]).replace("_cal.asdf", "_gone_cal.asdf")]
    index = footprints.from_manifest(Table(np.concatenate([rows.as_array(), gone.as_array()])))
    for candidates in (2, 1):
        said = f"1 of the {candidates} files that may hold the position could not be read"
        with pytest.warns(UserWarning, match=said):
            found = footprints.find(index, target, band=BAND, progress=False)
        assert list(found["uri"]) == list(rows["l2_s3_uri"])
        assert found.meta["footprints"]["not_read"] == 1
    assert found.meta["footprints"]["read"] == 1  # the second time, only the file not read before


def test_manifest_errors_say_what_to_do(manifest, tmp_path) -> None:
    from roman_helpers.errors import FileFormatError, InvalidParameterError, ObjectNotFoundError

    with pytest.raises(InvalidParameterError, match=r"l3_s3_uri.*l1_s3_uri"):
        footprints.from_manifest(manifest, uri_column="l3_s3_uri")
    with pytest.raises(FileFormatError, match="lacks the columns detector_ra"):
        footprints.from_manifest(manifest[["l2_s3_uri", "detector"]])
    with pytest.raises(ObjectNotFoundError, match="no manifest at"):
        footprints.from_manifest(tmp_path / "absent.ecsv")
    with pytest.raises(InvalidParameterError, match="ECSV"):
        footprints.from_manifest(tmp_path / "manifest.txt")


def test_a_position_off_the_manifest_reads_nothing_and_says_where_its_files_are(manifest) -> None:
    index = footprints.from_manifest(manifest)
    with measure() as client, pytest.warns(UserWarning, match="nearest detector of its manifest"):
        found = footprints.find(index, "10.0 20.0")
    assert len(found) == 0 and client.requests == 0 and found.meta["footprints"]["candidates"] == 0
    centre = SkyCoord(manifest["detector_ra"], manifest["detector_dec"], unit="deg").separation(
        SkyCoord(10.0, 20.0, unit="deg")
    )
    assert f"{centre.deg.min():.1f} degrees away" in found.meta["reason"]
    assert "the manifest's files lie within" in found.meta["suggestion"]


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def test_the_command_line_indexes_a_manifest_and_finds_on_it(
    manifest_file, manifest, targets, tmp_path, sandbox_env
) -> None:
    path = tmp_path / "gbtds.ecsv"
    status, out, _ = _cli("index", "--manifest", str(manifest_file), "-o", str(path))
    assert status == 0 and "1728 files" in out
    target = targets[0]
    where = f"{target.ra.deg:.7f} {target.dec.deg:.7f}"
    status, out, err = _cli("find", str(path), "--target", where, "--band", BAND, "--uris")
    assert status == 0 and set(out.split()) == truth(manifest, target)
    assert "read the footprints of" in err
    status, again, err = _cli("find", str(path), "--target", where, "--band", BAND, "--uris")
    assert again == out and "read the footprints" not in err  # kept in the file
    status, _, err = _cli("index", "SOURCE", "--manifest", str(manifest_file), "-o", str(tmp_path / "x.ecsv"))
    assert status == 2 and "either SOURCE or --manifest" in err


def test_l3_skycells_are_indexed_from_their_headers_and_found_by_position(sandbox_env) -> None:
    """A skycell mosaic is found like an image: its own centre finds it, a far skycell's does not.

    The truth is the coadd manifest's geometry alone: a skycell is 5,000 pixels of 0.055 arcsec
    (0.076 degrees) a side, so its centre lies in it and a point 0.2 degrees from it does not.
    """
    table = ccs.coadd_manifest()
    centres = SkyCoord(table["skycell_ra"], table["skycell_dec"], unit="deg")
    first = 0
    far = int(np.flatnonzero(centres.separation(centres[first]) > 0.2 * u.deg)[0])
    rows = table[[first, far]]
    index = footprints.build_index(list(rows["l3_s3_uri"]), progress=False)
    assert list(index["error"]) == ["", ""] and list(index["band"]) == list(rows["optical_element"])
    for row in rows:
        found = footprints.find(index, SkyCoord(row["skycell_ra"], row["skycell_dec"], unit="deg"))
        assert list(found["uri"]) == [row["l3_s3_uri"]]
        x, y = float(found["x"][0]), float(found["y"][0])
        assert abs(x - 2499.5) < 1 and abs(y - 2499.5) < 1  # the skycell's centre pixel


# --------------------------------------------------------------------------- the coadd manifest (L3)


def _skycell_wcs(name: str):
    """Astropy's WCS of a skycell, from the sky map's definition (the sandbox's skycell frame)."""
    from astropy.wcs import WCS

    match = re.fullmatch(r"(\d{3})([mp])(\d{2})x(\d{2})y(\d{2})", name)
    assert match, name
    ra0, dec0 = float(match[1]), float(match[3]) * (-1 if match[2] == "m" else 1)
    ring, index = (int(v) for v in ccs.projection_region(ra0, dec0))  # the region of its tangent point
    frame = ccs.skycell_frame(ring, index, int(match[4]) - 50, int(match[5]) - 50)
    assert frame["name"] == name
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [frame["ra_ref"], frame["dec_ref"]]
    w.wcs.crpix = [frame["x_ref"] + 1, frame["y_ref"] + 1]
    scale = frame["pixel_scale"] / 3600
    w.wcs.cd = [[-scale, 0], [0, scale]]
    return w, frame["shape"]


def _skycells_holding(coadds: Table, target: SkyCoord) -> set[str]:
    """The mosaics of ``coadds`` whose pixels hold ``target`` (every row within 0.3 degrees)."""
    centres = SkyCoord(coadds["skycell_ra"], coadds["skycell_dec"], unit="deg")
    held = set()
    for row in coadds[target.separation(centres) < 0.3 * u.deg]:
        w, (ny, nx) = _skycell_wcs(str(row["skycell_name"]))
        x, y = (float(v) for v in w.world_to_pixel(target))
        if -0.5 <= x < nx - 0.5 and -0.5 <= y < ny - 0.5:
            held.add(str(row["l3_s3_uri"]))
    return held


def test_the_coadd_manifest_gives_exactly_the_skycells_whose_pixels_hold_the_target(sandbox_env, tmp_path):
    """A place in the 100 pixels two neighbouring skycells share: the coadd manifest's index finds
    the mosaics of both and no other, reading only those within a skycell's reach, the same as an
    index built from all their headers; a second search reads nothing, and a time window the
    mosaics' exposures miss finds none of them once their times are read."""
    coadds = ccs.coadd_manifest()
    coadds = coadds[coadds["optical_element"] == "F158"]
    first = coadds[0]
    w, _ = _skycell_wcs(str(first["skycell_name"]))
    target = w.pixel_to_world(4959.0, 2499.5)  # 40 pixels in from its west edge, in the shared strip
    truth = _skycells_holding(coadds, target)
    names = {uri.rsplit("_", 3)[1] for uri in truth}
    assert len(names) == 2 and str(first["l3_s3_uri"]) in truth  # the strip two skycells share

    path = tmp_path / "hlwas_coadd_manifest.ecsv"
    coadds.write(path, format="ascii.ecsv")
    status, out, _ = _cli("index", "--manifest", str(path), "-o", str(tmp_path / "coadds.ecsv"))
    assert status == 0 and "(l3_s3_uri)" in out
    index = footprints.load_index(tmp_path / "coadds.ecsv")
    centres = SkyCoord(coadds["skycell_ra"], coadds["skycell_dec"], unit="deg")
    within = coadds["l3_s3_uri"][target.separation(centres).deg <= footprints.SKYCELL_REACH_DEG]
    with measure() as client:
        found = footprints.find(index, target, band="F158", progress=False)
    assert set(found["uri"]) == truth
    assert found.meta["footprints"]["read"] == len(within) < 2 * len(truth)
    assert client.requests > 0
    by_headers = footprints.build_index(list(within), progress=False)
    assert set(footprints.find(by_headers, target, band="F158")["uri"]) == truth
    with measure() as client:
        again = footprints.find(index, target, band="F158", progress=False)
    assert set(again["uri"]) == truth and client.requests == 0
    start = float(np.min(found["t_start"]))
    with pytest.warns(UserWarning, match="no file in the index holds"):
        before = footprints.find(index, target, time=(start - 30, start - 1), progress=False)
    assert len(before) == 0
    assert set(footprints.find(index, target, time=(start - 1, start + 400))["uri"]) == truth


def test_a_mosaic_not_read_yet_is_read_for_a_time_window(sandbox_env) -> None:
    """The coadd manifest has no times: a search over a time window reads its mosaics' times first."""
    coadds = ccs.coadd_manifest()
    row = coadds[0]
    index = footprints.from_manifest(coadds[:1])
    assert np.isnan(index["t_start"][0]) and index["detector"][0] == ""
    place = SkyCoord(row["skycell_ra"], row["skycell_dec"], unit="deg")
    found = footprints.find(index, place, time=("2020-01-01", "2040-01-01"), progress=False)
    assert list(found["uri"]) == [row["l3_s3_uri"]] and found.meta["footprints"]["read"] == 1
    assert 60000 < float(found["t_start"][0]) <= float(found["t_end"][0])


def test_a_place_beyond_every_skycell_of_the_coadd_manifest_says_so_and_reads_nothing() -> None:
    coadds = ccs.coadd_manifest()
    index = footprints.from_manifest(coadds[:50])
    centre = SkyCoord(coadds["skycell_ra"][:50], coadds["skycell_dec"][:50], unit="deg")
    place = centre[0].directional_offset_by(0 * u.deg, 1.5 * u.deg)
    nearest = place.separation(centre).min()
    assert nearest.deg > footprints.SKYCELL_REACH_DEG
    with measure() as client, pytest.warns(UserWarning, match="nearest skycell of its manifest"):
        found = footprints.find(index, place)
    assert len(found) == 0 and client.requests == 0
    assert "skycell mosaic's pixels lie" in found.meta["reason"]
    assert nearest.deg < 1 and f"{nearest.to(u.arcmin).value:.1f} arcmin away" in found.meta["reason"]
