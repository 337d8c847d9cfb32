"""The sandbox's Time Domain Survey field: epochs, file structure, truth, image search, determinism, size.

Expectations come from the files themselves: each file's WCS (astropy for the FITS headers,
gwcs for the ASDF ``meta.wcs``) says where the transient is and whether the file holds it, and
the truth tables are read back from the bucket. Only the per-file truth is compared with them.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from roman_helpers import datasets

OU_BUCKET, ROMAN_BUCKET = "nasa-irsa-simulations", "stpubdata"
OU_ROOT = "openuniverse2024/roman/preview/RomanTDS"
ROMAN_PREFIX = "roman/nexus/soc_simulations/tds"
SIA_URL = "https://irsa.ipac.caltech.edu/simulated/SIA"
COLLECTION = "simulated_roman_openuniverse2024"
DO_NOT_USE = 1
# OpenUniverse headers carry MJD-OBS without DATE-OBS: astropy notes the fix it makes
# (and erfa calls dates after the last known leap second "dubious")
pytestmark = [
    pytest.mark.filterwarnings("ignore::astropy.wcs.FITSFixedWarning"),
    pytest.mark.filterwarnings("ignore::erfa.ErfaWarning"),
]


def _s3(sandbox):
    import s3fs

    return s3fs.S3FileSystem(anon=True, endpoint_url=sandbox.s3.url, skip_instance_cache=True)


@pytest.fixture(scope="module")
def truth(sandbox):
    """The truth tables as the bucket serves them (ECSV)."""
    fs = _s3(sandbox)
    tables = {}
    for name in ("sources", "light_curve", "files"):
        with fs.open(f"{ROMAN_BUCKET}/{ROMAN_PREFIX}/truth/tds_{name}.ecsv", "rb") as handle:
            tables[name] = Table.read(io.BytesIO(handle.read()), format="ascii.ecsv")
    return tables


@pytest.fixture(scope="module")
def transient(truth):
    row = truth["sources"][truth["sources"]["obj_type"] == "transient"]
    assert len(row) == 1
    return float(row["ra"][0]), float(row["dec"][0])


def _cutout(array: np.ndarray, x: float, y: float, half: int):
    """The pixels within ``half`` of (x, y), and the 0-based column and row of their corner."""
    x0, y0 = max(round(x) - half, 0), max(round(y) - half, 0)
    return array[y0 : round(y) + half + 1, x0 : round(x) + half + 1], x0, y0


def _holds(x: float, y: float, shape) -> bool:
    return bool(-0.5 < x < shape[1] - 0.5 and -0.5 < y < shape[0] - 0.5)


@pytest.fixture(scope="module")
def images(sandbox, transient):
    """Every TDS image of the manifest, opened: key -> what its own header/WCS and arrays say."""
    import roman_datamodels as rdm

    found = {}
    for entry in sandbox.manifest.objects:
        path = sandbox.manifest.file(entry)
        if entry.bucket == OU_BUCKET and entry.key.startswith(f"{OU_ROOT}/images/"):
            with fits.open(path) as hdul:
                sci = hdul[1].header
                x, y = WCS(sci).world_to_pixel_values(*transient)
                found[entry.key] = {
                    "layout": "openuniverse",
                    "names": [h.name for h in hdul],
                    "primary_data": hdul[0].data,
                    "dtypes": [hdul[i].data.dtype.name for i in (1, 2, 3)],
                    "shapes": [hdul[i].data.shape for i in (1, 2, 3)],
                    "header": sci.copy(),
                    "primary": hdul[0].header.copy(),
                    "x": float(x),
                    "y": float(y),
                    "sci": hdul[1].data.astype(float),
                    "err": hdul[2].data.astype(float),
                    "dq": hdul[3].data.astype(np.int64),
                    "mjd": sci["MJD-OBS"],
                    "exptime": sci["EXPTIME"],
                    "band": sci["FILTER"],
                    "sca": sci["SCA_NUM"],
                }
        elif entry.bucket == ROMAN_BUCKET and entry.key.startswith(ROMAN_PREFIX) and path.suffix == ".asdf":
            with rdm.open(path) as model:  # validates against the Roman schemas
                x, y = model.meta.wcs.invert(*transient, with_bounding_box=False)
                found[entry.key] = {
                    "layout": "roman",
                    "model": type(model).__name__,
                    "dtypes": [model.data.dtype.name, model.err.dtype.name, model.dq.dtype.name],
                    "shapes": [model.data.shape, model.err.shape, model.dq.shape],
                    "x": float(x),
                    "y": float(y),
                    "sci": np.asarray(model.data, float),
                    "err": np.asarray(model.err, float),
                    "dq": np.asarray(model.dq, np.int64),
                    "mjd": model.meta.exposure.start_time.mjd,
                    "end_mjd": model.meta.exposure.end_time.mjd,
                    "exptime": model.meta.exposure.exposure_time,
                    "band": model.meta.instrument.optical_element,
                    "sca": int(model.meta.instrument.detector[3:]),
                    "conversion": model.meta.photometry.conversion_megajanskys,
                    "pixel_area": model.meta.photometry.pixel_area,
                }
    return found


# ------------------------------------------------------------------ epochs
def test_each_band_has_at_least_100_epochs_over_a_year_and_a_half(sandbox):
    fs = _s3(sandbox)
    with fs.open(f"{OU_BUCKET}/{OU_ROOT}/Roman_TDS_obseq_11_6_23.fits", "rb") as handle:
        obseq = Table.read(io.BytesIO(handle.read()), hdu=1)
    assert {"ra", "dec", "date", "filter"} <= set(obseq.colnames)
    for band in ("H158", "J129"):
        dates = np.sort(np.asarray(obseq["date"][obseq["filter"] == band], float))
        assert len(dates) >= 100, band
        assert dates[-1] - dates[0] >= 1.5 * 365.25
        assert 4.0 <= np.median(np.diff(dates)) <= 6.0  # about five days apart
        # every row of the sequence is a pointing folder of that band, and nothing else is
        listed = {p.rsplit("/", 1)[1] for p in fs.ls(f"{OU_BUCKET}/{OU_ROOT}/images/simple_model/{band}")}
        assert listed == {str(i) for i in np.flatnonzero(np.char.strip(obseq["filter"].astype(str)) == band)}
    bands = np.char.strip(obseq["filter"].astype(str))
    assert set(bands[0::2]) == {"H158"} and set(bands[1::2]) == {"J129"}  # interleaved in time
    assert np.all(np.diff(np.asarray(obseq["date"], float)) > 0)


def test_the_roman_layout_has_the_same_exposures(images):
    fits_side = Counter(
        (i["band"][-3:], round(i["mjd"], 7), i["sca"])
        for i in images.values()
        if i["layout"] == "openuniverse"
    )
    asdf_side = Counter(
        (i["band"][-3:], round(i["mjd"], 7), i["sca"]) for i in images.values() if i["layout"] == "roman"
    )
    assert fits_side == asdf_side and len(fits_side) >= 400
    assert set(fits_side.values()) == {1}


# ------------------------------------------------------------------ structure
def test_every_fits_file_has_the_openuniverse_structure(images):
    fits_images = {k: v for k, v in images.items() if v["layout"] == "openuniverse"}
    assert len(fits_images) >= 400
    for key, image in fits_images.items():
        band, _, sca = key.rsplit("/", 1)[1][: -len(".fits.gz")].split("_")[-3:]
        assert image["names"] == ["PRIMARY", "SCI", "ERR", "DQ"] and image["primary_data"] is None, key
        assert image["dtypes"] == ["float32", "float32", "int32"]
        assert len(set(image["shapes"])) == 1
        header = image["header"]
        assert (header["FILTER"], header["SCA_NUM"]) == (band, int(sca))
        assert header["EXPTIME"] > 0 and isinstance(header["ZPTMAG"], float)
        assert WCS(header).has_celestial
        assert np.all(image["err"] > 0)


def test_every_asdf_file_is_a_level_2_image_named_as_it_says(images):
    from roman_helpers.uris import parse_roman_filename

    asdf_images = {k: v for k, v in images.items() if v["layout"] == "roman"}
    assert len(asdf_images) >= 400
    for key, image in asdf_images.items():
        name = parse_roman_filename(key)
        assert image["model"] == "ImageModel"
        assert image["dtypes"] == ["float32", "float16", "uint32"]
        assert (f"WFI{image['sca']:02d}", image["band"]) == (name["detector"], name["optical_element"])
        assert math.isclose((image["end_mjd"] - image["mjd"]) * 86400, image["exptime"], abs_tol=1e-3)
        assert image["conversion"] > 0 and image["pixel_area"] > 0


def test_both_layouts_hold_the_same_pixels(images):
    by_exposure = {}
    for image in images.values():
        exposure = (image["band"][-3:], round(image["mjd"], 7), image["sca"])
        by_exposure.setdefault(exposure, {})[image["layout"]] = image
    for pair in list(by_exposure.values())[::9]:
        ou, roman = pair["openuniverse"], pair["roman"]
        exptime = ou["exptime"]
        assert roman["exptime"] == exptime and abs(roman["mjd"] - ou["mjd"]) * 86400 < 1e-3
        np.testing.assert_allclose(roman["sci"] * exptime, ou["sci"], rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(roman["err"] * exptime, ou["err"], rtol=2e-3)
        assert np.array_equal(roman["dq"], ou["dq"])
        assert (roman["x"], roman["y"]) == pytest.approx((ou["x"], ou["y"]), abs=1e-6)


def test_err_is_the_noise_of_the_sky_pixels_and_dq_flags_bad_ones(images):
    checked = 0
    for image in list(images.values())[::15]:
        sci, err, dq = image["sci"], image["err"], image["dq"]
        sky = (err <= np.percentile(err, 40)) & (dq & DO_NOT_USE == 0)  # pixels far from any source
        spread = 1.4826 * np.median(np.abs(sci[sky] - np.median(sci[sky])))
        assert spread == pytest.approx(np.median(err[sky]), rel=0.1)
        assert np.any(dq & DO_NOT_USE) and np.all(sci[(dq & DO_NOT_USE) != 0] == 0)
        checked += 1
    assert checked >= 20


def test_per_image_truth_files_list_what_the_image_shows(sandbox, images):
    checked = 0
    for key, image in images.items():
        if image["layout"] != "openuniverse" or checked >= 40:
            continue
        band, pointing, sca = key.rsplit("/", 1)[1][: -len(".fits.gz")].split("_")[-3:]
        index_key = f"{OU_ROOT}/truth/{band}/{pointing}/Roman_TDS_index_{band}_{pointing}_{sca}.txt"
        entry = sandbox.manifest.find(OU_BUCKET, index_key)
        assert entry is not None, index_key
        lines = sandbox.manifest.file(entry).read_text().splitlines()
        assert lines[0] == "# object_id ra dec x y realized_flux flux mag obj_type"
        wcs = WCS(image["header"])
        for line in lines[1:]:
            _, ra, dec, x, y, realized, flux, mag, kind = line.split()
            px, py = wcs.world_to_pixel_values(float(ra), float(dec))
            assert (float(x), float(y)) == pytest.approx((px + 1, py + 1), abs=1e-3)  # 1-based
            assert kind in {"star", "transient"} and float(flux) > 0 and float(realized) >= 0
            zero_point = image["header"]["ZPTMAG"]
            assert float(mag) == pytest.approx(zero_point - 2.5 * math.log10(float(flux)), abs=1e-3)
        checked += 1
    assert checked == 40


# ------------------------------------------------------------------ the transient
def test_files_holding_the_transient_by_their_wcs_are_the_truth_tables(images, truth):
    from_wcs = {key for key, image in images.items() if _holds(image["x"], image["y"], image["sci"].shape)}
    files = truth["files"]
    assert from_wcs == set(files["key"][files["holds_target"]])
    assert set(files["key"]) == set(images)
    for band in ("H158", "J129"):
        ou = [i for i in images.values() if i["layout"] == "openuniverse" and i["band"] == band]
        holding = [i for i in ou if _holds(i["x"], i["y"], i["sci"].shape)]
        assert 100 <= len(holding) < len({i["mjd"] for i in ou})  # most epochs, not all
        assert len({i["sca"] for i in holding}) >= 2  # the dithers move it between detectors


def test_transient_is_on_the_pixel_the_wcs_gives_and_has_the_truth_flux(images, truth):
    from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture, aperture_photometry

    curve = truth["light_curve"]
    counts = {round(float(m), 7): float(c) for m, c in zip(curve["mjd"], curve["counts"], strict=True)}
    checked = bright = 0
    for image in images.values():
        x, y = image["x"], image["y"]
        if not _holds(x, y, image["sci"].shape):
            continue
        scale = 1.0 if image["layout"] == "openuniverse" else image["exptime"]  # ASDF: DN/s
        sci, err, mask = image["sci"] * scale, image["err"] * scale, (image["dq"] & DO_NOT_USE) != 0
        expected = counts[round(image["mjd"], 7)]
        annulus = ApertureStats(sci, CircularAnnulus((x, y), 12, 20), mask=mask)
        aperture = CircularAperture((x, y), 8)
        measured = aperture_photometry(sci - annulus.median, aperture, error=err, mask=mask)
        # the error of the sum (from ERR) and of the background level under the aperture
        level_error = aperture.area * annulus.std / math.sqrt(annulus.sum_aper_area.value)
        sigma = math.hypot(float(measured["aperture_sum_err"][0]), level_error)
        difference = float(measured["aperture_sum"][0]) - expected
        assert abs(difference) < 5 * sigma + 0.01 * expected, (image["mjd"], expected)
        if expected > 50 * np.median(err):  # bright: its peak pixel is where the WCS says
            stamp, x0, y0 = _cutout(np.where(mask, -np.inf, sci), x, y, 4)
            j, i = np.unravel_index(np.argmax(stamp), stamp.shape)
            assert abs(x0 + i - x) <= 1 and abs(y0 + j - y) <= 1, (image["mjd"], x, y, x0 + i, y0 + j)
            bright += 1
        checked += 1
    assert checked >= 400 and bright >= 50


def test_light_curve_rises_and_declines_around_its_peak(truth):
    curve, meta = truth["light_curve"], truth["light_curve"].meta
    for band in ("H158", "J129"):
        rows = curve[curve["band"] == band]
        flux, mjd = np.asarray(rows["flux"]), np.asarray(rows["mjd"])
        assert len(rows) >= 100 and np.all(np.diff(mjd) > 0)
        top = int(np.argmax(flux))
        assert abs(mjd[top] - meta["peak_mjd"]) <= 6  # the visit nearest the peak
        assert np.all(np.diff(flux[: top + 1]) >= 0) and np.all(np.diff(flux[top:]) <= 0)
        assert flux[0] == 0 and 0 < flux[-1] < 0.01 * flux[top]
        zeropoint = meta["bands"][band]["zeropoint_ab_1e_per_s"]
        peak = 10 ** (0.4 * (zeropoint - meta["bands"][band]["peak_mag_ab"]))
        assert 0.75 * peak < flux[top] <= peak  # sampled within a few days of the peak
    assert str(curve["flux"].unit) == "electron / s" and str(curve["mjd"].unit) == "d"


def test_dataset_defaults_are_images_holding_the_target(sandbox, images, transient, truth):
    meta = truth["sources"].meta
    for name, examples in (
        ("openuniverse-tds-fits", ({}, {"band": "J129"})),
        ("roman-tds-asdf", ({}, {"optical_element": "F129"})),
    ):
        dataset = datasets.get(name)
        target = tuple(float(v) for v in dataset.defaults()["target"].split(","))
        field = tuple(float(v) for v in dataset.defaults()["field"].split(","))
        assert target == pytest.approx(transient, abs=1e-7)
        assert field == pytest.approx((meta["field_ra"], meta["field_dec"]), abs=1e-7)
        for params in examples:
            key = dataset.key(**params)
            assert sandbox.manifest.find(dataset.bucket, key) is not None
            image = images[key]
            assert _holds(image["x"], image["y"], image["sci"].shape)


# ------------------------------------------------------------------ IRSA
def test_irsa_sia_finds_the_tds_images_at_the_target_with_their_times(sandbox_env, images, transient):
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from astroquery.ipac.irsa import IrsaClass

    irsa = IrsaClass()
    irsa.sia_url = SIA_URL
    radius = 1 * u.arcsec
    table = irsa.query_sia(pos=(SkyCoord(*transient, unit="deg"), radius), collection=COLLECTION)
    tds = table[["TDS_simple_model" in str(obs_id) for obs_id in table["obs_id"]]]
    found = {json.loads(row["cloud_access"])["aws"]["key"]: row for row in tds}
    # within 1.3" of an edge (radius and position rounding) a file may or may not be returned
    margin = 1.3 / 0.11
    ou = {k: v for k, v in images.items() if v["layout"] == "openuniverse"}

    def within(image, pad: float) -> bool:  # the target is on the pixel grid grown by ``pad`` pixels
        ny, nx = image["sci"].shape
        return -0.5 - pad < image["x"] < nx - 0.5 + pad and -0.5 - pad < image["y"] < ny - 0.5 + pad

    inside = {k for k, v in ou.items() if within(v, -margin)}
    near = {k for k, v in ou.items() if within(v, margin)}
    assert inside <= set(found) <= near
    for band in ("H158", "J129"):
        rows = [row for row in found.values() if str(row["energy_bandpassname"]).strip() == band]
        assert len(rows) >= 90
        times = sorted(float(row["t_min"]) for row in rows)
        assert times[-1] - times[0] > 500
    for key, row in found.items():
        assert float(row["t_min"]) == pytest.approx(ou[key]["mjd"], abs=1e-9)


# ------------------------------------------------------------------ determinism and size
_REWRITE = """
import hashlib, json, sys
from pathlib import Path
from roman_helpers.sandbox import tds
wanted, out = set(json.loads(sys.argv[1])), Path(sys.argv[2])
for item in tds.objects():
    if item.key in wanted:
        target = out / item.key.rsplit("/", 1)[1]
        item.writer(target, **item.kwargs)
        print(item.key, hashlib.md5(target.read_bytes()).hexdigest())
