"""The Roman-format layouts (roman_helpers.sandbox.archive.layouts.roman), read through the sandbox S3.

Real clients (s3fs, asdf, roman_datamodels, astropy, PIL and the kit) read full-size objects that
no process has made before; the server counts requests and bytes. Expectations come from the
published layouts (file names, counts), from the sky model read independently of the layout
(sources, the WFI geometry) and from the files' own metadata, never from the layout's code.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import re
import subprocess
import sys

import asdf
import numpy as np
import pytest
import roman_datamodels as rdm
import roman_datamodels.datamodels as dm
import s3fs
from _stream_support import point_aws_clients_at
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits

from roman_helpers import stream
from roman_helpers.sandbox.archive import layouts
from roman_helpers.sandbox.archive.asdf import LZ4_CHUNK
from roman_helpers.sandbox.archive.layouts import roman as layout
from roman_helpers.sandbox.services.s3 import LocalS3Server
from roman_helpers.sandbox.sky import render, sources, wfi
from roman_helpers.sandbox.sky.bands import AB_ZERO_JY
from roman_helpers.sandbox.sky.surveys import ccs, was
from roman_helpers.sandbox.sky.surveys import roman as surveys

PUBLIC, PRIVATE = layout.PUBLIC, layout.PRIVATE
TUTORIAL = layout.TUTORIAL_PREFIX
SIDE = wfi.DETECTOR_SIDE


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The sky archive (every registered layout) served by the sandbox S3 from this process."""
    archive = layouts.sky_archive(str(tmp_path_factory.mktemp("roman-cache")), budget=3 * 1024**3)
    with LocalS3Server(archive) as server:
        yield server, archive


@pytest.fixture
def fs(served):
    s3fs.S3FileSystem.clear_instance_cache()
    return s3fs.S3FileSystem(anon=True, endpoint_url=served[0].url, skip_instance_cache=True)


@pytest.fixture
def signed_fs(served):
    s3fs.S3FileSystem.clear_instance_cache()
    return s3fs.S3FileSystem(
        key="throwaway", secret="throwaway", endpoint_url=served[0].url, skip_instance_cache=True
    )


@pytest.fixture
def kit_env(served, tmp_path, monkeypatch):
    """The kit's own clients pointed at the in-process server, with throw-away credentials."""
    point_aws_clients_at(
        served[0].url, tmp_path, monkeypatch, unset=("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")
    )
    yield served
    s3fs.S3FileSystem.clear_instance_cache()


def _sent(server, mark: int) -> tuple[int, int]:
    since = server.stats.since(mark)
    return since.requests, since.bytes_sent


# ------------------------------------------------------------------ what is listed


def test_every_prefix_lists_the_published_counts(served):
    archive = served[1]
    keys = archive.keys(PUBLIC)

    def count(prefix: str, suffix: str = "") -> int:
        return sum(1 for key in keys if key.startswith(prefix) and key.endswith(suffix))

    root = ccs.PREFIX
    # roman_notebooks' ccs_simulations: 88,038 GBTDS and 68,040 HLWAS L1/L2 datasets
    for program, datasets in (("r00340", 88_038), ("r00342", 68_040)):
        assert count(f"{root}/{program}/l1/", "_uncal.asdf") == datasets
        assert count(f"{root}/{program}/l1/") == datasets
        for suffix in ("_cal.asdf", "_preview.png", "_thumb.png"):
            assert count(f"{root}/{program}/l2/", suffix) == datasets
        assert count(f"{root}/{program}/l2/") == 3 * datasets
    # four exposures x 18 detectors x (cal, uncal), and the WFI11 mosaic
    assert count(TUTORIAL) == 4 * 18 * 2 + 1
    assert count(f"{root}/input_catalogs/", ".fits") == len(
        set(ccs.input_catalog_cells("r00340")) | set(ccs.input_catalog_cells("r00342"))
    )
    private = archive.keys(PRIVATE)
    assert sum(k.startswith("ROMANISIM/DENSE_REGION/") for k in private) == 2 * 2 * 18 * 2
    assert sum(k.startswith("OPEN_UNIVERSE/WAS/simple_model/") for k in private) == len(was.images("preview"))


