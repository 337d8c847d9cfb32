"""The sandbox's MAST catalog: rows for the HST WFC3/IR observations and products the archive holds.

Rows carry MAST's column names and types (those of ``Mast.Caom.Filtered``, ``Mast.Caom.Cone``
and ``Mast.Caom.Products`` as recorded in astroquery's own test data). The observations are the
associations of :mod:`roman_helpers.sandbox.sky.surveys.hst`, the products and their sizes those
of the archive's HST layout (:mod:`roman_helpers.sandbox.archive.layouts.hst`), so that a
product row's ``size`` is the length of the object the bucket (or MAST's ``Download/file``)
serves. The numbers keep the source tutorial's story: the query for proposal 11360 in F160W,
after the documented product filters (level 3, SCIENCE, image, CALWF3), leaves 60 drizzled
images, obsID 24797441 among them. Twelve F110W visits give papermill runs a second filter; two
small fields (proposal 17010) test geometry across right ascension 0h and round the pole.

Everything here is deterministic, so the catalog, the files and the notebooks' checked outputs
agree on every machine.
"""

from __future__ import annotations

import functools
from typing import Any

from roman_helpers.sandbox.archive.layouts import hst as layout
from roman_helpers.sandbox.sky.bands import band
from roman_helpers.sandbox.sky.surveys import hst as design

__all__ = [
    "CONE_FIELDS",
    "COUNT_FIELDS",
    "DESCRIPTION",
    "M85",
    "OBSERVATION_FIELDS",
    "POSITION_FIELDS",
    "PRODUCT_FIELDS",
    "cloud_key",
    "observations",
    "products",
    "resolve",
]

#: Where the name resolver puts M85 (SIMBAD's position, rounded).
M85 = {"ra": design.M85[0], "decl": design.M85[1]}


def _describe() -> str:
    visits = design.observations()
    m85 = visits[visits["target_name"] == "M85"]
    filters = " and ".join(sorted(set(m85["filter"]), reverse=True))
    return (
        f"{len(visits)} HST WFC3/IR observations: {len(m85)} of M85 (proposal {design.PROPOSAL_ID}, "
        f"{filters}) and {len(visits) - len(m85)} of two small fields at right ascension 0h and "
        "round the north celestial pole (proposal 17010), with their products"
    )


#: What the sandbox's MAST holds, in one phrase (its answers with no rows, and its refusals, say it).
DESCRIPTION = _describe()

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


def _fields(columns: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
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


def _footprint(ra: float, dec: float) -> str:
    """The drizzled image's corners, through the same gnomonic WCS its file carries."""
    from astropy.wcs import WCS

    ny, nx = design.DRZ_SHAPE
    wcs = WCS(design.tan_header(design.DRZ_SHAPE, ra, dec, design.DRZ_PIXEL_SCALE))
    corners = wcs.all_pix2world([[-0.5, -0.5], [nx - 0.5, -0.5], [nx - 0.5, ny - 0.5], [-0.5, ny - 0.5]], 0)
    return "POLYGON ICRS " + " ".join(f"{x % 360:.8f} {y:.8f}" for x, y in corners)


@functools.lru_cache(maxsize=1)
def _observations() -> tuple[dict[str, Any], ...]:
    rows = []
    for visit in design.observations():
        ra, dec, obs_id = float(visit["ra"]), float(visit["dec"]), str(visit["obs_id"])
        passband = band(str(visit["filter"]))
        rows.append(
            {
                "intentType": "science",
                "obs_collection": "HST",
                "provenance_name": "CALWF3",
                "instrument_name": "WFC3/IR",
                "project": "HST",
                "filters": passband.name,
                "wavelength_region": "INFRARED",
                "target_name": str(visit["target_name"]),
                "target_classification": str(visit["target_classification"]),
                "obs_id": obs_id,
                "s_ra": ra,
                "s_dec": dec,
                "dataproduct_type": "image",
                "proposal_pi": "Sandbox, A.",
                "calib_level": 3,
                "t_min": float(visit["t_min"]),
                "t_max": float(visit["t_max"]),
                "t_exptime": float(visit["exptime"]),
                "em_min": round(passband.wavelength_min * 1000, 1),
                "em_max": round(passband.wavelength_max * 1000, 1),
                "obs_title": str(visit["title"]),
                "t_obs_release": round(float(visit["t_min"]) + 365.25, 5),
                "proposal_id": str(visit["proposal_id"]),
                "proposal_type": "GO",
                "sequence_number": None,
                "s_region": _footprint(ra, dec),
                "jpegURL": f"mast:HST/product/{obs_id}_drz.jpg",
                "dataURL": None,
                "dataRights": "PUBLIC",
                "mtFlag": False,
                "srcDen": 5885.0,
                "obsid": str(visit["obsid"]),
                "objID": str(visit["objid"]),
            }
        )
    return tuple(rows)


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
    return [dict(row) for row in _observations()]


def products() -> list[dict[str, Any]]:
    """Return every product row (``Mast.Caom.Products``), its ``size`` that of the archive's object.

    Returns
    -------
    list of dict
        Rows keyed by the names in :data:`PRODUCT_FIELDS`; ``parent_obsid`` links each to its
        observation, ``obsID`` is the association's or the exposure's own obsid.

    Examples
    --------
    >>> rows = products()
    >>> len(rows) == 19 * len(observations())
    True
    >>> next(r["size"] for r in rows if r["productFilename"] == "ib1f0v010_drz.fits")
    12372480
    """
    proposals = {row["obs_id"]: row["proposal_id"] for row in _observations()}
    rows = []
    for product in layout.products():
        kind = product.kind
        rows.append(
            {
                "obsID": product.obsid,
                "obs_collection": "HST",
                "dataproduct_type": "image",
                "obs_id": product.dataset,
                "description": kind.description,
                "type": "S" if product.exposure else "C",
                "dataURI": product.data_uri,
                "productType": kind.product_type,
                "productGroupDescription": "Minimum Recommended Products"
                if kind.name == "drz.fits"
                else None,
                "productSubGroupDescription": kind.subgroup,
                "productDocumentationURL": None,
                "project": "CALWF3",
                "prvversion": "3.7.2",
                "proposal_id": proposals[product.obs_id],
                "productFilename": product.filename,
                "size": layout.product_size(product),
                "parent_obsid": product.parent_obsid,
                "dataRights": "PUBLIC",
                "calib_level": kind.calib_level,
            }
        )
    return rows


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
    found = layout.product(filename)
    if found is not None:
        return found.key
    root = filename.split("_", 1)[0].lower()
    return f"{layout.PREFIX}{root[:4]}/{root}/{filename}"


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
