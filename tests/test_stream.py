"""roman_helpers.stream against the sandbox S3 server: correct pixels, and the bytes it costs.

Every read is counted twice: in the client (roman_helpers.transfer.measure) and by the
server (S3Server.stats); both must agree and meet issue 6's targets.
"""

from __future__ import annotations

import io
import itertools
import re
import zlib

import asdf
import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import Cutout2D
from astropy.wcs import WCS

from roman_helpers import stream, transfer
from roman_helpers.errors import (
    AccessDeniedError,
    InvalidParameterError,
    InvalidURIError,
    ObjectNotFoundError,
)

KIB = 1024


def counted(env, call):
    """Run ``call``; return its result, the client's stats and the server's stats."""
    mark = env.mark()
    with transfer.measure() as client:
        result = call()
    server = env.counted(mark)
    assert (client.requests, client.bytes) == (server.requests, server.bytes_sent)
    return result, server


def assert_no_byte_fetched_twice(server) -> None:
    """The ranged GETs in ``server``'s records do not overlap."""
    spans = sorted(
        tuple(int(n) for n in record.range.split("=")[1].split("-"))
        for record in server.records
        if record.range
    )
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start > end


def asdf_tree_and_index_bytes(path) -> int:
    raw = path.read_bytes()
    tree = raw.find(b"\n...\n") + 5
    index = len(raw) - raw.rfind(b"#ASDF BLOCK INDEX")
    return tree + index


def gzip_prefix_for(path, decompressed_end: int) -> int:
    """Compressed bytes needed before ``decompressed_end`` bytes come out of the stream."""
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    raw, produced, consumed = path.read_bytes(), 0, 0
    while produced < decompressed_end:
        piece = raw[consumed : consumed + 1024]
        produced += len(decoder.decompress(piece))
        consumed += len(piece)
    return consumed


# ------------------------------------------------------------------ FITS headers


def test_read_header_of_drz_fetches_under_64_kib(s3env):
    header, server = counted(s3env, lambda: stream.read_header(s3env.uri["drz"]))
    assert header["TELESCOP"] == "HST" and header["PROPOSID"] == 11360
    assert server.bytes_sent <= 64 * KIB < s3env.local["drz"].stat().st_size / 100
    assert not any(record.authorized for record in server.records)  # public: unsigned


def test_read_header_by_extension_name(s3env):
    header, server = counted(s3env, lambda: stream.read_header(s3env.uri["drz"], "SCI"))
    assert header == fits.getheader(s3env.local["drz"], "SCI")
    assert server.bytes_sent <= 64 * KIB


def test_read_header_of_fits_gz_decompresses_only_up_to_the_header(s3env):
    import gzip

    header, server = counted(s3env, lambda: stream.read_header(s3env.uri["gz"], "SCI"))
    with gzip.open(s3env.local["gz"]) as local:
        assert header == fits.getheader(local, "SCI")
    assert server.bytes_sent <= 64 * KIB < s3env.local["gz"].stat().st_size / 10


def test_read_header_of_a_missing_extension_lists_the_hdus(s3env):
    with pytest.raises(InvalidParameterError, match="PRIMARY, SCI, WHT, CTX, HDRTAB"):
        stream.read_header(s3env.uri["drz"], "ERR")


def test_info_of_drz_lists_every_hdu_under_64_kib(s3env):
    summary, server = counted(s3env, lambda: stream.info(s3env.uri["drz"]))
    for name in ("PRIMARY", "SCI", "WHT", "CTX", "HDRTAB"):
        assert name in summary
    assert s3env.uri["drz"] in summary
    assert server.bytes_sent <= 64 * KIB


def test_header_of_4088_wide_fits_under_64_kib(s3env):
    header, server = counted(s3env, lambda: stream.read_header(s3env.uri["fits"], 1))
    assert header["NAXIS1"] == 4088
    assert server.bytes_sent <= 64 * KIB


