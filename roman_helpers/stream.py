"""Read FITS and ASDF files straight from ``s3://`` without downloading them.

Every function here reads as few bytes as the task needs:

* headers and ``info`` read the file with a small read-ahead cache
  (:data:`HEADER_BLOCK`), not s3fs's 50 MiB default block;
* ASDF metadata reads only the YAML tree at the head of the file, in growing
  steps so that at most a fifth more than the tree is fetched;
* cut-outs of uncompressed images fetch exactly the pixels of each row of the box,
  all rows concurrently (:meth:`fsspec.AbstractFileSystem.cat_ranges`);
* cut-outs of lz4-compressed ASDF arrays (how roman_datamodels saves them) walk the
  chunk headers of the compressed block and fetch only the chunks holding the rows
  of the box, instead of asdf's whole-block read;
* cut-outs of ``.fits.gz`` files stream the compressed bytes forward once, and stop
  at the chunk holding the last row needed.

Public buckets are read anonymously, others with the default AWS credential
chain (see :func:`roman_helpers.config.filesystem`). Files are closed when the
``with`` block or the call ends.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import struct
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from . import config
from .errors import AccessDeniedError, FileFormatError, InvalidParameterError, ObjectNotFoundError
from .uris import split_uri

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from asdf import AsdfFile
    from astropy.io.fits import Header, HDUList
    from astropy.nddata import Cutout2D
    from roman_datamodels.datamodels import DataModel

__all__ = [
    "HEADER_BLOCK",
    "GZIP_BLOCK",
    "open_fits",
    "read_header",
    "open_asdf",
    "open_datamodel",
    "read_metadata",
    "info",
    "cutout",
]

#: Read-ahead for header-only work: a FITS header block is 2,880 bytes and most headers
#: fit in a few of them, so a small block keeps ``info`` of a many-HDU file far below 64 KiB.
HEADER_BLOCK = 8 * 1024
#: Forward read size for ``.fits.gz`` (which cannot be read at random): large enough that
#: tens of MB need few round trips, small enough to bound the over-read past the last row.
GZIP_BLOCK = 2 * 1024 * 1024
#: First and smallest step when reading an ASDF tree; later steps grow by a fifth of what
#: was read, so the over-read stays within 20 % of the tree.
_ASDF_FIRST_STEP = 4 * 1024
_ASDF_MIN_STEP = 2 * 1024
#: A cut-out fetches megabytes of compressed chunks anyway: read the tree in one go.
_ASDF_CUTOUT_FIRST_STEP = 128 * 1024
_ASDF_TREE_END = (b"\n...\n", b"\r\n...\r\n")
_ASDF_BLOCK_MAGIC = b"\xd3BLK"
_ASDF_INDEX_HEADER = b"#ASDF BLOCK INDEX"
_BLOCK_HEADER = struct.Struct(">I4sQQQ16s")  # flags, compression, allocated, used, data size, md5
#: Concurrent connections for row and chunk reads (aiobotocore's default is 10).
_MAX_CONNECTIONS = 128
_FITS_DTYPES = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


# --------------------------------------------------------------------------- opening

def _filesystem(uri: str, anon: bool | None):
    bucket, key = split_uri(uri)
    if not key:
        raise InvalidParameterError("uri", uri, hint="give the URI of a file, 's3://<bucket>/<key>'")
    fs = config.filesystem(bucket, anon=anon, config_kwargs={"max_pool_connections": _MAX_CONNECTIONS})
    return fs, f"{bucket}/{key}"


def _past_the_end(error: OSError) -> bool:
    """S3 answers ``416 InvalidRange`` for a range that starts past the end (s3fs: an OSError)."""
    return "range is not satisfiable" in str(error) or "InvalidRange" in str(error)


@contextlib.contextmanager
def _translated_errors(uri: str, anon: bool | None) -> Iterator[None]:
    """Turn s3fs's errors into ours, with a message that says what to do."""
    try:
        yield
    except FileNotFoundError as error:
        if isinstance(error, ObjectNotFoundError):
            raise
        raise ObjectNotFoundError(
            f"no object at {uri}; check the bucket and key (list the prefix with "
            f"`roman-helpers ls`)") from error
    except PermissionError as error:
        if isinstance(error, AccessDeniedError):
            raise
        bucket = split_uri(uri)[0]
        how = ("it was read anonymously; give anon=False and credentials (on the Roman Science "
               "Platform they are automatic)") if anon or (anon is None and config.is_public_bucket(bucket)) \
            else "check your AWS credentials, or pass anon=True for a public bucket"
        raise AccessDeniedError(f"access to {uri} was refused: {how}") from error
    except gzip.BadGzipFile as error:
        raise FileFormatError(f"{uri} is not gzip-compressed, although its name ends in .gz") from error
    except yaml.YAMLError as error:
        raise FileFormatError(f"{uri}: the ASDF tree is not valid YAML ({error.problem or error}); "
                              "the file is damaged or was not written by asdf") from error
    except OSError as error:
        if not _past_the_end(error):
            raise
        raise FileFormatError(f"{uri} is shorter than its own headers say: the file is truncated "
                              "(was it uploaded completely?)") from error


