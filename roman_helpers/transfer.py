"""Count the S3 requests and bytes a block of code causes, measured in the client.

:func:`measure` works for the functions of this package and for plain s3fs, astropy or boto3
code alike, because it listens where all of them meet: botocore's event system. Every S3
client (botocore for boto3, aiobotocore for s3fs) emits ``response-received.s3.<Operation>``
once per HTTP attempt, retries included, with the response status and headers. The handlers
only read; requests are sent unchanged.

Which clients are counted
-------------------------
botocore lets handlers be registered per client (``client.meta.events``) and per session
(``boto3.Session.events``). While a :func:`measure` block runs, the handlers are registered on

* boto3's default session (``boto3.DEFAULT_SESSION``), from which ``boto3.client(...)`` makes
  its clients;
* the client (``S3FileSystem.s3``) of every connected :class:`s3fs.S3FileSystem` that fsspec
  keeps for reuse, such as the one an earlier ``fits.open("s3://...")`` made;
* clients given to :func:`watch` (:func:`roman_helpers.download.download` gives its own).

Sessions created inside a block, such as the one behind the :class:`s3fs.S3FileSystem` astropy
makes on ``fits.open("s3://...")``, have no public hook before they exist. For them, and only
while a block runs, the handlers are added to ``botocore.handlers.BUILTIN_HANDLERS``, the list
every new botocore or aiobotocore session registers when it is created; they are taken out when
the last block ends, and the handlers registered on existing sessions and clients are removed
too. Sessions and clients created inside a block keep a copy that does nothing outside a block.

Two of these are not documented interfaces: ``BUILTIN_HANDLERS`` and fsspec's instance cache
``S3FileSystem._cache``; the test suite checks that the installed versions still have them.

Not counted: a client made before the block elsewhere (from another ``boto3.Session``, or an
``S3FileSystem(skip_instance_cache=True)``); give it to :func:`watch` to have it counted. Nor a
request that aiohttp (under s3fs) sends a second time by itself, on a new connection, when the
server closed the kept-alive connection it first used (RFC 9112 allows this for GET and HEAD):
botocore sees one attempt, and one is counted, though the server answered or refused two.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ._s3 import hooks

__all__ = ["TransferRecord", "TransferStats", "measure", "watch"]

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


@dataclass(eq=False)  # blocks are told apart by identity: two may hold equal records
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
_reached: list[Any] = []  # event systems the running blocks registered on, unregistered with the last


def _first_report(context: object) -> bool:
    """Tell whether this HTTP attempt is not counted yet.

    A client can hold the handler twice (from its session's built-in list and from
    :func:`watch`); botocore numbers the attempts of a call in its context.
    """
    if not isinstance(context, dict):
        return True
    attempt = (context.get("retries") or {}).get("attempt")
    if attempt is None:
        return True
    if context.get(_COUNTED_MARK) == attempt:
        return False
    context[_COUNTED_MARK] = attempt
    return True


def _count_response(
    event_name: str = "",
    response_dict: dict[str, Any] | None = None,
    context: object = None,
    exception: BaseException | None = None,
    **kwargs: Any,
) -> None:
    """botocore handler: add one attempt to every active :class:`TransferStats`."""
    if not _active or not _first_report(context):
        return
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


def _remember_range(params: object = None, context: object = None, **kwargs: Any) -> None:
    """botocore handler: keep the request's Range in its context for the record."""
    if isinstance(params, dict) and isinstance(context, dict) and params.get("Range"):
        context["roman_helpers_range"] = params["Range"]


def _remember_start(request: object = None, **kwargs: Any) -> None:
    """botocore handler: note when the request leaves (per attempt)."""
    context = getattr(request, "context", None)
    if isinstance(context, dict):
        context["roman_helpers_started"] = time.perf_counter()


#: (event, handler) pairs, in the form of ``botocore.handlers.BUILTIN_HANDLERS`` entries.
_HANDLERS = (
    (_EVENT, _count_response),
    ("before-parameter-build.s3", _remember_range),
    ("request-created.s3", _remember_start),
)
_WATCH_ID = _UNIQUE_ID + ".watch"
_BLOCK_ID = _UNIQUE_ID + ".block"


def _register(events: Any, unique_id: str) -> None:
    for event, handler in _HANDLERS:
        events.register(event, handler, unique_id=f"{unique_id}.{handler.__name__}")


def _unregister(events: Any, unique_id: str) -> None:
    for event, handler in _HANDLERS:
        events.unregister(event, handler, unique_id=f"{unique_id}.{handler.__name__}")


def watch(client: Any) -> Any:
    """Have an S3 client report to :func:`measure`, wherever and whenever it was made.

    Needed only for a client made before a :func:`measure` block outside boto3's default
    session and fsspec's cache of :class:`s3fs.S3FileSystem` instances (for a file system,
    give ``fs.s3``). Outside a block the handler does nothing.

    Parameters
    ----------
    client : botocore.client.BaseClient
        A boto3/botocore (or aiobotocore) S3 client.

    Returns
    -------
    botocore.client.BaseClient
        The same client.

    Examples
    --------
    >>> import boto3
    >>> client = watch(boto3.Session(region_name="us-east-1").client("s3"))
    >>> with measure() as stats:
    ...     pass  # client.get_object(...) here is counted
    >>> stats.requests
    0
    """
    _register(client.meta.events, _WATCH_ID)
    return client


def _start() -> None:
    """Before the first block: reach the sessions that will be created while blocks run."""
    hooks.join_new_sessions(_HANDLERS)


def _stop() -> None:
    """After the last block: leave botocore's built-in list and the reached sessions as they were."""
    hooks.leave_new_sessions(_HANDLERS)
    for events in _reached:
        _unregister(events, _BLOCK_ID)
    _reached.clear()


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
    stats = TransferStats()
    with _lock:
        if not _active:
            _start()
        try:
            for events in hooks.event_systems():
                if not any(events is known for known in _reached):
                    _register(events, _BLOCK_ID)
                    _reached.append(events)
        except BaseException:
            if not _active:
                _stop()
            raise
        _active.append(stats)
    try:
        yield stats
    finally:
        with _lock:
            _active.remove(stats)
            if not _active:
                _stop()
