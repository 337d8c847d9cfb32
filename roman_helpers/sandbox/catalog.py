"""The sandbox's synthetic MAST catalog: HST WFC3/IR observations of M85 and their products.

Rows carry MAST's real column names and types (those of ``Mast.Caom.Filtered`` and
``Mast.Caom.Products`` as recorded in astroquery's own test data), and the numbers are built so
that the source tutorial's story holds: the query for proposal 11360 in F160W, after the
documented product filters (level 3, SCIENCE, image, CALWF3), leaves 60 drizzled images, obsID
24797441 among them. Twelve F110W visits give papermill runs a second filter.

Everything here is deterministic (no random numbers), so the catalog, the data files generated
from it and the notebooks' checked outputs agree on every machine.
"""

from __future__ import annotations

import functools
import math
from typing import Any

__all__ = [
    "OBSERVATION_FIELDS", "PRODUCT_FIELDS", "PROPOSAL_ID", "M85", "observations", "products",
    "cloud_key", "resolve", "drizzled_products",
]

PROPOSAL_ID = "11360"
#: Where the name resolver puts M85 (SIMBAD's position, rounded).
M85 = {"ra": 186.350222, "decl": 18.191081}

OBSERVATION_FIELDS: list[dict[str, str]] = [
    {"name": name, "type": kind} for name, kind in [
        ("intentType", "string"), ("obs_collection", "string"), ("provenance_name", "string"),
        ("instrument_name", "string"), ("project", "string"), ("filters", "string"),
        ("wavelength_region", "string"), ("target_name", "string"), ("target_classification", "string"),
        ("obs_id", "string"), ("s_ra", "float"), ("s_dec", "float"), ("dataproduct_type", "string"),
        ("proposal_pi", "string"), ("calib_level", "int"), ("t_min", "float"), ("t_max", "float"),
        ("t_exptime", "float"), ("em_min", "float"), ("em_max", "float"), ("obs_title", "string"),
        ("t_obs_release", "float"), ("proposal_id", "string"), ("proposal_type", "string"),
        ("sequence_number", "int"), ("s_region", "string"), ("jpegURL", "string"), ("dataURL", "string"),
        ("dataRights", "string"), ("mtFlag", "boolean"), ("srcDen", "float"), ("obsid", "string"),
        ("objID", "string"),
    ]
]

PRODUCT_FIELDS: list[dict[str, str]] = [
    {"name": name, "type": kind} for name, kind in [
        ("obsID", "string"), ("obs_collection", "string"), ("dataproduct_type", "string"),
        ("obs_id", "string"), ("description", "string"), ("type", "string"), ("dataURI", "string"),
        ("productType", "string"), ("productGroupDescription", "string"),
        ("productSubGroupDescription", "string"), ("productDocumentationURL", "string"),
        ("project", "string"), ("prvversion", "string"), ("proposal_id", "string"),
        ("productFilename", "string"), ("size", "int"), ("parent_obsid", "string"),
        ("dataRights", "string"), ("calib_level", "int"),
    ]
]

# (filter, number of visits, first obsid, wavelength range in nm)
_VISIT_PLAN = [("F160W", 60, 24797410, (1400.0, 1700.0)), ("F110W", 12, 24797490, (900.0, 1400.0))]
_LETTERS = "0123456789abcdefghijklmnopqrstuvwxyz"
_FIELD_OFFSET_DEG = 2.0 / 3600  # visits dither within 2 arcsec of M85
_PIXEL_DEG = 0.128 / 3600       # WFC3/IR drizzled pixel
_DRZ_SIZE_HINT = 786_240        # replaced by the real size when the sandbox builds its files


def _visit_id(index: int) -> str:
    """``ib1f`` + a two-character visit + ``010``: the association's obs_id (e.g. ``ib1f0a010``)."""
    return f"ib1f{_LETTERS[index // 36]}{_LETTERS[index % 36]}010"


