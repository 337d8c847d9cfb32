"""The sandbox's services: S3 (access policy, accounting, network model), the TLS proxy, and
MAST answered through astroquery itself with nothing patched (the seed's numbers)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import urllib.request
import warnings
from pathlib import Path
from typing import ClassVar

import boto3
import numpy as np
import pytest
import requests
import trustme
from _stream_support import signed_client
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from roman_helpers.query import SCIENCE_FILTERS
from roman_helpers.sandbox.archive.layouts import hst
from roman_helpers.sandbox.archive.registry import ArchiveSpec, FileArchive
from roman_helpers.sandbox.services.proxy import TlsProxy, refusal_message
from roman_helpers.sandbox.services.s3 import S3Server

PRIVATE = "roman-sci-test-data-prod-summer-beta-test"
OBJECT_SIZE = 100_000


# ------------------------------------------------------------------ two local files (no sky archive)
@pytest.fixture(scope="module")
def blob(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiny-sandbox") / "blob.bin"
    path.write_bytes(np.random.default_rng(3).integers(0, 256, OBJECT_SIZE, dtype=np.uint8).tobytes())
    return path


@pytest.fixture(scope="module")
def tiny_archive(blob) -> ArchiveSpec:
    files = [("stpubdata", "hst/public/abcd/blob.bin", blob), (PRIVATE, "ROMANISIM/blob.bin", blob)]
    return FileArchive.spec(files, {"stpubdata": True, PRIVATE: False})


@pytest.fixture(scope="module")
def tiny_s3(tiny_archive):
    with S3Server(tiny_archive) as server:
        yield server


def _client(url: str, signed: bool):
    if signed:
        return signed_client(url)
    return boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1", config=Config(signature_version=UNSIGNED)
    )


def _error_code(call) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"]


# ------------------------------------------------------------------ S3
def test_ranged_get_is_counted_exactly_at_the_server(tiny_s3, blob):
    anonymous = _client(tiny_s3.url, signed=False)
    tiny_s3.reset_stats()
    body = anonymous.get_object(Bucket="stpubdata", Key="hst/public/abcd/blob.bin", Range="bytes=1000-4999")[
        "Body"
    ].read()
    whole = anonymous.get_object(Bucket="stpubdata", Key="hst/public/abcd/blob.bin")["Body"].read()
    stats = tiny_s3.stats
    assert body == blob.read_bytes()[1000:5000]
    assert len(whole) == OBJECT_SIZE
    assert stats.requests == 2
    assert [(r.status, r.range, r.bytes_sent) for r in stats.records] == [
        (206, "bytes=1000-4999", 4000),
        (200, None, OBJECT_SIZE),
    ]
    assert stats.bytes_sent == 4000 + OBJECT_SIZE
    assert stats.since(1).bytes_sent == OBJECT_SIZE


def test_private_bucket_refuses_anonymous_and_serves_credentialed(tiny_s3):
    anonymous, signed = _client(tiny_s3.url, False), _client(tiny_s3.url, True)
    tiny_s3.reset_stats()
    assert _error_code(lambda: anonymous.list_objects_v2(Bucket=PRIVATE)) == "AccessDenied"
    assert (
        _error_code(lambda: anonymous.get_object(Bucket=PRIVATE, Key="ROMANISIM/blob.bin")) == "AccessDenied"
    )
    assert _error_code(lambda: anonymous.head_object(Bucket=PRIVATE, Key="ROMANISIM/blob.bin")) == "403"
    assert [o["Key"] for o in signed.list_objects_v2(Bucket=PRIVATE)["Contents"]] == ["ROMANISIM/blob.bin"]
    assert len(signed.get_object(Bucket=PRIVATE, Key="ROMANISIM/blob.bin")["Body"].read()) == OBJECT_SIZE
    records = tiny_s3.stats.records
    assert [(r.authorized, r.status) for r in records] == [(False, 403)] * 3 + [(True, 200)] * 2


def test_public_bucket_is_anonymous(tiny_s3):
    anonymous = _client(tiny_s3.url, False)
    listing = anonymous.list_objects_v2(Bucket="stpubdata", Prefix="hst/")
    assert [o["Key"] for o in listing["Contents"]] == ["hst/public/abcd/blob.bin"]


def test_stats_endpoint_serves_json_and_resets(tiny_s3):
    _client(tiny_s3.url, False).head_object(Bucket="stpubdata", Key="hst/public/abcd/blob.bin")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(tiny_s3.url + "/_sandbox/stats") as response:
        payload = json.load(response)
    assert payload["requests"] == len(payload["records"]) >= 1
    assert payload["records"][-1]["method"] == "HEAD"
    opener.open(urllib.request.Request(tiny_s3.url + "/_sandbox/stats/reset", data=b"", method="POST")).read()
    assert tiny_s3.stats.requests == 0


def test_latency_model_delays_every_request(tiny_archive, tiny_s3):
    with S3Server(tiny_archive, latency=0.02) as slow:
        client = _client(slow.url, False)
        for _ in range(3):
            client.head_object(Bucket="stpubdata", Key="hst/public/abcd/blob.bin")
        assert (slow.stats.requests, slow.stats.delayed) == (3, 3)
    tiny_s3.reset_stats()
    _client(tiny_s3.url, False).head_object(Bucket="stpubdata", Key="hst/public/abcd/blob.bin")
    assert (tiny_s3.stats.requests, tiny_s3.stats.delayed) == (1, 0)


def test_bandwidth_model_still_delivers_every_byte(tiny_archive):
    with S3Server(tiny_archive, bandwidth=10_000_000) as capped:
        body = (
            _client(capped.url, False)
            .get_object(Bucket="stpubdata", Key="hst/public/abcd/blob.bin")["Body"]
            .read()
        )
        assert len(body) == OBJECT_SIZE
        assert capped.stats.bytes_sent == OBJECT_SIZE


def test_port_in_use_is_a_clear_error(tiny_archive, tiny_s3):
    from roman_helpers.sandbox.services.s3 import SandboxStartError

    with pytest.raises(SandboxStartError, match=f"127.0.0.1:{tiny_s3.port}"):
        S3Server(tiny_archive, port=tiny_s3.port).start()


# ------------------------------------------------------------------ proxy
@pytest.fixture(scope="module")
def lone_proxy():
    with TlsProxy(("127.0.0.1", 9), trustme.CA()) as proxy:  # backend never reached in these tests
        yield proxy


@pytest.mark.timeout(30)
def test_unknown_https_host_is_refused_with_a_clear_message(lone_proxy):
    proxies = {"https": lone_proxy.url, "http": lone_proxy.url}
    with pytest.raises(requests.exceptions.ProxyError, match=re.escape("host example.org is not served")):
        requests.get("https://example.org/data.fits", proxies=proxies, timeout=10)
    assert lone_proxy.refused[-1] == "example.org"


@pytest.mark.timeout(30)
def test_unknown_plain_http_host_is_refused_with_a_clear_message(lone_proxy):
    response = requests.get(
        "http://s3.amazonaws.com/stpubdata/x", proxies={"http": lone_proxy.url}, timeout=10
    )
    assert response.status_code == 403
    assert response.text.strip() == refusal_message("s3.amazonaws.com")


# ------------------------------------------------------------------ the full sandbox, through astroquery
TUTORIAL_QUERY = {
    "obs_collection": "HST",
    "filters": "F160W",
    "instrument_name": "WFC3/IR",
    "proposal_id": ["11360"],
    "dataRights": "PUBLIC",
}


@pytest.fixture
def observations(sandbox_env):
    from astroquery.mast import Observations

    Observations.enable_cloud_dataset()  # its boto3 client is built now, under the sandbox env
    yield Observations
    Observations.disable_cloud_dataset()


@pytest.fixture
def seed_products(observations):
    obs = observations.query_criteria(**TUTORIAL_QUERY)
    products = observations.get_product_list(obs)
    return observations.filter_products(products, **SCIENCE_FILTERS)


def test_seed_query_leaves_60_products_with_24797441(seed_products, observations):
    assert len(seed_products) == 60
    assert "24797441" in {str(v) for v in seed_products["obsID"]}
    single = observations.filter_products(seed_products, obsID="24797441")
    assert len(single) == 1


def test_seed_cloud_uris_open_anonymously_with_fits(seed_products, observations, sandbox_env):
    from astropy.io import fits

    uris = observations.get_cloud_uris(seed_products)
    assert len(uris) == 60 and all(u.startswith("s3://stpubdata/hst/public/") for u in uris)
    mark = sandbox_env.s3.stats.requests
    with fits.open(uris[0], "readonly", fsspec_kwargs={"anon": True}) as hdul:
        assert isinstance(hdul[1].data, np.ndarray) and hdul[1].data.ndim == 2
    traffic = sandbox_env.s3.stats.since(mark)
    assert traffic.requests >= 1 and not any(r.authorized for r in traffic.records)


def _layout_md5(name: str) -> str:
    """MD5 of a product's bytes as the HST layout makes them, in this process."""
    item = hst.product_object(hst.product(name))
    return hashlib.md5(item.read(0, item.size)).hexdigest()


