"""Cut-outs over many files, against moto over HTTP on 127.0.0.1.

The files are small FITS images made here (a SCI image with a WCS and an ERR image), one
with no ERR, one whose image does not contain the target, a gzipped one, a Roman-style ASDF
(data, err, dq), and a key that does not exist; the soak adds a few dozen more. They are read
through an S3 endpoint made of moto's app behind the sandbox's accounting (what the server
sent) and fault injection, sharing the buckets of the ``moto_server`` fixture. Expectations
come from the arrays written, from the server's counts, or from
:func:`roman_helpers.transfer.measure` around a plain serial loop. Dask runs in this process
(``LocalCluster``) and, once, as a cluster started with the ``dask`` command.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import asdf
import astropy.units as u
import numpy as np
import pytest
import s3fs
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from moto.server import DomainDispatcherApplication, create_backend_app
from scipy.special import erf
from scipy.stats import binom
from werkzeug.serving import make_server

from roman_helpers import batch, stream
from roman_helpers.batch import BatchResult, cutouts, map_files
from roman_helpers.errors import InvalidParameterError, RomanHelpersError
from roman_helpers.photometry import light_curve
from roman_helpers.sandbox.services.faults import FaultInjector, FaultRule
from roman_helpers.sandbox.services.s3 import Accounting, quiet_request_handler
from roman_helpers.transfer import measure
from tests.conftest import put_object

TARGET = SkyCoord(150.1 * u.deg, 2.2 * u.deg)
SHAPE = (64, 48)
SIZE = 11
PREFIX = "s3://stpubdata/tds/"
# name: star pixel position (None: the image lies 1 degree away), ERR extension, band, start MJD
EPOCHS = {
    "e01.fits": ((20.3, 30.7), True, "F158", 60000.0),
    "e02.fits": ((30.0, 12.2), True, "F087", 60005.0),
    "e03.fits": ((10.6, 50.1), False, "F158", 60010.0),
    "e04.fits": (None, True, "F158", 60015.0),
    "e05.fits": ((40.2, 33.3), True, "F184", 60020.0),
}
MISSING = "e99.fits"
STAR_FLUX = [2000.0, 3500.0, 1200.0, 0.0, 5000.0]


def wcs_with_target_at(position) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    if position is None:
        wcs.wcs.crval = [TARGET.ra.deg + 1, TARGET.dec.deg]
        position = (20.0, 20.0)
    else:
        wcs.wcs.crval = [TARGET.ra.deg, TARGET.dec.deg]
    wcs.wcs.crpix = [position[0] + 1, position[1] + 1]
    wcs.wcs.cdelt = [-0.11 / 3600, 0.11 / 3600]
    return wcs


def fits_bytes(seed: int, position, with_err: bool) -> tuple[bytes, np.ndarray, np.ndarray | None]:
    rng = np.random.default_rng(seed)
    sci = rng.normal(100, 5, SHAPE)
    if position is not None:  # a star of flux STAR_FLUX[seed], Gaussian, integrated over each pixel
        x0, y0 = position
        profile = [
            np.diff(0.5 * (1 + erf((np.arange(n + 1) - 0.5 - c) / (1.5 * np.sqrt(2)))))
            for n, c in ((SHAPE[0], y0), (SHAPE[1], x0))
        ]
        sci += STAR_FLUX[seed] * np.outer(*profile)
    sci = sci.astype(np.float32)
    err = (5 + 0.01 * rng.random(SHAPE)).astype(np.float32)
    hdus = [
        fits.PrimaryHDU(),
        fits.ImageHDU(sci, header=wcs_with_target_at(position).to_header(), name="SCI"),
    ]
    if with_err:
        hdus.append(fits.ImageHDU(err, name="ERR"))
    out = io.BytesIO()
    fits.HDUList(hdus).writeto(out)
    return out.getvalue(), sci, err if with_err else None


def asdf_bytes(seed: int) -> bytes:
    """A Roman-style ASDF file: ``data``, ``err`` and ``dq`` under ``roman``."""
    rng = np.random.default_rng(seed)
    roman = {
        "data": rng.normal(100, 5, SHAPE).astype(np.float32),
        "err": (5 + rng.random(SHAPE)).astype(np.float32),
        "dq": rng.integers(0, 4, SHAPE).astype(np.uint32),
        "meta": {"exposure": {"start_time": "2027-01-01"}},
    }
    out = io.BytesIO()
    asdf.AsdfFile({"roman": roman}).write_to(out)
    return out.getvalue()


def asdf_arrays(body: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The ``data`` and ``err`` arrays of an ASDF file, read here with asdf."""
    with asdf.open(io.BytesIO(body), lazy_load=False, memmap=False) as af:
        return np.array(af["roman"]["data"]), np.array(af["roman"]["err"])


