"""The Core Community Survey simulations' manifests and HLWAS L3 skycells, read as users read them.

The manifests are written by the command users run (``roman-helpers sandbox manifests``) and
read back as text; the files are read through the sandbox S3 with s3fs, roman_datamodels and the
kit. Expectations come from the published design (column names, dataset counts, file-name
patterns, the skycell grid's sizes), from the WFI geometry (:mod:`~roman_helpers.sandbox.sky.wfi`,
one detector WCS at a time) and from the sky model's sources, never from the layout's code.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import roman_datamodels as rdm
import roman_datamodels.datamodels as dm
import s3fs
import yaml
from _stream_support import point_aws_clients_at
from astropy import units as u
from astropy.coordinates import SkyCoord

from roman_helpers import stream
from roman_helpers.sandbox import cli
from roman_helpers.sandbox.archive import layouts
from roman_helpers.sandbox.services.s3 import LocalS3Server
from roman_helpers.sandbox.sky import sources, wfi
from roman_helpers.sandbox.sky.surveys import ccs

BUCKET = "stpubdata"
ROOT = "roman/nexus/soc_simulations"
SIDE = wfi.DETECTOR_SIDE
# the notebook's markdown, column by column
L1_L2_COLUMNS = {
    "wfi_ra", "wfi_dec", "wfi_pa", "detector_ra", "detector_dec", "detector", "optical_element",
    "start_time", "end_time", "ma_table_id", "exptime", "pass", "segment", "observation", "visit",
    "exposure", "l1_s3_uri", "l2_s3_uri",
}  # fmt: skip
COADD_COLUMNS = [
    "skycell_ra", "skycell_dec", "skycell_name", "grouping", "exptime", "max_exptime",
    "optical_element", "l3_s3_uri",
]  # fmt: skip
# the HLWAS design: (filter, passes) per tier, 20 places, three dithered exposures per visit
HLWAS_PASSES = (
    [("F158", 3)]
    + [(f, 3) for f in ("F106", "F129", "F158", "F184")]
    + [(f, 4) for f in ("F087", "F106", "F129", "F158", "F184", "F213")]
    + [(f, 3) for f in ("F062", "F087", "F106", "F129", "F146", "F158", "F184", "F213")]
)
SKYCELL_NAME = re.compile(r"^\d{3}[pm]\d{2}x\d{2}y\d{2}$")
L3_NAME = re.compile(
    r"^r00342_p_v01(\d{3})001(\d{3})(\d{3})_(\d{3}[pm]\d{2}x\d{2}y\d{2})_(f\d{3})_coadd\.asdf$"
)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The sky archive (every registered layout) served by the sandbox S3 from this process."""
    archive = layouts.sky_archive(str(tmp_path_factory.mktemp("ccs-cache")), budget=2 * 1024**3)
    with LocalS3Server(archive) as server:
        yield server, archive


@pytest.fixture
def fs(served):
    s3fs.S3FileSystem.clear_instance_cache()
    return s3fs.S3FileSystem(anon=True, endpoint_url=served[0].url, skip_instance_cache=True)


