"""PSF-fit forced photometry with an empirical PSF from the cut-outs' own stars (private).

``light_curve(method="psf")`` and ``catalog_photometry.light_curves(method="psf")``: photutils
does the work (an ePSF after Anderson & King 2000):

1. the **stars**: in every cut-out given, the peaks well above the noise
   (:func:`photutils.detection.find_peaks` on the stamp minus its sigma-clipped median) that have
   no other peak within a star's box, each star once (the stamps of several targets on one file
   may overlap), cut out with :func:`photutils.psf.extract_stars`. A light curve has its own
   stamps; a catalog's light curves share the stamps of all their targets, so the PSF of a
   field is built from its bright stars (those much fainter, whose noise would only add to the
   stack, are left out: :data:`FAINTEST`);
2. the **ePSF**, one per band (:class:`photutils.psf.EPSFBuilder`; its centring of the stars by
   fitting the ePSF, its other defaults). Roman's PSF is about a pixel wide (undersampled): how
   much of a star's light falls in its brightest pixel depends on where in that pixel the star
   sits, and a PSF sampled at the detector's pixels cannot follow that. Built on a grid three
   times finer (:data:`OVERSAMPLING`, with photutils' quartic smoothing kernel) from many stars
   falling at many places within their pixels, it can. A grid nine times denser needs nine times
   the stars' signal to be as well determined: with less than :data:`OVERSAMPLED_SIGNAL` (the
   sum over the stars of their peak's signal-to-noise ratio squared) the ePSF is built at the
   detector's pixels, unsmoothed (photutils' kernels are meant for oversampled ePSFs: on a grid
   of detector pixels the quartic one widens the model so that fitted fluxes fall 35 % short);
3. the **fit**: at the target's position, held fixed (forced), only the flux is fitted by
   :class:`photutils.psf.PSFPhotometry`, weighted by the error array, over a box of
   ``2 * ceil(radius) + 1`` pixels, after the local background of
   :func:`roman_helpers.photometry.forced_photometry`'s annulus is taken away: the position,
   background and coverage are the aperture's (one implementation).

The ePSF is normalised over its box (``2 * ceil(2 * radius) + 1`` pixels a side), so a PSF flux
counts the light in that box: nearer the total than an aperture of ``radius``, whose flux misses
the PSF's wings. Where the noise is the sky's (faint stars), weighting the bright core more than
the noisy wings gives a smaller scatter than an aperture; where it is the star's own photon noise
(bright stars), no weighting beats the plain sum of an aperture, and a good PSF matches it. A
point source on a galaxy is better measured by difference imaging.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._threadsafe import quiet
from .errors import InvalidParameterError, MissingExtraError

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from .batch import Success

#: A star is a peak this many times the stamp's clipped standard deviation above its median.
STAR_THRESHOLD = 10.0
#: Fewest stars an ePSF is built from.
MIN_STARS = 3
#: Build iterations (photutils' default).
EPSF_ITERATIONS = 10
#: How much finer than the detector's pixels the ePSF's grid is, when its stars allow.
OVERSAMPLING = 3
#: The stars' signal an oversampled ePSF needs: the sum of their peak pixel's (signal / noise)^2.
#: As much as nine stars whose peaks stand 100 sigma above the noise: on average one such star
#: for each of the nine places within a pixel that a 3x finer grid tells apart.
OVERSAMPLED_SIGNAL = OVERSAMPLING**2 * 100.0**2
#: The faintest star the ePSF takes: its peak's signal-to-noise ratio relative to the bright stars'.
FAINTEST = 0.25
#: Most stars an ePSF is built from (the brightest): some thirty for each place within a pixel
#: that the finer grid tells apart; a field's thousands would cost minutes and add nothing.
MOST_STARS = 300

Where = Callable[["Success"], dict[str, Any]]
#: The aperture photometry of :mod:`roman_helpers.photometry` (handed in, so that this module does
#: not import it back): ``(image, error, position= or pixel=) -> ForcedFlux``.
Aperture = Callable[..., Any]


def _photutils_psf() -> Any:
    try:
        from photutils import psf
    except ImportError as error:
        raise MissingExtraError("PSF photometry", ["survey"], error.name) from error
    return psf


def star_size(radius: float) -> int:
    """Side (pixels, odd) of a star's box for the ePSF: twice the aperture's diameter, and one."""
    return 2 * math.ceil(2 * radius) + 1


def fit_size(radius: float) -> int:
    """Side (pixels, odd) of the box the flux is fitted over: the aperture's diameter, and one."""
    return 2 * math.ceil(radius) + 1