def test_read_metadata_of_fits_is_primary_header(s3env):
    metadata = stream.read_metadata(s3env.uri["drz"])
    assert metadata["INSTRUME"] == "WFC3" and metadata["FILTER"] == "F160W"


# ------------------------------------------------------------------ FITS cut-outs


def test_box_cutout_fetches_only_the_rows_concurrently(s3env):
    box = (1000, 50, 1100, 150)  # x0, y0, x1, y1
    cut, server = counted(s3env, lambda: stream.cutout(s3env.uri["fits"], box=box))
    expected = fits.getdata(s3env.local["fits"], "SCI")[50:150, 1000:1100]
    np.testing.assert_array_equal(cut.data, expected)
    assert cut.bbox_original == ((50, 149), (1000, 1099))
    # one GET for the headers (no HEAD), then one GET per row sent together
    assert server.requests == 1 + 100
    assert sum(1 for record in server.records if record.method == "HEAD") == 0
    assert server.bytes_sent <= 100_000


def test_full_width_rows_are_merged_into_one_range(s3env):
    cut, server = counted(s3env, lambda: stream.cutout(s3env.uri["fits"], box=(0, 10, 4088, 30)))
    np.testing.assert_array_equal(cut.data, fits.getdata(s3env.local["fits"], 1)[10:30])
    assert server.requests == 2
    assert server.bytes_sent <= 20 * 4088 * 4 + 8 * KIB


def test_sky_cutout_matches_astropy_on_the_local_file(s3env):
    with fits.open(s3env.local["fits"]) as hdul:
        data, wcs = hdul["SCI"].data, WCS(hdul["SCI"].header)
        centre = wcs.pixel_to_world(2100.3, 80.6)
        expected = Cutout2D(data, centre, 6 * u.arcsec, wcs=wcs, mode="trim")
        cut = stream.cutout(s3env.uri["fits"], position=centre, size=6 * u.arcsec)
        np.testing.assert_array_equal(cut.data, expected.data)
        assert cut.slices_original == expected.slices_original
        assert cut.wcs.pixel_to_world(0, 0).separation(expected.wcs.pixel_to_world(0, 0)) < 1e-6 * u.deg


def test_gzip_cutout_reads_forward_once_and_stops_after_the_rows(s3env):
    path = s3env.local["gz"]
    cut, server = counted(s3env, lambda: stream.cutout(s3env.uri["gz"], box=(100, 20, 200, 60)))
    with fits.open(path) as hdul:
        np.testing.assert_array_equal(cut.data, hdul["SCI"].data[20:60, 100:200])
        data_start = hdul.fileinfo(1)["datLoc"]
    assert_no_byte_fetched_twice(server)
    needed = gzip_prefix_for(path, data_start + 60 * 4088 * 4)
    assert server.bytes_sent <= needed + stream.GZIP_BLOCK
    assert server.bytes_sent < path.stat().st_size


# ------------------------------------------------------------------ ASDF


def test_read_metadata_of_asdf_reads_only_the_tree(s3env):
    metadata, server = counted(s3env, lambda: stream.read_metadata(s3env.uri["asdf"]))
    with asdf.open(s3env.local["asdf"]) as af:
        local = af.tree["roman"]["meta"]
        assert metadata["instrument"]["detector"] == local["instrument"]["detector"]
        assert metadata["exposure"]["start_time"] == local["exposure"]["start_time"]
    assert server.bytes_sent <= 1.2 * asdf_tree_and_index_bytes(s3env.local["asdf"])


def test_info_of_asdf_shows_the_tree(s3env):
    summary, server = counted(s3env, lambda: stream.info(s3env.uri["asdf"]))
    assert "roman" in summary and "data" in summary
    assert server.bytes_sent <= 1.2 * asdf_tree_and_index_bytes(s3env.local["asdf"])


