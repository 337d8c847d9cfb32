"""roman_helpers.transfer.measure counts what the server sends, for any S3 client code."""

from __future__ import annotations

import io
import logging
import re
from collections import Counter

import boto3
import botocore.session
import numpy as np
import pytest
import s3fs
from astropy.io import fits
from botocore import handlers

from roman_helpers import transfer
from tests.conftest import put_object


def settled_mark(env) -> int:
    """The server's record count (it records a request before the last byte leaves)."""
    return env.mark()


def server_totals(env, mark):
    stats = env.counted(mark)
    return stats.requests, stats.bytes_sent


def test_plain_s3fs_reads_are_counted(s3env):
    key = s3env.uri["fits"].removeprefix("s3://")
    fs = s3fs.S3FileSystem(anon=True)
    mark = settled_mark(s3env)
    with transfer.measure() as stats:
        first = fs.cat_file(key, start=0, end=1000)
        second = fs.cat_file(key, start=5000, end=5500)
    assert len(first) + len(second) == 1500
    assert (stats.requests, stats.bytes) == (2, 1500) == server_totals(s3env, mark)
    assert stats.by_operation() == {"GetObject": 2}
    assert [record.range for record in stats.records] == ["bytes=0-999", "bytes=5000-5499"]


def test_an_inner_block_closing_first_leaves_the_outer_one_counting(s3env):
    key = s3env.uri["fits"].removeprefix("s3://")
    fs = s3fs.S3FileSystem(anon=True)
    with transfer.measure() as outer:
        with transfer.measure() as inner:  # both empty, so equal by value
            pass
        fs.cat_file(key, start=0, end=100)
    assert (inner.requests, outer.requests, outer.bytes) == (0, 1, 100)


def test_filesystem_connected_before_measuring_is_counted(s3env):
    key = s3env.uri["fits"].removeprefix("s3://")
    fs = s3fs.S3FileSystem(anon=True, default_block_size=4096)
    fs.cat_file(key, start=0, end=10)  # connects the client outside any measurement
    mark = settled_mark(s3env)
    with transfer.measure() as stats:
        fs.cat_file(key, start=0, end=100)
    assert (stats.requests, stats.bytes) == (1, 100) == server_totals(s3env, mark)


def test_astropy_fsspec_open_is_counted(s3env):
    mark = settled_mark(s3env)
    with (
        transfer.measure() as stats,
        fits.open(
            s3env.uri["fits"],
            fsspec_kwargs={"anon": True, "default_block_size": 8192, "default_cache_type": "first"},
        ) as hdul,
    ):
        assert hdul[1].header["NAXIS1"] == 4088
    assert stats.requests >= 2  # a HEAD and at least one GET
    assert (stats.requests, stats.bytes) == server_totals(s3env, mark)
    assert stats.by_operation().get("HeadObject", 0) >= 1


def test_boto3_calls_and_head_requests_are_counted(s3env):
    bucket, key = s3env.uri["fits"].removeprefix("s3://").split("/", 1)
    mark = settled_mark(s3env)
    with transfer.measure() as stats:
        client = boto3.client("s3")
        size = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
        body = client.get_object(Bucket=bucket, Key=key, Range="bytes=0-2879")["Body"].read()
    assert size == s3env.local["fits"].stat().st_size and len(body) == 2880
    assert (stats.requests, stats.bytes) == (2, 2880) == server_totals(s3env, mark)


def test_failed_requests_are_counted_and_measures_nest(s3env):
    fs = s3fs.S3FileSystem(anon=True)
    mark = settled_mark(s3env)
    with transfer.measure() as outer:
        with pytest.raises(FileNotFoundError):
            fs.cat_file("stpubdata/no/such/key.fits", start=0, end=10)
        with transfer.measure() as inner:
            fs.cat_file(s3env.uri["fits"].removeprefix("s3://"), start=0, end=80)
    assert (inner.requests, inner.bytes) == (1, 80)
    assert outer.requests == 1 + inner.requests == server_totals(s3env, mark)[0]
    assert str(inner) == "1 requests, 80 bytes"


