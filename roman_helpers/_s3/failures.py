"""S3's errors in the kit's words, and whether a failure is worth another try (private).

:func:`translate` is the one place where the errors of S3 (botocore's ``ClientError`` and
connection errors, and the ``OSError`` subclasses s3fs turns them into) become the exceptions of
:mod:`roman_helpers.errors`, with a message that says what to do next. :func:`is_transient` is
the one rule for trying again, used by the batch and the downloads; :class:`DamagedBytes` and
:func:`is_damaged` say that bytes read disagree with the file (read them again,
:func:`roman_helpers._s3.retry.reread`).
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import importlib
import threading
from collections.abc import Iterator, Mapping
from types import ModuleType
from urllib.parse import urlsplit

from .. import config
from ..errors import (
    AccessDeniedError,
    BucketNotFoundError,
    EndpointUnreachableError,
    FileFormatError,
    ObjectNotFoundError,
    RomanHelpersError,
)

__all__ = [
    "DamagedBytes",
    "answer",
    "checksum_mismatch",
    "from_botocore",
    "is_damaged",
    "is_transient",
    "translate",
]


class DamagedBytes(Exception):
    """Bytes read disagree with what the file states about them: worth reading again.

    Raised by the byte layouts (:mod:`roman_helpers._asdf_layout`, :mod:`roman_helpers._fits_layout`)
    when a decoded chunk, block or stream does not match its own sizes or checksum. A fault on the
    way does not repeat, so the read is made again (:func:`roman_helpers._s3.retry.reread`); damage
    that persists becomes :class:`~roman_helpers.errors.CorruptedDataError`. The message says what
    disagreed, without the file's name (the re-read adds it).
    """


# S3 error codes (and HTTP statuses, for HEAD answers, which have no body and so no code)
# by what they mean; the same groups as s3fs.errors.ERROR_CODE_TO_EXCEPTION (s3fs 2026.9).
_MEANING = {
    "NoSuchBucket": "no bucket",
    "NoSuchKey": "no key",
    "NotFound": "no key",
    "404": "no key",
    "AccessDenied": "denied",
    "Forbidden": "denied",
    "403": "denied",
    "InvalidRange": "past the end",
    "416": "past the end",
}
#: S3 answers that say "not now" rather than "no": another attempt may succeed.
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "Throttling",
        "ThrottlingException",
    }
)
#: s3fs turns S3 answers into OSError with these errno values for requests that are wrong,
#: not unlucky (see s3fs.errors.ERROR_CODE_TO_EXCEPTION): sending them again cannot help.
_PERMANENT_ERRNO = frozenset(
    {
        errno.EINVAL,
        errno.EPERM,
        errno.ENOSYS,
        errno.EMSGSIZE,
        errno.ENAMETOOLONG,
        errno.ENOTEMPTY,
        errno.EREMCHG,
    }
)


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    """``error`` and the errors it was raised from (s3fs keeps botocore's as the cause)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def answer(error: BaseException) -> tuple[int | None, str]:
    """HTTP status and S3 error code of the first S3 answer in ``error``'s chain (None, "" if none)."""
    for link in _chain(error):
        response = getattr(link, "response", None)
        if isinstance(response, Mapping) and ("ResponseMetadata" in response or "Error" in response):
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return (int(status) if status else None), str(response.get("Error", {}).get("Code") or "")
    return None, ""


def _meaning(error: BaseException) -> tuple[str | None, str | None]:
    """What ``error`` means (a value of :data:`_MEANING`, or None) and the S3 code behind it."""
    status, code = answer(error)
    if status is not None or code:
        return _MEANING.get(code) or _MEANING.get(str(status or "")), code or str(status or "") or None
    if isinstance(error, FileNotFoundError):
        return "no key", None
    if isinstance(error, PermissionError):
        return "denied", None
    if isinstance(error, OSError) and (
        "InvalidRange" in str(error) or "range is not satisfiable" in str(error)
    ):
        return "past the end", "InvalidRange"  # s3fs keeps only S3's message for a 416
    return None, None


def _aiohttp() -> ModuleType | None:
    try:
        return importlib.import_module("aiohttp")
    except ImportError:  # pragma: no cover - s3fs depends on aiohttp
        return None


def _unreachable(error: BaseException) -> tuple[str, bool] | None:
    """The address that did not answer a connection and whether it is a proxy, or None.

    botocore says so with ``EndpointConnectionError``, ``ConnectTimeoutError`` or
    ``ProxyConnectionError`` (aiobotocore, under s3fs, raises the same), keeping the request URL;
    a bare aiohttp connector error has the host and port. TLS failures are not among them: the
    endpoint answered.
    """
    from botocore.exceptions import ConnectionError as ConnectFailed
    from botocore.exceptions import ProxyConnectionError, SSLError

    aiohttp = _aiohttp()
    connector = getattr(aiohttp, "ClientConnectorError", ())
    tls = getattr(aiohttp, "ClientSSLError", ())
    connect_timeout = getattr(aiohttp, "ConnectionTimeoutError", ())  # aiohttp >= 3.10
    for link in _chain(error):
        if isinstance(link, ConnectFailed) and not isinstance(link, SSLError):
            proxy = isinstance(link, ProxyConnectionError)
            url = str(link.kwargs.get("proxy_url" if proxy else "endpoint_url") or "")
            parts = urlsplit(url)
            return (f"{parts.scheme}://{parts.netloc}" if parts.netloc else url), proxy
        if isinstance(link, connector) and not isinstance(link, tls):
            return f"{link.host}:{link.port}", False
        if isinstance(link, connect_timeout):
            return config.s3_endpoint_url() or "the S3 endpoint", False
    return None


def _known_buckets() -> set[str]:
    """The buckets this package knows: the public ones and those of the datasets (datasets.yaml)."""
    from .. import datasets

    known = set(config.public_buckets())
    with contextlib.suppress(Exception):  # a suggestion must never hide the error being reported
        known |= {ds.bucket for ds in datasets.load().values()}
    return known


_PROBED: dict[tuple[str | None, str], bool | None] = {}
_PROBED_LOCK = threading.Lock()


def _bucket_exists(bucket: str) -> bool | None:
    """Ask S3 whether ``bucket`` exists (one unsigned HeadBucket); None when it cannot tell.

    Used only on the error path, and only when the caller asks (``probe=True``): a HEAD that
    answers 404 has no body, so it cannot say whether the key or the whole bucket is missing.
    An unsigned request needs no credentials and is answered 404 for a missing bucket, 403 or
    200 for one that exists. The answer is kept for the rest of the process.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from .clients import client

    key = (config.s3_endpoint_url(), bucket)
    with _PROBED_LOCK:
        if key in _PROBED:
            return _PROBED[key]
    exists: bool | None = True
    try:
        client(anon=True, max_attempts=1).head_bucket(Bucket=bucket)
    except ClientError as error:
        status, code = answer(error)
        if code == "NoSuchBucket" or status == 404:
            exists = False
        else:
            exists = True if status in (301, 400, 403) else None  # elsewhere, or not ours to read: it exists
    except BotoCoreError:
        return None  # no answer: not kept, the next error may ask again
    with _PROBED_LOCK:
        _PROBED[key] = exists
    return exists


def forget_buckets() -> None:
    """Forget what :func:`_bucket_exists` learnt (for a process whose endpoint's buckets change)."""
    with _PROBED_LOCK:
        _PROBED.clear()


def _no_bucket_message(bucket: str, uri: str, said: str) -> str:
    """'no such bucket ...' with the nearest known bucket name, and where it was looked for."""
    endpoint = config.s3_endpoint_url()
    where = f" at the S3 endpoint {endpoint}" if endpoint else " on AWS"
    known = sorted(_known_buckets())
    close = difflib.get_close_matches(bucket, known, n=1)
    if close:
        advice = f"did you mean {close[0]!r} (s3://{close[0]}/{uri.removeprefix('s3://').partition('/')[2]})?"
    else:
        service = ", and that AWS_ENDPOINT_URL names the right service" if endpoint else ""
        advice = f"check the bucket name in {uri}{service}; the datasets use {', '.join(known)}"
    return f"no such bucket {bucket!r}{said}{where}; {advice}"


def _credentials_advice(anon: bool) -> str:
    """How to ask for anonymous (True) or credentialed (False) reads: both spellings, one wording.

    The same message reaches Python code and the command line, so it names the keyword
    argument and the command-line option together.
    """
    return (
        "anon=True in Python, --anon on the command line"
        if anon
        else "anon=False in Python, --no-anon on the command line"
    )


def _unreachable_error(address: str, proxy: bool) -> EndpointUnreachableError:
    hint = (
        "are you offline? Start the offline sandbox (`roman-helpers sandbox run -- COMMAND`) "
        "or run on the Roman Research Nexus"
    )
    if proxy:
        message = f"the proxy {address} did not answer: check HTTPS_PROXY, or {hint}"
    elif config.s3_endpoint_url():
        message = (
            f"no S3 endpoint answered at {address} (named by AWS_ENDPOINT_URL): are you offline, "
            f"or has the sandbox stopped? {hint[len('are you offline? ') :]}"
        )
    else:
        message = f"no S3 endpoint answered at {address}: {hint}"
    return EndpointUnreachableError(message)


def _refusal_advice(anonymous: bool | None) -> str:
    with_credentials = (
        f"read it with credentials ({_credentials_advice(False)}; on the Roman Science "
        "Platform they are automatic)"
    )
    if anonymous:
        return f"it was read anonymously: {with_credentials}"
    if anonymous is None:
        return (
            f"if it was read anonymously, {with_credentials}; if with credentials, check that they "
            "allow reading this bucket"
        )
    return (
        "it was read with your AWS credentials: check that they allow reading this bucket, "
        f"or, for a public bucket, read it anonymously ({_credentials_advice(True)})"
    )


def translate(
    error: BaseException, uri: str, *, anonymous: bool | None = None, probe: bool = False
) -> BaseException:
    """Turn an S3 error into the package's exception for it, with a message that says what to do.

    The counterpart of ``s3fs.errors.translate_boto_error``, but onto :mod:`roman_helpers.errors`
    and with advice for astronomers.

    Parameters
    ----------
    error : BaseException
        A ``botocore.exceptions.ClientError`` or connection error (``EndpointConnectionError``,
        ``ConnectTimeoutError``; aiohttp's through s3fs), or an ``OSError`` raised by s3fs
        (``FileNotFoundError``, ``PermissionError``, ``OSError`` for a range past the end).
    uri : str
        ``s3://bucket/key`` that was being read; named in the message.
    anonymous : bool, optional
        Whether the request was unsigned (True) or signed with credentials (False); ``None``
        when not known. Chooses the advice for a refusal.
    probe : bool
        A ``HEAD`` answered 404 has no body to say whether the key or the bucket is missing: ask
        S3 (one unsigned ``HeadBucket``, kept for the rest of the process) about a bucket this
        package does not know (:data:`roman_helpers.config.PUBLIC_BUCKETS`, the datasets'
        buckets). Off by default: a message is not worth a request to every caller.

    Returns
    -------
    BaseException
        :class:`~roman_helpers.errors.EndpointUnreachableError` (no connection could be made),
        :class:`~roman_helpers.errors.BucketNotFoundError` (no such bucket; with the nearest
        known bucket name), :class:`~roman_helpers.errors.ObjectNotFoundError` (no such key),
        :class:`~roman_helpers.errors.AccessDeniedError` (403),
        :class:`~roman_helpers.errors.FileFormatError` (416: a read past the end, so the file is
        shorter than its own headers say), or ``error`` itself when it is none of these (or
        already one of ours). A new exception has ``error`` as its ``__cause__``.

    Examples
    --------
    >>> from botocore.exceptions import ClientError
    >>> answer = {"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {"HTTPStatusCode": 404}}
    >>> error = translate(ClientError(answer, "GetObject"), "s3://stpubdata/hst/nope.fits")
    >>> print(error)
    no object at s3://stpubdata/hst/nope.fits (S3 said NoSuchKey); check the key,
    for example by listing its folder with `roman-helpers ls s3://stpubdata/hst/`
    """
    if isinstance(error, RomanHelpersError):
        return error
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    translated: BaseException
    unreachable = _unreachable(error)
    if unreachable is not None:
        translated = _unreachable_error(*unreachable)
        translated.__cause__ = error
        return translated
    meaning, code = _meaning(error)
    said = f" (S3 said {code})" if code else ""
    if (
        probe
        and meaning == "no key"
        and code in ("404", "NotFound")
        and bucket not in _known_buckets()
        and _bucket_exists(bucket) is False
    ):
        meaning = "no bucket"  # a body-less HEAD 404, and the bucket itself is missing
    if meaning == "no bucket":
        translated = BucketNotFoundError(_no_bucket_message(bucket, uri, said))
    elif meaning == "no key":
        folder = key.rpartition("/")[0]
        listing = f"s3://{bucket}/{folder + '/' if folder else ''}"
        translated = ObjectNotFoundError(
            f"no object at {uri}{said}; check the key, for example by listing "
            f"its folder with `roman-helpers ls {listing}`"
        )
    elif meaning == "denied":
        translated = AccessDeniedError(f"access to {uri} was refused{said}; {_refusal_advice(anonymous)}")
    elif meaning == "past the end":
        translated = FileFormatError(
            f"{uri} is shorter than its own headers say: the file is truncated (was it uploaded completely?)"
        )
    else:
        return error
    translated.__cause__ = error
    return translated


def is_transient(error: BaseException) -> bool:
    """Tell whether another attempt may succeed where this one failed.

    Network faults are (dropped connections, time-outs, S3's 5xx, 408 and 429 answers and its
    "slow down"), and so are bytes damaged on the way (:func:`is_damaged`); verdicts on the request
    are not (no such object, refused access, a file found damaged on every read, a position outside
    the image: the same request gets the same answer).

    Examples
    --------
    >>> is_transient(TimeoutError("timed out")), is_transient(FileNotFoundError("no such key"))
    (True, False)
    >>> is_transient(DamagedBytes("an lz4 chunk does not decode"))
    True
    """
    if is_damaged(error):
        return True
    if isinstance(
        error,
        (
            RomanHelpersError,
            FileNotFoundError,
            PermissionError,
            FileExistsError,
            IsADirectoryError,
            NotADirectoryError,
        ),
    ):
        return False
    if isinstance(error, (TimeoutError, ConnectionError)):
        return True
    status, code = answer(error)
    if status is not None:
        return status >= 500 or status in (408, 429) or code in _TRANSIENT_CODES
    if isinstance(error, OSError):  # s3fs reports 5xx answers and broken transfers as OSError
        return error.errno not in _PERMANENT_ERRNO
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import (
        HTTPClientError,
        IncompleteReadError,
        ResponseStreamingError,
    )

    if isinstance(error, (BotoConnectionError, HTTPClientError, IncompleteReadError, ResponseStreamingError)):
        return True
    aiohttp = _aiohttp()
    return aiohttp is not None and isinstance(error, aiohttp.ClientError)


def from_botocore(error: BaseException) -> bool:
    """Tell whether botocore itself raised ``error`` (no credentials, a bad parameter, no connection ...)."""
    from botocore.exceptions import BotoCoreError

    return isinstance(error, BotoCoreError)


def checksum_mismatch(error: BaseException) -> bool:
    """Tell whether botocore found a body that does not match the checksum S3 sent with it."""
    from botocore.exceptions import FlexibleChecksumError

    return isinstance(error, FlexibleChecksumError)


def is_damaged(error: BaseException) -> bool:
    """Tell whether ``error`` says that bytes read disagree with the file: worth reading again.

    Either the kit's own check of decoded bytes (:class:`DamagedBytes`), or botocore's of a body
    that S3 sent with the whole object's checksum (a small file, read whole).

    Examples
    --------
    >>> is_damaged(DamagedBytes("a gzip member's CRC check failed")), is_damaged(EOFError())
    (True, False)
    """
    return isinstance(error, DamagedBytes) or checksum_mismatch(error)


def damage(error: BaseException) -> str:
    """What disagreed, in words, for an error that :func:`is_damaged`."""
    if checksum_mismatch(error):
        return "the bytes received do not match the checksum S3 keeps for the object"
    return str(error)
