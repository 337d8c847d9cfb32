"""Where the YAML tree, the blocks and the lz4 chunks of an ASDF file sit in its bytes (private).

asdf reads a whole block to give any part of an array; these functions find the tree, the
block of the image and, in an lz4-compressed block, the chunks holding given rows, so that a
cut-out fetches only those.

Nothing a file states is trusted before it is checked, because the kit reads files it did not
write, by the thousand, in threads:

* the tree is refused before any YAML object is built from it when it is larger, more deeply
  nested or, through YAML aliases, larger once expanded than :data:`MAX_TREE_BYTES`,
  :data:`MAX_TREE_DEPTH`, :data:`MAX_TREE_NODES` and :data:`MAX_TREE_ALIASES` allow
  (:func:`check_tree`): a "billion laughs" tree of 2 kB would otherwise take every byte of
  memory in whatever walks it;
* a block is read only where its header says it lies within the file, and an array only where
  its block holds it (:class:`Block`);
* each lz4 chunk is checked against the sizes the file states -- its own decoded size, the other
  chunks' sizes, the block's used and data sizes -- and, when a cut-out reads the whole block,
  the block's MD5 (:func:`lz4_rows`). A disagreement raises
  :class:`~roman_helpers._s3.DamagedBytes`: the read is made again, and damage that persists is
  the file's (:func:`roman_helpers._s3.reread`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._s3 import DamagedBytes, cat_ranges
from ._threadsafe import quiet
from .errors import FileFormatError

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from asdf import AsdfFile

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
LZ4_CHUNK_HEADER = 8  # a chunk's compressed length (4 bytes, big-endian), then its decoded size (little)

#: Limits on a tree, checked on YAML's events before asdf or PyYAML build anything from it.
#: A Roman level-2 tree as roman_datamodels writes it (metadata and gwcs; the sandbox's) is about
#: 10 kB, 800 nodes, 17 levels deep, without aliases (asdf writes one where an object appears
#: twice). asdf builds a tree of a million nodes in 8 to 16 s of CPU and 0.5 to 1 GB, in each of an
#: index's threads; PyYAML and asdf build nested nodes by recursion and fail (RecursionError)
#: between 200 and 300 levels. So: 100,000 nodes (1 to 1.5 s and about 100 MB at most, over a hundred
#: times a Roman tree), 64 levels, 10,000 aliases, 16 MiB; the nodes are counted as the readers
#: walk them -- an alias counts the whole node it names, every time it is used.
MAX_TREE_BYTES = 16 * 1024 * 1024
MAX_TREE_NODES = 100_000
MAX_TREE_DEPTH = 64
MAX_TREE_ALIASES = 10_000
#: The most bytes a compressed array can expand to, per byte of the file: DEFLATE's limit (zlib,
#: 1032:1); lz4's is 255:1. An image claiming more than this times the file's size is impossible.
MAX_EXPANSION = 1032
#: numpy's byte orders of the ASDF standard's ``byteorder`` (no default guessed for another value).
_BYTEORDER = {"little": "<", "big": ">"}


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
    searched = 0  # the tree's end is not before this offset of data
    while True:
        chunk = fs.cat_file(path, start=len(data), end=len(data) + step)
        if not data and not chunk.startswith(b"#ASDF"):
            raise FileFormatError(f"{uri} is not an ASDF file (it does not start with '#ASDF')")
        data += chunk
        whole = len(chunk) < step  # the end of the file: all of it is here
        tree = _tree_in(data, searched)
        searched = max(0, len(data) - len(TREE_END[-1]))
        if len(tree if tree is not None else data) > MAX_TREE_BYTES:
            raise FileFormatError(
                f"{uri}: its ASDF tree runs past {MAX_TREE_BYTES // 2**20} MiB: not read, it is no tree "
                "asdf writes for an image (a file built to exhaust memory, or a damaged one)"
            )
        if tree is None and whole:
            raise FileFormatError(
                f"{uri} ends inside its ASDF tree (no '...' line, no block after it): the file is truncated "
                "or was not written by asdf"
            )
        if tree is not None:
            check_tree(tree, uri)
            return tree, PrefixedFile(fs, path, data, size=len(data) if whole else None, open_rest=open_rest)
        step = max(MIN_STEP, len(data) // 5)


class _Reads:
    """``cat_file`` over a file object, so that :func:`read_tree` can read an opened file."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def cat_file(self, path: str, start: int, end: int) -> bytes:
        self.handle.seek(start)
        return self.handle.read(end - start)


