"""stream's errors: damaged files, and every mistake a user can make with a cut-out, in Python and
as the command line words it.

Damaged and wrong files: every stream call ends in one clear error of ours that names the file.

Mistakes with a cut-out:
For each case the command line prints exactly one line, ``error: ...`` (no traceback), and
exits with 2 when the options cannot be read or 1 when they do not fit the file; Python raises
one of the package's exceptions with the same message in its own terms (``size``, not
``--size``). Files are small FITS, .fits.gz and Roman-like ASDF images on the moto server of
conftest.py, each with a gnomonic WCS (FITS header or gwcs) centred on RA, Dec = 10, -44.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import re
import subprocess
import sys
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
import s3fs
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
from files import tan_gwcs, tan_header  # bench/files.py

from roman_helpers import cli, stream
from roman_helpers.errors import CorruptedDataError, FileFormatError, ObjectNotFoundError, RomanHelpersError
from roman_helpers.sandbox.services.faults import FaultRule
from tests.conftest import put_object
from tests.faulty_server import FaultyS3

NY, NX = 60, 80  # rows, columns
PIXEL_DEG = 0.36 / 3600
RA, DEC = 10.0, -44.0
IMAGE = np.arange(NY * NX, dtype=np.float32).reshape(NY, NX)
ERR = np.full((NY, NX), 0.5, np.float32)
DQ = (np.arange(NY * NX, dtype=np.uint32) % 7).reshape(NY, NX)
BIG = 1500  # rows and columns of the image for the box-order case
SCRIPT = Path(sys.executable).with_name("roman-helpers")


def _fits_bytes(wcs: bool = True) -> bytes:
    header = tan_header((NY, NX), RA, DEC, PIXEL_DEG) if wcs else None
    hdus = fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.ImageHDU(IMAGE, header=header, name="SCI"),
            fits.ImageHDU(ERR, name="ERR"),
            fits.ImageHDU(DQ, name="DQ"),
        ]
    )
    buffer = io.BytesIO()
    hdus.writeto(buffer)
    return buffer.getvalue()


def _asdf_bytes() -> bytes:
    import asdf

    tree = {
        "roman": {
            "meta": {"wcs": tan_gwcs((NY, NX), RA, DEC, PIXEL_DEG)},
            "data": IMAGE,
            "err": ERR,
            "dq": DQ,
        }
    }
    buffer = io.BytesIO()
    asdf.AsdfFile(tree).write_to(buffer, all_array_compression="lz4")
    return buffer.getvalue()


def _big_fits_bytes() -> bytes:
    """1500 x 1500 int16 pixels whose value says where they are: 10 * (row // 10) + column // 100."""
    rows, columns = np.indices((BIG, BIG))
    buffer = io.BytesIO()
    fits.PrimaryHDU((rows // 10 * 100 + columns // 100).astype(np.int16)).writeto(buffer)
    return buffer.getvalue()


OUT = ["-o", "cut.fits"]  # written in the test's temporary folder (see _in_tmp_path)


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def files(buckets, s3_client) -> dict[str, str]:
    plain = _fits_bytes()
    objects = {
        "fits": ("t/cut/image.fits", plain),
        "gz": ("t/cut/image.fits.gz", gzip.compress(plain, 1)),
        "asdf": ("t/cut/image_cal.asdf", _asdf_bytes()),
        "nowcs": ("t/cut/nowcs.fits", _fits_bytes(wcs=False)),
        "big": ("t/cut/big.fits", _big_fits_bytes()),
    }
    for key, payload in objects.values():
        put_object(s3_client, "stpubdata", key, payload)
    return {name: f"s3://stpubdata/{key}" for name, (key, _payload) in objects.items()}


def cli_error(capsys, args: list[str], status: int) -> str:
    """Run the command line; check the exit status and that stderr is one line ``error: ...``."""
    assert cli.main(args) == status
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ") and "Traceback" not in captured.err
    return lines[0]


def python_error(call) -> str:
    with pytest.raises(RomanHelpersError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    return message


def off_centre(degrees: float) -> SkyCoord:
    return SkyCoord(RA, DEC, unit="deg").directional_offset_by(0 * u.deg, degrees * u.deg)


FORMATS = ["fits", "gz", "asdf"]

# --------------------------------------------------------------------------- the box order


def test_a_box_in_the_command_line_order_cuts_the_same_place_in_python(files, tmp_path, capsys):
    """The CLI's order, X0 Y0 X1 Y1, is also Python's: 100 x 100 pixels there, not 535 x 535 elsewhere."""
    box = (766, 1301, 866, 1401)
    with fits.open(io.BytesIO(_big_fits_bytes())) as hdul:
        expected = hdul[0].data[1301:1401, 766:866]
    cut = stream.cutout(files["big"], box=box)
    assert cut.data.shape == (100, 100)
    np.testing.assert_array_equal(cut.data, expected)
    out = tmp_path / "big.fits"
    assert cli.main(["cutout", files["big"], "--box", *map(str, box), "-o", str(out)]) == 0
    with fits.open(out) as hdul:
        np.testing.assert_array_equal(hdul["SCI"].data, expected)


@pytest.mark.parametrize("kind", FORMATS)
def test_a_box_in_the_old_python_order_is_refused_with_the_convention_and_the_shape(files, capsys, kind):
    # meant as (x0, x1, y0, y1) = columns 10..49, rows 5..29: as (x0, y0, x1, y1), x1 < x0
    line = cli_error(capsys, ["cutout", files[kind], "--box", "10", "50", "5", "30", *OUT], 1)
    assert line.startswith(
        "error: invalid --box '10 50 5 30'. --box X0 Y0 X1 Y1: 0-based pixel corners, end exclusive"
    )
    assert "data[Y0:Y1, X0:X1]" in line and "80 columns and 60 rows" in line
    assert "X1 = 5 is not greater than X0 = 10" in line
    message = python_error(lambda: stream.cutout(files[kind], box=(10, 50, 5, 30)))
    assert message.startswith("invalid box (10, 50, 5, 30). box=(x0, y0, x1, y1): 0-based pixel corners")
    assert "x1 = 5 is not greater than x0 = 10" in message and "numpy shape (60, 80)" in message


@pytest.mark.parametrize(
    ("box", "problem"),
    [
        ((0, 0, 81, 10), "reaches past the image (X1 <= 80 and Y1 <= 60"),
        ((0, -1, 10, 10), "a corner is negative"),
        ((5, 5, 5, 10), "X1 = 5 is not greater than X0 = 5"),
    ],
)
@pytest.mark.parametrize("kind", FORMATS)
def test_a_box_outside_the_image_or_empty(files, capsys, kind, box, problem):
    line = cli_error(capsys, ["cutout", files[kind], "--box", *map(str, box), *OUT], 1)
    assert problem in line and "80 columns and 60 rows" in line
    message = python_error(lambda: stream.cutout(files[kind], box=box))
    assert problem.replace("X", "x").replace("Y", "y") in message and "numpy shape (60, 80)" in message


@pytest.mark.parametrize("box", [(1, 2, 3), (0, 0, 10.5, 10), "0 0 10 10"])
def test_a_box_that_is_not_four_whole_numbers(files, box):
    message = python_error(lambda: stream.cutout(files["fits"], box=box))
    assert message.startswith(f"invalid box {box!r}. box=(x0, y0, x1, y1): four whole numbers")


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("size", "said"),
    [
        ("-5", "a size must be positive"),
        ("0", "a size must be positive"),
        ("0arcsec", "a size must be positive"),
        ("ten", "'ten' is neither a number nor an angle"),
        ("10kg", "10.0 kg is not an angle"),
        ("6.5", "pixels are whole numbers"),
        ("1,2,3", "one value (a square) or two"),
    ],
)
def test_a_size_that_cannot_be_read_is_a_usage_error(files, capsys, size, said):
    line = cli_error(capsys, ["cutout", files["fits"], "--ra", "10", "--dec", "-44", "--size", size, *OUT], 2)
    assert line.startswith(f"error: invalid --size '{size}'. ") and said in line
    assert "ny,nx" in line or "whole numbers" in line
    message = python_error(lambda: stream.cutout(files["asdf"], position="10 -44", size=size))
    assert message.startswith(f"invalid size '{size}'. ") and said in message


@pytest.mark.parametrize("size", [-5, 0, 6.5, -3 * u.arcsec, (10, 0)])
def test_a_bad_size_in_python_terms(files, size):
    assert python_error(lambda: stream.cutout(files["fits"], pixel=(10, 10), size=size)).startswith(
        f"invalid size {size!r}"
    )


@pytest.mark.parametrize("kind", FORMATS)
@pytest.mark.parametrize(
    ("size", "said"),
    [
        ("100000", "that is 100000 x 100000 pixels (ny x nx), larger than the image (60 x 80)"),
        ("0.01arcsec", "that is 0 x 0 pixels (ny x nx) here: less than one pixel"),
        ("1arcsec,1deg", "larger than the image"),
    ],
)
def test_a_size_that_does_not_fit_the_image(files, capsys, kind, size, said):
    line = cli_error(capsys, ["cutout", files[kind], "--target", "10 -44", "--size", size, *OUT], 1)
    assert line.startswith(f"error: invalid --size '{size}'. ") and said in line
    assert said in python_error(
        lambda: stream.cutout(files[kind], position=SkyCoord(RA, DEC, unit="deg"), size=size)
    )


def test_an_angular_size_needs_a_wcs(files):
    message = python_error(lambda: stream.cutout(files["nowcs"], pixel=(40, 30), size=10 * u.arcsec))
    assert message.startswith(
        "invalid size <Quantity 10. arcsec>. this image has no celestial WCS, so an "
        "angle cannot be turned into pixels"
    )


# --------------------------------------------------------------------------- positions


@pytest.mark.parametrize(
    ("options", "flag", "said"),
    [
        (
            ["--ra", "10", "--dec", "-144.01"],
            "--dec '-144.01'",
            "a declination lies between -90 and +90 degrees",
        ),
        (["--ra", "12x30", "--dec", "-44"], "--ra '12x30'", "decimal degrees (9.9875) or sexagesimal hours"),
        (["--ra", "400", "--dec", "-44"], "--ra '400'", "between 0 and 360 degrees (0h and 24h)"),
        (["--ra", "10", "--dec", "south"], "--dec 'south'", "give it in degrees"),
        (
            ["--target", "M31"],
            "--target 'M31'",
            "object names are not looked up here (that needs the network)",
        ),
        (["--target", "NGC 253"], "--target 'NGC 253'", "object names are not looked up here"),
        (["--target", "10.5"], "--target '10.5'", "give RA and Dec, e.g. '00:39:57 -44:01:20'"),
        (
            ["--target", "00:40:00 -144:00:00"],
            "--target '00:40:00 -144:00:00'",
            "between -90 and +90 degrees",
        ),
    ],
)
def test_a_position_that_cannot_be_read_is_a_usage_error(files, capsys, options, flag, said):
    line = cli_error(capsys, ["cutout", files["fits"], *options, "--size", "5", *OUT], 2)
    assert line.startswith(f"error: invalid {flag}. ") and said in line
    if options[0] == "--target":
        message = python_error(lambda: stream.cutout(files["fits"], position=options[1], size=5))
        assert message.startswith(f"invalid position {options[1]!r}. ") and said in message


@pytest.mark.parametrize("size", ["5", "3arcsec"])
@pytest.mark.parametrize("kind", FORMATS)
def test_a_position_off_the_image_says_what_the_image_covers(files, capsys, kind, size):
    target = off_centre(1.0)  # one degree north: the image is 29 x 22 arcsec (0.36 arcsec pixels)
    wcs = WCS(tan_header((NY, NX), RA, DEC, PIXEL_DEG))
    x, y = wcs.world_to_pixel(target)
    centre = wcs.pixel_to_world((NX - 1) / 2, (NY - 1) / 2)
    corner = wcs.pixel_to_world(NX - 1, NY - 1)
    text = target.to_string("hmsdms", sep=":", precision=3)
    line = cli_error(capsys, ["cutout", files[kind], "--target", text, "--size", size, *OUT], 1)
    for message in (line, python_error(lambda: stream.cutout(files[kind], position=target, size=size))):
        assert f"it falls at pixel x, y = ({x:.1f}, {y:.1f})" in message
        assert "off this image of 80 x 60 pixels (x 0..79, y 0..59)" in message
        middle = f"{centre.ra.deg:.5f} {centre.dec.deg:+.5f}"
        assert f"which covers RA, Dec (deg, ICRS) centre {middle}, corners " in message
        assert f"{corner.ra.deg:.5f} {corner.dec.deg:+.5f}" in message
        pixels = 8 if size == "3arcsec" else 5  # 3 arcsec / 0.36 arcsec, rounded
        assert f"(a {pixels} x {pixels} cut-out, ny x nx, there does not reach it)" in message
    assert line.startswith(f"error: invalid --target '{text}'. ")


def test_a_position_on_the_far_side_of_the_sky(files, capsys):
    line = cli_error(capsys, ["cutout", files["asdf"], "--ra", "190", "--dec", "44", "--size", "5", *OUT], 1)
    assert line.startswith(
        "error: invalid --ra/--dec '190 44'. it is on the far side of the sky from this image"
    )


def test_a_sky_position_needs_a_wcs(files, capsys):
    line = cli_error(capsys, ["cutout", files["nowcs"], "--target", "10 -44", "--size", "5", *OUT], 1)
    assert "this image has no celestial WCS; give a pixel box (--box)" in line


# --------------------------------------------------------------------------- arrays


@pytest.mark.parametrize(
    ("ext", "said"), [("nope", "valid values are: data, dq, err"), ("1", "valid values are: data, dq, err")]
)
def test_an_asdf_array_that_is_not_there_lists_those_that_are(files, capsys, ext, said):
    line = cli_error(capsys, ["cutout", files["asdf"], "--box", "0", "0", "5", "5", "--ext", ext, *OUT], 1)
    assert said in line and "is an ASDF file: name one of its 2-D arrays" in line
    assert said in python_error(
        lambda: stream.cutout(files["asdf"], box=(0, 0, 5, 5), ext=int(ext) if ext.isdigit() else ext)
    )


@pytest.mark.parametrize("kind", ["fits", "gz"])
def test_a_fits_extension_that_is_not_there_lists_those_that_are(files, capsys, kind):
    line = cli_error(capsys, ["cutout", files[kind], "--box", "0", "0", "5", "5", "--ext", "WHT", *OUT], 1)
    assert "invalid --ext 'WHT'; valid values are: 0, 1, 2, 3, PRIMARY, SCI, ERR, DQ" in line
    assert "valid values are: 0, 1, 2, 3" in python_error(
        lambda: stream.cutout(files[kind], box=(0, 0, 5, 5), ext="WHT")
    )


# --------------------------------------------------------------------------- how options go together


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--ra", "10", "--size", "5"], "--ra needs --dec and --size"),
        (["--ra", "10", "--dec", "-44"], "--ra needs --dec and --size"),
        (["--box", "0", "0", "5", "5", "--size", "5"], "--box goes alone"),
        (["--target", "10 -44", "--dec", "-44", "--size", "5"], "--target needs --size (and no --dec)"),
        (["--target", "10 -44"], "--target needs --size"),
        (["--pixel", "3", "3"], "--pixel needs --size"),
    ],
)
def test_options_that_do_not_go_together(files, capsys, options, said):
    line = cli_error(capsys, ["cutout", files["fits"], *options, *OUT], 2)
    assert said in line


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        (
            {"box": (0, 0, 5, 5), "pixel": (3, 3), "size": 2},
            "give either box= or a centre (position= or pixel=) and size=, not both",
        ),
        ({}, "give box=(x0, y0, x1, y1), or a centre (position= on the sky, pixel= in pixels) and size="),
        ({"pixel": (3, 3)}, "invalid size None"),
        ({"position": [1, 2, 3], "size": 3}, "give a SkyCoord or a string of RA and Dec"),
        ({"position": "10 -44", "pixel": (3, 3), "size": 3}, "give either position= (on the sky) or pixel="),
        ({"pixel": [1, 2, 3], "size": 3}, "give 0-based pixels (x, y)"),
    ],
)
def test_python_arguments_that_do_not_go_together(files, kwargs, said):
    assert said in python_error(lambda: stream.cutout(files["fits"], **kwargs))


