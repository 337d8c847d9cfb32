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
  at the chunk holding the last row needed.

Public buckets are read anonymously, others with the default AWS credential
chain (see :func:`roman_helpers.config.filesystem`). Files are closed when the
``with`` block or the call ends.

This module is the public reading API and the glue that plans and opens each read;
where the bytes sit is worked out in :mod:`roman_helpers._fits_layout` and
:mod:`roman_helpers._asdf_layout`.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from . import _asdf_layout, _fits_layout, config
from ._fits_layout import HEADER_BLOCK
from .errors import FileFormatError, InvalidParameterError, translate_s3_error
from .uris import split_uri

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from asdf import AsdfFile
    from astropy.io.fits import Header, HDUList
    from astropy.nddata import Cutout2D
    from roman_datamodels.datamodels import DataModel

__all__ = [
    "HEADER_BLOCK",
    "GZIP_BLOCK",
    "open_fits",
    "read_header",
    "open_asdf",
    "open_datamodel",
    "read_metadata",
    "info",
    "cutout",
]

#: Forward read size for ``.fits.gz`` (which cannot be read at random): large enough that
#: tens of MB need few round trips, small enough to bound the over-read past the last row.
GZIP_BLOCK = 2 * 1024 * 1024
#: Concurrent connections for row and chunk reads (aiobotocore's default is 10).
_MAX_CONNECTIONS = 128


# --------------------------------------------------------------------------- opening

def _filesystem(uri: str, anon: bool | None):
    bucket, key = split_uri(uri)
    if not key:
        raise InvalidParameterError("uri", uri, hint="give the URI of a file, 's3://<bucket>/<key>'")
    fs = config.filesystem(bucket, anon=anon, config_kwargs={"max_pool_connections": _MAX_CONNECTIONS})
    return fs, f"{bucket}/{key}"


@contextlib.contextmanager
def _translated_errors(uri: str, anon: bool | None) -> Iterator[None]:
    """Turn s3fs's errors (through :func:`~roman_helpers.errors.translate_s3_error`) and
    format errors into ours, with a message that says what to do."""
    try:
        yield
    except gzip.BadGzipFile as error:
        raise FileFormatError(f"{uri} is not gzip-compressed, although its name ends in .gz") from error
    except yaml.YAMLError as error:
        raise FileFormatError(f"{uri}: the ASDF tree is not valid YAML ({error.problem or error}); "
                              "the file is damaged or was not written by asdf") from error
    except Exception as error:
        anonymous = config.is_public_bucket(split_uri(uri)[0]) if anon is None else anon  # as config.filesystem
        translated = translate_s3_error(error, uri, anonymous=anonymous)
        if translated is error:
            raise
        raise translated from error


@contextlib.contextmanager
def _open_remote(uri: str, anon: bool | None, *, cache_type: str, block_size: int):
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
    raise InvalidParameterError(
        "uri", uri, hint="expected a file ending in .fits, .fits.gz or .asdf")


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
        with _open_remote(uri, anon, cache_type="readahead", block_size=HEADER_BLOCK) as (_fs, _path, handle), \
                gzip.GzipFile(fileobj=handle, mode="rb") as gz:
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
            _fs, _path, handle):
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
            _fs, _path, handle):
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


def _asdf_tree(tree_bytes: bytes, uri: str):
    """Open the tree alone (no blocks): tagged objects become astropy/gwcs objects."""
    import asdf

    with warnings.catch_warnings(), _translated_errors(uri, None):
        warnings.simplefilter("ignore")  # blocks are missing on purpose
        return asdf.open(io.BytesIO(tree_bytes), lazy_load=True, memmap=False)


def _remote_asdf_tree(uri: str, anon: bool | None):
    """Fetch only the YAML tree of a remote ASDF file and open it (no blocks)."""
    fs, path = _filesystem(uri, anon)
    with _translated_errors(uri, anon):
        tree_bytes = _asdf_layout.read_tree_bytes(fs, path, uri)
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
        return _to_plain({key: value for key, value in tree.items()
                          if key not in ("asdf_library", "history")})


def info(uri: str, *, anon: bool | None = None) -> str:
    """Summarise a file's structure, reading headers or the tree only.

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
        as :meth:`asdf.AsdfFile.info` prints it.
    """
    out = io.StringIO()
    if _kind(uri) == "asdf":
        with _remote_asdf_tree(uri, anon) as af, contextlib.redirect_stdout(out):
            af.info(max_rows=40, max_cols=120, show_values=True)
    else:
        with open_fits(uri, anon=anon) as hdul:
            hdul.info(output=out)
        lines = out.getvalue().splitlines(keepends=True)
        return f"Filename: {uri}\n" + "".join(lines[1:])
    return out.getvalue()


# --------------------------------------------------------------------------- cut-outs

