"""Read FITS and ASDF files straight from ``s3://`` without downloading them.

Every function here reads as few bytes as the task needs:

* headers and ``info`` read the file with a small read-ahead cache
  (:data:`HEADER_BLOCK`), not s3fs's 50 MiB default block;
* ASDF metadata reads only the YAML tree at the head of the file, in growing
  steps so that at most a fifth more than the tree is fetched;
* cut-outs of uncompressed images fetch exactly the pixels of each row of the box,
  all rows concurrently (:meth:`fsspec.AbstractFileSystem.cat_ranges`);
* cut-outs of lz4-compressed ASDF arrays (how roman_datamodels saves them) walk the
  chunk headers of the compressed block and fetch only the chunks holding the rows
  of the box, instead of asdf's whole-block read;
* cut-outs of ``.fits.gz`` files stream the compressed bytes forward once, and stop
  at the chunk holding the last row needed;
* :func:`cutouts` cuts the same region out of the science image and its ERR and DQ
  arrays with one plan, and :func:`to_hdulist` packs them, with their WCS, into a FITS file.

Boxes are ``(x0, y0, x1, y1)``, 0-based pixel corners, end exclusive
(``data[y0:y1, x0:x1]``), everywhere in the package; sizes are ``(ny, nx)`` as in
:class:`astropy.nddata.Cutout2D`, in pixels or as angles.

Public buckets are read anonymously, others with the default AWS credential
chain (see :func:`filesystem`). Files are closed when the
``with`` block or the call ends.

This module is the public reading API and the glue that plans and opens each read;
where the bytes sit is worked out in :mod:`roman_helpers._fits_layout` and
:mod:`roman_helpers._asdf_layout`.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import io
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from . import _asdf_layout, _fits_layout, _s3, _sky, _wcs, config
from ._fits_layout import HEADER_BLOCK
from ._s3 import filesystem
from ._threadsafe import quiet
from .errors import FileFormatError, InvalidParameterError
from .uris import split_uri

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from asdf import AsdfFile
    from astropy.io.fits import HDUList, Header
    from astropy.nddata import Cutout2D
    from roman_datamodels.datamodels import DataModel

__all__ = [
    "GZIP_BLOCK",
    "HEADER_BLOCK",
    "cutout",
    "cutouts",
    "filesystem",
    "info",
    "open_asdf",
    "open_datamodel",
    "open_fits",
    "read_header",
    "read_metadata",
    "to_hdulist",
]

#: Forward read size for ``.fits.gz`` (which cannot be read at random): large enough that
#: tens of MB need few round trips, small enough to bound the over-read past the last row.
GZIP_BLOCK = 2 * 1024 * 1024
#: Concurrent connections for row and chunk reads (aiobotocore's default is 10).
_MAX_CONNECTIONS = 128


# --------------------------------------------------------------------------- opening


def _filesystem(uri: str, anon: bool | None) -> tuple[Any, str]:
    bucket, key = split_uri(uri)
    if not key:
        raise InvalidParameterError("uri", uri, hint="give the URI of a file, 's3://<bucket>/<key>'")
    fs = filesystem(bucket, anon=anon, connections=_MAX_CONNECTIONS)
    return fs, f"{bucket}/{key}"


@contextlib.contextmanager
def _translated_errors(uri: str, anon: bool | None) -> Iterator[None]:
    """Turn s3fs's errors and format errors into ours, with a message that says what to do.

    S3 errors go through the kit's one translation of them (asking S3, when a HEAD answered 404,
    whether the whole bucket is missing: a person waits for this one message).
    """
    try:
        yield
    except gzip.BadGzipFile as error:
        raise FileFormatError(f"{uri} is not gzip-compressed, although its name ends in .gz") from error
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or error  # the parser's errors say what was wrong
        raise FileFormatError(
            f"{uri}: the ASDF tree is not valid YAML ({problem}); "
            "the file is damaged or was not written by asdf"
        ) from error
    except Exception as error:
        translated = _s3.translate(error, uri, anonymous=_s3.is_anonymous(uri, anon), probe=True)
        if translated is error:
            raise
        raise translated from error


@contextlib.contextmanager
def _open_remote(
    uri: str, anon: bool | None, *, cache_type: str, block_size: int
) -> Iterator[tuple[Any, str, Any]]:
    fs, path = _filesystem(uri, anon)
    with _translated_errors(uri, anon):
        handle = fs.open(path, "rb", cache_type=cache_type, block_size=block_size)
    try:
        with _translated_errors(uri, anon):
            yield fs, path, handle
    finally:
        handle.close()


def _kind(uri: str) -> str:
    name = uri.lower()
    if name.endswith((".fits.gz", ".fit.gz", ".fts.gz")):
        return "fits.gz"
    if name.endswith((".fits", ".fit", ".fts")):
        return "fits"
    if name.endswith(".asdf"):
        return "asdf"
    raise InvalidParameterError("uri", uri, hint="expected a file ending in .fits, .fits.gz or .asdf")


@contextlib.contextmanager
def open_fits(uri: str, *, anon: bool | None = None, **kwargs: Any) -> Iterator[HDUList]:
    """Open a FITS file on S3 lazily.

    Only the headers you touch are read; data is read when you access it (use
    :func:`cutout` or ``hdu.section`` for parts of large images).

    Parameters
    ----------
    uri : str
        ``s3://bucket/key`` of a ``.fits`` or ``.fits.gz`` file.
    anon : bool, optional
        Anonymous access; by default decided by the bucket
        (:func:`roman_helpers.config.is_public_bucket`).
    **kwargs
        Passed to :func:`astropy.io.fits.open`.

    Yields
    ------
    astropy.io.fits.HDUList
        Opened with ``lazy_load_hdus=True``; closed when the block ends.

    Raises
    ------
    ObjectNotFoundError, AccessDeniedError
        If the object does not exist or may not be read.
    """
    from astropy.io import fits

    gzipped = uri.lower().endswith(".gz")
    block = GZIP_BLOCK if gzipped else HEADER_BLOCK
    kwargs.setdefault("lazy_load_hdus", True)
    with _open_remote(uri, anon, cache_type="readahead", block_size=block) as (_fs, _path, handle):
        # Wrapped here, not by astropy, so that the stream is only ever read forward.
        source = gzip.GzipFile(fileobj=handle, mode="rb") if gzipped else handle
        try:
            hdul = fits.open(source, **kwargs)
        except OSError as error:
            raise FileFormatError(f"{uri} is not a readable FITS file: {error}") from error
        try:
            yield hdul
        finally:
            hdul.close()
            if gzipped:
                source.close()


def read_header(uri: str, ext: int | str = 0, *, anon: bool | None = None) -> Header:
    """Read one FITS header, fetching only the header blocks.

    Parameters
    ----------
    uri : str
        ``s3://`` URI of a FITS file.
    ext : int or str, optional
        HDU index or name (``"SCI"``); default the primary header.
    anon : bool, optional
        Anonymous access; by default decided by the bucket.

    Returns
    -------
    astropy.io.fits.Header

    Raises
    ------
    InvalidParameterError
        If the file has no such extension.
    """
    if _kind(uri) == "fits.gz":
        # astropy would decompress the whole stream to list the HDUs; walking stops at the header.
        with (
            _open_remote(uri, anon, cache_type="readahead", block_size=HEADER_BLOCK) as (_fs, _path, handle),
            gzip.GzipFile(fileobj=handle, mode="rb") as gz,
        ):
            return _fits_layout.find_hdu(_fits_layout.ForwardReader(gz), ext, uri, image=False)[0]
    fs, path = _filesystem(uri, anon)
    with _translated_errors(uri, anon):
        return _fits_layout.find_hdu(_fits_layout.RangeReader(fs, path), ext, uri, image=False)[0]


@contextlib.contextmanager
def open_asdf(uri: str, *, anon: bool | None = None) -> Iterator[AsdfFile]:
    """Open an ASDF file on S3 lazily.

    asdf reads the YAML tree and the block index; each array is fetched (whole)
    when first used. For part of an array use :func:`cutout`.

    Parameters
    ----------
    uri : str
        ``s3://`` URI of an ``.asdf`` file.
    anon : bool, optional
        Anonymous access; by default decided by the bucket.

    Yields
    ------
    asdf.AsdfFile
    """
    import asdf

    with _open_remote(uri, anon, cache_type="readahead", block_size=config.block_size()) as (
        _fs,
        _path,
        handle,
    ):
        try:
            af = asdf.open(handle, lazy_load=True, memmap=False)
        except (ValueError, OSError) as error:
            raise FileFormatError(f"{uri} is not a readable ASDF file: {error}") from error
        with af:
            yield af


@contextlib.contextmanager
def open_datamodel(uri: str, *, anon: bool | None = None) -> Iterator[DataModel]:
    """Open a Roman file on S3 as a :mod:`roman_datamodels` model, lazily.

    Parameters
    ----------
    uri : str
        ``s3://`` URI of a Roman ``.asdf`` file.
    anon : bool, optional
        Anonymous access; by default decided by the bucket.

    Yields
    ------
    roman_datamodels.datamodels.DataModel
    """
    import roman_datamodels as rdm

    with _open_remote(uri, anon, cache_type="readahead", block_size=config.block_size()) as (
        _fs,
        _path,
        handle,
    ):
        try:
            model = rdm.open(handle, lazy_tree=True)
        except TypeError:  # older roman_datamodels without lazy_tree
            model = rdm.open(handle)
        with model:
            yield model


# --------------------------------------------------------------------------- metadata


def _to_plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _to_plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_plain(item) for item in value]
    return value


def _asdf_tree(tree_bytes: bytes, uri: str) -> AsdfFile:
    """Open the tree alone (no blocks): tagged objects become astropy/gwcs objects."""
    import asdf

    with quiet(), _translated_errors(uri, None):  # the blocks are missing on purpose
        return asdf.open(io.BytesIO(tree_bytes), lazy_load=True, memmap=False)


def _remote_asdf_tree(uri: str, anon: bool | None) -> AsdfFile:
    """Fetch only the YAML tree of a remote ASDF file and open it (no blocks)."""
    fs, path = _filesystem(uri, anon)
    with _translated_errors(uri, anon):
        tree_bytes, _file = _asdf_layout.read_tree(fs, path, uri)
    return _asdf_tree(tree_bytes, uri)


def read_metadata(uri: str, *, anon: bool | None = None) -> dict:
    """Read a file's metadata without its data.

    For ASDF the YAML tree alone is fetched and ``roman.meta`` returned (the whole
    tree if there is no ``roman`` node); for FITS the primary header.

    Parameters
    ----------
    uri : str
        ``s3://`` URI of a ``.asdf``, ``.fits`` or ``.fits.gz`` file.
    anon : bool, optional
        Anonymous access; by default decided by the bucket.

    Returns
    -------
    dict
        Plain nested dictionaries; values keep their types (``astropy.time.Time``,
        ``gwcs.WCS`` ...).
    """
    if _kind(uri) != "asdf":
        header = read_header(uri, 0, anon=anon)
        return {key: value for key, value in header.items() if key not in ("COMMENT", "HISTORY", "")}
    with _remote_asdf_tree(uri, anon) as af:
        tree = af.tree
        if "roman" in tree and "meta" in tree["roman"]:
            return _to_plain(tree["roman"]["meta"])
        return _to_plain(
            {key: value for key, value in tree.items() if key not in ("asdf_library", "history")}
        )


def _tree_gwcs(tree: Mapping) -> Any:
    """The gwcs of a Roman tree: ``roman.meta.wcs`` (level 2), else ``roman.wcs``; None if neither."""
    roman = tree.get("roman", tree)
    meta = roman.get("meta") if isinstance(roman, Mapping) else None
    found = meta.get("wcs") if isinstance(meta, Mapping) else None
    found = found if found is not None else roman.get("wcs") if isinstance(roman, Mapping) else None
    return found if hasattr(found, "forward_transform") else None


def _footprint(wcs: Any, shape: tuple[int, int]) -> list[tuple[str, float, float, Any]]:
    """Centre and corners of an image of ``shape`` (ny, nx): (label, x, y, SkyCoord in ICRS).

    Corners are the centres of the corner pixels; ``wcs`` is an astropy WCS or a gwcs.
    """
    ny, nx = shape
    points = [
        ("centre", (nx - 1) / 2, (ny - 1) / 2),
        ("corner", 0, 0),
        ("corner", nx - 1, 0),
        ("corner", nx - 1, ny - 1),
        ("corner", 0, ny - 1),
    ]
    xs, ys = np.array([p[1] for p in points], float), np.array([p[2] for p in points], float)
    world = wcs.pixel_to_world(xs, ys).icrs
    return [(label, x, y, world[i]) for i, (label, x, y) in enumerate(points)]


def _footprint_text(wcs: Any, shape: tuple[int, int], what: str) -> str:
    lines = [
        f"Sky footprint of {what} ({shape[1]} x {shape[0]} pixels, x by y), ICRS; corners are the "
        "centres of the corner pixels:"
    ]
    for label, x, y, coord in _footprint(wcs, shape):
        lines.append(
            f"  {label:<7} x, y = {x:>7g}, {y:>7g}   RA, Dec = {coord.ra.deg:11.6f} "
            f"{coord.dec.deg:+11.6f} deg   {coord.to_string('hmsdms', precision=2)}"
        )
    return "\n".join(lines) + "\n"


def _coverage(wcs: Any, shape: tuple[int, int]) -> str:
    """What an image covers, on one line: its centre and corners in RA, Dec (degrees)."""
    parts = [f"{coord.ra.deg:.5f} {coord.dec.deg:+.5f}" for _label, _x, _y, coord in _footprint(wcs, shape)]
    return f"RA, Dec (deg, ICRS) centre {parts[0]}, corners {', '.join(parts[1:])}"


def info(uri: str, *, anon: bool | None = None) -> str:
    """Summarise a file's structure and where it lies on the sky, reading headers or the tree only.

    Parameters
    ----------
    uri : str
        ``s3://`` URI of a ``.asdf``, ``.fits`` or ``.fits.gz`` file.
    anon : bool, optional
        Anonymous access; by default decided by the bucket.

    Returns
    -------
    str
        For FITS the table of :meth:`astropy.io.fits.HDUList.info`; for ASDF the tree
        as :meth:`asdf.AsdfFile.info` prints it. When the file has a celestial WCS (the
        first image HDU's FITS WCS, or the gwcs of a Roman file) it ends with the sky
        footprint: the RA and Dec of the image's centre and of its four corners.

    Examples
    --------
    >>> from roman_helpers.datasets import get
    >>> summary = info(get("roman-tutorial-2026").uri())
    >>> print(summary.splitlines()[0])
    root (AsdfObject)
    >>> footprint = summary[summary.index("Sky footprint of data") :].splitlines()
    >>> [line.split()[0] for line in footprint[1:]]  # then RA, Dec in degrees and sexagesimal
    ['centre', 'corner', 'corner', 'corner', 'corner']
    """
    out = io.StringIO()
    if _kind(uri) == "asdf":
        with _remote_asdf_tree(uri, anon) as af:
            with contextlib.redirect_stdout(out):
                af.info(max_rows=40, max_cols=120, show_values=True)
            gwcs_wcs = _tree_gwcs(af.tree)
            try:
                shape = tuple(_asdf_layout.find_array_node(af.tree, "data")["shape"])
            except (FileFormatError, TypeError):
                shape = tuple(getattr(af.tree.get("roman", af.tree).get("data"), "shape", ()))
        if gwcs_wcs is not None and len(shape) == 2:
            out.write(_footprint_text(gwcs_wcs, shape, "data"))
        return out.getvalue()
    with open_fits(uri, anon=anon) as hdul:
        hdul.info(output=out)
        footprint = ""
        for index, hdu in enumerate(hdul):
            header = hdu.header
            if header.get("NAXIS") == 2 and hdu.is_image:
                wcs = _wcs.celestial(header)
                if wcs is not None:
                    name = header.get("EXTNAME", "PRIMARY" if index == 0 else f"HDU {index}")
                    footprint = _footprint_text(wcs, _fits_layout.image_layout(header)[0], name)
                    break
    lines = out.getvalue().splitlines(keepends=True)
    return f"Filename: {uri}\n" + "".join(lines[1:]) + footprint


# --------------------------------------------------------------------------- cut-outs

#: The arrays that go with a science image when they are present (FITS HDU names, ASDF names).
COMPANIONS = {"fits": ("ERR", "DQ"), "asdf": ("err", "dq")}


@dataclass
class _Request:
    """What the caller asked for, parsed: a box, or a centre and a size."""

    box: tuple[int, int, int, int] | None = None
    position: Any = None
    size: tuple[Any, Any] | None = None
    size_as_given: Any = None


def _request(box: Any, position: Any, size: Any) -> _Request:
    if box is not None:
        if position is not None or size is not None:
            raise InvalidParameterError("box", box, hint="give either box= or position= and size=, not both")
        return _Request(box=_sky.parse_box(box))
    if position is None or size is None:
        missing = "position" if position is None else "size"
        raise InvalidParameterError(missing, None, hint=f"give box={_sky.BOX_FORM}, or position= and size=")
    return _Request(position=_sky.parse_position(position), size=_sky.parse_size(size), size_as_given=size)


def _size_in_pixels(
    request: _Request, wcs: Any, x: float, y: float, shape: tuple[int, int]
) -> tuple[int, int]:
    import astropy.units as u

    assert request.size is not None  # a position comes with a size (_request)
    if all(isinstance(side, int) for side in request.size):
        return request.size
    if wcs is None:
        raise InvalidParameterError(
            "size",
            request.size_as_given,
            hint="this image has no celestial WCS, so an angle cannot be turned into pixels; "
            "give the size in pixels",
        )
    # the scale where the cut-out is, or at the nearest edge for a centre off the image (a gwcs
    # has no sky outside its bounding box)
    scales = _wcs.pixel_scales(
        wcs, float(np.clip(x, 0, max(shape[1] - 2, 0))), float(np.clip(y, 0, max(shape[0] - 2, 0)))
    )
    pixels = [
        side if isinstance(side, int) else float((side / scale).to_value(u.one))
        for side, scale in zip(request.size, scales, strict=True)
    ]
    if not all(np.isfinite(pixels)):
        raise InvalidParameterError(
            "size",
            request.size_as_given,
            hint="the image's WCS gives no pixel scale there; give it in pixels",
        )
    return int(np.round(pixels[0])), int(np.round(pixels[1]))


def _off_image(
    request: _Request,
    x: float,
    y: float,
    shape: tuple[int, int],
    wcs: Any,
    pixels: tuple[int, int] | None = None,
) -> InvalidParameterError:
    ny, nx = shape
    where = (
        f"it falls at pixel x, y = ({x:.1f}, {y:.1f})"
        if np.isfinite(x) and np.isfinite(y)
        else "it is on the far side of the sky from this image"
    )
    reach = f" (a {pixels[0]} x {pixels[1]} cut-out, ny x nx, there does not reach it)" if pixels else ""
    covers = f", which covers {_coverage(wcs, shape)}" if wcs is not None else ""
    return InvalidParameterError(
        "position",
        _sky.describe(request.position),
        hint=f"{where}, off this image of {nx} x {ny} pixels (x 0..{nx - 1}, y 0..{ny - 1}){reach}{covers}",
    )


def _plan(shape: tuple[int, int], request: _Request, wcs: Any) -> Cutout2D:
    """Let :class:`astropy.nddata.Cutout2D` place the cut-out on a zero-byte stand-in.

    The stand-in has the image's shape but no memory (stride 0), so Cutout2D does the
    placement and the FITS WCS work and we learn which pixels to fetch. ``wcs`` is the
    image's astropy WCS, its gwcs, or None.
    """
    from astropy.coordinates import SkyCoord
    from astropy.nddata import Cutout2D, NoOverlapError

    placeholder = np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), shape=shape, strides=(0, 0))
    fits_wcs = wcs if _wcs.is_fits(wcs) else None
    if request.box is not None:
        _sky.check_box(request.box, shape)
        x0, y0, x1, y1 = request.box
        cut = Cutout2D(
            placeholder, ((x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2), (y1 - y0, x1 - x0), wcs=fits_wcs, mode="trim"
        )
        ys, xs = cut.slices_original
        if (xs.start, ys.start, xs.stop, ys.stop) != request.box:  # pragma: no cover
            raise AssertionError(f"cut-out placement {cut.slices_original} differs from box {request.box}")
        return cut
    position = request.position
    if isinstance(position, SkyCoord):
        if wcs is None:
            raise InvalidParameterError(
                "position",
                _sky.describe(position),
                hint="this image has no celestial WCS; give a pixel box (box=) or a pixel position (x, y)",
            )
        x, y = _wcs.world_to_pixel(wcs, position)
        if not (np.isfinite(x) and np.isfinite(y)):
            raise _off_image(request, x, y, shape, wcs)
        if fits_wcs is None:
            position = (x, y)  # Cutout2D places SkyCoords with FITS WCSs only
    else:
        x, y = position
    pixels = _size_in_pixels(request, wcs, x, y, shape)
    _sky.check_shape(pixels, shape, request.size_as_given)
    try:
        return Cutout2D(placeholder, position, pixels, wcs=fits_wcs, mode="trim")
    except NoOverlapError:
        raise _off_image(request, x, y, shape, wcs, pixels) from None


def _fits_hdu_key(index: int, name: str) -> int | str:
    return name or index


def _select_hdus(
    hdus: Iterator, exts: list, companions: bool, uri: str
) -> Iterator[tuple[int, int | str, Any, int]]:
    """Pick the HDUs of a cut-out from ``(index, name, header, data offset)`` as they are walked.

    Yields ``(slot, key, header, data offset)``: slot 0 is the science image (``exts[0]``; None
    for the first 2-D image), then the other ``exts`` in order, then companions (ERR, DQ) when
    asked for. Stops walking as soon as everything wanted is found.
    """
    found: dict[int, Any] = {}
    companion_names = list(COMPANIONS["fits"]) if companions else []
    seen: list[str] = []
    for index, name, header, data_offset in hdus:
        seen.append(name)
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


def _fits_cutouts(uri: str, anon: bool | None, request: _Request, exts: list, companions: bool) -> dict:
    """Cut-outs of FITS HDUs: headers walked, one plan on the science image, rows fetched."""
    state: dict[str, Any] = {}  # the plan ("cut") and the science image's shape, once known
    picked: list[tuple[int, Any, Any, np.ndarray]] = []  # slot, key, header, raw pixels

    def wanted(slot: int, key: int | str, header: Any) -> bool:
        """Plan on the science image (slot 0); say whether this HDU's rows are to be read."""
        shape = _fits_layout.image_layout(header)[0]
        if slot == 0:
            state["cut"], state["shape"] = _plan(shape, request, _wcs.celestial(header)), shape
            return True
        if shape == state["shape"]:
            return True
        if slot < len(exts):  # asked for by name: say why not
            raise InvalidParameterError(
                "ext",
                key,
                hint=f"HDU {key} has shape {shape}, not the {state['shape']} of the "
                "science image; cut it out on its own",
            )
        return False  # an ERR or DQ of another shape is no companion

    def forward_rows(reader: _fits_layout.ForwardReader, header: Any, data_offset: int) -> np.ndarray:
        shape, dtype = _fits_layout.image_layout(header)
        ys, xs = state["cut"].slices_original
        return _fits_layout.read_rows_forward(reader, data_offset, dtype, shape[1], ys, xs)

    if _kind(uri) == "fits.gz":
        late = []
        with (
            _open_remote(uri, anon, cache_type="readahead", block_size=GZIP_BLOCK) as (_fs, _path, handle),
            gzip.GzipFile(fileobj=handle, mode="rb") as stream,
        ):
            # One forward pass: rows are read as the stream passes them (a gzip stream cannot go back).
            reader = _fits_layout.ForwardReader(stream)
            for slot, key, header, data_offset in _select_hdus(
                _fits_layout.walk_hdus(reader, uri), exts, companions, uri
            ):
                if slot != 0 and "cut" not in state:  # before the science image: a second pass reads it
                    late.append((slot, key, header, data_offset))
                elif wanted(slot, key, header):
                    picked.append((slot, key, header, forward_rows(reader, header, data_offset)))
        if late:
            with (
                _open_remote(uri, anon, cache_type="readahead", block_size=GZIP_BLOCK) as (
                    _fs,
                    _path,
                    handle,
                ),
                gzip.GzipFile(fileobj=handle, mode="rb") as stream,
            ):
                reader = _fits_layout.ForwardReader(stream)
                picked.extend(
                    (slot, key, header, forward_rows(reader, header, data_offset))
                    for slot, key, header, data_offset in late
                    if wanted(slot, key, header)
                )
    else:
        fs, path = _filesystem(uri, anon)
        with _translated_errors(uri, anon):
            # No HEAD and no file object: ranged GETs for the headers, then all rows at once.
            hdus = _fits_layout.walk_hdus(_fits_layout.RangeReader(fs, path), uri)
            chosen = sorted(_select_hdus(hdus, exts, companions, uri), key=lambda entry: entry[0])
            chosen = [entry for entry in chosen if wanted(*entry[:3])]
            ys, xs = state["cut"].slices_original
            images = []
            for _slot, _key, header, data_offset in chosen:
                shape, dtype = _fits_layout.image_layout(header)
                images.append((data_offset, dtype, shape[1]))
            pixels = _fits_layout.fetch_images(fs, path, images, ys, xs, batch_size=_MAX_CONNECTIONS)
            picked = [
                (slot, key, header, raw) for (slot, key, header, _o), raw in zip(chosen, pixels, strict=True)
            ]
    result = {}
    for _slot, key, header, raw in sorted(picked, key=lambda entry: entry[0]):
        one = copy.copy(state["cut"])
        one.data = _fits_layout.scaled(np.array(raw), header)
        result[key] = one
    return result


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
    ys: slice,
    xs: slice,
    name: str,
) -> np.ndarray:
    """Pixels ``[ys, xs]`` of one ASDF array, fetching only the bytes (or lz4 chunks) of its rows."""
    _source, shape, dtype, array_offset = layout
    data_start, compression, first_chunk_header = _asdf_layout.block_start(fs, path, block_offset, uri)
    if compression == b"":
        return _fits_layout.fetch_rows(
            fs, path, data_start + array_offset, dtype, shape[1], ys, xs, batch_size=_MAX_CONNECTIONS
        )
    if compression == b"lz4":
        row_bytes = shape[1] * dtype.itemsize
        first, last = array_offset + ys.start * row_bytes, array_offset + ys.stop * row_bytes
        decoded, decoded_offset = _asdf_layout.lz4_rows(
            fs, path, data_start, first_chunk_header, first, last, batch_size=_MAX_CONNECTIONS
        )
        rows = np.frombuffer(
            decoded, dtype=dtype, count=(ys.stop - ys.start) * shape[1], offset=first - decoded_offset
        ).reshape(ys.stop - ys.start, shape[1])
        return rows[:, xs]
    # zlib/bzp2 chunks cannot be located without decompressing: let asdf read the block.
    with open_asdf(uri, anon=anon) as af:
        return np.asarray(af.tree.get("roman", af.tree)[name])[ys, xs]