def test_download_products_cloud_only_writes_the_exact_file(
    seed_products, observations, sandbox_env, tmp_path
):
    single = observations.filter_products(seed_products, obsID="24797441")
    manifest = observations.download_products(single, download_dir=str(tmp_path), cloud_only=True)
    assert list(manifest["Status"]) == ["COMPLETE"]
    written = Path(manifest["Local Path"][0])
    key = written.relative_to(tmp_path).as_posix()
    assert key == "mastDownload/HST/ib1f0v010/ib1f0v010_drz.fits"
    assert hashlib.md5(written.read_bytes()).hexdigest() == _layout_md5(written.name), key


def test_mast_download_endpoint_serves_product_bytes(seed_products, observations, sandbox_env, tmp_path):
    observations.disable_cloud_dataset()  # force the HTTPS Download/file path through the proxy
    uri = seed_products["dataURI"][0]
    status, message, _ = observations.download_file(uri, local_path=str(tmp_path / "p.fits"))
    assert (status, message) == ("COMPLETE", None)
    name = uri.rsplit("/", 1)[1]
    assert hashlib.md5((tmp_path / "p.fits").read_bytes()).hexdigest() == _layout_md5(name)
    assert int(seed_products["size"][0]) == (tmp_path / "p.fits").stat().st_size


