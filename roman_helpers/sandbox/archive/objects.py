"""What an archive object is to the sandbox's S3: a key, a size, an ETag, a date and bytes by range.

Every object the sandbox serves satisfies :class:`ArchiveObject`, whatever makes its bytes: a
local file (:class:`FileObject`), bytes built once by a function (:class:`MaterialisedObject`),
or bytes computed range by range (the FITS, gzip and ASDF objects beside this module).
:class:`ArraySpec` describes an array whose rows a function produces on demand; FITS images and
ASDF blocks are made of them.

Examples
--------
>>> blob = MaterialisedObject("notes/readme.txt", lambda: b"hello, sky")
>>> blob.size, blob.read(7, 10)
(10, b'sky')
>>> blob.etag  # generated objects carry a multipart-style ETag, never a claimed MD5
'"...-1"'
"""

from __future__ import annotations

import bisect
import hashlib
import math
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "GENERATED_DATE",
    "MULTIPART_PART_SIZE",
    "ArchiveObject",
    "ArraySpec",
    "FileObject",
    "GeneratedObject",
    "MaterialisedObject",
    "Pieces",
    "check_range",
    "multipart_etag",
]

#: What S3 reports for an object stored without a content type.
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
#: Last-Modified of generated objects unless their layout says otherwise: fixed, so repeated
#: runs list identical objects.
GENERATED_DATE = datetime(2024, 6, 1, tzinfo=UTC)
#: Part size behind the multipart-style ETags of generated objects (the AWS CLI's default chunk).
MULTIPART_PART_SIZE = 8 * 1024 * 1024


@runtime_checkable
class ArchiveObject(Protocol):
    """An object the sandbox's S3 can serve.

    Attributes
    ----------
    key : str
        The object's key in its bucket.
    size : int
        Length in bytes, known without producing the bytes where the format allows.
    etag : str
        The ETag header value, with its double quotes (``'"9b2c...-25"'``).
    last_modified : datetime.datetime
        Time zone aware.
    content_type : str
    """

    @property
    def key(self) -> str: ...  # noqa: D102

    @property
    def size(self) -> int: ...  # noqa: D102

    @property
    def etag(self) -> str: ...  # noqa: D102

    @property
    def last_modified(self) -> datetime: ...  # noqa: D102

    @property
    def content_type(self) -> str: ...  # noqa: D102

    def read(self, start: int, end: int) -> bytes:
        """Return bytes ``[start, end)``; ``0 <= start <= end <= size``."""
        ...


def check_range(start: int, end: int, size: int) -> None:
    """Raise ValueError unless ``0 <= start <= end <= size``.

    Examples
    --------
    >>> check_range(0, 10, 10)
    >>> check_range(5, 11, 10)
    Traceback (most recent call last):
    ...
    ValueError: byte range [5, 11) is outside an object of 10 bytes
    """
    if not 0 <= start <= end <= size:
        raise ValueError(f"byte range [{start}, {end}) is outside an object of {size} bytes")


def multipart_etag(identity: str, size: int) -> str:
    """Return a multipart-style ETag (``"<32 hex>-<parts>"``) for a generated object.

    Large uploads to S3 carry such ETags, which are not the MD5 of the content; the sandbox
    gives them to generated objects so that no content checksum is claimed that was never
    computed. The hex part comes from ``identity`` (key and generator version), the part count
    from ``size`` and :data:`MULTIPART_PART_SIZE`.

    Examples
    --------
    >>> multipart_etag("a/b.fits v1", 20_000_000)
    '"...-3"'
    >>> multipart_etag("a/b.fits v1", 1) == multipart_etag("a/b.fits v1", 2)
    True
    """
    parts = max(1, math.ceil(size / MULTIPART_PART_SIZE))
    return f'"{hashlib.md5(identity.encode()).hexdigest()}-{parts}"'


