"""The sandbox's MAST Missions search for Roman (and HST), as ``MastMissions(mission="roman")`` asks it.

Routes (paths as on ``https://mast.stsci.edu``; :class:`~roman_helpers.sandbox.services.mast.MastApp`
hands them here):

``GET /search/util/api/v0.1/column_list?mission=roman``
    The searchable columns (``column_name``, ``qual_type``, ``description`` ... as MAST lists
    them; recorded: astroquery's ``mission_columns.json``). astroquery checks every criterion
    against this list before it sends a search.
``POST /search/roman/api/v0.1/search``
    JSON: ``target`` (a list of ``"ra dec"``), ``radius`` and ``radius_units``, ``conditions``
    (a list of ``{column: value}``), ``select_cols``, ``sort_by``, ``sort_desc``, ``limit``,
    ``offset``. The answer has MAST's keys: ``info`` (column names and database types),
    ``results`` (one dict per dataset), ``totalResults``, ``search_params``, ``messages``
    (recorded: ``mission_results.json``).
``POST /search/roman/api/v0.1/post_list_products``
    JSON ``dataset_ids``; the answer is ``{"products": [...]}`` with the fields of MAST's product
    rows (recorded: ``mission_products.json``).
``GET|HEAD /search/roman/api/v0.1/retrieve_product?product_name=<dataset>/<file>``
    With a MAST token: a redirect to a presigned URL of the product's object in the sandbox's
    S3 (``stpubdata``), which checks the signature and the expiry. Without one (or with one
    that is not a token): ``401``, which astroquery reports as "You are not authorized to
    download ...".
``GET /whoami``
    The session information astroquery's ``login`` reads: ``anon: false`` for a token.

The datasets
    One dataset per exposure and detector of the Core Community Survey simulations r00340
    (GBTDS) and r00342 (HLWAS), read from the manifests the sandbox's S3 serves files for
    (:func:`~roman_helpers.sandbox.sky.surveys.ccs.manifest`): 156,078 rows; and the 72 of
    the roman_notebooks 2026.2 tutorial data (program 32,
    :func:`~roman_helpers.sandbox.sky.surveys.roman.tutorial_exposures`). ``fileSetName`` is
    the file-name stem the products share (``r0034001001001001001_0001_wfi01_f062``): MAST's
    dataset key for Roman (astroquery's ``dataset_kwds``). The products of a dataset are what
    the layout holds beside it (:mod:`~roman_helpers.sandbox.archive.layouts.roman`):
    ``l1/<stem>_uncal.asdf``, ``l2/<stem>_cal.asdf``, ``l2/<stem>_preview.png`` and
    ``l2/<stem>_thumb.png`` for the simulations, ``<stem>_uncal.asdf`` and ``<stem>_cal.asdf``
    side by side for the tutorial data; sizes are the S3 objects' sizes.

Where each fact comes from
    * The routes, the request's JSON, the answer's keys, the product fields, the column-list
      fields and the 401 that becomes "not authorized": astroquery 0.4.11's ``mast/missions.py``,
      ``services.py`` and ``utils.py`` and its recorded answers under ``mast/tests/data``.
    * The token: astroquery's ``auth.py`` puts it in the cookie ``mast_token`` and asks
      ``/whoami``, reading ``anon`` (``True`` makes ``login`` fail with "MAST API token
      invalid!"); MAST also takes ``Authorization: token <token>`` (its curl scripts).
    * Criteria syntax (a list or commas for OR, ``!`` to negate, ``<``, ``>``, ``<=``, ``>=``
      and ``a..b`` on numbers and dates, ``*`` as a wildcard): astroquery's MastMissions
      documentation (mast_missions.rst, 2026). ``ang_sep`` is in arcminutes and
      ``search_pos`` is the position asked, as there.
    * Column names: the leaf names of the Roman Level 2 metadata (roman_datamodels):
      ``meta.observation`` (``program``, ``execution_plan``, ``pass``, ``segment``,
      ``observation``, ``visit``, ``exposure``, ``visit_id``, ``observation_id``),
      ``meta.instrument`` (``detector``, ``optical_element``), ``meta.exposure`` (``start_time``,
      ``end_time``, ``exposure_time``, ``ma_table_id``; ``type`` as ``exposure_type``),
      ``meta.pointing`` (``target_ra``, ``target_dec``) and ``meta.wcsinfo`` (``ra_ref``,
      ``dec_ref``, ``roll_ref``, ``s_region``). MAST's Roman search has ``program`` and
      ``pass`` (astroquery's remote tests query ``program``; its newer releases accept
      ``pass_id`` for ``pass``).

The sandbox's own choices
    * A position matches a dataset when the search circle and the detector's pixels share
      area (the detector's four corners on the sky, :func:`~roman_helpers.sandbox.sky.wfi.overlaps_disc`;
      the same outline as the file's ``s_region``); with radius 0, exactly the detectors
      whose pixels hold the position. MAST's searches measure from one recorded position per
      dataset; for a Roman detector 7.5 arcmin across, a circle about its centre misses
      targets in its corners and takes in neighbours whose pixels do not reach the target, so
      the sandbox answers the question a user asks: which files hold this position.
      ``ang_sep`` is measured from the detector's reference position (``ra_ref``, ``dec_ref``).
      Searched vectorised over the distinct pointings (4,955), well under a second.
    * The default columns (``select_cols`` not given), the product ``category`` values
      (``UNCALIBRATED``, ``CALIBRATED``, ``PREVIEW``, ``THUMBNAIL``), ``access``
      ``EXCLUSIVE_ACCESS`` (Roman data before public release), and the token rule: the sandbox
      has no accounts, so any token of MAST's form (32 letters and digits) is accepted. A
      token is never logged, printed or sent back.
    * HST (``MastMissions()``'s default mission) is served from the sandbox's HST
      associations (:class:`HstDatasets`): MAST's HST column names (astroquery's recorded
      ``mission_columns.json`` and ``mission_results.json``), a position measured from the
      association's recorded position as MAST's HST search does, public data (no token), and
      downloads redirected to MAST's own ``Download/file``. Other missions answer 404 naming
      the book's sandbox page (astroquery then fails to get their column list).
"""

