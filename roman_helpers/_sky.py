"""Pixel boxes, sizes, sky positions, radii, times and bands as astronomers write them (private).

The one parser of the kit: every entry point (:func:`roman_helpers.stream.cutout`,
:func:`roman_helpers.footprints.find`, :func:`roman_helpers.photometry.light_curve_from_index`
and the command line) reads its inputs here, so that ``--size 10arcsec`` and ``size="10arcsec"``
mean the same, and so do ``--target "00:39:57 -44:01:20"`` and ``position="00:39:57 -44:01:20"``.
A position is on the sky (``position=``, ``--target``, ``--ra``/``--dec``); pixels are ``pixel=``
(``--pixel``) or a box: two bare numbers are never guessed to be one or the other.
astropy reads the angles, quantities and times; what is written here is only the choice between
hours and degrees and the checks. Errors name the parameter as Python does (``size``) and write
a keyword argument they mention as ``name=``; the command line says them in its own words.

Conventions (the same everywhere in the package):

* a box is ``(x0, y0, x1, y1)``: 0-based pixel corners, end exclusive, i.e.
  ``data[y0:y1, x0:x1]`` (the order of ``--box X0 Y0 X1 Y1`` and of PIL's ``crop``);
* a size is one value (a square) or two, ``(ny, nx)``: rows then columns, as
  :class:`astropy.nddata.Cutout2D` takes them; each in pixels or as an angle;
* a right ascension without units is in degrees when it is a plain number (``150.1``) and in
  hours when sexagesimal (``10:00:24``); a declination is always in degrees.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _bands
from ._threadsafe import quiet
from .errors import InvalidParameterError

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from astropy.coordinates import Latitude, Longitude, SkyCoord

#: How a box is written in Python, and how it is read.
BOX_FORM = "(x0, y0, x1, y1)"
BOX_CONVENTION = (
    "0-based pixel corners, end exclusive: columns x0..x1-1 and rows y0..y1-1, i.e. data[y0:y1, x0:x1]"
)
_EXAMPLES = "e.g. '00:39:57 -44:01:20' (hours, degrees) or '9.9875 -44.0222' (degrees)"
_NAMES_NOT_LOOKED_UP = "object names are not looked up here (that needs the network): "


def _is_number(value: Any) -> bool:
    """A real number (Python's or numpy's), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _error(
    name: str, value: object, hint: str, valid: Sequence[object] | None = None
) -> InvalidParameterError:
    return InvalidParameterError(name, value, valid, hint)


# --------------------------------------------------------------------------- boxes


def parse_box(box: Any) -> tuple[int, int, int, int]:
    """Read a box as four whole numbers ``(x0, y0, x1, y1)``; the image checks come later.

    Parameters
    ----------
    box : sequence of 4 int
        ``(x0, y0, x1, y1)``, 0-based pixel corners, end exclusive.

    Returns
    -------
    tuple of 4 int

    Raises
    ------
    InvalidParameterError
        If ``box`` is not four whole numbers.

    Examples
    --------
    >>> parse_box([766, 1301, 866, 1401])
    (766, 1301, 866, 1401)
    """
    hint = f"box={BOX_FORM}: four whole numbers, {BOX_CONVENTION}"
    if isinstance(box, (str, bytes)) or not isinstance(box, Sequence | np.ndarray) or len(box) != 4:
        raise _error("box", box, hint)
    values = []
    for value in box:
        whole = _is_number(value) and math.isfinite(float(value)) and float(value) == math.floor(float(value))
        if not whole:
            raise _error("box", box, hint)
        values.append(int(float(value)))
    return values[0], values[1], values[2], values[3]


