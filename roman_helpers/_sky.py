"""Pixel boxes, sizes and sky positions as astronomers write them (private).

One parser for the command line and for Python, so that ``--size 10arcsec`` and
``size="10arcsec"`` mean the same, and so do ``--target "00:39:57 -44:01:20"`` and
``position="00:39:57 -44:01:20"``. astropy reads the angles and quantities; what is written
here is only the choice between hours and degrees and the checks, with messages in the
caller's own terms (:class:`Terms`: ``--size`` on the command line, ``size`` in Python).

Conventions (the same everywhere in the package):

* a box is ``(x0, y0, x1, y1)``: 0-based pixel corners, end exclusive, i.e.
  ``data[y0:y1, x0:x1]`` (the order of ``--box X0 Y0 X1 Y1`` and of PIL's ``crop``);
* a size is one value (a square) or two, ``(ny, nx)``: rows then columns, as
  :class:`astropy.nddata.Cutout2D` takes them; each in pixels or as an angle;
* a right ascension without units is in degrees when it is a plain number (``150.1``) and in
  hours when sexagesimal (``10:00:24``); a declination is always in degrees.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InvalidParameterError

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from astropy.coordinates import Latitude, Longitude, SkyCoord

#: How a box is read, in words (completed by :attr:`Terms.box_form`).
BOX_CONVENTION = (
    "0-based pixel corners, end exclusive: columns x0..x1-1 and rows y0..y1-1, i.e. data[y0:y1, x0:x1]"
)
_EXAMPLES = "e.g. '00:39:57 -44:01:20' (hours, degrees) or '9.9875 -44.0222' (degrees)"


@dataclass(frozen=True)
class Terms:
    """How the caller names each input, so that an error speaks the caller's language.

    Parameters
    ----------
    names : mapping
        Parameter (``box``, ``size``, ``position``, ``ext``) to the name the caller used.
    typed : mapping
        Parameter to the text the caller typed, echoed in errors instead of the parsed value.
    box_form : str
        How a box is written (``(x0, y0, x1, y1)`` or ``X0 Y0 X1 Y1``).
    """

    names: Mapping[str, str] = field(default_factory=dict)
    typed: Mapping[str, str] = field(default_factory=dict)
    box_form: str = "(x0, y0, x1, y1)"

    def name(self, parameter: str) -> str:
        """The caller's name for ``parameter``."""
        return self.names.get(parameter, parameter)

    def error(
        self, parameter: str, value: object, hint: str, valid: Sequence[object] | None = None
    ) -> InvalidParameterError:
        """An error about ``parameter``, echoing what the caller typed when known."""
        return InvalidParameterError(self.name(parameter), self.typed.get(parameter, value), valid, hint)

    def with_typed(self, **typed: str) -> Terms:
        """These terms, remembering what was typed for some parameters."""
        return replace(self, typed={**self.typed, **typed})

    def letters(self, text: str) -> str:
        """``text`` with the box's corner names written as the caller writes them (x0 or X0)."""
        if not self.box_form.startswith("X0"):
            return text
        return re.sub(r"\b([xy])([01])\b", lambda match: match.group(1).upper() + match.group(2), text)

    def with_names(self, **names: str) -> Terms:
        """These terms, with other names for some parameters."""
        return replace(self, names={**self.names, **names})


#: Python's terms: the keyword arguments of :func:`roman_helpers.stream.cutout`.
PYTHON = Terms()
#: The command line's terms: the options of ``roman-helpers cutout``.
CLI = Terms(
    names={
        "box": "--box",
        "size": "--size",
        "position": "--target",
        "ra": "--ra",
        "dec": "--dec",
        "ext": "--ext",
        "radius": "--radius",
    },
    box_form="X0 Y0 X1 Y1",
)


def _is_number(value: Any) -> bool:
    """A real number (Python's or numpy's), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# --------------------------------------------------------------------------- boxes


def parse_box(box: Any, terms: Terms = PYTHON) -> tuple[int, int, int, int]:
    """Read a box as four whole numbers ``(x0, y0, x1, y1)``; the image checks come later.

    Parameters
    ----------
    box : sequence of 4 int
        ``(x0, y0, x1, y1)``, 0-based pixel corners, end exclusive.
    terms : Terms, optional
        How the caller names things, for the message.

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
    hint = terms.letters(f"{terms.name('box')} is {terms.box_form}: four whole numbers, {BOX_CONVENTION}")
    if isinstance(box, (str, bytes)) or not isinstance(box, Sequence | np.ndarray) or len(box) != 4:
        raise terms.error("box", box, hint)
    values = []
    for value in box:
        whole = _is_number(value) and math.isfinite(float(value)) and float(value) == math.floor(float(value))
        if not whole:
            raise terms.error("box", box, hint)
        values.append(int(float(value)))
    return values[0], values[1], values[2], values[3]