def test_unknown_criterion_raises_invalid_query_error(observations):
    from astroquery.exceptions import InvalidQueryError

    with pytest.raises(InvalidQueryError, match="Filter 'instrument' does not exist"):
        observations.query_criteria(obs_collection="HST", instrument="WFC3/IR")


def test_empty_result_warns_and_error_status_raises(observations):
    from astroquery.exceptions import NoResultsWarning, RemoteServiceError
    from astroquery.mast import Mast

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        empty = observations.query_criteria(obs_collection="HST", proposal_id=["99999"])
    assert len(empty) == 0
    assert any(issubclass(w.category, NoResultsWarning) for w in caught)
    with pytest.raises(RemoteServiceError, match="Unknown service"):
        Mast.service_request("Mast.Sandbox.NoSuchService", {})


def test_object_name_resolves_through_the_proxy(observations):
    from astroquery.mast import utils

    m85 = utils.resolve_object("M85")
    assert abs(m85.ra.deg - 186.35) < 0.1 and abs(m85.dec.deg - 18.19) < 0.1


def test_private_bucket_anonymous_refused_credentialed_allowed_via_s3fs(sandbox_env):
    import s3fs

    credentialed = s3fs.S3FileSystem()
    assert {p.rsplit("/", 1)[-1] for p in credentialed.ls(PRIVATE)} >= {"ROMANISIM", "STIPS", "OPEN_UNIVERSE"}
    with pytest.raises(PermissionError):
        s3fs.S3FileSystem(anon=True, skip_instance_cache=True).ls(PRIVATE)


