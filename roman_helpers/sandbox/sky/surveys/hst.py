"""The HST fields MAST serves in the sandbox: WFC3/IR dither associations and their exposures.

Published facts
    * WFC3/IR: a 1014 x 1014 science array at 0.13 arcsec per pixel (1024 x 1024 read out, with
      five reference pixels on each side), read non-destructively (MULTIACCUM, ``NSAMP`` reads
      including the zeroth); drizzled products at 0.128 arcsec per pixel (WFC3 Instrument and
      Data Handbooks). A dither association is named by its ``obs_id`` (``ib1f0v010``); its
      exposures by the first six characters plus an exposure code (``ib1f0vabq``).
    * The source tutorial's story (REFERENCE.md, section 1): proposal 11360 in F160W, filtered
      to level-3 science images made by CALWF3, leaves 60 drizzled images, obsID ``24797441``
      among them; the target is M85 (NGC 4382), at SIMBAD's position.

The sandbox's own choices
    * 72 associations of M85 (60 in F160W, 12 in F110W), each pointed within 2 arcsec of the
      galaxy, one every 0.7 days from MJD 55060.25, each of two exposures half an arcsecond apart
      in declination (:data:`DITHER_ARCSEC`), four reads each (:data:`NSAMP`).
    * Two small fields where a flat-sky cone search goes wrong (proposal 17010): four pointings
      either side of right ascension 0h near (0, +2) in F125W, and five round the north celestial
      pole in F140W.
    * Every image is north up (no roll); the drizzled image is centred on the association's
      pointing, each exposure on its own dithered position.
    * M85 itself is the smooth elliptical model of the sandbox's first version
      (:func:`target_light`: a de Vaucouleurs profile, effective radius 19.2 arcsec, axis ratio
      0.8); the field's stars and galaxies come from the sandbox's sky.

Examples
--------
>>> table = observations()
>>> len(table), int((table["filter"] == "F160W").sum())
(81, 60)
>>> str(table[table["obsid"] == "24797441"]["obs_id"][0])
'ib1f0v010'
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from astropy.table import Table
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "DITHER_ARCSEC",
    "DRZ_PIXEL_SCALE",
    "DRZ_SHAPE",
    "EXPOSURES_PER_VISIT",
    "FLT_PIXEL_SCALE",
    "FLT_SHAPE",
    "M85",
    "NSAMP",
    "PROPOSAL_ID",
    "REFERENCE_PIXELS",
    "exposures",
    "observations",
    "tan_header",
    "target_light",
]

PROPOSAL_ID = "11360"
#: M85 (NGC 4382) at SIMBAD's position, rounded: the centre of the tutorial's target model.
M85 = (186.350222, 18.191081)
#: Pixels of a drizzled image, and their side in arcseconds.
DRZ_SHAPE = (1014, 1014)
DRZ_PIXEL_SCALE = 0.128
#: Science pixels of one exposure (the calibrated ``_flt`` image), and their side in arcseconds.
FLT_SHAPE = (1014, 1014)
FLT_PIXEL_SCALE = 0.13
#: Reference pixels on each side of a raw or intermediate (``_ima``) readout.
REFERENCE_PIXELS = 5
#: Reads per exposure, the zeroth included.
NSAMP = 4
EXPOSURES_PER_VISIT = 2
#: Declination step between the two exposures of an association.
DITHER_ARCSEC = 0.5
_EXPOSURE_CODES = ("abq", "bbq")
_LETTERS = "0123456789abcdefghijklmnopqrstuvwxyz"
# the target model: de Vaucouleurs profile (effective radius, axis ratio, electrons/s/arcsec^2 at
# the effective radius); the first sandbox's numbers, in pixels of 0.128 arcsec, turned into arcsec
_M85_RADIUS = 150 * 0.128
_M85_AXIS_RATIO = 0.8
_M85_SOFTENING = 0.128
_M85_SURFACE_BRIGHTNESS = 4.0 / 2000 / 0.128**2


def _m85_plan() -> list[dict[str, object]]:
    """The tutorial's visits: 60 in F160W and 12 in F110W, within 2 arcsec of M85."""
    plan: list[dict[str, object]] = []
    index = 0
    for band, count, first_obsid, exptime in (
        ("F160W", 60, 24797410, 1102.9),
        ("F110W", 12, 24797490, 605.9),
    ):
        for number in range(count):
            angle = 2 * math.pi * number / count
            offset = 2.0 / 3600
            plan.append(
                {
                    "obs_id": f"ib1f{_LETTERS[index // 36]}{_LETTERS[index % 36]}010",
                    "obsid": str(first_obsid + number),
                    "ra": M85[0] + offset * math.cos(angle) / math.cos(math.radians(M85[1])),
                    "dec": M85[1] + offset * math.sin(angle),
                    "filter": band,
                    "exptime": exptime,
                    "t_min": 55060.25 + 0.7 * index,
                    "target_name": "M85",
                    "target_classification": "GALAXY;ELLIPTICAL",
                    "target_ra": M85[0],
                    "target_dec": M85[1],
                    "galaxy": True,
                    "proposal_id": PROPOSAL_ID,
                    "title": "Globular clusters and the infrared light of M85 (synthetic)",
                    "objid": str(1060000000 + index),
                }
            )
            index += 1
    return plan