def check_file(handle: Any, uri: str) -> None:
    """Check the tree of an ASDF file opened for reading (:func:`check_tree`), then rewind it.

    For readers that hand the whole file to asdf or roman_datamodels: they build the tree first.
    """
    read_tree(_Reads(handle), "", uri)
    handle.seek(0)


def raw_tree(tree: bytes, uri: str) -> Mapping:
    """The tree as YAML gives it, tags kept but nothing converted (no asdf extension runs)."""
    import asdf
    import yaml

    try:
        found = asdf.util.load_yaml(io.BytesIO(tree), tagged=True)
    except yaml.YAMLError as error:
        raise not_yaml(uri, error) from error
    except Exception as error:  # asdf's reading of an untrusted tree fails in many ways
        raise _unreadable(uri, error) from error
    if not isinstance(found, Mapping):
        raise FileFormatError(f"{uri}: its ASDF tree is not a mapping: the file is damaged or not ASDF")
    return found


def _unreadable(uri: str, error: Exception) -> FileFormatError:
    return FileFormatError(
        f"{uri}: asdf cannot read its tree ({type(error).__name__}: {' '.join(str(error).split())[:200]}); "
        "the file is damaged or was not written by asdf"
    )


def not_yaml(uri: str, error: Exception) -> FileFormatError:
    """The error for a tree that YAML cannot read, with the parser's own words on what was wrong."""
    problem = getattr(error, "problem", None) or error
    return FileFormatError(
        f"{uri}: the ASDF tree is not valid YAML ({problem}); the file is damaged or was not written by asdf"
    )


@dataclass(frozen=True)
class TreeSize:
    """What :func:`check_tree` counted: YAML events read, and the tree they describe.

    ``nodes`` counts every mapping, sequence and scalar as a reader walking the tree meets it:
    an alias counts the whole node it names, each time. ``depth`` is the deepest nesting so met.
    """

    events: int
    nodes: int
    depth: int
    aliases: int