@contextlib.contextmanager
def _open_remote(uri: str, anon: bool | None, *, cache_type: str, block_size: int):
    fs, path = _filesystem(uri, anon)
    with _translated_errors(uri, anon):
        handle = fs.open(path, "rb", cache_type=cache_type, block_size=block_size)
    try:
        with _translated_errors(uri, anon):
            yield fs, path, handle
    finally:
        handle.close()


def _kind(uri: str) -> str:
    name = uri.lower()
    if name.endswith((".fits.gz", ".fit.gz", ".fts.gz")):
        return "fits.gz"
    if name.endswith((".fits", ".fit", ".fts")):
        return "fits"
    if name.endswith(".asdf"):
        return "asdf"
    raise InvalidParameterError(
        "uri", uri, hint="expected a file ending in .fits, .fits.gz or .asdf")


@contextlib.contextmanager
def open_fits(uri: str, *, anon: bool | None = None, **kwargs: Any) -> Iterator[HDUList]:
    """Open a FITS file on S3 lazily.

    Only the headers you touch are read; data is read when you access it (use
    :func:`cutout` or ``hdu.section`` for parts of large images).

    Parameters
    ----------
    uri : str
        ``s3://bucket/key`` of a ``.fits`` or ``.fits.gz`` file.
    anon : bool, optional
        Anonymous access; by default decided by the bucket
        (:func:`roman_helpers.config.is_public_bucket`).
    **kwargs
        Passed to :func:`astropy.io.fits.open`.

    Yields
    ------
    astropy.io.fits.HDUList
        Opened with ``lazy_load_hdus=True``; closed when the block ends.

    Raises
    ------
    ObjectNotFoundError, AccessDeniedError
        If the object does not exist or may not be read.
    """
    from astropy.io import fits

    gzipped = uri.lower().endswith(".gz")
    block = GZIP_BLOCK if gzipped else HEADER_BLOCK
    kwargs.setdefault("lazy_load_hdus", True)
    with _open_remote(uri, anon, cache_type="readahead", block_size=block) as (_fs, _path, handle):
        # Wrapped here, not by astropy, so that the stream is only ever read forward.
        source = gzip.GzipFile(fileobj=handle, mode="rb") if gzipped else handle
        try:
            hdul = fits.open(source, **kwargs)
        except OSError as error:
            raise FileFormatError(f"{uri} is not a readable FITS file: {error}") from error
        try:
            yield hdul
        finally:
            hdul.close()
            if gzipped:
                source.close()


def read_header(uri: str, ext: int | str = 0, *, anon: bool | None = None) -> Header:
    """Read one FITS header, fetching only the header blocks.

    Parameters
    ----------
    uri : str
        ``s3://`` URI of a FITS file.
    ext : int or str, optional
        HDU index or name (``"SCI"``); default the primary header.
    anon : bool, optional
        Anonymous access; by default decided by the bucket.

    Returns
    -------
    astropy.io.fits.Header

    Raises
    ------
    InvalidParameterError
        If the file has no such extension.
    """
    if _kind(uri) == "fits.gz":
        # astropy would decompress the whole stream to list the HDUs; walking stops at the header.
        with _open_remote(uri, anon, cache_type="readahead", block_size=HEADER_BLOCK) as (_fs, _path, handle), \
                gzip.GzipFile(fileobj=handle, mode="rb") as gz:
            return _find_hdu(_ForwardReader(gz), ext, uri, image=False)[0]
    fs, path = _filesystem(uri, anon)
    with _translated_errors(uri, anon):
        return _find_hdu(_RangeReader(fs, path), ext, uri, image=False)[0]


