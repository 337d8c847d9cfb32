"""Copy S3 objects to a local folder, correctly or not at all.

Streaming (:mod:`roman_helpers.stream`) is the better habit for Roman data; when a local copy is
really needed, :func:`download` makes sure a wrong file never sits at the final path:

* each object goes to a temporary file *in the destination folder*, is verified (size always; the
  MD5 when the ETag is a single-part one, an ``x-amz-checksum-*`` value when S3 sends one), and
  only then renamed into place, atomically;
* transient failures (503 SlowDown, 500, resets, short bodies, timeouts) are retried with
  exponential backoff within a budget, resuming the temporary file with a ``Range`` request;
  persistent ones (missing key, access denied, local disk errors) fail at once;
* keys that would land outside the destination are refused (:func:`safe_destination`);
* files already present and verified are skipped after one HEAD, without a GET;
* two processes fetching the same key to the same path take turns through a lock on the
  temporary file and end with one correct file.

We use botocore directly, not ``s3fs.S3FileSystem.get``: ``get`` writes straight into the final
path, leaves truncated or zero-filled files behind on failure and does not keep keys such as
``a/../../x`` inside the destination (see REFERENCE.md §2).
"""

from __future__ import annotations

import base64
import errno
import fcntl
import hashlib
import os
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from roman_helpers import config
from roman_helpers.errors import (AccessDeniedError, DownloadError, IntegrityError, ObjectNotFoundError,
                                  RomanHelpersError, UnsafePathError)
from roman_helpers.uris import split_uri

__all__ = ["DownloadResult", "download", "safe_destination"]

CHUNK = 256 * 1024
_TRANSIENT_CODES = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "Throttling",
                    "500", "502", "503", "504"}


@dataclass
class DownloadResult:
    """What happened to one URI.

    Attributes
    ----------
    uri : str
    path : pathlib.Path or None
        Final local path (``None`` when the key was refused).
    status : str
        ``"downloaded"``, ``"skipped"`` (already present and verified) or ``"failed"``.
    bytes : int
        Bytes received from S3 for this object (0 when skipped).
    verified : bool
        True when the content was checked against an MD5 or S3 checksum, not only its size.
    error : Exception or None
        The error for a failed object (a :mod:`roman_helpers.errors` type).
    attempts : int
        GET attempts made.
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
        S3 key (``/``-separated).

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
        return UnsafePathError(f"refusing key {key!r}: {why}; keys must stay inside {str(destination)!r} "
                               "(relative, '/'-separated, without '.' or '..' segments)")

    if not isinstance(key, str) or not key:
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


def _client(anon: bool, max_workers: int):
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    options = {
        "connect_timeout": config.timeout(), "read_timeout": config.timeout(),
        # one attempt per call: we retry ourselves so that a retry resumes the temporary file
        # and the attempt count in errors is exact
        "retries": {"total_max_attempts": 1, "mode": "standard"},
        "max_pool_connections": max(10, max_workers),
    }
    if anon:
        options["signature_version"] = UNSIGNED  # public buckets: no Authorization header at all
    return boto3.session.Session().client("s3", config=Config(**options))


def _max_attempts() -> int:
    return config.max_attempts()


def _backoff() -> float:
    return config.backoff()


class _Transient(Exception):
    """A failure worth another attempt."""


def _classify(error: Exception, uri: str) -> Exception:
    """Map a botocore/network error to our error types; _Transient when a retry may help."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _TRANSIENT_CODES or (status and status >= 500):
            return _Transient(f"S3 answered {code or status}")
        if code in ("NoSuchKey", "404", "NoSuchBucket", "NotFound"):
            return ObjectNotFoundError(f"{uri} does not exist (S3 said {code}); check the bucket and key, "
                                       "for example with 'roman-helpers ls'")
        if code in ("AccessDenied", "403", "Forbidden"):
            return AccessDeniedError(f"access to {uri} was refused (S3 said {code}); public buckets are read "
                                     "anonymously, others need credentials (on the science platform: its role)")
        return DownloadError(f"{uri}: S3 answered {code or status}")
    if isinstance(error, (BotoCoreError, ConnectionError, TimeoutError)):
        return _Transient(f"{type(error).__name__}: {error}")
    return error


