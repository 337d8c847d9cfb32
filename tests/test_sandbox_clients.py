"""Every S3 client reaches the sandbox under ``roman-helpers sandbox run``, and nothing leaves the machine.

Each client (s3fs, boto3, fsspec, astropy, pandas, pyarrow's own S3 client) runs unmodified in a
real ``sandbox run`` subprocess (tests/_sandbox_clients_inside.py); what it read is compared with
the sandbox's own file for that object, read here from disk, and the S3 service's records (bytes
and keys counted at the server) show that the bytes came through the sandbox. On Linux the
command runs in a private network (roman_helpers.sandbox.isolation): the tests that need it fail,
saying why, where the machine cannot make one; one test takes that ability away on purpose and
checks what the user is told.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from astropy.io import fits

from roman_helpers.sandbox.isolation import ENVIRONMENT_VARIABLE
from roman_helpers.sandbox.services.proxy import refusal_message

BUCKET = "nasa-irsa-simulations"
FITS_KEY = "openuniverse2024/roman/preview/RomanTDS/Roman_TDS_obseq_11_6_23.fits"


def _catalog_key() -> str:
    """The transient catalog of the HEALPix cell (nside 32, RING) holding the Time Domain Survey field."""
    import hpgeom

    from roman_helpers.sandbox.sky.surveys import tds

    cell = int(hpgeom.angle_to_pixel(32, *tds.FIELD, nest=False, lonlat=True))
    return f"openuniverse2024/roman/full/roman_rubin_cats_v1.1.2_faint/snana_{cell}.parquet"


CATALOG_KEY = _catalog_key()
INSIDE = Path(__file__).with_name("_sandbox_clients_inside.py")
RUN = [sys.executable, "-m", "roman_helpers.sandbox", "run"]
NOTE = "pyarrow's own S3 client (pyarrow.fs.S3FileSystem) cannot be redirected"


def _sandbox_run(
    *command: str, options: tuple[str, ...] = (), prefix: tuple[str, ...] = (), timeout: int = 300
):
    return subprocess.run(
        [*prefix, *RUN, *options, "--", *command],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={k: v for k, v in os.environ.items() if k != ENVIRONMENT_VARIABLE},
    )


def _require_private_network(state: str | None, stderr: str) -> None:
    """Fail (never skip) when `sandbox run` could not make its private network here."""
    if state != "namespace":
        pytest.fail(
            "sandbox run could not give its command a private network on this machine, so pyarrow's "
            "S3 client and the no-internet guarantee cannot be tested here. It needs Linux with "
            "unprivileged user namespaces (check: unshare --user --map-root-user --net true). "
            f"sandbox run said: {stderr[-1500:]}"
        )


@functools.cache
def _local(sandbox, key: str) -> Path:
    """The object's bytes as the sandbox's archive makes them, in a file of this process."""
    item = sandbox.archive.get(BUCKET, key)
    assert item is not None, f"{key} is not in the sandbox"
    path = Path(tempfile.mkdtemp(prefix="sandbox-clients-")) / key.rsplit("/", 1)[1]
    path.write_bytes(item.read(0, item.size))
    return path


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------ one sandbox run, every client
@pytest.fixture(scope="module")
def clients(sandbox) -> dict[str, Any]:
    done = _sandbox_run(sys.executable, str(INSIDE), "clients", FITS_KEY, CATALOG_KEY)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["_stderr"] = done.stderr
    return report


def _read(clients: dict[str, Any], name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    outcome = clients[name]
    assert "error" not in outcome, outcome["error"]
    return outcome["read"], outcome["records"]


def _bytes_of(records: list[dict[str, Any]], key: str) -> int:
    return sum(r["bytes_sent"] for r in records if r["method"] == "GET" and r["key"] == key)


def _only_the_bucket(records: list[dict[str, Any]], keys: set[str]) -> None:
    assert records, "the sandbox's S3 service saw no request"
    assert {r["bucket"] for r in records} == {BUCKET}
    assert {r["key"] for r in records} <= keys
    assert all(r["status"] in (200, 206) for r in records), records


@pytest.fixture(scope="module")
def fits_file(sandbox) -> Path:
    return _local(sandbox, FITS_KEY)


@pytest.fixture(scope="module")
def parquet_file(sandbox) -> Path:
    return _local(sandbox, CATALOG_KEY)


@pytest.mark.timeout(400)
def test_s3fs_reads_through_the_sandbox(clients, fits_file):
    read, records = _read(clients, "s3fs_cat")
    assert read["sha256"] == _sha256(fits_file.read_bytes())
    _only_the_bucket(records, {FITS_KEY})
    assert _bytes_of(records, FITS_KEY) == fits_file.stat().st_size


@pytest.mark.timeout(400)
def test_boto3_reads_through_the_sandbox(clients, fits_file):
    _read_whole_in_one_get(clients, "boto3_get_object", fits_file)


def _read_whole_in_one_get(clients: dict[str, Any], name: str, fits_file: Path) -> None:
    read, records = _read(clients, name)
    assert read["sha256"] == _sha256(fits_file.read_bytes())
    _only_the_bucket(records, {FITS_KEY})
    assert [(r["method"], r["bytes_sent"]) for r in records] == [("GET", fits_file.stat().st_size)]


@pytest.mark.timeout(400)
def test_fsspec_open_reads_through_the_sandbox(clients, fits_file):
    read, records = _read(clients, "fsspec_open")
    assert read["sha256"] == _sha256(fits_file.read_bytes())
    _only_the_bucket(records, {FITS_KEY})
    assert _bytes_of(records, FITS_KEY) == fits_file.stat().st_size
    assert not any(r["authorized"] for r in records)  # anon=True: unsigned, as on the public bucket


@pytest.mark.timeout(400)
def test_astropy_fits_open_s3_reads_through_the_sandbox(clients, fits_file):
    read, records = _read(clients, "astropy_fits_open")
    with fits.open(fits_file) as local:
        assert read["names"] == [hdu.name for hdu in local]
        assert read["data_sha256"] == _sha256(local[1].data.tobytes())
    _only_the_bucket(records, {FITS_KEY})
    assert _bytes_of(records, FITS_KEY) >= fits_file.stat().st_size  # the whole (small) file, at least once


def _expected_table(ids: np.ndarray) -> dict[str, Any]:
    return {"rows": len(ids), "ids_sha256": _sha256(ids.astype(np.int64).tobytes())}


@pytest.mark.timeout(400)
def test_pandas_read_parquet_reads_through_the_sandbox(clients, parquet_file):
    read, records = _read(clients, "pandas_read_parquet")
    local = pq.read_table(parquet_file)
    assert {k: read[k] for k in ("rows", "ids_sha256")} == _expected_table(local.column("id").to_numpy())
    assert read["columns"] == local.column_names
    _only_the_bucket(records, {CATALOG_KEY})
    assert _bytes_of(records, CATALOG_KEY) >= parquet_file.stat().st_size


@pytest.mark.timeout(400)
def test_pyarrow_s3filesystem_reads_a_table_through_the_sandbox(clients, parquet_file):
    _require_private_network(clients["isolation"], clients["_stderr"])
    read, records = _read(clients, "pyarrow_read_table")
    local = pq.read_table(parquet_file)
    assert {k: read[k] for k in ("rows", "ids_sha256")} == _expected_table(local.column("id").to_numpy())
    _only_the_bucket(records, {CATALOG_KEY})
    assert _bytes_of(records, CATALOG_KEY) >= parquet_file.stat().st_size
    assert not any(r["authorized"] for r in records)  # anonymous=True


@pytest.mark.timeout(400)
def test_pyarrow_s3filesystem_lists_and_reads_footers_through_the_sandbox(clients, sandbox, parquet_file):
    _require_private_network(clients["isolation"], clients["_stderr"])
    read, records = _read(clients, "pyarrow_listing_and_footer")
    folder = CATALOG_KEY.rsplit("/", 1)[0]
    in_folder = {
        f"{BUCKET}/{item.key}": item.size
        for item in sandbox.archive.listing(
            BUCKET, prefix=folder + "/", delimiter="/", max_keys=100_000
        ).contents
    }
    assert read["listed"] == in_folder
    local = pq.ParquetFile(parquet_file)
    assert (read["num_rows"], read["row_groups"]) == (local.metadata.num_rows, local.metadata.num_row_groups)
    assert read["schema"] == local.schema_arrow.names
    _only_the_bucket(records, {CATALOG_KEY, ""})
    listings = [r for r in records if r["key"] == "" and "list-type=2" in r["query"]]
    # pyarrow's S3 client tries a request again when an answer is slow (a loaded machine): the same
    # query, repeated; one listing of the catalog folder, whatever the number of tries.
    assert listings and {r["query"] for r in listings} == {listings[0]["query"]}
    assert "prefix=openuniverse2024%2Froman%2Ffull" in listings[0]["query"]


@pytest.mark.timeout(400)
def test_pyarrow_s3filesystem_filters_rows_through_the_sandbox(clients, parquet_file):
    _require_private_network(clients["isolation"], clients["_stderr"])
    read, records = _read(clients, "pyarrow_filters")
    local = pq.read_table(parquet_file)
    north = local.column("id").to_numpy()[local.column("dec").to_numpy() > -44.09]
    assert 0 < len(north) < local.num_rows
    assert {k: read[k] for k in ("rows", "ids_sha256")} == _expected_table(north)
    _only_the_bucket(records, {CATALOG_KEY})


@pytest.mark.timeout(400)
def test_a_buckets_https_address_reaches_the_sandbox_with_requests(clients, fits_file):
    _require_private_network(clients["isolation"], clients["_stderr"])
    _read_whole_in_one_get(clients, "requests_bucket_https", fits_file)


@pytest.mark.timeout(400)
def test_a_buckets_https_address_reaches_the_sandbox_with_astropy(clients, fits_file):
    _require_private_network(clients["isolation"], clients["_stderr"])
    read, records = _read(clients, "astropy_fits_open_https")
    with fits.open(fits_file) as local:
        assert read["names"] == [hdu.name for hdu in local]
        assert read["data_sha256"] == _sha256(local[1].data.tobytes())
    _only_the_bucket(records, {FITS_KEY})


# ------------------------------------------------------------------ nothing leaves the machine
@pytest.mark.timeout(300)
def test_nothing_started_by_sandbox_run_resolves_or_reaches_a_public_host(sandbox):
    done = _sandbox_run(sys.executable, str(INSIDE), "network")
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    _require_private_network(seen["isolation"], done.stderr)

    assert seen["interfaces"] == ["lo"]  # no interface but loopback: no route off the machine
    assert seen["this_machine"] == {"ok": "['127.0.0.1']"}  # its own name too: servers bound to it work
    resolve = seen["resolve"]
    assert resolve[f"{BUCKET}.s3.us-east-1.amazonaws.com"] == {"ok": "['127.0.0.1']"}
    assert resolve["s3.amazonaws.com"] == {"ok": "['127.0.0.1']"}
    for name in (f"{BUCKET}.s3.us-west-2.amazonaws.com", "example.org", "mast.stsci.edu"):
        assert resolve[name]["error"].startswith("gaierror"), (name, resolve[name])
    for target, outcome in seen["connect"].items():
        assert outcome.get("errno") == 101, (target, outcome)  # ENETUNREACH: refused at once, locally
    # web requests go to the proxy, which refuses hosts it does not serve, and says so
    assert "ProxyError" in seen["web_request"]["error"]
    assert refusal_message("example.org") in done.stderr
    # pyarrow pointed at another region finds no address for the bucket there
    assert "resolve" in seen["pyarrow_us_west_2"]["error"].lower()


# ------------------------------------------------------------------ servers started inside are reachable
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.timeout(300)
def test_a_server_the_command_starts_is_reachable_from_this_machine(sandbox, tmp_path, interruptible):
    (tmp_path / "served-from-inside.txt").write_text("hello")
    port = _free_port()
    process = subprocess.Popen(
        [*RUN, "--", sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    page = ""
    try:
        deadline = time.monotonic() + 240
        while not page and process.poll() is None and time.monotonic() < deadline:
            try:
                page = direct.open(f"http://127.0.0.1:{port}/", timeout=10).read().decode()
            except OSError:
                time.sleep(0.5)
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C, as in a terminal: the whole group
        try:
            _, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    assert "served-from-inside.txt" in page, err[-2000:]
    assert process.returncode == 130


# ------------------------------------------------------------------ where there is no private network
@pytest.mark.timeout(300)
def test_without_user_namespaces_sandbox_run_carries_on_and_says_what_is_not_redirected(sandbox):
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail("this test takes user namespaces away with util-linux's unshare, which is not installed")
    # a user namespace allowed to hold no further user namespaces: as on a machine where they are disabled
    no_namespaces = (
        unshare,
        "--user",
        "--map-root-user",
        "sh",
        "-c",
        'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"',
        "sh",
    )
    probe = (
        "import boto3, json, os; "
        f"print(len(boto3.client('s3').get_object(Bucket='{BUCKET}', Key='{FITS_KEY}')['Body'].read())); "
        f"print(os.environ['{ENVIRONMENT_VARIABLE}']); "
        "print(json.dumps(json.load(open(os.environ['ROMAN_HELPERS_SANDBOX']))['isolation']))"
    )
    done = _sandbox_run(sys.executable, "-c", probe, prefix=no_namespaces)
    assert done.returncode == 0, done.stderr[-3000:]
    size, mode, state = done.stdout.strip().splitlines()[-3:]
    assert int(size) == _local(sandbox, FITS_KEY).stat().st_size  # AWS_ENDPOINT_URL clients still served
    assert mode == "none"
    isolation = json.loads(state)
    assert isolation["mode"] == "none" and isolation["pyarrow_redirected"] is False
    assert "No space left on device" in isolation["reason"]  # the kernel's refusal, passed on
    assert done.stderr.count(NOTE) == 1
    assert "it would try the real AWS servers" in done.stderr


@pytest.mark.timeout(300)
def test_no_isolation_is_an_opt_out_that_says_what_it_costs(sandbox):
    done = _sandbox_run(
        sys.executable,
        "-c",
        f"import os, socket; print(os.environ['{ENVIRONMENT_VARIABLE}'], len(socket.if_nameindex()) > 1)",
        options=("--no-isolation",),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["none", "True"]  # the machine's own interfaces
    assert done.stderr.count(NOTE) == 1 and "--no-isolation was given" in done.stderr


@pytest.mark.timeout(300)
def test_sandbox_up_says_pyarrow_is_served_only_under_run(sandbox, tmp_path, interruptible):
    env_file = tmp_path / "sandbox.env"
    process = subprocess.Popen(
        [sys.executable, "-m", "roman_helpers.sandbox", "up", "--env-file", str(env_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()  # the first export line: started
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert f"export {ENVIRONMENT_VARIABLE}=none" in env_file.read_text()
    assert "pyarrow.fs.S3FileSystem does not follow these variables" in err
    assert "sandbox run -- COMMAND" in err


def test_every_client_the_book_lists_is_proved_by_a_test_here():
    import ast

    from roman_helpers.sandbox import supported

    defined = {
        node.name for node in ast.parse(Path(__file__).read_text()).body if isinstance(node, ast.FunctionDef)
    }
    assert {client.test for client in supported.CLIENTS} <= defined
    assert len(supported.CLIENTS) >= 6
