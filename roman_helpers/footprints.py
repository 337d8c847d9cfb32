r"""Index image files by their footprint on the sky and their time, then find the ones over a position.

A survey's science (light curves, stacks) needs every file that covers one position, across
hundreds of epochs and thousands of files, and no general service answers that for a bucket.
:func:`build_index` reads the headers (FITS) or the metadata tree (ASDF) of each file, never
the pixels, and returns one row per file: band, detector, time, the four corners of the
footprint and a WCS from which pixel positions are computed later without opening the file
again. :func:`save_index` writes it as ECSV (the format of the science platform's manifests) or
Parquet; :func:`find` answers "which files hold this position, and where" in a fraction of a
second, even for a million rows.

Columns of an index
-------------------
``uri``
    ``s3://`` URI of the file.
``instrument``, ``band``, ``detector``
    From ``INSTRUME`` (else ``TELESCOP``), ``FILTER``, ``DETECTOR`` (else ``SCA_NUM`` as ``WFInn``)
    in FITS headers; from ``roman.meta.instrument.{name,optical_element,detector}`` (else
    ``roman.meta.{band,sensor}``) in ASDF files. Empty when the file does not say.
``t_start``, ``t_end``, ``exptime``
    Start and end of the exposure (MJD) and its length (s); NaN when the file does not say.
``naxis1``, ``naxis2``
    Image width and height in pixels.
``ra_center``, ``dec_center``, ``ra_corners``, ``dec_corners``, ``fov_radius``
    ICRS degrees: the centre pixel, the outer corners of the corner pixels in the order
    (0, 0), (naxis1, 0), (naxis1, naxis2), (0, naxis2), and the largest centre-to-corner distance.
``wcs``
    The celestial WCS as FITS header text, one card a line without comments or padding
    (``fits.Header.fromstring(row["wcs"], sep="\n")``; :func:`row_wcs` gives the WCS). For FITS it
    is the file's own; for an ASDF gwcs it is a FITS-SIP fit.
``wcs_error``
    Largest difference, in pixels, between that WCS and the file's own over the image (0 for FITS).
``etag``, ``size``
    The object's ETag and size when it was read: an incremental rebuild skips files whose ETag
    is unchanged.
``error``
    Empty for an indexed file; otherwise why it could not be indexed, and the other columns are
    blank (:func:`find` ignores the row). ``"not read: ..."`` (a network or access failure) is
    tried again by the next incremental build; ``"bad file: ..."`` (content that is not a readable
    image) once the file changes.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import json
import math
import re
import warnings
import zlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _sky, config

# The kit's private layout readers: a single forward walk over the HDUs gives the primary header
# and the first image header in one pass (two stream.read_header calls would fetch the primary
# header twice, which alone can pass 64 KiB for an HST drizzled file); the ASDF tree is needed
# whole, including roman.wcs outside roman.meta (which stream.read_metadata does not return), and
# its bytes are kept for the rare file whose gwcs needs blocks after the tree.
from ._asdf_layout import read_tree_bytes
from ._fits_layout import HEADER_BLOCK, ForwardReader, RangeReader, walk_hdus
from ._threadsafe import LOCK
from .errors import (
    FileFormatError,
    InvalidParameterError,
    InvalidURIError,
    MissingExtraError,
    NotInCloudWarning,
    ObjectNotFoundError,
    RomanHelpersError,
    translate_s3_error,
)
from .uris import split_uri

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from astropy.coordinates import SkyCoord
    from astropy.io.fits import Header
    from astropy.table import Row, Table
    from astropy.wcs import WCS

__all__ = [
    "COLUMNS",
    "SIP_LIMIT",
    "SIP_MAX_ERROR",
    "build_index",
    "find",
    "load_index",
    "row_wcs",
    "save_index",
]

#: The columns of an index, in order, with their type and the value of a file not (yet) indexed.
COLUMNS: dict[str, tuple[Any, Any]] = {
    "uri": (object, ""),
    "instrument": (object, ""),
    "band": (object, ""),
    "detector": (object, ""),
    "t_start": (np.float64, math.nan),
    "t_end": (np.float64, math.nan),
    "exptime": (np.float64, math.nan),
    "naxis1": (np.int64, 0),
    "naxis2": (np.int64, 0),
    "ra_center": (np.float64, math.nan),
    "dec_center": (np.float64, math.nan),
    "ra_corners": ((np.float64, 4), math.nan),
    "dec_corners": ((np.float64, 4), math.nan),
    "fov_radius": (np.float64, math.nan),
    "wcs": (object, ""),
    "wcs_error": (np.float64, math.nan),
    "etag": (object, ""),
    "size": (np.int64, 0),
    "error": (object, ""),
}
_UNITS = {
    "t_start": "d",
    "t_end": "d",
    "exptime": "s",
    "naxis1": "pix",
    "naxis2": "pix",
    "ra_center": "deg",
    "dec_center": "deg",
    "ra_corners": "deg",
    "dec_corners": "deg",
    "fov_radius": "deg",
    "wcs_error": "pix",
    "size": "byte",
}
_FORMAT_KEY = "footprint_index_version"
_FORMAT_VERSION = 1

#: Pixel accuracy aimed at by the FITS-SIP fit to an ASDF file's gwcs, and the worst accepted
#: (a file whose gwcs cannot be followed that closely is reported in the ``error`` column).
SIP_MAX_ERROR = 0.01
SIP_LIMIT = 0.05
#: Extra angle around each footprint polygon in the fast pre-filter of :func:`find`. The corners are
#: joined by great circles; a pixel edge bent by a detector's optical distortion departs from that
#: great circle by far less than this, and the exact test with each file's WCS follows anyway.
PREFILTER_MARGIN_DEG = 10.0 / 3600
_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".asdf")


# --------------------------------------------------------------------------- inputs


def _s3_uri(item: Any, position: int) -> str | None:
    """One entry of a URI list: an ``s3://`` URI, a ``cloud_access`` JSON string/dict, or None."""
    if item is None or item is np.ma.masked:
        return None
    if isinstance(item, bytes):
        item = item.decode()
    if isinstance(item, str) and item.lstrip().startswith("{"):
        try:
            item = json.loads(item)
        except ValueError as error:
            raise InvalidParameterError(
                f"source[{position}]", item, hint=f"not valid JSON ({error})"
            ) from None
    if isinstance(item, Mapping):  # IRSA's cloud_access: {"aws": {"bucket_name": ..., "key": ...}}
        aws = item.get("aws", item)
        if isinstance(aws, Mapping) and aws.get("bucket_name") and aws.get("key"):
            return f"s3://{aws['bucket_name']}/{str(aws['key']).lstrip('/')}"
        raise InvalidParameterError(
            f"source[{position}]", item, hint="a cloud_access entry needs aws.bucket_name and aws.key"
        )
    if isinstance(item, str):
        try:
            split_uri(item)
        except InvalidURIError as error:
            raise InvalidParameterError(
                f"source[{position}]",
                item,
                hint=f"{error}; turn MAST products into s3:// URIs first with roman_helpers.uris.cloud_uris",
            ) from None
        return item
    raise InvalidParameterError(
        f"source[{position}]", item, hint="expected an s3:// URI, a cloud_access JSON string or None"
    )


