"""The OpenUniverse 2024 layout (sandbox/archive/layouts/openuniverse) read through the sandbox's S3.

Real clients only: s3fs, astropy's ``fits.open`` over fsspec (``.fits.gz`` through gzip), pyarrow
over s3fs. Every expectation comes from the published layout, the survey designs, the files' own
headers or the catalogs, never from the renderer: a galaxy's flux is the catalog's flux through
the file's zero point; a star's is its truth line's. Counts (bytes, requests, blocks made), never
times.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import hpgeom
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import s3fs
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture

from roman_helpers.sandbox.archive import layouts
from roman_helpers.sandbox.archive.cache import ChunkCache
from roman_helpers.sandbox.archive.layouts import openuniverse
from roman_helpers.sandbox.archive.layouts.openuniverse import _catalogs, _coadds, _images, _records, _rubin
from roman_helpers.sandbox.archive.registry import Archive
from roman_helpers.sandbox.services import irsa
from roman_helpers.sandbox.services.s3 import LocalS3Server
from roman_helpers.sandbox.sky import wfi
from roman_helpers.sandbox.sky.bands import band
from roman_helpers.sandbox.sky.surveys import rubin, tds, was

BUCKET = "nasa-irsa-simulations"
OU = f"{BUCKET}/openuniverse2024"
# the OpenUniverse headers give HDU 0 a WCS without pixels, as the real ones do (IRSA's notebook
# quiets the same warning)
pytestmark = pytest.mark.filterwarnings("ignore::astropy.wcs.FITSFixedWarning")


# ------------------------------------------------------------------ the archive, served from this process
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    archive = Archive(ChunkCache(tmp_path_factory.mktemp("ou-cache"), budget=4 * 1024**3))
    archive.add_bucket(BUCKET, public=True)
    for provider in openuniverse.providers():
        archive.add(provider)
    with LocalS3Server(archive) as server:
        yield server, archive


@pytest.fixture(scope="module")
def options(served):
    return {"anon": True, "endpoint_url": served[0].url}


@pytest.fixture(scope="module")
def fs(options):
    s3fs.S3FileSystem.clear_instance_cache()
    return s3fs.S3FileSystem(skip_instance_cache=True, **options)


def _open(uri: str, options: dict, block: int = 1 << 20):
    return fits.open(uri, fsspec_kwargs={**options, "default_block_size": block})


def _read_parquet(fs, key: str, **kwargs) -> pa.Table:
    return pq.read_table(f"{BUCKET}/{key}", filesystem=fs, **kwargs)


# ------------------------------------------------------------------ listings
def test_layouts_register_the_module_and_its_bucket():
    assert "openuniverse" in layouts.MODULES
    assert openuniverse.BUCKETS == {BUCKET: True}
    versions = {provider.version for provider in openuniverse.providers()}
    assert all(value.endswith(openuniverse.fingerprint()) for value in versions)


def test_key_counts_per_prefix_follow_the_designs(served):
    _, archive = served
    keys = archive.keys(BUCKET)

    def under(prefix: str) -> list[str]:
        return [key for key in keys if key.startswith(f"openuniverse2024/{prefix}")]

    for release in ("full", "preview"):
        tds_images = tds.images(release)
        assert len(under(f"roman/{release}/RomanTDS/images/simple_model/")) == len(tds_images)
        assert len(under(f"roman/{release}/RomanTDS/truth/")) == len(tds_images)
        assert f"openuniverse2024/roman/{release}/RomanTDS/Roman_TDS_obseq_11_6_23.fits" in keys
        assert len(under(f"roman/{release}/RomanWAS/images/simple_model/")) == len(was.images(release))
        assert len(under(f"roman/{release}/RomanWAS/truth/")) == len(was.images(release))
        assert len(under(f"roman/{release}/roman_rubin_cats_v1.1.2_faint/")) == 5 * len(
            _catalogs.cells(release)
        )
    assert len(under("roman/preview/RomanWAS/images/coadds/")) == len(was.coadd_blocks("preview"))
    assert under("roman/full/RomanWAS/images/coadds/") == []
    assert len(under("rubin/preview/")) == len(rubin.FILTERS)
    assert len(tds.images("preview")) < len(tds.images("full"))
    # every preview image is one of the full release's (same pointing and detector)
    full = {(p, s) for p, s in zip(tds.images("full")["pointing"], tds.images("full")["sca"], strict=True)}
    assert all(
        (p, s) in full
        for p, s in zip(tds.images("preview")["pointing"], tds.images("preview")["sca"], strict=True)
    )


def test_s3_listing_of_a_pointing_gives_sizes_without_pixels(served, fs):
    _, archive = served
    row = tds.images("preview")[0]
    folder = f"{OU}/roman/preview/RomanTDS/images/simple_model/{row['filter']}/{row['pointing']}"
    listed = fs.ls(folder, detail=True)
    expected = tds.images("preview")
    expected = expected[(expected["pointing"] == row["pointing"])]
    assert sorted(int(item["name"].rsplit("_", 1)[1].split(".")[0]) for item in listed) == sorted(
        expected["sca"]
    )
    names = {item["name"].rsplit("/", 1)[1] for item in listed}
    assert names == {
        f"Roman_TDS_simple_model_{row['filter']}_{row['pointing']}_{sca}.fits.gz" for sca in expected["sca"]
    }
    # the sizes are the closed form (two headers blocks, three padded planes, gzip framing)
    sizes = {item["size"] for item in listed}
    assert sizes <= {
        _images.image_size("RomanTDS", int(row["pointing"]), int(sca)) for sca in expected["sca"]
    }
    held = archive.get(BUCKET, listed[0]["name"].removeprefix(f"{BUCKET}/"))
    assert (
        held is not None
        and _images.exposure("RomanTDS", int(row["pointing"]), int(row["sca"])).made_blocks == 0
    )


# ----------------------------------------------------------------- one sky: a catalog galaxy in three layouts
def _catalog(fs, kind: str, cell: int, **kwargs) -> pd.DataFrame:
    return _read_parquet(
        fs, f"openuniverse2024/roman/preview/roman_rubin_cats_v1.1.2_faint/{kind}_{cell}.parquet", **kwargs
    ).to_pandas()


def _inside(wcs: WCS, ra: np.ndarray, dec: np.ndarray, shape: tuple[int, int], margin: float):
    x, y = wcs.world_to_pixel_values(ra, dec)
    ok = (x > margin) & (x < shape[1] - 1 - margin) & (y > margin) & (y < shape[0] - 1 - margin)
    return ok, x, y


@pytest.fixture(scope="module")
def scene(fs):
    """A bright, compact, isolated catalog galaxy inside the Rubin patch, a TDS and a WAS H158 image."""
    patch = WCS(rubin.patch_header())
    centre = patch.pixel_to_world_values(2099.5, 2099.5)
    cell = int(hpgeom.angle_to_pixel(32, centre[0], centre[1], nest=False))
    galaxies = _catalog(
        fs,
        "galaxy",
        cell,
        columns=["galaxy_id", "ra", "dec", "diskHalfLightRadiusArcsec", "spheroidHalfLightRadiusArcsec"],
    )
    fluxes = _catalog(fs, "galaxy_flux", cell, columns=["galaxy_id", "roman_flux_H158", "lsst_flux_r"])
    stars = _catalog(fs, "pointsource", cell, columns=["ra", "dec"])
    hosts = set(_catalog(fs, "snana", cell, columns=["host_id"])["host_id"].tolist())
    assert (galaxies["galaxy_id"].to_numpy() == fluxes["galaxy_id"].to_numpy()).all()
    h158 = band("H158")
    mag = h158.zeropoint - 2.5 * np.log10(fluxes["roman_flux_H158"].to_numpy() * h158.collecting_area)
    ok, _, _ = _inside(patch, galaxies["ra"].to_numpy(), galaxies["dec"].to_numpy(), (4200, 4200), 300)
    # small enough that a 3" aperture holds nearly all the light in every layout
    compact = (galaxies["diskHalfLightRadiusArcsec"] < 0.8) & (
        galaxies["spheroidHalfLightRadiusArcsec"] < 0.25
    )
    chosen = np.flatnonzero(ok & compact.to_numpy() & (mag > 19.0) & (mag < 21.5))
    everything = np.concatenate([galaxies[["ra", "dec"]].to_numpy(), stars[["ra", "dec"]].to_numpy()])
    weight = np.concatenate([fluxes["roman_flux_H158"].to_numpy(), np.full(len(stars), np.inf)])
    images = {survey: _images.image_rows(survey, "preview") for survey in ("RomanTDS", "RomanWAS")}
    for index in chosen[np.argsort(mag[chosen])]:
        ra, dec = float(galaxies["ra"].iloc[index]), float(galaxies["dec"].iloc[index])
        if int(galaxies["galaxy_id"].iloc[index]) in hosts:
            continue
        near = np.hypot((everything[:, 0] - ra) * math.cos(math.radians(dec)), everything[:, 1] - dec) * 3600
        neighbours = (near > 0.01) & (near < 10.0) & (weight > 0.02 * fluxes["roman_flux_H158"].iloc[index])
        if neighbours.any():
            continue
        found = {}
        for survey, rows in images.items():
            for i in np.flatnonzero(rows["filter"] == "H158"):
                detector = wfi.wcs(rows["ra"][i], rows["dec"][i], rows["pa"][i], int(rows["sca"][i]))
                inside, _, _ = _inside(detector, np.array([ra]), np.array([dec]), (4088, 4088), 300)
                if inside[0]:
                    found[survey] = (int(rows["pointing"][i]), int(rows["sca"][i]))
                    break
        if len(found) == 2:
            return {
                "ra": ra,
                "dec": dec,
                "cell": cell,
                "flux_H158": float(fluxes["roman_flux_H158"].iloc[index]),
                "flux_r": float(fluxes["lsst_flux_r"].iloc[index]),
                **found,
            }
    pytest.fail("no isolated compact galaxy of the Rubin patch lies on a preview TDS and a WAS H158 image")


def _image_uri(survey: str, pointing: int, sca: int) -> str:
    return "s3://" + BUCKET + "/" + _images.image_key(survey, "preview", "H158", pointing, sca)


@pytest.fixture(scope="module")
def tds_file(scene, options):
    """The scene's TDS image read whole, as IRSA's notebooks read it (fits.open on the .fits.gz)."""
    uri = _image_uri("RomanTDS", *scene["RomanTDS"])
    with _open(uri, options, 8 << 20) as hdul:
        layout = [
            (hdu.name, hdu.header.get("NAXIS1"), hdu.header.get("NAXIS2"), hdu.header["BITPIX"])
            for hdu in hdul
        ]
        headers = [hdu.header.copy() for hdu in hdul]
        planes = [hdul[index].data.copy() for index in (1, 2, 3)]
    return {"uri": uri, "layout": layout, "headers": headers, "planes": planes}


def test_tds_image_layout_and_keywords(scene, tds_file):
    assert tds_file["layout"] == [
        ("PRIMARY", None, None, 8),
        ("SCI", 4088, 4088, -32),
        ("ERR", 4088, 4088, -32),
        ("DQ", 4088, 4088, 32),
    ]
    sci, err, dq = tds_file["planes"]
    assert (sci.shape, sci.dtype.name, err.dtype.name, dq.dtype.name) == (
        (4088, 4088),
        "float32",
        "float32",
        "int32",
    )
    primary, header = tds_file["headers"][0], tds_file["headers"][1]
    pointing, sca = scene["RomanTDS"]
    sequence = tds.observation_sequence()
    assert header["MJD-OBS"] == pytest.approx(float(sequence["date"][pointing]), abs=1e-9)
    assert header["EXPTIME"] == float(sequence["exptime"][pointing])
    assert (header["FILTER"], header["SCA_NUM"], header["BUNIT"]) == ("H158", sca, "electron")
    assert header["ZPTMAG"] == pytest.approx(
        2.5 * math.log10(header["EXPTIME"] * band("H158").collecting_area)
    )
    assert header["DATE-OBS"].startswith("20") and "T" in header["DATE-OBS"]
    assert header["ORIENTAT"] == pytest.approx(float(sequence["pa"][pointing]) % 360)
    # HDU 0 repeats the exposure's header (the IRSA TDS notebook builds its WCS from it)
    shared = [
        key
        for key in header
        if key
        not in (
            "XTENSION",
            "BITPIX",
            "NAXIS",
            "NAXIS1",
            "NAXIS2",
            "PCOUNT",
            "GCOUNT",
            "EXTNAME",
            "EXTVER",
            "BUNIT",
        )
    ]
    assert all(primary[key] == header[key] for key in shared)
    a, b = (
        WCS(primary),
        wfi.wcs(
            float(sequence["ra"][pointing]),
            float(sequence["dec"][pointing]),
            float(sequence["pa"][pointing]),
            sca,
        ),
    )
    corners = np.array([[-0.5, -0.5], [4087.5, 4087.5]])
    assert np.allclose(a.all_pix2world(corners, 0), b.all_pix2world(corners, 0), atol=1e-9)
    known = 1 | 2 | 4 | 1024 | 2048  # DO_NOT_USE, SATURATED, JUMP_DET, DEAD, HOT (roman_datamodels' flags)
    assert not (np.unique(dq) & ~known).any() and 0 < (dq != 0).sum() < 0.01 * dq.size


def test_truth_agrees_with_the_pixels(scene, tds_file, fs, options):
    pointing, sca = scene["RomanTDS"]
    key = _images.truth_key("RomanTDS", "preview", "H158", pointing, sca)
    with fs.open(f"{BUCKET}/{key}", "rb") as handle:
        text = handle.read()
    lines = text.decode().splitlines()
    assert lines[0].split()[1:] == list(_images.TRUTH_COLUMNS)
    assert {len(line) for line in lines[1:]} == {152}  # fixed width: 9 fields of 16 and 8 spaces
    truth = pd.read_csv(
        f"s3://{BUCKET}/{key}",
        comment="#",
        skipinitialspace=True,
        sep=" ",
        names=list(_images.TRUTH_COLUMNS),
        storage_options=options,
    )
    assert len(truth) == len(lines) - 1 and set(truth["obj_type"]) <= {"star", "galaxy", "transient"}
    assert ((truth["x"] >= 0.5) & (truth["x"] < 4088.5)).all()
    sci = tds_file["planes"][0]
    stars = truth[(truth["obj_type"] == "star") & (truth["realized_flux"].between(2e4, 3e5))]
    x, y = stars["x"].to_numpy() - 1, stars["y"].to_numpy() - 1
    others = truth[["x", "y"]].to_numpy() - 1
    measured = 0
    for star_x, star_y, flux in zip(x, y, stars["realized_flux"], strict=True):
        if min(star_x, star_y) < 40 or max(star_x, star_y) > 4047:
            continue
        distance = np.hypot(others[:, 0] - star_x, others[:, 1] - star_y)
        if ((distance > 0.01) & (distance < 40)).any():
            continue
        aperture = CircularAperture((star_x, star_y), r=10.0)
        annulus = ApertureStats(sci, CircularAnnulus((star_x, star_y), 20.0, 30.0))
        total = ApertureStats(sci, aperture).sum - annulus.median * aperture.area
        sigma = annulus.std * math.sqrt(aperture.area) + 0.01 * flux
        assert abs(total - flux) < 5 * sigma, (star_x, star_y, total, flux)
        measured += 1
        if measured == 3:
            break
    assert measured >= 1


def _photometry(data: np.ndarray, x: float, y: float, radius: float) -> tuple[float, float]:
    aperture = CircularAperture((x, y), r=radius)
    annulus = ApertureStats(data, CircularAnnulus((x, y), 2 * radius, 3 * radius))
    total = ApertureStats(data, aperture).sum - annulus.median * aperture.area
    return float(total), float(annulus.std * math.sqrt(aperture.area))


def _centroid(data: np.ndarray, x: float, y: float, half: int) -> tuple[float, float]:
    x0, y0 = round(x), round(y)
    box = data[y0 - half : y0 + half + 1, x0 - half : x0 + half + 1].astype(float)
    box = np.clip(
        box - np.median(data[y0 - 3 * half : y0 + 3 * half, x0 - 3 * half : x0 + 3 * half]), 0, None
    )
    gy, gx = np.mgrid[-half : half + 1, -half : half + 1]
    return x0 + float((box * gx).sum() / box.sum()), y0 + float((box * gy).sum() / box.sum())


def test_one_sky_a_catalog_galaxy_in_tds_was_and_rubin(scene, tds_file, options):
    measured = {}
    # TDS: the image read above; WAS: its science plane; Rubin: a cut-out of the r coadd
    was_uri = _image_uri("RomanWAS", *scene["RomanWAS"])
    with _open(was_uri, options, 8 << 20) as hdul:
        was_sci, was_header = hdul[1].data.copy(), hdul[1].header.copy()
    for name, sci, header in (
        ("TDS", tds_file["planes"][0], tds_file["headers"][1]),
        ("WAS", was_sci, was_header),
    ):
        x, y = WCS(header).world_to_pixel_values(scene["ra"], scene["dec"])
        total, sigma = _photometry(sci, float(x), float(y), 3.0 / 0.11)
        expected = scene["flux_H158"] * 10 ** (0.4 * header["ZPTMAG"])  # photons/s/cm^2 -> electrons
        measured[name] = (total, sigma, expected, _centroid(sci, float(x), float(y), 6), (float(x), float(y)))
    uri = "s3://" + BUCKET + "/" + _rubin.coadd_key("r")
    with _open(uri, options) as hdul:
        wcs = WCS(hdul[1].header)
        x, y = (float(v) for v in wcs.world_to_pixel_values(scene["ra"], scene["dec"]))
        x0, y0 = round(x) - 50, round(y) - 50
        cut = hdul[1].section[y0 : y0 + 101, x0 : x0 + 101]
        fluxmag0 = hdul[0].header["FLUXMAG0"]
        assert hdul[1].header["BUNIT"] == "nJy"
    r = band("r")
    expected = fluxmag0 * 10 ** (-0.4 * (r.zeropoint - 2.5 * math.log10(scene["flux_r"] * r.collecting_area)))
    total, sigma = _photometry(cut, x - x0, y - y0, 3.0 / 0.2)
    centre = _centroid(cut, x - x0, y - y0, 4)
    measured["Rubin"] = (total, sigma, expected, (centre[0] + x0, centre[1] + y0), (x, y))
    for name, (total, sigma, expected, centroid, position) in measured.items():
        assert abs(total - expected) < 5 * sigma + 0.06 * expected, (name, total, expected, sigma)
        scale = 0.2 if name == "Rubin" else 0.11
        assert math.dist(centroid, position) * scale < 0.1, (name, centroid, position)


# ------------------------------------------------------------------ what reads cost
def test_a_cut_out_of_a_never_read_coadd_makes_only_its_rows(served, options):
    server, _ = served
    exposure = _rubin.coadd_exposure("z")
    before = exposure.made_blocks
    mark = server.stats.requests
    uri = "s3://" + BUCKET + "/" + _rubin.coadd_key("z")
    with _open(uri, options, 1 << 18) as hdul:
        cut = hdul[1].section[3000:3100, 2000:2100]
        mask = hdul["MASK"].section[3000:3100, 2000:2100]
        names = [hdu.name for hdu in hdul]
    assert cut.shape == mask.shape == (100, 100) and cut.dtype.name == "float32"
    assert names == ["PRIMARY", "IMAGE", "MASK", "VARIANCE"]
    made = exposure.made_blocks - before
    # rows 3000-3099 are blocks 46-48; the archive makes 1 MiB chunks (62 rows), and the header
    # reads near the top reach block 0: at most 6 of the image's 66 blocks
    assert 2 <= made <= 6
    sent = server.stats.since(mark)
    assert sent.bytes_sent < 8 * (1 << 18) + 100 * 4200 * 4 * 2


def test_a_cut_out_near_the_start_of_a_never_read_fits_gz_makes_the_rows_before_it_only(served, options):
    server, _ = served
    row = tds.images("preview")[-1]
    pointing, sca = int(row["pointing"]), int(row["sca"])
    exposure = _images.exposure("RomanTDS", pointing, sca)
    before = exposure.made_blocks
    mark = server.stats.requests
    uri = "s3://" + BUCKET + "/" + _images.image_key("RomanTDS", "preview", str(row["filter"]), pointing, sca)
    import gzip

    fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
    with (
        fs.open(uri, "rb", block_size=1 << 20, cache_type="readahead") as handle,
        gzip.GzipFile(fileobj=handle) as raw,
    ):
        start = 2 * 5760  # two 2-block headers
        raw.seek(start + 200 * 4088 * 4)
        rows = np.frombuffer(raw.read(100 * 4088 * 4), ">f4").reshape(100, 4088)[:, 1000:1100]
    assert rows.shape == (100, 100) and np.isfinite(rows).all()
    assert exposure.made_blocks - before <= 7  # rows 0-299 are blocks 0-4; a member and a read-ahead more
    sent = server.stats.since(mark).bytes_sent
    assert sent < 2 * 5760 + 300 * 4088 * 4 * 1.01 + (2 << 20)  # the stream up to row 300, and a read-ahead


# ------------------------------------------------------------------ the other products
def test_observation_sequence_is_the_designs(options):
    sequence = tds.observation_sequence()
    for release in ("preview", "full"):
        uri = f"s3://{OU}/roman/{release}/RomanTDS/Roman_TDS_obseq_11_6_23.fits"
        with _open(uri, options) as hdul:
            frame = pd.DataFrame(hdul[1].data)  # as IRSA's TDS notebook reads it
    assert list(frame.columns) == ["ra", "dec", "filter", "exptime", "date", "pa"]
    assert len(frame) == len(sequence)
    for name in ("ra", "dec", "exptime", "date", "pa"):
        assert np.array_equal(frame[name].to_numpy(), np.asarray(sequence[name]))
    assert frame["filter"].tolist() == [str(value) for value in sequence["filter"]]


def test_coadd_block_lists_its_extensions_without_the_cube(served, options, fs):
    server, _ = served
    name, row, col = "J129", 15, 18
    key = _coadds.coadd_key(name, row, col)
    assert fs.ls(f"{OU}/roman/preview/RomanWAS/images/coadds") == [
        f"{OU}/roman/preview/RomanWAS/images/coadds/{f}" for f in sorted(was.COADD_FILTERS)
    ]
    exposure = _coadds.coadd_exposure(name, row, col)
    mark = server.stats.requests
    with _open(f"s3://{BUCKET}/{key}", options, 1 << 16) as hdul:
        listed = [(hdu.name, hdu.shape if hdu.is_image else len(hdu.data)) for hdu in hdul]
        indata = Table(hdul["INDATA"].data)
        weights = hdul["INWEIGHT"].data
        config = hdul["CONFIG"]
        effcover = hdul["EFFCOVER"].section[0, 1000:1001, :]
        layer0 = hdul[0].section[0, 0, 1300:1310, 1300:1310]
        block_wcs = WCS(hdul[0].header, naxis=2)
        units = hdul["FIDELITY"].header.comments["UNIT"]
    count = len(_coadds.inputs(name, row, col)[0])
    assert listed == [
        ("PRIMARY", (1, 15, 2688, 2688)),
        ("CONFIG", len(_coadds.config_text(name, row, col))),
        ("INDATA", count),
        ("INWEIGHT", (1, count, 84, 84)),
        ("INWEIGHTFLAT", (1, 84, count * 84)),
        ("FIDELITY", (1, 2688, 2688)),
        ("SIGMA", (1, 2688, 2688)),
        ("INWTSUM", (1, 2688, 2688)),
        ("EFFCOVER", (1, 2688, 2688)),
    ]
    assert type(config).__name__ == "TableHDU" and config.header["FILTER"] == name
    assert json.loads("\n".join(config.data["text"]))["FILTER"] == 3
    assert indata.colnames == ["obsid", "sca", "ra", "dec", "pa", "valid"] and indata["valid"].all()
    sequence = was.observation_sequence()
    assert set(sequence["filter"][indata["obsid"]]) == {name}
    covered = weights[0].sum(axis=0)
    assert np.allclose(covered[covered > 0], 1.0) and (covered > 0).mean() > 0.9
    assert effcover.shape == (1, 2688) and effcover.dtype == np.uint16 and units == "-5000*log10(U/C)"
    assert layer0.shape == (10, 10)
    assert np.allclose(
        block_wcs.wcs_pix2world([[1343.0, 1343.0]], 0)[0], was.block_centre(row, col), atol=1e-9
    )
    # the science layer's rows 1300-1309 and the rows the header read reached, each rounded out to the
    # archive's 1 MiB chunks (97 rows of the cube): blocks 0-1 and 19-21 of 42
    assert exposure.made_blocks <= 6
    assert server.stats.since(mark).bytes_sent < 3 << 20


def test_catalogs_are_parquet_in_id_order_and_join_their_hosts(fs):
    cell = _catalogs.cells("preview")[0]
    assert cell in _catalogs.cells("full")
    prefix = "openuniverse2024/roman/preview/roman_rubin_cats_v1.1.2_faint"
    listed = {item.rsplit("/", 1)[1] for item in fs.ls(f"{BUCKET}/{prefix}")}
    assert listed == {
        f"{kind}_{c}.parquet"
        for kind in ("galaxy", "galaxy_flux", "pointsource", "pointsource_flux", "snana")
        for c in _catalogs.cells("preview")
    }
    snana = _read_parquet(fs, f"{prefix}/snana_{cell}.parquet")
    galaxy_ids = _read_parquet(fs, f"{prefix}/galaxy_{cell}.parquet", columns=["galaxy_id"])["galaxy_id"]
    stars = _read_parquet(fs, f"{prefix}/pointsource_{cell}.parquet", columns=["id"])["id"].to_pylist()
    ids = snana["id"].to_numpy()
    assert (np.diff(ids) > 0).all() and (np.diff(galaxy_ids.to_numpy()) > 0).all()
    assert stars == sorted(stars, key=int)
    hosted = snana["host_id"].to_numpy()
    assert set(hosted[hosted >= 0]) <= set(galaxy_ids.to_numpy()) and (hosted >= 0).sum() > 0
    assert snana.schema.field("z_CMB").type == pa.float32()
    # transients sit on their hosts of the cell: a few just across its edge
    where = hpgeom.angle_to_pixel(32, snana["ra"].to_numpy(), snana["dec"].to_numpy(), nest=False)
    assert (where == cell).mean() > 0.99
    # the same cell is the same file in both releases
    info = {
        release: fs.info(f"{OU}/roman/{release}/roman_rubin_cats_v1.1.2_faint/snana_{cell}.parquet")["size"]
        for release in ("preview", "full")
    }
    assert info["preview"] == info["full"]


# ------------------------------------------------------------------ image search
def test_sia_records_have_the_service_columns_and_point_at_full(served):
    records = openuniverse.image_records()
    service_columns = [name for name, *_ in irsa.COLUMNS if name != "dist_to_point"]
    assert sorted(records.colnames) == sorted(service_columns)
    assert (records["obs_collection"] == _records.ROMAN).sum() == len(tds.images("full")) + len(
        was.images("full")
    )
    assert (records["obs_collection"] == _records.RUBIN).sum() == len(rubin.FILTERS)
    keys = [json.loads(value)["aws"]["key"] for value in records["cloud_access"]]
    assert all("/preview/" not in key for key in keys if "/roman/" in key)
    _, archive = served
    sample = [0, len(records) // 2, len(records) - 1]
    for index in sample:
        item = archive.get(BUCKET, keys[index])
        assert item is not None and records["access_estsize"][index] == math.ceil(item.size / 1000)
        assert records["access_url"][index].endswith(keys[index])
    tds_rows = records[[name.startswith("Roman_TDS_simple_model") for name in records["obs_id"]]]
    assert np.all(tds_rows["t_min"] == tds_rows["t_max"])


@pytest.mark.parametrize("which", ["tds", "was", "rubin"])
def test_sia_footprints_are_the_files_wcs(scene, tds_file, options, which):
    records = openuniverse.image_records()
    if which == "rubin":
        key = _rubin.coadd_key("r")
        with _open(f"s3://{BUCKET}/{key}", options, 1 << 16) as hdul:
            header = hdul[1].header.copy()
        scale = 0.2
    elif which == "tds":
        header = tds_file["headers"][1]
        key = tds_file["uri"].removeprefix(f"s3://{BUCKET}/").replace("/preview/", "/full/")
        scale = 0.11
    else:
        key = _image_uri("RomanWAS", *scene["RomanWAS"]).removeprefix(f"s3://{BUCKET}/")
        with _open(f"s3://{BUCKET}/{key}", options) as hdul:
            header = hdul[1].header.copy()
        key = key.replace("/preview/", "/full/")
        scale = 0.11
    row = records[[json.loads(value)["aws"]["key"] == key for value in records["cloud_access"]]]
    assert len(row) == 1
    row = row[0]
    wcs = WCS(header)
    nx, ny = header["NAXIS1"], header["NAXIS2"]
    numbers = np.array(row["s_region"].split()[2:], float).reshape(4, 2)
    x, y = wcs.world_to_pixel_values(numbers[:, 0], numbers[:, 1])
    corners = {(round(a), round(b)) for a, b in zip(x + 0.5, y + 0.5, strict=True)}
    assert corners == {(0, 0), (nx, 0), (nx, ny), (0, ny)}
    assert np.all(np.abs(x + 0.5 - np.round(x + 0.5)) < 1) and np.all(np.abs(y + 0.5 - np.round(y + 0.5)) < 1)
    cx, cy = wcs.world_to_pixel_values(row["s_ra"], row["s_dec"])
    assert math.hypot(cx - (nx - 1) / 2, cy - (ny - 1) / 2) * scale < 0.11
    if which != "rubin":
        assert row["t_min"] == pytest.approx(header["MJD-OBS"], abs=1e-9)
        assert row["energy_bandpassname"] == header["FILTER"] and row["t_exptime"] == header["EXPTIME"]
    assert row["s_fov"] == pytest.approx(math.hypot(nx, ny) * scale / 3600, rel=0.01)


# ------------------------------------------------------------------ determinism and misses
_FINGERPRINT_SCRIPT = """
import hashlib, json, sys
from roman_helpers.sandbox.archive.layouts.openuniverse import _catalogs, _coadds, _images, _rubin
out = {}
gz = _images.image_object("RomanTDS", "preview", %(pointing)d, %(sca)d)
out["tds"] = hashlib.sha256(gz.read(0, 1 << 20)).hexdigest()
truth = _images.truth_object("RomanTDS", "preview", %(pointing)d, %(sca)d)
out["truth"] = hashlib.sha256(truth.read(0, truth.size)).hexdigest()
rubin = _rubin.coadd_object("u")
offset = rubin.inner().data_offsets[1] + 2000 * 4200 * 4
out["rubin"] = hashlib.sha256(rubin.read(offset, offset + 20 * 4200 * 4)).hexdigest()
coadd = _coadds.coadd_object("K213", 20, 13)
out["coadd"] = hashlib.sha256(coadd.read(coadd.size - (1 << 20), coadd.size)).hexdigest()
table = _catalogs.catalog_object("full", "pointsource", %(cell)d)
out["catalog"] = hashlib.sha256(table.read(0, table.size)).hexdigest()
json.dump(out, sys.stdout)
"""


def test_bytes_are_the_same_in_another_process():
    row = tds.images("preview")[3]
    arguments = {
        "pointing": int(row["pointing"]),
        "sca": int(row["sca"]),
        "cell": _catalogs.cells("full")[-1],
    }
    other = subprocess.run(
        [sys.executable, "-c", _FINGERPRINT_SCRIPT % arguments], capture_output=True, text=True, check=True
    )
    here: dict[str, str] = {}
    namespace = {"__name__": "here"}
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(_FINGERPRINT_SCRIPT % arguments, namespace)
    here = json.loads(printed.getvalue())
    assert json.loads(other.stdout) == here


def test_a_miss_names_the_sandbox_and_what_it_mirrors(served, fs):
    _, archive = served
    folder = "openuniverse2024/roman/full/RomanTDS/images/simple_model/H158/999999"
    key = f"{folder}/Roman_TDS_simple_model_H158_999999_1.fits.gz"
    message = archive.explain_missing(BUCKET, key)
    assert "offline sandbox" in message and "Time Domain Survey" in message and "book/sandbox.md" in message
    with pytest.raises(FileNotFoundError):
        fs.info(f"{BUCKET}/{key}")
