"""Synthetic files with the structure of the real ones, for tests and the benchmark.

Each writer takes the image size, so tests use a few rows and the benchmark the
full 4088 x 4088 detector.
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

WIDTH = 4088


# The WCS and gzip helpers the tests' and the benchmark's files are written with (they lived in the
# sandbox's old file generator, roman_helpers/sandbox/synth.py, which the on-demand archive replaced).
def tan_header(shape: tuple[int, int], ra: float, dec: float, pixel_deg: float) -> Any:
    """Return a FITS header with a north-up gnomonic WCS centred on the image.

    Parameters
    ----------
    shape : (ny, nx)
    ra, dec : float
        Sky position of the image centre, degrees.
    pixel_deg : float
        Pixel size, degrees.

    Returns
    -------
    astropy.io.fits.Header
    """
    from astropy.io import fits

    ny, nx = shape
    header = fits.Header()
    header.update(
        WCSAXES=2,
        CTYPE1="RA---TAN",
        CTYPE2="DEC--TAN",
        CUNIT1="deg",
        CUNIT2="deg",
        CRPIX1=(nx + 1) / 2,
        CRPIX2=(ny + 1) / 2,
        CRVAL1=ra,
        CRVAL2=dec,
        CD1_1=-pixel_deg,
        CD1_2=0.0,
        CD2_1=0.0,
        CD2_2=pixel_deg,
        RADESYS="ICRS",
    )
    return header


def tan_gwcs(shape: tuple[int, int], ra: float, dec: float, pixel_deg: float) -> Any:
    """Return a :class:`gwcs.WCS` equal to :func:`tan_header`'s WCS (0-based pixels).

    Parameters
    ----------
    shape : (ny, nx)
    ra, dec : float
        Sky position of the image centre, degrees.
    pixel_deg : float
        Pixel size, degrees.

    Returns
    -------
    gwcs.WCS
        ``detector`` (pixels) to ``world`` (ICRS) with a bounding box on the image.
    """
    import astropy.units as u
    from astropy.coordinates import ICRS
    from astropy.modeling import models
    from gwcs import coordinate_frames as cf
    from gwcs import wcs

    ny, nx = shape
    transform = (
        (models.Shift(-(nx - 1) / 2) & models.Shift(-(ny - 1) / 2))
        | (models.Scale(-pixel_deg) & models.Scale(pixel_deg))
        | models.Pix2Sky_TAN()
        | models.RotateNative2Celestial(ra, dec, 180.0)
    )
    detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    world = cf.CelestialFrame(
        reference_frame=ICRS(), name="world", unit=(u.deg, u.deg), axes_names=("lon", "lat")
    )
    result = wcs.WCS([(detector, transform), (world, None)])
    result.bounding_box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
    return result


def write_gzip_fits(hdus: Any, path: Path) -> Path:
    """Write ``hdus`` gzip-compressed (level 1, no timestamp, so the bytes are reproducible).

    Parameters
    ----------
    hdus : astropy.io.fits.HDUList
    path : pathlib.Path
        Ends in ``.fits.gz``.

    Returns
    -------
    pathlib.Path
    """
    raw = path.with_name(path.name + ".tmp")
    hdus.writeto(raw, overwrite=True)
    with open(raw, "rb") as source, gzip.GzipFile(path, "wb", compresslevel=1, mtime=0) as target:
        shutil.copyfileobj(source, target, 1 << 22)
    raw.unlink()
    return path


#: The Roman WFI's pixel, degrees.
ROMAN_PIXEL_DEG = 0.11 / 3600


def _celestial_header(nx: int, ny: int, ra: float = 187.4, dec: float = 18.2):
    return tan_header((ny, nx), ra, dec, ROMAN_PIXEL_DEG)


def image(ny: int, nx: int = WIDTH, seed: int = 0, dtype: str = "float32") -> np.ndarray:
    """Noise plus a row/column ramp: every pixel differs, and compresses like sky data."""
    rng = np.random.default_rng(seed)
    ramp = np.add.outer(np.arange(ny, dtype=np.float32), np.arange(nx, dtype=np.float32) * 1e-3)
    return (rng.normal(100.0, 5.0, size=(ny, nx)).astype(np.float32) + ramp).astype(dtype)


def write_hst_drz(
    path: Path,
    ny: int = 2000,
    nx: int = 1600,
    seed: int = 1,
    *,
    ra: float = 187.4,
    dec: float = 18.2,
    band: str = "F160W",
    exptime: float = 1102.9,
) -> Path:
    """An HST WFC3/IR-like drizzled file: PRIMARY, SCI, WHT, CTX, HDRTAB; north up, centred on (ra, dec)."""
    from astropy.io import fits

    primary = fits.PrimaryHDU()
    primary.header.update(
        TELESCOP="HST",
        INSTRUME="WFC3",
        DETECTOR="IR",
        FILTER=band,
        TARGNAME="M85",
        PROPOSID=11360,
        EXPTIME=exptime,
    )
    for number in range(240):  # real drz primary headers are long
        primary.header[f"HIERARCH KEYWORD{number:03d}"] = (number, "filler like the real header")
    header = _celestial_header(nx, ny, ra, dec)
    sci = fits.ImageHDU(image(ny, nx, seed), header=header, name="SCI")
    wht = fits.ImageHDU(np.ones((ny, nx), np.float32), name="WHT")
    ctx = fits.ImageHDU(np.ones((ny, nx), np.int32), name="CTX")
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="ROOTNAME", format="10A", array=np.array(["ib6w01abc"] * 4)),
            fits.Column(name="EXPTIME", format="E", array=np.full(4, round(exptime / 4, 1))),
        ],
        name="HDRTAB",
    )
    fits.HDUList([primary, sci, wht, ctx, table]).writeto(path, overwrite=True)
    return path


def write_two_image_fits(path: Path, ny: int = WIDTH, nx: int = WIDTH, seed: int = 2) -> Path:
    """A 4088-wide FITS with an empty primary and two float32 images (SCI, ERR)."""
    from astropy.io import fits

    sci = fits.ImageHDU(image(ny, nx, seed), header=_celestial_header(nx, ny), name="SCI")
    err = fits.ImageHDU(np.full((ny, nx), 5.0, np.float32), name="ERR")
    fits.HDUList([fits.PrimaryHDU(), sci, err]).writeto(path, overwrite=True)
    return path


def write_fits_gz(path: Path, ny: int = WIDTH, nx: int = WIDTH, seed: int = 3) -> Path:
    """An OpenUniverse-like ``.fits.gz``: an empty primary, then SCI, ERR and DQ images."""
    from astropy.io import fits

    sci = fits.ImageHDU(image(ny, nx, seed), header=_celestial_header(nx, ny), name="SCI")
    err = fits.ImageHDU(np.full((ny, nx), 5.0, np.float32), name="ERR")
    dq = fits.ImageHDU(np.zeros((ny, nx), np.uint32), name="DQ")
    return write_gzip_fits(fits.HDUList([fits.PrimaryHDU(), sci, err, dq]), path)


def write_roman_cal(
    path: Path,
    ny: int = WIDTH,
    nx: int = WIDTH,
    seed: int = 4,
    *,
    at: tuple[float, float] | None = None,
    detector: int = 1,
    optical_element: str = "F158",
    start: str = "2027-03-01T00:00:00",
) -> Path:
    """A Roman level-2 ImageModel (roman_datamodels fake data), saved lz4 as rdm does.

    With ``at`` (ra, dec) the file is placed on the sky: ``meta.wcs`` a north-up gnomonic gwcs
    centred there, with the detector, optical element and a 139.8 s exposure from ``start``.
    """
    import roman_datamodels.datamodels as dm

    model = dm.ImageModel.create_fake_data(shape=(ny, nx))
    model.data = image(ny, nx, seed)
    if at is not None:
        from astropy.time import Time

        meta = model.meta
        meta.filename = path.name
        meta.instrument.detector = f"WFI{detector:02d}"
        meta.instrument.optical_element = optical_element
        meta.exposure.start_time = Time(start)
        meta.exposure.end_time = Time(Time(start).mjd + 139.8 / 86400, format="mjd", scale="utc")
        meta.exposure.exposure_time = 139.8
        meta.wcs = tan_gwcs((ny, nx), *at, ROMAN_PIXEL_DEG)
    model.save(path)
    return path


def write_openuniverse_asdf(
    path: Path,
    ny: int,
    nx: int,
    seed: int = 5,
    *,
    at: tuple[float, float],
    band: str,
    hpix: str,
    sensor: int,
    wcs: Any = None,
) -> Path:
    """The Roman Research Nexus's ASDF conversion of an OpenUniverse image, written by plain asdf.

    ``roman.meta`` (band, hpix, sensor, a 139.8 s exptime), ``roman.data``, ``err``, ``dq``,
    ``roman.wcs`` (a north-up gnomonic gwcs at ``at``, or ``wcs``) and ``roman.catalogs``
    (galaxies, stars, transients on the image); arrays lz4, as the conversions are. Plain asdf
    keeps a gwcs's arrays in binary blocks after the image's, not in the tree.
    """
    import asdf
    from astropy.table import Table

    gwcs_wcs = wcs if wcs is not None else tan_gwcs((ny, nx), *at, ROMAN_PIXEL_DEG)
    rng = np.random.default_rng(seed)

    def on_image(count: int) -> dict[str, np.ndarray]:
        lon, lat = gwcs_wcs(rng.uniform(4, nx - 5, count), rng.uniform(4, ny - 5, count))
        return {"id": np.arange(count, dtype=np.int64), "ra": np.round(lon, 8), "dec": np.round(lat, 8)}

    catalogs = {
        name: Table({**on_image(count), "mag": np.round(rng.uniform(20.0, 25.0, count), 3)})
        for name, count in (("galaxies", 12), ("stars", 6), ("transients", 2))
    }
    tree = {
        "roman": {
            "meta": {"band": band, "hpix": hpix, "sensor": f"WFI{sensor:02d}", "exptime": 139.8},
            "data": image(ny, nx, seed),
            "err": np.full((ny, nx), 0.05, np.float32),
            "dq": np.zeros((ny, nx), np.uint32),
            "wcs": gwcs_wcs,
            "catalogs": catalogs,
        }
    }
    asdf.AsdfFile(tree).write_to(path, all_array_compression="lz4")
    return path


@dataclass(frozen=True)
class Entry:
    """An object to serve: what the sandbox S3 server needs to know about it."""

    bucket: str
    key: str
    path: Path
    public: bool = True


@dataclass
class LocalManifest:
    """The few manifest features :class:`roman_helpers.sandbox.services.s3.S3Server` uses."""

    objects: list[Entry] = field(default_factory=list)

    def file(self, entry: Entry) -> Path:
        return entry.path

    def buckets(self) -> dict[str, bool]:
        result: dict[str, bool] = {}
        for entry in self.objects:
            result[entry.bucket] = result.get(entry.bucket, True) and entry.public
        return result


# ------------------------------------------------------------------ a Time Domain Survey field, one band


@dataclass(frozen=True)
class Epoch:
    """One exposure of the survey field holding the transient, and where its files are."""

    pointing: int
    sca: int
    mjd: float
    x: float  # the transient's 0-based pixel
    y: float
    files: dict[str, Entry]  # layout ("roman", "openuniverse") -> the object to serve


def write_tds(
    directory: Path,
    *,
    size: str = "full",
    epochs: int = 100,
    band: str = "H158",
    layouts: tuple[str, ...] = ("roman", "openuniverse"),
    progress: bool = True,
) -> list[Epoch]:
    """Write the sandbox's TDS field (:mod:`roman_helpers.sandbox.tds`) in one band, one file per epoch.

    Only the detector holding the transient is written at each visit (``tds.build_full`` writes
    every band and detector: four times the files a light curve needs). At full size the epochs
    share one noise image, as ``build_full`` does; each file still has its own header, time, WCS
    and sources. Files are reused while the generators, size, epochs and layouts are unchanged.
    """
    import hashlib
    import inspect
    import json
    import shutil
    import sys

    from tqdm.auto import tqdm

    from roman_helpers.sandbox import synth, tds

    side = tds.FULL_SIDE if size == "full" else tds.SIDE
    code = (
        Path(tds.__file__).read_bytes()
        + Path(synth.__file__).read_bytes()
        + inspect.getsource(write_tds).encode()
    )
    stamp = hashlib.sha256(code + repr((size, epochs, band, layouts)).encode()).hexdigest()[:12]
    root = Path(directory) / f"tds-{size}-{stamp}"
    for old in Path(directory).glob(f"tds-{size}-*"):  # files of an earlier generator or another count
        if old != root:
            shutil.rmtree(old, ignore_errors=True)
    listing = root / "epochs.json"

    def entry(row) -> Entry:
        return Entry(str(row["bucket"]), str(row["key"]), root / str(row["bucket"]) / str(row["key"]))

    table = tds.truth(size)["files"]
    chosen = table[(table["band"] == band) & table["holds_target"]]
    by_layout = {
        layout: {(int(r["pointing"]), int(r["sca"])): r for r in chosen if r["layout"] == layout}
        for layout in layouts
    }
    wanted = sorted(by_layout[layouts[0]])[:epochs]
    result = [
        Epoch(
            p,
            sca,
            float(row["mjd"]),
            float(row["x"]),
            float(row["y"]),
            {layout: entry(by_layout[layout][p, sca]) for layout in layouts},
        )
        for p, sca in wanted
        for row in [by_layout[layouts[0]][p, sca]]
    ]
    if listing.exists() and json.loads(listing.read_text()) == len(result):
        return result
    noise = None
    if size == "full":  # one noise image for every epoch, as tds.build_full
        noise = (np.random.default_rng([20281, 7]).standard_normal((side, side), dtype=np.float32), 1.0)
    rows = tds.pointings(side)
    for epoch in tqdm(
        result, desc=f"TDS {band} epochs ({side} px)", unit="epoch", disable=not progress, file=sys.stderr
    ):
        exposure = tds._expose(rows[epoch.pointing], epoch.sca, side, background=noise)
        for layout, target in epoch.files.items():
            target.path.parent.mkdir(parents=True, exist_ok=True)
            if not target.path.exists():
                partial = target.path.with_name("part-" + target.path.name)
                (tds._write_cal if layout == "roman" else tds._write_fits)(partial, exposure)
                partial.rename(target.path)
    listing.write_text(json.dumps(len(result)))
    return result


# ------------------------------------------------------------------ objects generated on demand

BLOCK_ROWS = 64  # rows per noise block: the same rows give the same pixels however the file is read
GENERATED_CAL = (
    "roman/nexus/soc_simulations/tutorial_data/roman-2026.2/r0003201001001001004_0001_wfi01_f158_cal.asdf"
)
GENERATED_FITS = "openuniverse2024/roman/preview/RomanWAS/images/coadds/H158/Row14/prod_H_16_14_map.fits"
GENERATED_GZ = (
    "openuniverse2024/roman/full/RomanTDS/images/simple_model/H158/1000/"
    "Roman_TDS_simple_model_H158_1000_1.fits.gz"
)
GENERATED_PARQUET = "openuniverse2024/roman/full/roman_rubin_cats_v1.1.2_faint/galaxy_10307.parquet"
GENERATED_ECSV = "openuniverse2024/roman/full/RomanTDS/truth/H158/1000/Roman_TDS_index_H158_1000_1.ecsv"


class NoiseImage:
    """An image made of blocks of seeded noise and a ramp, produced row by row; calls are recorded.

    Block ``b`` (rows ``64 b`` to ``64 b + 63``) is drawn from a generator seeded by ``(seed, b)``,
    so any rows are the same pixels whichever read asks for them.
    """

    def __init__(self, shape: tuple[int, int], seed: int, level: float = 100.0, sigma: float = 5.0):
        self.shape, self.seed, self.level, self.sigma = shape, seed, level, sigma
        self.calls: list[tuple[int, int]] = []

    def rows(self, y0: int, y1: int) -> np.ndarray:
        self.calls.append((y0, y1))
        first, last = y0 // BLOCK_ROWS, (y1 - 1) // BLOCK_ROWS
        blocks = []
        for block in range(first, last + 1):
            rng = np.random.default_rng([self.seed, block])
            count = min(BLOCK_ROWS, self.shape[0] - block * BLOCK_ROWS)
            noise = rng.standard_normal((count, self.shape[1]), dtype=np.float32) * np.float32(self.sigma)
            ramp = np.arange(block * BLOCK_ROWS, block * BLOCK_ROWS + count, dtype=np.float32)[:, None]
            blocks.append(noise + np.float32(self.level) + ramp * np.float32(1e-3))
        stacked = np.concatenate(blocks)
        start = y0 - first * BLOCK_ROWS
        return stacked[start : start + (y1 - y0)]

    @property
    def rows_made(self) -> set[int]:
        """Every row any call produced."""
        return {row for y0, y1 in self.calls for row in range(y0, y1)}


def generated_hdus(side: int, images: dict | None = None):
    """HDU descriptions of an OpenUniverse-like image (empty primary, SCI, ERR, DQ) of ``side``²."""
    from astropy.io import fits

    from roman_helpers.sandbox.archive.fits import HDU
    from roman_helpers.sandbox.archive.objects import ArraySpec

    sci = NoiseImage((side, side), seed=17)
    err = NoiseImage((side, side), seed=18, level=5.0, sigma=0.1)
    if images is not None:
        images.update(sci=sci, err=err)
    dq_rows = lambda y0, y1: (np.arange(y0, y1)[:, None] % 7 == 0) * np.ones(side, np.uint32)  # noqa: E731
    primary = fits.Header({"TELESCOP": "ROMAN", "INSTRUME": "WFI", "FILTER": "H158"})
    return [
        HDU(primary),
        HDU(_celestial_header(side, side), ArraySpec("float32", (side, side), sci.rows), name="SCI"),
        HDU(None, ArraySpec("float32", (side, side), err.rows), name="ERR"),
        HDU(None, ArraySpec("uint32", (side, side), dq_rows), name="DQ"),
    ]


def generated_cal(side: int, images: dict | None = None):
    """A Roman level-2 ImageModel's metadata and the array specs of its data, dq and err."""
    import roman_datamodels.datamodels as dm

    from roman_helpers.sandbox.archive.objects import ArraySpec

    model = dm.ImageModel.create_fake_data(shape=(8, 8))
    data = NoiseImage((side, side), seed=21, level=1.0, sigma=0.05)
    err = NoiseImage((side, side), seed=22, level=0.05, sigma=0.001)
    if images is not None:
        images.update(cal_data=data, cal_err=err)
    arrays = {
        "data": ArraySpec("float32", (side, side), data.rows),
        "dq": ArraySpec("uint32", (side, side), lambda y0, y1: np.zeros((y1 - y0, side), np.uint32)),
        "err": ArraySpec("float16", (side, side), err.rows),
    }
    return model, arrays


