"""One operation over many files: cut-outs of a target across hundreds of epochs.

A light curve needs the same small region from every image that covers a target. Each
cut-out is a few ranged reads, so the work is waiting on the network, not computing:

* by default the files are worked on by a bounded pool of threads in this process
  (:class:`concurrent.futures.ThreadPoolExecutor`): nothing is pickled, nothing is
  spawned, and it behaves the same on Linux, macOS and Windows;
* given a :class:`dask.distributed.Client` (a ``LocalCluster`` or any cluster, or the
  address of its scheduler), the files fan out over the cluster's workers with
  ``client.map``. Only URIs and plain parameters travel to the workers; each worker
  builds its own S3 connection from its own environment (credentials, and
  ``AWS_ENDPOINT_URL`` when pointing at another S3 endpoint).

A file that fails does not stop the others: it is listed in :attr:`BatchResult.failed`
with the error and the number of attempts. Network faults (dropped connections, time-outs,
S3 5xx answers) are tried again with a growing wait; answers that will not change (no such
object, a position outside the image, a damaged file) are not. Every attempt has a time
limit, so a stalled connection cannot hold the batch.

Requests and bytes are counted where they happen: each task counts the S3 requests of its
process while it runs with :func:`roman_helpers.transfer.measure` (those of tasks running
beside it too), returns them with its result, and the caller adds them up, each request once.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import _pool, _s3, _sky, config
from ._progress import shown
from .errors import Interrupted, InvalidParameterError, MissingExtraError

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from astropy.nddata import Cutout2D
    from astropy.table import Table

__all__ = ["CONNECT_TIMEOUT", "BatchResult", "Failure", "ImageCutout", "Success", "cutouts", "map_files"]

#: Longest wait, in seconds, for a Dask scheduler given by address to answer.
CONNECT_TIMEOUT = 10.0
#: Name of the thread that runs one attempt (so that an abandoned one can be recognised).
_ATTEMPT_THREAD = "roman-helpers-attempt"
#: Seconds between two looks at the stop event of Ctrl-C while an attempt runs.
_STOP_CHECK = 0.05
# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ImageCutout:
    """The cut-outs of one file: the science pixels and, where the file has them, their errors.

    Attributes
    ----------
    data : astropy.nddata.Cutout2D
        The science image's cut-out, with its WCS when the file has one.
    err : astropy.nddata.Cutout2D or None
        The same pixels of the file's error array (the FITS ``ERR`` extension, the ASDF
        ``err`` array), or ``None`` when the file has none.
    """

    data: Cutout2D
    err: Cutout2D | None = None

    @property
    def provenance(self) -> Any:
        """What the file says about the exposure and its pixels, or None for a cut-out made elsewhere.

        Band, detector, exposure time, start and end (MJD), the pixels' ``unit`` and their AB
        ``zeropoint``, read from the headers or tree the cut-out was made with.
        """
        return getattr(self.data, "provenance", None)

    @property
    def unit(self) -> Any:
        """The pixels' unit (electrons, DN/s, MJy/sr ...), or None when the file does not say."""
        provenance = self.provenance
        return None if provenance is None else provenance.astropy_unit


@dataclass
class Success:
    """A file the operation succeeded on.

    Attributes
    ----------
    uri : str
        The file.
    value : object
        What the operation returned; for :func:`cutouts` an :class:`ImageCutout`.
    attempts : int
        Attempts it took (1 when the first one succeeded).
    meta : dict
        The other columns of the file's row in the input table (band, times, detector ...).
    index : int
        Position of the file in the input.
    """

    uri: str
    value: Any
    attempts: int = 1
    meta: dict[str, Any] = field(default_factory=dict)
    index: int = 0

    @property
    def cutout(self) -> Cutout2D:
        """The science cut-out (for results of :func:`cutouts`)."""
        return self.value.data

    @property
    def err(self) -> Cutout2D | None:
        """The error cut-out, or ``None`` (for results of :func:`cutouts`)."""
        return self.value.err