"""


def test_a_second_build_writes_the_same_bytes(sandbox, tmp_path):
    tds_entries = [
        e
        for e in sandbox.manifest.objects
        if e.key.startswith((OU_ROOT, ROMAN_PREFIX)) and e.bucket in (OU_BUCKET, ROMAN_BUCKET)
    ]
    sample = [e for e in tds_entries if not e.key.endswith((".fits.gz", ".asdf", ".txt"))]  # sequence, tables
    for suffix in (".fits.gz", ".txt", ".asdf"):
        of_kind = [e for e in tds_entries if e.key.endswith(suffix)]
        sample += of_kind[:: max(1, len(of_kind) // 3)][:3]
    assert len(sample) >= 12
    command = [sys.executable, "-c", _REWRITE, json.dumps([e.key for e in sample]), str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
    rewritten = dict(line.split() for line in result.stdout.splitlines())
    assert rewritten == {e.key: e.md5 for e in sample}
    assert all(hashlib.md5(sandbox.manifest.file(e).read_bytes()).hexdigest() == e.md5 for e in sample)


def test_cache_stays_within_budget(sandbox):
    tds_bytes = sum(e.size for e in sandbox.manifest.objects if e.key.startswith((OU_ROOT, ROMAN_PREFIX)))
    on_disk = sum(p.stat().st_size for p in Path(sandbox.manifest.root).rglob("*") if p.is_file())
    print(
        f"sandbox data: {sandbox.timings.get('data', 0):.1f} s to build or load; "
        f"{len(sandbox.manifest.objects)} objects, {on_disk / 1e6:.0f} MB on disk, "
        f"of which the Time Domain Survey field {tds_bytes / 1e6:.0f} MB"
    )
    assert 0 < tds_bytes <= 150e6
    assert on_disk <= 500e6