from __future__ import annotations

import functools
import json
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import numpy as np
from werkzeug.wrappers import Request, Response

from roman_helpers.sandbox.archive.registry import SEE_BOOK, Archive

__all__ = [
    "COLUMNS",
    "MISSION",
    "MISSIONS",
    "Datasets",
    "HstDatasets",
    "MissionsApp",
    "column_list",
    "is_token",
]

MISSION = "roman"
BUCKET = "stpubdata"
#: Seconds a presigned download URL stays valid (MAST's redirects last an hour).
PRESIGN_SECONDS = 3600
_EXCLUSIVE = (
    "Roman data are exclusive access before their public release: authenticate with a MAST token "
    "to download them."
)
_TOKEN = re.compile(r"^[A-Za-z0-9]{32}$")
_UNITS = {"arcseconds": 1 / 3600, "arcsec": 1 / 3600, "arcminutes": 1 / 60, "arcmin": 1 / 60, "degrees": 1.0}
_UNITS["deg"] = 1.0
#: Presigns ``(bucket, key, expires)`` into a URL the sandbox's S3 accepts.
Presigner = Callable[..., str]


@dataclass(frozen=True)
class Column:
    """One searchable column: its name, MAST's types, where the value comes from."""

    name: str
    kind: str  # "string", "integer", "float", "datetime"
    label: str
    description: str
    default: bool = False


_DB_TYPE = {"string": "VARCHAR", "integer": "INTEGER", "float": "FLOAT", "datetime": "DATETIME"}
_DATATYPE = {"string": "char", "integer": "long", "float": "float", "datetime": "char"}

#: The columns, in the order MAST would list them.
COLUMNS: tuple[Column, ...] = (
    Column("fileSetName", "string", "Dataset", "File-name stem shared by a detector's files of one "
           "exposure (e.g. r0034001002001001025_0001_wfi10_f146)", True),
    Column("program", "integer", "Program", "Program number (meta.observation.program)", True),
    Column("execution_plan", "integer", "Plan", "Execution plan (meta.observation.execution_plan)"),
    Column("pass", "integer", "Pass", "Pass of the pass plan (meta.observation.pass)", True),
    Column("segment", "integer", "Segment", "Segment of the pass (meta.observation.segment)"),
    Column("observation", "integer", "Observation", "Observation (meta.observation.observation)"),
    Column("visit", "integer", "Visit", "Visit (meta.observation.visit)", True),
    Column("exposure", "integer", "Exposure", "Exposure in the visit (meta.observation.exposure)", True),
    Column("visit_id", "string", "Visit ID", "19-digit visit identifier (meta.observation.visit_id)"),
    Column("observation_id", "string", "Observation ID", "Visit identifier and exposure "
           "(meta.observation.observation_id)"),
    Column("detector", "string", "Detector", "WFI detector, WFI01 to WFI18 (meta.instrument.detector)", True),
    Column("optical_element", "string", "Optical Element", "Filter (meta.instrument.optical_element), "
           "e.g. F146", True),
    Column("exposure_type", "string", "Exposure Type", "Exposure type (meta.exposure.type)"),
    Column("start_time", "datetime", "Start Time", "Exposure start, UTC (meta.exposure.start_time)", True),
    Column("end_time", "datetime", "End Time", "Exposure end, UTC (meta.exposure.end_time)"),
    Column("exposure_time", "float", "Exposure Time", "Exposure time in seconds "
           "(meta.exposure.exposure_time)", True),
    Column("ma_table_id", "string", "MA Table", "Multi-accumulation table (meta.exposure.ma_table_id)"),
    Column("target_ra", "float", "Pointing RA", "Right ascension of the WFI centre, degrees "
           "(meta.pointing.target_ra)"),
    Column("target_dec", "float", "Pointing Dec", "Declination of the WFI centre, degrees "
           "(meta.pointing.target_dec)"),
    Column("ra_ref", "float", "RA", "Right ascension of the detector's reference pixel, degrees "
           "(meta.wcsinfo.ra_ref)", True),
    Column("dec_ref", "float", "Dec", "Declination of the detector's reference pixel, degrees "
           "(meta.wcsinfo.dec_ref)", True),
    Column("roll_ref", "float", "Position Angle", "Position angle of the focal plane, degrees "
           "(meta.wcsinfo.roll_ref)"),
    Column("s_region", "string", "Footprint", "The detector's outline on the sky "
           "(meta.wcsinfo.s_region)"),
)  # fmt: skip
_POSITIONAL = (
    Column("search_pos", "string", "Search Position", "Search position (RA and Dec)"),
    Column("ang_sep", "float", "Ang Sep (')", "Angular separation from the detector's reference "
           "position, arcminutes"),
)  # fmt: skip
_PRODUCTS = (  # suffix, level folder, category, type
    ("uncal.asdf", "l1", "UNCALIBRATED", "science"),
    ("cal.asdf", "l2", "CALIBRATED", "science"),
    ("preview.png", "l2", "PREVIEW", "preview"),
    ("thumb.png", "l2", "THUMBNAIL", "preview"),
)


