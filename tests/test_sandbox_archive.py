"""The sandbox's byte layer (roman_helpers.sandbox.archive): files made on demand, read by real clients.

FITS objects are compared byte for byte with what astropy writes, ASDF objects with what asdf and
roman_datamodels write, .fits.gz with what gzip and astropy decompress; full-size (4088 x 4088)
objects are read through the sandbox S3 with s3fs, astropy, asdf, roman_datamodels and the kit,
counting the rows each read makes and the requests and bytes the server sends (never times).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import struct
import subprocess
import sys
import threading
import zlib

import asdf
import files  # bench/files.py (on the path through _stream_support)
import lz4.block
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import roman_datamodels as rdm
import roman_datamodels.datamodels as dm
import s3fs
from _stream_support import ROOT
from astropy.io import fits
from astropy.table import Table

from roman_helpers import stream
from roman_helpers.sandbox.archive.asdf import LZ4_CHUNK, AsdfObject, lz4_literal_chunk_header
from roman_helpers.sandbox.archive.cache import ChunkCache, default_budget
from roman_helpers.sandbox.archive.fits import BLOCK, GZIP_MEMBER_SIZE, HDU, FitsObject, GzipObject, TableSpec
from roman_helpers.sandbox.archive.objects import ArraySpec, FileObject, MaterialisedObject
from roman_helpers.sandbox.archive.registry import ArchiveSpec
from roman_helpers.sandbox.archive.tables import ecsv_object, parquet_object, text_object
from roman_helpers.sandbox.services.s3 import LocalS3Server, S3Server

SIDE = files.WIDTH
IRSA = "nasa-irsa-simulations"
FITS_URI = f"s3://{IRSA}/{files.GENERATED_FITS}"
GZ_URI = f"s3://{IRSA}/{files.GENERATED_GZ}"
CAL_URI = f"s3://stpubdata/{files.GENERATED_CAL}"
BOX = (1000, 2000, 1100, 2100)  # x0, y0, x1, y1: a 100 x 100 cut-out in the middle of the image


def _all(item) -> bytes:
    return item.read(0, item.size)


def _astropy_bytes(hdus: list) -> bytes:
    out = io.BytesIO()
    fits.HDUList(hdus).writeto(out)
    return out.getvalue()


# ------------------------------------------------------------------ one archive, served in this process


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The full-size generated archive served by the sandbox S3 from this process (rows countable)."""
    images: dict = {}
    archive = files.generated_archive(str(tmp_path_factory.mktemp("archive-cache")), images=images)
    with LocalS3Server(archive) as server:
        yield server, archive, images


@pytest.fixture
def fs(generated):
    server = generated[0]
    s3fs.S3FileSystem.clear_instance_cache()
    return s3fs.S3FileSystem(anon=True, endpoint_url=server.url, skip_instance_cache=True)


@pytest.fixture
def kit_env(generated, tmp_path, monkeypatch):
    """Point the kit's clients (which build their own file systems) at the in-process server."""
    from _stream_support import point_aws_clients_at

    point_aws_clients_at(
        generated[0].url,
        tmp_path,
        monkeypatch,
        unset=("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"),
    )
    yield generated
    s3fs.S3FileSystem.clear_instance_cache()


# ------------------------------------------------------------------ objects


def test_file_object_carries_the_md5_etag_and_reads_ranges(tmp_path):
    payload = bytes(range(256)) * 100
    path = tmp_path / "blob.bin"
    path.write_bytes(payload)
    item = FileObject("k/blob.bin", path)
    assert item.etag == f'"{hashlib.md5(payload).hexdigest()}"'
    assert (item.size, item.read(250, 260), item.read(0, 0)) == (len(payload), payload[250:260], b"")
    with pytest.raises(ValueError, match="outside an object"):
        item.read(10, len(payload) + 1)


