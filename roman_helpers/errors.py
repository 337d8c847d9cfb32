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

from collections.abc import Iterable, Iterator, Sequence

from . import config

__all__ = [
    "RomanHelpersError",
    "InvalidParameterError",
    "InvalidURIError",
    "ObjectNotFoundError",
    "BucketNotFoundError",
    "AccessDeniedError",
    "FileFormatError",
    "UnsafePathError",
    "DownloadError",
    "IntegrityError",
    "NotInCloudWarning",
    "MissingExtraError",
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

    def __init__(self, name: str, value: object, valid: Iterable[object] | None = None,
                 hint: str | None = None) -> None:
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
    >>> print(MissingExtraError("roman-helpers sandbox", ["sandbox"], "moto"))
    roman-helpers sandbox needs the sandbox extra (no module named 'moto'); install the sandbox extra: pip install "roman-helpers[sandbox]"
    """

    def __init__(self, feature: str, extras: Sequence[str], missing: str | None = None) -> None:
        self.feature = feature
        self.extras = list(extras)
        what = f"the {' and '.join(self.extras)} extra" + ("s" if len(self.extras) > 1 else "")
        found = f" (no module named {missing!r})" if missing else ""
        super().__init__(f"{feature} needs {what}{found}; install {what}: "
                         f'pip install "roman-helpers[{",".join(self.extras)}]"', name=missing)
# S3 error codes (and HTTP statuses, for HEAD answers, which have no body and so no code)
# by what they mean; the same groups as s3fs.errors.ERROR_CODE_TO_EXCEPTION (s3fs 2026.9).
_MEANING = {
    "NoSuchBucket": "no bucket",
    "NoSuchKey": "no key", "NotFound": "no key", "404": "no key",
    "AccessDenied": "denied", "Forbidden": "denied", "403": "denied",
    "InvalidRange": "past the end", "416": "past the end",
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
    if isinstance(error, OSError) and ("InvalidRange" in str(error) or "range is not satisfiable" in str(error)):
        return "past the end", "InvalidRange"  # s3fs keeps only S3's message for a 416
    return None, None


def translate_s3_error(error: BaseException, uri: str, *, anonymous: bool | None = None) -> BaseException:
    """Turn an S3 error into the package's exception for it, with a message that says what to do.

    The counterpart of ``s3fs.errors.translate_boto_error``, but onto
    :mod:`roman_helpers.errors` and with advice for astronomers.

    Parameters
    ----------
    error : BaseException
        A ``botocore.exceptions.ClientError``, or an ``OSError`` raised by s3fs
        (``FileNotFoundError``, ``PermissionError``, ``OSError`` for a range past the end).
    uri : str
        ``s3://bucket/key`` that was being read; named in the message.
    anonymous : bool, optional
        Whether the request was unsigned (True) or signed with credentials (False);
        ``None`` when not known. Chooses the advice for a refusal.

    Returns
    -------
    BaseException
        :class:`BucketNotFoundError` (no such bucket), :class:`ObjectNotFoundError` (no
        such key), :class:`AccessDeniedError` (403), :class:`FileFormatError` (416: a read
        past the end, so the file is shorter than its own headers say), or ``error`` itself
        when it is none of these (or already one of ours). A new exception has ``error``
        as its ``__cause__``.

    Examples
    --------
    >>> from botocore.exceptions import ClientError
    >>> answer = {"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {"HTTPStatusCode": 404}}
    >>> error = translate_s3_error(ClientError(answer, "GetObject"), "s3://stpubdata/hst/nope.fits")
    >>> type(error).__name__
    'ObjectNotFoundError'
    >>> print(error)
    no object at s3://stpubdata/hst/nope.fits (S3 said NoSuchKey); check the key, for example by listing its folder with `roman-helpers ls s3://stpubdata/hst/`
    """
    if isinstance(error, RomanHelpersError):
        return error
    meaning, code = _meaning(error)
    said = f" (S3 said {code})" if code else ""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    translated: BaseException
    if meaning == "no bucket":
        endpoint = config.s3_endpoint_url()
        where = (f"at the S3 endpoint {endpoint}; check the bucket name in {uri}, and that AWS_ENDPOINT_URL "
                 "names the right service") if endpoint else f"on AWS; check the bucket name in {uri}"
        translated = BucketNotFoundError(f"no bucket {bucket!r}{said} {where}")
    elif meaning == "no key":
        folder = key.rpartition("/")[0]
        listing = f"s3://{bucket}/{folder + '/' if folder else ''}"
        translated = ObjectNotFoundError(f"no object at {uri}{said}; check the key, for example by listing "
                                         f"its folder with `roman-helpers ls {listing}`")
    elif meaning == "denied":
        with_credentials = ("read it with credentials (anon=False in Python, --no-anon on the command "
                            "line; on the Roman Science Platform they are automatic)")
        if anonymous:
            advice = f"it was read anonymously: {with_credentials}"
        elif anonymous is None:
            advice = (f"if it was read anonymously, {with_credentials}; if with credentials, check that they "
                      "allow reading this bucket")
        else:
            advice = ("it was read with your AWS credentials: check that they allow reading this bucket, "
                      "or, for a public bucket, read it anonymously (anon=True in Python, --anon on the "
                      "command line)")
        translated = AccessDeniedError(f"access to {uri} was refused{said}; {advice}")
    elif meaning == "past the end":
        translated = FileFormatError(f"{uri} is shorter than its own headers say: the file is truncated "
                                     "(was it uploaded completely?)")
    else:
        return error
    translated.__cause__ = error
    return translated
