"""HST WFC3/IR products as MAST serves them: ``s3://stpubdata/hst/public/<obs_id[:4]>/<obs_id>/<file>``.

Each association of :mod:`roman_helpers.sandbox.sky.surveys.hst` has the 19 products MAST lists
for a WFC3/IR dither pair: for the association its drizzled image (``_drz.fits``: PRIMARY, SCI,
WHT, CTX, HDRTAB), association table (``_asn``), jitter tables and images (``_jit``, ``_jif``,
named after the association with a final ``j``), trailer (``_trl``) and two previews; for each
exposure its calibrated (``_flt``: SCI, ERR, DQ, SAMP, TIME), intermediate (``_ima``) and raw
(``_raw``) MULTIACCUM files (one imset per read, last read first), support (``_spt``) and
trailer files and a preview. Every FITS product is in the bucket; the previews (JPEG) are not, as
on AWS: MAST's ``Download/file`` serves them (:func:`download_object`).

Sizes are known before any byte exists: FITS products are
:class:`~roman_helpers.sandbox.archive.fits.FitsObject` descriptions (images and fixed-width
tables), previews are JPEG files padded to a fixed length per kind with comment segments. The
size of each kind of product is worked out once per structure (:func:`product_size`) and checked
against the object when its bytes are first made.

What the images show: the sandbox's sky (:mod:`roman_helpers.sandbox.sky.sources`) through each
image's WCS in its HST band, rendered by :class:`~roman_helpers.sandbox.sky.render.Exposure` in
electrons per second, plus, for the M85 associations, the galaxy model of
:func:`~roman_helpers.sandbox.sky.surveys.hst.target_light`. An exposure's ``_flt``, ``_ima``,
``_raw`` and preview show the same sky (one seed); the drizzled image and its previews another
(the two exposures' mean).

Examples
--------
>>> len(products()), sum(p.in_bucket for p in products())
(1539, 1215)
>>> p = product("ib1f0v01j_jit.fits")
>>> p.key, p.obs_id
('hst/public/ib1f/ib1f0v010/ib1f0v01j_jit.fits', 'ib1f0v010')
>>> product_size(product("ib1f0v010_drz.fits"))  # no pixel made
12372480
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from roman_helpers.sandbox.archive.fits import HDU, FitsObject, TableSpec
from roman_helpers.sandbox.archive.objects import (
    ArchiveObject,
    ArraySpec,
    GeneratedObject,
    MaterialisedObject,
)
from roman_helpers.sandbox.archive.registry import Archive, Provider, code_version
from roman_helpers.sandbox.sky import render
from roman_helpers.sandbox.sky.surveys import hst as design

__all__ = [
    "ASSOCIATION_PRODUCTS",
    "BUCKET",
    "BUCKETS",
    "EXPOSURE_PRODUCTS",
    "PREFIX",
    "PREVIEW_SIZES",
    "VERSION",
    "Product",
    "ProductKind",
    "download_object",
    "product",
    "product_at",
    "product_object",
    "product_size",
    "products",
    "providers",
]

BUCKET = "stpubdata"
BUCKETS = {BUCKET: True}
PREFIX = "hst/public/"
_ORIGIN = "roman-helpers sandbox (synthetic)"
_JITTER_STEP = 3.0  # seconds between jitter samples
_TRAILER_WIDTH = 132


@dataclass(frozen=True)
class ProductKind:
    """One kind of product MAST lists for a WFC3/IR association, with MAST's description of it.

    Attributes
    ----------
    suffix, extension : str
        ``"drz"`` and ``"fits"`` for ``<root>_drz.fits``.
    product_type : str
        MAST's ``productType``: SCIENCE, AUXILIARY or PREVIEW (previews are not in the bucket).
    calib_level : int
    description : str
        MAST's ``description``.
    subgroup : str or None
        MAST's ``productSubGroupDescription``.
    """

    suffix: str
    extension: str
    product_type: str
    calib_level: int
    description: str
    subgroup: str | None

    @property
    def name(self) -> str:
        """``"drz.fits"``, ``"drz_thumb.jpg"`` ..."""
        return f"{self.suffix}.{self.extension}"

    @property
    def in_bucket(self) -> bool:
        """Whether ``stpubdata`` holds products of this kind (every HST file but the previews)."""
        return self.product_type != "PREVIEW"


ASSOCIATION_PRODUCTS: tuple[ProductKind, ...] = (
    ProductKind("asn", "fits", "AUXILIARY", 1, "DADS ASN file - Association ACS/WFC3/STIS", "ASN"),
    ProductKind(
        "drz", "fits", "SCIENCE", 3, "DADS DRZ file - Calibrated combined image ACS/WFC3/WFPC2/STIS", "DRZ"
    ),
    ProductKind("jif", "fits", "AUXILIARY", 1, "DADS JIF file", "JIF"),
    ProductKind("jit", "fits", "AUXILIARY", 1, "DADS JIT file", "JIT"),
    ProductKind("trl", "fits", "AUXILIARY", 2, "DADS TRL file - Processing log", "TRL"),
    ProductKind("drz", "jpg", "PREVIEW", 3, "Preview-Full", None),
    ProductKind("drz_thumb", "jpg", "PREVIEW", 3, "Preview-Thumb", None),
)
EXPOSURE_PRODUCTS: tuple[ProductKind, ...] = (
    ProductKind("flt", "fits", "SCIENCE", 2, "DADS FLT file - Calibrated exposure ACS/WFC3/STIS/COS", "FLT"),
    ProductKind("ima", "fits", "SCIENCE", 2, "DADS IMA file - Intermediate exposure WFC3/NICMOS", "IMA"),
    ProductKind("raw", "fits", "SCIENCE", 1, "DADS RAW file - Raw exposure ACS/WFC3/STIS/COS", "RAW"),
    ProductKind(
        "spt", "fits", "AUXILIARY", 1, "DADS SPT file - Engineering telemetry ACS/WFC3/NICMOS/COS/STIS", "SPT"
    ),
    ProductKind("trl", "fits", "AUXILIARY", 2, "DADS TRL file - Processing log", "TRL"),
    ProductKind("flt", "jpg", "PREVIEW", 2, "Preview-Full", None),
)
#: Bytes of every preview of a kind (the JPEG, then comment segments up to this length).
PREVIEW_SIZES = {"drz.jpg": 640_000, "drz_thumb.jpg": 12_000, "flt.jpg": 640_000}
_THUMBNAIL_SIDE = 128


@dataclass(frozen=True)
class Product:
    """One product of one association, as MAST lists it.

    Attributes
    ----------
    filename : str
    dataset : str
        The ``obs_id`` MAST lists it under (the association, or the exposure for an exposure's
        files); it names the product's folder in the bucket.
    obs_id : str
        The association.
    exposure : str or None
        The exposure, for an exposure's files.
    obsid : str
        MAST's product group id of ``dataset``.
    parent_obsid : str
        MAST's id of the association.
    kind : ProductKind
    """

    filename: str
    dataset: str
    obs_id: str
    exposure: str | None
    obsid: str
    parent_obsid: str
    kind: ProductKind

    @property
    def key(self) -> str:
        """Where ``stpubdata`` holds it (or would: previews are not there)."""
        return f"{PREFIX}{self.dataset[:4]}/{self.dataset}/{self.filename}"

    @property
    def data_uri(self) -> str:
        """MAST's ``dataURI``."""
        return f"mast:HST/product/{self.filename}"

    @property
    def in_bucket(self) -> bool:
        """Whether ``stpubdata`` holds it."""
        return self.kind.in_bucket