def test_the_installed_script_prints_one_line_without_a_traceback(files, tmp_path):
    def script(size: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(SCRIPT), "cutout", files["fits"], "--size", size, "--ra", "10", "--dec", "-44", *OUT],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )

    done = script("-5")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("error: invalid --size '-5'")
    done = script("0")
    assert done.returncode == 2 and done.stderr.startswith("error: invalid --size '0'")
    assert not (tmp_path / "cut.fits").exists()  # no 0 x 0 file


# --------------------------------------------------------------------------- damaged and wrong files


ASDF_BROKEN_TREE = (
    b"#ASDF 1.0.0\n#ASDF_STANDARD 1.5.0\n%YAML 1.1\n%TAG ! tag:stsci.edu:asdf/\n"
    b"--- !core/asdf-1.1.0\nroman: {meta: {instrument: [unclosed\n...\n"
)


def _plain_fits_bytes() -> bytes:
    buffer = io.BytesIO()
    fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.ImageHDU(np.arange(200 * 300, dtype=np.float32).reshape(200, 300), name="SCI"),
        ]
    ).writeto(buffer)
    return buffer.getvalue()


@pytest.fixture
def damaged(buckets, s3_client):
    whole = _plain_fits_bytes()
    objects = {
        "text.fits": b"SIMPLE? no: this is a text file that only claims to be FITS\n" * 4,
        "truncated.fits": whole[: 2880 * 2 + 5000],  # headers intact, data cut short
        "broken.asdf": ASDF_BROKEN_TREE,
        "fits_named.asdf": whole,
    }
    for name, payload in objects.items():
        put_object(s3_client, "stpubdata", f"damaged/{name}", payload)
    return {name: f"s3://stpubdata/damaged/{name}" for name in objects}


