"""The benchmark's scenarios at test size: the libraries' defaults (as the source tutorial reads
files) and ours, counted by the server.

Pins the byte and request counts behind each row of ``make bench`` (the targets in its table)
on reduced files with the same structure, and that both ways give the same pixels.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from _stream_support import ROOT

from roman_helpers import stream, transfer

spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
bench = importlib.util.module_from_spec(spec)
sys.modules["bench_run"] = bench  # dataclasses look their module up while the class is made
spec.loader.exec_module(bench)

KIB = 1024
S3FS_BLOCK = 50 * 2**20


def both_ways(env, seed_call, ours_call):
    results = []
    for call in (seed_call, ours_call):
        mark = env.mark()
        with transfer.measure() as client:
            value = call()
        server = env.counted(mark)
        assert (client.requests, client.bytes) == (server.requests, server.bytes_sent)
        results.append((value, server))
    return results


def test_info_of_drz(s3env):
    size = s3env.local["drz"].stat().st_size
    (_, seed), (_, ours) = both_ways(
        s3env, lambda: bench.seed_fits_info(s3env.uri["drz"]), lambda: stream.info(s3env.uri["drz"])
    )
    assert seed.bytes_sent == size  # the defaults move the whole file
    assert ours.bytes_sent <= 64 * KIB


def test_header_of_wide_fits(s3env):
    size = s3env.local["fits"].stat().st_size
    (_, seed), (_, ours) = both_ways(
        s3env,
        lambda: bench.seed_fits_header(s3env.uri["fits"]),
        lambda: stream.read_header(s3env.uri["fits"]),
    )
    assert seed.bytes_sent == min(size, S3FS_BLOCK + 6)
    assert ours.requests == 1 and ours.bytes_sent <= 64 * KIB  # one ranged GET, no HEAD


def test_fits_cutout(s3env, monkeypatch):
    monkeypatch.setattr(bench, "BOX", (2000, 50, 2100, 150))
    (seed_pixels, seed), (ours_pixels, ours) = both_ways(
        s3env, lambda: bench.seed_fits_cutout(s3env.uri["fits"]), lambda: bench.ours_cutout(s3env.uri["fits"])
    )
    np.testing.assert_array_equal(seed_pixels, ours_pixels)
    assert seed.bytes_sent == s3env.local["fits"].stat().st_size
    assert ours.requests == 1 + 100 and ours.bytes_sent <= 100_000


def test_roman_metadata(s3env):
    (seed_meta, seed), (ours_meta, ours) = both_ways(
        s3env,
        lambda: bench.seed_roman_meta(s3env.uri["asdf"]),
        lambda: stream.read_metadata(s3env.uri["asdf"]),
    )
    assert len(seed_meta) > 10 and ours_meta["instrument"]["detector"].startswith("WFI")
    assert ours.bytes_sent <= 1.2 * bench.asdf_tree_and_index(s3env.local["asdf"])
    assert seed.bytes_sent > 100 * ours.bytes_sent


@pytest.mark.parametrize("box", [(2000, 500, 2100, 600), (0, 900, 100, 1000)])
def test_roman_lz4_cutout(s3env, monkeypatch, box):
    monkeypatch.setattr(bench, "BOX", box)
    (seed_pixels, seed), (ours_pixels, ours) = both_ways(
        s3env,
        lambda: bench.seed_roman_cutout(s3env.uri["asdf"]),
        lambda: bench.ours_cutout(s3env.uri["asdf"]),
    )
    np.testing.assert_array_equal(seed_pixels, ours_pixels)
    assert ours.bytes_sent <= 9_000_000
    assert seed.bytes_sent >= 2 * ours.bytes_sent


def test_gzip_cutout(s3env, monkeypatch):
    monkeypatch.setattr(bench, "BOX", (2000, 20, 2100, 60))
    (seed_pixels, seed), (ours_pixels, ours) = both_ways(
        s3env, lambda: bench.seed_gz_cutout(s3env.uri["gz"]), lambda: bench.ours_cutout(s3env.uri["gz"])
    )
    np.testing.assert_array_equal(seed_pixels, ours_pixels)
    from astropy.io import fits

    with fits.open(s3env.local["gz"]) as hdul:
        data_start = hdul.fileinfo(1)["datLoc"]
    prefix = bench.gzip_prefix(s3env.local["gz"], data_start + 60 * 4088 * 4)
    assert ours.bytes_sent <= prefix + stream.GZIP_BLOCK < seed.bytes_sent