@contextlib.contextmanager
def open_asdf(uri: str, *, anon: bool | None = None) -> Iterator[AsdfFile]:
    """Open an ASDF file on S3 lazily.

    asdf reads the YAML tree and the block index; each array is fetched (whole)
    when first used. For part of an array use :func:`cutout`.

    Parameters
    ----------
    uri : str
        ``s3://`` URI of an ``.asdf`` file.
    anon : bool, optional
        Anonymous access; by default decided by the bucket.

    Yields
    ------
    asdf.AsdfFile
    """
    import asdf

    with _open_remote(uri, anon, cache_type="readahead", block_size=config.block_size()) as (
            _fs, _path, handle):
        try:
            af = asdf.open(handle, lazy_load=True, memmap=False)
        except (ValueError, OSError) as error:
            raise FileFormatError(f"{uri} is not a readable ASDF file: {error}") from error
        with af:
            yield af


@contextlib.contextmanager
def open_datamodel(uri: str, *, anon: bool | None = None) -> Iterator[DataModel]:
    """Open a Roman file on S3 as a :mod:`roman_datamodels` model, lazily.

    Parameters
    ----------
    uri : str
        ``s3://`` URI of a Roman ``.asdf`` file.
    anon : bool, optional
        Anonymous access; by default decided by the bucket.

    Yields
    ------
    roman_datamodels.datamodels.DataModel
    """
    import roman_datamodels as rdm

    with _open_remote(uri, anon, cache_type="readahead", block_size=config.block_size()) as (
            _fs, _path, handle):
        try:
            model = rdm.open(handle, lazy_tree=True)
        except TypeError:  # older roman_datamodels without lazy_tree
            model = rdm.open(handle)
        with model:
            yield model


# --------------------------------------------------------------------------- ASDF tree

class _PrefixedFile:
    """Answer reads that fall inside bytes already fetched from the start of a file.

    The tree read of a cut-out fetches generously (one round trip instead of several); on a
    small file that prefix already holds the pixels, and fetching them again would cost more
    than the file.
    """

    def __init__(self, fs, prefix: bytes) -> None:
        self.fs, self.prefix = fs, prefix

    def _inside(self, start: int | None, end: int | None) -> bool:
        return start is not None and end is not None and 0 <= start <= end <= len(self.prefix)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None) -> bytes:
        if self._inside(start, end):
            return self.prefix[start:end]
        return self.fs.cat_file(path, start=start, end=end)

    def cat_ranges(self, paths: list[str], starts: list[int], ends: list[int], **kwargs: Any) -> list[bytes]:
        missing = [i for i, (s, e) in enumerate(zip(starts, ends)) if not self._inside(s, e)]
        fetched = iter(self.fs.cat_ranges([paths[i] for i in missing], [starts[i] for i in missing],
                                          [ends[i] for i in missing], **kwargs) if missing else [])
        return [next(fetched) if i in set(missing) else self.prefix[s:e]
                for i, (s, e) in enumerate(zip(starts, ends))]


def _read_asdf_tree_bytes(fs, path: str, uri: str, first_step: int = _ASDF_FIRST_STEP,
                          fetched: list[bytes] | None = None) -> bytes:
    """Fetch the ASDF header and YAML tree, ending with its ``...`` line.

    ``first_step`` trades bytes for round trips: small when the tree is all we want,
    larger when megabytes of pixels will follow anyway. When ``fetched`` is a list, every
    byte read from the start of the file is appended to it (for :class:`_PrefixedFile`).
    """
    data = b""
    step = first_step
    while True:
        chunk = fs.cat_file(path, start=len(data), end=len(data) + step)
        if not data and not chunk.startswith(b"#ASDF"):
            raise FileFormatError(f"{uri} is not an ASDF file (it does not start with '#ASDF')")
        data += chunk
        if fetched is not None:
            fetched[:] = [data]
        for marker in _ASDF_TREE_END:
            at = data.find(marker)
            if at >= 0:
                return data[:at + len(marker)]
        at = data.find(_ASDF_BLOCK_MAGIC)
        if at >= 0:  # a file with blocks but no tree end marker
            return data[:at]
        if len(chunk) < step:  # end of file: a tree-only file
            return data
        step = max(_ASDF_MIN_STEP, len(data) // 5)


def _to_plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _to_plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_plain(item) for item in value]
    return value


def _asdf_tree(tree_bytes: bytes, uri: str):
    """Open the tree alone (no blocks): tagged objects become astropy/gwcs objects."""
    import asdf

    with warnings.catch_warnings(), _translated_errors(uri, None):
        warnings.simplefilter("ignore")  # blocks are missing on purpose
        return asdf.open(io.BytesIO(tree_bytes), lazy_load=True, memmap=False)