@pytest.fixture
def kit_env(served, tmp_path, monkeypatch):
    point_aws_clients_at(
        served[0].url, tmp_path, monkeypatch, unset=("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")
    )
    yield served
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The three manifests, as the command writes them: {name: (columns, data lines)}."""
    folder = tmp_path_factory.mktemp("manifests")
    assert cli.main(["manifests", str(folder)]) == 0
    found = {}
    for path in sorted(folder.iterdir()):
        lines = path.read_text().splitlines()
        header = [line[2:] for line in lines if line.startswith("# ")]
        columns = [c["name"] for c in yaml.safe_load("\n".join(header[1:]))["datatype"]]
        data = [line for line in lines if not line.startswith("#")][1:]  # after the names' row
        found[path.name] = (columns, data)
    found["folder"] = folder
    return found


def _column(found: tuple[list[str], list[str]], name: str) -> list[str]:
    columns, data = found
    index = columns.index(name)
    return [line.split(" ")[index].strip('"') for line in data]


def test_manifests_have_the_published_columns_and_the_survey_design_counts(written):
    assert sorted(p.name for p in written["folder"].iterdir()) == sorted(ccs.MANIFEST_FILES)
    gbtds, hlwas, coadd = (written[n] for n in ccs.MANIFEST_FILES)
    assert set(gbtds[0]) == L1_L2_COLUMNS and set(hlwas[0]) == L1_L2_COLUMNS
    # published: 4,891 GBTDS and 3,780 HLWAS exposures, 18 detectors each
    assert len(gbtds[1]) == 4891 * 18 == 88_038
    passes = sum(n for _, n in HLWAS_PASSES)
    assert len(hlwas[1]) == passes * 20 * 3 * 18 == 68_040
    assert coadd[0] == COADD_COLUMNS
    # one L3 product per skycell, visit and filter: every HLWAS visit, its filter, names as published
    names = _column(coadd, "l3_s3_uri")
    assert len(set(names)) == len(names)
    filters = {}
    for uri, skycell, grouping, element in zip(
        names, _column(coadd, "skycell_name"), _column(coadd, "grouping"), _column(coadd, "optical_element"),
        strict=True,
    ):  # fmt: skip
        match = L3_NAME.match(uri.rsplit("/", 1)[1])
        assert match and SKYCELL_NAME.match(skycell) and match[4] == skycell and match[5] == element.lower()
        assert grouping == f"v01{match[1]}001{match[2]}{match[3]}"
        filters.setdefault((int(match[1]), int(match[3])), set()).add(element)
    design = [f for f, n in HLWAS_PASSES for _ in range(n)]
    assert sorted(filters) == [(p, v) for p in range(1, 64) for v in range(1, 21)]
    assert all(found == {design[p - 1]} for (p, _), found in filters.items())
    # a visit's 18 detectors cover 18 x 7.5' x 7.5'; a skycell core is 4.4' square: at least that many cells
    per_visit = np.unique(_column(coadd, "grouping"), return_counts=True)[1]
    assert per_visit.min() >= 18 * (SIDE * 0.11) ** 2 / (4800 * 0.055) ** 2
    exptime, largest = (np.array(_column(coadd, c), float) for c in ("exptime", "max_exptime"))
    assert np.all((exptime > 0) & (exptime <= largest)) and largest.max() <= 3 * 294.0


def test_every_manifest_uri_is_served(written, served, fs):
    archive = served[1]
    keys = set(archive.keys(BUCKET))
    rng = np.random.default_rng(20)
    for name, columns in (
        ("gbtds_manifest.ecsv", ("l1_s3_uri", "l2_s3_uri")),
        ("hlwas_manifest.ecsv", ("l1_s3_uri", "l2_s3_uri")),
        ("hlwas_coadd_manifest.ecsv", ("l3_s3_uri",)),
    ):
        for column in columns:
            uris = _column(written[name], column)
            assert all(u.startswith(f"s3://{BUCKET}/{ROOT}/") for u in uris)
            assert all(u.removeprefix(f"s3://{BUCKET}/") in keys for u in uris)  # every one listed
            for index in rng.choice(len(uris), 3, replace=False):  # a few asked for one by one
                assert fs.info(uris[index].removeprefix("s3://"))["size"] > 1_000_000
    # and the listing holds nothing else under l3/
    assert sum(k.startswith(f"{ROOT}/r00342/l3/") for k in keys) == len(
        written["hlwas_coadd_manifest.ecsv"][1]
    )


def _widest_skycell(fs):
    """The row, URI, file handle and open model of the skycell product with the most members."""
    row = int(np.argmax(ccs.coadd_member_counts()))
    uri = str(ccs.coadd_products()["l3_s3_uri"][row])
    handle = fs.open(uri.removeprefix("s3://"), "rb", block_size=256 * 1024, cache_type="bytes")
    return row, uri, handle, rdm.open(handle)


def test_skycell_file_describes_its_grid_and_members(kit_env, fs):
    table = ccs.coadd_manifest()
    row, uri, handle, model = _widest_skycell(fs)
    with handle, model:
        assert isinstance(model, dm.MosaicModel)
        info, coadd = model.meta.wcsinfo, model.meta.coadd_info
        assert info.skycell_name == table["skycell_name"][row]
        assert (info.ra, info.dec) == (table["skycell_ra"][row], table["skycell_dec"][row])
        assert coadd.exposure_time == table["exptime"][row]
        assert coadd.max_exposure_time == table["max_exptime"][row]
        assert model.meta.observation.exposure_grouping == table["grouping"][row]
        assert model.meta.instrument.optical_element == table["optical_element"][row]
        members = list(model.meta.resample.members)
        gwcs = model.meta.wcs
        shape = tuple(info.image_shape)
    # published grid: 5000 x 5000 pixels of 0.055 arcsec, the centre pixel at the skycell's centre
    assert shape == (5000, 5000)
    centre = SkyCoord(*gwcs(2499.5, 2499.5), unit="deg")
    assert centre.separation(SkyCoord(info.ra, info.dec, unit="deg")) < 1 * u.mas
    step = SkyCoord(*gwcs(2499.5, 2500.5), unit="deg").separation(centre)
    # 0.055 arcsec at the projection region's tangent point; a TAN grid's pixels shrink away from it
    assert step.to(u.arcsec).value == pytest.approx(0.055, rel=2e-3)
    # the weight is the exposure time of the member detectors that hold each pixel, detector by detector
    hlwas = ccs.manifest("r00342")
    stems = [u.rsplit("/", 1)[1] for u in hlwas["l2_s3_uri"]]
    rows = [stems.index(m) for m in members]
    detectors = [
        wfi.wcs(
            hlwas["wfi_ra"][r],
            hlwas["wfi_dec"][r],
            hlwas["wfi_pa"][r],
            int(hlwas["detector"][r][3:]),
            "roman",
        )
        for r in rows
    ]
    x0, y0 = 2480, 2480
    weight = stream.cutout(uri, box=(x0, y0, x0 + 40, y0 + 40), ext="weight").data
    yy, xx = np.mgrid[y0 : y0 + 40, x0 : x0 + 40]
    ra, dec = gwcs(xx.ravel(), yy.ravel())
    count = np.zeros(xx.size)
    for detector, r in zip(detectors, rows, strict=True):
        px, py = detector.world_to_pixel_values(ra, dec)
        count += ((px >= -0.5) & (px < SIDE - 0.5) & (py >= -0.5) & (py < SIDE - 0.5)) * hlwas["exptime"][r]
    assert np.allclose(weight.ravel(), count)
    # every member detector reaches the skycell's 5000-pixel square (checked on a grid of its pixels)
    gy, gx = np.mgrid[-0.5:5000:125, -0.5:5000:125]
    gra, gdec = gwcs(gx.ravel(), gy.ravel(), with_bounding_box=False)
    for detector in detectors:
        px, py = detector.world_to_pixel_values(gra, gdec)
        reached = ((px >= -0.5) & (px < SIDE - 0.5) & (py >= -0.5) & (py < SIDE - 0.5)).any()
        assert reached


def test_a_catalog_star_lands_where_the_sky_model_puts_it_in_a_skycell(kit_env, fs):
    _, uri, handle, model = _widest_skycell(fs)
    with handle, model:
        gwcs = model.meta.wcs
        element = str(model.meta.instrument.optical_element)
    # the sky model's stars on the skycell, 16-22 mag, nothing within 5 mag of them within 3 arcsec
    corners = [gwcs(x, y) for x, y in ((40, 40), (4960, 40), (4960, 4960), (40, 4960))]
    near = sources.polygon([c[0] for c in corners], [c[1] for c in corners])
    stars, galaxies = near.stars, near.galaxies
    mags = stars.mag(element)
    every = SkyCoord(np.r_[stars.ra, galaxies.ra] * u.deg, np.r_[stars.dec, galaxies.dec] * u.deg)
    every_mag = np.r_[mags, galaxies.mag(element)]
    chosen = None
    for index in np.argsort(mags):
        if not 16.0 < mags[index] < 22.0:
            continue
        here = SkyCoord(stars.ra[index] * u.deg, stars.dec[index] * u.deg)
        crowd = (here.separation(every) < 3 * u.arcsec) & (every_mag < mags[index] + 5)
        if crowd.sum() != 1:
            continue
        x, y = (float(v) for v in gwcs.world_to_pixel(here))
        x0, y0 = round(x) - 30, round(y) - 30
        weight = stream.cutout(uri, box=(x0, y0, x0 + 61, y0 + 61), ext="weight").data
        if weight.min() > 0:  # wholly covered: no detector edge or gap under it
            chosen = (x, y, x0, y0)
            break
    assert chosen is not None, "no isolated covered star in the skycell"
    x, y, x0, y0 = chosen
    stamp = stream.cutout(uri, box=(x0, y0, x0 + 61, y0 + 61)).data.astype(float)
    yy, xx = np.mgrid[y0 : y0 + 61, x0 : x0 + 61]
    r = np.hypot(xx - x, yy - y)
    sky = np.median(stamp[(r > 18) & (r < 28)])
    weights = np.clip(stamp - sky, 0, None) * (r < 12)
    assert (weights * xx).sum() / weights.sum() == pytest.approx(x, abs=0.15)
    assert (weights * yy).sum() / weights.sum() == pytest.approx(y, abs=0.15)


def test_skycell_files_have_the_size_they_are_listed_with(served):
    archive = served[1]
    provider = next(p for p in archive.providers(BUCKET) if p.prefix == f"{ROOT}/r00342/")
    counts = ccs.coadd_member_counts()
    uris = ccs.coadd_products()["l3_s3_uri"]
    for row in (int(np.argmin(counts)), int(np.argmax(counts)), 0):
        key = str(uris[row]).removeprefix(f"s3://{BUCKET}/")
        fresh = provider.build(key)  # laid out from its own tree: raises if the size given was wrong
        assert fresh.read(0, 6) == b"#ASDF " and fresh.size == archive.get(BUCKET, key).size


def test_l2_source_catalog_lists_the_sky_model_s_sources_on_its_image(served, fs):
    import pyarrow.parquet as pq

    # the file the notebook reads, beside its L2 file as published
    stem = "r0034201008001002018_0003_wfi01_f129"
    uri = f"{BUCKET}/{ROOT}/r00342/l4/l2_source_catalog/{stem}_cat.parquet"
    with fs.open(uri, "rb") as handle:
        table = pq.read_table(handle)
    hlwas = ccs.manifest("r00342")
    row = [u.rsplit("/", 1)[1] for u in hlwas["l2_s3_uri"]].index(f"{stem}_cal.asdf")
    assert table.schema.metadata[b"roman.meta.exposure.start_time"].decode() == hlwas["start_time"][row]
    assert {"x_centroid", "y_centroid", "is_extended", "ra", "dec", "segment_flux"} <= set(table.column_names)
    catalog = table.to_pandas()
    assert len(catalog) > 100
    # every row is a source of the sky model on this detector, at its pixel through the detector's WCS
    ra0, dec0, pa = (float(hlwas[c][row]) for c in ("wfi_ra", "wfi_dec", "wfi_pa"))
    corners = wfi.corners(ra0, dec0, pa, 1, convention="roman")
    near = sources.polygon(*corners)
    kinds = (near.stars, near.galaxies, near.transients)
    truth = SkyCoord(
        np.concatenate([k.ra for k in kinds]) * u.deg, np.concatenate([k.dec for k in kinds]) * u.deg
    )
    galaxy = np.concatenate([np.full(len(k), k is near.galaxies) for k in kinds])
    listed = SkyCoord(catalog.ra.to_numpy() * u.deg, catalog.dec.to_numpy() * u.deg)
    index, separation, _ = listed.match_to_catalog_sky(truth)
    assert separation.max() < 1 * u.mas
    assert np.array_equal(catalog.is_extended.to_numpy(), galaxy[index])
    detector = wfi.wcs(ra0, dec0, pa, 1, convention="roman")
    x, y = detector.world_to_pixel_values(catalog.ra.to_numpy(), catalog.dec.to_numpy())
    assert np.allclose(x, catalog.x_centroid, atol=0.01) and np.allclose(y, catalog.y_centroid, atol=0.01)
    # and the bright ones on it are all there (fluxes in nJy: AB 31.4)
    mags = np.r_[near.stars.mag("F129"), near.galaxies.mag("F129"), np.full(len(near.transients), np.inf)]
    tx, ty = detector.world_to_pixel_values(truth.ra.deg, truth.dec.deg)
    inside = (tx > 10) & (tx < SIDE - 10) & (ty > 10) & (ty < SIDE - 10)
    bright = np.flatnonzero(inside & (mags < 20.0))
    assert len(bright) > 0 and set(bright.tolist()) <= set(index.tolist())
    measured = -2.5 * np.log10(catalog.segment_flux.to_numpy()) + 31.4
    steady = np.isfinite(mags[index])  # the transients' magnitudes change with time
    assert np.median(np.abs(measured - mags[index])[steady]) < 0.1


def test_the_notebook_tool_places_missing_manifests_beside_a_ccs_simulations_copy(
    written, tmp_path, monkeypatch
):
    import importlib.util
    import shutil
    import sys
    from pathlib import Path

    tool = Path(__file__).resolve().parents[1] / "tools" / "public_notebooks.py"
    spec = importlib.util.spec_from_file_location("public_notebooks", tool)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "public_notebooks", module)  # its dataclasses look themselves up
    spec.loader.exec_module(module)
    other = tmp_path / "working_with_asdf"
    other.mkdir()
    assert module.place_manifests(other) == [] and not any(other.iterdir())
    folder = tmp_path / "ccs_simulations"
    folder.mkdir()
    for name in ("gbtds_manifest.ecsv", "hlwas_manifest.ecsv"):
        shutil.copy(written["folder"] / name, folder / name)
    (folder / "hlwas_manifest.ecsv").write_text("kept as it was\n")  # one of the real repository's own
    placed = module.place_manifests(folder)
    assert [p.name for p in placed] == list(ccs.MANIFEST_FILES)
    assert (folder / "hlwas_manifest.ecsv").read_text() == "kept as it was\n"
    written_coadd = (written["folder"] / "hlwas_coadd_manifest.ecsv").read_bytes()
    assert (folder / "hlwas_coadd_manifest.ecsv").read_bytes() == written_coadd
    assert module.place_manifests(folder) == []  # all there: nothing written


RAW_MANIFESTS = (
    "https://raw.githubusercontent.com/spacetelescope/roman_notebooks/{ref}/notebooks/ccs_simulations/{name}"
)


def test_the_manifests_are_read_from_github_where_the_notebooks_repository_keeps_them(written, sandbox_env):
    """Through the sandbox's proxy as any HTTPS client reads them: the same bytes the command writes."""
    import requests

    expected = (written["folder"] / "hlwas_coadd_manifest.ecsv").read_bytes()
    url = RAW_MANIFESTS.format(ref="main", name="hlwas_coadd_manifest.ecsv")
    whole = requests.get(url, timeout=60)
    assert whole.status_code == 200 and whole.content == expected
    assert whole.headers["Content-Type"].startswith("text/plain")
    part = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=60)
    assert part.status_code == 206 and part.content == expected[100:200]
    assert requests.head(RAW_MANIFESTS.format(ref="2026.2", name="hlwas_coadd_manifest.ecsv"), timeout=60).ok
    for ref, name in (("main", "other.ecsv"), ("main", "../ccs_simulations.ipynb")):
        missing = requests.get(RAW_MANIFESTS.format(ref=ref, name=name), timeout=60)
        assert missing.status_code == 404 and missing.text == "404: Not Found"
    elsewhere = requests.get("https://raw.githubusercontent.com/astropy/astropy/main/README.rst", timeout=60)
    assert elsewhere.status_code == 404