@pytest.mark.parametrize("rows", [(10, 110), (500, 600)])
def test_asdf_cutout_fetches_only_the_lz4_chunks_holding_the_rows(s3env, rows):
    y0, y1 = rows
    cut, server = counted(s3env, lambda: stream.cutout(s3env.uri["asdf"], box=(1000, y0, 1100, y1)))
    with asdf.open(s3env.local["asdf"], lazy_load=False) as af:
        np.testing.assert_array_equal(cut.data, af.tree["roman"]["data"][y0:y1, 1000:1100])
        block = af._blocks.blocks[0].header  # the compressed size of roman.data's block
    assert block["compression"].rstrip(b"\0") == b"lz4"
    # 4 MiB chunks are 256.5 rows of 4088 float32: one chunk for rows 10-110, two for 500-600
    chunks = 1 if y1 <= 256 else 2
    assert server.bytes_sent <= chunks * (block["used_size"] / 4) * 1.1 + 64 * KIB
    assert server.bytes_sent <= 9_000_000


def test_asdf_sky_cutout_uses_the_gwcs(s3env):
    with asdf.open(s3env.local["asdf"], lazy_load=False) as af:
        wcs = af.tree["roman"]["meta"]["wcs"]
        full = np.array(af.tree["roman"]["data"])
    centre = wcs.pixel_to_world(2000, 300)
    cut = stream.cutout(s3env.uri["asdf"], position=centre, size=(40, 60))
    assert cut.data.shape == (40, 60)
    np.testing.assert_array_equal(cut.data, full[cut.slices_original])
    y0, x0 = (s.start for s in cut.slices_original)
    corner = cut.wcs.pixel_to_world(0, 0)
    assert corner.separation(wcs.pixel_to_world(x0, y0)) < 1e-3 * u.arcsec


def test_asdf_angular_size_becomes_pixels(s3env):
    with asdf.open(s3env.local["asdf"]) as af:
        wcs = af.tree["roman"]["meta"]["wcs"]
    centre = wcs.pixel_to_world(2000, 300)
    scale = centre.separation(wcs.pixel_to_world(2001, 300))
    cut = stream.cutout(s3env.uri["asdf"], position=centre, size=30 * scale)
    assert cut.data.shape == (30, 30)


def test_open_datamodel_is_lazy(s3env):
    def read_detector():
        with stream.open_datamodel(s3env.uri["asdf"]) as model:
            return str(model.meta.instrument.detector), model.data.shape

    (detector, shape), server = counted(s3env, read_detector)
    assert detector.startswith("WFI") and shape == (1024, 4088)
    assert server.bytes_sent < s3env.local["asdf"].stat().st_size / 10


def test_open_asdf_reads_a_block_only_when_used(s3env):
    def read_dq_corner():
        with stream.open_asdf(s3env.uri["asdf"]) as af:
            return np.asarray(af.tree["roman"]["dq"])[0, 0]

    value, server = counted(s3env, read_dq_corner)
    with asdf.open(s3env.local["asdf"]) as af:
        assert value == af.tree["roman"]["dq"][0, 0]
    assert server.bytes_sent < s3env.local["asdf"].stat().st_size / 2


# ------------------------------------------------------------------ errors and access


def test_private_bucket_is_read_with_credentials(s3env):
    header, server = counted(s3env, lambda: stream.read_header(s3env.uri["private_fits"], 1))
    assert header["EXTNAME"] == "SCI"
    assert all(record.authorized for record in server.records)


def test_private_bucket_read_anonymously_is_refused(s3env):
    with pytest.raises(AccessDeniedError, match="anon=False"):
        stream.read_header(s3env.uri["private_fits"], anon=True)


def test_missing_object_names_the_uri(s3env):
    missing = "s3://stpubdata/hst/public/nope/nope_drz.fits"
    with pytest.raises(ObjectNotFoundError, match=re.escape("nope_drz.fits")):
        stream.read_header(missing)
    with pytest.raises(ObjectNotFoundError, match=re.escape("nope_drz.fits")):
        stream.cutout(missing, box=(0, 0, 10, 10))


