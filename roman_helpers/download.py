"""Copy S3 objects to a local folder, correctly or not at all.

Streaming (:mod:`roman_helpers.stream`) is the better habit for Roman data; when a local copy is
really needed, :func:`download` makes sure a wrong file never sits at the final path:

* each object goes to a temporary file *in the destination folder*, is verified (size always; the
  MD5 when the ETag is a single-part one, an ``x-amz-checksum-*`` value when S3 sends one), and
  only then renamed into place, atomically;
* transient failures are retried: a request that fails before its body arrives (503 SlowDown,
  500, resets, time-outs) by botocore itself, with its exponential backoff; a body that breaks
  off is resumed into the temporary file with a ``Range`` request; persistent failures (missing
  key, access denied, local disk errors) fail at once;
* keys that would land outside the destination are refused (:func:`safe_destination`), and so are
  keys no local folder can hold as they are named: a file and a folder of one name (``a`` and
  ``a/b``), a name longer than the file system allows (255 bytes on Linux, macOS and Windows),
  a folder or a file already in the way; the other keys are fetched all the same;
* files already present are skipped after one HEAD, without a GET: checked by content when S3
  gives a whole-object checksum or a single-part ETag; otherwise (a multipart ETag and no
  checksum, as for most large objects) when the file has the object's size and still carries the
  object's Last-Modified time, which :func:`download` gives every file it writes (the rule of
  ``aws s3 sync``: a file changed since has another modification time and is fetched again);
* two processes (or threads) fetching the same key to the same path take turns through a lock
  file (:mod:`filelock`, on Linux, macOS and Windows) and end with one correct file.

Throughput matches boto3's transfer manager: objects of ``PART_THRESHOLD`` bytes or more are
fetched as concurrent ranged GETs of ``PART_SIZE`` bytes written at their offsets (as boto3 does),
every object costs one HEAD plus its GETs, the file is read back once to compute only the digests
S3 can be compared with, and one AWS client (whose service model loads once per process) is
shared by all workers.

We use botocore directly, not ``s3fs.S3FileSystem.get``: ``get`` writes straight into the final
path, leaves truncated or zero-filled files behind on failure and does not keep keys such as
``a/../../x`` inside the destination.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from roman_helpers import _s3, config, transfer
from roman_helpers._progress import shown
from roman_helpers.errors import (
    AccessDeniedError,
    DownloadError,
    EndpointUnreachableError,
    IntegrityError,
    Interrupted,
    ObjectNotFoundError,
    RomanHelpersError,
    UnsafePathError,
)
from roman_helpers.uris import split_uri

if TYPE_CHECKING:
    from collections.abc import Iterable

    from filelock import BaseFileLock

__all__ = ["DownloadResult", "download", "safe_destination"]

#: Bytes per read of a response body: 512 KiB halves the GIL hand-overs per byte of 256 KiB reads
#: (measured: ~8 % more throughput with 12 workers on two cores).
CHUNK = 512 * 1024
#: Objects this large or larger are fetched as concurrent ranged parts. boto3 splits from 8 MiB;
#: below 16 MiB one stream takes < 0.1 s at 200 MB/s and the extra request costs more than it saves
#: when several objects are in flight (measured with ``make bench``).
PART_THRESHOLD = 16 * 1024 * 1024
#: Size of each ranged part (boto3's multipart_chunksize).
PART_SIZE = 8 * 1024 * 1024
#: Local errors no retry can mend (Windows has no EDQUOT).
_DISK_ERRORS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, getattr(errno, "EDQUOT", errno.ENOSPC)}
#: Bytes a file or folder name may have where the file system does not say (ext4, APFS, NTFS: 255).
NAME_MAX = 255


@dataclass
class DownloadResult:
    """What happened to one URI.

    Attributes
    ----------
    uri : str
    path : pathlib.Path or None
        Final local path (``None`` when the key was refused).
    status : str
        ``"downloaded"``, ``"skipped"`` (already present: see ``verified``) or ``"failed"``.
    bytes : int
        Bytes received from S3 for this object (0 when skipped).
    verified : bool
        True when the content was checked against an MD5 or S3 checksum. False for an object
        S3 gives no whole-object checksum for: a download checked by its size, a skip decided by
        size and modification time.
    error : Exception or None
        The error for a failed object (a :mod:`roman_helpers.errors` type).
    attempts : int
        GET requests sent for this object: every part, resumption and retry counts.
    """

    uri: str
    path: Path | None
    status: str
    bytes: int = 0
    verified: bool = False
    error: Exception | None = None
    attempts: int = 0


def safe_destination(destination: str | os.PathLike, key: str) -> Path:
    """Return where ``key`` goes under ``destination``, refusing any key that would escape it.

    Parameters
    ----------
    destination : str or path-like
        Destination folder.
    key : str
        S3 key (``/``-separated); anything else is refused.

    Returns
    -------
    pathlib.Path
        Absolute path inside ``destination`` (symlinks resolved).

    Raises
    ------
    UnsafePathError
        The key is empty, starts with ``/``, holds a backslash, an empty, ``.`` or ``..``
        segment, or resolves (through a symlink) outside ``destination``.

    Examples
    --------
    >>> safe_destination("/tmp/data", "hst/public/a.fits").as_posix()
    '/tmp/data/hst/public/a.fits'
    >>> safe_destination("/tmp/data", "a/../../esc")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    roman_helpers.errors.UnsafePathError: refusing key 'a/../../esc': ...
    """

    def refuse(why: str) -> UnsafePathError:
        return UnsafePathError(
            f"refusing key {key!r}: {why}; keys must stay inside {str(destination)!r} "
            "(relative, '/'-separated, without '.' or '..' segments)"
        )

    if not key or not isinstance(key, str):  # the check of the type is for untyped callers
        raise refuse("it is empty")
    if "\\" in key or "\x00" in key:
        raise refuse("it holds a backslash or NUL character")
    if key.startswith("/"):
        raise refuse("it is absolute")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise refuse("it has an empty, '.' or '..' segment")
    root = Path(destination).resolve()
    target = root.joinpath(*parts).resolve()
    if target == root or not target.is_relative_to(root):
        raise refuse(f"it resolves to {str(target)!r}, outside the destination (symlink?)")
    return target


def _name_max(folder: Path) -> int:
    """The longest name, in bytes, a file in ``folder`` may have."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (AttributeError, OSError, ValueError):  # no pathconf (Windows), or no answer
        return NAME_MAX


