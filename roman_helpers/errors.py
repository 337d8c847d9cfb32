"""Exception and warning types raised by :mod:`roman_helpers`.

Every error a user can cause names the input that was wrong and says what
would be right, so that the message alone tells the user what to do next.
All of them derive from :class:`RomanHelpersError`, and each also derives
from the closest built-in type (``ValueError``, ``FileNotFoundError`` ...)
so that existing ``except`` clauses keep working.

:func:`translate_s3_error` is the one place where the errors of S3 (botocore's
``ClientError``, and the ``OSError`` subclasses s3fs turns them into) become these.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
from collections.abc import Iterable, Iterator, Sequence
from types import ModuleType
from urllib.parse import urlsplit

from . import config

__all__ = [
    "AccessDeniedError",
    "BucketNotFoundError",
    "DownloadError",
    "EndpointUnreachableError",
    "FileFormatError",
    "IntegrityError",
    "InvalidParameterError",
    "InvalidURIError",
    "MissingExtraError",
    "NotInCloudWarning",
    "ObjectNotFoundError",
    "RomanHelpersError",
    "UnsafePathError",
    "translate_s3_error",
]


class RomanHelpersError(Exception):
    """Base class of every error raised by :mod:`roman_helpers`."""


class InvalidParameterError(RomanHelpersError, ValueError):
    """A parameter has a value that is not allowed.

    Parameters
    ----------
    name : str
        Name of the parameter, as the user typed it.
    value : object
        The rejected value.
    valid : iterable, optional
        The values that would have been accepted; listed in the message.
    hint : str, optional
        Extra advice appended to the message.
    """

    def __init__(
        self, name: str, value: object, valid: Iterable[object] | None = None, hint: str | None = None
    ) -> None:
        self.name = name
        self.value = value
        self.valid = list(valid) if valid is not None else None
        message = f"invalid {name} {value!r}"
        if self.valid is not None:
            message += f"; valid values are: {', '.join(str(v) for v in self.valid)}"
        if hint:
            message += f". {hint}"
        super().__init__(message)


class InvalidURIError(RomanHelpersError, ValueError):
    """A string is not a usable ``s3://bucket/key`` URI (or not the kind expected)."""


class ObjectNotFoundError(RomanHelpersError, FileNotFoundError):
    """The bucket or key does not exist."""


class BucketNotFoundError(ObjectNotFoundError):
    """The bucket does not exist (so no key in it can)."""


class AccessDeniedError(RomanHelpersError, PermissionError):
    """The store refused access (for example a credentialed bucket read anonymously)."""


class EndpointUnreachableError(RomanHelpersError, ConnectionError):
    """No S3 endpoint answered: no network, a stopped sandbox, or a wrong ``AWS_ENDPOINT_URL``."""


class FileFormatError(RomanHelpersError, ValueError):
    """A file is not the format it should be (truncated FITS, broken ASDF tree ...)."""


class UnsafePathError(RomanHelpersError, ValueError):
    """A key would be written outside the destination folder."""


class DownloadError(RomanHelpersError, OSError):
    """A download failed; nothing was left at the final path."""


class IntegrityError(DownloadError):
    """Downloaded bytes do not match the size or checksum the store reported."""


class NotInCloudWarning(UserWarning):
    """A product has no copy in the cloud; its URI is returned as ``None``."""


