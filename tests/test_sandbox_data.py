"""The sandbox's generated files: complete, format-faithful, consistent with their catalogs, cached."""

from __future__ import annotations

import hashlib

import asdf
import numpy as np
import pytest
import roman_datamodels as rdm
from astropy.io import fits
from astropy.wcs import WCS

from roman_helpers import datasets
from roman_helpers.sandbox import data
from roman_helpers.sandbox.services import catalog


@pytest.fixture(scope="module")
def manifest(sandbox):
    return sandbox.manifest


def _local(manifest, dataset: str, **params):
    ds = datasets.get(dataset)
    entry = manifest.find(ds.bucket, ds.key(**{**ds.defaults(), **params}))
    assert entry is not None, f"{dataset} {params} is not in the sandbox"
    return manifest.file(entry)


def test_every_dataset_file_and_every_drizzled_product_is_served(manifest):
    served = {(e.bucket, e.key) for e in manifest.objects}
    for dataset in datasets.load().values():
        if dataset.name == "hst-wfc3ir-m85":
            continue  # its keys come from MAST products, below
        wanted = {(dataset.bucket, dataset.key(**params)) for params in dataset.all_params()}
        assert wanted <= served, dataset.name
    drizzled = {("stpubdata", catalog.cloud_key(p["dataURI"])) for p in catalog.drizzled_products()}
    assert len(drizzled) == len(catalog.observations()) == 81 and drizzled <= served


def test_every_listed_product_has_a_file_previews_outside_the_bucket(manifest):
    in_bucket = {e.key: e for e in manifest.objects if e.bucket == "stpubdata"}
    mast_only = {e.key: e for e in manifest.mast_files}
    assert {e.bucket for e in manifest.mast_files} == {data.MAST_ONLY}
    products = catalog.products()
    assert len(products) == 19 * 81
    for row in products:
        key = catalog.cloud_key(row["dataURI"])
        where = mast_only if row["productType"] == "PREVIEW" else in_bucket
        assert key in where and key not in (in_bucket if where is mast_only else mast_only), key
    assert len(mast_only) == sum(row["productType"] == "PREVIEW" for row in products)


def test_small_build_stays_within_the_cache_budget(manifest):
    on_disk = sum(manifest.file(e).stat().st_size for e in [*manifest.objects, *manifest.mast_files])
    assert on_disk == manifest.total_bytes <= data.CACHE_BUDGET_BYTES
    assert {e.public for e in manifest.objects if e.bucket == data.PRIVATE_BUCKET} == {False}
    assert {e.public for e in manifest.objects if e.bucket != data.PRIVATE_BUCKET} == {True}


def test_manifest_sizes_and_md5_match_the_files(manifest):
    for entry in manifest.objects[::25]:
        payload = manifest.file(entry).read_bytes()
        assert (len(payload), hashlib.md5(payload).hexdigest()) == (entry.size, entry.md5)


def test_roman_files_validate_and_carry_what_their_names_say(manifest):
    cal = _local(
        manifest, "romanisim-dense-region", pointing="R0.5_DP0.5_PA90", optical_element="F129", detector=7
    )
    with rdm.open(cal) as model:  # roman_datamodels validates against its schemas on open
        assert type(model).__name__ == "ImageModel"
        assert (model.meta.instrument.detector, model.meta.instrument.optical_element) == ("WFI07", "F129")
        assert model.data.dtype == np.float32 and model.data.shape == data.SMALL
    uncal = _local(manifest, "romanisim-dense-region", suffix="uncal", detector=3)
    with rdm.open(uncal) as model:
        assert type(model).__name__ == "ScienceRawModel"
        assert model.data.ndim == 3 and model.data.dtype == np.uint16
    with asdf.open(cal) as af:  # saved as roman_datamodels saves: lz4 blocks
        assert af.get_array_compression(af["roman"]["data"]) == "lz4"