@dataclass
class Failure:
    """A file the operation failed on.

    Attributes
    ----------
    uri : str
        The file.
    error_type : str
        Class name of the last error (``"ObjectNotFoundError"``, ``"TimeoutError"`` ...).
    message : str
        Its message, which says what went wrong and what to do.
    attempts : int
        Attempts made: 1 for errors that another attempt cannot change, up to
        ``retries + 1`` for network faults; 0 if the task never ran (a lost worker).
    transient : bool
        Whether the error was a network fault (another run later may succeed).
    meta : dict
        The other columns of the file's row in the input table.
    index : int
        Position of the file in the input.
    """

    uri: str
    error_type: str
    message: str
    attempts: int
    transient: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    index: int = 0


@dataclass
class BatchResult:
    """What a batch did: the files that worked, those that did not, and the transfer it cost.

    Attributes
    ----------
    ok : list of Success
        In input order.
    failed : list of Failure
        In input order.
    requests : int
        S3 requests sent, summed over all workers (each retry counts, except those the HTTP
        library repeats by itself after a dropped connection: see
        :mod:`roman_helpers.transfer`).
    bytes : int
        Body bytes received from S3, summed over all workers.
    seconds : float
        Wall-clock time of the whole batch.
    backend : str
        ``"threads"`` or the Dask scheduler's address.
    """

    ok: list[Success] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    requests: int = 0
    bytes: int = 0
    seconds: float = 0.0
    backend: str = "threads"

    @property
    def files(self) -> int:
        """Number of files worked on."""
        return len(self.ok) + len(self.failed)

    @property
    def files_per_second(self) -> float:
        """Files finished (or given up) per second of wall-clock time."""
        return self.files / self.seconds if self.seconds > 0 else float("nan")

    def table(self) -> Table:
        """Summarise the batch, one row per file in input order.

        Returns
        -------
        astropy.table.Table
            Columns ``uri``, the input table's other columns, ``status`` (``"ok"`` or
            ``"failed"``), ``attempts``, ``error_type`` and ``message`` (empty for files
            that worked).

        Examples
        --------
        >>> result = BatchResult(
        ...     ok=[Success("s3://b/a.fits", None, meta={"band": "F158"})],
        ...     failed=[
        ...         Failure(
        ...             "s3://b/c.fits", "ObjectNotFoundError", "no object", 1, meta={"band": "F087"}, index=1
        ...         )
        ...     ],
        ... )
        >>> result.table()["uri", "band", "status", "attempts"].pprint()
             uri      band status attempts
        ------------- ---- ------ --------
        s3://b/a.fits F158     ok        1
        s3://b/c.fits F087 failed        1
        """
        from astropy.table import Table

        items: list[Success | Failure] = [*self.ok, *self.failed]
        items.sort(key=lambda item: item.index)
        meta_names: list[str] = []
        for item in items:
            meta_names += [name for name in item.meta if name not in meta_names]
        columns: dict[str, list] = {"uri": [item.uri for item in items]}
        for name in meta_names:
            columns[name] = [item.meta.get(name) for item in items]
        columns["status"] = ["ok" if isinstance(item, Success) else "failed" for item in items]
        columns["attempts"] = [item.attempts for item in items]
        columns["error_type"] = [getattr(item, "error_type", "") for item in items]
        columns["message"] = [getattr(item, "message", "") for item in items]
        return Table(columns)

    def __repr__(self) -> str:
        return (
            f"<BatchResult {len(self.ok)} ok, {len(self.failed)} failed, {self.requests} requests, "
            f"{self.bytes / 1e6:.2f} MB, {self.files_per_second:.1f} files/s on {self.backend}>"
        )


# --------------------------------------------------------------------------- one task


@dataclass
class _Outcome:
    """What a task sends back (picklable: errors travel as names and messages, not objects)."""

    value: Any = None
    error_type: str | None = None
    message: str = ""
    attempts: int = 0
    transient: bool = False
    origin: tuple[str, int] = ("", 0)
    records: list[tuple] = field(default_factory=list)