def _footprint(ra: float, dec: float, half_width_deg: float) -> str:
    cos_dec = math.cos(math.radians(dec))
    corners = [(ra - half_width_deg / cos_dec, dec - half_width_deg), (ra + half_width_deg / cos_dec, dec - half_width_deg),
               (ra + half_width_deg / cos_dec, dec + half_width_deg), (ra - half_width_deg / cos_dec, dec + half_width_deg)]
    return "POLYGON ICRS " + " ".join(f"{x:.8f} {y:.8f}" for x, y in corners)


@functools.lru_cache(maxsize=1)
def _visits() -> tuple[dict[str, Any], ...]:
    visits = []
    index = 0
    for band, count, first_obsid, (em_min, em_max) in _VISIT_PLAN:
        for number in range(count):
            angle = 2 * math.pi * number / count
            ra = M85["ra"] + _FIELD_OFFSET_DEG * math.cos(angle) / math.cos(math.radians(M85["decl"]))
            dec = M85["decl"] + _FIELD_OFFSET_DEG * math.sin(angle)
            start = 55060.25 + 0.7 * index
            exptime = 1102.9 if band == "F160W" else 605.9
            visits.append({
                "intentType": "science", "obs_collection": "HST", "provenance_name": "CALWF3",
                "instrument_name": "WFC3/IR", "project": "HST", "filters": band,
                "wavelength_region": "INFRARED", "target_name": "M85",
                "target_classification": "GALAXY;ELLIPTICAL", "obs_id": _visit_id(index),
                "s_ra": round(ra, 8), "s_dec": round(dec, 8), "dataproduct_type": "image",
                "proposal_pi": "Sandbox, A.", "calib_level": 3, "t_min": round(start, 5),
                "t_max": round(start + exptime / 86400, 5), "t_exptime": exptime,
                "em_min": em_min, "em_max": em_max,
                "obs_title": "Globular clusters and the infrared light of M85 (synthetic)",
                "t_obs_release": round(start + 365.25, 5), "proposal_id": PROPOSAL_ID,
                "proposal_type": "GO", "sequence_number": None,
                "s_region": _footprint(ra, dec, 128 * _PIXEL_DEG),
                "jpegURL": f"mast:HST/product/{_visit_id(index)}_drz.jpg", "dataURL": None,
                "dataRights": "PUBLIC", "mtFlag": False, "srcDen": 5885.0,
                "obsid": str(first_obsid + number), "objID": str(1060000000 + index),
            })
            index += 1
    return tuple(visits)


def observations() -> list[dict[str, Any]]:
    """Return the observation rows (``Mast.Caom.Filtered``), one per WFC3/IR visit.

    Returns
    -------
    list of dict
        Rows keyed by the names in :data:`OBSERVATION_FIELDS`.

    Examples
    --------
    >>> rows = observations()
    >>> sum(r["filters"] == "F160W" for r in rows), rows[0]["target_name"]
    (60, 'M85')
    """
    return [dict(row) for row in _visits()]


def _product(visit: dict[str, Any], obs_id: str, suffix: str, *, product_type: str, calib_level: int,
             description: str, size: int, obsid: str, dataproduct_type: str = "image",
             extension: str = "fits") -> dict[str, Any]:
    filename = f"{obs_id}_{suffix}.{extension}"
    return {
        "obsID": obsid, "obs_collection": "HST", "dataproduct_type": dataproduct_type, "obs_id": obs_id,
        "description": description, "type": "S" if product_type == "SCIENCE" else "D",
        "dataURI": f"mast:HST/product/{filename}", "productType": product_type,
        "productGroupDescription": "Minimum Recommended Products" if suffix == "drz" else None,
        "productSubGroupDescription": suffix.upper(), "productDocumentationURL": None,
        "project": "CALWF3", "prvversion": "3.7.2", "proposal_id": PROPOSAL_ID,
        "productFilename": filename, "size": size, "parent_obsid": visit["obsid"],
        "dataRights": "PUBLIC", "calib_level": calib_level,
    }