def is_token(value: str | None) -> bool:
    """Whether ``value`` has the form of a MAST token (the sandbox accepts any such token).

    Examples
    --------
    >>> is_token("0123456789abcdef0123456789ABCDEF"), is_token("sandbox"), is_token(None)
    (True, False, False)
    """
    return bool(value) and _TOKEN.match(str(value)) is not None


class BadQuery(ValueError):
    """A search MAST would refuse with 400 (astroquery raises ``InvalidQueryError``)."""


class Datasets:
    """The Roman datasets as NumPy columns, with the pointings the cone search works on.

    Built once from the CCS manifests and the tutorial data (seconds). ``rows(indices)`` makes
    result rows. :class:`HstDatasets` answers the same questions for HST.
    """

    columns: tuple[Column, ...] = COLUMNS
    key_column = "fileSetName"
    position = ("ra_ref", "dec_ref")  # what ang_sep is measured from
    needs_token = True

    def __init__(self) -> None:
        sources = _sources()
        column = {name: np.concatenate([source[name] for source in sources]) for name in _SOURCE_NAMES}
        self.folder = column["folder"]  # where the files are: <folder><level>/ or, without levels, <folder>
        self.levelled = column["levelled"]
        self.stem = column["stem"]
        self.row_of = {stem: index for index, stem in enumerate(self.stem.tolist())}
        self.detector_number = column["detector"].astype(int)
        program, plan = column["program"].astype(int), column["plan"].astype(int)
        visit_id = np.char.mod("%05d", program)  # program, plan, pass, segment, observation, visit
        for width, values in ((2, plan), (3, column["pass"]), (3, column["segment"]),
                              (3, column["observation"]), (3, column["visit"])):  # fmt: skip
            visit_id = np.char.add(visit_id, np.char.zfill(values.astype(str), width))
        column["detector"] = np.char.add("WFI", np.char.zfill(self.detector_number.astype(str), 2))
        self.values: dict[str, np.ndarray] = {
            "fileSetName": self.stem,
            "program": program,
            "execution_plan": plan,
            "pass": column["pass"].astype(int),
            "segment": column["segment"].astype(int),
            "observation": column["observation"].astype(int),
            "visit": column["visit"].astype(int),
            "exposure": column["exposure"].astype(int),
            "visit_id": visit_id,
            "observation_id": np.char.add(visit_id, np.char.zfill(column["exposure"].astype(str), 4)),
            "detector": column["detector"].astype(str),
            "optical_element": column["optical_element"].astype(str),
            "exposure_type": np.full(len(self.stem), "WFI_IMAGE"),
            "start_time": column["start_time"].astype(str),
            "end_time": column["end_time"].astype(str),
            "exposure_time": column["exptime"].astype(float),
            "ma_table_id": column["ma_table_id"].astype(str),
            "target_ra": column["wfi_ra"].astype(float),
            "target_dec": column["wfi_dec"].astype(float),
            "ra_ref": column["detector_ra"].astype(float),
            "dec_ref": column["detector_dec"].astype(float),
            "roll_ref": column["wfi_pa"].astype(float),
        }
        self.times = {name: self.values[name].astype("datetime64[ms]") for name in ("start_time", "end_time")}
        self._joined: dict[str, tuple[str, np.ndarray]] = {}
        pointings = np.column_stack(
            [self.values["target_ra"], self.values["target_dec"], self.values["roll_ref"]]
        )
        self.pointings, self.pointing_of = np.unique(pointings, axis=0, return_inverse=True)
        self.pointing_of = self.pointing_of.ravel()

    def __len__(self) -> int:
        return len(self.stem)

    @functools.cached_property
    def by_name(self) -> dict[str, Column]:
        """The columns by name."""
        return {column.name: column for column in self.columns}

    def locate(self, product_name: str) -> str | None:
        """Where a product's download goes: ``s3:<key>`` (presigned), or None if no such product."""
        key = self.key_of(product_name)
        return None if key is None else f"s3:{key}"

    def within(self, ra: float, dec: float, radius: float) -> np.ndarray:
        """Indices of the datasets whose detector pixels meet the circle (degrees), in row order."""
        from roman_helpers.sandbox.sky import wfi

        ra0, dec0, pa0 = self.pointings.T
        hits = wfi.overlaps_disc(ra0, dec0, pa0, (ra, dec), radius)  # (pointings, 18)
        return np.flatnonzero(hits[self.pointing_of, self.detector_number - 1])

    def separation_arcmin(self, rows: np.ndarray, ra: float, dec: float) -> np.ndarray:
        """Arcminutes from (ra, dec) to the datasets' reference positions (haversine)."""
        ra_name, dec_name = self.position
        d1, d2 = np.radians(self.values[dec_name][rows]), math.radians(dec)
        half = (
            np.sin((d1 - d2) / 2) ** 2
            + np.cos(d1) * math.cos(d2) * np.sin(np.radians(self.values[ra_name][rows] - ra) / 2) ** 2
        )
        return np.degrees(2 * np.arcsin(np.sqrt(np.clip(half, 0, 1)))) * 60.0

    def s_region(self, rows: np.ndarray) -> list[str]:
        """The detectors' outlines as the files' ``s_region`` gives them."""
        from roman_helpers.sandbox.sky import wfi

        v = self.values
        ra, dec = wfi.corners(
            v["target_ra"][rows], v["target_dec"][rows], v["roll_ref"][rows], self.detector_number[rows],
            convention="roman",
        )  # fmt: skip
        return [
            "POLYGON ICRS " + " ".join(f"{r:.9f} {d:.9f}" for r, d in zip(ra_row, dec_row, strict=True))
            for ra_row, dec_row in zip(ra.tolist(), dec.tolist(), strict=True)
        ]

    def matches(self, name: str, value: Any) -> np.ndarray:
        """Boolean mask of the rows a criterion ``{name: value}`` keeps (MAST's syntax)."""
        column = self.by_name.get(name)
        if column is None or name == "s_region":
            raise BadQuery(f"column {name!r} cannot be searched")
        tokens = (
            value if isinstance(value, list) else str(value).split(",") if isinstance(value, str) else [value]
        )
        positive: list[np.ndarray] = []
        negative: list[np.ndarray] = []
        for token in tokens:
            text = str(token).strip()
            negated = text.startswith("!")
            (negative if negated else positive).append(self._one(column, text[1:] if negated else text))
        keep = np.logical_or.reduce(positive) if positive else np.ones(len(self), dtype=bool)
        for mask in negative:
            keep &= ~mask
        return keep

    def _one(self, column: Column, text: str) -> np.ndarray:
        if column.kind == "string":
            pattern = text.lower()
            if "*" in pattern:
                return self._wildcard(column.name, pattern)
            return np.char.lower(self.values[column.name]) == pattern
        convert: Callable[[str], Any] = _as_time if column.kind == "datetime" else float
        values = self.times[column.name] if column.kind == "datetime" else self.values[column.name]
        try:
            for operator, test in (
                (">=", np.greater_equal), ("<=", np.less_equal), (">", np.greater), ("<", np.less),
            ):  # fmt: skip
                if text.startswith(operator):
                    return np.asarray(test(values, convert(text[len(operator) :].strip())))
            if ".." in text:
                low, high = (convert(part.strip()) for part in text.split("..", 1))
                return (values >= low) & (values <= high)
            return np.asarray(values == convert(text))
        except ValueError as error:
            raise BadQuery(f"{text!r} is not a valid value for {column.name} ({column.kind})") from error

    def _wildcard(self, name: str, pattern: str) -> np.ndarray:
        """Rows whose ``name`` matches ``pattern`` (``*`` any characters), case-insensitive.

        One regular-expression scan of the column's values joined by newlines (a C loop)
        instead of a Python call per row: many times faster over 156,000 names.
        """
        if name not in self._joined:
            values = np.char.lower(self.values[name])
            starts = np.concatenate([[0], np.cumsum(np.char.str_len(values) + 1)[:-1]])
            self._joined[name] = ("\n".join(values.tolist()), starts)
        text, starts = self._joined[name]
        body = "[^\n]*".join(re.escape(part) for part in pattern.split("*"))
        found = np.array([m.start() for m in re.finditer(f"^{body}$", text, re.MULTILINE)], dtype=np.int64)
        keep = np.zeros(len(starts), dtype=bool)
        keep[np.searchsorted(starts, found)] = True
        return keep

    def rows(
        self, indices: np.ndarray, names: list[str], extra: dict[str, list[Any]]
    ) -> list[dict[str, Any]]:
        """Result rows: the chosen columns of the datasets at ``indices``, then ``extra`` columns."""
        lists = {
            name: self.s_region(indices) if name == "s_region" else self.values[name][indices].tolist()
            for name in names
        }
        lists.update(extra)
        order = [*names, *extra]
        return [
            dict(zip(order, values, strict=True)) for values in zip(*(lists[n] for n in order), strict=True)
        ]

    def products(self, stem: str, sizes: Callable[[str], int | None]) -> list[dict[str, Any]]:
        """The products of one dataset, as MAST's product rows."""
        row = self.row_of.get(stem)
        if row is None:
            return []
        found = []
        for suffix, level, category, kind in _PRODUCTS:
            filename = f"{stem}_{suffix}"
            key = self._key(row, level, filename)
            size = sizes(key)
            if size is None:  # not in the bucket: not a product either
                continue
            found.append(
                {
                    "product_key": f"{stem}_{filename}",
                    "access": "EXCLUSIVE_ACCESS",
                    "dataset": stem,
                    "instrument_name": "WFI",
                    "filters": str(self.values["optical_element"][row]),
                    "filename": filename,
                    "uri": f"{stem}/{filename}",
                    "authz_primary_identifier": stem,
                    "authz_secondary_identifier": suffix.split(".")[0].upper(),
                    "file_suffix": suffix.split(".")[0].upper(),
                    "category": category,
                    "size": int(size),
                    "type": kind,
                }
            )
        return found

    def key_of(self, product_name: str) -> str | None:
        """The ``stpubdata`` key of ``<dataset>/<file>`` (or a bare file name), or None."""
        name = product_name.rsplit("/", 1)[-1]
        for suffix, level, _, _ in _PRODUCTS:
            stem = name.removesuffix(f"_{suffix}")
            if stem != name and stem in self.row_of and product_name in (name, f"{stem}/{name}"):
                return self._key(self.row_of[stem], level, name)
        return None

    def _key(self, row: int, level: str, filename: str) -> str:
        return f"{self.folder[row]}{level + '/' if self.levelled[row] else ''}{filename}"


