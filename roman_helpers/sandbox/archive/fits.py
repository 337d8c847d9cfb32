"""FITS files whose every byte offset is known before any pixel exists, and their ``.fits.gz``.

:class:`FitsObject` lays out a FITS file from HDU descriptions (:class:`HDU`): each header is
made by astropy from the header given and a stand-in for the data (dtype and shape only), so
BITPIX, NAXISn, BZERO and EXTEND are exactly what astropy writes; image data is an
:class:`~roman_helpers.sandbox.archive.objects.ArraySpec`, a binary table's rows come from a
function (:class:`TableSpec`). The size is a sum of padded lengths, known without calling any
row function; a read produces only the rows it overlaps.

:class:`GzipObject` wraps any object in a multi-member gzip whose offsets are known in advance
as well (see its notes); ``gzip -d``, Python's :mod:`gzip` and astropy read it as any ``.gz``.

Examples
--------
>>> import numpy as np
>>> from astropy.io import fits
>>> from roman_helpers.sandbox.archive.objects import ArraySpec
>>> rows = lambda y0, y1: np.add.outer(np.arange(y0, y1), np.arange(4088)).astype("float32")
>>> image = FitsObject(
...     "f.fits", [HDU(), HDU(fits.Header({"EXTNAME": "SCI"}), ArraySpec("float32", (4088, 4088), rows))]
... )
>>> image.size  # two headers and 4088 x 4088 x 4 bytes, each padded to 2880: no pixel made yet
66853440
>>> fits.Header.fromstring(image.read(2880, 5760).decode())["BITPIX"]
-32
>>> start = image.data_offsets[1] + 4000 * 4088 * 4  # row 4000, made alone
>>> np.frombuffer(image.read(start, start + 4088 * 4), ">f4")[10]
np.float32(4010.0)
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from roman_helpers.sandbox.archive.objects import (
    DEFAULT_CONTENT_TYPE,
    GENERATED_DATE,
    ArchiveObject,
    ArraySpec,
    GeneratedObject,
    Pieces,
    check_range,
)

__all__ = ["BLOCK", "GZIP_MEMBER_SIZE", "HDU", "FitsObject", "GzipObject", "TableSpec"]

#: FITS record length: headers and data are padded to multiples of it.
BLOCK = 2880
#: Uncompressed bytes in each member of a :class:`GzipObject`.
GZIP_MEMBER_SIZE = 1 << 20

RowsFunction = Callable[[int, int], Any]


@dataclass(frozen=True)
class TableSpec:
    """A binary table with fixed-width columns whose rows a function produces.

    Parameters
    ----------
    columns : sequence of astropy.io.fits.Column
        Names, formats and units, without arrays (``fits.Column("RA", "D", unit="deg")``).
        Fixed-width formats only (no variable-length ``P``/``Q`` arrays).
    nrows : int
    rows : callable
        ``rows(r0, r1)`` returns rows ``r0 <= r < r1``: a structured array or a mapping from
        column name to values; logical columns as booleans, strings as ``str`` or ``bytes``.
    """

    columns: Sequence[Any]
    nrows: int
    rows: RowsFunction


@dataclass(frozen=True)
class HDU:
    """One header-data unit: a header and, optionally, an image or a binary table.

    Parameters
    ----------
    header : astropy.io.fits.Header, optional
        Cards to carry (structural keywords are set from the data).
    data : ArraySpec or TableSpec, optional
        None for a header-only HDU; the first HDU cannot be a table.
    name : str, optional
        EXTNAME, when not in ``header``.
    """

    header: Any = None
    data: ArraySpec | TableSpec | None = None
    name: str | None = None


def _stand_in(spec: ArraySpec) -> np.ndarray:
    """An array with the spec's dtype and shape that occupies one element of memory."""
    return np.broadcast_to(np.zeros((), spec.numpy_dtype), spec.shape)