def _check_box(box: Sequence[int], shape: tuple[int, int]) -> tuple[int, int, int, int]:
    ny, nx = shape
    try:
        x0, x1, y0, y1 = (int(v) for v in box)
    except (TypeError, ValueError) as error:
        raise InvalidParameterError("box", box, hint="give (x0, x1, y0, y1) in pixels") from error
    if not (0 <= x0 < x1 <= nx and 0 <= y0 < y1 <= ny):
        raise InvalidParameterError(
            "box", tuple(box),
            hint=f"need 0 <= x0 < x1 <= {nx} and 0 <= y0 < y1 <= {ny} for an image of shape {shape}")
    return x0, x1, y0, y1


def _plan(shape: tuple[int, int], box, position, size, wcs, gwcs_wcs=None):
    """Let :class:`astropy.nddata.Cutout2D` place the cut-out on a zero-byte stand-in.

    The stand-in has the image's shape but no memory (stride 0), so Cutout2D does the
    position, size and WCS work and we learn which pixels to fetch.
    """
    from astropy.coordinates import SkyCoord
    from astropy.nddata import Cutout2D

    placeholder = np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), shape=shape, strides=(0, 0))
    if box is not None:
        if position is not None or size is not None:
            raise InvalidParameterError("box", box, hint="give either box or position and size, not both")
        x0, x1, y0, y1 = _check_box(box, shape)
        cut = Cutout2D(placeholder, ((x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2), (y1 - y0, x1 - x0),
                       wcs=wcs, mode="trim")
        ys, xs = cut.slices_original
        if (ys.start, ys.stop, xs.start, xs.stop) != (y0, y1, x0, x1):  # pragma: no cover
            raise AssertionError(f"cut-out placement {cut.slices_original} differs from box {box}")
        return cut
    if position is None or size is None:
        raise InvalidParameterError("position", position,
                                    hint="give box=(x0, x1, y0, y1), or position and size")
    if isinstance(position, SkyCoord) and wcs is None:
        if gwcs_wcs is None:
            raise InvalidParameterError("position", position,
                                        hint="this image has no celestial WCS; give a pixel box")
        x, y = gwcs_wcs.world_to_pixel(position)
        position = (float(x), float(y))
        size = _angular_to_pixels(size, gwcs_wcs, position)
    try:
        return Cutout2D(placeholder, position, size, wcs=wcs, mode="trim")
    except Exception as error:  # NoOverlapError, PartialOverlapError, bad size ...
        raise InvalidParameterError("position", position,
                                    hint=f"{error} (image shape {shape})") from error


def _angular_to_pixels(size, gwcs_wcs, position):
    """Convert an angular size to pixels with the local scale of a gwcs."""
    import astropy.units as u

    if not isinstance(size, u.Quantity) or size.unit.physical_type != "angle":
        return size  # pixels: Cutout2D takes them as they are
    sides = u.Quantity(size).ravel()
    height, width = (sides[0], sides[0]) if sides.size == 1 else (sides[0], sides[1])  # (ny, nx)
    x, y = position
    centre = gwcs_wcs.pixel_to_world(x, y)
    scale_x = centre.separation(gwcs_wcs.pixel_to_world(x + 1, y))
    scale_y = centre.separation(gwcs_wcs.pixel_to_world(x, y + 1))
    return (int(np.round((height / scale_y).to_value(u.dimensionless_unscaled))),
            int(np.round((width / scale_x).to_value(u.dimensionless_unscaled))))


def _attach_gwcs(cut, gwcs_wcs) -> None:
    from astropy.wcs.wcsapi import HighLevelWCSWrapper, SlicedLowLevelWCS

    low_level = getattr(gwcs_wcs, "low_level_wcs", gwcs_wcs)
    cut.wcs = HighLevelWCSWrapper(SlicedLowLevelWCS(low_level, cut.slices_original))


def _fits_wcs(header):
    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header)
    return wcs if wcs.has_celestial else None


def _fits_cutout(uri, anon, box, position, size, ext):
    if _kind(uri) == "fits.gz":
        with _open_remote(uri, anon, cache_type="readahead", block_size=GZIP_BLOCK) as (_fs, _path, handle), \
                gzip.GzipFile(fileobj=handle, mode="rb") as stream:
            reader = _fits_layout.ForwardReader(stream)
            header, data_offset = _fits_layout.find_hdu(reader, ext, uri, image=True)
            shape, dtype = _fits_layout.image_layout(header)
            cut = _plan(shape, box, position, size, _fits_wcs(header))
            ys, xs = cut.slices_original
            pixels = _fits_layout.read_rows_forward(reader, data_offset, dtype, shape[1], ys, xs)
    else:
        fs, path = _filesystem(uri, anon)
        with _translated_errors(uri, anon):
            # No HEAD and no file object: ranged GETs for the headers, then all rows at once.
            header, data_offset = _fits_layout.find_hdu(_fits_layout.RangeReader(fs, path), ext, uri, image=True)
            shape, dtype = _fits_layout.image_layout(header)
            cut = _plan(shape, box, position, size, _fits_wcs(header))
            ys, xs = cut.slices_original
            pixels = _fits_layout.fetch_rows(fs, path, data_offset, dtype, shape[1], ys, xs,
                                             batch_size=_MAX_CONNECTIONS)
    cut.data = _fits_layout.scaled(np.array(pixels), header)
    return cut


