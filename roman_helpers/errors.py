"""Exception and warning types raised by :mod:`roman_helpers`.

Every error a user can cause names the input that was wrong and says what
would be right, so that the message alone tells the user what to do next.
All of them derive from :class:`RomanHelpersError`, and each also derives
from the closest built-in type (``ValueError``, ``FileNotFoundError`` ...)
so that existing ``except`` clauses keep working.

This module holds the classes only; the kit's functions raise them (S3's own errors are
turned into them where the kit talks to S3).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "AccessDeniedError",
    "BucketNotFoundError",
    "CorruptedDataError",
    "DownloadError",
    "EndpointUnreachableError",
    "FileFormatError",
    "IntegrityError",
    "Interrupted",
    "InvalidParameterError",
    "InvalidURIError",
    "MissingExtraError",
    "NotInCloudWarning",
    "ObjectNotFoundError",
    "RomanHelpersError",
    "UnsafePathError",
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
        Extra advice appended to the message. A keyword argument it names is written ``name=``
        (``give box= or position= and size=``), so that a caller with other words for it (the
        command line's options) can say it in those.
    """

    def __init__(
        self, name: str, value: object, valid: Iterable[object] | None = None, hint: str | None = None
    ) -> None:
        self.name = name
        self.value = value
        self.valid = list(valid) if valid is not None else None
        self.hint = hint
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


class CorruptedDataError(FileFormatError):
    """Bytes read from a file disagree with what the file itself states about them.

    A compressed chunk of another size than its header gives, a checksum that does not match,
    a gzip stream whose CRC fails: the file was read again, and the bytes disagreed every time,
    so the stored file is damaged (a fault on the way would not repeat). No pixels are returned
    from such bytes.
    """


class UnsafePathError(RomanHelpersError, ValueError):
    """A key would be written outside the destination folder."""


class DownloadError(RomanHelpersError, OSError):
    """A download failed; nothing was left at the final path."""


class IntegrityError(DownloadError):
    """Downloaded bytes do not match the size or checksum the store reported."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped a long call; what it had finished is kept in :attr:`partial`.

    A :class:`KeyboardInterrupt`, so that code which stops on Ctrl-C still stops; catch it to
    keep the work done. The call stopped within about a second: work not begun was dropped, work
    under way was given that long to finish.

    Parameters
    ----------
    message : str
        What was done and how to go on.
    partial : object
        What was finished: the index of the files read so far
        (:func:`roman_helpers.footprints.build_index`), the results of the files downloaded
        (:func:`roman_helpers.download.download`), a batch of the files done
        (:func:`roman_helpers.batch.cutouts`), the light curve of those
        (:func:`roman_helpers.photometry.light_curve_from_index`).
    done, total : int
        Files finished, and files asked for.

    Examples
    --------
    >>> stop = Interrupted("interrupted after 3 of 10 files", partial=[1, 2, 3], done=3, total=10)
    >>> isinstance(stop, KeyboardInterrupt), stop.done, stop.total
    (True, 3, 10)
    """

    def __init__(self, message: str, partial: object = None, done: int = 0, total: int = 0) -> None:
        super().__init__(message)
        self.partial = partial
        self.done = done
        self.total = total


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