@pytest.fixture
def stored(buckets, s3_client):
    """The files in the public bucket; their arrays by URI."""
    arrays = {}
    for seed, (name, (position, with_err, _band, _start)) in enumerate(EPOCHS.items()):
        body, sci, err = fits_bytes(seed, position, with_err)
        put_object(s3_client, buckets["public"], f"tds/{name}", body)
        arrays[PREFIX + name] = (sci, err)
    body = asdf_bytes(99)
    put_object(s3_client, buckets["public"], "tds/r0001_cal.asdf", body)
    arrays[PREFIX + "r0001_cal.asdf"] = asdf_arrays(body)
    body, sci, err = fits_bytes(0, EPOCHS["e01.fits"][0], True)
    put_object(s3_client, buckets["public"], "tds/g01.fits.gz", gzip.compress(body, mtime=0))
    arrays[PREFIX + "g01.fits.gz"] = (sci, err)
    return arrays


class CountingS3:
    """moto's app (the ``moto_server`` fixture's buckets) behind the sandbox's accounting, and
    fault injection outside that, so the counts are what the server really sent."""

    def __init__(self, rules, seed: int = 0) -> None:
        self.accounting = Accounting(DomainDispatcherApplication(create_backend_app))
        self.injector = FaultInjector(self.accounting, list(rules), seed)
        self.server = make_server(
            "127.0.0.1", 0, self.injector, threaded=True, request_handler=quiet_request_handler()
        )
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def records(self):
        return self.accounting.stats.records

    def settled(self, count: int) -> list:
        """The records, once at least ``count`` are in: the server writes a record after the last
        body byte has gone, so the client can hold its answer a moment before it is counted."""
        deadline = time.monotonic() + 5
        while len(self.records) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.records)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve(stored, monkeypatch):
    """Start a counting (and optionally faulty) S3 endpoint and point this test's clients at it."""
    servers = []

    def start(*rules, seed: int = 0) -> CountingS3:
        server = CountingS3(rules, seed)
        servers.append(server)
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own retries off: ours are tested
        monkeypatch.setenv("ROMAN_HELPERS_BACKOFF", "0.01")
        s3fs.S3FileSystem.clear_instance_cache()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def dask_client():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=False,
            protocol="tcp",
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


