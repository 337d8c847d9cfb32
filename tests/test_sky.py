"""The one parser (roman_helpers._sky), and every entry point reading a position through it.

One position, written as astronomers write it (sexagesimal with RA in hours, decimal degrees, with
units, a SkyCoord), is the same place in footprints.find, stream.cutout and
photometry.light_curve_from_index, and on the command line in find, cutout and lightcurve. The
place is a supernova of the sandbox's Time Domain Survey (tests/_tds_transient.py: the brightest
type Ia of its sky in the preview region); the index is the one ``roman-helpers index`` wrote of
the preview images around it (conftest.tds_index). Which images hold it, where, and when they were
taken come from the sandbox's survey tables and focal-plane model, not from the kit.
"""

from __future__ import annotations

import functools
import math

import astropy.units as u
import numpy as np
import pytest
from _tds_transient import BAND, electrons, indexed, transient
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time

from roman_helpers import _sky, footprints, photometry, stream
from roman_helpers.cli import main
from roman_helpers.errors import InvalidParameterError

SPELLINGS = ("SkyCoord", "decimal", "sexagesimal", "with units")
SIZE = 25
#: Days either side of the peak whose exposures the light curves measure (a few, not all: each
#: point of a .fits.gz light curve reads the whole science image and then the errors' rows).
HALF_WINDOW = 6.0


@functools.cache
def target() -> tuple[float, float]:
    """The supernova's position rounded to 1e-5 degrees, which each spelling below writes exactly."""
    sn = transient()
    return round(sn.ra, 5), round(sn.dec, 5)


@functools.cache
def typed() -> dict[str, str]:
    """The position as a user may type it (astropy writes the sexagesimal forms)."""
    where = SkyCoord(*target(), unit="deg")
    return {
        "sexagesimal": where.to_string("hmsdms", sep=":", precision=4),
        "decimal": "{:.5f} {:.5f}".format(*target()),
        "with units": where.to_string("hmsdms", precision=4),
    }


def every() -> dict:
    return {**typed(), "SkyCoord": SkyCoord(*target(), unit="deg")}


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_each_spelling_is_the_same_sky_position(spelling):
    parsed = _sky.parse_sky_position(every()[spelling])
    assert parsed.separation(SkyCoord(*target(), unit="deg")) < 1e-6 * u.arcsec


def test_a_plain_number_is_degrees_and_a_sexagesimal_ra_is_hours():
    assert _sky.parse_ra("150.1").deg == pytest.approx(150.1)
    assert _sky.parse_ra("10:00:24").deg == pytest.approx(150.1)
    assert _sky.parse_ra("150d06m").deg == pytest.approx(150.1)  # units say otherwise


@pytest.mark.parametrize(
    ("value", "mjd"),
    [
        (61000.5, 61000.5),
        ("61000.5", 61000.5),
        ("2025-11-30T12:00:00", 61009.5),
        (Time(61000.25, format="mjd"), 61000.25),
    ],
)
def test_times_are_mjd_iso_or_time(value, mjd):
    assert _sky.parse_time(value) == pytest.approx(mjd, abs=1e-9)


def test_bands_sizes_radii_and_apertures_are_checked():
    assert _sky.parse_bands("f158") == {"F158"} and _sky.parse_bands(None) is None
    assert _sky.parse_size("3arcsec,25") == (3 * u.arcsec, 25)
    assert _sky.parse_radius("0.5arcmin").arcsec == pytest.approx(30)
    for call, said in (
        (lambda: _sky.parse_radius(5), "an angle with its unit"),
        (lambda: _sky.parse_time("yesterday", "start"), "invalid start 'yesterday'"),
        (lambda: _sky.parse_time_range((61010, 61000)), "the start comes after the end"),
        (lambda: _sky.check_apertures(5, 4, 10), "need 0 < radius= <= r_in < r_out"),
        (lambda: _sky.parse_sky_position((10, 20)), "give a sky position"),
    ):
        with pytest.raises(InvalidParameterError, match=said):
            call()


# --------------------------------------------------------------------------- every entry point


@pytest.fixture
def index(tds_index, sandbox_env):
    assert tds_index.status == 0
    return footprints.load_index(tds_index.path)


def _holding() -> list:
    """The indexed images of BAND that hold the supernova, in time order (the sandbox's WCS says)."""
    return [image for image in indexed() if image.band == BAND and image.holds]