def _astropy_hdus(hdus: Sequence[HDU]) -> Any:
    """The HDUList astropy would write, with stand-ins for the data: its headers are the file's."""
    from astropy.io import fits

    made = []
    for index, hdu in enumerate(hdus):
        header = fits.Header() if hdu.header is None else hdu.header.copy()
        if isinstance(hdu.data, TableSpec):
            if index == 0:
                raise ValueError("the first HDU of a FITS file cannot be a table: add an empty primary HDU")
            table = fits.BinTableHDU.from_columns(
                list(hdu.data.columns), header=header, nrows=0, name=hdu.name
            )
            table.header["NAXIS2"] = int(hdu.data.nrows)
            made.append(table)
            continue
        data = None if hdu.data is None else _stand_in(hdu.data)
        if index == 0:
            if hdu.name:
                header["EXTNAME"] = hdu.name
            made.append(fits.PrimaryHDU(data, header))
        else:
            made.append(fits.ImageHDU(data, header, name=hdu.name))
    hdulist = fits.HDUList(made)
    hdulist.update_extend()
    hdulist.verify("exception")
    return hdulist


def _wire_image(values: np.ndarray) -> np.ndarray:
    """Values as FITS stores them: big-endian, unsigned and int8 offset by BZERO as astropy writes."""
    kind, size = values.dtype.kind, values.dtype.itemsize
    if kind == "u" and size > 1:  # BZERO = 2**(bits-1): flip the sign bit
        flipped = values ^ np.array(1 << (8 * size - 1), values.dtype)
        return flipped.astype(values.dtype.newbyteorder(">"))
    if kind == "i" and size == 1:  # BZERO = -128 over unsigned bytes
        return values.view(np.uint8) ^ np.uint8(0x80)
    if kind not in "uif":
        raise ValueError(f"FITS images cannot hold {values.dtype}")
    return values.astype(values.dtype.newbyteorder(">"))


def _image_reader(spec: ArraySpec) -> Callable[[int, int], bytes]:
    """Read ``[a, b)`` of an image's data area by producing only the rows it overlaps."""

    def read(start: int, end: int) -> bytes:
        r0, r1 = start // spec.row_bytes, math.ceil(end / spec.row_bytes)
        raw = _wire_image(spec.take(r0, r1)).tobytes()
        return raw[start - r0 * spec.row_bytes : end - r0 * spec.row_bytes]

    return read


def _table_reader(spec: TableSpec, record: np.dtype) -> Callable[[int, int], bytes]:
    """Read ``[a, b)`` of a binary table's data area by producing only the rows it overlaps."""

    def read(start: int, end: int) -> bytes:
        r0, r1 = start // record.itemsize, math.ceil(end / record.itemsize)
        values = spec.rows(r0, r1)
        out = np.zeros(r1 - r0, record)
        for name in record.names or ():
            column = np.asarray(values[name])
            if column.dtype.kind == "b":  # FITS logicals are the bytes T and F
                column = np.where(column, ord("T"), ord("F")).astype(np.int8)
            elif column.dtype.kind == "U":
                column = np.char.encode(column, "ascii")
            out[name] = column.reshape(out[name].shape)
        return out.tobytes()[start - r0 * record.itemsize : end - r0 * record.itemsize]

    return read


