"""The sandbox's objects: every file the tutorials can touch, generated once and cached.

:func:`plan` lists the objects (bucket, key, how to write it) from the dataset file
(``roman_helpers/datasets.yaml``) and the synthetic MAST catalog, so a dataset or parameter
value added there appears in the sandbox without a change here. :func:`build` writes them into
a cache directory and returns a :class:`Manifest`. A build happens in a temporary directory
that is renamed into place only when complete, under a lock, so two processes starting the
sandbox at once (a test session and a book build) never see half-written data. The cache key
includes a fingerprint of the generator code, so a changed generator rebuilds by itself.

Sizes: ``"small"`` writes every image at 256 x 256 pixels except each dataset's default file
(the one the tutorials open first), which is 2048 x 2048 (HST: the real 1014 x 1014), so byte
counts show what streaming saves. HST exposures (FLT, IMA, RAW) are 64 x 64 subarray readouts
(WFC3/IR's IRSUB64 aperture, four reads each), so that the 19 products MAST lists for each of the
81 observations all fit in the cache: about 1,800 files, under 400 MB, built in well under a
minute. ``"full"`` writes the default files at the real size (4088 x 4088 for Roman) and the
default HST observation's exposures as full 1014 x 1014 frames. The Time Domain Survey field of
:mod:`~roman_helpers.sandbox.tds` (about 1,300 more files) is small in both sizes.

HST previews (JPEG) are not in the ``stpubdata`` bucket, as on AWS: they are generated into the
cache and listed in :attr:`Manifest.mast_files`, which only MAST's ``Download/file`` serves.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from roman_helpers import datasets
from roman_helpers.sandbox import synth, tds
from roman_helpers.sandbox.archive.cache import default_cache_dir
from roman_helpers.sandbox.services import catalog

__all__ = [
    "BUCKETS",
    "CACHE_BUDGET_BYTES",
    "CATALOG_PLACEHOLDER",
    "MAST_ONLY",
    "Entry",
    "Manifest",
    "PlannedObject",
    "build",
    "default_cache_dir",
    "plan",
]

PRIVATE_BUCKET = "roman-sci-test-data-prod-summer-beta-test"
#: Every bucket of the sandbox and whether it is public (anonymous reads), as on AWS.
BUCKETS = {"stpubdata": True, "nasa-irsa-simulations": True, PRIVATE_BUCKET: False}

SMALL = (256, 256)
MEDIUM_SIDE = 2048  # default files in "small" mode: several lz4 chunks, a header far smaller than the file
ROMAN_FULL = (4088, 4088)
HST_DRZ_FULL = (1014, 1014)
HST_EXPOSURE_SMALL = (64, 64)  # WFC3/IR's IRSUB64 subarray
HST_EXPOSURE_FULL = (1014, 1014)  # a full WFC3/IR frame (the readout adds 5 reference pixels a side)
#: Bucket name of files that exist only behind MAST's Download/file (HST previews).
MAST_ONLY = ""
#: The small build must stay under this many bytes (it is loaded into the S3 server's memory too).
CACHE_BUDGET_BYTES = 500_000_000

# Sky positions of the synthetic fields (degrees)
DENSE_REGION = {"R0.5_DP0.5_PA0": (268.52, -29.43, 0.0), "R0.5_DP0.5_PA90": (268.52, -29.43, 90.0)}
OPENUNIVERSE_HPIX = {"15297": (9.71, -44.02), "15298": (9.58, -43.90)}
TUTORIAL_2026 = (80.48, -69.51)

#: PLACEHOLDER, to be replaced by the sky model's OpenUniverse truth catalogs (issue 17): one
#: small transient table at the archive's real path, so that the S3 clients' tests (s3fs,
#: pandas, pyarrow's own S3 client) have a Parquet object to read. 10307 is the HEALPix cell
#: (nside 32, RING) holding the Time Domain Survey field, :data:`tds.FIELD`.
CATALOG_PLACEHOLDER = "openuniverse2024/roman/full/roman_rubin_cats_v1.1.2_faint/snana_10307.parquet"


@dataclass(frozen=True)
class Entry:
    """One object of the sandbox's S3.

    Attributes
    ----------
    bucket, key : str
    path : str
        File path relative to :attr:`Manifest.root`.
    size : int
    md5 : str
        Hex MD5 of the bytes (the single-part ETag S3 reports).
    public : bool
        Readable anonymously.
    """

    bucket: str
    key: str
    path: str
    size: int
    md5: str
    public: bool


@dataclass
class Manifest:
    """The generated objects and where their bytes are.

    Attributes
    ----------
    root : pathlib.Path
    objects : list of Entry
        The buckets' objects.
    size : str
        ``"small"`` or ``"full"``.
    mast_files : list of Entry
        Files MAST serves but no bucket holds (``bucket`` is :data:`MAST_ONLY`; ``key`` is the
        path MAST's ``path_lookup`` gives them).
    """

    root: Path
    objects: list[Entry]
    size: str = "small"
    mast_files: list[Entry] = field(default_factory=list)

    def file(self, entry: Entry) -> Path:
        """Return the local file holding ``entry``'s bytes."""
        return self.root / entry.path

    def buckets(self) -> dict[str, bool]:
        """Return ``{bucket: public}`` for every sandbox bucket (empty ones included)."""
        return dict(BUCKETS)

    def find(self, bucket: str, key: str) -> Entry | None:
        """Return the entry for ``bucket``/``key``, or None."""
        return next((e for e in self.objects if e.bucket == bucket and e.key == key), None)

    @property
    def total_bytes(self) -> int:
        """Sum of the sizes of every generated file (bucket objects and MAST-only files)."""
        return sum(e.size for e in self.objects) + sum(e.size for e in self.mast_files)


@dataclass(frozen=True)
class PlannedObject:
    """An object to generate: where it goes and the writer call that makes it.

    ``bucket`` is :data:`MAST_ONLY` for a file no bucket holds.
    """

    bucket: str
    key: str
    writer: Callable[..., Path]
    kwargs: dict[str, Any]


def _seed(key: str) -> int:
    return int.from_bytes(hashlib.md5(key.encode()).digest()[:4], "little")


def _detector_centre(ra: float, dec: float, detector: int, angle_deg: float = 0.0) -> tuple[float, float]:
    """Centre of WFI detector ``detector`` for a boresight at (ra, dec): a 6 x 3 grid, 0.13 deg apart."""
    column, row = (detector - 1) % 6, (detector - 1) // 6
    dx, dy = (column - 2.5) * 0.13, (row - 1) * 0.13
    angle = math.radians(angle_deg)
    dx, dy = dx * math.cos(angle) - dy * math.sin(angle), dx * math.sin(angle) + dy * math.cos(angle)
    return round(ra + dx / math.cos(math.radians(dec)), 6), round(dec + dy, 6)


def _is_default(dataset: datasets.Dataset, params: dict[str, Any]) -> bool:
    return all(params.get(name) == value for name, value in dataset.defaults().items())


def _shape(default: bool, real: tuple[int, int], size: str) -> tuple[int, int]:
    """Every file small, but a dataset's default file big enough that streaming visibly pays."""
    if not default:
        return SMALL
    return real if size == "full" else (min(real[0], MEDIUM_SIDE), min(real[1], MEDIUM_SIDE))


def _hst_objects(size: str) -> Iterator[PlannedObject]:
    """Every product MAST lists for the catalog's HST observations, previews outside the bucket."""
    default_obsid = datasets.get("hst-wfc3ir-m85").defaults()["obsid"]
    for source in catalog.product_sources():
        row, visit = source["row"], source["visit"]
        key = catalog.cloud_key(row["dataURI"])
        bucket = "stpubdata" if catalog.in_cloud(row) else MAST_ONLY
        default = visit["obsid"] == default_obsid
        writer, kwargs = _hst_writer(source, default, size)
        yield PlannedObject(bucket, key, writer, kwargs)


def _hst_writer(
    source: dict[str, Any], default: bool, size: str
) -> tuple[Callable[..., Path], dict[str, Any]]:
    """The synth writer and its arguments for one HST product (same sky in a file and its preview)."""
    visit, kind, association = source["visit"], source["kind"], source["association"]
    galaxy = tuple(source["galaxy"])
    drz_key = catalog.cloud_key(f"mast:HST/product/{association}_drz.fits")
    drz = {
        "shape": _shape(default, HST_DRZ_FULL, size),
        "ra": visit["s_ra"],
        "dec": visit["s_dec"],
        "galaxy": galaxy,
        "seed": _seed(drz_key),
    }
    keywords = {
        "ROOTNAME": association,
        "TARGNAME": visit["target_name"],
        "PROPOSID": int(visit["proposal_id"]),
        "FILTER": visit["filters"],
        "RA_TARG": galaxy[0],
        "DEC_TARG": galaxy[1],
        "ASN_ID": association.upper(),
        "ASN_TAB": f"{association}_asn.fits",
        "EXPSTART": visit["t_min"],
    }
    per_exposure = visit["t_exptime"] / len(source["exposures"])
    if kind == "drz.fits":
        return synth.write_hst_drz, dict(
            drz,
            band=visit["filters"],
            rootname=association,
            exptime=visit["t_exptime"],
            proposal_id=visit["proposal_id"],
            targname=visit["target_name"],
        )
    if kind in ("drz.jpg", "drz_thumb.jpg"):
        return synth.write_hst_preview, dict(
            drz, pixel_deg=synth.HST_IR_DRZ_PIXEL_DEG, max_side=128 if "thumb" in kind else None
        )
    if kind == "asn.fits":
        return synth.write_hst_asn, {
            "keywords": keywords,
            "members": source["exposures"],
            "product": association,
        }
    if kind in ("jif.fits", "jit.fits"):
        jitter = {**keywords, "ROOTNAME": association[:8] + "j"}
        return synth.write_hst_jitter, {
            "keywords": jitter,
            "exposures": source["exposures"],
            "exptime": per_exposure,
            "ra": visit["s_ra"],
            "dec": visit["s_dec"],
            "seed": _seed(drz_key) + 7,
            "image": kind == "jif.fits",
        }
    if source["exposure"] is None:  # the association's trailer
        return synth.write_hst_trl, {
            "keywords": keywords,
            "steps": _trailer(association, source["exposures"]),
        }
    # one exposure's files: the same readout, seeded by the exposure's name
    exposure, number = source["exposure"], source["exposure_number"]
    full = size == "full" and default
    shape = HST_EXPOSURE_FULL if full else HST_EXPOSURE_SMALL
    keywords = {
        **keywords,
        "ROOTNAME": exposure,
        "ASN_MTYP": "EXP-DTH",
        "APERTURE": "IR" if full else "IRSUB64",
        "SUBARRAY": not full,
        "SAMP_SEQ": "SPARS100",
        "EXPSTART": round(visit["t_min"] + number * per_exposure / 86400, 5),
    }
    readout = {
        "shape": shape,
        "ra": visit["s_ra"],
        "dec": round(visit["s_dec"] + (number - 0.5) * 0.5 / 3600, 8),
        "galaxy": galaxy,
        "seed": _seed(exposure),
    }
    if kind == "flt.jpg":
        return synth.write_hst_preview, dict(readout, pixel_deg=synth.HST_IR_PIXEL_DEG)
    if kind == "spt.fits":
        return synth.write_hst_spt, {"keywords": keywords, "seed": _seed(exposure) + 3}
    if kind == "trl.fits":
        return synth.write_hst_trl, {"keywords": keywords, "steps": _trailer(exposure, [])}
    writers = {
        "flt.fits": synth.write_hst_flt,
        "ima.fits": synth.write_hst_ima,
        "raw.fits": synth.write_hst_raw,
    }
    return writers[kind], dict(readout, exptime=per_exposure, nsamp=source["nsamp"], keywords=keywords)


def _trailer(dataset: str, members: list[str]) -> list[str]:
    """A processing log in the style of CALWF3's trailer files."""
    lines = [f"CALWF3 version 3.7.2 (synthetic) for {dataset.upper()}"]
    if members:
        lines += [f"Input exposure {m.upper()}" for m in members]
        lines += ["AstroDrizzle: combining the exposures", f"Output {dataset}_drz.fits written"]
    else:
        lines += [
            f"{step} ... COMPLETE"
            for step in (
                "DQICORR",
                "ZSIGCORR",
                "BLEVCORR",
                "ZOFFCORR",
                "NLINCORR",
                "DARKCORR",
                "PHOTCORR",
                "UNITCORR",
                "CRCORR",
                "FLATCORR",
            )
        ]
    return [*lines, "End of processing"]


def _roman_ids(filename: str) -> dict[str, Any]:
    """``meta.observation`` identifiers from a file name (``visit_id`` is the 19 digits after ``r``)."""
    digits = filename[1:20]
    match = re.search(r"_(\d{4})_[wW][fF][iI]", filename)
    if match is None:
        raise ValueError(f"no exposure number before the detector in {filename!r}")
    exposure = match.group(1)
    return {
        "program": int(digits[0:5]),
        "execution_plan": int(digits[5:7]),
        "pass": int(digits[7:10]),
        "segment": int(digits[10:13]),
        "observation": int(digits[13:16]),
        "visit": int(digits[16:19]),
        "visit_id": digits,
        "observation_id": f"{digits}01101{exposure}",
        "exposure": int(exposure),
    }


def _isim_objects(size: str) -> Iterator[PlannedObject]:
    dataset = datasets.get("romanisim-dense-region")
    for params in dataset.all_params():
        ra, dec, angle = DENSE_REGION[params["pointing"]]
        centre = _detector_centre(ra, dec, params["detector"], angle)
        key = dataset.key(**params)
        start = "2026-03-01T00:00:00" if params["optical_element"] == "F158" else "2026-03-01T01:00:00"
        common = {
            "detector": params["detector"],
            "optical_element": params["optical_element"],
            "ra": centre[0],
            "dec": centre[1],
            "start": start,
            "ids": _roman_ids(key.rsplit("/", 1)[1]),
            "seed": _seed(key),
        }
        if params["suffix"] == "cal":
            yield PlannedObject(
                dataset.bucket,
                key,
                synth.write_roman_cal,
                dict(
                    common,
                    shape=_shape(_is_default(dataset, params), ROMAN_FULL, size),
                    stars_per_megapixel=8000.0,
                ),
            )
        else:  # a full-size ramp would be 200 MB per file: level-1 files stay small
            yield PlannedObject(dataset.bucket, key, synth.write_roman_uncal, dict(common, shape=SMALL))


def _openuniverse_objects(size: str) -> Iterator[PlannedObject]:
    fits_set, asdf_set = datasets.get("openuniverse-was-fits"), datasets.get("openuniverse-was-asdf")
    for params in fits_set.all_params():
        ra, dec = OPENUNIVERSE_HPIX[params["hpix"]]
        centre = _detector_centre(ra, dec, params["sensor"])
        shape = _shape(_is_default(fits_set, params), ROMAN_FULL, size)
        common = {
            "shape": shape,
            "ra": centre[0],
            "dec": centre[1],
            "band": params["band"],
            "seed": _seed(f"{params['band']}/{params['hpix']}/{params['sensor']}"),
        }
        # the FITS and ASDF versions of one image share its catalogs, drawn from the same seed
        yield PlannedObject(fits_set.bucket, fits_set.key(**params), _write_openuniverse_fits, common)
        yield PlannedObject(
            asdf_set.bucket,
            asdf_set.key(**params),
            _write_openuniverse_asdf,
            dict(common, hpix=params["hpix"], sensor=params["sensor"]),
        )


def _write_openuniverse_fits(path: Path, **kwargs: Any) -> Path:
    cats = synth.source_catalogs(kwargs["shape"], kwargs["ra"], kwargs["dec"], kwargs["seed"])
    return synth.write_openuniverse_fits_gz(path, catalogs=cats, **kwargs)


def _write_openuniverse_asdf(path: Path, **kwargs: Any) -> Path:
    cats = synth.source_catalogs(kwargs["shape"], kwargs["ra"], kwargs["dec"], kwargs["seed"])
    return synth.write_openuniverse_asdf(path, catalogs=cats, **kwargs)


def _tutorial_objects(size: str) -> Iterator[PlannedObject]:
    dataset = datasets.get("roman-tutorial-2026")
    for params in dataset.all_params():
        key = dataset.key(**params)
        centre = _detector_centre(*TUTORIAL_2026, params["detector"])
        yield PlannedObject(
            dataset.bucket,
            key,
            synth.write_roman_cal,
            {
                "shape": _shape(_is_default(dataset, params), ROMAN_FULL, size),
                "detector": params["detector"],
                "optical_element": params["optical_element"],
                "ra": centre[0],
                "dec": centre[1],
                "start": "2026-09-14T05:12:00",
                "ids": _roman_ids(key.rsplit("/", 1)[1]),
                "seed": _seed(key),
            },
        )


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _write_star_catalog(path: Path, seed: int) -> Path:
    import numpy as np
    from astropy.table import Table

    rng = np.random.default_rng(seed)
    count = 500
    ra, dec, _ = DENSE_REGION["R0.5_DP0.5_PA0"]
    Table(
        {
            "ra": np.round(ra + rng.uniform(-0.4, 0.4, count), 7),
            "dec": np.round(dec + rng.uniform(-0.2, 0.2, count), 7),
            "type": ["PSF"] * count,
            "n": np.full(count, -1.0),
            "F158": np.round(rng.uniform(16, 25, count), 3),
            "F129": np.round(rng.uniform(16, 25, count), 3),
        }
    ).write(path, format="ascii.ecsv")
    return path


def _write_transient_placeholder(path: Path, seed: int, rows: int) -> Path:
    """PLACEHOLDER (see :data:`CATALOG_PLACEHOLDER`): the TDS transient, then made-up ones near it."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    ra = np.concatenate([[tds.TRANSIENT[0]], tds.FIELD[0] + rng.uniform(-0.9, 0.9, rows - 1)])
    dec = np.concatenate([[tds.TRANSIENT[1]], tds.FIELD[1] + rng.uniform(-0.9, 0.9, rows - 1)])
    start = np.concatenate([[tds.PEAK_MJD - tds.RISE_DAYS], rng.uniform(61400, 63200, rows - 1)])
    table = pa.table(
        {
            "id": pa.array(tds.TRANSIENT_ID + np.arange(rows), pa.int64()),
            "ra": np.round(ra, 7),
            "dec": np.round(dec, 7),
            "start_mjd": np.round(start, 3),
            "end_mjd": np.round(start + rng.uniform(60, 300, rows), 3),
            "model_name": ["placeholder"] * rows,
        }
    )
    pq.write_table(table, path, row_group_size=rows // 2)  # two row groups: filters can skip one
    return path


def _catalog_placeholder_objects() -> Iterator[PlannedObject]:
    yield PlannedObject(
        "nasa-irsa-simulations",
        CATALOG_PLACEHOLDER,
        _write_transient_placeholder,
        {"seed": 10307, "rows": 200},
    )


def _other_platform_objects() -> Iterator[PlannedObject]:
    """The seed's other folders, so that listing the platform bucket looks like the real one."""
    yield PlannedObject(
        PRIVATE_BUCKET,
        "ROMANISIM/CATALOGS_SCRIPTS/dense_region_stars.ecsv",
        _write_star_catalog,
        {"seed": 11},
    )
    yield PlannedObject(
        PRIVATE_BUCKET,
        "ROMANISIM/CATALOGS_SCRIPTS/README.txt",
        _write_text,
        {"text": "Synthetic stand-in: the catalog the dense-region simulations were made from.\n"},
    )
    key = "ROMANISIM/GALAXIES/r0000101001001001001_01101_0001_WFI01_cal.asdf"
    yield PlannedObject(
        PRIVATE_BUCKET,
        key,
        synth.write_roman_cal,
        {
            "shape": SMALL,
            "detector": 1,
            "optical_element": "F158",
            "ra": 53.1,
            "dec": -27.8,
            "start": "2026-02-01T00:00:00",
            "ids": _roman_ids(key.rsplit("/", 1)[1]),
            "seed": _seed(key),
            "stars_per_megapixel": 500.0,
        },
    )
    yield PlannedObject(
        PRIVATE_BUCKET,
        "STIPS/README.txt",
        _write_text,
        {"text": "Synthetic stand-in for the STIPS tutorial's inputs.\n"},
    )


def plan(size: str = "small") -> list[PlannedObject]:
    """List every object the sandbox serves, with the writer that makes it.

    Parameters
    ----------
    size : {"small", "full"}

    Returns
    -------
    list of PlannedObject

    Examples
    --------
    >>> objects = plan()
    >>> sum(o.key.endswith("_drz.fits") for o in objects)
    81
    >>> sum(o.bucket == MAST_ONLY for o in objects)  # the HST previews
    324
    """
    return [
        *_hst_objects(size),
        *_isim_objects(size),
        *_openuniverse_objects(size),
        *_tutorial_objects(size),
        *_other_platform_objects(),
        *tds.objects(size),
        *_catalog_placeholder_objects(),
    ]


def _fingerprint(size: str) -> str:
    """Hash of the generator code and the dataset file: a change rebuilds the cache."""
    import asdf
    import roman_datamodels

    digest = hashlib.sha256(f"{size} {asdf.__version__} {roman_datamodels.__version__}".encode())
    for source in (__file__, synth.__file__, catalog.__file__, tds.__file__):
        digest.update(Path(source).read_bytes())
    digest.update((Path(datasets.__file__).with_name("datasets.yaml")).read_bytes())
    return digest.hexdigest()[:12]


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with open(directory / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _load(root: Path, size: str) -> Manifest | None:
    try:
        stored = json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return Manifest(
        root,
        [Entry(**e) for e in stored["objects"]],
        size,
        [Entry(**e) for e in stored.get("mast_files", [])],
    )


def build(
    cache_dir: str | os.PathLike | None = None, size: str = "small", *, progress: bool | None = None
) -> Manifest:
    """Generate the sandbox's files (or reuse the cached ones) and return their manifest.

    Parameters
    ----------
    cache_dir : path, optional
        Default ``ROMAN_HELPERS_SANDBOX_CACHE`` or ``~/.cache/roman-helpers/sandbox``.
    size : {"small", "full"}
    progress : bool, optional
        Show a progress bar on stderr while generating; by default only when stderr is a
        terminal (a log file gets no bar).

    Returns
    -------
    Manifest
    """
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    root = cache / f"data-{size}-{_fingerprint(size)}"
    manifest = _load(root, size)
    if manifest is not None:
        return manifest
    with _locked(cache):
        manifest = _load(root, size)  # another process may have built it while we waited
        if manifest is not None:
            return manifest
        staging = Path(tempfile.mkdtemp(prefix=f".building-{size}-", dir=cache))
        if progress is None:
            progress = sys.stderr.isatty()
        try:
            workers = _workers()
            entries = (
                _generate_in_parallel(size, staging, progress, workers)
                if workers > 1
                else _generate(plan(size), staging, progress)
            )
            objects = [e for e in entries if e.bucket != MAST_ONLY]
            mast_files = [e for e in entries if e.bucket == MAST_ONLY]
            (staging / "manifest.json").write_text(
                json.dumps(
                    {"objects": [asdict(e) for e in objects], "mast_files": [asdict(e) for e in mast_files]}
                )
            )
            os.replace(staging, root)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        for old in cache.glob(f"data-{size}-*"):  # earlier generators' output
            if old != root:
                shutil.rmtree(old, ignore_errors=True)
    return Manifest(root, objects, size, mast_files)


def _generate(objects: list[PlannedObject], staging: Path, progress: bool) -> list[Entry]:
    from tqdm.auto import tqdm

    bar = tqdm(
        objects, desc="sandbox data (first run only)", unit="file", disable=not progress, file=sys.stderr
    )
    return [_write(item, staging) for item in bar]


def _write(item: PlannedObject, staging: Path) -> Entry:
    relative = Path(item.bucket or "mast-only") / item.key
    target = staging / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    item.writer(target, **item.kwargs)
    return Entry(
        item.bucket,
        item.key,
        relative.as_posix(),
        target.stat().st_size,
        _md5(target),
        BUCKETS.get(item.bucket, True),
    )


def _workers() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


def _generate_in_parallel(size: str, staging: Path, progress: bool, workers: int) -> list[Entry]:
    """Write :func:`plan`'s objects with ``workers`` child interpreters; entries come back in plan order.

    Why children: each file is independent and CPU-bound (numpy, astropy, roman_datamodels), so the
    first start takes about half as long on two cores. They are plain interpreters (``python -m``),
    not multiprocessing, which would re-import the caller's ``__main__`` (a script or a notebook).
    """
    import subprocess
    import threading

    from tqdm.auto import tqdm

    total = len(plan(size))
    entries: list[Entry | None] = [None] * total
    bar = tqdm(
        total=total, desc="sandbox data (first run only)", unit="file", disable=not progress, file=sys.stderr
    )
    lock = threading.Lock()
    errors: list[str] = []

    def collect(child: subprocess.Popen, log: IO[bytes]) -> None:
        assert child.stdout is not None  # a pipe
        for line in child.stdout:
            if line.startswith("{"):
                done = json.loads(line)
                with lock:
                    entries[done["index"]] = Entry(**done["entry"])
                    bar.update(1)
        if child.wait() != 0:
            log.seek(0)
            lines = log.read().decode(errors="replace").strip().splitlines()
            errors.append(
                lines[-1] if lines else f"exit status {child.returncode}"
            )  # the exception's own line

    # the children import this very copy of roman_helpers, wherever the caller found it
    package_root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
    }
    with contextlib.ExitStack() as opened:
        # a file, not a pipe: warnings never block a child
        logs = [opened.enter_context(tempfile.TemporaryFile()) for _ in range(workers)]
        children = [
            subprocess.Popen(
                [sys.executable, "-m", __name__, size, str(staging), str(part), str(workers), str(total)],
                stdout=subprocess.PIPE,
                stderr=logs[part],
                text=True,
                env=env,
            )
            for part in range(workers)
        ]
        readers = [
            threading.Thread(target=collect, args=pair, daemon=True)
            for pair in zip(children, logs, strict=True)
        ]
        try:
            for reader in readers:
                reader.start()
            for reader in readers:
                reader.join()
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
            bar.close()
    written = [entry for entry in entries if entry is not None]
    if errors or len(written) < total:
        from roman_helpers.sandbox.services.s3 import SandboxStartError

        raise SandboxStartError(
            "the sandbox data could not be generated: "
            + ("; ".join(sorted(set(errors))) or "a generating process stopped early")
        )
    return written


def _generate_part(size: str, staging: Path, part: int, parts: int, total: int) -> None:
    """Child-process entry: write every ``parts``-th planned object from ``part``, one JSON line each."""
    objects = plan(size)
    if len(objects) != total:
        raise SystemExit(
            f"this process plans {len(objects)} objects, its parent {total}: "
            "they run different versions of roman_helpers"
        )
    for index in range(part, len(objects), parts):
        entry = _write(objects[index], staging)
        sys.stdout.write(json.dumps({"index": index, "entry": asdict(entry)}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _generate_part(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
