"""Roman-format ASDF archives: the tutorial data, the Core Community Survey simulations, the Nexus's sets.

What is mirrored (bucket, prefix: what the real one holds)
    ``stpubdata``, ``roman/nexus/soc_simulations/tutorial_data/roman-2026.2/``
        The Roman I-Sim tutorial data of roman_notebooks 2026.2: four F106 exposures (a box
        dither near NGC 6535) of all 18 detectors, Level 1 ``_uncal.asdf`` and Level 2
        ``_cal.asdf`` (:func:`~roman_helpers.sandbox.sky.surveys.roman.tutorial_exposures`), and
        the Level 3 mosaic of detector WFI11 from the four (``my_roman_mosaic_coadd.asdf``, the
        generic name the roman_notebooks data-access tutorial gives it).
    ``stpubdata``, ``roman/nexus/soc_simulations/r00340/`` and ``r00342/``
        The Science Operations Center's Core Community Survey simulations (GBTDS and HLWAS):
        ``l1/*_uncal.asdf``, ``l2/*_cal.asdf`` with ``_preview.png`` and ``_thumb.png`` beside
        each (:func:`~roman_helpers.sandbox.sky.surveys.ccs.manifest`); for the HLWAS also
        ``l3/*_coadd.asdf``, one 5000 x 5000 skycell mosaic per skycell, visit and filter
        (:func:`~roman_helpers.sandbox.sky.surveys.ccs.coadd_manifest`), and the Parquet
        source catalogs ``l4/l2_source_catalog/{L2 stem}_cat.parquet`` and
        ``l4/l3_source_catalog/{L3 stem}_cat.parquet`` (:func:`source_catalog_rows`).
    ``stpubdata``, ``roman/nexus/soc_simulations/input_catalogs/``
        The simulations' input catalogs ``cat-{hpix}.fits``: Roman I-Sim catalog tables of the
        sky's stars and galaxies in each HEALPix cell (nside 512, NESTED, Galactic).
    ``roman-sci-test-data-prod-summer-beta-test`` (credentials needed), ``ROMANISIM/DENSE_REGION/``
        The Roman Research Nexus's Roman I-Sim dense stellar field, 2024 file names.
    ``roman-sci-test-data-prod-summer-beta-test``, ``OPEN_UNIVERSE/WAS/simple_model/``
        The Nexus's ASDF conversions of the OpenUniverse 2024 WAS preview images: the FITS
        image, its error and data quality, a gwcs, and catalogs of the sources on the image.
    ``roman-sci-test-data-prod-summer-beta-test``, ``STIPS/``
        The folder of the Nexus's STIPS notebook inputs is listed, so the bucket shows its three
        folders; what it holds is not mirrored: one ``README.txt`` says so.

How the bytes are made
    Every image is a :class:`~roman_helpers.sandbox.sky.render.Exposure` of the one sky: the
    detector's WCS (:mod:`~roman_helpers.sandbox.sky.wfi`, the Roman convention for Roman
    files, the OpenUniverse one for the conversions), the exposure's band, time and length, a
    seed named after the file. Level 2 pixels are in DN/s (gain 2 e-/DN, Roman I-Sim's), Level 1
    resultants come from :func:`~roman_helpers.sandbox.sky.render.ramp_rows` with the
    exposure's multi-accumulation table. The YAML tree is written by roman_datamodels (and, for
    Level 1, as Roman I-Sim writes it: ``asdf.AsdfFile({"roman": ..., "romanisim": ...})``,
    uncompressed); arrays are blocks made on demand
    (:class:`~roman_helpers.sandbox.archive.asdf.AsdfObject`).

Sizes without trees
    Every file of a *family* (one product, level and multi-accumulation table) has the same
    arrays, and trees that differ only in numbers: the family's first file (in the survey's
    order) is written once, its tree's allotment (:func:`~roman_helpers.sandbox.archive.asdf.
    tree_allotment`) and blocks give every member's size in closed form, and each member's
    tree is padded to that allotment. The conversions' catalog columns are laid out for the
    number of sources of the sky tiles under the detector (known without making them).

The sandbox's own choices
    Multi-accumulation tables: Roman I-Sim's table 4 (``C2A_IMG_HLWAS``, 44 reads, 9
    resultants) for 139.8 s exposures; for other exposure times, ``round(t / 3.04 s)`` reads
    grouped into 5-9 resultants (the first and last single reads). Level 2 ``chisq`` and
    ``dumo`` are zeros (romancal filled them with zeros when they entered the schema), ``dq2``
    zeros; ``var_poisson`` is the error's variance less the read noise's. Previews follow
    romancal's static-preview recipe (1080 x 1080 and 300 x 300, a linear stretch between the
    5th and 95th percentiles, the ``afmhot`` colour map) without its compass. Roman I-Sim's
    record keeps its arguments, reference files and WCS; its ``simcatobj`` (a row per simulated
    source) is left out, since its length would need the sky's positions before the size.
    The GBTDS L2 files carry the simulated pointing's WCS, not the drifted Gaia-aligned one the
    real files have. The mosaic: north up, 0.11 arcsec pixels, the smallest square about the four
    WFI11 centres that holds their footprints; its noise is that of the mean of four exposures
    wherever any covers (weight and context say how many do), NaN where none does. The HLWAS
    skycells are mosaics of the same kind on the sky map's grid (0.055 arcsec, the skycell's
    TAN projection about its region's tangent point), of the visit's detectors that reach them.
    Source catalogs list the sky model's stars and galaxies detected on the image (5 sigma, see
    :func:`source_catalog_rows`) at their true positions, ``is_extended`` for galaxies, fluxes
    in nJy; written by pyarrow, their size is known once made (a listing of
    ``l4/`` makes the catalogs of its page: their sources, no pixels).
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from roman_helpers.sandbox.archive.asdf import (
    AsdfObject,
    file_size,
    inline_tagged,
    tagged_table,
    tree_allotment,
)
from roman_helpers.sandbox.archive.objects import ArchiveObject, ArraySpec, MaterialisedObject
from roman_helpers.sandbox.archive.png import png_bytes, png_size
from roman_helpers.sandbox.archive.registry import Provider, code_version
from roman_helpers.sandbox.archive.tables import parquet_object, text_object
from roman_helpers.sandbox.sky import render, sources, wfi
from roman_helpers.sandbox.sky.bands import band
from roman_helpers.sandbox.sky.surveys import ccs, was
from roman_helpers.sandbox.sky.surveys import roman as roman_surveys
from roman_helpers.sandbox.sky.surveys.common import seed

__all__ = [
    "BUCKETS",
    "GAIN",
    "INPUT_CATALOGS",
    "PRIVATE",
    "PUBLIC",
    "TUTORIAL_PREFIX",
    "VERSION",
    "MaTable",
    "WfiImage",
    "ccs_image",
    "dense_image",
    "input_catalog_cells",
    "ma_table",
    "providers",
    "sky_image",
    "source_catalog_rows",
    "tutorial_image",
]

PUBLIC = "stpubdata"
PRIVATE = "roman-sci-test-data-prod-summer-beta-test"
STIPS_PREFIX = "STIPS/"
STIPS_README_KEY = f"{STIPS_PREFIX}README.txt"
STIPS_README = (
    "The Roman Research Nexus keeps the inputs of its STIPS notebook in this folder.\n"
    "The offline sandbox lists the folder but does not mirror its files.\n"
)
#: Buckets this module fills: ``{name: readable anonymously}``.
BUCKETS = {PUBLIC: True, PRIVATE: False}
TUTORIAL_PREFIX = f"{ccs.PREFIX}/tutorial_data/roman-2026.2/"
INPUT_CATALOGS = f"{ccs.PREFIX}/input_catalogs/"
DENSE_PREFIX = "ROMANISIM/DENSE_REGION/"
OPEN_UNIVERSE_PREFIX = "OPEN_UNIVERSE/WAS/simple_model/"
#: Electrons per DN of the Level 1 and Level 2 files (Roman I-Sim's reference gain).
GAIN = 2.0
_SIDE = wfi.DETECTOR_SIDE
_FRAME = wfi.DETECTOR_SIDE + 2 * render.REFERENCE_PIXELS
_BORDER = render.REFERENCE_PIXELS

#: Version of every object here: the code that makes the bytes and the libraries that write them.
VERSION = code_version(
    __name__,
    "roman_helpers.sandbox.archive.asdf",
    "roman_helpers.sandbox.archive.objects",
    "roman_helpers.sandbox.archive.fits",
    "roman_helpers.sandbox.archive.png",
    "roman_helpers.sandbox.sky.render",
    "roman_helpers.sandbox.sky.sources",
    "roman_helpers.sandbox.sky.transients",
    "roman_helpers.sandbox.sky.bands",
    "roman_helpers.sandbox.sky.wfi",
    "roman_helpers.sandbox.sky.surveys.common",
    "roman_helpers.sandbox.sky.surveys.roman",
    "roman_helpers.sandbox.sky.surveys.ccs",
    "roman_helpers.sandbox.sky.surveys.was",
    packages=("numpy", "scipy", "astropy", "asdf", "asdf-astropy", "gwcs", "roman_datamodels", "rad"),
)

# What each product's files say about how they were made (strings of fixed length per product).
_PRODUCTS: dict[str, dict[str, Any]] = {
    "tutorial": {
        "title": "Roman I-Sim tutorial data: NGC 6535 box dither",
        "category": "CAL",
        "romanisim": "0.13.1",
        "romancal": "0.23.0",
        "crds": "roman_0046.pmap",
        "dither": ("BOXGAP4", "NONE"),
        "date": datetime(2026, 8, 3, tzinfo=UTC),
    },
    "dense": {
        "title": "Roman I-Sim dense stellar field",
        "category": "CAL",
        "romanisim": "0.5.0",
        "romancal": "0.15.1",
        "crds": "roman_0027.pmap",
        "dither": ("NONE", "NONE"),
        "date": datetime(2024, 6, 1, tzinfo=UTC),
    },
    "r00340": {
        "title": "Galactic Bulge Time-Domain Survey (SOC simulation)",
        "category": "CCS",
        "romanisim": "0.12.0",
        "romancal": "0.22.0",
        "crds": "roman_0043.pmap",
        "dither": ("GBTDS_MOSAIC", "NONE"),
        "date": datetime(2026, 7, 13, tzinfo=UTC),
    },
    "r00342": {
        "title": "High-Latitude Wide-Area Survey (SOC simulation)",
        "category": "CCS",
        "romanisim": "0.13.1",
        "romancal": "0.23.0",
        "crds": "roman_0046.pmap",
        "dither": ("HLWAS_3PT", "NONE"),
        "date": datetime(2026, 7, 13, tzinfo=UTC),
    },
}


# ---------------------------------------------------------------- multi-accumulation tables
@dataclass(frozen=True)
class MaTable:
    """A multi-accumulation table: which detector reads are averaged into each resultant.

    Attributes
    ----------
    number : int
    name : str
    read_pattern : tuple of tuple of int
        1-based read numbers of each resultant.
    """

    number: int
    name: str
    read_pattern: tuple[tuple[int, ...], ...]

    @property
    def nresultants(self) -> int:
        """Number of resultants."""
        return len(self.read_pattern)

    def as_lists(self) -> list[list[int]]:
        """The read pattern as the files store it (a list of lists)."""
        return [list(group) for group in self.read_pattern]

    @property
    def effective_exposure_time(self) -> float:
        """Seconds between the mean times of the first and last resultants."""
        first, last = self.read_pattern[0], self.read_pattern[-1]
        return round((sum(last) / len(last) - sum(first) / len(first)) * render.FRAME_TIME, 4)


# Roman I-Sim's table 4 (romanisim/models/parameters.py, "C2A_IMG_HLWAS"), its default.
_TABLE_4 = (
    (1,),
    (2,),
    (3, 4),
    (5, 6, 7, 8, 9),
    tuple(range(10, 18)),
    tuple(range(18, 26)),
    tuple(range(26, 34)),
    tuple(range(34, 44)),
    (44,),
)


@functools.cache
def ma_table(exptime: float) -> MaTable:
    """Return the multi-accumulation table of an exposure of ``exptime`` seconds.

    Examples
    --------
    >>> ma_table(139.8).name, ma_table(139.8).nresultants
    ('C2A_IMG_HLWAS', 9)
    >>> table = ma_table(46.8)
    >>> table.nresultants, table.read_pattern[0], table.read_pattern[-1]
    (5, (1,), (15,))
    """
    if abs(exptime - 139.8) < 1e-6:
        return MaTable(4, "C2A_IMG_HLWAS", _TABLE_4)
    reads = max(3, round(exptime / render.FRAME_TIME))
    count = min(reads, max(5, min(9, round(reads / 5))))
    middle = [tuple(int(r) for r in part) for part in np.array_split(np.arange(2, reads), count - 2)]
    return MaTable(1000 + reads, f"SIM_IMG_{reads:03d}READS", ((1,), *middle, (reads,)))


# ---------------------------------------------------------------- one detector of one exposure
@dataclass(frozen=True)
class WfiImage:
    """One detector of one WFI exposure, as its Roman files describe it.

    Attributes
    ----------
    stem : str
        The file name before the suffix (``r0003201001001001004_0001_wfi01_f106``).
    seed_name : str
        Names the image's seed (its folder and stem).
    product : str
        ``"tutorial"``, ``"dense"``, ``"r00340"`` or ``"r00342"``.
    detector : int
    optical_element : str
    wfi_ra, wfi_dec, wfi_pa : float
        WFI centre and the focal plane's position angle, degrees.
    start_time, end_time : str
        ISO, UTC.
    exptime : float
    program, plan, pass_, segment, observation, visit, exposure : int
    ma_table_id : str
    legacy : bool
        2024 file names (``..._01101_0001_WFI01``).
    """

    stem: str
    seed_name: str
    product: str
    detector: int
    optical_element: str
    wfi_ra: float
    wfi_dec: float
    wfi_pa: float
    start_time: str
    end_time: str
    exptime: float
    program: int
    plan: int
    pass_: int
    segment: int
    observation: int
    visit: int
    exposure: int
    ma_table_id: str
    legacy: bool = False

    @property
    def ma(self) -> MaTable:
        """The exposure's multi-accumulation table."""
        return ma_table(self.exptime)

    @property
    def seed(self) -> int:
        """Seed of the image's noise, cosmic rays and realised fluxes."""
        return seed("roman", self.seed_name)

    def name(self, suffix: str, extension: str = "asdf") -> str:
        """The file name with ``suffix`` (``cal``, ``uncal``, ``preview`` ...)."""
        return f"{self.stem}_{suffix}.{extension}"

    @property
    def family(self) -> tuple[str, bool, tuple[tuple[int, ...], ...]]:
        """Files of one family have the same arrays and trees that differ only in numbers."""
        return (self.product, self.legacy, self.ma.read_pattern)

    @property
    def visit_id(self) -> str:
        """The 19-digit visit identifier."""
        return roman_surveys.visit_id(
            self.program, self.plan, self.pass_, self.segment, self.observation, self.visit
        )[1:]