@pytest.mark.parametrize("call", [stream.read_header, stream.info], ids=["read_header", "info"])
def test_a_file_that_is_not_fits(damaged, call):
    with pytest.raises(FileFormatError, match=re.escape("text.fits")):
        call(damaged["text.fits"])


@pytest.mark.filterwarnings("ignore:File may have been truncated")  # astropy says so too; we raise
def test_a_truncated_fits_file_keeps_its_headers_but_refuses_missing_pixels(damaged):
    assert stream.read_header(damaged["truncated.fits"], "SCI")["NAXIS2"] == 200
    with pytest.raises(FileFormatError, match=re.escape("truncated.fits")):
        stream.cutout(damaged["truncated.fits"], box=(0, 190, 10, 200))


@pytest.mark.parametrize(
    "call",
    [stream.read_metadata, stream.info, lambda uri: stream.cutout(uri, box=(0, 0, 1, 1))],
    ids=["read_metadata", "info", "cutout"],
)
def test_an_asdf_file_with_a_broken_tree(damaged, call):
    with pytest.raises(FileFormatError, match=re.escape("broken.asdf")):
        call(damaged["broken.asdf"])


def test_a_fits_file_named_asdf(damaged):
    with pytest.raises(FileFormatError, match=re.escape("fits_named.asdf")):
        stream.read_metadata(damaged["fits_named.asdf"])