def check_box(box: tuple[int, int, int, int], shape: tuple[int, int]) -> None:
    """Refuse a box that is empty, reversed or not inside an image of ``shape`` (ny, nx).

    Raises
    ------
    InvalidParameterError
        Naming the convention, the image's size and what is wrong.

    Examples
    --------
    >>> check_box((10, 0, 5, 20), (100, 200))
    Traceback (most recent call last):
    ...
    roman_helpers.errors.InvalidParameterError: invalid box (10, 0, 5, 20). box=(x0, y0, x1, y1): ...
    """
    x0, y0, x1, y1 = box
    ny, nx = shape
    problems = []
    if x1 <= x0:
        problems.append(f"x1 = {x1} is not greater than x0 = {x0}")
    if y1 <= y0:
        problems.append(f"y1 = {y1} is not greater than y0 = {y0}")
    if x0 < 0 or y0 < 0:
        problems.append("a corner is negative")
    if x1 > nx or y1 > ny:
        problems.append(f"the box reaches past the image (x1 <= {nx} and y1 <= {ny} are needed)")
    if problems:
        raise _error(
            "box",
            tuple(box),
            f"box={BOX_FORM}: {BOX_CONVENTION}; the image has {nx} columns and {ny} rows (numpy shape "
            f"({ny}, {nx})); here " + " and ".join(problems),
        )


# --------------------------------------------------------------------------- sizes

_SIZE_HINT = (
    "give size= as pixels (64) or an angle (10arcsec, 0.5arcmin); two values are ny,nx (rows, "
    "columns), as astropy's Cutout2D"
)


def _quantity(text: str) -> Any:
    """A number with its unit, also in the marks astronomers write: ``5"``, ``5''``, ``0.5'``, ``5 arcsec``.

    astropy's units parser reads ``5 arcsec`` and ``5″`` but not ``5"`` or ``0.5'``, which its
    angle parser reads; ``''`` (two primes for seconds of arc) neither.
    """
    import astropy.units as u
    from astropy.coordinates import Angle

    text = text.strip().replace("''", '"')
    try:
        return u.Quantity(text)
    except (TypeError, ValueError):
        return Angle(text)  # raises ValueError (or a UnitsError) when it is no angle either


def is_angle_unit(text: str) -> bool:
    """Whether ``text`` is a unit of angle alone (``arcsec``, ``deg``, ``"``).

    The command line joins ``--size 5 arcsec`` into one value with it.

    Examples
    --------
    >>> is_angle_unit("arcsec"), is_angle_unit('"'), is_angle_unit("arcsec,3"), is_angle_unit("-o")
    (True, True, False, False)
    """
    import astropy.units as u

    try:
        return _quantity(f"1 {text}").unit.physical_type == "angle"
    except (TypeError, ValueError, u.UnitsError):
        return False


def _size_side(side: Any, size: Any) -> Any:
    """One side of a size: whole pixels (int) or a positive angle (Quantity)."""
    import astropy.units as u

    if isinstance(side, str):
        try:
            side = _quantity(side)
        except (TypeError, ValueError, u.UnitsError):
            raise _error("size", size, f"{side!r} is neither a number nor an angle; " + _SIZE_HINT) from None
    if isinstance(side, u.Quantity) and side.unit in (u.dimensionless_unscaled, u.pix):
        side = side.value
    if isinstance(side, u.Quantity):
        if side.unit.physical_type != "angle":
            raise _error("size", size, f"{side} is not an angle; " + _SIZE_HINT)
        if not (np.isfinite(side.value) and side.value > 0):
            raise _error("size", size, "a size must be positive; " + _SIZE_HINT)
        return side
    if not _is_number(side):
        raise _error("size", size, _SIZE_HINT)
    pixels = float(side)
    if not (math.isfinite(pixels) and pixels > 0):
        raise _error("size", size, "a size must be positive; " + _SIZE_HINT)
    if pixels != math.floor(pixels):
        raise _error("size", size, "pixels are whole numbers; for an angle add its unit (10arcsec)")
    return int(pixels)


