"""The HST layout (roman_helpers.sandbox.archive.layouts.hst): MAST's products as on-demand objects.

Expectations come from the survey design (sky/surveys/hst.py: associations, exposures, image
geometry), from the sky model's sources, and from the bytes themselves read back with astropy
and Pillow; never from the layout's own bookkeeping.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image

from roman_helpers.sandbox.archive.layouts import hst
from roman_helpers.sandbox.archive.registry import Archive
from roman_helpers.sandbox.sky import sources
from roman_helpers.sandbox.sky.bands import band
from roman_helpers.sandbox.sky.surveys import hst as design

VISITS = design.observations()
EXPOSURES = design.exposures()


def _bytes(name: str, start: int = 0, end: int | None = None) -> bytes:
    item = hst.product_object(hst.product(name))
    return item.read(start, item.size if end is None else end)


def _open(name: str) -> fits.HDUList:
    return fits.open(io.BytesIO(_bytes(name)))


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Archive:
    from roman_helpers.sandbox.archive import layouts

    return layouts.sky_archive(str(tmp_path_factory.mktemp("hst-cache")), 1 << 30)


# ------------------------------------------------------------------ the layout's keys
def test_every_association_lists_mast_s_19_products_previews_outside_the_bucket(archive):
    per_visit = {str(v["obs_id"]): [str(e["exposure"]) for e in EXPOSURES[EXPOSURES["obs_id"] == v["obs_id"]]]
                 for v in VISITS}  # fmt: skip
    expected = set()
    for obs_id, members in per_visit.items():
        jitter = obs_id[:8] + "j"
        names = [f"{obs_id}_{k}" for k in ("asn.fits", "drz.fits", "trl.fits", "drz.jpg", "drz_thumb.jpg")]
        names += [f"{jitter}_jif.fits", f"{jitter}_jit.fits"]
        expected |= {f"hst/public/{obs_id[:4]}/{obs_id}/{name}" for name in names}
        for exposure in members:
            kinds = ("flt.fits", "ima.fits", "raw.fits", "spt.fits", "trl.fits", "flt.jpg")
            expected |= {f"hst/public/{exposure[:4]}/{exposure}/{exposure}_{kind}" for kind in kinds}
    assert len(per_visit) == 81 and len(expected) == 19 * 81
    assert {p.key for p in hst.products()} == expected
    in_bucket = set(archive.keys("stpubdata"))
    hst_keys = {key for key in in_bucket if key.startswith("hst/public/")}
    assert hst_keys == {key for key in expected if not key.endswith(".jpg")}
    assert archive.bucket("stpubdata").public


def test_listing_a_dataset_folder_gives_sizes_without_making_pixels(archive):
    page = archive.listing("stpubdata", prefix="hst/public/ib1f/ib1f0v010/", delimiter="/")
    names = sorted(item.key.rsplit("/", 1)[1] for item in page.contents)
    # the association's own files, its jitter files among them (named with a final j)
    association = ("ib1f0v010_asn.fits", "ib1f0v010_drz.fits", "ib1f0v010_trl.fits")
    assert names == [*association, "ib1f0v01j_jif.fits", "ib1f0v01j_jit.fits"]
    assert archive.cache.stats["generated"] == 0  # sizes and ETags without one chunk made
    drz = next(item for item in page.contents if item.key.endswith("_drz.fits"))
    sci = 1014 * 1014 * 4
    assert drz.size > 3 * sci and drz.size % 2880 == 0  # SCI, WHT (float32), CTX (int32) and headers
    assert drz.etag.endswith('-2"')  # multipart style: 12 MB in 8 MiB parts


@pytest.mark.parametrize("obs_id", ["ib1f0v010", "ib1f6b010", "ieyc02010", "ieycp5010"])
def test_every_product_is_the_size_it_is_listed_at(obs_id):
    """Laying a file out (headers built by astropy) gives the size listed before any byte existed."""
    for product in (p for p in hst.products() if p.obs_id == obs_id):
        item = hst.product_object(product)
        listed = item.size
        if product.kind.extension == "fits":
            head = item.read(0, 2880)  # lays the file out and checks it against the listed size
            assert head.startswith(b"SIMPLE  =                    T"), product.filename
            assert listed % 2880 == 0, product.filename
        else:
            assert (
                listed == {"drz.jpg": 640_000, "drz_thumb.jpg": 12_000, "flt.jpg": 640_000}[product.kind.name]
            )


# ------------------------------------------------------------------ the files
def test_drizzled_image_has_the_real_structure_and_shows_m85():
    visit = VISITS[VISITS["obsid"] == "24797441"][0]
    with _open(f"{visit['obs_id']}_drz.fits") as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "WHT", "CTX", "HDRTAB"]
        primary = hdul[0].header
        keys = ("TELESCOP", "INSTRUME", "DETECTOR", "TARGNAME", "FILTER", "PROPOSID", "EXPTIME")
        assert tuple(primary[k] for k in keys) == (
            "HST", "WFC3", "IR", "M85", visit["filter"], int(visit["proposal_id"]), visit["exptime"]
        )  # fmt: skip
        sci = hdul["SCI"].data
        assert sci.shape == design.DRZ_SHAPE and sci.dtype == np.dtype(">f4")
        wcs = WCS(hdul["SCI"].header)
        x, y = wcs.world_to_pixel_values(*design.M85)
        assert sci[round(float(y)), round(float(x))] > np.percentile(sci, 99.9)  # the nucleus, where M85 is
        centre = wcs.pixel_to_world_values((sci.shape[1] - 1) / 2, (sci.shape[0] - 1) / 2)
        assert centre == pytest.approx((visit["ra"], visit["dec"]), abs=1e-7)
        scale = np.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix))) * 3600
        assert scale == pytest.approx(design.DRZ_PIXEL_SCALE)
        members = EXPOSURES[EXPOSURES["obs_id"] == visit["obs_id"]]
        assert [r.strip() for r in hdul["HDRTAB"].data["ROOTNAME"]] == list(members["exposure"])
        assert np.all(hdul["WHT"].data == np.float32(visit["exptime"]))


def test_field_sources_land_where_the_sky_puts_them_in_their_hst_band():
    """In a drizzled image without M85, the sky's brightest source is a peak at its WCS position."""
    visit = VISITS[VISITS["obs_id"] == "ieyc02010"][0]
    with _open("ieyc02010_drz.fits") as hdul:
        sci, wcs = hdul["SCI"].data.astype(float), WCS(hdul["SCI"].header)
    found = sources.cone(float(visit["ra"]), float(visit["dec"]), 0.02)
    passband = band(str(visit["filter"]))
    ra = np.concatenate([found.stars.ra, found.galaxies.ra])
    dec = np.concatenate([found.stars.dec, found.galaxies.dec])
    mag = np.concatenate([found.stars.mag(passband), found.galaxies.mag(passband)])
    x, y = wcs.world_to_pixel_values(ra, dec)
    on = (x > 20) & (x < sci.shape[1] - 20) & (y > 20) & (y < sci.shape[0] - 20)
    assert on.sum() > 5  # the sky holds sources here
    brightest = np.flatnonzero(on)[np.argmin(mag[on])]
    bx, by = round(float(x[brightest])), round(float(y[brightest]))
    peak = sci[by - 2 : by + 3, bx - 2 : bx + 3].max()
    background, noise = np.median(sci), 1.4826 * np.median(np.abs(sci - np.median(sci)))
    assert (peak - background) / noise > 20
    expected_rate = passband.rate(float(mag[brightest]))  # electrons per second, all of the source
    stamp = sci[by - 12 : by + 13, bx - 12 : bx + 13] - background
    assert stamp.sum() == pytest.approx(expected_rate, rel=0.25)