def _beside(path: Path, suffix: str) -> Path:
    """A hidden file next to ``path`` (its temporary copy, its lock): ``.NAME.SUFFIX``.

    For a name near the limit of the file system, a digest of it instead, so that a file that fits
    is not refused for the length of its companions.
    """
    name = f".{path.name}.{suffix}"
    if len(os.fsencode(name)) > _name_max(path.parent):
        name = f".{hashlib.sha256(os.fsencode(path.name)).hexdigest()[:32]}.{suffix}"
    return path.with_name(name)


def _refusals(uris: list[str], destination: Path) -> dict[str, DownloadError]:
    """Keys no local folder can hold as they are named, each with its reason; refused before any fetch.

    S3 keys are names, not paths: ``a`` and ``a/b`` are two objects, but ``a`` cannot be a file
    and a folder at once; a key may hold 1,024 bytes, a file name 255. Which key of a collision is
    refused does not depend on which worker is first: the object named like a folder gives way.
    """
    name_max = _name_max(destination)
    paths: dict[str, Path] = {}
    refused: dict[str, DownloadError] = {}
    for uri in uris:
        try:
            paths[uri] = safe_destination(destination, split_uri(uri)[1])
        except RomanHelpersError:
            continue  # refused again, with its reason, when its turn comes
        parts = split_uri(uri)[1].split("/")
        too_long = [part for part in parts if len(os.fsencode(part)) > name_max]
        if too_long:
            what = (
                "its name is"
                if too_long[0] == parts[-1]
                else f"the folder name {too_long[0][:24]}... in it is"
            )
            refused[uri] = DownloadError(
                f"{uri}: {what} {len(os.fsencode(too_long[0]))} bytes long, more than the {name_max} bytes "
                "a name may have on this file system; save it under a shorter name (boto3's download_file)"
            )
    folders: dict[Path, str] = {}  # every folder some key needs -> one such key
    for uri, path in paths.items():
        for parent in path.parents:
            folders.setdefault(parent, uri)
    root = destination.resolve()
    for uri, path in paths.items():
        if uri in refused:
            continue
        if path in folders:
            refused[uri] = DownloadError(
                f"{uri}: a file and a folder of one name: {path.name!r} is this object, and also the folder "
                f"of {folders[path]}; a local folder cannot hold both, so this one is left out "
                "(fetch it on its own into another folder)"
            )
        elif path.is_dir():
            refused[uri] = DownloadError(
                f"{uri}: a folder is already there, at {str(path)!r}; move it, or fetch into another folder"
            )
        else:
            blocking = next(
                (p for p in path.parents if p != root and p.is_relative_to(root) and p.is_file()), None
            )
            if blocking is not None:
                refused[uri] = DownloadError(
                    f"{uri}: a file is already at {str(blocking)!r}, where this key needs a folder; move it, "
                    "or fetch into another folder"
                )
    return refused