@pytest.mark.parametrize("box", [(0, 0, 5000, 10), (10, 0, 5, 10), (0, -1, 10, 10), (1, 2, 3)])
def test_box_outside_the_image_is_refused(s3env, box):
    with pytest.raises(InvalidParameterError, match="box"):
        stream.cutout(s3env.uri["fits"], box=box)


def test_box_and_position_together_are_refused(s3env):
    with pytest.raises(
        InvalidParameterError, match=r"either box= or a centre \(position= or pixel=\) and size="
    ):
        stream.cutout(s3env.uri["fits"], box=(0, 0, 10, 10), pixel=(5, 5), size=3)


def test_unknown_extension_lists_the_valid_ones(s3env):
    with pytest.raises(InvalidParameterError, match="SCI"):
        stream.read_header(s3env.uri["drz"], "NOPE")


def test_not_an_s3_uri():
    with pytest.raises(InvalidURIError):
        stream.read_header("/tmp/file.fits")
    with pytest.raises(InvalidParameterError, match=re.escape(".asdf")):
        stream.cutout("s3://stpubdata/file.txt", box=(0, 0, 1, 1))


# ------------------------------------------------------------------ ERR, DQ and the WCS of cut-outs


def _local_asdf(env):
    with asdf.open(env.local["asdf"], lazy_load=False) as af:
        roman = af.tree["roman"]
        arrays = {name: np.array(roman[name]) for name in ("data", "err", "dq")}
        return arrays, roman["meta"]["wcs"], {i: block.header for i, block in enumerate(af._blocks.blocks)}


@pytest.mark.parametrize("ext", ["err", "dq", "data"])
def test_asdf_cutout_of_another_array(s3env, ext):
    arrays, _wcs, _blocks = _local_asdf(s3env)
    box = (1000, 500, 1100, 600)
    cut, server = counted(s3env, lambda: stream.cutout(s3env.uri["asdf"], box=box, ext=ext))
    np.testing.assert_array_equal(cut.data, arrays[ext][500:600, 1000:1100])
    assert cut.data.dtype == arrays[ext].dtype
    assert server.bytes_sent <= 9_000_000


def test_cutouts_of_asdf_fetch_data_err_and_dq_with_one_tree_read(s3env):
    arrays, _wcs, blocks = _local_asdf(s3env)
    box = (1000, 10, 1100, 110)
    _one, alone = counted(s3env, lambda: stream.cutout(s3env.uri["asdf"], box=box))
    cuts, server = counted(s3env, lambda: stream.cutouts(s3env.uri["asdf"], box=box))
    assert list(cuts) == ["data", "err", "dq"]
    for name, cut in cuts.items():
        np.testing.assert_array_equal(cut.data, arrays[name][10:110, 1000:1100])
        assert cut.bbox_original == ((10, 109), (1000, 1099))
    with asdf.open(s3env.local["asdf"]) as af:
        sources = {name: af.tree["roman"][name]._source for name in ("err", "dq")}
    extra = sum(blocks[source]["used_size"] for source in sources.values())
    # the data cut-out as alone, plus at most the whole (small, compressed) err and dq blocks, and headers
    assert server.bytes_sent <= alone.bytes_sent + extra + 2 * 1024
    assert server.requests <= alone.requests + 2 * 3


def test_cutouts_of_fits_fetch_sci_and_err_rows_in_one_batch(s3env):
    cuts, server = counted(s3env, lambda: stream.cutouts(s3env.uri["fits"], box=(1000, 50, 1100, 150)))
    assert list(cuts) == ["SCI", "ERR"]  # the file has no DQ
    for name, cut in cuts.items():
        np.testing.assert_array_equal(cut.data, fits.getdata(s3env.local["fits"], name)[50:150, 1000:1100])
    # headers: the first GET, the ERR header, one read past the end (no more HDUs); then 2 x 100 rows
    assert server.requests == 3 + 2 * 100
    assert server.bytes_sent <= 2 * 100 * 100 * 4 + 3 * 8 * KIB


