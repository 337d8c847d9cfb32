"""What the kit attaches to botocore's event system (private).

* On every client the kit makes (:mod:`.clients`): the command line's fail-fast connect. Inside
  :func:`roman_helpers.config.command_line`, a connection that could not be made (refused, unknown
  host, connect time-out) to an endpoint that has not answered yet is not tried again, so that a
  person waiting learns within seconds that no endpoint answers. Once an endpoint has answered, a
  connection it does not take is a fault on the way (a loaded machine, a busy server) and is
  retried like an answer from the server: a batch of files read from a working endpoint does not
  lose a file to one slow connection. Outside the command line the handler leaves every decision
  to botocore.
* For :func:`roman_helpers.transfer.measure` alone: the process-wide hook that reaches clients
  other libraries make inside a measured block (astropy's s3fs, plain boto3), and the event
  systems of those made before it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from .. import config

_FAIL_FAST_ID = "roman_helpers.fail_fast_connect"


#: The endpoints (``scheme://host:port``) that have answered a request of this process.
_ANSWERED: set[str] = set()


def _no_connect_retry(
    attempts: int = 1,
    caught_exception: BaseException | None = None,
    response: Any = None,
    endpoint: Any = None,
    **kwargs: Any,
) -> Any:
    """botocore ``needs-retry`` handler: on the command line, a connection not made is not retried.

    botocore asks every ``needs-retry`` handler after every attempt and follows the first answer
    that is not ``None``; ``False`` means "do not retry". Answers from the server (5xx, SlowDown),
    bodies cut off after the connection was made, and connections not made to an endpoint that
    has answered before are left to botocore's retry policy.
    """
    address = getattr(endpoint, "host", None)
    if response is not None:
        if address:
            _ANSWERED.add(address)
        return None
    if not config.fail_fast() or address in _ANSWERED:
        return None
    from botocore.exceptions import ConnectionError as ConnectFailed
    from botocore.exceptions import SSLError

    if isinstance(caught_exception, ConnectFailed) and not isinstance(caught_exception, SSLError):
        return False
    return None


def attach(events: Any) -> None:
    """Attach the kit's hooks to one client's event system (first, before botocore's retry handler)."""
    events.register_first("needs-retry.s3", _no_connect_retry, unique_id=_FAIL_FAST_ID)


# --------------------------------------------------------------------------- for transfer.measure


def join_new_sessions(specs: Sequence[tuple[str, Any]]) -> None:
    """Have every botocore (and aiobotocore) session made from now on register ``specs``.

    No public hook reaches a session before it exists: botocore's built-in handler list, which
    each new session registers, is that hook. Only :func:`roman_helpers.transfer.measure` uses it,
    while a block runs; :func:`leave_new_sessions` takes the entries out again.
    """
    from botocore import handlers

    handlers.BUILTIN_HANDLERS.extend(specs)


def leave_new_sessions(specs: Sequence[tuple[str, Any]]) -> None:
    """Take the entries :func:`join_new_sessions` added out of botocore's built-in list."""
    from botocore import handlers

    for spec in specs:
        index = next((i for i, entry in enumerate(handlers.BUILTIN_HANDLERS) if entry is spec), None)
        if index is not None:
            del handlers.BUILTIN_HANDLERS[index]


def event_systems() -> Iterator[Any]:
    """The event systems of boto3's default session and of the connected cached s3fs clients."""
    import boto3
    import s3fs

    if boto3.DEFAULT_SESSION is not None:
        yield boto3.DEFAULT_SESSION.events
    # fsspec keeps the instances it reuses in this class attribute (the kit's among them); it has
    # no public accessor
    for filesystem in list(s3fs.S3FileSystem._cache.values()):
        if filesystem.session is None:
            continue  # never connected: its session will be made from the built-in list
        try:
            yield filesystem.s3.meta.events
        except RuntimeError:  # an asynchronous instance whose session is not set up yet
            continue