@pytest.fixture
def dask_command_line(tmp_path):
    """Start a Dask cluster with the ``dask`` command: a scheduler and two workers (one process of
    two threads each), all on 127.0.0.1 without dashboards, inheriting this test's environment
    (the S3 endpoint and credentials). Yields a function that starts it and returns the
    scheduler's address; every process started is ended after the test, whatever happens."""
    executable = Path(sys.executable).with_name("dask")
    processes: list[subprocess.Popen] = []

    def launch(name: str, *arguments: str) -> subprocess.Popen:
        with open(tmp_path / f"{name}.log", "wb") as log:  # the child keeps its own descriptor
            process = subprocess.Popen(
                [str(executable), *arguments],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(os.environ),
                start_new_session=True,  # its own process group: a worker's children end with it
            )
        processes.append(process)
        return process

    def logs() -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text()[-3000:]}" for path in sorted(tmp_path.glob("*.log"))
        )

    def start() -> str:
        # the survey extra installs the command: its absence is a failure, not a reason to skip
        assert executable.exists(), (
            f"no `dask` command next to {sys.executable}; install roman-helpers[survey]"
        )
        scheduler_file = tmp_path / "scheduler.json"
        scheduler = launch(
            "scheduler",
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(scheduler_file),
        )
        deadline = time.monotonic() + 120
        address = None
        while address is None:
            assert scheduler.poll() is None, f"the scheduler stopped:\n{logs()}"
            assert time.monotonic() < deadline, f"the scheduler wrote no address:\n{logs()}"
            try:
                address = json.loads(scheduler_file.read_text())["address"]
            except (FileNotFoundError, ValueError, KeyError):  # not written yet, or not flushed
                time.sleep(0.1)
        for number in (1, 2):
            launch(
                f"worker{number}",
                "worker",
                "--scheduler-file",
                str(scheduler_file),
                "--nworkers",
                "1",
                "--nthreads",
                "2",
                "--host",
                "127.0.0.1",
                "--no-dashboard",
                "--name",
                f"worker{number}",
                "--local-directory",
                str(tmp_path / f"worker{number}"),
                "--death-timeout",
                "60",
            )
        from distributed import Client

        with Client(address, timeout=60, set_as_default=False) as client:
            try:
                client.wait_for_workers(2, timeout=120)
            except TimeoutError:
                pytest.fail(f"the workers did not join:\n{logs()}")
        return address

    yield start
    for process in reversed(processes):  # the workers, then the scheduler
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in reversed(processes):
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def files_table() -> Table:
    names = [*EPOCHS, MISSING]
    return Table(
        {
            "uri": [PREFIX + name for name in names],
            "band": [EPOCHS.get(name, (None, None, "F213"))[2] for name in names],
            "t_start": [EPOCHS.get(name, (None, None, None, 60030.0))[3] for name in names],
            "detector": [f"WFI{i:02d}" for i in range(1, len(names) + 1)],
        }
    )


def serial_reference(uris) -> tuple[int, int]:
    """Requests and bytes of the same reads done one file after another: SCI and ERR together
    with stream.cutouts, and for a file without ERR the science image alone with stream.cutout."""
    with measure() as stats:
        for uri in uris:
            try:
                stream.cutouts(uri, position=TARGET, size=SIZE, arrays=[None, "ERR"])
            except InvalidParameterError as error:
                if error.value == "ERR":
                    stream.cutout(uri, position=TARGET, size=SIZE)
            except RomanHelpersError:
                continue
    return stats.requests, stats.bytes


def test_threads_and_dask_give_the_same_cutouts_and_counts(serve, stored, dask_client):
    server = serve()
    table = files_table()
    reference = serial_reference(table["uri"])

    mark = len(server.settled(reference[0]))
    threads = cutouts(table, TARGET, SIZE, max_workers=4, progress=False)
    served = server.settled(mark + threads.requests)[mark:]
    mark = len(served) + mark
    on_dask = cutouts(table, TARGET, SIZE, client=dask_client, progress=False)
    served_dask = server.settled(mark + on_dask.requests)[mark:]

    for result, seen in ((threads, served), (on_dask, served_dask)):
        # the totals are what the server sent, and what a serial loop costs
        assert (result.requests, result.bytes) == (len(seen), sum(r.bytes_sent for r in seen))
        assert (result.requests, result.bytes) == reference
        # failures are listed, not raised, and not retried
        assert [(f.uri, f.error_type, f.attempts, f.transient) for f in result.failed] == [
            (PREFIX + "e04.fits", "InvalidParameterError", 1, False),
            (PREFIX + MISSING, "ObjectNotFoundError", 1, False),
        ]
        assert "off this image" in result.failed[0].message
        assert sum(1 for r in seen if r.key.endswith(MISSING)) == 1
        # the cut-outs hold the pixels written, around the target, with the file's other columns
        assert [item.uri for item in result.ok] == [
            PREFIX + n for n in ("e01.fits", "e02.fits", "e03.fits", "e05.fits")
        ]
        for item in result.ok:
            sci, err = stored[item.uri]
            name = item.uri.rsplit("/", 1)[1]
            assert item.meta["band"] == EPOCHS[name][2] and item.meta["t_start"] == EPOCHS[name][3]
            assert item.cutout.data.shape == (SIZE, SIZE)
            np.testing.assert_array_equal(item.cutout.data, sci[item.cutout.slices_original])
            assert (err is None) == (item.err is None)
            if err is not None:
                np.testing.assert_array_equal(item.err.data, err[item.cutout.slices_original])
            star = EPOCHS[name][0]
            assert item.cutout.to_original_position(item.cutout.wcs.world_to_pixel(TARGET)) == pytest.approx(
                star, abs=1e-6
            )

    assert on_dask.backend.startswith("tcp://127.0.0.1:") and threads.backend == "threads"
    for a, b in zip(threads.ok, on_dask.ok, strict=True):
        assert a.cutout.data.tobytes() == b.cutout.data.tobytes()
        assert (a.err is None and b.err is None) or a.err.data.tobytes() == b.err.data.tobytes()

    summary = threads.table()
    assert list(summary["uri"]) == list(table["uri"])
    assert list(summary["status"]) == ["ok", "ok", "ok", "failed", "ok", "failed"]
    assert list(summary["detector"]) == list(table["detector"])
    assert repr(threads).startswith("<BatchResult 4 ok, 2 failed, ")
    assert f"{threads.requests} requests" in repr(threads) and "\n" not in repr(threads)


