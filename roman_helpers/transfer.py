"""Count the S3 requests and bytes a block of code causes, measured in the client.

:func:`measure` works for the helpers of this package and for plain s3fs, astropy
or boto3 code alike, because it listens where all of them meet: botocore's event
system. Every S3 client (botocore for boto3, aiobotocore for s3fs) emits a
``response-received.s3.<Operation>`` event once per HTTP attempt, retries
included, carrying the response status and headers. That is a public, documented
hook, so nothing is patched and the request itself is untouched.

How the handler reaches every client
------------------------------------
botocore gives each new session the handlers listed in
``botocore.handlers.BUILTIN_HANDLERS`` (aiobotocore's sessions inherit this), so the
first :func:`measure` appends one handler there; every session created afterwards
reports to it. Clients that already exist are reached through fsspec's cache of
:class:`s3fs.S3FileSystem` instances: the handler is registered on each cached
instance's client when :func:`measure` starts. The one blind spot is a client made
before the first :func:`measure` and kept outside that cache (for example a
``boto3.client`` made earlier, or an ``S3FileSystem(skip_instance_cache=True)``);
create such clients inside or after the first block to have them counted.

The handler costs one attribute lookup when no measurement is active.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["TransferRecord", "TransferStats", "measure"]

_EVENT = "response-received.s3"
_UNIQUE_ID = "roman_helpers.transfer.count"
_COUNTED_MARK = "_roman_helpers_counted"
_NO_BODY_OPERATIONS = frozenset({"HeadObject", "HeadBucket"})


@dataclass(frozen=True)
class TransferRecord:
    """One HTTP attempt seen by the client.

    Attributes
    ----------
    operation : str
        The S3 API operation, for example ``"GetObject"`` or ``"HeadObject"``.
    status : int
        HTTP status, or 0 when the attempt failed before a response arrived.
    bytes : int
        Body bytes the server sent (its ``Content-Length``; 0 for ``HEAD``).
    range : str or None
        The ``Range`` header of the request, if any.
    started, finished : float
        ``time.perf_counter()`` when the request was sent and its response headers came.
    """

    operation: str
    status: int
    bytes: int
    range: str | None = None
    started: float = 0.0
    finished: float = 0.0


@dataclass
class TransferStats:
    """Requests and bytes counted by :func:`measure`.

    Attributes
    ----------
    records : list of TransferRecord
        Every HTTP attempt, in the order the responses arrived.
    """

    records: list[TransferRecord] = field(default_factory=list)

    @property
    def requests(self) -> int:
        """Number of HTTP requests sent to S3 (each retry counts)."""
        return len(self.records)

    @property
    def bytes(self) -> int:
        """Body bytes received from S3."""
        return sum(record.bytes for record in self.records)

    @property
    def round_trips(self) -> int:
        """Sequential round trips: requests that waited for all earlier ones to finish.

        Requests in flight together (a concurrent batch) count once. This is what latency
        multiplies; it depends on timing, so use it for reports, not for exact assertions.
        """
        waves, last_end = 0, float("-inf")
        for record in sorted(self.records, key=lambda r: r.started):
            if record.started >= last_end:
                waves += 1
            last_end = max(last_end, record.finished)
        return waves

    def by_operation(self) -> dict[str, int]:
        """Return the number of requests per S3 operation.

        Returns
        -------
        dict of str to int
        """
        counts: dict[str, int] = {}
        for record in self.records:
            counts[record.operation] = counts.get(record.operation, 0) + 1
        return counts

    def __str__(self) -> str:
        return f"{self.requests} requests, {self.bytes:,} bytes"


_lock = threading.Lock()
_active: list[TransferStats] = []
_installed = False


def _count_response(event_name: str = "", response_dict=None, context=None, exception=None,
                    **kwargs) -> None:
    """botocore handler: add one attempt to every active :class:`TransferStats`."""
    if not _active:
        return
    if response_dict is not None:
        # A client can hold this handler twice (session built-in and per-client); count once.
        if response_dict.get(_COUNTED_MARK):
            return
        response_dict[_COUNTED_MARK] = True
    operation = event_name.rsplit(".", 1)[-1]
    status = 0
    size = 0
    if response_dict is not None:
        status = int(response_dict.get("status_code") or 0)
        headers = response_dict.get("headers") or {}
        if operation not in _NO_BODY_OPERATIONS:
            size = int(headers.get("content-length") or 0)
    request_range, started = None, time.perf_counter()
    if isinstance(context, dict):
        request_range = context.get("roman_helpers_range")
        started = context.get("roman_helpers_started", started)
    record = TransferRecord(operation, status, size, request_range, started, time.perf_counter())
    with _lock:
        for stats in _active:
            stats.records.append(record)


def _remember_range(params=None, context=None, **kwargs) -> None:
    """botocore handler: keep the request's Range in its context for the record."""
    if isinstance(params, dict) and isinstance(context, dict) and params.get("Range"):
        context["roman_helpers_range"] = params["Range"]


def _remember_start(request=None, **kwargs) -> None:
    """botocore handler: note when the request leaves (per attempt)."""
    context = getattr(request, "context", None)
    if isinstance(context, dict):
        context["roman_helpers_started"] = time.perf_counter()


def _install() -> None:
    """Make every botocore session created from now on report to :func:`_count_response`."""
    global _installed
    if _installed:
        return
    from botocore import handlers

    handlers.BUILTIN_HANDLERS.append((_EVENT, _count_response))
    handlers.BUILTIN_HANDLERS.append(("before-parameter-build.s3", _remember_range))
    handlers.BUILTIN_HANDLERS.append(("request-created.s3", _remember_start))
    _installed = True


def _register(events) -> None:
    events.register(_EVENT, _count_response, unique_id=_UNIQUE_ID)
    events.register("before-parameter-build.s3", _remember_range, unique_id=_UNIQUE_ID + ".range")
    events.register("request-created.s3", _remember_start, unique_id=_UNIQUE_ID + ".start")


def _register_on_existing_sessions() -> None:
    """Register the handlers where sessions made before the first :func:`measure` live.

    Those are the clients of cached s3fs instances, and boto3's default session, from which
    every ``boto3.client(...)`` call builds its client.
    """
    import boto3
    import s3fs

    if boto3.DEFAULT_SESSION is not None:
        _register(boto3.DEFAULT_SESSION._session)  # boto3 exposes no public accessor
    for filesystem in list(getattr(s3fs.S3FileSystem, "_cache", {}).values()):
        client = getattr(filesystem, "_s3", None)
        if client is not None:  # not connected yet: its session will get the built-in handler
            _register(client.meta.events)


@contextmanager
def measure() -> Iterator[TransferStats]:
    """Count S3 requests and bytes made inside the ``with`` block.

    Yields
    ------
    TransferStats
        Filled while the block runs; read ``.requests`` and ``.bytes`` after it.

    Notes
    -----
    Counting is client-side (what botocore received). Blocks may nest; each
    counts everything inside it, from every thread. See the module documentation
    for which clients are reached.

    Examples
    --------
    >>> from roman_helpers.transfer import measure
    >>> with measure() as stats:
    ...     pass  # any s3fs / astropy / boto3 S3 code
    >>> stats.requests, stats.bytes
    (0, 0)
    """
    _install()
    _register_on_existing_sessions()
    stats = TransferStats()
    with _lock:
        _active.append(stats)
    try:
        yield stats
    finally:
        with _lock:
            _active.remove(stats)