def _asdf_cutouts(uri: str, anon: bool | None, request: _Request, exts: list, companions: bool) -> dict:
    """Cut-outs of ASDF arrays: the tree read once, one plan on the science array (with the gwcs)."""
    import asdf

    fs, path = _filesystem(uri, anon)
    with _translated_errors(uri, anon):
        # what the tree read fetched is kept: on a small file it holds the blocks and their index too
        tree_bytes, fs = _asdf_layout.read_tree(fs, path, uri, first_step=_asdf_layout.CUTOUT_FIRST_STEP)
        raw_tree = asdf.util.load_yaml(io.BytesIO(tree_bytes), tagged=True)
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
        with _asdf_tree(tree_bytes, uri) as af:
            gwcs_wcs = _tree_gwcs(af.tree)
        cut = _plan(shape, request, gwcs_wcs)
        ys, xs = cut.slices_original
        offsets = _asdf_layout.block_offsets(fs, path, len(tree_bytes), [layouts[name][0] for name in names])
        pixels = {
            name: _asdf_pixels(fs, path, uri, anon, offsets[layouts[name][0]], layouts[name], ys, xs, name)
            for name in names
        }
    wcs = _wcs.shifted(gwcs_wcs, xs.start, ys.start, cut.shape) if gwcs_wcs is not None else None
    result = {}
    for name in names:
        one = copy.copy(cut)
        one.data = np.array(pixels[name]).astype(layouts[name][2].newbyteorder("="))
        one.wcs = wcs
        result[name] = one
    return result