def test_cutouts_of_fits_gz_read_the_stream_forward_once(s3env):
    cuts, server = counted(s3env, lambda: stream.cutouts(s3env.uri["gz"], box=(100, 20, 200, 60)))
    assert list(cuts) == ["SCI", "ERR", "DQ"]
    with fits.open(s3env.local["gz"]) as hdul:
        for name, cut in cuts.items():
            np.testing.assert_array_equal(cut.data, hdul[name].data[20:60, 100:200])
    assert_no_byte_fetched_twice(server)
    assert server.bytes_sent <= s3env.local["gz"].stat().st_size


def test_asdf_angular_size_of_two_sides(s3env):
    _arrays, wcs, _blocks = _local_asdf(s3env)
    scales = [p.factor.value for p in wcs.forward_transform if type(p).__name__ == "Scale"]
    pixel_arcsec = scales[0] * 3600  # the fake file's gnomonic scale, the same on both axes
    centre = wcs.pixel_to_world(2000.3, 500.2)  # away from half pixels, where rounding the text could tip
    cut = stream.cutout(s3env.uri["asdf"], position=centre, size=(20 * u.arcsec, 30 * u.arcsec))
    assert cut.data.shape == (round(20 / pixel_arcsec), round(30 / pixel_arcsec))  # (ny, nx)
    text = stream.cutout(
        s3env.uri["asdf"], position=centre.to_string("hmsdms", precision=4), size="20arcsec,30arcsec"
    )
    assert text.slices_original == cut.slices_original


def test_fits_angular_size_of_two_sides_matches_cutout2d(s3env):
    with fits.open(s3env.local["fits"]) as hdul:
        data, wcs = hdul["SCI"].data, WCS(hdul["SCI"].header)
        centre = wcs.pixel_to_world(2100.3, 80.6)
        expected = Cutout2D(data, centre, (5 * u.arcsec, 9 * u.arcsec), wcs=wcs, mode="trim")
        cut = stream.cutout(s3env.uri["fits"], position=centre, size=(5 * u.arcsec, 9 * u.arcsec))
        np.testing.assert_array_equal(cut.data, expected.data)


def test_asdf_cutout_wcs_is_the_files_gwcs_shifted(s3env):
    _arrays, wcs, _blocks = _local_asdf(s3env)
    cut = stream.cutout(s3env.uri["asdf"], box=(1000, 500, 1100, 600))
    x, y = np.array([0, 99, 50.5]), np.array([0, 99, 20.25])
    exact = wcs.pixel_to_world(x + 1000, y + 500)
    assert np.max(cut.wcs.pixel_to_world(x, y).separation(exact)) < 1e-9 * u.arcsec


def test_stamps_of_a_roman_file_make_each_gwcs_when_read_exact(s3env, monkeypatch):
    """A stamp's gwcs takes milliseconds to make: made when first read, one for its arrays, exact;
    the pixel each stamp was placed at is the one its own gwcs gives, to the last bit."""
    import pickle

    from roman_helpers import _wcs

    _arrays, wcs, _blocks = _local_asdf(s3env)
    made = []
    shifted = _wcs.shifted
    monkeypatch.setattr(_wcs, "shifted", lambda *args: made.append(args[1:3]) or shifted(*args))
    xs, ys = np.array([300.5, 1500.0, 3000.75]), np.array([200.25, 700.0, 900.5])
    positions = wcs.pixel_to_world(xs, ys)
    stamps = stream.stamps(s3env.uri["asdf"], positions, 31, arrays=[None, "err"])
    assert made == []  # placed, cut, and no gwcs made
    moved = pickle.loads(pickle.dumps(stamps[2]["data"]))  # as a Dask worker sends it back
    assert made == []
    for n, (position, stamp) in enumerate(zip(positions, stamps, strict=True)):
        data, err = stamp["data"], stamp["err"]
        x0, y0 = data.origin_original
        assert data.wcs is err.wcs and made[n:] == [(x0, y0)]  # one gwcs for the arrays of a stamp
        assert data.input_position_cutout == _wcs.world_to_pixel(data.wcs, position)
        x, y = np.array([0, 30, 15.5]), np.array([0, 30, 7.25])
        exact = wcs.pixel_to_world(x + x0, y + y0)
        assert np.max(data.wcs.pixel_to_world(x, y).separation(exact)) < 1e-9 * u.arcsec
    assert len(made) == len(stamps)
    assert moved.wcs.pixel_to_world(15, 15) == stamps[2]["data"].wcs.pixel_to_world(15, 15)
    assert len(made) == len(stamps) + 1
    data.wcs = None  # set as a Cutout2D's is
    assert data.wcs is None and err.wcs is not None


