"""WCS helpers of the kit (private): one home for each rule the rooms share.

* :func:`fit_sip` -- a FITS-SIP approximation of a gwcs, with its accuracy measured, not assumed
  (an index row's WCS, a cut-out's FITS header);
* :func:`pixel_scales`, :func:`pixel_scale` -- the angle a pixel spans, for an astropy WCS or a gwcs;
* :func:`world_to_pixel` -- a sky position's pixel, also off the image;
* :func:`shifted` -- a gwcs moved to a cut-out, exact; :class:`Shifting`, the same made on first use;
* :func:`celestial` -- the celestial FITS WCS of a header, if it has one;
* :func:`to_text`, :func:`from_text` -- a FITS WCS as the text an index stores, and back, fast.

astropy and gwcs do the transformations; what is here is the choice among them and the checks.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._threadsafe import quiet
from .errors import FileFormatError

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from astropy.io.fits import Header
    from astropy.wcs import WCS

__all__ = [
    "Shifting",
    "SipFit",
    "celestial",
    "celestial_frame",
    "fit_sip",
    "from_text",
    "is_fits",
    "pixel_scale",
    "pixel_scales",
    "shifted",
    "to_text",
    "world_to_pixel",
    "world_to_pixels",
]

#: Highest polynomial degree tried for a SIP fit.
MAX_SIP_DEGREE = 9
#: Points a side of the grid a SIP fit is measured on (fewer for a smaller image: one a pixel).
GRID_SIDE = 65


def is_fits(wcs: Any) -> bool:
    """Tell an astropy (FITS) WCS from a gwcs."""
    from astropy.wcs import WCS

    return isinstance(wcs, WCS)


def celestial(header: Header, uri: str = "the file") -> WCS | None:
    """The celestial FITS WCS of ``header``, or None when it has none (astropy's fixes are quiet).

    Raises
    ------
    FileFormatError
        When its WCS keywords are there but cannot be read (wcslib refuses them: a damaged header).
    """
    from astropy.coordinates import SkyCoord
    from astropy.wcs import WCS, FITSFixedWarning

    try:
        with quiet(FITSFixedWarning):
            wcs = WCS(header)
            found = wcs.celestial if wcs.has_celestial else None
            probe = found.pixel_to_world(0, 0) if found is not None else None
    except ValueError as error:  # wcslib's errors (WcsError) are ValueErrors, as are astropy's of a card
        reason = " ".join(str(error).split()).removeprefix("ERROR ")
        raise FileFormatError(
            f"{uri}: its WCS keywords cannot be read ({reason}): a damaged header"
        ) from None
    if found is not None and not isinstance(probe, SkyCoord):  # a frame astropy cannot name (RADESYS ...)
        raise FileFormatError(
            f"{uri}: its WCS keywords do not give a position on the sky (no celestial frame astropy "
            "knows): a damaged header"
        )
    return found


def pixel_scales(wcs: Any, x: float, y: float) -> tuple[Any, Any]:
    """The angles one pixel spans along y and along x at pixel (x, y).

    For a FITS WCS the projection plane's scales (as :class:`astropy.nddata.Cutout2D` converts
    angular sizes, so that sizes agree with it to the pixel); a gwcs has no projection plane to
    ask, so the sky between neighbouring pixels is measured.
    """
    import astropy.units as u

    if is_fits(wcs):
        from astropy.wcs.utils import proj_plane_pixel_scales

        plane = wcs.celestial
        scale_x, scale_y = proj_plane_pixel_scales(plane) * u.Unit(plane.wcs.cunit[0])
        return scale_y, scale_x
    centre = wcs.pixel_to_world(x, y)
    return centre.separation(wcs.pixel_to_world(x, y + 1)), centre.separation(wcs.pixel_to_world(x + 1, y))


def pixel_scale(wcs: Any, x: float, y: float) -> Any:
    """The side of a square of a pixel's area at (x, y): the geometric mean of :func:`pixel_scales`."""
    scale_y, scale_x = pixel_scales(wcs, x, y)
    return np.sqrt(scale_y * scale_x)