def test_the_tutorial_prefix_lists_as_published(fs):
    listed = fs.ls(f"{PUBLIC}/{TUTORIAL}", detail=True)
    names = {item["name"].rsplit("/", 1)[1]: item["size"] for item in listed}
    assert len(names) == 145 and "my_roman_mosaic_coadd.asdf" in names
    for detector in range(1, 19):  # the file the Roman tutorials read, for every detector
        assert f"r0003201001001001004_0001_wfi{detector:02d}_f106_cal.asdf" in names
    assert "r0003201001001001004_0002_wfi02_f106_cal.asdf" in names  # exposure 2 of the same visit
    assert not any("f158" in name for name in names)
    cal = {size for name, size in names.items() if name.endswith("_cal.asdf")}
    assert len(cal) == 1 and 300e6 < cal.pop() < 400e6  # every cal file full size, one family


def test_tutorial_pointings_follow_the_published_box_dither():
    table = surveys.tutorial_pointings()
    assert table["exposure"].tolist() == [1, 2, 3, 4]
    assert (float(table["wfi_ra"][0]), float(table["wfi_dec"][0])) == (270.94, -0.2)
    pa = math.radians(float(table["wfi_pa"][0]))
    for k, (dx, dy) in enumerate(surveys.TUTORIAL_DITHERS[1:]):
        a = SkyCoord(table["wfi_ra"][k] * u.deg, table["wfi_dec"][k] * u.deg)
        b = SkyCoord(table["wfi_ra"][k + 1] * u.deg, table["wfi_dec"][k + 1] * u.deg)
        east, north = (v.to_value(u.arcsec) for v in a.spherical_offsets_to(b))
        # the focal plane's u axis points west of +v (position angle pa): u = -(east cos + north sin)
        along_v = east * math.sin(pa) + north * math.cos(pa)
        along_u = -(east * math.cos(pa) - north * math.sin(pa))
        assert along_u == pytest.approx(dx, abs=0.05) and along_v == pytest.approx(dy, abs=0.05)


# ------------------------------------------------------------------ Level 2 and Level 1 through real clients


def test_cal_file_is_a_schema_valid_full_size_model_read_for_its_tree_only(served, fs):
    server = served[0]
    name = "r0003201001001001004_0002_wfi11_f106_cal.asdf"
    mark = len(server.stats.records)
    path = f"{PUBLIC}/{TUTORIAL}{name}"
    with (
        fs.open(path, "rb", block_size=256 * 1024, cache_type="bytes") as handle,
        rdm.open(handle) as model,  # validates the tree against the installed schema
    ):
        assert isinstance(model, dm.ImageModel)
        meta = model.meta
        assert meta.filename == name
        assert (meta.instrument.detector, meta.instrument.optical_element) == ("WFI11", "F106")
        assert (meta.observation.visit, meta.observation.exposure, meta.observation.program) == (4, 2, 32)
        pointing = surveys.tutorial_pointings()[1]
        assert meta.exposure.start_time.isot == pointing["start_time"]
        assert (meta.exposure.end_time - meta.exposure.start_time).to_value(u.s) == pytest.approx(139.8)
        assert (meta.pointing.target_ra, meta.pointing.target_dec) == pytest.approx(
            (pointing["wfi_ra"], pointing["wfi_dec"])
        )
        assert meta.photometry.conversion_megajanskys > 0 and meta.photometry.pixel_area == pytest.approx(
            (0.11 * u.arcsec).to_value(u.rad) ** 2
        )
        shapes = {k: (model[k].shape, model[k].dtype.name) for k in ("data", "dq", "err", "var_poisson")}
        assert shapes == {
            "data": ((SIDE, SIDE), "float32"),
            "dq": ((SIDE, SIDE), "uint32"),
            "err": ((SIDE, SIDE), "float16"),
            "var_poisson": ((SIDE, SIDE), "float16"),
        }
        assert model.amp33.shape == (meta.exposure.nresultants, 4096, 128)
        assert model.meta.wcs.bounding_box.bounding_box() == ((-0.5, 4087.5), (-0.5, 4087.5))
    _, sent = _sent(server, mark)
    assert sent < 2 * 1024 * 1024  # the tree and the block index of a 348 MB file
    with (
        fs.open(f"{PUBLIC}/{TUTORIAL}{name}", "rb", block_size=256 * 1024, cache_type="bytes") as handle,
        asdf.open(handle) as opened,
    ):
        assert opened["roman"]["data"].shape == (SIDE, SIDE)
        assert opened.get_array_compression(opened["roman"]["data"]) == "lz4"