def _local_checksums(path: Path) -> dict[str, str]:
    md5, sha1, sha256, crc = hashlib.md5(), hashlib.sha1(), hashlib.sha256(), 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            md5.update(block), sha1.update(block), sha256.update(block)
            crc = zlib.crc32(block, crc)
    return {"md5": md5.hexdigest(), "sha1": base64.b64encode(sha1.digest()).decode(),
            "sha256": base64.b64encode(sha256.digest()).decode(),
            "crc32": base64.b64encode(crc.to_bytes(4, "big")).decode()}


def _verify(path: Path, head: dict, uri: str) -> bool:
    """Check ``path`` against HEAD's size and checksums; True when content was checked."""
    size = path.stat().st_size
    if size != head["ContentLength"]:
        raise IntegrityError(f"{uri}: got {size} bytes, S3 reports {head['ContentLength']}")
    local = _local_checksums(path)
    checked = False
    for name in ("sha256", "sha1", "crc32"):
        remote = head.get(f"Checksum{name.upper()}")
        if remote and "-" not in remote:
            if remote != local[name]:
                raise IntegrityError(f"{uri}: {name} checksum {local[name]} differs from S3's {remote}")
            checked = True
    etag = head.get("ETag", "").strip('"')
    if etag and "-" not in etag:  # a single-part ETag is the object's MD5
        if etag != local["md5"]:
            raise IntegrityError(f"{uri}: MD5 {local['md5']} differs from S3's ETag {etag}")
        checked = True
    return checked


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _fetch(client, uri: str, destination: Path, overwrite: bool, progress, cancel: threading.Event
           ) -> DownloadResult:
    bucket, key = split_uri(uri)
    path = safe_destination(destination, key)
    attempts, received = 0, 0
    head = None
    for attempt in range(1, _max_attempts() + 1):
        try:
            head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
            break
        except Exception as error:  # noqa: BLE001 - classified below
            mapped = _classify(error, uri)
            if not isinstance(mapped, _Transient) or attempt == _max_attempts():
                raise mapped if not isinstance(mapped, _Transient) else DownloadError(
                    f"{uri}: gave up after {attempt} HEAD attempts ({mapped})") from error
            time.sleep(_backoff() * 2 ** (attempt - 1))
    if path.exists() and not overwrite:
        try:
            if _verify(path, head, uri):
                return DownloadResult(uri, path, "skipped", 0, True)
        except IntegrityError:
            pass  # differs: fetch it again
    path.parent.mkdir(parents=True, exist_ok=True)
    etag = head.get("ETag", "").strip('"')
    part = path.with_name(f".{path.name}.{hashlib.md5(etag.encode()).hexdigest()[:8]}.part")
    total = head["ContentLength"]
    progress.add_total(total)
    fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another process on the same key+path: wait for it
        if os.fstat(fd).st_ino != getattr(_stat_or_none(part), "st_ino", None):
            # the other process renamed this temp into place: it finished; check its file
            os.close(fd)
            fd = -1
            if path.exists() and _verify(path, head, uri):
                progress.update(total)
                return DownloadResult(uri, path, "skipped", 0, True)
            return _fetch(client, uri, destination, True, progress, cancel)
        os.ftruncate(fd, 0)
        last_error: Exception | None = None
        while attempts < _max_attempts():
            attempts += 1
            have = os.fstat(fd).st_size
            try:
                request = {"Bucket": bucket, "Key": key}
                if have:
                    request["Range"] = f"bytes={have}-"
                else:
                    request["ChecksumMode"] = "ENABLED"  # botocore checks x-amz-checksum-* on full GETs
                response = client.get_object(**request)
                if response.get("ETag", "").strip('"') != etag:
                    os.ftruncate(fd, 0)  # the object changed since HEAD: start over
                    raise _Transient("object changed during download")
                os.lseek(fd, have, os.SEEK_SET)
                body = response["Body"]
                for chunk in body.iter_chunks(CHUNK):
                    if cancel.is_set():
                        raise KeyboardInterrupt
                    _write_all(fd, chunk)
                    received += len(chunk)
                    progress.update(len(chunk))
                os.fsync(fd)
                if os.fstat(fd).st_size != total:
                    raise _Transient(f"short body: {os.fstat(fd).st_size} of {total} bytes")
                verified = _verify(part, head, uri)
                os.replace(part, path)  # atomic: the final path is either absent/old or complete
                return DownloadResult(uri, path, "downloaded", received, verified, None, attempts)
            except (KeyboardInterrupt, OSError) as error:
                if isinstance(error, OSError) and not isinstance(error, (ConnectionError, TimeoutError)):
                    if error.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT):
                        raise DownloadError(f"{uri}: cannot write {str(path)!r}: {error.strerror}") from error
                if isinstance(error, KeyboardInterrupt):
                    raise
                last_error = _Transient(str(error))
            except IntegrityError as error:
                os.ftruncate(fd, 0)  # wrong bytes: resuming would keep them, start over
                last_error = error
            except Exception as error:  # noqa: BLE001 - classified below
                from botocore.exceptions import FlexibleChecksumError

                if isinstance(error, FlexibleChecksumError):
                    os.ftruncate(fd, 0)
                    last_error = IntegrityError(f"{uri}: {error}")
                else:
                    mapped = _classify(error, uri)
                    if not isinstance(mapped, _Transient):
                        raise mapped from error
                    last_error = mapped
            time.sleep(_backoff() * 2 ** (attempts - 1))
        if isinstance(last_error, IntegrityError):
            raise IntegrityError(f"{last_error} (after {attempts} attempts)")
        raise DownloadError(f"{uri}: gave up after {attempts} attempts; last error: {last_error}")
    finally:
        if fd >= 0:
            if part.exists() and os.fstat(fd).st_ino == part.stat().st_ino:
                part.unlink()  # never leave a temporary file behind
            os.close(fd)


