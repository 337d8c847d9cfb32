"""roman_helpers.footprints against a local S3 server (moto on 127.0.0.1).

The files are written here with the benchmark's writers (bench/files.py): OpenUniverse-TDS-like
FITS and .fits.gz (WCS and MJD-OBS in HDU 1), an HST drizzled file, a Roman level-2 ASDF, the same
with a distorted gwcs, a converted OpenUniverse ASDF, and footprints across RA 0/360 and over the
north pole. What find() returns is checked against the truth computed here from each whole local file
(astropy's WCS for FITS, the gwcs for ASDF), never against the index itself.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import warnings
from pathlib import Path

import asdf
import astropy.units as u
import files  # bench/files.py (on the path through _stream_support)
import numpy as np
import pytest
import roman_datamodels as rdm
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.modeling import models
from astropy.table import Table
from astropy.time import Time
from astropy.wcs import WCS
from gwcs import wcs as gwcs_module

from roman_helpers import footprints
from roman_helpers.errors import (
    FileFormatError,
    InvalidParameterError,
    NotInCloudWarning,
    ObjectNotFoundError,
)
from roman_helpers.transfer import measure
from tests.conftest import put_object

BUCKET = "stpubdata"
PREFIX = f"s3://{BUCKET}/survey/"
SHAPE = (48, 64)  # (ny, nx): not square, so swapped axes show
BIG = (400, 420)
KIB = 1024
DISTORTED_AT = (150.003, 1.999)
DISTORTED = (
    "roman/r0003201001001001004_0001_wfi08_f158_cal.asdf",
    "ou/roman_was_F184_15297_wfi09_simple.asdf",
)


def _tds_like(
    path: Path,
    ra: float,
    dec: float,
    *,
    mjd: float,
    band: str,
    sca: int,
    rotation: float = 0.0,
    east_right: bool = False,
) -> Path:
    """OpenUniverse TDS layout: empty primary; SCI with the WCS, MJD-OBS, FILTER, SCA_NUM; ERR."""
    header = files.tan_header(SHAPE, ra, dec, 1 / 3600)
    c, s = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
    scale = np.diag([1 / 3600 if east_right else -1 / 3600, 1 / 3600])
    cd = np.array([[c, -s], [s, c]]) @ scale
    header.update(CD1_1=cd[0, 0], CD1_2=cd[0, 1], CD2_1=cd[1, 0], CD2_2=cd[1, 1])
    header.update({"MJD-OBS": mjd, "FILTER": band, "SCA_NUM": sca, "EXPTIME": 100.0, "ZPTMAG": 26.0})
    primary = fits.PrimaryHDU()
    primary.header["TELESCOP"] = "ROMAN"
    hdus = fits.HDUList(
        [
            primary,
            fits.ImageHDU(np.zeros(SHAPE, np.float32), header=header, name="SCI"),
            fits.ImageHDU(np.ones(SHAPE, np.float32), header=header, name="ERR"),
        ]
    )
    if path.name.endswith(".gz"):
        return files.write_gzip_fits(hdus, path)
    hdus.writeto(path)
    return path


def _distortion(nx: int, ny: int):
    """A few pixels of polynomial and (for SIP, inexact) sinusoidal distortion about the centre."""
    cx, cy = (nx - 1) / 2, (ny - 1) / 2
    k = 31.5 / cx  # the same pixel amplitudes at the edges whatever the image size
    wave = models.Mapping((0,), n_inputs=2) | models.Sine1D(amplitude=0.4, frequency=k / 70)
    dx = (
        models.Polynomial2D(3, c1_0=1.0, c2_0=1.5e-3 * k, c1_1=1e-3 * k, c3_0=2e-5 * k**2, c0_2=-5e-4 * k)
        + wave
    )
    dy = models.Polynomial2D(3, c0_1=1.0, c0_2=1.5e-3 * k, c1_1=-1e-3 * k, c0_3=2e-5 * k**2, c2_0=7e-4 * k)
    return (
        (models.Shift(-cx) & models.Shift(-cy))
        | models.Mapping((0, 1, 0, 1))
        | (dx & dy)
        | (models.Shift(cx) & models.Shift(cy))
    )


def _distorted_gwcs(shape: tuple[int, int] = SHAPE):
    ny, nx = shape
    tan = files.tan_gwcs(shape, *DISTORTED_AT, files.ROMAN_PIXEL_DEG)
    result = gwcs_module.WCS(
        [(tan.input_frame, _distortion(nx, ny) | tan.forward_transform), (tan.output_frame, None)]
    )
    result.bounding_box = tan.bounding_box
    return result


@pytest.fixture(scope="module")
def local_files(tmp_path_factory) -> dict[str, Path]:
    """Key under the survey prefix -> local file."""
    folder = tmp_path_factory.mktemp("footprint-files")
    written = {
        "field/tds_F158_1_3.fits": _tds_like(folder / "a.fits", 150.0, 2.0, mjd=61000.0, band="F158", sca=3),
        "field/tds_F158_2_3.fits.gz": _tds_like(
            folder / "b.fits.gz", 150.004, 2.002, mjd=61010.0, band="F158", sca=3, rotation=30.0
        ),
        "field/tds_F184_3_5.fits": _tds_like(
            folder / "c.fits",
            149.995,
            1.998,
            mjd=61005.0,
            band="F184",
            sca=5,
            rotation=-20.0,
            east_right=True,
        ),
        "hst/ib6w01abq_drz.fits": files.write_hst_drz(
            folder / "ib6w01abq_drz.fits", *SHAPE, seed=1, ra=150.002, dec=2.0, band="F160W", exptime=500.0
        ),
        "wrap/tds_F158_ra0.fits": _tds_like(
            folder / "w.fits", 359.996, 10.0, mjd=61020.0, band="F158", sca=1
        ),
        "pole/tds_F158_north.fits.gz": _tds_like(
            folder / "p.fits.gz", 45.0, 89.996, mjd=61030.0, band="F158", sca=2, rotation=15.0
        ),
        "roman/r0003201001001001004_0001_wfi07_f158_cal.asdf": files.write_roman_cal(
            folder / "cal.asdf", *SHAPE, seed=3, at=(150.001, 2.001), detector=7, optical_element="F158"
        ),
        "ou/roman_was_F184_15297_wfi03_simple.asdf": files.write_openuniverse_asdf(
            folder / "ou.asdf", *SHAPE, seed=5, at=(150.0, 2.002), band="F184", hpix="15297", sensor=3
        ),
    }
    # a distorted Roman file, saved by roman_datamodels (small arrays inline in the tree, as the pipeline's)
    with rdm.open(written["roman/r0003201001001001004_0001_wfi07_f158_cal.asdf"]) as model:
        model.meta.wcs = _distorted_gwcs()
        model.meta.instrument.detector = "WFI08"
        model.save(folder / "distorted.asdf")
    written[DISTORTED[0]] = folder / "distorted.asdf"
    # a bigger converted OpenUniverse file with such a gwcs, written by plain asdf: the gwcs's arrays go
    # to binary blocks (after the image blocks), not into the tree
    written[DISTORTED[1]] = files.write_openuniverse_asdf(
        folder / "ou_distorted.asdf",
        *BIG,
        seed=9,
        at=DISTORTED_AT,
        band="F184",
        hpix="15297",
        sensor=9,
        wcs=_distorted_gwcs(BIG),
    )
    (folder / "broken.fits").write_bytes(b"SIMPLE  = not really" + b" " * 3000)
    written["bad/broken.fits"] = folder / "broken.fits"
    (folder / "notes.txt").write_text("not an image\n")
    written["bad/notes.txt"] = folder / "notes.txt"
    return written


@pytest.fixture
def uploaded(buckets, s3_client, local_files) -> dict[str, str]:
    """Put every file in the public bucket; return key -> URI."""
    for key, path in local_files.items():
        put_object(s3_client, BUCKET, f"survey/{key}", path.read_bytes())
    return {key: f"{PREFIX}{key}" for key in local_files}


def _images(uploaded: dict[str, str]) -> dict[str, str]:
    return {key: uri for key, uri in uploaded.items() if not key.endswith(".txt")}


def _good(uploaded: dict[str, str]) -> dict[str, str]:
    return {key: uri for key, uri in _images(uploaded).items() if not key.startswith("bad/")}


# --------------------------------------------------------------------------- independent truth


def _truth_pixels(
    path: Path, key: str, ra: np.ndarray, dec: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The 0-based pixel of each (ra, dec) in the whole local file, and the image size."""
    if key.endswith(".asdf"):
        with asdf.open(path) as af:
            roman = af.tree["roman"]
            ny, nx = roman["data"].shape
            if (
                key in DISTORTED
            ):  # no analytic inverse: undo the TAN exactly, then the distortion by iteration
                tan = files.tan_gwcs((ny, nx), *DISTORTED_AT, files.ROMAN_PIXEL_DEG)
                u_, v_ = tan.invert(ra, dec, with_bounding_box=False)
                x, y = u_.copy(), v_.copy()
                with np.errstate(all="ignore"):  # far from the image the iteration diverges: NaN, not inside
                    for _ in range(100):
                        dx, dy = _distortion(nx, ny)(x, y)
                        x, y = x - (dx - u_), y - (dy - v_)
                return x, y, nx, ny
            gw = roman["meta"]["wcs"] if "wcs" in roman["meta"] else roman["wcs"]
            x, y = gw.invert(ra, dec, with_bounding_box=False)
            return np.asarray(x), np.asarray(y), nx, ny
    with fits.open(path) as hdul:
        header = next(h.header for h in hdul if h.header.get("NAXIS") == 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x, y = WCS(header).world_to_pixel_values(ra, dec)
        return np.asarray(x), np.asarray(y), int(header["NAXIS1"]), int(header["NAXIS2"])


def _file_wcs(path: Path, hdu: int = 1) -> WCS:
    with fits.open(path) as hdul, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DATE-OBS set from MJD-OBS
        return WCS(hdul[hdu].header)


def _inside(x, y, nx, ny):
    return (x >= -0.5) & (x < nx - 0.5) & (y >= -0.5) & (y < ny - 0.5)


def _targets(local_files: dict[str, Path]) -> tuple[np.ndarray, np.ndarray]:
    """Each good file's centre and points 0.3 pixel inside and outside each corner, plus scattered points."""
    ra, dec = [], []
    for key, path in local_files.items():
        if key.startswith("bad/"):
            continue
        if key.endswith(".asdf"):
            with asdf.open(path) as af:
                roman = af.tree["roman"]
                gw = roman["meta"]["wcs"] if "wcs" in roman["meta"] else roman["wcs"]
                ny, nx = roman["data"].shape

                def to_sky(x, y, gw=gw):
                    return gw(x, y, with_bounding_box=False)
        else:
            with fits.open(path) as hdul:
                header = next(h.header for h in hdul if h.header.get("NAXIS") == 2)
            ny, nx = header["NAXIS2"], header["NAXIS1"]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # DATE-OBS set from MJD-OBS
                wcs = WCS(header)

            def to_sky(x, y, wcs=wcs):
                return wcs.pixel_to_world_values(x, y)

        xs = [(nx - 1) / 2]
        ys = [(ny - 1) / 2]
        for cx, cy, sx, sy in (
            (-0.5, -0.5, 1, 1),
            (nx - 0.5, -0.5, -1, 1),
            (nx - 0.5, ny - 0.5, -1, -1),
            (-0.5, ny - 0.5, 1, -1),
        ):
            for step in (0.3, -0.3):
                xs.append(cx + sx * step)
                ys.append(cy + sy * step)
        r, d = to_sky(np.array(xs), np.array(ys))
        ra.extend(np.atleast_1d(r))
        dec.extend(np.atleast_1d(d))
    rng = np.random.default_rng(7)
    ra.extend(rng.uniform(149.988, 150.016, 60))
    dec.extend(rng.uniform(1.988, 2.012, 60))
    ra.extend([0.001, 359.999, 0.0, 359.99, 0.0, 200.0, 123.0, 45.0])
    dec.extend([10.0, 10.0, 10.005, 9.995, 90.0, 89.999, 89.995, 89.99])
    return np.mod(np.array(ra), 360), np.array(dec)


# --------------------------------------------------------------------------- tests


def test_index_of_a_prefix_has_one_row_per_image_and_records_failures(uploaded, local_files) -> None:
    with pytest.warns(UserWarning, match="1 of 11 files could not be indexed"):
        index = footprints.build_index(PREFIX)
    assert list(index["uri"]) == sorted(_images(uploaded).values()) and len(index) == 11
    assert index.meta["build"] == {
        "files": 11,
        "read": 11,
        "reused": 0,
        "failed": 1,
        "skipped_none": 0,
        "skipped_not_image": 1,
    }
    rows = {key: index[list(index["uri"]).index(uri)] for key, uri in _images(uploaded).items()}
    assert rows["bad/broken.fits"]["error"].startswith("bad file: ")
    assert all(rows[key]["error"] == "" for key in _good(uploaded))

    tds = rows["field/tds_F158_1_3.fits"]
    assert (tds["band"], tds["detector"], tds["instrument"], tds["naxis1"], tds["naxis2"]) == (
        "F158",
        "WFI03",
        "ROMAN",
        64,
        48,
    )
    assert (tds["t_start"], tds["exptime"]) == (61000.0, 100.0)
    assert tds["t_end"] == pytest.approx(61000.0 + 100.0 / 86400, abs=1e-9)
    drz = rows["hst/ib6w01abq_drz.fits"]
    assert (drz["instrument"], drz["band"], drz["detector"], drz["exptime"]) == ("WFC3", "F160W", "IR", 500.0)
    assert math.isnan(drz["t_start"])  # the file has no time: blank, not invented

    cal_path = local_files["roman/r0003201001001001004_0001_wfi07_f158_cal.asdf"]
    with asdf.open(cal_path) as af:
        meta = af.tree["roman"]["meta"]
        expected = (
            meta["instrument"]["name"],
            meta["instrument"]["optical_element"],
            meta["instrument"]["detector"],
            meta["exposure"]["start_time"].mjd,
            meta["exposure"]["end_time"].mjd,
            meta["exposure"]["exposure_time"],
        )
    cal = rows["roman/r0003201001001001004_0001_wfi07_f158_cal.asdf"]
    assert (
        cal["instrument"],
        cal["band"],
        cal["detector"],
        cal["t_start"],
        cal["t_end"],
        cal["exptime"],
    ) == expected
    ou = rows["ou/roman_was_F184_15297_wfi03_simple.asdf"]
    assert (ou["band"], ou["detector"], ou["exptime"], ou["naxis1"], ou["naxis2"]) == (
        "F184",
        "WFI03",
        139.8,
        64,
        48,
    )

    # the corners are the outer pixel edges, as the file's own WCS puts them
    wcs = _file_wcs(local_files["wrap/tds_F158_ra0.fits"])
    ra, dec = wcs.pixel_to_world_values([-0.5, 63.5, 63.5, -0.5], [-0.5, -0.5, 47.5, 47.5])
    wrap = rows["wrap/tds_F158_ra0.fits"]
    np.testing.assert_allclose(np.mod(wrap["ra_corners"] - ra + 180, 360) - 180, 0, atol=1e-9)
    np.testing.assert_allclose(wrap["dec_corners"], dec, atol=1e-9)
    assert min(wrap["ra_corners"]) < 1 and max(wrap["ra_corners"]) > 359  # it does straddle RA 0


def test_find_returns_exactly_the_files_that_hold_the_target(uploaded, local_files) -> None:
    with pytest.warns(UserWarning, match="could not be indexed"):
        index = footprints.build_index(PREFIX)
    ra, dec = _targets(local_files)
    truth = {key: _truth_pixels(local_files[key], key, ra, dec) for key in _good(uploaded)}
    matched = empty = 0
    for i, (r, d) in enumerate(zip(ra, dec, strict=True)):
        expected = {uploaded[key] for key, (x, y, nx, ny) in truth.items() if _inside(x[i], y[i], nx, ny)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the empty answers warn
            found = footprints.find(index, SkyCoord(r * u.deg, d * u.deg))
        assert set(found["uri"]) == expected, (r, d)
        assert list(found["t_start"]) == sorted(found["t_start"]) or np.isnan(found["t_start"]).any()
        for row in found:
            key = row["uri"].removeprefix(PREFIX)
            x, y, _, _ = truth[key]
            tolerance = 0.05 if key.endswith(".asdf") else 1e-6
            assert abs(row["x"] - x[i]) < tolerance and abs(row["y"] - y[i]) < tolerance
        matched += len(expected)
        empty += not expected
    # the targets exercise every answer: in no file (outside corners), in one, in several
    assert empty >= 10 and matched > len(ra) // 2


def test_pole_and_ra_wrap_targets(uploaded, local_files) -> None:
    with pytest.warns(UserWarning, match="could not be indexed"):
        index = footprints.build_index(PREFIX)
    pole = footprints.find(index, "0 90")
    assert list(pole["uri"]) == [uploaded["pole/tds_F158_north.fits.gz"]]
    x, y, _, _ = _truth_pixels(
        local_files["pole/tds_F158_north.fits.gz"], "pole", np.array([0.0]), np.array([90.0])
    )
    assert (pole["x"][0], pole["y"][0]) == pytest.approx((x[0], y[0]), abs=1e-6)
    east, west = footprints.find(index, "0.001 10"), footprints.find(index, "359.999 10")
    assert list(east["uri"]) == list(west["uri"]) == [uploaded["wrap/tds_F158_ra0.fits"]]
    assert east["x"][0] < west["x"][0]  # east is left on a north-up image


@pytest.mark.parametrize(("key", "shape"), [(DISTORTED[0], SHAPE), (DISTORTED[1], BIG)])
def test_asdf_gwcs_is_stored_as_sip_within_a_twentieth_of_a_pixel(uploaded, key, shape) -> None:
    index = footprints.build_index([uploaded[key]])
    row = index[0]
    assert row["error"] == "" and (row["naxis2"], row["naxis1"]) == shape
    stored = footprints.row_wcs(row)
    assert stored.sip is not None and fits.Header.fromstring(row["wcs"], sep="\n")["CTYPE1"] == "RA---TAN-SIP"
    gw = _distorted_gwcs(shape)
    ny, nx = shape
    x, y = np.meshgrid(np.linspace(-0.5, nx - 0.5, 201), np.linspace(-0.5, ny - 0.5, 151))
    ra, dec = gw(x, y, with_bounding_box=False)
    sip_x, sip_y = stored.world_to_pixel_values(ra, dec)
    error = np.max(np.hypot(sip_x - x, sip_y - y))
    assert error < 0.05
    assert row["wcs_error"] <= footprints.SIP_LIMIT and error < 2 * row["wcs_error"] + 1e-3  # stated honestly
    # and the distortion is real: the plain TAN of the same pointing is pixels off
    tan = files.tan_gwcs(shape, *DISTORTED_AT, files.ROMAN_PIXEL_DEG)
    tan_x, tan_y = tan.invert(ra, dec, with_bounding_box=False)
    assert np.max(np.hypot(tan_x - x, tan_y - y)) > 1.0


def test_row_wcs_is_astropys_reading_of_the_stored_text(uploaded) -> None:
    with pytest.warns(UserWarning, match="could not be indexed"):
        index = footprints.build_index(PREFIX)
    sip_rows = 0
    for row in index[index["error"] == ""]:
        ours = footprints.row_wcs(row)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            astropys = WCS(fits.Header.fromstring(row["wcs"], sep="\n"))
        sip_rows += astropys.sip is not None
        x, y = np.meshgrid(
            np.linspace(-0.5, row["naxis1"] - 0.5, 7), np.linspace(-0.5, row["naxis2"] - 0.5, 5)
        )
        np.testing.assert_allclose(
            ours.all_pix2world(x, y, 0), astropys.all_pix2world(x, y, 0), rtol=0, atol=1e-10
        )
        ra, dec = astropys.all_pix2world(x, y, 0)
        np.testing.assert_allclose(
            ours.all_world2pix(ra, dec, 0), astropys.all_world2pix(ra, dec, 0), atol=1e-8
        )
        assert ours.wcs.radesys == astropys.wcs.radesys and list(ours.wcs.ctype) == list(astropys.wcs.ctype)
    # the two distorted ASDF files (the message names any file that could not be read, and why)
    assert sip_rows == 2, [(row["uri"], row["error"], row["wcs_error"]) for row in index]


def test_each_file_costs_its_headers_or_its_tree_only(uploaded, local_files) -> None:
    for key, uri in _images(uploaded).items():
        with measure() as cost, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            index = footprints.build_index([uri])
        operations = cost.by_operation()
        got = sum(r.bytes for r in cost.records if r.operation == "GetObject")
        assert operations.get("HeadObject") == 1 and operations.get("GetObject", 0) >= 1, key
        if key.endswith(".asdf"):
            raw = local_files[key].read_bytes()
            tree = raw.find(b"\n...\n") + 5
            if key == DISTORTED[1]:  # the tree, then the block index and the gwcs's blocks in small reads
                assert got <= 1.2 * tree + 64 * KIB and got < len(raw) / 10, (key, got, tree)
            else:
                assert got <= 1.2 * tree, (key, got, tree)
        else:
            assert got <= 64 * KIB, (key, got)
        assert len(index) == 1


def test_incremental_rebuild_of_an_unchanged_prefix_sends_no_get(
    uploaded, s3_client, local_files, tmp_path
) -> None:
    with pytest.warns(UserWarning, match="could not be indexed"):
        first = footprints.build_index(PREFIX)
    with measure() as cost, pytest.warns(UserWarning, match="1 of 11"):
        again = footprints.build_index(PREFIX, previous=first)  # the bad file is unchanged: not read again
    assert set(cost.by_operation()) == {"ListObjectsV2"}
    assert again.meta["build"]["reused"] == 11 and again.meta["build"]["read"] == 0
    for name in footprints.COLUMNS:
        assert _same(first[name], again[name]), name

    # one file changes: only it is read again, and its row shows the change
    path = local_files["field/tds_F158_1_3.fits"]
    with fits.open(path) as hdul:
        hdul[1].header["FILTER"] = "F129"
        changed = tmp_path / "changed.fits"
        hdul.writeto(changed)
    put_object(s3_client, BUCKET, "survey/field/tds_F158_1_3.fits", changed.read_bytes())
    saved = footprints.save_index(again, tmp_path / "index.ecsv")
    with measure() as cost, pytest.warns(UserWarning, match="1 of 11"):
        third = footprints.build_index(PREFIX, previous=saved)
    assert third.meta["build"]["read"] == 1 and third.meta["build"]["reused"] == 10
    assert cost.by_operation().get("GetObject", 0) >= 1
    assert list(third["uri"]) == list(first["uri"])  # listing order, reused and new rows interleaved
    changed_at = list(third["uri"]).index(uploaded["field/tds_F158_1_3.fits"])
    others = [i for i in range(len(third)) if i != changed_at]
    for name in footprints.COLUMNS:
        assert _same(third[name][others], first[name][others]), name
    row = third[changed_at]
    assert row["band"] == "F129" and row["etag"] != first[list(first["uri"]).index(row["uri"])]["etag"]


def test_incremental_rebuild_of_a_uri_list_sends_heads_only(uploaded) -> None:
    uris = list(_good(uploaded).values())
    first = footprints.build_index(uris)
    with measure() as cost:
        again = footprints.build_index(uris, previous=first)
    assert cost.by_operation() == {"HeadObject": len(uris)}
    assert again.meta["build"]["reused"] == len(uris)


def test_a_file_not_read_is_retried_by_the_next_build(uploaded, s3_client, local_files) -> None:
    missing = f"{PREFIX}later/tds_F158_9_1.fits"
    with pytest.warns(UserWarning, match="1 of 1 files could not be indexed"):
        first = footprints.build_index([missing])
    assert first["error"][0].startswith(f"not read: no object at {missing}")
    put_object(
        s3_client,
        BUCKET,
        "survey/later/tds_F158_9_1.fits",
        local_files["field/tds_F158_1_3.fits"].read_bytes(),
    )
    with measure() as cost:
        again = footprints.build_index([missing], previous=first)
    assert again["error"][0] == "" and again["band"][0] == "F158" and again.meta["build"]["read"] == 1
    assert cost.by_operation().get("GetObject", 0) >= 1


def test_uri_lists_accept_cloud_access_json_and_skip_none(uploaded) -> None:
    keys = ["field/tds_F158_1_3.fits", "ou/roman_was_F184_15297_wfi03_simple.asdf"]
    entries = [
        json.dumps({"aws": {"bucket_name": BUCKET, "key": f"survey/{keys[0]}", "region": "us-east-1"}}),
        None,
        uploaded[keys[1]],
        uploaded[keys[1]],
        f"{PREFIX}bad/notes.txt",
    ]
    with pytest.warns(NotInCloudWarning, match="1 entries"):
        index = footprints.build_index(entries)
    assert list(index["uri"]) == [uploaded[k] for k in keys]
    assert (index.meta["build"]["skipped_none"], index.meta["build"]["skipped_not_image"]) == (1, 1)
    with pytest.raises(InvalidParameterError, match=r"source\[0\].*cloud_uris"):
        footprints.build_index(["mast:HST/product/ib6w01010_drz.fits"])


def test_a_prefix_without_images_is_an_error(uploaded) -> None:
    with pytest.raises(ObjectNotFoundError, match=r"no \.fits, \.fits\.gz or \.asdf files under"):
        footprints.build_index(f"{PREFIX}bad/notes")
    index = footprints.build_index(f"{PREFIX}field/tds_F158")  # a start of names, as S3 prefixes go
    assert sorted(index["uri"]) == [
        uploaded["field/tds_F158_1_3.fits"],
        uploaded["field/tds_F158_2_3.fits.gz"],
    ]


def test_band_time_and_radius_selection(uploaded, local_files) -> None:
    with pytest.warns(UserWarning, match="could not be indexed"):
        index = footprints.build_index(PREFIX)
    target = SkyCoord(150.0 * u.deg, 2.0 * u.deg)
    keys = list(_good(uploaded))
    ra, dec = np.array([150.0]), np.array([2.0])
    holding = {key for key in keys if _inside(*_truth_pixels(local_files[key], key, ra, dec))[0]}
    bands = {
        "field/tds_F158_1_3.fits": "F158",
        "field/tds_F158_2_3.fits.gz": "F158",
        "field/tds_F184_3_5.fits": "F184",
        "hst/ib6w01abq_drz.fits": "F160W",
        "roman/r0003201001001001004_0001_wfi07_f158_cal.asdf": "F158",
        "roman/r0003201001001001004_0001_wfi08_f158_cal.asdf": "F158",
        "ou/roman_was_F184_15297_wfi03_simple.asdf": "F184",
        DISTORTED[1]: "F184",
    }
    assert len(holding) >= 3
    for wanted in ("F158", ["f184"], ["F158", "F184"]):
        names = {wanted.upper()} if isinstance(wanted, str) else {w.upper() for w in wanted}
        found = footprints.find(index, target, band=wanted)
        assert set(found["uri"]) == {uploaded[k] for k in holding if bands[k] in names}
    found = footprints.find(index, target, time=(Time(61004, format="mjd"), 61006.0))
    assert list(found["uri"]) == [uploaded[k] for k in holding if k == "field/tds_F184_3_5.fits"]
    found = footprints.find(index, target, time=(None, 61007))
    assert list(found["t_start"]) == sorted(
        t for k in holding for t in [local_mjd(local_files, k)] if t <= 61007
    )

    # radius: a point 4 arcsec due north of the top edge of the (isolated) RA 0 file
    key = "wrap/tds_F158_ra0.fits"
    wcs = _file_wcs(local_files[key])
    edge = wcs.pixel_to_world(31.5, 47.5)
    outside = SkyCoord(edge.ra, edge.dec + 4 * u.arcsec)
    x, y = wcs.world_to_pixel(outside)
    gap = outside.separation(wcs.pixel_to_world(np.clip(x, -0.5, 63.5), 47.5))
    assert y > 47.5 and gap.to_value(u.arcsec) == pytest.approx(4.0, abs=0.05)
    with pytest.warns(
        UserWarning, match=r"nearest footprint is 4\.0 arcsec away \(s3://stpubdata/survey/wrap/"
    ):
        assert len(footprints.find(index, outside, radius=gap - 0.1 * u.arcsec)) == 0
    near = footprints.find(index, outside, radius=gap + 0.1 * u.arcsec)
    assert list(near["uri"]) == [uploaded[key]]
    assert (near["x"][0], near["y"][0]) == pytest.approx((float(x), float(y)), abs=1e-6)
    assert list(footprints.find(index, outside, radius="5 arcsec")["uri"]) == [uploaded[key]]


def local_mjd(local_files: dict[str, Path], key: str) -> float:
    """MJD-OBS of a FITS file from its own header (NaN for ASDF and HST here, which are later or timeless)."""
    if key.endswith(".asdf"):
        with asdf.open(local_files[key]) as af:
            start = af.tree["roman"]["meta"].get("exposure", {}).get("start_time")
            return start.mjd if start is not None else math.nan
    with fits.open(local_files[key]) as hdul:
        return float(hdul[1].header.get("MJD-OBS", math.nan))


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        return a.shape == b.shape and bool(
            np.all((a == b) | (np.isnan(a.astype(float)) & np.isnan(b.astype(float))))
        )
    return a.shape == b.shape and [str(v) for v in a.ravel()] == [str(v) for v in b.ravel()]


@pytest.mark.parametrize("suffix", [".ecsv", ".parquet"])
def test_save_and_load_round_trip(uploaded, tmp_path, suffix) -> None:
    with pytest.warns(UserWarning, match="could not be indexed"):
        index = footprints.build_index(PREFIX)
    path = footprints.save_index(index, tmp_path / f"index{suffix}")
    loaded = footprints.load_index(path)
    assert loaded.colnames == list(footprints.COLUMNS)
    for name in footprints.COLUMNS:
        assert _same(index[name], loaded[name]), name
    assert loaded.meta["build"] == index.meta["build"]
    assert str(loaded["ra_center"].unit) == "deg"
    for where in ("150 2", "150.004 2.002", "0 90"):
        assert list(footprints.find(loaded, where)["uri"]) == list(footprints.find(index, where)["uri"])
    assert list(footprints.find(path, "150 2")["uri"]) == list(footprints.find(index, "150 2")["uri"])


def test_loading_something_else_says_what_was_expected(tmp_path) -> None:
    other = tmp_path / "manifest.ecsv"
    Table({"uri": ["s3://stpubdata/x.fits"], "size": [3]}).write(other)
    with pytest.raises(FileFormatError, match="not a footprint index: it lacks the columns instrument, band"):
        footprints.load_index(other)
    text = tmp_path / "text.ecsv"
    text.write_text("just some words\n")
    with pytest.raises(FileFormatError, match="is not an ECSV table"):
        footprints.load_index(text)
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"PAR1 not really")
    with pytest.raises(FileFormatError, match="is not a Parquet file"):
        footprints.load_index(junk)
    with pytest.raises(InvalidParameterError, match=r"valid values are: \.ecsv, \.parquet"):
        footprints.load_index(tmp_path / "index.csv")
    with pytest.raises(ObjectNotFoundError, match="no index at"):
        footprints.load_index(tmp_path / "missing.ecsv")
    with pytest.raises(FileFormatError, match="not a footprint index"):
        footprints.find(Table({"ra": [1.0]}), "1 1")


def test_bad_queries_say_what_would_be_right(uploaded) -> None:
    with pytest.warns(UserWarning, match="could not be indexed"):
        index = footprints.build_index(PREFIX)
    with pytest.raises(
        InvalidParameterError, match="invalid band 'F999'; valid values are: F158, F160W, F184"
    ):
        footprints.find(index, "150 2", band="F999")
    with pytest.raises(InvalidParameterError, match="object names are not looked up here"):
        footprints.find(index, "somewhere over there")
    with pytest.raises(InvalidParameterError, match="pixel positions have no meaning here"):
        footprints.find(index, (10.5, 20.0))  # pixels differ from file to file
    with pytest.raises(InvalidParameterError, match="an angle with its unit"):
        footprints.find(index, "150 2", radius=5)
    with pytest.raises(InvalidParameterError, match="the start comes after the end"):
        footprints.find(index, "150 2", time=(61010, 61000))
    with pytest.raises(InvalidParameterError, match="a \\(start, end\\) pair"):
        footprints.find(index, "150 2", time=61000)
    with pytest.warns(
        UserWarning,
        match=r"no file in the index holds ra=10\.000000 dec=-20\.000000; the nearest "
        r"footprint is .* degrees away, so a wider radius= would not help; the index's 10 files lie all "
        r"over the sky, none near it: check the position",
    ):
        empty = footprints.find(index, "10 -20")
    assert len(empty) == 0 and "x" in empty.colnames and "nearest footprint" in empty.meta["message"]
    with pytest.warns(UserWarning, match="no file is left after the band and time selection"):
        footprints.find(index, "150 2", band="F184", time=(0, 1))


def test_many_rows_polygon_prefilter_keeps_every_true_match() -> None:
    """1,500 random footprints (rotations, both parities, up to a degree wide) around RA 0 and both poles."""
    rng = np.random.default_rng(3)
    rows, wcses = [], []
    centres = [(rng.uniform(-3, 3) % 360, rng.uniform(-3, 3)) for _ in range(500)]
    centres += [(rng.uniform(0, 360), rng.uniform(88.5, 90)) for _ in range(500)]
    centres += [(rng.uniform(0, 360), -rng.uniform(88.5, 90)) for _ in range(500)]
    for number, (ra, dec) in enumerate(centres):
        nx, ny = int(rng.integers(50, 400)), int(rng.integers(50, 400))
        scale = rng.uniform(0.3, 1.0) / max(nx, ny)
        angle = rng.uniform(0, 2 * math.pi)
        parity = rng.choice([-1, 1])
        wcs = WCS(naxis=2)
        wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        wcs.wcs.crval = [ra, dec]
        wcs.wcs.crpix = [(nx + 1) / 2 + rng.uniform(-5, 5), (ny + 1) / 2]
        wcs.wcs.cd = np.array(
            [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
        ) @ np.diag([parity * scale, scale])
        corner_ra, corner_dec = wcs.pixel_to_world_values(
            [-0.5, nx - 0.5, nx - 0.5, -0.5], [-0.5, -0.5, ny - 0.5, ny - 0.5]
        )
        centre = wcs.pixel_to_world((nx - 1) / 2, (ny - 1) / 2)
        rows.append(
            {
                "uri": f"s3://{BUCKET}/synthetic/{number}.fits",
                "naxis1": nx,
                "naxis2": ny,
                "ra_center": centre.ra.deg,
                "dec_center": centre.dec.deg,
                "ra_corners": corner_ra,
                "dec_corners": corner_dec,
                "wcs": "\n".join(c.image for c in wcs.to_header(relax=True).cards),
                "fov_radius": max(centre.separation(SkyCoord(corner_ra * u.deg, corner_dec * u.deg)).deg),
                "t_start": float(number),
                "error": "",
            }
        )
        wcses.append(wcs)
    index = Table(
        {
            name: [row.get(name, blank) for row in rows]
            if not isinstance(dtype, tuple)
            else np.array([row[name] for row in rows])
            for name, (dtype, blank) in footprints.COLUMNS.items()
        }
    )
    targets = [(rng.uniform(-1, 1) % 360, rng.uniform(-1, 1)) for _ in range(40)]
    targets += [(rng.uniform(0, 360), rng.uniform(89, 90)) for _ in range(40)]
    targets += [(rng.uniform(0, 360), -rng.uniform(89, 90)) for _ in range(40)] + [(0.0, 90.0), (0.0, -90.0)]
    t_ra, t_dec = np.array(targets).T
    inside = np.array(
        [
            _inside(*w.world_to_pixel_values(t_ra, t_dec), row["naxis1"], row["naxis2"])
            for w, row in zip(wcses, rows, strict=True)
        ]
    )  # (rows, targets)
    total = 0
    for j, (ra, dec) in enumerate(targets):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = footprints.find(index, SkyCoord(ra * u.deg, dec * u.deg))
        expected = [rows[i]["uri"] for i in np.flatnonzero(inside[:, j])]  # t_start = row number: same order
        assert list(found["uri"]) == expected, (ra, dec)
        total += len(expected)
    assert total > 300  # the footprints overlap: many targets are in several files


# ---------------------------------------------------------------------- hostile files and impossible headers
#
# Files made here to hurt a reader: an image that claims more pixels than its object holds, trees built
# to exhaust memory or the stack. Each is reported by name with its reason; the good file beside it is
# indexed. Time and memory are bounded by counts and by the limits of the process that indexes them.

HOSTILE = "s3://stpubdata/survey-hostile/"


def _impossible_fits() -> bytes:
    """One header block, 2,880 bytes, that claims a 10^6 x 10^6 image at RA, Dec = 150, 2."""
    header = fits.Header()
    header["SIMPLE"], header["BITPIX"], header["NAXIS"] = True, -32, 2
    header["NAXIS1"] = header["NAXIS2"] = 1_000_000
    header.update(files.tan_header((1_000_000, 1_000_000), 150.0, 2.0, 0.1 / 3600))
    header["NAXIS1"] = header["NAXIS2"] = 1_000_000
    block = header.tostring().encode()
    assert len(block) == 2880
    return block


def _impossible_asdf() -> bytes:
    """A Roman-like ASDF file of 2 x 2 pixels whose tree says 1,000,000 x 1,000,000."""
    tree = {
        "roman": {
            "meta": {"wcs": files.tan_gwcs((2, 2), 150.0, 2.0, 0.1 / 3600), "instrument": {"name": "WFI"}},
            "data": np.zeros((2, 2), np.float32),
        }
    }
    buffer = io.BytesIO()
    asdf.AsdfFile(tree).write_to(buffer)
    raw = buffer.getvalue()
    assert raw.count(b"shape: [2, 2]") == 1
    return raw.replace(b"shape: [2, 2]", b"shape: [1000000, 1000000]")


def test_an_image_larger_than_its_object_is_not_indexed_nor_found(buckets, s3_client, local_files) -> None:
    objects = {
        "good.fits": local_files["field/tds_F158_1_3.fits"].read_bytes(),
        "impossible.fits": _impossible_fits(),
        "impossible.asdf": _impossible_asdf(),
    }
    for name, body in objects.items():
        put_object(s3_client, BUCKET, f"survey-hostile/{name}", body)
    with pytest.warns(UserWarning, match="2 of 3 files could not be indexed"):
        index = footprints.build_index(HOSTILE)
    errors = dict(zip(index["uri"], index["error"], strict=True))
    assert errors[HOSTILE + "good.fits"] == ""
    assert errors[HOSTILE + "impossible.fits"].startswith(
        f"bad file: {HOSTILE}impossible.fits: HDU 0's header claims 1000000 x 1000000 pixels"
    )
    assert "in an object of 2,880 bytes" in errors[HOSTILE + "impossible.fits"]
    assert errors[HOSTILE + "impossible.asdf"].startswith(
        f"bad file: {HOSTILE}impossible.asdf: roman.data claims 1000000 x 1000000 pixels"
    )
    found = footprints.find(index, "150.0 2.0")
    assert list(found["uri"]) == [HOSTILE + "good.fits"]


def _asdf_text(body: bytes) -> bytes:
    return (
        b"#ASDF 1.0.0\n#ASDF_STANDARD 1.5.0\n%YAML 1.1\n%TAG ! tag:stsci.edu:asdf/\n--- !core/asdf-1.1.0\n"
        + body
        + b"...\n"
    )


def _billion_laughs() -> bytes:
    """2 kB: roman.meta.instrument.optical_element is 10^9 strings through 9 levels of aliases."""
    levels = [b"    l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"]
    levels += [b"    l%d: &l%d [%s]\n" % (n, n, b", ".join([b"*l%d" % (n - 1)] * 10)) for n in range(1, 9)]
    return _asdf_text(
        b"roman:\n  meta:\n"
        + b"".join(levels)
        + b"    instrument: {name: WFI, detector: WFI01, optical_element: *l8}\n"
        + b"    wcs: null\n"
    )


HOSTILE_TREES = {
    "laughs.asdf": (_billion_laughs(), "more than 100,000 nodes, through"),
    "deep.asdf": (
        _asdf_text(b"roman: {meta: " + b"[" * 500 + b"]" * 500 + b"}\n"),
        "nested more than 64 levels",
    ),
    "itself.asdf": (_asdf_text(b"roman: &r {meta: {wcs: *r}}\n"), "inside the node it names"),
    "endless.asdf": (
        b"#ASDF 1.0.0\n%YAML 1.1\n---\nroman:\n  meta:\n" + b"    k: v\n" * (17 * 2**20 // 9),
        "runs past 16 MiB",
    ),
}

#: Limits of the process that indexes the hostile files: the kit's own reading of them uses far less
#: (about 130 MB resident, 0.6 GB of address space with its 16 threads on two cores); the trees above
#: would take all of it (the aliases alone expand to 10^9 nodes).
ADDRESS_SPACE = 3 * 2**30
CPU_SECONDS = 120


def _limited() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def test_trees_built_to_exhaust_memory_are_bad_files_and_the_good_one_is_indexed(
    buckets, s3_client, local_files, tmp_path, monkeypatch
) -> None:
    """`roman-helpers index` in a process of its own, with bounded memory and CPU time, so that a
    reader that fails to stop cannot take the test run down with it."""
    import subprocess
    import sys

    from tests.faulty_server import FaultyS3

    put_object(
        s3_client, BUCKET, "survey-hostile/good.fits", local_files["field/tds_F158_1_3.fits"].read_bytes()
    )
    for name, (body, _reason) in HOSTILE_TREES.items():
        put_object(s3_client, BUCKET, f"survey-hostile/{name}", body)
    out = tmp_path / "index.ecsv"
    with FaultyS3([]) as server:  # the same store, counting what each file costs
        seen, app = [], server.server.app

        def recording(environ, start_response):
            seen.append((environ["PATH_INFO"], environ.get("HTTP_RANGE")))
            return app(environ, start_response)

        server.server.app = recording
        environment = {**os.environ, "AWS_ENDPOINT_URL": server.url, "MALLOC_ARENA_MAX": "2"}
        for script in (
            [sys.executable, "-m", "roman_helpers", "index", HOSTILE, "-o", str(out)],
            [sys.executable, "-c", _METADATA_OF_EACH, *(HOSTILE + name for name in HOSTILE_TREES)],
        ):
            done = subprocess.run(
                script, env=environment, preexec_fn=_limited, capture_output=True, text=True, timeout=600
            )
            assert done.returncode == 0, done.stderr[-3000:]
            assert "Traceback" not in done.stderr
    index = footprints.load_index(out)
    errors = dict(zip(index["uri"], index["error"], strict=True))
    assert errors.pop(HOSTILE + "good.fits") == ""
    said = dict(line.split(" -> ", 1) for line in done.stdout.splitlines())
    for name, (body, reason) in HOSTILE_TREES.items():
        assert errors[HOSTILE + name].startswith(f"bad file: {HOSTILE}{name}: its ASDF tree"), name
        assert reason in errors[HOSTILE + name]
        by_metadata, by_open_asdf = said[HOSTILE + name].split(" | ")
        assert by_metadata.startswith(f"FileFormatError: {HOSTILE}{name}: its ASDF tree"), name
        assert by_open_asdf.startswith(f"FileFormatError: {HOSTILE}{name}: its ASDF tree"), name
        # what each cost: in the index and read_metadata one read of its first 4 KiB, in open_asdf one
        # read-ahead block; or (the endless tree) reads growing by a fifth up to the 16 MiB limit
        fetched = [span for path, span in seen if path.endswith(name) and span]
        if len(body) < 4096:
            assert fetched.count("bytes=0-4095") == 2 and len(fetched) == 3, (name, fetched)
        else:
            assert max(int(span.split("-")[1]) for span in fetched) < 1.25 * 16 * 2**20


_METADATA_OF_EACH = """
import sys
from roman_helpers import stream
for uri in sys.argv[1:]:
    said = []
    for read in (stream.read_metadata, lambda uri: stream.open_asdf(uri).__enter__()):
        try:
            read(uri)
            said.append("read")
        except Exception as error:
            said.append(type(error).__name__ + ": " + str(error))
    print(uri, "->", " | ".join(said))
"""


# --------------------------------------------------------------------------- files that are not indexes


def _one_row_index() -> Table:
    """A well-formed index of one file, written here (not by build_index)."""
    header = files.tan_header((48, 64), 150.0, 2.0, 1 / 3600)
    wcs = WCS(header)
    corner_ra, corner_dec = wcs.pixel_to_world_values([-0.5, 63.5, 63.5, -0.5], [-0.5, -0.5, 47.5, 47.5])
    row = {
        "uri": "s3://stpubdata/x.fits",
        "instrument": "WFI",
        "band": "F158",
        "detector": "WFI01",
        "t_start": 61000.0,
        "t_end": 61000.001,
        "exptime": 86.4,
        "naxis1": 64,
        "naxis2": 48,
        "ra_center": 150.0,
        "dec_center": 2.0,
        "ra_corners": np.array(corner_ra),
        "dec_corners": np.array(corner_dec),
        "fov_radius": 0.01,
        "wcs": "\n".join(card.image for card in wcs.to_header().cards),
        "wcs_error": 0.0,
        "etag": "abc",
        "size": 20160,
        "error": "",
    }
    return Table({name: [value] for name, value in row.items()})


def _text_everywhere(table: Table) -> Table:
    """The same column names, each holding text."""
    return Table({name: ["x"] for name in table.colnames})


def _parquet(path: Path, table: Table, metadata: bytes | None = None) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {
        name: pa.array([str(v) if np.ndim(v) == 0 else list(v) for v in table[name]])
        for name in table.colnames
    }
    pq.write_table(pa.table(arrays).replace_schema_metadata({"roman_helpers": metadata or b"{}"}), path)
    return path


def _not_indexes(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Files named like indexes that are not, and what the error must say about each."""
    good = _one_row_index()
    footprints.save_index(good, tmp_path / "good.parquet")  # a real one, then damaged below
    import pyarrow.parquet as pq

    stored = pq.read_table(tmp_path / "good.parquet")
    pq.write_table(
        stored.replace_schema_metadata({"roman_helpers": b"{not json"}), tmp_path / "metadata.parquet"
    )
    pq.write_table(stored.replace_schema_metadata({"roman_helpers": b"[1, 2]"}), tmp_path / "list.parquet")
    _parquet(tmp_path / "text.parquet", _text_everywhere(good))
    _text_everywhere(good).write(tmp_path / "text.ecsv")
    scalar_corners = good.copy()
    scalar_corners["ra_corners"] = [150.0]
    scalar_corners.write(tmp_path / "corners.ecsv")
    negative = good.copy()
    negative["naxis1"] = [2.5]
    negative.write(tmp_path / "float_naxis.ecsv")
    return {
        "metadata.parquet": (tmp_path / "metadata.parquet", "its roman_helpers metadata is not JSON"),
        "list.parquet": (tmp_path / "list.parquet", "its roman_helpers metadata is not a JSON object"),
        "text.parquet": (
            tmp_path / "text.parquet",
            "column t_start holds text, where an index holds numbers",
        ),
        "text.ecsv": (tmp_path / "text.ecsv", "column t_start holds text, where an index holds numbers"),
        "corners.ecsv": (
            tmp_path / "corners.ecsv",
            "column ra_corners holds one value a row, where an index holds 4",
        ),
        "float_naxis.ecsv": (
            tmp_path / "float_naxis.ecsv",
            "column naxis1 holds floating-point numbers, where an index holds whole numbers",
        ),
    }


def test_index_files_that_are_not_indexes_say_what_is_wrong(tmp_path) -> None:
    assert (
        len(
            footprints.find(
                footprints.load_index(footprints.save_index(_one_row_index(), tmp_path / "ok.ecsv")), "150 2"
            )
        )
        == 1
    )
    for name, (path, said) in _not_indexes(tmp_path).items():
        with pytest.raises(FileFormatError, match=re.escape(said)) as caught:
            footprints.find(path, "150 2")
        assert str(path) in str(caught.value) and "\n" not in str(caught.value), name


def test_a_table_with_the_index_columns_of_other_types_is_refused_by_find() -> None:
    with pytest.raises(FileFormatError, match="column t_start holds text, where an index holds numbers"):
        footprints.find(_text_everywhere(_one_row_index()), "150 2")
