"""Difference-image photometry of one target across epochs (private; ``light_curve(method="difference")``).

A transient on a galaxy cannot be measured with an aperture on the image: the aperture holds
the galaxy too. Here the galaxy is taken away first:

1. the **reference** of a band is the median of that band's epochs taken outside a time window
   (when the transient is known to be off), each stamp reprojected onto one grid (the first of
   those epochs' cut-outs) with :func:`reproject.reproject_interp`;
2. each epoch's stamp is reprojected onto the same grid, brought to the reference's flux scale,
   and the reference is subtracted;
3. the difference is measured with :func:`roman_helpers.photometry.forced_photometry` at the
   target (the same aperture and background annulus as the other methods: one implementation),
   and its flux is given on the epoch's own scale (its file's unit and zero point), as the other
   methods give theirs.

The PSF is not matched between epochs: the sandbox's and the simulations' epochs share one
PSF per band. On real data whose seeing changes, a residual of a bright host remains at the
target; match the PSFs (e.g. with a convolution kernel) before trusting faint points there.

Errors: the variance (not the 1-sigma error) is reprojected, because an interpolated pixel's
variance summed over an aperture gives back, to first order, the variance of the same aperture
on the original pixels (interpolating sigma would not). The median of ``n`` epochs has variance
``pi / 2`` times the mean variance over ``n``; the epoch's and the reference's variances add.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _sky
from ._threadsafe import quiet
from .errors import InvalidParameterError, MissingExtraError

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from .batch import Success

#: Columns (or cut-out metadata) that give a file's zero point, an AB magnitude for one unit of
#: its pixels: epochs whose zero points differ are brought to the reference's before subtracting.
ZERO_POINT_KEYS = ("zeropoint", "zero_point", "zpt_mag", "zptmag")

Where = Callable[["Success"], dict[str, Any]]
"""Where the target is in an item's cut-out: ``{"position": SkyCoord}`` or ``{"pixel": (x, y)}``."""
#: The aperture photometry of :mod:`roman_helpers.photometry` (handed in, so that this module does
#: not import it back): ``(image, error, position= or pixel=) -> ForcedFlux``.
Aperture = Callable[..., Any]


@dataclasses.dataclass(frozen=True)
class Reference:
    """The reference image of one band, on its grid, and the grid's item (whose WCS and shape it has)."""

    data: np.ndarray
    variance: np.ndarray | None
    grid: Success
    epochs: int


def _reproject() -> Any:
    try:
        from reproject import reproject_interp
    except ImportError as error:
        raise MissingExtraError("Difference-image photometry", ["survey"], error.name) from error
    return reproject_interp


def zero_point(item: Success) -> float | None:
    """The item's zero point (AB mag of one unit of its pixels), when its row or cut-out gives one.

    From the batch table's row (a ``zeropoint`` column), else from what the cut-out says of its
    file (a ``provenance`` with a ``zeropoint``, or its ``meta``).
    """
    provenance = getattr(item.cutout, "provenance", None)
    sources = (
        item.meta,
        {"zeropoint": getattr(provenance, "zeropoint", None)},
        getattr(item.cutout, "meta", None),
    )
    for source in sources:
        for key in ZERO_POINT_KEYS:
            value = (source or {}).get(key, (source or {}).get(key.upper()))
            if value is not None and math.isfinite(float(value)):
                return float(value)
    return None


def _scale(item: Success, grid: Success) -> float:
    """Factor that brings the item's pixels, once interpolated onto the grid, to the grid's flux scale.

    A simple flux scaling, by zero points (AB magnitude of one unit summed over the file's pixels):
    the difference of zero points (counts of different exposure times, or other units), times the
    ratio of the grid's pixel area to the item's (an interpolated pixel keeps the value of a pixel of
    the item's size). Without both zero points the epochs are taken to be on one scale (1): images
    in rates (DN/s, MJy/sr) of one pixel scale need nothing more.
    """
    from . import _wcs

    if zero_point(item) is None or zero_point(grid) is None:
        return 1.0
    ratio = _flux_ratio(item, grid)

    def area(cut: Any) -> float:
        ny, nx = cut.data.shape
        return float(_wcs.pixel_scale(cut.wcs, (nx - 1) / 2, (ny - 1) / 2).to_value("arcsec") ** 2)

    return float(ratio * area(grid.cutout) / area(item.cutout))


def _flux_ratio(item: Success, grid: Success) -> float:
    """The grid's units per unit of the item's, by their zero points (1 without both)."""
    own, reference = zero_point(item), zero_point(grid)
    if own is None or reference is None:
        return 1.0
    return float(10 ** (0.4 * (reference - own)))


