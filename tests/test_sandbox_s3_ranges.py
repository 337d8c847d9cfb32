"""The sandbox S3 serves object GETs from moto's stored buffer (``DirectReads``): same answers as moto.

Byte-exact bodies, moto's own status and headers, moto's errors (416, 404) and the access policy's
403, accounting of the bytes actually sent, and objects overwritten after start. Counts and bytes
only: never wall time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import requests
from _stream_support import signed_client
from botocore.config import Config
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import FakeKey, get_canned_acl, s3_backends
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.test import Client

from roman_helpers.sandbox.services.s3 import DirectReads, S3Server

PUBLIC, PRIVATE = "stpubdata", "roman-sci-test-data-prod-summer-beta-test"
KEY, OTHER = "hst/public/abcd/ranges.bin", "hst/public/abcd/overwritten.bin"
SIZE = 300_000
VOLATILE = {"date", "x-amzn-requestid", "last-modified", "server"}  # differ between two servers
RANGES = [
    None,
    "bytes=0-99",
    "bytes=1000-4999",
    "bytes=-100",
    "bytes=100-",
    "bytes=0-",
    f"bytes={SIZE - 1}-{SIZE + 50}",
    "bytes=5-2",
    "bytes=0-1,5-6",
]
WHOLE = (None, "bytes=5-2", "bytes=0-1,5-6")  # moto, like S3, answers these with the whole object (200)


@dataclass(frozen=True)
class Entry:
    bucket: str
    key: str
    path: str
    public: bool


@dataclass
class Manifest:
    root: Path
    objects: list[Entry]

    def file(self, entry: Entry) -> Path:
        return self.root / entry.path

    def buckets(self) -> dict[str, bool]:
        return {PUBLIC: True, PRIVATE: False}


@pytest.fixture(scope="module")
def payload(tmp_path_factory) -> tuple[Path, bytes]:
    root = tmp_path_factory.mktemp("ranges")
    data = np.random.default_rng(11).integers(0, 256, SIZE, dtype=np.uint8).tobytes()
    (root / "blob.bin").write_bytes(data)
    return root, data


@pytest.fixture(scope="module")
def server(payload):
    root, _ = payload
    objects = [
        Entry(PUBLIC, KEY, "blob.bin", True),
        Entry(PUBLIC, OTHER, "blob.bin", True),
        Entry(PRIVATE, KEY, "blob.bin", False),
    ]
    with S3Server(Manifest(root, objects)) as running:
        yield running


@pytest.fixture(scope="module")
def reference(moto_server, payload):
    """Plain moto (the suite's ThreadedMotoServer) holding the same bytes, read anonymously."""
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.create_bucket("sandbox-ranges-reference", "us-east-1")
    backend.put_object("sandbox-ranges-reference", KEY, payload[1]).set_acl(get_canned_acl("public-read"))
    yield f"{moto_server}/sandbox-ranges-reference/{KEY}"
    backend.delete_object("sandbox-ranges-reference", KEY)
    backend.delete_bucket("sandbox-ranges-reference")


def _get(url: str, method: str = "GET", range_: str | None = None) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False  # loopback: never through a proxy from the environment
        return session.request(method, url, headers={"Range": range_} if range_ else {}, timeout=30)


def _headers(response) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers.items() if name.lower() not in VOLATILE}


def _expected_slice(data: bytes, range_: str | None) -> bytes:
    if range_ in WHOLE:
        return data
    first, last = range_.removeprefix("bytes=").split("-")
    if not first:
        return data[-int(last) :]
    return data[int(first) : int(last) + 1 if last else None]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("range_", RANGES)
def test_bodies_statuses_and_headers_equal_moto(server, reference, payload, method, range_):
    ours = _get(f"{server.url}/{PUBLIC}/{KEY}", method, range_)
    moto = _get(reference, method, range_)
    assert ours.status_code == moto.status_code == (200 if range_ in WHOLE else 206)
    assert ours.content == moto.content == (_expected_slice(payload[1], range_) if method == "GET" else b"")
    assert _headers(ours) == _headers(moto)
    assert "last-modified" in {name.lower() for name in ours.headers}


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_unsatisfiable_range_is_moto_416(server, reference, method):
    ours = _get(f"{server.url}/{PUBLIC}/{KEY}", method, f"bytes={SIZE}-")
    moto = _get(reference, method, f"bytes={SIZE}-")
    assert ours.status_code == moto.status_code == 416
    assert (
        ours.content.replace(b"\n", b"").split(b"<RequestID>")[0]
        == moto.content.replace(b"\n", b"").split(b"<RequestID>")[0]
    )
    if method == "GET":
        assert b"<Code>InvalidRange</Code>" in ours.content