def test_light_curve_from_streamed_cutouts(serve, stored):
    serve()
    table = files_table()
    table["t_end"] = table["t_start"] + 0.002
    result = cutouts(table, TARGET, 25, progress=False)
    curve = light_curve(result, TARGET, radius=5, annulus=(7, 11))
    written = [(name, EPOCHS[name], STAR_FLUX[i]) for i, name in enumerate(EPOCHS) if EPOCHS[name][0]]
    assert list(curve["file"]) == [PREFIX + name for name, _, _ in written]
    assert list(curve["time"].mjd) == pytest.approx([epoch[3] + 0.001 for _, epoch, _ in written], abs=1e-9)
    assert list(curve["band"]) == [epoch[2] for _, epoch, _ in written]
    for row, (_name, epoch, flux) in zip(curve, written, strict=True):
        assert row["coverage"] == 1.0
        assert abs(row["flux"] - flux) < 3 * row["flux_err"]
        assert (row["x"], row["y"]) == pytest.approx(epoch[0], abs=1e-6)
    # ERR (5 per pixel) over the aperture, and the uncertainty of the background level (pixel
    # noise 5 over the annulus' pi (11^2 - 7^2) pixels, times the aperture's area)
    area = np.pi * 5**2
    expected = np.hypot(5 * np.sqrt(area), area * 5 / np.sqrt(np.pi * (11**2 - 7**2)))
    with_err = curve[curve["file"] != PREFIX + "e03.fits"]
    assert list(with_err["flux_err"]) == pytest.approx([expected] * 3, rel=0.05)


def test_dask_scheduler_by_address(serve, stored, dask_client):
    server = serve()
    uris = [PREFIX + "e01.fits", PREFIX + "e02.fits"]
    result = cutouts(uris, TARGET, SIZE, client=dask_client.scheduler.address, progress=False)
    assert [item.uri for item in result.ok] == uris and result.failed == []
    assert result.requests == len(server.settled(result.requests)) > 0
    assert result.backend == dask_client.scheduler.address