class GeneratedObject:
    """Base of objects whose bytes the sandbox makes: key, dates, type and a multipart-style ETag.

    Subclasses implement :attr:`size` and :meth:`read`.

    Parameters
    ----------
    key : str
    version : str
        Version of what generates the bytes; part of the ETag (and of the cache's key).
    last_modified : datetime.datetime
    content_type : str
    """

    def __init__(
        self,
        key: str,
        *,
        version: str = "1",
        last_modified: datetime = GENERATED_DATE,
        content_type: str = DEFAULT_CONTENT_TYPE,
    ) -> None:
        self._key = key
        self.version = version
        self._last_modified = last_modified
        self._content_type = content_type

    @property
    def key(self) -> str:
        """The object's key."""
        return self._key

    @property
    def last_modified(self) -> datetime:
        """Last-Modified date (fixed for generated objects)."""
        return self._last_modified

    @property
    def content_type(self) -> str:
        """Content-Type header value."""
        return self._content_type

    @property
    def etag(self) -> str:
        """Multipart-style ETag from the key, the version and the size."""
        return self.etag_for(self.size)

    def etag_for(self, size: int) -> str:
        """The ETag of this object at ``size`` bytes (when the size is known from elsewhere)."""
        return multipart_etag(f"{self.key}\0{self.version}", size)

    @property
    def size(self) -> int:  # pragma: no cover - abstract
        """Length in bytes."""
        raise NotImplementedError

    @property
    def size_is_cheap(self) -> bool:
        """Whether :attr:`size` costs nothing (a closed form): then no cache needs to remember it."""
        return False

    def is_cheap(self, start: int, end: int) -> bool:
        """Whether bytes ``[start, end)`` cost nothing to make (headers, framing): caches pass them on."""
        return False

    def read(self, start: int, end: int) -> bytes:  # pragma: no cover - abstract
        """Return bytes ``[start, end)``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key!r})"


class FileObject:
    """A local file served as an object, with the single-part MD5 ETag S3 gives such an upload.

    Parameters
    ----------
    key : str
    path : path-like
    md5 : str, optional
        Hex MD5 of the file when already known; otherwise computed on first use of :attr:`etag`.
    last_modified : datetime.datetime, optional
        Default: the file's modification time.
    content_type : str

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
    >>> _ = path.write_bytes(b"abc")
    >>> item = FileObject("data/x.bin", path)
    >>> item.size, item.etag, item.read(1, 3)
    (3, '"900150983cd24fb0d6963f7d28e17f72"', b'bc')
    """

    def __init__(
        self,
        key: str,
        path: str | os.PathLike[str],
        *,
        md5: str | None = None,
        last_modified: datetime | None = None,
        content_type: str = DEFAULT_CONTENT_TYPE,
    ) -> None:
        self._key = key
        self.path = Path(path)
        self._md5 = md5
        self._last_modified = last_modified
        self._content_type = content_type
        self._lock = threading.Lock()

    @property
    def key(self) -> str:
        """The object's key."""
        return self._key

    @property
    def size(self) -> int:
        """The file's length."""
        return self.path.stat().st_size

    @property
    def etag(self) -> str:
        """Quoted hex MD5 of the file, as S3 gives a single-part upload."""
        with self._lock:
            if self._md5 is None:
                digest = hashlib.md5()
                with open(self.path, "rb") as handle:
                    while block := handle.read(1 << 20):
                        digest.update(block)
                self._md5 = digest.hexdigest()
        return f'"{self._md5}"'

    @property
    def last_modified(self) -> datetime:
        """The given date, else the file's modification time."""
        if self._last_modified is not None:
            return self._last_modified
        return datetime.fromtimestamp(int(self.path.stat().st_mtime), UTC)

    @property
    def content_type(self) -> str:
        """Content-Type header value."""
        return self._content_type

    def read(self, start: int, end: int) -> bytes:
        """Return bytes ``[start, end)`` of the file."""
        check_range(start, end, self.size)
        with open(self.path, "rb") as handle:
            handle.seek(start)
            return handle.read(end - start)

    def __repr__(self) -> str:
        return f"FileObject({self.key!r}, {str(self.path)!r})"