def test_uncal_file_carries_romanisim_s_record_beside_a_full_ramp_cube(served, fs):
    server = served[0]
    name = "r0003201001001001004_0001_wfi01_f106_uncal.asdf"
    uri = f"{PUBLIC}/{TUTORIAL}{name}"
    mark = len(server.stats.records)
    with fs.open(uri, "rb", block_size=256 * 1024, cache_type="bytes") as handle:
        head = handle.read(80 * 1024)
        handle.seek(0)
        with asdf.open(handle) as opened:
            assert list(opened.tree) == ["asdf_library", "history", "roman", "romanisim"]
            record = opened.tree["romanisim"]
            assert (record["sca"], record["bandpass"], record["level"]) == (1, "F106", 1)
            assert record["filename"] == name and re.fullmatch(r"\d+\.\d+\.\d+", record["version"])
            ramp = opened["roman"]["data"]
            model = rdm.open(opened)
            assert isinstance(model, dm.ScienceRawModel)
            pattern = model.meta.exposure.read_pattern
            assert (ramp.shape, ramp.dtype.name) == ((len(pattern), 4096, 4096), "uint16")
            assert model.amp33.shape == (len(pattern), 4096, 128)
            assert model.meta.exposure.nresultants == len(pattern) == 9
            assert [r[0] for r in pattern] == sorted(r[0] for r in pattern)  # reads in order
            pointing = model.meta.pointing
            centre = wfi.detector_centres(pointing.target_ra, pointing.target_dec, pointing.pa_v3, 1)
            assert model.meta.wcsinfo.ra_ref == pytest.approx(float(centre[0]))
    # the tree ends inside 80 KiB, where the CCS notebook's WCS fix looks for it
    assert re.search(rb"\r?\n\.\.\.\r?\n", head) is not None
    _, sent = _sent(server, mark)
    assert sent < 2 * 1024 * 1024  # of a 302 MB file


def test_kit_cutout_of_a_never_generated_cal_reads_only_its_chunks(kit_env):
    server, archive = kit_env
    name = "r0003201001001001004_0003_wfi14_f106_cal.asdf"
    image = layout.tutorial_image(name.removesuffix("_cal.asdf"))
    made = layout.sky_image(image)
    assert made.made_blocks == 0
    x0, y0 = 1500, 2100
    mark = len(server.stats.records)
    cut = stream.cutout(f"s3://{PUBLIC}/{TUTORIAL}{name}", box=(x0, y0, x0 + 100, y0 + 100))
    requests, sent = _sent(server, mark)
    assert np.array_equal(cut.data, made.rows(y0, y0 + 100)[0][:, x0 : x0 + 100])
    item = archive.get(PUBLIC, f"{TUTORIAL}{name}")
    assert sent < item.item.tree_size + 2 * (LZ4_CHUNK + 64) + 256 * 1024  # tree, two lz4 chunks, index
    # the tree, the block index, the block's header and the 8-byte headers of the lz4 chunks
    # before the rows (asdf's framing has no chunk index), then the chunks themselves
    assert requests <= 3 + math.ceil((y0 + 100) * SIDE * 4 / LZ4_CHUNK) + 1
    # pixels made: the rows of the one lz4 chunk holding rows 2100-2199 (4 MiB) and of the 1 MiB
    # cache chunks it straddles, at most 8 of the image's 64 blocks of rows; none for the headers
    block = render.BLOCK_ROWS * SIDE * 4
    assert made.made_blocks <= math.ceil((LZ4_CHUNK + 2 * 1024**2) / block) + 1 < 64