def _geometry_plan() -> list[dict[str, object]]:
    """Two small fields where a flat-sky cone search goes wrong: across RA 0h and at the north pole."""
    wrap = [(ra, 2.0 + 0.0004 * (n - 1.5)) for n, ra in enumerate((359.9985, 359.9995, 0.0005, 0.0015))]
    pole = [(0.0, 89.998), (90.0, 89.998), (180.0, 89.998), (270.0, 89.998), (45.0, 89.95)]
    plan: list[dict[str, object]] = []
    for prefix, first, band, start, target, centre, pointings in (
        ("ieyc0", 0, "F125W", 58000.5, "RA0-FIELD", (0.0, 2.0), wrap),
        ("ieycp", 10, "F140W", 58010.5, "NCP-FIELD", (0.0, 90.0), pole),
    ):
        for number, (ra, dec) in enumerate(pointings):
            plan.append(
                {
                    "obs_id": f"{prefix}{number + 1}010",
                    "obsid": str(24797601 + first + number),
                    "ra": ra,
                    "dec": dec,
                    "filter": band,
                    "exptime": 805.9,
                    "t_min": start + 0.3 * number,
                    "target_name": target,
                    "target_classification": "EXTRAGALACTIC FIELD",
                    "target_ra": centre[0],
                    "target_dec": centre[1],
                    "galaxy": False,
                    "proposal_id": "17010",
                    "title": "Sandbox geometry fields: right ascension 0h and the celestial pole (synthetic)",
                    "objid": str(1060000100 + first + number),
                }
            )
    return plan


@functools.lru_cache(maxsize=1)
def _observations() -> Table:
    plan = [*_m85_plan(), *_geometry_plan()]
    table = Table(rows=[tuple(row.values()) for row in plan], names=list(plan[0]))
    table["ra"] = np.round(np.asarray(table["ra"], float) % 360, 8)
    table["dec"] = np.round(np.asarray(table["dec"], float), 8)
    table["t_min"] = np.round(np.asarray(table["t_min"], float), 5)
    table["t_max"] = np.round(table["t_min"] + table["exptime"] / 86400, 5)
    return table


def observations() -> Table:
    """Return the HST associations MAST lists, one row each, in MAST's order.

    Returns
    -------
    astropy.table.Table
        ``obs_id, obsid`` (MAST's product group id, a string), ``ra, dec`` (the drizzled
        image's centre, degrees), ``filter, exptime`` (seconds, both exposures), ``t_min, t_max``
        (MJD), ``target_name, target_classification, target_ra, target_dec, galaxy`` (whether
        the M85 model is drawn), ``proposal_id, title, objid``.

    Examples
    --------
    >>> sorted(str(p) for p in set(observations()["proposal_id"]))
    ['11360', '17010']
    """
    return _observations().copy()


