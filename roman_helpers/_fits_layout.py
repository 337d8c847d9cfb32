"""Where FITS headers, HDUs and image rows sit in the bytes of a file (private).

astropy reads a FITS file through a file object and fetches whatever it touches; these
functions walk the 2,880-byte header blocks themselves so that finding one HDU costs only
its headers (ranged reads, or one forward pass through a gzip stream), and then fetch
exactly the bytes of the image rows a cut-out needs.

What a header states is checked before it is used: its axes and type must be FITS's, and the
data it claims must fit in the object when its size is known (:func:`walk_hdus`); rows that
come back short mean a truncated file. A gzip stream is read through :class:`CheckedGzipFile`,
which names a truncated or damaged stream in the kit's words and checks the member's CRC and
length whenever the whole compressed file is already in memory. A ranged read of uncompressed
pixels cannot be checked at all: S3 sends no checksum for a part of an object.
"""

from __future__ import annotations

import bisect
import gzip
import math
import zlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

import numpy as np

from ._s3 import DamagedBytes, cat_ranges, translate
from .errors import FileFormatError, InvalidParameterError

Result = TypeVar("Result")

#: Read-ahead for header-only work: a FITS header block is 2,880 bytes and most headers
#: fit in a few of them, so a small block keeps ``info`` of a many-HDU file far below 64 KiB.
HEADER_BLOCK = 8 * 1024
FITS_BLOCK = 2880
CARD = 80
#: numpy types of the FITS BITPIX values (FITS data are big-endian).
DTYPES = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
#: FITS allows at most 999 axes.
MAX_NAXIS = 999
#: DEFLATE's largest expansion (zlib's 1032:1): a gzip stream cannot decode to more than this
#: many bytes per byte of the file, so a header claiming more cannot be right.
DEFLATE_MAX_RATIO = 1032


class Reader(Protocol):
    """What the header walk reads through: ``length`` bytes at ``offset`` (fewer at the end)."""

    def read(self, offset: int, length: int) -> bytes: ...


class RangeReader:
    """Random access by ranged GETs, no HEAD: headers come in :data:`HEADER_BLOCK` pieces."""

    def __init__(self, fs: Any, path: str) -> None:
        self.fs, self.path = fs, path
        self.buffer, self.buffer_start = b"", 0

    def read(self, offset: int, length: int) -> bytes:
        end = offset + length
        if not (self.buffer_start <= offset and end <= self.buffer_start + len(self.buffer)):
            try:
                self.buffer = self.fs.cat_file(
                    self.path, start=offset, end=offset + max(length, HEADER_BLOCK)
                )
            except OSError as error:
                # S3 answers 416 InvalidRange for a range that starts past the end: the end of the file.
                if not isinstance(translate(error, f"s3://{self.path}"), FileFormatError):
                    raise
                self.buffer = b""
            self.buffer_start = offset
        return self.buffer[offset - self.buffer_start : end - self.buffer_start]