def test_a_missing_key_in_an_existing_bucket(damaged):
    with pytest.raises(ObjectNotFoundError, match=re.escape("damaged/nothing.fits")):
        stream.read_header("s3://stpubdata/damaged/nothing.fits")


# --------------------------------------------------------------------------- damaged bytes: never pixels
#
# What a file states about its own bytes (the sizes in an lz4 chunk's header, an ASDF block header's
# sizes and MD5, a gzip member's CRC) is checked against what is decoded. A disagreement is read
# again (a fault on the way does not repeat); when it persists the file is damaged: CorruptedDataError.
# Files are made here, damaged here, and served by the moto server, or by the same store behind
# the fault injector (tests/faulty_server.py) for faults on the way.

CHUNKED_SHAPE = (200, 300)  # rows, columns of float32: 240,000 bytes, 15 lz4 chunks of 16 KiB
CHUNKED_BOX = (0, 100, 300, 150)  # rows 100-149: bytes 120,000-180,000, chunks 7 to 10
CHUNKED_IMAGE = (
    (np.arange(CHUNKED_SHAPE[0] * CHUNKED_SHAPE[1]) % 977).astype(np.float32).reshape(CHUNKED_SHAPE)
)
READS = 3  # ROMAN_HELPERS_MAX_ATTEMPTS in these tests