def parse_size(size: Any) -> tuple[Any, Any]:
    """Read a cut-out size: ``(ny, nx)``, each an int (pixels) or an angle.

    Parameters
    ----------
    size : int, str, astropy.units.Quantity or a pair of them
        One value for a square, or two: rows then columns (height, width), as
        :class:`astropy.nddata.Cutout2D`. Pixels are whole numbers (``64``, ``"64"``,
        ``64 * u.pix``); angles any astropy angle (``10 * u.arcsec``, ``"10arcsec"``,
        ``"10 arcsec"``, ``'10"'``, ``"0.5arcmin"``, ``"0.5'"``). A string may hold both,
        separated by a comma: ``"20arcsec,30arcsec"``.

    Returns
    -------
    tuple
        ``(ny, nx)``: ints (pixels) or angle Quantities.

    Raises
    ------
    InvalidParameterError
        If a side is not a positive whole number of pixels or a positive angle.

    Examples
    --------
    >>> parse_size("20arcsec,30arcsec")
    (<Quantity 20. arcsec>, <Quantity 30. arcsec>)
    >>> parse_size(64)
    (64, 64)
    """
    import astropy.units as u

    if isinstance(size, str):
        sides: list[Any] = [part.strip() for part in size.split(",")]
    elif isinstance(size, u.Quantity):
        sides = list(np.atleast_1d(size))
    elif isinstance(size, Sequence | np.ndarray):
        sides = list(size)
    else:
        sides = [size]
    if len(sides) not in (1, 2):
        raise _error("size", size, "one value (a square) or two: " + _SIZE_HINT)
    parsed = [_size_side(side, size) for side in sides]
    return (parsed[0], parsed[0]) if len(parsed) == 1 else (parsed[0], parsed[1])


def check_shape(pixels: tuple[int, int], shape: tuple[int, int], size: Any) -> None:
    """Refuse a size that is under one pixel, or larger than the image, once in pixels."""
    ny, nx = pixels
    if ny < 1 or nx < 1:
        raise _error("size", size, f"that is {ny} x {nx} pixels (ny x nx) here: less than one pixel")
    if ny > shape[0] or nx > shape[1]:
        raise _error(
            "size",
            size,
            f"that is {ny} x {nx} pixels (ny x nx), larger than the image "
            f"({shape[0]} x {shape[1]}); to get the whole image, download the file",
        )


# --------------------------------------------------------------------------- positions


def _looks_like_a_name(text: str) -> bool:
    """Starts with a letter, or has letters other than those of sexagesimal units: M31, NGC 253, Vega."""
    text = text.strip().lower()
    return text[:1].isalpha() or bool(set(re.findall("[a-z]", text)) - set("hmsd"))


def parse_ra(text: str) -> Longitude:
    """Read a right ascension: decimal degrees, or sexagesimal hours unless units say otherwise.

    Examples
    --------
    >>> [f"{parse_ra(text).deg:.4f}" for text in ("0h39m57s", "00:39:57", "9.9875")]
    ['9.9875', '9.9875', '9.9875']
    """
    import astropy.units as u
    from astropy.coordinates import Angle, Longitude

    text = str(text).strip()
    hint = "give it in decimal degrees (9.9875) or sexagesimal hours (00:39:57, 0h39m57s)"
    try:
        float(text)
    except ValueError:
        unit = u.hourangle
    else:
        unit = u.deg
    try:
        angle = Angle(text, unit=unit)
    except (ValueError, TypeError, u.UnitsError):
        raise _error("ra", text, hint) from None
    if not (np.isfinite(angle.deg) and 0 <= angle.deg < 360):
        raise _error(
            "ra",
            text,
            f"a right ascension lies between 0 and 360 degrees (0h and 24h), not {angle.deg:g} degrees",
        )
    return Longitude(angle)