def test_materialised_object_builds_once_and_checks_a_size_given_in_advance():
    calls = []
    item = MaterialisedObject("x", lambda: calls.append(1) or b"abcdef", size=6)
    assert (item.size, calls, item.etag.endswith('-1"')) == (6, [], True)
    assert item.read(1, 3) + item.read(3, 6) == b"bcdef" and calls == [1]
    wrong = MaterialisedObject("y", lambda: b"abc", size=4)
    with pytest.raises(RuntimeError, match="built 3 bytes, but its size was given as 4"):
        wrong.read(0, 1)


# ------------------------------------------------------------------ FITS


def test_fits_object_is_byte_identical_to_what_astropy_writes():
    rng = np.random.default_rng(7)
    ours, theirs = [], []
    primary = fits.Header({"TELESCOP": "ROMAN"})
    first = np.arange(12, dtype="int16").reshape(3, 4)
    ours.append(HDU(primary, ArraySpec.from_array(first)))
    theirs.append(fits.PrimaryHDU(first, primary.copy()))
    for dtype in (
        "float32",
        "float64",
        "uint8",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint16",
        "uint32",
        "uint64",
    ):
        if np.dtype(dtype).kind == "f":
            values = rng.normal(size=(7, 9)).astype(dtype)
        else:
            info = np.iinfo(dtype)
            values = rng.integers(info.min, info.max, (7, 9), dtype=dtype, endpoint=True)
        ours.append(HDU(None, ArraySpec.from_array(values), name=dtype.upper()))
        theirs.append(fits.ImageHDU(values, name=dtype.upper()))
    columns = [
        fits.Column("ID", "K"),
        fits.Column("RA", "D", unit="deg"),
        fits.Column("NAME", "10A"),
        fits.Column("FLAG", "L"),
        fits.Column("FLUX", "3E"),
    ]
    table = {
        "ID": np.arange(5),
        "RA": np.linspace(9.5, 9.9, 5),
        "NAME": np.array(["a", "bb", "ccc", "", "xyzxyzxyzx"]),
        "FLAG": np.array([True, False, True, True, False]),
        "FLUX": np.arange(15, dtype="f4").reshape(5, 3),
    }
    ours.append(
        HDU(name="CAT", data=TableSpec(columns, 5, lambda a, b: {k: v[a:b] for k, v in table.items()}))
    )
    theirs.append(
        fits.BinTableHDU.from_columns(
            [fits.Column(c.name, c.format, unit=c.unit, array=table[c.name]) for c in columns], name="CAT"
        )
    )
    ours.append(HDU(name="EMPTY"))
    theirs.append(fits.ImageHDU(name="EMPTY"))
    made = FitsObject("x.fits", ours)
    expected = _astropy_bytes(theirs)
    assert made.size == len(expected) and made.size % BLOCK == 0
    assert _all(made) == expected
    for start, end in [(0, 1), (2879, 2881), (5000, 9000), (made.size - 100, made.size)]:
        assert made.read(start, end) == expected[start:end]


def test_full_size_fits_size_and_header_need_no_row():
    images: dict = {}
    hdus = files.generated_hdus(SIDE, images)
    made = FitsObject("big.fits", hdus)
    data = SIDE * SIDE * 4
    assert made.size == 4 * BLOCK + 3 * (data + (-data % BLOCK))  # four one-block headers, three images
    header = fits.Header.fromstring(made.read(made.data_offsets[1] - BLOCK, made.data_offsets[1]).decode())
    assert (header["EXTNAME"], header["NAXIS1"], header["NAXIS2"], header["BITPIX"]) == (
        "SCI",
        SIDE,
        SIDE,
        -32,
    )
    assert images["sci"].calls == [] and images["err"].calls == []


def test_a_read_of_a_few_rows_makes_only_those_rows():
    images: dict = {}
    made = FitsObject("big.fits", files.generated_hdus(SIDE, images))
    row = SIDE * 4
    start = made.data_offsets[1] + 3000 * row + 100
    chunk = made.read(start, start + 2 * row)
    assert images["sci"].calls == [(3000, 3003)]
    expected = images["sci"].rows(3000, 3003).astype(">f4").tobytes()[100 : 100 + 2 * row]
    assert chunk == expected