class MaterialisedObject(GeneratedObject):
    """An object whose bytes a function builds on first use; they are then kept in memory.

    For small generated files whose length depends on their content (catalogs, truth tables,
    text). Give ``size`` when it can be worked out without building the bytes (a number or a
    function): listings then cost nothing, and the built bytes are checked against it.

    Parameters
    ----------
    key : str
    build : callable
        ``build() -> bytes``; deterministic.
    size : int or callable, optional
        The length in advance, or ``size() -> int``.
    version, last_modified, content_type
        As for :class:`GeneratedObject`.

    Examples
    --------
    >>> calls = []
    >>> item = MaterialisedObject("t.txt", lambda: calls.append(1) or b"x" * 5, size=5)
    >>> item.size, calls
    (5, [])
    >>> item.read(0, 2), calls
    (b'xx', [1])
    """

    def __init__(
        self,
        key: str,
        build: Callable[[], bytes],
        *,
        size: int | Callable[[], int] | None = None,
        version: str = "1",
        last_modified: datetime = GENERATED_DATE,
        content_type: str = DEFAULT_CONTENT_TYPE,
    ) -> None:
        super().__init__(key, version=version, last_modified=last_modified, content_type=content_type)
        self._build = build
        self._size_hint = size
        self._size: int | None = size if isinstance(size, int) else None
        self._bytes: bytes | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        """Whether the bytes have been built."""
        return self._bytes is not None

    @property
    def size_is_cheap(self) -> bool:
        """True when the size was given as a number (or the bytes are built)."""
        return self._size is not None

    def content(self) -> bytes:
        """Build the bytes (once) and return them."""
        with self._lock:
            if self._bytes is None:
                made = bytes(self._build())
                if self._size is not None and len(made) != self._size:
                    raise RuntimeError(
                        f"{self.key}: built {len(made)} bytes, but its size was given as {self._size}"
                    )
                self._bytes, self._size = made, len(made)
            return self._bytes

    @property
    def size(self) -> int:
        """The given or computed size, else the length of the built bytes."""
        if self._size is None and callable(self._size_hint):
            self._size = int(self._size_hint())
        if self._size is None:
            return len(self.content())
        return self._size

    def read(self, start: int, end: int) -> bytes:
        """Return bytes ``[start, end)`` (building them on first use)."""
        data = self.content()
        check_range(start, end, len(data))
        return data[start:end]