def _remote_asdf_tree(uri: str, anon: bool | None):
    """Fetch only the YAML tree of a remote ASDF file and open it (no blocks)."""
    fs, path = _filesystem(uri, anon)
    with _translated_errors(uri, anon):
        tree_bytes = _read_asdf_tree_bytes(fs, path, uri)
    return _asdf_tree(tree_bytes, uri)


def read_metadata(uri: str, *, anon: bool | None = None) -> dict:
    """Read a file's metadata without its data.

    For ASDF the YAML tree alone is fetched and ``roman.meta`` returned (the whole
    tree if there is no ``roman`` node); for FITS the primary header.

    Parameters
    ----------
    uri : str
        ``s3://`` URI of a ``.asdf``, ``.fits`` or ``.fits.gz`` file.
    anon : bool, optional
        Anonymous access; by default decided by the bucket.

    Returns
    -------
    dict
        Plain nested dictionaries; values keep their types (``astropy.time.Time``,
        ``gwcs.WCS`` ...).
    """
    if _kind(uri) != "asdf":
        header = read_header(uri, 0, anon=anon)
        return {key: value for key, value in header.items() if key not in ("COMMENT", "HISTORY", "")}
    with _remote_asdf_tree(uri, anon) as af:
        tree = af.tree
        if "roman" in tree and "meta" in tree["roman"]:
            return _to_plain(tree["roman"]["meta"])
        return _to_plain({key: value for key, value in tree.items()
                          if key not in ("asdf_library", "history")})


def info(uri: str, *, anon: bool | None = None) -> str:
    """Summarise a file's structure, reading headers or the tree only.

    Parameters
    ----------
    uri : str
        ``s3://`` URI of a ``.asdf``, ``.fits`` or ``.fits.gz`` file.
    anon : bool, optional
        Anonymous access; by default decided by the bucket.

    Returns
    -------
    str
        For FITS the table of :meth:`astropy.io.fits.HDUList.info`; for ASDF the tree
        as :meth:`asdf.AsdfFile.info` prints it.
    """
    out = io.StringIO()
    if _kind(uri) == "asdf":
        with _remote_asdf_tree(uri, anon) as af, contextlib.redirect_stdout(out):
            af.info(max_rows=40, max_cols=120, show_values=True)
    else:
        with open_fits(uri, anon=anon) as hdul:
            hdul.info(output=out)
        lines = out.getvalue().splitlines(keepends=True)
        return f"Filename: {uri}\n" + "".join(lines[1:])
    return out.getvalue()


# --------------------------------------------------------------------------- cut-outs

def _check_box(box: Sequence[int], shape: tuple[int, int]) -> tuple[int, int, int, int]:
    ny, nx = shape
    try:
        x0, x1, y0, y1 = (int(v) for v in box)
    except (TypeError, ValueError) as error:
        raise InvalidParameterError("box", box, hint="give (x0, x1, y0, y1) in pixels") from error
    if not (0 <= x0 < x1 <= nx and 0 <= y0 < y1 <= ny):
        raise InvalidParameterError(
            "box", tuple(box),
            hint=f"need 0 <= x0 < x1 <= {nx} and 0 <= y0 < y1 <= {ny} for an image of shape {shape}")
    return x0, x1, y0, y1