@functools.lru_cache(maxsize=1)
def _products() -> tuple[Product, ...]:
    made: list[Product] = []
    members = _members()
    for visit in design.observations():
        obs_id, obsid = str(visit["obs_id"]), str(visit["obsid"])
        for kind in ASSOCIATION_PRODUCTS:
            root = obs_id[:8] + "j" if kind.suffix in ("jif", "jit") else obs_id  # jitter files end in j
            made.append(Product(f"{root}_{kind.name}", obs_id, obs_id, None, obsid, obsid, kind))
        for exposure in members[obs_id]:
            name, exposure_obsid = str(exposure["exposure"]), str(exposure["obsid"])
            for kind in EXPOSURE_PRODUCTS:
                made.append(Product(f"{name}_{kind.name}", name, obs_id, name, exposure_obsid, obsid, kind))
    return tuple(made)


def products() -> tuple[Product, ...]:
    """Every product of every association, in MAST's order (association's, then each exposure's).

    Examples
    --------
    >>> [p.filename for p in products()[:3]]
    ['ib1f00010_asn.fits', 'ib1f00010_drz.fits', 'ib1f0001j_jif.fits']
    """
    return _products()


@functools.lru_cache(maxsize=1)
def _by_name() -> dict[str, Product]:
    return {p.filename: p for p in _products()}