def _is_image_file(uri: str) -> bool:
    return uri.lower().endswith(_SUFFIXES)


def _filesystem(bucket: str, anon: bool | None, workers: int) -> Any:
    return config.filesystem(bucket, anon=anon, config_kwargs={"max_pool_connections": max(10, workers)})


def _list_prefix(prefix: str, anon: bool | None, workers: int) -> tuple[list[tuple[str, str, int]], int]:
    """``(uri, etag, size)`` of the images under an S3 prefix (one listing), and how many others."""
    bucket, key = split_uri(prefix)
    fs = _filesystem(bucket, anon, workers)
    folder, _, name = key.rpartition("/")
    try:
        # S3 prefix semantics: "…/F158/" is a folder, "…/Roman_TDS_simple_model_F1" a start of names
        found = (
            fs.find(f"{bucket}/{folder}".rstrip("/"), prefix=name, detail=True)
            if name
            else fs.find(f"{bucket}/{folder}", detail=True)
        )
    except OSError as error:  # no such bucket, access refused ...
        raise translate_s3_error(error, prefix, anonymous=anon) from error
    entries = [
        (f"s3://{path}", str(info.get("ETag", "")).strip('"'), int(info.get("size", 0)))
        for path, info in sorted(found.items())
        if info.get("type", "file") != "directory"
    ]
    images = [entry for entry in entries if _is_image_file(entry[0])]
    if not images:
        raise ObjectNotFoundError(
            f"no .fits, .fits.gz or .asdf files under {prefix}; check the prefix "
            "(list it with `roman-helpers ls`)"
        )
    return images, len(entries) - len(images)


# --------------------------------------------------------------------------- one file


def _header_value(headers: Iterable[Header], *keys: str) -> Any:
    for key in keys:
        for header in headers:
            value = header.get(key)
            if value is not None and str(value).strip() != "":
                return value.strip() if isinstance(value, str) else value
    return None


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _to_mjd(value: Any) -> float:
    """MJD of a time given as a number (already MJD), an ISO string or an astropy Time."""
    from astropy.time import Time

    if value is None:
        return math.nan
    if isinstance(value, Time):
        return float(value.mjd)
    if isinstance(value, (int, float, np.floating)):
        return float(value)
    try:
        return float(Time(str(value).strip()).mjd)
    except ValueError:
        return math.nan


def _fits_times(headers: Iterable[Header]) -> tuple[float, float, float]:
    exptime = _as_float(_header_value(headers, "EXPTIME", "XPOSURE", "EXPOSURE"))
    start = _as_float(_header_value(headers, "MJD-OBS", "EXPSTART", "MJD-BEG"))
    if math.isnan(start):
        date = _header_value(headers, "DATE-OBS", "DATE-BEG")
        clock = _header_value(headers, "TIME-OBS")
        if date is not None and clock is not None and "T" not in str(date):
            date = f"{date}T{clock}"
        start = _to_mjd(date)
    end = _as_float(_header_value(headers, "MJD-END", "EXPEND"))
    if math.isnan(end):
        end = _to_mjd(_header_value(headers, "DATE-END"))
    if math.isnan(end) and not math.isnan(exptime):
        end = start + exptime / 86400
    return start, end, exptime


def _fits_band(headers: Iterable[Header]) -> str:
    band = _header_value(headers, "FILTER")
    if band is None:  # ACS/WFC: two filter wheels, one of them CLEAR
        wheels = [str(v) for v in (_header_value(headers, "FILTER1"), _header_value(headers, "FILTER2")) if v]
        band = "+".join(w for w in wheels if not w.upper().startswith("CLEAR")) or None
    return "" if band is None else str(band)


def _wcs_text(header: Header) -> str:
    """The WCS keywords as FITS header text: one card a line, no comments, no trailing blanks.

    Line breaks survive ECSV (inside a quoted value) and Parquet; trailing blanks would not.
    """
    from astropy.io import fits

    cards = (fits.Card(key, value) for key, value in header.items() if key not in ("COMMENT", "HISTORY", ""))
    return "\n".join(card.image.rstrip() for card in cards)


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


def _open_known(fs: Any, path: str, size: int, etag: str) -> Any:
    """Open for small reads, with the size and ETag known from the listing (or HEAD).

    They spare another HEAD, and a file replaced meanwhile fails rather than mixing two versions
    in one row.
    """
    handle = fs.open(path, "rb", cache_type="readahead", block_size=HEADER_BLOCK, size=size)
    handle.details = {"name": path, "size": size, "ETag": f'"{etag}"'}
    return handle