def test_a_cluster_started_from_the_command_line_gives_what_threads_give(serve, stored, dask_command_line):
    server = serve()
    address = dask_command_line()  # after serve(): the workers read S3 through the same endpoint
    assert re.fullmatch(r"tcp://127\.0\.0\.1:\d+", address)
    table = files_table()
    table["t_end"] = table["t_start"] + 0.002

    mark = len(server.records)
    threads = cutouts(table, TARGET, 25, progress=False)
    served = server.settled(mark + threads.requests)[mark:]
    mark += len(served)
    remote = cutouts(table, TARGET, 25, client=address, progress=False)
    served_remote = server.settled(mark + remote.requests)[mark:]

    assert (threads.backend, remote.backend) == ("threads", address)
    # the same requests and bytes, as the server counted them
    assert (remote.requests, remote.bytes) == (threads.requests, threads.bytes)
    assert (len(served_remote), sum(r.bytes_sent for r in served_remote)) == (
        len(served),
        sum(r.bytes_sent for r in served),
    )
    assert (threads.requests, threads.bytes) == (len(served), sum(r.bytes_sent for r in served))
    # the same failures, and the same pixels, which are those written
    assert [(f.uri, f.error_type, f.attempts, f.transient) for f in remote.failed] == [
        (f.uri, f.error_type, f.attempts, f.transient) for f in threads.failed
    ]
    assert (
        [item.uri for item in remote.ok]
        == [item.uri for item in threads.ok]
        == [PREFIX + name for name in ("e01.fits", "e02.fits", "e03.fits", "e05.fits")]
    )
    for a, b in zip(threads.ok, remote.ok, strict=True):
        sci, err = stored[a.uri]
        np.testing.assert_array_equal(b.cutout.data, sci[b.cutout.slices_original])
        assert a.cutout.slices_original == b.cutout.slices_original
        assert a.cutout.data.tobytes() == b.cutout.data.tobytes()
        assert (a.err is None) == (b.err is None) == (err is None)
        if err is not None:
            assert a.err.data.tobytes() == b.err.data.tobytes()
            np.testing.assert_array_equal(b.err.data, err[b.cutout.slices_original])
        # a FITS WCS crosses between processes as header text: equal to the last digit or two
        np.testing.assert_allclose(
            b.cutout.wcs.world_to_pixel(TARGET), a.cutout.wcs.world_to_pixel(TARGET), rtol=1e-12
        )
    # and the same light curve
    curves = [light_curve(result, TARGET, radius=5, annulus=(7, 11)) for result in (threads, remote)]
    assert len(curves[0]) == len(curves[1]) == 4
    for name in ("flux", "flux_err", "background", "coverage", "x", "y"):  # the aperture placed by the WCS
        np.testing.assert_allclose(curves[1][name], curves[0][name], rtol=1e-9)
    assert list(curves[1]["time"].mjd) == list(curves[0]["time"].mjd)
    assert list(curves[1]["file"]) == list(curves[0]["file"])


def test_asdf_gives_data_and_err_and_pixel_positions(serve, stored):
    server = serve()
    uris = [PREFIX + "r0001_cal.asdf", PREFIX + "e01.fits"]
    mark = len(server.records)
    result = cutouts(uris, pixel=(20, 30), size=(9, 7), progress=False)
    served = server.settled(mark + result.requests)[mark:]
    assert result.failed == []
    for item in result.ok:
        data, err = stored[item.uri]
        assert item.cutout.slices_original == item.err.slices_original == (slice(26, 35), slice(17, 24))
        np.testing.assert_array_equal(item.cutout.data, data[26:35, 17:24])
        np.testing.assert_array_equal(item.err.data, err[26:35, 17:24])
    # the ASDF file is read once for data and err, and its dq is not fetched
    asdf_served = [r for r in served if r.key.endswith(".asdf")]
    mark = len(server.records)
    with measure() as one_read:
        stream.cutouts(uris[0], box=(17, 26, 24, 35), arrays=["data", "err"])
    alone = server.settled(mark + one_read.requests)[mark:]
    assert (len(asdf_served), sum(r.bytes_sent for r in asdf_served)) == (
        len(alone),
        sum(r.bytes_sent for r in alone),
    )
    without = cutouts(uris, pixel=(20, 30), size=(9, 7), with_errors=False, progress=False)
    assert [item.err for item in without.ok] == [None, None]
    assert without.requests < result.requests


