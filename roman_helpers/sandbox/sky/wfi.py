"""The Roman Wide Field Instrument (WFI) focal plane: 18 detectors on the sky.

Facts and where they come from
    * 18 H4RG-10 detectors (sensor chip assemblies, SCAs), a field of 0.8 deg x 0.4 deg
      (0.281 deg² without the gaps) at 0.11 arcsec per pixel: ``data/WideFieldInstrument/
      WFI_overview.yaml`` of RomanSpaceTelescope/roman-technical-information; the detectors'
      arrangement (three columns of three on each side of the centre, the outer columns
      stepped towards the focal plane's edge): ``data/WideFieldInstrument/FPSPerformance/
      WFI_detector_array_SCU_SCA_labeled.png`` of the same repository.
    * 4088 x 4088 science pixels per detector (4096 less four reference pixels a side), and
      the detectors' centres in the focal plane (:data:`SCA_OFFSETS`, degrees on the sky from
      the WFI centre): columns 6 and 7 of ``share/roman/sca_positions_20210204.txt`` of GalSim,
      the Roman project's WFI design of 2021-02-04 that ``galsim.roman`` uses and with it the
      OpenUniverse 2024 simulations (roman_imsim). The technical-information repository
      publishes the layout as a picture only; these are the same detectors in numbers.
    * Detectors 3, 6, 9, 12, 15 and 18 are mounted rotated by 180 degrees relative to the
      others (GalSim's SIP coefficients for the 2021 design have the opposite sign of the
      linear terms for those detectors; the IRSA Time Domain Survey notebook rotates those
      images by another 180 degrees to align them). In OpenUniverse files the header's
      ``ORIENTAT`` is the focal plane's position angle, the same for all 18 detectors, while
      the CD matrix of the flipped ones is rotated by 180 degrees: :func:`orientat` and
      :func:`cd_matrix` reproduce that. A public script that reconstructs a real OpenUniverse
      TDS header from its observation-sequence row shows CD = R(-PA) diag(+s, +s): the images
      have det(CD) > 0 (east to the right of north seen with north up), as here.
    * The position angle (``pa``) is that of the focal plane's +v axis (OpenUniverse's
      observation sequence ``pa``, which roman_imsim passes to GalSim as the focal plane's
      angle, ``PA_is_FPA=True``), measured from north through east. The boresight (``ra``,
      ``dec``) is the WFI centre, the origin of :data:`SCA_OFFSETS`.

Simplifications (the sandbox's own)
    Each detector is a plain gnomonic (TAN) projection about its centre with one pixel scale,
    0.11 arcsec, and no distortion: the real WFI's plate scale varies by a few per cent across
    the field (GalSim adds SIP terms) and its detectors are not perfect squares on the sky.
    The reference pixel is FITS pixel 2044 (0-based 2043) on both axes, as GalSim writes it,
    so a detector's "centre" here is the sky position of that pixel. Files in the Roman
    Science Operations Center's layout (``convention="roman"``) use the same geometry without
    the 180-degree flips: their pipeline rotates every detector into one science frame.

Everything is vectorised with NumPy over any number of pointings: the corners of 18 x 300,000
detector images take well under a second. The gnomonic projection is written out here because
astropy's WCS handles one tangent point at a time; the tests check it against astropy.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "DETECTORS",
    "DETECTOR_SIDE",
    "FIELD_AREA_DEG2",
    "FLIPPED",
    "PIXEL_SCALE",
    "REFERENCE_PIXEL",
    "SCA_OFFSETS",
    "Convention",
    "cd_matrix",
    "corners",
    "deproject",
    "detector_centres",
    "fits_header",
    "focal_plane_to_sky",
    "footprints",
    "gwcs",
    "orientat",
    "overlaps_disc",
    "pixel_to_sky",
    "project",
    "wcs",
]

Convention = Literal["openuniverse", "roman"]

#: Detector numbers (SCA, WFI01 to WFI18).
DETECTORS = tuple(range(1, 19))
#: Science pixels a side of every detector.
DETECTOR_SIDE = 4088
#: Pixel scale, arcsec per pixel.
PIXEL_SCALE = 0.11
#: 0-based pixel (both axes) at the detector's reference position; FITS ``CRPIX`` is this + 1.
REFERENCE_PIXEL = DETECTOR_SIDE / 2 - 1
#: Detectors mounted rotated by 180 degrees (OpenUniverse images carry that rotation).
FLIPPED = frozenset({3, 6, 9, 12, 15, 18})

# Degrees on the sky from the WFI centre, (u, v) in the focal plane's frame, detector 1 first:
# columns 6 and 7 of GalSim's share/roman/sca_positions_20210204.txt (the 2021-02-04 WFI design).
_OFFSETS = (
    (-0.0680, -0.0356),
    (-0.0679, 0.1108),
    (-0.0678, 0.2417),
    (-0.2037, -0.0627),
    (-0.2037, 0.0840),
    (-0.2036, 0.2146),
    (-0.3390, -0.1283),
    (-0.3393, 0.0191),
    (-0.3403, 0.1486),
    (0.0678, -0.0356),
    (0.0678, 0.1108),
    (0.0677, 0.2417),
    (0.2034, -0.0627),
    (0.2036, 0.0840),
    (0.2035, 0.2146),
    (0.3388, -0.1284),
    (0.3392, 0.0191),
    (0.3403, 0.1486),
)
#: (18, 2) array: each detector's centre in degrees from the WFI centre along the focal plane's
#: u and v axes (row i is detector i + 1). +v is the axis whose position angle is ``pa``; +u is
#: 90 degrees west of it on the sky.
SCA_OFFSETS: NDArray[np.float64] = np.array(_OFFSETS, dtype=float)
SCA_OFFSETS.setflags(write=False)

_SIDE_DEG = DETECTOR_SIDE * PIXEL_SCALE / 3600.0
#: Area of the 18 detectors on the sky, square degrees (0.281 deg², as the WFI overview states).
FIELD_AREA_DEG2 = len(DETECTORS) * _SIDE_DEG**2
# the pixel edges of a detector, 0-based: corners in the order (x0, y0), (x1, y0), (x1, y1), (x0, y1)
_EDGE_LOW, _EDGE_HIGH = -0.5, DETECTOR_SIDE - 0.5
_CORNER_PIXELS = np.array(
    [[_EDGE_LOW, _EDGE_LOW], [_EDGE_HIGH, _EDGE_LOW], [_EDGE_HIGH, _EDGE_HIGH], [_EDGE_LOW, _EDGE_HIGH]]
)


def _sca_index(sca: ArrayLike) -> NDArray[np.int64]:
    numbers = np.asarray(sca, dtype=np.int64)
    if numbers.size and (numbers.min() < 1 or numbers.max() > len(DETECTORS)):
        raise ValueError(f"WFI detectors are numbered 1 to 18, not {sorted(set(numbers.ravel().tolist()))}")
    return numbers - 1


def deproject(
    ra0: ArrayLike, dec0: ArrayLike, xi: ArrayLike, eta: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the sky position of standard coordinates about a tangent point (inverse gnomonic).

    Parameters
    ----------
    ra0, dec0 : array_like
        Tangent point(s), degrees.
    xi, eta : array_like
        Standard coordinates, degrees on the tangent plane: ``xi`` towards east (increasing
        right ascension), ``eta`` towards north. Broadcast against ``ra0``/``dec0``.

    Returns
    -------
    ra, dec : ndarray
        Degrees; right ascension in [0, 360).

    Examples
    --------
    >>> ra, dec = deproject(10.0, -44.0, *project(10.0, -44.0, 10.3, -44.2))
    >>> round(float(ra), 9), round(float(dec), 9)
    (10.3, -44.2)
    >>> ra, dec = deproject(359.9, 89.0, 0.0, 1.0)
    >>> round(float(dec), 6)
    90.0
    """
    a0, d0 = np.radians(ra0), np.radians(dec0)
    x, y = np.radians(xi), np.radians(eta)
    denominator = np.cos(d0) - y * np.sin(d0)
    ra = a0 + np.arctan2(x, denominator)
    dec = np.arctan2(np.sin(d0) + y * np.cos(d0), np.hypot(x, denominator))
    return np.degrees(ra) % 360.0, np.degrees(dec)