def test_gwcs_agrees_with_the_wfi_footprint(served, fs):
    name = "r0003201001001001004_0004_wfi06_f106_cal.asdf"
    image = layout.tutorial_image(name.removesuffix("_cal.asdf"))
    with (
        fs.open(f"{PUBLIC}/{TUTORIAL}{name}", "rb", block_size=256 * 1024, cache_type="bytes") as handle,
        rdm.open(handle) as model,
    ):
        gwcs = model.meta.wcs
        region = model.meta.wcsinfo.s_region
        ref = (model.meta.wcsinfo.ra_ref, model.meta.wcsinfo.dec_ref)
    edges = [(-0.5, -0.5), (4087.5, -0.5), (4087.5, 4087.5), (-0.5, 4087.5)]
    ra, dec = wfi.corners(image.wfi_ra, image.wfi_dec, image.wfi_pa, 6, convention="roman")
    for (x, y), expected in zip(edges, zip(ra, dec, strict=True), strict=True):
        got = SkyCoord(*gwcs(x, y, with_bounding_box=False), unit="deg")
        assert got.separation(SkyCoord(*expected, unit="deg")).to_value(u.arcsec) < 1e-6
    numbers = [float(v) for v in region.removeprefix("POLYGON ICRS ").split()]
    assert np.allclose(numbers[0::2], ra, atol=1e-8) and np.allclose(numbers[1::2], dec, atol=1e-8)
    centre = wfi.detector_centres(image.wfi_ra, image.wfi_dec, image.wfi_pa, 6)
    assert ref == pytest.approx((float(centre[0]), float(centre[1])))
    assert np.allclose(gwcs(wfi.REFERENCE_PIXEL, wfi.REFERENCE_PIXEL), ref)
    assert np.isnan(gwcs(-3.0, 100.0)[0])  # outside the bounding box


def test_one_sky_a_catalog_star_measured_in_the_tutorial_cal_file(kit_env):
    name = "r0003201001001001004_0001_wfi09_f106_cal.asdf"
    uri = f"s3://{PUBLIC}/{TUTORIAL}{name}"
    meta = stream.read_metadata(uri)
    with (
        s3fs.S3FileSystem().open(uri.removeprefix("s3://"), "rb", block_size=256 * 1024) as handle,
        rdm.open(handle) as model,
    ):
        gwcs = model.meta.wcs
        photometry = (model.meta.photometry.conversion_megajanskys, model.meta.photometry.pixel_area)
    assert meta["filename"] == name
    # a star of the sky model, F106 19-20, nothing brighter than 5 mag fainter within 3 arcsec
    corners = [gwcs(x, y) for x, y in ((0, 0), (4087, 0), (4087, 4087), (0, 4087))]
    near = sources.polygon([c[0] for c in corners], [c[1] for c in corners])
    stars, galaxies = near.stars, near.galaxies
    mags = stars.mag("F106")
    every = SkyCoord(np.r_[stars.ra, galaxies.ra] * u.deg, np.r_[stars.dec, galaxies.dec] * u.deg)
    every_mag = np.r_[mags, galaxies.mag("F106")]
    chosen = None
    for index in np.argsort(mags):
        if not 19.0 < mags[index] < 20.0:
            continue
        here = SkyCoord(stars.ra[index] * u.deg, stars.dec[index] * u.deg)
        x, y = gwcs.world_to_pixel(here)
        crowd = (here.separation(every) < 3 * u.arcsec) & (every_mag < mags[index] + 5)
        if crowd.sum() == 1 and 30 < x < SIDE - 30 and 30 < y < SIDE - 30:
            chosen = (index, float(x), float(y))
            break
    assert chosen is not None, "no isolated 19-20 mag star on the detector"
    index, x, y = chosen
    x0, y0 = round(x) - 20, round(y) - 20
    stamp = stream.cutout(uri, box=(x0, y0, x0 + 41, y0 + 41)).data.astype(float)
    error = stream.cutout(uri, box=(x0, y0, x0 + 41, y0 + 41), ext="err").data.astype(float)
    yy, xx = np.mgrid[y0 : y0 + 41, x0 : x0 + 41]
    r = np.hypot(xx - x, yy - y)
    sky = np.median(stamp[(r > 12) & (r < 18)])
    inside = r < 8
    flux = (stamp[inside] - sky).sum()  # DN/s
    sigma = np.sqrt((error[inside] ** 2).sum())
    # position: the light's centroid is the catalog star's pixel through the file's own gwcs
    weights = np.clip(stamp - sky, 0, None) * inside
    assert (weights * xx).sum() / weights.sum() == pytest.approx(x, abs=0.1)
    assert (weights * yy).sum() / weights.sum() == pytest.approx(y, abs=0.1)
    # flux: DN/s -> MJy with the file's photometry -> AB magnitude, against the catalog
    jansky = flux * photometry[0] * photometry[1] * 1e6
    measured = -2.5 * math.log10(jansky / AB_ZERO_JY)
    tolerance = 2.5 / math.log(10) * (5 * sigma / flux) + 0.01  # 5 sigma, and 1 % for the PSF's wings
    assert measured == pytest.approx(float(mags[index]), abs=tolerance)