def test_a_gzipped_file_is_read_once_for_science_and_errors(serve, stored):
    server = serve()
    uri = PREFIX + "g01.fits.gz"

    def served_by(call) -> tuple[int, int]:
        mark = len(server.records)
        with measure() as stats:
            call()
        seen = server.settled(mark + stats.requests)[mark:]
        return len(seen), sum(r.bytes_sent for r in seen)

    one_read = served_by(lambda: stream.cutouts(uri, position=TARGET, size=SIZE))
    result: list[BatchResult] = []
    batch_cost = served_by(lambda: result.append(cutouts([uri], TARGET, SIZE, progress=False)))
    assert batch_cost == one_read == (result[0].requests, result[0].bytes)
    (item,) = result[0].ok
    ys, xs = item.cutout.slices_original
    star_x, star_y = EPOCHS["e01.fits"][0]  # the cut-out is centred on the star's pixel
    assert (xs, ys) == (
        slice(round(star_x) - 5, round(star_x) + 6),
        slice(round(star_y) - 5, round(star_y) + 6),
    )
    sci, err = stored[uri]
    np.testing.assert_array_equal(item.cutout.data, sci[ys, xs])
    np.testing.assert_array_equal(item.err.data, err[ys, xs])
    # two separate reads (science, then errors by box) cost twice as much: the stream is read twice
    box = (xs.start, ys.start, xs.stop, ys.stop)
    two_reads = served_by(lambda: (stream.cutout(uri, box=box), stream.cutout(uri, box=box, ext="ERR")))
    assert two_reads == (2 * one_read[0], 2 * one_read[1])


def test_network_faults_are_retried_and_verdicts_are_not(serve, stored):
    server = serve(
        FaultRule("error500", key="tds/e01.fits", times=1),
        FaultRule("error500", key="tds/e02.fits", times=10),
    )
    uris = [PREFIX + "e01.fits", PREFIX + "e02.fits", PREFIX + MISSING]
    result = cutouts(uris, TARGET, SIZE, retries=2, progress=False)
    assert [(item.uri, item.attempts) for item in result.ok] == [(PREFIX + "e01.fits", 2)]
    assert [(f.uri, f.attempts, f.transient, f.error_type) for f in result.failed] == [
        (PREFIX + "e02.fits", 3, True, "OSError"),
        (PREFIX + MISSING, 1, False, "ObjectNotFoundError"),
    ]
    assert server.injector.injected["error500"] == 1 + 3
    # the client also counted the answers the faults replaced, which the accounting never saw
    records = server.settled(result.requests - 4)
    assert result.requests == len(records) + 4
    assert sum(1 for r in records if r.key.endswith(MISSING)) == 1


# The soak: many cut-outs through a server that fails 10% of the requests, as networks and S3 do.
# The images are as wide as the cut-outs, so that a cut-out reads each array's rows in one request:
# few requests per cut-out keep the bound on failures below tight enough to mean something.
SOAK_SHAPE = (40, 9)
SOAK_CENTRE, SOAK_SIZE = (4, 20), 9
SOAK_FILES = 24  # a third each FITS, gzipped FITS and Roman-style ASDF
SOAK_REPEATS = 21  # each file listed this many times: 504 cut-outs, each its own task
SOAK_KINDS = ("slowdown", "error500", "reset", "cut")  # 503 SlowDown, 500 InternalError, dropped connections
SOAK_RATE = 0.10
SOAK_RETRIES = 3


def soak_files(s3_client, bucket) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Store the soak's files; their science and error arrays by URI, read back here from the bytes."""
    rng = np.random.default_rng(2027)
    truth = {}
    for number in range(SOAK_FILES):
        sci = rng.normal(100, 5, SOAK_SHAPE).astype(np.float32)
        err = (5 + rng.random(SOAK_SHAPE)).astype(np.float32)
        kind = ("fits", "fits.gz", "asdf")[number % 3]
        out = io.BytesIO()
        if kind == "asdf":
            asdf.AsdfFile({"roman": {"data": sci, "err": err}}).write_to(out)
            body = out.getvalue()
            truth_arrays = asdf_arrays(body)
        else:
            fits.HDUList(
                [fits.PrimaryHDU(), fits.ImageHDU(sci, name="SCI"), fits.ImageHDU(err, name="ERR")]
            ).writeto(out)
            body = out.getvalue()
            with fits.open(io.BytesIO(body)) as hdus:
                truth_arrays = (hdus["SCI"].data.copy(), hdus["ERR"].data.copy())
            if kind == "fits.gz":
                body = gzip.compress(body, mtime=0)
        key = f"soak/s{number:02d}.{kind}"
        put_object(s3_client, bucket, key, body)
        truth[f"s3://{bucket}/{key}"] = truth_arrays
    return truth