@pytest.fixture
def rereads(monkeypatch):
    monkeypatch.setenv("ROMAN_HELPERS_MAX_ATTEMPTS", str(READS))
    monkeypatch.setenv("ROMAN_HELPERS_BACKOFF", "0")


def _chunked_asdf() -> bytes:
    """An lz4 ASDF file whose image lies in 15 chunks (asdf's own writer, 16 KiB chunks)."""
    import asdf

    buffer = io.BytesIO()
    asdf.AsdfFile({"roman": {"data": CHUNKED_IMAGE}}).write_to(
        buffer, all_array_compression="lz4", compression_kwargs={"compression_block_size": 16 * 1024}
    )
    return buffer.getvalue()


def _lz4_chunks(raw: bytes) -> tuple[int, int, list[int]]:
    """Start of the first block, where its data ends, and where each of its chunks starts.

    Read here from the ASDF standard's block layout (magic, header size, a header of flags,
    compression, allocated, used and data sizes), and asdf's lz4 chunks (a 4-byte big-endian
    length, then an lz4 block starting with its 4-byte little-endian decoded size).
    """
    block = raw.index(b"\xd3BLK")
    header_size = int.from_bytes(raw[block + 4 : block + 6], "big")
    used = int.from_bytes(raw[block + 6 + 16 : block + 6 + 24], "big")
    data_start = block + 6 + header_size
    chunks, at = [], data_start
    while at < data_start + used:
        chunks.append(at)
        at += 4 + int.from_bytes(raw[at : at + 4], "big")
    assert at == data_start + used and len(chunks) == 15
    return block, data_start + used, chunks


def _flipped(raw: bytes, offset: int, bit: int = 0) -> bytes:
    damaged = bytearray(raw)
    damaged[offset] ^= 1 << bit
    return bytes(damaged)


def _tree_reads(seen: list[tuple[str, str | None]]) -> int:
    """How many times a file was read from its first byte."""
    return sum(1 for method, span in seen if method == "GET" and (span or "").startswith("bytes=0-"))