def test_info_shows_the_footprint_of_a_fits_file(s3env):
    summary = stream.info(s3env.uri["drz"])
    with fits.open(s3env.local["drz"]) as hdul:
        wcs, (ny, nx) = WCS(hdul["SCI"].header), hdul["SCI"].data.shape
    assert f"Sky footprint of SCI ({nx} x {ny} pixels, x by y)" in summary
    for x, y in [((nx - 1) / 2, (ny - 1) / 2), (0, 0), (nx - 1, 0), (nx - 1, ny - 1), (0, ny - 1)]:
        coord = wcs.pixel_to_world(x, y).icrs
        assert f"RA, Dec = {coord.ra.deg:11.6f} {coord.dec.deg:+11.6f} deg" in summary


def test_info_shows_the_footprint_of_a_roman_file(s3env):
    _arrays, wcs, _blocks = _local_asdf(s3env)
    summary, server = counted(s3env, lambda: stream.info(s3env.uri["asdf"]))
    assert "Sky footprint of data (4088 x 1024 pixels, x by y)" in summary
    for x, y in [(2043.5, 511.5), (0, 0), (4087, 0), (4087, 1023), (0, 1023)]:
        coord = wcs.pixel_to_world(x, y).icrs
        assert f"RA, Dec = {coord.ra.deg:11.6f} {coord.dec.deg:+11.6f} deg" in summary
    assert server.bytes_sent <= 1.2 * asdf_tree_and_index_bytes(s3env.local["asdf"])


def test_cli_cutout_of_a_roman_file_keeps_err_dq_and_a_measured_wcs(s3env, tmp_path, capsys):
    from roman_helpers import cli

    arrays, wcs, _blocks = _local_asdf(s3env)
    out = tmp_path / "roman.fits"
    assert cli.main(["cutout", s3env.uri["asdf"], "--box", "1000", "500", "1100", "560", "-o", str(out)]) == 0
    assert "SCI, ERR, DQ, 60 x 100 pixels (ny x nx)" in capsys.readouterr().out
    with fits.open(out) as hdul:
        assert [hdu.name for hdu in hdul] == ["PRIMARY", "SCI", "ERR", "DQ"]
        for extname, name in (("SCI", "data"), ("ERR", "err"), ("DQ", "dq")):
            np.testing.assert_array_equal(hdul[extname].data, arrays[name][500:560, 1000:1100])
        header = hdul["SCI"].header
        assert header["SIPMXERR"] < 0.01 and "largest deviation from the gwcs" in " ".join(header["COMMENT"])
        sip = WCS(header)
    rng = np.random.default_rng(7)
    x, y = rng.uniform(-0.5, 99.5, 200), rng.uniform(-0.5, 59.5, 200)
    pixel = wcs.pixel_to_world(1000, 500).separation(wcs.pixel_to_world(1001, 500))
    assert np.max(sip.pixel_to_world(x, y).separation(wcs.pixel_to_world(x + 1000, y + 500)) / pixel) < 0.01
    single = tmp_path / "err.fits"
    assert (
        cli.main(
            ["cutout", s3env.uri["asdf"], "--box", "0", "0", "10", "10", "--ext", "err", "-o", str(single)]
        )
        == 0
    )
    with fits.open(single) as hdul:
        assert [hdu.name for hdu in hdul] == ["PRIMARY", "ERR"]
        np.testing.assert_array_equal(hdul["ERR"].data, arrays["err"][:10, :10].astype(np.float32))