def tutorial_image(stem: str) -> WfiImage | None:
    """Return the tutorial data's image of file-name stem ``stem``, or None.

    Examples
    --------
    >>> image = tutorial_image("r0003201001001001004_0001_wfi11_f106")
    >>> image.detector, image.exposure, image.visit, image.optical_element
    (11, 1, 4, 'F106')
    """
    return _tutorial_images().get(stem)


@functools.cache
def _tutorial_images() -> dict[str, WfiImage]:
    table = roman_surveys.tutorial_exposures()
    found: dict[str, WfiImage] = {}
    for row in table[table["suffix"] == "cal"]:
        stem = str(row["name"]).removesuffix("_cal.asdf")
        found[stem] = WfiImage(
            stem=stem,
            seed_name=f"{TUTORIAL_PREFIX}{stem}",
            product="tutorial",
            detector=int(row["detector"]),
            optical_element=str(row["optical_element"]),
            wfi_ra=float(row["wfi_ra"]),
            wfi_dec=float(row["wfi_dec"]),
            wfi_pa=float(row["wfi_pa"]),
            start_time=str(row["start_time"]),
            end_time=str(row["end_time"]),
            exptime=float(row["exptime"]),
            program=int(row["program"]),
            plan=int(row["plan"]),
            pass_=int(row["pass"]),
            segment=int(row["segment"]),
            observation=int(row["observation"]),
            visit=int(row["visit"]),
            exposure=int(row["exposure"]),
            ma_table_id=str(ma_table(float(row["exptime"])).number),
        )
    return found


def dense_image(pointing: str, stem: str) -> WfiImage | None:
    """Return the dense field's image ``stem`` of folder ``pointing``, or None.

    Examples
    --------
    >>> image = dense_image("R0.5_DP0.5_PA90", "r0000101001001001002_01101_0001_WFI07")
    >>> image.optical_element, image.wfi_pa, image.legacy
    ('F129', 90.0, True)
    """
    return _dense_images().get((pointing, stem))


@functools.cache
def _dense_images() -> dict[tuple[str, str], WfiImage]:
    from astropy.time import Time, TimeDelta

    table = roman_surveys.dense_region()
    found: dict[tuple[str, str], WfiImage] = {}
    for row in table[table["suffix"] == "cal"]:
        stem = str(row["name"]).removesuffix("_cal.asdf")
        start = Time(str(row["start_time"]), scale="utc")
        end = start + TimeDelta(float(row["exptime"]), format="sec")
        found[(str(row["pointing"]), stem)] = WfiImage(
            stem=stem,
            seed_name=f"{DENSE_PREFIX}{row['pointing']}/{stem}",
            product="dense",
            detector=int(row["detector"]),
            optical_element=str(row["optical_element"]),
            wfi_ra=float(row["wfi_ra"]),
            wfi_dec=float(row["wfi_dec"]),
            wfi_pa=float(row["wfi_pa"]),
            start_time=str(row["start_time"]),
            end_time=str(end.isot),
            exptime=float(row["exptime"]),
            program=1,
            plan=1,
            pass_=1,
            segment=1,
            observation=1,
            visit=int(row["visit"]),
            exposure=1,
            ma_table_id=str(ma_table(float(row["exptime"])).number),
            legacy=True,
        )
    return found


class _CcsIndex:
    """A CCS manifest as plain columns and a map from file-name stem to row (built once)."""

    def __init__(self, program: str) -> None:
        table = ccs.manifest(program)
        self.program = program
        self.columns = {name: table[name].tolist() for name in table.colnames}
        self.stems = [uri.rsplit("/", 1)[1].removesuffix("_cal.asdf") for uri in self.columns["l2_s3_uri"]]
        self.row_of = {stem: index for index, stem in enumerate(self.stems)}
        exptime = np.asarray(table["exptime"])
        self.families = {float(exptime[i]): int(i) for i in np.unique(exptime, return_index=True)[1]}

    def image(self, row: int) -> WfiImage:
        c = self.columns
        return WfiImage(
            stem=self.stems[row],
            seed_name=f"{ccs.PREFIX}/{self.program}/{self.stems[row]}",
            product=self.program,
            detector=int(str(c["detector"][row])[3:]),
            optical_element=str(c["optical_element"][row]),
            wfi_ra=float(c["wfi_ra"][row]),
            wfi_dec=float(c["wfi_dec"][row]),
            wfi_pa=float(c["wfi_pa"][row]),
            start_time=str(c["start_time"][row]),
            end_time=str(c["end_time"][row]),
            exptime=float(c["exptime"][row]),
            program=int(self.program[1:]),
            plan=1,
            pass_=int(c["pass"][row]),
            segment=int(c["segment"][row]),
            observation=int(c["observation"][row]),
            visit=int(c["visit"][row]),
            exposure=int(c["exposure"][row]),
            ma_table_id=str(c["ma_table_id"][row]),
        )


@functools.cache
def _ccs_index(program: str) -> _CcsIndex:
    return _CcsIndex(program)


def ccs_image(program: str, stem: str) -> WfiImage | None:
    """Return the CCS simulation's image of file-name stem ``stem``, or None.

    Examples
    --------
    >>> image = ccs_image("r00340", "r0034001001001001001_0001_wfi01_f062")
    >>> image.detector, image.optical_element, image.pass_
    (1, 'F062', 1)
    """
    index = _ccs_index(program)
    row = index.row_of.get(stem)
    return None if row is None else index.image(row)


# ---------------------------------------------------------------- the sky seen by one detector
@functools.lru_cache(maxsize=render.EXPOSURES_KEPT)
def sky_image(image: WfiImage) -> render.Exposure:
    """Return the :class:`~roman_helpers.sandbox.sky.render.Exposure` behind a Roman image's files.

    The detector's WCS in the Roman convention at the exposure's pointing, 4088 x 4088 pixels
    in DN/s (:data:`GAIN`), the band, start and length of the exposure, the detector's
    defects, and the image's seed. The last
    :data:`~roman_helpers.sandbox.sky.render.EXPOSURES_KEPT` are kept, with their sources, while
    their files are read.

    Examples
    --------
    >>> made = sky_image(tutorial_image("r0003201001001001004_0002_wfi03_f106"))
    >>> made.units, made.gain, made.shape
    ('DN/s', 2.0, (4088, 4088))
    """
    from astropy.time import Time

    return render.Exposure(
        wfi.wcs(image.wfi_ra, image.wfi_dec, image.wfi_pa, image.detector, convention="roman"),
        (_SIDE, _SIDE),
        image.optical_element,
        exptime=image.exptime,
        mjd=float(Time(image.start_time, scale="utc").mjd),
        seed=image.seed,
        units="DN/s",
        gain=GAIN,
        detector=image.detector,
    )


#: Level 1 resultants of recent 64-row blocks of the 4096-row frame. Resultants are made a block at a
#: time (all resultants together: each adds to the last), but a file stores them resultant after
#: resultant; a reader going through a cube in file order asks for each block once per resultant.
#: Kept here, a block is made once while its cube is read. The budget holds one full cube of 9
#: resultants (302 MB).
_RAMPS = render.RecentBlocks(320 * 1024**2)