@pytest.mark.timeout(180)
def test_soak_under_transient_faults(serve, s3_client, buckets):
    truth = soak_files(s3_client, buckets["public"])
    kinds = {uri: uri.split(".", 1)[1] for uri in truth}
    # requests the server answers for one cut-out of each kind of file, without faults
    clean = serve()
    requests = {}
    for uri, kind in kinds.items():
        if kind not in requests:
            mark = len(clean.records)
            sent = cutouts([uri], pixel=SOAK_CENTRE, size=SOAK_SIZE, progress=False).requests
            requests[kind] = len(clean.settled(mark + sent)[mark:])
    # one rule per kind, each firing with the rate that makes 10% of all requests fail:
    # the first rule that fires decides, so P(no fault) = (1 - rate) ** len(SOAK_KINDS) = 0.9
    rate = 1 - (1 - SOAK_RATE) ** (1 / len(SOAK_KINDS))
    server = serve(*(FaultRule(kind, rate=rate, key="soak/") for kind in SOAK_KINDS), seed=11)
    uris = [uri for _ in range(SOAK_REPEATS) for uri in truth]
    result = cutouts(
        uris,
        pixel=SOAK_CENTRE,
        size=SOAK_SIZE,
        retries=SOAK_RETRIES,
        timeout=30,
        max_workers=8,
        progress=False,
    )

    # every cut-out is either right or reported as given up after every attempt met a network fault
    assert result.files == len(uris) >= 500
    x, y = SOAK_CENTRE
    ys, xs = slice(y - 4, y + 5), slice(x - 4, x + 5)  # 9 x 9 pixels around the centre
    for item in result.ok:
        sci, err = truth[item.uri]
        assert item.cutout.slices_original == item.err.slices_original == (ys, xs)
        np.testing.assert_array_equal(item.cutout.data, sci[ys, xs])
        np.testing.assert_array_equal(item.err.data, err[ys, xs])
    for failure in result.failed:
        assert (failure.attempts, failure.transient) == (SOAK_RETRIES + 1, True), failure

    # the faults came at the rate asked for (a bound that a fair run exceeds once in a million)
    injected = sum(server.injector.injected.values())
    assert set(server.injector.injected) == set(SOAK_KINDS)
    assert binom.ppf(1e-6, server.injector.requests, SOAK_RATE) <= injected
    assert injected <= binom.isf(1e-6, server.injector.requests, SOAK_RATE)
    # some reached the batch's own retries (not all were absorbed by the S3 client's)
    retried = sum(item.attempts - 1 for item in [*result.ok, *result.failed])
    assert retried > 0
    # and few cut-outs failed. An attempt of a cut-out that takes k requests fails only if one of
    # them meets a fault: at most p = 1 - 0.9**k (less, as the S3 client retries some faults
    # itself); the cut-out fails if all retries + 1 attempts do. The number of failures is a sum
    # of such independent trials, per kind of file a binomial; the sum exceeds the bound below
    # at most once in a million runs.
    failures = np.array([1.0])  # its distribution, from the binomials of the kinds
    for kind, k in requests.items():
        p = (1 - (1 - SOAK_RATE) ** k) ** (SOAK_RETRIES + 1)
        tasks = sum(1 for uri in uris if kinds[uri] == kind)
        failures = np.convolve(failures, binom.pmf(np.arange(tasks + 1), tasks, p))
    bound = int(np.searchsorted(np.cumsum(failures), 1 - 1e-6))
    assert len(result.failed) <= bound

    # without retries the faults that reach the batch are failures (about one attempt in twelve
    # meets one: `retried` above), reported, each after its one attempt
    once = cutouts(
        uris[: 7 * SOAK_FILES],
        pixel=SOAK_CENTRE,
        size=SOAK_SIZE,
        retries=0,
        timeout=30,
        max_workers=8,
        progress=False,
    )
    assert once.failed and len(once.ok) + len(once.failed) == 7 * SOAK_FILES
    assert {(failure.attempts, failure.transient) for failure in once.failed} == {(1, True)}
    for item in once.ok:
        sci, err = truth[item.uri]
        np.testing.assert_array_equal(item.cutout.data, sci[ys, xs])
        np.testing.assert_array_equal(item.err.data, err[ys, xs])