def test_cutout_of_never_generated_full_size_fits_makes_only_the_rows_it_needs(generated, fs):
    """astropy .section through s3fs, and the kit's cutout: rows made are those of the box (plus the
    cache's aligned chunk around them), never the image."""
    server, archive, images = generated
    x0, y0, x1, y1 = BOX
    sci = images["sci"]
    expected = sci.rows(y0, y1)[:, x0:x1]
    sci.calls.clear()
    before = sci.rows_made
    with fits.open(
        FITS_URI,
        use_fsspec=True,
        fsspec_kwargs={"anon": True, "endpoint_url": server.url, "default_block_size": 65536},
    ) as hdus:
        cut = hdus["SCI"].section[y0:y1, x0:x1]
    made = sci.rows_made - before
    chunk_rows = archive.cache.chunk_size // (SIDE * 4) + 1
    assert np.array_equal(cut, expected)
    assert set(range(y0, y1)) <= made
    # the box and the cache chunks it straddles, and the first rows, in the chunk of the SCI header
    near_box = set(range(y0 - chunk_rows, y1 + chunk_rows))
    assert made - near_box <= set(range(chunk_rows))
    assert len(made) <= (y1 - y0) + 3 * chunk_rows  # not 4088 rows


def test_kit_reads_the_generated_fits_and_its_gzip_identically(kit_env):
    from astropy.nddata import Cutout2D

    header_plain, header_gz = stream.read_header(FITS_URI, "SCI"), stream.read_header(GZ_URI, "SCI")
    assert header_plain == header_gz
    plain: Cutout2D = stream.cutout(FITS_URI, box=BOX)
    packed: Cutout2D = stream.cutout(GZ_URI, box=BOX)
    x0, y0, x1, y1 = BOX
    assert np.array_equal(plain.data, packed.data)
    assert np.array_equal(plain.data, kit_env[2]["sci"].rows(y0, y1)[:, x0:x1])


# ------------------------------------------------------------------ gzip