def test_a_small_asdf_file_is_cut_out_with_one_request(buckets, s3_client):
    """The first read of a cut-out (128 KiB) holds all of a small file: the block index at its end,
    the block headers and the lz4 chunks are answered from those bytes, not fetched again."""
    import gwcs  # noqa: F401 - the tree's WCS is a gwcs
    from files import tan_gwcs  # bench/files.py

    from tests.conftest import put_object

    image = np.arange(60 * 80, dtype=np.float32).reshape(60, 80)
    buffer = io.BytesIO()
    tree = {"roman": {"meta": {"wcs": tan_gwcs(image.shape, 10.0, -44.0, 0.1 / 3600)}, "data": image}}
    asdf.AsdfFile(tree).write_to(buffer, all_array_compression="lz4")
    body = buffer.getvalue()
    assert len(body) < 128 * KIB and b"#ASDF BLOCK INDEX" in body
    put_object(s3_client, "stpubdata", "small/image_cal.asdf", body)
    with transfer.measure() as stats:
        cut = stream.cutout("s3://stpubdata/small/image_cal.asdf", box=(10, 20, 30, 25))
    np.testing.assert_array_equal(cut.data, image[20:25, 10:30])
    assert stats.by_operation() == {"GetObject": 1}
    assert stats.bytes == len(body)


def test_a_sky_cut_out_of_a_plain_asdf_file_whose_gwcs_keeps_arrays_in_blocks(buckets, s3_client):
    """asdf itself (not roman_datamodels) writes a gwcs's polynomial coefficients to binary blocks,
    after the image's: the cut-out reads them as the index does, and lands where the gwcs says."""
    from astropy.coordinates import SkyCoord
    from astropy.modeling import models
    from files import tan_gwcs  # bench/files.py
    from gwcs import wcs as gwcs_module

    from roman_helpers import footprints
    from tests.conftest import put_object

    shape = (60, 80)
    image = np.arange(shape[0] * shape[1], dtype=np.float32).reshape(shape)
    tan = tan_gwcs(shape, 10.0, -44.0, 0.1 / 3600)
    distortion = models.Polynomial2D(2, c1_0=1.0, c2_0=2e-3, c0_2=-1e-3) & models.Polynomial2D(
        2, c0_1=1.0, c1_1=1e-3
    )
    warped = gwcs_module.WCS(
        [
            (tan.input_frame, models.Mapping((0, 1, 0, 1)) | distortion | tan.forward_transform),
            (tan.output_frame, None),
        ]
    )
    warped.bounding_box = tan.bounding_box
    buffer = io.BytesIO()
    asdf.AsdfFile({"roman": {"meta": {"wcs": warped}, "data": image}}).write_to(
        buffer, all_array_compression="lz4"
    )
    body = buffer.getvalue()
    tree = body[: body.index(b"\n...\n")]
    assert tree.count(b"!core/ndarray") >= 3  # the image's and the polynomials' coefficients, as blocks
    put_object(s3_client, "stpubdata", "plain/warped.asdf", body)
    uri = "s3://stpubdata/plain/warped.asdf"

    x, y = 52.0, 21.0
    target = SkyCoord(*warped(x, y), unit="deg")  # the file's own gwcs, evaluated here
    cut = stream.cutout(uri, position=target, size=(7, 9))
    assert cut.bbox_original == ((18, 24), (48, 56))
    np.testing.assert_array_equal(cut.data, image[18:25, 48:57])
    found = footprints.find(footprints.build_index([uri]), target)
    assert list(found["uri"]) == [uri]
    assert abs(found["x"][0] - x) < 0.05 and abs(found["y"][0] - y) < 0.05
