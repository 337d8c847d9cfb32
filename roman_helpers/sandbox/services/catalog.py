"""The sandbox's synthetic MAST catalog: HST WFC3/IR observations and every product MAST lists for them.

Rows carry MAST's column names and types (those of ``Mast.Caom.Filtered``, ``Mast.Caom.Cone``
and ``Mast.Caom.Products`` as recorded in astroquery's own test data), and the numbers are built
so that the source tutorial's story holds: the query for proposal 11360 in F160W, after the
documented product filters (level 3, SCIENCE, image, CALWF3), leaves 60 drizzled images, obsID
24797441 among them. Twelve F110W visits give papermill runs a second filter.

Each observation is a WFC3/IR dither association of two exposures, listed as MAST lists one:
the association's drizzled image, association table, jitter files, trailer and previews, and for
each exposure its calibrated (FLT), intermediate (IMA) and raw (RAW) files, support (SPT) and
trailer files and a preview. Two more small fields test geometry: one straddling right
ascension 0h and one around the north celestial pole.

Everything here is deterministic (no random numbers), so the catalog, the data files generated
from it and the notebooks' checked outputs agree on every machine.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = [
    "CONE_FIELDS",
    "COUNT_FIELDS",
    "FOOTPRINT_SIDE_PIXELS",
    "M85",
    "OBSERVATION_FIELDS",
    "POSITION_FIELDS",
    "PRODUCT_FIELDS",
    "PROPOSAL_ID",
    "cloud_key",
    "drizzled_products",
    "in_cloud",
    "observations",
    "product_sources",
    "products",
    "resolve",
]

PROPOSAL_ID = "11360"
#: Where the name resolver puts M85 (SIMBAD's position, rounded).
M85 = {"ra": 186.350222, "decl": 18.191081}

# (name, type in responses, type in columnsconfig, label, unit, description, example, separator)
# Labels, descriptions and examples are MAST's own (its columnsconfig for Mast.Caom.Cone).
_AS_MJD = "May be displayed in the Portal as YYY-MM-DD HH:MM, but should be searched as MJD"
_AS_DECIMAL = "May be displayed in the Portal as hh:mm:ss.sss, but should be searched as decimal"
# columns of both the observation and the product answers (the products call the group ID obsID)
_OBS_ID = (
    "obs_id",
    "string",
    "char",
    "Observation ID",
    "",
    "Observation identifier, given by mission",
    "U24Z0101T, N4QF18030",
    None,
)
_PRODUCT_GROUP_ID = (
    "string",
    "long",
    "Product Group ID",
    "",
    "Database identifier for obs_id",
    "Long integer, e.g. 2007590987",
    None,
)
_PROPOSAL_ID = ("proposal_id", "string", "char", "Proposal ID", "", "Proposal ID", "", None)
_OBSERVATION_COLUMNS = [
    (
        "intentType",
        "string",
        "char",
        "Observation Type",
        "",
        "Whether observation is for science or calibration.",
        "Valid values: science, calibration",
        None,
    ),
    ("obs_collection", "string", "char", "Mission", "", "Collection", "", ";"),
    (
        "provenance_name",
        "string",
        "char",
        "Provenance Name",
        "",
        "Provenance name, or source of data",
        "E.g. CALWF3, CALACS",
        None,
    ),
    (
        "instrument_name",
        "string",
        "char",
        "Instrument",
        "",
        "Instrument Name",
        "E.g. WFPC2/WFC, UVOT, STIS/CCD",
        None,
    ),
    (
        "project",
        "string",
        "char",
        "Project",
        "",
        "Processing project",
        "E.g. HST, HLA, EUVE, hlsp_legus",
        ";",
    ),
    (
        "filters",
        "string",
        "char",
        "Filters",
        "",
        "Instrument filters",
        "F469N, NUV, FUV, LOW DISP, MIRROR",
        ";",
    ),
    ("wavelength_region", "string", "char", "Waveband", "", "Energy Band", "EUV, XRAY, OPTICAL", ";"),
    (
        "target_name",
        "string",
        "char",
        "Target Name",
        "",
        "Target Name",
        "Ex. COMET-67P-CHURYUMOV-GER-UPDATE",
        None,
    ),
    (
        "target_classification",
        "string",
        "char",
        "Target Classification",
        "",
        "Type of target",
        "Ex. COMET;COMET BEING ORBITED BY THE ROSETTA SPACECRAFT;SOLAR SYSTEM",
        ";",
    ),
    _OBS_ID,
    ("s_ra", "float", "double", "RA", "deg", "Observation Right Ascension", _AS_DECIMAL, None),
    ("s_dec", "float", "double", "Dec", "deg", "Observation Declination", _AS_DECIMAL, None),
    (
        "dataproduct_type",
        "string",
        "char",
        "Product Type",
        "",
        "Type of product",
        "Valid values: IMAGE, SPECTRUM, SED, TIMESERIES, VISIBILITY, EVENTLIST, CUBE, CATALOG, "
        "ENGINEERING, NULL",
        None,
    ),
    (
        "proposal_pi",
        "string",
        "char",
        "Principal Investigator",
        "",
        "Principal investigator's last name",
        "Chander, Chu, Malkin",
        None,
    ),
    (
        "calib_level",
        "int",
        "int",
        "Calibration Level",
        "",
        "Calibration level",
        "0 = raw, 1 = uncalibrated, 2 = calibrated, 3 = science product, 4 = contributed science product",
        None,
    ),
    ("t_min", "float", "double", "Start Time", "d", "Observation start datetime", _AS_MJD, None),
    ("t_max", "float", "double", "End Time", "d", "Observation end datetime", _AS_MJD, None),
    ("t_exptime", "float", "double", "Exposure Length", "s", "Exposure time", "", None),
    ("em_min", "float", "double", "Min. Wavelength", "nm", "Minimum Wavelength", "", None),
    ("em_max", "float", "double", "Max. Wavelength", "nm", "Maximum Wavelength", "", None),
    (
        "obs_title",
        "string",
        "char",
        "Observation Title",
        "",
        "Observation description from proposal",
        "Age-dating Star Clusters in M101",
        None,
    ),
    ("t_obs_release", "float", "double", "Release Date", "MJD", "Dataset release date", _AS_MJD, None),
    _PROPOSAL_ID,
    (
        "proposal_type",
        "string",
        "char",
        "Proposal Type",
        "",
        "Type of telescope proposal",
        "E.g. GO, GTO, CAL",
        None,
    ),
    (
        "sequence_number",
        "int",
        "int",
        "Sequence Number",
        "",
        "Sequence number, e.g. Kepler quarter or TESS sector",
        "",
        None,
    ),
    (
        "s_region",
        "string",
        "char",
        "s_region",
        "deg",
        "STC/S Footprint",
        "Will be ICRS circle or polygon. E.g. CIRCLE ICRS 17.71740689 -58.40043015 0.625",
        None,
    ),
    (
        "jpegURL",
        "string",
        "char",
        "jpegURL",
        "",
        "Preview Image URL",
        "https://archive.stsci.edu/hst/previews/N4QF/N4QF18090.jpg",
        None,
    ),
    ("dataURL", "string", "string", "Data URL", "", "Data URL", "", None),
    ("dataRights", "string", "string", "Data Rights", "", "Data Rights", "", None),
    ("mtFlag", "boolean", "boolean", "Moving Target", "", "Moving Target Flag", "", None),
    (
        "srcDen",
        "float",
        "float",
        "Associated Catalogs",
        "",
        "Number of cataloged objects found in observation",
        "",
        None,
    ),
    ("obsid", *_PRODUCT_GROUP_ID),
    (
        "objID",
        "string",
        "long",
        "Object ID",
        "",
        "Plane ID of observation at given calibration level",
        "Long integer, e.g. 2012969445",
        None,
    ),
]
_DISTANCE = (
    "distance",
    "float",
    "float",
    'Distance (")',
    "arcsec",
    "Angular separation between searched coordinates and center of obsevation",
    "",
    None,
)
_OBJID1 = (
    "objID1",
    "string",
    "long",
    "Object ID1",
    "",
    "Plane ID of observation at given calibration level",
    "",
    None,
)
_SELECTED = ("_selected_", "boolean", "boolean", "selected", "", "", "", None)

_PRODUCT_COLUMNS = [
    ("obsID", *_PRODUCT_GROUP_ID),
    ("obs_collection", "string", "char", "Mission", "", "Collection", "E.g. HST, JWST", None),
    ("dataproduct_type", "string", "char", "Product Type", "", "Type of product", "image, spectrum", None),
    _OBS_ID,
    ("description", "string", "char", "Description", "", "File description", "DADS FLT file", None),
    ("type", "string", "char", "Type", "", "Observation type: S (simple) or C (composite)", "S, C", None),
    ("dataURI", "string", "char", "URI", "", "Data access URI", "mast:HST/product/ib1f0a010_drz.fits", None),
    (
        "productType",
        "string",
        "char",
        "Product Category",
        "",
        "Type of product",
        "SCIENCE, CALIBRATION, AUXILIARY, INFO, PREVIEW",
        None,
    ),
    (
        "productGroupDescription",
        "string",
        "char",
        "Group",
        "",
        "Product group",
        "Minimum Recommended Products",
        None,
    ),
    (
        "productSubGroupDescription",
        "string",
        "char",
        "Subgroup",
        "",
        "Product subgroup",
        "DRZ, FLT, RAW",
        None,
    ),
    (
        "productDocumentationURL",
        "string",
        "char",
        "Documentation",
        "",
        "Link to product documentation",
        "",
        None,
    ),
    ("project", "string", "char", "Project", "", "Processing project", "CALWF3", None),
    (
        "prvversion",
        "string",
        "char",
        "Provenance Version",
        "",
        "Version of the software that made the product",
        "3.7.2",
        None,
    ),
    _PROPOSAL_ID,
    ("productFilename", "string", "char", "Filename", "", "Product file name", "ib1f0a010_drz.fits", None),
    ("size", "int", "long", "Size", "bytes", "File size in bytes", "", None),
    (
        "parent_obsid",
        "string",
        "long",
        "Parent Product Group ID",
        "",
        "obsid of the observation the product is listed with",
        "",
        None,
    ),
    ("dataRights", "string", "string", "Data Rights", "", "Data Rights", "PUBLIC, EXCLUSIVE_ACCESS", None),
    (
        "calib_level",
        "int",
        "int",
        "Calibration Level",
        "",
        "Calibration level of the product",
        "1, 2, 3",
        None,
    ),
]


def _fields(columns) -> list[dict[str, Any]]:
    keys = ("name", "type", "config_type", "label", "unit", "description", "example", "separator")
    return [dict(zip(keys, column, strict=True)) for column in columns]


#: Fields of ``Mast.Caom.Filtered`` answers. Besides ``name`` and ``type`` (what MAST sends in
#: ``fields``) each carries what the columns configuration describes (label, unit, description ...).
OBSERVATION_FIELDS: list[dict[str, Any]] = _fields(_OBSERVATION_COLUMNS)
#: ``Mast.Caom.Filtered.Position`` answers add ``objID1`` and ``distance``.
POSITION_FIELDS: list[dict[str, Any]] = _fields([*_OBSERVATION_COLUMNS, _OBJID1, _DISTANCE])
#: ``Mast.Caom.Cone`` answers add ``distance`` and the portal's ``_selected_`` column.
CONE_FIELDS: list[dict[str, Any]] = _fields([*_OBSERVATION_COLUMNS, _DISTANCE, _SELECTED])
#: ``Mast.Caom.Products`` answers.
PRODUCT_FIELDS: list[dict[str, Any]] = _fields([*_PRODUCT_COLUMNS, _SELECTED])
#: A ``COUNT_BIG(*)`` answer: one row, one column.
COUNT_FIELDS: list[dict[str, Any]] = [{"name": "Column1", "type": "string"}]

#: Side of the (small) drizzled images, in pixels: the footprint ``s_region`` describes.
FOOTPRINT_SIDE_PIXELS = 256
_DRZ_PIXEL_DEG = 0.128 / 3600
_LETTERS = "0123456789abcdefghijklmnopqrstuvwxyz"
_EXPOSURES = ("abq", "bbq")  # the two dither positions of every association
_EXPOSURE_NSAMP = 4


def _m85_plan() -> list[dict[str, Any]]:
    """The tutorial's visits: 60 in F160W and 12 in F110W, dithered within 2 arcsec of M85."""
    import math

    plan = []
    index = 0
    for band, count, first_obsid, (em_min, em_max) in [
        ("F160W", 60, 24797410, (1400.0, 1700.0)),
        ("F110W", 12, 24797490, (900.0, 1400.0)),
    ]:
        for number in range(count):
            angle = 2 * math.pi * number / count
            offset = 2.0 / 3600
            plan.append(
                {
                    "obs_id": f"ib1f{_LETTERS[index // 36]}{_LETTERS[index % 36]}010",
                    "obsid": str(first_obsid + number),
                    "ra": M85["ra"] + offset * math.cos(angle) / math.cos(math.radians(M85["decl"])),
                    "dec": M85["decl"] + offset * math.sin(angle),
                    "band": band,
                    "em": (em_min, em_max),
                    "exptime": 1102.9 if band == "F160W" else 605.9,
                    "start": 55060.25 + 0.7 * index,
                    "target": "M85",
                    "classification": "GALAXY;ELLIPTICAL",
                    "galaxy": (M85["ra"], M85["decl"]),
                    "proposal": PROPOSAL_ID,
                    "title": "Globular clusters and the infrared light of M85 (synthetic)",
                    "objid": str(1060000000 + index),
                }
            )
            index += 1
    return plan


