"""PSF-fit forced photometry with an empirical PSF from the cut-outs' own stars (private).

``light_curve(method="psf")``: photutils does the work (an ePSF after Anderson & King 2000):

1. the **stars**: in every cut-out of the batch, the peaks well above the noise
   (:func:`photutils.detection.find_peaks` on the stamp minus its sigma-clipped median) that have
   no other peak within a star's box, cut out with :func:`photutils.psf.extract_stars`;
2. the **ePSF**: :class:`photutils.psf.EPSFBuilder` stacks them (oversampling 1: a light curve's
   stamps hold a few tens of stars, too few to fill a finer grid; no smoothing kernel: photutils'
   default quartic kernel is meant for an oversampled ePSF, and on Roman's undersampled PSF, a
   pixel or so wide, it widens the model so that fitted fluxes fall 35 % short; its other
   defaults);
3. the **fit**: at the target's position, held fixed (forced), only the flux is fitted by
   :class:`photutils.psf.PSFPhotometry`, over a box of ``2 * ceil(radius) + 1`` pixels, after the
   local background of :func:`roman_helpers.photometry.forced_photometry`'s annulus is taken
   away: the position, background and coverage are the aperture's (one implementation).

The ePSF is normalised over its box (``2 * ceil(2 * radius) + 1`` pixels a side), so a PSF flux
counts the light in that box: nearer the total than an aperture of ``radius``, whose flux misses
the PSF's wings. A point source on a galaxy is better measured by difference imaging.
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


def build_epsf(items: Sequence[Success], radius: float) -> Any:
    """An ePSF (:class:`photutils.psf.ImagePSF`) from the isolated stars of the items' cut-outs.

    Raises
    ------
    InvalidParameterError
        If the cut-outs hold fewer than :data:`MIN_STARS` isolated stars.
    """
    from astropy.nddata import NDData
    from astropy.stats import sigma_clipped_stats
    from astropy.table import Table

    psf = _photutils_psf()
    size = star_size(radius)
    images, catalogs = [], []
    for item in items:
        data = np.asarray(item.cutout.data, dtype=float)
        _, median, _ = sigma_clipped_stats(data)
        data = np.where(np.isfinite(data), data - median, np.nan)
        x, y = _isolated_peaks(data, size)
        if len(x):
            images.append(NDData(data))
            catalogs.append(Table({"x": x, "y": y}))
    with quiet():  # masked pixels in a star's box are photutils' warnings; they are left out of the fit
        stars = psf.extract_stars(images, catalogs, size=size) if images else []
    if len(stars) < MIN_STARS:
        raise InvalidParameterError(
            "method",
            "psf",
            hint=f"the cut-outs hold {len(stars)} isolated stars, too few to build a PSF from "
            f"(at least {MIN_STARS}): cut out larger stamps (size=), or use method= 'aperture'",
        )
    builder = psf.EPSFBuilder(
        oversampling=1, smoothing_kernel=None, maxiters=EPSF_ITERATIONS, progress_bar=False
    )
    with quiet():  # photutils' notes on iterations and recentring
        built = builder(stars)
    return built.epsf if hasattr(built, "epsf") else built[0]  # photutils 3 / photutils 2 (a tuple)


def measurer(
    items: Sequence[Success], where: Where, radius: Any, aperture: Aperture
) -> Callable[[Success], Any]:
    """A function that fits the flux of the target in one item with the ePSF of all the items.

    Its position, background and coverage are those of ``aperture`` (the same annulus as the
    other methods); only the flux and its error are the fit's.
    """
    from astropy.table import Table

    psf = _photutils_psf()
    try:
        radius_pixels = float(radius)
    except TypeError:
        raise InvalidParameterError(
            "radius", radius, hint="PSF photometry takes the aperture radius in pixels (a number)"
        ) from None
    model = build_epsf(items, radius_pixels)
    model.x_0.fixed = True  # forced: only the flux is fitted
    model.y_0.fixed = True
    photometry = psf.PSFPhotometry(model, fit_size(radius_pixels), aperture_radius=None, progress_bar=False)

    def measure(item: Success) -> Any:
        error = None if item.err is None else np.asarray(item.err.data, dtype=float)
        around = aperture(item.cutout, error, **where(item))
        data = np.asarray(item.cutout.data, dtype=float)
        bad = ~np.isfinite(data) if error is None else ~(np.isfinite(data) & np.isfinite(error))
        start = Table({"x": [around.x], "y": [around.y], "flux": [around.flux]})
        start["local_bkg"] = [around.background]
        with quiet():  # a fit that does not converge is flagged in the table, and gives NaN here
            fitted = photometry(data, mask=bad, error=error, init_params=start)
        flux, flux_err = float(fitted["flux_fit"][0]), float(fitted["flux_err"][0])
        return dataclasses.replace(around, flux=flux, flux_err=flux_err)

    return measure
