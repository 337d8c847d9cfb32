"""Configuration, read late and in one place.

Nothing here is evaluated at import time: every function looks at the
environment when it is called, so a process started under the offline
sandbox (which exports ``AWS_ENDPOINT_URL`` and friends) and a process on
the Roman Research Nexus run the same code unmodified.

Environment variables honoured
------------------------------
``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``
    S3 endpoint; botocore reads these itself, we only report them.
``ROMAN_HELPERS_PUBLIC_BUCKETS``
    Comma-separated extra bucket names to read anonymously.
``ROMAN_HELPERS_BLOCK_SIZE``
    Read-block size in bytes for streamed files (default 256 KiB).
``ROMAN_HELPERS_TIMEOUT``
    Seconds before a network call is abandoned (default 60).
``ROMAN_HELPERS_CONNECT_TIMEOUT``
    Seconds to wait for a connection to S3 (default: ``ROMAN_HELPERS_TIMEOUT``; 2 for the
    ``roman-helpers`` command, which also does not retry a connection that failed).
``ROMAN_HELPERS_DOWNLOAD_WORKERS``
    Objects downloaded at once by :func:`roman_helpers.download.download` and
    ``roman-helpers get`` (default 12).
``ROMAN_HELPERS_MAX_ATTEMPTS`` / ``ROMAN_HELPERS_BACKOFF``
    Download attempts per object (default 5) and first retry wait in seconds (default 0.2).
``ROMAN_HELPERS_MAST_URL``
    MAST server for product path look-ups (default: ``astroquery.mast.conf.server``).
``ROMAN_HELPERS_SANDBOX``
    Set by the offline sandbox's launcher (the path of its state file) in every process it
    starts; tells notebooks they run offline.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "PUBLIC_BUCKETS",
    "backoff",
    "block_size",
    "command_line",
    "connect_timeout",
    "download_workers",
    "fail_fast",
    "is_public_bucket",
    "mast_token",
    "mast_url",
    "max_attempts",
    "public_buckets",
    "s3_endpoint_url",
    "sandbox_state",
    "timeout",
]

#: Buckets that are readable without credentials, as they are on AWS.
PUBLIC_BUCKETS: frozenset[str] = frozenset({"stpubdata", "nasa-irsa-simulations"})

#: s3fs reads 50 MiB per cache miss by default; far more than a header or a cutout needs.
DEFAULT_BLOCK_SIZE = 256 * 1024
DEFAULT_TIMEOUT = 60.0
#: Objects fetched at once: a worker waiting on latency, ``fsync`` or the last digest leaves the
#: network to the others (measured with ``make bench``: 12 beats 8 on two cores).
DEFAULT_DOWNLOAD_WORKERS = 12
#: On the command line a person is waiting: an endpoint that does not take the connection
#: within this many seconds is reported at once (a TCP connect takes one round trip).
COMMAND_LINE_CONNECT_TIMEOUT = 2.0

_command_line = False  # set by command_line() for the duration of one roman-helpers command


def public_buckets() -> frozenset[str]:
    """Return the buckets read anonymously.

    Returns
    -------
    frozenset of str
        :data:`PUBLIC_BUCKETS` plus any named in ``ROMAN_HELPERS_PUBLIC_BUCKETS``.
    """
    extra = os.environ.get("ROMAN_HELPERS_PUBLIC_BUCKETS", "")
    return PUBLIC_BUCKETS | {b.strip() for b in extra.split(",") if b.strip()}


def is_public_bucket(bucket: str) -> bool:
    """Tell whether ``bucket`` is read anonymously.

    Parameters
    ----------
    bucket : str
        Bucket name, without ``s3://``.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_public_bucket("stpubdata")
    True
    >>> is_public_bucket("roman-sci-test-data-prod-summer-beta-test")
    False
    """
    return bucket in public_buckets()


def s3_endpoint_url() -> str | None:
    """Return the S3 endpoint the AWS clients will use, or ``None`` for AWS itself."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def block_size() -> int:
    """Return the read-block size in bytes used for streamed files."""
    return int(os.environ.get("ROMAN_HELPERS_BLOCK_SIZE", DEFAULT_BLOCK_SIZE))


def timeout() -> float:
    """Return the time limit, in seconds, for one network call."""
    return float(os.environ.get("ROMAN_HELPERS_TIMEOUT", DEFAULT_TIMEOUT))