def _plan(shape: tuple[int, int], box, position, size, wcs, gwcs_wcs=None):
    """Let :class:`astropy.nddata.Cutout2D` place the cut-out on a zero-byte stand-in.

    The stand-in has the image's shape but no memory (stride 0), so Cutout2D does the
    position, size and WCS work and we learn which pixels to fetch.
    """
    from astropy.coordinates import SkyCoord
    from astropy.nddata import Cutout2D

    placeholder = np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), shape=shape, strides=(0, 0))
    if box is not None:
        if position is not None or size is not None:
            raise InvalidParameterError("box", box, hint="give either box or position and size, not both")
        x0, x1, y0, y1 = _check_box(box, shape)
        cut = Cutout2D(placeholder, ((x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2), (y1 - y0, x1 - x0),
                       wcs=wcs, mode="trim")
        ys, xs = cut.slices_original
        if (ys.start, ys.stop, xs.start, xs.stop) != (y0, y1, x0, x1):  # pragma: no cover
            raise AssertionError(f"cut-out placement {cut.slices_original} differs from box {box}")
        return cut
    if position is None or size is None:
        raise InvalidParameterError("position", position,
                                    hint="give box=(x0, x1, y0, y1), or position and size")
    if isinstance(position, SkyCoord) and wcs is None:
        if gwcs_wcs is None:
            raise InvalidParameterError("position", position,
                                        hint="this image has no celestial WCS; give a pixel box")
        x, y = gwcs_wcs.world_to_pixel(position)
        position = (float(x), float(y))
        size = _angular_to_pixels(size, gwcs_wcs, position)
    try:
        return Cutout2D(placeholder, position, size, wcs=wcs, mode="trim")
    except Exception as error:  # NoOverlapError, PartialOverlapError, bad size ...
        raise InvalidParameterError("position", position,
                                    hint=f"{error} (image shape {shape})") from error


def _angular_to_pixels(size, gwcs_wcs, position):
    """Convert an angular size to pixels with the local scale of a gwcs."""
    import astropy.units as u

    if not isinstance(size, u.Quantity) or size.unit.physical_type != "angle":
        return size  # pixels: Cutout2D takes them as they are
    sides = u.Quantity(size).ravel()
    height, width = (sides[0], sides[0]) if sides.size == 1 else (sides[0], sides[1])  # (ny, nx)
    x, y = position
    centre = gwcs_wcs.pixel_to_world(x, y)
    scale_x = centre.separation(gwcs_wcs.pixel_to_world(x + 1, y))
    scale_y = centre.separation(gwcs_wcs.pixel_to_world(x, y + 1))
    return (int(np.round((height / scale_y).to_value(u.dimensionless_unscaled))),
            int(np.round((width / scale_x).to_value(u.dimensionless_unscaled))))


def _attach_gwcs(cut, gwcs_wcs) -> None:
    from astropy.wcs.wcsapi import HighLevelWCSWrapper, SlicedLowLevelWCS

    low_level = getattr(gwcs_wcs, "low_level_wcs", gwcs_wcs)
    cut.wcs = HighLevelWCSWrapper(SlicedLowLevelWCS(low_level, cut.slices_original))


def _fetch_rows(fs, path: str, data_offset: int, dtype: np.dtype, row_length: int,
                ys: slice, xs: slice) -> np.ndarray:
    """Fetch pixels ``[ys, xs]`` of an uncompressed row-major image, rows concurrently."""
    from fsspec.utils import merge_offset_ranges

    itemsize = dtype.itemsize
    starts = [data_offset + (y * row_length + xs.start) * itemsize for y in range(ys.start, ys.stop)]
    ends = [start + (xs.stop - xs.start) * itemsize for start in starts]
    # Full-width boxes have touching rows: merge those, never fetch a gap.
    paths, merged_starts, merged_ends = merge_offset_ranges([path] * len(starts), starts, ends, max_gap=0,
                                                           sort=True)
    pieces = fs.cat_ranges(paths, merged_starts, merged_ends, on_error="raise", batch_size=_MAX_CONNECTIONS)
    raw = b"".join(pieces)
    return np.frombuffer(raw, dtype=dtype).reshape(ys.stop - ys.start, xs.stop - xs.start)


_FITS_BLOCK = 2880
_CARD = 80


class _RangeReader:
    """Random access by ranged GETs, no HEAD: headers come in :data:`HEADER_BLOCK` pieces."""

    def __init__(self, fs, path: str) -> None:
        self.fs, self.path = fs, path
        self.buffer, self.buffer_start = b"", 0

    def read(self, offset: int, length: int) -> bytes:
        end = offset + length
        if not (self.buffer_start <= offset and end <= self.buffer_start + len(self.buffer)):
            try:
                self.buffer = self.fs.cat_file(self.path, start=offset, end=offset + max(length, HEADER_BLOCK))
            except OSError as error:
                if not _past_the_end(error):
                    raise
                self.buffer = b""  # reading past the end is the end of the file
            self.buffer_start = offset
        return self.buffer[offset - self.buffer_start:end - self.buffer_start]


class _ForwardReader:
    """Reads a gzip stream strictly forward, so no compressed byte is fetched twice."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def read(self, offset: int, length: int) -> bytes:
        position = self.stream.tell()
        if offset < position:  # pragma: no cover - the walk below only moves forward
            raise AssertionError(f"backward seek in a gzip stream ({offset} < {position})")
        self.stream.seek(offset)
        return self.stream.read(length)


def _fits_header_at(reader, offset: int, uri: str):
    """Read the header that starts at ``offset``; return it and its length in bytes."""
    from astropy.io import fits

    raw = b""
    while True:
        block = reader.read(offset + len(raw), _FITS_BLOCK)
        if len(block) < _FITS_BLOCK:
            raise FileFormatError(f"{uri}: file ends inside a FITS header at byte {offset + len(raw)}")
        raw += block
        for card in range(0, _FITS_BLOCK, _CARD):
            if block[card:card + 8] == b"END     ":
                return fits.Header.fromstring(raw.decode("ascii", "replace")), len(raw)
        if len(raw) > 1000 * _FITS_BLOCK:
            raise FileFormatError(f"{uri}: no END card in the header at byte {offset}")


def _fits_data_size(header) -> int:
    naxis = int(header.get("NAXIS", 0))
    if naxis == 0:
        return 0
    count = int(np.prod([int(header[f"NAXIS{axis}"]) for axis in range(1, naxis + 1)]))
    size = abs(int(header["BITPIX"])) // 8 * int(header.get("GCOUNT", 1)) * (int(header.get("PCOUNT", 0)) + count)
    return -(-size // _FITS_BLOCK) * _FITS_BLOCK


def _walk_hdus(reader, uri: str) -> Iterator[tuple[int, str, Any, int]]:
    """Yield ``(index, name, header, data offset)`` for each HDU, reading headers and skipping data."""
    offset, index = 0, 0
    while True:
        try:
            header, length = _fits_header_at(reader, offset, uri)
        except FileFormatError as error:
            if index == 0:
                raise FileFormatError(f"{uri} is not a readable FITS file: {error}") from error
            return  # the end of the file
        if index == 0 and "SIMPLE" not in header:
            raise FileFormatError(f"{uri} is not a FITS file (it does not start with a SIMPLE card)")
        yield index, str(header.get("EXTNAME", "PRIMARY" if index == 0 else "")).upper(), header, offset + length
        offset += length + _fits_data_size(header)
        index += 1


def _find_hdu(reader, ext, uri: str, *, image: bool):
    """Return the header and data offset of HDU ``ext`` (index or name; None: the first 2-D image)."""
    seen: list[str] = []
    for index, name, header, data_offset in _walk_hdus(reader, uri):
        seen.append(name)
        is_image = header.get("NAXIS") == 2 and header.get("XTENSION", "IMAGE").strip() == "IMAGE"
        if (ext is None and is_image) or ext == index or (isinstance(ext, str) and ext.upper() == name):
            if image and not is_image:
                raise InvalidParameterError("ext", ext, hint=f"HDU {index} of {uri} is not a 2-D image")
            return header, data_offset
    raise InvalidParameterError(
        "ext", ext, valid=list(range(len(seen))) + seen,
        hint=f"{uri} has {len(seen)} HDUs" if ext is not None else f"{uri} has no 2-D image HDU")


def _fits_wcs(header):
    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header)
    return wcs if wcs.has_celestial else None


def _scaled(data: np.ndarray, header) -> np.ndarray:
    bscale, bzero = header.get("BSCALE", 1), header.get("BZERO", 0)
    data = data.astype(data.dtype.newbyteorder("="))
    if bscale != 1 or bzero != 0:
        data = data * np.float32(bscale) + np.float32(bzero) if data.dtype.itemsize <= 2 \
            else data * bscale + bzero
    return data


def _fits_cutout(uri, anon, box, position, size, ext):
    if _kind(uri) == "fits.gz":
        with _open_remote(uri, anon, cache_type="readahead", block_size=GZIP_BLOCK) as (_fs, _path, handle), \
                gzip.GzipFile(fileobj=handle, mode="rb") as stream:
            reader = _ForwardReader(stream)
            header, data_offset = _find_hdu(reader, ext, uri, image=True)
            shape = (int(header["NAXIS2"]), int(header["NAXIS1"]))
            dtype = np.dtype(_FITS_DTYPES[int(header["BITPIX"])])
            cut = _plan(shape, box, position, size, _fits_wcs(header))
            ys, xs = cut.slices_original
            row_bytes = shape[1] * dtype.itemsize
            # One forward read from the first to the last row of the box.
            raw = reader.read(data_offset + ys.start * row_bytes, (ys.stop - ys.start) * row_bytes)
            pixels = np.frombuffer(raw, dtype=dtype).reshape(ys.stop - ys.start, shape[1])[:, xs]
    else:
        fs, path = _filesystem(uri, anon)
        with _translated_errors(uri, anon):
            # No HEAD and no file object: ranged GETs for the headers, then all rows at once.
            header, data_offset = _find_hdu(_RangeReader(fs, path), ext, uri, image=True)
            shape = (int(header["NAXIS2"]), int(header["NAXIS1"]))
            dtype = np.dtype(_FITS_DTYPES[int(header["BITPIX"])])
            cut = _plan(shape, box, position, size, _fits_wcs(header))
            ys, xs = cut.slices_original
            pixels = _fetch_rows(fs, path, data_offset, dtype, shape[1], ys, xs)
    cut.data = _scaled(np.array(pixels), header)
    return cut


def _asdf_block_offset(fs, path: str, tree_end: int, source: int) -> int:
    """Offset of block ``source``: from the block index at the end, else by walking headers."""
    import yaml

    tail = fs.cat_file(path, start=-4096)
    at = tail.rfind(_ASDF_INDEX_HEADER)
    if at >= 0:
        try:
            offsets = yaml.safe_load(tail[at:].split(b"\n", 1)[1].decode())
            if isinstance(offsets, list) and len(offsets) > source:
                return int(offsets[source])
        except (yaml.YAMLError, ValueError, IndexError):
            pass  # a broken index: walk the block headers instead, as asdf does
    offset = tree_end
    for _ in range(source):
        magic_and_size = fs.cat_file(path, start=offset, end=offset + 6 + _BLOCK_HEADER.size)
        header_size = struct.unpack(">H", magic_and_size[4:6])[0]
        allocated = _BLOCK_HEADER.unpack(magic_and_size[6:6 + _BLOCK_HEADER.size])[2]
        offset += 6 + header_size + allocated
    return offset


def _lz4_rows(fs, path: str, data_start: int, head: bytes, first: int, last: int) -> tuple[bytes, int]:
    """Fetch and decode only the lz4 chunks covering uncompressed bytes ``[first, last)``.

    asdf's lz4 stream is a sequence of chunks, each a 4-byte big-endian compressed length
    followed by an ``lz4.block`` payload whose own first 4 bytes (little-endian) give the
    uncompressed size. There is no chunk index, so the headers are walked with 8-byte reads.

    Returns
    -------
    tuple
        The decoded bytes of the chunks that were needed, and the uncompressed offset of
        their first byte.
    """
    import lz4.block

    position, produced = data_start, 0
    wanted: list[tuple[int, int]] = []
    first_offset = None
    chunk_header = head
    while produced < last:
        if len(chunk_header) < 8:
            chunk_header = fs.cat_file(path, start=position, end=position + 8)
        compressed, uncompressed = struct.unpack(">I", chunk_header[:4])[0], struct.unpack("<I", chunk_header[4:8])[0]
        if produced + uncompressed > first:
            wanted.append((position + 4, position + 4 + compressed))
            if first_offset is None:
                first_offset = produced
        position += 4 + compressed
        produced += uncompressed
        chunk_header = b""
    payloads = fs.cat_ranges([path] * len(wanted), [s for s, _ in wanted], [e for _, e in wanted],
                             on_error="raise", batch_size=_MAX_CONNECTIONS)
    return b"".join(lz4.block.decompress(payload) for payload in payloads), first_offset or 0


def _find_array_node(raw_tree: Mapping) -> Mapping:
    roman = raw_tree.get("roman")
    node = roman.get("data") if isinstance(roman, Mapping) else raw_tree.get("data")
    if not isinstance(node, Mapping) or "source" not in node:
        raise FileFormatError("no ASDF ndarray at roman.data (or data) in this file")
    return node


def _asdf_cutout(uri, anon, box, position, size):
    import asdf

    fs, path = _filesystem(uri, anon)
    with _translated_errors(uri, anon):
        prefix: list[bytes] = []
        tree_bytes = _read_asdf_tree_bytes(fs, path, uri, first_step=_ASDF_CUTOUT_FIRST_STEP, fetched=prefix)
        fs = _PrefixedFile(fs, prefix[0])
        raw_tree = asdf.util.load_yaml(io.BytesIO(tree_bytes), tagged=True)
        node = _find_array_node(raw_tree)
        if not isinstance(node["source"], int) or not isinstance(node.get("datatype"), str):
            raise FileFormatError(f"{uri}: roman.data is not an internal block of a simple type")
        shape = tuple(int(n) for n in node["shape"])
        if len(shape) != 2 or node.get("strides") is not None:
            raise FileFormatError(f"{uri}: roman.data has shape {shape}; a contiguous 2-D image is needed")
        dtype = np.dtype(node["datatype"]).newbyteorder("<" if node.get("byteorder", "little") == "little" else ">")
        gwcs_wcs = None
        if position is not None:
            with _asdf_tree(tree_bytes, uri) as af:
                roman = af.tree.get("roman", {})
                gwcs_wcs = roman.get("meta", {}).get("wcs") if isinstance(roman.get("meta"), Mapping) else None
                gwcs_wcs = gwcs_wcs or roman.get("wcs")
        cut = _plan(shape, box, position, size, None, gwcs_wcs)
        ys, xs = cut.slices_original
        block_offset = _asdf_block_offset(fs, path, len(tree_bytes), node["source"])
        # Block magic, header size, header, then the first 8 bytes of data (an lz4 chunk header).
        head = fs.cat_file(path, start=block_offset, end=block_offset + 6 + _BLOCK_HEADER.size + 8)
        if head[:4] != _ASDF_BLOCK_MAGIC:
            raise FileFormatError(f"{uri}: no ASDF block at offset {block_offset}")
        header_size = struct.unpack(">H", head[4:6])[0]
        _flags, compression, _allocated, _used, _data_size, _md5 = _BLOCK_HEADER.unpack(
            head[6:6 + _BLOCK_HEADER.size])
        data_start = block_offset + 6 + header_size
        array_offset = int(node.get("offset", 0))
        row_bytes = shape[1] * dtype.itemsize
        compression = compression.rstrip(b"\0")
        if compression == b"":
            pixels = _fetch_rows(fs, path, data_start + array_offset, dtype, shape[1], ys, xs)
        elif compression == b"lz4":
            first = array_offset + ys.start * row_bytes
            last = array_offset + ys.stop * row_bytes
            first_chunk_header = head[6 + header_size:] if header_size == _BLOCK_HEADER.size else b""
            decoded, decoded_offset = _lz4_rows(fs, path, data_start, first_chunk_header, first, last)
            rows = np.frombuffer(decoded, dtype=dtype, count=(ys.stop - ys.start) * shape[1],
                                 offset=first - decoded_offset).reshape(ys.stop - ys.start, shape[1])
            pixels = rows[:, xs]
        else:
            # zlib/bzp2 chunks cannot be located without decompressing: let asdf read the block.
            with open_asdf(uri, anon=anon) as af:
                pixels = np.asarray(af.tree["roman"]["data"] if "roman" in af.tree else af.tree["data"])[ys, xs]
    cut.data = np.array(pixels).astype(dtype.newbyteorder("="))
    if gwcs_wcs is not None:
        _attach_gwcs(cut, gwcs_wcs)
    return cut


def cutout(uri: str, *, box: Sequence[int] | None = None, position: Any = None, size: Any = None,
           ext: int | str | None = None, anon: bool | None = None) -> Cutout2D:
    """Cut a region out of an image on S3, fetching only (about) the pixels in it.

    Parameters
    ----------
    uri : str
        ``s3://`` URI of a ``.fits``, ``.fits.gz`` or Roman ``.asdf`` file.
    box : sequence of 4 int, optional
        ``(x0, x1, y0, y1)`` in 0-based pixels, end exclusive (``data[y0:y1, x0:x1]``).
    position : astropy.coordinates.SkyCoord or (x, y), optional
        Centre of the cut-out, with ``size``; a sky position needs a WCS in the file
        (the FITS header's, or the gwcs at ``roman.meta.wcs`` / ``roman.wcs``).
    size : int, (ny, nx) or astropy.units.Quantity, optional
        Size in pixels, or an angle.
    ext : int or str, optional
        FITS HDU; by default the first 2-D image. Ignored for ASDF, which uses
        ``roman.data``.
    anon : bool, optional
        Anonymous access; by default decided by the bucket.

    Returns
    -------
    astropy.nddata.Cutout2D
        ``.data`` holds the pixels (native byte order, scaled by BSCALE/BZERO);
        ``.slices_original`` and ``.bbox_original`` place them in the file's image;
        ``.wcs`` is the cut-out's WCS when the file has one.

    Raises
    ------
    InvalidParameterError
        If the box or position is outside the image, or both or neither are given.

    Examples
    --------
    >>> cut = cutout("s3://stpubdata/hst/public/jbev/jbeveo010/jbeveo010_drz.fits",
    ...              box=(1000, 1100, 500, 600))  # doctest: +SKIP
    >>> cut.data.shape  # doctest: +SKIP
    (100, 100)
    """
    if _kind(uri) == "asdf":
        return _asdf_cutout(uri, anon, box, position, size)
    return _fits_cutout(uri, anon, box, position, size, ext)