def test_exposure_files_have_the_wfc3_ir_structure():
    with _open("ib1f0vabq_flt.fits") as flt:
        assert [h.name for h in flt] == ["PRIMARY", "SCI", "ERR", "DQ", "SAMP", "TIME"]
        assert [flt[n].data.dtype.name for n in ("SCI", "ERR", "DQ", "SAMP", "TIME")] == [
            "float32", "float32", "int16", "int16", "float32"
        ]  # fmt: skip
        assert flt[0].header["ASN_ID"] == "IB1F0V010" and flt[0].header["FILETYPE"] == "SCI"
        nsamp, shape = flt[0].header["NSAMP"], flt["SCI"].data.shape
        assert (nsamp, shape) == (design.NSAMP, design.FLT_SHAPE)
    border = 2 * design.REFERENCE_PIXELS
    with _open("ib1f0vabq_raw.fits") as raw:
        sci = [h for h in raw if h.name == "SCI"]
        assert len(raw) == 1 + 5 * nsamp and len(sci) == nsamp
        assert sci[0].data.dtype.name == "uint16" and sci[0].data.shape == (
            shape[0] + border,
            shape[1] + border,
        )
        assert [h.header["SAMPNUM"] for h in sci] == list(range(nsamp - 1, -1, -1))  # last read first
        assert raw["ERR", 1].data is None and raw["ERR", 1].header["NPIX1"] == shape[1] + border
        counts = [float(h.data[5:-5, 5:-5].astype(float).mean()) for h in sci]
        assert counts == sorted(counts, reverse=True)  # charge accumulates read after read
    with _open("ib1f0vabq_ima.fits") as ima:
        assert len(ima) == 1 + 5 * nsamp and ima["TIME", 1].data.dtype.name == "float32"
        assert float(ima["TIME", 1].data[0, 0]) == pytest.approx(float(ima[0].header["EXPTIME"]))


