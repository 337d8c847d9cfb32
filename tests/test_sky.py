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
import re

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
from roman_helpers.errors import InvalidParameterError, ObjectNotFoundError

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
        (lambda: _sky.parse_sky_position((10, 20)), "two bare numbers could be RA and Dec or pixels"),
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
        flux, flux_err = row["flux"].to_value(u.electron), row["flux_err"].to_value(u.electron)
        assert abs(flux - electrons(image)) < 0.1 * electrons(image) + 5 * flux_err, image.uri
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


# --------------------------------------------------------------------------- the sky or pixels, never a guess

#: Two bare numbers: RA and Dec, or pixels x and y? (Refused before any file is read, wherever they point.)
PAIR = (9.4508, -44.0905)
BOTH_FORMS = (
    "invalid position (9.4508, -44.0905). two bare numbers could be RA and Dec or pixels x, y: "
    'for RA and Dec in degrees write position="9.4508 -44.0905" (or a SkyCoord); '
)


def test_a_bare_pair_of_numbers_is_refused_everywhere_with_both_forms(index):
    from roman_helpers.batch import BatchResult, cutouts
    from roman_helpers.transfer import measure

    uri = str(footprints.find(index, every()["SkyCoord"], band=BAND)["uri"][0])
    takes_pixels = {
        "stream.cutout": lambda: stream.cutout(uri, position=PAIR, size=SIZE),
        "stream.cutouts": lambda: stream.cutouts(uri, position=PAIR, size=SIZE),
        "batch.cutouts": lambda: cutouts([uri], PAIR, SIZE, progress=False),
        "forced_photometry": lambda: photometry.forced_photometry(np.ones((41, 41)), PAIR, 3),
        "light_curve": lambda: photometry.light_curve(BatchResult(), PAIR),
    }
    sky_only = {
        "find": lambda: footprints.find(index, PAIR),
        "light_curve_from_index": lambda: photometry.light_curve_from_index(index, PAIR, progress=False),
    }
    for name, call in {**takes_pixels, **sky_only}.items():
        with measure() as transfer, pytest.raises(InvalidParameterError) as refused:
            call()
        pixels = (
            "for 0-based pixels write pixel=(9.4508, -44.0905)"
            if name in takes_pixels
            else "pixel positions have no meaning here: each file of an index has pixels of its own"
        )
        assert str(refused.value) == BOTH_FORMS + pixels, name
        assert transfer.requests == 0, name  # refused before any work


def test_pixel_positions_are_given_as_pixel(index, tmp_path, capsys):
    from roman_helpers.batch import cutouts

    uri = str(footprints.find(index, every()["SkyCoord"], band=BAND)["uri"][0])
    on_the_sky = stream.cutout(uri, position=every()["SkyCoord"], size=SIZE)
    (ymin, ymax), (xmin, xmax) = on_the_sky.bbox_original
    centre = ((xmin + xmax) / 2, (ymin + ymax) / 2)  # the pixel at the middle of the same region
    assert stream.cutout(uri, pixel=centre, size=SIZE).bbox_original == on_the_sky.bbox_original
    [done] = cutouts([uri], pixel=centre, size=SIZE, progress=False).ok
    assert done.cutout.bbox_original == on_the_sky.bbox_original
    out = tmp_path / "pixel.fits"
    assert (
        main(["cutout", uri, "--pixel", str(centre[0]), str(centre[1]), "--size", str(SIZE), "-o", str(out)])
        == 0
    )
    capsys.readouterr()
    header = fits.getheader(out, "SCI")
    assert ((header["YMIN"], header["YMAX"]), (header["XMIN"], header["XMAX"])) == on_the_sky.bbox_original
    for call, said in (
        (lambda: stream.cutout(uri, position=every()["decimal"], pixel=centre, size=SIZE), "not both"),
        (lambda: stream.cutout(uri, pixel="9.4508 -44.0905", size=SIZE), "a sky position goes in position="),
        (
            lambda: stream.cutout(uri, pixel=PAIR, size=SIZE),
            r"^invalid pixel \(9\.4508, -44\.0905\)\. x, y = \(9\.5, -44\.1\) is off this image of",
        ),
    ):
        with pytest.raises(InvalidParameterError, match=said):
            call()


def _nearest_footprint_degrees(index, target: SkyCoord) -> tuple[float, float]:
    """Bounds of the distance from ``target`` to the nearest footprint: centre less size, and centre."""
    files = index[index["error"] == ""]
    separation = target.separation(SkyCoord(files["ra_center"], files["dec_center"], unit="deg")).deg
    return float(np.min(separation - np.asarray(files["fov_radius"]))), float(np.min(separation))


def test_a_miss_far_from_every_footprint_suggests_a_swap_not_a_wider_radius(index, tds_index, capsys):
    ra, dec = target()
    swapped = f"{-dec:.5f} {ra:.5f}"  # RA and Dec in each other's place, and the Dec's sign lost
    with pytest.warns(UserWarning, match="a wider radius= would not help") as warned:
        found = footprints.find(index, swapped, band=BAND)
    assert str(warned[0].message) == found.meta["message"]
    holds = len(footprints.find(index, every()["decimal"], band=BAND))
    low, high = _nearest_footprint_degrees(index, SkyCoord(-dec, ra, unit="deg"))
    assert len(found) == 0 and holds == len(_holding()) and low > 60
    message = found.meta["message"]
    head, tail = message.split(" degrees away, ")
    assert head.startswith(
        f"no file in the index holds ra={-dec:.6f} dec={ra:.6f}; the nearest footprint is "
    )
    assert low - 0.05 <= float(head.rsplit(" ", 1)[1]) <= high + 0.05  # said to a tenth of a degree
    assert tail == (
        f"so a wider radius= would not help; ra={ra:.6f} dec={dec:.6f} (RA and Dec swapped, and the "
        f"Dec's sign) is in {holds} of its files: check the order (RA first) and the signs"
    )
    assert main(["find", str(tds_index.path), "--target", swapped, "--band", BAND]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err == message.replace("radius=", "--radius") + "\n"
    said = re.escape(f"ra={ra:.6f} dec={dec:.6f} (RA and Dec swapped")
    with pytest.raises(ObjectNotFoundError, match=said):
        photometry.light_curve_from_index(index, swapped, band=BAND, progress=False)


def test_a_miss_in_another_part_of_the_sky_says_so(index):
    with pytest.warns(UserWarning, match="a wider radius= would not help"):
        found = footprints.find(index, "150.1 2.2")
    files = index[index["error"] == ""]
    centres = SkyCoord(files["ra_center"], files["dec_center"], unit="deg")
    middle = SkyCoord(
        *(np.mean(getattr(centres.cartesian, axis)) for axis in "xyz"), representation_type="cartesian"
    )
    middle = SkyCoord(middle.spherical.lon, middle.spherical.lat)
    spread = float(np.max(middle.separation(centres).deg + np.asarray(files["fov_radius"])))
    assert 1 / 60 <= spread < 1  # the indexed images of one supernova: said in arcminutes
    assert found.meta["message"].endswith(
        f"degrees away, so a wider radius= would not help; the index covers another part of the sky "
        f"(its {len(files)} files lie within {spread * 60:.1f} arcmin of ra={middle.ra.deg:.4f} "
        f"dec={middle.dec.deg:.4f}); check the position, or use an index of that field"
    )