def _ramp_block(image: WfiImage, index: int) -> np.ndarray:
    y0 = index * render.BLOCK_ROWS
    return render.ramp_rows(
        sky_image(image), y0, min(_FRAME, y0 + render.BLOCK_ROWS), image.ma.as_lists(), gain=GAIN
    )


def _frame_rows(image: WfiImage, z0: int, y0: int, y1: int, columns: slice) -> np.ndarray:
    """Frame rows ``y0 .. y1 - 1`` of resultant ``z0``, the given columns."""
    out = []
    for index in render.blocks(y0, y1):
        base = index * render.BLOCK_ROWS
        block = _RAMPS.get((image, index), functools.partial(_ramp_block, image, index))
        out.append(block[z0, max(y0, base) - base : min(y1, base + render.BLOCK_ROWS) - base, columns])
    return np.concatenate(out) if out else np.zeros((0, 0), np.uint16)


def _cube_rows(ny: int, rows: Callable[[int, int, int], np.ndarray]) -> Callable[[int, int], np.ndarray]:
    """Rows of a ``(nz, ny, nx)`` cube from ``rows(z, y0, y1)`` (rows run ``z * ny + y``)."""

    def take(r0: int, r1: int) -> np.ndarray:
        parts = []
        while r0 < r1:
            z, y = divmod(r0, ny)
            stop = min(r1, (z + 1) * ny)
            parts.append(rows(z, y, y + stop - r0))
            r0 = stop
        return np.concatenate(parts)

    return take


def _reference_amplifier(image: WfiImage) -> ArraySpec:
    """Amplifier 33 (``(n, 4096, 128)``): bias and read noise, no light, seeded per block."""
    n = image.ma.nresultants

    def rows(z: int, y0: int, y1: int) -> np.ndarray:
        parts = []
        for index in render.blocks(y0, y1):
            base = index * render.BLOCK_ROWS
            height = min(render.BLOCK_ROWS, _FRAME - base)
            generator = np.random.default_rng([image.seed, 33, z, index])
            block = 10_000.0 + 150.0 * generator.standard_normal((height, 128))
            parts.append(block[max(y0, base) - base : min(y1, base + height) - base])
        return np.clip(np.rint(np.concatenate(parts)), 0, 65535).astype(np.uint16)

    return ArraySpec("uint16", (n, _FRAME, 128), _cube_rows(_FRAME, rows))


def _zeros(dtype: str, shape: tuple[int, ...]) -> ArraySpec:
    width = shape[-1]
    return ArraySpec(dtype, shape, lambda r0, r1: np.zeros((r1 - r0, width), dtype))


# ---------------------------------------------------------------- metadata
def _time(text: str) -> Any:
    from astropy.time import Time

    return Time(text, format="isot", scale="utc")


def _s_region(image: WfiImage) -> str:
    ra, dec = wfi.corners(image.wfi_ra, image.wfi_dec, image.wfi_pa, image.detector, convention="roman")
    return "POLYGON ICRS " + " ".join(f"{r:.9f} {d:.9f}" for r, d in zip(ra, dec, strict=True))


def _v2v3(detector: int) -> tuple[float, float]:
    """The detector centre in the telescope's V2/V3 frame, arcsec (Roman I-Sim's WFI centre and angle)."""
    wficen = (1546.3846181707652, -892.7916365721071)  # romanisim/models/parameters.py v2v3_wficen
    angle = math.radians(-60.0)  # V3IdlYAngle
    x, y = (3600.0 * float(v) for v in wfi.SCA_OFFSETS[detector - 1])
    return (
        round(wficen[0] - x * math.cos(angle) + y * math.sin(angle), 6),
        round(wficen[1] + x * math.sin(angle) + y * math.cos(angle), 6),
    )


def _fill_common(meta: Any, image: WfiImage, filename: str, date: datetime) -> None:
    """The metadata every Level 1 and Level 2 file of an exposure carries."""
    product = _PRODUCTS[image.product]
    ma = image.ma
    centre_ra, centre_dec = wfi.detector_centres(image.wfi_ra, image.wfi_dec, image.wfi_pa, image.detector)
    meta.calibration_software_version = product["romancal"]
    meta.sdf_software_version = "2026.1"
    meta.prd_version = "PRDOPSSOC-069"
    meta.filename = filename
    meta.file_date = _time(date.strftime("%Y-%m-%dT%H:%M:%S.000"))
    meta.origin = "STSCI/SOC"
    meta.ephemeris.ephemeris_reference_frame = "EME2000"
    meta.ephemeris.type = "DEFINITIVE"
    meta.ephemeris.time = float(_time(image.start_time).mjd)
    for axis in ("spatial_x", "spatial_y", "spatial_z", "velocity_x", "velocity_y", "velocity_z"):
        setattr(meta.ephemeris, axis, 0.0)  # Roman I-Sim's default ephemeris
    exposure = meta.exposure
    exposure.type = "WFI_IMAGE"
    exposure.start_time = _time(image.start_time)
    exposure.end_time = _time(image.end_time)
    exposure.engineering_quality = "OK"
    exposure.ma_table_id = image.ma_table_id
    exposure.ma_table_name = ma.name
    exposure.ma_table_number = ma.number
    exposure.nresultants = ma.nresultants
    exposure.read_pattern = ma.as_lists()
    exposure.data_problem = None
    exposure.frame_time = render.FRAME_TIME
    exposure.exposure_time = image.exptime
    exposure.effective_exposure_time = ma.effective_exposure_time
    exposure.truncated = False
    exposure.hga_move = False
    meta.guide_star.guide_window_id = f"GW{image.detector:02d}00001"
    meta.guide_star.guide_mode = "WSM-ACQ-2"
    meta.guide_star.guide_star_id = "N/A"
    meta.guide_star.epoch = "2016.0"
    meta.instrument.name = "WFI"
    meta.instrument.detector = f"WFI{image.detector:02d}"
    meta.instrument.optical_element = image.optical_element
    observation = meta.observation
    observation.observation_id = f"{image.visit_id}{image.exposure:04d}"
    observation.visit_id = image.visit_id
    observation.program = image.program
    observation.execution_plan = image.plan
    observation["pass"] = image.pass_
    observation.segment = image.segment
    observation.observation = image.observation
    observation.visit = image.visit
    observation.visit_file_group = 1 if image.legacy else 0
    observation.visit_file_sequence = 1
    observation.visit_file_activity = "01"
    observation.exposure = image.exposure
    observation.wfi_parallel = False
    pointing = meta.pointing
    pointing.target_aperture = "WFI_CEN"
    pointing.target_ra = image.wfi_ra
    pointing.target_dec = image.wfi_dec
    pointing.pa_aperture = image.wfi_pa
    pointing.pa_v3 = image.wfi_pa
    pointing.ra_v1 = image.wfi_ra
    pointing.dec_v1 = image.wfi_dec
    pointing.pointing_engineering_source = "CALCULATED"
    meta.program.title = product["title"]
    meta.program.investigator_name = "Roman Science Operations Center"
    meta.program.category = product["category"]
    meta.program.subcategory = "None"
    meta.program.science_category = "SIMULATION"
    meta.ref_file.crds.context = product["crds"]
    meta.ref_file.crds.version = "13.0.5"
    meta.velocity_aberration.ra_reference = image.wfi_ra
    meta.velocity_aberration.dec_reference = image.wfi_dec
    meta.velocity_aberration.scale_factor = 1.0
    visit = meta.visit
    visit.dither.primary_name, visit.dither.subpixel_name = product["dither"]
    visit.dither.executed_pattern = []
    visit.type = "GENERIC"
    visit.start_time = _time(image.start_time)
    visit.nexposures = 4 if image.product == "tutorial" else 3 if image.product == "r00342" else 1
    visit.internal_target = False
    visit.wfi_acm_z_defocus_size = 0.0
    wcsinfo = meta.wcsinfo
    wcsinfo.aperture_name = f"WFI{image.detector:02d}_FULL"
    wcsinfo.v2_ref, wcsinfo.v3_ref = _v2v3(image.detector)
    wcsinfo.vparity = -1
    wcsinfo.v3yangle = -60.0
    wcsinfo.ra_ref = float(centre_ra)
    wcsinfo.dec_ref = float(centre_dec)
    wcsinfo.roll_ref = image.wfi_pa
    wcsinfo.s_region = _s_region(image)


def _photometry(meta: Any, optical_element: str) -> None:
    """``meta.photometry``: MJy/sr of 1 DN/s in a pixel, and the pixel's solid angle."""
    b = band(optical_element)
    meta.photometry.conversion_megajanskys = GAIN * b.mjy_per_sr()
    meta.photometry.conversion_megajanskys_uncertainty = 0.01 * GAIN * b.mjy_per_sr()
    meta.photometry.pixel_area = (wfi.PIXEL_SCALE * math.pi / 180 / 3600) ** 2


#: The versions of Roman's file schemas the 2026.2 simulations are written in: the newest that
#: roman_datamodels 1.0 knows, the version the Nexus's ``ccs_simulations`` notebook asks for
#: (``<1.1``). Newer roman_datamodels read these too; a file in a newer version (1.2 writes
#: ``wfi_image-2.2.0``) fails in 1.0 with "Unknown datamodel type".
SCHEMA_VERSIONS = {
    "ImageModel": "wfi_image-2.0.0",
    "ScienceRawModel": "wfi_science_raw-2.0.0",
    "MosaicModel": "wfi_mosaic-2.0.0",
}
_TAGS = "asdf://stsci.edu/datamodels/roman/tags/"


@functools.cache
def _template(kind: str) -> Any:
    """An empty model of ``kind`` in :data:`SCHEMA_VERSIONS` (made once: the first costs about half a second).

    An older roman_datamodels that does not know that version writes its own newest.
    """
    import asdf
    import roman_datamodels.datamodels as dm

    shape = (2, 8, 8) if kind == "ScienceRawModel" else (8, 8)
    tag = _TAGS + SCHEMA_VERSIONS[kind]
    known = {t.tag_uri for extension in asdf.get_config().extensions for t in extension.tags}
    if tag not in known:
        return getattr(dm, kind).create_fake_data(shape=shape)
    return getattr(dm, kind).create_fake_data(shape=shape, tag=tag)


