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
    * Mirrored extent: all of both simulations (GBTDS 1.7 deg², HLWAS 6.5 deg²), and the HLWAS
      L3 skycells of every visit (:func:`coadd_products`).

L3 skycells: published facts
    From romancal's sky map, its reference-file schema and regression tests, and the RDox article
    "Skymap Tessellation".

    * The sky is cut into *projection regions*: rings of equal latitude (HEALPix ring latitudes,
      rings of ``4k`` regions near the poles and ``4 N`` between, each doubled in right
      ascension), one TAN projection per region, north up, its tangent point at the region's
      centre (right ascension ``i * 360 / n`` of its ring).
    * A region is tiled by square *skycells* on one pixel grid of 0.055 arcsec: a 4,800-pixel
      core and 100 overlapping pixels on every side (5,000 x 5,000 pixels, 4.6 arcmin); the
      central cell is centred on the tangent point; a cell belongs to the region when a corner
      of its core lies inside the region's bounds.
    * A skycell's name is the region centre's rounded right ascension (3 digits), ``p`` or
      ``m`` and its rounded absolute declination (2 digits), and ``x``/``y`` the cell's column
      and row counted from 50 at the centre: ``315p86x50y75``.
    * Prompt L3 products are made per visit: ``r{program}_p_v{plan}{pass}{segment}{observation}
      {visit}_{skycell}_{filter}_coadd.asdf`` (``r00001_p_v01001001001001_270p65x70y49_f158_coadd.asdf``).
    * Coadd manifest columns ``skycell_ra, skycell_dec, skycell_name, grouping, exptime,
      max_exptime, optical_element, l3_s3_uri`` (the skycell's centre, its name, the visit,
      the mean exposure time of the pixels that have any and the largest).

