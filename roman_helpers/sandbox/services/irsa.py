"""The sandbox's IRSA: the simulated-data image search (SIA v2) that finds OpenUniverse 2024 images.

``astroquery.ipac.irsa`` and pyvo call it as they call IRSA.

Routes (paths as on ``https://irsa.ipac.caltech.edu``; the TLS proxy in
:mod:`roman_helpers.sandbox.services.proxy` sends that host's traffic here):

``GET /simulated/SIA/capabilities``, ``GET /simulated/SIA/availability``
    VOSI documents; the capabilities name ``ivo://ivoa.net/std/SIA#query-2.0`` with the query's
    access URL (the base itself), which is what ``pyvo.dal.SIA2Service`` looks for.
``GET|POST /simulated/SIA``
    The SIA v2 query. Parameters (names in any case, each may repeat; repeats are OR-ed, different
    parameters AND-ed): ``POS`` (``CIRCLE ra dec r``, ``RANGE ra1 ra2 dec1 dec2``,
    ``POLYGON ra1 dec1 ra2 dec2 ...``, degrees), ``BAND`` (wavelength interval in metres),
    ``TIME`` (MJD interval), ``COLLECTION``, ``FACILITY``, ``INSTRUMENT``, ``DPTYPE``, ``CALIB``,
    ``TARGET``, ``ID``, ``FORMAT``, ``FOV``, ``SPATRES``, ``SPECRP``, ``EXPTIME``, ``TIMERES``,
    ``POL``, ``MAXREC``, ``RESPONSEFORMAT`` (VOTable only). Intervals are ``lo hi`` or one value,
    ``-Inf``/``+Inf`` for open ends, inclusive; a row matches when its interval meets the asked one.
    The answer is a VOTable with ObsCore columns plus IRSA's own (``energy_bandpassname``,
    ``cloud_access``, ``dist_to_point`` ...) in a ``RESOURCE type="results"`` whose ``QUERY_STATUS``
    is ``OK`` (``OVERFLOW`` when ``MAXREC`` cut the rows); a malformed parameter answers HTTP 400
    with ``QUERY_STATUS`` ``ERROR`` and a message (pyvo raises ``DALQueryError`` with it). An
    unknown collection matches nothing. Unknown parameters are ignored.
``/SIA``, ``/SIA/capabilities`` ...
    IRSA's observed-data image search (astroquery's default ``Irsa.sia_url``): the same protocol,
    but the simulated collections are not in it, so every query there is empty, as on IRSA.
``POST /simulated/TAP/sync`` (and ``/TAP/sync``)
    Only the ADQL that ``Irsa.list_collections()`` sends; any other query answers an error.
``GET|HEAD /data/theory/<key>``
    The bytes of an image (its ``access_url``), with ranges, from the sandbox's files.

The rows are the sandbox's own OpenUniverse images: every ``.fits.gz`` under
``openuniverse2024/<survey>/<release>/<Survey>/images/`` in the ``nasa-irsa-simulations`` bucket
of the manifest. Each file's footprint, pixel grid and centre come from the WCS in its first
extension header; band from ``FILTER``, facility and instrument from ``TELESCOP``/``INSTRUME``,
time from ``MJD-OBS`` and ``EXPTIME`` when the header has them (otherwise ``t_min``/``t_max`` are
null and a ``TIME`` constraint never matches the file).
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from roman_helpers.sandbox.services._service import BackgroundService

__all__ = [
    "BUCKET",
    "COLUMNS",
    "PUBLIC_HOST",
    "ROMAN_BANDPASS_M",
    "SIA2_STANDARD_ID",
    "ImageRow",
    "IrsaApp",
    "IrsaServer",
    "openuniverse_images",
]

log = logging.getLogger(__name__)

BUCKET = "nasa-irsa-simulations"
PUBLIC_HOST = "irsa.ipac.caltech.edu"
SIA2_STANDARD_ID = "ivo://ivoa.net/std/SIA#query-2.0"
#: Where IRSA serves the OpenUniverse files over HTTPS (``access_url`` = this + the S3 key).
DATA_PREFIX = "/data/theory/"
_IMAGE_KEY = re.compile(
    r"^openuniverse2024/(?P<survey>[a-z]+)/(?P<release>[^/]+)/(?P<program>[^/]+)/images/.+\.fits\.gz$"
)
_VOTABLE_FORMATS = {
    "",
    "votable",
    "application/x-votable+xml",
    "text/xml",
    "application/xml",
    "application/x-votable+xml;serialization=tabledata",
}

#: Roman WFI imaging filters: band edges in metres, from the WFI filter table of the Roman
#: technical specifications. Keyed by the three-digit wavelength code both naming schemes share
#: (``F158`` in Roman's own products, ``H158`` in OpenUniverse file names).
ROMAN_BANDPASS_M = {
    "062": (0.480e-6, 0.760e-6),
    "087": (0.760e-6, 0.977e-6),
    "106": (0.927e-6, 1.192e-6),
    "129": (1.131e-6, 1.454e-6),
    "146": (0.927e-6, 2.000e-6),
    "158": (1.380e-6, 1.774e-6),
    "184": (1.683e-6, 2.000e-6),
    "213": (1.950e-6, 2.300e-6),
}

# (name, datatype, arraysize, unit, ucd, utype): ObsCore 1.1 columns with the datatypes, units
# and UCDs of the standard, then IRSA's additions that its tutorials read.
COLUMNS: tuple[tuple[str, str, str | None, str | None, str | None, str | None], ...] = (
    (
        "s_ra",
        "double",
        None,
        "deg",
        "pos.eq.ra",
        "obscore:Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C1",
    ),
    (
        "s_dec",
        "double",
        None,
        "deg",
        "pos.eq.dec",
        "obscore:Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C2",
    ),
    ("facility_name", "char", "*", None, "meta.id;instr.tel", "obscore:Provenance.ObsConfig.Facility.name"),
    ("instrument_name", "char", "*", None, "meta.id;instr", "obscore:Provenance.ObsConfig.Instrument.name"),
    ("dataproduct_subtype", "char", "*", None, "meta.code.class", None),
    ("calib_level", "int", None, None, "meta.code;obs.calib", "obscore:ObsDataset.calibLevel"),
    ("dataproduct_type", "char", "*", None, "meta.id", "obscore:ObsDataset.dataProductType"),
    (
        "energy_bandpassname",
        "char",
        "*",
        None,
        "instr.bandpass",
        "obscore:Char.SpectralAxis.Coverage.BoundsName",
    ),
    ("energy_emband", "char", "*", None, "instr.bandpass", None),
    ("obs_id", "char", "*", None, "meta.id", "obscore:DataID.observationID"),
    (
        "s_resolution",
        "double",
        None,
        "arcsec",
        "pos.angResolution",
        "obscore:Char.SpatialAxis.Resolution.refval.value",
    ),
    (
        "em_min",
        "double",
        None,
        "m",
        "em.wl;stat.min",
        "obscore:Char.SpectralAxis.Coverage.Bounds.Limits.LoLimit",
    ),
    (
        "em_max",
        "double",
        None,
        "m",
        "em.wl;stat.max",
        "obscore:Char.SpectralAxis.Coverage.Bounds.Limits.HiLimit",
    ),
    (
        "em_res_power",
        "double",
        None,
        None,
        "spect.resolution",
        "obscore:Char.SpectralAxis.Resolution.ResolPower.refval",
    ),
    ("access_url", "char", "*", None, "meta.ref.url", "obscore:Access.Reference"),
    ("access_format", "char", "*", None, "meta.code.mime", "obscore:Access.Format"),
    ("access_estsize", "long", None, "kbyte", "phys.size;meta.file", "obscore:Access.Size"),
    (
        "t_exptime",
        "double",
        None,
        "s",
        "time.duration;obs.exposure",
        "obscore:Char.TimeAxis.Coverage.Support.Extent",
    ),
    (
        "s_region",
        "char",
        "*",
        None,
        "pos.outline;obs.field",
        "obscore:Char.SpatialAxis.Coverage.Support.Area",
    ),
    ("obs_collection", "char", "*", None, "meta.id", "obscore:DataID.Collection"),
    ("target_name", "char", "*", None, "meta.id;src", "obscore:Target.Name"),
    ("s_xel1", "long", None, None, "meta.number", "obscore:Char.SpatialAxis.numBins1"),
    ("s_xel2", "long", None, None, "meta.number", "obscore:Char.SpatialAxis.numBins2"),
    ("s_pixel_scale", "double", None, "arcsec", "phys.angSize;instr.pixel", None),
    (
        "t_min",
        "double",
        None,
        "d",
        "time.start;obs.exposure",
        "obscore:Char.TimeAxis.Coverage.Bounds.Limits.StartTime",
    ),
    (
        "t_max",
        "double",
        None,
        "d",
        "time.end;obs.exposure",
        "obscore:Char.TimeAxis.Coverage.Bounds.Limits.StopTime",
    ),
    ("t_resolution", "double", None, "s", "time.resolution", "obscore:Char.TimeAxis.Resolution.refval.value"),
    ("t_xel", "long", None, None, "meta.number", "obscore:Char.TimeAxis.numBins"),
    ("obs_publisher_did", "char", "*", None, "meta.ref.uri;meta.curation", "obscore:Curation.PublisherDID"),
    (
        "s_fov",
        "double",
        None,
        "deg",
        "phys.angSize;instr.fov",
        "obscore:Char.SpatialAxis.Coverage.Bounds.Extent.diameter",
    ),
    ("em_xel", "long", None, None, "meta.number", "obscore:Char.SpectralAxis.numBins"),
    (
        "pol_states",
        "char",
        "*",
        None,
        "meta.code;phys.polarization",
        "obscore:Char.PolarizationAxis.stateList",
    ),
    ("pol_xel", "long", None, None, "meta.number", "obscore:Char.PolarizationAxis.numBins"),
    ("o_ucd", "char", "*", None, "meta.ucd", "obscore:Char.ObservableAxis.ucd"),
    ("cloud_access", "char", "*", None, "meta.ref", None),
    ("dist_to_point", "double", None, "deg", "pos.angDistance", None),
)
_INTERVAL_COLUMNS = {
    "FOV": "s_fov",
    "SPATRES": "s_resolution",
    "SPECRP": "em_res_power",
    "EXPTIME": "t_exptime",
    "TIMERES": "t_resolution",
}
_STRING_COLUMNS = {
    "COLLECTION": "obs_collection",
    "FACILITY": "facility_name",
    "INSTRUMENT": "instrument_name",
    "DPTYPE": "dataproduct_type",
    "ID": "obs_publisher_did",
    "FORMAT": "access_format",
}
_POLARIZATION_STATES = {"I", "Q", "U", "V", "RR", "LL", "RL", "LR", "XX", "YY", "XY", "YX", "POLI", "POLA"}


class QueryError(ValueError):
    """A query parameter the service cannot use; the message goes back in ``QUERY_STATUS``."""


# ------------------------------------------------------------------ the images
@dataclass
class ImageRow:
    """One image: its ObsCore values and its footprint.

    Attributes
    ----------
    values : dict
        Column name to value (``None`` for null), every name of :data:`COLUMNS` but
        ``dist_to_point``.
    corners : ndarray, shape (4, 3)
        Unit vectors of the footprint's corners (pixel-grid edges), counter-clockwise on the sky.
    centre : ndarray, shape (3,)
        Unit vector of the image centre.
    path : pathlib.Path
        Local file with the bytes.
    key : str
        Its key in the bucket.
    """

    values: dict[str, Any]
    corners: np.ndarray
    centre: np.ndarray
    path: Path
    key: str


def _band_edges(band: str) -> tuple[float | None, float | None]:
    match = re.search(r"(\d{3})$", band)
    edges = ROMAN_BANDPASS_M.get(match.group(1)) if match else None
    return edges if edges else (None, None)


def _read_headers(path: Path):
    from astropy.io import fits

    # Only the primary and first extension headers are read: gzip is decompressed no further.
    with fits.open(path, lazy_load_hdus=True) as hdus:
        return hdus[0].header.copy(), hdus[1].header.copy()


def _image_row(path: Path, key: str, size: int, survey: str) -> ImageRow:
    from astropy.wcs import WCS, FITSFixedWarning

    primary, sci = _read_headers(path)
    with warnings.catch_warnings():  # e.g. DATE-OBS filled in from MJD-OBS: harmless here
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(sci)
    nx, ny = int(sci["NAXIS1"]), int(sci["NAXIS2"])
    edges_x, edges_y = [-0.5, nx - 0.5, nx - 0.5, -0.5], [-0.5, -0.5, ny - 0.5, ny - 0.5]
    ra, dec = wcs.pixel_to_world_values(np.array(edges_x), np.array(edges_y))
    corners = _unit(np.asarray(ra, float), np.asarray(dec, float))
    c_ra, c_dec = (float(v) for v in wcs.pixel_to_world_values((nx - 1) / 2, (ny - 1) / 2))
    centre = _unit(np.array([c_ra]), np.array([c_dec]))[0]
    if np.dot(np.cross(corners[0], corners[1]), centre) < 0:  # make the outline counter-clockwise
        corners, ra, dec = corners[::-1].copy(), ra[::-1], dec[::-1]
    scale = np.sqrt(np.abs(np.linalg.det(wcs.pixel_scale_matrix))) * 3600
    band = str(sci.get("FILTER", primary.get("FILTER", ""))).strip() or key.split("/")[-3]
    em_min, em_max = _band_edges(band)
    emband: str | None = None
    res_power: float | None = None
    if em_min is not None and em_max is not None:
        emband = "Optical" if (em_min + em_max) / 2 < 1e-6 else "Infrared"
        res_power = (em_min + em_max) / 2 / (em_max - em_min)
    mjd = sci.get("MJD-OBS", primary.get("MJD-OBS"))
    exptime = sci.get("EXPTIME", primary.get("EXPTIME"))
    name = key.rsplit("/", 1)[1][: -len(".fits.gz")]
    collection = f"simulated_{survey}_openuniverse2024"
    facility = str(primary.get("TELESCOP", sci.get("TELESCOP", survey.capitalize()))).strip()
    values = {
        "s_ra": c_ra % 360.0,
        "s_dec": c_dec,
        "facility_name": facility,
        "instrument_name": str(primary.get("INSTRUME", sci.get("INSTRUME", ""))).strip() or None,
        "dataproduct_subtype": "science",
        "calib_level": 2,
        "dataproduct_type": "image",
        "energy_bandpassname": band,
        "energy_emband": emband,
        "obs_id": name,
        "s_resolution": None,
        "em_min": em_min,
        "em_max": em_max,
        "em_res_power": res_power,
        "access_url": f"https://{PUBLIC_HOST}{DATA_PREFIX}{key}",
        "access_format": "application/fits",
        "access_estsize": math.ceil(size / 1000),
        "t_exptime": None if exptime is None else float(exptime),
        "s_region": "POLYGON ICRS "
        + " ".join(f"{r % 360.0:.8f} {d:.8f}" for r, d in zip(ra, dec, strict=True)),
        "obs_collection": collection,
        "target_name": None,
        "s_xel1": nx,
        "s_xel2": ny,
        "s_pixel_scale": float(scale),
        "t_min": None if mjd is None else float(mjd),
        "t_max": None if mjd is None else float(mjd),
        "t_resolution": None,
        "t_xel": 1,
        "obs_publisher_did": f"ivo://irsa.ipac/{collection}?{name}",
        "s_fov": 2 * max(_angle(centre, c) for c in corners),
        "em_xel": 1,
        "pol_states": None,
        "pol_xel": 0,
        "o_ucd": "phot.flux.density",
        "cloud_access": json.dumps({"aws": {"bucket_name": BUCKET, "key": key, "region": "us-east-1"}}),
    }
    return ImageRow(values, corners, centre, path, key)


def openuniverse_images(manifest: Any) -> list[ImageRow]:
    """Return the OpenUniverse images of ``manifest``, described from their own headers.

    Parameters
    ----------
    manifest : roman_helpers.sandbox.data.Manifest
        Its objects under ``openuniverse2024/<survey>/.../images/`` in :data:`BUCKET` become rows;
        files without a celestial WCS in their first extension are left out (with a warning).

    Returns
    -------
    list of ImageRow
        Sorted by ``obs_id``.

    Examples
    --------
    >>> from roman_helpers.sandbox.data import Manifest
    >>> openuniverse_images(Manifest(Path("."), []))
    []
    """
    rows = []
    for entry in manifest.objects:
        match = _IMAGE_KEY.match(entry.key) if entry.bucket == BUCKET else None
        if match is None:
            continue
        try:
            rows.append(_image_row(manifest.file(entry), entry.key, entry.size, match["survey"]))
        except (OSError, KeyError, ValueError, IndexError) as error:
            log.warning("sandbox IRSA: %s left out of the image search: %s", entry.key, error)
    return sorted(rows, key=lambda row: row.values["obs_id"])


# ------------------------------------------------------------------ spherical geometry
# Written here because no installed library tests sky regions against one another
# (astropy-regions and spherical_geometry are not dependencies); all on unit vectors.
def _unit(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


def _angle(u: np.ndarray, v: np.ndarray) -> float:
    """Angle between unit vectors in degrees (atan2 form: exact for tiny and large angles)."""
    return math.degrees(math.atan2(np.linalg.norm(np.cross(u, v)), float(np.dot(u, v))))


def _on_arc(x: np.ndarray, a: np.ndarray, b: np.ndarray, normal: np.ndarray) -> bool:
    return np.dot(np.cross(a, x), normal) >= 0 and np.dot(np.cross(x, b), normal) >= 0


def _arc_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Angular distance (deg) from ``p`` to the shorter great-circle arc ``a``-``b``."""
    normal = np.cross(a, b)
    length = np.linalg.norm(normal)
    if length > 0:
        normal = normal / length
        foot = p - np.dot(p, normal) * normal
        if np.linalg.norm(foot) > 0 and _on_arc(foot / np.linalg.norm(foot), a, b, normal):
            return math.degrees(math.asin(min(1.0, abs(float(np.dot(p, normal))))))
    return min(_angle(p, a), _angle(p, b))