def _within(function: Callable[[str], Any], uri: str, seconds: float, stop: threading.Event | None) -> Any:
    """Call ``function(uri)``, giving up after ``seconds``, or at once when ``stop`` is set (Ctrl-C).

    Python cannot stop a thread, so the call runs in a daemon thread that is left behind when
    it overruns; the socket time-outs of the S3 client (:func:`roman_helpers.config.timeout`)
    end it later. This is what makes the limit hold whatever the function does.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = function(uri)
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread below
            box["error"] = error

    thread = threading.Thread(target=target, name=_ATTEMPT_THREAD, daemon=True)
    thread.start()
    deadline = time.monotonic() + seconds
    while thread.is_alive() and time.monotonic() < deadline:
        thread.join(min(_STOP_CHECK, max(0.0, deadline - time.monotonic())))
        if thread.is_alive() and stop is not None and stop.is_set():
            raise _pool.Cancelled
    if thread.is_alive():
        raise TimeoutError(
            f"{uri}: no result within {seconds:g} s; the connection may have stalled "
            "(give a larger timeout= for slow networks or very large cut-outs)"
        )
    if "error" in box:
        raise box["error"]
    return box["value"]


def _run(
    function: Callable[[str], Any],
    uri: str,
    *,
    retries: int,
    timeout: float,
    backoff: float,
    stop: threading.Event | None = None,
) -> _Outcome:
    """Work on one file with retries and a time limit per attempt; raises only when ``stop`` is set.

    Top level (not nested) so that Dask workers can import it by name. ``stop`` (threads only) is
    set on Ctrl-C: the attempt under way is abandoned and :class:`roman_helpers._pool.Cancelled`
    raised.
    """
    from .transfer import measure

    outcome = _Outcome(origin=(socket.gethostname(), os.getpid()))
    # Each task has its own block (blocks running together are independent: their statistics
    # are told apart by identity). A block counts every request of its process while it is
    # open, those of the tasks running beside it included, so the records themselves are sent
    # back and the caller counts each once: within a process a record's send and receive
    # times (perf_counter, nanoseconds) identify it; host and process tell processes apart.
    with measure() as stats:
        for attempt in _s3.attempts(retries + 1, backoff):
            outcome.attempts = attempt
            if stop is not None and stop.is_set():
                raise _pool.Cancelled
            try:
                outcome.value = _within(function, uri, timeout, stop)
                break
            except _pool.Cancelled:
                raise
            except Exception as error:  # noqa: BLE001 - every failure is reported, none raised
                transient = _s3.is_transient(error)
                if transient and attempt <= retries:
                    continue
                outcome.error_type, outcome.transient = type(error).__name__, transient
                outcome.message = str(error) or repr(error)
                break
    outcome.records = [
        (record.operation, record.status, record.bytes, record.range, record.started, record.finished)
        for record in stats.records
    ]
    return outcome


# --------------------------------------------------------------------------- inputs


def _plain(value: Any) -> Any:
    """A table cell as a plain Python value (numpy scalars → int/float/str)."""
    item = getattr(value, "item", None)
    return item() if callable(item) and getattr(value, "shape", None) == () else value


def _rows(items: Any, name: str) -> list[tuple[str, dict[str, Any]]]:
    """``(uri, other columns)`` for each file of a list of URIs, rows, or a table with a ``uri`` column."""
    hint = "give a list of 's3://bucket/key' URIs, or a table with a 'uri' column"
    if isinstance(items, str):
        items = [items]
    colnames = getattr(items, "colnames", None)
    if colnames is not None:
        if "uri" not in colnames:
            raise InvalidParameterError(name, f"table with columns {list(colnames)}", hint=hint)
        others = [column for column in colnames if column != "uri"]
        return [(str(row["uri"]), {column: _plain(row[column]) for column in others}) for row in items]
    rows: list[tuple[str, dict[str, Any]]] = []
    try:
        for item in items:
            if isinstance(item, str):
                rows.append((item, {}))
            elif isinstance(item, Mapping) and "uri" in item:
                rows.append((str(item["uri"]), {k: _plain(v) for k, v in item.items() if k != "uri"}))
            else:
                raise InvalidParameterError(name, item, hint=hint)
    except TypeError as error:
        raise InvalidParameterError(name, items, hint=hint) from error
    return rows


# --------------------------------------------------------------------------- running


def _in_threads(
    task: Callable[..., _Outcome], uris: list[str], max_workers: int, progress: bool
) -> list[_Outcome]:
    """Each file's outcome, in input order; on Ctrl-C :class:`Interrupted` with those finished."""
    from ._progress import tqdm

    def one(uri: str, stop: threading.Event) -> _Outcome:
        return task(uri, stop=stop)

    with tqdm(total=len(uris), unit="file", disable=not progress) as bar:
        return _pool.run(one, uris, max_workers, name="roman-helpers-batch", advance=lambda: bar.update(1))