def check_tree(tree: bytes, uri: str) -> TreeSize:
    r"""Refuse a tree too large, too deep or too large once its aliases are expanded; else count it.

    YAML's events are read one at a time (libyaml's parser, as asdf uses) and nothing is built
    from them: memory stays that of the deepest open node and the anchors' counts, and the walk
    stops at the first event over a limit (:data:`MAX_TREE_NODES`, :data:`MAX_TREE_DEPTH`,
    :data:`MAX_TREE_ALIASES`), so a "billion laughs" of a few kB costs a few hundred events.

    Raises
    ------
    FileFormatError
        Naming the file and the limit it passed, or the YAML error.

    Examples
    --------
    >>> check_tree(b"roman: {meta: {band: F158, detectors: &d [1, 2]}, again: *d}", "s3://b/ok.asdf")
    TreeSize(events=21, nodes=15, depth=5, aliases=1)
    >>> laughs = b"a: &a [x, x, x, x, x, x, x, x, x, x]\n" + b"".join(
    ...     b"%c: &%c [" % (c, c) + b", ".join([b"*%c" % (c - 1)] * 10) + b"]\n" for c in b"bcdefg"
    ... )
    >>> check_tree(laughs, "s3://b/laughs.asdf")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    roman_helpers.errors.FileFormatError: s3://b/laughs.asdf: its ASDF tree has more than 100,000 nodes, ...
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when present, as asdf
    anchored: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, height) of the node it names
    open_nodes: list[list[Any]] = []  # [anchor, nodes counted when it opened, height below it]
    events = nodes = deepest = aliases = 0

    def met(count: int, height: int) -> None:
        """A node of ``count`` nodes and ``height`` levels was met inside the open ones."""
        nonlocal nodes, deepest
        nodes += count
        deepest = max(deepest, len(open_nodes) + height)
        if open_nodes:
            open_nodes[-1][2] = max(open_nodes[-1][2], height)
        if nodes > MAX_TREE_NODES:
            raise _over(uri, f"more than {MAX_TREE_NODES:,} nodes", aliases)
        if deepest > MAX_TREE_DEPTH:
            raise _over(uri, f"nodes nested more than {MAX_TREE_DEPTH} levels deep", aliases)

    try:
        for event in yaml.parse(io.BytesIO(tree), Loader=loader):
            events += 1
            if isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_TREE_ALIASES:
                    raise _over(uri, f"more than {MAX_TREE_ALIASES:,} aliases", aliases)
                if event.anchor not in anchored:  # inside the node it names, or never named
                    raise FileFormatError(
                        f"{uri}: its ASDF tree uses the alias *{event.anchor} inside the node it names "
                        "(a tree that contains itself) or before naming it: not read"
                    )
                met(*anchored[event.anchor])
            elif isinstance(event, yaml.ScalarEvent):
                if event.anchor:
                    anchored[event.anchor] = (1, 1)
                met(1, 1)
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                anchored.pop(event.anchor or "", None)  # a name used again names the new node
                open_nodes.append([event.anchor, nodes, 0])
                met(1, 0)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                anchor, before, below = open_nodes.pop()
                if anchor:
                    anchored[anchor] = (nodes - before, below + 1)
                if open_nodes:
                    open_nodes[-1][2] = max(open_nodes[-1][2], below + 1)
    except yaml.YAMLError as error:
        raise not_yaml(uri, error) from error
    return TreeSize(events, nodes, deepest, aliases)


def _over(uri: str, what: str, aliases: int) -> FileFormatError:
    through = f", through {aliases:,} YAML aliases" if aliases else ""
    return FileFormatError(
        f"{uri}: its ASDF tree has {what}{through}, more than any image's metadata holds: not read "
        "(a tree built to exhaust memory, or a damaged one)"
    )


def _tree_in(data: bytes, start: int = 0) -> bytes | None:
    """The header and tree at the start of ``data``, or None while its end is not in ``data``.

    ``start``: no end marker begins before it (an earlier, shorter ``data`` had none).
    """
    for marker in TREE_END:
        at = data.find(marker, start)
        if at >= 0:
            return data[: at + len(marker)]
    at = data.find(BLOCK_MAGIC, start)
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
    try:
        shape = tuple(int(n) for n in node["shape"])
        dtype = np.dtype(node["datatype"]).newbyteorder(_BYTEORDER[node.get("byteorder", "little")])
        offset = int(node.get("offset", 0))
    except (TypeError, ValueError, KeyError) as error:
        raise FileFormatError(
            f"{uri}: roman.{name} has no shape, type, byte order or offset numpy can read ({error})"
        ) from None
    if len(shape) != 2 or node.get("strides") is not None:
        raise FileFormatError(f"{uri}: roman.{name} has shape {shape}; a contiguous 2-D image is needed")
    if min(*shape, offset, node["source"]) < 0:
        raise FileFormatError(f"{uri}: roman.{name} has a negative shape, offset or block number")
    return node["source"], shape, dtype, offset


def check_claimed_bytes(shape: tuple[int, ...], itemsize: int, file_size: int, uri: str, name: str) -> None:
    """Refuse an array that claims more bytes than any compression of the file could hold.

    For readers that do not read the array's block (an index reads the tree alone): the array's
    bytes cannot exceed the file's size times :data:`MAX_EXPANSION`.
    """
    claimed = math.prod(int(n) for n in shape) * itemsize
    if claimed > file_size * MAX_EXPANSION:
        raise FileFormatError(
            f"{uri}: roman.{name} claims {' x '.join(str(n) for n in shape)} pixels ({claimed:,} bytes), "
            f"more than its {file_size:,}-byte file can hold even compressed ({MAX_EXPANSION}:1 at most)"
        )


def block_offsets(fs: Any, path: str, tree_end: int, sources: list[int]) -> dict[int, int]:
    """Offsets of blocks ``sources``: from the block index at the end, else by walking headers."""
    import yaml

    tail = fs.cat_file(path, start=-4096)
    at = tail.rfind(INDEX_HEADER)
    if at >= 0:
        try:
            offsets = yaml.safe_load(tail[at:].split(b"\n", 1)[1].decode())
            if isinstance(offsets, list) and len(offsets) > max(sources):
                found = {source: int(offsets[source]) for source in sources}
                if all(offset >= tree_end for offset in found.values()):
                    return found
        except (yaml.YAMLError, ValueError, IndexError, TypeError, UnicodeDecodeError):
            pass  # a broken index: walk the block headers instead, as asdf does
    found, offset = {0: tree_end}, tree_end
    for number in range(1, max(sources) + 1):
        magic_and_size = fs.cat_file(path, start=offset, end=offset + 6 + BLOCK_HEADER.size)
        if len(magic_and_size) < 6 + BLOCK_HEADER.size or magic_and_size[:4] != BLOCK_MAGIC:
            raise FileFormatError(
                f"s3://{path}: no ASDF block {number - 1} at byte {offset}: the file is truncated or damaged"
            )
        header_size = struct.unpack(">H", magic_and_size[4:6])[0]
        allocated = BLOCK_HEADER.unpack(magic_and_size[6 : 6 + BLOCK_HEADER.size])[2]
        offset += 6 + header_size + allocated
        found[number] = offset
    return {source: found[source] for source in sources}


def block_offset(fs: Any, path: str, tree_end: int, source: int) -> int:
    """Offset of block ``source`` (see :func:`block_offsets`)."""
    return block_offsets(fs, path, tree_end, [source])[source]


@dataclass(frozen=True)
class Block:
    """An ASDF block as its header states it.

    Attributes
    ----------
    offset : int
        Where the block (its magic) starts in the file.
    data_start : int
        Where its data start.
    compression : bytes
        ``b""``, ``b"lz4"``, ``b"zlib"``, ``b"bzp2"``.
    used : int
        Bytes of data stored (compressed).
    data_size : int
        Bytes once decoded.
    checksum : bytes
        MD5 of the used bytes, or 16 zero bytes when the writer gave none.
    first_data : bytes
        The first data bytes, read with the header (in an lz4 block, the first chunk's header).
    """

    offset: int
    data_start: int
    compression: bytes
    used: int
    data_size: int
    checksum: bytes
    first_data: bytes

    def check_holds(self, start: int, end: int, uri: str, name: str) -> None:
        """Refuse decoded bytes ``[start, end)`` of an array outside what the block holds."""
        if end > self.data_size:
            raise FileFormatError(
                f"{uri}: roman.{name} needs bytes up to {end:,} of its block, which holds "
                f"{self.data_size:,}: the tree and the block disagree (a damaged file)"
            )


def block_start(fs: Any, path: str, offset: int, uri: str) -> Block:
    """Read the header of the block at ``offset`` and check it against itself and the file.

    One read covers the block magic, header size, header and the first 8 bytes of data (in
    an lz4 block, the first chunk's header).
    """
    head = fs.cat_file(path, start=offset, end=offset + 6 + BLOCK_HEADER.size + LZ4_CHUNK_HEADER)
    if head[:4] != BLOCK_MAGIC:
        raise FileFormatError(f"{uri}: no ASDF block at offset {offset}")
    header_size = struct.unpack(">H", head[4:6])[0] if len(head) >= 6 else 0
    if len(head) < 6 + BLOCK_HEADER.size or header_size < BLOCK_HEADER.size:
        raise FileFormatError(
            f"{uri}: the file ends inside the header of the ASDF block at byte {offset}: it is truncated"
            if len(head) < 6 + BLOCK_HEADER.size
            else f"{uri}: the ASDF block at byte {offset} has a header of {header_size} bytes, "
            f"less than the standard's {BLOCK_HEADER.size}: a damaged file"
        )
    _flags, compression, allocated, used, data_size, checksum = BLOCK_HEADER.unpack(
        head[6 : 6 + BLOCK_HEADER.size]
    )
    compression = compression.rstrip(b"\0")
    if used > allocated or (compression == b"" and used != data_size):
        raise FileFormatError(
            f"{uri}: the header of the ASDF block at byte {offset} contradicts itself ({used:,} bytes "
            f"used of {allocated:,} allocated, {data_size:,} once decoded): a damaged file"
        )
    first_data = head[6 + header_size :] if header_size == BLOCK_HEADER.size else b""
    return Block(offset, offset + 6 + header_size, compression, used, data_size, checksum, first_data)


@dataclass
class _Chunk:
    """One lz4 chunk as the walk found it: where it starts, and the sizes its header states."""

    position: int
    compressed: int
    decoded: int

    @property
    def payload(self) -> tuple[int, int]:
        return self.position + 4, self.position + 4 + self.compressed


def _chunk_at(fs: Any, path: str, block: Block, position: int, header: bytes, uri: str) -> _Chunk:
    """The chunk whose header is at ``position``, checked against the block."""
    end_of_data = block.data_start + block.used
    if position + LZ4_CHUNK_HEADER > end_of_data:
        raise DamagedBytes(
            f"an lz4 chunk would start at byte {position:,}, past the end of its block's "
            f"{block.used:,} bytes (byte {end_of_data:,}): the chunks' lengths do not add up"
        )
    if len(header) < LZ4_CHUNK_HEADER:
        header = fs.cat_file(path, start=position, end=position + LZ4_CHUNK_HEADER)
        if len(header) < LZ4_CHUNK_HEADER:
            raise FileFormatError(
                f"{uri}: the file ends inside an lz4 chunk's header, at byte {position:,}: it is truncated"
            )
    chunk = _Chunk(position, struct.unpack(">I", header[:4])[0], struct.unpack("<I", header[4:8])[0])
    if chunk.compressed <= 4 or chunk.payload[1] > end_of_data or chunk.decoded == 0:
        raise DamagedBytes(
            f"the lz4 chunk at byte {position:,} states {chunk.compressed:,} bytes compressed and "
            f"{chunk.decoded:,} decoded, which its block ({block.used:,} bytes from byte "
            f"{block.data_start:,}) cannot hold"
        )
    return chunk


def _walk_rest(fs: Any, path: str, block: Block, chunks: list[_Chunk], uri: str) -> None:
    """Walk the remaining chunk headers; the sizes must add up to what the block header states.

    Used when the chunks walked so far are not of one size (asdf writes equal chunks, the last
    one shorter): either another writer's layout, or a damaged size. The whole block decides.
    """
    last = chunks[-1]
    position, produced = last.payload[1], sum(chunk.decoded for chunk in chunks)
    while position < block.data_start + block.used and produced <= block.data_size:
        chunk = _chunk_at(fs, path, block, position, b"", uri)
        position, produced = chunk.payload[1], produced + chunk.decoded
    if position != block.data_start + block.used or produced != block.data_size:
        raise DamagedBytes(
            f"the lz4 chunks of the block at byte {block.offset:,} are not of one size, and their sizes "
            f"add up to {produced:,} bytes decoded, where the block header states {block.data_size:,}"
        )


def lz4_rows(
    fs: Any, path: str, block: Block, spans: list[tuple[int, int]], *, batch_size: int, uri: str
) -> list[tuple[bytes, int]]:
    """Fetch and decode only the lz4 chunks covering decoded bytes ``[first, last)`` of each span.

    The chunks any span needs are fetched together, each once, however many spans lie in it
    (the stamps of many targets in one image).

    asdf's lz4 stream is a sequence of chunks, each a 4-byte big-endian compressed length
    followed by an ``lz4.block`` payload whose own first 4 bytes (little-endian) give the
    decoded size. There is no chunk index, so the headers are walked with 8-byte reads.

    Every size is checked before it is used: a chunk must lie within the block's used bytes and
    decode to the size it states; the chunks walked must have asdf's one chunk size (else the
    whole block's headers are walked and must add up to the block header's sizes); and a cut-out
    that decodes the whole block checks the block's MD5. A disagreement raises
    :class:`~roman_helpers._s3.DamagedBytes`.

    Returns
    -------
    list of tuple
        For each span, the decoded bytes of the chunks that hold it, and the decoded offset of
        their first byte.
    """
    import lz4.block

    position, produced = block.data_start, 0
    walked: list[_Chunk] = []
    wanted: list[_Chunk] = []
    starts: list[int] = []  # the decoded offset of each chunk wanted
    last = max((end for _first, end in spans), default=0)
    header = block.first_data
    while produced < last:
        chunk = _chunk_at(fs, path, block, position, header, uri)
        walked.append(chunk)
        if any(first < produced + chunk.decoded and produced < end for first, end in spans):
            starts.append(produced)
            wanted.append(chunk)
        position, produced, header = chunk.payload[1], produced + chunk.decoded, b""
    whole = position == block.data_start + block.used and produced == block.data_size
    if any(chunk.decoded != walked[0].decoded for chunk in walked[:-1]) or (
        not whole and walked[-1].decoded != walked[0].decoded
    ):
        _walk_rest(fs, path, block, walked, uri)
    if produced > block.data_size:
        raise DamagedBytes(
            f"the lz4 chunks of the block at byte {block.offset:,} decode to more than the "
            f"{block.data_size:,} bytes its header states"
        )
    payloads = cat_ranges(
        fs,
        [path] * len(wanted),
        [chunk.payload[0] for chunk in wanted],
        [chunk.payload[1] for chunk in wanted],
        batch_size=batch_size,
    )
    decoded = []
    for chunk, payload in zip(wanted, payloads, strict=True):
        if len(payload) != chunk.compressed:
            raise FileFormatError(
                f"{uri}: the file ends inside the lz4 chunk at byte {chunk.position:,}: it is truncated"
            )
        try:
            piece = lz4.block.decompress(payload)
        except lz4.block.LZ4BlockError as error:
            raise DamagedBytes(
                f"the lz4 chunk at byte {chunk.position:,} does not decode ({error})"
            ) from None
        if len(piece) != chunk.decoded:  # pragma: no cover - lz4.block checks its own size
            raise DamagedBytes(f"the lz4 chunk at byte {chunk.position:,} decodes to {len(piece):,} bytes")
        decoded.append(piece)
    if whole and len(wanted) == len(walked) and any(block.checksum):  # every chunk is here
        # asdf 4 and older wrote the MD5 of a compressed block's decoded data, newer asdf that of
        # its stored bytes (as asdf reads it back): files of both kinds are in the archives.
        stored = b"".join(struct.pack(">I", len(payload)) + payload for payload in payloads)
        sums = (
            hashlib.md5(stored, usedforsecurity=False),
            hashlib.md5(b"".join(decoded), usedforsecurity=False),
        )
        if block.checksum not in {digest.digest() for digest in sums}:
            raise DamagedBytes(f"the block at byte {block.offset:,} does not match the MD5 its header states")
    result = []
    for first, end in spans:
        held = [
            i
            for i, (start, chunk) in enumerate(zip(starts, wanted, strict=True))
            if first < start + chunk.decoded and start < end
        ]
        result.append((b"".join(decoded[i] for i in held), starts[held[0]] if held else first))
    return result


# --------------------------------------------------------------------------- the tree, read by asdf


def wcs_node(tree: Mapping) -> Any:
    """The WCS of a Roman tree: ``roman.meta.wcs`` (level 2), else ``roman.wcs``; None if neither.

    As asdf gave it: a ``gwcs.WCS``, or a tagged node it could not turn into one.
    """
    roman = tree.get("roman", tree)
    if not isinstance(roman, Mapping):
        return None
    meta = roman.get("meta")
    found = meta.get("wcs") if isinstance(meta, Mapping) else None
    return found if found is not None else roman.get("wcs")


def _asdf_open(source: Any, uri: str) -> AsdfFile:
    """asdf's reading of a file (tree and, lazily, blocks), its failures on a damaged one in our words.

    asdf, its extensions and gwcs raise whatever a damaged tree makes them meet (KeyError,
    ValueError, their own errors); a failure of the store (an ``OSError`` or one of the kit's) is
    left for the caller, which translates it.
    """
    import asdf
    import yaml

    with quiet():  # without its blocks, asdf warns about the arrays it cannot reach
        try:
            return asdf.open(source, lazy_load=True, memmap=False)
        except yaml.YAMLError as error:
            raise not_yaml(uri, error) from error
        except (OSError, FileFormatError, DamagedBytes):
            raise
        except Exception as error:  # a damaged tree: see above
            raise _unreadable(uri, error) from error


def _wcs_needs_blocks(tree: Mapping) -> bool:
    node = wcs_node(tree)
    return node is not None and not hasattr(node, "forward_transform")


@contextlib.contextmanager
def open_tree(tree: bytes, file: PrefixedFile, uri: str) -> Iterator[AsdfFile]:
    """asdf's reading of a file's tree, tagged objects converted; blocks read only for its WCS.

    The one reader of an ASDF file's WCS, for cut-outs, metadata and the index alike. The tree
    alone is enough for roman_datamodels files (their gwcs keeps its arrays in the tree); a file
    written by plain asdf keeps them in binary blocks, and only then is the file opened with its
    blocks, through ``file`` (its first bytes already in memory, the rest read on demand).

    Yields
    ------
    asdf.AsdfFile
        Open until the block ends; arrays of the tree-only reading are not readable.

    Raises
    ------
    FileFormatError
        When the WCS cannot be read even with its blocks.
    """
    try:
        af: AsdfFile | None = _asdf_open(io.BytesIO(tree), uri)
    except FileFormatError as error:
        # asdf 4 converts a gwcs at once, and a converter asking for an array in a block the
        # tree alone does not have meets an IndexError (asdf 5 and newer leave the node as it is)
        if not isinstance(error.__cause__, IndexError):
            raise
        af = None
    if af is None or _wcs_needs_blocks(af.tree):
        if af is not None:
            af.close()
        af = _asdf_open(file, uri)
        if _wcs_needs_blocks(af.tree):
            af.close()
            raise FileFormatError(
                f"{uri}: the WCS at roman.meta.wcs or roman.wcs is not a gwcs that this installation can read"
            )
    with af:
        _check_gwcs(wcs_node(af.tree), uri)
        yield af


def _check_gwcs(gwcs_wcs: Any, uri: str) -> None:
    """Use a gwcs once, at its pixel (0, 0), so that one a damaged tree made fails here.

    A frame it cannot name, a unit that is none: not later, in a reader that expects a position
    on the sky.
    """
    if gwcs_wcs is None:
        return
    try:
        gwcs_wcs.pixel_to_world(0.0, 0.0)
    except Exception as error:  # gwcs and astropy on an untrusted object: any of their errors
        raise FileFormatError(
            f"{uri}: its gwcs cannot be used ({type(error).__name__}: {' '.join(str(error).split())[:200]}); "
            "the file is damaged"
        ) from error
