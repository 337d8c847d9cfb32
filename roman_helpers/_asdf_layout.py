"""Where the YAML tree, the blocks and the lz4 chunks of an ASDF file sit in its bytes (private).

asdf reads a whole block to give any part of an array; these functions find the tree, the
block of the image and, in an lz4-compressed block, the chunks holding given rows, so that a
cut-out fetches only those.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._ranges import cat_ranges
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


class PrefixedFile:
    """Answer reads that fall inside bytes already fetched from the start of a file.

    The tree read of a cut-out fetches generously (one round trip instead of several); on a
    small file that prefix already holds the pixels, and fetching them again would cost more
    than the file.
    """

    def __init__(self, fs: Any, prefix: bytes) -> None:
        self.fs, self.prefix = fs, prefix

    def _inside(self, start: int | None, end: int | None) -> bool:
        return start is not None and end is not None and 0 <= start <= end <= len(self.prefix)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None) -> bytes:
        if self._inside(start, end):
            return self.prefix[start:end]
        return self.fs.cat_file(path, start=start, end=end)

    def cat_ranges(self, paths: list[str], starts: list[int], ends: list[int], **kwargs: Any) -> list[bytes]:
        missing = [i for i, (s, e) in enumerate(zip(starts, ends, strict=True)) if not self._inside(s, e)]
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
        return [
            next(fetched) if i in set(missing) else self.prefix[s:e]
            for i, (s, e) in enumerate(zip(starts, ends, strict=True))
        ]


def read_tree_bytes(
    fs: Any, path: str, uri: str, first_step: int = FIRST_STEP, fetched: list[bytes] | None = None
) -> bytes:
    """Fetch the ASDF header and YAML tree, ending with its ``...`` line.

    ``first_step`` trades bytes for round trips: small when the tree is all we want,
    larger when megabytes of pixels will follow anyway. When ``fetched`` is a list, every
    byte read from the start of the file is appended to it (for :class:`PrefixedFile`).
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
        for marker in TREE_END:
            at = data.find(marker)
            if at >= 0:
                return data[: at + len(marker)]
        at = data.find(BLOCK_MAGIC)
        if at >= 0:  # a file with blocks but no tree end marker
            return data[:at]
        if len(chunk) < step:  # end of file: a tree-only file
            return data
        step = max(MIN_STEP, len(data) // 5)


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
