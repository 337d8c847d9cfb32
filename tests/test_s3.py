"""The kit's one way to S3 (roman_helpers._s3), against moto on 127.0.0.1.

- the factory: time-outs (connect and read, each its own), pools, the anonymous rule;
- translate: the errors S3 really gives (through s3fs and boto3) and botocore ClientError objects,
  each mapped to the package's exception and advice; the bucket probe, opt-in and asked once;
- is_transient: the one rule for trying again;
- list_prefix: S3's prefix rule.
"""

from __future__ import annotations

import asyncio
import socket

import boto3
import pytest
import s3fs
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ProxyConnectionError,
    SSLError,
)

from roman_helpers import _s3, config, stream, transfer
from roman_helpers._s3 import translate
from roman_helpers.download import download
from roman_helpers.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    EndpointUnreachableError,
    FileFormatError,
    ObjectNotFoundError,
    RomanHelpersError,
)
from tests.conftest import PRIVATE_BUCKET, PUBLIC_BUCKET, put_object

BODY = b"x" * 100


def raised(call) -> BaseException:
    """The error ``call`` raises (the test fails if it raises none)."""
    # any type on purpose: the callers assert which one; PT011 wants a narrower type or a match
    with pytest.raises(Exception) as caught:  # noqa: PT011
        call()
    return caught.value


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: bound, then closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def client_error(code: str, status: int, operation: str = "GetObject") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "S3 message"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


@pytest.fixture
def objects(buckets, s3_client):
    put_object(s3_client, PUBLIC_BUCKET, "t/a.fits", BODY)
    put_object(s3_client, PRIVATE_BUCKET, "t/secret.asdf", BODY)
    return buckets


# ------------------------------------------------------------------ missing key and bucket


def test_missing_key_read_by_s3fs(objects):
    uri = f"s3://{PUBLIC_BUCKET}/t/nope.fits"
    for call in (
        lambda: s3fs.S3FileSystem().cat_file(uri, start=0, end=10),  # S3 said NoSuchKey
        lambda: s3fs.S3FileSystem().open(uri),
    ):  # s3fs's own FileNotFoundError after a HEAD
        error = raised(call)
        translated = translate(error, uri)
        assert type(translated) is ObjectNotFoundError and translated.__cause__ is error
        assert f"no object at {uri}" in str(translated)
        assert f"roman-helpers ls s3://{PUBLIC_BUCKET}/t/" in str(translated)


def test_missing_key_headed_by_boto3(objects, s3_client):
    error = raised(lambda: s3_client.head_object(Bucket=PUBLIC_BUCKET, Key="t/nope.fits"))
    translated = translate(error, f"s3://{PUBLIC_BUCKET}/t/nope.fits")
    assert type(translated) is ObjectNotFoundError and "S3 said 404" in str(translated)


def test_missing_bucket_is_told_apart(objects, s3_client, moto_endpoint):
    uri = "s3://no-such-bucket-zz/t/a.fits"
    for call in (
        lambda: s3fs.S3FileSystem().cat_file(uri, start=0, end=10),
        lambda: s3fs.S3FileSystem().open(uri),
        lambda: s3_client.get_object(Bucket="no-such-bucket-zz", Key="t/a.fits"),
    ):
        translated = translate(raised(call), uri)
        assert isinstance(translated, BucketNotFoundError) and isinstance(translated, ObjectNotFoundError)
        message = str(translated)
        assert "no such bucket 'no-such-bucket-zz'" in message and "S3 said NoSuchBucket" in message
        assert moto_endpoint in message and "AWS_ENDPOINT_URL" in message
        assert "did you mean" not in message  # nothing close to it among the known buckets