_HST_COLUMNS: tuple[Column, ...] = (
    Column("sci_data_set_name", "string", "Dataset", "Association name, nine characters (IB1F0V010)", True),
    Column("sci_targname", "string", "Target Name", "Target name given by the observer", True),
    Column("sci_ra", "float", "RA (J2000)", "Right ascension of the drizzled image's centre, degrees", True),
    Column("sci_dec", "float", "Dec (J2000)", "Declination of the drizzled image's centre, degrees", True),
    Column("sci_refnum", "integer", "Ref", "Literature references (none in the sandbox)", True),
    Column("sci_start_time", "datetime", "Start Time", "Observation start, UTC", True),
    Column("sci_stop_time", "datetime", "Stop Time", "Observation end, UTC", True),
    Column("sci_actual_duration", "float", "Exp Time", "Exposure time, seconds", True),
    Column("sci_instrume", "string", "Instrument", "Instrument (WFC3)", True),
    Column("sci_aper_1234", "string", "Apertures", "Aperture (IR)", True),
    Column("sci_spec_1234", "string", "Filters/Gratings", "Filter, e.g. F160W", True),
    Column("sci_central_wavelength", "float", "Central Wavelength", "Filter's central wavelength, A", True),
    Column("sci_pep_id", "integer", "Proposal ID", "Proposal number", True),
    Column("sci_release_date", "datetime", "Release Date", "Date of public release, UTC", True),
    Column("sci_obs_type", "string", "Observation Type", "IMAGE or SPECTRUM", False),
    Column("sci_status", "string", "Status", "PUBLIC or PROPRIETARY", True),
)  # fmt: skip
_HST_CATEGORY = {"RAW": "UNCALIBRATED", "FLT": "CALIBRATED", "IMA": "CALIBRATED", "DRZ": "CALIBRATED"}