def test_nothing_is_counted_outside_the_block(s3env):
    fs = s3fs.S3FileSystem(anon=True)
    with transfer.measure() as stats:
        pass
    fs.cat_file(s3env.uri["fits"].removeprefix("s3://"), start=0, end=80)
    assert (stats.requests, stats.bytes) == (0, 0)


def test_sequential_reads_are_separate_round_trips(s3env):
    key = s3env.uri["fits"].removeprefix("s3://")
    fs = s3fs.S3FileSystem(anon=True)
    with transfer.measure() as sequential:
        for start in (0, 1000, 2000):
            fs.cat_file(key, start=start, end=start + 10)
    assert sequential.round_trips == 3
    assert all(record.finished >= record.started > 0 for record in sequential.records)


# ---------------------------------------------------------------- where the handlers live
def test_builtin_handlers_are_restored_after_the_last_block(s3env):
    before = list(handlers.BUILTIN_HANDLERS)
    fs = s3fs.S3FileSystem(anon=True)

    def fail_in_nested_blocks() -> None:
        with transfer.measure():
            with transfer.measure():
                fs.cat_file(s3env.uri["fits"].removeprefix("s3://"), start=0, end=10)
            assert len(handlers.BUILTIN_HANDLERS) > len(before)  # still active for the outer block
            raise RuntimeError("failed in the outer block")

    with pytest.raises(RuntimeError, match="failed in the outer block"):
        fail_in_nested_blocks()
    after = handlers.BUILTIN_HANDLERS
    assert len(after) == len(before) and all(a is b for a, b in zip(after, before, strict=True))


def test_undocumented_interfaces_relied_on_still_exist(moto_endpoint):
    """A release of botocore, fsspec/s3fs or boto3 that drops these makes measure() miss clients."""
    # botocore: a session registers every entry of BUILTIN_HANDLERS when it is created
    calls = []
    probe = ("roman-helpers-probe", lambda **kwargs: calls.append(kwargs))
    handlers.BUILTIN_HANDLERS.append(probe)
    try:
        botocore.session.Session().emit("roman-helpers-probe")
    finally:
        handlers.BUILTIN_HANDLERS.remove(probe)
    assert len(calls) == 1
    # fsspec: the instances it reuses sit in the class attribute _cache
    fs = s3fs.S3FileSystem(anon=True, default_block_size=12345)
    assert any(cached is fs for cached in s3fs.S3FileSystem._cache.values())
    # s3fs: `session` is None until the file system connects (measure() does not connect it)
    assert fs.session is None
    fs.connect()
    assert fs.session is not None and fs.s3.meta.events is not None
    # boto3: the default session, once made, is a boto3.Session with public events
    boto3.setup_default_session()
    assert isinstance(boto3.DEFAULT_SESSION, boto3.Session) and boto3.DEFAULT_SESSION.events is not None


# ---------------------------------------------------------------- exact counts against moto
@pytest.fixture
def moto_log(caplog):
    """The requests the moto server logs during the test, as a function returning their methods.

    werkzeug logs each request as it sends the response headers, before the body, so every
    request a client has an answer to is already in the log.
    """
    caplog.set_level(logging.INFO, logger="werkzeug")

    def methods() -> Counter:
        lines = [
            re.sub(r"\x1b\[[0-9;]*m", "", record.getMessage())  # without werkzeug's colours
            for record in caplog.get_records("call")
            if record.name == "werkzeug"
        ]
        return Counter(match[1] for line in lines if (match := re.search(r'"([A-Z]+) /', line)))

    return methods


def as_methods(stats) -> Counter:
    names = {"HeadObject": "HEAD", "GetObject": "GET"}
    return Counter({names[operation]: count for operation, count in stats.by_operation().items()})


