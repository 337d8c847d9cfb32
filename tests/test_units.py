"""Physical units end to end: what a file says about its pixels reaches cut-outs, FITS and light curves.

Against the sandbox: an OpenUniverse TDS image (``.fits.gz``, electrons, ``ZPTMAG``) and the Roman
tutorial's calibrated exposures (ASDF, DN/s, ``meta.photometry``). Expectations come from the
file's own headers or tree read on their own (``stream.read_header``, ``stream.read_metadata``),
from astropy's AB magnitude, from the sandbox's band table, and from the per-image truth list the
archive serves beside each image: never from the kit's provenance code.
"""

from __future__ import annotations

import math

import _tds_transient as tds_transient
import astropy.units as u
import numpy as np
import pytest
import s3fs
from astropy.coordinates import SkyCoord
from astropy.table import Table

from roman_helpers import batch, stream
from roman_helpers.cli import main
from roman_helpers.footprints import build_index, find, save_index
from roman_helpers.photometry import light_curve, plot_light_curve
from roman_helpers.sandbox.archive.layouts.openuniverse._images import truth_key
from roman_helpers.sandbox.sky.bands import band as sandbox_band
from roman_helpers.transfer import measure

TUTORIAL = "s3://stpubdata/roman/nexus/soc_simulations/tutorial_data/roman-2026.2/"
TUTORIAL_TARGET = SkyCoord("270.7956 -0.2870", unit="deg")
#: Aperture and annulus (pixels) that hold a bright star's light but for ~0.2 % (Moffat wings).
RADIUS, ANNULUS = 8.0, (15.0, 25.0)


def _truth(image: tds_transient.Image) -> Table:
    """The per-image truth list the archive serves beside the image (x, y 1-based; flux in electrons)."""
    key = truth_key("RomanTDS", tds_transient.RELEASE, image.band, image.pointing, image.sca)
    text = s3fs.S3FileSystem(anon=True).cat(f"{tds_transient.BUCKET}/{key}").decode()
    lines = text.splitlines()
    names = lines[0].lstrip("#").split()
    return Table(rows=[line.split() for line in lines[1:]], names=names, dtype=[str] * len(names))


def _bright_isolated_star(truth: Table) -> dict:
    """A star brighter than 22 mag with no object giving 0.5 % of its flux within 30 pixels, well inside."""
    x, y = np.asarray(truth["x"], float) - 1, np.asarray(truth["y"], float) - 1
    flux, mag = np.asarray(truth["flux"], float), np.asarray(truth["mag"], float)
    chosen = []
    for i in np.flatnonzero((np.asarray(truth["obj_type"]) == "star") & (mag < 22)):
        near = np.hypot(x - x[i], y - y[i]) < 30
        near[i] = False
        if not (flux[near] > 0.005 * flux[i]).any() and 40 < x[i] < 4048 and 40 < y[i] < 4048:
            chosen.append(i)
    assert chosen, "no bright isolated star on the image: pick another image"
    i = min(chosen, key=lambda j: y[j])  # the fewest rows of the compressed stream to read
    return {"ra": float(truth["ra"][i]), "dec": float(truth["dec"][i]), "flux": flux[i], "mag": mag[i]}


@pytest.fixture(scope="module")
def openuniverse_image() -> tds_transient.Image:
    return tds_transient.indexed()[0]


