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
    answer with no rows (an unknown collection, a position outside what the sandbox mirrors)
    says in its ``QUERY_STATUS`` message that this is the offline sandbox, what it holds, and
    names the book's sandbox page (pyvo's ``results.status``). Unknown parameters are ignored.
``/SIA``, ``/SIA/capabilities`` ...
    IRSA's observed-data image search (astroquery's default ``Irsa.sia_url``): the same protocol,
    but the simulated collections are not in it, so every query there is empty, as on IRSA.
``POST /simulated/TAP/sync`` (and ``/TAP/sync``)
    Only the ADQL that ``Irsa.list_collections()`` sends; any other query answers an error.
``GET|HEAD /data/theory/<key>``
    The bytes of an object of the ``nasa-irsa-simulations`` bucket (an image's ``access_url``),
    with ranges, from the sandbox's archive.

Any other path answers 404 with the same explanation. The rows are the archive layouts' image
records (:func:`roman_helpers.sandbox.archive.layouts.image_records`): one per image, computed
from the survey designs, never by reading the files; the footprints are their ``s_region``
outlines and a position matches an image whose outline it meets (on the sphere,
:mod:`~roman_helpers.sandbox.services.regions`).
"""

from __future__ import annotations

import functools
import io
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from roman_helpers.sandbox.archive.registry import SEE_BOOK, Archive
from roman_helpers.sandbox.services.regions import Circle, Footprints, Polygon, Range, angle, unit
from roman_helpers.sandbox.services.serving import Environ, StartResponse, WsgiService

__all__ = [
    "BUCKET",
    "COLUMNS",
    "DATA_PREFIX",
    "PUBLIC_HOST",
    "SIA2_STANDARD_ID",
    "ImageIndex",
    "IrsaApp",
    "IrsaServer",
]

BUCKET = "nasa-irsa-simulations"
PUBLIC_HOST = "irsa.ipac.caltech.edu"
SIA2_STANDARD_ID = "ivo://ivoa.net/std/SIA#query-2.0"
#: Where IRSA serves the OpenUniverse files over HTTPS (``access_url`` = this + the S3 key).
DATA_PREFIX = "/data/theory/"
_VOTABLE_FORMATS = {
    "",
    "votable",
    "application/x-votable+xml",
    "text/xml",
    "application/xml",
    "application/x-votable+xml;serialization=tabledata",
}
_STREAM_CHUNK = 1 << 20

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
_NUMERIC = {"double", "int", "long"}


class ImageIndex:
    """Image records ready to be searched: footprints as unit vectors and every column as an array.

    Parameters
    ----------
    records : astropy.table.Table
        One row per image with ObsCore columns (those of :data:`COLUMNS` it has; the others are
        null), at least ``s_region``, ``s_ra`` and ``s_dec``. Rows are kept sorted by ``obs_id``.

    Examples
    --------
    >>> from astropy.table import Table
    >>> index = ImageIndex(
    ...     Table(
    ...         {
    ...             "obs_id": ["b", "a"],
    ...             "s_ra": [10.0, 20.0],
    ...             "s_dec": [0.0, 0.0],
    ...             "s_region": [
    ...                 "POLYGON 9.9 -0.1 10.1 -0.1 10.1 0.1 9.9 0.1",
    ...                 "POLYGON 19.9 -0.1 20.1 -0.1 20.1 0.1 19.9 0.1",
    ...             ],
    ...             "obs_collection": ["c", "c"],
    ...         }
    ...     )
    ... )
    >>> len(index), index.collections()
    (2, ['c'])
    >>> [row["obs_id"] for row in index.rows(index.select(_Query.parse({"POS": ["CIRCLE 20 0 0.01"]})))]
    ['a']
    """

    def __init__(self, records: Any) -> None:
        names = set(records.colnames) if len(records.colnames) else set()
        count = len(records) if names else 0
        order = (
            np.argsort(np.asarray(records["obs_id"], str), kind="stable")
            if "obs_id" in names
            else slice(None)
        )
        self.count = count
        self.columns: dict[str, np.ndarray] = {}
        for name, datatype, *_ in COLUMNS:
            if name == "dist_to_point":
                continue
            if name not in names:
                self.columns[name] = np.full(count, np.nan) if datatype in _NUMERIC else np.full(count, None)
                continue
            column = records[name][order] if count else records[name]
            mask = np.broadcast_to(np.ma.getmaskarray(np.ma.asarray(column)), (count,))
            if datatype in _NUMERIC:
                values = np.asarray(np.ma.filled(np.ma.asarray(column, float), np.nan), float)
            else:
                values = np.asarray(np.ma.getdata(column)).astype(str).astype(object)
                values[mask] = None
            self.columns[name] = values
        centres = unit(self.columns["s_ra"], self.columns["s_dec"]) if count else np.zeros((0, 3))
        regions = self.columns["s_region"]
        self.footprints = Footprints.from_regions([str(r) for r in regions], centres)

    def __len__(self) -> int:
        return self.count

    def collections(self, kinds: set[str] | None = None) -> list[str]:
        """The collections the records hold (of these data product types only, when given)."""
        keep = np.ones(self.count, bool)
        if kinds is not None:
            keep = np.isin(self.columns["dataproduct_type"], list(kinds))
        return sorted({str(c) for c in self.columns["obs_collection"][keep] if c is not None})

    def select(self, query: _Query) -> tuple[np.ndarray, np.ndarray | None]:
        """The indices of the rows ``query`` matches (in order) and their ``dist_to_point`` (or None)."""
        keep = np.ones(self.count, bool)
        for name, wanted in query.strings.items():
            if wanted:
                keep &= np.isin(self.columns[_STRING_COLUMNS[name]], list(wanted))
        if query.targets:
            names = np.array([str(v or "").lower() for v in self.columns["target_name"]], object)
            keep &= np.isin(names, list(query.targets))
        if query.calib:
            keep &= np.isin(self.columns["calib_level"], list(query.calib))
        if query.intervals["BAND"]:
            keep &= _meets(self.columns["em_min"], query.intervals["BAND"], self.columns["em_max"])
        if query.intervals["TIME"]:
            keep &= _meets(self.columns["t_min"], query.intervals["TIME"], self.columns["t_max"])
        for name, column in _INTERVAL_COLUMNS.items():
            if query.intervals[name]:
                keep &= _meets(self.columns[column], query.intervals[name])
        if query.pol:
            states = [set(str(v or "").strip("/").split("/")) for v in self.columns["pol_states"]]
            keep &= np.array([bool(s & query.pol) for s in states], bool)
        if query.shapes:
            chosen = np.flatnonzero(keep)
            subset = Footprints(
                self.footprints.corners[chosen],
                self.footprints.centres[chosen],
                self.footprints.radii[chosen],
            )
            inside = np.zeros(len(chosen), bool)
            for shape in query.shapes:
                inside |= shape.meets(subset)
            keep[:] = False
            keep[chosen[inside]] = True
        found = np.flatnonzero(keep)
        circles = [shape.centre for shape in query.shapes if isinstance(shape, Circle)]
        if not circles:
            return found, None
        centres = self.footprints.centres[found]
        distance = np.min([angle(centres, c[None, :]) for c in circles], axis=0)
        return found, distance

    def rows(self, found: tuple[np.ndarray, np.ndarray | None]) -> list[dict[str, Any]]:
        """Row dictionaries (every name of :data:`COLUMNS`; None for null) of selected rows."""
        indices, distance = found
        out: list[dict[str, Any]] = [{} for _ in indices]
        for name, datatype, *_ in COLUMNS:
            if name == "dist_to_point":
                values: list[Any] = [None] * len(indices) if distance is None else distance.tolist()
            else:
                values = self.columns[name][indices].tolist()
                if datatype in _NUMERIC:
                    values = [
                        None if v is None or math.isnan(v) else (v if datatype == "double" else int(v))
                        for v in values
                    ]
            for row, value in zip(out, values, strict=True):
                row[name] = value
        return out


def _meets(
    low: np.ndarray, intervals: list[tuple[float, float]], high: np.ndarray | None = None
) -> np.ndarray:
    """Rows whose [low, high] (or value) meets any interval; null values meet none."""
    high = low if high is None else high
    found = np.zeros(len(low), bool)
    with np.errstate(invalid="ignore"):
        for lo, hi in intervals:
            found |= (lo <= high) & (low <= hi)
    return found


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


def _shape(text: str) -> Circle | Polygon | Range:
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
        return Circle.parse(ra, dec, radius)
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
        return Range(ra1, ra2, dec1, dec2)  # ra1 > ra2 wraps through RA 0
    if kind == "POLYGON":
        if len(numbers) < 6 or len(numbers) % 2:
            raise QueryError(f"POS: POLYGON takes three or more ra dec pairs (degrees), not {text!r}")
        pairs = np.array(numbers).reshape(-1, 2)
        for ra, dec in pairs:
            _check_ra_dec(ra, dec, "POS")
        return Polygon.parse(pairs)
    raise QueryError(f"POS: {text!r} is not a CIRCLE, RANGE or POLYGON")


@dataclass
class _Query:
    shapes: list[Circle | Polygon | Range]
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
    for name, datatype, arraysize, unit_name, ucd, utype in COLUMNS:
        table.fields.append(
            Field(
                votable,
                name=name,
                ID=name,
                datatype=datatype,
                arraysize=arraysize,
                unit=unit_name,
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
    """WSGI application answering IRSA's image search from the archive layouts' image records.

    Parameters
    ----------
    records : astropy.table.Table or callable, optional
        The image records, or a function returning them, called on the first search (default:
        :func:`roman_helpers.sandbox.archive.layouts.image_records`).
    archive : Archive, optional
        Serves the ``/data/theory/`` bytes (objects of :data:`BUCKET`); without one, none.

    Attributes
    ----------
    requests : int
        Requests answered so far.
    """

    def __init__(self, records: Any = None, archive: Archive | None = None) -> None:
        if records is None:
            from roman_helpers.sandbox.archive import layouts

            records = layouts.image_records
        self._records = records
        self.archive = archive
        self.requests = 0
        self._lock = threading.Lock()
        self._index_lock = threading.Lock()
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
                Rule("/", endpoint="unserved", defaults={"service": "other"}),
                Rule("/<path:rest>", endpoint="unserved", defaults={"service": "other"}),
            ],
            strict_slashes=False,
        )

    @functools.cached_property
    def index(self) -> ImageIndex:
        """The searchable records (built on first use)."""
        with self._index_lock:
            records = self._records() if callable(self._records) else self._records
            return ImageIndex(records)

    def warm(self) -> threading.Thread:
        """Build :attr:`index` in a background thread now, so the first search need not wait for it."""
        thread = threading.Thread(target=lambda: self.index, name="sandbox-irsa-index", daemon=True)
        thread.start()
        return thread

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Answer one WSGI request: route it to its ``on_<endpoint>`` method."""
        with self._lock:
            self.requests += 1
        request = Request(environ)
        try:
            endpoint, arguments = self.url_map.bind_to_environ(environ).match()
            given = {name: value for name, value in arguments.items() if name != "rest"}
            response = getattr(self, f"on_{endpoint}")(request, **given)
        except HTTPException as error:
            response = error.get_response(environ)
        return response(environ, start_response)

    def _holds(self) -> str:
        names = self.index.collections()
        held = " and ".join(names) if names else "no collection"
        return f"its image search holds {held} ({len(self.index)} images)"

    def _empty_note(self, service: str, query: _Query) -> str:
        if service != "simulated":
            return (
                "The roman-helpers offline sandbox mirrors only IRSA's simulated-data image search "
                f"(https://{PUBLIC_HOST}/simulated/SIA): {self._holds()}. {SEE_BOOK}"
            )
        unknown = sorted(query.strings["COLLECTION"] - set(self.index.collections()))
        if unknown:
            return (
                f"The roman-helpers offline sandbox does not mirror the collection {', '.join(unknown)}; "
                f"{self._holds()}. {SEE_BOOK}"
            )
        return f"Nothing in the roman-helpers offline sandbox matches; {self._holds()}. {SEE_BOOK}"

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
        nothing: tuple[np.ndarray, np.ndarray | None] = (np.zeros(0, np.int64), None)
        found = self.index.select(query) if service == "simulated" else nothing
        status, message = "OK", ""
        if query.maxrec is not None and len(found[0]) > query.maxrec:
            cut = found[1][: query.maxrec] if found[1] is not None else None
            found, status = (found[0][: query.maxrec], cut), "OVERFLOW"
        rows = self.index.rows(found) if len(found[0]) else []
        if not rows:
            message = self._empty_note(service, query)
        return Response(_votable(rows, status, message), mimetype="application/x-votable+xml")

    def on_tap(self, request: Request, service: str) -> Response:
        """TAP: the collection listing ``Irsa.list_collections`` asks for, an error for any other ADQL."""
        text = " ".join(request.values.get("QUERY", request.values.get("query", "")).split()).lower()
        if text not in _LIST_COLLECTIONS:
            message = (
                "The offline IRSA answers only the collection listing (Irsa.list_collections); "
                f"run other ADQL queries against the real IRSA TAP service. {SEE_BOOK}"
            )
            return Response(
                _votable(None, "ERROR", message), status=400, mimetype="application/x-votable+xml"
            )
        kinds = _LIST_COLLECTIONS[text]
        names = self.index.collections(kinds) if service == "simulated" else []
        return Response(_collections_votable(names), mimetype="application/x-votable+xml")

    def on_data(self, request: Request, service: str, key: str) -> Response:
        """The bytes of object ``key`` of :data:`BUCKET` (one byte range honoured), or 404."""
        item = self.archive.get(BUCKET, key) if self.archive is not None else None
        if item is None:
            reason = self.archive.explain_missing(BUCKET, key) if self.archive is not None else SEE_BOOK
            raise NotFound(reason)
        size = item.size
        start, stop, status = 0, size, 200
        wanted = request.range.range_for_length(size) if request.range is not None else None
        if wanted is not None:
            (start, stop), status = wanted, 206
        body: Iterable[bytes] = [] if request.method == "HEAD" else _stream(item.read, start, stop)
        response = Response(body, status=status, mimetype="application/gzip", direct_passthrough=True)
        response.headers["Content-Length"] = str(stop - start)
        response.headers["Accept-Ranges"] = "bytes"
        response.headers["ETag"] = item.etag
        if status == 206:
            response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
        return response

    def on_unserved(self, request: Request, service: str) -> Response:
        """404 for any other path, saying what the sandbox's IRSA serves."""
        reason = (
            f"{request.path} is not served by the roman-helpers offline sandbox, which mirrors IRSA's "
            f"simulated-data image search (/simulated/SIA), its collection listing and the images. {SEE_BOOK}"
        )
        return Response(reason + "\n", status=f"404 {reason}", mimetype="text/plain")


def _stream(read: Callable[[int, int], bytes], start: int, stop: int) -> Iterable[bytes]:
    for begin in range(start, stop, _STREAM_CHUNK):
        yield read(begin, min(stop, begin + _STREAM_CHUNK))


class IrsaServer(WsgiService):
    """Serve :class:`IrsaApp` with werkzeug on 127.0.0.1 in a background thread.

    Parameters
    ----------
    records : astropy.table.Table or callable, optional
        Passed to :class:`IrsaApp`.
    archive : Archive, optional
        Passed to :class:`IrsaApp`.
    host, port : str, int
        Address to bind; port 0 picks a free one.
    faults : str or list, optional
        Fault rules for :mod:`roman_helpers.sandbox.services.faults`, wrapped outermost.
    """

    name = "IRSA"

    def __init__(
        self,
        records: Any = None,
        archive: Archive | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        faults: Any = None,
    ) -> None:
        from roman_helpers.sandbox.services.s3 import wrap_faults

        self.app = IrsaApp(records, archive)
        self._wsgi = wrap_faults(self.app, faults)
        self.host, self.port = host, port