def test_errors_and_access_policy_still_apply(server, reference):
    missing = _get(f"{server.url}/{PUBLIC}/hst/public/abcd/nope.bin", "GET", "bytes=0-9")
    assert (
        missing.status_code == _get(reference.replace(KEY, "nope.bin"), "GET", "bytes=0-9").status_code == 404
    )
    assert b"<Code>NoSuchKey</Code>" in missing.content
    for range_ in (None, "bytes=0-9"):
        denied = _get(f"{server.url}/{PRIVATE}/{KEY}", "GET", range_)
        assert denied.status_code == 403 and b"<Code>AccessDenied</Code>" in denied.content
    signed = signed_client(server.url)
    assert (
        signed.get_object(Bucket=PRIVATE, Key=KEY, Range="bytes=10-19")["Body"].read()
        == (server.manifest.root / "blob.bin").read_bytes()[10:20]
    )


def test_accounting_counts_the_bytes_sent(server, payload):
    server.reset_stats()
    for range_ in ("bytes=0-99", "bytes=-100", "bytes=100-", None):
        _get(f"{server.url}/{PUBLIC}/{KEY}", "GET", range_)
    _get(f"{server.url}/{PUBLIC}/{KEY}", "HEAD", "bytes=0-99")
    _get(f"{server.url}/{PUBLIC}/{KEY}", "GET", f"bytes={SIZE}-")
    records = server.stats.records
    assert [(r.method, r.status, r.bytes_sent) for r in records[:5]] == [
        ("GET", 206, 100),
        ("GET", 206, 100),
        ("GET", 206, SIZE - 100),
        ("GET", 200, SIZE),
        ("HEAD", 206, 0),
    ]
    assert records[5].status == 416 and records[5].bytes_sent > 0  # moto's XML error body
    assert server.stats.requests == 6


def test_object_overwritten_after_start_serves_new_bytes(server, payload):
    new = bytes(reversed(payload[1][:123_456]))
    signed = signed_client(server.url, config=Config(request_checksum_calculation="when_required"))
    signed.put_object(Bucket=PUBLIC, Key=OTHER, Body=new, ACL="public-read")
    url = f"{server.url}/{PUBLIC}/{OTHER}"
    assert _get(url, "GET", "bytes=-100").content == new[-100:]
    assert _get(url, "GET", "bytes=1000-1999").content == new[1000:2000]
    whole = _get(url)
    assert whole.content == new and whole.headers["Content-Length"] == str(len(new))
    assert _get(url, "GET", "bytes=200000-").status_code == 416  # beyond the new, shorter object
    # with a stored checksum (boto3's default for PUT): moto's own GET answers, checksum and all
    signed = signed_client(server.url)
    signed.put_object(Bucket=PUBLIC, Key=OTHER, Body=new[:5000], ACL="public-read")
    full = signed.get_object(Bucket=PUBLIC, Key=OTHER, ChecksumMode="ENABLED")
    assert full["Body"].read() == new[:5000] and full.get("ChecksumCRC32")
    assert signed.get_object(Bucket=PUBLIC, Key=OTHER, Range="bytes=10-19")["Body"].read() == new[10:20]


def test_direct_reads_copy_only_the_range_and_match_moto_header_for_header(monkeypatch):
    """In-process: the same stored key answered by moto and by DirectReads over moto."""
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.create_bucket("sandbox-direct-reads", "us-east-1")
    data = bytes(range(256)) * 2000
    backend.put_object("sandbox-direct-reads", "k.bin", data).set_acl(get_canned_acl("public-read"))
    whole_copies = []
    value = FakeKey.value
    monkeypatch.setattr(
        FakeKey, "value", property(lambda key: whole_copies.append(key.name) or value.fget(key), value.fset)
    )
    moto = DomainDispatcherApplication(create_backend_app)
    plain, direct = Client(moto), Client(DirectReads(moto))
    try:
        for range_ in RANGES:
            headers = {"Range": range_} if range_ else {}
            before = len(whole_copies)
            ours = direct.get("/sandbox-direct-reads/k.bin", headers=headers)
            assert len(whole_copies) == before  # never the whole object for a GET we answer
            theirs = plain.get("/sandbox-direct-reads/k.bin", headers=headers)
            assert (ours.status, ours.data) == (theirs.status, theirs.data)
            assert [h for h in ours.headers if h[0] not in ("Date", "x-amzn-requestid")] == [
                h for h in theirs.headers if h[0] not in ("Date", "x-amzn-requestid")
            ]
        # moto's own GET answers what DirectReads does not mirror (here: a 416 and a version query)
        assert (
            direct.get("/sandbox-direct-reads/k.bin", headers={"Range": "bytes=999999-"}).status_code == 416
        )
        assert direct.get("/sandbox-direct-reads/k.bin?versionId=null").data == data
    finally:
        backend.delete_object("sandbox-direct-reads", "k.bin")
        backend.delete_bucket("sandbox-direct-reads")
