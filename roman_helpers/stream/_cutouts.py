"""Cut-outs: a region of one image, or the same region of its science, ERR and DQ arrays (private)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import _s3
from ..errors import InvalidParameterError
from ._asdf_cutouts import asdf_cutouts
from ._fits_cutouts import fits_cutouts
from ._plan import Request, request
from ._remote import _kind

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from astropy.nddata import Cutout2D

__all__ = ["cutout", "cutouts", "stamps"]


def _cut(
    uri: str,
    *,
    box: Any = None,
    position: Any = None,
    pixel: Any = None,
    size: Any = None,
    exts: Sequence | None = None,
    companions: bool,
    anon: bool | None,
) -> dict:
    """Cut-outs of one file, keyed by array name; read again when the bytes disagree with the file."""
    return _cut_each(uri, [request(box, position, pixel, size)], exts, companions, anon, tolerant=False)[0]


def _cut_each(
    uri: str,
    requests: list[Request],
    exts: Sequence | None,
    companions: bool,
    anon: bool | None,
    *,
    tolerant: bool,
) -> list[Any]:
    """Cut-outs of one file for each request, from one read; read again when the bytes disagree."""
    exts = list(exts) if exts else [None]
    read = asdf_cutouts if _kind(uri) == "asdf" else fits_cutouts
    return _s3.reread(lambda: read(uri, anon, requests, exts, companions, tolerant=tolerant), uri)


def cutout(
    uri: str,
    *,
    box: Sequence[int] | None = None,
    position: Any = None,
    pixel: Sequence[float] | None = None,
    size: Any = None,
    ext: int | str | None = None,
    anon: bool | None = None,
) -> Cutout2D:
    """Cut a region out of an image on S3, fetching only (about) the pixels in it.

    Give either ``box``, or a centre (``position`` on the sky, or ``pixel``) and ``size``.

    Parameters
    ----------
    uri : str
        ``s3://`` URI of a ``.fits``, ``.fits.gz`` or Roman ``.asdf`` file.
    box : sequence of 4 int, optional
        ``(x0, y0, x1, y1)``: 0-based pixel corners, end exclusive, so the cut-out is
        ``data[y0:y1, x0:x1]`` (columns x0..x1-1, rows y0..y1-1). The same order as
        ``roman-helpers cutout --box X0 Y0 X1 Y1`` and as PIL's ``Image.crop``.
    position : SkyCoord or str, optional
        Centre of the cut-out on the sky: a :class:`~astropy.coordinates.SkyCoord`, or a
        string of RA and Dec (``"00:39:57 -44:01:20"``: RA in hours when sexagesimal;
        ``"9.9875 -44.0222"``: degrees). It needs a WCS in the file (the FITS header's, or the
        gwcs at ``roman.meta.wcs`` / ``roman.wcs``). Object names are not looked up (that
        needs the network). Two bare numbers are refused: RA and Dec, or pixels?
    pixel : (x, y), optional
        Centre of the cut-out in 0-based pixels of the image, instead of ``position``.
    size : int, str, Quantity or (ny, nx), optional
        One value for a square, or two: rows then columns, ``(ny, nx)``, as
        :class:`astropy.nddata.Cutout2D`. Each in pixels (``64``) or as an angle
        (``10 * u.arcsec``, ``"10arcsec"``, ``"20arcsec,30arcsec"``); angles become pixels
        with the file's WCS (FITS WCS or gwcs).
    ext : int or str, optional
        Which image: a FITS HDU number or name (default the first 2-D image), or the name of
        an ASDF array (``"data"``, the default, ``"err"``, ``"dq"`` ...).
    anon : bool, optional
        Anonymous access; by default decided by the bucket.

    Returns
    -------
    astropy.nddata.Cutout2D
        ``.data`` holds the pixels (native byte order, scaled by BSCALE/BZERO);
        ``.slices_original`` and ``.bbox_original`` place them in the file's image;
        ``.wcs`` is the cut-out's WCS when the file has one (an astropy WCS for FITS, a
        gwcs for Roman ASDF, exact: the file's own shifted to the cut-out);
        ``.provenance`` is what the file's headers or tree say about the exposure and the
        pixels: ``band``, ``detector``, ``exptime`` (s), ``mjd_start``, ``mjd_end``,
        ``mjd_mid``, ``unit`` (``"electron"``, ``"DN / s"``, ``"MJy / sr"``, empty when not
        said) and ``zeropoint``, the AB magnitude of a source whose pixels sum to 1 in that
        unit (NaN when the file gives none), with ``zeropoint_source``.

    Raises
    ------
    InvalidParameterError
        If the box, size or centre cannot be read or does not fit the image (the message
        says what the image covers), if both or neither of a box and a centre are given, or
        if the file has no such HDU or array (the message lists those it has).
    FileFormatError
        If the file is truncated, damaged or not what its name says (its headers, tree or WCS
        cannot be read, or claim more than the file holds).
    CorruptedDataError
        If the bytes read disagree with what the file states about them (an lz4 chunk's size,
        an ASDF block's MD5, a small ``.fits.gz`` file's CRC) on each of
        ``ROMAN_HELPERS_MAX_ATTEMPTS`` reads: no pixels are returned from them.

    See Also
    --------
    cutouts : the same cut-out of several arrays (SCI, ERR, DQ) at once.

    Examples
    --------
    >>> from roman_helpers.datasets import get
    >>> uri = get("roman-tutorial-2026").uri()
    >>> cut = cutout(uri, box=(1000, 900, 1100, 950))  # columns 1000-1099, rows 900-949
    >>> cut.data.shape, cut.bbox_original
    ((50, 100), ((900, 949), (1000, 1099)))
    >>> centre = cut.wcs.pixel_to_world(49.5, 24.5)  # the box's centre on the sky (a SkyCoord)
    >>> cutout(uri, position=centre, size="5arcsec,10arcsec").data.shape  # 0.11 arcsec pixels
    (45, 91)
    >>> cutout(uri, pixel=(1049.5, 924.5), size=(50, 100)).bbox_original  # the box again, by its centre
    ((900, 949), (1000, 1099))
    >>> cut.provenance.band, cut.provenance.unit, round(cut.provenance.zeropoint, 3)  # as the file says
    ('F106', 'DN / s', 25.602)
    """
    cuts = _cut(
        uri, box=box, position=position, pixel=pixel, size=size, exts=[ext], companions=False, anon=anon
    )
    return next(iter(cuts.values()))


def cutouts(
    uri: str,
    *,
    box: Sequence[int] | None = None,
    position: Any = None,
    pixel: Sequence[float] | None = None,
    size: Any = None,
    arrays: Sequence[int | str | None] | None = None,
    anon: bool | None = None,
) -> dict[Any, Cutout2D]:
    """Cut the same region out of several arrays of a file: the science image, ERR and DQ.

    One plan (headers or tree read once, the region placed once) and only the rows of the
    region fetched from each array. For a ``.fits.gz`` file the stream is read once, forward,
    up to the last array's rows: ERR and DQ lie after the whole science image.

    Parameters
    ----------
    uri : str
        ``s3://`` URI of a ``.fits``, ``.fits.gz`` or Roman ``.asdf`` file.
    box, position, pixel, size
        As for :func:`cutout`.
    arrays : sequence of int, str or None, optional
        FITS HDU numbers or names, or ASDF array names; the first one places the cut-out
        (its WCS), and ``None`` stands for the science image (the first 2-D image HDU, or
        ``data``). Default: the science image plus the ``ERR`` and ``DQ`` HDUs (ASDF ``err``
        and ``dq``) when the file has them with the same shape.
    anon : bool, optional
        Anonymous access; by default decided by the bucket.

    Returns
    -------
    dict
        :class:`~astropy.nddata.Cutout2D` by the array's name in the file (the HDU's
        EXTNAME, or its number when it has none; the ASDF array name), science first.

    Raises
    ------
    InvalidParameterError, FileFormatError, CorruptedDataError
        As :func:`cutout`.

    Examples
    --------
    >>> from roman_helpers.datasets import get
    >>> cuts = cutouts(get("roman-tutorial-2026").uri(), box=(1000, 900, 1064, 964))
    >>> {name: cut.data.shape for name, cut in cuts.items()}
    {'data': (64, 64), 'err': (64, 64), 'dq': (64, 64)}
    """
    return _cut(
        uri,
        box=box,
        position=position,
        pixel=pixel,
        size=size,
        exts=arrays,
        companions=arrays is None,
        anon=anon,
    )


def stamps(
    uri: str,
    positions: Any = None,
    size: Any = None,
    *,
    pixels: Sequence[Sequence[float]] | None = None,
    arrays: Sequence[int | str | None] | None = None,
    anon: bool | None = None,
) -> list[dict[Any, Cutout2D] | InvalidParameterError]:
    """Cut a small region around each of many positions out of one file, reading the file once.

    The headers (or the ASDF tree) are read once and every stamp is placed with the file's WCS;
    then the rows that any stamp needs are fetched together, each byte once: ranged reads of an
    uncompressed image, the lz4 chunks holding any stamp of an ASDF array, one forward pass of a
    ``.fits.gz`` stream that stops at the last row needed. Calling :func:`cutouts` once per
    position would read the headers, and a ``.fits.gz`` stream's compressed prefix, every time.

    Parameters
    ----------
    uri : str
        ``s3://`` URI of a ``.fits``, ``.fits.gz`` or Roman ``.asdf`` file.
    positions : SkyCoord or sequence of SkyCoord or str
        The centres on the sky (a SkyCoord array, or one SkyCoord or RA and Dec string each).
    size : int, str, Quantity or (ny, nx)
        The side of every stamp, as for :func:`cutout`.
    pixels : sequence of (x, y), optional
        The centres in 0-based pixels of the image, instead of ``positions``.
    arrays : sequence of int, str or None, optional
        As for :func:`cutouts`: by default the science image with its ERR and DQ (ASDF ``err``
        and ``dq``) arrays.
    anon : bool, optional
        Anonymous access; by default decided by the bucket.

    Returns
    -------
    list
        One entry per position, in order: a dict of :class:`~astropy.nddata.Cutout2D` by array
        name as :func:`cutouts` gives it, or, for a position whose stamp does not touch the image,
        the :class:`~roman_helpers.errors.InvalidParameterError` saying where it falls.

    Raises
    ------
    InvalidParameterError
        If a position or the size cannot be read (before any request), or both or neither of
        ``positions`` and ``pixels`` are given.
    FileFormatError, CorruptedDataError
        As :func:`cutout`.

    Examples
    --------
    >>> from roman_helpers.datasets import get
    >>> cuts = stamps(
    ...     get("roman-tutorial-2026").uri(), pixels=[(1030, 930), (2000, 2500), (9000, 10)], size=15
    ... )
    >>> [sorted(cut) if isinstance(cut, dict) else "off" for cut in cuts]
    [['data', 'dq', 'err'], ['data', 'dq', 'err'], 'off']
    >>> cuts[1]["data"].bbox_original  # rows 2493..2507, columns 1993..2007
    ((2493, 2507), (1993, 2007))
    """
    from astropy.coordinates import SkyCoord

    if (positions is None) == (pixels is None):
        raise InvalidParameterError(
            "positions",
            positions,
            hint="give either positions= (on the sky) or pixels= (x, y pairs), not both",
        )
    if size is None:
        raise InvalidParameterError(
            "size", None, hint="give the side of the stamps, in pixels or as an angle"
        )
    if positions is not None:
        if isinstance(positions, (str, SkyCoord)) and (isinstance(positions, str) or positions.isscalar):
            positions = [positions]
        requests = [request(None, position, None, size) for position in positions]
    else:
        requests = [request(None, None, pixel, size) for pixel in pixels]  # type: ignore[union-attr]
    return _cut_each(uri, requests, arrays, arrays is None, anon, tolerant=True)