def _recorded(server: FaultyS3) -> list[tuple[str, str | None]]:
    """(method, Range) of every request ``server`` gets from now on."""
    seen, app = [], server.server.app

    def recording(environ, start_response):
        seen.append((environ["REQUEST_METHOD"], environ.get("HTTP_RANGE")))
        return app(environ, start_response)

    server.server.app = recording
    return seen


def _behind_faults(monkeypatch, rules) -> FaultyS3:
    server = FaultyS3(rules)
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    s3fs.S3FileSystem.clear_instance_cache()
    return server


@pytest.mark.parametrize("bit", [0, 7])
@pytest.mark.parametrize("byte", range(8), ids=lambda b: f"header byte {b}")
@pytest.mark.parametrize("chunk", [0, 8, 14], ids=["chunk before the box", "chunk in it", "chunk after it"])
def test_a_flipped_bit_in_an_lz4_chunk_header_never_gives_pixels(
    buckets, s3_client, rereads, chunk, byte, bit
):
    """Bytes 0-3 of a chunk are its compressed length, 4-7 (in its lz4 block) its decoded size.

    A chunk before the box moves every later chunk's rows; one in it decodes to the box's pixels;
    one after it is never read, so its damage cannot show (the pixels are right).
    """
    raw = _chunked_asdf()
    _block, _end, chunks = _lz4_chunks(raw)
    put_object(s3_client, "stpubdata", "damaged/chunk.asdf", _flipped(raw, chunks[chunk] + byte, bit))
    uri = "s3://stpubdata/damaged/chunk.asdf"
    if chunk == 14:
        assert np.array_equal(stream.cutout(uri, box=CHUNKED_BOX).data, CHUNKED_IMAGE[100:150])
        return
    with pytest.raises(CorruptedDataError, match=rf"{re.escape(uri)}: .*; read {READS} times, damaged each"):
        stream.cutout(uri, box=CHUNKED_BOX)


def test_a_damaged_chunk_size_before_the_box_is_read_again_then_refused(
    buckets, s3_client, rereads, monkeypatch
):
    """The silent case: chunk 0's decoded size, one bit off, moved every later chunk's rows."""
    raw = _chunked_asdf()
    _block, _end, chunks = _lz4_chunks(raw)
    put_object(s3_client, "stpubdata", "damaged/size.asdf", _flipped(raw, chunks[0] + 4))
    with _behind_faults(monkeypatch, []) as server:
        seen = _recorded(server)
        with pytest.raises(CorruptedDataError, match=r"size\.asdf.*lz4 chunk") as caught:
            stream.cutout("s3://stpubdata/damaged/size.asdf", box=CHUNKED_BOX)
    assert _tree_reads(seen) == READS  # read again, then given up: the damage is in the file
    assert "damaged" in str(caught.value)


def test_a_chunk_damaged_on_the_way_is_read_again(buckets, s3_client, rereads, monkeypatch):
    raw = _chunked_asdf()
    _block, _end, chunks = _lz4_chunks(raw)
    put_object(s3_client, "stpubdata", "clean/chunk.asdf", raw)
    # the first read of the file (its tree and, this file being small, its blocks) loses one bit of
    # chunk 0's decoded size on the way; the stored file is whole
    rule = FaultRule("flip", key="clean/chunk.asdf", method="GET", nth=1, offset=chunks[0] + 4)
    with _behind_faults(monkeypatch, [rule]) as server:
        seen = _recorded(server)
        cut = stream.cutout("s3://stpubdata/clean/chunk.asdf", box=CHUNKED_BOX)
    assert server.injector.injected["flip"] == 1 and _tree_reads(seen) == 2
    assert np.array_equal(cut.data, CHUNKED_IMAGE[100:150])


def test_a_damaged_lz4_payload_is_caught_by_the_block_checksum(buckets, s3_client, rereads):
    """A whole-image cut-out reads every chunk: the block header's MD5 of them is checked."""
    raw = _chunked_asdf()
    _block, _end, chunks = _lz4_chunks(raw)
    for offset in range(chunks[3] + 40, chunks[3] + 60):  # inside chunk 3's compressed bytes
        put_object(s3_client, "stpubdata", "damaged/payload.asdf", _flipped(raw, offset, 2))
        with pytest.raises(CorruptedDataError, match=re.escape("payload.asdf")):
            stream.cutout("s3://stpubdata/damaged/payload.asdf", box=(0, 0, *CHUNKED_SHAPE[::-1]))