def test_eight_threads_reading_bulge_files_make_each_exposure_and_block_once(kit_env):
    """The kit's eight workers read eight exposures at once; none is made twice for them."""
    from astropy.table import Table

    from roman_helpers import batch
    from roman_helpers.sandbox.archive.asdf import LZ4_CHUNK
    from roman_helpers.sandbox.archive.layouts import roman as layout
    from roman_helpers.sandbox.sky import render

    rows = ccs.manifest("r00340")
    same_field = (rows["pass"] == 2) & (rows["observation"] == 1)
    rows = rows[(rows["optical_element"] == "F146") & (rows["detector"] == "WFI10") & same_field][:12]
    images = [
        layout.ccs_image("r00340", uri.rsplit("/", 1)[1].removesuffix("_cal.asdf"))
        for uri in rows["l2_s3_uri"]
    ]
    layout.sky_image.cache_clear()
    # the detector's middle row: the stamp straddles lz4 chunks of every array
    centre = SkyCoord(rows["detector_ra"][0], rows["detector_dec"][0], unit="deg")
    result = batch.cutouts(Table({"uri": rows["l2_s3_uri"]}), centre, 41, max_workers=8, progress=False)
    assert len(result.ok) == len(rows) and not result.failed
    assert layout.sky_image.cache_info().misses == len(rows)  # each exposure made once
    # the rows a reader's chunks reach: the float16 errors' lz4 chunks (513 rows each, the widest),
    # two of them here, and the sandbox's 1 MiB cache chunks around them (64 float32 rows)
    err_rows = LZ4_CHUNK // (SIDE * 2)
    reach = 2 * err_rows + 2 * (1024**2 // (SIDE * 4))
    for image in images:
        made = layout.sky_image(image)  # the one the reads used: still kept
        assert 0 < made.made_blocks <= math.ceil(reach / render.BLOCK_ROWS) + 2


def test_roman_files_are_in_the_schema_versions_of_the_simulations(served):
    """The 2026.2 simulations are made for roman_datamodels 1.0 (the ccs_simulations notebook
    pins <1.1): their trees carry the schema versions 1.0 knows, whichever newer release writes them."""
    _, archive = served
    gbtds = ccs.manifest("r00340")[0]
    skycell = ccs.coadd_manifest()[0]
    expected = {
        gbtds["l2_s3_uri"]: b"!<asdf://stsci.edu/datamodels/roman/tags/wfi_image-2.0.0>",
        gbtds["l1_s3_uri"]: b"!<asdf://stsci.edu/datamodels/roman/tags/wfi_science_raw-2.0.0>",
        skycell["l3_s3_uri"]: b"!<asdf://stsci.edu/datamodels/roman/tags/wfi_mosaic-2.0.0>",
    }
    for uri, tag in expected.items():
        item = archive.get(BUCKET, uri.removeprefix(f"s3://{BUCKET}/"))
        head = item.read(0, 256 * 1024)
        assert re.search(rb"roman: " + re.escape(tag), head), uri
