"""ASDF files whose arrays are made on demand: the YAML tree written by asdf, blocks laid out here.

An :class:`AsdfObject` is the file asdf (or roman_datamodels) would write for a tree whose
arrays are full size: the tree's bytes exactly as the library writes them, then one block per
array, then the block index. Blocks are uncompressed or lz4 in asdf's own framing with
*literal-only* LZ4 blocks, so every block's size and offset is a closed-form function of the
array's length and a read produces only the rows it overlaps (see :class:`AsdfObject`).

Examples
--------
>>> import numpy as np
>>> from roman_helpers.sandbox.archive.objects import ArraySpec
>>> rows = lambda y0, y1: np.add.outer(np.arange(y0, y1), np.arange(4088)).astype("float32")
>>> item = AsdfObject("image.asdf", {"data": ArraySpec("float32", (4088, 4088), rows)})
>>> item.size - len(item.tree_bytes)  # one lz4 block (about 0.4 % framing) and the index; no pixel made
67109373
>>> item.tree_bytes.splitlines()[:2]
[b'#ASDF 1.0.0', b'#ASDF_STANDARD 1.6.0']
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import re
import struct
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np

from roman_helpers.sandbox.archive.objects import (
    DEFAULT_CONTENT_TYPE,
    GENERATED_DATE,
    ArraySpec,
    GeneratedObject,
    Pieces,
)

__all__ = [
    "LZ4_CHUNK",
    "AsdfObject",
    "block_used_size",
    "file_size",
    "inline_tagged",
    "lz4_literal_chunk_header",
    "sort_history",
    "tagged_table",
    "tree_allotment",
]

#: Uncompressed bytes per lz4 chunk, as asdf's lz4 compressor splits a block.
LZ4_CHUNK = 1 << 22
_BLOCK_MAGIC = b"\xd3BLK"
_BLOCK_HEADER = struct.Struct(">HI4sQQQ16s")  # header size, then asdf's 48-byte block header

Path = tuple[str | int, ...]


def lz4_literal_chunk_header(length: int) -> bytes:
    """The bytes before ``length`` literal bytes in one chunk of an lz4 ASDF block.

    asdf frames each chunk as a 4-byte big-endian length, then what ``lz4.block.compress``
    returns: the 4-byte little-endian uncompressed size and an LZ4 block. A literal-only LZ4
    block is one token (literal length in its high nibble, 15 meaning "more bytes follow"), the
    extra length bytes (255 each, then the remainder) and the literals themselves (LZ4 block
    format: the last sequence holds only literals).

    Examples
    --------
    >>> import lz4.block
    >>> data = bytes(range(200)) * 3
    >>> chunk = lz4_literal_chunk_header(len(data)) + data
    >>> lz4.block.decompress(chunk[4:]) == data
    True
    """
    if length >= 15:
        extra = length - 15
        token = bytes([0xF0]) + b"\xff" * (extra // 255) + bytes([extra % 255])
    else:
        token = bytes([length << 4])
    return struct.pack(">I", 4 + len(token) + length) + struct.pack("<I", length) + token


_HISTORY = re.compile(
    rb"\nhistory:\n  extensions:\n((?:  - !core/extension_metadata-1\.0\.0\n(?:    [^\n]*\n)+)+)"
)
_HISTORY_ENTRY = re.compile(rb"  - !core/extension_metadata-1\.0\.0\n(?:    [^\n]*\n)+")
_FILE_DATE = re.compile(rb"(file_date: [^\n]*?value: ')([^']*)(')")


def sort_history(tree: bytes) -> bytes:
    r"""Sort the ``history.extensions`` entries of an ASDF tree, so equal inputs give equal bytes.

    asdf lists the extensions a file used by iterating over a set, so their order changes from
    one process to the next. Sorting keeps the tree's length.

    Parameters
    ----------
    tree : bytes
        The YAML tree (or the head of a file holding it).

    Returns
    -------
    bytes

    Examples
    --------
    >>> entry = b"  - !core/extension_metadata-1.0.0\n    extension_uri: %s\n"
    >>> tree = b"x: 1\nhistory:\n  extensions:\n" + entry % b"b" + entry % b"a"
    >>> sort_history(tree).split(b"extension_uri: ")[1][:1]
    b'a'
    """
    end = tree.find(b"\n...\n")
    match = _HISTORY.search(tree, 0, end if end > 0 else len(tree))
    if match is None:
        return tree
    entries = _HISTORY_ENTRY.findall(match.group(1))
    ordered = b"".join(sorted(entries))
    if len(ordered) != len(match.group(1)):
        return tree  # a layout we do not know: leave it
    return tree[: match.start(1)] + ordered + tree[match.end(1) :]


class _TreeWritten(Exception):
    """Raised by :class:`_TreeSink` when asdf starts writing blocks."""


class _TreeSink(io.RawIOBase):
    """A write-only, non-seekable file that keeps the YAML tree and stops asdf at the first block.

    Why: the tree of a file with full-size arrays is what we need, and asdf writes it before any
    block; stopping at the first block magic means no array is read, compressed or checksummed.
    ``__fspath__`` gives the file's name: ``DataModel.to_asdf`` records the name of the path it
    is given in ``meta.filename`` (and passes the object itself on to ``AsdfFile.write_to``,
    which writes to any binary file object).
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name
        self.tree = bytearray()

    def __fspath__(self) -> str:
        return self._name

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if bytes(view[:4]) == _BLOCK_MAGIC:
            raise _TreeWritten
        self.tree += view
        return view.nbytes


