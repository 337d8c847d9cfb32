"""Building an index: the files of a prefix or a list, read in threads (private)."""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from os import PathLike
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _pool, _s3
from ..errors import (
    FileFormatError,
    Interrupted,
    InvalidParameterError,
    InvalidURIError,
    NotInCloudWarning,
    ObjectNotFoundError,
    RomanHelpersError,
)
from ..uris import split_uri
from ._read import NotAnImage, read_file
from ._store import _FORMAT_KEY, _FORMAT_VERSION, _UNITS, COLUMNS, _check_columns, _table, load_index

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from astropy.table import Table

__all__ = ["NOT_AN_IMAGE", "build_index", "check_workers"]

_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".asdf")


def _s3_uri(item: Any, position: int) -> str | None:
    """One entry of a URI list: an ``s3://`` URI, a ``cloud_access`` JSON string/dict, or None."""
    if item is None or item is np.ma.masked:
        return None
    if isinstance(item, bytes):
        item = item.decode()
    if isinstance(item, str) and item.lstrip().startswith("{"):
        try:
            item = json.loads(item)
        except ValueError as error:
            raise InvalidParameterError(
                f"source[{position}]", item, hint=f"not valid JSON ({error})"
            ) from None
    if isinstance(item, Mapping):  # IRSA's cloud_access: {"aws": {"bucket_name": ..., "key": ...}}
        aws = item.get("aws", item)
        if isinstance(aws, Mapping) and aws.get("bucket_name") and aws.get("key"):
            return f"s3://{aws['bucket_name']}/{str(aws['key']).lstrip('/')}"
        raise InvalidParameterError(
            f"source[{position}]", item, hint="a cloud_access entry needs aws.bucket_name and aws.key"
        )
    if isinstance(item, str):
        try:
            split_uri(item)
        except InvalidURIError as error:
            raise InvalidParameterError(
                f"source[{position}]",
                item,
                hint=f"{error}; turn MAST products into s3:// URIs first with roman_helpers.uris.cloud_uris",
            ) from None
        return item
    raise InvalidParameterError(
        f"source[{position}]", item, hint="expected an s3:// URI, a cloud_access JSON string or None"
    )


def _is_image_file(uri: str) -> bool:
    return uri.lower().endswith(_SUFFIXES)


def _filesystem(bucket: str, anon: bool | None, workers: int) -> Any:
    return _s3.filesystem(bucket, anon=anon, connections=max(10, workers))


def _list_prefix(prefix: str, anon: bool | None, workers: int) -> tuple[list[tuple[str, str, int]], int]:
    """``(uri, etag, size)`` of the images under an S3 prefix (one listing), and how many others."""
    listed = _s3.list_prefix(*split_uri(prefix), recursive=True, anon=anon, connections=max(10, workers))
    entries = [(entry.uri, entry.etag, entry.size) for entry in listed]
    images = [entry for entry in entries if _is_image_file(entry[0])]
    if not images:
        raise ObjectNotFoundError(
            f"no .fits, .fits.gz or .asdf files under {prefix}; check the prefix "
            "(list it with `roman-helpers ls`)"
        )
    return images, len(entries) - len(images)


#: Start of the ``error`` of a file that could not be fetched (retried by the next build); a file
#: whose content could not be understood starts with :data:`_BAD_FILE` (kept until its ETag changes),
#: one that is readable but holds no image (a table) with :data:`NOT_AN_IMAGE` (skipped, not failed).
_NOT_READ = "not read: "
_BAD_FILE = "bad file: "
NOT_AN_IMAGE = "not an image: "


def _failure(error: BaseException, uri: str) -> str:
    if isinstance(error, NotAnImage):
        return NOT_AN_IMAGE + str(error)
    error = _s3.translate(error, uri)  # S3 errors become ours, with advice; others pass unchanged
    text = str(error).strip() or "no message"
    if isinstance(error, FileFormatError):
        return _BAD_FILE + text
    if isinstance(error, RomanHelpersError | OSError | TimeoutError) or type(error).__module__.startswith(
        "botocore"
    ):  # no such object, access refused, the network: may pass or be put right
        return _NOT_READ + text
    return _BAD_FILE + f"{type(error).__name__}: {text}"  # what the content made astropy, asdf or gwcs say


