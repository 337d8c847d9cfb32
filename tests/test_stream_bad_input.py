"""Damaged and wrong files: every stream call ends in one clear error of ours that names the file."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from astropy.io import fits

from conftest import put_object
from roman_helpers import stream
from roman_helpers.errors import FileFormatError, ObjectNotFoundError

ASDF_BROKEN_TREE = (
    b"#ASDF 1.0.0\n#ASDF_STANDARD 1.5.0\n%YAML 1.1\n%TAG ! tag:stsci.edu:asdf/\n"
    b"--- !core/asdf-1.1.0\nroman: {meta: {instrument: [unclosed\n...\n"
)


def _fits_bytes() -> bytes:
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
    whole = _fits_bytes()
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