def test_a_block_checksum_of_either_asdf_convention_is_accepted(buckets, s3_client):
    """asdf 4 and older put the MD5 of a compressed block's decoded data in its header, newer asdf
    that of its stored bytes: both are in the archives, and both are checked, not either refused."""
    raw = _chunked_asdf()
    block, end, _chunks = _lz4_chunks(raw)
    header_size = int.from_bytes(raw[block + 4 : block + 6], "big")
    checksum_at = block + 6 + 4 + 4 + 8 + 8 + 8  # after flags, compression, allocated, used, data sizes
    stored = raw[block + 6 + header_size : end]
    conventions = {
        "stored": hashlib.md5(stored, usedforsecurity=False).digest(),
        "decoded": hashlib.md5(CHUNKED_IMAGE.tobytes(), usedforsecurity=False).digest(),
    }
    whole = (0, 0, *CHUNKED_SHAPE[::-1])
    for name, digest in conventions.items():
        put_object(
            s3_client,
            "stpubdata",
            f"checksum/{name}.asdf",
            raw[:checksum_at] + digest + raw[checksum_at + 16 :],
        )
        cut = stream.cutout(f"s3://stpubdata/checksum/{name}.asdf", box=whole)
        assert np.array_equal(cut.data, CHUNKED_IMAGE), name
    wrong = bytes(16 * [7])
    put_object(
        s3_client, "stpubdata", "checksum/wrong.asdf", raw[:checksum_at] + wrong + raw[checksum_at + 16 :]
    )
    with pytest.raises(CorruptedDataError, match="MD5"):
        stream.cutout("s3://stpubdata/checksum/wrong.asdf", box=whole)


def _stored_fits_gz() -> tuple[bytes, int]:
    """A .fits.gz with DEFLATE's stored blocks (no compression), and where a SCI pixel lies in it.

    In stored blocks a flipped byte decodes without a word from zlib: only the member's CRC
    tells. Pixel (row 30, column 40) of SCI holds a value found once in the whole file.
    """
    image = IMAGE.copy()
    image[30, 40] = np.float32(12345.678)
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(image, name="SCI")]).writeto(buffer)
    packed = gzip.compress(buffer.getvalue(), compresslevel=0)
    marker = np.array([12345.678], ">f4").tobytes()
    assert packed.count(marker) == 1
    return packed, packed.index(marker)


def test_a_gzip_member_whose_crc_fails_is_read_again_then_refused(buckets, s3_client, rereads, monkeypatch):
    packed, pixel = _stored_fits_gz()
    put_object(s3_client, "stpubdata", "damaged/stored.fits.gz", _flipped(packed, pixel + 1))
    with _behind_faults(monkeypatch, []) as server:
        seen = _recorded(server)
        with pytest.raises(CorruptedDataError, match=r"stored\.fits\.gz.*CRC"):
            stream.cutout("s3://stpubdata/damaged/stored.fits.gz", box=(30, 20, 50, 40))
    assert _tree_reads(seen) == READS


def test_a_gzip_member_damaged_on_the_way_is_read_again(buckets, s3_client, rereads, monkeypatch):
    packed, pixel = _stored_fits_gz()
    put_object(s3_client, "stpubdata", "clean/stored.fits.gz", packed)
    rule = FaultRule("flip", key="clean/stored.fits.gz", method="GET", nth=1, offset=pixel + 1)
    with _behind_faults(monkeypatch, [rule]) as server:
        cut = stream.cutout("s3://stpubdata/clean/stored.fits.gz", box=(30, 20, 50, 40))
    assert server.injector.injected["flip"] == 1
    assert cut.data[10, 10] == np.float32(12345.678)
    assert np.array_equal(cut.data[:10], IMAGE[20:30, 30:50])


# --------------------------------------------------------------------- truncated files: our error, one line


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95], ids=lambda share: f"{share:.0%} kept")
def test_a_truncated_fits_gz_is_a_file_format_error(buckets, s3_client, capsys, keep):
    whole = gzip.compress(_fits_bytes(), 6)
    put_object(s3_client, "stpubdata", "damaged/cut.fits.gz", whole[: int(len(whole) * keep)])
    uri = "s3://stpubdata/damaged/cut.fits.gz"
    with pytest.raises(FileFormatError, match=r"cut\.fits\.gz.*truncated"):
        stream.cutout(uri, box=(0, 50, 10, 60))
    assert "truncated" in cli_error(capsys, ["cutout", uri, "--box", "0", "50", "10", "60", *OUT], 1)


@pytest.mark.parametrize("where", ["after the block header", "in a chunk header", "in a chunk"])
def test_an_lz4_asdf_cut_inside_a_block_is_a_file_format_error(buckets, s3_client, capsys, where):
    raw = _chunked_asdf()
    _block, _end, chunks = _lz4_chunks(raw)
    end = {
        "after the block header": chunks[0],
        "in a chunk header": chunks[8] + 2,
        "in a chunk": chunks[9] - 100,
    }
    put_object(s3_client, "stpubdata", "damaged/cut.asdf", raw[: end[where]])
    uri = "s3://stpubdata/damaged/cut.asdf"
    with pytest.raises(FileFormatError, match=r"cut\.asdf.*truncated"):
        stream.cutout(uri, box=CHUNKED_BOX)
    assert "truncated" in cli_error(capsys, ["cutout", uri, "--box", "0", "100", "300", "150", *OUT], 1)