def _read_fits(fs: Any, path: str, uri: str, size: int, etag: str) -> dict[str, Any]:
    from astropy.wcs import WCS

    with contextlib.ExitStack() as stack:
        if uri.lower().endswith(".gz"):  # read forward through the compressed stream, headers only
            handle = stack.enter_context(_open_known(fs, path, size, etag))
            reader: Any = ForwardReader(stack.enter_context(gzip.GzipFile(fileobj=handle, mode="rb")))
        else:
            reader = RangeReader(fs, path)
        primary = image = None
        try:
            for index, _name, header, _offset in walk_hdus(reader, uri):
                primary = header if index == 0 else primary
                if header.get("NAXIS") == 2 and (
                    index == 0 or str(header.get("XTENSION", "")).strip() == "IMAGE"
                ):
                    image = header
                    break
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:
            raise FileFormatError(f"{uri} is not a readable gzip-compressed FITS file ({error})") from error
    if image is None:
        raise FileFormatError(f"{uri} has no 2-D image HDU")
    headers = (image, primary) if image is not primary else (image,)
    wcs = WCS(image).celestial
    if not wcs.has_celestial:
        raise FileFormatError(f"{uri}: the image HDU has no celestial WCS")
    detector = _header_value(headers, "DETECTOR")
    if (
        detector is None and _header_value(headers, "SCA_NUM") is not None
    ):  # OpenUniverse: WFI detector number
        detector = f"WFI{int(_header_value(headers, 'SCA_NUM')):02d}"
    t_start, t_end, exptime = _fits_times(headers)
    row = {
        "instrument": str(_header_value(headers, "INSTRUME", "TELESCOP") or ""),
        "band": _fits_band(headers),
        "detector": "" if detector is None else str(detector),
        "t_start": t_start,
        "t_end": t_end,
        "exptime": exptime,
        "wcs": _wcs_text(wcs.to_header(relax=True)),
        "wcs_error": 0.0,
    }
    row.update(
        _geometry(lambda x, y: wcs.pixel_to_world(x, y).icrs, int(image["NAXIS1"]), int(image["NAXIS2"]))
    )
    return row


def _node(tree: Any, *path: str) -> Any:
    for key in path:
        try:
            tree = tree[key]
        except (KeyError, TypeError, IndexError, AttributeError):
            return None
        if tree is None:
            return None
    return tree


def _fit_sip(gwcs_wcs: Any, nx: int, ny: int, uri: str) -> tuple[WCS, float]:
    """A FITS-SIP approximation of a gwcs (gwcs's own ``to_fits_sip``) and its measured largest error.

    Why SIP and not the gwcs serialised by asdf: :func:`find` evaluates one WCS per candidate
    file, and astropy.wcs builds one from keywords in about a millisecond where reading a gwcs back
    through asdf takes tens of milliseconds and needs the asdf, gwcs and roman_datamodels schema
    versions that wrote it -- an index must stay readable for years. The keywords are also a few
    hundred bytes to a few kB instead of tens of kB, FITS and ASDF rows then share one code path,
    and any FITS tool can use them. The price is an approximation: the fit aims at
    :data:`SIP_MAX_ERROR` pixels; the error reached is measured here on a grid over the whole
    image, through the same world-to-pixel inversion :func:`find` uses, and stored in the row. A
    file whose gwcs no SIP polynomial follows within :data:`SIP_LIMIT` pixels is not indexed.
    """
    with LOCK:  # gwcs's fit changes the process-wide warning filters (see roman_helpers._threadsafe)
        return _fit_sip_alone(gwcs_wcs, nx, ny, uri)


def _fit_sip_alone(gwcs_wcs: Any, nx: int, ny: int, uri: str) -> tuple[WCS, float]:
    from astropy.wcs import WCS

    box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
    x, y = np.meshgrid(np.linspace(-0.5, nx - 0.5, 41), np.linspace(-0.5, ny - 0.5, 41))
    lon, lat = gwcs_wcs(x, y, with_bounding_box=False)

    def attempt(**degree: Any) -> tuple[WCS, float, int]:
        header = gwcs_wcs.to_fits_sip(bounding_box=box, max_inv_pix_error=None, **degree)
        wcs = WCS(header)
        px, py = wcs.all_world2pix(lon, lat, 0, quiet=True)  # a diverging fit shows as a large error
        error = float(np.max(np.hypot(px - x, py - y)))
        return wcs, error if np.isfinite(error) else math.inf, int(header.get("A_ORDER", 1))

    best = attempt(max_pix_error=SIP_MAX_ERROR)  # gwcs warns when its search falls short: we measure
    # gwcs's search may stop early (when one more degree does not help, e.g. odd-symmetric terms)
    for degree in range(best[2] + 1, 10):
        if best[1] <= SIP_MAX_ERROR:
            break
        with contextlib.suppress(ValueError, np.linalg.LinAlgError):
            candidate = attempt(degree=degree)
            best = candidate if candidate[1] < best[1] else best
    if not best[1] <= SIP_LIMIT:
        raise FileFormatError(
            f"{uri}: no FITS-SIP polynomial follows its gwcs within {SIP_LIMIT} pixel (best {best[1]:.3g})"
        )
    return best[0], best[1]


class _ArraysAfterTree(Exception):
    """The gwcs keeps arrays (polynomial coefficients ...) in binary blocks, not in the tree."""


def _asdf_row(tree: Mapping, uri: str) -> dict[str, Any]:
    from astropy.coordinates import SkyCoord

    roman = tree.get("roman", tree)
    meta = _node(roman, "meta") or {}
    gwcs_wcs = _node(meta, "wcs") or _node(roman, "wcs")  # Roman level 2, else the converted OpenUniverse
    if gwcs_wcs is None:
        raise FileFormatError(
            f"{uri} has no WCS at roman.meta.wcs or roman.wcs (level-1 files have none): "
            "it cannot be placed on the sky"
        )
    if not hasattr(gwcs_wcs, "to_fits_sip"):
        raise _ArraysAfterTree
    shape = getattr(_node(roman, "data"), "shape", None)
    if shape is None or len(shape) < 2:
        (x0, x1), (y0, y1) = gwcs_wcs.bounding_box.bounding_box(order="F")
        shape = (round(y1 - y0), round(x1 - x0))
    ny, nx = int(shape[-2]), int(shape[-1])
    wcs, error = _fit_sip(gwcs_wcs, nx, ny, uri)
    frame = getattr(gwcs_wcs.output_frame, "reference_frame", None) or "icrs"

    def pixel_to_icrs(x, y):
        lon, lat = gwcs_wcs(x, y, with_bounding_box=False)
        return SkyCoord(lon, lat, unit="deg", frame=frame).icrs

    start = _to_mjd(_node(meta, "exposure", "start_time"))
    exptime = _as_float(_node(meta, "exposure", "exposure_time") or _node(meta, "exptime"))
    end = _to_mjd(_node(meta, "exposure", "end_time"))
    instrument = _node(meta, "instrument", "name") or _node(meta, "instrument")
    row = {
        "instrument": instrument if isinstance(instrument, str) else "",
        "band": str(_node(meta, "instrument", "optical_element") or _node(meta, "band") or ""),
        "detector": str(_node(meta, "instrument", "detector") or _node(meta, "sensor") or ""),
        "t_start": start,
        "t_end": end if not math.isnan(end) else start + exptime / 86400,
        "exptime": exptime,
        "wcs": _wcs_text(wcs.to_header(relax=True)),
        "wcs_error": error,
    }
    row.update(_geometry(pixel_to_icrs, nx, ny))
    return row