def _connect(client: Any, timeout: float) -> tuple[Any, bool]:
    """Return a Dask client and whether we opened it (and must close it)."""
    try:
        from distributed import Client
    except ImportError as error:
        raise MissingExtraError("Running a batch on a Dask cluster", ["survey"], error.name) from error
    if not isinstance(client, str):
        if not hasattr(client, "map") or not hasattr(client, "scheduler"):
            raise InvalidParameterError(
                "client",
                client,
                hint="give a dask.distributed.Client, a scheduler address such as "
                "'tcp://127.0.0.1:8786', or None to use threads in this process",
            )
        return client, False
    try:
        return Client(client, timeout=timeout, set_as_default=False), True
    except (OSError, ValueError) as error:
        raise InvalidParameterError(
            "client",
            client,
            hint=f"no Dask scheduler answered there within {timeout:g} s ({error}). Check the address "
            "(the scheduler prints it when it starts, e.g. 'tcp://127.0.0.1:8786'), start one "
            "with `dask scheduler` and `dask worker <address>`, or leave out client= to work in "
            "threads in this process",
        ) from error


def _on_dask(client: Any, task: Callable[[str], _Outcome], uris: list[str], progress: bool) -> list[_Outcome]:
    from distributed import progress as dask_progress

    futures = client.map(task, uris, pure=False)
    outcomes = []
    try:
        if progress:  # in a terminal this draws the bar until all are done; in Jupyter a widget
            dask_progress(futures, scheduler=client.scheduler.address)
        for future in futures:  # all run at once; waiting on each in turn costs no time
            try:
                outcomes.append(future.result())
            except Exception as error:  # noqa: BLE001 - never finished: a lost worker, a bad pickle
                outcomes.append(_Outcome(error_type=type(error).__name__, message=str(error) or repr(error)))
        return outcomes
    except KeyboardInterrupt:
        client.cancel(futures)  # the scheduler drops what has not begun and stops what runs
        finished = {i: f.result() for i, f in enumerate(futures) if f.status == "finished"}
        finished.update(enumerate(outcomes))
        raise Interrupted(f"interrupted after {len(finished)} of {len(uris)}", finished) from None
    finally:
        client.cancel(futures)


def map_files(
    function: Callable[[str], Any],
    items: Any,
    *,
    client: Any = None,
    max_workers: int = 8,
    retries: int = 2,
    timeout: float | None = None,
    progress: bool | None = None,
) -> BatchResult:
    """Call ``function(uri)`` for every file, in threads or on a Dask cluster.

    Parameters
    ----------
    function : callable
        Takes one ``s3://`` URI and returns anything. With a Dask ``client`` it must be
        picklable: a function importable at top level, or a :func:`functools.partial` of one
        with plain arguments (numbers, strings, SkyCoord ...), not an open file system.
    items : list of str, list of dict, or astropy.table.Table
        The files: URIs, or rows with a ``uri`` key/column. Other columns (band, times,
        detector ...) are not sent to the workers; they are kept with each file's result.
    client : dask.distributed.Client or str, optional
        Run on this Dask cluster, or connect to the scheduler at this address
        (``"tcp://127.0.0.1:8786"``, waiting at most :data:`CONNECT_TIMEOUT` seconds).
        Workers read S3 with their own environment: set the same credentials (and
        ``AWS_ENDPOINT_URL`` for an endpoint other than AWS) where they run.
        By default a pool of threads in this process does the work.
    max_workers : int
        Threads in the pool (ignored with a ``client``: the cluster decides).
    retries : int
        Further attempts after a network fault (time-out, dropped connection, S3 5xx).
        Errors another attempt cannot change are not retried. Waits between attempts start
        at :func:`roman_helpers.config.backoff` seconds and double.
    timeout : float, optional
        Seconds one attempt may take before it is abandoned and counted as a time-out;
        default :func:`roman_helpers.config.timeout`.
    progress : bool, optional
        Show a progress bar (tqdm in threads, :func:`dask.distributed.progress` on a
        cluster). By default a widget in Jupyter, a text bar on a terminal and none in a
        log.

    Returns
    -------
    BatchResult
        Failures are listed in it, not raised.

    Raises
    ------
    InvalidParameterError
        If ``items`` holds no URIs, or ``client`` is neither a Client nor the address of a
        scheduler that answers.
    MissingExtraError
        If a ``client`` is given and Dask is not installed (the ``survey`` extra).
    Interrupted
        On Ctrl-C, within about a second: its ``partial`` is the :class:`BatchResult` of the
        files finished (files not begun are dropped, attempts under way abandoned).

    Examples
    --------
    Any function of a URI will do; this one makes no request at all:

    >>> result = map_files(len, ["s3://stpubdata/a.fits", "s3://stpubdata/bb.fits"], progress=False)
    >>> [item.value for item in result.ok], result.failed, result.requests
    ([21, 22], [], 0)
    """
    return _map(
        function,
        _rows(items, "items"),
        client=client,
        max_workers=max_workers,
        retries=retries,
        timeout=timeout,
        progress=progress,
    )