def check_box(box: tuple[int, int, int, int], shape: tuple[int, int], terms: Terms = PYTHON) -> None:
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
    roman_helpers.errors.InvalidParameterError: invalid box (10, 0, 5, 20). box is (x0, y0, x1, y1): ...
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
        shown = " ".join(str(v) for v in box) if terms.box_form.startswith("X0") else tuple(box)
        raise terms.error(
            "box",
            shown,
            terms.letters(
                f"{terms.name('box')} is {terms.box_form}: {BOX_CONVENTION}; "
                f"the image has {nx} columns and {ny} rows (numpy shape ({ny}, {nx})); here "
                + " and ".join(problems)
            ),
        )


# --------------------------------------------------------------------------- sizes


def parse_size(size: Any, terms: Terms = PYTHON) -> tuple[Any, Any]:
    """Read a cut-out size: ``(ny, nx)``, each an int (pixels) or an angle.

    Parameters
    ----------
    size : int, str, astropy.units.Quantity or a pair of them
        One value for a square, or two: rows then columns (height, width), as
        :class:`astropy.nddata.Cutout2D`. Pixels are whole numbers (``64``, ``"64"``,
        ``64 * u.pix``); angles any astropy angle (``10 * u.arcsec``, ``"10arcsec"``,
        ``"0.5arcmin"``). A string may hold both, separated by a comma: ``"20arcsec,30arcsec"``.
    terms : Terms, optional
        How the caller names things, for the message.

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

    hint = (
        f"give {terms.name('size')} as pixels (64) or an angle (10arcsec, 0.5arcmin); two values are "
        "ny,nx (rows, columns), as astropy's Cutout2D"
    )
    if isinstance(size, str):
        sides: list[Any] = [part.strip() for part in size.split(",")]
    elif isinstance(size, u.Quantity):
        sides = list(np.atleast_1d(size))
    elif isinstance(size, Sequence | np.ndarray):
        sides = list(size)
    else:
        sides = [size]
    if len(sides) not in (1, 2):
        raise terms.error("size", size, "one value (a square) or two: " + hint)
    parsed = []
    for side in sides:
        if isinstance(side, str):
            try:
                side = u.Quantity(side)
            except (TypeError, ValueError):
                raise terms.error(
                    "size", size, f"{side!r} is neither a number nor an angle; " + hint
                ) from None
        if isinstance(side, u.Quantity) and side.unit in (u.dimensionless_unscaled, u.pix):
            side = side.value
        if isinstance(side, u.Quantity):
            if side.unit.physical_type != "angle":
                raise terms.error("size", size, f"{side} is not an angle; " + hint)
            if not (np.isfinite(side.value) and side.value > 0):
                raise terms.error("size", size, "a size must be positive; " + hint)
            parsed.append(side)
            continue
        if not _is_number(side):
            raise terms.error("size", size, hint)
        pixels = float(side)
        if not (math.isfinite(pixels) and pixels > 0):
            raise terms.error("size", size, "a size must be positive; " + hint)
        if pixels != math.floor(pixels):
            raise terms.error("size", size, "pixels are whole numbers; for an angle add its unit (10arcsec)")
        parsed.append(int(pixels))
    return (parsed[0], parsed[0]) if len(parsed) == 1 else (parsed[0], parsed[1])


def check_shape(pixels: tuple[int, int], shape: tuple[int, int], size: Any, terms: Terms = PYTHON) -> None:
    """Refuse a size that is under one pixel, or larger than the image, once in pixels."""
    ny, nx = pixels
    if ny < 1 or nx < 1:
        raise terms.error("size", size, f"that is {ny} x {nx} pixels (ny x nx) here: less than one pixel")
    if ny > shape[0] or nx > shape[1]:
        raise terms.error(
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


def parse_ra(text: str, terms: Terms = PYTHON) -> Longitude:
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
        raise terms.error("ra", text, hint) from None
    if not (np.isfinite(angle.deg) and 0 <= angle.deg < 360):
        raise terms.error(
            "ra",
            text,
            f"a right ascension lies between 0 and 360 degrees (0h and 24h), not {angle.deg:g} degrees",
        )
    return Longitude(angle)


def parse_dec(text: str, terms: Terms = PYTHON) -> Latitude:
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
        raise terms.error(
            "dec", text, "give it in degrees: decimal (-44.0222) or sexagesimal (-44:01:20, -44d01m20s)"
        ) from None
    if not np.isfinite(angle.deg) or abs(angle.deg) > 90:
        raise terms.error("dec", text, f"a declination lies between -90 and +90 degrees, not {angle.deg:g}")
    return Latitude(angle)


def parse_position(position: Any, terms: Terms = PYTHON) -> SkyCoord | tuple[float, float]:
    """Read a cut-out centre: a SkyCoord, a string of RA and Dec, or pixels ``(x, y)``.

    Parameters
    ----------
    position : SkyCoord, str or (x, y)
        A string holds RA then Dec, separated by a space or a comma: decimal degrees
        (``"9.9875 -44.0222"``), or sexagesimal with RA in hours (``"00:39:57 -44:01:20"``,
        ``"00 39 57 -44 01 20"``, ``"0h39m57s -44d01m20s"``). Object names are not looked up:
        that needs a name resolver on the network.
    terms : Terms, optional
        How the caller names things, for the message.

    Returns
    -------
    astropy.coordinates.SkyCoord or tuple of 2 float

    Raises
    ------
    InvalidParameterError
        If the string is not two angles, or a latitude is beyond ±90°.

    Examples
    --------
    >>> c = parse_position("00:39:57 -44:01:20")
    >>> print(f"{c.ra.deg:.4f} {c.dec.deg:.4f}")
    9.9875 -44.0222
    >>> parse_position((20.5, 10))
    (20.5, 10.0)
    """
    from astropy.coordinates import SkyCoord

    if isinstance(position, SkyCoord):
        if not position.isscalar:
            raise terms.error("position", str(position), "give one position, not an array of them")
        return position
    if isinstance(position, str):
        tokens = position.replace(",", " ").split()
        if len(tokens) == 6:  # "00 39 57 -44 01 20"
            tokens = [":".join(tokens[:3]), ":".join(tokens[3:])]
        if len(tokens) != 2:
            advice = (
                "object names are not looked up here (that needs the network): give RA and Dec, "
                if _looks_like_a_name(position)
                else "give RA and Dec, "
            )
            raise terms.error("position", position, advice + _EXAMPLES)
        as_position = terms.with_names(ra=terms.name("position"), dec=terms.name("position")).with_typed(
            ra=position, dec=position
        )
        try:
            ra, dec = parse_ra(tokens[0], as_position), parse_dec(tokens[1], as_position)
        except InvalidParameterError as error:
            if not _looks_like_a_name(position):
                raise
            raise terms.error(
                "position",
                position,
                "object names are not looked up here (that needs the network): give RA and Dec, " + _EXAMPLES,
            ) from error
        return SkyCoord(ra, dec, frame="icrs")
    if (
        isinstance(position, Sequence | np.ndarray)
        and len(position) == 2
        and all(_is_number(v) and math.isfinite(float(v)) for v in position)
    ):
        return float(position[0]), float(position[1])
    raise terms.error(
        "position", position, "give a SkyCoord, a string of RA and Dec (" + _EXAMPLES + "), or pixels (x, y)"
    )


def parse_radius(radius: Any, terms: Terms = PYTHON) -> Any:
    """A search radius as an astropy ``Angle``: a unit is required (pixels differ between files)."""
    import astropy.units as u
    from astropy.coordinates import Angle

    try:
        angle = Angle(radius)
    except (ValueError, TypeError, u.UnitsError):
        angle = None
    if angle is None or not angle.isscalar or not angle.deg >= 0:
        hint = (
            "Give an angle with its unit, such as 10arcsec, 0.5arcmin or 0.01deg"
            if terms.name("radius").startswith("--")
            else "give an angle with a unit, e.g. 10 * u.arcsec or '10 arcsec'"
        )
        raise terms.error("radius", radius, hint)
    return angle


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