class _Held:
    """Read a piece held in memory."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __call__(self, start: int, end: int) -> bytes:
        return self.data[start:end]


class _Zeros:
    """Read a piece of zero bytes."""

    def __call__(self, start: int, end: int) -> bytes:
        return bytes(end - start)


class Pieces:
    """Bytes laid end to end from pieces of known length, each read by its own function.

    Files whose layout is known in advance (FITS, ASDF, gzip members) are such sequences:
    headers held as bytes, data produced on demand, padding. A read calls only the pieces it
    overlaps, each with offsets local to the piece.

    Parameters
    ----------
    pieces : sequence of (int, callable)
        ``(length, read)`` with ``read(start, end) -> bytes`` for ``0 <= start <= end <= length``.

    Examples
    --------
    >>> whole = Pieces([Pieces.constant(b"head"), (3, lambda a, b: b"xyz"[a:b])])
    >>> whole.size, whole.read(2, 6)
    (7, b'adxy')
    """

    def __init__(self, pieces: Sequence[tuple[int, Callable[[int, int], bytes]]]) -> None:
        self._readers = [read for _, read in pieces]
        self._lengths = [int(length) for length, _ in pieces]
        self._starts = [0]
        for length in self._lengths:
            self._starts.append(self._starts[-1] + length)

    @staticmethod
    def constant(data: bytes) -> tuple[int, Callable[[int, int], bytes]]:
        """A piece holding ``data``."""
        return len(data), _Held(data)

    @staticmethod
    def zeros(length: int) -> tuple[int, Callable[[int, int], bytes]]:
        """A piece of ``length`` zero bytes."""
        return length, _Zeros()

    def is_constant(self, start: int, end: int) -> bool:
        """Whether bytes ``[start, end)`` lie in held or zero pieces only (reading them makes nothing).

        Examples
        --------
        >>> whole = Pieces([Pieces.constant(b"head"), (3, lambda a, b: b"xyz"[a:b]), Pieces.zeros(2)])
        >>> whole.is_constant(0, 4), whole.is_constant(3, 5), whole.is_constant(7, 9)
        (True, False, True)
        """
        check_range(start, end, self.size)
        index = max(0, bisect.bisect_right(self._starts, start) - 1)
        while index < len(self._lengths) and self._starts[index] < end:
            if self._lengths[index] and not isinstance(self._readers[index], _Held | _Zeros):
                return False
            index += 1
        return True

    @property
    def size(self) -> int:
        """Total length."""
        return self._starts[-1]

    @property
    def starts(self) -> list[int]:
        """Offset of each piece (and the total length last)."""
        return list(self._starts)

    def read(self, start: int, end: int) -> bytes:
        """Return bytes ``[start, end)``, calling only the pieces that overlap it."""
        check_range(start, end, self.size)
        out = []
        index = max(0, bisect.bisect_right(self._starts, start) - 1)
        while start < end and index < len(self._lengths):
            base = self._starts[index]
            stop = min(end, base + self._lengths[index])
            if stop > start:
                part = self._readers[index](start - base, stop - base)
                if len(part) != stop - start:
                    raise RuntimeError(f"piece {index} gave {len(part)} bytes instead of {stop - start}")
                out.append(part)
                start = stop
            index += 1
        return b"".join(out)


@dataclass(frozen=True)
class ArraySpec:
    """An array described by dtype and shape whose values a function produces row by row.

    A *row* is one line along the last axis; rows are counted in C order over all the leading
    axes (for an image ``(ny, nx)``, row ``y`` is ``image[y]``; for a cube ``(nz, ny, nx)``,
    row ``z * ny + y``). Files made of such arrays know their layout before any value exists,
    and a read produces only the rows it touches.

    Parameters
    ----------
    dtype : numpy dtype or str
        Logical type of the values (byte order on the wire is the file format's business).
    shape : tuple of int
    rows : callable
        ``rows(r0, r1)`` returns rows ``r0 <= r < r1`` as an array of shape
        ``(r1 - r0, shape[-1])`` (or anything that reshapes to it); deterministic.

    Examples
    --------
    >>> spec = ArraySpec("float32", (3, 4), lambda r0, r1: np.arange(r0 * 4, r1 * 4).reshape(-1, 4))
    >>> spec.nrows, spec.row_bytes, spec.nbytes
    (3, 16, 48)
    >>> spec.take(1, 2)
    array([[4., 5., 6., 7.]], dtype=float32)
    """

    dtype: np.dtype | str | type
    shape: tuple[int, ...]
    rows: Callable[[int, int], np.ndarray]

    @property
    def numpy_dtype(self) -> np.dtype:
        """``dtype`` as a :class:`numpy.dtype`."""
        return np.dtype(self.dtype)

    @property
    def row_length(self) -> int:
        """Values per row (the last axis)."""
        return int(self.shape[-1]) if self.shape else 1

    @property
    def nrows(self) -> int:
        """Number of rows (product of the leading axes)."""
        return math.prod(int(n) for n in self.shape[:-1]) if self.shape else 1

    @property
    def row_bytes(self) -> int:
        """Bytes per row."""
        return self.row_length * self.numpy_dtype.itemsize

    @property
    def nbytes(self) -> int:
        """Bytes of the whole array."""
        return self.nrows * self.row_bytes

    def take(self, r0: int, r1: int) -> np.ndarray:
        """Rows ``r0 <= r < r1`` as a C-contiguous ``(r1 - r0, row_length)`` array of ``dtype``."""
        if not 0 <= r0 <= r1 <= self.nrows:
            raise ValueError(f"rows [{r0}, {r1}) are outside an array of {self.nrows} rows")
        if r0 == r1:
            return np.empty((0, self.row_length), self.numpy_dtype)
        values = np.asarray(self.rows(r0, r1))
        if values.size != (r1 - r0) * self.row_length:
            raise ValueError(
                f"the rows function gave {values.size} values for rows [{r0}, {r1}) "
                f"of {self.row_length} values each"
            )
        return np.ascontiguousarray(values.reshape(r1 - r0, self.row_length), dtype=self.numpy_dtype)

    def byte_reader(self, byteorder: Literal["<", ">"]) -> Callable[[int, int], bytes]:
        r"""Return ``read(start, end)`` over the array's bytes in ``byteorder`` (``"<"`` or ``">"``).

        A read produces only the rows that hold bytes ``[start, end)``.

        Examples
        --------
        >>> spec = ArraySpec("uint16", (2, 2), lambda r0, r1: np.arange(r0 * 2, r1 * 2))
        >>> spec.byte_reader(">")(2, 6)
        b'\x00\x01\x00\x02'
        """
        wire = self.numpy_dtype.newbyteorder(byteorder)

        def read(start: int, end: int) -> bytes:
            check_range(start, end, self.nbytes)
            r0, r1 = start // self.row_bytes, math.ceil(end / self.row_bytes)
            raw = self.take(r0, r1).astype(wire, copy=False).tobytes()
            return raw[start - r0 * self.row_bytes : end - r0 * self.row_bytes]

        return read

    def materialise(self) -> np.ndarray:
        """The whole array (for small arrays only)."""
        return self.take(0, self.nrows).reshape(self.shape)

    @classmethod
    def from_array(cls, array: np.ndarray) -> ArraySpec:
        """Describe an existing array (its rows are slices of it).

        Examples
        --------
        >>> ArraySpec.from_array(np.zeros((2, 3), "int16")).take(0, 1)
        array([[0, 0, 0]], dtype=int16)
        """
        values = np.ascontiguousarray(array)
        flat = values.reshape(-1, values.shape[-1] if values.ndim else 1)
        return cls(values.dtype, tuple(values.shape), lambda r0, r1: flat[r0:r1])
