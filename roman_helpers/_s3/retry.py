"""The one schedule of attempts: a first try, then waits that double (private).

botocore retries each request itself (see :func:`roman_helpers._s3.client`); this is for the work
around requests that botocore cannot retry: a whole cut-out of one file (a worker of
:mod:`roman_helpers.batch`), a download whose body broke off (:mod:`roman_helpers.download`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator


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