def _is_datamodel(tree: Any) -> bool:
    return hasattr(tree, "to_asdf") and hasattr(tree, "meta")


def _with_placeholders(node: Any, path: Path, found: dict[Path, ArraySpec], threshold: int | None) -> Any:
    """A copy of a plain tree with each ArraySpec replaced by an array of its dtype and shape.

    Tagged nodes (:func:`tagged_table`, :func:`inline_tagged`) keep their tags.
    """
    from asdf.tagged import TaggedDict, TaggedList

    if isinstance(node, ArraySpec):
        found[path] = node
        return _placeholder(node, threshold)
    if isinstance(node, Mapping):
        made = {key: _with_placeholders(value, (*path, key), found, threshold) for key, value in node.items()}
        return TaggedDict(made, node._tag) if isinstance(node, TaggedDict) else made
    if isinstance(node, list | tuple):
        items = [
            _with_placeholders(value, (*path, index), found, threshold) for index, value in enumerate(node)
        ]
        if isinstance(node, TaggedList):
            return TaggedList(items, node._tag)
        return items if isinstance(node, list) else tuple(items)
    return node


def inline_tagged(value: Any) -> Any:
    """The tagged tree asdf writes for ``value`` (a gwcs, a unit ...), with its arrays inline.

    Put in a plain tree given to :class:`AsdfObject`, it is written as asdf would write
    ``value`` with small arrays inline (a WCS's matrices), while the tree's other arrays stay
    blocks: the YAML of the matrices is all the tree needs, and no block of them has to be
    found again.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.modeling import models
    >>> node = inline_tagged(models.AffineTransformation2D(matrix=np.eye(2)))
    >>> node._tag.rsplit("/", 1)[1].startswith("affine-"), node["matrix"]["data"]
    (True, [[1.0, 0.0], [0.0, 1.0]])
    """
    import asdf

    out = io.BytesIO()
    with asdf.config_context() as config:
        config.array_inline_threshold = 2**62
        asdf.AsdfFile({"value": value}).write_to(out)
    return asdf.util.load_yaml(io.BytesIO(out.getvalue()), tagged=True)["value"]


@functools.cache
def _table_tags() -> tuple[str, str]:
    """The tags asdf-astropy gives an astropy Table and its columns."""
    from astropy.table import Table

    written = inline_tagged(Table({"x": [1]}))
    return written._tag, written["columns"][0]._tag