def _cut(
    uri: str,
    *,
    box: Any = None,
    position: Any = None,
    size: Any = None,
    exts: Sequence | None = None,
    companions: bool,
    anon: bool | None,
) -> dict:
    """Cut-outs of one file, keyed by array name."""
    kind = _kind(uri)
    request = _request(box, position, size)
    exts = list(exts) if exts else [None]
    if kind == "asdf":
        return _asdf_cutouts(uri, anon, request, exts, companions)
    return _fits_cutouts(uri, anon, request, exts, companions)


def cutout(
    uri: str,
    *,
    box: Sequence[int] | None = None,
    position: Any = None,
    size: Any = None,
    ext: int | str | None = None,
    anon: bool | None = None,
) -> Cutout2D:
    """Cut a region out of an image on S3, fetching only (about) the pixels in it.

    Give either ``box``, or ``position`` and ``size``.

    Parameters
    ----------
    uri : str
        ``s3://`` URI of a ``.fits``, ``.fits.gz`` or Roman ``.asdf`` file.
    box : sequence of 4 int, optional
        ``(x0, y0, x1, y1)``: 0-based pixel corners, end exclusive, so the cut-out is
        ``data[y0:y1, x0:x1]`` (columns x0..x1-1, rows y0..y1-1). The same order as
        ``roman-helpers cutout --box X0 Y0 X1 Y1`` and as PIL's ``Image.crop``.
    position : SkyCoord, str or (x, y), optional
        Centre of the cut-out: a :class:`~astropy.coordinates.SkyCoord`; a string of RA and
        Dec (``"00:39:57 -44:01:20"``: RA in hours when sexagesimal; ``"9.9875 -44.0222"``:
        degrees); or 0-based pixels ``(x, y)``. A sky position needs a WCS in the file (the
        FITS header's, or the gwcs at ``roman.meta.wcs`` / ``roman.wcs``). Object names are
        not looked up (that needs the network).
    size : int, str, Quantity or (ny, nx), optional
        One value for a square, or two: rows then columns, ``(ny, nx)``, as
        :class:`astropy.nddata.Cutout2D`. Each in pixels (``64``) or as an angle
        (``10 * u.arcsec``, ``"10arcsec"``, ``"20arcsec,30arcsec"``); angles become pixels
        with the file's WCS (FITS WCS or gwcs).
    ext : int or str, optional
        Which image: a FITS HDU number or name (default the first 2-D image), or the name of
        an ASDF array (``"data"``, the default, ``"err"``, ``"dq"`` ...).
    anon : bool, optional
        Anonymous access; by default decided by the bucket.

    Returns
    -------
    astropy.nddata.Cutout2D
        ``.data`` holds the pixels (native byte order, scaled by BSCALE/BZERO);
        ``.slices_original`` and ``.bbox_original`` place them in the file's image;
        ``.wcs`` is the cut-out's WCS when the file has one (an astropy WCS for FITS, a
        gwcs for Roman ASDF, exact: the file's own shifted to the cut-out).

    Raises
    ------
    InvalidParameterError
        If the box, size or position cannot be read or does not fit the image (the message
        says what the image covers), if both or neither of box and position are given, or
        if the file has no such HDU or array (the message lists those it has).

    See Also
    --------
    cutouts : the same cut-out of several arrays (SCI, ERR, DQ) at once.

    Examples
    --------
    >>> from roman_helpers.datasets import get
    >>> uri = get("roman-tutorial-2026").uri()
    >>> cut = cutout(uri, box=(1000, 900, 1100, 950))  # columns 1000-1099, rows 900-949
    >>> cut.data.shape, cut.bbox_original
    ((50, 100), ((900, 949), (1000, 1099)))
    >>> centre = cut.wcs.pixel_to_world(49.5, 24.5)  # the box's centre on the sky (a SkyCoord)
    >>> cutout(uri, position=centre, size="5arcsec,10arcsec").data.shape  # 0.11 arcsec pixels
    (45, 91)
    """
    return next(
        iter(
            _cut(uri, box=box, position=position, size=size, exts=[ext], companions=False, anon=anon).values()
        )
    )