class FitsObject(GeneratedObject):
    """A FITS file laid out from HDU descriptions, its bytes produced on demand.

    Parameters
    ----------
    key : str
    hdus : sequence of HDU
        In file order; the first is the primary HDU.
    version, last_modified, content_type
        As for :class:`~roman_helpers.sandbox.archive.objects.GeneratedObject`.

    Notes
    -----
    Headers are built (by astropy) when the object is made; no row function is called until a
    read reaches the data. Data padding is zeros, header padding blanks, as astropy writes.
    """

    def __init__(
        self,
        key: str,
        hdus: Sequence[HDU],
        *,
        version: str = "1",
        last_modified: datetime = GENERATED_DATE,
        content_type: str = DEFAULT_CONTENT_TYPE,
    ) -> None:
        super().__init__(key, version=version, last_modified=last_modified, content_type=content_type)
        built = _astropy_hdus(hdus)
        pieces: list[tuple[int, Callable[[int, int], bytes]]] = []
        self.headers = [made.header for made in built]
        self.data_offsets: list[int] = []
        for hdu, made in zip(hdus, built, strict=True):
            pieces.append(Pieces.constant(made.header.tostring().encode("ascii")))
            self.data_offsets.append(sum(length for length, _ in pieces))
            length, reader = self._data(hdu, made)
            if length:
                pieces.append((length, reader))
                pieces.append(Pieces.zeros(-length % BLOCK))
        self._pieces = Pieces(pieces)

    @staticmethod
    def _data(hdu: HDU, made: Any) -> tuple[int, Callable[[int, int], bytes]]:
        if isinstance(hdu.data, TableSpec):
            record = made.columns.dtype.newbyteorder(">")
            if record.itemsize != made.header["NAXIS1"]:
                raise ValueError(
                    f"columns of {record.itemsize} bytes a row, but NAXIS1 is {made.header['NAXIS1']}"
                )
            return hdu.data.nrows * record.itemsize, _table_reader(hdu.data, record)
        if hdu.data is None:
            return 0, Pieces.constant(b"")[1]
        return hdu.data.nbytes, _image_reader(hdu.data)

    @property
    def size(self) -> int:
        """Length of the file: padded headers and padded data."""
        return self._pieces.size

    def read(self, start: int, end: int) -> bytes:
        """Return bytes ``[start, end)``, producing only the rows they overlap."""
        return self._pieces.read(start, end)


# ---------------------------------------------------------------- gzip

_STORED_MAX = 65535  # longest deflate stored block (RFC 1951 3.2.4: LEN is 16 bits)


def _stored_blocks(length: int) -> int:
    return max(1, math.ceil(length / _STORED_MAX))


