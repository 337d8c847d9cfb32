"""Forced photometry on synthetic stars of known flux, and light curves built from cut-outs.

The images are made here: a Gaussian star integrated over each pixel (so the pixel sum is
the flux), on a flat background, with Gaussian noise of a known sigma and an ERR array that
says so. Expectations come from that construction and from geometry, not from photutils.
"""

from __future__ import annotations

import math

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.nddata import Cutout2D
from astropy.table import Table
from astropy.wcs import WCS
from scipy.special import erf

from roman_helpers.batch import BatchResult, ImageCutout, Success
from roman_helpers.errors import InvalidParameterError
from roman_helpers.photometry import forced_photometry, light_curve, plot_light_curve

SHAPE = (61, 61)
PSF_SIGMA = 1.5
BACKGROUND = 100.0
NOISE = 5.0
TARGET = SkyCoord(150.1 * u.deg, 2.2 * u.deg)
SCALE = 0.11  # arcsec per pixel


def star(flux: float, x0: float, y0: float, shape=SHAPE, sigma=PSF_SIGMA) -> np.ndarray:
    """A Gaussian star integrated over each pixel: the image sums to ``flux`` (minus what falls off)."""

    def profile(n: int, centre: float) -> np.ndarray:
        edges = (np.arange(n + 1) - 0.5 - centre) / (sigma * math.sqrt(2))
        return np.diff(0.5 * (1 + erf(edges)))

    return flux * np.outer(profile(shape[0], y0), profile(shape[1], x0))


