"""Ctrl-C stops every long command and call within about a second, keeps what it finished, says so.

S3 is a second sandbox S3 server over the sandbox's own files, slowed to 250 ms a request and
2 MB/s (what ``roman-helpers sandbox up --latency 250ms --bandwidth 2MB/s`` does), so that the work
takes many seconds and the interrupt lands in the middle of it. The interrupt is sent once the
server has answered a given number of requests; how fast the work stopped is measured in what the
server answered after it (its records, in the order it answered them), never in seconds: the
requests already on their way when Ctrl-C came, and nothing begun after it.

The commands run as processes in a session of their own, and the signal goes to that process
group, as a terminal sends Ctrl-C. Each test sets Python's own SIGINT handler for its run
(``interruptible``): a test run started in the background by a shell without job control has
SIGINT ignored, and a child started from it would ignore it too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import s3fs
from astropy.coordinates import SkyCoord
from astropy.table import Table

from roman_helpers import batch, footprints
from roman_helpers.errors import Interrupted
from roman_helpers.sandbox.s3 import RequestRecord, S3Server
from roman_helpers.sandbox.tds import TRANSIENT
from tests.conftest import TDS_PREFIX

#: One band of the Time Domain Survey: 220 .fits.gz images, two requests each to index.
IMAGES = TDS_PREFIX + "images/simple_model/H158/"
WORKERS = 4
#: Requests the server has answered when Ctrl-C is sent: a few files into the work.
INTERRUPT_AT = 12


@pytest.fixture(scope="module")
def slow(sandbox) -> Iterator[S3Server]:
    """The sandbox's files behind 250 ms a request and 2 MB/s."""
    with S3Server(sandbox.manifest, latency=0.25, bandwidth=2e6) as server:
        yield server


@pytest.fixture
def slow_env(sandbox_env, slow, monkeypatch) -> Iterator[S3Server]:
    """This test's process (and the commands it starts) reading the slow server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", slow.url)
    s3fs.S3FileSystem.clear_instance_cache()
    slow.reset_stats()
    yield slow
    s3fs.S3FileSystem.clear_instance_cache()


def fast(monkeypatch, sandbox) -> None:
    """Back to the sandbox's own server (no latency), for the run that goes on after an interrupt."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.env["AWS_ENDPOINT_URL"])
    s3fs.S3FileSystem.clear_instance_cache()