def test_fits_cutout_carries_what_the_openuniverse_header_says(sandbox_env, openuniverse_image):
    uri = openuniverse_image.uri
    header = stream.read_header(uri, "SCI")  # read on its own
    cuts = stream.cutouts(uri, pixel=(500.0, 300.0), size=21)
    with measure() as stats:  # what the file says is already in hand: no request to write it
        hdul = stream.to_hdulist(cuts)
    assert stats.requests == 0
    primary, sci, err, dq = hdul[0].header, hdul["SCI"].header, hdul["ERR"].header, hdul["DQ"].header
    assert primary["SRCURI"] == uri
    for key in ("FILTER", "TELESCOP", "INSTRUME", "EXPTIME", "MJD-OBS"):
        assert primary[key] == header[key]
    assert primary["DETECTOR"] == f"WFI{header['SCA_NUM']:02d}"
    assert primary["MJD-AVG"] == pytest.approx(header["MJD-OBS"] + header["EXPTIME"] / 2 / 86400, abs=1e-9)
    assert sci["BUNIT"] == err["BUNIT"] == header["BUNIT"] == "electron"
    assert "BUNIT" not in dq and "ZPTAB" not in dq
    # the AB zero point of the image: Roman's for 1 e-/s in the band, and the exposure's length
    expected = sandbox_band(header["FILTER"]).zeropoint + 2.5 * math.log10(header["EXPTIME"])
    assert sci["ZPTAB"] == pytest.approx(expected, abs=0.002)


def test_openuniverse_light_curve_is_in_electrons_and_ab_magnitudes_match_the_truth(
    sandbox_env, openuniverse_image
):
    star = _bright_isolated_star(_truth(openuniverse_image))
    position = SkyCoord(star["ra"], star["dec"], unit="deg")
    result = batch.cutouts([openuniverse_image.uri], position, 2 * int(ANNULUS[1]) + 3, progress=False)
    assert not result.failed
    assert result.ok[0].value.unit == u.electron  # each cut-out knows its unit
    with measure() as stats:
        curve = light_curve(result, position, radius=RADIUS, annulus=ANNULUS)  # times from the headers
    assert stats.requests == 0 and len(curve) == 1
    assert curve["flux"].unit == curve["flux_err"].unit == curve["background"].unit == u.electron
    header = stream.read_header(openuniverse_image.uri, "SCI")
    assert float(curve["time"][0].mjd) == pytest.approx(header["MJD-OBS"] + header["EXPTIME"] / 2 / 86400)
    flux, flux_err = float(curve["flux"][0].value), float(curve["flux_err"][0].value)
    # the flux against the truth list's: within 3 sigma and the ~0.2 % the aperture misses
    assert abs(flux - star["flux"]) < 3 * flux_err + 0.006 * star["flux"]
    # the magnitude by hand: ZPTMAG is 2.5 log10(exposure x area); GalSim's collecting area of Roman
    by_hand = -2.5 * math.log10(flux) + header["ZPTMAG"] + sandbox_band(header["FILTER"]).zeropoint
    by_hand -= 2.5 * math.log10(3.757e4)
    assert curve["mag"].unit == u.mag and float(curve["mag"][0].value) == pytest.approx(by_hand, abs=1e-6)
    assert float(curve["mag_err"][0].value) == pytest.approx(2.5 / math.log(10) * flux_err / flux, rel=1e-6)
    assert abs(float(curve["mag"][0].value) - star["mag"]) < 0.01 + 3 * float(curve["mag_err"][0].value)
    assert curve.meta["method"] == "aperture" and curve.meta["unit"] == "electron"
    assert curve.meta["aperture_radius"] == RADIUS and curve.meta["annulus"] == list(ANNULUS)
    assert curve.meta["bands"] == [header["FILTER"]] and "ZPTMAG" in curve.meta["zeropoint_source"]
    target_ra, target_dec = (float(value) for value in curve.meta["target"].split())
    assert SkyCoord(target_ra, target_dec, unit="deg").separation(position).arcsec < 1e-3