def noisy_image(flux: float, x0: float, y0: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = BACKGROUND + star(flux, x0, y0) + rng.normal(0, NOISE, SHAPE)
    return image, np.full(SHAPE, NOISE)


def wcs_with_target_at(x0: float, y0: float) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [TARGET.ra.deg, TARGET.dec.deg]
    wcs.wcs.crpix = [x0 + 1, y0 + 1]  # FITS pixels count from 1
    wcs.wcs.cdelt = [-SCALE / 3600, SCALE / 3600]
    return wcs


@pytest.mark.parametrize("seed", range(5))
def test_flux_recovered_within_three_sigma(seed):
    image, err = noisy_image(5000.0, 30.3, 29.6, seed)
    result = forced_photometry(image, pixel=(30.3, 29.6), radius=6, annulus=(10, 20), error=err)
    assert abs(result.flux - 5000.0) < 3 * result.flux_err
    ring_pixels = math.pi * (20**2 - 10**2)
    assert abs(result.background - BACKGROUND) < 3 * 1.25 * NOISE / math.sqrt(ring_pixels)
    assert result.coverage == 1.0
    # the error is dominated by the ERR array over the aperture: 5 * sqrt(pi 6^2)
    assert 5 * math.sqrt(math.pi * 36) <= result.flux_err < 1.1 * 5 * math.sqrt(math.pi * 36)


def test_error_array_is_propagated():
    image = BACKGROUND + star(5000.0, 30.3, 29.6)  # no noise: the annulus has no scatter
    radius = 6.0
    for sigma in (5.0, 10.0):
        result = forced_photometry(
            image, pixel=(30.3, 29.6), radius=radius, annulus=(10, 20), error=np.full(SHAPE, sigma)
        )
        # exact overlaps of a circle inside the image sum to its area: sqrt(sum w sigma^2)
        assert result.flux_err == pytest.approx(sigma * math.sqrt(math.pi * radius**2), rel=1e-6)
        assert result.flux == pytest.approx(
            5000.0 * (1 - math.exp(-(radius**2) / (2 * PSF_SIGMA**2))), rel=2e-3
        )
    # an error array that is large inside the aperture only makes the error large
    err = np.full(SHAPE, 5.0)
    err[28:32, 28:32] = 500.0
    assert (
        forced_photometry(image, pixel=(30.3, 29.6), radius=radius, annulus=(10, 20), error=err).flux_err
        > 500 * 4
    )
    # without an error array the noise comes from the annulus: none here
    assert forced_photometry(
        image, pixel=(30.3, 29.6), radius=radius, annulus=(10, 20)
    ).flux_err == pytest.approx(0, abs=1e-6)


def test_noise_from_annulus_without_error_array():
    image, _ = noisy_image(5000.0, 30.3, 29.6, seed=11)
    result = forced_photometry(image, pixel=(30.3, 29.6), radius=6, annulus=(10, 20))
    expected = NOISE * math.sqrt(math.pi * 36)
    assert 0.8 * expected < result.flux_err < 1.2 * expected
    assert abs(result.flux - 5000.0) < 3 * result.flux_err


def test_star_near_the_edge():
    x0, y0, radius = 2.0, 30.0, 5.0
    image = BACKGROUND + star(5000.0, x0, y0)
    result = forced_photometry(
        image, pixel=(x0, y0), radius=radius, annulus=(8, 14), error=np.full(SHAPE, NOISE)
    )
    # the image edge is the line x = -0.5: the circle loses a segment at distance 2.5 from its centre
    d = x0 + 0.5
    segment = radius**2 * math.acos(d / radius) - d * math.sqrt(radius**2 - d**2)
    assert result.coverage == pytest.approx(1 - segment / (math.pi * radius**2), rel=1e-6)
    assert result.background == pytest.approx(BACKGROUND, rel=1e-9)
    # the flux is what is on the image: the star's share inside x > -0.5, within the radius
    assert 0.8 * 5000 < result.flux < 0.5 * (1 + erf(d / (PSF_SIGMA * math.sqrt(2)))) * 5000
    assert result.flux_err == pytest.approx(
        NOISE * math.sqrt(result.coverage * math.pi * radius**2), rel=1e-6
    )
    # a NaN pixel in the aperture is left out, and the coverage says so
    image[30, 3] = np.nan
    assert forced_photometry(image, pixel=(x0, y0), radius=radius, annulus=(8, 14)).coverage < result.coverage
    with pytest.raises(InvalidParameterError, match="does not touch"):
        forced_photometry(image, pixel=(-20.0, 30.0), radius=radius, annulus=(8, 14))


def test_sky_position_and_angular_radii_on_a_cutout():
    x0, y0 = 30.3, 29.6
    image, err = noisy_image(5000.0, x0, y0, seed=3)
    wcs = wcs_with_target_at(x0, y0)
    cut = Cutout2D(image, TARGET, 31, wcs=wcs)
    err_cut = Cutout2D(err, TARGET, 31, wcs=wcs)
    by_sky = forced_photometry(
        cut, TARGET, 6 * SCALE * u.arcsec, (10 * SCALE * u.arcsec, 14 * SCALE * u.arcsec), error=err_cut
    )
    by_pixel = forced_photometry(image, pixel=(x0, y0), radius=6, annulus=(10, 14), error=err)
    assert by_sky.flux == pytest.approx(by_pixel.flux, rel=1e-6)
    assert by_sky.flux_err == pytest.approx(by_pixel.flux_err, rel=1e-6)
    assert cut.to_original_position((by_sky.x, by_sky.y)) == pytest.approx((x0, y0), abs=1e-6)
    with pytest.raises(InvalidParameterError, match="no WCS"):
        forced_photometry(image, TARGET, 6, (10, 14))
    with pytest.raises(InvalidParameterError, match="r_in"):
        forced_photometry(image, pixel=(x0, y0), radius=6, annulus=(4, 14))


EPOCHS = [  # band, t_start, t_end, flux, star pixel position in the whole image
    ("F158", 60010.0, 60010.002, 3000.0, (30.2, 31.7)),
    ("F087", 60000.0, 60000.004, 1000.0, (22.6, 40.1)),
    ("F158", 60020.0, 60020.002, 6000.0, (35.9, 25.3)),
    ("F087", 60030.0, 60030.004, 2500.0, (28.4, 28.8)),
    ("F184", 60005.0, 60005.002, 4000.0, (40.0, 20.5)),
]


def batch_of_epochs() -> BatchResult:
    ok = []
    for index, (band, t_start, t_end, flux, (x0, y0)) in enumerate(EPOCHS):
        image, err = noisy_image(flux, x0, y0, seed=100 + index)
        wcs = wcs_with_target_at(x0, y0)
        value = ImageCutout(Cutout2D(image, TARGET, 31, wcs=wcs), Cutout2D(err, TARGET, 31, wcs=wcs))
        meta = {"band": band, "t_start": t_start, "t_end": t_end, "detector": f"WFI{index + 1:02d}"}
        ok.append(Success(f"s3://stpubdata/tds/epoch{index}.fits", value, 1, meta, index))
    return BatchResult(ok=ok)


def test_light_curve_times_bands_and_fluxes():
    curve = light_curve(
        batch_of_epochs(),
        TARGET,
        radius=6 * SCALE * u.arcsec,
        annulus=(10 * SCALE * u.arcsec, 14 * SCALE * u.arcsec),
    )
    expected = sorted(EPOCHS, key=lambda epoch: epoch[1])
    assert len(curve) == len(EPOCHS)
    assert list(curve["time"].mjd) == pytest.approx([(e[1] + e[2]) / 2 for e in expected], abs=1e-9)
    assert list(curve["band"]) == [e[0] for e in expected]
    assert list(curve["file"]) == [f"s3://stpubdata/tds/epoch{EPOCHS.index(e)}.fits" for e in expected]
    assert list(curve["detector"]) == [f"WFI{EPOCHS.index(e) + 1:02d}" for e in expected]
    for row, epoch in zip(curve, expected, strict=True):
        assert abs(row["flux"] - epoch[3]) < 3 * row["flux_err"]
        assert (row["x"], row["y"]) == pytest.approx(epoch[4], abs=1e-6)
        assert row["coverage"] == 1.0


def test_light_curve_keeps_an_epoch_without_valid_pixels_flagged():
    result = batch_of_epochs()
    result.ok[0].value.data.data[:] = np.nan  # e.g. a cut-out falling in a detector gap
    curve = light_curve(result, TARGET, radius=6, annulus=(10, 14))
    flagged = curve[curve["file"] == result.ok[0].uri]
    assert len(curve) == len(EPOCHS) and len(flagged) == 1
    assert np.isnan(flagged["flux"][0]) and flagged["coverage"][0] == 0.0
    assert np.isfinite(curve["flux"][curve["coverage"] == 1]).sum() == len(EPOCHS) - 1


def test_light_curve_needs_times():
    result = batch_of_epochs()
    del result.ok[2].meta["t_end"]
    with pytest.raises(InvalidParameterError, match="t_start and t_end"):
        light_curve(result, TARGET)


def test_an_exposure_without_an_end_is_an_instant_at_its_start():
    """An index row of a file without EXPTIME has t_end NaN: its time is its start, not NaN."""
    result = batch_of_epochs()
    result.ok[1].meta["t_end"] = float("nan")
    curve = light_curve(result, TARGET, radius=6, annulus=(10, 14))
    times = dict(zip(curve["file"], curve["time"].mjd, strict=True))
    assert times[result.ok[1].uri] == EPOCHS[1][1]
    assert np.all(np.isfinite(curve["time"].mjd))


def test_plot_light_curve_one_colour_per_band_with_truth():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = light_curve(batch_of_epochs(), TARGET, radius=6, annulus=(10, 14))
    truth = Table(
        {
            "time": [60000.0, 60015.0, 60030.0] * 2,
            "flux": [1000.0, 4000.0, 2500.0] * 2,
            "band": ["F087"] * 3 + ["F158"] * 3,
        }
    )
    ax = plot_light_curve(curve, truth=truth)
    try:
        bars = {container.get_label(): container for container in ax.containers}
        assert sorted(bars) == ["F087", "F158", "F184"]
        assert sorted(len(bar.lines[0].get_xdata()) for bar in bars.values()) == [1, 2, 2]
        colours = {label: matplotlib.colors.to_hex(bar.lines[0].get_color()) for label, bar in bars.items()}
        assert len(set(colours.values())) == 3
        lines = {line.get_label(): line for line in ax.get_lines() if line.get_label().endswith("truth")}
        assert sorted(lines) == ["F087 truth", "F158 truth"]
        assert matplotlib.colors.to_hex(lines["F158 truth"].get_color()) == colours["F158"]
    finally:
        plt.close(ax.figure)