class _Sent(threading.local):
    """HTTP requests our client sent from this thread since the count was last reset."""

    requests = 0


_SENT = _Sent()


def _count_sent(**kwargs: Any) -> None:
    """botocore handler for ``request-created``: once per HTTP attempt, botocore's retries included.

    A client call runs (retries and all) in the calling thread, so a per-thread count gives the
    exact number of requests behind each call, also when it raises without a response.
    """
    _SENT.requests += 1


def _client(anon: bool, max_workers: int) -> Any:
    # botocore retries a request that fails before its body arrives (5xx and SlowDown answers, lost
    # connections, time-outs), with jittered exponential backoff and a retry quota. Its retries end
    # once the headers are in, so resuming a body that breaks off into the temporary file, starting
    # over when the ETag changes mid-download and fetching again after a checksum mismatch stay in
    # _download. A worker per object, and one per extra part, each want a connection.
    client = _s3.client(
        anon=anon,
        connections=max(10, 2 * max_workers),
        max_attempts=config.max_attempts(),
        handlers=(("request-created.s3", _count_sent),),
    )
    return transfer.watch(client)  # counted by transfer.measure() blocks, whenever they start


class _Transient(Exception):
    """A failure worth another attempt."""


def _classify(error: Exception, uri: str) -> Exception:
    """Map a botocore/network error to our error types; _Transient when a retry may help.

    ``uri`` may be empty where only the kind of failure matters (and no message is shown).
    """
    status, code = _s3.answer(error)
    if _s3.is_transient(error):
        return _Transient(f"S3 answered {code or status}" if status else f"{type(error).__name__}: {error}")
    if status is not None or code:  # S3 answered, and not "try again"
        translated = _s3.translate(error, uri, probe=bool(uri))
        if isinstance(translated, (ObjectNotFoundError, AccessDeniedError)):
            return translated
        return DownloadError(f"{uri}: S3 answered {code or status}")
    if _s3.from_botocore(error):  # no credentials, a bad parameter ...: no retry helps
        return DownloadError(f"{uri}: {type(error).__name__}: {error}")
    return error