@functools.lru_cache(maxsize=1)
def _by_key() -> dict[str, Product]:
    return {p.key: p for p in _products()}


def product(filename: str) -> Product | None:
    """The product called ``filename`` (``ib1f0v010_drz.fits``), or None."""
    return _by_name().get(filename)


def product_at(key: str) -> Product | None:
    """The product whose bucket key is ``key`` (previews included), or None."""
    return _by_key().get(key)


@functools.lru_cache(maxsize=1)
def _members() -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for row in design.exposures():
        found.setdefault(str(row["obs_id"]), []).append(row)
    return found


@functools.lru_cache(maxsize=1)
def _visits() -> dict[str, Any]:
    return {str(row["obs_id"]): row for row in design.observations()}


# ---------------------------------------------------------------- what makes the bytes
#: Version of every generated product: the code that makes the bytes and the libraries that format them.
VERSION = code_version(
    __name__,
    "roman_helpers.sandbox.sky.surveys.hst",
    "roman_helpers.sandbox.sky.render",
    "roman_helpers.sandbox.sky.sources",
    "roman_helpers.sandbox.sky.transients",
    "roman_helpers.sandbox.sky.bands",
    "roman_helpers.sandbox.archive.fits",
    packages=("numpy", "astropy", "pillow"),
)


def _seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"hst/{name}".encode()).digest()[:8], "little") >> 1


#: The rows of recent scenes, under one byte budget for all (as the Roman exposures' blocks are kept).
_BLOCKS = render.RecentBlocks(256 * 1024**2)
_TOKENS = itertools.count()