def _index_one(
    uri: str,
    etag: str | None,
    size: int | None,
    previous: Mapping[str, tuple[str, str, int]],
    anon: bool | None,
    workers: int,
    stop: threading.Event,
) -> dict[str, Any] | int:
    """Return the row of one file, or the number of its unchanged row in the previous index (no GET).

    Raises :class:`roman_helpers._pool.Cancelled` when ``stop`` is set before the file is read.
    """
    row: dict[str, Any] = {"uri": uri, "etag": etag or "", "size": size or 0}
    if stop.is_set():
        raise _pool.Cancelled
    try:
        bucket, key = split_uri(uri)
        fs = _filesystem(bucket, anon, workers)
        if etag is None:  # a URI list: one HEAD for the ETag and size
            info = fs.info(f"{bucket}/{key}", refresh=True)  # never an older listing's cached ETag
            row["etag"], row["size"] = str(info.get("ETag", "")).strip('"'), int(info.get("size", 0))
        old_etag, old_error, number = previous.get(uri, ("", "", -1))
        if row["etag"] and old_etag == row["etag"] and not old_error.startswith(_NOT_READ):
            return number
        if stop.is_set():  # Ctrl-C came during the HEAD
            raise _pool.Cancelled
        row.update(read_file(fs, bucket, key, uri, row["size"], row["etag"]))
    except _pool.Cancelled:
        raise
    except Exception as error:  # noqa: BLE001 - one bad file is recorded in its row, the index goes on
        row = {"uri": uri, "etag": row["etag"], "size": row["size"], "error": _failure(error, uri)}
    return row


def _by_uri(table: Table) -> dict[str, tuple[str, str, int]]:
    """``uri -> (etag, error, row number)`` of a previous index."""
    columns = (table[name].tolist() for name in ("uri", "etag", "error"))
    return {
        str(uri): (str(etag), str(error), i)
        for i, (uri, etag, error) in enumerate(zip(*columns, strict=True))
    }


def check_workers(max_workers: Any) -> None:
    """Refuse a number of files read at once that is not a positive whole number."""
    if type(max_workers) is not int or max_workers < 1:  # not a bool either
        raise InvalidParameterError(
            "max_workers", max_workers, hint="give a positive number of files read at once"
        )