@pytest.fixture
def fits_object(buckets, s3_client) -> tuple[str, int]:
    """A small two-HDU FITS file in the public bucket; its URI and size."""
    buffer = io.BytesIO()
    data = np.arange(64 * 48, dtype=np.float32).reshape(48, 64)
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, name="SCI")]).writeto(buffer)
    put_object(s3_client, "stpubdata", "counts/image.fits", buffer.getvalue())
    return "s3://stpubdata/counts/image.fits", len(buffer.getvalue())


def test_plain_boto3_counts_match_the_object(fits_object, moto_log):
    uri, size = fits_object
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    with transfer.measure() as stats:
        client = boto3.client("s3")
        head = client.head_object(Bucket=bucket, Key=key)
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert len(body) == head["ContentLength"] == size
    assert as_methods(stats) == moto_log() == Counter({"HEAD": 1, "GET": 1}) and stats.bytes == size
    client.get_object(Bucket=bucket, Key=key)["Body"].read()  # after the block: not counted
    assert stats.requests == 2


def test_plain_s3fs_counts_match_the_object(fits_object, moto_log):
    uri, size = fits_object
    fs = s3fs.S3FileSystem(anon=True)
    with transfer.measure() as stats:
        whole = fs.cat_file(uri)
        part = fs.cat_file(uri, start=100, end=2980)
    assert (len(whole), len(part)) == (size, 2880)
    assert as_methods(stats) == moto_log() and stats.bytes == size + 2880


def test_astropy_fits_open_counts_match_the_object(fits_object, moto_log):
    uri, size = fits_object
    # the "all" cache reads the whole file in one GET, after the HEAD that gives its size
    with (
        transfer.measure() as stats,
        fits.open(uri, fsspec_kwargs={"anon": True, "default_cache_type": "all"}) as hdul,
    ):
        assert hdul["SCI"].data[47, 63] == 64 * 48 - 1
    assert as_methods(stats) == moto_log() == Counter({"HEAD": 1, "GET": 1}) and stats.bytes == size


def test_watch_reaches_a_client_made_before_the_block(fits_object, moto_log):
    uri, size = fits_object
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    unwatched = boto3.Session().client("s3")  # neither the default session nor a cached s3fs one
    watched = transfer.watch(boto3.Session().client("s3"))
    with transfer.measure() as stats:
        unwatched.head_object(Bucket=bucket, Key=key)
        watched.get_object(Bucket=bucket, Key=key)["Body"].read()
        # made inside the block: the handler comes from the built-in list *and* watch(), counted once
        transfer.watch(boto3.Session().client("s3")).head_object(Bucket=bucket, Key=key)
    assert moto_log() == Counter({"HEAD": 2, "GET": 1})  # the server saw the unwatched HEAD too
    assert as_methods(stats) == Counter({"HEAD": 1, "GET": 1}) and stats.bytes == size


def test_a_get_aiohttp_repeats_after_a_dropped_connection_counts_once(buckets, s3_client, monkeypatch):
    """The limit the module documents: aiohttp (under s3fs) sends a GET again by itself, on a new
    connection, when the server closed the kept-alive one; botocore, and so measure(), sees one
    attempt. If aiohttp stops doing this, this test fails and the documentation must change."""
    from roman_helpers.sandbox.services.faults import FaultRule
    from tests.faulty_server import FaultyS3

    put_object(s3_client, "stpubdata", "t/kept.bin", bytes(range(256)) * 40)
    with FaultyS3([FaultRule("reset", key="kept.bin", method="GET", nth=2)]) as server:
        fs = s3fs.S3FileSystem(anon=True, skip_instance_cache=True, endpoint_url=server.url)
        assert fs.cat_file("stpubdata/t/kept.bin", start=0, end=16) == bytes(range(16))  # opens a connection
        before = server.injector.requests
        with transfer.measure() as stats:
            transfer.watch(fs.s3)
            got = fs.cat_file("stpubdata/t/kept.bin", start=0, end=16)  # the 2nd GET: reset, then sent again
        assert got == bytes(range(16))
        assert server.injector.injected["reset"] == 1
        assert server.injector.requests - before == 2  # the server was asked twice
        assert [record.status for record in stats.records] == [206]  # the client counted one answer