class HstDatasets(Datasets):
    """The HST associations of the sandbox's MAST (:mod:`~roman_helpers.sandbox.services.catalog`).

    Rows of the mission search: one per association; a position matches the association's
    recorded position (``sci_ra``, ``sci_dec``, its drizzled image's centre), as MAST's HST
    search measures; products are the association's and its exposures' files, downloaded from
    MAST (a redirect to its ``Download/file``).
    """

    columns = _HST_COLUMNS
    key_column = "sci_data_set_name"
    position = ("sci_ra", "sci_dec")
    needs_token = False

    def __init__(self) -> None:
        from astropy.time import Time

        from roman_helpers.sandbox.services import catalog

        rows = catalog.observations()
        self.stem = np.array([str(r["obs_id"]).upper() for r in rows])
        self.row_of = {stem: index for index, stem in enumerate(self.stem.tolist())}
        products: dict[str, list[dict[str, Any]]] = {}
        by_obsid = {str(r["obsid"]): str(r["obs_id"]).upper() for r in rows}
        for product in catalog.products():
            dataset = by_obsid.get(str(product["parent_obsid"]))
            if dataset is not None:
                products.setdefault(dataset, []).append(product)
        self._products = products

        def iso(column: str) -> np.ndarray:
            return np.array(Time([float(r[column]) for r in rows], format="mjd", scale="utc").isot)

        self.values = {
            "sci_data_set_name": self.stem,
            "sci_targname": np.array([str(r["target_name"]) for r in rows]),
            "sci_ra": np.array([float(r["s_ra"]) for r in rows]),
            "sci_dec": np.array([float(r["s_dec"]) for r in rows]),
            "sci_refnum": np.zeros(len(rows), dtype=int),
            "sci_start_time": iso("t_min"),
            "sci_stop_time": iso("t_max"),
            "sci_actual_duration": np.array([float(r["t_exptime"]) for r in rows]),
            "sci_instrume": np.array([str(r["instrument_name"]).split("/")[0] for r in rows]),
            "sci_aper_1234": np.array([str(r["instrument_name"]).split("/")[-1] for r in rows]),
            "sci_spec_1234": np.array([str(r["filters"]) for r in rows]),
            "sci_central_wavelength": np.array([5.0 * (r["em_min"] + r["em_max"]) for r in rows]),  # nm -> A
            "sci_pep_id": np.array([int(r["proposal_id"]) for r in rows]),
            "sci_release_date": iso("t_obs_release"),
            "sci_obs_type": np.array([str(r["dataproduct_type"]).upper() for r in rows]),
            "sci_status": np.array([str(r["dataRights"]) for r in rows]),
        }
        self.times = {name: self.values[name].astype("datetime64[ms]") for name in _HST_TIMES}
        self._joined = {}

    def within(self, ra: float, dec: float, radius: float) -> np.ndarray:
        """Indices of the associations whose recorded position is inside the circle (degrees)."""
        every = np.arange(len(self))
        return every[self.separation_arcmin(every, ra, dec) <= radius * 60.0]

    def products(self, stem: str, sizes: Callable[[str], int | None]) -> list[dict[str, Any]]:
        """The association's products (its own files and its exposures'), as MAST's product rows."""
        found = []
        for product in self._products.get(stem.upper(), []):
            filename = str(product["productFilename"])
            suffix = filename.rsplit("_", 1)[-1].split(".")[0].upper()
            preview = product["productType"] == "PREVIEW"
            found.append(
                {
                    "product_key": f"{stem.upper()}_{filename}",
                    "access": str(product["dataRights"]),
                    "dataset": stem.upper(),
                    "instrument_name": "WFC3",
                    "filters": str(self.values["sci_spec_1234"][self.row_of[stem.upper()]]),
                    "filename": filename,
                    "uri": f"{stem.upper()}/{filename}",
                    "authz_primary_identifier": str(product["obs_id"]).upper(),
                    "authz_secondary_identifier": suffix,
                    "file_suffix": suffix,
                    "category": "PREVIEW" if preview else _HST_CATEGORY.get(suffix, "AUX"),
                    "size": int(product["size"]),
                    "type": "preview" if preview else "science",
                }
            )
        return found

    def locate(self, product_name: str) -> str | None:
        """``mast:<dataURI>`` of ``<dataset>/<file>`` (or a bare file name), or None."""
        dataset, _, name = product_name.rpartition("/")
        if dataset:
            candidates = self._products.get(dataset.upper(), [])
        else:
            candidates = [p for products in self._products.values() for p in products]
        for product in candidates:
            if product["productFilename"] == name:
                return f"mast:{product['dataURI']}"
        return None