def test_an_exposure_and_its_drizzled_image_show_the_same_sky():
    with _open("ib1f0vbbq_flt.fits") as flt, _open("ib1f0v010_drz.fits") as drz:
        fw, dw = WCS(flt["SCI"].header), WCS(drz["SCI"].header)
        x, y = fw.world_to_pixel_values(*design.M85)
        dx, dy = dw.world_to_pixel_values(*design.M85)
        nucleus_flt = flt["SCI"].data[round(float(y)), round(float(x))]
        nucleus_drz = drz["SCI"].data[round(float(dy)), round(float(dx))]
    # electrons per second per pixel, pixels of 0.13 and 0.128 arcsec: the same surface brightness
    assert nucleus_flt / 0.13**2 == pytest.approx(nucleus_drz / 0.128**2, rel=0.2)
    exposure = EXPOSURES[EXPOSURES["exposure"] == "ib1f0vbbq"][0]
    assert fw.pixel_to_world_values(506.5, 506.5) == pytest.approx(
        (exposure["ra"], exposure["dec"]), abs=1e-7
    )


def test_association_files_name_their_exposures():
    with _open("ib1f0v010_asn.fits") as asn:
        rows = list(zip(asn["ASN"].data["MEMNAME"], asn["ASN"].data["MEMTYPE"], strict=True))
    assert rows == [("IB1F0VABQ", "EXP-DTH"), ("IB1F0VBBQ", "EXP-DTH"), ("IB1F0V010", "PROD-DTH")]
    with _open("ib1f0v01j_jit.fits") as jit:
        assert [h.name for h in jit[1:]] == ["JIT", "JIT"] and "Seconds" in jit[1].columns.names
        per_exposure = float(VISITS[VISITS["obs_id"] == "ib1f0v010"]["exptime"][0]) / 2
        assert jit[1].data["Seconds"][-1] >= per_exposure  # sampled every 3 s over the exposure
    with _open("ib1f0v010_trl.fits") as trl:
        text = [line.strip() for line in trl[1].data["TEXT_FILE"]]
        assert "Input exposure IB1F0VABQ" in text and text[-1] == "End of processing"


def test_previews_are_jpeg_images_of_their_fits_files():
    full = Image.open(io.BytesIO(_bytes("ib1f0v010_drz.jpg")))
    with _open("ib1f0v010_drz.fits") as drz:
        assert full.format == "JPEG" and full.size == drz["SCI"].data.shape[::-1]
        picture = np.flipud(np.asarray(full, dtype=float))
        x, y = WCS(drz["SCI"].header).world_to_pixel_values(*design.M85)
        assert picture[round(float(y)), round(float(x))] > np.percentile(picture, 99)  # the nucleus, north up
    thumb = Image.open(io.BytesIO(_bytes("ib1f0v010_drz_thumb.jpg")))
    assert thumb.format == "JPEG" and max(thumb.size) == 128


def test_bytes_are_the_same_in_another_process_read_in_another_order():
    names = [
        "ib1f0b010_drz.fits",
        "ib1f0babq_ima.fits",
        "ib1f0bbbq_raw.fits",
        "ib1f0b01j_jit.fits",
        "ib1f0b010_drz_thumb.jpg",
    ]
    ranges = {}
    for name in names:
        size = hst.product_size(hst.product(name))
        middle = (size // 2, min(size, size // 2 + 100_000))
        ranges[name] = [middle, (0, min(size, 200_000))]  # a middle first, then the head
    here = {
        name: [hashlib.md5(_bytes(name, a, b)).hexdigest() for a, b in spans]
        for name, spans in ranges.items()
    }
    code = (
        "import hashlib, json, sys\n"
        "from roman_helpers.sandbox.archive.layouts import hst\n"
        "ranges = json.loads(sys.argv[1])\n"
        "out = {}\n"
        "for name in reversed(list(ranges)):\n"
        "    item = hst.product_object(hst.product(name))\n"
        "    spans = reversed(ranges[name])\n"
        "    out[name] = [hashlib.md5(item.read(a, b)).hexdigest() for a, b in spans][::-1]\n"
        "print(json.dumps(out))\n"
    )
    import json

    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(ranges)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == here


def test_mast_downloads_previews_through_the_cache_and_bucket_files_from_the_bucket(archive):
    preview = hst.download_object(archive, "hst/public/ib1f/ib1f0v010/ib1f0v010_drz_thumb.jpg")
    bucket = hst.download_object(archive, "hst/public/ib1f/ib1f0v010/ib1f0v010_asn.fits")
    assert preview is not None and bucket is not None
    assert archive.get("stpubdata", "hst/public/ib1f/ib1f0v010/ib1f0v010_drz_thumb.jpg") is None
    before = archive.cache.stats["generated"]
    assert preview.read(0, preview.size) == _bytes("ib1f0v010_drz_thumb.jpg")
    assert archive.cache.stats["generated"] == before + 1  # one chunk made, and kept
    assert bucket.read(0, bucket.size) == _bytes("ib1f0v010_asn.fits")
    assert hst.download_object(archive, "hst/public/ib1f/ib1f0v010/nothing.fits") is None