def test_find_in_python_and_on_the_command_line_finds_the_same_files(index, tds_index, capsys):
    expected = _holding()
    found = {name: footprints.find(index, where, band=BAND) for name, where in every().items()}
    files = list(found["SkyCoord"]["uri"])
    # every image of the band that holds it, none that does not (the other band's, the pointing's
    # other detectors), in time order
    assert files == [image.uri for image in expected] and len(files) >= 10
    # where it falls on each, as the sandbox's focal-plane model puts it (the target is rounded
    # to 1e-5 degrees: 0.16 pixel at most)
    np.testing.assert_allclose(found["SkyCoord"]["x"], [image.x for image in expected], atol=0.2)
    np.testing.assert_allclose(found["SkyCoord"]["y"], [image.y for image in expected], atol=0.2)
    for name, table in found.items():
        assert list(table["uri"]) == files, name
        query = table.meta["query"]
        assert (query["ra"], query["dec"]) == pytest.approx(target(), abs=1e-9), name
        # the same place to the last bits a decimal string and a sexagesimal one can tell apart
        np.testing.assert_allclose(table["x"], found["SkyCoord"]["x"], rtol=0, atol=1e-6)
    for name, text in typed().items():
        assert main(["find", str(tds_index.path), "--target", text, "--band", BAND, "--uris"]) == 0
        assert capsys.readouterr().out.split() == files, name


def test_a_cutout_in_python_and_on_the_command_line_is_the_same_region(index, tmp_path, capsys):
    found = footprints.find(index, every()["SkyCoord"], band=BAND)
    # the image where it lies nearest the first row: the cheapest to cut from a .fits.gz
    uri = str(found["uri"][int(np.argmin(found["y"]))])
    boxes = {
        name: stream.cutout(uri, position=where, size=SIZE).bbox_original for name, where in every().items()
    }
    (ymin, ymax), (xmin, xmax) = boxes["SkyCoord"]
    assert ymax - ymin + 1 == xmax - xmin + 1 == SIZE
    [image] = [image for image in _holding() if image.uri == uri]
    assert (ymin + ymax) / 2 == pytest.approx(image.y, abs=1) and (xmin + xmax) / 2 == pytest.approx(
        image.x, abs=1
    )
    assert all(box == boxes["SkyCoord"] for box in boxes.values()), boxes
    for name, text in typed().items():
        out = tmp_path / f"{name.replace(' ', '_')}.fits"
        assert (
            main(["cutout", uri, "--target", text, "--size", str(SIZE), "--ext", "SCI", "-o", str(out)]) == 0
        )
        capsys.readouterr()
        header = fits.getheader(out, "SCI")
        assert ((header["YMIN"], header["YMAX"]), (header["XMIN"], header["XMAX"])) == boxes["SkyCoord"], name


def test_the_light_curve_in_python_equals_the_command_lines_row_for_row(index, tds_index, tmp_path, capsys):
    peak = transient().peak_mjd
    start, end = peak - HALF_WINDOW, peak + HALF_WINDOW
    measured = [image for image in _holding() if image.start < end and image.end > start]
    curves = {
        name: photometry.light_curve_from_index(index, where, band=BAND, time=(start, end), progress=False)
        for name, where in every().items()
    }
    reference = curves["SkyCoord"]
    assert len(reference) == len(measured) >= 3 and np.all(np.isfinite(reference["flux"]))
    assert list(reference["time"].mjd) == pytest.approx([(i.start + i.end) / 2 for i in measured], abs=1e-9)
    # the supernova's electrons, as the sky's model gives them (images in electrons): within 10%, what
    # a 3-pixel aperture loses of the PSF and gains of the host galaxy under it
    for row, image in zip(reference, measured, strict=True):
        assert abs(row["flux"] - electrons(image)) < 0.1 * electrons(image) + 5 * row["flux_err"], image.uri
    assert (reference.meta["target_ra_deg"], reference.meta["target_dec_deg"]) == pytest.approx(target())
    for name, curve in curves.items():  # one place: the spellings differ in the last bits of a float
        _assert_same_rows(curve, reference, name, tolerance=1e-6)
    window = ["--start", repr(start), "--end", repr(end)]
    for name, text in typed().items():  # the command line's curve is Python's, to the last bit
        path = tmp_path / f"{name.replace(' ', '_')}.ecsv"
        command = [
            "lightcurve",
            str(tds_index.path),
            "--target",
            text,
            "--band",
            BAND,
            *window,
            "-o",
            str(path),
        ]
        assert main(command) == 0
        assert f"wrote {path}: {len(reference)} points" in capsys.readouterr().out
        _assert_same_rows(Table.read(path, format="ascii.ecsv"), curves[name], name, tolerance=0)


def _assert_same_rows(curve, reference, name, tolerance):
    """The same rows, column by column: numbers within ``tolerance`` (relative, and absolute near 0)."""
    assert len(curve) == len(reference) and curve.colnames == reference.colnames, name
    np.testing.assert_allclose(curve["time"].mjd, reference["time"].mjd, rtol=0, atol=1e-9, err_msg=name)
    for column in reference.colnames[1:]:
        if reference[column].dtype.kind == "f":
            ours, theirs = np.asarray(curve[column]), np.asarray(reference[column])
            np.testing.assert_allclose(
                ours, theirs, rtol=tolerance, atol=tolerance, equal_nan=True, err_msg=f"{name} {column}"
            )
        else:
            assert [str(v) for v in curve[column]] == [str(v) for v in reference[column]], (name, column)
    assert math.isclose(curve.meta["target_ra_deg"], reference.meta["target_ra_deg"], rel_tol=1e-12), name