def test_tutorial_mosaic_is_a_level_3_model_of_wfi11_from_the_four_dithers(kit_env, fs):
    server = kit_env[0]
    uri = f"{PUBLIC}/{TUTORIAL}my_roman_mosaic_coadd.asdf"
    mark = len(server.stats.records)
    with (
        fs.open(uri, "rb", block_size=256 * 1024, cache_type="bytes") as handle,
        rdm.open(handle) as model,
    ):
        assert isinstance(model, dm.MosaicModel)
        assert model.meta.instrument.optical_element == "F106"
        members = list(model.meta.resample.members)
        gwcs = model.meta.wcs
        ny, nx = model.data.shape
        assert model.context.shape == (1, ny, nx) and model.weight.shape == (ny, nx)
    assert members == [f"r0003201001001001004_{e:04d}_wfi11_f106_cal.asdf" for e in range(1, 5)]
    _, sent = _sent(server, mark)
    assert sent < 2 * 1024 * 1024
    # the weight is the exposure time of the dithers whose WFI11 covers each pixel
    table = surveys.tutorial_pointings()
    detectors = [wfi.wcs(r["wfi_ra"], r["wfi_dec"], r["wfi_pa"], 11, convention="roman") for r in table]
    x0, y0 = nx // 2 - 1500, ny // 2 + 900
    weight = stream.cutout(f"s3://{uri}", box=(x0, y0, x0 + 40, y0 + 40), ext="weight").data
    yy, xx = np.mgrid[y0 : y0 + 40, x0 : x0 + 40]
    ra, dec = gwcs(xx.ravel(), yy.ravel())
    count = np.zeros(xx.size)
    for detector in detectors:
        px, py = detector.world_to_pixel_values(ra, dec)
        count += (px >= -0.5) & (px < SIDE - 0.5) & (py >= -0.5) & (py < SIDE - 0.5)
    assert np.allclose(weight.ravel(), count * 139.8) and count.max() >= 2
    # the union of the four footprints fits the mosaic, with no empty border wider than a pixel
    corners = [wfi.corners(r["wfi_ra"], r["wfi_dec"], r["wfi_pa"], 11, convention="roman") for r in table]
    px, py = gwcs.invert(np.ravel([c[0] for c in corners]), np.ravel([c[1] for c in corners]))
    assert px.min() > -0.5 and py.min() > -0.5 and px.max() < nx - 0.5 and py.max() < ny - 0.5
    assert min(px.min() + 0.5, py.min() + 0.5, nx - 0.5 - px.max(), ny - 0.5 - py.max()) < 2


# ------------------------------------------------------------------ the Roman Research Nexus's private bucket