_HST_TIMES = ("sci_start_time", "sci_stop_time", "sci_release_date")
#: The missions served, by MAST's name.
MISSIONS: dict[str, type[Datasets]] = {"roman": Datasets, "hst": HstDatasets}


_SOURCE_NAMES = (
    "stem", "folder", "levelled", "program", "plan", "wfi_ra", "wfi_dec", "wfi_pa", "detector_ra",
    "detector_dec", "detector", "optical_element", "start_time", "end_time", "ma_table_id", "exptime",
    "pass", "segment", "observation", "visit", "exposure",
)  # fmt: skip


def _sources() -> list[dict[str, np.ndarray]]:
    """The datasets of the CCS simulations (their manifests) and of the 2026.2 tutorial data."""
    from roman_helpers.sandbox.archive.layouts import roman as layout
    from roman_helpers.sandbox.sky.surveys import ccs
    from roman_helpers.sandbox.sky.surveys import roman as surveys

    found = []
    for program in ccs.PROGRAMS:
        table = ccs.manifest(program)
        n = len(table)
        columns = {name: np.asarray(table[name]) for name in _SOURCE_NAMES[5:]}
        l2 = np.asarray(table["l2_s3_uri"]).astype(str)
        columns["stem"] = np.char.replace(np.char.rpartition(l2, "/")[:, 2], "_cal.asdf", "")
        columns["folder"] = np.full(n, f"{ccs.PREFIX}/{program}/")
        columns["levelled"] = np.ones(n, dtype=bool)
        columns["program"] = np.full(n, int(program[1:]))
        columns["plan"] = np.ones(n, dtype=int)
        columns["detector"] = np.char.lstrip(columns["detector"].astype(str), "WFI").astype(int)
        found.append(columns)
    table = surveys.tutorial_exposures()
    table = table[table["suffix"] == "cal"]
    n = len(table)
    columns = {name: np.asarray(table[name]) for name in _SOURCE_NAMES[3:] if name != "ma_table_id"}
    columns["stem"] = np.char.replace(np.asarray(table["name"]).astype(str), "_cal.asdf", "")
    columns["folder"] = np.full(n, layout.TUTORIAL_PREFIX)
    columns["levelled"] = np.zeros(n, dtype=bool)
    columns["ma_table_id"] = np.array([str(layout.ma_table(float(t)).number) for t in table["exptime"]])
    found.append(columns)
    return found