def parse_dec(text: str) -> Latitude:
    """Read a declination in degrees (decimal or sexagesimal), within ±90°.

    Examples
    --------
    >>> [f"{parse_dec(text).deg:.4f}" for text in ("-44:01:20", "-44d01m20s", "-44.0222")]
    ['-44.0222', '-44.0222', '-44.0222']
    """
    import astropy.units as u
    from astropy.coordinates import Angle, Latitude

    text = str(text).strip()
    try:
        angle = Angle(text, unit=u.deg)
    except (ValueError, TypeError, u.UnitsError):
        raise _error(
            "dec", text, "give it in degrees: decimal (-44.0222) or sexagesimal (-44:01:20, -44d01m20s)"
        ) from None
    if not np.isfinite(angle.deg) or abs(angle.deg) > 90:
        raise _error("dec", text, f"a declination lies between -90 and +90 degrees, not {angle.deg:g}")
    return Latitude(angle)


def _sky_text(text: str) -> SkyCoord:
    """RA then Dec in one string: decimal degrees, or sexagesimal with RA in hours."""
    from astropy.coordinates import SkyCoord

    tokens = text.replace(",", " ").split()
    if len(tokens) == 6:  # "00 39 57 -44 01 20"
        tokens = [":".join(tokens[:3]), ":".join(tokens[3:])]
    if len(tokens) != 2:
        advice = _NAMES_NOT_LOOKED_UP if _looks_like_a_name(text) else ""
        raise _error("position", text, advice + "give RA and Dec, " + _EXAMPLES)
    try:
        ra, dec = parse_ra(tokens[0]), parse_dec(tokens[1])
    except InvalidParameterError as error:  # said of the whole position, as it was given
        if _looks_like_a_name(text):
            raise _error("position", text, _NAMES_NOT_LOOKED_UP + "give RA and Dec, " + _EXAMPLES) from error
        raise _error("position", text, error.hint or "", error.valid) from error
    return SkyCoord(ra, dec, frame="icrs")


def _bare_pair(value: Any) -> bool:
    """Two finite numbers and nothing to say what they are: RA and Dec, or pixels x and y."""
    return (
        isinstance(value, Sequence | np.ndarray)
        and not isinstance(value, (str, bytes))
        and len(value) == 2
        and all(_is_number(v) and math.isfinite(float(v)) for v in value)
    )


def _not_a_guess(pair: Any, takes_pixels: bool) -> InvalidParameterError:
    """Refuse two bare numbers, showing how to write each of the two things they could be."""
    a, b = (repr(float(v)) for v in pair)
    pixels = (
        f"for 0-based pixels write pixel=({a}, {b})"
        if takes_pixels
        else "pixel positions have no meaning here: each file of an index has pixels of its own"
    )
    return _error(
        "position",
        (float(pair[0]), float(pair[1])),
        "two bare numbers could be RA and Dec or pixels x, y: for RA and Dec in degrees write "
        f'position="{a} {b}" (or a SkyCoord); {pixels}',
    )


def parse_sky_position(position: Any, *, takes_pixels: bool = False) -> SkyCoord:
    """Read a position on the sky, in ICRS: a SkyCoord, or a string of RA and Dec.

    The one meaning of ``position`` in the package. Two bare numbers are refused: they could be
    RA and Dec or pixels x, y (``cutout(uri, position=(9.4508, -44.0905))`` was once read as
    pixels); the message shows how to write each (``takes_pixels``: the function also has a
    ``pixel=`` argument).

    Parameters
    ----------
    position : SkyCoord or str
        A string holds RA then Dec, separated by a space or a comma: decimal degrees
        (``"9.9875 -44.0222"``), or sexagesimal with RA in hours (``"00:39:57 -44:01:20"``,
        ``"00 39 57 -44 01 20"``, ``"0h39m57s -44d01m20s"``). Object names are not looked up:
        that needs a name resolver on the network.
    takes_pixels : bool
        Whether the caller also takes ``pixel=``, for the message about two bare numbers.

    Returns
    -------
    astropy.coordinates.SkyCoord

    Raises
    ------
    InvalidParameterError
        If the string is not two angles, a latitude is beyond ±90°, or the position is two
        bare numbers.

    Examples
    --------
    >>> c = parse_sky_position("00:37:48.19 -44:05:25.80")  # RA in hours when sexagesimal
    >>> print(f"{c.ra.deg:.4f} {c.dec.deg:.4f}")
    9.4508 -44.0905
    >>> parse_sky_position((9.4508, -44.0905), takes_pixels=True)
    Traceback (most recent call last):
    ...
    roman_helpers.errors.InvalidParameterError: invalid position (9.4508, -44.0905). two bare numbers ...
    """
    from astropy.coordinates import SkyCoord

    if isinstance(position, SkyCoord):
        if not position.isscalar:
            raise _error("position", str(position), "give one position, not an array of them")
        return position.icrs
    if isinstance(position, str):
        return _sky_text(position).icrs
    if _bare_pair(position):
        raise _not_a_guess(position, takes_pixels)
    raise _error("position", position, "give a SkyCoord or a string of RA and Dec, " + _EXAMPLES)


