"""Reading one file into a row of an index: its headers or tree, never its pixels (private).

A single forward walk over the HDUs gives the primary header and the first image header in one
pass (two :func:`roman_helpers.stream.read_header` calls would fetch the primary header twice,
which alone can pass 64 KiB for an HST drizzled file); the ASDF tree is needed whole, including
``roman.wcs`` outside ``roman.meta`` (which :func:`roman_helpers.stream.read_metadata` does not
return), and its bytes are kept for the rare file whose gwcs needs blocks after the tree.

The object's size from the listing (or the HEAD) bounds what a header or a tree may claim: an
image larger than its object could hold is a bad file, not a footprint.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _s3, _wcs
from .._asdf_layout import check_claimed_bytes, open_tree, read_tree, wcs_node
from .._fits_layout import HEADER_BLOCK, CheckedGzipFile, ForwardReader, RangeReader, walk_hdus
from .._provenance import describe_headers, describe_tree, node
from .._threadsafe import quiet
from ..errors import FileFormatError

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from astropy.wcs import WCS

__all__ = ["SIP_LIMIT", "SIP_MAX_ERROR", "NotAnImage", "read_file"]

#: Pixel accuracy aimed at by the FITS-SIP fit to an ASDF file's gwcs, and the worst accepted
#: (a file whose gwcs cannot be followed that closely is reported in the ``error`` column).
SIP_MAX_ERROR = 0.01
SIP_LIMIT = 0.05


class NotAnImage(Exception):
    """A readable file that holds no image (an observation sequence, a catalogue): skipped, with a note."""


def _geometry(pixel_to_icrs: Callable[[np.ndarray, np.ndarray], Any], nx: int, ny: int) -> dict[str, Any]:
    """Centre, corners and radius of an ``nx`` x ``ny`` image on the sky (ICRS degrees)."""
    xs = np.array([-0.5, nx - 0.5, nx - 0.5, -0.5, (nx - 1) / 2])
    ys = np.array([-0.5, -0.5, ny - 0.5, ny - 0.5, (ny - 1) / 2])
    sky = pixel_to_icrs(xs, ys)
    ra, dec = sky.ra.deg, sky.dec.deg
    radius = np.max(sky[4].separation(sky[:4]).deg)
    return {
        "ra_center": ra[4],
        "dec_center": dec[4],
        "ra_corners": ra[:4],
        "dec_corners": dec[:4],
        "fov_radius": float(radius),
        "naxis1": nx,
        "naxis2": ny,
    }


def _read_fits(fs: Any, path: str, uri: str, size: int, etag: str) -> dict[str, Any]:
    compressed = uri.lower().endswith(".gz")
    with contextlib.ExitStack() as stack:
        if compressed:  # read forward through the compressed stream, headers only
            handle = stack.enter_context(_s3.open_known(fs, path, size, etag, HEADER_BLOCK))
            reader: Any = ForwardReader(stack.enter_context(CheckedGzipFile(handle, uri)))
        else:
            reader = RangeReader(fs, path)
        primary = image = None
        kinds = []  # what each HDU holds, to say so when none is an image
        for index, _name, header, _offset in walk_hdus(
            reader, uri, stored_size=size or None, compressed=compressed
        ):
            primary = header if index == 0 else primary
            kinds.append(str(header.get("XTENSION", "PRIMARY")).strip())
            if header.get("NAXIS") == 2 and (
                index == 0 or str(header.get("XTENSION", "")).strip() == "IMAGE"
            ):
                image = header
                break
    if image is None:
        what = "a FITS file of tables" if any("TABLE" in kind for kind in kinds) else "a FITS file"
        raise NotAnImage(f"{what} with no 2-D image (its HDUs: {', '.join(kinds)})")
    headers = (image, primary) if image is not primary else (image,)
    wcs = _wcs.celestial(image, uri)
    if wcs is None:
        raise FileFormatError(f"{uri}: the image HDU has no celestial WCS")
    row = {
        **describe_headers(headers),
        "wcs": _wcs.to_text(wcs.to_header(relax=True)),
        "wcs_error": 0.0,
    }
    row.update(
        _geometry(lambda x, y: wcs.pixel_to_world(x, y).icrs, int(image["NAXIS1"]), int(image["NAXIS2"]))
    )
    return row


def _fit_sip(gwcs_wcs: Any, nx: int, ny: int, uri: str) -> tuple[WCS, float]:
    """A FITS-SIP approximation of a gwcs (gwcs's own ``to_fits_sip``) and its measured largest error.

    Why SIP and not the gwcs serialised by asdf: :func:`find` evaluates one WCS per candidate
    file, and astropy.wcs builds one from keywords in about a millisecond where reading a gwcs back
    through asdf takes tens of milliseconds and needs the asdf, gwcs and roman_datamodels schema
    versions that wrote it -- an index must stay readable for years. The keywords are also a few
    hundred bytes to a few kB instead of tens of kB, FITS and ASDF rows then share one code path,
    and any FITS tool can use them. The price is an approximation: the fit aims at
    :data:`SIP_MAX_ERROR` pixels; the error reached is measured on a grid over the whole image,
    through the same world-to-pixel inversion :func:`find` uses, and stored in the row. A
    file whose gwcs no SIP polynomial follows within :data:`SIP_LIMIT` pixels is not indexed.
    """
    fit = _wcs.fit_sip(gwcs_wcs, (ny, nx), goal=SIP_MAX_ERROR)
    if not fit.deviation <= SIP_LIMIT:
        raise FileFormatError(
            f"{uri}: no FITS-SIP polynomial follows its gwcs within {SIP_LIMIT} pixel "
            f"(best {fit.deviation:.3g})"
        )
    return fit.wcs, fit.deviation


def _asdf_row(tree: Mapping, uri: str, size: int) -> dict[str, Any]:
    from astropy.coordinates import SkyCoord

    roman = tree.get("roman", tree)
    meta = node(roman, "meta") or {}
    gwcs_wcs = wcs_node(tree)  # Roman level 2, else the converted OpenUniverse
    if gwcs_wcs is None and len(getattr(node(roman, "data"), "shape", ())) == 3:
        raise NotAnImage("a level-1 file (resultants of the ramp, no WCS): nothing to place on the sky")
    if gwcs_wcs is None:
        raise FileFormatError(
            f"{uri} has no WCS at roman.meta.wcs or roman.wcs (level-1 files have none): "
            "it cannot be placed on the sky"
        )
    data = node(roman, "data")
    shape = getattr(data, "shape", None)
    if shape is None or len(shape) < 2:
        (x0, x1), (y0, y1) = gwcs_wcs.bounding_box.bounding_box(order="F")
        shape = (round(y1 - y0), round(x1 - x0))
    elif size:
        check_claimed_bytes(tuple(shape), np.dtype(getattr(data, "dtype", "u1")).itemsize, size, uri, "data")
    ny, nx = int(shape[-2]), int(shape[-1])
    wcs, error = _fit_sip(gwcs_wcs, nx, ny, uri)
    frame = getattr(gwcs_wcs.output_frame, "reference_frame", None) or "icrs"

    def pixel_to_icrs(x, y):
        lon, lat = gwcs_wcs(x, y, with_bounding_box=False)
        return SkyCoord(lon, lat, unit="deg", frame=frame).icrs

    row = {
        **describe_tree(meta),
        "wcs": _wcs.to_text(wcs.to_header(relax=True)),
        "wcs_error": error,
    }
    row.update(_geometry(pixel_to_icrs, nx, ny))
    return row


def _read_asdf(fs: Any, path: str, uri: str, size: int, etag: str) -> dict[str, Any]:
    # the YAML tree only, in growing ranged reads; the rest of the file opened only if its gwcs keeps
    # arrays in blocks (a file written by plain asdf). Reading the tree is quiet: without its blocks,
    # asdf warns about the arrays it cannot reach, and erfa calls Roman's dates (past its leap-second
    # table) "dubious". The warning filters are process-wide, so quiet() holds the kit's lock: the tree
    # is in memory (or, for the rare gwcs kept in blocks, a few small reads away), so the threads of an
    # index wait little for it.
    tree_bytes, head = read_tree(
        fs, path, uri, open_rest=lambda: _s3.open_known(fs, path, size, etag, HEADER_BLOCK)
    )
    with head, open_tree(tree_bytes, head, uri) as af, quiet():
        return _asdf_row(af.tree, uri, size)


def read_file(fs: Any, bucket: str, key: str, uri: str, size: int, etag: str) -> dict[str, Any]:
    """The columns of one file's row (all but ``uri``, ``etag``, ``size`` and ``error``).

    Read again when the bytes disagree with the file (:func:`roman_helpers._s3.reread`).
    """
    reader = _read_asdf if uri.lower().endswith(".asdf") else _read_fits
    return _s3.reread(lambda: reader(fs, f"{bucket}/{key}", uri, size, etag), uri)