def _on_grid(item: Success, grid: Success, scale: float) -> tuple[np.ndarray, np.ndarray | None]:
    """The item's pixels (and variance) on the grid's pixels, times ``scale``; NaN off the item."""
    reproject_interp = _reproject()
    shape = grid.cutout.data.shape
    with quiet():  # reproject notes the WCS it converts; nothing for the user
        data, _ = reproject_interp(
            (np.asarray(item.cutout.data, dtype=float), item.cutout.wcs), grid.cutout.wcs, shape_out=shape
        )
        variance = None
        if item.err is not None:
            variance, _ = reproject_interp(
                (np.asarray(item.err.data, dtype=float) ** 2, item.cutout.wcs),
                grid.cutout.wcs,
                shape_out=shape,
            )
    return data * scale, None if variance is None else variance * scale**2


def build_reference(items: Sequence[Success]) -> Reference:
    """The median of the items' stamps on the first item's grid, with its variance.

    The items are all of one band; the first one's zero point is the reference's.
    """
    grid = items[0]
    stamps, variances = [], []
    for item in items:
        data, variance = _on_grid(item, grid, _scale(item, grid))
        stamps.append(data)
        variances.append(variance)
    stack = np.array(stamps)
    with quiet(RuntimeWarning):  # all-NaN pixels (off every epoch) stay NaN
        median = np.nanmedian(stack, axis=0)
        variance = None
        if all(v is not None for v in variances):
            valid = np.isfinite(stack)
            count = valid.sum(axis=0)
            mean_variance = np.nanmean(np.where(valid, np.array(variances), np.nan), axis=0)
            # the median of n values is noisier than their mean by sqrt(pi / 2)
            variance = np.where(count > 0, (math.pi / 2) * mean_variance / np.maximum(count, 1), np.nan)
    return Reference(median, variance, grid, len(items))


def measurer(
    items: Sequence[Success],
    where: Where,
    aperture: Aperture,
    reference_window: Any,
    *,
    mid_time: Callable[[Success], float],
) -> Callable[[Success], Any]:
    """A function that measures one item on its difference from its band's reference.

    Parameters
    ----------
    items
        Every epoch of the light curve (all bands); those of a band whose mid-exposure time is
        outside ``reference_window`` make that band's reference.
    where
        The target in an item's cut-out, as :func:`roman_helpers.photometry.forced_photometry` takes it.
    aperture
        :func:`~roman_helpers.photometry.forced_photometry` with the light curve's aperture and
        annulus: what measures the difference.
    reference_window : (start, end)
        Times (MJD, ISO, Time; None for an open end) when the target may differ from its
        reference; at least one epoch of each band must be outside it.
    mid_time
        An item's mid-exposure time (MJD).

    Raises
    ------
    InvalidParameterError
        If a band has no epoch outside the window (the window itself is checked by the caller).
    """
    start, end = _sky.parse_time_range(reference_window)
    bands: dict[str, list[Success]] = {}
    for item in items:
        bands.setdefault(str(item.meta.get("band", "")), []).append(item)
    references: dict[str, Reference] = {}
    for band, epochs in bands.items():
        outside = [item for item in epochs if not start <= mid_time(item) <= end]
        if not outside:
            raise InvalidParameterError(
                "reference_window",
                reference_window,
                hint=f"no {band or 'band'} epoch lies outside it to make a reference from: "
                f"narrow the window, or add epochs taken before or after it",
            )
        references[band] = build_reference(outside)

    def measure(item: Success) -> Any:
        reference = references[str(item.meta.get("band", ""))]
        scale = _scale(item, reference.grid)
        data, variance = _on_grid(item, reference.grid, scale)
        difference = data - reference.data
        error = (
            None if variance is None or reference.variance is None else np.sqrt(variance + reference.variance)
        )
        on_grid = pixel_of(reference.grid, where)
        measured = aperture(difference, error, pixel=on_grid)
        x, y = pixel_of(item, where)  # reported on the item's own cut-out, as the other methods do
        # back to the epoch's own flux scale, which its file's zero point describes (a flux on the
        # reference's scale would give a wrong magnitude with the epoch's zero point)
        ratio = _flux_ratio(item, reference.grid)
        return dataclasses.replace(
            measured,
            flux=measured.flux / ratio,
            flux_err=measured.flux_err / ratio,
            background=measured.background / scale,
            x=x,
            y=y,
        )

    return measure


def pixel_of(item: Success, where: Where) -> tuple[float, float]:
    """The target's 0-based pixel on the item's cut-out."""
    from . import _wcs

    found = where(item)
    if "pixel" in found:
        return found["pixel"]
    return _wcs.world_to_pixel(item.cutout.wcs, found["position"])