def _asdf_cutout(uri, anon, box, position, size):
    import asdf

    fs, path = _filesystem(uri, anon)
    with _translated_errors(uri, anon):
        prefix: list[bytes] = []
        tree_bytes = _asdf_layout.read_tree_bytes(fs, path, uri, first_step=_asdf_layout.CUTOUT_FIRST_STEP,
                                                  fetched=prefix)
        fs = _asdf_layout.PrefixedFile(fs, prefix[0])
        raw_tree = asdf.util.load_yaml(io.BytesIO(tree_bytes), tagged=True)
        source, shape, dtype, array_offset = _asdf_layout.image_layout(raw_tree, uri)
        gwcs_wcs = None
        if position is not None:
            with _asdf_tree(tree_bytes, uri) as af:
                roman = af.tree.get("roman", {})
                gwcs_wcs = roman.get("meta", {}).get("wcs") if isinstance(roman.get("meta"), Mapping) else None
                gwcs_wcs = gwcs_wcs or roman.get("wcs")
        cut = _plan(shape, box, position, size, None, gwcs_wcs)
        ys, xs = cut.slices_original
        block_offset = _asdf_layout.block_offset(fs, path, len(tree_bytes), source)
        data_start, compression, first_chunk_header = _asdf_layout.block_start(fs, path, block_offset, uri)
        row_bytes = shape[1] * dtype.itemsize
        if compression == b"":
            pixels = _fits_layout.fetch_rows(fs, path, data_start + array_offset, dtype, shape[1], ys, xs,
                                             batch_size=_MAX_CONNECTIONS)
        elif compression == b"lz4":
            first = array_offset + ys.start * row_bytes
            last = array_offset + ys.stop * row_bytes
            decoded, decoded_offset = _asdf_layout.lz4_rows(fs, path, data_start, first_chunk_header, first, last,
                                                            batch_size=_MAX_CONNECTIONS)
            rows = np.frombuffer(decoded, dtype=dtype, count=(ys.stop - ys.start) * shape[1],
                                 offset=first - decoded_offset).reshape(ys.stop - ys.start, shape[1])
            pixels = rows[:, xs]
        else:
            # zlib/bzp2 chunks cannot be located without decompressing: let asdf read the block.
            with open_asdf(uri, anon=anon) as af:
                pixels = np.asarray(af.tree["roman"]["data"] if "roman" in af.tree else af.tree["data"])[ys, xs]
    cut.data = np.array(pixels).astype(dtype.newbyteorder("="))
    if gwcs_wcs is not None:
        _attach_gwcs(cut, gwcs_wcs)
    return cut


def cutout(uri: str, *, box: Sequence[int] | None = None, position: Any = None, size: Any = None,
           ext: int | str | None = None, anon: bool | None = None) -> Cutout2D:
    """Cut a region out of an image on S3, fetching only (about) the pixels in it.

    Parameters
    ----------
    uri : str
        ``s3://`` URI of a ``.fits``, ``.fits.gz`` or Roman ``.asdf`` file.
    box : sequence of 4 int, optional
        ``(x0, x1, y0, y1)`` in 0-based pixels, end exclusive (``data[y0:y1, x0:x1]``).
    position : astropy.coordinates.SkyCoord or (x, y), optional
        Centre of the cut-out, with ``size``; a sky position needs a WCS in the file
        (the FITS header's, or the gwcs at ``roman.meta.wcs`` / ``roman.wcs``).
    size : int, (ny, nx) or astropy.units.Quantity, optional
        Size in pixels, or an angle.
    ext : int or str, optional
        FITS HDU; by default the first 2-D image. Ignored for ASDF, which uses
        ``roman.data``.
    anon : bool, optional
        Anonymous access; by default decided by the bucket.

    Returns
    -------
    astropy.nddata.Cutout2D
        ``.data`` holds the pixels (native byte order, scaled by BSCALE/BZERO);
        ``.slices_original`` and ``.bbox_original`` place them in the file's image;
        ``.wcs`` is the cut-out's WCS when the file has one.

    Raises
    ------
    InvalidParameterError
        If the box or position is outside the image, or both or neither are given.

    Examples
    --------
    >>> cut = cutout("s3://stpubdata/hst/public/jbev/jbeveo010/jbeveo010_drz.fits",
    ...              box=(1000, 1100, 500, 600))  # doctest: +SKIP
    >>> cut.data.shape  # doctest: +SKIP
    (100, 100)
    """
    if _kind(uri) == "asdf":
        return _asdf_cutout(uri, anon, box, position, size)
    return _fits_cutout(uri, anon, box, position, size, ext)