# ---------------------------------------------------------------- Level 2
def _cal_arrays(image: WfiImage) -> dict[str, ArraySpec]:
    n = image.ma.nresultants
    b = band(image.optical_element)
    read_variance = (b.read_noise / (GAIN * image.exptime)) ** 2  # (DN/s)^2 of the read noise

    def science(y0: int, y1: int) -> np.ndarray:
        return sky_image(image).rows(y0, y1)[0]

    def error(y0: int, y1: int) -> np.ndarray:
        return sky_image(image).rows(y0, y1)[1].astype(np.float16)

    def quality(y0: int, y1: int) -> np.ndarray:
        return sky_image(image).rows(y0, y1)[2]

    def poisson(y0: int, y1: int) -> np.ndarray:
        err = sky_image(image).rows(y0, y1)[1].astype(np.float64)
        return np.maximum(err**2 - read_variance, 0.0).astype(np.float16)

    def border(columns: slice) -> Callable[[int, int, int], np.ndarray]:
        return lambda z, y0, y1: _frame_rows(image, z, y0, y1, columns).astype(np.float32)

    def border_rows(first: int) -> Callable[[int, int, int], np.ndarray]:
        return lambda z, j0, j1: _frame_rows(image, z, first + j0, first + j1, slice(None)).astype(np.float32)

    square = (_SIDE, _SIDE)
    return {
        "data": ArraySpec("float32", square, science),
        "dq": ArraySpec("uint32", square, quality),
        "dq2": _zeros("uint32", square),
        "err": ArraySpec("float16", square, error),
        "var_poisson": ArraySpec("float16", square, poisson),
        "chisq": _zeros("float16", square),
        "dumo": _zeros("float16", square),
        "amp33": _reference_amplifier(image),
        "border_ref_pix_left": ArraySpec(
            "float32", (n, _FRAME, _BORDER), _cube_rows(_FRAME, border(slice(0, _BORDER)))
        ),
        "border_ref_pix_right": ArraySpec(
            "float32", (n, _FRAME, _BORDER), _cube_rows(_FRAME, border(slice(_FRAME - _BORDER, _FRAME)))
        ),
        "border_ref_pix_top": ArraySpec(
            "float32", (n, _BORDER, _FRAME), _cube_rows(_BORDER, border_rows(_FRAME - _BORDER))
        ),
        "border_ref_pix_bottom": ArraySpec(
            "float32", (n, _BORDER, _FRAME), _cube_rows(_BORDER, border_rows(0))
        ),
        "dq_border_ref_pix_left": _zeros("uint32", (_FRAME, _BORDER)),
        "dq_border_ref_pix_right": _zeros("uint32", (_FRAME, _BORDER)),
        "dq_border_ref_pix_top": _zeros("uint32", (_BORDER, _FRAME)),
        "dq_border_ref_pix_bottom": _zeros("uint32", (_BORDER, _FRAME)),
    }


# meta.cal_step of a calibrated exposure (rad's l2_cal_step schema): the steps an exposure-level
# pipeline run completes, and those it leaves to later stages or skips
_L2_STEPS = {
    "assign_wcs": "COMPLETE",
    "flat_field": "COMPLETE",
    "dark": "COMPLETE",
    "dark_decay": "COMPLETE",
    "dq_init": "COMPLETE",
    "flux": "INCOMPLETE",
    "linearity": "COMPLETE",
    "photom": "COMPLETE",
    "source_catalog": "INCOMPLETE",
    "ramp_fit": "COMPLETE",
    "refpix": "COMPLETE",
    "saturation": "COMPLETE",
    "outlier_detection": "INCOMPLETE",
    "tweakreg": "INCOMPLETE",
    "skymatch": "INCOMPLETE",
    "wfi18_transient": "SKIPPED",
}


def _cal_model(image: WfiImage, filename: str, date: datetime) -> tuple[Any, dict[str, ArraySpec]]:
    """A Level 2 ImageModel of the image and the specs of its arrays."""
    model = _template("ImageModel").copy()
    meta = model.meta
    _fill_common(meta, image, filename, date)
    meta.product_type = "l2"
    _photometry(meta, image.optical_element)
    meta.wcs = wfi.gwcs(image.wfi_ra, image.wfi_dec, image.wfi_pa, image.detector, convention="roman")
    meta.cal_step = dict(_L2_STEPS)
    meta.background = {"level": 0.0, "method": "None", "subtracted": False}
    return model, _cal_arrays(image)


# ---------------------------------------------------------------- Level 1
def _uncal_model(
    image: WfiImage, filename: str, date: datetime
) -> tuple[Any, dict[str, ArraySpec], dict[str, Any]]:
    """A Level 1 ScienceRawModel, the specs of its arrays and Roman I-Sim's record beside it."""
    model = _template("ScienceRawModel").copy()
    meta = model.meta
    _fill_common(meta, image, filename, date)
    meta.product_type = "l1"
    meta.calibration_software_name = "RomanISim"
    meta.calibration_software_version = _PRODUCTS[image.product]["romanisim"]
    n = image.ma.nresultants

    def frame(z: int, y0: int, y1: int) -> np.ndarray:
        return _frame_rows(image, z, y0, y1, slice(None))

    arrays = {
        "data": ArraySpec("uint16", (n, _FRAME, _FRAME), _cube_rows(_FRAME, frame)),
        "amp33": _reference_amplifier(image),
    }
    return model, arrays, {"romanisim": _romanisim_record(image, filename)}


def _romanisim_record(image: WfiImage, filename: str) -> dict[str, Any]:
    """What Roman I-Sim's ``romanisim-make-image`` keeps beside the model (its arguments and extras).

    ``ris_make_utils.simulate_image_file``: the command's arguments (``vars(args)``), the
    simulation's extras (reference files used, the image's WCS) and its version.
    """
    product = _PRODUCTS[image.product]
    reference = {
        name: f"crds://roman_wfi_{name}_{image.optical_element.lower() if name == 'flat' else 'wfi'}"
        f"{image.detector:02d}.asdf"
        for name in ("dark", "distortion", "flat", "gain", "linearity", "readnoise", "saturation")
    }
    return {
        "filename": filename,
        "bandpass": image.optical_element,
        "boresight": False,
        "catalog": f"cat-{image.product}.ecsv",
        "config": None,
        "date": image.start_time,
        "level": 1,
        "ma_table_number": image.ma.number,
        "nobj": 0,
        "previous": None,
        "radec": [image.wfi_ra, image.wfi_dec],
        "rng_seed": image.seed % 2**31,
        "roll": image.wfi_pa,
        "sca": image.detector,
        "usecrds": True,
        "psftype": "epsf",
        "truncate": None,
        "pretend_spectral": None,
        "drop_extra_dq": True,
        "scale_factor": -1.0,
        "reference_read": False,
        "meta": None,
        "extra_counts": None,
        "simulate_reffiles": reference,
        "wcs": wfi.gwcs(image.wfi_ra, image.wfi_dec, image.wfi_pa, image.detector, convention="roman"),
        "version": product["romanisim"],
    }


# ---------------------------------------------------------------- sizes by family
@dataclass(frozen=True, eq=False)
class _Family:
    tree_size: int
    blocks: tuple[int, ...]
    compression: str | None

    @functools.cached_property
    def size(self) -> int:
        return file_size(self.tree_size, list(self.blocks), self.compression)


def _maker(level: str, image: WfiImage, key: str, date: datetime) -> Callable[[], tuple[Any, ...]]:
    filename = key.rsplit("/", 1)[1]
    if level == "cal":
        return lambda: _cal_model(image, filename, date)
    return lambda: _uncal_model(image, filename, date)


_COMPRESSION = {"cal": "lz4", "uncal": None}  # romancal saves lz4; Roman I-Sim writes plain blocks


_FAMILIES: dict[tuple[str, tuple[str, bool, tuple[tuple[int, ...], ...]]], _Family] = {}
_FAMILY_LOCK = threading.Lock()


def _family(level: str, exemplar: WfiImage, key: str, date: datetime) -> _Family:
    """The allotment and blocks of the files of ``exemplar``'s family (its first file, written once)."""
    name = (level, exemplar.family)
    with _FAMILY_LOCK:
        known = _FAMILIES.get(name)
        if known is None:
            item = AsdfObject(key, _maker(level, exemplar, key, date), compression=_COMPRESSION[level])
            known = _Family(tree_allotment(item.tree_bytes), tuple(item.block_nbytes), _COMPRESSION[level])
            _FAMILIES[name] = known
        return known


def _roman_file(
    key: str, level: str, image: WfiImage, exemplar: WfiImage, exemplar_key: str, date: datetime
) -> AsdfObject:
    return _family_member(
        key, _maker(level, image, key, date), _family(level, exemplar, exemplar_key, date), date
    )


def _family_member(
    key: str, make: Callable[[], tuple[Any, ...]], family: _Family, date: datetime
) -> AsdfObject:
    """A file of a family: its tree padded to the family's allotment, its size known in advance."""
    return AsdfObject(
        key,
        make,
        compression=family.compression,
        file_date=date.strftime("%Y-%m-%dT%H:%M:%S.000"),
        tree_size=family.tree_size,
        size=family.size,
        version=VERSION,
        last_modified=date,
    )


# ---------------------------------------------------------------- previews
_PREVIEW_SIDES = {"preview": 1080, "thumb": 300}


def _bin_edges(size: int, bins: int) -> np.ndarray:
    return (np.arange(bins) * size) // bins


@functools.lru_cache(maxsize=8)
def _downsampled(image: WfiImage) -> dict[str, np.ndarray]:
    """The image averaged into 1080 x 1080 and 300 x 300 cells (one pass over its rows)."""
    sums = {kind: np.zeros((side, side)) for kind, side in _PREVIEW_SIDES.items()}
    made = sky_image(image)
    for start in range(0, _SIDE, render.BLOCK_ROWS * 4):
        stop = min(_SIDE, start + render.BLOCK_ROWS * 4)
        rows = made.rows(start, stop)[0].astype(np.float64)
        for kind, side in _PREVIEW_SIDES.items():
            columns = np.add.reduceat(rows, _bin_edges(_SIDE, side), axis=1)
            cell = np.arange(start, stop) * side // _SIDE
            np.add.at(sums[kind], cell, columns)
    counts = {
        kind: np.outer(
            np.diff(np.append(_bin_edges(_SIDE, s), _SIDE)), np.diff(np.append(_bin_edges(_SIDE, s), _SIDE))
        )
        for kind, s in _PREVIEW_SIDES.items()
    }
    return {kind: sums[kind] / counts[kind] for kind in _PREVIEW_SIDES}


def _preview_png(image: WfiImage, kind: str) -> bytes:
    """romancal's static preview: a linear stretch of the middle 90 %, ``afmhot``, north at the top."""
    values = _downsampled(image)[kind]
    low, high = np.percentile(values, [5.0, 95.0])
    scaled = np.clip((values - low) / max(high - low, 1e-12), 0.0, 1.0)
    # matplotlib's afmhot: red 2x, green 2x - 0.5, blue 2x - 1, each clipped to [0, 1]
    rgb = np.clip(np.stack([2 * scaled, 2 * scaled - 0.5, 2 * scaled - 1.0], axis=-1), 0.0, 1.0)
    return png_bytes(np.rint(rgb[::-1] * 255).astype(np.uint8))  # row 0 of a PNG is the top


def _preview_object(key: str, image: WfiImage, kind: str, date: datetime) -> MaterialisedObject:
    side = _PREVIEW_SIDES[kind]
    return MaterialisedObject(
        key,
        lambda: _preview_png(image, kind),
        size=png_size(side, side),
        version=VERSION,
        last_modified=date,
        content_type="image/png",
    )


# ---------------------------------------------------------------- input catalogs
_CATALOG_BANDS = ("F062", "F087", "F106", "F129", "F146", "F158", "F184", "F213")