def band_of(item: Success) -> str:
    """The band of an item's file, as its row gives it ('' when it does not)."""
    return str(item.meta.get("band", "") or "")


def _isolated_peaks(data: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) of peaks well above the noise with no other peak within ``size`` pixels."""
    from astropy.stats import sigma_clipped_stats
    from photutils.detection import find_peaks

    _, _, std = sigma_clipped_stats(data)
    if not std > 0:
        return np.array([]), np.array([])
    with quiet():  # "no peaks found" is a warning of photutils; an empty list says it here
        peaks = find_peaks(data, threshold=STAR_THRESHOLD * std, box_size=5, border_width=size // 2)
    if peaks is None:
        return np.array([]), np.array([])
    x, y = np.asarray(peaks["x_peak"], dtype=float), np.asarray(peaks["y_peak"], dtype=float)
    apart = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :]) + np.eye(len(x)) * size
    alone = np.all(apart >= size, axis=1)
    return x[alone], y[alone]


def _stars(items: Sequence[Success], size: int) -> tuple[Any, float]:
    """The isolated stars of the items' cut-outs that make the ePSF, and their signal.

    Each star is taken once (stamps of several targets on one file may overlap). The ePSF stacks
    the stars' residuals, each normalised to its star's flux, by their median: a faint star weighs
    as much as a bright one. So the stars taken are those whose peak pixel's signal-to-noise ratio
    is at least :data:`FAINTEST` of that of the bright stars (the median of the
    ``OVERSAMPLING**2`` brightest): a field's bright stars without its faint ones, or all of a
    faint target's stamps when they are all it has; at most :data:`MOST_STARS`. The signal
    returned is the sum of the taken stars' ratios squared (:data:`OVERSAMPLED_SIGNAL`).
    """
    from astropy.nddata import NDData
    from astropy.stats import sigma_clipped_stats
    from astropy.table import Table

    psf = _photutils_psf()
    images: list[Any] = []
    found: list[tuple[float, int, float, float]] = []  # (snr, image, x, y)
    seen: set[tuple[str, int, int]] = set()
    for item in items:
        data = np.asarray(item.cutout.data, dtype=float)
        _, median, std = sigma_clipped_stats(data)
        data = np.where(np.isfinite(data), data - median, np.nan)
        error = None if item.err is None else np.asarray(item.err.data, dtype=float)
        origin = getattr(item.cutout, "origin_original", (0, 0))
        for x, y in zip(*_isolated_peaks(data, size), strict=True):
            key = (item.uri, int(x) + origin[0], int(y) + origin[1])  # the file's pixel
            noise = std if error is None else error[int(y), int(x)]
            snr = data[int(y), int(x)] / noise
            if key in seen or not np.isfinite(snr):
                continue
            seen.add(key)
            found.append((float(snr), len(images), float(x), float(y)))
        if found and found[-1][1] == len(images):
            images.append(NDData(data))
    if not found:
        return [], 0.0
    found.sort(reverse=True)
    snr = np.array([star[0] for star in found])
    bright = int(np.sum(snr >= FAINTEST * np.median(snr[: OVERSAMPLING**2])))
    chosen = found[: min(max(bright, MIN_STARS), MOST_STARS)]
    catalogs = []
    for index in range(len(images)):
        mine = [(x, y) for _, image, x, y in chosen if image == index]
        catalogs.append(Table({"x": [x for x, _ in mine], "y": [y for _, y in mine]}))
    used = [i for i, catalog in enumerate(catalogs) if len(catalog)]
    with quiet():  # masked pixels in a star's box are photutils' warnings; they are left out of the fit
        stars = psf.extract_stars([images[i] for i in used], [catalogs[i] for i in used], size=size)
    return stars, float(np.sum(snr[: len(chosen)] ** 2))


def build_epsf(items: Sequence[Success], radius: float) -> Any:
    """An ePSF (:class:`photutils.psf.ImagePSF`) from the isolated stars of the items' cut-outs.

    Oversampled (:data:`OVERSAMPLING`) when the stars carry :data:`OVERSAMPLED_SIGNAL`, at the
    detector's pixels otherwise.

    Raises
    ------
    InvalidParameterError
        If the cut-outs hold fewer than :data:`MIN_STARS` isolated stars.
    """
    psf = _photutils_psf()
    stars, signal = _stars(items, star_size(radius))
    if len(stars) < MIN_STARS:
        raise InvalidParameterError(
            "method",
            "psf",
            hint=f"the cut-outs hold {len(stars)} isolated stars, too few to build a PSF from "
            f"(at least {MIN_STARS}): cut out larger stamps (size=), or use method= 'aperture'",
        )
    fine = signal >= OVERSAMPLED_SIGNAL
    builder = psf.EPSFBuilder(
        oversampling=OVERSAMPLING if fine else 1,
        smoothing_kernel="quartic" if fine else None,
        maxiters=EPSF_ITERATIONS,
        progress_bar=False,
    )
    with quiet():  # photutils' notes on iterations and recentring
        built = builder(stars)
    return built.epsf if hasattr(built, "epsf") else built[0]  # photutils 3 / photutils 2 (a tuple)


def epsf_by_band(items: Sequence[Success], radius: float) -> dict[str, Any]:
    """One ePSF for each band of the items (:func:`build_epsf` of that band's cut-outs)."""
    bands: dict[str, list[Success]] = {}
    for item in items:
        bands.setdefault(band_of(item), []).append(item)
    return {band: build_epsf(group, radius) for band, group in bands.items()}


def _radius_pixels(radius: Any) -> float:
    try:
        return float(radius)
    except TypeError:
        raise InvalidParameterError(
            "radius", radius, hint="PSF photometry takes the aperture radius in pixels (a number)"
        ) from None


def measurer(
    items: Sequence[Success],
    where: Where,
    radius: Any,
    aperture: Aperture,
    models: dict[str, Any] | None = None,
) -> Callable[[Success], Any]:
    """A function that fits the flux of the target in one item with the ePSF of its band.

    The ePSFs are ``models`` (from :func:`epsf_by_band`, say of a whole field's stamps) or built
    from the items. The position, background and coverage are those of ``aperture`` (the same
    annulus as the other methods); only the flux and its error are the fit's.
    """
    from astropy.table import Table

    psf = _photutils_psf()
    radius_pixels = _radius_pixels(radius)
    if models is None:
        models = epsf_by_band(items, radius_pixels)
    photometry = {}
    for band, model in models.items():
        model = model.copy()
        model.x_0.fixed = True  # forced: only the flux is fitted
        model.y_0.fixed = True
        photometry[band] = psf.PSFPhotometry(
            model, fit_size(radius_pixels), aperture_radius=None, progress_bar=False
        )

    def measure(item: Success) -> Any:
        error = None if item.err is None else np.asarray(item.err.data, dtype=float)
        around = aperture(item.cutout, error, **where(item))
        data = np.asarray(item.cutout.data, dtype=float)
        bad = ~np.isfinite(data) if error is None else ~(np.isfinite(data) & np.isfinite(error))
        start = Table({"x": [around.x], "y": [around.y], "flux": [around.flux]})
        start["local_bkg"] = [around.background]
        with quiet():  # a fit that does not converge is flagged in the table, and gives NaN here
            fitted = photometry[band_of(item)](data, mask=bad, error=error, init_params=start)
        flux, flux_err = float(fitted["flux_fit"][0]), float(fitted["flux_err"][0])
        return dataclasses.replace(around, flux=flux, flux_err=flux_err)

    return measure
