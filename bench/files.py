"""Synthetic files with the structure of the real ones, for tests and the benchmark.

Each writer takes the image size, so tests use a few rows and the benchmark the
full 4088 x 4088 detector.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from roman_helpers.sandbox.synth import tan_header, write_gzip_fits

WIDTH = 4088


def _celestial_header(nx: int, ny: int):
    return tan_header((ny, nx), 187.4, 18.2, 0.11 / 3600)


def image(ny: int, nx: int = WIDTH, seed: int = 0, dtype: str = "float32") -> np.ndarray:
    """Noise plus a row/column ramp: every pixel differs, and compresses like sky data."""
    rng = np.random.default_rng(seed)
    ramp = np.add.outer(np.arange(ny, dtype=np.float32), np.arange(nx, dtype=np.float32) * 1e-3)
    return (rng.normal(100.0, 5.0, size=(ny, nx)).astype(np.float32) + ramp).astype(dtype)


def write_hst_drz(path: Path, ny: int = 2000, nx: int = 1600, seed: int = 1) -> Path:
    """An HST WFC3/IR-like drizzled file: PRIMARY, SCI, WHT, CTX, HDRTAB."""
    from astropy.io import fits

    primary = fits.PrimaryHDU()
    primary.header.update(
        TELESCOP="HST",
        INSTRUME="WFC3",
        DETECTOR="IR",
        FILTER="F160W",
        TARGNAME="M85",
        PROPOSID=11360,
        EXPTIME=1102.9,
    )
    for number in range(240):  # real drz primary headers are long
        primary.header[f"HIERARCH KEYWORD{number:03d}"] = (number, "filler like the real header")
    sci = fits.ImageHDU(image(ny, nx, seed), header=_celestial_header(nx, ny), name="SCI")
    wht = fits.ImageHDU(np.ones((ny, nx), np.float32), name="WHT")
    ctx = fits.ImageHDU(np.ones((ny, nx), np.int32), name="CTX")
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="ROOTNAME", format="10A", array=np.array(["ib6w01abc"] * 4)),
            fits.Column(name="EXPTIME", format="E", array=np.full(4, 275.7)),
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


def write_roman_cal(path: Path, ny: int = WIDTH, nx: int = WIDTH, seed: int = 4) -> Path:
    """A Roman level-2 ImageModel (roman_datamodels fake data), saved lz4 as rdm does."""
    import roman_datamodels.datamodels as dm

    model = dm.ImageModel.create_fake_data(shape=(ny, nx))
    model.data = image(ny, nx, seed)
    model.save(path)
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