def test_child_process_gets_sandbox_without_iers_downloads(sandbox):
    code = (
        "from astropy.utils import iers; from astropy.time import Time; "
        "print(iers.conf.auto_download); import os; print(os.environ['AWS_ENDPOINT_URL'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=sandbox.apply({"PATH": "/usr/bin:/bin"}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", sandbox.s3.url]
    secret = (
        Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"])
        .read_text()
        .split("aws_secret_access_key = ")[1]
        .split()[0]
    )
    exported = "\n".join(sandbox.export_lines()) + sandbox.env_file.read_text()
    assert secret not in exported and "AWS_SECRET_ACCESS_KEY=" not in exported


# ------------------------------------------------------------------ launcher and CLI options
def test_unusable_cache_dir_is_a_clear_error(tmp_path):
    from roman_helpers.sandbox.launcher import Sandbox
    from roman_helpers.sandbox.services.s3 import SandboxStartError

    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(SandboxStartError, match=r"cache directory .*/file/cache is not usable"):
        Sandbox(cache_dir=not_a_folder / "cache").start()


def test_cli_parses_latency_and_bandwidth_and_rejects_nonsense():
    from roman_helpers.errors import InvalidParameterError
    from roman_helpers.sandbox.cli import parse_bandwidth, parse_duration

    assert parse_duration("20ms") == pytest.approx(0.02)
    assert parse_duration("1.5s") == 1.5
    assert parse_bandwidth("200MB/s") == 200e6
    assert parse_bandwidth("2MiB/s") == 2 * 2**20
    with pytest.raises(InvalidParameterError, match="invalid latency 'soon'"):
        parse_duration("soon")
    with pytest.raises(InvalidParameterError, match="invalid bandwidth"):
        parse_bandwidth("fast")


# ------------------------------------------------------------------ MAST paging, on a five-row catalog
class FiveRowCatalog:
    OBSERVATION_FIELDS: ClassVar[list[dict[str, str]]] = [
        {"name": "obsid", "type": "string"},
        {"name": "t_exptime", "type": "float"},
    ]
    PRODUCT_FIELDS: ClassVar[list[dict[str, str]]] = [{"name": "obsID", "type": "string"}]

    @staticmethod
    def observations():
        return [{"obsid": str(i), "t_exptime": 100.0 * i} for i in range(5)]

    @staticmethod
    def products():
        return []


def _invoke(client, **mashup):
    from urllib.parse import quote

    response = client.post(
        "/api/v0/invoke",
        data="request=" + quote(json.dumps(mashup)),
        content_type="application/x-www-form-urlencoded",
    )
    return response.get_json()


def test_mast_pages_and_filters_like_mast():
    from werkzeug.test import Client

    from roman_helpers.sandbox.services.mast import MastApp

    client = Client(MastApp(catalog=FiveRowCatalog))
    page = _invoke(
        client,
        service="Mast.Caom.Filtered",
        pagesize=2,
        page=3,
        params={"columns": "*", "filters": [{"paramName": "obsid", "values": ["0", "1", "2", "3", "4"]}]},
    )
    assert page["status"] == "COMPLETE"
    assert [row["obsid"] for row in page["data"]] == ["4"]
    assert (page["paging"]["pagesFiltered"], page["paging"]["rowsFiltered"]) == (3, 5)
    ranged = _invoke(
        client,
        service="Mast.Caom.Filtered",
        params={"filters": [{"paramName": "t_exptime", "values": [{"min": 150, "max": 350}]}]},
    )
    assert [row["obsid"] for row in ranged["data"]] == ["2", "3"]
    unknown = _invoke(
        client, service="Mast.Caom.Filtered", params={"filters": [{"paramName": "nope", "values": ["1"]}]}
    )
    assert (unknown["status"], unknown["msg"]) == ("ERROR", "Filter 'nope' does not exist.")
    config = client.post(
        "/portal/Mashup/Mashup.asmx/columnsconfig", data={"colConfigId": "Mast.Caom.Cone"}
    ).get_json()
    assert config["t_exptime"]["vot.datatype"] == "double" and config["obsid"]["vot.datatype"] == "char"