def parse_pixel(pixel: Any) -> tuple[float, float]:
    """Read a pixel position ``(x, y)``: 0-based, two numbers (a column, then a row).

    Examples
    --------
    >>> parse_pixel((20.5, 10))
    (20.5, 10.0)
    """
    if _bare_pair(pixel):
        return float(pixel[0]), float(pixel[1])
    hint = "give 0-based pixels (x, y): two numbers, a column then a row"
    if isinstance(pixel, str):
        hint += "; a sky position goes in position="
    raise _error("pixel", pixel, hint)


def parse_centre(position: Any, pixel: Any) -> SkyCoord | tuple[float, float] | None:
    """The centre given to a function that takes either: ``position=`` (the sky) or ``pixel=``.

    Returns None when neither is given (the caller says what it needs).

    Examples
    --------
    >>> parse_centre(None, (20, 10))
    (20.0, 10.0)
    >>> parse_centre("9.4508 -44.0905", (20, 10))
    Traceback (most recent call last):
    ...
    roman_helpers.errors.InvalidParameterError: invalid pixel (20, 10). give either position= ...
    """
    if position is not None and pixel is not None:
        raise _error("pixel", pixel, "give either position= (on the sky) or pixel= (x, y), not both")
    if pixel is not None:
        return parse_pixel(pixel)
    return None if position is None else parse_sky_position(position, takes_pixels=True)


# --------------------------------------------------------------------------- radii


def parse_radius(radius: Any) -> Any:
    """A search radius as an astropy ``Angle``: a unit is required (pixels differ between files).

    Examples
    --------
    >>> print(parse_radius("2arcsec"), parse_radius('2"'), parse_radius("2''"))
    2 arcsec 2 arcsec 2 arcsec
    """
    import astropy.units as u
    from astropy.coordinates import Angle

    try:
        angle = Angle(_quantity(radius) if isinstance(radius, str) else radius)
    except (ValueError, TypeError, u.UnitsError):
        angle = None
    if angle is None or not angle.isscalar or not angle.deg >= 0:
        raise _error(
            "radius", radius, "give an angle with its unit: 10arcsec, 0.5arcmin, 0.01deg or 10 * u.arcsec"
        )
    return angle


def check_apertures(radius: float, r_in: float, r_out: float) -> None:
    """Refuse an aperture and background annulus (pixels) that are not ``0 < radius <= r_in < r_out``.

    Examples
    --------
    >>> check_apertures(5, 4, 10)
    Traceback (most recent call last):
    ...
    roman_helpers.errors.InvalidParameterError: invalid annulus (4, 10). need 0 < radius= <= r_in < r_out ...
    """
    if not 0 < radius <= r_in < r_out:
        raise _error(
            "annulus",
            (r_in, r_out),
            f"need 0 < radius= <= r_in < r_out (the annulus lies outside the aperture), in pixels; "
            f"here radius= is {radius:g}",
        )