def test_private_bucket_refuses_anonymous_reads_and_serves_signed_ones(served, fs, signed_fs):
    key = "ROMANISIM/DENSE_REGION/R0.5_DP0.5_PA90/r0000101001001001002_01101_0001_WFI07_cal.asdf"
    with pytest.raises(PermissionError):
        fs.ls(f"{PRIVATE}/ROMANISIM/DENSE_REGION/")
    with pytest.raises(PermissionError):
        fs.cat_file(f"{PRIVATE}/{key}", start=0, end=10)
    assert sorted(p.rsplit("/", 1)[1] for p in signed_fs.ls(f"{PRIVATE}/ROMANISIM/DENSE_REGION/")) == [
        "R0.5_DP0.5_PA0",
        "R0.5_DP0.5_PA90",
    ]
    with (
        signed_fs.open(f"{PRIVATE}/{key}", "rb", block_size=256 * 1024, cache_type="bytes") as handle,
        rdm.open(handle) as model,
    ):
        assert (model.meta.instrument.optical_element, model.meta.instrument.detector) == (
            "F129",
            "WFI07",
        )
        assert model.meta.pointing.pa_v3 == 90.0 and model.data.shape == (SIDE, SIDE)


def test_openuniverse_conversion_holds_the_was_image_its_gwcs_and_catalogs(kit_env, signed_fs):
    table = was.images("preview")
    row = table[(table["pointing"] == table["pointing"][0]) & (table["sca"] == 3)][0]
    pointing, sca, band_name = int(row["pointing"]), 3, str(row["filter"])
    name = f"roman_was_{band_name}_{pointing}_wfi03_simple.asdf"
    key = f"OPEN_UNIVERSE/WAS/simple_model/{band_name}/{pointing}/{name}"
    with (
        signed_fs.open(f"{PRIVATE}/{key}", "rb", block_size=256 * 1024, cache_type="bytes") as handle,
        asdf.open(handle) as opened,
    ):
        roman = opened["roman"]
        gwcs = roman["wcs"]
        catalogs = {name: roman["catalogs"][name] for name in ("galaxies", "stars", "transients")}
        assert roman["data"].shape == roman["err"].shape == roman["dq"].shape == (SIDE, SIDE)
        assert type(catalogs["galaxies"]).__name__ == "Table"
        assert roman["meta"]["SCA_NUM"] == 3 and roman["meta"]["FILTER"] == band_name
        galaxy_ids = set(catalogs["galaxies"]["galaxy_id"].tolist())
    # the gwcs is the detector's (the OpenUniverse convention: detector 3 is turned by 180 degrees)
    sequence = was.observation_sequence()[pointing]
    ra, dec = wfi.corners(float(sequence["ra"]), float(sequence["dec"]), float(sequence["pa"]), 3)
    got = gwcs(-0.5, -0.5, with_bounding_box=False)
    assert SkyCoord(*got, unit="deg").separation(SkyCoord(ra[0], dec[0], unit="deg")).arcsec < 1e-6
    # the galaxies catalog: every sky galaxy whose centre the gwcs puts on the image
    centre = gwcs(2043.5, 2043.5)
    near = sources.cone(float(centre[0]), float(centre[1]), 0.1).galaxies
    x, y = gwcs.world_to_pixel_values(near.ra, near.dec)
    on = (x >= -0.5) & (x < SIDE - 0.5) & (y >= -0.5) & (y < SIDE - 0.5)
    assert galaxy_ids == set(near.object_id[on].tolist()) and galaxy_ids
    # the pixels are the WAS image's (the IRSA FITS's): the same Exposure of the same survey row
    x0, y0 = 3000, 700
    cut = stream.cutout(f"s3://{PRIVATE}/{key}", box=(x0, y0, x0 + 60, y0 + 60))
    assert np.array_equal(cut.data, was.image_exposure(pointing, sca).rows(y0, y0 + 60)[0][:, x0 : x0 + 60])


# ------------------------------------------------------------------ previews and input catalogs