def _stat_or_none(path: Path):
    try:
        return path.stat()
    except FileNotFoundError:
        return None


class _Progress:
    """Thread-safe wrapper of one tqdm bar whose total grows as sizes become known."""

    def __init__(self, enabled: bool, count: int) -> None:
        from tqdm.auto import tqdm

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


def download(uris, destination: str | os.PathLike, *, anon: bool | None = None, max_workers: int = 8,
             progress: bool = True, overwrite: bool = False) -> list[DownloadResult]:
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
    max_workers : int
        Objects fetched in parallel.
    progress : bool
        Show a tqdm progress bar of bytes.
    overwrite : bool
        Fetch again even when a verified copy is present.

    Returns
    -------
    list of DownloadResult
        One per URI, in order. Failures are reported there (``status == "failed"`` and ``error``),
        so one bad key does not stop the others.

    Notes
    -----
    Attempts per object: ``ROMAN_HELPERS_MAX_ATTEMPTS`` (default 5), first backoff
    ``ROMAN_HELPERS_BACKOFF`` seconds (default 0.2, doubled each time); every call has the
    :func:`roman_helpers.config.timeout`. On Ctrl-C the temporary files are removed and
    ``KeyboardInterrupt`` is raised again.

    Examples
    --------
    >>> results = download(["s3://stpubdata/hst/public/jbev/jbeveo010/jbeveo010_drz.fits"],
    ...                    "data")  # doctest: +SKIP
    >>> results[0].status  # doctest: +SKIP
    'downloaded'
    """
    uris = [uris] if isinstance(uris, str) else list(uris)
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    clients: dict[bool, object] = {}
    cancel = threading.Event()
    bar = _Progress(progress, len(uris))

    def one(uri: str) -> DownloadResult:
        try:
            bucket, _ = split_uri(uri)
            use_anon = config.is_public_bucket(bucket) if anon is None else anon
            if use_anon not in clients:
                clients[use_anon] = _client(use_anon, max_workers)
            return _fetch(clients[use_anon], uri, destination, overwrite, bar, cancel)
        except RomanHelpersError as error:
            path = None if isinstance(error, UnsafePathError) else _guess_path(destination, uri)
            return DownloadResult(uri, path, "failed", 0, False, error)

    with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
        futures = [pool.submit(one, uri) for uri in uris]
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
            raise
    bar.close()
    return [future.result() for future in futures]


def _guess_path(destination: Path, uri: str) -> Path | None:
    try:
        return safe_destination(destination, split_uri(uri)[1])
    except RomanHelpersError:
        return None