def _map(
    function: Callable[[str], Any],
    rows: list[tuple[str, dict[str, Any]]],
    *,
    client: Any,
    max_workers: int,
    retries: int,
    timeout: float | None,
    progress: bool | None,
) -> BatchResult:
    timeout = config.timeout() if timeout is None else float(timeout)
    if timeout <= 0:
        raise InvalidParameterError("timeout", timeout, hint="give a number of seconds > 0")
    if int(retries) < 0:
        raise InvalidParameterError("retries", retries, hint="give 0 (no retry) or more")
    task = functools.partial(_run, function, retries=int(retries), timeout=timeout, backoff=config.backoff())
    uris = [uri for uri, _ in rows]
    show = shown(progress)
    started = time.perf_counter()
    backend = "threads"
    try:
        if client is None:
            outcomes = dict(enumerate(_in_threads(task, uris, max_workers, show) if uris else []))
        else:
            dask_client, opened = _connect(client, min(timeout, CONNECT_TIMEOUT))
            try:
                backend = str(dask_client.scheduler.address)
                outcomes = dict(enumerate(_on_dask(dask_client, task, uris, show) if uris else []))
            finally:
                if opened:
                    dask_client.close()
    except Interrupted as stopped:
        done = _result(rows, stopped.partial, time.perf_counter() - started, backend)  # type: ignore[arg-type]
        raise Interrupted(
            f"interrupted after {done.files} of {len(rows)} files; the files done are this exception's "
            ".partial (a BatchResult)",
            done,
            done.files,
            len(rows),
        ) from None
    return _result(rows, outcomes, time.perf_counter() - started, backend)


def _result(
    rows: list[tuple[str, dict[str, Any]]], outcomes: Mapping[int, _Outcome], seconds: float, backend: str
) -> BatchResult:
    """The batch's result from the outcomes of the files (by position; those missing were not done)."""
    result = BatchResult(seconds=seconds, backend=backend)
    seen: set[tuple] = set()
    for index, (uri, meta) in enumerate(rows):
        if index not in outcomes:
            continue
        outcome = outcomes[index]
        for record in outcome.records:
            key = (outcome.origin, *record)
            if key not in seen:
                seen.add(key)
                result.requests += 1
                result.bytes += record[2]
        if outcome.error_type is None:
            result.ok.append(Success(uri, outcome.value, outcome.attempts, meta, index))
        else:
            result.failed.append(
                Failure(
                    uri, outcome.error_type, outcome.message, outcome.attempts, outcome.transient, meta, index
                )
            )
    return result


# --------------------------------------------------------------------------- cut-outs


def _cutout_one(
    uri: str,
    *,
    position: Any,
    pixel: Any,
    size: Any,
    ext: int | str | None,
    err_ext: str | None,
    anon: bool | None,
) -> ImageCutout:
    """Cut one file (top level, so that Dask workers can import it by name)."""
    from .stream import cutout, cutouts

    where = {"position": position, "pixel": pixel, "size": size, "anon": anon}
    if err_ext is None:
        return ImageCutout(cutout(uri, ext=ext, **where))
    # Science and errors in one read of the file (one pass through a .fits.gz stream); None in
    # first place is the default science image (the first 2-D image HDU, or ASDF "data").
    arrays = [ext, err_ext]
    try:
        data, err = cutouts(uri, arrays=arrays, **where).values()
    except InvalidParameterError as error:
        if error.name != "ext" or str(error.value).lower() != err_ext.lower():
            raise
        # no error array (or one of another shape): the science cut-out alone
        return ImageCutout(cutout(uri, ext=ext, **where))
    return ImageCutout(data, err)