def connect_timeout() -> float:
    """Return the time limit, in seconds, for opening a connection to S3.

    ``ROMAN_HELPERS_CONNECT_TIMEOUT`` when set; otherwise :data:`COMMAND_LINE_CONNECT_TIMEOUT`
    inside :func:`command_line` and :func:`timeout` elsewhere.
    """
    value = os.environ.get("ROMAN_HELPERS_CONNECT_TIMEOUT")
    if value:
        return float(value)
    return COMMAND_LINE_CONNECT_TIMEOUT if _command_line else timeout()


def download_workers() -> int:
    """Return how many objects a download fetches at once.

    The one default of :func:`roman_helpers.download.download` (``max_workers``) and of
    ``roman-helpers get --workers``: ``ROMAN_HELPERS_DOWNLOAD_WORKERS``, else
    :data:`DEFAULT_DOWNLOAD_WORKERS`.

    Raises
    ------
    ValueError
        If ``ROMAN_HELPERS_DOWNLOAD_WORKERS`` is not a whole number of 1 or more.

    Examples
    --------
    >>> import os
    >>> download_workers() == int(os.environ.get("ROMAN_HELPERS_DOWNLOAD_WORKERS", 12))
    True
    """
    value = os.environ.get("ROMAN_HELPERS_DOWNLOAD_WORKERS", "")
    try:
        workers = int(value) if value.strip() else DEFAULT_DOWNLOAD_WORKERS
    except ValueError:
        workers = 0
    if workers < 1:
        raise ValueError(
            f"invalid ROMAN_HELPERS_DOWNLOAD_WORKERS {value!r}. Set it to a whole number of 1 or more, "
            "or unset it"
        )
    return workers


@contextmanager
def command_line() -> Iterator[None]:
    """Run the block with the settings of the ``roman-helpers`` command, for a person waiting.

    Inside it :func:`connect_timeout` defaults to :data:`COMMAND_LINE_CONNECT_TIMEOUT`, and
    :func:`fail_fast` is true: an S3 connection that could not be made (refused, unknown host,
    connect time-out) is not retried by the kit's S3 clients, so an unreachable endpoint is
    reported within about two seconds instead of after botocore's backoff. Answers from the
    server are retried as everywhere else.

    Examples
    --------
    >>> with command_line():
    ...     connect_timeout() <= 2.0 or "ROMAN_HELPERS_CONNECT_TIMEOUT" in os.environ
    True
    >>> fail_fast()
    False
    """
    global _command_line
    previous = _command_line
    _command_line = True
    try:
        yield
    finally:
        _command_line = previous


def fail_fast() -> bool:
    """Tell whether an S3 connection that could not be made is reported at once, without retries.

    True inside :func:`command_line`, where a person waits for the answer (for an endpoint that
    has not answered yet: once one has, a connection it does not take is retried).
    """
    return _command_line


def max_attempts() -> int:
    """Return how many times a download tries one object before giving up."""
    return max(1, int(os.environ.get("ROMAN_HELPERS_MAX_ATTEMPTS", 5)))


def backoff() -> float:
    """Return the first wait, in seconds, before a retry (doubled for each further retry)."""
    return float(os.environ.get("ROMAN_HELPERS_BACKOFF", 0.2))


def mast_url() -> str | None:
    """Return the MAST server set by ``ROMAN_HELPERS_MAST_URL``, or ``None`` when unset."""
    return os.environ.get("ROMAN_HELPERS_MAST_URL") or None


def mast_token() -> str | None:
    """Return the MAST token in ``MAST_API_TOKEN`` (where astroquery looks too), or ``None`` when unset.

    The token is handed to astroquery's login and to nothing else: never printed, logged or stored.
    """
    return os.environ.get("MAST_API_TOKEN") or None


def sandbox_state() -> str | None:
    """Return the sandbox's state file from ``ROMAN_HELPERS_SANDBOX``, or ``None`` outside the sandbox."""
    return os.environ.get("ROMAN_HELPERS_SANDBOX") or None


def __getattr__(name: str) -> object:
    """Say where a name that left this module went (it imports nothing of the package to say so)."""
    if name == "filesystem":
        raise AttributeError(
            "roman_helpers.config.filesystem was removed in 0.2.0: use roman_helpers.stream.filesystem"
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
