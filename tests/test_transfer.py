"""roman_helpers.transfer.measure counts what the server sends, for any S3 client code."""

from __future__ import annotations

import boto3
import pytest
import s3fs
from _stream_support import s3env, served  # noqa: F401  (fixtures)
from astropy.io import fits

from roman_helpers import transfer


def server_totals(env, mark):
    stats = env.counted(mark)
    return stats.requests, stats.bytes_sent


def test_plain_s3fs_reads_are_counted(s3env):
    key = s3env.uri["fits"].removeprefix("s3://")
    fs = s3fs.S3FileSystem(anon=True)
    mark = s3env.mark()
    with transfer.measure() as stats:
        first = fs.cat_file(key, start=0, end=1000)
        second = fs.cat_file(key, start=5000, end=5500)
    assert len(first) + len(second) == 1500
    assert (stats.requests, stats.bytes) == (2, 1500) == server_totals(s3env, mark)
    assert stats.by_operation() == {"GetObject": 2}
    assert [record.range for record in stats.records] == ["bytes=0-999", "bytes=5000-5499"]


def test_filesystem_connected_before_measuring_is_counted(s3env):
    key = s3env.uri["fits"].removeprefix("s3://")
    fs = s3fs.S3FileSystem(anon=True, default_block_size=4096)
    fs.cat_file(key, start=0, end=10)  # connects the client outside any measurement
    mark = s3env.mark()
    with transfer.measure() as stats:
        fs.cat_file(key, start=0, end=100)
    assert (stats.requests, stats.bytes) == (1, 100) == server_totals(s3env, mark)


def test_astropy_fsspec_open_is_counted(s3env):
    mark = s3env.mark()
    with transfer.measure() as stats:
        with fits.open(s3env.uri["fits"], fsspec_kwargs={"anon": True, "default_block_size": 8192,
                                                         "default_cache_type": "first"}) as hdul:
            assert hdul[1].header["NAXIS1"] == 4088
    assert stats.requests >= 2  # a HEAD and at least one GET
    assert (stats.requests, stats.bytes) == server_totals(s3env, mark)
    assert stats.by_operation().get("HeadObject", 0) >= 1


def test_boto3_calls_and_head_requests_are_counted(s3env):
    bucket, key = s3env.uri["fits"].removeprefix("s3://").split("/", 1)
    mark = s3env.mark()
    with transfer.measure() as stats:
        client = boto3.client("s3")
        size = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
        body = client.get_object(Bucket=bucket, Key=key, Range="bytes=0-2879")["Body"].read()
    assert size == s3env.local["fits"].stat().st_size and len(body) == 2880
    assert (stats.requests, stats.bytes) == (2, 2880) == server_totals(s3env, mark)


def test_failed_requests_are_counted_and_measures_nest(s3env):
    fs = s3fs.S3FileSystem(anon=True)
    mark = s3env.mark()
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