class _TreeThenRanges(io.RawIOBase):
    """A file whose first bytes (the tree, already fetched) come from memory, the rest from ``handle``."""

    def __init__(self, prefix: bytes, handle: Any) -> None:
        super().__init__()
        self.prefix, self.handle, self.position = prefix, handle, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.position = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.handle.size}[
            whence
        ] + offset
        return self.position

    def readinto(self, buffer: Any) -> int:
        wanted = len(buffer)
        data = self.prefix[self.position : self.position + wanted]
        if len(data) < wanted:
            self.handle.seek(self.position + len(data))
            data += self.handle.read(wanted - len(data))
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)


def _read_asdf(fs: Any, path: str, uri: str, size: int, etag: str) -> dict[str, Any]:
    import asdf

    tree_bytes = read_tree_bytes(fs, path, uri)  # the YAML tree only, in growing ranged reads
    try:
        with asdf.open(io.BytesIO(tree_bytes), lazy_load=True, memmap=False) as af:  # no blocks
            return _asdf_row(af.tree, uri)
    except _ArraysAfterTree:
        pass
    # roman_datamodels writes arrays under 512 elements into the tree; a file written by plain asdf
    # keeps them in binary blocks. asdf then fetches the block index and those blocks (small reads).
    with _open_known(fs, path, size, etag) as handle, _TreeThenRanges(tree_bytes, handle) as combined:
        try:
            af = asdf.open(combined, lazy_load=True, memmap=False)
        except (ValueError, OSError) as error:
            raise FileFormatError(f"{uri} is not a readable ASDF file: {error}") from error
        with af:
            try:
                return _asdf_row(af.tree, uri)
            except _ArraysAfterTree:
                raise FileFormatError(
                    f"{uri}: the WCS at roman.meta.wcs or roman.wcs is not a gwcs that "
                    "this installation can read"
                ) from None


#: Start of the ``error`` of a file that could not be fetched (retried by the next build); a file
#: whose content could not be understood starts with :data:`_BAD_FILE` (kept until its ETag changes).
_NOT_READ, _BAD_FILE = "not read: ", "bad file: "


def _failure(error: BaseException, uri: str) -> str:
    error = translate_s3_error(error, uri)  # S3 errors become ours, with advice; others pass unchanged
    text = str(error).strip() or "no message"
    if isinstance(error, FileFormatError):
        return _BAD_FILE + text
    if isinstance(error, RomanHelpersError | OSError | TimeoutError) or type(error).__module__.startswith(
        "botocore"
    ):  # no such object, access refused, the network: may pass or be put right
        return _NOT_READ + text
    return _BAD_FILE + f"{type(error).__name__}: {text}"  # what the content made astropy, asdf or gwcs say


def _index_one(
    uri: str,
    etag: str | None,
    size: int | None,
    previous: Mapping[str, tuple[str, str, int]],
    anon: bool | None,
    workers: int,
) -> dict[str, Any] | int:
    """Return the row of one file, or the number of its unchanged row in the previous index (no GET)."""
    row: dict[str, Any] = {"uri": uri, "etag": etag or "", "size": size or 0}
    try:
        bucket, key = split_uri(uri)
        fs = _filesystem(bucket, anon, workers)
        if etag is None:  # a URI list: one HEAD for the ETag and size
            info = fs.info(f"{bucket}/{key}", refresh=True)  # never an older listing's cached ETag
            row["etag"], row["size"] = str(info.get("ETag", "")).strip('"'), int(info.get("size", 0))
        old_etag, old_error, number = previous.get(uri, ("", "", -1))
        if row["etag"] and old_etag == row["etag"] and not old_error.startswith(_NOT_READ):
            return number
        if uri.lower().endswith(".asdf"):
            row.update(_read_asdf(fs, f"{bucket}/{key}", uri, row["size"], row["etag"]))
        else:
            row.update(_read_fits(fs, f"{bucket}/{key}", uri, row["size"], row["etag"]))
    except Exception as error:  # noqa: BLE001 - one bad file is recorded in its row, the index goes on
        row = {"uri": uri, "etag": row["etag"], "size": row["size"], "error": _failure(error, uri)}
    return row


# --------------------------------------------------------------------------- tables


def _table(rows: list[dict[str, Any]]) -> Table:
    from astropy.table import Column, Table

    table = Table()
    for name, (dtype, blank) in COLUMNS.items():
        values = [row.get(name, blank) for row in rows]
        if isinstance(dtype, tuple):
            array: np.ndarray = np.full((len(rows), dtype[1]), blank, dtype=dtype[0])
            for i, value in enumerate(values):
                array[i] = value
        elif dtype is object:
            array = np.empty(len(rows), dtype=object)
            array[:] = ["" if v is None or v is np.ma.masked else str(v) for v in values]
        else:
            array = np.array(values, dtype=dtype)
        table[name] = Column(array, unit=_UNITS.get(name))
    return table


def _by_uri(table: Table) -> dict[str, tuple[str, str, int]]:
    """``uri -> (etag, error, row number)`` of a previous index."""
    columns = (table[name].tolist() for name in ("uri", "etag", "error"))
    return {
        str(uri): (str(etag), str(error), i)
        for i, (uri, etag, error) in enumerate(zip(*columns, strict=True))
    }