@functools.lru_cache(maxsize=1)
def _products() -> tuple[dict[str, Any], ...]:
    rows = []
    for number, visit in enumerate(_visits()):
        association = visit["obs_id"]
        rows.append(_product(visit, association, "drz", product_type="SCIENCE", calib_level=3,
                             description="DADS DRZ file - Calibrated combined image WFC3/IR",
                             size=_DRZ_SIZE_HINT, obsid=visit["obsid"]))
        rows.append(_product(visit, association, "asn", product_type="AUXILIARY", calib_level=1,
                             description="DADS ASN file - Association table", size=11_520,
                             obsid=visit["obsid"], dataproduct_type="image"))
        rows.append(_product(visit, association, "drz", product_type="PREVIEW", calib_level=3,
                             description="Preview-Full", size=82_113, obsid=visit["obsid"], extension="jpg"))
        for exposure in range(2):
            exposure_id = f"{association[:6]}{'ab'[exposure]}{_LETTERS[(number + exposure) % 36]}q"
            exposure_obsid = str(24800000 + 2 * number + exposure)
            rows.append(_product(visit, exposure_id, "flt", product_type="SCIENCE", calib_level=2,
                                 description="DADS FLT file - Calibrated exposure WFC3/IR", size=16_583_040,
                                 obsid=exposure_obsid))
            rows.append(_product(visit, exposure_id, "raw", product_type="SCIENCE", calib_level=1,
                                 description="DADS RAW file - Raw exposure WFC3/IR", size=5_132_160,
                                 obsid=exposure_obsid))
    return tuple(rows)


def products() -> list[dict[str, Any]]:
    """Return every product row (``Mast.Caom.Products``): drz, association, preview, flt and raw.

    Returns
    -------
    list of dict
        Rows keyed by the names in :data:`PRODUCT_FIELDS`; ``parent_obsid`` links each to its visit.

    Examples
    --------
    >>> len(products()) == 7 * len(observations())
    True
    """
    return [dict(row) for row in _products()]


def drizzled_products() -> list[dict[str, Any]]:
    """Return the level-3 science products, the only ones whose bytes the sandbox holds.

    Returns
    -------
    list of dict
        One ``_drz.fits`` row per visit, with the visit's pointing as ``s_ra``/``s_dec`` and its
        filter as ``filters``.
    """
    by_obsid = {v["obsid"]: v for v in _visits()}
    return [{**row, "s_ra": by_obsid[row["obsID"]]["s_ra"], "s_dec": by_obsid[row["obsID"]]["s_dec"],
             "filters": by_obsid[row["obsID"]]["filters"]}
            for row in _products()
            if row["productType"] == "SCIENCE" and row["calib_level"] == 3]


def cloud_key(data_uri: str) -> str:
    """Return the ``stpubdata`` key of an HST product URI, as MAST's ``path_lookup`` does.

    Parameters
    ----------
    data_uri : str
        ``mast:HST/product/<file>``.

    Returns
    -------
    str
        ``hst/public/<first 4 chars of the root name>/<root name>/<file>``.

    Examples
    --------
    >>> cloud_key("mast:HST/product/ib1f0a010_drz.fits")
    'hst/public/ib1f/ib1f0a010/ib1f0a010_drz.fits'
    """
    filename = data_uri.rsplit("/", 1)[-1]
    root = filename.split("_", 1)[0].lower()
    return f"hst/public/{root[:4]}/{root}/{filename}"


_NAMES = {"m85": ("M 85", M85), "messier 85": ("M 85", M85), "ngc 4382": ("M 85", M85),
          "ngc4382": ("M 85", M85), "m 85": ("M 85", M85)}


def resolve(name: str) -> dict[str, Any] | None:
    """Resolve an object name the way MAST's resolver does, for the few names the sandbox knows.

    Parameters
    ----------
    name : str
        An object name such as ``"M85"`` (case and spacing do not matter).

    Returns
    -------
    dict or None
        ``{"canonicalName", "ra", "decl", "objectType"}``, or None for an unknown name.

    Examples
    --------
    >>> resolve("m85")["canonicalName"]
    'M 85'
    >>> resolve("Betelgeuse") is None
    True
    """
    key = " ".join(str(name).lower().split())
    if key not in _NAMES:
        return None
    canonical, position = _NAMES[key]
    return {"canonicalName": canonical, "ra": position["ra"], "decl": position["decl"], "objectType": "GinGroup"}