def cutouts(
    uri: str,
    *,
    box: Sequence[int] | None = None,
    position: Any = None,
    size: Any = None,
    arrays: Sequence[int | str | None] | None = None,
    anon: bool | None = None,
) -> dict[Any, Cutout2D]:
    """Cut the same region out of several arrays of a file: the science image, ERR and DQ.

    One plan (headers or tree read once, the region placed once) and only the rows of the
    region fetched from each array. For a ``.fits.gz`` file the stream is read once, forward,
    up to the last array's rows: ERR and DQ lie after the whole science image.

    Parameters
    ----------
    uri : str
        ``s3://`` URI of a ``.fits``, ``.fits.gz`` or Roman ``.asdf`` file.
    box, position, size
        As for :func:`cutout`.
    arrays : sequence of int, str or None, optional
        FITS HDU numbers or names, or ASDF array names; the first one places the cut-out
        (its WCS), and ``None`` stands for the science image (the first 2-D image HDU, or
        ``data``). Default: the science image plus the ``ERR`` and ``DQ`` HDUs (ASDF ``err``
        and ``dq``) when the file has them with the same shape.
    anon : bool, optional
        Anonymous access; by default decided by the bucket.

    Returns
    -------
    dict
        :class:`~astropy.nddata.Cutout2D` by the array's name in the file (the HDU's
        EXTNAME, or its number when it has none; the ASDF array name), science first.

    Raises
    ------
    InvalidParameterError
        As :func:`cutout`.

    Examples
    --------
    >>> from roman_helpers.datasets import get
    >>> cuts = cutouts(get("roman-tutorial-2026").uri(), box=(1000, 900, 1064, 964))
    >>> {name: cut.data.shape for name, cut in cuts.items()}
    {'data': (64, 64), 'err': (64, 64), 'dq': (64, 64)}
    """
    return _cut(uri, box=box, position=position, size=size, exts=arrays, companions=arrays is None, anon=anon)