@functools.lru_cache(maxsize=1)
def _exposures() -> Table:
    rows = []
    for number, visit in enumerate(_observations()):
        per_exposure = float(visit["exptime"]) / EXPOSURES_PER_VISIT
        for index, code in enumerate(_EXPOSURE_CODES):
            rows.append(
                (
                    str(visit["obs_id"]),
                    str(visit["obs_id"])[:6] + code,
                    str(24800000 + EXPOSURES_PER_VISIT * number + index),
                    index,
                    float(visit["ra"]),
                    round(float(visit["dec"]) + (index - 0.5) * DITHER_ARCSEC / 3600, 8),
                    round(float(visit["t_min"]) + index * per_exposure / 86400, 5),
                    per_exposure,
                )
            )
    names = ("obs_id", "exposure", "obsid", "number", "ra", "dec", "t_min", "exptime")
    return Table(rows=rows, names=names)


def exposures() -> Table:
    """Return the exposures of every association, two each.

    Returns
    -------
    astropy.table.Table
        ``obs_id`` (the association), ``exposure`` (its root name), ``obsid`` (MAST's id of the
        exposure's own products), ``number`` (0, 1), ``ra, dec`` (the exposure's centre),
        ``t_min`` (MJD), ``exptime`` (seconds).

    Examples
    --------
    >>> rows = exposures()
    >>> [str(name) for name in rows[rows["obs_id"] == "ib1f0v010"]["exposure"]]
    ['ib1f0vabq', 'ib1f0vbbq']
    """
    return _exposures().copy()


def tan_header(shape: tuple[int, int], ra: float, dec: float, pixel_scale: float) -> Any:
    """Return a north-up gnomonic WCS centred on an image, as FITS header cards.

    Parameters
    ----------
    shape : (ny, nx)
    ra, dec : float
        Sky position of the image centre, degrees.
    pixel_scale : float
        Arcseconds per pixel.

    Returns
    -------
    astropy.io.fits.Header

    Examples
    --------
    >>> header = tan_header((1014, 1014), 186.35, 18.19, 0.128)
    >>> header["CRPIX1"], round(header["CD2_2"] * 3600, 3)
    (507.5, 0.128)
    """
    from astropy.io import fits

    ny, nx = shape
    step = pixel_scale / 3600
    return fits.Header(
        {
            "WCSAXES": 2,
            "CTYPE1": "RA---TAN",
            "CTYPE2": "DEC--TAN",
            "CUNIT1": "deg",
            "CUNIT2": "deg",
            "CRPIX1": (nx + 1) / 2,
            "CRPIX2": (ny + 1) / 2,
            "CRVAL1": ra,
            "CRVAL2": dec,
            "CD1_1": -step,
            "CD1_2": 0.0,
            "CD2_1": 0.0,
            "CD2_2": step,
            "RADESYS": "ICRS",
        }
    )


def target_light(ra: ArrayLike, dec: ArrayLike) -> NDArray[np.float64]:
    """Surface brightness of the M85 model at sky positions: electrons per second per square arcsecond.

    The same in both filters (the model has no colour). Zero far from the galaxy is never
    reached: the profile falls smoothly, by about 12 magnitudes at 2 arcminutes.

    Examples
    --------
    >>> centre, edge = target_light([M85[0], M85[0]], [M85[1], M85[1] + 60 / 3600])
    >>> bool(centre > 1000 * edge > 0)
    True
    """
    ra_, dec_ = np.asarray(ra, float), np.asarray(dec, float)
    east = ((ra_ - M85[0] + 180) % 360 - 180) * math.cos(math.radians(M85[1])) * 3600
    north = (dec_ - M85[1]) * 3600
    radius = np.hypot(east, north / _M85_AXIS_RATIO) + _M85_SOFTENING
    return _M85_SURFACE_BRIGHTNESS * np.exp(-7.67 * ((radius / _M85_RADIUS) ** 0.25 - 1.0))
