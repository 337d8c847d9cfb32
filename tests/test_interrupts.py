"""Ctrl-C stops every long command and call within about a second, keeps what it finished, says so.

S3 is a second sandbox S3 server over the sandbox's own sky archive, slowed to 250 ms a request
and 2 MB/s (what ``roman-helpers sandbox up --latency 250ms --bandwidth 2MB/s`` does), so that the
work takes seconds and the interrupt lands in the middle of it. The files are bounded sets the
archive really serves (tests/_tds_transient.py): the 36 URIs the kit's TDS index is built from,
the preview images holding its supernova, and the truth lists of those images (about 130 kB each).

The interrupt is sent once the server has answered the first request for a file beyond the first
WORKERS: with WORKERS threads, a worker has then finished a file, so something is kept, and most
files are still to do. How fast the work stopped is measured in what the server answered after it
(its records, in the order it answered them), never in seconds: the requests already on their way
when Ctrl-C came, and nothing begun after it.

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
from pathlib import Path

import pytest
import s3fs
from _tds_transient import BAND, BUCKET, RELEASE, index_sources, indexed, transient
from astropy.coordinates import SkyCoord
from astropy.table import Table

from roman_helpers import batch, footprints
from roman_helpers.errors import Interrupted
from roman_helpers.sandbox.archive.layouts.openuniverse._images import truth_key
from roman_helpers.sandbox.services.s3 import RequestRecord, S3Server

WORKERS = 4
#: Ctrl-C once the server has answered a request for this many files: one is finished.
INTERRUPT_AT_FILE = WORKERS + 1


@pytest.fixture(scope="module")
def slow(sandbox) -> Iterator[S3Server]:
    """The sandbox's sky archive behind 250 ms a request and 2 MB/s (its cache is shared)."""
    with S3Server(sandbox.s3.spec, latency=0.25, bandwidth=2e6) as server:
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


def uri_list(tmp_path: Path, uris: list[str]) -> Path:
    """A file of URIs, one a line, as a user gives them."""
    path = tmp_path / "uris.txt"
    path.write_text("".join(f"{uri}\n" for uri in uris))
    return path


def truth_lists() -> list[str]:
    """The truth list of each image the kit's TDS index holds: small text files (~130 kB)."""
    return [
        f"s3://{BUCKET}/{truth_key('RomanTDS', RELEASE, image.band, image.pointing, image.sca)}"
        for image in indexed()
    ]


