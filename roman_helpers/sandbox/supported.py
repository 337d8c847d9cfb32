"""What the offline sandbox mirrors, the clients that reach it, and the calls it answers.

One list, :data:`CALLS`, is both the documentation and the test plan: the fidelity tests run
every call's ``code`` through the real client library under the sandbox (after the
:data:`SETUP` of its family) and check its answer against the sandbox's own files, or check
that it fails as listed; the book's sandbox page shows the same list as a table
(:func:`markdown_table`). :data:`SERVICES` names the services behind the calls and, for MAST,
the recorded answer each one's response shape is compared with (astroquery's own test data,
``astroquery/mast/tests/data``).

Two families today: ``"MAST"`` (``astroquery.mast``: observations, products, cloud addresses,
downloads; the mission search for Roman) and ``"IRSA"`` (``astroquery.ipac.irsa`` and pyvo:
the simulated-data image search that finds OpenUniverse 2024 images, and the images themselves).

Beside the calls, :data:`CLIENTS` lists the S3 clients and how each reaches the sandbox (each
proved by a named test of ``tests/test_sandbox_clients.py``), and :func:`layouts_table` lists
what the buckets mirror, one row per layout, with its object count (:func:`mirrors_markdown`
gives both to the book).

Examples
--------
>>> print(markdown_table([c for c in CALLS if c.id == "count-criteria"]).splitlines()[2])
| `Observations.query_criteria_count(**tutorial)` | MAST `Mast.Caom.Filtered` | supported
| ``COUNT_BIG(*)``: one row, one column |
>>> sorted({call.family for call in CALLS}) == sorted(SETUP)
True
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CALLS",
    "CLIENTS",
    "SERVICES",
    "SETUP",
    "Call",
    "Client",
    "Service",
    "calls_for",
    "clients_table",
    "layouts_table",
    "markdown_table",
    "mirrors_markdown",
]


@dataclass(frozen=True)
class Service:
    """A service behind one or more client calls.

    Attributes
    ----------
    name : str
        The service (``Mast.Caom.Cone``) or endpoint (``Download/file``).
    family : str
        ``"MAST"`` or ``"IRSA"``.
    endpoint : str
        Method and path on the real host.
    recorded : str or None
        For MAST: the file in ``astroquery/mast/tests/data`` holding a real answer of this
        service, whose shape (field names and types, paging) the sandbox's answer is compared with.
    """

    name: str
    family: str
    endpoint: str
    recorded: str | None = None


@dataclass(frozen=True)
class Call:
    """One client call and what the sandbox does with it.

    Attributes
    ----------
    id : str
        Short name (test ids).
    code : str
        The call, as Python code run after its family's :data:`SETUP`.
    service : str
        ``"<family> <service name>"`` of the main service it reaches.
    error : str or None
        None if the sandbox answers it; else the exception the client raises.
    message : str
        Text the error message contains (for a failing call).
    note : str
        What a reader should know (Markdown).
    """

    id: str
    code: str
    service: str
    error: str | None = None
    message: str = ""
    note: str = ""

    @property
    def status(self) -> str:
        """``"supported"`` or ``"fails with <error>"``."""
        return "supported" if self.error is None else f"fails with `{self.error}`"

    @property
    def family(self) -> str:
        """The service family (``"MAST"`` or ``"IRSA"``)."""
        return next(
            (s.family for s in SERVICES if self.service == f"{s.family} {s.name}"),
            self.service.split(" ", 1)[0],
        )


SERVICES: tuple[Service, ...] = (
    Service("Mast.Caom.Cone", "MAST", "POST /api/v0/invoke", "caom.json"),
    Service("Mast.Caom.Filtered", "MAST", "POST /api/v0/invoke", "advSearch.json"),
    Service("Mast.Caom.Filtered.Position", "MAST", "POST /api/v0/invoke", "advSearchPos.json"),
    Service("COUNT_BIG(*)", "MAST", "POST /api/v0/invoke", "countsResp.json"),
    Service("Mast.Caom.Products", "MAST", "POST /api/v0/invoke", "products.json"),
    Service("Mast.Caom.All", "MAST", "POST /api/v0/invoke"),
    Service("columnsconfig", "MAST", "POST /portal/Mashup/Mashup.asmx/columnsconfig", "columnsconfig.json"),
    Service("name resolver", "MAST", "GET http://mastresolver.stsci.edu/Santa-war/query", "resolver.json"),
    Service("path_lookup", "MAST", "GET /api/v0.1/path_lookup/", "mast_relative_path.json"),
    Service("Download/file", "MAST", "HEAD, GET /api/v0.1/Download/file"),
    Service("stpubdata", "MAST", "S3 HEAD, GET s3://stpubdata/hst/public/..."),
    Service("catalogs", "MAST", "POST /api/v0/invoke (Mast.Hsc.*, Mast.Catalogs.*, Mast.Galex.Catalog)"),
    Service("Download/bundle", "MAST", "POST /api/v0.1/Download/bundle.sh"),
    Service("missions column list", "MAST", "GET /search/util/api/v0.1/column_list?mission=roman"),
    Service("missions search", "MAST", "POST /search/<mission>/api/v0.1/search"),
    Service("missions products", "MAST", "POST /search/roman/api/v0.1/post_list_products"),
    Service(
        "missions download",
        "MAST",
        "GET /search/roman/api/v0.1/retrieve_product (302 to a presigned https://stpubdata.s3.amazonaws.com "
        "address; GET /whoami for a login)",
    ),
    Service("catalogs.mast.stsci.edu", "MAST", "GET https://catalogs.mast.stsci.edu/api/v0.1/..."),
    Service(
        "simulated SIA capabilities", "IRSA", "GET https://irsa.ipac.caltech.edu/simulated/SIA/capabilities"
    ),
    Service("simulated SIA", "IRSA", "GET, POST https://irsa.ipac.caltech.edu/simulated/SIA"),
    Service("observed SIA", "IRSA", "GET https://irsa.ipac.caltech.edu/SIA"),
    Service("TAP", "IRSA", "POST https://irsa.ipac.caltech.edu/simulated/TAP/sync (and /TAP/sync)"),
    Service("data", "IRSA", "HEAD, GET https://irsa.ipac.caltech.edu/data/theory/openuniverse2024/..."),
    Service("nasa-irsa-simulations", "IRSA", "S3 HEAD, GET s3://nasa-irsa-simulations/openuniverse2024/..."),
    Service("other paths", "IRSA", "any other path on https://irsa.ipac.caltech.edu (SSA, SCS ...)"),
    Service("other hosts", "IRSA", "any other host (the bucket's web address, the VO registry ...)"),
)

#: Statements run before each call of a family: the names its calls use (``folder`` is a fresh
#: scratch directory).
SETUP: dict[str, str] = {
    "MAST": """\
