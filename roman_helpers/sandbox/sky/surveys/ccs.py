"""The Science Operations Center's Core Community Survey simulations (r00340 and r00342).

Under ``s3://stpubdata/roman/nexus/soc_simulations/``: ``r00340/`` (the Galactic Bulge Time-Domain
Survey, GBTDS) and ``r00342/`` (the High-Latitude Wide-Area Survey, HLWAS), each with ``l1/``
(``_uncal.asdf``) and ``l2/`` (``_cal.asdf`` and ``_preview.png``), ``r00342/l3/`` (skycell
mosaics), and the simulations' input catalogs ``input_catalogs/cat-{hpix}.fits``.

Published facts (the roman_notebooks ``ccs_simulations`` tutorial, release 2026.2)
    * GBTDS: about 7.8 days; F146 every ~12.1 minutes; F087 and F213 every ~12 hours; snapshots
      in F062, F106, F158 and F184 (and "F219", not a WFI filter: F129 here); six fields, five
      in a strip along the Galactic plane and one on the Galactic Centre; 4,891 exposures,
      88,038 L1/L2 datasets.
    * HLWAS: about 6 deg² of the Wide, Medium, Deep and Ultra-Deep tiers placed on the same sky,
      exposures run one after another; input catalog the OpenUniverse 2024 sky; 3,780 exposures,
      68,040 datasets.
    * Manifest columns: ``wfi_ra, wfi_dec, wfi_pa, detector_ra, detector_dec, detector,
      optical_element, start_time, end_time, ma_table_id, exptime, pass, segment, observation,
      visit, exposure, l1_s3_uri, l2_s3_uri`` (and ``l3_s3_uri`` for mosaics); ``detector`` is
      ``WFI01``..``WFI18``; previews are the L2 name with ``_preview.png``.
    * Input catalogs: HEALPix nside 512, NESTED, Galactic coordinates, one file per cell touching
      any detector, the list grown by one cell in every direction.

The sandbox's own choices
    * GBTDS: fields at Galactic (l, b) = (-0.8 + 0.8 k, -1.2) for k = 0..4 and (0, 0) for the
      Galactic Centre, the focal plane's long axis along the plane (position angle 59 degrees);
      starting 2027-09-01 (a fall season). Pass 1: the snapshots (observation = field, visit =
      filter); pass 2: F146 on the five strip fields every 12.1 min (segment = the 12-hour block,
      observation = field, visit = the cycle in the block); pass 3: F087 then F213 on all six
      fields at each 12-hour mark (observation = field, visit 1 = F087, 2 = F213). The F146
      cycles run until the published total of 4,891 exposures (7.85 days). Exposure times 46.8 s
      (F146), 146.2 s (F087, F213), 97.0 s (snapshots); 3-arcsec seeded dithers.
    * HLWAS: 20 places (a 5 x 4 grid, 0.78 x 0.42 degrees apart: 6.5 deg²) centred at
      (9.0, -44.0) in the OpenUniverse area; 63 passes of three dithered exposures each
      (exposure 1-3, 10 arcsec apart): Wide (observation 1) F158 x 3 passes, Medium (2) F106
      F129 F158 F184 x 3, Deep (3) F087 F106 F129 F158 F184 F213 x 4, Ultra-Deep (4) F062 F087
      F106 F129 F146 F158 F184 F213 x 3; visit = place; exposure times 66/107/162/294 s by tier;
      start 2027-07-01, one exposure after another with 60 s between; position angle 60 degrees.
    * Mirrored extent: all of both simulations (GBTDS 1.7 deg², HLWAS 6.5 deg²). L3 skycells
      are not tabulated here (see :func:`manifest`).

Examples
--------
>>> len(exposures("r00340")), len(exposures("r00342"))
(4891, 3780)
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from astropy.table import Table

from roman_helpers.sandbox.sky import wfi
from roman_helpers.sandbox.sky.surveys.common import rng
from roman_helpers.sandbox.sky.surveys.roman import exposure_name

__all__ = [
    "BUCKET",
    "CATALOG_NSIDE",
    "PREFIX",
    "PROGRAMS",
    "exposures",
    "input_catalog_cells",
    "manifest",
]

BUCKET = "stpubdata"
PREFIX = "roman/nexus/soc_simulations"
#: Program folder -> survey.
PROGRAMS = {"r00340": "GBTDS", "r00342": "HLWAS"}
CATALOG_NSIDE = 512
_MA_TABLE = {"r00340": 1001, "r00342": 1007}

# GBTDS
_GB_START = 61649.0  # 2027-09-01T00:00:00 UTC
_GB_FIELDS_LB = [(-0.8 + 0.8 * k, -1.2) for k in range(5)] + [(0.0, 0.0)]
_GB_PA = 59.0
_GB_CYCLE = 12.1 * 60  # seconds
_GB_COLOUR_EVERY = 12 * 3600.0
_GB_SNAPSHOTS = ("F062", "F106", "F129", "F158", "F184")
_GB_EXPTIME = {"F146": 46.8, "F087": 146.2, "F213": 146.2, "snapshot": 97.0}
_GB_TOTAL = 4891
# HLWAS
_HL_CENTRE = (9.0, -44.0)
_HL_GRID = (5, 4)
_HL_STEP = (0.78, 0.42)
_HL_START = 61587.0  # 2027-07-01T00:00:00 UTC
_HL_PA = 60.0
_HL_TIERS = (
    ("Wide", ("F158",), 3, 66.0),
    ("Medium", ("F106", "F129", "F158", "F184"), 3, 107.0),
    ("Deep", ("F087", "F106", "F129", "F158", "F184", "F213"), 4, 162.0),
    ("Ultra-Deep", ("F062", "F087", "F106", "F129", "F146", "F158", "F184", "F213"), 3, 294.0),
)
_HL_DITHER = 10.0 / 3600  # degrees between the three exposures of a visit


def _galactic_to_icrs(l_deg: np.ndarray, b_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    icrs = SkyCoord(l=l_deg * u.deg, b=b_deg * u.deg, frame="galactic").icrs
    return np.asarray(icrs.ra.deg), np.asarray(icrs.dec.deg)


def _gbtds() -> dict[str, Any]:
    fields_ra, fields_dec = _galactic_to_icrs(*(np.array(c) for c in zip(*_GB_FIELDS_LB, strict=True)))
    rows: list[
        tuple[float, int, int, int, int, int, str, float]
    ] = []  # time, pass, seg, obs, visit, field, filter, exptime
    clock = 0.0
    for field in range(6):  # pass 1: snapshots
        for number, element in enumerate(_GB_SNAPSHOTS, start=1):
            rows.append((clock, 1, 1, field + 1, number, field, element, _GB_EXPTIME["snapshot"]))
            clock += _GB_EXPTIME["snapshot"] + 60.0
    start = clock
    colour_marks = int(7.8 * 86400 // _GB_COLOUR_EVERY) + 1
    for mark in range(colour_marks):  # pass 3: F087 then F213 on every field each 12 hours
        for number, element in enumerate(("F087", "F213"), start=1):
            for field in range(6):
                at = start + mark * _GB_COLOUR_EVERY + (number - 1) * 6 * 90.0 + field * 90.0
                rows.append((at, 3, mark + 1, field + 1, number, field, element, _GB_EXPTIME[element]))
    remaining = _GB_TOTAL - len(rows)
    cycle = 0
    while remaining > 0:  # pass 2: F146 on the five strip fields every 12.1 minutes
        cycle_start = start + cycle * _GB_CYCLE + 20 * 60.0  # after the first colour block
        segment = int((cycle_start - start) // _GB_COLOUR_EVERY)
        first_cycle = math.ceil((segment * _GB_COLOUR_EVERY - 20 * 60.0) / _GB_CYCLE)
        for field in range(5):
            if remaining == 0:
                break
            at = cycle_start + field * 100.0
            rows.append(
                (at, 2, segment + 1, field + 1, cycle - first_cycle + 1, field, "F146", _GB_EXPTIME["F146"])
            )
            remaining -= 1
        cycle += 1
    rows.sort(key=lambda row: row[0])
    time, pass_, segment_, observation, visit, field_, element_, exptime = (
        np.array(c) for c in zip(*rows, strict=True)
    )
    generator = rng("soc", "r00340", "dither")
    dither = generator.uniform(-1.5 / 3600, 1.5 / 3600, (2, len(time)))
    ra, dec = wfi.deproject(fields_ra[field_], fields_dec[field_], dither[0], dither[1])
    return {
        "time": time,
        "wfi_ra": ra,
        "wfi_dec": dec,
        "wfi_pa": np.full(len(time), _GB_PA),
        "pass": pass_,
        "segment": segment_,
        "observation": observation,
        "visit": visit,
        "exposure": np.ones(len(time), dtype=int),
        "optical_element": element_,
        "exptime": exptime,
        "mjd_start": _GB_START,
    }


def _hlwas() -> dict[str, Any]:
    nu, nv = _HL_GRID
    j, i = np.divmod(np.arange(nu * nv), nu)
    xi_tile, eta_tile = -(i - (nu - 1) / 2) * _HL_STEP[0], (j - (nv - 1) / 2) * _HL_STEP[1]
    passes = [
        (tier, element, exptime)
        for tier, elements, repeats, exptime in _HL_TIERS
        for element in elements
        for _ in range(repeats)
    ]
    pass_, observation, visit, exposure, element_, exptime_, xi, eta = ([] for _ in range(8))
    for number, (tier, element, exptime) in enumerate(passes, start=1):
        for place in range(nu * nv):
            for dither in range(3):
                pass_.append(number)
                observation.append([t[0] for t in _HL_TIERS].index(tier) + 1)
                visit.append(place + 1)
                exposure.append(dither + 1)
                element_.append(element)
                exptime_.append(exptime)
                xi.append(xi_tile[place] + (dither - 1) * _HL_DITHER)
                eta.append(eta_tile[place] + (dither - 1) * _HL_DITHER)
    exptimes = np.array(exptime_)
    time = np.concatenate([[0.0], np.cumsum(exptimes + 60.0)[:-1]])
    ra, dec = wfi.deproject(*_HL_CENTRE, np.array(xi), np.array(eta))
    n = len(time)
    return {
        "time": time,
        "wfi_ra": ra,
        "wfi_dec": dec,
        "wfi_pa": np.full(n, _HL_PA),
        "pass": np.array(pass_),
        "segment": np.ones(n, dtype=int),
        "observation": np.array(observation),
        "visit": np.array(visit),
        "exposure": np.array(exposure),
        "optical_element": np.array(element_),
        "exptime": exptimes,
        "mjd_start": _HL_START,
    }


@functools.cache
def _exposures(program: str) -> Table:
    if program not in PROGRAMS:
        raise ValueError(f"the CCS simulations are {sorted(PROGRAMS)}, not {program!r}")
    from astropy.time import Time

    columns = _gbtds() if program == "r00340" else _hlwas()
    mjd_start = float(columns.pop("mjd_start"))
    seconds = columns.pop("time")
    start = Time(mjd_start + seconds / 86400.0, format="mjd", scale="utc")
    end = Time(mjd_start + (seconds + columns["exptime"]) / 86400.0, format="mjd", scale="utc")
    table = Table(columns)
    table["wfi_ra"] = np.round(table["wfi_ra"] % 360.0, 8)
    table["wfi_dec"] = np.round(table["wfi_dec"], 8)
    table["start_time"] = start.isot
    table["end_time"] = end.isot
    table["ma_table_id"] = _MA_TABLE[program]
    table["program"] = int(program[1:])
    return table


def exposures(program: str) -> Table:
    """Return a simulation's exposures, one row per WFI exposure, in time order.

    Parameters
    ----------
    program : {"r00340", "r00342"}

    Returns
    -------
    astropy.table.Table
        ``wfi_ra, wfi_dec, wfi_pa, pass, segment, observation, visit, exposure,
        optical_element, exptime, start_time, end_time`` (ISO, UTC), ``ma_table_id``, ``program``.

    Examples
    --------
    >>> table = exposures("r00340")
    >>> sorted(set(table["optical_element"].tolist()))
    ['F062', 'F087', 'F106', 'F129', 'F146', 'F158', 'F184', 'F213']
    """
    return Table(_exposures(program), copy=False)


@functools.cache
def _manifest(program: str) -> Table:
    table = _exposures(program)
    n = len(table)
    detectors = np.tile(np.arange(1, 19), n)
    row = np.repeat(np.arange(n), 18)
    expanded = table[row]
    centre_ra, centre_dec = wfi.detector_centres(
        np.asarray(expanded["wfi_ra"]),
        np.asarray(expanded["wfi_dec"]),
        np.asarray(expanded["wfi_pa"]),
        detectors,
    )
    names = [
        exposure_name(int(p), 1, int(a), int(s), int(o), int(v), int(e), int(d), str(f), "{suffix}")
        for p, a, s, o, v, e, d, f in zip(
            expanded["program"], expanded["pass"], expanded["segment"], expanded["observation"],
            expanded["visit"], expanded["exposure"], detectors, expanded["optical_element"], strict=True,
        )
    ]  # fmt: skip
    root = f"s3://{BUCKET}/{PREFIX}/{program}"
    result = Table(
        {
            "wfi_ra": expanded["wfi_ra"],
            "wfi_dec": expanded["wfi_dec"],
            "wfi_pa": expanded["wfi_pa"],
            "detector_ra": np.round(centre_ra, 8),
            "detector_dec": np.round(centre_dec, 8),
            "detector": np.char.add("WFI", np.char.zfill(detectors.astype(str), 2)),
            "optical_element": expanded["optical_element"],
            "start_time": expanded["start_time"],
            "end_time": expanded["end_time"],
            "ma_table_id": expanded["ma_table_id"],
            "exptime": expanded["exptime"],
            "pass": expanded["pass"],
            "segment": expanded["segment"],
            "observation": expanded["observation"],
            "visit": expanded["visit"],
            "exposure": expanded["exposure"],
            "l1_s3_uri": [f"{root}/l1/{name.format(suffix='uncal')}" for name in names],
            "l2_s3_uri": [f"{root}/l2/{name.format(suffix='cal')}" for name in names],
        }
    )
    return result


def manifest(program: str) -> Table:
    """Return a simulation's L1/L2 manifest: one row per exposure and detector.

    Parameters
    ----------
    program : {"r00340", "r00342"}

    Returns
    -------
    astropy.table.Table
        The published manifest columns (see the module docstring); ``detector_ra/dec`` the
        detector's reference pixel. The sandbox does not mirror the HLWAS L3 skycells, so they are not listed.

    Examples
    --------
    >>> table = manifest("r00340")
    >>> len(table)
    88038
    >>> str(table["l2_s3_uri"][0]).rsplit("/", 1)[1]
    'r0034001001001001001_0001_wfi01_f062_cal.asdf'
    """
    return Table(_manifest(program), copy=False)


@functools.cache
def _galactic_matrix() -> np.ndarray:
    """ICRS -> Galactic as a rotation matrix, from astropy's transformation of the three axes."""
    from astropy.coordinates import ICRS, Galactic

    axes = ICRS(np.eye(3), representation_type="cartesian")
    return np.asarray(axes.transform_to(Galactic()).cartesian.xyz)  # column i: ICRS axis i