def test_previews_are_pngs_of_the_stated_size(served, fs):
    from PIL import Image

    stem = ccs.manifest("r00342")["l2_s3_uri"][500].rsplit("/", 1)[1].removesuffix("_cal.asdf")
    root = f"{PUBLIC}/{ccs.PREFIX}/r00342/l2/{stem}"
    for suffix, side in (("thumb", 300), ("preview", 1080)):
        listed = fs.info(f"{root}_{suffix}.png")["size"]
        data = fs.cat_file(f"{root}_{suffix}.png")
        assert len(data) == listed
        image = Image.open(io.BytesIO(data))
        image.load()
        assert (image.size, image.mode, image.format) == ((side, side), "RGB", "PNG")
        pixels = np.asarray(image)
        assert pixels.std() > 0
        # a stretch between the 5th and 95th percentiles: about 5 % of the cells at full scale
        assert 0.01 < (pixels[..., 2] == 255).mean() < 0.1  # afmhot: blue is full only at the top


def test_input_catalog_is_a_fits_table_of_the_cell_s_sources(served, fs):
    import hpgeom

    cell = int(ccs.input_catalog_cells("r00342")[100])
    with (
        fs.open(f"{PUBLIC}/{ccs.PREFIX}/input_catalogs/cat-{cell}.fits", "rb") as handle,
        fits.open(handle) as hdul,
    ):
        table = hdul[1].data
        names = hdul[1].columns.names
    assert names[:7] == ["ra", "dec", "type", "n", "half_light_radius", "pa", "ba"]
    assert set(names[7:]) == {"F062", "F087", "F106", "F129", "F146", "F158", "F184", "F213"}
    galactic = SkyCoord(table["ra"] * u.deg, table["dec"] * u.deg).galactic
    assert np.all(hpgeom.angle_to_pixel(512, galactic.l.deg, galactic.b.deg, nest=True, lonlat=True) == cell)
    centre = SkyCoord(
        *hpgeom.pixel_to_angle(512, cell, nest=True, lonlat=True), unit="deg", frame="galactic"
    ).icrs
    near = sources.cone(float(centre.ra.deg), float(centre.dec.deg), 0.15)

    def in_cell(kind):
        where = SkyCoord(kind.ra * u.deg, kind.dec * u.deg).galactic
        return hpgeom.angle_to_pixel(512, where.l.deg, where.b.deg, nest=True, lonlat=True) == cell

    stars, galaxies = near.stars.take(np.flatnonzero(in_cell(near.stars))), near.galaxies
    galaxies = galaxies.take(np.flatnonzero(in_cell(galaxies)))
    assert len(table) == len(stars) + len(galaxies) > 0
    kinds = np.char.strip(table["type"].astype(str))
    assert (kinds == "PSF").sum() == len(stars) and (kinds == "SER").sum() == len(galaxies)
    # fluxes in maggies: the sky model's magnitudes of the same stars, matched by position
    order = np.argsort(stars.ra)
    psf = np.flatnonzero(kinds == "PSF")
    psf = psf[np.argsort(table["ra"][psf])]
    assert np.allclose(table["ra"][psf], stars.ra[order], atol=1e-12)
    for name in ("F062", "F146", "F213"):
        assert np.allclose(-2.5 * np.log10(table[name][psf]), stars.mag(name)[order], atol=1e-5)


# ------------------------------------------------------------------ sizes and determinism


def _block_offsets(item) -> list[int]:
    tail = item.read(item.size - 4096, item.size)
    index = tail[tail.rindex(b"#ASDF BLOCK INDEX") :]
    return [int(v) for v in re.findall(rb"^- (\d+)$", index, re.M)]