def build_index(
    source: str | Iterable[Any],
    *,
    previous: Table | str | PathLike | None = None,
    max_workers: int = 16,
    anon: bool | None = None,
    progress: bool | None = None,
) -> Table:
    """Index image files by footprint and time, reading headers and metadata only.

    Parameters
    ----------
    source : str or iterable
        An ``s3://`` prefix, listed recursively (``.fits``, ``.fits.gz`` and ``.asdf`` files are
        kept), or the files themselves: ``s3://`` URIs (for example from
        :func:`roman_helpers.uris.cloud_uris` or astroquery's ``get_cloud_uris``), IRSA
        ``cloud_access`` entries (the JSON strings of that column, or their dictionaries),
        and ``None`` for products without a cloud copy (skipped and counted).
    previous : astropy.table.Table or path, optional
        An earlier index of the same files. Rows whose ETag is unchanged are reused without
        reading the file (one listing or one HEAD request each, no GET). Files that could not be
        fetched are tried again; files found unreadable are tried again once their ETag changes.
    max_workers : int, optional
        Files read at the same time.
    anon : bool, optional
        Anonymous access; by default decided by each bucket
        (:func:`roman_helpers.config.is_public_bucket`).
    progress : bool, optional
        Show a progress bar; by default only on a terminal.

    Returns
    -------
    astropy.table.Table
        One row per file, in listing (or input) order; the columns are described in
        :mod:`roman_helpers.footprints`. A file that could not be read has its reason in the
        ``error`` column instead of stopping the whole index; ``meta["build"]`` counts the
        files read, reused, failed and skipped.

    Raises
    ------
    ObjectNotFoundError
        If a prefix holds no image files.
    InvalidParameterError
        If an entry of ``source`` is neither an ``s3://`` URI, a ``cloud_access`` entry nor ``None``.

    Warns
    -----
    NotInCloudWarning
        When ``None`` entries were skipped.
    UserWarning
        When some files could not be indexed.

    Examples
    --------
    >>> from roman_helpers.footprints import build_index
    >>> index = build_index("s3://stpubdata/roman/nexus/soc_simulations/tutorial_data/roman-2026.2/")
    >>> len(index), sorted(set(index["band"])), index["detector"][0], round(float(index["t_start"][0]), 4)
    (36, ['F106', 'F158'], 'WFI01', 61297.2167)
    >>> again = build_index(index.meta["source"], previous=index)  # nothing changed: no file is read
    >>> again.meta["build"]["reused"]
    36
    """
    from ._progress import tqdm

    if type(max_workers) is not int or max_workers < 1:  # not a bool either
        raise InvalidParameterError(
            "max_workers", max_workers, hint="give a positive number of files read at once"
        )
    skipped_none = skipped_other = 0
    if isinstance(source, str):
        if not source.startswith("s3://"):
            raise InvalidParameterError("source", source, hint="give an s3:// prefix or a list of s3:// URIs")
        listed, skipped_other = _list_prefix(source, anon, max_workers)
        targets: list[tuple[str, str | None, int | None]] = list(listed)
        described = source
    elif isinstance(source, Iterable):
        targets, seen = [], set()  # ETag and size come from a HEAD each
        for position, item in enumerate(source):
            uri = _s3_uri(item, position)
            if uri is None:
                skipped_none += 1
            elif not _is_image_file(uri):
                skipped_other += 1
            elif uri not in seen:
                seen.add(uri)
                targets.append((uri, None, None))
        described = f"{len(targets)} URIs"
    else:
        raise InvalidParameterError("source", source, hint="give an s3:// prefix or a list of s3:// URIs")
    if skipped_none:
        warnings.warn(
            f"{skipped_none} entries of the list are None (products without a copy in the cloud) "
            "and were skipped",
            NotInCloudWarning,
            stacklevel=2,
        )
    if previous is not None and not hasattr(previous, "colnames"):
        previous = load_index(previous)
    if previous is not None:
        _check_columns(previous, "previous")
    known = _by_uri(previous) if previous is not None else {}

    results: list[dict[str, Any] | int] = [0] * len(targets)
    # Set once here, not in the readers: warnings.catch_warnings is process-wide and not thread-safe,
    # and headers, trees and fits warn about what this index does not use (fixed FITS keywords ...).
    with (
        warnings.catch_warnings(),
        ThreadPoolExecutor(max_workers=max_workers) as pool,
        tqdm(
            total=len(targets),
            unit="file",
            desc="indexing",
            disable=None if progress is None else not progress,
        ) as bar,
    ):
        warnings.simplefilter("ignore")
        futures = {
            pool.submit(_index_one, uri, etag, size, known, anon, max_workers): i
            for i, (uri, etag, size) in enumerate(targets)
        }
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            bar.update(1)
    table = _assemble(results, previous)
    failed = int(np.sum(np.asarray(table["error"], dtype=object) != ""))
    reused = sum(isinstance(result, int) for result in results)
    if failed:
        warnings.warn(
            f"{failed} of {len(table)} files could not be indexed; the 'error' column says why "
            "(build again with previous= to retry those not read)",
            UserWarning,
            stacklevel=2,
        )
    table.meta = {
        _FORMAT_KEY: _FORMAT_VERSION,
        "source": described,
        "build": {
            "files": len(table),
            "read": len(table) - reused,
            "reused": reused,
            "failed": failed,
            "skipped_none": skipped_none,
            "skipped_not_image": skipped_other,
        },
    }
    return table


def _assemble(results: list[dict[str, Any] | int], previous: Table | None) -> Table:
    """One table in input order from the new rows and the numbers of the reused rows of ``previous``."""
    from astropy.table import Column, Table

    new = [i for i, result in enumerate(results) if isinstance(result, dict)]
    table = _table([result for result in results if isinstance(result, dict)])
    old = [i for i, result in enumerate(results) if isinstance(result, int)]
    if not old or previous is None:
        return table
    numbers = [result for result in results if isinstance(result, int)]
    order = np.argsort(np.array(new + old), kind="stable")
    columns = {}
    for name in COLUMNS:
        values = np.asarray(previous[name])[numbers].astype(table[name].dtype)
        columns[name] = Column(
            np.concatenate([np.asarray(table[name]), values])[order], unit=_UNITS.get(name)
        )
    return Table(columns)


# --------------------------------------------------------------------------- files


def _check_columns(table: Table, what: str) -> None:
    missing = [name for name in COLUMNS if name not in table.colnames]
    if missing:
        raise FileFormatError(
            f"{what} is not a footprint index: it lacks the columns {', '.join(missing)} (an index has "
            f"{', '.join(COLUMNS)}); make one with roman_helpers.footprints.build_index"
        )


def _pyarrow(action: str) -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as error:
        raise MissingExtraError(f"{action} a Parquet index", ["survey"], "pyarrow") from error
    return pa, pq


def _kind(path: str | PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".ecsv", ".parquet"):
        return suffix[1:]
    raise InvalidParameterError(
        "path",
        str(path),
        valid=[".ecsv", ".parquet"],
        hint="an index is saved as ECSV (readable text) or Parquet (large indexes)",
    )