class _Digest:
    """The digests S3 can be compared with, computed while the file is written, even out of order.

    Parts write at their own offsets; the digests advance over the contiguous prefix: a chunk
    written right after it is hashed at once, one further on is hashed with the bytes between
    (already on disk, written by the same part). :meth:`finish` reads whatever is left.
    """

    def __init__(self, names: list[str]) -> None:
        self.names, self.lock = names, threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.hashes = {name: hashlib.new(name) for name in self.names if name != "crc32"}
        self.crc, self.position = 0, 0

    def _update(self, data: bytes | bytearray) -> None:
        for digest in self.hashes.values():
            digest.update(data)
        if "crc32" in self.names:
            self.crc = zlib.crc32(data, self.crc)

    def feed(self, handle: BinaryIO, start: int, offset: int, data: bytes) -> None:
        """``data`` was just written at ``offset`` through ``handle``.

        The part that wrote it has its bytes from ``start`` on disk.
        ``handle`` is the part's own file object, positioned after ``data``, and is left there.
        """
        with self.lock:
            if start <= self.position <= offset:
                if self.position < offset:
                    self._update(_read_at(handle, self.position, offset - self.position))
                    handle.seek(offset + len(data))
                self._update(data)
                self.position = offset + len(data)

    def finish(self, path: Path) -> dict[str, str]:
        """Hash the rest of ``path``; return the digests in S3's notation."""
        with open(path, "rb") as handle:
            handle.seek(self.position)
            for block in iter(lambda: handle.read(1 << 20), b""):
                self._update(block)
            self.position = handle.tell()
        local = {name: base64.b64encode(digest.digest()).decode() for name, digest in self.hashes.items()}
        if "md5" in self.hashes:
            local["md5"] = self.hashes["md5"].hexdigest()
        if "crc32" in self.names:
            local["crc32"] = base64.b64encode(self.crc.to_bytes(4, "big")).decode()
        return local


def _remote_digests(head: dict[str, Any]) -> dict[str, str]:
    """HEAD's whole-object digests: ``x-amz-checksum-*`` values and a single-part ETag (the MD5)."""
    remote = {
        name: value
        for name in ("sha256", "sha1", "crc32")
        if (value := head.get(f"Checksum{name.upper()}")) and "-" not in value
    }
    etag = head.get("ETag", "").strip('"')
    if etag and "-" not in etag:  # a single-part ETag is the object's MD5
        remote["md5"] = etag
    return remote


def _verify(path: Path, head: dict, uri: str, digest: _Digest | None = None) -> bool:
    """Check ``path`` against HEAD's size and checksums; True when content was checked."""
    size = path.stat().st_size
    if size != head["ContentLength"]:
        raise IntegrityError(f"{uri}: got {size} bytes, S3 reports {head['ContentLength']}")
    remote = _remote_digests(head)
    local = (digest or _Digest(list(remote))).finish(path) if remote else {}
    for name, value in remote.items():
        if value != local[name]:
            what = "MD5" if name == "md5" else f"{name} checksum"
            raise IntegrityError(
                f"{uri}: {what} {local[name]} differs from S3's {'ETag ' if name == 'md5' else ''}{value}"
            )
    return bool(remote)


#: Seconds a file's modification time may differ from the object's Last-Modified and still match
#: (FAT file systems keep modification times to 2 s).
_MTIME_SLACK = 2.0


def _last_modified(head: dict) -> float | None:
    stamp = head.get("LastModified")
    return stamp.timestamp() if stamp is not None else None


def _present(path: Path, head: dict, uri: str) -> bool | None:
    """Whether ``path`` already holds the object: None if not, else whether that was checked by content.

    With a whole-object checksum (or a single-part ETag) the content decides. Without one, the
    size and the object's Last-Modified time, which :func:`_download` gives the files it writes.
    """
    try:
        if not path.is_file():
            return None
        if _remote_digests(head):
            return True if _verify(path, head, uri) else None
        stat, stamp = path.stat(), _last_modified(head)
        if (
            stat.st_size == head["ContentLength"]
            and stamp is not None
            and abs(stat.st_mtime - stamp) <= _MTIME_SLACK
        ):
            return False
        return None
    except IntegrityError:
        return None  # differs: fetch it again


