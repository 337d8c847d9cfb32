"""Cut-outs of FITS images: headers walked, one plan on the science image, only its rows fetched (private)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import _fits_layout, _provenance, _wcs
from ..errors import InvalidParameterError
from ._plan import COMPANIONS, Request, plan_each
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
    """The cut-outs' plans: placed on the science image (slot 0), then checked against each other HDU.

    ``tolerant``: a request that cannot be placed (off the image) is kept as its error, and the
    others go on; otherwise the error is raised.
    """

    def __init__(self, requests: list[Request], exts: list, uri: str, tolerant: bool) -> None:
        self.requests, self.exts, self.uri, self.tolerant = requests, exts, uri, tolerant
        self.cuts: list[Any] = []  # a Cutout2D, or the error, for each request
        self.shape: tuple[int, int] | None = None
        self.primary: list = []  # the primary header, once walked

    @property
    def placed(self) -> bool:
        return self.shape is not None

    def boxes(self) -> list[_fits_layout.Box]:
        """``(ys, xs)`` of each request that could be placed."""
        return [cut.slices_original for cut in self.cuts if not isinstance(cut, Exception)]

    def wanted(self, slot: int, key: int | str, header: Any) -> bool:
        """Plan on the science image (slot 0); say whether this HDU's rows are to be read."""
        shape = _fits_layout.image_layout(header)[0]
        if slot == 0:
            wcs = _wcs.celestial(header, self.uri)
            self.cuts = plan_each(shape, self.requests, wcs, self.tolerant)
            self.shape = shape
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
    ) -> list[np.ndarray]:
        shape, dtype = _fits_layout.image_layout(header)
        return _fits_layout.read_rows_forward(reader, data_offset, dtype, shape[1], self.boxes(), uri)

    def results(self, picked: list[_Picked], provenance: Any) -> list[Any]:
        """For each request, its cut-outs by HDU key (science first), or the error that placing it met.

        Each cut-out carries the file's ``provenance``, with the pixel area at its own centre.
        """
        picked = sorted(picked, key=lambda entry: entry[0])
        results: list[Any] = []
        placed = 0
        for cut in self.cuts:
            if isinstance(cut, Exception):
                results.append(cut)
                continue
            here = provenance and _provenance.with_wcs_pixel_area(provenance, cut.wcs, *cut.center_cutout)
            one_request = {}
            for _slot, key, header, pixels in picked:
                one = copy.copy(cut)
                one.data = _fits_layout.scaled(np.array(pixels[placed]), header)
                one.provenance = here
                one_request[key] = one
            results.append(one_request)
            placed += 1
        return results


#: What is read of one HDU: its slot (0 for the science image), its key, its header, and the raw
#: pixels of each request that could be placed.
_Picked = tuple[int, Any, Any, list[np.ndarray]]


def fits_cutouts(
    uri: str,
    anon: bool | None,
    requests: list[Request],
    exts: list,
    companions: bool,
    *,
    tolerant: bool = False,
) -> list[Any]:
    """Cut-outs of FITS HDUs for each request: headers walked once, the rows of all read together.

    One plan per request on the science image; rows fetched in one batch of ranges, or read in
    one pass of a gzip stream.

    Returns, for each request, its cut-outs by HDU key, or (``tolerant``) the error placing it met.
    """
    placement = _Placement(requests, exts, uri, tolerant)
    read = _read_gzip if _kind(uri) == "fits.gz" else _read_ranges
    picked = read(uri, anon, placement, companions)
    # what the file says about the pixels, from the headers walked to reach them: no other request
    science = [header for slot, _key, header, _raw in picked if slot == 0]
    headers = science + [h for h in placement.primary if not any(h is s for s in science)]
    provenance = _provenance.from_headers(headers, uri) if headers else None
    return placement.results(picked, provenance)


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
            if slot != 0 and not placement.placed:  # before the science image
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
        images = []
        for _slot, _key, header, data_offset in chosen:
            shape, dtype = _fits_layout.image_layout(header)
            images.append((data_offset, dtype, shape[1]))
        boxes = placement.boxes()
        pixels = _fits_layout.fetch_images(fs, path, images, boxes, batch_size=_MAX_CONNECTIONS)
    # per HDU, the pixels of each box
    by_image = [[pixels[box][image] for box in range(len(boxes))] for image in range(len(chosen))]
    return [(slot, key, header, raws) for (slot, key, header, _o), raws in zip(chosen, by_image, strict=True)]