# --------------------------------------------------------------------------- cut-outs as FITS

#: Extension names for ASDF arrays in a FITS file.
_FITS_NAMES = {"data": "SCI", "err": "ERR", "dq": "DQ"}
#: Pixels within which a cut-out's FITS WCS aims to follow its file's gwcs.
SIP_GOAL = 0.01


def _wcs_header(wcs: Any, shape: tuple[int, int]) -> Header:
    """The FITS WCS of a cut-out: its own (a FITS file's), or a SIP fit to its gwcs, stating its accuracy."""
    from astropy.io import fits

    if wcs is None:
        return fits.Header()
    if _wcs.is_fits(wcs):
        return wcs.to_header(relax=True)
    goal = SIP_GOAL
    fit = _wcs.fit_sip(wcs, shape, goal=goal, inverse=True)
    header = fit.header
    if fit.degree == 0:
        header.add_comment("No FITS WCS: gwcs could not fit a SIP polynomial over this cut-out.")
        return header
    header["SIPMXERR"] = (float(f"{fit.deviation:.3g}"), "[pix] max |FITS WCS - gwcs| in cut-out")
    note = (
        f"WCS: SIP approximation (gwcs to_fits_sip, degree {fit.degree}) of the file's gwcs over this "
        f"cut-out; its largest deviation from the gwcs, measured at {fit.points} pixels, is "
        f"{fit.deviation:.2g} pixel (SIPMXERR)."
    )
    if "A_ORDER" in header and "AP_ORDER" not in header:
        note += f" No inverse (AP, BP) fits within {goal} pixel: sky to pixel iterates on the forward one."
    for line in textwrap.wrap(note, 72):
        header.add_comment(line)
    return header