@pytest.fixture(scope="module")
def tutorial_index(sandbox) -> Table:
    """The index of the tutorial's calibrated exposures (not its mosaic, in MJy/sr)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in sandbox.env.items():
            patch.setenv(name, value)
        index = build_index(TUTORIAL, progress=False)
    return index[[uri.endswith("_cal.asdf") for uri in index["uri"]]]


@pytest.fixture(scope="module")
def tutorial_exposures(tutorial_index) -> Table:
    return find(tutorial_index, TUTORIAL_TARGET, band="F106")


def test_roman_light_curve_is_in_dn_per_second_with_ab_magnitudes_from_the_photometric_metadata(
    sandbox_env, tutorial_exposures, tmp_path
):
    assert len(tutorial_exposures) == 4
    result = batch.cutouts(tutorial_exposures, TUTORIAL_TARGET, 31, progress=False)
    curve = light_curve(result, TUTORIAL_TARGET)
    assert curve["flux"].unit == u.DN / u.s and "unit" not in curve.colnames
    meta = stream.read_metadata(str(curve["file"][0]))  # the tree, read on its own
    photometry = meta["photometry"]
    one_dn_per_second = photometry["conversion_megajanskys"] * photometry["pixel_area"] * u.MJy
    zeropoint = one_dn_per_second.to(u.ABmag).value  # astropy's AB magnitude of 1 DN/s
    flux, positive = curve["flux"].value, curve["flux"].value > 0
    assert positive.any() and not positive.all()  # this target fades into the noise: both cases
    mag = curve["mag"].value
    np.testing.assert_allclose(mag[positive], zeropoint - 2.5 * np.log10(flux[positive]), atol=1e-9)
    assert np.isnan(mag[~positive]).all() and np.isnan(curve["mag_err"].value[~positive]).all()
    assert curve.meta["bands"] == ["F106"] and curve.meta["unit"] == "DN / s"
    # the ECSV keeps the units; the plot says them
    path = tmp_path / "curve.ecsv"
    curve.write(path, format="ascii.ecsv")
    back = Table.read(path, format="ascii.ecsv")
    assert back["flux"].unit == u.DN / u.s and back["mag"].unit == u.mag
    assert back.meta["zeropoint_source"] == curve.meta["zeropoint_source"]
    assert plot_light_curve(curve).get_ylabel() == "flux (DN / s)"
    ax = plot_light_curve(curve, mag=True)
    assert ax.get_ylabel() == "AB magnitude" and ax.yaxis_inverted()


def test_asdf_cutout_as_fits_says_unit_zero_point_and_exposure(sandbox_env, tutorial_exposures):
    uri = str(tutorial_exposures["uri"][0])
    meta = stream.read_metadata(uri)
    hdul = stream.to_hdulist(stream.cutouts(uri, box=(100, 100, 120, 110)))
    primary, sci = hdul[0].header, hdul["SCI"].header
    assert primary["SRCURI"] == uri and primary["FILTER"] == meta["instrument"]["optical_element"]
    assert primary["DETECTOR"] == meta["instrument"]["detector"]
    assert primary["EXPTIME"] == pytest.approx(meta["exposure"]["exposure_time"])
    assert primary["MJD-OBS"] == pytest.approx(meta["exposure"]["start_time"].mjd, abs=1e-8)
    assert primary["MJD-AVG"] == pytest.approx(
        (meta["exposure"]["start_time"].mjd + meta["exposure"]["end_time"].mjd) / 2, abs=1e-8
    )
    assert u.Unit(sci["BUNIT"]) == u.DN / u.s and u.Unit(hdul["ERR"].header["BUNIT"]) == u.DN / u.s
    assert sci["PIXAR_SR"] == pytest.approx(meta["photometry"]["pixel_area"])


def test_cli_lightcurve_writes_units_and_plots_magnitudes(sandbox_env, tutorial_index, tmp_path, capsys):
    index_path, curve_path, plot_path = tmp_path / "index.ecsv", tmp_path / "c.ecsv", tmp_path / "c.png"
    save_index(tutorial_index, index_path)
    target = ["--target", "270.7956 -0.2870", "--band", "F106"]
    command = [
        "lightcurve",
        str(index_path),
        *target,
        "-o",
        str(curve_path),
        "--plot",
        str(plot_path),
        "--mag",
    ]
    assert main(command) == 0
    assert f"wrote {plot_path}" in capsys.readouterr().out
    curve = Table.read(curve_path, format="ascii.ecsv")
    assert len(curve) == 4 and curve["flux"].unit == u.DN / u.s and curve["mag"].unit == u.mag
    assert curve.meta["method"] == "aperture" and curve.meta["unit"] == "DN / s"
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_hst_cutout_takes_its_unit_and_instrument_from_the_extension_and_the_primary_header(sandbox_env):
    uri = "s3://stpubdata/hst/public/ib1f/ib1f0v010/ib1f0v010_drz.fits"
    primary, science = stream.read_header(uri, 0), stream.read_header(uri, "SCI")
    hdul = stream.to_hdulist(stream.cutouts(uri, box=(500, 500, 520, 510)))
    assert science["BUNIT"] == "ELECTRONS/S" and u.Unit(hdul["SCI"].header["BUNIT"]) == u.electron / u.s
    for key in ("TELESCOP", "INSTRUME", "FILTER"):  # in HST's primary header, not the extension's
        assert key not in science and hdul[0].header[key] == primary[key], key
    assert hdul[0].header["MJD-OBS"] == primary["EXPSTART"]


def test_openuniverse_asdf_conversion_magnitudes_match_its_own_star_catalog(sandbox_env):
    """The Nexus's ASDF conversion of an OpenUniverse WAS image: ZPTMAG is its AB zero point, and a
    bright isolated star of the catalog the file carries is measured at its catalog magnitude."""
    from roman_helpers.sandbox.sky.surveys import was

    table = was.images("preview")
    row = table[(table["pointing"] == table["pointing"][0]) & (table["sca"] == 3)][0]
    pointing, name = int(row["pointing"]), str(row["filter"])
    uri = (
        "s3://roman-sci-test-data-prod-summer-beta-test/OPEN_UNIVERSE/WAS/simple_model/"
        f"{name}/{pointing}/roman_was_{name}_{pointing}_wfi03_simple.asdf"
    )
    with stream.open_asdf(uri) as opened:
        catalogs, wcs = opened["roman"]["catalogs"], opened["roman"]["wcs"]
        stars = {column: np.asarray(catalogs["stars"][column]) for column in ("ra", "dec", "mag")}
        galaxies = {column: np.asarray(catalogs["galaxies"][column]) for column in ("ra", "dec", "mag")}
    x, y = wcs.world_to_pixel_values(stars["ra"], stars["dec"])
    gx, gy = wcs.world_to_pixel_values(galaxies["ra"], galaxies["dec"])

    def isolated(i: int) -> bool:  # nothing within 30 pixels gives 0.5 % of its light, well inside
        others = np.hypot(x - x[i], y - y[i]) < 30
        others[i] = False
        near = np.concatenate([stars["mag"][others], galaxies["mag"][np.hypot(gx - x[i], gy - y[i]) < 30]])
        return 40 < x[i] < 4048 and 40 < y[i] < 4048 and not (near < stars["mag"][i] + 5.75).any()

    star = next(i for i in np.argsort(stars["mag"]) if isolated(i))
    position = SkyCoord(stars["ra"][star], stars["dec"][star], unit="deg")
    result = batch.cutouts([uri], position, 2 * int(ANNULUS[1]) + 3, progress=False)
    curve = light_curve(result, position, radius=RADIUS, annulus=ANNULUS)
    assert curve["flux"].unit == u.electron and curve.meta["zeropoint_source"] == "ZPTMAG"
    mag, mag_err = float(curve["mag"][0].value), float(curve["mag_err"][0].value)
    assert abs(mag - float(stars["mag"][star])) < 0.01 + 3 * mag_err


def test_plotting_magnitudes_of_a_curve_without_a_zero_point_says_so():
    from roman_helpers.errors import InvalidParameterError

    curve = Table({"time": [60000.0, 60001.0], "flux": [1.0, 2.0], "flux_err": [0.1, 0.1]})
    assert plot_light_curve(curve).get_ylabel() == "flux"  # no unit known, none claimed
    with pytest.raises(InvalidParameterError, match="no zero point"):
        plot_light_curve(curve, mag=True)