L3 skycells: the sandbox's own choices
    * ``N`` = 13 rings per quarter of the sky (regions about 3.5 degrees across); the two polar
      caps are not modelled (no survey here reaches them).
    * Pixel axes east-left, north-up (``CD1_1 < 0``); ``grouping`` is ``v`` and the 14 digits of
      the visit in the file name.
    * A skycell gets a product for a visit when any detector of the visit's exposures overlaps
      its 5,000-pixel square (the detectors' edges are great circles: straight lines on the
      region's projection, so the test is exact). ``exptime`` and ``max_exptime`` are measured
      on an 8 x 8 grid of points over the skycell, not on every pixel; a skycell whose
      overlap misses every point gets its shortest member exposure for both.

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
    "MANIFEST_FILES",
    "PREFIX",
    "PROGRAMS",
    "SKYCELL_PIXEL_SCALE",
    "SKYCELL_SIDE",
    "coadd_exposure_times",
    "coadd_manifest",
    "coadd_member_counts",
    "coadd_members",
    "coadd_products",
    "exposures",
    "input_catalog_cells",
    "manifest",
    "manifest_table",
    "projection_region",
    "region_bounds",
    "skycell_frame",
    "skycell_name",
    "write_manifests",
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
        detector's reference pixel. The HLWAS L3 skycells are in :func:`coadd_manifest`.

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


# ---------------------------------------------------------------- L3 skycells (HLWAS)
SKYCELL_PIXEL_SCALE = 0.055  # arcsec
SKYCELL_CORE = 4800
SKYCELL_BORDER = 100
SKYCELL_SIDE = SKYCELL_CORE + 2 * SKYCELL_BORDER
_RING_NSIDE = 13
_CELLS_FROM_CENTRE = 35  # cells counted from the central one in each direction (published grid)
_COVERAGE_GRID = 8


@functools.cache
def _rings() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ring centres and edges (declination, north to south) and the regions per ring."""
    n = _RING_NSIDE

    def latitude(y: np.ndarray) -> np.ndarray:  # y: HEALPix ring coordinate / pi
        sine = np.where(np.abs(y) <= 0.25, 8 * y / 3, (1 - (2 - 4 * np.abs(y)) ** 2 / 3) * np.sign(y))
        return np.degrees(np.arcsin(sine))

    centres = latitude((2 * n - np.arange(1, 4 * n)) / (4 * n))
    edges = latitude((2 * n - np.arange(0, 4 * n) - 0.5) / (4 * n))
    k = np.arange(1, 4 * n)
    per_ring = 2 * 4 * np.minimum(np.minimum(k, 4 * n - k), n)
    return centres, edges, per_ring


def projection_region(ra: Any, dec: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return the projection region (ring, index in the ring) holding each position.

    Parameters
    ----------
    ra, dec : array_like
        Degrees.

    Returns
    -------
    ring, index : ndarray of int
        ``ring`` counts from the northernmost ring below the polar cap (0).

    Examples
    --------
    >>> ring, index = projection_region(8.1, -43.7)
    >>> region_bounds(int(ring), int(index))["tangent"]
    (6.923076923076923, -41.810314895778596)
    """
    centres, edges, per_ring = _rings()
    dec_ = np.asarray(dec, dtype=float)
    ring = np.searchsorted(-edges, -dec_, side="right") - 1
    if np.any((ring < 0) | (ring >= len(centres))):
        raise ValueError("the polar caps of the sky map are not modelled")
    step = 360.0 / per_ring[ring]
    index = np.floor((np.asarray(ra, dtype=float) % 360.0 + step / 2) / step).astype(int) % per_ring[ring]
    return ring, index


def region_bounds(ring: int, index: int) -> dict[str, Any]:
    """Return a projection region's tangent point and right ascension and declination bounds.

    Parameters
    ----------
    ring, index : int
        As :func:`projection_region` numbers them.

    Returns
    -------
    dict
        ``tangent`` (ra, dec), ``ra`` (min, max; min may be negative), ``dec`` (min, max).

    Examples
    --------
    >>> region_bounds(35, 0)["ra"]
    (-1.7307692307692308, 1.7307692307692308)
    """
    centres, edges, per_ring = _rings()
    step = 360.0 / float(per_ring[ring])
    ra0 = index * step
    return {
        "tangent": (ra0, float(centres[ring])),
        "ra": (ra0 - step / 2, ra0 + step / 2),
        "dec": (float(edges[ring + 1]), float(edges[ring])),
    }


def skycell_name(ring: int, index: int, column: int, row: int) -> str:
    """Return the name of skycell (``column``, ``row``) from the centre of a projection region.

    Examples
    --------
    >>> skycell_name(*(int(v) for v in projection_region(8.1, -43.7)), 3, -2)
    '007m42x53y48'
    """
    ra0, dec0 = region_bounds(ring, index)["tangent"]
    sign = "m" if dec0 < 0 else "p"
    return f"{round(ra0) % 360:03d}{sign}{round(abs(dec0)):02d}x{50 + column:02d}y{50 + row:02d}"


def skycell_frame(ring: int, index: int, column: int, row: int) -> dict[str, Any]:
    """Return a skycell's WCS facts: tangent point, its pixel in the cell, the cell's centre.

    Pixels are 0-based; the projection is TAN about the region's tangent point with
    ``CD = diag(-s, s)``, ``s`` = 0.055 arcsec.

    Examples
    --------
    >>> frame = skycell_frame(*(int(v) for v in projection_region(8.1, -43.7)), 0, 0)
    >>> frame["x_ref"], frame["y_ref"], frame["name"]
    (2499.5, 2499.5, '007m42x50y50')
    """
    from roman_helpers.sandbox.sky import wfi

    ra0, dec0 = region_bounds(ring, index)["tangent"]
    scale = SKYCELL_PIXEL_SCALE / 3600
    ra, dec = wfi.deproject(ra0, dec0, -column * SKYCELL_CORE * scale, row * SKYCELL_CORE * scale)
    return {
        "name": skycell_name(ring, index, column, row),
        "ra_ref": ra0,
        "dec_ref": dec0,
        "x_ref": (SKYCELL_SIDE - 1) / 2 - column * SKYCELL_CORE,
        "y_ref": (SKYCELL_SIDE - 1) / 2 - row * SKYCELL_CORE,
        "ra": round(float(ra), 10),
        "dec": round(float(dec), 10),
        "pixel_scale": SKYCELL_PIXEL_SCALE,
        "shape": (SKYCELL_SIDE, SKYCELL_SIDE),
    }


def _plane(ring: int, index: int, ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions on a region's pixel plane: 0.055-arcsec pixels from the tangent point, x west."""
    ra0, dec0 = region_bounds(ring, index)["tangent"]
    xi, eta = wfi.project(ra0, dec0, ra, dec)
    scale = SKYCELL_PIXEL_SCALE / 3600
    return -xi / scale, eta / scale


def _in_region(ring: int, index: int, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    bounds = region_bounds(ring, index)
    lo, hi = bounds["ra"]
    shifted = (ra - lo) % 360.0
    return np.asarray((shifted < hi - lo) & (dec >= bounds["dec"][0]) & (dec < bounds["dec"][1]))


def _cells_overlapping(px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(quad, column, row) of every skycell square that each convex quadrilateral overlaps.

    ``px``, ``py``: shape (n, 4), corners in order on a region's plane. Separating axes: the
    square's two axes and the quadrilateral's four edge normals.
    """
    half = SKYCELL_SIDE / 2
    low = np.ceil((px.min(axis=1) - half) / SKYCELL_CORE).astype(int)
    high = np.floor((px.max(axis=1) + half) / SKYCELL_CORE).astype(int)
    low_y = np.ceil((py.min(axis=1) - half) / SKYCELL_CORE).astype(int)
    high_y = np.floor((py.max(axis=1) + half) / SKYCELL_CORE).astype(int)
    span = int(max((high - low).max(initial=0), (high_y - low_y).max(initial=0))) + 1
    offsets = np.arange(span)
    column = low[:, None, None] + offsets[None, :, None]
    row = low_y[:, None, None] + offsets[None, None, :]
    column, row = np.broadcast_arrays(column, row)
    keep = (column <= high[:, None, None]) & (row <= high_y[:, None, None])
    cx, cy = column * SKYCELL_CORE, row * SKYCELL_CORE
    ex, ey = np.roll(px, -1, axis=1) - px, np.roll(py, -1, axis=1) - py
    for k in range(4):
        nx, ny = -ey[:, k], ex[:, k]
        along = px * nx[:, None] + py * ny[:, None]
        qmin, qmax = along.min(axis=1), along.max(axis=1)
        centre = cx * nx[:, None, None] + cy * ny[:, None, None]
        reach = half * (np.abs(nx) + np.abs(ny))[:, None, None]
        keep &= (centre + reach > qmin[:, None, None]) & (centre - reach < qmax[:, None, None])
    quad = np.broadcast_to(np.arange(len(px))[:, None, None], keep.shape)
    inside = np.abs(column) <= _CELLS_FROM_CENTRE
    inside &= np.abs(row) <= _CELLS_FROM_CENTRE
    keep &= inside
    return quad[keep], column[keep], row[keep]


def _regions_near(ra: np.ndarray, dec: np.ndarray, margin: float = 0.15) -> list[tuple[int, int]]:
    """Every projection region within ``margin`` degrees of any of the positions."""
    found: set[tuple[int, int]] = set()
    stretch = margin / np.maximum(np.cos(np.radians(dec)), 0.05)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            ring, index = projection_region(ra + dx * stretch, dec + dy * margin)
            found.update(zip(ring.tolist(), index.tolist(), strict=True))
    return sorted(found)


@functools.cache
def _coadd_products() -> tuple[Table, list[np.ndarray]]:
    """The HLWAS L3 products (one row each) and, for each, the manifest rows of its members."""
    table = _manifest("r00342")
    ra, dec = wfi.corners(
        np.asarray(table["wfi_ra"]),
        np.asarray(table["wfi_dec"]),
        np.asarray(table["wfi_pa"]),
        np.asarray([int(str(d)[3:]) for d in table["detector"]]),
        convention="roman",
    )
    pass_, visit = np.asarray(table["pass"]), np.asarray(table["visit"])
    grouping_key = pass_ * 1000 + visit
    rows: dict[tuple[str, int], list[int]] = {}
    cells: dict[str, tuple[int, int, int, int]] = {}
    for ring, index in _regions_near(ra.ravel(), dec.ravel()):
        px, py = _plane(ring, index, ra, dec)
        quad, column, row = _cells_overlapping(px, py)
        # a cell is the region's when a corner of its core lies inside the region's bounds
        unique = np.unique(np.column_stack([column, row]), axis=0)
        scale = SKYCELL_PIXEL_SCALE / 3600
        ra0, dec0 = region_bounds(ring, index)["tangent"]
        half = SKYCELL_CORE / 2
        corner = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half
        x = unique[:, 0, None] * SKYCELL_CORE + corner[None, :, 0]
        y = unique[:, 1, None] * SKYCELL_CORE + corner[None, :, 1]
        cra, cdec = wfi.deproject(ra0, dec0, -x * scale, y * scale)
        owned = np.asarray(_in_region(ring, index, cra, cdec).any(axis=1), dtype=bool)
        owned_set = {(int(c), int(r)) for (c, r), own in zip(unique, owned.tolist(), strict=True) if own}
        for q, c, r in zip(quad.tolist(), column.tolist(), row.tolist(), strict=True):
            if (c, r) not in owned_set:
                continue
            name = skycell_name(ring, index, c, r)
            cells[name] = (ring, index, c, r)
            rows.setdefault((name, int(grouping_key[q])), []).append(q)
    ordered = sorted(rows, key=lambda k: (k[1], k[0]))  # visit by visit, skycells by name
    members = [np.array(sorted(rows[k])) for k in ordered]
    first = np.array([m[0] for m in members])
    frames = {name: skycell_frame(*cells[name]) for name in {k[0] for k in ordered}}
    names = [k[0] for k in ordered]
    plan = 1
    grouping = [
        f"v{plan:02d}{int(table['pass'][i]):03d}{int(table['segment'][i]):03d}"
        f"{int(table['observation'][i]):03d}{int(table['visit'][i]):03d}"
        for i in first
    ]
    elements = np.asarray(table["optical_element"])[first]
    root = f"s3://{BUCKET}/{PREFIX}/r00342/l3"
    products = Table(
        {
            "skycell_ra": [frames[n]["ra"] for n in names],
            "skycell_dec": [frames[n]["dec"] for n in names],
            "skycell_name": names,
            "grouping": grouping,
            "optical_element": elements,
            "l3_s3_uri": [
                f"{root}/r00342_p_{g}_{n}_{str(e).lower()}_coadd.asdf"
                for g, n, e in zip(grouping, names, elements, strict=True)
            ],
            "ring": [cells[n][0] for n in names],
            "region": [cells[n][1] for n in names],
            "column": [cells[n][2] for n in names],
            "row": [cells[n][3] for n in names],
        }
    )
    return products, members


def coadd_products() -> Table:
    """Return the HLWAS L3 skycell products: one row per skycell, visit and filter.

    Returns
    -------
    astropy.table.Table
        ``skycell_ra, skycell_dec, skycell_name, grouping, optical_element, l3_s3_uri`` and
        the skycell's place in the sky map (``ring``, ``region``, ``column``, ``row``); no
        exposure times (see :func:`coadd_manifest`).

    Examples
    --------
    >>> products = coadd_products()
    >>> str(products["l3_s3_uri"][0]).rsplit("/", 1)[1]
    'r00342_p_v01001001001001_011m46x45y62_f158_coadd.asdf'
    """
    return Table(_coadd_products()[0], copy=False)


def coadd_members(row: int) -> Table:
    """Return the L2 manifest rows (exposure and detector) that overlap L3 product ``row``.

    Examples
    --------
    >>> sorted(set(coadd_members(0)["exposure"].tolist()))
    [1, 2, 3]
    """
    return _manifest("r00342")[_coadd_products()[1][row]]


def coadd_member_counts() -> np.ndarray:
    """Return how many L2 files (exposure and detector) each L3 product combines.

    Examples
    --------
    >>> int(coadd_member_counts().max()) <= 3 * 18
    True
    """
    return np.array([len(m) for m in _coadd_products()[1]])


def coadd_exposure_times(row: int) -> tuple[float, float]:
    """Return (mean over covered points, largest) exposure time of L3 product ``row``.

    Measured on an 8 x 8 grid of points over the skycell: the sum of the exposure times of
    the member detectors that hold each point.

    Examples
    --------
    >>> mean, largest = coadd_exposure_times(0)
    >>> 0 < mean <= largest <= 3 * 66.0
    True
    """
    return _exposure_times(np.array([row]))[0]


@functools.cache
def _l2_corners() -> tuple[np.ndarray, np.ndarray]:
    table = _manifest("r00342")
    return wfi.corners(
        np.asarray(table["wfi_ra"]),
        np.asarray(table["wfi_dec"]),
        np.asarray(table["wfi_pa"]),
        np.asarray([int(str(d)[3:]) for d in table["detector"]]),
        convention="roman",
    )


def _exposure_times(rows: np.ndarray, chunk: int = 4096) -> list[tuple[float, float]]:
    """(mean over covered grid points, largest) exposure time of each product, batch by batch."""
    products, members = _coadd_products()
    exptime = np.asarray(_manifest("r00342")["exptime"])
    corner_ra, corner_dec = _l2_corners()
    steps = (np.arange(_COVERAGE_GRID) + 0.5) * SKYCELL_SIDE / _COVERAGE_GRID - SKYCELL_SIDE / 2
    gx, gy = (g.ravel() for g in np.meshgrid(steps, steps))
    region = np.asarray(products["ring"]) * 100000 + np.asarray(products["region"])
    mean = np.zeros(len(rows))
    largest = np.zeros(len(rows))
    for key in np.unique(region[rows]):
        ring, index = divmod(int(key), 100000)
        mine = np.flatnonzero(region[rows] == key)
        for part in range(0, len(mine), chunk):
            batch = mine[part : part + chunk]
            owner = np.concatenate([np.full(len(members[rows[b]]), i) for i, b in enumerate(batch)])
            member = np.concatenate([members[rows[b]] for b in batch])
            px, py = _plane(ring, index, corner_ra[member], corner_dec[member])
            x = np.asarray(products["column"])[rows[batch]][owner, None] * SKYCELL_CORE + gx[None, :]
            y = np.asarray(products["row"])[rows[batch]][owner, None] * SKYCELL_CORE + gy[None, :]
            ex, ey = np.roll(px, -1, axis=1) - px, np.roll(py, -1, axis=1) - py
            cross = ex[:, :, None] * (y[:, None, :] - py[:, :, None]) - ey[:, :, None] * (
                x[:, None, :] - px[:, :, None]
            )  # (member, edge, point): the same sign on all four edges means inside
            inside = np.all(cross >= 0, axis=1) | np.all(cross <= 0, axis=1)
            total = np.zeros((len(batch), gx.size))
            np.add.at(total, owner, inside * exptime[member][:, None])
            covered = total > 0
            count = covered.sum(axis=1)
            # a sliver between the grid's points: the shortest member exposure stands for it
            shortest = np.full(len(batch), np.inf)
            np.minimum.at(shortest, owner, exptime[member])
            mean[batch] = np.where(count > 0, total.sum(axis=1) / np.maximum(count, 1), shortest)
            largest[batch] = np.where(count > 0, total.max(axis=1), shortest)
    return [(round(float(m), 3), round(float(x), 3)) for m, x in zip(mean, largest, strict=True)]


@functools.cache
def _coadd_manifest() -> Table:
    products = _coadd_products()[0]
    times = _exposure_times(np.arange(len(products)))
    return Table(
        {
            "skycell_ra": products["skycell_ra"],
            "skycell_dec": products["skycell_dec"],
            "skycell_name": products["skycell_name"],
            "grouping": products["grouping"],
            "exptime": [t[0] for t in times],
            "max_exptime": [t[1] for t in times],
            "optical_element": products["optical_element"],
            "l3_s3_uri": products["l3_s3_uri"],
        }
    )


def coadd_manifest() -> Table:
    """Return the HLWAS L3 manifest in the published columns (``hlwas_coadd_manifest.ecsv``).

    Examples
    --------
    >>> print(" ".join(coadd_manifest().colnames))
    skycell_ra skycell_dec skycell_name grouping exptime max_exptime optical_element l3_s3_uri
    """
    return Table(_coadd_manifest(), copy=False)


#: The published manifests' file names, in the order :func:`write_manifests` writes them.
MANIFEST_FILES = ("gbtds_manifest.ecsv", "hlwas_manifest.ecsv", "hlwas_coadd_manifest.ecsv")


def manifest_table(filename: str) -> Table:
    """Return the table of one published manifest file, by its name.

    Parameters
    ----------
    filename : str
        One of :data:`MANIFEST_FILES`.

    Examples
    --------
    >>> len(manifest_table("gbtds_manifest.ecsv"))
    88038
    """
    if filename == "gbtds_manifest.ecsv":
        return manifest("r00340")
    if filename == "hlwas_manifest.ecsv":
        return manifest("r00342")
    if filename == "hlwas_coadd_manifest.ecsv":
        return coadd_manifest()
    raise ValueError(f"the CCS manifests are {', '.join(MANIFEST_FILES)}, not {filename!r}")


def write_manifests(
    directory: Any, *, overwrite: bool = True, progress: Any = None, names: Any = MANIFEST_FILES
) -> list[Any]:
    """Write the CCS manifests (ECSV) into ``directory``; each file appears whole or not at all.

    Parameters
    ----------
    directory : str or path-like
        Created if missing.
    names : sequence of str, optional
        Which of :data:`MANIFEST_FILES` (default all three).
    overwrite : bool
        False: leave a manifest that is already there as it is.
    progress : callable, optional
        Called with each file's name before it is written.

    Returns
    -------
    list of pathlib.Path
        The manifests' paths (written or kept).

    Examples
    --------
    A folder that already holds the manifests (the real ones, say) keeps them:

    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     for name in MANIFEST_FILES:
    ...         _ = (pathlib.Path(folder) / name).write_text("# the real one")
    ...     paths = write_manifests(folder, overwrite=False)
    ...     [path.read_text() for path in paths]
    ['# the real one', '# the real one', '# the real one']
    """
    from pathlib import Path

    from roman_helpers._atomic import replacing

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for filename in names:
        path = folder / filename
        paths.append(path)
        if path.exists() and not overwrite:
            continue
        if progress is not None:
            progress(filename)
        with replacing(path) as temporary:
            manifest_table(filename).write(temporary, format="ascii.ecsv")
    return paths