class CheckedGzipFile(gzip.GzipFile):
    """A gzip stream whose failures are the kit's, and whose CRC is checked when it costs no fetch.

    :class:`gzip.GzipFile` raises ``EOFError`` for a stream cut short, ``zlib.error`` for one that
    does not decode and ``BadGzipFile`` for a CRC or length that fails at the member's end. Here
    they are :class:`~roman_helpers.errors.FileFormatError` (truncated, or not gzip at all) and
    :class:`~roman_helpers._s3.DamagedBytes` (read again, then
    :class:`~roman_helpers.errors.CorruptedDataError`). astropy reads through it as through any
    ``GzipFile``.

    Parameters
    ----------
    fileobj : file object
        The compressed bytes (an s3fs file).
    uri : str
        Named in the errors.
    """

    def __init__(self, fileobj: Any, uri: str) -> None:
        super().__init__(fileobj=fileobj, mode="rb")
        self.uri = uri
        self._check_if_fetched()

    def _checked(self, call: Callable[..., Result], *args: Any) -> Result:
        try:
            return call(*args)
        except EOFError as error:
            raise FileFormatError(
                f"{self.uri} ends before its gzip stream does: the file is truncated "
                "(was it uploaded completely?)"
            ) from error
        except zlib.error as error:
            raise DamagedBytes(f"its gzip stream does not decode ({error})") from None
        except gzip.BadGzipFile as error:
            if str(error).startswith(("CRC check failed", "Incorrect length")):
                raise DamagedBytes(f"its gzip member fails its own check ({error})") from None
            raise FileFormatError(
                f"{self.uri} is not gzip-compressed, although its name ends in .gz ({error})"
            ) from error

    def read(self, size: int | None = -1) -> bytes:
        return self._checked(super().read, size)

    def read1(self, size: int = -1) -> bytes:
        return self._checked(super().read1, size)

    def peek(self, n: int) -> bytes:
        return self._checked(super().peek, n)

    def readline(self, size: int | None = -1) -> bytes:
        return self._checked(super().readline, size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._checked(super().seek, offset, whence)

    def _check_if_fetched(self) -> None:
        """Decode the whole member once, for its CRC and length, when that costs no request.

        An s3fs file fetches its block size ahead of the first read: a file no larger than that
        arrives whole with the first read, and is read again from memory. Checked first, a damaged
        stream is named as damaged before a header it garbled is read. A larger file is checked
        only as far as it decodes (a ranged read carries no checksum).
        """
        size, block = getattr(self.fileobj, "size", None), getattr(self.fileobj, "blocksize", None)
        if isinstance(size, int) and isinstance(block, int) and size <= block:
            while self.read(1 << 20):
                pass
            self.seek(0)


class ForwardReader:
    """Reads a gzip stream strictly forward, so no compressed byte is fetched twice."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def read(self, offset: int, length: int) -> bytes:
        position = self.stream.tell()
        if offset < position:  # pragma: no cover - the walk below only moves forward
            raise AssertionError(f"backward seek in a gzip stream ({offset} < {position})")
        self.stream.seek(offset)
        return self.stream.read(length)


def header_at(reader: Reader, offset: int, uri: str) -> tuple[Any, int]:
    """Read the header that starts at ``offset``; return it and its length in bytes."""
    raw = b""
    while True:
        block = reader.read(offset + len(raw), FITS_BLOCK)
        if len(block) < FITS_BLOCK:
            raise FileFormatError(f"{uri}: file ends inside a FITS header at byte {offset + len(raw)}")
        raw += block
        for card in range(0, FITS_BLOCK, CARD):
            if block[card : card + 8] == b"END     ":
                return _parsed(raw, offset, uri), len(raw)
        if len(raw) > 1000 * FITS_BLOCK:
            raise FileFormatError(f"{uri}: no END card in the header at byte {offset}")


#: The keywords of a header that say where its data are and what they hold: read before anything else.
STRUCTURE = ("SIMPLE", "XTENSION", "EXTNAME", "BITPIX", "NAXIS", "PCOUNT", "GCOUNT")


def _parsed(raw: bytes, offset: int, uri: str) -> Any:
    """astropy's reading of a header, its structural cards parsed now: a damaged one is named here.

    astropy parses a card when it is first used; a card damaged into something FITS cannot read
    would otherwise raise ``VerifyError`` or ``ValueError`` far from here.
    """
    from astropy.io import fits
    from astropy.io.fits.verify import VerifyError

    try:
        header = fits.Header.fromstring(raw.decode("ascii", "replace"))
        naxis = header.get("NAXIS", 0)
        for key in (*STRUCTURE, *(f"NAXIS{n}" for n in range(1, min(int(naxis), MAX_NAXIS) + 1))):
            header.get(key)
    except (VerifyError, ValueError, TypeError) as error:
        raise FileFormatError(
            f"{uri}: the FITS header at byte {offset:,} has a card FITS cannot read ({error}): a damaged file"
        ) from None
    return header


def _whole(header: Any, key: str, default: int | None = None) -> int:
    """A keyword that FITS requires to be a non-negative integer, checked."""
    value = header.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise FileFormatError(f"{key} = {value!r}, where FITS needs a whole number of at least 0")
    return int(value)


def stated_bytes(header: Any) -> int:
    """Bytes of an HDU's data as its header states them, before the padding to 2,880-byte blocks.

    Raises
    ------
    FileFormatError
        For an axis count, axis length, BITPIX, PCOUNT or GCOUNT that FITS does not allow.
    """
    naxis = _whole(header, "NAXIS", 0)
    if naxis > MAX_NAXIS:
        raise FileFormatError(f"NAXIS = {naxis}, where FITS allows at most {MAX_NAXIS} axes")
    if naxis == 0:
        return 0
    bitpix = header.get("BITPIX")
    if bitpix not in DTYPES or isinstance(bitpix, bool):
        raise FileFormatError(f"BITPIX = {bitpix!r}, where FITS allows {', '.join(map(str, DTYPES))}")
    count = math.prod(_whole(header, f"NAXIS{axis}") for axis in range(1, naxis + 1))
    return abs(int(bitpix)) // 8 * _whole(header, "GCOUNT", 1) * (_whole(header, "PCOUNT", 0) + count)


def data_size(header: Any) -> int:
    """Bytes of an HDU's data, padded to whole 2,880-byte blocks."""
    return -(-stated_bytes(header) // FITS_BLOCK) * FITS_BLOCK


def walk_hdus(
    reader: Reader, uri: str, *, stored_size: int | None = None, compressed: bool = False
) -> Iterator[tuple[int, str, Any, int]]:
    """Yield ``(index, name, header, data offset)`` for each HDU, reading headers and skipping data.

    Parameters
    ----------
    stored_size : int, optional
        The object's size in bytes, when a listing or a HEAD gave it: an HDU whose header claims
        more data than that (or, for a ``compressed`` gzip stream, more than
        :data:`DEFLATE_MAX_RATIO` times that) is refused before anything else is read.
    compressed : bool
        Whether ``reader`` decodes a gzip stream.

    Raises
    ------
    FileFormatError
        For a file that is not FITS, a header FITS does not allow, or data larger than the object.
    """
    offset, index = 0, 0
    room = None if stored_size is None else stored_size * (DEFLATE_MAX_RATIO if compressed else 1)
    while True:
        try:
            header, length = header_at(reader, offset, uri)
        except FileFormatError as error:
            if index == 0:
                raise FileFormatError(f"{uri} is not a readable FITS file: {error}") from error
            return  # the end of the file
        if index == 0 and "SIMPLE" not in header:
            raise FileFormatError(f"{uri} is not a FITS file (it does not start with a SIMPLE card)")
        try:
            claimed = stated_bytes(header)
        except FileFormatError as error:
            raise FileFormatError(f"{uri}: HDU {index}'s header is not FITS: {error}") from None
        if room is not None and offset + length + claimed > room:
            shape = " x ".join(str(header.get(f"NAXIS{n}")) for n in range(1, int(header["NAXIS"]) + 1))
            raise FileFormatError(
                f"{uri}: HDU {index}'s header claims {shape} pixels ({claimed:,} bytes of data) in an object "
                f"of {stored_size:,} bytes{' (gzip-compressed)' if compressed else ''}: the header is wrong "
                "or the file truncated"
            )
        yield (
            index,
            str(header.get("EXTNAME", "PRIMARY" if index == 0 else "")).upper(),
            header,
            offset + length,
        )
        offset += length + data_size(header)
        index += 1


def find_hdu(reader: Reader, ext: int | str | None, uri: str, *, image: bool) -> tuple[Any, int]:
    """Return the header and data offset of HDU ``ext`` (index or name; None: the first 2-D image)."""
    seen: list[str] = []
    for index, name, header, data_offset in walk_hdus(reader, uri):
        seen.append(name)
        is_image = header.get("NAXIS") == 2 and header.get("XTENSION", "IMAGE").strip() == "IMAGE"
        if (ext is None and is_image) or ext == index or (isinstance(ext, str) and ext.upper() == name):
            if image and not is_image:
                raise InvalidParameterError("ext", ext, hint=f"HDU {index} of {uri} is not a 2-D image")
            return header, data_offset
    raise InvalidParameterError(
        "ext",
        ext,
        valid=[*range(len(seen)), *seen],
        hint=f"{uri} has {len(seen)} HDUs" if ext is not None else f"{uri} has no 2-D image HDU",
    )


def image_layout(header: Any) -> tuple[tuple[int, int], np.dtype]:
    """Shape ``(ny, nx)`` and on-disk dtype of a 2-D image HDU."""
    return (int(header["NAXIS2"]), int(header["NAXIS1"])), np.dtype(DTYPES[int(header["BITPIX"])])


#: A cut-out's rows and columns in an image: ``(ys, xs)``, as ``Cutout2D.slices_original``.
Box = tuple[slice, slice]


def fetch_rows(
    fs: Any,
    path: str,
    data_offset: int,
    dtype: np.dtype,
    row_length: int,
    boxes: list[Box],
    *,
    batch_size: int,
) -> list[np.ndarray]:
    """Fetch pixels ``[ys, xs]`` of each box of an uncompressed row-major image, in one batch.

    Also serves uncompressed ASDF blocks, which lay out rows the same way.
    """
    return [
        pixels[0]
        for pixels in fetch_images(fs, path, [(data_offset, dtype, row_length)], boxes, batch_size=batch_size)
    ]


def fetch_images(
    fs: Any, path: str, images: list[tuple[int, np.dtype, int]], boxes: list[Box], *, batch_size: int
) -> list[list[np.ndarray]]:
    """Fetch the pixels of every box in several images of one file (SCI, ERR, DQ ...) in one batch.

    ``images`` holds ``(data offset, dtype, row length)`` of each. Every row of every box in every
    image is a byte range; ranges that touch or overlap (boxes sharing rows, full-width rows) are
    merged, so a byte is fetched once however many boxes hold it, and all are sent together.

    Returns
    -------
    list
        For each box, the pixels of each image, in the order given.
    """
    from fsspec.utils import merge_offset_ranges

    wanted = []  # (box, image, first byte of each row)
    starts, ends = [], []
    for ys, xs in boxes:
        for data_offset, dtype, row_length in images:
            itemsize = np.dtype(dtype).itemsize
            rows = [data_offset + (y * row_length + xs.start) * itemsize for y in range(ys.start, ys.stop)]
            wanted.append(rows)
            starts += rows
            ends += [row + (xs.stop - xs.start) * itemsize for row in rows]
    if not starts:
        return [[] for _ in boxes]
    # Touching rows (full-width boxes) and rows of boxes that overlap are merged; no gap is fetched.
    paths, merged_starts, merged_ends = merge_offset_ranges(
        [path] * len(starts), starts, ends, max_gap=0, sort=True
    )
    pieces = cat_ranges(fs, paths, merged_starts, merged_ends, batch_size=batch_size)
    for piece, start, end in zip(pieces, merged_starts, merged_ends, strict=True):
        if len(piece) != end - start:  # S3 sends what there is of a range that runs past the end
            raise FileFormatError(
                f"s3://{path} ends at byte {start + len(piece):,}, before the pixels its header places up "
                f"to byte {end:,}: the file is truncated (was it uploaded completely?)"
            )

    def at(start: int, length: int) -> bytes:
        piece = bisect.bisect_right(merged_starts, start) - 1  # the merged range holding the row
        offset = start - merged_starts[piece]
        return pieces[piece][offset : offset + length]

    result: list[list[np.ndarray]] = []
    rows_of = iter(wanted)
    for ys, xs in boxes:
        per_image = []
        for _offset, dtype, _length in images:
            dtype = np.dtype(dtype)
            width = (xs.stop - xs.start) * dtype.itemsize
            raw = b"".join(at(row, width) for row in next(rows_of))
            per_image.append(np.frombuffer(raw, dtype=dtype).reshape(ys.stop - ys.start, xs.stop - xs.start))
        result.append(per_image)
    return result


def row_spans(boxes: list[Box]) -> list[tuple[int, int]]:
    """The rows that any of ``boxes`` needs, as sorted, disjoint ``(first, end)`` spans.

    Examples
    --------
    >>> row_spans([(slice(10, 20), slice(0, 5)), (slice(15, 30), slice(9, 12)), (slice(40, 41), slice(0, 1))])
    [(10, 30), (40, 41)]
    """
    spans: list[tuple[int, int]] = []
    for first, end in sorted((ys.start, ys.stop) for ys, _xs in boxes):
        if spans and first <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((first, end))
    return spans


def read_rows_forward(
    reader: ForwardReader,
    data_offset: int,
    dtype: np.dtype,
    row_length: int,
    boxes: list[Box],
    uri: str,
) -> list[np.ndarray]:
    """Pixels ``[ys, xs]`` of each box from a gzip stream, read forward once.

    The rows any box needs are read in order (a stream cannot go back), each row once; the
    stream is decoded no further than the last of them.
    """
    row_bytes = row_length * dtype.itemsize
    decoded: dict[int, np.ndarray] = {}  # the first row of each span -> its rows
    for first, end in row_spans(boxes):
        start, length = data_offset + first * row_bytes, (end - first) * row_bytes
        raw = reader.read(start, length)
        if len(raw) != length:
            raise FileFormatError(
                f"{uri} ends at byte {start + len(raw):,} of its decoded stream, before the pixels its "
                f"header places up to byte {start + length:,}: it is truncated"
            )
        decoded[first] = np.frombuffer(raw, dtype=dtype).reshape(end - first, row_length)
    firsts = sorted(decoded)
    result = []
    for ys, xs in boxes:
        first = firsts[bisect.bisect_right(firsts, ys.start) - 1]
        result.append(decoded[first][ys.start - first : ys.stop - first, xs])
    return result


def scaled(data: np.ndarray, header: Any) -> np.ndarray:
    """``data`` in native byte order, times BSCALE plus BZERO (float32 for 8- and 16-bit data).

    Unsigned integers (BZERO of half the range, as astropy writes uint16/32/64) stay integers.
    """
    bscale, bzero = header.get("BSCALE", 1), header.get("BZERO", 0)
    data = data.astype(data.dtype.newbyteorder("="))
    bits = 8 * data.dtype.itemsize
    if data.dtype.kind == "i" and bits > 8 and bscale == 1 and bzero == 2 ** (bits - 1):
        # FITS's unsigned integers (a DQ array): stored signed, offset by half the range
        return data.astype(f"u{data.dtype.itemsize}") ^ np.array(2 ** (bits - 1), f"u{data.dtype.itemsize}")
    if bscale != 1 or bzero != 0:
        data = (
            data * np.float32(bscale) + np.float32(bzero)
            if data.dtype.itemsize <= 2
            else data * bscale + bzero
        )
    return data
