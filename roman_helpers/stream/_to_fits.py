"""Cut-outs as a FITS file, each array with its WCS (for a gwcs, a SIP fit stating its accuracy) (private)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _wcs

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from astropy.io.fits import HDUList, Header
    from astropy.nddata import Cutout2D

__all__ = ["SIP_GOAL", "to_hdulist"]

#: Extension names for ASDF arrays in a FITS file.
_FITS_NAMES = {"data": "SCI", "err": "ERR", "dq": "DQ"}


#: Cards that describe the pixels (on each image extension with a unit), not the exposure.
_PIXEL_KEYS = ("BUNIT", "ZPTAB", "PIXAR_SR")
#: Extensions in the science image's unit besides the science image (not flags, not variances).
_SAME_UNIT = ("SCI", "ERR")

#: Pixels within which a cut-out's FITS WCS aims to follow its file's gwcs.
SIP_GOAL = 0.01


def _wcs_header(wcs: Any, shape: tuple[int, int]) -> Header:
    """The FITS WCS of a cut-out: its own (a FITS file's), or a SIP fit to its gwcs, stating its accuracy."""
    from astropy.io import fits

    if wcs is None:
        return fits.Header()
    if _wcs.is_fits(wcs):
        return wcs.to_header(relax=True)
    goal = SIP_GOAL
    fit = _wcs.fit_sip(wcs, shape, goal=goal, inverse=True)
    header = fit.header
    if fit.degree == 0:
        header.add_comment("No FITS WCS: gwcs could not fit a SIP polynomial over this cut-out.")
        return header
    header["SIPMXERR"] = (float(f"{fit.deviation:.3g}"), "[pix] max |FITS WCS - gwcs| in cut-out")
    note = (
        f"WCS: SIP approximation (gwcs to_fits_sip, degree {fit.degree}) of the file's gwcs over this "
        f"cut-out; its largest deviation from the gwcs, measured at {fit.points} pixels, is "
        f"{fit.deviation:.2g} pixel (SIPMXERR)."
    )
    if "A_ORDER" in header and "AP_ORDER" not in header:
        note += f" No inverse (AP, BP) fits within {goal} pixel: sky to pixel iterates on the forward one."
    for line in textwrap.wrap(note, 72):
        header.add_comment(line)
    return header


def to_hdulist(cuts: Mapping[Any, Cutout2D], *, source: str | None = None) -> HDUList:
    """Pack cut-outs (of :func:`cutouts` or :func:`cutout`) into a multi-extension FITS file.

    Parameters
    ----------
    cuts : mapping or astropy.nddata.Cutout2D
        Cut-outs by name, as :func:`cutouts` returns them (or one cut-out).
    source : str, optional
        The ``s3://`` URI they were cut from, recorded as ``SRCURI`` (by default the file the
        cut-outs say they come from).

    Returns
    -------
    astropy.io.fits.HDUList
        An empty primary HDU with the source and the pixel bounds, then one image extension
        per array, named as in the file (ASDF ``data``, ``err``, ``dq`` become ``SCI``,
        ``ERR``, ``DQ``). Each extension has the cut-out's WCS: the FITS WCS of a FITS file
        (with its SIP terms), or for a Roman gwcs a SIP approximation fitted over the
        cut-out, whose measured largest deviation in pixels is ``SIPMXERR``. ``XMIN``,
        ``XMAX``, ``YMIN``, ``YMAX`` give the 0-based pixels (inclusive) of the source
        image. float16 arrays (Roman ``err``) are written as float32, which FITS has.
        What the source file says about the exposure is in the primary header, where it says
        it: ``TELESCOP``, ``INSTRUME``, ``FILTER``, ``DETECTOR``, ``EXPTIME``, ``MJD-OBS``,
        ``MJD-END`` and ``MJD-AVG`` (start, end and middle of the exposure). The pixels' unit
        ``BUNIT`` is on the science and error extensions (not on flags or variances), with
        ``ZPTAB``, the AB magnitude of a source whose pixels sum to 1 ``BUNIT``, where the file
        gives a zero point (and ``PIXAR_SR``, a pixel's solid angle).

    Examples
    --------
    >>> from roman_helpers.datasets import get
    >>> from roman_helpers.stream import cutouts
    >>> uri = get("roman-tutorial-2026").uri()
    >>> hdul = to_hdulist(cutouts(uri, box=(1000, 900, 1064, 964)), source=uri)
    >>> [hdu.name for hdu in hdul], hdul["SCI"].header["SIPMXERR"] < 0.01
    (['PRIMARY', 'SCI', 'ERR', 'DQ'], True)
    >>> hdul[0].header["FILTER"], hdul["SCI"].header["BUNIT"], "BUNIT" in hdul["DQ"].header
    ('F106', 'DN / s', False)
    """
    from astropy.io import fits
    from astropy.nddata import Cutout2D

    if isinstance(cuts, Cutout2D):
        cuts = {"SCI": cuts}
    provenance = next((cut.provenance for cut in cuts.values() if hasattr(cut, "provenance")), None)
    source = source if source is not None else (provenance.source or None) if provenance else None
    primary = fits.PrimaryHDU()
    if source is not None:
        primary.header["SRCURI"] = source  # no comment: a long URI fills the card (astropy continues it)
    cards = provenance.cards() if provenance is not None else []
    pixel_cards = [card for card in cards if card[0] in _PIXEL_KEYS]
    for key, value, comment in cards:
        if key not in _PIXEL_KEYS:
            primary.header[key] = (value, comment)
    hdus = [primary]
    headers: dict[int, Any] = {}  # one WCS header per WCS object: the arrays of a cut-out share it
    for number, (name, cut) in enumerate(cuts.items()):
        header = headers.get(id(cut.wcs))
        if header is None:
            header = headers[id(cut.wcs)] = _wcs_header(getattr(cut, "wcs", None), cut.data.shape)
        header = header.copy()
        (ymin, ymax), (xmin, xmax) = cut.bbox_original
        for key, value in (("XMIN", xmin), ("XMAX", xmax), ("YMIN", ymin), ("YMAX", ymax)):
            header[key] = (int(value), "0-based pixel of the source image, inclusive")
            if number == 0:
                primary.header[key] = (int(value), "0-based pixel of the source image, inclusive")
        header["SRCEXT"] = (str(name), "array of the source file")
        data = cut.data.astype(np.float32) if cut.data.dtype == np.float16 else cut.data
        extname = _FITS_NAMES.get(name, name) if isinstance(name, str) else f"HDU{name}"
        if extname == "PRIMARY" or (number == 0 and not isinstance(name, str)):
            extname = "SCI"
        if number == 0 or str(extname).upper() in _SAME_UNIT:
            for key, value, comment in pixel_cards:
                header[key] = (value, comment)
        hdus.append(fits.ImageHDU(data=data, header=header, name=str(extname).upper()))
    return fits.HDUList(hdus)
