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
from roman_helpers.sandbox import catalog, data


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
    assert len(drizzled) == 72 and drizzled <= served
    assert {e.public for e in manifest.objects if e.bucket == data.PRIVATE_BUCKET} == {False}
    assert {e.public for e in manifest.objects if e.bucket != data.PRIVATE_BUCKET} == {True}


def test_manifest_sizes_and_md5_match_the_files(manifest):
    for entry in manifest.objects[::25]:
        payload = manifest.file(entry).read_bytes()
        assert (len(payload), hashlib.md5(payload).hexdigest()) == (entry.size, entry.md5)


def test_roman_files_validate_and_carry_what_their_names_say(manifest):
    cal = _local(manifest, "romanisim-dense-region", pointing="R0.5_DP0.5_PA90", optical_element="F129", detector=7)
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
    path = _local(manifest, "roman-tutorial-2026", detector=4, optical_element="F158")
    assert path.name == "r0003201001001001004_0001_wfi04_f158_cal.asdf"
    with rdm.open(path) as model:
        assert (model.meta.instrument.detector, model.meta.instrument.optical_element) == ("WFI04", "F158")
        assert model.meta.observation.visit_id == "0003201001001001004"


def _brightest_star_contrast(image: np.ndarray, x: float, y: float) -> float:
    peak = image[int(round(y)) - 1:int(round(y)) + 2, int(round(x)) - 1:int(round(x)) + 2].max()
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
        assert (primary["TELESCOP"], primary["INSTRUME"], primary["DETECTOR"], primary["TARGNAME"]) == \
            ("HST", "WFC3", "IR", "M85")
        x, y = WCS(hdul["SCI"].header).world_to_pixel_values(catalog.M85["ra"], catalog.M85["decl"])
        sci = hdul["SCI"].data
        assert sci[int(y), int(x)] > np.percentile(sci, 99)  # the galaxy's nucleus is where M85 is


def test_generation_is_deterministic(tmp_path):
    chosen = [o for o in data.plan() if o.key.endswith(("_WFI02_cal.asdf", "_F158_15298_2.fits.gz",
                                                         "roman_was_F158_15298_wfi02_simple.asdf"))][:3]
    assert len(chosen) == 3
    first = data._generate(chosen, tmp_path / "a", progress=False)
    second = data._generate(chosen, tmp_path / "b", progress=False)
    assert [e.md5 for e in first] == [e.md5 for e in second]


def test_a_cached_build_is_reused_without_writing(manifest):
    stamp = (manifest.root / "manifest.json").stat().st_mtime_ns
    again = data.build(manifest.root.parent, manifest.size, progress=False)
    assert again.root == manifest.root and len(again.objects) == len(manifest.objects)
    assert (manifest.root / "manifest.json").stat().st_mtime_ns == stamp