def generated_archive(
    cache_dir: str, side: int = WIDTH, budget: int | None = None, images: dict | None = None
):
    """An archive of objects generated on demand: a FITS, its .fits.gz, an lz4 ASDF, a Parquet and an ECSV.

    ``images`` (a dict), when given, receives the row generators, so that a test can count the
    rows a read made. The factory of :class:`roman_helpers.sandbox.archive.registry.ArchiveSpec`
    for the tests' and the benchmark's S3 servers (``files:generated_archive``).
    """
    import pyarrow as pa
    from astropy.table import Table

    from roman_helpers.sandbox.archive.asdf import AsdfObject
    from roman_helpers.sandbox.archive.cache import ChunkCache
    from roman_helpers.sandbox.archive.fits import FitsObject, GzipObject
    from roman_helpers.sandbox.archive.registry import Archive, Provider
    from roman_helpers.sandbox.archive.tables import ecsv_object, parquet_object

    hdus = generated_hdus(side, images)
    model, arrays = generated_cal(side, images)

    def fits_object(key: str) -> FitsObject:
        return FitsObject(key, hdus)

    def build(key: str):
        if key == GENERATED_FITS:
            return fits_object(key)
        if key == GENERATED_GZ:
            name = key.rsplit("/", 1)[1].removesuffix(".gz")
            return GzipObject(key, fits_object(name), fname=name)
        if key == GENERATED_CAL:
            return AsdfObject(key, model, arrays, file_date="2026-09-14T05:12:00.000")
        if key == GENERATED_PARQUET:
            rng = np.random.default_rng(5)
            return parquet_object(
                key,
                lambda: pa.table(
                    {
                        "galaxy_id": np.arange(5000),
                        "ra": rng.uniform(9, 10, 5000),
                        "dec": rng.uniform(-44, -43, 5000),
                    }
                ),
            )
        if key == GENERATED_ECSV:
            return ecsv_object(key, lambda: Table({"object_id": [1, 2, 3], "mag": [21.0, 22.5, 23.1]}))
        return None

    archive = Archive(ChunkCache(cache_dir, budget=budget))
    for bucket, prefix, keys in (
        (
            "nasa-irsa-simulations",
            "openuniverse2024/",
            [GENERATED_FITS, GENERATED_GZ, GENERATED_PARQUET, GENERATED_ECSV],
        ),
        ("stpubdata", "roman/", [GENERATED_CAL]),
    ):
        archive.add_bucket(bucket)
        archive.add(
            Provider(
                bucket, prefix, "objects generated on demand for the tests", lambda keys=keys: keys, build
            )
        )
    return archive