def tagged_table(columns: Mapping[str, ArraySpec], units: Mapping[str, str] | None = None) -> Any:
    """An astropy Table as asdf-astropy writes it, its columns made on demand.

    Parameters
    ----------
    columns : mapping of str to ArraySpec
        Column name to its values (1-D).
    units : mapping of str to str, optional
        Column name to unit.

    Returns
    -------
    asdf.tagged.TaggedDict
        Read back by asdf (with asdf-astropy) as an :class:`astropy.table.Table`. Each column is
        a block, whatever its length: a table whose length is known only when its file's tree
        is written then changes the tree by numbers only (see :func:`tree_allotment`).

    Examples
    --------
    >>> import numpy as np
    >>> table = tagged_table({"id": ArraySpec.from_array(np.arange(3))}, {"id": "ct"})
    >>> table["colnames"], table["columns"][0]["name"]
    (['id'], 'id')
    """
    from asdf.tagged import TaggedDict
    from astropy import units as u

    table_tag, column_tag = _table_tags()
    made = []
    for name, spec in columns.items():
        column: dict[str, Any] = {"data": spec, "name": name}
        if units and name in units:
            column["unit"] = u.Unit(units[name])
        made.append(TaggedDict(column, column_tag))
    return TaggedDict({"colnames": list(columns), "columns": made, "qtable": False}, table_tag)


def _inline_threshold(model: bool = False) -> int | None:
    """Arrays of at most this many elements asdf writes inline in the tree (None: none).

    asdf's configured threshold; for roman_datamodels' ``to_asdf``, its own default when asdf's
    is unset.
    """
    import asdf

    threshold = asdf.get_config().array_inline_threshold
    if threshold is None and model:
        from roman_datamodels.datamodels import _core

        threshold = getattr(_core, "DEFAULT_ARRAY_INLINE_THRESHOLD", None)
    return threshold


def _placeholder(spec: ArraySpec, inline_threshold: int | None) -> np.ndarray:
    """What asdf is given in place of a spec's array while it writes the tree.

    An array asdf will put in a block is ``np.empty``: the operating system maps its pages only
    when touched, and asdf is stopped before it would touch them. One small enough to be
    written inline (fewer elements than ``inline_threshold``) is made whole. :meth:`AsdfObject._blocks` checks
    that every ``np.empty`` stand-in did become a block.
    """
    if inline_threshold is not None and math.prod(spec.shape) < inline_threshold:
        return spec.materialise()
    return np.empty(spec.shape, spec.numpy_dtype)


def _resolve(root: Any, path: Path) -> Any:
    node = root
    for part in path:
        node = node[part]
    return node