def test_missing_bucket_on_aws_names_no_endpoint(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    translated = translate(client_error("NoSuchBucket", 404), "s3://no-such-bucket-zz/a.fits")
    assert "no such bucket 'no-such-bucket-zz' (S3 said NoSuchBucket) on AWS" in str(translated)
    assert "AWS_ENDPOINT_URL" not in str(translated)


def test_mistyped_bucket_suggests_the_known_one(objects):
    uri = "s3://stpubdta/t/a.fits"
    for call in (
        lambda: s3fs.S3FileSystem().cat_file(uri, start=0, end=10),
        lambda: s3fs.S3FileSystem().ls("stpubdta/t/"),
    ):
        translated = translate(raised(call), uri)
        assert type(translated) is BucketNotFoundError
        assert str(translated).startswith("no such bucket 'stpubdta' (S3 said NoSuchBucket)")
        assert "did you mean 'stpubdata' (s3://stpubdata/t/a.fits)?" in str(translated)


def test_mistyped_private_bucket_suggests_the_datasets_bucket(objects, s3_client):
    typo = PRIVATE_BUCKET.replace("test-data", "tst-data")
    error = raised(lambda: s3_client.get_object(Bucket=typo, Key="t/secret.asdf"))
    message = str(translate(error, f"s3://{typo}/t/secret.asdf"))
    assert f"no such bucket {typo!r}" in message and f"did you mean {PRIVATE_BUCKET!r}" in message


def test_head_404_of_a_missing_bucket_is_told_from_a_missing_key(objects, s3_client):
    """HEAD answers 404 without a body; one unsigned HeadBucket, on the error path only, tells them apart."""
    s3_client.create_bucket(Bucket="some-other-bucket")
    try:
        cases = {
            "stpubdta": BucketNotFoundError,
            "some-other-bucket": ObjectNotFoundError,
            PUBLIC_BUCKET: ObjectNotFoundError,
        }
        for bucket, kind in cases.items():
            error = raised(lambda b=bucket: s3_client.head_object(Bucket=b, Key="t/nope.fits"))
            assert error.response["Error"]["Code"] == "404"  # nothing in the answer names the bucket
            with transfer.measure() as stats:
                translated = translate(error, f"s3://{bucket}/t/nope.fits", probe=True)
            assert type(translated) is kind, bucket
            # a bucket the package knows is not asked about; an unknown one costs one HeadBucket
            assert stats.by_operation() == ({} if bucket == PUBLIC_BUCKET else {"HeadBucket": 1}), bucket
        assert "did you mean 'stpubdata'" in str(
            translate(
                raised(lambda: s3_client.head_object(Bucket="stpubdta", Key="t/nope.fits")),
                "s3://stpubdta/t/nope.fits",
                probe=True,
            )
        )
    finally:
        s3_client.delete_bucket(Bucket="some-other-bucket")


def test_download_of_a_mistyped_bucket_says_no_such_bucket(objects, tmp_path):
    [result] = download(["s3://stpubdta/t/a.fits"], tmp_path, progress=False)
    assert type(result.error) is BucketNotFoundError
    message = str(result.error)
    assert "no such bucket 'stpubdta'" in message and "did you mean 'stpubdata'" in message


def test_stream_raises_the_translation(objects):
    with pytest.raises(BucketNotFoundError, match="no-such-bucket-zz"):
        stream.read_header("s3://no-such-bucket-zz/t/a.fits")
    with pytest.raises(ObjectNotFoundError, match=r"no object at s3://stpubdata/t/nope\.fits"):
        stream.read_header(f"s3://{PUBLIC_BUCKET}/t/nope.fits")


# ------------------------------------------------------------------ unreachable endpoints


@pytest.fixture
def nowhere(moto_endpoint, monkeypatch) -> str:
    """AWS_ENDPOINT_URL names a closed port on 127.0.0.1; botocore sends each request twice at most."""
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    s3fs.S3FileSystem.clear_instance_cache()
    return endpoint


def assert_unreachable(translated: BaseException, endpoint: str, cause: BaseException) -> None:
    assert type(translated) is EndpointUnreachableError and translated.__cause__ is cause
    assert isinstance(translated, ConnectionError) and isinstance(translated, RomanHelpersError)
    message = str(translated)
    assert message.startswith(f"no S3 endpoint answered at {endpoint} (named by AWS_ENDPOINT_URL)")
    assert "Start the offline sandbox (`roman-helpers sandbox run -- COMMAND`)" in message
    assert "run on the Roman Research Nexus" in message


def test_unreachable_endpoint_through_boto3_and_s3fs(nowhere):
    uri = f"s3://{PUBLIC_BUCKET}/t/a.fits"
    for call in (
        lambda: boto3.client("s3").head_object(Bucket=PUBLIC_BUCKET, Key="t/a.fits"),
        lambda: s3fs.S3FileSystem().cat_file(uri, start=0, end=10),
        lambda: s3fs.S3FileSystem().ls(f"{PUBLIC_BUCKET}/t/"),
    ):
        error = raised(call)
        assert_unreachable(translate(error, uri), nowhere, error)


def test_python_api_raises_the_package_error_not_botocore(nowhere, tmp_path):
    with (
        transfer.measure() as stats,
        pytest.raises(EndpointUnreachableError, match="no S3 endpoint answered"),
    ):
        stream.read_header(f"s3://{PUBLIC_BUCKET}/t/a.fits")
    assert stats.requests == 2  # outside the command line, botocore's retries are left as configured
    [result] = download([f"s3://{PUBLIC_BUCKET}/t/a.fits"], tmp_path, progress=False)
    assert type(result.error) is EndpointUnreachableError and result.status == "failed"


def test_aiohttp_connection_error_is_unreachable(nowhere):
    import aiohttp

    async def get():
        async with aiohttp.ClientSession() as session:
            await session.get(nowhere)

    error = raised(lambda: asyncio.run(get()))
    assert isinstance(error, aiohttp.ClientConnectorError)
    translated = translate(error, f"s3://{PUBLIC_BUCKET}/t/a.fits")
    assert type(translated) is EndpointUnreachableError
    assert f"no S3 endpoint answered at 127.0.0.1:{nowhere.rsplit(':', 1)[1]}" in str(translated)


def test_connect_errors_without_an_endpoint_setting(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    url = "https://stpubdata.s3.amazonaws.com/hst/a.fits"
    for error in (
        EndpointConnectionError(endpoint_url=url, error="no route"),
        ConnectTimeoutError(endpoint_url=url, error="timed out"),
    ):
        message = str(translate(error, "s3://stpubdata/hst/a.fits"))
        assert message == (
            "no S3 endpoint answered at https://stpubdata.s3.amazonaws.com: are you offline? "
            "Start the offline sandbox (`roman-helpers sandbox run -- COMMAND`) or run on the "
            "Roman Research Nexus"
        )
    proxy = translate(ProxyConnectionError(proxy_url="http://proxy.example:3128", error="x"), "s3://b/k")
    assert type(proxy) is EndpointUnreachableError and str(proxy).startswith(
        "the proxy http://proxy.example:3128 did not answer: check HTTPS_PROXY"
    )
    tls = SSLError(endpoint_url=url, error="certificate verify failed")
    assert translate(tls, "s3://stpubdata/hst/a.fits") is tls  # it answered: not "unreachable"


# ------------------------------------------------------------------ refusals


def test_private_bucket_read_anonymously(objects):
    uri = f"s3://{PRIVATE_BUCKET}/t/secret.asdf"
    unsigned = boto3.client("s3", config=Config(signature_version=UNSIGNED))
    for call in (
        lambda: s3fs.S3FileSystem(anon=True).cat_file(uri, start=0, end=10),
        lambda: s3fs.S3FileSystem(anon=True).open(uri),
        lambda: unsigned.get_object(Bucket=PRIVATE_BUCKET, Key="t/secret.asdf"),
    ):
        translated = translate(raised(call), uri, anonymous=True)
        assert type(translated) is AccessDeniedError
        message = str(translated)
        assert f"access to {uri} was refused (S3 said 403)" in message
        assert "read anonymously" in message
        assert "anon=False in Python, --no-anon on the command line" in message


def test_refusal_advice_follows_how_it_was_read(objects):
    uri = f"s3://{PRIVATE_BUCKET}/t/secret.asdf"
    error = raised(lambda: s3fs.S3FileSystem(anon=True).cat_file(uri, start=0, end=10))
    signed = str(translate(error, uri, anonymous=False))
    assert "your AWS credentials" in signed and "anon=True in Python, --anon on the command line" in signed
    assert "--no-anon" not in signed
    unknown = str(translate(error, uri))
    assert (
        "if it was read anonymously" in unknown
        and "--no-anon" in unknown
        and "if with credentials" in unknown
    )


# ------------------------------------------------------------------ truncated files


def test_range_past_the_end_is_a_truncated_file(objects, s3_client):
    uri = f"s3://{PUBLIC_BUCKET}/t/a.fits"
    for call in (
        lambda: s3fs.S3FileSystem().cat_file(uri, start=len(BODY) + 100, end=len(BODY) + 200),
        lambda: s3_client.get_object(
            Bucket=PUBLIC_BUCKET, Key="t/a.fits", Range=f"bytes={len(BODY) + 100}-{len(BODY) + 200}"
        ),
    ):
        translated = translate(raised(call), uri)
        assert type(translated) is FileFormatError
        assert f"{uri} is shorter than its own headers say: the file is truncated" in str(translated)


# ------------------------------------------------------------------ ClientError codes and statuses


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("NoSuchKey", 404, ObjectNotFoundError),
        ("404", 404, ObjectNotFoundError),
        ("NotFound", 404, ObjectNotFoundError),
        ("NoSuchBucket", 404, BucketNotFoundError),
        ("AccessDenied", 403, AccessDeniedError),
        ("403", 403, AccessDeniedError),
        ("Forbidden", 403, AccessDeniedError),
        ("AllAccessDisabled", 403, AccessDeniedError),
        ("InvalidRange", 416, FileFormatError),
        ("416", 416, FileFormatError),
    ],
)
def test_client_error_codes(code, status, kind):
    error = client_error(code, status)
    translated = translate(error, "s3://stpubdata/t/a.fits", anonymous=True)
    assert type(translated) is kind and translated.__cause__ is error
    assert "s3://stpubdata/t/a.fits" in str(translated)