class MissingExtraError(RomanHelpersError, ModuleNotFoundError):
    """A command needs an optional part of the package (a pip extra) that is not installed.

    Parameters
    ----------
    feature : str
        What needs it, as the user called it (``"roman-helpers sandbox"``).
    extras : sequence of str
        The extras to install.
    missing : str, optional
        The module that could not be found.

    Examples
    --------
    >>> print(MissingExtraError("roman-helpers sandbox", ["sandbox"], "werkzeug"))
    roman-helpers sandbox needs the sandbox extra (no module named 'werkzeug');
    install the sandbox extra: pip install "roman-helpers[sandbox]"
    """

    def __init__(self, feature: str, extras: Sequence[str], missing: str | None = None) -> None:
        self.feature = feature
        self.extras = list(extras)
        what = f"the {' and '.join(self.extras)} extra" + ("s" if len(self.extras) > 1 else "")
        found = f" (no module named {missing!r})" if missing else ""
        super().__init__(
            f"{feature} needs {what}{found}; install {what}: "
            f'pip install "roman-helpers[{",".join(self.extras)}]"',
            name=missing,
        )


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


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    """``error`` and the errors it was raised from (s3fs keeps botocore's as the cause)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _meaning(error: BaseException) -> tuple[str | None, str | None]:
    """What ``error`` means (a value of :data:`_MEANING`, or None) and the S3 code behind it."""
    from botocore.exceptions import ClientError

    for link in _chain(error):
        if isinstance(link, ClientError):
            code = str(link.response.get("Error", {}).get("Code") or "")
            status = str(link.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or "")
            meaning = _MEANING.get(code) or _MEANING.get(status)
            return meaning, code or status or None
    if isinstance(error, FileNotFoundError):
        return "no key", None
    if isinstance(error, PermissionError):
        return "denied", None
    if isinstance(error, OSError) and (
        "InvalidRange" in str(error) or "range is not satisfiable" in str(error)
    ):
        return "past the end", "InvalidRange"  # s3fs keeps only S3's message for a 416
    return None, None


def _unreachable(error: BaseException) -> tuple[str, bool] | None:
    """The address that did not answer a connection and whether it is a proxy, or None.

    botocore says so with ``EndpointConnectionError``, ``ConnectTimeoutError`` or
    ``ProxyConnectionError`` (aiobotocore, under s3fs, raises the same), keeping the request URL;
    a bare aiohttp connector error has the host and port. TLS failures are not among them: the
    endpoint answered.
    """
    from botocore.exceptions import ConnectionError as ConnectFailed
    from botocore.exceptions import ProxyConnectionError, SSLError

    try:
        aiohttp: ModuleType | None = importlib.import_module("aiohttp")
    except ImportError:  # pragma: no cover - s3fs depends on aiohttp
        aiohttp = None
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
    from . import datasets  # late: datasets imports this module

    known = set(config.public_buckets())
    with contextlib.suppress(Exception):  # a suggestion must never hide the error being reported
        known |= {ds.bucket for ds in datasets.load().values()}
    return known


def _bucket_exists(bucket: str) -> bool | None:
    """Ask S3 whether ``bucket`` exists (one unsigned HeadBucket); None when it cannot tell.

    Used only on the error path: a HEAD that answers 404 has no body, so it cannot say
    whether the key or the whole bucket is missing. An unsigned request needs no
    credentials and is answered 404 for a missing bucket, 403 or 200 for one that exists.
    """
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    options = Config(
        signature_version=UNSIGNED,
        connect_timeout=config.connect_timeout(),
        read_timeout=config.timeout(),
        retries={"total_max_attempts": 1},
    )
    try:
        boto3.session.Session().client("s3", config=options).head_bucket(Bucket=bucket)
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(error.response.get("Error", {}).get("Code") or "")
        if code == "NoSuchBucket" or status == 404:
            return False
        return True if status in (301, 400, 403) else None  # elsewhere, or not ours to read: it exists
    except BotoCoreError:
        return None
    return True


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


def translate_s3_error(error: BaseException, uri: str, *, anonymous: bool | None = None) -> BaseException:
    """Turn an S3 error into the package's exception for it, with a message that says what to do.

    The counterpart of ``s3fs.errors.translate_boto_error``, but onto
    :mod:`roman_helpers.errors` and with advice for astronomers.

    Parameters
    ----------
    error : BaseException
        A ``botocore.exceptions.ClientError`` or connection error (``EndpointConnectionError``,
        ``ConnectTimeoutError``; aiohttp's through s3fs), or an ``OSError`` raised by s3fs
        (``FileNotFoundError``, ``PermissionError``, ``OSError`` for a range past the end).
    uri : str
        ``s3://bucket/key`` that was being read; named in the message.
    anonymous : bool, optional
        Whether the request was unsigned (True) or signed with credentials (False);
        ``None`` when not known. Chooses the advice for a refusal.

    Returns
    -------
    BaseException
        :class:`EndpointUnreachableError` (no connection could be made),
        :class:`BucketNotFoundError` (no such bucket; with the nearest known bucket name),
        :class:`ObjectNotFoundError` (no such key), :class:`AccessDeniedError` (403),
        :class:`FileFormatError` (416: a read past the end, so the file is shorter than its
        own headers say), or ``error`` itself when it is none of these (or already one of
        ours). A new exception has ``error`` as its ``__cause__``.

    Notes
    -----
    A ``HEAD`` answered 404 has no body to say whether the key or the bucket is missing; for
    a bucket this package does not know (:data:`roman_helpers.config.PUBLIC_BUCKETS`, the
    datasets' buckets) one unsigned ``HeadBucket`` request tells them apart.

    Examples
    --------
    >>> from botocore.exceptions import ClientError
    >>> answer = {"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {"HTTPStatusCode": 404}}
    >>> error = translate_s3_error(ClientError(answer, "GetObject"), "s3://stpubdata/hst/nope.fits")
    >>> type(error).__name__
    'ObjectNotFoundError'
    >>> print(error)
    no object at s3://stpubdata/hst/nope.fits (S3 said NoSuchKey); check the key,
    for example by listing its folder with `roman-helpers ls s3://stpubdata/hst/`
    >>> from botocore.exceptions import EndpointConnectionError
    >>> error = translate_s3_error(
    ...     EndpointConnectionError(endpoint_url="http://127.0.0.1:9/stpubdata/a.fits"),
    ...     "s3://stpubdata/a.fits",
    ... )
    >>> type(error).__name__
    'EndpointUnreachableError'
    >>> str(error).startswith("no S3 endpoint answered at http://127.0.0.1:9")
    True
    """
    if isinstance(error, RomanHelpersError):
        return error
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    translated: BaseException
    unreachable = _unreachable(error)
    if unreachable is not None:
        address, proxy = unreachable
        hint = (
            "are you offline? Start the offline sandbox (`roman-helpers sandbox run -- COMMAND`) "
            "or run on the Roman Science Platform"
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
        translated = EndpointUnreachableError(message)
        translated.__cause__ = error
        return translated
    meaning, code = _meaning(error)
    said = f" (S3 said {code})" if code else ""
    if (
        meaning == "no key"
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
        with_credentials = (
            f"read it with credentials ({_credentials_advice(False)}; on the Roman Science "
            "Platform they are automatic)"
        )
        if anonymous:
            advice = f"it was read anonymously: {with_credentials}"
        elif anonymous is None:
            advice = (
                f"if it was read anonymously, {with_credentials}; if with credentials, check that they "
                "allow reading this bucket"
            )
        else:
            advice = (
                "it was read with your AWS credentials: check that they allow reading this bucket, "
                f"or, for a public bucket, read it anonymously ({_credentials_advice(True)})"
            )
        translated = AccessDeniedError(f"access to {uri} was refused{said}; {advice}")
    elif meaning == "past the end":
        translated = FileFormatError(
            f"{uri} is shorter than its own headers say: the file is truncated (was it uploaded completely?)"
        )
    else:
        return error
    translated.__cause__ = error
    return translated