def when_answered(server: S3Server, count: int, interrupt: Callable[[], None]) -> list[RequestRecord]:
    """Wait until ``server`` has answered ``count`` requests, then interrupt; return its records then."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        records = server.stats.records
        if len(records) >= count:
            interrupt()
            return records
        time.sleep(0.01)
    raise AssertionError(f"the server never answered {count} requests")


def after(server: S3Server, before: list[RequestRecord]) -> list[RequestRecord]:
    """What the server answered after the interrupt."""
    return server.stats.records[len(before) :]


def begun_after(before: list[RequestRecord], later: list[RequestRecord]) -> set[str]:
    """Objects whose first request the server answered after the interrupt."""
    seen = {record.key for record in before}
    return {record.key for record in later} - seen


def run_interrupted(server: S3Server, *args: str) -> tuple[subprocess.CompletedProcess, list, list]:
    """``roman-helpers ARGS`` in a session of its own, Ctrl-C to its process group mid-way."""
    process = subprocess.Popen(
        [sys.executable, "-m", "roman_helpers.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=dict(os.environ),
    )
    try:
        before = when_answered(server, INTERRUPT_AT, lambda: os.killpg(process.pid, signal.SIGINT))
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    done = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    return done, before, after(server, before)


def interrupt_this_process(server: S3Server) -> threading.Thread:
    """A thread that sends this process Ctrl-C once ``server`` answered INTERRUPT_AT requests."""
    marks: list[list[RequestRecord]] = []

    def watch() -> None:
        marks.append(when_answered(server, INTERRUPT_AT, lambda: os.kill(os.getpid(), signal.SIGINT)))

    thread = threading.Thread(target=watch, daemon=True)
    thread.marks = marks  # type: ignore[attr-defined]
    thread.start()
    return thread


# --------------------------------------------------------------------------- the command line


def test_index_keeps_the_files_it_read_and_the_next_update_goes_on(
    slow_env, sandbox, tmp_path, monkeypatch, interruptible
):
    path = tmp_path / "index.ecsv"
    done, before, later = run_interrupted(
        slow_env, "index", IMAGES, "-o", str(path), "--workers", str(WORKERS)
    )
    assert done.returncode == 130, done.stderr
    # stopped: the requests on their way (one a worker) and what their files still needed, no new file
    assert len(later) <= 2 * WORKERS, len(later)
    assert len(begun_after(before, later)) <= WORKERS
    kept = footprints.load_index(path)
    assert 1 <= len(kept) < 220 and all(error == "" for error in kept["error"])
    assert done.stderr.splitlines()[-1] == (
        f"interrupted: {len(kept)} of 220 files indexed, saved to {path}; "
        f"`roman-helpers index {IMAGES} -o {path} --update` goes on from there"
    )
    # the next run reads only the others
    fast(monkeypatch, sandbox)
    again = footprints.build_index(IMAGES, previous=path, progress=False)
    assert again.meta["build"]["reused"] == len(kept) and again.meta["build"]["read"] == 220 - len(kept)


def test_get_keeps_the_files_it_finished(slow_env, sandbox, tmp_path, monkeypatch, interruptible):
    folder = tmp_path / "data"
    done, before, later = run_interrupted(
        slow_env, "get", IMAGES, "-d", str(folder), "--workers", str(WORKERS)
    )
    assert done.returncode == 130, done.stderr
    assert len(later) <= 2 * WORKERS and len(begun_after(before, later)) <= WORKERS, later
    sizes = {r.key: r.bytes_sent for r in before + later if r.method == "GET" and r.status == 200}
    kept = [p for p in folder.rglob("*") if p.is_file()]
    assert kept and all(sizes[p.relative_to(folder).as_posix()] == p.stat().st_size for p in kept)
    assert done.stderr.splitlines()[-1] == (
        f"interrupted: {len(kept)} of 220 files downloaded into {folder} are kept; "
        "the same command again fetches the rest (files present are skipped)"
    )


def test_lightcurve_writes_the_points_it_measured(slow_env, tds_index, tmp_path, interruptible):
    curve_path = tmp_path / "curve.ecsv"
    done, before, later = run_interrupted(
        slow_env,
        "lightcurve",
        str(tds_index.path),
        "--target",
        "9.4508 -44.0905",
        "--band",
        "H158",
        "--workers",
        str(WORKERS),
        "-o",
        str(curve_path),
    )
    assert done.returncode == 130, done.stderr
    assert len(later) <= 2 * WORKERS and len(begun_after(before, later)) <= WORKERS, later
    curve = Table.read(curve_path, format="ascii.ecsv")
    assert 1 <= len(curve) < 100 and curve.meta["interrupted"] == f"after {len(curve)} of 100 files"
    assert done.stderr.splitlines()[-1] == (
        f"interrupted: wrote the {len(curve)} points measured so far to {curve_path} "
        f"({100 - len(curve)} of 100 files not measured); run it again for the whole curve"
    )


# --------------------------------------------------------------------------- Python


def test_build_index_raises_with_the_rows_it_read(slow_env, sandbox, monkeypatch, interruptible):
    watcher = interrupt_this_process(slow_env)
    with pytest.raises(Interrupted) as stopped:
        footprints.build_index(IMAGES, max_workers=WORKERS, progress=False)
    watcher.join()
    later = after(slow_env, watcher.marks[0])
    assert isinstance(stopped.value, KeyboardInterrupt)
    assert len(later) <= 2 * WORKERS and len(begun_after(watcher.marks[0], later)) <= WORKERS, later
    partial = stopped.value.partial
    assert 1 <= len(partial) < 220 and (stopped.value.done, stopped.value.total) == (len(partial), 220)
    assert "previous=" in str(stopped.value)
    fast(monkeypatch, sandbox)
    again = footprints.build_index(IMAGES, previous=partial, progress=False)
    assert again.meta["build"]["reused"] == len(partial) and len(again) == 220


def test_batch_cutouts_raise_with_the_files_they_finished(slow_env, tds_index, interruptible):
    found = footprints.find(footprints.load_index(tds_index.path), "9.4508 -44.0905", band="H158")
    watcher = interrupt_this_process(slow_env)
    with pytest.raises(Interrupted) as stopped:
        batch.cutouts(found, SkyCoord(*TRANSIENT, unit="deg"), 25, max_workers=WORKERS, progress=False)
    watcher.join()
    later = after(slow_env, watcher.marks[0])
    assert len(later) <= 2 * WORKERS and len(begun_after(watcher.marks[0], later)) <= WORKERS, later
    partial = stopped.value.partial
    assert isinstance(partial, batch.BatchResult) and 1 <= len(partial.ok) < len(found)
    assert (stopped.value.done, stopped.value.total) == (partial.files, len(found))
    uris = list(found["uri"])
    assert all(uris[item.index] == item.uri and 0 < item.cutout.data.size <= 25 * 25 for item in partial.ok)