@pytest.mark.parametrize(
    "error",
    [
        client_error("SlowDown", 503),
        client_error("InternalError", 500),
        client_error("InvalidBucketName", 400),
        ConnectionError("reset by peer"),
        TimeoutError("timed out"),
        OSError(5, "I/O error"),
        ValueError("x"),
    ],
)
def test_other_errors_are_returned_unchanged(error):
    assert translate(error, "s3://stpubdata/t/a.fits") is error


def test_our_errors_pass_through():
    ours = ObjectNotFoundError("already ours")
    assert translate(ours, "s3://stpubdata/t/a.fits") is ours
    assert issubclass(BucketNotFoundError, RomanHelpersError)


def test_the_bucket_probe_is_opt_in_and_asked_once(objects, s3_client):
    error = raised(lambda: s3_client.head_object(Bucket="stpubdta", Key="t/nope.fits"))
    with transfer.measure() as stats:
        assert type(translate(error, "s3://stpubdta/t/nope.fits")) is ObjectNotFoundError  # not asked
    assert stats.requests == 0
    with transfer.measure() as stats:
        for _ in range(3):
            assert type(translate(error, "s3://stpubdta/t/nope.fits", probe=True)) is BucketNotFoundError
    assert stats.by_operation() == {"HeadBucket": 1}  # the answer is kept