class GzipObject(GeneratedObject):
    """A multi-member gzip of another object, with every offset known before any byte is made.

    Each member covers a fixed :data:`GZIP_MEMBER_SIZE` of the inner object's bytes and holds
    them as deflate *stored* blocks, with its own CRC32 and ISIZE; the first member's header may
    carry the file name (FNAME), as ``gzip`` writes it. RFC 1952 allows concatenated members and
    every reader (``gzip -d``, Python's :mod:`gzip`, astropy, zlib with ``wbits=31``) decodes
    them as one stream.

    Parameters
    ----------
    key : str
    inner : ArchiveObject
        What is compressed (typically a :class:`FitsObject`).
    fname : str, optional
        Name in the first member's header (the inner file's name).
    mtime : int
        MTIME field of every member (seconds since 1970; fixed, so the bytes repeat).
    member_size : int
    version, last_modified, content_type
        As for :class:`~roman_helpers.sandbox.archive.objects.GeneratedObject`.

    Notes
    -----
    Stored blocks make the compressed size a closed-form function of the inner size: no
    library writes a deflate stream whose length is known before its content, so the framing
    (a 1-byte block header, LEN, NLEN; RFC 1951 3.2.4) is written here by hand. The file is
    about as large as the inner object, where real ``.fits.gz`` files are some 25 % smaller;
    reading row N still means decompressing everything before it, as with the real files.
    A read produces the inner bytes of the members it overlaps (all of a member's bytes when
    it reaches that member's CRC).

    Examples
    --------
    >>> import gzip
    >>> from roman_helpers.sandbox.archive.objects import MaterialisedObject
    >>> inner = MaterialisedObject("x.fits", lambda: bytes(range(256)) * 10_000)
    >>> packed = GzipObject("x.fits.gz", inner, fname="x.fits")
    >>> packed.size - inner.size  # headers, block framing and trailers of three members
    271
    >>> gzip.decompress(packed.read(0, packed.size)) == inner.read(0, inner.size)
    True
    """

    def __init__(
        self,
        key: str,
        inner: ArchiveObject,
        *,
        fname: str | None = None,
        mtime: int = 0,
        member_size: int = GZIP_MEMBER_SIZE,
        version: str = "1",
        last_modified: datetime = GENERATED_DATE,
        content_type: str = DEFAULT_CONTENT_TYPE,
    ) -> None:
        super().__init__(key, version=version, last_modified=last_modified, content_type=content_type)
        if member_size < 1:
            raise ValueError("member_size must be positive")
        self.inner = inner
        self.member_size = member_size
        self.inner_size = inner.size
        self.members = max(1, math.ceil(self.inner_size / member_size))
        flags = 0x08 if fname else 0  # FNAME
        fixed = struct.pack("<BBBBIBB", 0x1F, 0x8B, 8, flags, mtime & 0xFFFFFFFF, 0, 255)
        self._first_header = fixed + (fname.encode("latin-1") + b"\0" if fname else b"")
        self._header = struct.pack("<BBBBIBB", 0x1F, 0x8B, 8, 0, mtime & 0xFFFFFFFF, 0, 255)
        self._offsets = [0]
        for index in range(self.members):
            self._offsets.append(self._offsets[-1] + self._member_length(index))

    def _inner_span(self, index: int) -> tuple[int, int]:
        start = index * self.member_size
        return start, min(self.inner_size, start + self.member_size)

    def _member_length(self, index: int) -> int:
        start, end = self._inner_span(index)
        header = self._first_header if index == 0 else self._header
        return len(header) + 5 * _stored_blocks(end - start) + (end - start) + 8

    @property
    def size(self) -> int:
        """Length of the gzip file."""
        return self._offsets[-1]

    @property
    def member_offsets(self) -> list[int]:
        """Offset of each member in the file."""
        return self._offsets[:-1]

    def _member(self, index: int, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of member ``index`` (offsets within the member)."""
        inner_start, inner_end = self._inner_span(index)
        length = inner_end - inner_start
        header = self._first_header if index == 0 else self._header
        body_start = len(header)
        trailer_start = body_start + 5 * _stored_blocks(length) + length
        # which inner bytes the range needs: all of them when it reaches the CRC
        if end > trailer_start:
            need = (0, length)
        else:
            first = max(0, start - body_start) // (_STORED_MAX + 5)
            last = max(0, end - 1 - body_start) // (_STORED_MAX + 5)
            need = (first * _STORED_MAX, min(length, (last + 1) * _STORED_MAX))
        data = self.inner.read(inner_start + need[0], inner_start + need[1]) if need[1] > need[0] else b""
        parts = [header]
        for block in range(_stored_blocks(length)):
            lo, hi = block * _STORED_MAX, min(length, (block + 1) * _STORED_MAX)
            final = 1 if hi == length else 0
            parts.append(struct.pack("<BHH", final, hi - lo, (hi - lo) ^ 0xFFFF))
            if need[0] <= lo and hi <= need[1]:
                parts.append(data[lo - need[0] : hi - need[0]])
            else:  # outside the requested range: the length is all that matters
                parts.append(bytes(hi - lo))
        if end > trailer_start:
            parts.append(struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, length & 0xFFFFFFFF))
        member = b"".join(parts)
        return member[start:end]

    def read(self, start: int, end: int) -> bytes:
        """Return bytes ``[start, end)``, producing the inner bytes of the members they overlap."""
        check_range(start, end, self.size)
        out = []
        index = 0
        while index < self.members and self._offsets[index + 1] <= start:
            index += 1
        while start < end and index < self.members:
            base = self._offsets[index]
            stop = min(end, self._offsets[index + 1])
            out.append(self._member(index, start - base, stop - base))
            start = stop
            index += 1
        return b"".join(out)