def _geometry_plan() -> list[dict[str, Any]]:
    """Two small fields where a flat-sky cone search goes wrong: across RA 0h and at the north pole."""
    # RA 0h: four pointings either side of the wrap, within 6 arcsec of (0, +2)
    wrap = [(ra, 2.0 + 0.0004 * (n - 1.5)) for n, ra in enumerate((359.9985, 359.9995, 0.0005, 0.0015))]
    # the north celestial pole: four pointings 7.2 arcsec from it at four right ascensions, one 3 arcmin away
    pole = [(0.0, 89.998), (90.0, 89.998), (180.0, 89.998), (270.0, 89.998), (45.0, 89.95)]
    plan = []
    # per field: obs_id prefix, offset of its obsids and objIDs, band, wavelengths (nm), first start
    # (MJD), target name and position, pointings
    for prefix, first, band, em, start, target, galaxy, pointings in (
        ("ieyc0", 0, "F125W", (1100.0, 1400.0), 58000.5, "RA0-FIELD", (0.0, 2.0), wrap),
        ("ieycp", 10, "F140W", (1200.0, 1600.0), 58010.5, "NCP-FIELD", (0.0, 90.0), pole),
    ):
        for number, (ra, dec) in enumerate(pointings):
            plan.append(
                {
                    "obs_id": f"{prefix}{number + 1}010",
                    "obsid": str(24797601 + first + number),
                    "ra": ra,
                    "dec": dec,
                    "band": band,
                    "em": em,
                    "exptime": 805.9,
                    "start": start + 0.3 * number,
                    "target": target,
                    "classification": "EXTRAGALACTIC FIELD",
                    "galaxy": galaxy,
                    "proposal": "17010",
                    "title": "Sandbox geometry fields: right ascension 0h and the celestial pole (synthetic)",
                    "objid": str(1060000100 + first + number),
                }
            )
    return plan