def _abandoned_attempts_finish() -> None:
    for thread in threading.enumerate():
        if thread.name == batch._ATTEMPT_THREAD:
            thread.join(15)


def test_a_stalled_connection_is_cut_off_and_retried(serve, stored):
    # the time limit is well above what an attempt takes (a few requests to 127.0.0.1), the
    # stall well above the limit, so that a busy machine does not change the outcome
    server = serve(
        FaultRule("stall", key="tds/e01.fits", times=1, seconds=2.5),
        FaultRule("stall", key="tds/e02.fits", times=1, seconds=2.5),
    )
    try:
        given_up = cutouts(
            [PREFIX + "e01.fits"], TARGET, 5, with_errors=False, retries=0, timeout=1, progress=False
        )
        retried = cutouts(
            [PREFIX + "e02.fits"], TARGET, 5, with_errors=False, retries=1, timeout=1, progress=False
        )
    finally:
        _abandoned_attempts_finish()  # so that their late requests are not counted by later tests
    assert [(f.error_type, f.attempts, f.transient) for f in given_up.failed] == [("TimeoutError", 1, True)]
    assert "no result within 1 s" in given_up.failed[0].message
    assert [(item.uri, item.attempts) for item in retried.ok] == [(PREFIX + "e02.fits", 2)]
    assert server.injector.injected["stall"] == 2


def test_dead_scheduler_is_a_clear_error():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(InvalidParameterError, match="no Dask scheduler answered there within 1 s"):
        cutouts([PREFIX + "e01.fits"], TARGET, SIZE, client=f"tcp://127.0.0.1:{port}", timeout=1)
    with pytest.raises(InvalidParameterError, match=re.escape("give a dask.distributed.Client")):
        cutouts([PREFIX + "e01.fits"], TARGET, SIZE, client=42)


def test_inputs_and_progress(capsys):
    assert repr(map_files(len, [], progress=False)).startswith("<BatchResult 0 ok, 0 failed, 0 requests")
    with pytest.raises(InvalidParameterError, match="'uri' column"):
        cutouts(Table({"path": ["a.fits"]}), TARGET, SIZE)
    with pytest.raises(InvalidParameterError, match="timeout"):
        map_files(len, ["s3://b/k"], timeout=0)
    result = map_files(len, [{"uri": "s3://b/k", "band": "F158"}, "s3://b/kk", "s3://b/kkk"], progress=True)
    assert [(item.value, item.meta) for item in result.ok] == [(8, {"band": "F158"}), (9, {}), (10, {})]
    assert "3/3" in capsys.readouterr().err
    # a function error that another attempt cannot fix is reported once, with its message
    failed = map_files(lambda uri: int(uri), ["s3://b/k"], retries=5, progress=False).failed
    assert [(f.error_type, f.attempts) for f in failed] == [("ValueError", 1)]
    assert isinstance(map_files(len, ["s3://b/k"], progress=False), BatchResult)


def test_without_the_survey_extra_the_message_names_it():
    import subprocess
    import sys

    code = """
import sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("dask", "distributed", "photutils"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Refuse())
from roman_helpers.batch import map_files
from roman_helpers.errors import MissingExtraError
from roman_helpers.photometry import forced_photometry
print(map_files(len, ["s3://b/k"], progress=False).ok[0].value)
for call in (lambda: map_files(len, ["s3://b/k"], client="tcp://127.0.0.1:1"),
             lambda: forced_photometry([[1.0]], (0, 0), 1, (2, 3))):
    try:
        call()
    except MissingExtraError as error:
        print(error)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "8"  # threads need nothing extra
    assert len(lines) == 3 and all('pip install "roman-helpers[survey]"' in line for line in lines[1:])