def test_new_style_public_file_names_match_their_metadata(manifest):
    path = _local(manifest, "roman-tutorial-2026", detector=4, optical_element="F106")
    assert path.name == "r0003201001001001004_0001_wfi04_f106_cal.asdf"
    with rdm.open(path) as model:
        assert (model.meta.instrument.detector, model.meta.instrument.optical_element) == ("WFI04", "F106")
        assert model.meta.observation.visit_id == "0003201001001001004"


def _brightest_star_contrast(image: np.ndarray, x: float, y: float) -> float:
    peak = image[round(y) - 1 : round(y) + 2, round(x) - 1 : round(x) + 2].max()
    return float((peak - np.median(image)) / np.std(image[:50, :50]))


def test_catalog_stars_land_on_bright_pixels_through_both_wcs(manifest):
    with asdf.open(_local(manifest, "openuniverse-was-asdf"), lazy_load=False) as af:
        roman = af["roman"]
        stars = roman["catalogs"]["stars"]
        brightest = stars[np.argmin(stars["mag"])]
        x, y = roman["wcs"].world_to_pixel_values(brightest["ra"], brightest["dec"])
        asdf_image = np.asarray(roman["data"])
    assert _brightest_star_contrast(asdf_image, x, y) > 20

    with fits.open(_local(manifest, "openuniverse-was-fits")) as hdul:
        fits_image = hdul["SCI"].data
        fx, fy = WCS(hdul["SCI"].header).world_to_pixel_values(brightest["ra"], brightest["dec"])
    assert abs(fx - x) < 0.01 and abs(fy - y) < 0.01  # the FITS and ASDF versions agree
    np.testing.assert_array_equal(fits_image, asdf_image)


def test_hst_drizzled_file_has_the_real_structure(manifest):
    with fits.open(_local(manifest, "hst-wfc3ir-m85", obs_id="ib1f0v010")) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "WHT", "CTX", "HDRTAB"]
        primary = hdul[0].header
        assert (primary["TELESCOP"], primary["INSTRUME"], primary["DETECTOR"], primary["TARGNAME"]) == (
            "HST",
            "WFC3",
            "IR",
            "M85",
        )
        x, y = WCS(hdul["SCI"].header).world_to_pixel_values(catalog.M85["ra"], catalog.M85["decl"])
        sci = hdul["SCI"].data
        assert sci[int(y), int(x)] > np.percentile(sci, 99)  # the galaxy's nucleus is where M85 is


def test_generation_is_deterministic_across_processes(tmp_path, manifest):
    """Files regenerated here, in another order, equal those the build's child processes wrote."""
    chosen = [
        o
        for o in data.plan()
        if o.key.endswith(
            (
                "_WFI02_cal.asdf",
                "_F158_15298_2.fits.gz",
                "roman_was_F158_15298_wfi02_simple.asdf",
                "ib1f0babq_ima.fits",
                "ib1f0b010_drz_thumb.jpg",
                "ib1f0b01j_jit.fits",
            )
        )
    ][:6]
    assert len(chosen) == 6
    again = data._generate(list(reversed(chosen)), tmp_path, progress=False)
    built = {(e.bucket, e.key): e.md5 for e in [*manifest.objects, *manifest.mast_files]}
    assert {(e.bucket, e.key): e.md5 for e in again} == {
        (o.bucket, o.key): built[(o.bucket, o.key)] for o in chosen
    }


def _hst(manifest, name: str):
    entry = next(e for e in [*manifest.objects, *manifest.mast_files] if e.key.endswith("/" + name))
    return manifest.file(entry)