# Positional I/O without os.pread/os.pwrite (absent on Windows): every part writes through a
# file object of its own, opened unbuffered, so each has its own position and no two threads
# ever share one; a seek on it followed by writes needs no lock. The bytes are in the OS's file
# cache as soon as write returns, so any other file object on the file reads them.
def _write_all(handle: BinaryIO, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[handle.write(view) :]


def _read_at(handle: BinaryIO, offset: int, size: int) -> bytearray:
    handle.seek(offset)
    data = bytearray()
    while len(data) < size and (block := handle.read(size - len(data))):
        data += block
    return data


class _Changed(_Transient):
    """The object's ETag is no longer HEAD's: every part starts over."""


class _GaveUp(Exception):
    """botocore retried a request as often as allowed: no further attempt."""


class _Stopped(Exception):
    """Another part of the same attempt failed first; this one stopped early."""


@dataclass
class _Part:
    """Bytes ``[start, end)`` of an object; ``done`` of them are on disk, from ``start``."""

    start: int
    end: int
    done: int = 0
    received: int = 0  # bytes received for this part over all attempts
    requests: int = 0  # GET requests sent for this part, botocore's retries included

    @property
    def missing(self) -> int:
        return self.end - self.start - self.done


def _split(total: int) -> list[_Part]:
    if total < PART_THRESHOLD:
        return [_Part(0, total)]
    return [_Part(start, min(start + PART_SIZE, total)) for start in range(0, total, PART_SIZE)]


def _head(client: Any, bucket: str, key: str, uri: str) -> dict:
    """HEAD the object (botocore retries transient failures); raise our error type when it fails."""
    _SENT.requests = 0
    try:
        return client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except Exception as error:
        mapped = _classify(error, uri)
        if isinstance(mapped, _Transient):
            unreachable = _s3.translate(error, uri)  # no connection at all: say so, with what to do
            mapped = (
                unreachable
                if isinstance(unreachable, EndpointUnreachableError)
                else DownloadError(
                    f"{uri}: gave up after {_SENT.requests} HEAD requests; last error: {mapped}"
                )
            )
        raise mapped from error


def _get_part(
    client: Any,
    bucket: str,
    key: str,
    etag: str,
    part: _Part,
    temp: Path,
    whole: bool,
    digest: _Digest,
    progress: _Progress,
    cancel: threading.Event,
    stop: threading.Event,
) -> None:
    """GET the missing bytes of ``part`` and write them at their offset in ``temp``."""
    request = {"Bucket": bucket, "Key": key}
    if whole:
        request["ChecksumMode"] = "ENABLED"  # botocore checks x-amz-checksum-* on full GETs
    else:
        request["Range"] = f"bytes={part.start + part.done}-{part.end - 1}"
    _SENT.requests = 0
    try:
        response = client.get_object(**request)
    except Exception as error:
        mapped = _classify(error, "")
        if isinstance(mapped, _Transient):
            raise _GaveUp(str(mapped)) from error
        raise
    finally:
        part.requests += _SENT.requests
    body = response["Body"]
    try:
        if response.get("ETag", "").strip('"') != etag:
            raise _Changed("object changed during download")
        if response["ContentLength"] != part.missing:
            raise _Transient(f"S3 sent {response['ContentLength']} bytes for a request of {part.missing}")
        with open(temp, "r+b", buffering=0) as handle:
            handle.seek(part.start + part.done)
            for chunk in body.iter_chunks(CHUNK):
                if cancel.is_set():
                    raise KeyboardInterrupt
                if stop.is_set():
                    raise _Stopped
                _write_all(handle, chunk)
                digest.feed(handle, part.start, part.start + part.done, chunk)
                part.done += len(chunk)
                part.received += len(chunk)
                progress.update(len(chunk))
    finally:
        body.close()
    if part.missing:
        raise _Transient(f"short body: {part.done} of {part.end - part.start} bytes")


def _get_parts(
    client: Any,
    bucket: str,
    key: str,
    etag: str,
    parts: list[_Part],
    temp: Path,
    digest: _Digest,
    pool: ThreadPoolExecutor,
    progress: _Progress,
    cancel: threading.Event,
) -> None:
    """One GET per part still missing bytes, concurrently (the first in this thread); raise the first failure.

    Every GET of the attempt has ended when this returns or raises: no write lands afterwards.
    """
    todo = [part for part in parts if part.missing]
    whole = len(parts) == 1 and parts[0].done == 0
    stop = threading.Event()

    def run(part: _Part) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        try:
            _get_part(client, bucket, key, etag, part, temp, whole, digest, progress, cancel, stop)
        except BaseException as error:
            if not (isinstance(error, Exception) and type(_classify(error, "")) is _Transient):
                stop.set()  # this ends the attempt (Ctrl-C, disk, changed object): the others stop too
            raise

    futures = [pool.submit(run, part) for part in todo[1:]]
    errors: list[BaseException] = []
    for call in [lambda: run(todo[0])] if todo else []:
        try:
            call()
        except BaseException as error:  # noqa: BLE001 - collected, raised below
            errors.append(error)
    for future in futures:
        try:
            future.result()
        except BaseException as error:  # noqa: BLE001 - collected, raised below
            errors.append(error)
    errors = [error for error in errors if not isinstance(error, _Stopped)]
    if errors:
        raise next((error for error in errors if isinstance(error, KeyboardInterrupt)), errors[0])


def _restart(handle: BinaryIO, parts: list[_Part], digest: _Digest) -> None:
    handle.truncate(0)  # wrong or stale bytes: resuming would keep them
    digest.reset()
    for part in parts:
        part.done = 0


def _lock(path: Path, cancel: threading.Event) -> tuple[BaseFileLock, bool]:
    """Take the lock of ``path``; return it and whether someone else held it first."""
    from filelock import FileLock, Timeout

    lock = FileLock(_beside(path, "lock"))
    waited = False
    while True:
        try:
            lock.acquire(timeout=0.2 if waited else 0)
            return lock, waited
        except Timeout:
            if cancel.is_set():
                raise KeyboardInterrupt from None
            waited = True


def _unlock(lock: BaseFileLock) -> None:
    """Release ``lock`` and leave no lock file behind."""
    from filelock import UnixFileLock

    if isinstance(lock, UnixFileLock):
        # filelock leaves a Unix lock file in place on release; we remove it while still holding
        # the lock. A process waiting on it then finds, once it gets the lock, that the file has no
        # name left (filelock checks st_nlink) and tries again on a new one: never two holders.
        # Windows removes the file itself on release.
        Path(lock.lock_file).unlink(missing_ok=True)
    lock.release()


def _fetch(
    client: Any,
    uri: str,
    destination: Path,
    overwrite: bool,
    progress: _Progress,
    cancel: threading.Event,
    pool: ThreadPoolExecutor,
    result: DownloadResult,
) -> None:
    """Fetch one object into ``destination``, filling in ``result``; raise our error types on failure."""
    bucket, key = split_uri(uri)
    path = result.path = safe_destination(destination, key)
    head = _head(client, bucket, key, uri)
    if not overwrite and (checked := _present(path, head, uri)) is not None:
        result.status, result.verified = "skipped", checked
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    progress.add_total(head["ContentLength"])
    lock, waited = _lock(path, cancel)  # another process or thread on the same path: wait for it
    try:
        if waited and (checked := _present(path, head, uri)) is not None:  # it has just fetched the object
            progress.update(head["ContentLength"])
            result.status, result.verified = "skipped", checked
            return
        _download(client, bucket, key, uri, head, path, progress, cancel, pool, result)
    finally:
        _unlock(lock)


def _download(
    client: Any,
    bucket: str,
    key: str,
    uri: str,
    head: dict,
    path: Path,
    progress: _Progress,
    cancel: threading.Event,
    pool: ThreadPoolExecutor,
    result: DownloadResult,
) -> None:
    """GET the object into a temporary file, verify it, rename it to ``path``.

    botocore has retried each request already (see :func:`_client`); the attempts here resume
    a body that broke off, or start over after an ETag change or a checksum mismatch.
    """
    etag = head.get("ETag", "").strip('"')
    temp = _beside(path, "part")
    total = head["ContentLength"]
    pieces = _split(total)  # one GET, or concurrent ranged GETs for a big object
    digest = _Digest(list(_remote_digests(head)))

    def requests() -> int:
        return sum(part.requests for part in pieces)

    last_error: Exception | None = None
    try:
        with open(temp, "w+b") as handle:  # "w": bytes of an earlier, interrupted run go
            for _attempt in _s3.attempts(config.max_attempts(), config.backoff()):
                try:
                    _get_parts(client, bucket, key, etag, pieces, temp, digest, pool, progress, cancel)
                    os.fsync(handle.fileno())
                    size = os.fstat(handle.fileno()).st_size
                    if size != total:
                        raise _Transient(f"short body: {size} of {total} bytes")
                    verified = _verify(temp, head, uri, digest)
                    break
                except IntegrityError as error:  # before RomanHelpersError and OSError: it is both
                    _restart(handle, pieces, digest)
                    last_error = error
                except RomanHelpersError:
                    raise
                except _GaveUp as error:
                    raise DownloadError(
                        f"{uri}: gave up after {requests()} GET requests; last error: {error}"
                    ) from error
                except OSError as error:
                    if not isinstance(error, (ConnectionError, TimeoutError)) and error.errno in _DISK_ERRORS:
                        raise DownloadError(f"{uri}: cannot write {str(path)!r}: {error.strerror}") from error
                    last_error = _Transient(str(error))
                except Exception as error:  # noqa: BLE001 - botocore's and the network's: sorted there
                    last_error = _failed_attempt(error, uri, handle, pieces, digest)
            else:
                if isinstance(last_error, IntegrityError):
                    raise IntegrityError(f"{last_error} (after {requests()} GET requests)")
                raise DownloadError(
                    f"{uri}: gave up after {requests()} GET requests; last error: {last_error}"
                )
        if (stamp := _last_modified(head)) is not None:  # what a later run's skip compares with
            os.utime(temp, (time.time(), stamp))
        os.replace(temp, path)  # atomic: the final path is either absent/old or complete
        result.status, result.verified = "downloaded", verified
    finally:
        result.attempts, result.bytes = requests(), sum(p.received for p in pieces)
        temp.unlink(missing_ok=True)  # never leave a temporary file behind


def _failed_attempt(
    error: Exception, uri: str, handle: BinaryIO, pieces: list[_Part], digest: _Digest
) -> Exception:
    """What an attempt that raised ``error`` leaves for the next one: raise when none can help."""
    if _s3.checksum_mismatch(error):  # botocore compared S3's checksum with the body: start over
        _restart(handle, pieces, digest)
        return IntegrityError(f"{uri}: {error}")
    mapped = _classify(error, uri)
    if not isinstance(mapped, _Transient):
        raise mapped from error
    if isinstance(mapped, _Changed):
        _restart(handle, pieces, digest)
    return mapped


class _Progress:
    """Thread-safe wrapper of one tqdm bar whose total grows as sizes become known."""

    def __init__(self, enabled: bool, count: int) -> None:
        from ._progress import tqdm

        self.bar = tqdm(total=0, unit="B", unit_scale=True, desc=f"{count} file(s)", disable=not enabled)
        self.lock = threading.Lock()

    def add_total(self, size: int) -> None:
        with self.lock:
            self.bar.total += size
            self.bar.refresh()

    def update(self, size: int) -> None:
        with self.lock:
            self.bar.update(size)

    def close(self) -> None:
        self.bar.close()


def download(
    uris: str | Iterable[str],
    destination: str | os.PathLike,
    *,
    anon: bool | None = None,
    max_workers: int | None = None,
    progress: bool | None = None,
    overwrite: bool = False,
) -> list[DownloadResult]:
    """Download S3 objects into ``destination``, keeping their keys as relative paths.

    Parameters
    ----------
    uris : str or iterable of str
        ``s3://bucket/key`` URIs.
    destination : str or path-like
        Local folder; created if missing.
    anon : bool, optional
        Force anonymous (True) or credentialed (False) requests; by default public buckets
        (:func:`roman_helpers.config.is_public_bucket`) are read anonymously.
    max_workers : int, optional
        Objects fetched in parallel; by default :func:`roman_helpers.config.download_workers`
        (12, or ``ROMAN_HELPERS_DOWNLOAD_WORKERS``), the default of ``roman-helpers get`` too.
        As many more threads fetch the extra parts of objects of :data:`PART_THRESHOLD` bytes
        or more.
    progress : bool, optional
        Show a progress bar of bytes. By default a widget in Jupyter, a text bar on a
        terminal and none in a log or redirected output; True or False forces it.
    overwrite : bool
        Fetch again even when a copy is present.

    Returns
    -------
    list of DownloadResult
        One per URI, in order. Failures are reported there (``status == "failed"`` and ``error``),
        so one bad key does not stop the others: a missing object, refused access, a network that
        kept failing, a local disk error, and keys no local folder can hold as named (a file and a
        folder of one name, ``a`` and ``a/b``: the file is left out; a name over 255 bytes; a
        folder or a file already in the way), which are refused before anything is fetched.

    Raises
    ------
    DownloadError
        When ``destination`` cannot be made a folder.
    RomanHelpersError
        For a ``ROMAN_HELPERS_DOWNLOAD_WORKERS`` that is not a positive number.

    Notes
    -----
    ``ROMAN_HELPERS_MAX_ATTEMPTS`` (default 5) bounds both the requests botocore sends for one
    call (it waits between them with its own jittered exponential backoff) and the attempts
    at an object whose body breaks off or fails verification; those wait
    ``ROMAN_HELPERS_BACKOFF`` seconds (default 0.2) first, doubled each time. Every request has
    the :func:`roman_helpers.config.timeout`. :func:`roman_helpers.transfer.measure` counts the
    requests. On Ctrl-C the temporary files are removed and :class:`~roman_helpers.errors.Interrupted`
    (a ``KeyboardInterrupt``) is raised, its ``partial`` the results of the files finished.

    Examples
    --------
    >>> results = download(
    ...     ["s3://stpubdata/hst/public/ib1f/ib1f01010/ib1f01010_drz.fits"], "data", progress=False
    ... )
    >>> results[0].status, results[0].bytes > 0
    ('downloaded', True)
    >>> results[0].path.relative_to(Path("data").resolve()).as_posix()
    'hst/public/ib1f/ib1f01010/ib1f01010_drz.fits'
    """
    uri_list = [uris] if isinstance(uris, str) else list(uris)
    if max_workers is None:
        try:
            max_workers = config.download_workers()
        except ValueError as error:  # a bad ROMAN_HELPERS_DOWNLOAD_WORKERS: config's message says so
            raise RomanHelpersError(str(error)) from None
    progress = shown(progress)
    destination = Path(destination)
    try:
        destination.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DownloadError(
            f"cannot make the destination folder {str(destination)!r}: {error.strerror or error}"
        ) from error
    refused = _refusals(uri_list, destination)
    clients: dict[bool, object] = {}
    clients_lock = threading.Lock()
    cancel = threading.Event()
    bar = _Progress(progress, len(uri_list))

    def one(uri: str) -> DownloadResult:
        result = DownloadResult(uri, None, "failed", error=refused.get(uri))
        if result.error is not None:
            return result
        try:
            bucket, _ = split_uri(uri)
            use_anon = config.is_public_bucket(bucket) if anon is None else anon
            with clients_lock:  # one client per kind, shared by every worker
                if use_anon not in clients:
                    clients[use_anon] = _client(use_anon, max_workers)
            _fetch(clients[use_anon], uri, destination, overwrite, bar, cancel, parts, result)
        except RomanHelpersError as error:
            result.status, result.error = "failed", error
        except OSError as error:  # the local folder (a name in the way since the check, a path too long)
            result.status = "failed"
            result.error = DownloadError(
                f"{uri}: cannot write {str(result.path)!r}: {error.strerror or error}"
            )
            result.error.__cause__ = error
        return result

    workers = max(1, max_workers)
    with ThreadPoolExecutor(workers) as pool, ThreadPoolExecutor(workers, thread_name_prefix="part") as parts:
        futures = [pool.submit(one, uri) for uri in uri_list]
        try:
            pending = set(futures)
            while pending:
                _, pending = wait(pending, timeout=0.2)
        except KeyboardInterrupt:
            cancel.set()
            for future in futures:
                future.cancel()
            wait(futures)
            bar.close()
            finished = [f.result() for f in futures if not f.cancelled() and f.exception() is None]
            raise Interrupted(
                f"interrupted after {len(finished)} of {len(futures)} files; those downloaded are kept "
                "(this exception's .partial lists them), the files under way removed",
                finished,
                len(finished),
                len(futures),
            ) from None
    bar.close()
    return [future.result() for future in futures]
