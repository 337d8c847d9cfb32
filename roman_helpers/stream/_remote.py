"""Opening files on S3 for reading, and the errors of doing so in the kit's words (private).

:func:`open_fits`, :func:`open_asdf` and :func:`open_datamodel` open lazily through s3fs with a
small read-ahead (:data:`~roman_helpers._fits_layout.HEADER_BLOCK` for FITS headers,
:func:`roman_helpers.config.block_size` for ASDF); the rest of :mod:`roman_helpers.stream` reads
through :func:`_filesystem` and :func:`_translated_errors` too.
"""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import yaml

from .. import _s3, config
from .._asdf_layout import check_file, not_yaml
from .._fits_layout import HEADER_BLOCK, CheckedGzipFile
from .._s3 import filesystem
from ..errors import FileFormatError, InvalidParameterError
from ..uris import split_uri

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from asdf import AsdfFile
    from astropy.io.fits import HDUList
    from roman_datamodels.datamodels import DataModel

__all__ = ["GZIP_BLOCK", "open_asdf", "open_datamodel", "open_fits"]

#: Forward read size for ``.fits.gz`` (which cannot be read at random): large enough that
#: tens of MB need few round trips, small enough to bound the over-read past the last row.
GZIP_BLOCK = 2 * 1024 * 1024


#: Concurrent connections for row and chunk reads (aiobotocore's default is 10).
_MAX_CONNECTIONS = 128


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
        raise not_yaml(uri, error) from error
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
    folder = uri if uri.endswith("/") else f"{uri}/"
    said = "that is a folder (a prefix), not a file" if uri.endswith("/") else "if it is a folder (a prefix)"
    raise InvalidParameterError(
        "uri",
        uri,
        hint=f"expected a file ending in .fits, .fits.gz or .asdf; {said}, list what it holds with "
        f"`roman-helpers ls {folder}` (roman_helpers.uris.list_objects in Python)",
    )


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
        source = CheckedGzipFile(handle, uri) if gzipped else handle
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

    Raises
    ------
    FileFormatError
        For a file that is not ASDF, or whose tree is beyond what an image's metadata holds
        (nested or, through YAML aliases, expanded past the kit's limits).
    """
    import asdf

    with _open_remote(uri, anon, cache_type="readahead", block_size=config.block_size()) as (
        _fs,
        _path,
        handle,
    ):
        check_file(handle, uri)  # a tree built to exhaust memory is refused before asdf builds it
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

    Raises
    ------
    FileFormatError
        As :func:`open_asdf`.
    """
    import roman_datamodels as rdm

    with _open_remote(uri, anon, cache_type="readahead", block_size=config.block_size()) as (
        _fs,
        _path,
        handle,
    ):
        check_file(handle, uri)
        try:
            model = rdm.open(handle, lazy_tree=True)
        except TypeError:  # older roman_datamodels without lazy_tree
            model = rdm.open(handle)
        with model:
            yield model