def when_begun(server: S3Server, files: int, interrupt: Callable[[], None]) -> list[RequestRecord]:
    """Wait until ``server`` answered requests for ``files`` objects, then interrupt; return its records."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        records = server.stats.records
        if len({record.key for record in records}) >= files:
            interrupt()
            return records
        time.sleep(0.01)
    raise AssertionError(f"the server never answered requests for {files} files")


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
        before = when_begun(server, INTERRUPT_AT_FILE, lambda: os.killpg(process.pid, signal.SIGINT))
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    done = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    return done, before, after(server, before)


def interrupt_this_process(server: S3Server) -> threading.Thread:
    """A thread that sends this process Ctrl-C once ``server`` answered INTERRUPT_AT_FILE files."""
    marks: list[list[RequestRecord]] = []

    def watch() -> None:
        marks.append(when_begun(server, INTERRUPT_AT_FILE, lambda: os.kill(os.getpid(), signal.SIGINT)))

    thread = threading.Thread(target=watch, daemon=True)
    thread.marks = marks  # type: ignore[attr-defined]
    thread.start()
    return thread


def stopped_at_once(before: list[RequestRecord], later: list[RequestRecord]) -> None:
    """After Ctrl-C: the requests under way (one a worker) and what their files still needed; no new file."""
    assert len(later) <= 2 * WORKERS, later
    assert len(begun_after(before, later)) <= WORKERS, later


# --------------------------------------------------------------------------- the command line


def test_index_keeps_the_files_it_read_and_the_next_update_goes_on(
    slow_env, sandbox, tmp_path, monkeypatch, interruptible
):
    sources = index_sources()
    total = len(sources)
    listing, path = uri_list(tmp_path, sources), tmp_path / "index.ecsv"
    done, before, later = run_interrupted(
        slow_env, "index", str(listing), "-o", str(path), "--workers", str(WORKERS)
    )
    assert done.returncode == 130, done.stderr
    stopped_at_once(before, later)
    kept = footprints.load_index(path)
    assert 1 <= len(kept) < total and set(kept["uri"]) <= set(sources)
    assert all(error == "" or error.startswith(footprints.NOT_AN_IMAGE) for error in kept["error"])
    assert done.stderr.splitlines()[-1] == (
        f"interrupted: {len(kept)} of {total} files indexed, saved to {path}; "
        f"`roman-helpers index {listing} -o {path} --update` goes on from there"
    )
    # the next run reads only the others
    fast(monkeypatch, sandbox)
    again = footprints.build_index(sources, previous=path, progress=False)
    assert again.meta["build"]["reused"] == len(kept) and again.meta["build"]["read"] == total - len(kept)


def test_get_keeps_the_files_it_finished(slow_env, tmp_path, interruptible):
    wanted = truth_lists()
    folder = tmp_path / "data"
    done, before, later = run_interrupted(
        slow_env, "get", *wanted, "-d", str(folder), "--workers", str(WORKERS)
    )
    assert done.returncode == 130, done.stderr
    stopped_at_once(before, later)
    sizes = {r.key: r.bytes_sent for r in before + later if r.method == "GET" and r.status == 200}
    kept = [p for p in folder.rglob("*") if p.is_file()]
    assert 1 <= len(kept) < len(wanted)
    assert all(sizes[p.relative_to(folder).as_posix()] == p.stat().st_size for p in kept)
    assert done.stderr.splitlines()[-1] == (
        f"interrupted: {len(kept)} of {len(wanted)} files downloaded into {folder} are kept; "
        "the same command again fetches the rest (files present are skipped)"
    )


def test_lightcurve_writes_the_points_it_measured(slow_env, tds_index, tmp_path, interruptible):
    # Each point reads its image's whole science array (~67 MB compressed, as its error array
    # follows it in the .fits.gz): the slowest test here, a file a worker in about 45 s.
    sn = transient()
    files = sum(1 for image in indexed() if image.band == BAND and image.holds)
    curve_path = tmp_path / "curve.ecsv"
    done, before, later = run_interrupted(
        slow_env,
        "lightcurve",
        str(tds_index.path),
        "--target",
        f"{sn.ra} {sn.dec}",
        "--band",
        BAND,
        "--workers",
        str(WORKERS),
        "-o",
        str(curve_path),
    )
    assert done.returncode == 130, done.stderr
    stopped_at_once(before, later)
    curve = Table.read(curve_path, format="ascii.ecsv")
    assert 1 <= len(curve) < files and curve.meta["interrupted"] == f"after {len(curve)} of {files} files"
    assert done.stderr.splitlines()[-1] == (
        f"interrupted: wrote the {len(curve)} points measured so far to {curve_path} "
        f"({files - len(curve)} of {files} files not measured); run it again for the whole curve"
    )


# --------------------------------------------------------------------------- Python


def test_build_index_raises_with_the_rows_it_read(slow_env, sandbox, monkeypatch, interruptible):
    sources = index_sources()
    total = len(sources)
    watcher = interrupt_this_process(slow_env)
    with pytest.raises(Interrupted) as stopped:
        footprints.build_index(sources, max_workers=WORKERS, progress=False)
    watcher.join()
    stopped_at_once(watcher.marks[0], after(slow_env, watcher.marks[0]))
    assert isinstance(stopped.value, KeyboardInterrupt)
    partial = stopped.value.partial
    assert 1 <= len(partial) < total and (stopped.value.done, stopped.value.total) == (len(partial), total)
    assert "previous=" in str(stopped.value)
    fast(monkeypatch, sandbox)
    again = footprints.build_index(sources, previous=partial, progress=False)
    assert again.meta["build"]["reused"] == len(partial) and len(again) == total


def test_batch_cutouts_raise_with_the_files_they_finished(slow_env, tds_index, interruptible):
    sn = transient()
    found = footprints.find(
        footprints.load_index(tds_index.path), SkyCoord(sn.ra, sn.dec, unit="deg"), band=BAND
    )
    assert len(found) == sum(1 for image in indexed() if image.band == BAND and image.holds)
    watcher = interrupt_this_process(slow_env)
    with pytest.raises(Interrupted) as stopped:
        # Stamps on the low rows, science only: a file's first 2 MB of compressed stream hold
        # them (one request after the HEAD), where the error array would need the whole science
        # array (~67 MB) first.
        batch.cutouts(
            found, pixel=(2044, 12), size=25, with_errors=False, max_workers=WORKERS, progress=False
        )
    watcher.join()
    stopped_at_once(watcher.marks[0], after(slow_env, watcher.marks[0]))
    partial = stopped.value.partial
    assert isinstance(partial, batch.BatchResult) and 1 <= len(partial.ok) < len(found)
    assert (stopped.value.done, stopped.value.total) == (partial.files, len(found))
    uris = list(found["uri"])
    assert all(uris[item.index] == item.uri and item.cutout.data.shape == (25, 25) for item in partial.ok)