def _as_time(text: str) -> np.datetime64:
    try:
        return np.datetime64(text.replace(" ", "T"), "ms")
    except Exception as error:  # noqa: BLE001 - numpy raises ValueError or its own parse errors
        raise ValueError(str(error)) from None


def column_list(columns: tuple[Column, ...] = COLUMNS) -> list[dict[str, str]]:
    """The ``column_list`` answer for a mission's columns (default Roman's), in MAST's fields.

    Examples
    --------
    >>> [c["column_name"] for c in column_list()][:3]
    ['fileSetName', 'program', 'execution_plan']
    """
    return [
        {
            "field_name": c.label,
            "description": c.description,
            "column_name": c.name,
            "queryable": "no" if c.name in ("s_region", "search_pos") else "yes",
            "qual_type": c.kind,
            "default_output": "yes" if c.default else "no",
            "indexed": "yes" if c.name in ("fileSetName", "sci_data_set_name") else "no",
            "datatype": _DATATYPE[c.kind],
        }
        for c in (*columns, *_POSITIONAL)
    ]


class MissionsApp:
    """Answers MAST Missions requests for Roman (and HST) from the sandbox's datasets and archive.

    Parameters
    ----------
    archive : Archive, optional
        Where product sizes come from (the objects the sandbox's S3 serves).
    presign : callable, optional
        ``presign(bucket, key, expires=seconds, endpoint=url)`` returns a presigned URL the
        sandbox's S3 accepts; without it Roman downloads answer 503.
    """

    def __init__(self, archive: Archive | None = None, presign: Presigner | None = None) -> None:
        self.archive = archive
        self.presign = presign
        self._lock = threading.Lock()
        self._datasets: dict[str, Datasets] = {}

    def datasets(self, mission: str = MISSION) -> Datasets:
        """The datasets of ``mission`` (``"roman"`` or ``"hst"``), built on first use."""
        with self._lock:
            if mission not in self._datasets:
                self._datasets[mission] = MISSIONS[mission]()
            return self._datasets[mission]

    # ------------------------------------------------------------------ routing
    def answer(self, request: Request) -> Response:
        """Answer one request under ``/search/`` or ``/whoami``."""
        path = request.path
        if path.rstrip("/") == "/whoami":
            return self.on_whoami(request)
        parts = path.strip("/").split("/")
        if parts[:4] == ["search", "util", "api", "v0.1"] and parts[4:] == ["column_list"]:
            return self.on_column_list(request)
        if len(parts) == 5 and parts[0] == "search" and parts[2:4] == ["api", "v0.1"]:
            mission, service = parts[1].lower(), parts[4]
            if mission in MISSIONS:
                handler = {
                    "search": self.on_search,
                    "post_list_products": self.on_products,
                    "retrieve_product": self.on_retrieve,
                }.get(service)
                if handler is not None:
                    return handler(request, mission)
            return _not_served(f"the {mission} mission's {service}")
        return _not_served(path)

    # ------------------------------------------------------------------ endpoints
    def on_column_list(self, request: Request) -> Response:
        """The searchable columns of ``mission``."""
        mission = request.args.get("mission", "").lower()
        if mission not in MISSIONS:
            return _not_served(f"the column list of mission {mission!r}")
        return _json(column_list(MISSIONS[mission].columns))

    def on_search(self, request: Request, mission: str = MISSION) -> Response:
        """A search by position and criteria."""
        try:
            params = json.loads(request.get_data(as_text=True) or "{}")
            return _json(self.search(params, mission))
        except (BadQuery, ValueError, TypeError, KeyError) as error:
            return _json({"detail": f"{error}"}, status=400)

    def search(self, params: dict[str, Any], mission: str = MISSION) -> dict[str, Any]:
        """The answer to a search's JSON ``params`` (see the module docstring)."""
        data = self.datasets(mission)
        keep = np.ones(len(data), dtype=bool)
        for condition in params.get("conditions") or []:
            for name, value in dict(condition).items():
                keep &= data.matches("pass" if name == "pass_id" else name, value)
        names = self._selected(data, params.get("select_cols"))
        targets = params.get("target") or []
        if isinstance(targets, str):
            targets = [targets]
        extra: dict[str, list[Any]] = {}
        if targets:
            radius = (
                float(params.get("radius", 3)) * _UNITS[str(params.get("radius_units", "arcminutes")).lower()]
            )
            indices, positions, separations = [], [], []
            for target in targets:
                ra, dec = (float(v) for v in str(target).replace(",", " ").split())
                found = data.within(ra, dec, radius)
                found = found[keep[found]]
                indices.append(found)
                positions += [str(target)] * len(found)
                separations.append(data.separation_arcmin(found, ra, dec))
            rows = np.concatenate(indices) if indices else np.array([], dtype=int)
            extra = {"search_pos": positions, "ang_sep": np.concatenate(separations).tolist()}
        else:
            rows = np.flatnonzero(keep)
        order = self._order(data, rows, extra, params)
        total = len(order)
        offset, limit = int(params.get("offset") or 0), int(params.get("limit") or 5000)
        page = order[offset : offset + limit]
        chosen = {name: [values[i] for i in page.tolist()] for name, values in extra.items()}
        results = data.rows(rows[page], names, chosen)
        columns = [data.by_name[n] for n in names] + [c for c in _POSITIONAL if c.name in extra]
        return {
            "messages": [],
            "info": [{"name": c.name, "type": _DB_TYPE[c.kind]} for c in columns],
            "search_params": params,
            "totalResults": total,
            "results": results,
        }

    @staticmethod
    def _selected(data: Datasets, select: Any) -> list[str]:
        if select is None or select == []:
            return [c.name for c in data.columns if c.default]
        if isinstance(select, str):
            select = [s.strip() for s in select.split(",")]
        if any(str(s) in ("*", "all") for s in select):
            return [c.name for c in data.columns]
        names = [data.key_column, *(str(s) for s in select if s)]
        unknown = [n for n in names if n not in data.by_name and n not in ("search_pos", "ang_sep")]
        if unknown:
            raise BadQuery(f"unknown columns {unknown}")
        return [n for n in dict.fromkeys(names) if n in data.by_name]

    @staticmethod
    def _order(
        data: Datasets, rows: np.ndarray, extra: dict[str, list[Any]], params: dict[str, Any]
    ) -> np.ndarray:
        sort_by = params.get("sort_by") or (["ang_sep", data.key_column] if extra else [data.key_column])
        sort_by = [sort_by] if isinstance(sort_by, str) else list(sort_by)
        descending = params.get("sort_desc") or []
        descending = [descending] if isinstance(descending, bool) else list(descending)
        keys = []
        for number, name in enumerate(sort_by):
            if name in extra:
                values = np.asarray(extra[name])
            elif name in data.by_name and name != "s_region":
                values = data.values[name][rows]
            else:
                raise BadQuery(f"cannot sort by {name!r}")
            if number < len(descending) and descending[number]:
                values = -values if values.dtype.kind in "if" else -np.unique(values, return_inverse=True)[1]
            keys.append(values)
        return np.lexsort(keys[::-1]) if keys else np.arange(len(rows))

    def on_products(self, request: Request, mission: str = MISSION) -> Response:
        """The products of each of ``dataset_ids``."""
        try:
            ids = json.loads(request.get_data(as_text=True) or "{}").get("dataset_ids") or []
        except ValueError:
            return _json({"detail": "the request is not JSON"}, status=400)
        ids = [ids] if isinstance(ids, str) else ids
        data = self.datasets(mission)
        products = [p for stem in ids for p in data.products(str(stem).strip(), self._size)]
        return _json({"products": products})

    def on_retrieve(self, request: Request, mission: str = MISSION) -> Response:
        """A redirect to where the product's bytes are: a presigned S3 URL (Roman, with a token) or MAST's."""
        name = unquote(request.args.get("product_name", ""))
        data = self.datasets(mission)
        target = data.locate(name)
        if target is None or (target.startswith("s3:") and self._size(target[3:]) is None):
            return _json(
                {"detail": f"{name!r} is not a {mission} product of the offline sandbox. {SEE_BOOK}"}, 404
            )
        if data.needs_token and not is_token(_token(request)):
            return _json({"detail": _EXCLUSIVE}, status=401)
        response = Response(status=302)
        if target.startswith("mast:"):  # MAST's own download of the file (HST)
            response.headers["Location"] = "/api/v0.1/Download/file?uri=" + quote(target[5:], safe=":/")
            return response
        if self.presign is None:
            return _json({"detail": "the sandbox's S3 is not running"}, status=503)
        # the bucket's web address, as AWS's presigned URLs give it (the proxy routes it to the S3)
        response.headers["Location"] = self.presign(
            BUCKET, target[3:], expires=PRESIGN_SECONDS, endpoint=f"https://{BUCKET}.s3.amazonaws.com"
        )
        return response

    def on_whoami(self, request: Request) -> Response:
        """Session information: anonymous unless the request carries a token."""
        if is_token(_token(request)):
            return _json(
                {
                    "anon": False,
                    "ezid": "sandbox-user",
                    "eppn": "sandbox-user@localhost",
                    "attrib": {"display_name": "offline sandbox user", "internal": "0"},
                    "scopes": ["mast:user:info", "mast:exclusive_access"],
                    "session": None,
                }
            )
        return _json({"anon": True, "ezid": None, "attrib": {}, "scopes": [], "session": None})

    def _size(self, key: str) -> int | None:
        if self.archive is None:
            return None
        item = self.archive.get(BUCKET, key)
        return None if item is None else int(item.size)


def _token(request: Request) -> str | None:
    """The MAST token a request carries (cookie ``mast_token`` or ``Authorization: token ...``)."""
    token = request.cookies.get("mast_token")
    if token:
        return token
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() in ("token", "bearer") else None


@functools.cache
def _not_served_text(what: str) -> str:
    return (
        f"{what} is not served by the roman-helpers offline sandbox, whose MAST Missions search "
        f"holds Roman's Core Community Survey simulations (mission 'roman'). {SEE_BOOK}"
    )


def _not_served(what: str) -> Response:
    reason = _not_served_text(what).replace("\n", " ")
    return Response(reason + "\n", status=f"404 {reason}", mimetype="text/plain")


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")