def save_index(table: Table, path: str | PathLike) -> Path:
    """Write an index to ``.ecsv`` or ``.parquet``.

    ECSV is the text format of the science platform's file manifests, fine up to some
    ten thousand files; Parquet is compact and fast for large indexes and needs ``pyarrow``
    (``pip install "roman-helpers[survey]"``).

    Parameters
    ----------
    table : astropy.table.Table
        From :func:`build_index` (or :func:`find`).
    path : str or path-like
        Ends in ``.ecsv`` or ``.parquet``; an existing file is replaced.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> from roman_helpers.footprints import build_index, load_index, save_index
    >>> index = build_index(
    ...     [
    ...         "s3://nasa-irsa-simulations/openuniverse2024/roman/preview/RomanWAS/"
    ...         "images/simple_model/F158/15297/Roman_WAS_simple_model_F158_15297_3.fits.gz"
    ...     ]
    ... )
    >>> path = save_index(index, "index.ecsv")
    >>> load_index(path)["band"][0]
    'F158'
    """
    _check_columns(table, "the table")
    kind, path = _kind(path), Path(path)
    if kind == "ecsv":
        out = table.copy(copy_data=False)
        for name in out.colnames:  # plain text columns, not ECSV's JSON-encoded objects
            if out[name].dtype == object:
                out[name] = np.array([str(v) for v in out[name]], dtype=str)
        out.write(path, format="ascii.ecsv", overwrite=True)
        return path
    pa, pq = _pyarrow("saving")
    # pyarrow directly: astropy's Parquet reader needs pandas as well, and these columns are simple.
    arrays = {}
    for name in table.colnames:
        column = table[name]
        values = np.ma.getdata(column)
        if values.ndim == 2:
            arrays[name] = pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), values.shape[1])
        elif values.dtype.kind in "OUS":
            arrays[name] = pa.array([str(v) for v in values], pa.string())
        else:
            arrays[name] = pa.array(values)
    units = {name: str(table[name].unit) for name in table.colnames if table[name].unit is not None}
    described = json.dumps({"meta": dict(table.meta), "units": units}, default=str)
    pq.write_table(pa.table(arrays).replace_schema_metadata({"roman_helpers": described}), path)
    return path


def load_index(path: str | PathLike) -> Table:
    """Read an index written by :func:`save_index`.

    Parameters
    ----------
    path : str or path-like
        A ``.ecsv`` or ``.parquet`` file.

    Returns
    -------
    astropy.table.Table

    Raises
    ------
    ObjectNotFoundError
        If there is no such file.
    FileFormatError
        If the file is not a footprint index.
    InvalidParameterError
        If the name ends in neither ``.ecsv`` nor ``.parquet``.

    Examples
    --------
    >>> from roman_helpers.footprints import load_index
    >>> load_index("notes.txt")
    Traceback (most recent call last):
    ...
    roman_helpers.errors.InvalidParameterError: invalid path 'notes.txt'; valid values are: ...
    """
    from astropy.table import Column, MaskedColumn, Table

    kind, path = _kind(path), Path(path)
    if not path.is_file():
        raise ObjectNotFoundError(f"no index at {path}; make one with build_index and save_index")
    if kind == "ecsv":
        try:
            table = Table.read(path, format="ascii.ecsv")
        except Exception as error:  # astropy raises many types for a file that is not ECSV
            raise FileFormatError(
                f"{path} is not an ECSV table ({type(error).__name__}: {error}); "
                "expected an index written by save_index"
            ) from error
    else:
        pa, pq = _pyarrow("reading")
        try:
            stored = pq.read_table(path)
        except (pa.ArrowException, OSError) as error:
            raise FileFormatError(
                f"{path} is not a Parquet file ({error}); expected an index written by save_index"
            ) from error
        described = json.loads((stored.schema.metadata or {}).get(b"roman_helpers", b"{}"))
        table = Table(meta=described.get("meta", {}))
        for name in stored.column_names:
            column = stored.column(name).combine_chunks()
            if pa.types.is_fixed_size_list(column.type):
                values = column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), -1)
            elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                values = np.array(column.to_pylist(), dtype=object)
            else:
                values = column.to_numpy(zero_copy_only=False)
            table[name] = Column(values, unit=described.get("units", {}).get(name))
    _check_columns(table, str(path))
    for name, (dtype, _blank) in COLUMNS.items():  # text columns as Python strings; ECSV reads "" as masked
        if dtype is object:
            column = table[name]
            column = column.filled("") if isinstance(column, MaskedColumn) else column
            table[name] = Column(np.array([str(v) for v in column], dtype=object), unit=None)
    return table


# --------------------------------------------------------------------------- queries


def _unit_vectors(ra: Any, dec: Any) -> np.ndarray:
    ra, dec = np.radians(ra), np.radians(dec)
    cos_dec = np.cos(dec)
    return np.stack([cos_dec * np.cos(ra), cos_dec * np.sin(ra), np.sin(dec)], axis=-1)