def _ndarray_blocks(node: Any, path: Path = ()) -> Iterator[tuple[Path, Mapping[str, Any]]]:
    """The ndarray nodes of a tagged tree that point at a block, with their paths."""
    if isinstance(node, Mapping):
        if "ndarray" in str(getattr(node, "_tag", "")) and isinstance(node.get("source"), int):
            yield path, node
            return
        for key, value in node.items():
            yield from _ndarray_blocks(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _ndarray_blocks(value, (*path, index))


def block_used_size(nbytes: int, compression: str | None = "lz4") -> int:
    """Bytes a block of ``nbytes`` of array data takes in the file (its ``used_size``).

    Uncompressed: the data. lz4: per chunk of at most :data:`LZ4_CHUNK` bytes, the chunk's
    framing (:func:`lz4_literal_chunk_header`) and its literals.

    Examples
    --------
    >>> block_used_size(100, None), block_used_size(100)
    (100, 110)
    >>> block_used_size(0)
    0
    """
    if compression is None:
        return int(nbytes)
    full, rest = divmod(int(nbytes), LZ4_CHUNK)
    used = full * (len(lz4_literal_chunk_header(LZ4_CHUNK)) + LZ4_CHUNK)
    return used + (len(lz4_literal_chunk_header(rest)) + rest if rest else 0)


def _index(offsets: list[int]) -> bytes:
    """The block index asdf writes after the last block (``#ASDF BLOCK INDEX`` and a YAML list)."""
    import yaml
    from asdf.constants import INDEX_HEADER

    dumped = yaml.dump(
        offsets,
        Dumper=yaml.SafeDumper,
        explicit_start=True,
        explicit_end=True,
        allow_unicode=True,
        encoding="utf-8",
        version=(1, 1),
    )
    return INDEX_HEADER + b"\n" + dumped


def _block_offsets(tree_size: int, allocated: list[int]) -> list[int]:
    offsets, position = [], tree_size
    for size in allocated:
        offsets.append(position)
        position += len(_BLOCK_MAGIC) + _BLOCK_HEADER.size + size
    return offsets


def file_size(tree_size: int, blocks: list[int], compression: str | None = "lz4") -> int:
    """Length of an ASDF file laid out as :class:`AsdfObject` lays it out, without making it.

    Parameters
    ----------
    tree_size : int
        Bytes from ``#ASDF`` to the first block (the tree and any padding after it).
    blocks : list of int
        For each block, in source order, the uncompressed bytes it is laid out for: the
        array's length, or the capacity reserved for it (see ``reserve`` of :class:`AsdfObject`).
    compression : {"lz4", None}

    Returns
    -------
    int

    Examples
    --------
    >>> import numpy as np
    >>> from roman_helpers.sandbox.archive.objects import ArraySpec
    >>> item = AsdfObject("a.asdf", {"x": ArraySpec.from_array(np.zeros((3000, 200), "float32"))})
    >>> file_size(len(item.tree_bytes), [3000 * 200 * 4]) == item.size
    True
    """
    allocated = [block_used_size(n, compression) for n in blocks]
    offsets = _block_offsets(tree_size, allocated)
    end = offsets[-1] + len(_BLOCK_MAGIC) + _BLOCK_HEADER.size + allocated[-1] if offsets else tree_size
    return end + (len(_index(offsets)) if offsets else 0)


_NUMBER = re.compile(rb"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")
#: Longest YAML form of a number (a float's ``repr``: ``-1.2345678901234567e-100``) plus room
#: for the line breaks PyYAML adds when a longer value pushes a flow mapping past its width.
_NUMBER_ROOM = 32


def tree_allotment(tree: bytes) -> int:
    r"""Bytes to set aside for trees shaped like ``tree`` whose numbers may differ.

    Trees of one family (one kind of file, its strings of fixed length) differ only in their
    numbers; a number's YAML form is at most 24 characters, and a longer one may make PyYAML
    break a flow mapping once more. The allotment is the tree's length plus
    :data:`_NUMBER_ROOM` bytes per number in it, rounded up to 1 KiB: an upper bound on the
    length of any tree of the family, so files whose trees are padded to it
    (``tree_size`` of :class:`AsdfObject`) have a size known before their tree is written.

    Examples
    --------
    >>> tree_allotment(b"#ASDF 1.0.0\nx: 1.5\n...\n")
    1024
    """
    numbers = len(_NUMBER.findall(tree))
    return -(-(len(tree) + _NUMBER_ROOM * numbers) // 1024) * 1024


@dataclass(frozen=True)
class _Block:
    spec: ArraySpec
    byteorder: Literal["<", ">"]
    path: Path = ()
    reserved: int = 0  # uncompressed bytes the block is laid out for, when more than the array's


class AsdfObject(GeneratedObject):
    """An ASDF file: the tree as asdf writes it, then blocks whose bytes are made on demand.

    Parameters
    ----------
    key : str
    tree : mapping, roman_datamodels DataModel, or callable
        A plain ASDF tree in which :class:`~roman_helpers.sandbox.archive.objects.ArraySpec`
        values stand for arrays; or a DataModel, written as roman_datamodels writes it, whose
        arrays named in ``arrays`` are replaced by specs (the model itself is not changed); or
        a function returning ``(tree, arrays)``, called when the tree is first needed (so that
        an object can be listed without making its tree).
    arrays : mapping of str to ArraySpec, optional
        For a DataModel: attribute name (``"data"``, ``"dq"`` ...) to spec.
    compression : {"lz4", None}
        Block compression (roman_datamodels saves lz4).
    file_date : str, optional
        For a DataModel: ``meta.file_date`` (ISO time), which ``to_asdf`` would otherwise stamp
        with the wall-clock time. Default ``last_modified``.
    tree_size : int, optional
        Pad the tree with zero bytes to this length (the ASDF standard lets unused space follow
        the tree; asdf finds the first block after it). With every file of a family padded to
        one allotment (:func:`tree_allotment`), sizes are known before any tree is written.
    reserve : mapping of tree path to int, optional
        Blocks laid out for more bytes than their array holds (an array whose length is known
        only when the tree is written, such as a catalog of the sources on an image): tree path
        of the ndarray (``("roman", "catalogs", "stars", "columns", 0, "data")``) to the
        uncompressed bytes to lay its block out for. The block's ``allocated_size`` covers them
        and the rest is unused, as the ASDF standard allows.
    size : int, optional
        The file's size when known in advance (:func:`file_size`): :attr:`size` answers without
        writing the tree, and the layout is checked against it when the tree is written.
    extra : mapping, optional
        For a DataModel: more top-level entries beside ``roman`` (Roman I-Sim's ``romanisim``
        record). The tree is then written as Roman I-Sim writes it, by ``asdf.AsdfFile`` with
        ``{"roman": model, **extra}`` rather than by ``DataModel.to_asdf``: ``meta.filename``
        and ``meta.file_date`` stay as the model holds them (arrays of up to roman_datamodels'
        inline threshold, such as a WCS's matrices, are written inline, as ``to_asdf`` does).
        A function given as ``tree`` may return ``(tree, arrays, extra)``.
    version, last_modified, content_type
        As for :class:`~roman_helpers.sandbox.archive.objects.GeneratedObject`.

    Notes
    -----
    The tree is written by the library itself, with stand-ins of the arrays' shapes and dtypes
    (``np.empty``, never touched), into a file object that stops asdf when it starts its first
    block (:class:`_TreeSink`): the YAML is exactly the library's, and no array is made,
    compressed or checksummed. Blocks are then laid out here, in source order, as asdf lays
    them out: block magic, 48-byte header (checksum all zeros, "no checksum" in the ASDF
    standard, since one would need the whole block), data, no padding; then the block index.
    An lz4 block is asdf's framing (per 4 MiB chunk: big-endian length, little-endian size,
    LZ4 block) around literal-only LZ4 blocks, which lz4 and asdf decode like any other.

    The tree is written (about 50 ms for a roman_datamodels model) the first time the size
    (unless given) or any byte is asked for. Arrays already in the tree that asdf puts in
    blocks are served from their values; arrays written inline stay in the tree.
    """

    def __init__(
        self,
        key: str,
        tree: Any,
        arrays: Mapping[str, ArraySpec] | None = None,
        *,
        compression: str | None = "lz4",
        file_date: str | None = None,
        tree_size: int | None = None,
        reserve: Mapping[Path, int] | None = None,
        size: int | None = None,
        extra: Mapping[str, Any] | None = None,
        version: str = "1",
        last_modified: datetime = GENERATED_DATE,
        content_type: str = DEFAULT_CONTENT_TYPE,
    ) -> None:
        super().__init__(key, version=version, last_modified=last_modified, content_type=content_type)
        if compression not in ("lz4", None):
            raise ValueError(f"compression must be 'lz4' or None, not {compression!r}")
        if arrays and not _is_datamodel(tree):
            raise ValueError("arrays= is for a roman_datamodels DataModel; put ArraySpecs in a plain tree")
        self._tree = tree
        self._arrays = dict(arrays or {})
        self.compression = compression
        self.file_date = file_date or last_modified.strftime("%Y-%m-%dT%H:%M:%S.000")
        self.tree_size = tree_size
        self._reserve = dict(reserve or {})
        self._known_size = size
        self._extra = dict(extra or {})
        self._lock = threading.Lock()
        self._layout: tuple[bytes, Pieces, list[int], list[_Block]] | None = None

    # ------------------------------------------------------------------ the tree
    def _source(self) -> tuple[Any, dict[str, ArraySpec], dict[str, Any]]:
        """The tree, a DataModel's array specs and extra entries, made now if a function was given."""
        if callable(self._tree) and not _is_datamodel(self._tree):
            made = self._tree()
            tree, arrays = made[0], made[1]
            extra = made[2] if len(made) > 2 else {}
            if (arrays or extra) and not _is_datamodel(tree):
                raise ValueError(f"{self.key}: arrays and extra entries are for a roman_datamodels DataModel")
            return tree, dict(arrays or {}), dict(extra or {})
        return self._tree, self._arrays, self._extra

    def _write_tree(self) -> tuple[bytes, Any, dict[Path, ArraySpec]]:
        """The tree's bytes, the object the tree was written from, and the specs by tree path."""
        import asdf

        source, arrays, extra = self._source()
        specs: dict[Path, ArraySpec] = {}
        sink = _TreeSink(self.key.rsplit("/", 1)[-1])
        if _is_datamodel(source):
            model = source.copy()
            threshold = _inline_threshold(model=True)
            for name, spec in arrays.items():
                setattr(model, name, _placeholder(spec, threshold))
                specs[("roman", name)] = spec
            written: Any = {"roman": model}
            with contextlib.suppress(_TreeWritten), asdf.config_context() as config:
                if extra:  # as roman_datamodels would write it: small arrays (a WCS's matrices) inline
                    config.array_inline_threshold = threshold
                    written = {"roman": model, **extra}
                    asdf.AsdfFile({"roman": model._instance, **extra}).write_to(
                        sink, all_array_compression=self.compression
                    )
                else:
                    model.to_asdf(sink, all_array_compression=self.compression)
        else:
            written = _with_placeholders(source, (), specs, _inline_threshold())
            with contextlib.suppress(_TreeWritten):
                asdf.AsdfFile(written).write_to(sink, all_array_compression=self.compression)
        tree = sort_history(bytes(sink.tree))
        if _is_datamodel(source) and not extra:
            tree = _FILE_DATE.sub(lambda m: m.group(1) + self.file_date.encode() + m.group(3), tree, count=1)
        return tree, written, specs

    def _blocks(self, tree: bytes, written: Any, specs: Mapping[Path, ArraySpec]) -> list[_Block]:
        """One entry per block, in source order, checked against what the tree says."""
        import asdf

        tagged = asdf.util.load_yaml(io.BytesIO(tree), tagged=True)
        nodes = sorted(_ndarray_blocks(tagged), key=lambda found: found[1]["source"])
        blocks = []
        for expected, (path, node) in enumerate(nodes):
            if node["source"] != expected or "offset" in node or "strides" in node:
                raise ValueError(f"{self.key}: the array at {'/'.join(map(str, path))} is not a plain block")
            spec = specs.get(path) or ArraySpec.from_array(np.asarray(_resolve(written, path)))
            byteorder: Literal["<", ">"] = "<" if node.get("byteorder", "little") == "little" else ">"
            if list(spec.shape) != list(node["shape"]) or spec.numpy_dtype.newbyteorder("=") != np.dtype(
                str(node["datatype"])
            ).newbyteorder("="):
                raise ValueError(
                    f"{self.key}: the tree holds {node['datatype']} {node['shape']} at "
                    f"{'/'.join(map(str, path))}, the spec {spec.numpy_dtype} {spec.shape}"
                )
            reserved = self._reserve.get(path, 0)
            if reserved and reserved < spec.nbytes:
                raise ValueError(
                    f"{self.key}: {spec.nbytes} bytes at {'/'.join(map(str, path))}, "
                    f"but only {reserved} were reserved for them"
                )
            blocks.append(_Block(spec, byteorder, path, reserved))
        in_blocks = {block.path for block in blocks}
        unknown = set(self._reserve) - in_blocks
        if unknown:
            raise ValueError(f"{self.key}: no block at the reserved paths {sorted(map(str, unknown))}")
        inline = [path for path, spec in specs.items() if path not in in_blocks and spec.nbytes]
        model = isinstance(written, Mapping) and _is_datamodel(written.get("roman"))
        threshold = _inline_threshold(model=model)
        if any(threshold is None or math.prod(specs[path].shape) > threshold for path in inline):
            raise ValueError(f"{self.key}: asdf wrote the arrays at {inline} inline, from stand-ins")
        return blocks

    def _block_pieces(self, block: _Block) -> tuple[int, list[tuple[int, Callable[[int, int], bytes]]]]:
        """Used size and pieces of one block's data."""
        raw = block.spec.byte_reader(block.byteorder)
        size = block.spec.nbytes
        if self.compression is None:
            return size, [(size, raw)]
        pieces: list[tuple[int, Callable[[int, int], bytes]]] = []
        for start in range(0, size, LZ4_CHUNK):
            length = min(LZ4_CHUNK, size - start)
            pieces.append(Pieces.constant(lz4_literal_chunk_header(length)))
            pieces.append((length, _offset_reader(raw, start)))
        return sum(length for length, _ in pieces), pieces

    def _lay_out(self) -> tuple[bytes, Pieces, list[int], list[_Block]]:
        with self._lock:
            if self._layout is None:
                tree, written, specs = self._write_tree()
                head = tree
                if self.tree_size is not None:
                    if len(tree) > self.tree_size:
                        raise RuntimeError(
                            f"{self.key}: the tree takes {len(tree)} bytes, more than the "
                            f"{self.tree_size} set aside for it"
                        )
                    head = tree + bytes(self.tree_size - len(tree))
                pieces: list[tuple[int, Callable[[int, int], bytes]]] = [Pieces.constant(head)]
                blocks = self._blocks(tree, written, specs)
                label = b"lz4" if self.compression else b""
                laid_out = [max(block.spec.nbytes, block.reserved) for block in blocks]
                allocated = [block_used_size(n, self.compression) for n in laid_out]
                offsets = _block_offsets(len(head), allocated)
                for block, room in zip(blocks, allocated, strict=True):
                    used, data = self._block_pieces(block)
                    sizes = (room, used, block.spec.nbytes)  # allocated, used, data
                    pieces.append(
                        Pieces.constant(_BLOCK_MAGIC + _BLOCK_HEADER.pack(48, 0, label, *sizes, bytes(16)))
                    )
                    pieces += data
                    if room > used:
                        pieces.append(Pieces.zeros(room - used))
                if offsets:
                    pieces.append(Pieces.constant(_index(offsets)))
                whole = Pieces(pieces)
                expected = file_size(len(head), laid_out, self.compression)
                if whole.size != expected or (
                    self._known_size is not None and whole.size != self._known_size
                ):
                    raise RuntimeError(
                        f"{self.key}: laid out as {whole.size} bytes, but its size was given as "
                        f"{self._known_size} (closed form {expected})"
                    )
                self._layout = (tree, whole, offsets, blocks)
            return self._layout

    @property
    def tree_bytes(self) -> bytes:
        """The YAML tree, from ``#ASDF`` to the document end marker (without any padding)."""
        return self._lay_out()[0]

    @property
    def block_offsets(self) -> list[int]:
        """Offset of each block's magic, in source order."""
        return list(self._lay_out()[2])

    @property
    def block_paths(self) -> list[Path]:
        """The tree path of each block's array, in source order."""
        return [block.path for block in self._lay_out()[3]]

    @property
    def block_nbytes(self) -> list[int]:
        """Uncompressed bytes of each block's array, in source order."""
        return [block.spec.nbytes for block in self._lay_out()[3]]

    @property
    def size_is_cheap(self) -> bool:
        """True when the size was given (:func:`file_size`)."""
        return self._known_size is not None

    @property
    def size(self) -> int:
        """Length of the file: as given, else laid out (the tree is written; no array is made)."""
        if self._known_size is not None:
            return self._known_size
        return self._lay_out()[1].size

    def is_cheap(self, start: int, end: int) -> bool:
        """Whether ``[start, end)`` holds no array data: the tree, block headers, lz4 framing, the index.

        A reader walking the lz4 chunk headers of a block (asdf's framing has no chunk index)
        then costs no pixels, even when the chunk cache would make whole chunks around them.
        """
        return self._lay_out()[1].is_constant(start, end)

    def read(self, start: int, end: int) -> bytes:
        """Return bytes ``[start, end)``, producing only the array rows they overlap."""
        return self._lay_out()[1].read(start, end)


def _offset_reader(read: Callable[[int, int], bytes], offset: int) -> Callable[[int, int], bytes]:
    return lambda start, end: read(offset + start, offset + end)