def test_hst_exposure_files_have_the_wfc3_ir_structure(manifest):
    with fits.open(_hst(manifest, "ib1f0vabq_flt.fits")) as flt:
        assert [h.name for h in flt] == ["PRIMARY", "SCI", "ERR", "DQ", "SAMP", "TIME"]
        assert [flt[n].data.dtype.name for n in ("SCI", "ERR", "DQ", "SAMP", "TIME")] == [
            "float32",
            "float32",
            "int16",
            "int16",
            "float32",
        ]
        assert flt[0].header["ASN_ID"] == "IB1F0V010" and flt[0].header["FILETYPE"] == "SCI"
        nsamp, shape = flt[0].header["NSAMP"], flt["SCI"].data.shape
    border = 2 * 5  # reference pixels around the readout
    with fits.open(_hst(manifest, "ib1f0vabq_raw.fits")) as raw:
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
    with fits.open(_hst(manifest, "ib1f0vabq_ima.fits")) as ima:
        assert len(ima) == 1 + 5 * nsamp and ima["TIME", 1].data.dtype.name == "float32"
        assert float(ima["TIME", 1].data[0, 0]) == pytest.approx(float(ima[0].header["EXPTIME"]))


def test_hst_association_files_name_their_exposures(manifest):
    with fits.open(_hst(manifest, "ib1f0v010_asn.fits")) as asn:
        rows = list(zip(asn["ASN"].data["MEMNAME"], asn["ASN"].data["MEMTYPE"], strict=True))
    assert rows == [("IB1F0VABQ", "EXP-DTH"), ("IB1F0VBBQ", "EXP-DTH"), ("IB1F0V010", "PROD-DTH")]
    with fits.open(_hst(manifest, "ib1f0v01j_jit.fits")) as jit:
        assert [h.name for h in jit[1:]] == ["JIT", "JIT"] and "Seconds" in jit[1].columns.names
    with fits.open(
        _hst(manifest, "ib1f0v010_drz.fits")
    ) as drz:  # the drizzled image lists the same exposures
        assert [r.strip() for r in drz["HDRTAB"].data["ROOTNAME"]] == ["ib1f0vabq", "ib1f0vbbq"]


def test_hst_previews_are_jpeg_images_of_their_fits_files(manifest):
    from PIL import Image

    with (
        Image.open(_hst(manifest, "ib1f0v010_drz.jpg")) as full,
        fits.open(_hst(manifest, "ib1f0v010_drz.fits")) as drz,
    ):
        assert full.format == "JPEG" and full.size == drz["SCI"].data.shape[::-1]
        picture = np.flipud(np.asarray(full, dtype=float))
        x, y = WCS(drz["SCI"].header).world_to_pixel_values(catalog.M85["ra"], catalog.M85["decl"])
        assert picture[int(y), int(x)] > np.percentile(picture, 99)  # the galaxy's nucleus, north up
    with Image.open(_hst(manifest, "ib1f0v010_drz_thumb.jpg")) as thumb:
        assert thumb.format == "JPEG" and max(thumb.size) == 128


def test_catalog_positions_are_the_images_centres(manifest):
    for row in catalog.drizzled_products()[::9]:
        with fits.open(_hst(manifest, row["productFilename"])) as drz:
            header = drz["SCI"].header
            centre = WCS(header).pixel_to_world_values((header["NAXIS1"] - 1) / 2, (header["NAXIS2"] - 1) / 2)
        assert centre[0] % 360 == pytest.approx(row["s_ra"] % 360, abs=1e-6)
        assert centre[1] == pytest.approx(row["s_dec"], abs=1e-6)


def test_a_cached_build_is_reused_without_writing(manifest):
    stamp = (manifest.root / "manifest.json").stat().st_mtime_ns
    again = data.build(manifest.root.parent, manifest.size, progress=False)
    assert again.root == manifest.root and len(again.objects) == len(manifest.objects)
    assert (manifest.root / "manifest.json").stat().st_mtime_ns == stamp


def test_a_failing_generator_process_is_a_clear_start_error(tmp_path):
    from roman_helpers.sandbox.services.s3 import SandboxStartError

    not_a_folder = tmp_path / "staging"
    not_a_folder.write_text("")
    with pytest.raises(
        SandboxStartError, match=r"could not be generated: .*(NotADirectoryError|FileExistsError)"
    ):
        data._generate_in_parallel("small", not_a_folder, progress=False, workers=2)