def _edges(ra_corners: np.ndarray, dec_corners: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Corner unit vectors (n, 4, 3), raw edge normals A x B, and unit normals pointing inside."""
    corners = _unit_vectors(ra_corners, dec_corners)
    raw = np.cross(corners, np.roll(corners, -1, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = raw / np.linalg.norm(raw, axis=-1, keepdims=True)
    # corner 2 lies inside the polygon whichever way round (parity) the corners go
    inward = np.sign(np.einsum("nj,nj->n", unit[:, 0], corners[:, 2]))
    return corners, raw, unit * inward[:, None, None]


def _polygon_distance(
    target: np.ndarray, corners: np.ndarray, raw: np.ndarray, inward: np.ndarray
) -> np.ndarray:
    """Angle (radians) from ``target`` to each footprint polygon; 0 inside."""
    sines = np.einsum("nkj,j->nk", inward, target)  # sine of the distance to each edge's great circle
    projected = target - sines[..., None] * inward
    ends = np.roll(corners, -1, axis=1)
    within = (np.einsum("nkj,nkj->nk", np.cross(corners, projected), raw) >= 0) & (
        np.einsum("nkj,nkj->nk", np.cross(projected, ends), raw) >= 0
    )

    def angle_to(points):
        return np.arctan2(np.linalg.norm(np.cross(points, target), axis=-1), points @ target)

    to_edge = np.where(
        within, np.arcsin(np.clip(np.abs(sines), 0, 1)), np.minimum(angle_to(corners), angle_to(ends))
    )
    return np.where(np.all(sines >= 0, axis=1), 0.0, np.min(to_edge, axis=1))


def _parse_position(position: Any) -> SkyCoord:
    from astropy.coordinates import SkyCoord

    if isinstance(position, SkyCoord):
        if not position.isscalar:
            raise InvalidParameterError(
                "position", position, hint="give one position (call find once per target)"
            )
        return position.icrs
    if isinstance(position, str):
        for unit in (None, "deg"):  # "10h30m +20d" carries its units; "157.5 20.1" is degrees
            try:
                return (
                    SkyCoord(position, unit=unit, frame="icrs") if unit else SkyCoord(position, frame="icrs")
                )
            except (ValueError, TypeError):
                continue
    raise InvalidParameterError(
        "position", position, hint="give an astropy SkyCoord or 'ra dec' in degrees, e.g. '9.71 -44.02'"
    )


def _parse_radius(radius: Any) -> float:
    return 0.0 if radius is None else float(_sky.parse_radius(radius).deg)


def _parse_time(time: Any) -> tuple[float, float]:
    from astropy.time import Time

    def mjd(value: Any, which: str) -> float:
        if value is None:
            return -math.inf if which == "start" else math.inf
        if isinstance(value, Time) and value.isscalar:
            return float(value.utc.mjd)
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            return float(value)
        raise InvalidParameterError(
            "time", time, hint=f"the {which} must be an astropy Time or an MJD number"
        )

    if isinstance(time, (str, bytes)) or not isinstance(time, Iterable) or isinstance(time, Time):
        raise InvalidParameterError(
            "time", time, hint="give a (start, end) pair of astropy Time or MJD numbers"
        )
    pair = list(time)
    if len(pair) != 2:
        raise InvalidParameterError(
            "time", time, hint="give a (start, end) pair of astropy Time or MJD numbers"
        )
    start, end = mjd(pair[0], "start"), mjd(pair[1], "end")
    if start > end:
        raise InvalidParameterError("time", time, hint="the start comes after the end")
    return start, end


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
def _wcs_from_text(text: str) -> WCS:
    """The WCS of an index row.

    astropy.wcs.WCS builds a fits.Header from any header it is given (about a millisecond, most
    of a query's time when a field has hundreds of epochs). The index's text is canonical (astropy
    wrote it), so wcslib parses it directly (Wcsprm) and the SIP polynomials are attached as
    astropy attaches them: twenty times faster, the same transformation (tests/test_footprints.py
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


def row_wcs(row: Row) -> WCS:
    r"""Return the celestial WCS stored in one row of an index.

    Parameters
    ----------
    row : astropy.table.Row
        A row of :func:`build_index` or :func:`find`.

    Returns
    -------
    astropy.wcs.WCS
        0-based pixels as everywhere in astropy; for an ASDF file a FITS-SIP fit to its gwcs,
        within ``row["wcs_error"]`` pixels.

    Examples
    --------
    >>> from astropy.table import Table
    >>> text = "CTYPE1  = 'RA---TAN'\nCTYPE2  = 'DEC--TAN'\nCRVAL1  = 10.0\nCRVAL2  = -20.0"
    >>> row_wcs(Table({"wcs": [text]})[0]).wcs.crval
    array([ 10., -20.])
    """
    return _wcs_from_text(str(row["wcs"]))


@functools.lru_cache(maxsize=4096)
def _celestial_frame(text: str) -> Any:
    from astropy.wcs.utils import wcs_to_celestial_frame

    return wcs_to_celestial_frame(_wcs_from_text(text))


def _pixel_positions(
    table: Table, rows: np.ndarray, target: SkyCoord, radius_deg: float
) -> tuple[np.ndarray, ...]:
    """x, y of ``target`` with each row's WCS, and whether the image (or the radius around it) holds it."""
    from astropy.wcs import NoConvergence

    xs, ys = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
    keep = np.zeros(len(rows), dtype=bool)
    in_frame: dict[str, tuple[float, float]] = {}  # the target converted once per celestial frame
    for i, row in enumerate(rows):
        text = str(table["wcs"][row])
        wcs, frame = _wcs_from_text(text), _celestial_frame(text)
        if repr(frame) not in in_frame:
            converted = target.transform_to(frame).spherical
            in_frame[repr(frame)] = (float(converted.lon.deg), float(converted.lat.deg))
        world = [0.0, 0.0]
        world[wcs.wcs.lng], world[wcs.wcs.lat] = in_frame[repr(frame)]
        try:
            x, y = wcs.all_world2pix(np.array([world]), 0)[0]
        except NoConvergence:  # a distortion polynomial far outside its image: not there
            continue
        xs[i], ys[i] = x, y
        nx, ny = int(table["naxis1"][row]), int(table["naxis2"][row])
        # 0-based pixel centres: the image spans -0.5 ... n - 0.5
        keep[i] = -0.5 <= x < nx - 0.5 and -0.5 <= y < ny - 0.5
        if not keep[i] and radius_deg > 0 and np.isfinite(x) and np.isfinite(y):
            nearest = wcs.pixel_to_world(np.clip(x, -0.5, nx - 0.5), np.clip(y, -0.5, ny - 0.5))
            keep[i] = bool(nearest.separation(target).deg <= radius_deg)
    return xs, ys, keep


def find(
    index: Table | str | PathLike,
    position: Any,
    *,
    radius: Any = None,
    band: str | Iterable[str] | None = None,
    time: Any = None,
) -> Table:
    """Find the files of an index whose image holds a sky position, and the pixel there.

    Parameters
    ----------
    index : astropy.table.Table or path
        From :func:`build_index` or :func:`load_index`.
    position : astropy.coordinates.SkyCoord or str
        The target; a string is parsed by astropy (``"9.71 -44.02"`` in degrees, or with units
        such as ``"0h38m50s -44d01m"``).
    radius : astropy.units.Quantity or str, optional
        Also keep files whose image comes within this angle of the target.
    band : str or list of str, optional
        Keep only these bands (case does not matter).
    time : (start, end), optional
        Keep only exposures overlapping this interval: astropy ``Time`` or MJD numbers; ``None``
        leaves that end open. Files without times are left out when a time is given.

    Returns
    -------
    astropy.table.Table
        The index rows of the files found, sorted by ``t_start``, with ``x`` and ``y``: the
        target's 0-based pixel position in each file, from that file's own WCS (the image spans
        -0.5 to ``naxis - 0.5``). Empty, with a warning giving the distance to the nearest
        footprint, when no file holds the target.

    Raises
    ------
    InvalidParameterError
        For a position, radius or time that cannot be read, or a band not in the index (the
        message lists those present).

    Examples
    --------
    >>> from roman_helpers.footprints import build_index, find
    >>> index = build_index("s3://stpubdata/roman/nexus/soc_simulations/tutorial_data/roman-2026.2/")
    >>> found = find(index, "80.2900 -69.6380", band="F158")
    >>> list(found["detector"]), round(float(found["x"][0]), 1), round(float(found["y"][0]), 1)
    (['WFI03'], 176.6, 193.0)
    """
    if isinstance(index, (str, PathLike)):
        index = load_index(index)
    _check_columns(index, "index")
    target = _parse_position(position)
    radius_deg = _parse_radius(radius)
    selected = _selection(index, band, time)
    usable = (np.asarray(index["error"], dtype=object) == "") & (np.asarray(index["naxis1"]) > 0)
    ra_t, dec_t = float(target.ra.deg), float(target.dec.deg)
    reach = radius_deg + PREFILTER_MARGIN_DEG
    # Vectorised on the unit sphere by hand: no library tests one point against a million polygons.
    # 1. declination band, then 2. right-ascension window: comparisons only, no trigonometry per row
    fov = np.asarray(index["fov_radius"], float)
    candidates = np.flatnonzero(
        usable & (np.abs(np.asarray(index["dec_center"], float) - dec_t) <= fov + reach)
    )
    if len(candidates):
        widest = float(np.max(fov[candidates])) + reach
        if abs(dec_t) + widest < 90:
            # haversine: separation > widest wherever cos(dec1) cos(dec2) sin^2(dra/2) > sin^2(widest/2)
            lowest_cos = math.cos(math.radians(dec_t)) * math.cos(math.radians(abs(dec_t) + widest))
            ratio = math.sin(math.radians(widest) / 2) / math.sqrt(lowest_cos)
            window = 180.0 if ratio >= 1 else math.degrees(2 * math.asin(ratio))
            offset = (np.asarray(index["ra_center"], float)[candidates] - ra_t + 180.0) % 360.0 - 180.0
            candidates = candidates[np.abs(offset) <= window]
    # 3. the polygons: inside every edge's great circle, widened by the margin (and the radius)
    point = _unit_vectors(ra_t, dec_t)
    _corners, _raw, inward = _edges(
        np.asarray(index["ra_corners"], float)[candidates],
        np.asarray(index["dec_corners"], float)[candidates],
    )
    sines = np.einsum("nkj,j->nk", inward, point)
    candidates = candidates[np.all(sines >= -math.sin(math.radians(reach)), axis=1)]
    candidates = candidates[selected(candidates)]  # band and time: on the few rows left, not on all
    # 4. the exact test, with each file's own WCS
    xs, ys, keep = _pixel_positions(index, candidates, target, radius_deg)
    found = index[candidates[keep]]
    found["x"], found["y"] = xs[keep], ys[keep]
    found = (
        found[np.lexsort((np.asarray(found["uri"], dtype=str), np.asarray(found["t_start"], float)))]
        if len(found)
        else found
    )
    found.meta["query"] = {"ra": ra_t, "dec": dec_t, "radius_deg": radius_deg}
    if not len(found):
        usable[usable] = selected(np.flatnonzero(usable))
        found.meta["message"] = message = _nothing_found(index, usable, point, ra_t, dec_t)
        warnings.warn(message, UserWarning, stacklevel=2)
    return found


def _selection(index: Table, band: Any, time: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Check ``band`` and ``time``; return a mask function for rows (by number) that match them."""
    spellings: list[str] | None = None  # the band names as the index writes them
    if band is not None:
        wanted = {band.upper()} if isinstance(band, str) else {str(b).upper() for b in band}
        written = set(np.asarray(index["band"], dtype=object).tolist()) - {""}
        unknown = sorted(wanted - {str(b).upper() for b in written})
        if unknown:
            raise InvalidParameterError(
                "band",
                unknown[0] if len(unknown) == 1 else unknown,
                valid=sorted({str(b).upper() for b in written}),
                hint="the index holds only these bands",
            )
        spellings = [b for b in written if str(b).upper() in wanted]
    start, end = _parse_time(time) if time is not None else (-math.inf, math.inf)

    def selected(rows: np.ndarray) -> np.ndarray:
        keep = np.ones(len(rows), dtype=bool)
        if spellings is not None:
            keep &= np.isin(np.asarray(index["band"], dtype=object)[rows], spellings)
        if time is not None:
            t_start = np.asarray(index["t_start"], float)[rows]
            t_end = np.asarray(index["t_end"], float)[rows]
            t_end = np.where(np.isnan(t_end), t_start, t_end)
            keep &= (t_end >= start) & (t_start <= end)
        return keep

    return selected


def _nothing_found(index: Table, usable: np.ndarray, point: np.ndarray, ra: float, dec: float) -> str:
    """Say how far the nearest footprint is (only computed when nothing was found)."""
    where = f"no file in the index holds ra={ra:.6f} dec={dec:.6f}"
    rows = np.flatnonzero(usable)
    if not len(rows):
        return f"{where}: no file is left after the band and time selection"
    ra_c, dec_c = np.asarray(index["ra_center"], float), np.asarray(index["dec_center"], float)
    fov = np.asarray(index["fov_radius"], float)

    def to_centre(rows: np.ndarray) -> np.ndarray:
        centres = _unit_vectors(ra_c[rows], dec_c[rows])
        return np.degrees(np.arctan2(np.linalg.norm(np.cross(centres, point), axis=-1), centres @ point))

    # a nearby centre bounds the answer; only rows within that bound (plus their size) in declination
    # can hold a nearer footprint, and a footprint is no nearer than its centre minus its radius
    near = rows[np.abs(dec_c[rows] - dec) <= 1.0]
    bound = float(np.nanmin(to_centre(near if len(near) else rows)))
    rows = rows[np.abs(dec_c[rows] - dec) <= bound + np.nanmax(fov[rows])]
    distances = to_centre(rows)
    rows = rows[distances - fov[rows] <= np.nanmin(distances)]
    distance = np.degrees(
        _polygon_distance(
            point,
            *_edges(
                np.asarray(index["ra_corners"], float)[rows], np.asarray(index["dec_corners"], float)[rows]
            ),
        )
    )
    nearest = int(np.nanargmin(distance))
    return (
        f"{where}; the nearest footprint is {distance[nearest] * 3600:.1f} arcsec away "
        f"({index['uri'][rows[nearest]]}); widen the search with radius="
    )
