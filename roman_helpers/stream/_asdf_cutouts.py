"""Cut-outs of ASDF arrays: the tree read once, only the bytes (or lz4 chunks) of the rows fetched.

Private to :mod:`roman_helpers.stream`.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import _asdf_layout, _fits_layout, _provenance, _wcs
from .._fits_layout import HEADER_BLOCK
from ..errors import InvalidParameterError
from ._metadata import _tree_gwcs
from ._plan import COMPANIONS, Request, plan_each
from ._remote import _MAX_CONNECTIONS, _filesystem, _translated_errors, open_asdf

__all__ = ["asdf_cutouts"]

#: Names of an ASDF array that a FITS user may type for it.
_ASDF_ALIASES = {"sci": "data"}


def _asdf_names(raw_tree: Mapping, exts: list, companions: bool, uri: str) -> list[str]:
    """The ASDF arrays asked for (``data`` for None), then its companions (err, dq) when present."""
    present = _asdf_layout.image_arrays(raw_tree)
    by_lower = {name.lower(): name for name in present}
    names = []
    for ext in exts:
        wanted = "data" if ext is None else ext
        name = None
        if isinstance(wanted, str):
            lower = wanted.lower()
            name = wanted if wanted in present else by_lower.get(_ASDF_ALIASES.get(lower, lower))
        if name is None:
            raise InvalidParameterError(
                "ext", wanted, valid=present, hint=f"{uri} is an ASDF file: name one of its 2-D arrays"
            )
        names.append(name)
    if companions:
        names += [name for name in COMPANIONS["asdf"] if name in present and name not in names]
    return names


def _asdf_pixels(
    fs: Any,
    path: str,
    uri: str,
    anon: bool | None,
    block_offset: int,
    layout: tuple,
    boxes: list[_fits_layout.Box],
    name: str,
) -> list[np.ndarray]:
    """Pixels ``[ys, xs]`` of each box of one ASDF array: only the bytes (or lz4 chunks) of their rows."""
    if not boxes:
        return []
    _source, shape, dtype, array_offset = layout
    block = _asdf_layout.block_start(fs, path, block_offset, uri)
    row_bytes = shape[1] * dtype.itemsize
    block.check_holds(array_offset, array_offset + shape[0] * row_bytes, uri, name)
    if block.compression == b"":
        return _fits_layout.fetch_rows(
            fs, path, block.data_start + array_offset, dtype, shape[1], boxes, batch_size=_MAX_CONNECTIONS
        )
    if block.compression == b"lz4":
        spans = [
            (array_offset + first * row_bytes, array_offset + end * row_bytes)
            for first, end in _fits_layout.row_spans(boxes)
        ]
        decoded = _asdf_layout.lz4_rows(fs, path, block, spans, batch_size=_MAX_CONNECTIONS, uri=uri)
        firsts = [first for first, _end in spans]
        pixels = []
        for ys, xs in boxes:
            span = bisect.bisect_right(firsts, array_offset + ys.start * row_bytes) - 1
            raw, decoded_offset = decoded[span]
            rows = np.frombuffer(
                raw,
                dtype=dtype,
                count=(ys.stop - ys.start) * shape[1],
                offset=array_offset + ys.start * row_bytes - decoded_offset,
            ).reshape(ys.stop - ys.start, shape[1])
            pixels.append(rows[:, xs])
        return pixels
    # zlib/bzp2 chunks cannot be located without decompressing: let asdf read the block, once.
    with open_asdf(uri, anon=anon) as af:
        whole = np.asarray(af.tree.get("roman", af.tree)[name])
        return [np.array(whole[ys, xs]) for ys, xs in boxes]


def asdf_cutouts(
    uri: str,
    anon: bool | None,
    requests: list[Request],
    exts: list,
    companions: bool,
    *,
    tolerant: bool = False,
) -> list[Any]:
    """Cut-outs of ASDF arrays for each request: the tree read once, the bytes of all fetched together.

    One plan per request on the science array (with the gwcs).

    Returns, for each request, its cut-outs by array name, or (``tolerant``) the error placing it met.
    """
    fs, path = _filesystem(uri, anon)
    remote = fs
    with _translated_errors(uri, anon):
        # what the tree read fetched is kept: on a small file it holds the blocks and their index too
        tree_bytes, fs = _asdf_layout.read_tree(
            remote,
            path,
            uri,
            first_step=_asdf_layout.CUTOUT_FIRST_STEP,
            open_rest=lambda: remote.open(path, "rb", cache_type="readahead", block_size=HEADER_BLOCK),
        )
        raw_tree = _asdf_layout.raw_tree(tree_bytes, uri)
        names = _asdf_names(raw_tree, exts, companions, uri)
        layouts = {name: _asdf_layout.image_layout(raw_tree, uri, name) for name in names}
        shape = layouts[names[0]][1]
        for slot, name in enumerate(list(names[1:]), start=1):
            if layouts[name][1] != shape:
                if slot < len(exts):
                    raise InvalidParameterError(
                        "ext",
                        name,
                        hint=f"{name} has shape {layouts[name][1]}, not the {shape} of "
                        f"{names[0]}; cut it out on its own",
                    )
                names.remove(name)  # an err or dq of another shape is no companion
        with _asdf_layout.open_tree(tree_bytes, fs, uri) as af:  # the gwcs, with its blocks if it needs them
            gwcs_wcs = _tree_gwcs(af.tree)
            provenance = _provenance.from_tree(af.tree, raw_tree, uri)  # what the pixels are, from the tree
        cuts = plan_each(shape, requests, gwcs_wcs, tolerant)
        boxes = [cut.slices_original for cut in cuts if not isinstance(cut, Exception)]
        offsets = _asdf_layout.block_offsets(fs, path, len(tree_bytes), [layouts[name][0] for name in names])
        pixels = {
            name: _asdf_pixels(fs, path, uri, anon, offsets[layouts[name][0]], layouts[name], boxes, name)
            for name in names
        }
    from ._gwcs_cutout import GwcsCutout

    results: list[Any] = []
    placed = 0
    for cut in cuts:
        if isinstance(cut, Exception):
            results.append(cut)
            continue
        ys, xs = cut.slices_original
        # the exact gwcs, made when first read: a light curve measures at the pixel placed already
        wcs = _wcs.Shifting(gwcs_wcs, xs.start, ys.start, cut.shape) if gwcs_wcs is not None else None
        here = _provenance.with_wcs_pixel_area(provenance, gwcs_wcs, *cut.center_original)
        one_request = {}
        for name in names:
            one = GwcsCutout.from_placed(
                cut, pixels[name][placed].astype(layouts[name][2].newbyteorder("=")), wcs
            )
            one.provenance = here
            one_request[name] = one
        results.append(one_request)
        placed += 1
    return results
