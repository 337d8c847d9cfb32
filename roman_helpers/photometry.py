"""Forced aperture photometry on cut-outs, and light curves from a batch of them.

"Forced" means the aperture sits at a position you give (the target's sky position,
placed on each image with its own WCS), not at a position found in the image: a faint
or fading transient is measured at the same place in every epoch.

The sums are photutils' (:func:`photutils.aperture.aperture_photometry`, exact overlap of
the circle with each pixel); the local background is the sigma-clipped median of an
annulus around the target (:class:`photutils.aperture.ApertureStats`). Fluxes are in the
image's units summed over pixels, as the file states them (electrons for OpenUniverse images,
DN/s for Roman calibrated exposures, MJy/sr times pixels for images in surface brightness);
where the file gives a zero point, light curves carry AB magnitudes too.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _sky, _wcs
from ._threadsafe import quiet
from .errors import Interrupted, InvalidParameterError, MissingExtraError, ObjectNotFoundError

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from astropy.table import Table
    from astropy.timeseries import TimeSeries

    from .batch import BatchResult

__all__ = ["ForcedFlux", "forced_photometry", "light_curve", "light_curve_from_index", "plot_light_curve"]

#: Clipping of the background annulus: 3 sigma, up to 10 rounds (photutils' usual choice).
CLIP_SIGMA = 3.0
CLIP_ITERATIONS = 10
#: How :func:`light_curve` can measure each epoch.
METHODS = ("aperture", "psf", "difference")


@dataclass(frozen=True)
class ForcedFlux:
    """The photometry of one target in one image.

    Attributes
    ----------
    flux : float
        Sum inside the aperture minus the local background.
    flux_err : float
        Its 1-sigma uncertainty: the error array summed in quadrature over the aperture
        (or, without one, the annulus scatter per pixel), and the uncertainty of the
        background level.
    background : float
        Local background per pixel (sigma-clipped median of the annulus).
    x, y : float
        Aperture centre in the image's (or cut-out's) 0-based pixels.
    coverage : float
        Fraction of the aperture on valid pixels: 1 for a target well inside the image,
        less near an edge or masked pixels (the flux is then too low).
    """

    flux: float
    flux_err: float
    background: float
    x: float
    y: float
    coverage: float


def _photutils():
    try:
        from astropy.stats import SigmaClip
        from photutils import aperture
    except ImportError as error:
        raise MissingExtraError("Forced photometry", ["survey"], error.name) from error
    return aperture, SigmaClip


def _pixels(value: Any, wcs: Any, position: Any, name: str) -> float:
    """A radius in pixels: numbers are pixels, angles are converted with the WCS at ``position``."""
    import astropy.units as u

    if not isinstance(value, u.Quantity):
        return float(value)
    if value.unit.physical_type == "angle":
        if wcs is None:
            raise InvalidParameterError(name, value, hint="an angle needs an image with a WCS; give pixels")
        return float((value / _wcs.pixel_scale(wcs, *position)).to_value(u.dimensionless_unscaled))
    if value.unit == u.pix:
        return float(value.value)
    raise InvalidParameterError(name, value, hint="give pixels (a number) or an angle (e.g. 0.3 * u.arcsec)")


def forced_photometry(
    cutout: Any,
    position: Any = None,
    radius: Any = 3.0,
    annulus: Sequence[Any] = (8.0, 14.0),
    error: Any = None,
    mask: Any = None,
    *,
    pixel: Any = None,
) -> ForcedFlux:
    """Measure the flux in a circle at a given position, minus the local background.

    Parameters
    ----------
    cutout : astropy.nddata.Cutout2D or 2-D array
        The image (a cut-out from :func:`roman_helpers.batch.cutouts`, or any array).
    position : astropy.coordinates.SkyCoord or str
        Aperture centre on the sky (needs ``cutout.wcs``); a string of RA and Dec as for
        :func:`roman_helpers.stream.cutout`.
    radius : float or astropy.units.Quantity
        Aperture radius in pixels, or an angle.
    annulus : (r_in, r_out)
        Inner and outer radii of the background annulus, in pixels or as angles.
    error : astropy.nddata.Cutout2D or 2-D array, optional
        1-sigma error of each pixel (the file's ERR array, same shape). Without it the
        pixel noise is taken to be the scatter of the clipped annulus.
    mask : 2-D bool array, optional
        Pixels to leave out (``True`` = bad). Non-finite pixels are always left out.
    pixel : (x, y), optional
        Aperture centre in 0-based pixels of the array given, instead of ``position``.

    Returns
    -------
    ForcedFlux

    Raises
    ------
    InvalidParameterError
        If the aperture does not touch the image, the radii are not increasing, or a sky
        position or angle is given for an image without WCS.
    MissingExtraError
        If photutils is not installed (the ``survey`` extra).

    Examples
    --------
    A star of flux 1000 on a flat background of 10 per pixel:

    >>> import numpy as np
    >>> y, x = np.mgrid[:41, :41]
    >>> image = 10 + 1000 / (2 * np.pi * 2**2) * np.exp(-((x - 20) ** 2 + (y - 20) ** 2) / (2 * 2**2))
    >>> result = forced_photometry(image, pixel=(20, 20), radius=8, annulus=(12, 18))
    >>> round(result.flux), round(result.background, 6), result.coverage
    (1000, 10.0, 1.0)
    """
    aperture_module, SigmaClip = _photutils()
    from astropy.coordinates import SkyCoord

    data = np.asarray(getattr(cutout, "data", cutout), dtype=float)
    wcs = getattr(cutout, "wcs", None)
    if data.ndim != 2:
        raise InvalidParameterError("cutout", f"array of shape {data.shape}", hint="give a 2-D image")
    errors = None if error is None else np.asarray(getattr(error, "data", error), dtype=float)
    if errors is not None and errors.shape != data.shape:
        raise InvalidParameterError(
            "error",
            f"array of shape {errors.shape}",
            hint=f"the error array must have the image's shape {data.shape}",
        )
    bad = ~np.isfinite(data) if errors is None else ~(np.isfinite(data) & np.isfinite(errors))
    if mask is not None:
        bad |= np.asarray(mask, dtype=bool)

    centre = _sky.parse_centre(position, pixel)
    if centre is None:
        raise InvalidParameterError(
            "position", None, hint="give the aperture's centre: position= on the sky, or pixel= (x, y)"
        )
    if isinstance(centre, SkyCoord):
        if wcs is None:
            raise InvalidParameterError(
                "position", position, hint="this image has no WCS; give the centre in pixels: pixel=(x, y)"
            )
        x, y = _wcs.world_to_pixel(wcs, centre)
    else:
        x, y = centre
    r = _pixels(radius, wcs, (x, y), "radius")
    try:
        r_in, r_out = (_pixels(value, wcs, (x, y), "annulus") for value in annulus)
    except (TypeError, ValueError) as error_:
        raise InvalidParameterError("annulus", annulus, hint="give (r_in, r_out)") from error_
    _sky.check_apertures(r, r_in, r_out)

    aperture = aperture_module.CircularAperture((x, y), r=r)
    ring = aperture_module.CircularAnnulus((x, y), r_in=r_in, r_out=r_out)
    area = float(aperture.area_overlap(data, mask=bad))
    if not area > 0:
        raise InvalidParameterError(
            "position",
            (round(x, 2), round(y, 2)),
            hint=f"the aperture does not touch the valid pixels of this {data.shape} image",
        )
    sky = aperture_module.ApertureStats(
        data, ring, mask=bad, sigma_clip=SigmaClip(sigma=CLIP_SIGMA, maxiters=CLIP_ITERATIONS)
    )
    background, scatter = float(sky.median), float(sky.std)
    in_ring = float(np.asarray(getattr(sky.center_aper_area, "value", sky.center_aper_area)))
    if not np.isfinite(background):
        background, scatter, in_ring = 0.0, 0.0, 0.0  # the annulus is off the image: no background known
    table = aperture_module.aperture_photometry(data, aperture, error=errors, mask=bad)
    total = float(table["aperture_sum"][0])
    sum_err = float(table["aperture_sum_err"][0]) if errors is not None else scatter * np.sqrt(area)
    background_err = area * scatter / np.sqrt(in_ring) if in_ring > 0 else 0.0
    return ForcedFlux(
        flux=total - background * area,
        flux_err=float(np.hypot(sum_err, background_err)),
        background=background,
        x=x,
        y=y,
        # rounded: the exact overlap of a circle inside the image sums to its area ± 1e-15
        coverage=min(1.0, round(area / float(aperture.area), 9)),
    )


def light_curve(
    batch_result: BatchResult,
    position: Any = None,
    radius: Any = 3.0,
    annulus: Sequence[Any] = (8.0, 14.0),
    *,
    pixel: Any = None,
    method: str = "aperture",
    reference_window: Any = None,
) -> TimeSeries:
    """Forced photometry of one target in every cut-out of a batch, as a time series.

    Parameters
    ----------
    batch_result : roman_helpers.batch.BatchResult
        From :func:`roman_helpers.batch.cutouts` over a table with ``t_start`` and
        ``t_end`` columns (MJD) and preferably ``band`` and ``detector``. Files that
        failed are not in the curve (they are in ``batch_result.failed``).
    position : astropy.coordinates.SkyCoord or str
        The target on the sky, as given to :func:`~roman_helpers.batch.cutouts`.
    radius, annulus
        As for :func:`forced_photometry`.
    pixel : (x, y), optional
        The target in 0-based pixels of the files, as given to
        :func:`~roman_helpers.batch.cutouts`, instead of ``position``.
    method : {"aperture", "psf", "difference"}
        How each epoch is measured, always at the target's position:

        * ``"aperture"``: the flux in a circle minus the local background
          (:func:`forced_photometry`);
        * ``"psf"``: the flux of an empirical PSF fitted there, the PSF built from the isolated
          stars of all the cut-outs (photutils' ``EPSFBuilder`` and ``PSFPhotometry``; the
          background is the annulus'); needs a few stars in the stamps. Its flux counts the
          light in a box of ``2 * ceil(2 * radius) + 1`` pixels: nearer the total than an
          aperture's, which misses the PSF's wings;
        * ``"difference"``: the aperture on the epoch minus a reference image of its band (the
          median of the epochs outside ``reference_window``, each reprojected onto one grid with
          ``reproject``): a transient on a galaxy without the galaxy. The epochs are scaled by
          their zero points when the batch's table gives them (a ``zeropoint`` column, in AB
          magnitudes); the PSFs are not matched (right for simulations with one PSF per band;
          on real data a bright host may leave a residual).
    reference_window : (start, end), optional
        For ``method="difference"`` (and only for it): when the target may vary (MJD numbers,
        ISO dates or Times; None for an open end). The epochs outside it make the reference;
        at least one per band.

    Returns
    -------
    astropy.timeseries.TimeSeries
        Sorted by time; columns ``time`` (mid-exposure, MJD; a file whose end is not known, such
        as one without ``EXPTIME``, is taken as an instant exposure at its start), ``band``, ``flux``,
        ``flux_err``, ``background``, ``coverage``, ``file``, ``detector``, and ``x``,
        ``y``: the target's 0-based pixel position in the file. An epoch whose cut-out has
        no valid pixel under the aperture has NaN flux and ``coverage`` 0.

        ``flux``, ``flux_err`` and ``background`` (per pixel) are quantities in the unit the
        files give their pixels (electrons, DN/s ...); files in different units give plain
        numbers and a ``unit`` column instead. Where the files give a zero point, ``zeropoint``
        (the AB magnitude of a flux of 1 in that unit, per epoch), ``mag`` and ``mag_err`` (AB;
        NaN where the flux is not positive) are added. ``meta`` records the ``target``, the
        ``bands``, the ``method``, ``aperture_radius`` and ``annulus`` (as given:
        pixels, or angles), the ``unit`` and the ``zeropoint_source``.

    Raises
    ------
    InvalidParameterError
        If a file gives no time (neither ``t_start`` and ``t_end`` in its row nor a start time in
        its headers), the target is two bare numbers given as ``position`` (RA and Dec, or
        pixels?), ``method`` is not one of the three, a ``reference_window`` is missing for
        ``"difference"`` (or given for another method) or leaves no epoch of a band outside it,
        or the cut-outs hold too few stars for ``"psf"``.

    Examples
    --------
    >>> from astropy.coordinates import SkyCoord
    >>> from roman_helpers.batch import cutouts
    >>> from roman_helpers.footprints import build_index, find
    >>> index = build_index("s3://stpubdata/roman/nexus/soc_simulations/tutorial_data/roman-2026.2/")
    >>> target = SkyCoord("270.7956 -0.2870", unit="deg")
    >>> result = cutouts(find(index, target, band="F106"), target, 25, progress=False)
    >>> curve = light_curve(result, target, radius=3, annulus=(8, 14))
    >>> len(curve), str(curve["band"][0]), round(float(curve["time"][0].mjd), 4), float(curve["coverage"][0])
    (5, 'F106', 61297.2175, 1.0)
    >>> sorted({str(unit) for unit in curve["unit"]})  # as the files say: the mosaic, the exposures
    ['DN / s', 'MJy / sr']
    >>> exposure = curve[curve["detector"] != ""][0]  # a calibrated exposure
    >>> round(float(exposure["zeropoint"].value), 3)  # AB magnitude of 1 DN/s in F106, by its metadata
    25.602

    The same epochs on their differences from a reference made of those outside a window (here
    the second epoch's time):

    >>> window = ("2026-09-14T05:16", "2026-09-14T05:17")
    >>> difference = light_curve(result, target, method="difference", reference_window=window)
    >>> len(difference), bool(all(difference["flux_err"] > 0))
    (5, True)
    """
    from astropy.time import Time
    from astropy.timeseries import TimeSeries

    centre = _sky.parse_centre(position, pixel)
    if centre is None:
        raise InvalidParameterError("position", None, hint="give the target: position= on the sky, or pixel=")
    rows: dict[str, list] = {
        name: []
        for name in (
            "mjd",
            "band",
            "flux",
            "flux_err",
            "background",
            "coverage",
            "file",
            "detector",
            "x",
            "y",
            "unit",
            "zeropoint",
        )
    }
    items = sorted(batch_result.ok, key=lambda item: item.index)
    times = {
        item.index: _times(item.meta, getattr(item.value, "provenance", None), item.uri) for item in items
    }

    def where(item: Any) -> dict[str, Any]:
        if pixel is not None:
            return {"pixel": item.cutout.to_cutout_position(centre)}  # the file's pixels, in the cut-out's
        return {"position": centre}

    measure = _measurer(
        method,
        items,
        where,
        radius,
        annulus,
        reference_window,
        mid_time=lambda item: _mid_time(*times[item.index]),
    )
    sources: list[str] = []
    for item in items:
        provenance = getattr(item.value, "provenance", None)
        start, end = times[item.index]
        try:
            measured = measure(item)
        except InvalidParameterError as error:
            if error.name != "position":
                raise
            # no valid pixel under the aperture (a gap, or all masked): keep the epoch, flagged
            measured = ForcedFlux(np.nan, np.nan, np.nan, np.nan, np.nan, 0.0)
        x, y = item.cutout.to_original_position((measured.x, measured.y))
        rows["mjd"].append(_mid_time(start, end))
        rows["band"].append(str(item.meta.get("band", "") or getattr(provenance, "band", "")))
        rows["flux"].append(measured.flux)
        rows["flux_err"].append(measured.flux_err)
        rows["background"].append(measured.background)
        rows["coverage"].append(measured.coverage)
        rows["file"].append(item.uri)
        rows["detector"].append(str(item.meta.get("detector", "")))
        rows["x"].append(float(x))
        rows["y"].append(float(y))
        rows["unit"].append(getattr(provenance, "unit", ""))
        rows["zeropoint"].append(getattr(provenance, "zeropoint", np.nan))
        origin = getattr(provenance, "zeropoint_source", "")
        if origin and origin not in sources:
            sources.append(origin)
    mjd = np.asarray(rows.pop("mjd"), dtype=float)
    order = np.argsort(mjd, kind="stable")
    columns = {
        name: np.asarray(values)[order] if values else np.array([], dtype=float)
        for name, values in rows.items()
    }
    curve = TimeSeries(time=Time(mjd[order], format="mjd"), data=_with_units(columns))
    curve.meta.update(
        {
            "target": _target_text(centre),
            "bands": sorted({str(band) for band in curve["band"] if str(band)}),
            "method": method,
            "aperture_radius": _as_given(radius),
            "annulus": [_as_given(value) for value in annulus],
            "unit": ", ".join(sorted({str(unit) for unit in rows["unit"] if unit})),
            "zeropoint_source": "; ".join(sources),
        }
    )
    if "mag" in curve.colnames:
        curve.meta["mag_system"] = "AB"
    return curve


def _times(meta: dict, provenance: Any, uri: str) -> tuple[float, float]:
    """Start and end (MJD) of a file's exposure: its row's ``t_start``, ``t_end``, else its headers'."""
    if "t_start" in meta and "t_end" in meta:
        return float(meta["t_start"]), float(meta["t_end"])
    if provenance is not None and np.isfinite(provenance.mjd_start):
        return provenance.mjd_start, provenance.mjd_end
    raise InvalidParameterError(
        "batch_result",
        f"a file without a time ({uri})",
        hint="cut out from a table with t_start and t_end columns (MJD), or from files whose headers "
        "give the exposure's start",
    )


def _with_units(columns: dict[str, np.ndarray]) -> dict[str, Any]:
    """Flux columns as quantities in the files' unit, and AB magnitudes where there is a zero point.

    Files in one unit: ``flux``, ``flux_err``, ``background`` become quantities and the ``unit``
    column goes. Files in several units keep plain numbers and the ``unit`` column.
    """
    import astropy.units as u

    units = columns.pop("unit")
    zeropoint = np.asarray(columns.pop("zeropoint"), dtype=float)
    flux, flux_err = np.asarray(columns["flux"], dtype=float), np.asarray(columns["flux_err"], dtype=float)
    if len(units) and np.isfinite(zeropoint).any():
        with np.errstate(divide="ignore", invalid="ignore"):
            positive = flux > 0
            mag = np.where(positive, zeropoint - 2.5 * np.log10(np.where(positive, flux, 1.0)), np.nan)
            mag_err = np.where(positive, 2.5 / np.log(10) * flux_err / np.where(positive, flux, 1.0), np.nan)
        columns["zeropoint"] = zeropoint * u.mag
        columns["mag"], columns["mag_err"] = mag * u.mag, mag_err * u.mag
    distinct = {str(unit) for unit in units}
    if len(distinct) == 1 and "" not in distinct:
        unit = u.Unit(distinct.pop())
        for name in ("flux", "flux_err", "background"):
            columns[name] = np.asarray(columns[name], dtype=float) * unit
    elif len(distinct) > 1:
        columns["unit"] = units
    return columns


def _as_given(value: Any) -> Any:
    """A radius for ``meta``: a number of pixels, or an angle as text (``'0.3 arcsec'``)."""
    return str(value) if hasattr(value, "unit") else float(value)


def _target_text(centre: Any) -> str:
    """The target for ``meta``: ``'RA Dec'`` in degrees (ICRS), or ``'pixel x y'``."""
    if hasattr(centre, "ra"):
        icrs = centre.icrs
        return f"{icrs.ra.deg:.7f} {icrs.dec.deg:+.7f}"
    return f"pixel {float(centre[0]):g} {float(centre[1]):g}"


def _measurer(
    method: str,
    items: list[Any],
    where: Any,
    radius: Any,
    annulus: Sequence[Any],
    reference_window: Any,
    mid_time: Any,
    psf_models: dict[str, Any] | None = None,
) -> Any:
    """The function that measures one item of a batch by ``method`` (the other two in their modules).

    ``psf_models``: for ``"psf"``, ePSFs by band built beforehand (of a whole field's stamps);
    by default they are built from ``items``.
    """
    _check_method(method, reference_window)

    def measured(image: Any, error: Any, **centre: Any) -> ForcedFlux:
        """The aperture and annulus of every method: the psf and difference modules are handed it."""
        return forced_photometry(image, radius=radius, annulus=annulus, error=error, **centre)

    def aperture(item: Any) -> ForcedFlux:
        return measured(item.cutout, None if item.err is None else item.err.data, **where(item))

    if method == "aperture" or not items:  # no cut-out (every file failed): an empty curve, as ever
        return aperture
    if method == "psf":
        from . import _psf

        return _psf.measurer(items, where, radius, measured, models=psf_models)
    from . import _difference

    return _difference.measurer(
        items,
        where,
        measured,
        reference_window,
        mid_time=mid_time,
    )


def _check_method(method: str, reference_window: Any) -> None:
    """Refuse a method that is not one of :data:`METHODS`, and a reference window it cannot use."""
    if method not in METHODS:
        raise InvalidParameterError("method", method, METHODS, hint="choose how each epoch is measured")
    if method != "difference" and reference_window is not None:
        raise InvalidParameterError(
            "reference_window", reference_window, hint="reference_window= is for method= 'difference' only"
        )
    if method == "difference":
        if reference_window is None:
            raise InvalidParameterError(
                "reference_window",
                None,
                hint="difference photometry needs the time window when the target varies: give "
                "reference_window= as its start and end (MJD or ISO); the epochs outside it make the "
                "reference",
            )
        _sky.parse_time_range(reference_window)


def _mid_time(start: Any, end: Any) -> float:
    """Mid-exposure (MJD); an exposure without a known end (no EXPTIME) is an instant at its start."""
    start, end = float(start), float(end)
    return (start + end) / 2 if np.isfinite(end) else start


def default_size(annulus: Sequence[float]) -> int:
    """Cut-out side (pixels) that just holds the background annulus around the target."""
    return 2 * math.ceil(float(annulus[1])) + 3


def light_curve_from_index(
    index: Table | str | PathLike,
    position: Any,
    *,
    band: str | Sequence[str] | None = None,
    time: Any = None,
    size: Any = None,
    radius: float = 3.0,
    annulus: Sequence[float] = (8.0, 14.0),
    client: Any = None,
    max_workers: int = 8,
    anon: bool | None = None,
    retries: int = 2,
    timeout: float | None = None,
    progress: bool | None = None,
    method: str = "aperture",
    reference_window: Any = None,
) -> TimeSeries:
    """Forced photometry of a target in every file of an index that holds it: find, cut out, measure.

    The workflow of ``roman-helpers lightcurve``, so that Python and the command line give the
    same curve: :func:`roman_helpers.footprints.find` lists the files over the position,
    :func:`roman_helpers.batch.cutouts` cuts the same small region (and its errors) out of each,
    fetching only those pixels, and :func:`light_curve` measures them.

    Parameters
    ----------
    index : astropy.table.Table or path
        From :func:`roman_helpers.footprints.build_index` or a file of
        :func:`roman_helpers.footprints.save_index`.
    position : astropy.coordinates.SkyCoord or str
        The target, as :func:`roman_helpers.footprints.find` reads it (``"00:37:48.19 -44:05:25.80"``,
        ``"9.4508 -44.0905"``, a SkyCoord).
    band, time
        Keep only these bands and exposures overlapping this interval, as for
        :func:`~roman_helpers.footprints.find`.
    size : int, str, Quantity or (ny, nx), optional
        Side of the cut-outs, in pixels or as an angle; by default just enough for the annulus
        (``2 * ceil(r_out) + 3`` pixels).
    radius : float
        Aperture radius in pixels.
    annulus : (r_in, r_out)
        Background annulus radii in pixels; ``radius <= r_in < r_out``.
    client, max_workers, anon, retries, timeout, progress
        As for :func:`roman_helpers.batch.cutouts`.
    method, reference_window
        How each epoch is measured, as for :func:`light_curve`.

    Returns
    -------
    astropy.timeseries.TimeSeries
        As :func:`light_curve`. ``meta`` records the target (``target_ra_deg``,
        ``target_dec_deg``), the apertures (``aperture_radius_pix``, ``annulus_pix``), the
        ``method`` (and for ``"difference"`` the ``reference_window_mjd``), the
        cut-out size (``cutout_size``), the number of files found (``files``), the files that
        failed (``failed``: ``"URI: ErrorType: message"``, and left out of the curve) and the
        transfer (``transfer``: requests, bytes, seconds, backend).

    Raises
    ------
    ObjectNotFoundError
        If no file of the index holds the target (the message gives the nearest footprint).
    InvalidParameterError
        For a position, band, time, size or apertures that cannot be used.
    Interrupted
        On Ctrl-C, within about a second: its ``partial`` is the light curve of the files
        measured so far (``meta["interrupted"]`` says how many of how many).

    Warns
    -----
    UserWarning
        When no file gave a cut-out (the curve is empty; ``meta["failed"]`` says why).

    Examples
    --------
    >>> from roman_helpers.footprints import build_index
    >>> index = build_index("s3://stpubdata/roman/nexus/soc_simulations/tutorial_data/roman-2026.2/")
    >>> curve = light_curve_from_index(index, "18:03:10.9 -00:17:13.2", band="F106", progress=False)
    >>> len(curve), curve.meta["files"], curve.meta["failed"], curve.meta["cutout_size"]
    (5, 5, [], '31')
    """
    from . import batch, footprints

    r_in, r_out = (float(value) for value in annulus)
    _sky.check_apertures(float(radius), r_in, r_out)
    _check_method(method, reference_window)  # before any file is read
    how = {"method": method, "reference_window": reference_window}
    target = _sky.parse_sky_position(position)
    size = default_size(annulus) if size is None else size
    pixels = _sky.parse_size(size)
    with quiet(UserWarning):  # an empty answer warns; its reason is in meta, raised below
        found = footprints.find(index, target, band=band, time=time)
    if not len(found):
        raise ObjectNotFoundError(
            f"{found.meta['reason']}; {found.meta['suggestion'] or 'check the position'}"
        )
    try:
        from ._difference import ZERO_POINT_KEYS

        columns = ["uri", "band", "detector", "t_start", "t_end"]
        columns += [name for name in found.colnames if name.lower() in ZERO_POINT_KEYS]
        result = batch.cutouts(
            found[columns],
            target,
            pixels,
            client=client,
            max_workers=max_workers,
            anon=anon,
            retries=retries,
            timeout=timeout,
            progress=progress,
        )
    except Interrupted as stopped:
        curve = _measured(stopped.partial, target, radius, (r_in, r_out), size, len(found), how)  # type: ignore[arg-type]
        curve.meta["interrupted"] = f"after {stopped.done} of {stopped.total} files"
        raise Interrupted(
            f"interrupted after {stopped.done} of {stopped.total} files; the light curve of those is this "
            "exception's .partial",
            curve,
            stopped.done,
            stopped.total,
        ) from None
    curve = _measured(result, target, radius, (r_in, r_out), size, len(found), how)
    if not result.ok:
        warnings.warn(
            f"none of the {len(found)} files gave a cut-out; meta['failed'] says why",
            UserWarning,
            stacklevel=2,
        )
    return curve


def _measured(
    result: BatchResult,
    target: Any,
    radius: float,
    annulus: tuple[float, float],
    size: Any,
    files: int,
    how: dict[str, Any],
) -> TimeSeries:
    """The light curve of a batch of cut-outs, with what :func:`light_curve_from_index` records."""
    curve = light_curve(result, target, radius=radius, annulus=annulus, **how)
    if how["reference_window"] is not None:
        curve.meta["reference_window_mjd"] = list(_sky.parse_time_range(how["reference_window"]))
    curve.meta.update(
        {
            "target_ra_deg": float(target.ra.deg),
            "target_dec_deg": float(target.dec.deg),
            "aperture_radius_pix": float(radius),
            "annulus_pix": list(annulus),
            "cutout_size": str(size),  # pixels, unless an angle is written
            "files": files,
            "failed": [f"{item.uri}: {item.error_type}: {item.message}" for item in result.failed],
            "transfer": {
                "requests": result.requests,
                "bytes": result.bytes,
                "seconds": round(result.seconds, 3),
                "backend": result.backend,
            },
        }
    )
    return curve


def plot_light_curve(curve: Table, truth: Table | None = None, ax: Any = None, *, mag: bool = False) -> Any:
    """Plot a light curve: one colour per band, error bars, and optionally the true curve.

    Parameters
    ----------
    curve : astropy.timeseries.TimeSeries or astropy.table.Table
        From :func:`light_curve`: ``time`` (Time or MJD), ``flux``, ``flux_err`` and
        ``band``. Points whose aperture was only partly on the image (``coverage`` < 1)
        are drawn hollow. The axis says the flux's unit when the column has one.
    truth : astropy.table.Table, optional
        The true (simulated) light curve: ``time`` (Time or MJD) and ``flux`` (``mag`` when
        plotting magnitudes), and ``band`` to draw one line per band in that band's colour.
    ax : matplotlib.axes.Axes, optional
        Where to draw; by default a new figure.
    mag : bool
        Plot AB magnitudes (``mag``, ``mag_err``), brighter up, instead of fluxes.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    MissingExtraError
        If matplotlib is not installed (the ``notebooks`` extra).
    InvalidParameterError
        If magnitudes are asked for and the curve (or the truth) has none: its files gave no
        zero point.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astropy.table import Table
    >>> curve = Table(
    ...     {
    ...         "time": [60000.0, 60005.0, 60010.0],
    ...         "band": ["F158", "F158", "F087"],
    ...         "flux": [10.0, 20.0, 15.0] * u.electron,
    ...         "flux_err": [1.0, 1.0, 2.0] * u.electron,
    ...         "mag": [25.0, 24.25, 24.6] * u.mag,
    ...         "mag_err": [0.11, 0.05, 0.14] * u.mag,
    ...     }
    ... )
    >>> ax = plot_light_curve(curve)
    >>> [text.get_text() for text in ax.get_legend().get_texts()], ax.get_ylabel()
    (['F087', 'F158'], 'flux (electron)')
    >>> ax = plot_light_curve(curve, mag=True)
    >>> ax.get_ylabel(), bool(ax.yaxis_inverted())
    ('AB magnitude', True)
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise MissingExtraError("Plotting a light curve", ["notebooks"], error.name) from error

    def mjd(table: Table) -> np.ndarray:
        time = table["time"]
        return np.asarray(getattr(time, "mjd", time), dtype=float)

    if ax is None:
        _, ax = plt.subplots()
    bands = sorted({str(band) for band in curve["band"]}) if "band" in curve.colnames else [""]
    colours = {band: f"C{i}" for i, band in enumerate(bands)}
    times = mjd(curve)
    band_of = (
        np.array([str(b) for b in curve["band"]]) if "band" in curve.colnames else np.full(len(curve), "")
    )
    coverage = (
        np.asarray(curve["coverage"], dtype=float) if "coverage" in curve.colnames else np.ones(len(curve))
    )
    value, spread = ("mag", "mag_err") if mag else ("flux", "flux_err")
    for table, what in ((curve, "curve"), (truth, "truth")):
        needed = (value, spread) if table is curve else (value,)
        if table is not None and any(name not in table.colnames for name in needed):
            raise InvalidParameterError(
                what,
                f"a table without {' or '.join(needed)}",
                hint="its files gave no zero point: plot fluxes (mag=False)"
                if mag
                else "give flux and flux_err",
            )
    flux, flux_err = np.asarray(curve[value], dtype=float), np.asarray(curve[spread], dtype=float)
    for band in bands:
        for full in (True, False):
            chosen = (band_of == band) & ((coverage >= 1 - 1e-9) == full)
            if not chosen.any():
                continue
            ax.errorbar(
                times[chosen],
                flux[chosen],
                yerr=flux_err[chosen],
                fmt="o",
                color=colours[band],
                markerfacecolor=None if full else "none",
                capsize=2,
                label=(band or None) if full else f"{band} (partly off the image)".strip(),
            )
    if truth is not None:
        truth_times = mjd(truth)
        groups: list[tuple[str | None, np.ndarray]] = [(None, np.ones(len(truth), bool))]  # one truth curve
        if "band" in truth.colnames and len(truth):
            truth_bands = [str(b) for b in truth["band"]]
            groups = [(band, np.array([b == band for b in truth_bands])) for band in sorted(set(truth_bands))]
        for truth_band, chosen in groups:
            order = np.argsort(truth_times[chosen])
            ax.plot(
                truth_times[chosen][order],
                np.asarray(truth[value], dtype=float)[chosen][order],
                "-",
                color="0.3" if truth_band is None else colours.get(truth_band, "0.3"),
                alpha=0.7,
                label="truth" if truth_band is None else f"{truth_band} truth",
            )
    ax.set_xlabel("time (MJD)")
    unit = getattr(curve["flux"], "unit", None)
    ax.set_ylabel("AB magnitude" if mag else f"flux ({unit})" if unit is not None else "flux")
    if mag and not ax.yaxis_inverted():
        ax.invert_yaxis()
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    return ax