# ------------------------------------------------------------------ the command line
@pytest.mark.timeout(180)
def test_sandbox_run_passes_environment_and_exit_code(sandbox, tmp_path):
    probe = (
        "import os, sys, requests; "
        "print(os.environ['AWS_ENDPOINT_URL'].startswith('http://127.0.0.1:')); "
        "r = requests.post('https://mast.stsci.edu/portal/Mashup/Mashup.asmx/columnsconfig', "
        "data={'colConfigId': 'Mast.Caom.Cone'}, timeout=30); print('obs_collection' in r.json()); "
        "sys.exit(7)"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "roman_helpers.sandbox",
            "run",
            "--size",
            "full",
            "--",
            sys.executable,
            "-c",
            probe,
        ],
        capture_output=True,
        text=True,
        timeout=170,
        cwd=tmp_path,
    )
    assert result.returncode == 7, result.stderr[-2000:]
    assert result.stdout.split() == ["True", "True"]
    # the old data-size option is still accepted, and says it does nothing
    from roman_helpers.sandbox.launcher import SIZE_IS_GONE

    assert f"--size full: {SIZE_IS_GONE}" in result.stderr


@pytest.mark.timeout(180)
def test_sandbox_up_prints_exports_and_stops_on_ctrl_c(sandbox, tmp_path, interruptible):
    import signal

    env_file = tmp_path / "sandbox.env"
    process = subprocess.Popen(
        [sys.executable, "-m", "roman_helpers.sandbox", "up", "--env-file", str(env_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()
        exports = [process.stdout.readline() for _ in range(3)]
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert first.startswith("unset AWS_PROFILE")
    assert exports[0].startswith("export AWS_ENDPOINT_URL=http://127.0.0.1:")
    assert process.returncode == 0 and "sandbox stopped" in err
    written = env_file.read_text()
    assert (
        exports[0] in written and "aws_secret_access_key =" not in written and "sandbox-secret" not in written
    )


def test_mast_selects_columns_and_counts_like_mast():
    from werkzeug.test import Client

    from roman_helpers.sandbox.services.mast import MastApp

    client = Client(MastApp(catalog=FiveRowCatalog))
    middle = [{"paramName": "t_exptime", "values": [{"min": 150, "max": 450}]}]
    picked = _invoke(client, service="Mast.Caom.Filtered", params={"columns": "obsid", "filters": middle})
    assert picked["fields"] == [{"name": "obsid", "type": "string"}]
    assert picked["data"] == [{"obsid": "2"}, {"obsid": "3"}, {"obsid": "4"}]
    count = _invoke(
        client, service="Mast.Caom.Filtered", params={"columns": "COUNT_BIG(*)", "filters": middle}
    )
    assert (count["data"], count["paging"]["rows"]) == ([{"Column1": 3}], 1)
    unknown = _invoke(
        client, service="Mast.Caom.Filtered", params={"columns": "obsid, nope", "filters": middle}
    )
    assert (unknown["status"], unknown["msg"]) == ("ERROR", "Column 'nope' does not exist.")
    cone = _invoke(client, service="Mast.Caom.Cone", params={"ra": 10})
    assert cone["status"] == "ERROR" and "ra, dec and radius" in cone["msg"]


def test_resolver_answers_the_asked_resolver_or_all_of_them():
    from werkzeug.test import Client

    from roman_helpers.sandbox.services.mast import MastApp

    client = Client(MastApp())
    ned = client.get("/Santa-war/query?name=M85&outputFormat=json&resolveAll=false&resolver=NED").get_json()
    both = client.get("/Santa-war/query?name=NGC%204382&outputFormat=json&resolveAll=true").get_json()
    unknown = client.get("/Santa-war/query?name=Betelgeuse&outputFormat=json&resolveAll=false").get_json()
    assert [e["resolver"] for e in ned["resolvedCoordinate"]] == ["NED"]
    assert [(e["resolver"], e["searchString"]) for e in both["resolvedCoordinate"]] == [
        ("SIMBAD", "ngc 4382"),
        ("NED", "ngc 4382"),
    ]
    assert unknown == {"resolvedCoordinate": [], "status": ""}


# ------------------------------------------------------------ the launcher's state and its old size option
def test_state_and_env_files_name_the_cache_its_budget_and_the_buckets(sandbox):
    state = json.loads(Path(sandbox.env["ROMAN_HELPERS_SANDBOX"]).read_text())
    assert state["cache"] == sandbox.env["ROMAN_HELPERS_SANDBOX_CACHE"] == str(sandbox.cache_dir)
    assert state["cache_budget"] == int(sandbox.env["ROMAN_HELPERS_SANDBOX_CACHE_BUDGET"]) > 0
    assert state["buckets"]["stpubdata"] is True
    assert set(state["buckets"]) == set(sandbox.buckets) and state["objects"] == sandbox.archive.count()
    exported = sandbox.env_file.read_text()
    assert f"export ROMAN_HELPERS_SANDBOX_CACHE={sandbox.cache_dir}" in exported


def test_a_data_size_is_accepted_and_said_to_do_nothing():
    from roman_helpers.sandbox.launcher import SIZE_IS_GONE, Sandbox

    with pytest.warns(FutureWarning, match=re.escape(SIZE_IS_GONE)):
        Sandbox(size="full")


# ------------------------------------------------------------------ MAST's misses explain themselves
def test_no_rows_unknown_products_and_unserved_paths_say_what_the_sandbox_holds():
    from werkzeug.test import Client

    from roman_helpers.sandbox.archive.registry import SEE_BOOK
    from roman_helpers.sandbox.services import catalog
    from roman_helpers.sandbox.services.mast import MastApp

    client = Client(MastApp())
    empty = _invoke(
        client,
        service="Mast.Caom.Filtered",
        params={"columns": "*", "filters": [{"paramName": "proposal_id", "values": ["99999"]}]},
    )
    assert (empty["status"], empty["data"]) == ("COMPLETE", [])
    assert "roman-helpers offline sandbox" in empty["msg"] and catalog.DESCRIPTION in empty["msg"]
    assert empty["msg"].endswith(SEE_BOOK)
    found = _invoke(client, service="Mast.Caom.Filtered", params={"columns": "*", "filters": []})
    assert found["msg"] == "" and len(found["data"]) == 81
    missing = client.get("/api/v0.1/Download/file?uri=mast:HST/product/ib1f0v010_drz.fits")
    assert missing.status_code == 404  # no archive given: no bytes, and the answer says why
    assert SEE_BOOK in missing.get_data(as_text=True) and catalog.DESCRIPTION in missing.get_data(
        as_text=True
    )
    other = client.get("/api/v0.1/Download/bundle")
    assert other.status_code == 404 and SEE_BOOK in other.get_data(as_text=True)


def test_a_stopped_sandbox_leaves_no_thread_of_its_own_running(tmp_path):
    """A daemon thread still in compiled code when Python exits aborts the process (seen: exit -6)."""
    import threading

    from roman_helpers.sandbox.launcher import Sandbox

    before = set(threading.enumerate())  # the session's sandbox has threads of its own
    with Sandbox(tmp_path / "cache"):
        started = [thread for thread in threading.enumerate() if thread not in before]
        assert "sandbox-irsa-index" in [thread.name for thread in started]
    assert [
        thread.name for thread in started if thread.name.startswith("sandbox-") and thread.is_alive()
    ] == []