def world_to_pixel(wcs: Any, position: Any) -> tuple[float, float]:
    """Pixel (x, y) of a SkyCoord, also off the image (NaN only where the projection has none).

    A gwcs gives NaN outside its bounding box; here it is inverted without it, so that a caller can
    say where a position falls. A gwcs whose transform has no analytic inverse (a distortion
    polynomial without one) is inverted numerically: by gwcs, or, where gwcs 1.0's own numerical
    inverse fails (its first guess asks a projection model for a class's ``__name__``), by
    :func:`_newton_inverse`.
    """
    x, y = world_to_pixels(wcs, position)
    return float(x), float(y)


def world_to_pixels(wcs: Any, positions: Any) -> tuple[np.ndarray, np.ndarray]:
    """:func:`world_to_pixel` of a SkyCoord array: one inverse transform made for all.

    A gwcs builds its inverse model anew at every call (milliseconds each): one call per
    position was most of the work of placing hundreds of stamps on one image. Here it is built
    once, then given each position alone: numpy's trigonometry rounds an array's elements
    otherwise than a single number (1e-10 pixels apart), and each position's pixel is the very
    one it gets alone (a stamp measured with a catalog's measures as one target's light curve).
    """
    if is_fits(wcs):
        x, y = wcs.world_to_pixel(positions)
    else:
        coord = positions.transform_to(wcs.output_frame.reference_frame)
        lon, lat = coord.spherical.lon.deg, coord.spherical.lat.deg
        try:
            inverse = _analytic_inverse(wcs)
            if inverse is None:
                x, y = wcs.invert(lon, lat, with_bounding_box=False)
            else:
                x, y = _each(lambda a, b: inverse(a, b, with_bounding_box=False), lon, lat)
        except AttributeError:  # gwcs 1.0.3's approximate inverse of a transform with a projection
            x, y = _each(functools.partial(_newton_inverse, wcs), lon, lat)
    return np.asarray(x, float), np.asarray(y, float)