def _arcs_cross(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> bool:
    n1, n2 = np.cross(a, b), np.cross(c, d)
    line = np.cross(n1, n2)
    if np.linalg.norm(line) == 0:
        return False
    line = line / np.linalg.norm(line)
    return any(_on_arc(x, a, b, n1) and _on_arc(x, c, d, n2) for x in (line, -line))


def _in_convex(p: np.ndarray, corners: np.ndarray) -> bool:
    """``p`` inside a counter-clockwise convex outline smaller than a hemisphere."""
    nxt = np.roll(corners, -1, axis=0)
    return bool(np.all(np.einsum("ij,j->i", np.cross(corners, nxt), p) >= 0))


def _in_polygon(p: np.ndarray, vertices: np.ndarray) -> bool:
    """``p`` inside a simple outline (any orientation): the outline winds once around ``p``.

    The outline's bearings as seen from ``p`` turn by a full circle when it encloses ``p``; the
    region counted as inside is the one of the two that does not hold ``p``'s antipode.
    """
    north = np.array([0.0, 0.0, 1.0]) - p[2] * p
    if np.linalg.norm(north) < 1e-12:  # p at a pole: any perpendicular will do
        north = np.array([1.0, 0.0, 0.0])
    north = north / np.linalg.norm(north)
    east = np.cross(north, p)
    bearings = np.arctan2(vertices @ east, vertices @ north)
    turns = np.diff(np.append(bearings, bearings[0]))
    turns = (turns + np.pi) % (2 * np.pi) - np.pi
    return abs(turns.sum()) > np.pi


@dataclass(frozen=True)
class _Circle:
    centre: np.ndarray
    radius: float

    def meets(self, row: ImageRow) -> bool:
        if _in_convex(self.centre, row.corners):
            return True
        return any(
            _arc_distance(self.centre, a, b) <= self.radius
            for a, b in zip(row.corners, np.roll(row.corners, -1, axis=0), strict=True)
        )


@dataclass(frozen=True)
class _Polygon:
    vertices: np.ndarray

    def meets(self, row: ImageRow) -> bool:
        if any(_in_polygon(c, self.vertices) for c in row.corners):
            return True
        if any(_in_convex(v, row.corners) for v in self.vertices):
            return True
        outline = list(zip(self.vertices, np.roll(self.vertices, -1, axis=0), strict=True))
        return any(
            _arcs_cross(a, b, c, d)
            for a, b in zip(row.corners, np.roll(row.corners, -1, axis=0), strict=True)
            for c, d in outline
        )


def _segment_meets_box(
    x0: float, y0: float, x1: float, y1: float, box: tuple[float, float, float, float]
) -> bool:
    """Tell whether the segment (x0, y0)-(x1, y1) touches the box (xlo, xhi, ylo, yhi), edges included.

    The Liang-Barsky clipping test.
    """
    xlo, xhi, ylo, yhi = box
    start, end = 0.0, 1.0
    dx, dy = x1 - x0, y1 - y0
    for p, q in ((-dx, x0 - xlo), (dx, xhi - x0), (-dy, y0 - ylo), (dy, yhi - y0)):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            start = max(start, t)
        else:
            end = min(end, t)
        if start > end:
            return False
    return True


def _planar_inside(x: float, y: float, xs: np.ndarray, ys: np.ndarray) -> bool:
    """Even-odd rule for a closed outline in the plane."""
    xn, yn = np.roll(xs, -1), np.roll(ys, -1)
    crosses = (ys > y) != (yn > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = xs + (y - ys) * (xn - xs) / (yn - ys)
    return bool(np.count_nonzero(crosses & (x < at)) % 2)


@dataclass(frozen=True)
class _Range:
    ra_min: float
    ra_max: float
    dec_min: float
    dec_max: float

    def meets(self, row: ImageRow) -> bool:
        # The footprint's outline, 16 points an edge, in (RA, Dec) unwrapped round its centre: a
        # great-circle edge well under a degree long strays from that polyline by far less than a
        # milliarcsecond, and the box is exact in these coordinates.
        steps = np.linspace(0.0, 1.0, 16, endpoint=False)[:, None]
        outline = np.concatenate(
            [a + steps * (b - a) for a, b in zip(row.corners, np.roll(row.corners, -1, axis=0), strict=True)]
        )
        outline /= np.linalg.norm(outline, axis=1)[:, None]
        centre_ra = row.values["s_ra"]
        ra = np.degrees(np.arctan2(outline[:, 1], outline[:, 0]))
        ra = centre_ra + (ra - centre_ra + 180.0) % 360.0 - 180.0
        dec = np.degrees(np.arcsin(np.clip(outline[:, 2], -1, 1)))
        if _in_convex(np.array([0.0, 0.0, 1.0]), row.corners) and self.dec_max >= dec.max():
            return True  # the footprint holds the north pole and every RA above its outline
        if _in_convex(np.array([0.0, 0.0, -1.0]), row.corners) and self.dec_min <= dec.min():
            return True
        if self.ra_max - self.ra_min >= 360.0:
            boxes = [(-math.inf, math.inf)]
        else:
            lo, hi = self.ra_min, self.ra_max if self.ra_max >= self.ra_min else self.ra_max + 360.0
            boxes = [(lo + shift, hi + shift) for shift in (-360.0, 0.0, 360.0)]
        for lo, hi in boxes:
            box = (lo, hi, self.dec_min, self.dec_max)
            if any(_segment_meets_box(ra[i], dec[i], ra[i - 1], dec[i - 1], box) for i in range(len(ra))):
                return True
            if math.isfinite(lo) and _planar_inside(lo, self.dec_min, ra, dec):
                return True  # the box lies inside the footprint
        return False


# ------------------------------------------------------------------ parameters
def _numbers(text: str, name: str) -> list[float]:
    try:
        values = [float(word) for word in text.split()]
    except ValueError:
        raise QueryError(f"{name}: {text!r} is not a list of numbers") from None
    if any(math.isnan(v) for v in values):
        raise QueryError(f"{name}: NaN is not a value; use -Inf or +Inf for an open end")
    return values


def _interval(text: str, name: str, unit: str) -> tuple[float, float]:
    values = _numbers(text, name)
    if len(values) == 1:
        values = values * 2
    if len(values) != 2:
        raise QueryError(f"{name}: give one value or two (low high, {unit}), not {text!r}")
    if values[0] > values[1]:
        raise QueryError(f"{name}: the low end {values[0]} is above the high end {values[1]}")
    return values[0], values[1]


def _check_ra_dec(ra: float, dec: float, name: str) -> None:
    if not (0.0 <= ra <= 360.0 and -90.0 <= dec <= 90.0):
        raise QueryError(
            f"{name}: position ({ra}, {dec}) is off the sky; RA must be 0-360 and Dec -90-90 degrees"
        )


def _shape(text: str) -> _Circle | _Polygon | _Range:
    words = text.split(None, 1)
    kind = words[0].upper() if words else ""
    numbers = _numbers(words[1] if len(words) > 1 else "", "POS")
    if kind == "CIRCLE":
        if len(numbers) != 3:
            raise QueryError(f"POS: CIRCLE takes three numbers (ra dec radius, degrees), not {text!r}")
        ra, dec, radius = numbers
        _check_ra_dec(ra, dec, "POS")
        if not 0.0 < radius <= 180.0:
            raise QueryError(f"POS: the CIRCLE radius must be above 0 and at most 180 degrees, not {radius}")
        return _Circle(_unit(np.array([ra]), np.array([dec]))[0], radius)
    if kind == "RANGE":
        if len(numbers) != 4:
            raise QueryError(f"POS: RANGE takes four numbers (ra1 ra2 dec1 dec2, degrees), not {text!r}")
        ra1, ra2 = (0.0 if math.isinf(v) and v < 0 else 360.0 if math.isinf(v) else v for v in numbers[:2])
        dec1, dec2 = (max(-90.0, min(90.0, v)) for v in numbers[2:])
        if dec1 > dec2:
            raise QueryError(
                f"POS: RANGE declinations run from low to high, not {numbers[2]} to {numbers[3]}"
            )
        _check_ra_dec(ra1, dec1, "POS")
        _check_ra_dec(ra2, dec2, "POS")
        return _Range(ra1, ra2, dec1, dec2)  # ra1 > ra2 wraps through RA 0
    if kind == "POLYGON":
        if len(numbers) < 6 or len(numbers) % 2:
            raise QueryError(f"POS: POLYGON takes three or more ra dec pairs (degrees), not {text!r}")
        pairs = np.array(numbers).reshape(-1, 2)
        for ra, dec in pairs:
            _check_ra_dec(ra, dec, "POS")
        return _Polygon(_unit(pairs[:, 0], pairs[:, 1]))
    raise QueryError(f"POS: {text!r} is not a CIRCLE, RANGE or POLYGON")


def _meets(value: Any, intervals: list[tuple[float, float]], upper: Any = None) -> bool:
    if value is None:
        return False
    upper = value if upper is None else upper
    return any(lo <= upper and value <= hi for lo, hi in intervals)


@dataclass
class _Query:
    shapes: list
    intervals: dict[str, list[tuple[float, float]]]
    strings: dict[str, set[str]]
    targets: set[str]
    calib: set[int]
    pol: set[str]
    maxrec: int | None

    @classmethod
    def parse(cls, params: dict[str, list[str]]) -> _Query:
        fmt = {v.strip().lower() for v in params.get("RESPONSEFORMAT", [])}
        if fmt - _VOTABLE_FORMATS:
            raise QueryError(
                f"RESPONSEFORMAT: only VOTable is served here, not {sorted(fmt - _VOTABLE_FORMATS)}"
            )
        intervals = {
            "BAND": [_interval(v, "BAND", "metres") for v in params.get("BAND", [])],
            "TIME": [_interval(v, "TIME", "MJD") for v in params.get("TIME", [])],
        }
        for name in _INTERVAL_COLUMNS:
            intervals[name] = [_interval(v, name, "the column's unit") for v in params.get(name, [])]
        calib = set()
        for value in params.get("CALIB", []):
            if value.strip() not in {"0", "1", "2", "3", "4"}:
                raise QueryError(f"CALIB: calibration levels are 0, 1, 2, 3 or 4, not {value!r}")
            calib.add(int(value))
        pol = {v.strip().upper() for v in params.get("POL", [])}
        if pol - _POLARIZATION_STATES:
            raise QueryError(
                f"POL: {sorted(pol - _POLARIZATION_STATES)} not among {sorted(_POLARIZATION_STATES)}"
            )
        maxrec = None
        for value in params.get("MAXREC", [])[-1:]:
            if not value.strip().isdigit():
                raise QueryError(f"MAXREC: a whole number of rows (0 or more), not {value!r}")
            maxrec = int(value)
        return cls(
            shapes=[_shape(v) for v in params.get("POS", [])],
            intervals=intervals,
            strings={name: set(params.get(name, [])) for name in _STRING_COLUMNS},
            targets={v.lower() for v in params.get("TARGET", [])},
            calib=calib,
            pol=pol,
            maxrec=maxrec,
        )

    def select(self, rows: Iterable[ImageRow]) -> list[dict[str, Any]]:
        found = []
        for row in rows:
            values = row.values
            if self.shapes and not any(shape.meets(row) for shape in self.shapes):
                continue
            if any(
                wanted and values[_STRING_COLUMNS[name]] not in wanted
                for name, wanted in self.strings.items()
            ):
                continue
            if self.targets and str(values["target_name"] or "").lower() not in self.targets:
                continue
            if self.calib and values["calib_level"] not in self.calib:
                continue
            if self.pol and not set(str(values["pol_states"] or "").strip("/").split("/")) & self.pol:
                continue
            if self.intervals["BAND"] and not _meets(
                values["em_min"], self.intervals["BAND"], values["em_max"]
            ):
                continue
            if self.intervals["TIME"] and not _meets(
                values["t_min"], self.intervals["TIME"], values["t_max"]
            ):
                continue
            if any(
                self.intervals[name] and not _meets(values[column], self.intervals[name])
                for name, column in _INTERVAL_COLUMNS.items()
            ):
                continue
            circles = [shape.centre for shape in self.shapes if isinstance(shape, _Circle)]
            found.append(
                {**values, "dist_to_point": min((_angle(c, row.centre) for c in circles), default=None)}
            )
        return found


# ------------------------------------------------------------------ documents
def _votable(rows: Sequence[dict[str, Any]] | None, status: str, message: str = "") -> bytes:
    """The answer: ``rows`` in a results table with ``QUERY_STATUS`` ``status``; ``None`` for an error."""
    from astropy.io.votable.tree import Field, Info, Resource, TableElement, VOTableFile

    votable = VOTableFile(version="1.4")
    resource = Resource(type="results")
    votable.resources.append(resource)
    info = Info(name="QUERY_STATUS", value=status)
    info.content = message or None
    resource.infos.append(info)
    if rows is None:  # an error document: the status and its message, no table
        out = io.BytesIO()
        votable.to_xml(out)
        return out.getvalue()
    table = TableElement(votable)
    resource.tables.append(table)
    for name, datatype, arraysize, unit, ucd, utype in COLUMNS:
        table.fields.append(
            Field(
                votable,
                name=name,
                ID=name,
                datatype=datatype,
                arraysize=arraysize,
                unit=unit,
                ucd=ucd,
                utype=utype,
            )
        )
    table.create_arrays(len(rows))
    for index, row in enumerate(rows):
        table.array[index] = tuple(
            ""
            if row[name] is None and datatype == "char"
            else (
                np.nan
                if row[name] is None and datatype == "double"
                else (0 if row[name] is None else row[name])
            )
            for name, datatype, *_ in COLUMNS
        )
        for name, *_ in COLUMNS:
            table.array.mask[index][name] = row[name] is None
    out = io.BytesIO()
    votable.to_xml(out, tabledata_format="tabledata")
    return out.getvalue()


def _capabilities(base: str) -> bytes:
    base = escape(base)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<vosi:capabilities xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0"
    xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <capability standardID="ivo://ivoa.net/std/VOSI#capabilities">
    <interface xsi:type="vs:ParamHTTP"><accessURL use="full">{base}/capabilities</accessURL></interface>
  </capability>
  <capability standardID="ivo://ivoa.net/std/VOSI#availability">
    <interface xsi:type="vs:ParamHTTP"><accessURL use="full">{base}/availability</accessURL></interface>
  </capability>
  <capability standardID="{SIA2_STANDARD_ID}">
    <interface xsi:type="vs:ParamHTTP" role="std"
        version="2.0"><accessURL use="base">{base}</accessURL></interface>
  </capability>
</vosi:capabilities>
""".encode()


_AVAILABILITY = b"""<?xml version="1.0" encoding="UTF-8"?>
<vosi:availability xmlns:vosi="http://www.ivoa.net/xml/VOSIAvailability/v1.0">
  <vosi:available>true</vosi:available>
  <vosi:note>roman-helpers sandbox: IRSA image search on local files</vosi:note>
</vosi:availability>
"""

# What Irsa.list_collections() sends (astroquery 0.4.11), whitespace and case folded.
_LIST_COLLECTIONS = {
    "select distinct collection from caom.observation order by collection": None,
    "select distinct o.collection from caom.observation o join caom.plane p on o.obsid = p.obsid where "
    "(p.dataproducttype = 'image' or p.dataproducttype = 'cube') order by collection": {"image", "cube"},
    "select distinct o.collection from caom.observation o join caom.plane p on o.obsid = p.obsid where "
    "(p.dataproducttype = 'spectrum' or p.dataproducttype = 'cube') order by collection": {
        "spectrum",
        "cube",
    },
}


def _collections_votable(names: list[str]) -> bytes:
    from astropy.io.votable.tree import Field, Info, Resource, TableElement, VOTableFile

    votable = VOTableFile(version="1.4")
    resource = Resource(type="results")
    votable.resources.append(resource)
    resource.infos.append(Info(name="QUERY_STATUS", value="OK"))
    table = TableElement(votable)
    resource.tables.append(table)
    table.fields.append(Field(votable, name="collection", datatype="char", arraysize="*", ucd="meta.id"))
    table.create_arrays(len(names))
    for index, name in enumerate(names):
        table.array[index] = (name,)
    out = io.BytesIO()
    votable.to_xml(out, tabledata_format="tabledata")
    return out.getvalue()


# ------------------------------------------------------------------ the application
class IrsaApp:
    """WSGI application answering IRSA's image search from the sandbox's OpenUniverse files.

    Parameters
    ----------
    manifest : Manifest, optional
        The sandbox's objects; its OpenUniverse images become the rows (see
        :func:`openuniverse_images`). Without one the service knows no images.

    Attributes
    ----------
    rows : list of ImageRow
    requests : int
        Requests answered so far.
    """

    def __init__(self, manifest: Any = None) -> None:
        self.rows = openuniverse_images(manifest) if manifest is not None else []
        self._files = {row.key: row.path for row in self.rows}
        self.requests = 0
        self._lock = threading.Lock()
        self.url_map = Map(
            [
                Rule("/simulated/SIA", endpoint="query", defaults={"service": "simulated"}),
                Rule("/simulated/SIA/", endpoint="query", defaults={"service": "simulated"}),
                Rule(
                    "/simulated/SIA/capabilities", endpoint="capabilities", defaults={"service": "simulated"}
                ),
                Rule(
                    "/simulated/SIA/availability", endpoint="availability", defaults={"service": "simulated"}
                ),
                Rule("/SIA", endpoint="query", defaults={"service": "observed"}),
                Rule("/SIA/", endpoint="query", defaults={"service": "observed"}),
                Rule("/SIA/capabilities", endpoint="capabilities", defaults={"service": "observed"}),
                Rule("/SIA/availability", endpoint="availability", defaults={"service": "observed"}),
                Rule("/simulated/TAP/sync", endpoint="tap", defaults={"service": "simulated"}),
                Rule("/TAP/sync", endpoint="tap", defaults={"service": "observed"}),
                Rule(f"{DATA_PREFIX}<path:key>", endpoint="data", defaults={"service": "simulated"}),
            ],
            strict_slashes=False,
        )

    def __call__(self, environ, start_response):
        """Answer one WSGI request: route it to its ``on_<endpoint>`` method."""
        with self._lock:
            self.requests += 1
        request = Request(environ)
        try:
            endpoint, arguments = self.url_map.bind_to_environ(environ).match()
            response = getattr(self, f"on_{endpoint}")(request, **arguments)
        except HTTPException as error:
            response = error.get_response(environ)
        return response(environ, start_response)

    def _rows(self, service: str) -> list[ImageRow]:
        return self.rows if service == "simulated" else []

    # --------------------------------------------------------------- endpoints
    def on_capabilities(self, request: Request, service: str) -> Response:
        """VOSI capabilities: the SIA v2 query at this base URL, as the public host when proxied."""
        host = request.host
        scheme = "https" if host.split(":")[0].lower() == PUBLIC_HOST else request.scheme
        base = f"{scheme}://{host}{request.path.rsplit('/', 1)[0]}"
        return Response(_capabilities(base), mimetype="text/xml")

    def on_availability(self, request: Request, service: str) -> Response:
        """VOSI availability: always available."""
        return Response(_AVAILABILITY, mimetype="text/xml")

    def on_query(self, request: Request, service: str) -> Response:
        """The SIA v2 query: a VOTable of the matching images, or HTTP 400 with the parameter's error."""
        params: dict[str, list[str]] = {}
        for name, values in request.values.lists():
            params.setdefault(name.upper(), []).extend(values)
        try:
            query = _Query.parse(params)
        except QueryError as error:
            return Response(
                _votable(None, "ERROR", str(error)), status=400, mimetype="application/x-votable+xml"
            )
        rows = query.select(self._rows(service))
        status = "OK"
        if query.maxrec is not None and len(rows) > query.maxrec:
            rows, status = rows[: query.maxrec], "OVERFLOW"
        return Response(_votable(rows, status), mimetype="application/x-votable+xml")

    def on_tap(self, request: Request, service: str) -> Response:
        """TAP: the collection listing ``Irsa.list_collections`` asks for, an error for any other ADQL."""
        text = " ".join(request.values.get("QUERY", request.values.get("query", "")).split()).lower()
        if text not in _LIST_COLLECTIONS:
            message = (
                "The offline IRSA answers only the collection listing (Irsa.list_collections); "
                "run other ADQL queries against the real IRSA TAP service."
            )
            return Response(
                _votable(None, "ERROR", message), status=400, mimetype="application/x-votable+xml"
            )
        kinds = _LIST_COLLECTIONS[text]
        names = sorted(
            {
                row.values["obs_collection"]
                for row in self._rows(service)
                if kinds is None or row.values["dataproduct_type"] in kinds
            }
        )
        return Response(_collections_votable(names), mimetype="application/x-votable+xml")

    def on_data(self, request: Request, service: str, key: str) -> Response:
        """The bytes of image ``key`` (ranges and conditional requests honoured), or 404."""
        from werkzeug.utils import send_file

        path = self._files.get(key)
        if path is None:
            raise NotFound(f"{key!r} is not an image the sandbox's IRSA holds")
        return send_file(
            path, request.environ, mimetype="application/gzip", conditional=True, download_name=Path(key).name
        )


class IrsaServer(BackgroundService):
    """Serve :class:`IrsaApp` with werkzeug on 127.0.0.1 in a background thread.

    Parameters
    ----------
    manifest : Manifest, optional
        Passed to :class:`IrsaApp`.
    host, port : str, int
        Address to bind; port 0 picks a free one.
    faults : str or list, optional
        Fault rules for :mod:`roman_helpers.sandbox.services.faults`, wrapped outermost.
    """

    def __init__(
        self, manifest: Any = None, host: str = "127.0.0.1", port: int = 0, *, faults: Any = None
    ) -> None:
        from roman_helpers.sandbox.services.s3 import wrap_faults

        self.app = IrsaApp(manifest)
        self._wsgi = wrap_faults(self.app, faults)
        self.host, self.port = host, port
        self._server = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> IrsaServer:
        """Bind and serve in a daemon thread."""
        from roman_helpers.sandbox.services._service import serve_wsgi

        self._server = serve_wsgi(self._wsgi, self.host, self.port, "IRSA")
        self.port = self._server.server_port
        return self
