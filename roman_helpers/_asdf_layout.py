"""Where the YAML tree, the blocks and the lz4 chunks of an ASDF file sit in its bytes (private).

asdf reads a whole block to give any part of an array; these functions find the tree, the
block of the image and, in an lz4-compressed block, the chunks holding given rows, so that a
cut-out fetches only those.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ._s3 import cat_ranges
from .errors import FileFormatError

#: First and smallest step when reading an ASDF tree; later steps grow by a fifth of what
#: was read, so the over-read stays within 20 % of the tree.
FIRST_STEP = 4 * 1024
MIN_STEP = 2 * 1024
#: A cut-out fetches megabytes of compressed chunks anyway: read the tree in one go.
CUTOUT_FIRST_STEP = 128 * 1024
TREE_END = (b"\n...\n", b"\r\n...\r\n")
BLOCK_MAGIC = b"\xd3BLK"
INDEX_HEADER = b"#ASDF BLOCK INDEX"
BLOCK_HEADER = struct.Struct(">I4sQQQ16s")  # flags, compression, allocated, used, data size, md5


class PrefixedFile(io.RawIOBase):
    """A remote file whose first bytes are already in memory: reads that fall inside them cost nothing.

    The tree read fetches generously (one round trip instead of several); on a small file that
    prefix already holds the block index and the pixels, and fetching them again would cost more
    than the file. Two kinds of reader use it:

    * the cut-out readers, through the two file-system calls they make, :meth:`cat_file` and
      :meth:`cat_ranges` (a negative start counts from the end, as for s3fs, once the size is
      known: when a read came back short, the whole file is in the prefix);
    * asdf, through the file interface (``seek``, ``read``): bytes after the prefix come from
      ``open_rest()``, a file object opened on first need and closed with this one.

    Parameters
    ----------
    fs : fsspec.AbstractFileSystem
        Where the rest of the file is read.
    path : str
        The file, as ``fs`` names it (``bucket/key``).
    prefix : bytes
        The file's first bytes.
    size : int, optional
        The file's size, when known.
    open_rest : callable, optional
        Opens the file for reading (needed only for reads past the prefix through ``read``).
    """

    def __init__(
        self,
        fs: Any,
        path: str,
        prefix: bytes,
        *,
        size: int | None = None,
        open_rest: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__()
        self.fs, self.path, self.prefix, self.size = fs, path, prefix, size
        self._open_rest, self._rest, self._position = open_rest, None, 0

    # ----------------------------------------------------------------- as a file system

    def _span(self, start: int | None, end: int | None) -> tuple[int | None, int | None]:
        """``start`` and ``end`` as offsets from the start of the file, where the size allows."""
        if self.size is not None:
            start = 0 if start is None else max(self.size + start, 0) if start < 0 else start
            end = self.size if end is None else max(self.size + end, 0) if end < 0 else min(end, self.size)
        return start, end

    def _inside(self, start: int | None, end: int | None) -> bool:
        return start is not None and end is not None and 0 <= start <= end <= len(self.prefix)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None) -> bytes:
        """Bytes ``[start, end)`` of the file: from memory when the prefix holds them."""
        first, last = self._span(start, end)
        if self._inside(first, last):
            return self.prefix[first:last]
        return self.fs.cat_file(path, start=start, end=end)

    def cat_ranges(self, paths: list[str], starts: list[int], ends: list[int], **kwargs: Any) -> list[bytes]:
        """Several ranges at once; only those outside the prefix are fetched (concurrently).

        Called through :func:`roman_helpers._s3.cat_ranges`, which passes ``on_error``.
        """
        spans = [self._span(s, e) for s, e in zip(starts, ends, strict=True)]
        missing = [i for i, (s, e) in enumerate(spans) if not self._inside(s, e)]
        fetched = iter(
            self.fs.cat_ranges(
                [paths[i] for i in missing],
                [starts[i] for i in missing],
                [ends[i] for i in missing],
                **kwargs,
            )
            if missing
            else []
        )
        wanted = set(missing)
        return [next(fetched) if i in wanted else self.prefix[s:e] for i, (s, e) in enumerate(spans)]

    # ----------------------------------------------------------------- as a file

    def _rest_file(self) -> Any:
        if self._rest is None:
            if self._open_rest is None:
                raise FileFormatError(f"s3://{self.path}: a read past the first {len(self.prefix)} bytes")
            rest = self._rest = self._open_rest()
            if self.size is None:
                self.size = int(rest.size)
        return self._rest

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END and self.size is None:
            self._rest_file()
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size or 0}[whence]
        self._position = base + offset
        return self._position

    def readinto(self, buffer: Any) -> int:
        wanted = len(buffer)
        data = self.prefix[self._position : self._position + wanted]
        if len(data) < wanted and (self.size is None or self._position + len(data) < self.size):
            rest = self._rest_file()
            rest.seek(self._position + len(data))
            data += rest.read(wanted - len(data))
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def close(self) -> None:
        if self._rest is not None:
            self._rest.close()
            self._rest = None
        super().close()


def read_tree(
    fs: Any,
    path: str,
    uri: str,
    first_step: int = FIRST_STEP,
    *,
    open_rest: Callable[[], Any] | None = None,
) -> tuple[bytes, PrefixedFile]:
    """Fetch the ASDF header and YAML tree, ending with its ``...`` line.

    ``first_step`` trades bytes for round trips: small when the tree is all we want, larger
    when megabytes of pixels will follow anyway.

    Returns
    -------
    tuple
        The tree's bytes, and the file with every byte read so far kept in memory
        (:class:`PrefixedFile`, given ``open_rest`` for reads past them).
    """
    data = b""
    step = first_step
    size = None
    while True:
        chunk = fs.cat_file(path, start=len(data), end=len(data) + step)
        if not data and not chunk.startswith(b"#ASDF"):
            raise FileFormatError(f"{uri} is not an ASDF file (it does not start with '#ASDF')")
        data += chunk
        if len(chunk) < step:  # the end of the file: all of it is here
            size = len(data)
        tree = _tree_in(data)
        if tree is not None or size is not None:  # without an end marker, a tree-only file
            return (data if tree is None else tree), PrefixedFile(
                fs, path, data, size=size, open_rest=open_rest
            )
        step = max(MIN_STEP, len(data) // 5)


def _tree_in(data: bytes) -> bytes | None:
    """The header and tree at the start of ``data``, or None while its end is not in ``data``."""
    for marker in TREE_END:
        at = data.find(marker)
        if at >= 0:
            return data[: at + len(marker)]
    at = data.find(BLOCK_MAGIC)
    if at >= 0:  # a file with blocks but no tree end marker
        return data[:at]
    return None


def _container(raw_tree: Mapping) -> Mapping:
    """The node holding the arrays: ``roman`` in a Roman file, else the tree itself."""
    roman = raw_tree.get("roman")
    return roman if isinstance(roman, Mapping) else raw_tree


def _is_ndarray(node: Any) -> bool:
    return isinstance(node, Mapping) and "source" in node and "shape" in node


def image_arrays(raw_tree: Mapping) -> list[str]:
    """Names of the 2-D arrays next to the image (``data``, ``err``, ``dq`` ...), in tree order."""
    return [
        name for name, node in _container(raw_tree).items() if _is_ndarray(node) and len(node["shape"]) == 2
    ]


def find_array_node(raw_tree: Mapping, name: str = "data") -> Mapping:
    """The ndarray node of array ``name``: ``roman.<name>``, else ``<name>``."""
    node = _container(raw_tree).get(name)
    if node is None or not _is_ndarray(node):
        raise FileFormatError(f"no ASDF ndarray at roman.{name} (or {name}) in this file")
    return node


def image_layout(
    raw_tree: Mapping, uri: str, name: str = "data"
) -> tuple[int, tuple[int, int], np.dtype, int]:
    """Block number, shape, dtype and offset in the block of 2-D array ``name`` of an untagged tree."""
    node = find_array_node(raw_tree, name)
    if not isinstance(node["source"], int) or not isinstance(node.get("datatype"), str):
        raise FileFormatError(f"{uri}: roman.{name} is not an internal block of a simple type")
    shape = tuple(int(n) for n in node["shape"])
    if len(shape) != 2 or node.get("strides") is not None:
        raise FileFormatError(f"{uri}: roman.{name} has shape {shape}; a contiguous 2-D image is needed")
    dtype = np.dtype(node["datatype"]).newbyteorder(
        "<" if node.get("byteorder", "little") == "little" else ">"
    )
    return node["source"], shape, dtype, int(node.get("offset", 0))


def block_offsets(fs: Any, path: str, tree_end: int, sources: list[int]) -> dict[int, int]:
    """Offsets of blocks ``sources``: from the block index at the end, else by walking headers."""
    import yaml

    tail = fs.cat_file(path, start=-4096)
    at = tail.rfind(INDEX_HEADER)
    if at >= 0:
        try:
            offsets = yaml.safe_load(tail[at:].split(b"\n", 1)[1].decode())
            if isinstance(offsets, list) and len(offsets) > max(sources):
                return {source: int(offsets[source]) for source in sources}
        except (yaml.YAMLError, ValueError, IndexError):
            pass  # a broken index: walk the block headers instead, as asdf does
    found, offset = {0: tree_end}, tree_end
    for number in range(1, max(sources) + 1):
        magic_and_size = fs.cat_file(path, start=offset, end=offset + 6 + BLOCK_HEADER.size)
        header_size = struct.unpack(">H", magic_and_size[4:6])[0]
        allocated = BLOCK_HEADER.unpack(magic_and_size[6 : 6 + BLOCK_HEADER.size])[2]
        offset += 6 + header_size + allocated
        found[number] = offset
    return {source: found[source] for source in sources}


def block_offset(fs: Any, path: str, tree_end: int, source: int) -> int:
    """Offset of block ``source`` (see :func:`block_offsets`)."""
    return block_offsets(fs, path, tree_end, [source])[source]


def block_start(fs: Any, path: str, offset: int, uri: str) -> tuple[int, bytes, bytes]:
    """Read the header of the block at ``offset``.

    One read covers the block magic, header size, header and the first 8 bytes of data (in
    an lz4 block, the first chunk's header).

    Returns
    -------
    tuple
        Offset of the block's data, its compression (``b""``, ``b"lz4"``, ``b"zlib"`` ...)
        and the first 8 data bytes (empty when the header is longer than usual).
    """
    head = fs.cat_file(path, start=offset, end=offset + 6 + BLOCK_HEADER.size + 8)
    if head[:4] != BLOCK_MAGIC:
        raise FileFormatError(f"{uri}: no ASDF block at offset {offset}")
    header_size = struct.unpack(">H", head[4:6])[0]
    _flags, compression, _allocated, _used, _data_size, _md5 = BLOCK_HEADER.unpack(
        head[6 : 6 + BLOCK_HEADER.size]
    )
    first_data = head[6 + header_size :] if header_size == BLOCK_HEADER.size else b""
    return offset + 6 + header_size, compression.rstrip(b"\0"), first_data


def lz4_rows(
    fs: Any, path: str, data_start: int, head: bytes, first: int, last: int, *, batch_size: int
) -> tuple[bytes, int]:
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
        compressed, uncompressed = (
            struct.unpack(">I", chunk_header[:4])[0],
            struct.unpack("<I", chunk_header[4:8])[0],
        )
        if produced + uncompressed > first:
            wanted.append((position + 4, position + 4 + compressed))
            if first_offset is None:
                first_offset = produced
        position += 4 + compressed
        produced += uncompressed
        chunk_header = b""
    payloads = cat_ranges(
        fs, [path] * len(wanted), [s for s, _ in wanted], [e for _, e in wanted], batch_size=batch_size
    )
    return b"".join(lz4.block.decompress(payload) for payload in payloads), first_offset or 0