# --------------------------------------------------------------------------- times and bands

_TIME_HINT = "give an MJD (61000.5), an ISO date or time (2026-02-25 or 2026-02-25T06:30:00, UTC) or a Time"


def parse_time(value: Any, name: str = "time") -> float | None:
    """An MJD (UTC) from an MJD number or text, an ISO date or time (UTC), or an astropy Time.

    ``None`` stays ``None`` (an open end). ``name`` names the parameter in the message.

    Examples
    --------
    >>> parse_time("61000.5"), parse_time("2025-11-30T12:00:00"), parse_time(None)
    (61000.5, 61009.5, None)
    """
    from astropy.time import Time
    from erfa import ErfaWarning

    if value is None:
        return None
    if isinstance(value, Time):
        if not value.isscalar:
            raise _error(name, value, "give one time, not an array of them")
        return float(value.utc.mjd)
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value)
        try:
            # ERFA calls a UTC date "dubious" past the leap seconds it knows (a few years ahead),
            # which is every date of Roman's mission: quieted here, in this call only
            with quiet(ErfaWarning):
                return float(Time(value.strip(), scale="utc").mjd)
        except ValueError:
            pass
    raise _error(name, value, _TIME_HINT)


def parse_time_range(time: Any) -> tuple[float, float]:
    """A ``(start, end)`` pair of times (:func:`parse_time`), as MJD; ``None`` leaves that end open.

    Examples
    --------
    >>> parse_time_range((61000, None))
    (61000.0, inf)
    """
    from astropy.time import Time

    hint = "give a (start, end) pair of times: MJD numbers, ISO dates or astropy Times (None: open)"
    if isinstance(time, (str, bytes, Time)) or not isinstance(time, Iterable):
        raise _error("time", time, hint)
    pair = list(time)
    if len(pair) != 2:
        raise _error("time", time, hint)
    start, end = parse_time(pair[0], "time"), parse_time(pair[1], "time")
    start = -math.inf if start is None else start
    end = math.inf if end is None else end
    if start > end:
        raise _error("time", time, "the start comes after the end")
    return start, end


def parse_bands(band: str | Iterable[str] | None) -> set[str] | None:
    """Band names as Roman names its filters, from any spelling, in any case; None for any band.

    OpenUniverse's names are read as Roman's (``H158`` is ``F158``, ``J129`` is ``F129``: the
    spellings :mod:`roman_helpers._bands` knows); other names (HST's ``F160W``, Rubin's ``r``)
    are kept, upper case. Match them against what an index or a dataset holds with
    :func:`roman_helpers._bands.held`, which gives back the archive's own spelling.

    Examples
    --------
    >>> sorted(parse_bands(["f158", "F184", "j129"]))
    ['F129', 'F158', 'F184']
    >>> parse_bands("H158")
    {'F158'}
    """
    if band is None:
        return None
    names: list[Any] = [band] if isinstance(band, str) else list(band)
    if not names or not all(isinstance(name, str) and name.strip() for name in names):
        raise _error("band", band, "give a band name such as F158 (or H158), or a list of them")
    return {_bands.canonical(name) for name in names}


def describe(position: Any) -> str:
    """A sky position (or pixel pair) on one line, in degrees and sexagesimal.

    Examples
    --------
    >>> from astropy.coordinates import SkyCoord
    >>> describe(SkyCoord(9.9875, -44.0222, unit="deg"))
    'RA, Dec 9.98750 -44.02220 deg (00h39m57.00s -44d01m19.92s)'
    """
    from astropy.coordinates import SkyCoord

    if isinstance(position, SkyCoord):
        icrs = position.icrs
        return f"RA, Dec {icrs.ra.deg:.5f} {icrs.dec.deg:.5f} deg ({icrs.to_string('hmsdms', precision=2)})"
    return f"pixel x, y = {tuple(position)}"