def _icrs_to_galactic(ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Galactic (l, b) of many ICRS positions: one matrix product instead of a frame per point."""
    a, d = np.radians(ra), np.radians(dec)
    xyz = np.stack([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)])
    x, y, z = _galactic_matrix() @ xyz
    return np.degrees(np.arctan2(y, x)) % 360.0, np.degrees(np.arcsin(np.clip(z, -1.0, 1.0)))


@functools.cache
def _cells(program: str) -> np.ndarray:
    import hpgeom

    table = _exposures(program)
    # dithers of a few arcsec cannot change which 6.9-arcmin cells a detector touches beyond the
    # ring of neighbours added below: sample each distinct pointing (to 0.001 degree) once
    pointing = np.round(np.column_stack([table["wfi_ra"], table["wfi_dec"], table["wfi_pa"]]), 3)
    ra0, dec0, pa0 = np.unique(pointing, axis=0).T
    samples = np.linspace(-0.5, wfi.DETECTOR_SIDE - 0.5, 9)  # 1.9 arcmin apart, under a cell's 6.9
    x, y = (grid.ravel() for grid in np.meshgrid(samples, samples))
    ra, dec = wfi.pixel_to_sky(
        ra0[:, None], dec0[:, None], pa0[:, None], np.arange(1, 19)[None, :], x, y, convention="roman"
    )
    l_deg, b_deg = _icrs_to_galactic(ra.ravel(), dec.ravel())
    touched = np.unique(hpgeom.angle_to_pixel(CATALOG_NSIDE, l_deg, b_deg, nest=True, lonlat=True))
    neighbours = hpgeom.neighbors(CATALOG_NSIDE, touched, nest=True).ravel()
    return np.unique(np.concatenate([touched, neighbours[neighbours >= 0]]))


def input_catalog_cells(program: str) -> np.ndarray:
    """Return the HEALPix cells (nside 512, NESTED, Galactic) whose input catalogs exist.

    Every cell that a detector of the simulation touches, and the cells around those (the
    published recipe). Detectors are sampled every ~1.9 arcmin, finer than a cell (6.9 arcmin),
    so the ring of neighbours covers any cell only grazed between samples.

    Parameters
    ----------
    program : {"r00340", "r00342"}

    Returns
    -------
    ndarray of int64
        Sorted cell numbers; the files are ``input_catalogs/cat-{cell}.fits``.

    Examples
    --------
    >>> cells = input_catalog_cells("r00342")
    >>> bool(cells.size > 100 and np.all(np.diff(cells) > 0))
    True
    """
    return _cells(program).copy()