def test_gzip_members_have_closed_form_offsets_and_each_decompresses_alone():
    inner = MaterialisedObject("x", lambda: np.random.default_rng(1).bytes(3 * GZIP_MEMBER_SIZE + 12345))
    packed = GzipObject("x.gz", inner, fname="x.fits", mtime=1_700_000_000)
    whole = _all(packed)
    assert packed.members == 4 and len(whole) == packed.size
    offsets = [*packed.member_offsets, packed.size]
    blocks = -(-GZIP_MEMBER_SIZE // 65535)
    assert offsets[1] - offsets[0] == 10 + len(b"x.fits\0") + 5 * blocks + GZIP_MEMBER_SIZE + 8
    for index in range(packed.members):
        member = whole[offsets[index] : offsets[index + 1]]
        assert member[:3] == b"\x1f\x8b\x08"
        assert gzip.decompress(member) == inner.read(
            index * GZIP_MEMBER_SIZE, min(inner.size, (index + 1) * GZIP_MEMBER_SIZE)
        )
    assert whole[3] == 0x08 and whole[10:17] == b"x.fits\0"  # FNAME in the first member only
    assert struct.unpack("<I", whole[4:8])[0] == 1_700_000_000
    assert gzip.decompress(whole) == _all(inner)
    for start, end in [
        (0, 5),
        (17, 70000),
        (offsets[1] - 3, offsets[1] + 40),
        (packed.size - 8, packed.size),
    ]:
        assert packed.read(start, end) == whole[start:end]


def test_gzip_read_makes_only_the_members_it_overlaps():
    payload = np.random.default_rng(2).bytes(5 * GZIP_MEMBER_SIZE)
    asked = []

    class Counting(MaterialisedObject):
        def read(self, start, end):
            asked.append((start, end))
            return payload[start:end]

    packed = GzipObject("y.gz", Counting("y", lambda: payload, size=len(payload)))
    third = packed.member_offsets[2]
    assert (
        packed.read(third + 100, third + 200)
        == _all(GzipObject("y.gz", MaterialisedObject("y", lambda: payload)))[third + 100 : third + 200]
    )
    assert all(a >= 2 * GZIP_MEMBER_SIZE and b <= 3 * GZIP_MEMBER_SIZE for a, b in asked)
    assert sum(b - a for a, b in asked) <= 2 * 65535  # the stored blocks holding the range, not the member


def test_every_reader_decompresses_the_generated_fits_gz_as_the_fits(tmp_path):
    # The gzip layout (members of stored-deflate blocks) is the same at every image size; the whole
    # file is read four ways here, so a 1024-pixel image (a 16th of the full size's bytes) will do.
    side, images = 1024, {}
    archive = files.generated_archive(str(tmp_path / "cache"), side=side, images=images)
    with LocalS3Server(archive) as server:
        _decompressed_alike(server, archive, images, side)


def _decompressed_alike(server, archive, images, side):
    fs = s3fs.S3FileSystem(anon=True, endpoint_url=server.url, skip_instance_cache=True)
    plain = archive.get(IRSA, files.GENERATED_FITS)
    packed = archive.get(IRSA, files.GENERATED_GZ)
    raw = fs.cat_file(GZ_URI)
    assert len(raw) == packed.size
    expected = _all(plain)
    assert gzip.decompress(raw) == expected
    streamed, reader = [], gzip.GzipFile(fileobj=io.BytesIO(raw))
    while piece := reader.read(777_777):
        streamed.append(piece)
    assert b"".join(streamed) == expected
    with fs.open(GZ_URI, "rb", block_size=4 * 1024**2) as handle, gzip.GzipFile(fileobj=handle) as unpacked:
        assert unpacked.read(10 * BLOCK) == expected[: 10 * BLOCK]
    x0, y0, x1, y1 = 500, 600, 600, 700  # a 100 x 100 cut-out inside the smaller image
    for uri in (FITS_URI, GZ_URI):
        with fits.open(
            uri, use_fsspec=True, fsspec_kwargs={"anon": True, "endpoint_url": server.url}
        ) as hdus:
            assert hdus["SCI"].header["NAXIS1"] == side
            assert np.array_equal(hdus["SCI"].section[y0:y1, x0:x1], images["sci"].rows(y0, y1)[:, x0:x1])
            assert np.array_equal(
                hdus["DQ"].section[y0:y1, x0:x1], ((np.arange(y0, y1)[:, None] % 7 == 0) * np.ones(x1 - x0))
            )


# ------------------------------------------------------------------ ASDF


def test_lz4_literal_chunks_decode_with_lz4():
    for length in (0, 1, 14, 15, 16, 269, 270, 271, 100_000, LZ4_CHUNK):
        data = np.random.default_rng(length).bytes(length)
        chunk = lz4_literal_chunk_header(length) + data
        assert struct.unpack(">I", chunk[:4])[0] == len(chunk) - 4
        assert lz4.block.decompress(chunk[4:]) == data


def test_asdf_plain_tree_is_byte_identical_to_asdf_uncompressed():
    values = np.add.outer(np.arange(5000), np.arange(300)).astype("float32")
    small = np.arange(10, dtype="int64")
    big = np.arange(300_000, dtype="f8")
    tree = {"data": ArraySpec.from_array(values), "meta": {"name": "x", "small": small}, "big": big}
    made = AsdfObject("a/b.asdf", tree, compression=None)
    out = io.BytesIO()
    asdf.AsdfFile({"data": values, "meta": {"name": "x", "small": small}, "big": big}).write_to(
        out, all_array_compression=None, write_checksums=False
    )
    assert _all(made) == out.getvalue()


def test_asdf_lz4_tree_is_asdf_s_and_arrays_round_trip():
    values = np.add.outer(np.arange(5000), np.arange(300)).astype("float32")
    made = AsdfObject("a/c.asdf", {"data": ArraySpec.from_array(values)})
    out = io.BytesIO()
    asdf.AsdfFile({"data": values}).write_to(out, all_array_compression="lz4")
    assert out.getvalue().startswith(made.tree_bytes)
    with asdf.open(io.BytesIO(_all(made)), validate_checksums=True) as opened:
        assert np.array_equal(opened["data"], values)


def test_datamodel_tree_is_the_one_roman_datamodels_writes(tmp_path):
    from roman_helpers.sandbox.archive.asdf import sort_history

    shape = (64, 80)
    model = dm.ImageModel.create_fake_data(shape=shape)
    specs = {
        "data": ArraySpec("float32", shape, lambda a, b: np.add.outer(np.arange(a, b), np.arange(80)) * 1.5),
        "dq": ArraySpec("uint32", shape, lambda a, b: np.add.outer(np.arange(a, b), np.arange(80)) * 3),
        "err": ArraySpec("float16", shape, lambda a, b: np.add.outer(np.arange(a, b), np.arange(80)) * 0.01),
    }
    name = "r0003201001001001004_0001_wfi01_f158_cal.asdf"
    made = AsdfObject(f"roman/{name}", model, specs, file_date="2026-09-14T05:12:00.000")
    real = model.copy()
    for attribute, spec in specs.items():
        setattr(real, attribute, spec.materialise())
    real.save(tmp_path / name)
    saved = (tmp_path / name).read_bytes()
    tree = sort_history(saved[: saved.index(b"\n...\n") + 5])
    stamp = rb"(file_date: [^\n]*?value: ')[^']*(')"
    assert re.sub(stamp, rb"\g<1>2026-09-14T05:12:00.000\2", tree) == made.tree_bytes
    assert model.data.shape == shape  # the model given is not changed
    with rdm.open(io.BytesIO(_all(made))) as opened:
        assert opened.meta.filename == name and opened.meta.file_date.isot == "2026-09-14T05:12:00.000"
        for attribute, spec in specs.items():
            assert np.array_equal(getattr(opened, attribute), spec.materialise())


def test_full_size_cal_asdf_reads_exactly_through_s3fs(generated, fs):
    server, archive, images = generated
    made = archive.get("stpubdata", files.GENERATED_CAL)
    tree_end = len(made.item.tree_bytes)
    mark = len(server.stats.records)
    with (
        fs.open(CAL_URI, "rb", block_size=256 * 1024, cache_type="bytes") as handle,
        rdm.open(handle) as model,
    ):
        assert model.meta.filename == files.GENERATED_CAL.rsplit("/", 1)[1]
        assert model.data.shape == (SIDE, SIDE) and model.err.dtype == np.float16
        meta_bytes = server.stats.since(mark).bytes_sent
        data = np.asarray(model.data)
        err = np.asarray(model.err)
    assert meta_bytes < 2 * tree_end + 2 * 256 * 1024  # the tree and the index, not the arrays
    assert np.array_equal(data, images["cal_data"].rows(0, SIDE))
    assert np.array_equal(err, images["cal_err"].rows(0, SIDE).astype(np.float16))
    with fs.open(CAL_URI, "rb") as handle, asdf.open(handle, validate_checksums=True) as opened:
        assert opened["roman"]["dq"].shape == (SIDE, SIDE)
        assert not np.any(opened["roman"]["dq"])
    for offset in made.item.block_offsets:  # no checksum claimed: 16 zero bytes, as the standard allows
        header = made.read(offset, offset + 54)
        assert header[:4] == b"\xd3BLK" and header[6:10] == b"\0\0\0\0" and header[10:14] == b"lz4\0"
        assert header[38:54] == bytes(16)


def test_a_range_inside_an_asdf_block_makes_only_its_rows(generated):
    images: dict = {}
    model, arrays = files.generated_cal(SIDE, images)
    made = AsdfObject("r/x_cal.asdf", model, arrays, file_date="2026-09-14T05:12:00.000")
    first_block = made.block_offsets[0]
    assert images["cal_data"].calls == []
    chunk = 5  # the sixth lz4 chunk of the data block: rows 1282..1539 of 4088
    start = first_block + 54 + chunk * (LZ4_CHUNK + len(lz4_literal_chunk_header(LZ4_CHUNK)))
    piece = made.read(start, start + len(lz4_literal_chunk_header(LZ4_CHUNK)) + 1000)
    assert piece[: len(lz4_literal_chunk_header(LZ4_CHUNK))] == lz4_literal_chunk_header(LZ4_CHUNK)
    assert images["cal_data"].rows_made == {chunk * LZ4_CHUNK // (SIDE * 4)}


def test_kit_reads_metadata_and_a_cutout_of_the_generated_asdf(kit_env):
    x0, y0, x1, y1 = BOX
    meta = stream.read_metadata(CAL_URI)
    assert meta["filename"] == files.GENERATED_CAL.rsplit("/", 1)[1]
    cut = stream.cutout(CAL_URI, box=BOX)
    assert np.array_equal(cut.data, kit_env[2]["cal_data"].rows(y0, y1)[:, x0:x1])


# ------------------------------------------------------------------ tables


def test_parquet_and_ecsv_read_through_s3fs(generated, fs):
    parquet = f"{IRSA}/{files.GENERATED_PARQUET}"
    schema = pq.read_schema(parquet, filesystem=fs)
    assert schema.names == ["galaxy_id", "ra", "dec"]
    table = pq.read_table(parquet, filesystem=fs)
    assert table.num_rows == 5000 and table.column("galaxy_id").to_pylist() == list(range(5000))
    with fs.open(f"{IRSA}/{files.GENERATED_ECSV}", "rt") as handle:
        truth = Table.read(handle.read(), format="ascii.ecsv")
    assert list(truth["mag"]) == [21.0, 22.5, 23.1]


def test_table_objects_with_a_size_in_advance_are_listed_without_being_built():
    built = []
    table = pa.table({"x": [1, 2, 3]})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    size = len(sink.getvalue())
    item = parquet_object("t.parquet", lambda: built.append(1) or table, size=size)
    assert (item.size, built) == (size, [])
    assert _all(item) == sink.getvalue() and built == [1]
    assert ecsv_object("t.ecsv", lambda: Table({"a": [1]})).read(0, 14) == b"# %ECSV 1.0\n# "
    assert _all(text_object("t.txt", lambda: "héllo")) == "héllo".encode()


# ------------------------------------------------------------------ the cache


def _counting(size: int, made: list) -> MaterialisedObject:
    payload = np.random.default_rng(size).bytes(size)

    class Counting(MaterialisedObject):
        def read(self, start, end):
            made.append((start, end))
            return payload[start:end]

    return Counting("c", lambda: payload, size=size)


def test_cache_keeps_chunks_on_disk_and_in_memory(tmp_path):
    made: list = []
    item = _counting(10_000, made)
    cache = ChunkCache(tmp_path, budget=1_000_000, chunk_size=1000)
    cached = cache.wrap(item, "b/k@1")
    assert cached.read(1500, 3500) == item.content()[1500:3500]
    assert made == [(1000, 2000), (2000, 3000), (3000, 4000)]
    cached.read(1900, 2100)
    assert len(made) == 3 and cache.stats["memory"] == 2
    fresh = ChunkCache(tmp_path, budget=1_000_000, chunk_size=1000)  # another process, in effect
    assert fresh.wrap(item, "b/k@1").read(2000, 2500) == item.content()[2000:2500]
    assert (len(made), fresh.stats["disk"]) == (3, 1)
    assert fresh.wrap(item, "b/k@2").read(2000, 2500) and len(made) == 4  # a new version is new bytes
    assert sorted(p.name for p in (tmp_path / "chunks").rglob("*.chunk")) == [
        "00000001.chunk",
        "00000002.chunk",
        "00000002.chunk",
        "00000003.chunk",
    ]
    assert not list((tmp_path / "chunks").rglob("*.tmp"))


def test_cache_budget_evicts_the_least_recently_used(tmp_path):
    made: list = []
    item = _counting(20_000, made)
    cache = ChunkCache(tmp_path, budget=5000, chunk_size=1000, memory=0)
    cached = cache.wrap(item, "b/k@1")
    for index in range(5):  # chunks 0..4: the budget, full
        cached.read(index * 1000, index * 1000 + 10)
    cached.read(0, 10)  # chunk 0 used again: now the most recent
    assert cache.stats["evicted"] == 0 and cache.usage() == 5000
    cached.read(5000, 5010)  # chunk 5: over budget, so down to 80 %: the two least recently used go
    kept = sorted(int(p.stem) for p in (tmp_path / "chunks").rglob("*.chunk"))
    assert kept == [0, 3, 4, 5] and cache.stats["evicted"] == 2 and cache.usage() <= 4000
    before = len(made)
    cached.read(1000, 1010)  # evicted: made again
    assert len(made) == before + 1


def test_cache_makes_a_chunk_once_for_many_threads(tmp_path):
    made: list = []
    item = _counting(4000, made)
    cached = ChunkCache(tmp_path, budget=10**6, chunk_size=4000).wrap(item, "b/k@1")
    results = []
    threads = [threading.Thread(target=lambda: results.append(cached.read(0, 4000))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made == [(0, 4000)] and len(set(results)) == 1


def test_cache_remembers_sizes_for_the_next_process(tmp_path):
    built: list = []
    cache = ChunkCache(tmp_path, budget=10**6)
    assert cache.wrap(MaterialisedObject("s", lambda: built.append(1) or b"12345"), "b/s@1").size == 5
    again = ChunkCache(tmp_path, budget=10**6).wrap(
        MaterialisedObject("s", lambda: built.append(2) or b"12345"), "b/s@1"
    )
    assert again.size == 5 and built == [1]
    assert again.etag == MaterialisedObject("s", lambda: b"12345").etag  # the ETag needs no build either


def test_cache_budget_from_the_environment(monkeypatch):
    monkeypatch.setenv("ROMAN_HELPERS_SANDBOX_CACHE_BUDGET", "500M")
    assert default_budget() == 500 * 1024**2
    monkeypatch.setenv("ROMAN_HELPERS_SANDBOX_CACHE_BUDGET", "lots")
    with pytest.raises(ValueError, match="give bytes, or a number with K, M or G"):
        default_budget()


def test_two_processes_sharing_a_cache_see_whole_chunks(tmp_path):
    script = (
        "import sys; sys.path.insert(0, {bench!r});"
        "import files, hashlib;"
        "a = files.generated_archive({cache!r}, side=1024);"
        "o = a.get('nasa-irsa-simulations', files.GENERATED_GZ);"
        "print(hashlib.sha256(o.read(0, o.size)).hexdigest())"
    ).format(bench=str(ROOT / "bench"), cache=str(tmp_path))
    children = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    digests = {child.communicate(timeout=300)[0].strip() for child in children}
    assert len(digests) == 1 and all(len(d) == 64 for d in digests)
    assert not list((tmp_path / "chunks").rglob("*.tmp"))
    single = files.generated_archive(str(tmp_path / "alone"), side=1024).get(IRSA, files.GENERATED_GZ)
    assert hashlib.sha256(_all(single)).hexdigest() in digests


# ------------------------------------------------------------------ determinism, across processes


def test_two_independent_generations_are_byte_identical(tmp_path):
    """Two S3 server processes, each with an empty cache, serve the same bytes for every object."""
    digests = []
    for run in range(2):
        spec = ArchiveSpec(
            "files:generated_archive", {"cache_dir": str(tmp_path / f"cache{run}"), "side": 1024}
        )
        with S3Server(spec) as server:
            fs = s3fs.S3FileSystem(anon=True, endpoint_url=server.url, skip_instance_cache=True)
            listed = sorted(fs.find(IRSA) + fs.find("stpubdata"))
            digests.append({path: hashlib.sha256(fs.cat_file(path)).hexdigest() for path in listed})
            assert server.objects == 5
    assert digests[0] == digests[1] and len(digests[0]) == 5
    json.dumps(digests)  # plain strings only


def test_zlib_reads_members_one_after_another():
    """What astropy's and Python's gzip readers do: a new decompressor per member."""
    inner = MaterialisedObject("z", lambda: b"0123456789" * 250_000)
    data = _all(GzipObject("z.gz", inner))
    out, rest = [], data
    while rest:
        unpacker = zlib.decompressobj(wbits=31)
        out.append(unpacker.decompress(rest))
        rest = unpacker.unused_data
    assert b"".join(out) == _all(inner) and len(out) == 3