def project(
    ra0: ArrayLike, dec0: ArrayLike, ra: ArrayLike, dec: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return standard coordinates (gnomonic projection) of sky positions about a tangent point.

    Parameters
    ----------
    ra0, dec0 : array_like
        Tangent point(s), degrees.
    ra, dec : array_like
        Positions, degrees; broadcast against the tangent points.

    Returns
    -------
    xi, eta : ndarray
        Degrees on the tangent plane, ``xi`` towards east, ``eta`` towards north. Positions 90
        degrees or more from the tangent point have no projection and come back as NaN.

    Examples
    --------
    >>> xi, eta = project(10.0, 0.0, [10.0, 11.0], [1.0, 0.0])
    >>> xi.round(6).tolist(), eta.round(6).tolist()
    ([0.0, 1.000102], [1.000102, 0.0])
    """
    a0, d0 = np.radians(ra0), np.radians(dec0)
    a, d = np.radians(ra), np.radians(dec)
    cos_c = np.sin(d0) * np.sin(d) + np.cos(d0) * np.cos(d) * np.cos(a - a0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos_c = np.where(cos_c > 0, cos_c, np.nan)
        xi = np.cos(d) * np.sin(a - a0) / cos_c
        eta = (np.cos(d0) * np.sin(d) - np.sin(d0) * np.cos(d) * np.cos(a - a0)) / cos_c
    return np.degrees(xi), np.degrees(eta)


def focal_plane_to_sky(u: ArrayLike, v: ArrayLike, pa: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
    """Return standard coordinates of focal-plane offsets at a position angle.

    Parameters
    ----------
    u, v : array_like
        Offsets along the focal plane's axes, degrees (as :data:`SCA_OFFSETS`).
    pa : array_like
        Position angle of the focal plane's +v axis, degrees east of north.

    Returns
    -------
    xi, eta : ndarray
        Degrees on the tangent plane at the WFI centre, towards east and north.

    Examples
    --------
    >>> xi, eta = focal_plane_to_sky(0.0, 1.0, 90.0)  # +v at position angle 90 points east
    >>> round(float(xi), 9), round(float(eta), 9)
    (1.0, 0.0)
    """
    angle = np.radians(pa)
    cos_pa, sin_pa = np.cos(angle), np.sin(angle)
    # GalSim's rotation by the focal plane's angle; its tangent-plane u points west, hence -u'.
    u_sky = np.multiply(u, cos_pa) - np.multiply(v, sin_pa)
    v_sky = np.multiply(u, sin_pa) + np.multiply(v, cos_pa)
    return -u_sky, v_sky


def detector_centres(
    ra: ArrayLike, dec: ArrayLike, pa: ArrayLike, sca: ArrayLike | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the sky position of detectors' reference pixels for pointings of the WFI.

    Parameters
    ----------
    ra, dec, pa : array_like
        Boresight (the WFI centre) and the focal plane's position angle, degrees; any shape.
    sca : array_like of int, optional
        Detector numbers (1-18), broadcast against the pointings. Without it, every detector:
        the result gains a last axis of 18.

    Returns
    -------
    ra, dec : ndarray
        Degrees.

    Examples
    --------
    >>> ra, dec = detector_centres([9.5, 10.0], [-44.0, -44.0], [0.0, 90.0])
    >>> ra.shape
    (2, 18)
    >>> ra1, dec1 = detector_centres(9.5, -44.0, 0.0, sca=1)  # detector 1 sits south-east of the centre
    >>> bool(ra1 > 9.5), bool(dec1 < -44.0)
    (True, True)
    """
    ra_, dec_, pa_ = (np.asarray(value, dtype=float) for value in (ra, dec, pa))
    if sca is None:
        u, v = SCA_OFFSETS[:, 0], SCA_OFFSETS[:, 1]
        ra_, dec_, pa_ = ra_[..., None], dec_[..., None], pa_[..., None]
    else:
        index = _sca_index(sca)
        u, v = SCA_OFFSETS[index, 0], SCA_OFFSETS[index, 1]
    xi, eta = focal_plane_to_sky(u, v, pa_)
    return deproject(ra_, dec_, xi, eta)


def _flip(sca: ArrayLike, convention: Convention) -> NDArray[np.float64]:
    if convention not in ("openuniverse", "roman"):
        raise ValueError(f"convention must be 'openuniverse' or 'roman', not {convention!r}")
    numbers = _sca_index(sca) + 1
    if convention == "roman":
        return np.ones(numbers.shape)
    return np.where(np.isin(numbers, sorted(FLIPPED)), -1.0, 1.0)


def cd_matrix(pa: ArrayLike, sca: ArrayLike, convention: Convention = "openuniverse") -> NDArray[np.float64]:
    """Return detectors' CD matrices (degrees per pixel) at the focal plane's position angle.

    Parameters
    ----------
    pa : array_like
        Position angle of the focal plane's +v axis, degrees east of north.
    sca : array_like of int
        Detector numbers, broadcast against ``pa``.
    convention : {"openuniverse", "roman"}
        ``"openuniverse"``: detectors of :data:`FLIPPED` rotated by 180 degrees, as in the
        OpenUniverse 2024 files; ``"roman"``: every detector in one orientation.

    Returns
    -------
    ndarray
        Shape ``broadcast(pa, sca).shape + (2, 2)``: ``[[CD1_1, CD1_2], [CD2_1, CD2_2]]``.

    Examples
    --------
    >>> cd = cd_matrix(0.0, 1)
    >>> bool(cd[0, 0] > 0 and cd[1, 1] > 0)  # +x east, +y north at PA 0
    True
    >>> bool(cd_matrix(0.0, 3)[1, 1] < 0)  # a flipped detector: +y south
    True
    """
    angle = np.radians(np.asarray(pa, dtype=float))
    flip = _flip(sca, convention)
    angle, flip = np.broadcast_arrays(angle, flip)
    scale = flip * PIXEL_SCALE / 3600.0
    cos_pa, sin_pa = np.cos(angle), np.sin(angle)
    cd = np.empty((*angle.shape, 2, 2))
    cd[..., 0, 0] = scale * cos_pa
    cd[..., 0, 1] = scale * sin_pa
    cd[..., 1, 0] = -scale * sin_pa
    cd[..., 1, 1] = scale * cos_pa
    return cd


def orientat(pa: ArrayLike) -> NDArray[np.float64]:
    """Return the ``ORIENTAT`` header value of OpenUniverse images: the focal plane's angle.

    It is the same for all 18 detectors; the image +y axis of a detector of :data:`FLIPPED`
    points 180 degrees away from it.

    Parameters
    ----------
    pa : array_like
        Position angle of the focal plane, degrees.

    Returns
    -------
    ndarray
        Degrees in [0, 360).

    Examples
    --------
    >>> float(orientat(-10.0))
    350.0
    """
    return np.asarray(pa, dtype=float) % 360.0


def corners(
    ra: ArrayLike,
    dec: ArrayLike,
    pa: ArrayLike,
    sca: ArrayLike | None = None,
    convention: Convention = "openuniverse",
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the sky positions of detectors' four outer pixel corners.

    Parameters
    ----------
    ra, dec, pa : array_like
        Boresight and position angle, degrees.
    sca : array_like of int, optional
        Detector numbers broadcast against the pointings; without it, all 18 (a last axis of 18).
    convention : {"openuniverse", "roman"}
        Orientation of the flipped detectors (see :func:`cd_matrix`); the corners' order follows it.

    Returns
    -------
    ra, dec : ndarray
        Shape ``(..., 4)``: the corners at 0-based pixels (-0.5, -0.5), (4087.5, -0.5),
        (4087.5, 4087.5), (-0.5, 4087.5), degrees.

    Examples
    --------
    >>> ra, dec = corners(9.5, -44.0, 30.0)
    >>> ra.shape
    (18, 4)
    """
    ra_, dec_, pa_ = (np.asarray(value, dtype=float) for value in (ra, dec, pa))
    if sca is None:
        sca_ = np.arange(1, len(DETECTORS) + 1)
        ra_, dec_, pa_ = ra_[..., None], dec_[..., None], pa_[..., None]
    else:
        sca_ = np.asarray(sca)
    centre_ra, centre_dec = detector_centres(ra_, dec_, pa_, sca_)
    cd = cd_matrix(pa_, sca_, convention)
    offsets = _CORNER_PIXELS - REFERENCE_PIXEL  # (4, 2) pixels from the reference pixel
    xi = cd[..., 0, 0, None] * offsets[:, 0] + cd[..., 0, 1, None] * offsets[:, 1]
    eta = cd[..., 1, 0, None] * offsets[:, 0] + cd[..., 1, 1, None] * offsets[:, 1]
    return deproject(centre_ra[..., None], centre_dec[..., None], xi, eta)


def pixel_to_sky(
    ra: ArrayLike,
    dec: ArrayLike,
    pa: ArrayLike,
    sca: ArrayLike,
    x: ArrayLike,
    y: ArrayLike,
    convention: Convention = "openuniverse",
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the sky positions of detector pixels (0-based), vectorised over images and pixels.

    Parameters
    ----------
    ra, dec, pa, sca : array_like
        Pointings and detector numbers, broadcast together.
    x, y : array_like
        0-based pixel positions, broadcast against a trailing axis: shape ``(..., m)`` or scalars.
    convention : {"openuniverse", "roman"}
        See :func:`cd_matrix`.

    Returns
    -------
    ra, dec : ndarray
        Degrees, shape ``broadcast(ra, dec, pa, sca).shape + broadcast(x, y).shape``.

    Examples
    --------
    >>> ra, dec = pixel_to_sky(9.5, -44.0, 0.0, 1, [REFERENCE_PIXEL], [REFERENCE_PIXEL])
    >>> bool(abs(ra[0] - detector_centres(9.5, -44.0, 0.0, 1)[0]) < 1e-12)
    True
    """
    centre_ra, centre_dec = detector_centres(ra, dec, pa, sca)
    cd = cd_matrix(pa, sca, convention)
    centre_ra, centre_dec = np.broadcast_arrays(centre_ra, centre_dec)
    cd = np.broadcast_to(cd, (*centre_ra.shape, 2, 2))
    dx, dy = np.broadcast_arrays(
        np.asarray(x, dtype=float) - REFERENCE_PIXEL, np.asarray(y, dtype=float) - REFERENCE_PIXEL
    )
    extra = (None,) * dx.ndim
    index = (..., *extra)
    xi = cd[..., 0, 0][index] * dx + cd[..., 0, 1][index] * dy
    eta = cd[..., 1, 0][index] * dx + cd[..., 1, 1][index] * dy
    return deproject(centre_ra[index], centre_dec[index], xi, eta)


def footprints(ra: ArrayLike, dec: ArrayLike, pa: ArrayLike) -> NDArray[np.float64]:
    """Return every detector's corners for many pointings as one array.

    Parameters
    ----------
    ra, dec, pa : array_like
        1-D arrays of boresights and position angles (degrees), one per pointing.

    Returns
    -------
    ndarray
        Shape ``(n_pointings, 18, 4, 2)``: (ra, dec) of each corner in degrees, detector 1 first.

    Examples
    --------
    >>> import numpy as np
    >>> n = 300_000
    >>> corners_ = footprints(np.full(n, 9.5), np.full(n, -44.0), np.linspace(0, 360, n))
    >>> corners_.shape
    (300000, 18, 4, 2)
    """
    ra_corner, dec_corner = corners(ra, dec, pa)
    return np.stack([ra_corner, dec_corner], axis=-1)


def overlaps_disc(
    ra: ArrayLike, dec: ArrayLike, pa: ArrayLike, centre: tuple[float, float], radius: float
) -> NDArray[np.bool_]:
    """Return which detector images overlap a disc on the sky.

    Parameters
    ----------
    ra, dec, pa : array_like
        1-D boresights and position angles of the pointings, degrees.
    centre : (float, float)
        Centre of the disc (ra, dec), degrees.
    radius : float
        Radius of the disc, degrees (under 10 degrees: the test works on the disc's tangent plane).

    Returns
    -------
    ndarray of bool
        Shape ``(n_pointings, 18)``: True where a detector's pixels and the disc share area.

    Examples
    --------
    A disc 0.01 degrees across the WFI centre touches the two detectors either side of the
    central gap; a pointing elsewhere touches none:

    >>> hits = overlaps_disc([9.5, 30.0], [-44.0, -44.0], [0.0, 0.0], (9.5, -44.0), 0.01)
    >>> hits.shape, int(hits[0].sum()), int(hits[1].sum())
    ((2, 18), 2, 0)
    >>> int(overlaps_disc([9.5], [-44.0], [0.0], (9.5, -44.0), 0.2).sum())
    10
    """
    ra_, dec_, pa_ = (np.atleast_1d(np.asarray(value, dtype=float)) for value in (ra, dec, pa))
    result = np.zeros((*ra_.shape, len(DETECTORS)), dtype=bool)
    # first by the boresight (the farthest detector corner is under 0.45 degrees from it), then by
    # each detector's centre (within its half-diagonal plus a margin), then exactly by the corners
    near = np.flatnonzero(_separation_cos(ra_, dec_, centre) >= math.cos(math.radians(radius + 0.5)))
    if near.size == 0:
        return result
    centre_ra, centre_dec = detector_centres(ra_[near], dec_[near], pa_[near])
    half_diagonal = _SIDE_DEG / math.sqrt(2.0) + 0.01
    pointing, detector = np.nonzero(
        _separation_cos(centre_ra, centre_dec, centre) >= math.cos(math.radians(radius + half_diagonal))
    )
    if pointing.size == 0:
        return result
    rows = near[pointing]
    ra_corner, dec_corner = corners(ra_[rows], dec_[rows], pa_[rows], detector + 1)
    x, y = project(centre[0], centre[1], ra_corner, dec_corner)  # (n, 4) on the disc's tangent plane
    result[rows, detector] = _polygon_within(x, y, radius)
    return result


def _separation_cos(ra: NDArray[Any], dec: NDArray[Any], centre: tuple[float, float]) -> NDArray[Any]:
    """Cosine of the angle between positions and ``centre`` (degrees in, no unit out)."""
    d0 = math.radians(centre[1])
    d = np.radians(dec)
    return np.sin(d) * math.sin(d0) + np.cos(d) * math.cos(d0) * np.cos(np.radians(ra - centre[0]))


def _polygon_within(x: NDArray[np.float64], y: NDArray[np.float64], radius: float) -> NDArray[np.bool_]:
    """Whether convex quadrilaterals (last axis: 4 corners, in order) come within ``radius`` of (0, 0)."""
    x_next, y_next = np.roll(x, -1, axis=-1), np.roll(y, -1, axis=-1)
    edge_x, edge_y = x_next - x, y_next - y
    # the origin is inside when it lies on the same side of all four edges
    side = edge_x * (-y) - edge_y * (-x)
    inside = np.all(side >= 0, axis=-1) | np.all(side <= 0, axis=-1)
    # else the nearest point of any edge to the origin
    length2 = edge_x**2 + edge_y**2
    t = np.clip(-(x * edge_x + y * edge_y) / np.where(length2 > 0, length2, 1.0), 0.0, 1.0)
    distance2 = (x + t * edge_x) ** 2 + (y + t * edge_y) ** 2
    near = np.nanmin(distance2, axis=-1) <= radius**2
    return np.nan_to_num(inside | near, nan=False).astype(bool)


def fits_header(ra: float, dec: float, pa: float, sca: int, convention: Convention = "openuniverse") -> Any:
    """Return the celestial WCS of one detector image as FITS header cards.

    Parameters
    ----------
    ra, dec, pa : float
        Boresight and the focal plane's position angle, degrees.
    sca : int
        Detector number, 1-18.
    convention : {"openuniverse", "roman"}
        See :func:`cd_matrix`.

    Returns
    -------
    astropy.io.fits.Header
        ``WCSAXES, CTYPE1/2 (RA---TAN, DEC--TAN), CRPIX1/2, CRVAL1/2, CUNIT1/2, CD1_1 .. CD2_2,
        RADESYS``, and the pointing as OpenUniverse headers carry it: ``RA_TARG, DEC_TARG,
        PA_FPA, ORIENTAT, SCA_NUM``.

    Examples
    --------
    >>> header = fits_header(9.5, -44.0, 30.0, 11)
    >>> header["CTYPE1"], header["CRPIX1"], header["SCA_NUM"]
    ('RA---TAN', 2044.0, 11)
    """
    from astropy.io import fits

    centre_ra, centre_dec = detector_centres(ra, dec, pa, sca)
    cd = cd_matrix(pa, sca, convention)
    header = fits.Header()
    header["WCSAXES"] = 2
    header["CTYPE1"] = ("RA---TAN", "gnomonic, no distortion (offline sandbox)")
    header["CTYPE2"] = "DEC--TAN"
    header["CRPIX1"] = REFERENCE_PIXEL + 1
    header["CRPIX2"] = REFERENCE_PIXEL + 1
    header["CRVAL1"] = float(centre_ra)
    header["CRVAL2"] = float(centre_dec)
    header["CUNIT1"] = "deg"
    header["CUNIT2"] = "deg"
    for (i, j), value in np.ndenumerate(cd):
        header[f"CD{i + 1}_{j + 1}"] = float(value)
    header["RADESYS"] = "ICRS"
    header["RA_TARG"] = (float(ra), "right ascension of the WFI centre (deg)")
    header["DEC_TARG"] = (float(dec), "declination of the WFI centre (deg)")
    header["PA_FPA"] = (float(pa), "position angle of the focal plane Y axis (deg)")
    header["ORIENTAT"] = (float(orientat(pa)), "position angle of image y axis (deg. e of n)")
    header["SCA_NUM"] = (int(sca), "SCA number (1 - 18)")
    return header


def wcs(ra: float, dec: float, pa: float, sca: int, convention: Convention = "openuniverse") -> Any:
    """Return one detector image's WCS as an astropy WCS (0-based pixels, 4088 x 4088).

    Parameters
    ----------
    ra, dec, pa : float
        Boresight and position angle, degrees.
    sca : int
        Detector number.
    convention : {"openuniverse", "roman"}
        See :func:`cd_matrix`.

    Returns
    -------
    astropy.wcs.WCS
        With ``pixel_shape`` (4088, 4088).

    Examples
    --------
    >>> w = wcs(9.5, -44.0, 0.0, 1)
    >>> x, y = w.world_to_pixel_values(*detector_centres(9.5, -44.0, 0.0, 1))
    >>> round(float(x), 6), round(float(y), 6)
    (2043.0, 2043.0)
    """
    from astropy.wcs import WCS

    result = WCS(fits_header(ra, dec, pa, sca, convention))
    result.pixel_shape = (DETECTOR_SIDE, DETECTOR_SIDE)
    return result


def gwcs(ra: float, dec: float, pa: float, sca: int, convention: Convention = "roman") -> Any:
    """Return one detector image's WCS as a gwcs object, as Roman ASDF files carry it.

    The same projection as :func:`wcs`: pixel (0-based) -> shift to the reference pixel -> CD
    matrix -> gnomonic projection -> rotation to the detector's centre on the sky; the
    bounding box is the detector's pixels, (-0.5, 4087.5) on both axes.

    Parameters
    ----------
    ra, dec, pa : float
        Boresight and position angle, degrees.
    sca : int
        Detector number.
    convention : {"roman", "openuniverse"}
        See :func:`cd_matrix`; Roman level-2 files use ``"roman"``.

    Returns
    -------
    gwcs.wcs.WCS
        Input frame ``detector`` (pixels), output frame ``world`` (ICRS, degrees).

    Examples
    --------
    >>> g = gwcs(9.5, -44.0, 30.0, 4)
    >>> ra, dec = g(2043.0, 2043.0)
    >>> bool(abs(ra - float(detector_centres(9.5, -44.0, 30.0, 4)[0])) < 1e-9)
    True
    >>> g.bounding_box.bounding_box()
    ((-0.5, 4087.5), (-0.5, 4087.5))
    """
    from astropy import coordinates
    from astropy import units as u
    from astropy.modeling import models
    from gwcs import coordinate_frames as frames
    from gwcs.wcs import WCS as GWCS

    centre_ra, centre_dec = detector_centres(ra, dec, pa, sca)
    cd = cd_matrix(pa, sca, convention)
    transform = (
        (models.Shift(-REFERENCE_PIXEL) & models.Shift(-REFERENCE_PIXEL))
        | models.AffineTransformation2D(matrix=cd, translation=[0.0, 0.0])
        | models.Pix2Sky_TAN()
        | models.RotateNative2Celestial(float(centre_ra), float(centre_dec), 180.0)
    )
    detector = frames.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    world = frames.CelestialFrame(reference_frame=coordinates.ICRS(), name="world", unit=(u.deg, u.deg))
    result = GWCS([(detector, transform), (world, None)])
    result.bounding_box = ((_EDGE_LOW, _EDGE_HIGH), (_EDGE_LOW, _EDGE_HIGH))
    return result