class _Scene:
    """One image of the sky in electrons per second: the sky's sources and, for M85, the galaxy model."""

    def __init__(
        self,
        name: str,
        ra: float,
        dec: float,
        shape: tuple[int, int],
        scale: float,
        visit: Any,
        exptime: float,
    ) -> None:
        from astropy.wcs import WCS

        self.header = design.tan_header(shape, ra, dec, scale)
        self.shape = shape
        self.scale = scale
        self.seed = _seed(name)
        self.total = float(visit["exptime"]) if exptime == 0 else exptime
        per_exposure = self.total if exptime else self.total / design.EXPOSURES_PER_VISIT
        self.exposure = render.Exposure(
            self.header,
            shape,
            str(visit["filter"]),
            exptime=per_exposure,
            mjd=float(visit["t_min"]),
            seed=self.seed,
            units="DN/s",  # with a gain of 1: electrons per second
            gain=1.0,
            n_exposures=1 if exptime else design.EXPOSURES_PER_VISIT,
            cosmic_rays=False,
        )
        self.target = bool(visit["galaxy"])
        self._wcs = WCS(self.header)
        self._token = next(_TOKENS)  # its blocks' key in the shared store

    def _block(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return _BLOCKS.get((self._token, index), functools.partial(self._make_block, index))

    def _make_block(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        ny, nx = self.shape
        y0, y1 = index * render.BLOCK_ROWS, min(ny, (index + 1) * render.BLOCK_ROWS)
        sci, err, _ = self.exposure.rows(y0, y1)
        sci, err = sci.astype(np.float64), err.astype(np.float64)
        if self.target:
            yy, xx = np.mgrid[y0:y1, 0:nx]
            ra, dec = self._wcs.all_pix2world(xx.ravel(), yy.ravel(), 0)
            light = design.target_light(ra, dec).reshape(sci.shape) * self.scale**2
            noise = np.random.default_rng([self.seed, index, 85]).standard_normal(sci.shape)
            sci += light + noise * np.sqrt(light / self.total)
            err = np.sqrt(err**2 + light / self.total)
        return sci.astype(np.float32), err.astype(np.float32)

    def rows(self, y0: int, y1: int) -> tuple[np.ndarray, np.ndarray]:
        """Science and error rows ``y0 .. y1 - 1``, electrons per second."""
        parts = [self._block(index) for index in render.blocks(y0, y1)]
        if not parts:
            empty = np.zeros((0, self.shape[1]), np.float32)
            return empty, empty
        start = (y0 // render.BLOCK_ROWS) * render.BLOCK_ROWS
        sci = np.concatenate([p[0] for p in parts])[y0 - start : y1 - start]
        err = np.concatenate([p[1] for p in parts])[y0 - start : y1 - start]
        return sci, err


@functools.lru_cache(maxsize=8)
def _scene(dataset: str) -> _Scene:
    """The drizzled image of an association, or one exposure's image, by its ``obs_id``."""
    visits = _visits()
    if dataset in visits:
        visit = visits[dataset]
        return _Scene(
            dataset,
            float(visit["ra"]),
            float(visit["dec"]),
            design.DRZ_SHAPE,
            design.DRZ_PIXEL_SCALE,
            visit,
            0.0,
        )
    exposure = next(row for rows in _members().values() for row in rows if row["exposure"] == dataset)
    visit = visits[str(exposure["obs_id"])]
    return _Scene(
        dataset,
        float(exposure["ra"]),
        float(exposure["dec"]),
        design.FLT_SHAPE,
        design.FLT_PIXEL_SCALE,
        visit,
        float(exposure["exptime"]),
    )


def _constant(dtype: str, shape: tuple[int, ...], value: float) -> ArraySpec:
    return ArraySpec(dtype, shape, lambda r0, r1: np.full((r1 - r0, shape[-1]), value, dtype))


def _keywords(product: Product) -> dict[str, Any]:
    visit = _visits()[product.obs_id]
    members = [str(row["exposure"]) for row in _members()[product.obs_id]]
    keywords: dict[str, Any] = {
        "ROOTNAME": product.dataset,
        "TARGNAME": str(visit["target_name"]),
        "PROPOSID": int(visit["proposal_id"]),
        "FILTER": str(visit["filter"]),
        "RA_TARG": float(visit["target_ra"]),
        "DEC_TARG": float(visit["target_dec"]),
        "ASN_ID": product.obs_id.upper(),
        "ASN_TAB": f"{product.obs_id}_asn.fits",
        "EXPSTART": float(visit["t_min"]),
    }
    if product.exposure is not None:
        exposure = _members()[product.obs_id][members.index(product.exposure)]
        keywords.update(
            ASN_MTYP="EXP-DTH",
            APERTURE="IR",
            SUBARRAY=False,
            SAMP_SEQ="SPARS100",
            EXPSTART=float(exposure["t_min"]),
        )
    return keywords


def _primary(product: Product, filetype: str, extra: dict[str, Any] | None = None) -> HDU:
    from astropy.io import fits

    header = fits.Header(
        {
            "FILENAME": product.filename,
            "FILETYPE": filetype,
            "TELESCOP": "HST",
            "INSTRUME": "WFC3",
            "DETECTOR": "IR",
            "ORIGIN": _ORIGIN,
        }
    )
    header.update(_keywords(product))
    header.update(extra or {})
    return HDU(header)


def _with(header: Any, **cards: Any) -> Any:
    """A copy of ``header`` with ``cards`` added."""
    made = header.copy()
    made.update(cards)
    return made


def _drz(product: Product) -> list[HDU]:
    from astropy.io import fits

    scene = _scene(product.obs_id)
    visit = _visits()[product.obs_id]
    exptime = float(visit["exptime"])
    members = [str(row["exposure"]) for row in _members()[product.obs_id]]
    primary = _primary(product, "SCI", {"EXPTIME": exptime})
    for number in range(120):  # real drizzled primary headers run to hundreds of cards
        primary.header[f"HIERARCH SANDBOX FILLER{number:03d}"] = (number, "stands in for the real keywords")
    shape = scene.shape
    hdrtab = {"ROOTNAME": np.array(members), "EXPTIME": np.full(len(members), exptime / len(members))}
    return [
        primary,
        HDU(
            _with(scene.header, BUNIT="ELECTRONS/S", EXPTIME=exptime),
            ArraySpec("float32", shape, lambda y0, y1: scene.rows(y0, y1)[0]),
            "SCI",
        ),
        HDU(_with(scene.header), _constant("float32", shape, exptime), "WHT"),
        HDU(_with(scene.header), _constant("int32", shape, (1 << len(members)) - 1), "CTX"),
        HDU(
            None,
            TableSpec(
                [fits.Column(name="ROOTNAME", format="9A"), fits.Column(name="EXPTIME", format="E")],
                len(members),
                lambda r0, r1: {name: values[r0:r1] for name, values in hdrtab.items()},
            ),
            "HDRTAB",
        ),
    ]


def _flt(product: Product) -> list[HDU]:
    scene = _scene(product.dataset)
    exptime = scene.total
    shape = scene.shape
    hdus = [_primary(product, "SCI", {"EXPTIME": exptime, "NSAMP": design.NSAMP})]
    for name, spec, unit in (
        ("SCI", ArraySpec("float32", shape, lambda y0, y1: scene.rows(y0, y1)[0]), "ELECTRONS/S"),
        ("ERR", ArraySpec("float32", shape, lambda y0, y1: scene.rows(y0, y1)[1]), "ELECTRONS/S"),
        ("DQ", _constant("int16", shape, 0), "UNITLESS"),
        ("SAMP", _constant("int16", shape, design.NSAMP - 1), "UNITLESS"),
        ("TIME", _constant("float32", shape, exptime), "SECONDS"),
    ):
        hdus.append(HDU(_with(scene.header, EXTVER=1, BUNIT=unit), spec, name))
    return hdus


def _read_times(exptime: float) -> np.ndarray:
    """MULTIACCUM read times: the zeroth read at 0 s, the last at ``exptime``."""
    return np.linspace(0.0, exptime, design.NSAMP)


def _read_rows(
    scene: _Scene, seed: int, sample: int, seconds: float, raw: bool
) -> Callable[[int, int], np.ndarray]:
    """Rows of one read of a raw (DN, bias and reference pixels) or ima (electrons/s) readout.

    The readout is the science image inside :data:`~.surveys.hst.REFERENCE_PIXELS` on each side;
    its noise is drawn per row, seeded by (file, read, row), so any rows come out the same.
    """
    border = design.REFERENCE_PIXELS
    ny, nx = scene.shape
    width = nx + 2 * border

    def rows(y0: int, y1: int) -> np.ndarray:
        rate = np.zeros((y1 - y0, width))
        inside = np.zeros((y1 - y0, width), bool)
        lo, hi = max(y0, border), min(y1, ny + border)
        if hi > lo:
            rate[lo - y0 : hi - y0, border:-border] = scene.rows(lo - border, hi - border)[0]
            inside[lo - y0 : hi - y0, border:-border] = True
        noise = np.stack(
            [np.random.default_rng([seed, sample, row]).standard_normal(width) for row in range(y0, y1)]
        )
        if raw:
            counts = (
                12000.0 + 8.0 * noise + np.maximum(rate, 0.0) * seconds / 2.5
            )  # bias, read noise, gain 2.5
            return np.clip(counts, 0, 65535).astype(np.uint16)
        if seconds == 0:
            return np.zeros((y1 - y0, width), np.float32)
        return np.where(inside, rate + 20.0 * noise / seconds, 0.0).astype(np.float32)

    return rows


def _multiaccum(product: Product, raw: bool) -> list[HDU]:
    """A raw or ima file: the primary header, then one imset (SCI, ERR, DQ, SAMP, TIME) per read."""
    from astropy.io import fits

    scene = _scene(product.dataset)
    exptime = scene.total
    border = design.REFERENCE_PIXELS
    full = (scene.shape[0] + 2 * border, scene.shape[1] + 2 * border)
    wcs = _with(scene.header, CRPIX1=scene.header["CRPIX1"] + border, CRPIX2=scene.header["CRPIX2"] + border)
    seed = _seed(product.filename)
    hdus = [_primary(product, "SCI", {"EXPTIME": exptime, "NSAMP": design.NSAMP})]
    times = _read_times(exptime)
    for version, sample in enumerate(range(design.NSAMP - 1, -1, -1), start=1):  # last read first
        seconds = float(times[sample])
        cards = {"EXTVER": version, "SAMPNUM": sample, "SAMPTIME": seconds}
        science = ArraySpec(
            "uint16" if raw else "float32", full, _read_rows(scene, seed, sample, seconds, raw)
        )
        hdus.append(HDU(_with(wcs, **cards), science, "SCI"))
        if raw:  # the other extensions of a raw file are empty, with the value they would hold
            for name, value in (("ERR", 0.0), ("DQ", 0), ("SAMP", sample), ("TIME", 0.0)):
                empty = fits.Header({**cards, "NPIX1": full[1], "NPIX2": full[0], "PIXVALUE": value})
                hdus.append(HDU(empty, None, name))
            continue
        for name, spec in (
            ("ERR", _constant("float32", full, 20.0 / max(seconds, 1.0))),
            ("DQ", _constant("int16", full, 0)),
            ("SAMP", _constant("int16", full, sample)),
            ("TIME", _constant("float32", full, seconds)),
        ):
            hdus.append(HDU(_with(wcs, **cards), spec, name))
    return hdus


def _spt(product: Product) -> list[HDU]:
    from astropy.io import fits

    values = np.random.default_rng(_seed(product.filename)).integers(0, 4096, 1024).astype(np.int16)
    udl = HDU(fits.Header({"EXTVER": 1}), ArraySpec.from_array(values), "UDL")
    return [_primary(product, "SPT"), udl]


def _trailer_lines(product: Product) -> list[str]:
    """A processing log in the style of CALWF3's trailer files."""
    lines = [f"CALWF3 version 3.7.2 (synthetic) for {product.dataset.upper()}"]
    if product.exposure is None:
        members = [str(row["exposure"]) for row in _members()[product.obs_id]]
        lines += [f"Input exposure {m.upper()}" for m in members]
        lines += ["AstroDrizzle: combining the exposures", f"Output {product.obs_id}_drz.fits written"]
    else:
        steps = ("DQICORR", "ZSIGCORR", "BLEVCORR", "ZOFFCORR", "NLINCORR", "DARKCORR", "PHOTCORR")
        lines += [f"{step} ... COMPLETE" for step in (*steps, "UNITCORR", "CRCORR", "FLATCORR")]
    return [*lines, "End of processing"]


def _table(columns: list[Any], values: dict[str, np.ndarray]) -> TableSpec:
    rows = len(next(iter(values.values())))
    return TableSpec(columns, rows, lambda r0, r1: {name: column[r0:r1] for name, column in values.items()})


def _trl(product: Product) -> list[HDU]:
    from astropy.io import fits

    lines = np.array([line[:_TRAILER_WIDTH] for line in _trailer_lines(product)])
    column = fits.Column(name="TEXT_FILE", format=f"{_TRAILER_WIDTH}A")
    return [_primary(product, "TRL"), HDU(None, _table([column], {"TEXT_FILE": lines}))]


def _asn(product: Product) -> list[HDU]:
    from astropy.io import fits

    members = [str(row["exposure"]) for row in _members()[product.obs_id]]
    names = np.array([m.upper() for m in members] + [product.obs_id.upper()])
    kinds = np.array(["EXP-DTH"] * len(members) + ["PROD-DTH"])
    columns = [
        fits.Column(name="MEMNAME", format="14A"),
        fits.Column(name="MEMTYPE", format="14A"),
        fits.Column(name="MEMPRSNT", format="L"),
    ]
    table = _table(columns, {"MEMNAME": names, "MEMTYPE": kinds, "MEMPRSNT": np.ones(len(names), bool)})
    return [_primary(product, "ASN_TABLE"), HDU(None, table, "ASN")]


def _jitter(product: Product, image: bool) -> list[HDU]:
    """Each exposure's pointing jitter: a table sampled every 3 s (``_jit``) or a 2-D histogram (``_jif``)."""
    from astropy.io import fits

    visit = _visits()[product.obs_id]
    rng = np.random.default_rng(_seed(product.filename))
    hdus = [_primary(product, "JIF" if image else "JIT", {"ROOTNAME": product.obs_id[:8] + "j"})]
    for version, exposure in enumerate(_members()[product.obs_id], start=1):
        header = fits.Header({"EXTVER": version, "EXPNAME": str(exposure["exposure"])[:8].upper() + "J"})
        if image:
            hdus.append(HDU(header, ArraySpec.from_array(rng.poisson(4.0, (32, 32)).astype(np.int16)), "JIF"))
            continue
        seconds = np.arange(0.0, float(exposure["exptime"]) + _JITTER_STEP, _JITTER_STEP)
        n = len(seconds)
        v2, v3 = rng.normal(0, 0.003, n), rng.normal(0, 0.003, n)
        values = {
            "Seconds": seconds,
            "V2_dom": v2,
            "V3_dom": v3,
            "RA": float(visit["ra"]) + v2 / 3600,
            "DEC": float(visit["dec"]) + v3 / 3600,
            "Roll": np.full(n, 91.7),
            "LimbAng": np.linspace(40.0, 75.0, n),
            "DayNight": np.zeros(n, np.int16),
        }
        formats = {"RA": "D", "DEC": "D", "DayNight": "I"}
        units = {"Seconds": "seconds", "V2_dom": "arcsec", "V3_dom": "arcsec", "DayNight": None}
        columns = [
            fits.Column(name=name, format=formats.get(name, "E"), unit=units.get(name, "degrees"))
            for name in values
        ]
        hdus.append(HDU(header, _table(columns, values), "JIT"))
    return hdus


_FITS_MAKERS: dict[str, Callable[[Product], list[HDU]]] = {
    "asn.fits": _asn,
    "drz.fits": _drz,
    "jif.fits": lambda product: _jitter(product, image=True),
    "jit.fits": lambda product: _jitter(product, image=False),
    "trl.fits": _trl,
    "flt.fits": _flt,
    "ima.fits": lambda product: _multiaccum(product, raw=False),
    "raw.fits": lambda product: _multiaccum(product, raw=True),
    "spt.fits": _spt,
}


# ---------------------------------------------------------------- previews
def _pad_jpeg(data: bytes, size: int) -> bytes:
    """``data`` (a JPEG file) made ``size`` bytes long with comment (COM) segments after its first segment.

    Readers skip comment segments, so the picture is unchanged; the padding makes every preview of
    a kind the same length, known before the picture is made.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> out = io.BytesIO()
    >>> Image.new("L", (8, 8), 128).save(out, "JPEG")
    >>> padded = _pad_jpeg(out.getvalue(), 100_000)
    >>> len(padded), Image.open(io.BytesIO(padded)).getpixel((3, 3))
    (100000, 128)
    """
    need = size - len(data)
    if need < 0 or 0 < need < 4:
        raise ValueError(f"a {len(data)}-byte JPEG cannot be padded to {size} bytes")
    first = 2 + (struct.unpack(">H", data[4:6])[0] + 2 if data[2:4] == b"\xff\xe0" else 0)  # SOI [+ APP0]
    segments = []
    while need > 0:
        total = min(need, 65537)  # a segment: marker, 2-byte length, at most 65533 bytes
        if 0 < need - total < 4:
            total -= 4
        note = b"roman-helpers sandbox: padding to a fixed size ".ljust(total - 4, b".")
        segments.append(b"\xff\xfe" + struct.pack(">H", total - 2) + note[: total - 4])
        need -= total
    return data[:first] + b"".join(segments) + data[first:]


def _preview(product: Product) -> bytes:
    """The preview JPEG of a drizzled image or an exposure: asinh-stretched, north up, padded."""
    from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval
    from PIL import Image

    scene = _scene(product.dataset)
    image = scene.rows(0, scene.shape[0])[0]
    scaled = ImageNormalize(image, interval=PercentileInterval(99.5), stretch=AsinhStretch())(
        image, clip=True
    )
    picture = Image.fromarray((np.flipud(np.asarray(np.ma.filled(scaled, 0.0))) * 255).astype(np.uint8))
    if product.kind.suffix.endswith("thumb"):
        picture.thumbnail((_THUMBNAIL_SIDE, _THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    size = PREVIEW_SIZES[product.kind.name]
    for quality in range(85, 5, -10):
        out = io.BytesIO()
        picture.save(out, format="JPEG", quality=quality)
        need = size - len(out.getvalue())
        if need == 0 or need >= 4:
            return _pad_jpeg(out.getvalue(), size)
    raise RuntimeError(f"{product.filename}: no JPEG quality fits {size} bytes")


# ---------------------------------------------------------------- objects and their sizes
def _make(product: Product) -> ArchiveObject:
    """The object itself: a FITS description (headers built now) or a preview made on first read."""
    if product.kind.extension == "jpg":
        return MaterialisedObject(
            product.key,
            lambda: _preview(product),
            size=PREVIEW_SIZES[product.kind.name],
            version=VERSION,
            content_type="image/jpeg",
        )
    return FitsObject(product.key, _FITS_MAKERS[product.kind.name](product), version=VERSION)


_sizes: dict[tuple[str, float], int] = {}
_sizes_lock = threading.Lock()


def _structure(product: Product) -> tuple[str, float]:
    """What fixes a product's layout: its kind and the exposure time (the jitter tables' length)."""
    return product.kind.name, float(_visits()[product.obs_id]["exptime"])


def product_size(product: Product) -> int:
    """The product's length in bytes, without making any of them.

    Products of one kind and exposure time have the same headers, cards for cards, and the same
    data sizes, so the length is worked out once for each (by laying one of them out) and
    checked again against every product when its bytes are first made.

    Examples
    --------
    >>> product_size(product("ib1f0vabq_ima.fits")) == product_size(product("ib1f0abbq_ima.fits"))
    True
    """
    if product.kind.extension == "jpg":
        return PREVIEW_SIZES[product.kind.name]
    structure = _structure(product)
    with _sizes_lock:
        known = _sizes.get(structure)
    if known is None:
        known = _make(product).size
        with _sizes_lock:
            _sizes[structure] = known
    return known


class _ProductObject(GeneratedObject):
    """A product whose size is known from its kind, laid out (headers and all) on first read."""

    def __init__(self, product: Product) -> None:
        content_type = "image/jpeg" if product.kind.extension == "jpg" else "binary/octet-stream"
        super().__init__(product.key, version=VERSION, content_type=content_type)
        self.product = product
        self._made: ArchiveObject | None = None
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """The product's length (:func:`product_size`)."""
        return product_size(self.product)

    def _object(self) -> ArchiveObject:
        with self._lock:
            if self._made is None:
                made = _make(self.product)
                if made.size != self.size:
                    raise RuntimeError(
                        f"{self.product.filename} is {made.size} bytes, but products of its kind "
                        f"were listed at {self.size}: their headers differ in length"
                    )
                self._made = made
            return self._made

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``, made on demand."""
        return self._object().read(start, end)


def product_object(product: Product) -> ArchiveObject:
    """The object holding ``product``'s bytes (made on demand, size known now).

    Examples
    --------
    >>> item = product_object(product("ib1f0v010_asn.fits"))
    >>> item.size, item.read(0, 9)
    (8640, b'SIMPLE  =')
    """
    return _ProductObject(product)


def download_object(archive: Archive, key: str) -> ArchiveObject | None:
    """What MAST's ``Download/file`` serves for a product at ``key``: from the bucket, or a preview.

    Parameters
    ----------
    archive : Archive
        The sandbox's archive: bucket objects come from it, previews are read through its cache.
    key : str
        The product's key (``hst/public/ib1f/ib1f0v010/ib1f0v010_drz.jpg``).

    Returns
    -------
    ArchiveObject or None
        None for a key that is no product.
    """
    found = product_at(key)
    if found is None:
        return None
    if found.in_bucket:
        return archive.get(BUCKET, key)
    return archive.cache.wrap(product_object(found), f"mast-download/{key}@{VERSION}")


def _bucket_object(key: str) -> ArchiveObject | None:
    found = product_at(key)
    return product_object(found) if found is not None and found.in_bucket else None


def _description() -> str:
    visits = design.observations()
    return (
        f"HST WFC3/IR products of {len(visits)} dither associations as MAST lists them "
        "(M85 in F160W and F110W, proposal 11360; small fields at right ascension 0h and round the "
        "north celestial pole, proposal 17010): drizzled images, calibrated, intermediate and raw "
        "exposures, association, jitter, support and trailer files, made from the sandbox's sky; "
        "the previews are served by MAST's Download/file only, as on AWS"
    )


def providers() -> list[Provider]:
    """The ``hst/public/`` key space of ``stpubdata``.

    Examples
    --------
    >>> [(p.bucket, p.prefix) for p in providers()]
    [('stpubdata', 'hst/public/')]
    """
    return [
        Provider(
            bucket=BUCKET,
            prefix=PREFIX,
            description=_description(),
            list_keys=lambda: [p.key for p in _products() if p.in_bucket],
            build=_bucket_object,
            version=VERSION,
        )
    ]