# ------------------------------------------------------------------ the factory


def test_clients_have_their_own_connect_and_read_time_outs(moto_endpoint, monkeypatch):
    monkeypatch.setenv("ROMAN_HELPERS_TIMEOUT", "30")
    monkeypatch.setenv("ROMAN_HELPERS_CONNECT_TIMEOUT", "4")
    client = _s3.client(anon=True, connections=48)
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (4.0, 30.0)
    assert client.meta.config.max_pool_connections == 48 and client.meta.endpoint_url == moto_endpoint
    fs = _s3.filesystem("stpubdata", connections=48, skip_instance_cache=True)
    assert fs.config_kwargs == {"connect_timeout": 4.0, "read_timeout": 30.0, "max_pool_connections": 48}
    assert fs.anon and not _s3.filesystem("some-private-bucket", skip_instance_cache=True).anon
    assert stream.filesystem is _s3.filesystem
    with pytest.raises(AttributeError, match=r"use roman_helpers\.stream\.filesystem"):
        config.filesystem  # noqa: B018 - removed from the leaf: the message says where it went


def test_the_kits_file_systems_share_s3fs_cache(moto_endpoint):
    fs = _s3.filesystem("stpubdata")
    assert fs is _s3.filesystem("stpubdata")  # equal arguments: one instance, one connection pool
    assert any(cached is fs for cached in s3fs.S3FileSystem._cache.values())
    s3fs.S3FileSystem.clear_instance_cache()  # as the fixtures do between tests
    assert _s3.filesystem("stpubdata") is not fs


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (client_error("SlowDown", 503), True),
        (client_error("InternalError", 500), True),
        (client_error("Throttling", 400), True),
        (client_error("TooManyRequests", 429), True),
        (client_error("NoSuchKey", 404), False),
        (client_error("AccessDenied", 403), False),
        (client_error("InvalidRange", 416), False),
        (ConnectionError("reset by peer"), True),
        (TimeoutError("timed out"), True),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), True),
        (OSError(5, "I/O error"), True),
        (OSError(22, "invalid argument"), False),
        (FileNotFoundError("no such key"), False),
        (ObjectNotFoundError("ours: a verdict"), False),
        (ValueError("a bug"), False),
    ],
)
def test_worth_another_try(error, transient):
    assert _s3.is_transient(error) is transient


def test_prefixes_are_folders_or_starts_of_names(objects, s3_client):
    for key in ("t/pre/a.fits", "t/pre/deep/b.fits", "t/prefix.fits"):
        put_object(s3_client, PUBLIC_BUCKET, key, BODY)

    def listed(key, recursive):
        return [
            entry.uri.removeprefix(f"s3://{PUBLIC_BUCKET}/")
            for entry in _s3.list_prefix(PUBLIC_BUCKET, key, recursive=recursive)
        ]

    assert listed("t/pre/", True) == ["t/pre/a.fits", "t/pre/deep/b.fits"]
    assert listed("t/pre", True) == ["t/pre/a.fits", "t/pre/deep/b.fits", "t/prefix.fits"]
    assert listed("t/", False) == ["t/a.fits", "t/pre/", "t/prefix.fits"]
    assert listed("t/nothing-here/", True) == []
    with pytest.raises(BucketNotFoundError, match="did you mean 'stpubdata'"):
        _s3.list_prefix("stpubdta", "t/", recursive=True)