def input_catalog_cells() -> np.ndarray:
    """HEALPix cells (nside 512, NESTED, Galactic) of the simulations' input catalogs (both programs).

    Examples
    --------
    >>> cells = input_catalog_cells()
    >>> bool(len(cells) > 1000 and np.all(np.diff(cells) > 0))
    True
    """
    return np.union1d(ccs.input_catalog_cells("r00340"), ccs.input_catalog_cells("r00342"))


@functools.lru_cache(maxsize=16)
def _cell_sources(cell: int) -> sources.Sources:
    """The sky's stars and galaxies whose positions fall in Galactic nside-512 NESTED cell ``cell``."""
    import hpgeom
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    lon, lat = hpgeom.boundaries(ccs.CATALOG_NSIDE, cell, step=2, nest=True, lonlat=True)
    centre_l, centre_b = hpgeom.pixel_to_angle(ccs.CATALOG_NSIDE, cell, nest=True, lonlat=True)
    corners = SkyCoord(l=np.ravel(lon) * u.deg, b=np.ravel(lat) * u.deg, frame="galactic")
    centre = SkyCoord(l=float(centre_l) * u.deg, b=float(centre_b) * u.deg, frame="galactic")
    radius = float(centre.separation(corners).deg.max()) + 1e-4
    found = sources.cone(float(centre.icrs.ra.deg), float(centre.icrs.dec.deg), radius)

    def inside(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
        gl, gb = sources.galactic(ra, dec)
        return np.asarray(hpgeom.angle_to_pixel(ccs.CATALOG_NSIDE, gl, gb, nest=True, lonlat=True) == cell)

    return sources.Sources(
        found.stars.take(np.flatnonzero(inside(found.stars.ra, found.stars.dec))),
        found.galaxies.take(np.flatnonzero(inside(found.galaxies.ra, found.galaxies.dec))),
        found.transients.take(np.zeros(0, int)),  # the simulations hold no time-variable sources
    )


def _catalog_columns() -> list[Any]:
    from astropy.io import fits

    columns = [
        fits.Column("ra", "D", unit="deg"),
        fits.Column("dec", "D", unit="deg"),
        fits.Column("type", "3A"),
        fits.Column("n", "E"),
        fits.Column("half_light_radius", "E", unit="arcsec"),
        fits.Column("pa", "E", unit="deg"),
        fits.Column("ba", "E"),
    ]
    return columns + [fits.Column(name, "E") for name in _CATALOG_BANDS]


def _catalog_rows(found: sources.Sources) -> dict[str, np.ndarray]:
    """Roman I-Sim's catalog columns (``romanisim.catalog.table_to_catalog``), fluxes in maggies."""
    stars, galaxies = found.stars, found.galaxies
    fraction = galaxies.bulge_fraction
    g1, g2 = galaxies.disk_g1 + galaxies.shear1, galaxies.disk_g2 + galaxies.shear2
    g = np.minimum(np.hypot(g1, g2), 0.95)
    columns: dict[str, np.ndarray] = {
        "ra": np.concatenate([stars.ra, galaxies.ra]),
        "dec": np.concatenate([stars.dec, galaxies.dec]),
        "type": np.array(["PSF"] * len(stars) + ["SER"] * len(galaxies)),
        "n": np.concatenate([np.full(len(stars), -1.0), 1.0 + 3.0 * fraction]),
        "half_light_radius": np.concatenate(
            [np.zeros(len(stars)), (1 - fraction) * galaxies.disk_hlr + fraction * galaxies.bulge_hlr]
        ),
        "pa": np.concatenate([np.zeros(len(stars)), np.degrees(0.5 * np.arctan2(g2, g1)) % 180.0]),
        "ba": np.concatenate([np.ones(len(stars)), (1 - g) / (1 + g)]),
    }
    for name in _CATALOG_BANDS:
        columns[name] = 10 ** (-0.4 * np.concatenate([stars.mag(name), galaxies.mag(name)]))
    return columns


@functools.cache
def _catalog_layout() -> tuple[int, int]:
    """Bytes of the catalog files' two headers, and of one table row."""
    from roman_helpers.sandbox.archive.fits import HDU, FitsObject

    empty = FitsObject("cat.fits", [HDU(), _catalog_hdu(0, 0, {})])
    return empty.size, int(empty.headers[1]["NAXIS1"])


def _catalog_hdu(cell: int, rows: int, columns: dict[str, np.ndarray]) -> Any:
    from astropy.io import fits

    from roman_helpers.sandbox.archive.fits import HDU, TableSpec

    header = fits.Header()
    header["HPXCELL"] = (int(cell), "HEALPix cell (nside 512, NESTED, Galactic)")
    return HDU(
        header,
        TableSpec(_catalog_columns(), rows, lambda r0, r1: {k: v[r0:r1] for k, v in columns.items()}),
    )


def _catalog_object(key: str, cell: int, date: datetime) -> MaterialisedObject:
    from roman_helpers.sandbox.archive.fits import BLOCK, HDU, FitsObject

    def count() -> int:
        found = _cell_sources(cell)
        return len(found.stars) + len(found.galaxies)

    def size() -> int:
        headers, row = _catalog_layout()
        return headers + -(-count() * row // BLOCK) * BLOCK

    def build() -> bytes:
        columns = _catalog_rows(_cell_sources(cell))
        made = FitsObject(key, [HDU(), _catalog_hdu(cell, len(columns["ra"]), columns)])
        return made.read(0, made.size)

    return MaterialisedObject(key, build, size=size, version=VERSION, last_modified=date)


# ---------------------------------------------------------------- OpenUniverse WAS conversions
_OU_TABLES = {
    "galaxies": (
        ("galaxy_id", "int64"),
        ("ra", "float64"),
        ("dec", "float64"),
        ("redshift", "float64"),
        ("diskHalfLightRadiusArcsec", "float32"),
        ("spheroidHalfLightRadiusArcsec", "float32"),
        ("mag", "float32"),
    ),
    "stars": (("id", "int64"), ("ra", "float64"), ("dec", "float64"), ("mag", "float32")),
    "transients": (
        ("id", "int64"),
        ("ra", "float64"),
        ("dec", "float64"),
        ("host_id", "int64"),
        ("peak_mjd", "float32"),
        ("z_CMB", "float32"),
        ("mag", "float32"),
    ),
}


@dataclass(frozen=True)
class _WasImage:
    pointing: int
    sca: int
    filter: str

    def corners(self) -> tuple[np.ndarray, np.ndarray]:
        row = was.observation_sequence()[self.pointing]
        return wfi.corners(float(row["ra"]), float(row["dec"]), float(row["pa"]), self.sca)

    def capacity(self) -> dict[str, int]:
        """Upper bounds of the catalogs' lengths: the sources of the sky tiles under the detector."""
        counts = [sources.tile_counts(int(t)) for t in sources.tiles_in_polygon(*self.corners())]
        return {
            "galaxies": sum(c.galaxies for c in counts),
            "stars": sum(c.stars for c in counts),
            "transients": sum(c.total_transients for c in counts),
        }


def _ou_reserve(image: _WasImage) -> dict[tuple[str | int, ...], int]:
    capacity = image.capacity()
    reserve: dict[tuple[str | int, ...], int] = {}
    for table, columns in _OU_TABLES.items():
        for index, (_, dtype) in enumerate(columns):
            reserve[("roman", "catalogs", table, "columns", index, "data")] = (
                capacity[table] * np.dtype(dtype).itemsize
            )
    return reserve


def _ou_tree(image: _WasImage) -> dict[str, Any]:
    made = was.image_exposure(image.pointing, image.sca)
    row = was.observation_sequence()[image.pointing]
    found = sources.polygon(*image.corners())
    b = made.filter
    light = found.transients.light
    values = {
        "galaxies": [
            found.galaxies.object_id,
            found.galaxies.ra,
            found.galaxies.dec,
            found.galaxies.redshift,
            found.galaxies.disk_hlr,
            found.galaxies.bulge_hlr,
            found.galaxies.mag(b),
        ],
        "stars": [found.stars.object_id, found.stars.ra, found.stars.dec, found.stars.mag(b)],
        "transients": [
            found.transients.object_id,
            found.transients.ra,
            found.transients.dec,
            found.transients.host_id,
            light.peak_mjd,
            light.redshift,
            np.minimum(found.transients.mag(b, made.mid_mjd), 99.0),  # 99: dark at the exposure
        ],
    }
    catalogs = {
        table: tagged_table(
            {
                name: ArraySpec.from_array(np.asarray(column, dtype=dtype))
                for (name, dtype), column in zip(_OU_TABLES[table], values[table], strict=True)
            },
            {"ra": "deg", "dec": "deg", "mag": "mag(AB)"},
        )
        for table in _OU_TABLES
    }
    header = wfi.fits_header(float(row["ra"]), float(row["dec"]), float(row["pa"]), image.sca)
    meta: dict[str, Any] = {key: header[key] for key in header if key not in ("COMMENT", "HISTORY", "")}
    meta.update(
        {
            "FILTER": b.openuniverse_name,
            "EXPTIME": float(row["exptime"]),
            "MJD-OBS": float(row["date"]),
            "ZPTMAG": float(made.zeropoint),
            "BUNIT": "electron",
            "POINTING": int(image.pointing),
        }
    )

    def rows(index: int, dtype: str) -> Callable[[int, int], np.ndarray]:
        return lambda y0, y1: made.rows(y0, y1)[index].astype(dtype)

    gwcs = wfi.gwcs(
        float(row["ra"]), float(row["dec"]), float(row["pa"]), image.sca, convention="openuniverse"
    )
    square = (_SIDE, _SIDE)
    return {
        "roman": {
            "meta": meta,
            "data": ArraySpec("float32", square, rows(0, "float32")),
            "err": ArraySpec("float32", square, rows(1, "float32")),
            "dq": ArraySpec("uint32", square, rows(2, "uint32")),
            "wcs": inline_tagged(gwcs),
            "catalogs": catalogs,
        }
    }


def _ou_key(image: _WasImage) -> str:
    return (
        f"{OPEN_UNIVERSE_PREFIX}{image.filter}/{image.pointing}/"
        f"roman_was_{image.filter}_{image.pointing}_wfi{image.sca:02d}_simple.asdf"
    )


@functools.cache
def _ou_images() -> dict[str, _WasImage]:
    table = was.images("preview")
    return {
        _ou_key(image): image
        for image in (
            _WasImage(int(p), int(s), str(f))
            for p, s, f in zip(table["pointing"], table["sca"], table["filter"], strict=True)
        )
    }


_OU_FAMILY: list[tuple[int, list[tuple[str | int, ...]], dict[tuple[str | int, ...], int]]] = []


def _ou_family() -> tuple[int, list[tuple[str | int, ...]], dict[tuple[str | int, ...], int]]:
    """The conversions' tree allotment, their blocks' paths and the fixed blocks' sizes."""
    with _FAMILY_LOCK:
        if not _OU_FAMILY:
            key, exemplar = next(iter(sorted(_ou_images().items())))
            item = AsdfObject(key, lambda: (_ou_tree(exemplar), {}), compression=None)
            paths = item.block_paths
            fixed = {
                path: nbytes
                for path, nbytes in zip(paths, item.block_nbytes, strict=True)
                if path[1] != "catalogs"
            }
            _OU_FAMILY.append((tree_allotment(item.tree_bytes), paths, fixed))
        return _OU_FAMILY[0]


def _ou_object(key: str, image: _WasImage, date: datetime) -> AsdfObject:
    allotment, paths, fixed = _ou_family()
    reserve = _ou_reserve(image)
    blocks = [fixed.get(path, reserve.get(path, 0)) for path in paths]
    return AsdfObject(
        key,
        lambda: (_ou_tree(image), {}),
        compression=None,
        tree_size=allotment,
        reserve=reserve,
        size=file_size(allotment, blocks, None),
        version=VERSION,
        last_modified=date,
    )


# ---------------------------------------------------------------- Level 3 mosaics
def _tan_header(ra0: float, dec0: float, crpix: tuple[float, float], scale_arcsec: float) -> Any:
    """A FITS TAN header, north up, east left: what every mosaic here is drawn on."""
    from astropy.io import fits

    header = fits.Header()
    for name, value in (
        ("CTYPE1", "RA---TAN"),
        ("CTYPE2", "DEC--TAN"),
        ("CRVAL1", ra0),
        ("CRVAL2", dec0),
        ("CRPIX1", crpix[0]),
        ("CRPIX2", crpix[1]),
        ("CD1_1", -scale_arcsec / 3600),
        ("CD1_2", 0.0),
        ("CD2_1", 0.0),
        ("CD2_2", scale_arcsec / 3600),
        ("CUNIT1", "deg"),
        ("CUNIT2", "deg"),
        ("RADESYS", "ICRS"),
    ):
        header[name] = value
    return header


#: Which member images cover each pixel, by block of rows, for recent mosaics (1.2 MB a block).
_COVERAGE = render.RecentBlocks(64 * 1024**2)
_COADD_TOKENS = itertools.count()


class _Coadd:
    """A Level 3 mosaic of WFI images: its grid, its member images, and the sky they saw.

    Its noise is that of the mean of the exposures wherever any covers (weight and context say
    how many do), NaN where none does; no cosmic rays (rejected in the combination).
    """

    def __init__(self, header: Any, shape: tuple[int, int], images: tuple[WfiImage, ...], seed_name: str):
        self.header, self.shape, self.images, self.seed_name = header, shape, images, seed_name
        self._token = next(_COADD_TOKENS)  # its coverage blocks' key in the shared store

    @functools.cached_property
    def sky(self) -> render.Exposure:
        first = self.images[0]
        exposures = {(i.pass_, i.visit, i.exposure, i.start_time) for i in self.images}
        return render.Exposure(
            self.header,
            self.shape,
            first.optical_element,
            exptime=first.exptime,
            mjd=float(_time(first.start_time).mjd),
            seed=seed("roman", self.seed_name),
            units="MJy/sr",
            n_exposures=len(exposures),
            cosmic_rays=False,
        )

    @functools.cached_property
    def _to_detectors(self) -> list[np.ndarray]:
        """Per member image, the homography from mosaic pixels to its detector's pixels.

        Both grids are gnomonic projections of the sphere, and a central projection onto one
        plane followed by the inverse onto another is a projective map of the plane: four
        points carried through the exact path (sky, then the detector's WCS) fix it exactly.
        Applying it costs a few products per pixel instead of two trigonometric projections.
        """
        header, (ny, nx) = self.header, self.shape
        scale = abs(float(header["CD1_1"]))
        x = np.array([0.0, nx - 1.0, nx - 1.0, 0.0])
        y = np.array([0.0, 0.0, ny - 1.0, ny - 1.0])
        ra, dec = wfi.deproject(
            header["CRVAL1"],
            header["CRVAL2"],
            -(x + 1 - header["CRPIX1"]) * scale,
            (y + 1 - header["CRPIX2"]) * scale,
        )
        found = []
        for image in self.images:
            centre = wfi.detector_centres(image.wfi_ra, image.wfi_dec, image.wfi_pa, image.detector)
            xi, eta = wfi.project(float(centre[0]), float(centre[1]), ra, dec)
            inverse = np.linalg.inv(wfi.cd_matrix(image.wfi_pa, image.detector, "roman"))
            px = inverse[0, 0] * xi + inverse[0, 1] * eta + wfi.REFERENCE_PIXEL
            py = inverse[1, 0] * xi + inverse[1, 1] * eta + wfi.REFERENCE_PIXEL
            rows = []
            for xs, ys, u, v in zip(x, y, px, py, strict=True):
                rows.append([xs, ys, 1, 0, 0, 0, -u * xs, -u * ys, u])
                rows.append([0, 0, 0, xs, ys, 1, -v * xs, -v * ys, v])
            system = np.array(rows)
            found.append(np.append(np.linalg.solve(system[:, :8], system[:, 8]), 1.0).reshape(3, 3))
        return found

    def covering(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """How many member images hold each of the 0-based pixel positions ``x``, ``y``."""
        count = np.zeros(np.shape(x), np.int32)
        for h in self._to_detectors:
            w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
            px = (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / w
            py = (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / w
            count += (px >= -0.5) & (px < _SIDE - 0.5) & (py >= -0.5) & (py < _SIDE - 0.5)
        return count

    def coverage(self, index: int) -> np.ndarray:
        """Which member images cover each pixel of block ``index`` (bit k: image k)."""
        return _COVERAGE.get((self._token, index), functools.partial(self._coverage, index))

    def _coverage(self, index: int) -> np.ndarray:
        ny, nx = self.shape
        y0 = index * render.BLOCK_ROWS
        y, x = np.mgrid[y0 : min(ny, y0 + render.BLOCK_ROWS), 0:nx].astype(float)
        bits = np.zeros(x.shape, np.uint32)
        for bit, h in enumerate(self._to_detectors):
            w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
            px = (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / w
            py = (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / w
            inside = (px >= -0.5) & (px < _SIDE - 0.5) & (py >= -0.5) & (py < _SIDE - 0.5)
            bits[inside] |= np.uint32(1 << bit)
        return bits

    def rows(self, kind: str) -> Callable[[int, int], np.ndarray]:
        """Rows of one of the mosaic's arrays; NaN (or 0) where no exposure reaches."""
        made = self.sky
        b = band(self.images[0].optical_element)
        # read noise of one exposure in MJy/sr: electrons / exposure time -> MJy/sr per e-/s
        read = b.read_noise / made.exptime * b.mjy_per_sr()
        members = len(self.images)

        def rows(y0: int, y1: int) -> np.ndarray:
            parts = []
            for index in render.blocks(y0, y1):
                base = index * render.BLOCK_ROWS
                a, z = max(y0, base) - base, min(y1, base + render.BLOCK_ROWS) - base
                bits = self.coverage(index)[a:z]
                count = np.sum([(bits >> k) & 1 for k in range(members)], axis=0, dtype=np.int32)
                if kind == "context":
                    parts.append(bits)
                    continue
                if kind == "weight":
                    parts.append(np.asarray(count * made.exptime, np.float32))
                    continue
                if not count.any():  # nothing reaches these rows: no sky to draw
                    parts.append(np.full(count.shape, np.nan, np.float32))
                    continue
                sci, err, _ = made.rows(base + a, base + z)
                rnoise = np.where(count > 0, read**2 / np.maximum(count, 1), np.nan)
                value = {
                    "data": sci,
                    "err": err,
                    "var_rnoise": rnoise,
                    "var_poisson": np.maximum(err.astype(np.float64) ** 2 - read**2 / 4, 0.0),
                }[kind]
                parts.append(np.where(count > 0, value, np.nan).astype(np.float32))
            return np.concatenate(parts)

        return rows

    def arrays(self) -> dict[str, ArraySpec]:
        ny, nx = self.shape
        square = (ny, nx)
        return {
            "data": ArraySpec("float32", square, self.rows("data")),
            "err": ArraySpec("float32", square, self.rows("err")),
            "context": ArraySpec("uint32", (1, ny, nx), self.rows("context")),
            "weight": ArraySpec("float32", square, self.rows("weight")),
            "var_poisson": ArraySpec("float32", square, self.rows("var_poisson")),
            "var_rnoise": ArraySpec("float32", square, self.rows("var_rnoise")),
        }


def _l3_model(
    coadd: _Coadd,
    filename: str,
    date: datetime,
    product: str,
    observation: tuple[int, int, int, int, int, int, int],
    grouping: str,
    association: str,
    wcsinfo: dict[str, Any],
    exposure_time: float,
    max_exposure_time: float | None = None,
) -> tuple[Any, dict[str, ArraySpec]]:
    """A Level 3 MosaicModel of ``coadd`` and the specs of its arrays.

    ``observation``: program, execution plan, pass, segment, observation, visit, exposure.
    ``wcsinfo``: the projection's ``ra_ref, dec_ref`` (degrees), the image's ``ra, dec`` and
    ``skycell_name``.
    """
    from astropy import coordinates
    from astropy import units as u
    from gwcs import coordinate_frames as frames
    from gwcs.utils import make_fitswcs_transform
    from gwcs.wcs import WCS as GWCS

    header, (ny, nx), images = coadd.header, coadd.shape, coadd.images
    model = _template("MosaicModel").copy()
    meta = model.meta
    first, last = images[0], max(images, key=lambda image: image.end_time)
    described = _PRODUCTS[product]
    meta.filename = filename
    meta.file_date = _time(date.strftime("%Y-%m-%dT%H:%M:%S.000"))
    meta.product_type = "l3"
    meta.calibration_software_version = described["romancal"]
    meta.coadd_info.time_first = _time(first.start_time)
    meta.coadd_info.time_last = _time(last.end_time)
    meta.coadd_info.time_mean = _time(first.start_time) + (_time(last.end_time) - _time(first.start_time)) / 2
    meta.coadd_info.exposure_time = exposure_time
    if max_exposure_time is not None:
        meta.coadd_info["max_exposure_time"] = max_exposure_time
    meta.instrument.optical_element = first.optical_element
    record = meta.observation
    record.program, record.execution_plan, record["pass"] = observation[:3]
    record.segment, record.observation, record.visit, record.exposure = observation[3:]
    record.exposure_grouping = grouping
    meta.program.title = described["title"]
    meta.program.investigator_name = "Roman Science Operations Center"
    meta.program.category, meta.program.subcategory = described["category"], "None"
    meta.program.science_category = "SIMULATION"
    meta.association.name = association
    for step in meta.cal_step:
        meta.cal_step[step] = "COMPLETE"
    meta.resample.good_bits = "~DO_NOT_USE+NON_SCIENCE"
    meta.resample.pixel_scale_ratio = abs(float(header["CD1_1"])) * 3600 / wfi.PIXEL_SCALE
    meta.resample.pixfrac = 1.0
    meta.resample.pointings = len({(i.pass_, i.visit, i.exposure) for i in images})
    meta.resample.members = [image.name("cal") for image in images]
    meta.resample.weight_type = "exptime"
    transform = make_fitswcs_transform(header)
    detector = frames.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    world = frames.CelestialFrame(reference_frame=coordinates.ICRS(), name="world", unit=(u.deg, u.deg))
    gwcs = GWCS([(detector, transform), (world, None)])
    gwcs.bounding_box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
    meta.wcs = gwcs
    corners = [
        gwcs(x, y) for x, y in ((-0.5, -0.5), (nx - 0.5, -0.5), (nx - 0.5, ny - 0.5), (-0.5, ny - 0.5))
    ]
    info = meta.wcsinfo
    info.ra_ref, info.dec_ref = float(wcsinfo["ra_ref"]), float(wcsinfo["dec_ref"])
    info.x_ref, info.y_ref = float(header["CRPIX1"]) - 1, float(header["CRPIX2"]) - 1
    info.pixel_scale_ref = info.pixel_scale = abs(float(header["CD1_1"]))
    info.projection = "TAN"
    info.s_region = "POLYGON ICRS " + " ".join(f"{r:.9f} {d:.9f}" for r, d in corners)
    info.image_shape = [ny, nx]
    info.ra, info.dec = float(wcsinfo["ra"]), float(wcsinfo["dec"])
    info.orientation = info.orientation_ref = 0.0
    info.skycell_name = wcsinfo["skycell_name"]
    info.rotation_matrix = [[1.0, 0.0], [0.0, 1.0]]
    return model, coadd.arrays()


# ---------------------------------------------------------------- the tutorial mosaic (Level 3)
_MOSAIC_DETECTOR = 11


@functools.cache
def _mosaic() -> _Coadd:
    """The WFI11 mosaic of the tutorial data: north up, 0.11 arcsec, TAN.

    Tangent point the mean of the four detector centres; the smallest square of whole pixels,
    centred there, that holds the four detectors' footprints.
    """
    images = tuple(image for image in _tutorial_images().values() if image.detector == _MOSAIC_DETECTOR)
    centres = [wfi.detector_centres(i.wfi_ra, i.wfi_dec, i.wfi_pa, _MOSAIC_DETECTOR) for i in images]
    ra0 = round(float(np.mean([float(c[0]) for c in centres])), 8)
    dec0 = round(float(np.mean([float(c[1]) for c in centres])), 8)
    reach = 0.0
    for image in images:
        ra, dec = wfi.corners(image.wfi_ra, image.wfi_dec, image.wfi_pa, _MOSAIC_DETECTOR, convention="roman")
        xi, eta = wfi.project(ra0, dec0, ra, dec)
        reach = max(reach, float(np.abs(np.concatenate([xi, eta])).max()) * 3600 / wfi.PIXEL_SCALE)
    side = 2 * math.ceil(reach) + 2
    header = _tan_header(ra0, dec0, ((side + 1) / 2, (side + 1) / 2), wfi.PIXEL_SCALE)
    return _Coadd(header, (side, side), images, f"{TUTORIAL_PREFIX}{roman_surveys.TUTORIAL_MOSAIC}")


def _mosaic_model(filename: str, date: datetime) -> tuple[Any, dict[str, ArraySpec]]:
    """The WFI11 mosaic of the tutorial data: a Level 3 MosaicModel and the specs of its arrays."""
    coadd = _mosaic()
    header = coadd.header
    return _l3_model(
        coadd,
        filename,
        date,
        "tutorial",
        (32, 1, 1, 1, 1, 4, 1),
        "v004",
        "r00032_p_v004_f106_wfi11_asn",
        {"ra_ref": header["CRVAL1"], "dec_ref": header["CRVAL2"], "ra": header["CRVAL1"],
         "dec": header["CRVAL2"], "skycell_name": "none"},
        coadd.images[0].exptime * len(coadd.images),
    )  # fmt: skip


# ---------------------------------------------------------------- HLWAS skycells (Level 3)
@functools.cache
def _skycell_rows() -> dict[str, int]:
    """L3 file name -> row of :func:`~roman_helpers.sandbox.sky.surveys.ccs.coadd_products`."""
    uris = ccs.coadd_products()["l3_s3_uri"].tolist()
    return {uri.rsplit("/", 1)[1]: row for row, uri in enumerate(uris)}


@functools.lru_cache(maxsize=4)
def _skycell(row: int) -> _Coadd:
    """The skycell product ``row``: the sky map's grid, the visit's detectors that reach it."""
    products = ccs.coadd_products()
    frame = ccs.skycell_frame(
        int(products["ring"][row]), int(products["region"][row]), int(products["column"][row]),
        int(products["row"][row]),
    )  # fmt: skip
    header = _tan_header(
        frame["ra_ref"], frame["dec_ref"], (frame["x_ref"] + 1, frame["y_ref"] + 1), ccs.SKYCELL_PIXEL_SCALE
    )
    index = _ccs_index("r00342")
    members = ccs.coadd_members(row)
    images = tuple(index.image(index.row_of[uri.rsplit("/", 1)[1].removesuffix("_cal.asdf")])
                   for uri in members["l2_s3_uri"].tolist())  # fmt: skip
    filename = str(products["l3_s3_uri"][row]).rsplit("/", 1)[1]
    return _Coadd(header, frame["shape"], images, f"{ccs.PREFIX}/r00342/l3/{filename}")


def _skycell_model(row: int, filename: str, date: datetime) -> tuple[Any, dict[str, ArraySpec]]:
    products = ccs.coadd_products()
    coadd = _skycell(row)
    frame = ccs.skycell_frame(
        int(products["ring"][row]), int(products["region"][row]), int(products["column"][row]),
        int(products["row"][row]),
    )  # fmt: skip
    first = coadd.images[0]
    grouping = str(products["grouping"][row])
    mean, largest = ccs.coadd_exposure_times(row)
    return _l3_model(
        coadd,
        filename,
        date,
        "r00342",
        (342, 1, first.pass_, first.segment, first.observation, first.visit, 1),
        grouping,
        f"r00342_p_{grouping}_{frame['name']}_{first.optical_element.lower()}_asn",
        {"ra_ref": frame["ra_ref"], "dec_ref": frame["dec_ref"], "ra": frame["ra"], "dec": frame["dec"],
         "skycell_name": frame["name"]},
        mean,
        largest,
    )  # fmt: skip


# ---------------------------------------------------------------- HLWAS source catalogs (Level 4)
_DETECTION_SNR = 5.0
_CATALOG_COLUMNS = ("label", "x_centroid", "y_centroid", "ra", "dec", "is_extended", "segment_flux",
                    "segment_flux_err", "segment_abmag")  # fmt: skip


def source_catalog_rows(made: render.Exposure, covering: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The sky's sources detected on an image: what its L4 source catalog lists.

    Parameters
    ----------
    made : render.Exposure
        The image (an L2 detector or an L3 skycell).
    covering : ndarray of int, optional
        For a mosaic: how many exposures hold each of ``made``'s sources (``realized()``
        order); those held by none are left out and the signal grows with the count.

    Returns
    -------
    dict of str to ndarray
        ``label`` (1, 2, ...), ``x_centroid``, ``y_centroid`` (0-based pixels: the sources' true
        positions), ``ra``, ``dec``, ``is_extended`` (a galaxy), ``segment_flux`` and
        ``segment_flux_err`` (nJy, the realised counts of the exposure), ``segment_abmag``,
        and ``object_id`` (the sky model's, not written to the file).

    Notes
    -----
    The sandbox's own rule: a source on the image is detected when its realised electrons
    reach 5 sigma of their own Poisson noise and of the sky, read and dark noise of the pixels
    within one PSF FWHM of it; a mosaic adds the exposures that hold it.
    """
    found = made.realized()
    ny, nx = made.shape
    b = made.filter
    on = (found["x"] >= -0.5) & (found["x"] < nx - 0.5) & (found["y"] >= -0.5) & (found["y"] < ny - 0.5)
    on &= np.isfinite(found["mag"]) & (found["expected"] > 0)
    count = np.ones(len(on)) if covering is None else np.asarray(covering, float)
    on &= count > 0
    fwhm = b.psf_fwhm / b.pixel_scale  # native pixels
    area = math.pi * fwhm**2
    per_pixel = b.read_noise**2 + (b.sky_rate + b.dark_current) * made.exptime
    signal = found["realized"] * count
    noise = np.sqrt(np.maximum(signal, 0) + area * per_pixel * count)
    snr = np.where(noise > 0, signal / np.where(noise > 0, noise, 1), 0.0)
    keep = np.flatnonzero(on & (snr >= _DETECTION_SNR))
    true_njy = 10 ** (-0.4 * (found["mag"][keep] - 31.4))
    flux = true_njy * found["realized"][keep] / found["expected"][keep]
    return {
        "label": np.arange(1, len(keep) + 1, dtype=np.int32),
        "x_centroid": found["x"][keep],
        "y_centroid": found["y"][keep],
        "ra": found["ra"][keep],
        "dec": found["dec"][keep],
        "is_extended": found["kind"][keep] == 1,
        "segment_flux": flux,
        "segment_flux_err": flux / snr[keep],
        "segment_abmag": -2.5 * np.log10(np.maximum(flux, 1e-30)) + 31.4,
        "object_id": found["object_id"][keep],
    }


def _catalog_table(rows: dict[str, np.ndarray], meta: dict[str, Any]) -> Any:
    """A pyarrow table of the catalog columns, with the flattened ``roman.meta.*`` metadata."""
    import pyarrow as pa

    table = pa.table({name: rows[name] for name in _CATALOG_COLUMNS})
    flat = {f"roman.meta.{key}": str(value) for key, value in meta.items()}
    return table.replace_schema_metadata(flat)


def _l2_catalog(key: str, image: WfiImage, date: datetime) -> MaterialisedObject:
    def build() -> Any:
        made = sky_image(image)
        meta = {
            "filename": key.rsplit("/", 1)[1],
            "product_type": "l4",
            "exposure.start_time": image.start_time,
            "exposure.end_time": image.end_time,
            "exposure.exposure_time": image.exptime,
            "instrument.name": "WFI",
            "instrument.detector": f"WFI{image.detector:02d}",
            "instrument.optical_element": image.optical_element,
            "observation.program": image.program,
            "observation.execution_plan": image.plan,
            "observation.pass": image.pass_,
            "observation.segment": image.segment,
            "observation.observation": image.observation,
            "observation.visit": image.visit,
            "observation.exposure": image.exposure,
            "calibration_software_version": _PRODUCTS[image.product]["romancal"],
        }
        return _catalog_table(source_catalog_rows(made), meta)

    return parquet_object(key, build, version=VERSION, last_modified=date)


def _l3_catalog(key: str, row: int, date: datetime) -> MaterialisedObject:
    def build() -> Any:
        coadd = _skycell(row)
        made = coadd.sky
        found = made.realized()
        products = ccs.coadd_products()
        first, last = coadd.images[0], max(coadd.images, key=lambda image: image.end_time)
        mean, largest = ccs.coadd_exposure_times(row)
        meta = {
            "filename": key.rsplit("/", 1)[1],
            "product_type": "l4",
            "coadd_info.time_first": first.start_time,
            "coadd_info.time_last": last.end_time,
            "coadd_info.exposure_time": mean,
            "coadd_info.max_exposure_time": largest,
            "instrument.name": "WFI",
            "instrument.optical_element": first.optical_element,
            "observation.program": first.program,
            "observation.exposure_grouping": str(products["grouping"][row]),
            "wcsinfo.skycell_name": str(products["skycell_name"][row]),
            "calibration_software_version": _PRODUCTS["r00342"]["romancal"],
        }
        rows = source_catalog_rows(made, coadd.covering(found["x"], found["y"]))
        return _catalog_table(rows, meta)

    return parquet_object(key, build, version=VERSION, last_modified=date)


# ---------------------------------------------------------------- providers
_STEM = re.compile(r"^(?P<stem>.+)_(?P<suffix>cal|uncal|preview|thumb)\.(?P<ext>asdf|png)$")


def _tutorial_keys() -> list[str]:
    names = [*roman_surveys.tutorial_exposures()["name"].tolist(), roman_surveys.TUTORIAL_MOSAIC]
    return [f"{TUTORIAL_PREFIX}{name}" for name in names]


def _tutorial_build(key: str) -> ArchiveObject | None:
    date = _PRODUCTS["tutorial"]["date"]
    if key == f"{TUTORIAL_PREFIX}{roman_surveys.TUTORIAL_MOSAIC}":
        return AsdfObject(
            key,
            lambda: _mosaic_model(roman_surveys.TUTORIAL_MOSAIC, date),
            file_date=date.strftime("%Y-%m-%dT%H:%M:%S.000"),
            version=VERSION,
            last_modified=date,
        )
    match = _STEM.match(key.removeprefix(TUTORIAL_PREFIX))
    if match is None or match["ext"] != "asdf":
        return None
    image = tutorial_image(match["stem"])
    if image is None:
        return None
    first = next(iter(_tutorial_images().values()))
    level = match["suffix"]
    return _roman_file(key, level, image, first, f"{TUTORIAL_PREFIX}{first.name(level)}", date)


def _dense_keys() -> list[str]:
    table = roman_surveys.dense_region()
    return [
        f"{DENSE_PREFIX}{p}/{n}"
        for p, n in zip(table["pointing"].tolist(), table["name"].tolist(), strict=True)
    ]


def _dense_build(key: str) -> ArchiveObject | None:
    pointing, _, name = key.removeprefix(DENSE_PREFIX).partition("/")
    match = _STEM.match(name)
    if match is None or match["ext"] != "asdf":
        return None
    image = dense_image(pointing, match["stem"])
    if image is None:
        return None
    date = _PRODUCTS["dense"]["date"]
    (first_pointing, _), first = next(iter(_dense_images().items()))
    level = match["suffix"]
    return _roman_file(key, level, image, first, f"{DENSE_PREFIX}{first_pointing}/{first.name(level)}", date)


def _ccs_keys(program: str) -> Callable[[], list[str]]:
    def keys() -> list[str]:
        root = f"{ccs.PREFIX}/{program}/"
        stems = _ccs_index(program).stems
        return [
            *(f"{root}l1/{stem}_uncal.asdf" for stem in stems),
            *(
                f"{root}l2/{stem}_{suffix}"
                for stem in stems
                for suffix in ("cal.asdf", "preview.png", "thumb.png")
            ),
            *(f"{root}l3/{name}" for name in (_skycell_rows() if program == "r00342" else ())),
            *(
                f"{root}l4/l2_source_catalog/{stem}_cat.parquet"
                for stem in (stems if program == "r00342" else ())
            ),
            *(
                f"{root}l4/l3_source_catalog/{name.removesuffix('_coadd.asdf')}_cat.parquet"
                for name in (_skycell_rows() if program == "r00342" else ())
            ),
        ]

    return keys


def _ccs_build(program: str) -> Callable[[str], ArchiveObject | None]:
    root = f"{ccs.PREFIX}/{program}/"

    def build(key: str) -> ArchiveObject | None:
        level, _, name = key.removeprefix(root).partition("/")
        if level == "l3":
            row = _skycell_rows().get(name) if program == "r00342" else None
            return None if row is None else _skycell_object(key, row)
        if level == "l4" and program == "r00342":
            return _source_catalog_build(key, name)
        match = _STEM.match(name)
        if match is None:
            return None
        suffix = match["suffix"]
        if (level, suffix) not in {("l1", "uncal"), ("l2", "cal"), ("l2", "preview"), ("l2", "thumb")}:
            return None
        index = _ccs_index(program)
        row = index.row_of.get(match["stem"])
        if row is None:
            return None
        image = index.image(row)
        date = _PRODUCTS[program]["date"]
        if suffix in _PREVIEW_SIDES:
            return _preview_object(key, image, suffix, date)
        first = index.image(index.families[image.exptime])
        exemplar_key = f"{root}{level}/{first.name(suffix)}"
        return _roman_file(key, suffix, image, first, exemplar_key, date)

    return build


def _source_catalog_build(key: str, name: str) -> ArchiveObject | None:
    """``l4/l2_source_catalog/{L2 stem}_cat.parquet`` or ``l4/l3_source_catalog/{L3 stem}_cat.parquet``."""
    kind, _, filename = name.partition("/")
    stem = filename.removesuffix("_cat.parquet")
    if stem == filename:
        return None
    date = _PRODUCTS["r00342"]["date"]
    if kind == "l2_source_catalog":
        image = ccs_image("r00342", stem)
        return None if image is None else _l2_catalog(key, image, date)
    if kind == "l3_source_catalog":
        row = _skycell_rows().get(f"{stem}_coadd.asdf")
        return None if row is None else _l3_catalog(key, row, date)
    return None


_SKYCELL_FAMILY: list[_Family] = []


def _skycell_object(key: str, row: int) -> AsdfObject:
    """An HLWAS skycell file; its size from the family's largest tree (the most members)."""
    date = _PRODUCTS["r00342"]["date"]
    with _FAMILY_LOCK:
        if not _SKYCELL_FAMILY:
            widest = int(np.argmax(ccs.coadd_member_counts()))
            wkey = f"{ccs.PREFIX}/r00342/l3/{ccs.coadd_products()['l3_s3_uri'][widest].rsplit('/', 1)[1]}"
            wname = wkey.rsplit("/", 1)[1]
            item = AsdfObject(wkey, lambda: _skycell_model(widest, wname, date), compression="lz4")
            _SKYCELL_FAMILY.append(_Family(tree_allotment(item.tree_bytes), tuple(item.block_nbytes), "lz4"))
        family = _SKYCELL_FAMILY[0]
    filename = key.rsplit("/", 1)[1]
    return _family_member(key, lambda: _skycell_model(row, filename, date), family, date)


def _catalog_keys() -> list[str]:
    return [f"{INPUT_CATALOGS}cat-{cell}.fits" for cell in input_catalog_cells().tolist()]


def _catalog_build(key: str) -> ArchiveObject | None:
    match = re.fullmatch(r"cat-(\d+)\.fits", key.removeprefix(INPUT_CATALOGS))
    if match is None or int(match[1]) not in _catalog_cell_set():
        return None
    return _catalog_object(key, int(match[1]), _PRODUCTS["r00342"]["date"])


@functools.cache
def _catalog_cell_set() -> frozenset[int]:
    return frozenset(input_catalog_cells().tolist())


def _ou_build(key: str) -> ArchiveObject | None:
    image = _ou_images().get(key)
    return None if image is None else _ou_object(key, image, _PRODUCTS["dense"]["date"])


def providers() -> list[Provider]:
    """The Roman-format layouts: tutorial data, CCS simulations, input catalogs, the Nexus's private sets.

    Examples
    --------
    >>> [provider.prefix for provider in providers()][:2]
    ['roman/nexus/soc_simulations/tutorial_data/roman-2026.2/', 'roman/nexus/soc_simulations/r00340/']
    """
    made = [
        Provider(
            PUBLIC,
            TUTORIAL_PREFIX,
            "the Roman I-Sim tutorial data of roman_notebooks 2026.2: four F106 exposures in a box "
            "dither near NGC 6535 (270.94, -0.2), all 18 detectors, Level 1 _uncal.asdf and Level 2 "
            "_cal.asdf at full size (4096 x 4096 x resultants, 4088 x 4088), and the Level 3 mosaic "
            "of detector WFI11 (my_roman_mosaic_coadd.asdf), made on demand from the sandbox's sky "
            "with roman_datamodels' schema",
            _tutorial_keys,
            _tutorial_build,
            version=VERSION,
        )
    ]
    for program, survey in ccs.PROGRAMS.items():
        made.append(
            Provider(
                PUBLIC,
                f"{ccs.PREFIX}/{program}/",
                f"the Science Operations Center's {survey} simulation ({program}): Level 1 l1/*_uncal.asdf "
                "and Level 2 l2/*_cal.asdf of every exposure and detector, with _preview.png and "
                "_thumb.png beside each cal file"
                + (
                    ", and Level 3 l3/*_coadd.asdf of every skycell each visit reaches"
                    if program == "r00342"
                    else ""
                )
                + ", laid out as published and made on demand from the sandbox's sky at the survey "
                "design of its manifest",
                _ccs_keys(program),
                _ccs_build(program),
                version=VERSION,
            )
        )
    made += [
        Provider(
            PUBLIC,
            INPUT_CATALOGS,
            "the CCS simulations' input catalogs cat-{hpix}.fits (HEALPix nside 512, NESTED, Galactic): "
            "Roman I-Sim catalog tables of the sandbox sky's stars and galaxies in each cell",
            _catalog_keys,
            _catalog_build,
            version=VERSION,
        ),
        Provider(
            PRIVATE,
            DENSE_PREFIX,
            "the Roman Research Nexus's Roman I-Sim dense stellar field (two pointings, F158 visit 001 "
            "and F129 visit 002, 18 detectors, cal and uncal, 2024 file names), made on demand from "
            "the sandbox's sky; credentials needed, as on the platform",
            _dense_keys,
            _dense_build,
            version=VERSION,
        ),
        Provider(
            PRIVATE,
            OPEN_UNIVERSE_PREFIX,
            "the Roman Research Nexus's ASDF conversions of the OpenUniverse 2024 WAS preview images "
            "(roman.data, err, dq, a gwcs and catalogs of the galaxies, stars and transients on the "
            "image), the same pixels as IRSA's FITS, made on demand; credentials needed",
            lambda: list(_ou_images()),
            _ou_build,
            version=VERSION,
        ),
        Provider(
            PRIVATE,
            STIPS_PREFIX,
            "the folder of the Roman Research Nexus's STIPS notebook inputs; the sandbox lists it but "
            "does not mirror its files (one README.txt says so)",
            lambda: [STIPS_README_KEY],
            _stips_build,
            version=VERSION,
        ),
    ]
    return made


def _stips_build(key: str) -> ArchiveObject | None:
    return text_object(key, lambda: STIPS_README, version=VERSION) if key == STIPS_README_KEY else None


def mirrored_keys() -> Iterable[str]:
    """Every key this module serves, provider by provider (for counts)."""
    for provider in providers():
        yield from provider.list_keys()