def test_every_family_s_files_have_the_size_they_are_listed_with(served):
    archive = served[1]
    keys = archive.keys(PUBLIC) + archive.keys(PRIVATE)
    chosen = [k for k in keys if k.startswith(TUTORIAL)][::37]
    for program in ("r00340", "r00342"):
        manifest = ccs.manifest(program)
        for exptime in sorted(set(manifest["exptime"].tolist())):
            rows = np.flatnonzero(manifest["exptime"] == exptime)
            for row in (rows[0], rows[-1]):
                cal = str(manifest["l2_s3_uri"][row]).split("/", 3)[3]
                chosen += [cal, cal.replace("/l2/", "/l1/").replace("_cal.asdf", "_uncal.asdf")]
    chosen += [k for k in keys if k.startswith("ROMANISIM/")][::50]
    chosen += [k for k in keys if k.startswith("OPEN_UNIVERSE/")][::1500]
    for key in chosen:
        bucket = PRIVATE if key.startswith(("ROMANISIM", "OPEN_UNIVERSE")) else PUBLIC
        provider = next(p for p in archive.providers(bucket) if key.startswith(p.prefix))
        listed = archive.get(bucket, key).size
        fresh = provider.build(key)  # laid out from its own tree: raises if the size given was wrong
        assert fresh.read(0, 6) == b"#ASDF " and fresh.size == listed
        for offset in _block_offsets(fresh):
            assert fresh.read(offset, offset + 4) == b"\xd3BLK"


_FINGERPRINT = """
import hashlib, json, sys
from roman_helpers.sandbox.archive import layouts
archive = layouts.sky_archive(sys.argv[1])
out = {}
for bucket, key, spans in json.loads(sys.argv[2]):
    item = archive.get(bucket, key)
    out[key] = [hashlib.sha256(item.read(a, b)).hexdigest() for a, b in spans]
print(json.dumps(out))
"""


def test_two_processes_make_identical_bytes(served, tmp_path):
    archive = served[1]
    cell = int(ccs.input_catalog_cells("r00342")[7])
    wanted = []
    for bucket, key in (
        (PUBLIC, f"{TUTORIAL}r0003201001001001004_0002_wfi17_f106_cal.asdf"),
        (PUBLIC, f"{TUTORIAL}r0003201001001001004_0002_wfi17_f106_uncal.asdf"),
        (PRIVATE, sorted(k for k in archive.keys(PRIVATE) if k.startswith("OPEN_UNIVERSE/"))[40]),
        (PUBLIC, f"{ccs.PREFIX}/input_catalogs/cat-{cell}.fits"),
    ):
        item = archive.get(bucket, key)
        spans = [(0, min(item.size, 96 * 1024))]
        if key.endswith(".asdf"):
            first = _block_offsets(item)[0]
            spans.append((first + 6 * 1024 * 1024, first + 6 * 1024 * 1024 + 200_000))  # inside the data
        wanted.append((bucket, key, spans))
    here = {
        key: [hashlib.sha256(archive.get(b, key).read(a, z)).hexdigest() for a, z in spans]
        for b, key, spans in wanted
    }
    other = subprocess.run(
        [sys.executable, "-c", _FINGERPRINT, str(tmp_path / "other-cache"), json.dumps(wanted)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    assert json.loads(other.stdout) == here


def test_the_kit_indexes_an_openuniverse_conversion_as_the_fits_image_it_was_made_from(kit_env, fs):
    """The Nexus's ASDF conversion keeps the FITS keywords in roman.meta: band, detector, times from them."""
    from roman_helpers import footprints

    name = "F184/15297/{}"
    converted = f"s3://{PRIVATE}/OPEN_UNIVERSE/WAS/simple_model/" + name.format(
        "roman_was_F184_15297_wfi11_simple.asdf"
    )
    original = (
        "nasa-irsa-simulations/openuniverse2024/roman/preview/RomanWAS/images/simple_model/"
        + name.format("Roman_WAS_simple_model_F184_15297_11.fits.gz")
    )
    with fs.open(original, "rb") as handle:  # astropy reads the FITS twin's primary header
        header = fits.Header.fromfile(gzip.GzipFile(fileobj=handle))
        said = (header["FILTER"], int(header["SCA_NUM"]), float(header["EXPTIME"]), float(header["MJD-OBS"]))
    [row] = footprints.build_index([converted], progress=False)
    assert row["error"] == ""
    assert (row["band"], row["detector"]) == (said[0], f"WFI{said[1]:02d}")
    assert row["exptime"] == pytest.approx(said[2]) and row["t_start"] == pytest.approx(said[3])
    assert row["t_end"] == pytest.approx(said[3] + said[2] / 86400)
