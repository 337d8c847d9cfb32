"""Work on many files in threads that stops within about a second of Ctrl-C, keeping what it finished.

A :class:`~concurrent.futures.ThreadPoolExecutor` used as a context manager waits, when Ctrl-C
interrupts the loop over its results, for every task submitted: the remaining work is all done,
then thrown away (an index of 441 files interrupted after 5 s ran 14 s more, and saved nothing).
Here, on Ctrl-C, tasks not begun are cancelled, tasks under way are told to stop (the ``stop``
event each task is given, which it checks between its steps) and get :data:`GRACE` seconds to
finish, and the results of every task that finished are handed to the caller in
:class:`~roman_helpers.errors.Interrupted`. concurrent.futures has no such stop; dask.distributed
has one (``client.cancel``) for its own futures, and :mod:`roman_helpers.batch` uses it there.

A task still running after the grace is left to end by itself (Python cannot stop a thread): it
begins no new step, and its sockets have the kit's time-outs.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed, wait
from typing import Any, TypeVar

from .errors import Interrupted

__all__ = ["GRACE", "Cancelled", "run"]

#: Seconds the tasks under way get to finish after Ctrl-C; their results are kept.
GRACE = 1.0

Item = TypeVar("Item")
Result = TypeVar("Result")


class Cancelled(Exception):
    """Raised by a task that found ``stop`` set before it finished: it has no result."""


def _finished(future: Future) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None


def run(
    task: Callable[[Item, threading.Event], Result],
    items: Sequence[Item],
    workers: int,
    *,
    name: str,
    advance: Callable[[], Any] = lambda: None,
) -> list[Result]:
    """``[task(item, stop) for item in items]``, in ``workers`` threads, in the order of ``items``.

    Parameters
    ----------
    task : callable
        Called with one item and the ``stop`` event; checks the event between its steps and
        raises :class:`Cancelled` once it is set.
    items : sequence
        What to work on.
    workers : int
        Threads (no more than there are items).
    name : str
        Prefix of the threads' names.
    advance : callable, optional
        Called once a task finished (a progress bar's update), in the calling thread.

    Returns
    -------
    list
        The tasks' results. The first exception of a task is raised, and the others are stopped.

    Raises
    ------
    Interrupted
        On Ctrl-C; its ``partial`` maps the position of each finished item to its result.

    Examples
    --------
    >>> run(lambda item, stop: item * 2, [1, 2, 3], workers=2, name="double")
    [2, 4, 6]
    """
    stop = threading.Event()
    pool = ThreadPoolExecutor(max(1, min(workers, len(items))), thread_name_prefix=name)
    futures = {pool.submit(task, item, stop): position for position, item in enumerate(items)}
    results: dict[int, Result] = {}
    try:
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            advance()
    except KeyboardInterrupt:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C again: no more waiting
            wait([future for future in futures if not future.done()], timeout=GRACE)
        results.update(
            {futures[f]: f.result() for f in futures if futures[f] not in results and _finished(f)}
        )
        raise Interrupted(
            f"interrupted after {len(results)} of {len(items)}", results, len(results), len(items)
        ) from None
    except BaseException:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return [results[position] for position in range(len(items))]