# ----------------------------------------------------------------- any damage: one of the package's errors

_CALLS = {
    "cutout": lambda uri: stream.cutout(uri, box=(10, 10, 40, 40)),
    "cutouts": lambda uri: stream.cutouts(uri, box=(0, 50, 80, 60)),
    "sky cut-out": lambda uri: stream.cutout(uri, position=f"{RA} {DEC}", size=5),
    "info": stream.info,
    "metadata": stream.read_metadata,
}


def _damaged_copies(body: bytes, seed: int, count: int):
    """``count`` copies of ``body``: cut short, or with one or five bits flipped, at random (seeded)."""
    rng = random.Random(seed)
    for _ in range(count):
        copy = bytearray(body)
        how = rng.choice(["cut", "flip", "flips"])
        if how == "cut":
            copy = copy[: rng.randrange(len(copy))]
        for _ in range({"cut": 0, "flip": 1, "flips": 5}[how]):
            copy[rng.randrange(len(copy))] ^= 1 << rng.randrange(8)
        yield how, bytes(copy)


@pytest.mark.filterwarnings("ignore")  # astropy and asdf warn about what they fix or skip in such files
@pytest.mark.parametrize("kind", ["fits", "gz", "asdf"])
def test_damaged_files_reach_the_user_as_the_packages_errors(buckets, s3_client, monkeypatch, kind):
    """Every call on 25 randomly damaged copies of each kind of file returns, or raises one of the
    package's errors: never astropy's, asdf's, gwcs's, lz4's, zlib's or numpy's."""
    monkeypatch.setenv("ROMAN_HELPERS_MAX_ATTEMPTS", "1")  # damage in the store: no use reading again
    body = {"fits": _fits_bytes(), "gz": gzip.compress(_fits_bytes(), 6), "asdf": _asdf_bytes()}[kind]
    name = {"fits": "image.fits", "gz": "image.fits.gz", "asdf": "image_cal.asdf"}[kind]
    outcomes: dict[str, int] = {}
    for number, (how, copy) in enumerate(_damaged_copies(body, seed=22, count=25)):
        uri = f"s3://stpubdata/fuzzed/{number}/{name}"
        put_object(s3_client, "stpubdata", uri.removeprefix("s3://stpubdata/"), copy)
        for call_name, call in _CALLS.items():
            try:
                call(uri)
                outcome = "returned"
            except RomanHelpersError as error:
                outcome = type(error).__name__
            except Exception as error:  # noqa: BLE001 - what the test is about: named below
                pytest.fail(f"{call_name} of {uri} ({how}) raised {type(error).__name__}: {error}")
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert outcomes.get("FileFormatError", 0) + outcomes.get("CorruptedDataError", 0) > 0, outcomes


def _expanded(node, seen_depth: int = 1) -> tuple[int, int]:
    """Nodes and depth of a composed YAML node as a reader walks it: aliases repeat what they name."""
    import yaml

    if isinstance(node, yaml.ScalarNode):
        return 1, seen_depth
    children = (
        [part for pair in node.value for part in pair] if isinstance(node, yaml.MappingNode) else node.value
    )
    counted = [_expanded(child, seen_depth + 1) for child in children]
    return 1 + sum(n for n, _ in counted), max([seen_depth, *(d for _, d in counted)])


@pytest.mark.parametrize("repeats", [1, 3, 9])
def test_a_tree_is_counted_as_its_readers_walk_it(repeats):
    """check_tree's counts against PyYAML's own composition of the same tree, walked here."""
    import yaml

    from roman_helpers import _asdf_layout

    tree = _asdf_bytes()
    tree = tree[: tree.index(b"\n...\n") + 5]
    aliased = tree.replace(
        b"roman:",
        b"shared: &s [a, [b, c], {d: e}]\nmore: [" + b", ".join([b"*s"] * repeats) + b"]\nroman:",
        1,
    )
    counted = _asdf_layout.check_tree(aliased, "s3://b/t.asdf")
    document = yaml.compose(io.BytesIO(aliased), Loader=yaml.SafeLoader)
    assert (counted.nodes, counted.depth) == _expanded(document)
    assert counted.events == len(list(yaml.parse(io.BytesIO(aliased), Loader=yaml.SafeLoader)))
    assert counted.aliases == repeats