def build_index(
    source: str | Iterable[Any],
    *,
    previous: Table | str | PathLike | None = None,
    max_workers: int = 16,
    anon: bool | None = None,
    progress: bool | None = None,
) -> Table:
    """Index image files by footprint and time, reading headers and metadata only.

    Parameters
    ----------
    source : str or iterable
        An ``s3://`` prefix, listed recursively (``.fits``, ``.fits.gz`` and ``.asdf`` files are
        kept), or the files themselves: ``s3://`` URIs (for example from
        :func:`roman_helpers.uris.cloud_uris` or astroquery's ``get_cloud_uris``), IRSA
        ``cloud_access`` entries (the JSON strings of that column, or their dictionaries),
        and ``None`` for products without a cloud copy (skipped and counted).
    previous : astropy.table.Table or path, optional
        An earlier index of the same files. Rows whose ETag is unchanged are reused without
        reading the file (one listing or one HEAD request each, no GET). Files that could not be
        fetched are tried again; files found unreadable are tried again once their ETag changes.
    max_workers : int, optional
        Files read at the same time.
    anon : bool, optional
        Anonymous access; by default decided by each bucket
        (:func:`roman_helpers.config.is_public_bucket`).
    progress : bool, optional
        Show a progress bar; by default only on a terminal.

    Returns
    -------
    astropy.table.Table
        One row per file, in listing (or input) order; the columns are described in
        :mod:`roman_helpers.footprints`. A file that could not be read has its reason in the
        ``error`` column instead of stopping the whole index, and so has a file that holds no
        image (a FITS table: skipped, not failed); ``meta["build"]`` counts the files read,
        reused, failed and skipped. A file that states what it cannot be -- a header claiming
        more data than the object's size allows, a tree nested or (through YAML aliases)
        expanded beyond what an image's metadata holds -- is such a ``bad file:`` row, read no
        further than that: one bad file costs the index a few requests, not its memory.

    Raises
    ------
    Interrupted
        On Ctrl-C, within about a second: its ``partial`` is the index of the files finished
        (with the rows of ``previous`` for the others, unchecked). Pass it as ``previous=`` to
        go on from there; ``save_index`` keeps it for another session.
    ObjectNotFoundError
        If a prefix holds no image files.
    InvalidParameterError
        If an entry of ``source`` is neither an ``s3://`` URI, a ``cloud_access`` entry nor ``None``.

    Warns
    -----
    NotInCloudWarning
        When ``None`` entries were skipped.
    UserWarning
        When some files could not be indexed.

    Examples
    --------
    >>> from roman_helpers.footprints import build_index
    >>> index = build_index("s3://stpubdata/roman/nexus/soc_simulations/tutorial_data/roman-2026.2/")
    >>> placed = index[index["error"] == ""]  # level 1 files have no WCS: skipped, with a note
    >>> len(index), len(placed), sorted(set(placed["band"])), placed["detector"][1]
    (145, 73, ['F106'], 'WFI01')
    >>> again = build_index(index.meta["source"], previous=index)  # nothing changed: no file is read
    >>> again.meta["build"]["reused"]
    145
    """
    check_workers(max_workers)
    wanted = _targets(source, anon, max_workers)
    if wanted.skipped_none:
        warnings.warn(
            f"{wanted.skipped_none} entries of the list are None (products without a copy in the cloud) "
            "and were skipped",
            NotInCloudWarning,
            stacklevel=2,
        )
    if previous is not None and not hasattr(previous, "colnames"):
        previous = load_index(previous)
    if previous is not None:
        _check_columns(previous, "previous")
    known = _by_uri(previous) if previous is not None else {}
    try:
        results = _read_all(wanted.files, known, anon, max_workers, progress)
    except Interrupted as stopped:
        raise _interrupted(stopped, wanted, known, previous) from None
    table = _assemble(results, previous)
    table.meta = _summary(table, results, wanted)
    if table.meta["build"]["failed"]:
        warnings.warn(
            f"{table.meta['build']['failed']} of {len(table)} files could not be indexed; the 'error' column "
            "says why (build again with previous= to retry those not read)",
            UserWarning,
            stacklevel=2,
        )
    return table


@dataclass
class _Targets:
    """The files to index (URI, and ETag and size when a listing gave them), and those left out."""

    files: list[tuple[str, str | None, int | None]]
    described: str
    skipped_none: int = 0
    skipped_other: int = 0


def _targets(source: Any, anon: bool | None, workers: int) -> _Targets:
    """The files of a prefix (one listing), or of a list of URIs and cloud_access entries."""
    if isinstance(source, str):
        if not source.startswith("s3://"):
            raise InvalidParameterError("source", source, hint="give an s3:// prefix or a list of s3:// URIs")
        listed, skipped_other = _list_prefix(source, anon, workers)
        return _Targets(list(listed), source, 0, skipped_other)
    if not isinstance(source, Iterable):
        raise InvalidParameterError("source", source, hint="give an s3:// prefix or a list of s3:// URIs")
    wanted = _Targets([], "")
    seen = set()  # ETag and size come from a HEAD each
    for position, item in enumerate(source):
        uri = _s3_uri(item, position)
        if uri is None:
            wanted.skipped_none += 1
        elif not _is_image_file(uri):
            wanted.skipped_other += 1
        elif uri not in seen:
            seen.add(uri)
            wanted.files.append((uri, None, None))
    wanted.described = f"{len(wanted.files)} URIs"
    return wanted


