"""Cut-outs of FITS images: headers walked, one plan on the science image, only its rows fetched (private)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import _fits_layout, _provenance, _wcs
from ..errors import InvalidParameterError
from ._plan import COMPANIONS, Request, plan
from ._remote import _MAX_CONNECTIONS, GZIP_BLOCK, _filesystem, _kind, _open_remote, _translated_errors

__all__ = ["fits_cutouts"]


def _fits_hdu_key(index: int, name: str) -> int | str:
    return name or index


def _select_hdus(
    hdus: Iterator, exts: list, companions: bool, uri: str, primary: list | None = None
) -> Iterator[tuple[int, int | str, Any, int]]:
    """Pick the HDUs of a cut-out from ``(index, name, header, data offset)`` as they are walked.

    Yields ``(slot, key, header, data offset)``: slot 0 is the science image (``exts[0]``; None
    for the first 2-D image), then the other ``exts`` in order, then companions (ERR, DQ) when
    asked for. Stops walking as soon as everything wanted is found. The primary header, walked
    on the way, is appended to ``primary`` when given (it describes the exposure).
    """
    found: dict[int, Any] = {}
    companion_names = list(COMPANIONS["fits"]) if companions else []
    seen: list[str] = []
    for index, name, header, data_offset in hdus:
        seen.append(name)
        if index == 0 and primary is not None:
            primary.append(header)
        image = header.get("NAXIS") == 2 and header.get("XTENSION", "IMAGE").strip() == "IMAGE"
        for slot, ext in enumerate(exts):
            if slot not in found and (
                (ext is None and image) or ext == index or (isinstance(ext, str) and ext.upper() == name)
            ):
                if not image:
                    raise InvalidParameterError(
                        "ext", ext, hint=f"HDU {index} ({name or 'no name'}) of {uri} is not a 2-D image"
                    )
                found[slot] = index
                yield slot, _fits_hdu_key(index, name), header, data_offset
                break
        else:
            if image and name in companion_names:
                companion_names.remove(name)
                yield len(exts), name, header, data_offset
        if len(found) == len(exts) and not companion_names:
            return
    missing = [ext for slot, ext in enumerate(exts) if slot not in found]
    if missing:
        raise InvalidParameterError(
            "ext",
            missing[0],
            valid=list(range(len(seen))) + [n for n in seen if n],
            hint=f"{uri} has {len(seen)} HDUs" if missing[0] is not None else f"{uri} has no 2-D image HDU",
        )


class _Placement:
    """One cut-out's plan: placed on the science image (slot 0), then checked against each other HDU."""

    def __init__(self, request: Request, exts: list, uri: str) -> None:
        self.request, self.exts, self.uri = request, exts, uri
        self.cut: Any = None
        self.shape: tuple[int, int] | None = None
        self.primary: list = []  # the primary header, once walked

    def wanted(self, slot: int, key: int | str, header: Any) -> bool:
        """Plan on the science image (slot 0); say whether this HDU's rows are to be read."""
        shape = _fits_layout.image_layout(header)[0]
        if slot == 0:
            self.cut, self.shape = plan(shape, self.request, _wcs.celestial(header, self.uri)), shape
            return True
        if shape == self.shape:
            return True
        if slot < len(self.exts):  # asked for by name: say why not
            raise InvalidParameterError(
                "ext",
                key,
                hint=f"HDU {key} has shape {shape}, not the {self.shape} of the "
                "science image; cut it out on its own",
            )
        return False  # an ERR or DQ of another shape is no companion

    def forward_rows(
        self, reader: _fits_layout.ForwardReader, header: Any, data_offset: int, uri: str
    ) -> np.ndarray:
        shape, dtype = _fits_layout.image_layout(header)
        ys, xs = self.cut.slices_original
        return _fits_layout.read_rows_forward(reader, data_offset, dtype, shape[1], ys, xs, uri)


#: What is read of one HDU: its slot (0 for the science image), its key, its header, its raw pixels.
_Picked = tuple[int, Any, Any, np.ndarray]


def fits_cutouts(uri: str, anon: bool | None, request: Request, exts: list, companions: bool) -> dict:
    """Cut-outs of FITS HDUs: headers walked, one plan on the science image, rows fetched."""
    placement = _Placement(request, exts, uri)
    read = _read_gzip if _kind(uri) == "fits.gz" else _read_ranges
    picked = sorted(read(uri, anon, placement, companions), key=lambda entry: entry[0])
    # what the file says about the pixels, from the headers walked to reach them: no other request
    science = picked[0][2]
    provenance = _provenance.from_headers([science, *(h for h in placement.primary if h is not science)], uri)
    provenance = _provenance.with_wcs_pixel_area(provenance, placement.cut.wcs, *placement.cut.center_cutout)
    result = {}
    for _slot, key, header, raw in picked:
        one = copy.copy(placement.cut)
        one.data = _fits_layout.scaled(np.array(raw), header)
        one.provenance = provenance
        result[key] = one
    return result


def _read_gzip(uri: str, anon: bool | None, placement: _Placement, companions: bool) -> list[_Picked]:
    """One forward pass: rows are read as the stream passes them (a gzip stream cannot go back).

    An HDU asked for before the science image is read in a second pass, once the plan is known.
    """
    picked, late = [], []
    with (
        _open_remote(uri, anon, cache_type="readahead", block_size=GZIP_BLOCK) as (_fs, _path, handle),
        _fits_layout.CheckedGzipFile(handle, uri) as stream,
    ):
        reader = _fits_layout.ForwardReader(stream)
        hdus = _fits_layout.walk_hdus(reader, uri)
        for slot, key, header, data_offset in _select_hdus(
            hdus, placement.exts, companions, uri, placement.primary
        ):
            if slot != 0 and placement.cut is None:  # before the science image
                late.append((slot, key, header, data_offset))
            elif placement.wanted(slot, key, header):
                picked.append((slot, key, header, placement.forward_rows(reader, header, data_offset, uri)))
    if late:
        with (
            _open_remote(uri, anon, cache_type="readahead", block_size=GZIP_BLOCK) as (_fs, _path, handle),
            _fits_layout.CheckedGzipFile(handle, uri) as stream,
        ):
            reader = _fits_layout.ForwardReader(stream)
            picked.extend(
                (slot, key, header, placement.forward_rows(reader, header, data_offset, uri))
                for slot, key, header, data_offset in late
                if placement.wanted(slot, key, header)
            )
    return picked


def _read_ranges(uri: str, anon: bool | None, placement: _Placement, companions: bool) -> list[_Picked]:
    """No HEAD and no file object: ranged GETs for the headers, then all rows of all HDUs at once."""
    fs, path = _filesystem(uri, anon)
    with _translated_errors(uri, anon):
        hdus = _fits_layout.walk_hdus(_fits_layout.RangeReader(fs, path), uri)
        chosen = sorted(
            _select_hdus(hdus, placement.exts, companions, uri, placement.primary), key=lambda entry: entry[0]
        )
        chosen = [entry for entry in chosen if placement.wanted(*entry[:3])]
        ys, xs = placement.cut.slices_original
        images = []
        for _slot, _key, header, data_offset in chosen:
            shape, dtype = _fits_layout.image_layout(header)
            images.append((data_offset, dtype, shape[1]))
        pixels = _fits_layout.fetch_images(fs, path, images, ys, xs, batch_size=_MAX_CONNECTIONS)
    return [(slot, key, header, raw) for (slot, key, header, _o), raw in zip(chosen, pixels, strict=True)]