def _each(invert: Any, lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """``invert(lon, lat)`` of each position alone, the pixels shaped as ``lon``."""
    pairs = [invert(a, b) for a, b in zip(np.ravel(lon), np.ravel(lat), strict=True)]
    return (
        np.reshape([pair[0] for pair in pairs], np.shape(lon)),
        np.reshape([pair[1] for pair in pairs], np.shape(lon)),
    )


def _analytic_inverse(wcs: Any) -> Any:
    """The gwcs's sky-to-pixel model, when it has one without units (what ``invert`` evaluates then)."""
    try:
        inverse = wcs.backward_transform
    except NotImplementedError:  # gwcs inverts it numerically
        return None
    return None if inverse.uses_quantity else inverse


def _newton_inverse(wcs: Any, lon: float, lat: float, *, iterations: int = 30) -> tuple[float, float]:
    """The pixel a gwcs sends to (lon, lat): Newton's method on its forward transform.

    Written here because gwcs's numerical inverse cannot start for such a transform (see
    :func:`world_to_pixel`). The offsets of the forward transform from the target are measured in
    the target's own tangent plane, so the poles and RA = 0 are no different; the first guess is
    the image's centre. A position the transform does not reach within 4 micro-arcseconds (the far
    side of the sky) gives NaN.
    """
    from astropy.coordinates import SkyCoord

    frame = wcs.output_frame.reference_frame
    target = SkyCoord(lon, lat, unit="deg", frame=frame)
    box = getattr(wcs, "bounding_box", None)
    (x0, x1), (y0, y1) = box.bounding_box(order="F") if box is not None else ((0, 0), (0, 0))
    point = np.array([(x0 + x1) / 2, (y0 + y1) / 2], dtype=float)
    step = 0.5  # pixels, for the derivatives
    for _ in range(iterations):
        xs = point[0] + np.array([0.0, step, -step, 0.0, 0.0])
        ys = point[1] + np.array([0.0, 0.0, 0.0, step, -step])
        sky = SkyCoord(*wcs(xs, ys, with_bounding_box=False), unit="deg", frame=frame)
        east, north = target.spherical_offsets_to(sky)
        offsets = np.stack([east.deg, north.deg])  # (2, 5): the target to each point
        jacobian = np.stack([offsets[:, 1] - offsets[:, 2], offsets[:, 3] - offsets[:, 4]], axis=1) / (
            2 * step
        )
        if not np.all(np.isfinite(jacobian)) or abs(np.linalg.det(jacobian)) == 0:
            break
        if float(np.hypot(*offsets[:, 0])) < 1e-9:  # degrees (4 micro-arcseconds): there
            return float(point[0]), float(point[1])
        point = point + np.linalg.solve(jacobian, -offsets[:, 0])
    return math.nan, math.nan


def shifted(gwcs_wcs: Any, x0: int, y0: int, shape: tuple[int, int]) -> Any:
    """The gwcs of a cut-out whose pixel (0, 0) is pixel (x0, y0) of the image: exact, not fitted."""
    from astropy.modeling.models import Shift
    from gwcs import WCS

    moved = WCS(
        (Shift(x0) & Shift(y0)) | gwcs_wcs.forward_transform,
        input_frame=gwcs_wcs.input_frame,
        output_frame=gwcs_wcs.output_frame,
    )
    moved.bounding_box = ((-0.5, shape[1] - 0.5), (-0.5, shape[0] - 0.5))
    return moved


class Shifting:
    """:func:`shifted`, made when first asked for and then kept.

    Making a cut-out's gwcs takes milliseconds (astropy copies the file's whole transform into
    the new one): most of the time of cutting hundreds of stamps out of a file, whose light
    curves measure at pixels known already and never ask for it. The cut-outs of one region
    (science, errors, quality) share one, and so one gwcs.
    """

    def __init__(self, gwcs_wcs: Any, x0: int, y0: int, shape: tuple[int, int]) -> None:
        self._recipe = (gwcs_wcs, x0, y0, shape)
        self._made: Any = None

    def get(self) -> Any:
        """The cut-out's gwcs (made at the first call; two threads racing make equal ones)."""
        if self._made is None:
            self._made = shifted(*self._recipe)
        return self._made


# --------------------------------------------------------------------------- SIP fits


@dataclass(frozen=True)
class SipFit:
    """A FITS-SIP approximation of a gwcs over an image, and how closely it follows it.

    Attributes
    ----------
    header : astropy.io.fits.Header
        The WCS keywords (no NAXIS); empty when no polynomial could be fitted.
    degree : int
        Degree of the forward polynomial (0 when none was fitted).
    deviation : float
        Largest distance, in pixels, between the pixel this WCS gives a sky position and the one
        the gwcs gives it, over the image (infinite when none was fitted).
    points : int
        Pixels the deviation was measured at.
    """

    header: Header
    degree: int
    deviation: float
    points: int

    @property
    def wcs(self) -> WCS:
        """The fitted WCS."""
        from astropy.wcs import WCS

        with quiet():  # astropy notes the SIP distortion it applies
            return WCS(self.header)


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixels a fit is measured at: up to :data:`GRID_SIDE` a side, the image's outer edges included."""
    ny, nx = shape
    return np.meshgrid(
        np.linspace(-0.5, nx - 0.5, min(nx + 1, GRID_SIDE)),
        np.linspace(-0.5, ny - 0.5, min(ny + 1, GRID_SIDE)),
    )


def _deviation(header: Header, grid: tuple[np.ndarray, np.ndarray], sky: tuple[np.ndarray, ...]) -> float:
    """Largest pixel distance between the grid and where ``header``'s WCS puts the gwcs's sky of it.

    Through astropy's own sky-to-pixel inversion of the SIP polynomial, as the index's searches and
    a user of the cut-out's header go; a fit that diverges shows as an infinite deviation.
    """
    from astropy.wcs import WCS

    x, y = grid
    px, py = WCS(header).all_world2pix(*sky, 0, quiet=True)
    deviation = float(np.max(np.hypot(px - x, py - y)))
    return deviation if math.isfinite(deviation) else math.inf


def fit_sip(gwcs_wcs: Any, shape: tuple[int, int], *, goal: float = 0.01, inverse: bool = False) -> SipFit:
    """Fit a FITS-SIP WCS to a gwcs over an image of ``shape`` (ny, nx), within ``goal`` pixels if it can.

    gwcs fits the polynomial (:meth:`gwcs.WCS.to_fits_sip`), one degree after another until the
    deviation measured here (:func:`_deviation`, independent of the fit) is within ``goal``; the
    best degree is kept otherwise. The degrees are tried here, not by gwcs's own search, because
    that search stops at the first degree that does not improve on the one below, which happens
    for a distortion without even terms. With ``inverse``, the inverse polynomial (AP, BP: sky to
    pixel) is added when gwcs fits it within ``goal`` too.

    Holds the kit's lock (gwcs changes the process-wide warning filters while it fits, see
    :mod:`roman_helpers._threadsafe`), and is quiet: gwcs warns about the accuracies it misses, and
    they are measured here.
    """
    from astropy.io import fits

    ny, nx = shape
    box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
    grid = _grid(shape)
    best = SipFit(fits.Header(), 0, math.inf, grid[0].size)
    with quiet():
        sky = gwcs_wcs(*grid, with_bounding_box=False)
        for degree in range(1, MAX_SIP_DEGREE + 1):
            try:
                header = gwcs_wcs.to_fits_sip(bounding_box=box, degree=degree, max_inv_pix_error=None)
            except (ValueError, np.linalg.LinAlgError):
                continue
            deviation = _deviation(header, grid, sky)
            if deviation < best.deviation:
                best = SipFit(header, degree, deviation, grid[0].size)
            if deviation <= goal:
                break
        if inverse and "A_ORDER" in best.header:  # a linear fit has no polynomial to invert
            best = _with_inverse(gwcs_wcs, best, box, goal)
    for key in ("NAXIS", "NAXIS1", "NAXIS2"):
        best.header.remove(key, ignore_missing=True)
    return best


def _with_inverse(gwcs_wcs: Any, fit: SipFit, box: tuple, goal: float) -> SipFit:
    """``fit`` with an inverse polynomial (AP, BP) within ``goal`` pixels, when gwcs finds one."""
    for inverse_degree in (None, *range(fit.degree, MAX_SIP_DEGREE + 1)):
        try:
            header = gwcs_wcs.to_fits_sip(
                bounding_box=box, degree=fit.degree, inv_degree=inverse_degree, max_inv_pix_error=goal
            )
        except (ValueError, np.linalg.LinAlgError):
            continue
        if header.get("SIPIVERR", np.inf) <= goal:
            return SipFit(header, fit.degree, fit.deviation, fit.points)
    return fit


# --------------------------------------------------------------------------- WCS as text


def to_text(header: Header) -> str:
    """The WCS keywords as FITS header text: one card a line, no comments, no trailing blanks.

    Line breaks survive ECSV (inside a quoted value) and Parquet; trailing blanks would not.
    """
    from astropy.io import fits

    cards = (fits.Card(key, value) for key, value in header.items() if key not in ("COMMENT", "HISTORY", ""))
    return "\n".join(card.image.rstrip() for card in cards)


_SIP_CARD = re.compile(r"^(A|B|AP|BP)_(ORDER|\d+_\d+) *= *(\S+)")


def _sip_matrix(terms: dict[tuple[str, str], float], name: str) -> np.ndarray | None:
    if (name, "ORDER") not in terms:
        return None
    matrix = np.zeros((int(terms[name, "ORDER"]) + 1,) * 2)
    for (which, powers), value in terms.items():
        if which == name and powers != "ORDER":
            p, q = (int(v) for v in powers.split("_"))
            matrix[p, q] = value
    return matrix


@functools.lru_cache(maxsize=4096)
def from_text(text: str) -> WCS:
    """The WCS of :func:`to_text`'s text.

    astropy.wcs.WCS builds a fits.Header from any header it is given (about a millisecond, most
    of a search's time when a field has hundreds of epochs). This text is canonical (astropy wrote
    it), so wcslib parses it directly (Wcsprm) and the SIP polynomials are attached as astropy
    attaches them: twenty times faster, the same transformation (tests/test_footprints.py
    compares the two).
    """
    from astropy.wcs import WCS, Sip, Wcsprm

    terms: dict[tuple[str, str], float] = {}
    plain = []
    for card in text.split("\n"):
        match = _SIP_CARD.match(card)
        if match:
            terms[match.group(1), match.group(2)] = float(match.group(3))
        else:
            plain.append(card.ljust(80))
    wcs = WCS(naxis=2)
    wcs.wcs = Wcsprm("".join(plain).encode())
    wcs.wcs.set()
    if terms:
        a, b = _sip_matrix(terms, "A"), _sip_matrix(terms, "B")
        wcs.sip = Sip(a, b, _sip_matrix(terms, "AP"), _sip_matrix(terms, "BP"), wcs.wcs.crpix)
    return wcs


@functools.lru_cache(maxsize=4096)
def celestial_frame(text: str) -> Any:
    """The celestial frame of :func:`to_text`'s text (ICRS, FK5 ...)."""
    from astropy.wcs.utils import wcs_to_celestial_frame

    return wcs_to_celestial_frame(from_text(text))