def _read_all(
    files: list[tuple[str, str | None, int | None]],
    known: Mapping[str, tuple[str, str, int]],
    anon: bool | None,
    workers: int,
    progress: bool | None,
) -> list[dict[str, Any] | int]:
    """Each file's row, or the number of its unchanged row in the previous index; in input order.

    On Ctrl-C, raises :class:`~roman_helpers.errors.Interrupted` with the rows finished by position.
    """
    from .._progress import tqdm

    def index_one(file: tuple[str, str | None, int | None], stop: threading.Event) -> dict[str, Any] | int:
        return _index_one(*file, known, anon, workers, stop)

    # No warning filter is set here: the filters are process-wide, and the readers quiet what they
    # expect (astropy's fixes of FITS keywords, erfa's "dubious" future dates) under the kit's lock.
    with tqdm(
        total=len(files), unit="file", desc="indexing", disable=None if progress is None else not progress
    ) as bar:
        return _pool.run(index_one, files, workers, name="roman-helpers-index", advance=lambda: bar.update(1))


def _interrupted(
    stopped: Interrupted, wanted: _Targets, known: Mapping[str, tuple[str, str, int]], previous: Table | None
) -> Interrupted:
    """Ctrl-C, with the index of the files finished (and the previous rows of the others) as ``partial``."""
    finished: Mapping[int, dict[str, Any] | int] = stopped.partial  # type: ignore[assignment]
    results: list[dict[str, Any] | int] = []
    unchecked = 0
    for position, (uri, _etag, _size) in enumerate(wanted.files):
        if position in finished:
            results.append(finished[position])
        elif uri in known:  # kept as it was, to be checked by the next build
            results.append(known[uri][2])
            unchecked += 1
    table = _assemble(results, previous)
    table.meta = _summary(table, results, wanted)
    table.meta["build"]["reused"] -= unchecked
    table.meta["build"]["interrupted"] = {
        "done": len(finished),
        "of": len(wanted.files),
        "unchecked": unchecked,
    }
    kept = f" (and {unchecked} rows of previous= not checked yet)" if unchecked else ""
    return Interrupted(
        f"interrupted after {len(finished)} of {len(wanted.files)} files; the index of those{kept} is this "
        "exception's .partial: build_index(source, previous=partial) goes on from there, reading only "
        "the others",
        table,
        len(finished),
        len(wanted.files),
    )


def _summary(table: Table, results: list[dict[str, Any] | int], wanted: _Targets) -> dict[str, Any]:
    """The index's ``meta``: its format, its source, and what the build did."""
    errors = [str(error) for error in table["error"]]
    not_images = sum(error.startswith(NOT_AN_IMAGE) for error in errors)
    reused = sum(isinstance(result, int) for result in results)
    return {
        _FORMAT_KEY: _FORMAT_VERSION,
        "source": wanted.described,
        "build": {
            "files": len(table),
            "read": len(table) - reused,
            "reused": reused,
            "failed": sum(error != "" for error in errors) - not_images,
            "skipped_none": wanted.skipped_none,
            "skipped_not_image": wanted.skipped_other + not_images,
        },
    }


def _assemble(results: list[dict[str, Any] | int], previous: Table | None) -> Table:
    """One table in input order from the new rows and the numbers of the reused rows of ``previous``."""
    from astropy.table import Column, Table

    new = [i for i, result in enumerate(results) if isinstance(result, dict)]
    table = _table([result for result in results if isinstance(result, dict)])
    old = [i for i, result in enumerate(results) if isinstance(result, int)]
    if not old or previous is None:
        return table
    numbers = [result for result in results if isinstance(result, int)]
    order = np.argsort(np.array(new + old), kind="stable")
    columns = {}
    for name in COLUMNS:
        values = np.asarray(previous[name])[numbers].astype(table[name].dtype)
        columns[name] = Column(
            np.concatenate([np.asarray(table[name]), values])[order], unit=_UNITS.get(name)
        )
    return Table(columns)
