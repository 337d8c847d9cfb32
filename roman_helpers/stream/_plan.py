"""Where a cut-out lies in an image: the request read, then placed by astropy's Cutout2D (private).

Boxes are ``(x0, y0, x1, y1)``, 0-based pixel corners, end exclusive (``data[y0:y1, x0:x1]``);
sizes are ``(ny, nx)`` as in :class:`astropy.nddata.Cutout2D`, in pixels or as angles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _sky, _wcs
from ..errors import InvalidParameterError
from ._metadata import _coverage

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from astropy.nddata import Cutout2D

__all__ = ["COMPANIONS", "Request", "plan", "plan_each", "request"]

#: The arrays that go with a science image when they are present (FITS HDU names, ASDF names).
COMPANIONS = {"fits": ("ERR", "DQ"), "asdf": ("err", "dq")}


@dataclass
class Request:
    """What the caller asked for, parsed: a box, or a centre and a size."""

    box: tuple[int, int, int, int] | None = None
    position: Any = None
    size: tuple[Any, Any] | None = None
    size_as_given: Any = None


def request(box: Any, position: Any, pixel: Any, size: Any) -> Request:
    """Read a box, or a centre (``position=`` on the sky, or ``pixel=``) and a size, before any request."""
    if box is not None:
        if position is not None or pixel is not None or size is not None:
            raise InvalidParameterError(
                "box", box, hint="give either box= or a centre (position= or pixel=) and size=, not both"
            )
        return Request(box=_sky.parse_box(box))
    centre = _sky.parse_centre(position, pixel)
    if centre is None or size is None:
        missing = "position" if centre is None else "size"
        raise InvalidParameterError(
            missing,
            None,
            hint=f"give box={_sky.BOX_FORM}, or a centre (position= on the sky, pixel= in pixels) and size=",
        )
    return Request(position=centre, size=_sky.parse_size(size), size_as_given=size)


def _size_in_pixels(
    request: Request, wcs: Any, x: float, y: float, shape: tuple[int, int]
) -> tuple[int, int]:
    import astropy.units as u

    assert request.size is not None  # a position comes with a size (_request)
    if all(isinstance(side, int) for side in request.size):
        return request.size
    if wcs is None:
        raise InvalidParameterError(
            "size",
            request.size_as_given,
            hint="this image has no celestial WCS, so an angle cannot be turned into pixels; "
            "give the size in pixels",
        )
    # the scale where the cut-out is, or at the nearest edge for a centre off the image (a gwcs
    # has no sky outside its bounding box)
    scales = _wcs.pixel_scales(
        wcs, float(np.clip(x, 0, max(shape[1] - 2, 0))), float(np.clip(y, 0, max(shape[0] - 2, 0)))
    )
    pixels = [
        side if isinstance(side, int) else float((side / scale).to_value(u.one))
        for side, scale in zip(request.size, scales, strict=True)
    ]
    if not all(np.isfinite(pixels)):
        raise InvalidParameterError(
            "size",
            request.size_as_given,
            hint="the image's WCS gives no pixel scale there; give it in pixels",
        )
    return int(np.round(pixels[0])), int(np.round(pixels[1]))


def _off_image(
    request: Request,
    x: float,
    y: float,
    shape: tuple[int, int],
    wcs: Any,
    pixels: tuple[int, int] | None = None,
) -> InvalidParameterError:
    from astropy.coordinates import SkyCoord

    ny, nx = shape
    on_the_sky = isinstance(request.position, SkyCoord)
    if not on_the_sky:
        where = f"x, y = ({x:.1f}, {y:.1f}) is"
    elif np.isfinite(x) and np.isfinite(y):
        where = f"it falls at pixel x, y = ({x:.1f}, {y:.1f}),"
    else:
        where = "it is on the far side of the sky from this image,"
    reach = f" (a {pixels[0]} x {pixels[1]} cut-out, ny x nx, there does not reach it)" if pixels else ""
    covers = f", which covers {_coverage(wcs, shape)}" if wcs is not None else ""
    return InvalidParameterError(
        "position" if on_the_sky else "pixel",
        _sky.describe(request.position) if on_the_sky else request.position,
        hint=f"{where} off this image of {nx} x {ny} pixels (x 0..{nx - 1}, y 0..{ny - 1}){reach}{covers}",
    )


def plan(
    shape: tuple[int, int], request: Request, wcs: Any, at: tuple[float, float] | None = None
) -> Cutout2D:
    """Let :class:`astropy.nddata.Cutout2D` place the cut-out on a zero-byte stand-in.

    The stand-in has the image's shape but no memory (stride 0), so Cutout2D does the
    placement and the FITS WCS work and we learn which pixels to fetch. ``wcs`` is the
    image's astropy WCS, its gwcs, or None; ``at``, the pixel of a sky position when it is known
    already (:func:`plan_each` places many at once).
    """
    from astropy.coordinates import SkyCoord
    from astropy.nddata import Cutout2D, NoOverlapError

    placeholder = np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), shape=shape, strides=(0, 0))
    fits_wcs = wcs if _wcs.is_fits(wcs) else None
    if request.box is not None:
        _sky.check_box(request.box, shape)
        x0, y0, x1, y1 = request.box
        cut = Cutout2D(
            placeholder, ((x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2), (y1 - y0, x1 - x0), wcs=fits_wcs, mode="trim"
        )
        ys, xs = cut.slices_original
        if (xs.start, ys.start, xs.stop, ys.stop) != request.box:  # pragma: no cover
            raise AssertionError(f"cut-out placement {cut.slices_original} differs from box {request.box}")
        return cut
    position = request.position
    if isinstance(position, SkyCoord):
        if wcs is None:
            raise InvalidParameterError(
                "position",
                _sky.describe(position),
                hint="this image has no celestial WCS; give a pixel box (box=) or a pixel centre (pixel=)",
            )
        x, y = _wcs.world_to_pixel(wcs, position) if at is None else at
        if not (np.isfinite(x) and np.isfinite(y)):
            raise _off_image(request, x, y, shape, wcs)
        if fits_wcs is None:
            position = (x, y)  # Cutout2D places SkyCoords with FITS WCSs only
    else:
        x, y = position
    pixels = _size_in_pixels(request, wcs, x, y, shape)
    _sky.check_shape(pixels, shape, request.size_as_given)
    try:
        return Cutout2D(placeholder, position, pixels, wcs=fits_wcs, mode="trim")
    except NoOverlapError:
        raise _off_image(request, x, y, shape, wcs, pixels) from None


def plan_each(shape: tuple[int, int], requests: list[Request], wcs: Any, tolerant: bool) -> list[Any]:
    """:func:`plan` of each request; with ``tolerant``, the error of one that cannot be placed, kept."""
    from astropy.coordinates import SkyCoord

    places: dict[int, tuple[float, float]] = {}
    on_sky = [i for i, one in enumerate(requests) if one.box is None and isinstance(one.position, SkyCoord)]
    if wcs is not None and not _wcs.is_fits(wcs) and len(on_sky) > 1:  # a gwcs: inverted once for all
        xs, ys = _wcs.world_to_pixels(wcs, SkyCoord([requests[i].position for i in on_sky]))
        places = {i: (float(x), float(y)) for i, x, y in zip(on_sky, xs, ys, strict=True)}
    cuts: list[Any] = []
    for index, one in enumerate(requests):
        try:
            cuts.append(plan(shape, one, wcs, places.get(index)))
        except InvalidParameterError as error:
            if not tolerant:
                raise
            cuts.append(error)
    return cuts