def cutouts(
    files: Any,
    position: Any = None,
    size: Any = None,
    *,
    pixel: Any = None,
    client: Any = None,
    max_workers: int = 8,
    with_errors: bool = True,
    ext: int | str | None = None,
    err_ext: str = "ERR",
    anon: bool | None = None,
    retries: int = 2,
    timeout: float | None = None,
    progress: bool | None = None,
) -> BatchResult:
    """Cut the same region of the sky out of many files, fetching only the pixels needed.

    Each file is read once, with :func:`roman_helpers.stream.cutouts`; see :func:`map_files` for
    how the work is spread, retried and time-limited.

    Parameters
    ----------
    files : list of str, list of dict, or astropy.table.Table
        The files: ``s3://`` URIs, or a table with a ``uri`` column (its other columns, such
        as ``band``, ``t_start``, ``t_end``, ``detector``, are kept with each result).
    position : astropy.coordinates.SkyCoord or str
        Centre of the cut-outs on the sky (a string of RA and Dec as for
        :func:`roman_helpers.stream.cutout`), placed with each file's own WCS.
    size : int, (ny, nx) or astropy.units.Quantity
        Size in pixels, or an angle.
    pixel : (x, y), optional
        Centre of the cut-outs in 0-based pixels, the same in every file, instead of
        ``position``.
    client : dask.distributed.Client or str, optional
        Spread the files over this Dask cluster (or the scheduler at this address).
    max_workers : int
        Threads when no ``client`` is given.
    with_errors : bool
        Also cut the error array where the file has one (FITS extension ``err_ext``, Roman
        ASDF ``err``), for photometric uncertainties; both arrays come from one read of
        the file. For a file without one, :func:`roman_helpers.photometry.light_curve`
        estimates the noise from the background around the target.
    ext : int or str, optional
        FITS HDU of the science image (by default the first 2-D image), or the name of an
        ASDF array (by default ``data``).
    err_ext : str
        FITS HDU of the error array (for ASDF files, the array of that name in any case:
        ``err``).
    anon : bool, optional
        Anonymous access; by default decided by the bucket.
    retries, timeout, progress
        As for :func:`map_files`.

    Returns
    -------
    BatchResult
        Each :class:`Success` has ``.cutout`` (science) and ``.err`` (errors or ``None``)
        and the file's other columns in ``.meta``. A position outside a file's image, or a
        missing file, is a :class:`Failure`, not an exception.

    Raises
    ------
    InvalidParameterError
        If the centre or the size cannot be read (before any file is read): both or neither of
        ``position`` and ``pixel``, or two bare numbers as ``position``.
    Interrupted
        On Ctrl-C, as for :func:`map_files`: ``partial`` holds the cut-outs finished.

    Examples
    --------
    >>> from astropy.coordinates import SkyCoord
    >>> from roman_helpers import footprints
    >>> index = footprints.build_index(
    ...     "s3://stpubdata/roman/nexus/soc_simulations/tutorial_data/roman-2026.2/"
    ... )
    >>> target = SkyCoord("270.7956 -0.2870", unit="deg")
    >>> files = footprints.find(index, target, band="F106")
    >>> result = cutouts(files, target, 25, progress=False)
    >>> len(result.ok), len(result.failed), result.requests
    (5, 0, 105)
    >>> result.ok[0].cutout.shape, result.ok[0].err.shape  # science and errors, from one read
    ((25, 25), (25, 25))
    >>> [(item.value.provenance.detector, str(item.value.unit)) for item in result.ok[:2]]  # as the files say
    [('', 'MJy / sr'), ('WFI11', 'DN / s')]
    """
    centre = _sky.parse_centre(position, pixel)  # refused here, not once in every file
    if centre is None or size is None:
        missing = "position" if centre is None else "size"
        raise InvalidParameterError(
            missing, None, hint="give a centre (position= on the sky, pixel= in pixels) and size="
        )
    _sky.parse_size(size)
    function = functools.partial(
        _cutout_one,
        position=None if pixel is not None else centre,
        pixel=centre if pixel is not None else None,
        size=size,
        ext=ext,
        err_ext=err_ext if with_errors else None,
        anon=anon,
    )
    return _map(
        function,
        _rows(files, "files"),
        client=client,
        max_workers=max_workers,
        retries=retries,
        timeout=timeout,
        progress=progress,
    )
