"""The one schedule of attempts: a first try, then waits that double (private).

botocore retries each request itself (see :func:`roman_helpers._s3.client`); this is for the work
around requests that botocore cannot retry: a whole cut-out of one file (a worker of
:mod:`roman_helpers.batch`), a download whose body broke off (:mod:`roman_helpers.download`), a
read whose bytes disagree with the file itself (:func:`reread`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from .. import config
from ..errors import CorruptedDataError
from .failures import damage, is_damaged

__all__ = ["attempts", "reread"]

Result = TypeVar("Result")


def attempts(limit: int, first_wait: float) -> Iterator[int]:
    """Yield attempt numbers 1 to ``limit``, waiting before each after the first.

    The wait before attempt ``n`` is ``first_wait * 2 ** (n - 2)`` seconds: ``first_wait``, then
    twice that, and so on. Leave the loop (``break``) once an attempt succeeds or cannot succeed.

    Examples
    --------
    >>> [n for n in attempts(3, 0.0)]
    [1, 2, 3]
    """
    for number in range(1, limit + 1):
        if number > 1:
            time.sleep(first_wait * 2 ** (number - 2))
        yield number


def reread(
    read: Callable[[], Result], uri: str, *, limit: int | None = None, first_wait: float | None = None
) -> Result:
    """Run ``read()``; read again while the bytes it got disagree with the file, then give up.

    A read whose decoded bytes do not match what the file states about them (an lz4 chunk's
    size, an ASDF block's MD5, a gzip member's CRC: :func:`~roman_helpers._s3.failures.is_damaged`)
    is made again, whole, on the schedule of :func:`attempts` (``ROMAN_HELPERS_MAX_ATTEMPTS``
    reads, ``ROMAN_HELPERS_BACKOFF`` seconds before the second, doubled after). A fault on the way
    does not repeat; damage that does is in the stored file. Other errors pass at once.

    Parameters
    ----------
    read : callable
        Reads what is wanted from the start (nothing kept from an earlier attempt).
    uri : str
        The file, named in the error.
    limit, first_wait : optional
        Reads at most, and the first wait in seconds; by default ``ROMAN_HELPERS_MAX_ATTEMPTS``
        and ``ROMAN_HELPERS_BACKOFF``.

    Returns
    -------
    object
        What ``read()`` returned, from bytes that agreed with the file.

    Raises
    ------
    CorruptedDataError
        When every read disagreed.

    Examples
    --------
    >>> from roman_helpers._s3.failures import DamagedBytes
    >>> reread(lambda: "pixels", "s3://stpubdata/a.fits")
    'pixels'
    >>> def damaged():
    ...     raise DamagedBytes("an lz4 chunk does not decode")
    >>> reread(damaged, "s3://stpubdata/b.asdf", limit=3, first_wait=0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    roman_helpers.errors.CorruptedDataError: s3://stpubdata/b.asdf: an lz4 chunk does not decode; read 3 ...
    """
    limit = config.max_attempts() if limit is None else limit
    last: BaseException | None = None
    for _number in attempts(limit, config.backoff() if first_wait is None else first_wait):
        try:
            return read()
        except Exception as error:
            if not is_damaged(error):
                raise
            last = error
    assert last is not None  # at least one attempt ran (max_attempts() >= 1)
    times = "once" if limit == 1 else f"{limit} times"
    raise CorruptedDataError(
        f"{uri}: {damage(last)}; read {times}, damaged each time: the stored file is damaged "
        "(tell the archive; another copy or another exposure of the field may serve)"
    ) from last