def _footprint(ra: float, dec: float) -> str:
    """The drizzled image's corners, through the same gnomonic WCS its file carries."""
    from astropy.wcs import WCS

    from roman_helpers.sandbox.synth import tan_header

    side = FOOTPRINT_SIDE_PIXELS
    wcs = WCS(tan_header((side, side), ra, dec, _DRZ_PIXEL_DEG))
    corners = wcs.all_pix2world(
        [[-0.5, -0.5], [side - 0.5, -0.5], [side - 0.5, side - 0.5], [-0.5, side - 0.5]], 0
    )
    return "POLYGON ICRS " + " ".join(f"{x % 360:.8f} {y:.8f}" for x, y in corners)


@functools.lru_cache(maxsize=1)
def _visits() -> tuple[dict[str, Any], ...]:
    visits = []
    for number, plan in enumerate([*_m85_plan(), *_geometry_plan()]):
        ra, dec = round(plan["ra"] % 360, 8), round(plan["dec"], 8)
        start = plan["start"]
        visits.append(
            {
                "intentType": "science",
                "obs_collection": "HST",
                "provenance_name": "CALWF3",
                "instrument_name": "WFC3/IR",
                "project": "HST",
                "filters": plan["band"],
                "wavelength_region": "INFRARED",
                "target_name": plan["target"],
                "target_classification": plan["classification"],
                "obs_id": plan["obs_id"],
                "s_ra": ra,
                "s_dec": dec,
                "dataproduct_type": "image",
                "proposal_pi": "Sandbox, A.",
                "calib_level": 3,
                "t_min": round(start, 5),
                "t_max": round(start + plan["exptime"] / 86400, 5),
                "t_exptime": plan["exptime"],
                "em_min": plan["em"][0],
                "em_max": plan["em"][1],
                "obs_title": plan["title"],
                "t_obs_release": round(start + 365.25, 5),
                "proposal_id": plan["proposal"],
                "proposal_type": "GO",
                "sequence_number": None,
                "s_region": _footprint(ra, dec),
                "jpegURL": f"mast:HST/product/{plan['obs_id']}_drz.jpg",
                "dataURL": None,
                "dataRights": "PUBLIC",
                "mtFlag": False,
                "srcDen": 5885.0,
                "obsid": plan["obsid"],
                "objID": plan["objid"],
                "_galaxy": plan["galaxy"],
                "_number": number,
            }
        )
    return tuple(visits)


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def observations() -> list[dict[str, Any]]:
    """Return the observation rows (``Mast.Caom.Filtered``), one per WFC3/IR association.

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
    return [_public(row) for row in _visits()]


# (suffix, extension, productType, calib_level, description, subgroup, size hint of the real product)
_ASSOCIATION_PRODUCTS = [
    ("asn", "fits", "AUXILIARY", 1, "DADS ASN file - Association ACS/WFC3/STIS", "ASN", 11_520),
    (
        "drz",
        "fits",
        "SCIENCE",
        3,
        "DADS DRZ file - Calibrated combined image ACS/WFC3/WFPC2/STIS",
        "DRZ",
        13_259_520,
    ),
    ("jif", "fits", "AUXILIARY", 1, "DADS JIF file", "JIF", 40_320),
    ("jit", "fits", "AUXILIARY", 1, "DADS JIT file", "JIT", 77_760),
    ("trl", "fits", "AUXILIARY", 2, "DADS TRL file - Processing log", "TRL", 31_680),
    ("drz", "jpg", "PREVIEW", 3, "Preview-Full", None, 312_000),
    ("drz_thumb", "jpg", "PREVIEW", 3, "Preview-Thumb", None, 4_800),
]
_EXPOSURE_PRODUCTS = [
    ("flt", "fits", "SCIENCE", 2, "DADS FLT file - Calibrated exposure ACS/WFC3/STIS/COS", "FLT", 16_583_040),
    ("ima", "fits", "SCIENCE", 2, "DADS IMA file - Intermediate exposure WFC3/NICMOS", "IMA", 67_259_520),
    ("raw", "fits", "SCIENCE", 1, "DADS RAW file - Raw exposure ACS/WFC3/STIS/COS", "RAW", 8_467_200),
    (
        "spt",
        "fits",
        "AUXILIARY",
        1,
        "DADS SPT file - Engineering telemetry ACS/WFC3/NICMOS/COS/STIS",
        "SPT",
        31_680,
    ),
    ("trl", "fits", "AUXILIARY", 2, "DADS TRL file - Processing log", "TRL", 28_800),
    ("flt", "jpg", "PREVIEW", 2, "Preview-Full", None, 290_000),
]


def _product(
    visit: dict[str, Any], obs_id: str, obsid: str, filename: str, kind: str, spec: tuple
) -> dict[str, Any]:
    _, _, product_type, calib_level, description, subgroup, size = spec
    return {
        "obsID": obsid,
        "obs_collection": "HST",
        "dataproduct_type": "image",
        "obs_id": obs_id,
        "description": description,
        "type": kind,
        "dataURI": f"mast:HST/product/{filename}",
        "productType": product_type,
        "productGroupDescription": "Minimum Recommended Products" if filename.endswith("_drz.fits") else None,
        "productSubGroupDescription": subgroup,
        "productDocumentationURL": None,
        "project": "CALWF3",
        "prvversion": "3.7.2",
        "proposal_id": visit["proposal_id"],
        "productFilename": filename,
        "size": size,
        "parent_obsid": visit["obsid"],
        "dataRights": "PUBLIC",
        "calib_level": calib_level,
    }


@functools.lru_cache(maxsize=1)
def _sources() -> tuple[dict[str, Any], ...]:
    sources = []
    for visit in _visits():
        association = visit["obs_id"]
        exposures = [association[:6] + tail for tail in _EXPOSURES]
        common = {
            "visit": _public(visit),
            "galaxy": visit["_galaxy"],
            "exposures": exposures,
            "association": association,
            "nsamp": _EXPOSURE_NSAMP,
        }
        for spec in _ASSOCIATION_PRODUCTS:
            suffix, extension = spec[0], spec[1]
            root = (
                association[:8] + "j" if suffix in ("jif", "jit") else association
            )  # jitter files end in 'j'
            row = _product(visit, association, visit["obsid"], f"{root}_{suffix}.{extension}", "C", spec)
            sources.append({**common, "row": row, "kind": f"{suffix}.{extension}", "exposure": None})
        for number, exposure in enumerate(exposures):
            obsid = str(24800000 + 2 * visit["_number"] + number)
            for spec in _EXPOSURE_PRODUCTS:
                row = _product(visit, exposure, obsid, f"{exposure}_{spec[0]}.{spec[1]}", "S", spec)
                sources.append(
                    {
                        **common,
                        "row": row,
                        "kind": f"{spec[0]}.{spec[1]}",
                        "exposure": exposure,
                        "exposure_number": number,
                    }
                )
    return tuple(sources)


def product_sources() -> list[dict[str, Any]]:
    """Return what the sandbox needs to generate each product's file.

    Returns
    -------
    list of dict
        ``row`` (the product row), ``kind`` (``"drz.fits"``, ``"flt.jpg"`` ...), ``visit`` (its
        observation row), ``galaxy`` (the target's position), ``association``, ``exposures`` (the
        association's exposure root names), ``exposure`` (this product's exposure, or None for
        association products) and ``nsamp`` (reads per exposure).

    Examples
    --------
    >>> kinds = {s["kind"] for s in product_sources() if s["visit"]["obsid"] == "24797441"}
    >>> sorted(kinds)[:4]
    ['asn.fits', 'drz.fits', 'drz.jpg', 'drz_thumb.jpg']
    """
    return [{**source, "row": dict(source["row"])} for source in _sources()]


def products() -> list[dict[str, Any]]:
    """Return every product row (``Mast.Caom.Products``).

    Returns
    -------
    list of dict
        Rows keyed by the names in :data:`PRODUCT_FIELDS`; ``parent_obsid`` links each to its
        observation, ``obsID`` is the association's or the exposure's own obsid.

    Examples
    --------
    >>> len(products()) == 19 * len(observations())
    True
    """
    return [dict(source["row"]) for source in _sources()]


def in_cloud(row: dict[str, Any]) -> bool:
    """Whether MAST keeps a product in the ``stpubdata`` bucket: every HST file but the previews.

    Examples
    --------
    >>> in_cloud({"productType": "PREVIEW"}), in_cloud({"productType": "AUXILIARY"})
    (False, True)
    """
    return row["productType"] != "PREVIEW"


def drizzled_products() -> list[dict[str, Any]]:
    """Return the level-3 science products (one ``_drz.fits`` per observation).

    Returns
    -------
    list of dict
        Product rows with the observation's pointing as ``s_ra``/``s_dec`` and its filter as ``filters``.
    """
    return [
        {
            **source["row"],
            "s_ra": source["visit"]["s_ra"],
            "s_dec": source["visit"]["s_dec"],
            "filters": source["visit"]["filters"],
        }
        for source in _sources()
        if source["kind"] == "drz.fits"
    ]


@functools.lru_cache(maxsize=1)
def _obs_id_by_uri() -> dict[str, str]:
    return {source["row"]["dataURI"]: source["row"]["obs_id"] for source in _sources()}


def cloud_key(data_uri: str) -> str:
    """Return the ``stpubdata`` key of an HST product URI, as MAST's ``path_lookup`` does.

    Parameters
    ----------
    data_uri : str
        ``mast:HST/product/<file>``.

    Returns
    -------
    str
        ``hst/public/<first 4 chars of obs_id>/<obs_id>/<file>``, where obs_id is the dataset the
        file belongs to (for a file the catalog does not list: the root of its name).

    Examples
    --------
    >>> cloud_key("mast:HST/product/ib1f0a010_drz.fits")
    'hst/public/ib1f/ib1f0a010/ib1f0a010_drz.fits'
    >>> cloud_key("mast:HST/product/ib1f0a01j_jit.fits")  # jitter files live with their association
    'hst/public/ib1f/ib1f0a010/ib1f0a01j_jit.fits'
    """
    filename = data_uri.rsplit("/", 1)[-1]
    root = _obs_id_by_uri().get(data_uri) or filename.split("_", 1)[0]
    root = root.lower()
    return f"hst/public/{root[:4]}/{root}/{filename}"


_NAMES = {
    "m85": ("M  85", M85),
    "messier 85": ("M  85", M85),
    "ngc 4382": ("M  85", M85),
    "ngc4382": ("M  85", M85),
    "m 85": ("M  85", M85),
}


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
    'M  85'
    >>> resolve("Betelgeuse") is None
    True
    """
    key = " ".join(str(name).lower().split())
    if key not in _NAMES:
        return None
    canonical, position = _NAMES[key]
    return {
        "canonicalName": canonical,
        "ra": position["ra"],
        "decl": position["decl"],
        "objectType": "GinGroup",
    }