from astropy.coordinates import SkyCoord
from astroquery.mast import Catalogs, Mast, MastMissions, Observations, ObservationsClass
m85 = SkyCoord(186.350222, 18.191081, unit="deg")
ra0 = SkyCoord(0.0, 2.0, unit="deg")       # a field straddling right ascension 0h
pole = SkyCoord(123.0, 90.0, unit="deg")   # the north celestial pole
tutorial = dict(obs_collection="HST", filters="F160W", instrument_name="WFC3/IR",
                proposal_id=["11360"], dataRights="PUBLIC")
Observations.enable_cloud_dataset()
visit = Observations.get_product_list("24797441")
previews = Observations.filter_products(visit, productType="PREVIEW")
""",
    "IRSA": """\
import json
import pyvo
import requests
import s3fs
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.time import Time
from astroquery.ipac.irsa import Irsa, IrsaClass
sia_url = "https://irsa.ipac.caltech.edu/simulated/SIA"  # IRSA's search of simulated images
Irsa.sia_url = sia_url  # before the first query
Irsa.tap_url = "https://irsa.ipac.caltech.edu/simulated/TAP"
collection = "simulated_roman_openuniverse2024"
field = SkyCoord(9.8, -44.02, unit="deg")  # in the OpenUniverse 2024 Time Domain and Wide Area Surveys
images = Irsa.query_sia(pos=(field, 1 * u.arcsec), collection=collection)
image = images[0]
cloud = json.loads(image["cloud_access"])["aws"]  # {"bucket_name": ..., "key": ..., "region": ...}
uri = f"s3://{cloud['bucket_name']}/{cloud['key']}"
""",
}

_SANDBOX_PAGE = "sandbox page of the book"
_ROMAN_DATASET = "r0034201001001001001_0001_wfi01_f158"  # HLWAS, pass 1, first exposure, detector WFI01

CALLS: tuple[Call, ...] = (
    # ------------------------------------------------------------------ observations by position
    Call(
        "region",
        'Observations.query_region(m85, radius="0.05 deg")',
        "MAST Mast.Caom.Cone",
        note="an observation matches when its centre is in the cone; `distance` is that separation in arcsec",
    ),
    Call(
        "region-ra0",
        'Observations.query_region(ra0, radius="10 arcsec")',
        "MAST Mast.Caom.Cone",
        note="positions are compared on the sphere: the cone reaches across 0h",
    ),
    Call(
        "region-pole",
        'Observations.query_region(pole, radius="0.01 deg")',
        "MAST Mast.Caom.Cone",
        note="and around the pole, whatever the right ascension",
    ),
    Call(
        "region-paged",
        'Observations.query_region(m85, radius="0.05 deg", pagesize=20, page=2)',
        "MAST Mast.Caom.Cone",
        note="MAST's paging (`paging.pagesFiltered`)",
    ),
    Call(
        "object",
        'Observations.query_object("M85", radius="0.05 deg")',
        "MAST Mast.Caom.Cone",
        note="the name is resolved by MAST's resolver first; the sandbox knows M85 (M 85, NGC 4382)",
    ),
    Call(
        "object-unknown",
        'Observations.query_object("Betelgeuse")',
        "MAST name resolver",
        error="ResolverError",
        message="Could not resolve",
        note="names other than M85 are unknown to the sandbox's resolver",
    ),
    Call("resolve", 'Observations.resolve_object("M85")', "MAST name resolver"),
    Call(
        "count-region",
        'Observations.query_region_count(ra0, radius="10 arcsec")',
        "MAST COUNT_BIG(*)",
        note="`Mast.Caom.Filtered.Position` with ``COUNT_BIG(*)``",
    ),
    Call("count-object", 'Observations.query_object_count("M85", radius="0.05 deg")', "MAST COUNT_BIG(*)"),
    # ------------------------------------------------------------------ observations by criteria
    Call(
        "criteria",
        "Observations.query_criteria(**tutorial)",
        "MAST Mast.Caom.Filtered",
        note="the tutorial's query: 60 observations",
    ),
    Call(
        "count-criteria",
        "Observations.query_criteria_count(**tutorial)",
        "MAST Mast.Caom.Filtered",
        note="``COUNT_BIG(*)``: one row, one column",
    ),
    Call(
        "criteria-range",
        'Observations.query_criteria(obs_collection="HST", t_exptime=[700, 1200])',
        "MAST Mast.Caom.Filtered",
        note="numeric columns filter on a [min, max] range",
    ),
    Call(
        "criteria-wildcard",
        'Observations.query_criteria(target_name="NCP*")',
        "MAST Mast.Caom.Filtered",
        note="one wildcard value per criterion",
    ),
    Call(
        "criteria-paged",
        'Observations.query_criteria(proposal_id="11360", pagesize=25, page=3)',
        "MAST Mast.Caom.Filtered",
    ),
    Call(
        "criteria-object",
        'Observations.query_criteria(objectname="M85", radius="0.05 deg", filters="F110W")',
        "MAST Mast.Caom.Filtered.Position",
    ),
    Call(
        "criteria-coordinates",
        'Observations.query_criteria(coordinates=pole, radius="0.1 deg", instrument_name="WFC3/IR")',
        "MAST Mast.Caom.Filtered.Position",
    ),
    Call(
        "count-criteria-position",
        'Observations.query_criteria_count(coordinates=ra0, radius="10 arcsec", filters="F125W")',
        "MAST COUNT_BIG(*)",
    ),
    Call(
        "criteria-unknown",
        'Observations.query_criteria(instrument="WFC3/IR")',
        "MAST columnsconfig",
        error="InvalidQueryError",
        message="Filter 'instrument' does not exist",
        note="checked against the column configuration, as with MAST",
    ),
    Call(
        "service-unknown-filter",
        'Mast.service_request("Mast.Caom.Filtered", {"columns": "*", '
        '"filters": [{"paramName": "nope", "values": ["1"]}]})',
        "MAST Mast.Caom.Filtered",
        error="RemoteServiceError",
        message="Filter 'nope' does not exist",
        note="the service itself refuses an unknown column (status ERROR)",
    ),
    Call("metadata-observations", 'Observations.get_metadata("observations")', "MAST columnsconfig"),
    Call("metadata-products", 'Observations.get_metadata("products")', "MAST columnsconfig"),
    Call("missions", "Observations.list_missions()", "MAST Mast.Caom.All", note="the sandbox holds HST only"),
    # ------------------------------------------------------------------ products
    Call(
        "products",
        'Observations.get_product_list("24797441")',
        "MAST Mast.Caom.Products",
        note="19 products per WFC3/IR association: DRZ, ASN, JIF, JIT, TRL and two previews; "
        "per exposure FLT, IMA, RAW, SPT, TRL and a preview",
    ),
    Call(
        "products-many",
        'Observations.get_product_list(Observations.query_criteria(proposal_id="17010"))',
        "MAST Mast.Caom.Products",
        note="many observations in one request",
    ),
    Call(
        "products-unique",
        'Observations.get_unique_product_list(["24797441", "24797442"])',
        "MAST Mast.Caom.Products",
    ),
    Call(
        "filter-products",
        "Observations.filter_products(Observations.get_product_list(Observations."
        'query_criteria(**tutorial)), calib_level=[3], productType=["SCIENCE"], dataproduct_type=["image"], '
        'project=["CALWF3"])',
        "MAST Mast.Caom.Products",
        note="the tutorial's filter: 60 drizzled images, obsID 24797441 among them",
    ),
    # ------------------------------------------------------------------ the cloud and downloads
    Call(
        "cloud-uris",
        "Observations.get_cloud_uris(visit, return_uri_map=True)",
        "MAST path_lookup",
        note="one unsigned S3 HEAD per product; the previews are not in the bucket: `None` and "
        "`NoResultsWarning`, as on AWS",
    ),
    Call(
        "cloud-uris-criteria",
        'Observations.get_cloud_uris(proposal_id="17010", filter_products='
        '{"productSubGroupDescription": ["DRZ", "FLT"]})',
        "MAST path_lookup",
        note="query criteria instead of a product table",
    ),
    Call(
        "download-cloud",
        "Observations.download_products(visit, download_dir=folder)",
        "MAST stpubdata",
        note="FITS files from the bucket, previews from MAST's Download/file",
    ),
    Call(
        "download-previews",
        "Observations.download_products(previews, download_dir=folder, cloud_only=False)",
        "MAST Download/file",
        note="`HEAD` (Content-Length), then `GET`; previews are real JPEG files",
    ),
    Call(
        "download-cloud-only",
        "Observations.download_products(previews, download_dir=folder, cloud_only=True)",
        "MAST stpubdata",
        note="products outside the bucket are `SKIPPED`",
    ),
    Call(
        "download-https",
        'ObservationsClass().download_file("mast:HST/product/ib1f0vabq_ima.fits", local_path=folder)',
        "MAST Download/file",
        note="without cloud access every file comes from MAST",
    ),
    Call(
        "download-curl",
        "Observations.download_products(previews, download_dir=folder, curl_flag=True)",
        "MAST Download/bundle",
        error="HTTPError",
        message=_SANDBOX_PAGE,
        note="no bundles (curl scripts)",
    ),
    # ------------------------------------------------------------------ what the sandbox does not serve
    Call(
        "catalogs-hsc",
        'Catalogs.query_object("M85", radius="0.01 deg")',
        "MAST catalogs",
        error="RemoteServiceError",
        message=_SANDBOX_PAGE,
        note="no MAST catalogs (HSC, Gaia, TIC ...)",
    ),
    Call(
        "catalogs-gaia",
        'Catalogs.query_region(m85, radius="0.01 deg", catalog="Gaia")',
        "MAST catalogs",
        error="RemoteServiceError",
        message=_SANDBOX_PAGE,
    ),
    Call(
        "catalogs-tic-criteria",
        'Catalogs.query_criteria(catalog="Tic", Tmag=[10, 11])',
        "MAST catalogs",
        error="HTTPError",
        message=_SANDBOX_PAGE,
    ),
    Call(
        "catalogs-panstarrs",
        'Catalogs.query_region(m85, radius="0.01 deg", catalog="Panstarrs")',
        "MAST catalogs.mast.stsci.edu",
        error="ConnectionError",
        message="host catalogs.mast.stsci.edu is not served",
        note="another host: refused by the sandbox's proxy",
    ),
    Call(
        "missions-search",
        'MastMissions.query_region(m85, radius="0.05 deg")',
        "MAST missions search",
        note="the default mission, HST: the same associations as `Observations`, matched by their "
        "recorded position (`sci_ra`, `sci_dec`) as MAST's HST search does; products and downloads too",
    ),
    Call(
        "missions-jwst",
        'MastMissions(mission="jwst").query_criteria(fileSetName="jw01189001001_02101_00001")',
        "MAST missions search",
        error="ConnectionError",
        message=_SANDBOX_PAGE,
        note="missions other than Roman and HST",
    ),
    # ------------------------------------------------------------------ the mission search for Roman
    Call(
        "missions-columns",
        'MastMissions(mission="roman").get_column_list()',
        "MAST missions column list",
        note="named after the Level 2 files' metadata (`program`, `pass`, `visit`, `detector`, "
        "`optical_element`, `start_time`, `ra_ref` ...); `fileSetName` is the dataset",
    ),
    Call(
        "missions-region",
        'MastMissions(mission="roman").query_region("9.0 -44.0", radius=0)',
        "MAST missions search",
        note="the Core Community Survey simulations' 156,078 exposures and detectors; a dataset matches "
        "when its detector's pixels meet the circle (radius 0: hold the position), not by its centre; "
        "`ang_sep` in arcminutes from the detector's reference position",
    ),
    Call(
        "missions-criteria",
        'MastMissions(mission="roman").query_criteria(program=342, optical_element="F213", '
        'detector=["WFI01", "WFI02"], visit="!1", exposure="1..2")',
        "MAST missions search",
        note="lists (or commas), `!`, `<`, `>`, `a..b` on numbers and dates, `*` in text",
    ),
    Call(
        "missions-products",
        f'MastMissions(mission="roman").get_product_list("{_ROMAN_DATASET}")',
        "MAST missions products",
        note="`_uncal.asdf`, `_cal.asdf`, `_preview.png`, `_thumb.png`: the files beside the dataset in "
        "`s3://stpubdata`, with their sizes",
    ),
    Call(
        "missions-download-anonymous",
        f'MastMissions(mission="roman").download_file("{_ROMAN_DATASET}/{_ROMAN_DATASET}_thumb.png", '
        "local_path=folder)",
        "MAST missions download",
        note='`ERROR` and astroquery\'s "You are not authorized to download": Roman data need a MAST token '
        "before their public release",
    ),
    Call(
        "missions-download",
        'MastMissions(mission="roman", mast_token="0123456789abcdef0123456789abcdef").download_products('
        f'"{_ROMAN_DATASET}", extension="thumb.png", download_dir=folder)',
        "MAST missions download",
        note="any token of MAST's form logs in; the download follows a redirect to a presigned S3 address, "
        "which expires after an hour",
    ),
    # ------------------------------------------------------------------ IRSA: finding images
    Call(
        "sia",
        "Irsa.query_sia(pos=(field, 1 * u.arcsec), collection=collection)",
        "IRSA simulated SIA",
        note="an image matches when its footprint (its `s_region`, the outline of its pixels) meets the "
        "cone; ObsCore columns plus IRSA's `cloud_access` and `dist_to_point`; every Time Domain Survey "
        "epoch and Wide Area Survey image of the place, in IRSA's spelling of the filters (H158 ...)",
    ),
    Call(
        "sia-band",
        "Irsa.query_sia(pos=(field, 1 * u.arcsec), collection=collection, band=(1.5 * u.um, 1.6 * u.um))",
        "IRSA simulated SIA",
        note="a band matches the filters whose band pass it meets (WFI filter table): F158 here, not F184",
    ),
    Call(
        "sia-time",
        "Irsa.query_sia(pos=(field, 1 * u.arcsec), collection=collection, "
        'time=(Time(62000, format="mjd"), Time(62500, format="mjd")))',
        "IRSA simulated SIA",
        note="`t_min` and `t_max` are the exposure's start (its `MJD-OBS`), from the survey's observation "
        "sequence",
    ),
    Call(
        "sia-maxrec",
        "Irsa.query_sia(pos=(field, 1 * u.arcsec), collection=collection, maxrec=1)",
        "IRSA simulated SIA",
        note="the first `maxrec` rows of the full answer, without a warning",
    ),
    Call(
        "sia-rubin",
        'Irsa.query_sia(pos=(SkyCoord(9.55, -44.1, unit="deg"), 1 * u.arcsec), '
        'collection="simulated_rubin_openuniverse2024")',
        "IRSA simulated SIA",
        note="the Rubin preview coadds, one per filter (u, g, r, i, z, y)",
    ),
    Call(
        "sia-unknown-collection",
        'Irsa.query_sia(pos=(field, 1 * u.arcsec), collection="simulated_roman_nosuchthing")',
        "IRSA simulated SIA",
        note="an unknown collection matches nothing: an empty table, no error; the answer's status message "
        "(pyvo's `results.status`) says what the sandbox holds",
    ),
    Call(
        "sia-observed",
        "IrsaClass().query_sia(pos=(field, 1 * u.arcsec), collection=collection)",
        "IRSA observed SIA",
        note="astroquery's default `sia_url` searches IRSA's observed data, which does "
        "not hold the simulations: an empty table, as on IRSA",
    ),
    Call(
        "sia2-service",
        "pyvo.dal.SIA2Service(sia_url)",
        "IRSA simulated SIA capabilities",
        note="pyvo reads the query address from the VOSI capabilities",
    ),
    Call(
        "sia2-search",
        "pyvo.dal.SIA2Service(sia_url).search(pos=(9.8, -44.02, 0.001), band=1.7e-6, collection=collection)",
        "IRSA simulated SIA",
        note="degrees and metres; 1.7 µm is in both F158 and F184. Also `time`, `calib_level`, `facility`, "
        "`instrument`, `exptime` ...; several values of one constraint are OR-ed",
    ),
    Call(
        "sia2-polygon",
        "pyvo.dal.SIA2Service(sia_url).search("
        "pos=(9.799, -44.021, 9.801, -44.021, 9.801, -44.019, 9.799, -44.019), collection=collection)",
        "IRSA simulated SIA",
        note="a polygon (or a range of right ascension and declination) instead of a cone",
    ),
    Call(
        "collections",
        'Irsa.list_collections(servicetype="SIA")',
        "IRSA TAP",
        note='the collections of the sandbox\'s images; `servicetype="SSA"` lists none',
    ),
    Call(
        "tap",
        'Irsa.query_tap("SELECT TOP 5 * FROM ivoa.obscore")',
        "IRSA TAP",
        error="DALQueryError",
        message="only the collection listing",
        note="no other ADQL query",
    ),
    Call(
        "catalog-region",
        'Irsa.query_region(field, catalog="allwise_p3as_psd", radius=10 * u.arcsec)',
        "IRSA TAP",
        error="DALQueryError",
        message="only the collection listing",
        note="no IRSA catalogs (AllWISE, 2MASS ...)",
    ),
    Call(
        "catalog-list",
        "Irsa.list_catalogs()",
        "IRSA TAP",
        error="DALQueryError",
        message="only the collection listing",
    ),
    # ------------------------------------------------------------------ IRSA: reading images
    Call(
        "access-url",
        'requests.get(image["access_url"], headers={"Range": "bytes=0-99999"})',
        "IRSA data",
        note="the file's bytes, the same as in the bucket, whole or by range",
    ),
    Call(
        "access-url-astropy",
        'fits.open(image["access_url"])',
        "IRSA data",
        error="URLError",
        message="Verification of TLS/SSL certificate",
        note="astropy checks web certificates against `certifi`'s list only, not `SSL_CERT_FILE`, so it "
        "does not trust the sandbox; on IRSA this works. Use `requests.get`, or the `s3://` address",
    ),
    Call(
        "cloud-access-fits",
        'fits.open(uri, fsspec_kwargs={"anon": True})',
        "IRSA nasa-irsa-simulations",
        note="`cloud_access` names the object in the bucket; opened as IRSA's OpenUniverse notebooks do",
    ),
    Call(
        "cloud-access-s3fs",
        "s3fs.S3FileSystem(anon=True).cat_file(uri, start=0, end=100_000)",
        "IRSA nasa-irsa-simulations",
        note="anonymous reads, as from the real bucket",
    ),
    # ------------------------------------------------------------------ IRSA: what the sandbox does not serve
    Call(
        "ssa",
        "Irsa.query_ssa(pos=field, radius=1 * u.arcmin)",
        "IRSA other paths",
        error="DALServiceError",
        message=_SANDBOX_PAGE,
        note="only the image search, its collection listing and the images are served: any other path "
        "answers 404, saying so",
    ),
    Call(
        "cone-search",
        'pyvo.conesearch("https://irsa.ipac.caltech.edu/SCS?table=allwise_p3as_psd", pos=field, radius=0.01)',
        "IRSA other paths",
        error="DALServiceError",
        message=_SANDBOX_PAGE,
    ),
    Call(
        "bucket-https",
        """requests.get(f"https://{cloud['bucket_name']}.s3.amazonaws.com/{cloud['key']}")""",
        "IRSA other hosts",
        error="ProxyError",
        message="host nasa-irsa-simulations.s3.amazonaws.com is not served",
        note="the bucket's web address is another host, refused by the sandbox's proxy: read the `s3://` "
        "address (s3fs, boto3), which follows `AWS_ENDPOINT_URL`",
    ),
    Call(
        "registry",
        'pyvo.regsearch(servicetype="sia2", keywords=["openuniverse"])',
        "IRSA other hosts",
        error="DALServiceError",
        message="host reg.g-vo.org is not served",
        note="no Virtual Observatory registry: give IRSA's addresses directly",
    ),
)


def calls_for(family: str) -> list[Call]:
    """Return the calls of one service family.

    Examples
    --------
    >>> len(calls_for("MAST")) + len(calls_for("IRSA")) == len(CALLS)
    True
    """
    return [call for call in CALLS if call.family == family]


def markdown_table(calls: list[Call] | tuple[Call, ...] = CALLS) -> str:
    """Return the calls as a Markdown table: call, service, status, notes.

    Parameters
    ----------
    calls : sequence of Call

    Returns
    -------
    str
        One header row, one rule and one row per call, in order; ``|`` in a cell is escaped.
    """
    lines = ["| Call | Service | In the sandbox | Notes |", "| --- | --- | --- | --- |"]
    for call in calls:
        family = call.family
        name = call.service[len(family) :].strip()
        status = call.status + (f": “…{call.message}…”" if call.error and call.message else "")
        cells = (f"`{call.code}`", f"{family} `{name}`", status, call.note)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Client:
    """An S3 client and how it reaches the sandbox.

    Attributes
    ----------
    name : str
    code : str
        How the public notebooks and the tutorials call it.
    how : str
        What sends it to the sandbox (Markdown).
    where : str
        ``"everywhere"``, or the condition under which it reaches the sandbox.
    test : str
        The test of ``tests/test_sandbox_clients.py`` that proves it (reading through the sandbox,
        counted at its S3 service).
    """

    name: str
    code: str
    how: str
    where: str
    test: str


_EVERYWHERE = "everywhere"
_PRIVATE_NETWORK = (
    "under `roman-helpers sandbox run` on Linux (a private network); elsewhere it is not redirected"
)

CLIENTS: tuple[Client, ...] = (
    Client(
        "s3fs",
        's3fs.S3FileSystem(anon=True).cat("nasa-irsa-simulations/openuniverse2024/...")',
        "`AWS_ENDPOINT_URL` (botocore)",
        _EVERYWHERE,
        "test_s3fs_reads_through_the_sandbox",
    ),
    Client(
        "boto3",
        'boto3.client("s3").get_object(Bucket="nasa-irsa-simulations", Key=...)',
        "`AWS_ENDPOINT_URL` (botocore)",
        _EVERYWHERE,
        "test_boto3_reads_through_the_sandbox",
    ),
    Client(
        "fsspec",
        'fsspec.open("s3://nasa-irsa-simulations/...", "rb", anon=True)',
        "through s3fs",
        _EVERYWHERE,
        "test_fsspec_open_reads_through_the_sandbox",
    ),
    Client(
        "astropy",
        'fits.open("s3://nasa-irsa-simulations/...", fsspec_kwargs={"anon": True})',
        "through fsspec and s3fs",
        _EVERYWHERE,
        "test_astropy_fits_open_s3_reads_through_the_sandbox",
    ),
    Client(
        "pandas",
        'pd.read_parquet("s3://nasa-irsa-simulations/openuniverse2024/roman/full/roman_rubin_cats_v1.1.2_faint/...")',
        "through fsspec and s3fs",
        _EVERYWHERE,
        "test_pandas_read_parquet_reads_through_the_sandbox",
    ),
    Client(
        "pyarrow",
        'pq.read_table(key, filesystem=pyarrow.fs.S3FileSystem(region="us-east-1", anonymous=True))',
        "the buckets' AWS names resolve to the sandbox, which answers HTTPS for them "
        "(pyarrow follows no environment variable)",
        _PRIVATE_NETWORK,
        "test_pyarrow_s3filesystem_reads_a_table_through_the_sandbox",
    ),
    Client(
        "requests (a bucket's web address)",
        'requests.get("https://nasa-irsa-simulations.s3.amazonaws.com/...")',
        "the same private network: the bucket's host name is the sandbox",
        _PRIVATE_NETWORK,
        "test_a_buckets_https_address_reaches_the_sandbox_with_requests",
    ),
)


def clients_table(clients: tuple[Client, ...] = CLIENTS) -> str:
    """Return the S3 clients as a Markdown table: client, call, how, where.

    Examples
    --------
    >>> print(clients_table(CLIENTS[:1]).splitlines()[2].split(" | ")[0])
    | s3fs
    """
    lines = ["| Client | Call | How it reaches the sandbox | Where |", "| --- | --- | --- | --- |"]
    for client in clients:
        cells = (client.name, f"`{client.code}`", client.how, client.where)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def layouts_table(archive: Any = None) -> str:
    """Return what the buckets mirror as a Markdown table: one row per layout, with its object count.

    Parameters
    ----------
    archive : Archive, optional
        Default: :func:`roman_helpers.sandbox.archive.layouts.sky_archive` (counting its keys lists
        every layout once, without making any object).

    Returns
    -------
    str
    """
    if archive is None:
        from roman_helpers.sandbox.archive import layouts

        archive = layouts.sky_archive()
    lines = [
        "| Bucket | Prefix | What it mirrors | Objects |",
        "| --- | --- | --- | ---: |",
    ]
    for bucket in archive.buckets:
        keys = archive.keys(bucket.name)
        access = "anonymous" if bucket.public else "credentialed"
        for provider in archive.providers(bucket.name):
            prefix = provider.prefix
            beyond = prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else None  # after every key under it
            end = bisect.bisect_left(keys, beyond) if beyond is not None else len(keys)
            count = end - bisect.bisect_left(keys, prefix)
            cells = (
                f"`{bucket.name}` ({access})",
                f"`{provider.prefix}`",
                provider.description,
                f"{count:,}",
            )
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def mirrors_markdown(archive: Any = None) -> str:
    """Return the book's account of what the sandbox mirrors and which clients reach it.

    Parameters
    ----------
    archive : Archive, optional
        Passed to :func:`layouts_table`.
    """
    return "\n".join(
        [
            "### What the buckets hold",
            "",
            "Each row is one layout of a real archive: the keys it holds follow the archive's own",
            "naming, and every object is made from the sandbox's sky when first read. A key outside",
            "these prefixes answers `NoSuchKey` with a message naming what the bucket mirrors.",
            "",
            layouts_table(archive),
            "### The S3 clients",
            "",
            "Each client below is run unmodified under `roman-helpers sandbox run` by the test suite, and",
            "the bytes it read are counted at the sandbox's S3 service.",
            "",
            clients_table(),
        ]
    )


if __name__ == "__main__":
    for family, code in SETUP.items():
        print(f"The names the {family} calls use:\n\n```python\n{code}```\n")
    print(markdown_table())