def to_hdulist(cuts: Mapping[Any, Cutout2D], *, source: str | None = None) -> HDUList:
    """Pack cut-outs (of :func:`cutouts` or :func:`cutout`) into a multi-extension FITS file.

    Parameters
    ----------
    cuts : mapping or astropy.nddata.Cutout2D
        Cut-outs by name, as :func:`cutouts` returns them (or one cut-out).
    source : str, optional
        The ``s3://`` URI they were cut from, recorded as ``SRCURI``.

    Returns
    -------
    astropy.io.fits.HDUList
        An empty primary HDU with the source and the pixel bounds, then one image extension
        per array, named as in the file (ASDF ``data``, ``err``, ``dq`` become ``SCI``,
        ``ERR``, ``DQ``). Each extension has the cut-out's WCS: the FITS WCS of a FITS file
        (with its SIP terms), or for a Roman gwcs a SIP approximation fitted over the
        cut-out, whose measured largest deviation in pixels is ``SIPMXERR``. ``XMIN``,
        ``XMAX``, ``YMIN``, ``YMAX`` give the 0-based pixels (inclusive) of the source
        image. float16 arrays (Roman ``err``) are written as float32, which FITS has.

    Examples
    --------
    >>> from roman_helpers.datasets import get
    >>> uri = get("roman-tutorial-2026").uri()
    >>> hdul = to_hdulist(cutouts(uri, box=(1000, 900, 1064, 964)), source=uri)
    >>> [hdu.name for hdu in hdul], hdul["SCI"].header["SIPMXERR"] < 0.01
    (['PRIMARY', 'SCI', 'ERR', 'DQ'], True)
    """
    from astropy.io import fits
    from astropy.nddata import Cutout2D

    if isinstance(cuts, Cutout2D):
        cuts = {"SCI": cuts}
    primary = fits.PrimaryHDU()
    if source is not None:
        primary.header["SRCURI"] = source  # no comment: a long URI fills the card (astropy continues it)
    hdus = [primary]
    headers: dict[int, Any] = {}  # one WCS header per WCS object: the arrays of a cut-out share it
    for number, (name, cut) in enumerate(cuts.items()):
        header = headers.get(id(cut.wcs))
        if header is None:
            header = headers[id(cut.wcs)] = _wcs_header(getattr(cut, "wcs", None), cut.data.shape)
        header = header.copy()
        (ymin, ymax), (xmin, xmax) = cut.bbox_original
        for key, value in (("XMIN", xmin), ("XMAX", xmax), ("YMIN", ymin), ("YMAX", ymax)):
            header[key] = (int(value), "0-based pixel of the source image, inclusive")
            if number == 0:
                primary.header[key] = (int(value), "0-based pixel of the source image, inclusive")
        header["SRCEXT"] = (str(name), "array of the source file")
        data = cut.data.astype(np.float32) if cut.data.dtype == np.float16 else cut.data
        extname = _FITS_NAMES.get(name, name) if isinstance(name, str) else f"HDU{name}"
        if extname == "PRIMARY" or (number == 0 and not isinstance(name, str)):
            extname = "SCI"
        hdus.append(fits.ImageHDU(data=data, header=header, name=str(extname).upper()))
    return fits.HDUList(hdus)
