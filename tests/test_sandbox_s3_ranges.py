"""The sandbox's hand-written S3 answers ranged reads as moto (a reference S3 implementation) does.

Byte-exact bodies, the same statuses and the headers clients read (length, range, ETag, type),
the same errors (416, 404), the access policy's 403, accounting of the bytes actually sent, and
writes refused as a public bucket refuses them. Counts and bytes only: never wall time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import boto3
import numpy as np
import pytest
import requests
from _stream_support import signed_client
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import get_canned_acl, s3_backends

from roman_helpers.sandbox.services.s3 import S3Server

PUBLIC, PRIVATE = "stpubdata", "roman-sci-test-data-prod-summer-beta-test"
KEY, OTHER = "hst/public/abcd/ranges.bin", "hst/public/abcd/overwritten.bin"
SIZE = 300_000
COMPARED = ("content-length", "content-range", "etag", "accept-ranges", "content-type")
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
    """The headers S3 clients read (dates and request IDs differ between any two servers)."""
    return {name.lower(): value for name, value in response.headers.items() if name.lower() in COMPARED}


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
    assert ours.headers["ETag"] == f'"{hashlib.md5(payload[1]).hexdigest()}"'  # a file's single-part ETag
    assert {"last-modified", "x-amz-request-id", "x-amz-id-2"} <= {name.lower() for name in ours.headers}


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_unsatisfiable_range_is_416_as_moto_answers(server, reference, method):
    ours = _get(f"{server.url}/{PUBLIC}/{KEY}", method, f"bytes={SIZE}-")
    moto = _get(reference, method, f"bytes={SIZE}-")
    assert ours.status_code == moto.status_code == 416
    if method == "GET":
        assert b"<Code>InvalidRange</Code>" in ours.content and b"<Code>InvalidRange</Code>" in moto.content
        assert f"<ActualObjectSize>{SIZE}</ActualObjectSize>".encode() in ours.content
        assert ours.headers["Content-Range"] == f"bytes */{SIZE}"


def test_errors_and_access_policy_still_apply(server, reference, payload):
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
        == (payload[0] / "blob.bin").read_bytes()[10:20]
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


def test_writes_are_refused_as_a_public_bucket_refuses_them(server, payload):
    anonymous = boto3.client(
        "s3", endpoint_url=server.url, region_name="us-east-1", config=Config(signature_version=UNSIGNED)
    )
    signed = signed_client(server.url, config=Config(request_checksum_calculation="when_required"))
    for client in (anonymous, signed):
        for call in (
            lambda c=client: c.put_object(Bucket=PUBLIC, Key=OTHER, Body=b"new"),
            lambda c=client: c.delete_object(Bucket=PUBLIC, Key=OTHER),
            lambda c=client: c.create_bucket(Bucket="new-bucket"),
        ):
            with pytest.raises(ClientError) as caught:
                call()
            assert caught.value.response["Error"]["Code"] == "AccessDenied"
    assert _get(f"{server.url}/{PUBLIC}/{OTHER}").content == payload[1]
