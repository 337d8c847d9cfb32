"""Cloud URIs: parsing, MAST products to ``s3://`` URIs, Roman layouts and file names.

* :func:`split_uri` takes ``s3://bucket/key`` apart; :func:`list_objects` lists what is under a prefix.
* :func:`cloud_uris` turns MAST products into ``s3://stpubdata/...`` URIs, like
  ``Observations.get_cloud_uris`` but with one path look-up per 50 products and the
  existence checks made concurrently.
* :func:`mission_uris` does the same for the results of MAST's mission search
  (``MastMissions``, Roman's route to MAST): datasets or products to ``s3://`` URIs.
* The builders :func:`romanisim_uri`, :func:`openuniverse_fits_uri`, :func:`openuniverse_asdf_uri`
  and :func:`tutorial_uri` give the URI of one file of a dataset of ``datasets.yaml``
  (:meth:`roman_helpers.datasets.Dataset.uri`, which checks every value).
* :func:`parse_roman_filename` decodes a Roman WFI file name, old or new style.
"""

from __future__ import annotations

import numbers
import re
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import _s3, config, datasets
from ._s3 import S3Object
from .errors import (
    AccessDeniedError,
    BucketNotFoundError,
    InvalidParameterError,
    InvalidURIError,
    NotInCloudWarning,
    ObjectNotFoundError,
    RomanHelpersError,
)

__all__ = [
    "CLOUD_BUCKET",
    "S3Object",
    "cloud_uris",
    "list_objects",
    "mission_uris",
    "openuniverse_asdf_uri",
    "openuniverse_fits_uri",
    "parse_roman_filename",
    "romanisim_uri",
    "split_uri",
    "tutorial_uri",
]

#: The MAST open-data bucket that ``Observations.get_cloud_uris`` checks.
CLOUD_BUCKET = "stpubdata"
DEFAULT_MAST_URL = "https://mast.stsci.edu"
#: dataURIs per ``path_lookup`` request; astroquery uses the same (longer query strings get 414).
LOOKUP_CHUNK = 50

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


def split_uri(uri: object) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into bucket and key.

    Parameters
    ----------
    uri : str
        An S3 URI. The key may be empty (``s3://bucket/``) for listings.

    Returns
    -------
    tuple of str
        ``(bucket, key)``.

    Raises
    ------
    InvalidURIError
        If ``uri`` is not a string of the form ``s3://bucket[/key]`` with a valid bucket name.

    Examples
    --------
    >>> split_uri("s3://stpubdata/hst/public/ib6w/ib6w01010/ib6w01010_drz.fits")
    ('stpubdata', 'hst/public/ib6w/ib6w01010/ib6w01010_drz.fits')
    """
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise InvalidURIError(
            f"not an S3 URI: {uri!r}; expected 's3://<bucket>/<key>', "
            "for example 's3://stpubdata/hst/public/ib6w/ib6w01010/ib6w01010_drz.fits'"
        )
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not _BUCKET.match(bucket):
        raise InvalidURIError(
            f"invalid bucket name {bucket!r} in {uri!r}; bucket names are 3-63 lower-case "
            "letters, digits, dots and hyphens"
        )
    return bucket, key


def list_objects(prefix: str, *, recursive: bool = False, anon: bool | None = None) -> list[S3Object]:
    """List what is under an ``s3://`` prefix: objects with their sizes, and sub-prefixes.

    Parameters
    ----------
    prefix : str
        ``s3://bucket/prefix``.
    recursive : bool, optional
        Every object below the prefix, by S3's own rule: ``.../F158/`` is a folder and
        ``.../Roman_TDS_simple`` the start of names (as ``aws s3 ls --recursive`` reads them).
        Otherwise (the default) the objects and sub-prefixes ("folders") one level below.
    anon : bool, optional
        Anonymous access; by default decided by the bucket
        (:func:`roman_helpers.config.is_public_bucket`).

    Returns
    -------
    list of S3Object
        Sorted by URI: ``uri``, ``size`` (bytes), ``etag``, and ``is_prefix`` for a sub-prefix
        (its URI ends in ``/``).

    Raises
    ------
    ObjectNotFoundError
        If nothing is there (:class:`~roman_helpers.errors.BucketNotFoundError` if the bucket
        itself is missing, with the nearest bucket name this package knows).
    AccessDeniedError, EndpointUnreachableError
        If the listing is refused, or no S3 endpoint answers.

    Examples
    --------
    >>> found = list_objects("s3://stpubdata/roman/nexus/soc_simulations/tutorial_data/roman-2026.2/")
    >>> found[0].uri.rsplit("/", 1)[-1], found[0].size > 0, found[0].is_prefix
    ('my_roman_mosaic_coadd.asdf', True, False)
    """
    bucket, key = split_uri(prefix)
    found = _s3.list_prefix(bucket, key, recursive=recursive, anon=anon)
    if not found:
        raise ObjectNotFoundError(
            f"nothing at {prefix}; check the bucket and prefix (list the level above, e.g. s3://{bucket}/)"
        )
    return found


# --------------------------------------------------------------------------- MAST products


def _mast_server() -> str:
    """Return the MAST base URL: ``ROMAN_HELPERS_MAST_URL``, else ``astroquery.mast.conf.server``."""
    url = config.mast_url()
    if not url:
        from astroquery.mast import conf

        url = conf.server
    return (url or DEFAULT_MAST_URL).rstrip("/")


def _data_uris(products: Any) -> list[str]:
    """Return the dataURIs of a product table, row or list, first occurrences only, in order."""
    if isinstance(products, str):
        items: list[Any] = [products]
    elif hasattr(products, "colnames"):  # astropy Table or Row
        if "dataURI" not in products.colnames:
            raise InvalidParameterError(
                "products",
                f"table with columns {', '.join(products.colnames)}",
                hint="Pass a product table from Observations.get_product_list (it has a dataURI "
                "column) or a list of dataURIs such as 'mast:HST/product/ib6w01010_drz.fits'",
            )
        column = products["dataURI"]
        items = [column] if isinstance(column, str) else list(column)
    elif isinstance(products, Iterable):
        items = list(products)
    else:
        raise InvalidParameterError(
            "products", products, hint="Pass a product table or a list of MAST dataURIs"
        )
    for item in items:
        if not isinstance(item, str) or not item.lower().startswith("mast:"):
            raise InvalidParameterError(
                "dataURI", item, hint="MAST data URIs look like 'mast:HST/product/ib6w01010_drz.fits'"
            )
    return list(dict.fromkeys(str(item) for item in items))


def _cloud_key(path: str) -> str:
    """Turn a MAST relative path into a key of the open-data bucket (astroquery's rules, 0.4.11)."""
    if "galex" in path:
        return path.removeprefix("/mast/").lstrip("/")
    if "/ps1/" in path:
        return path.replace("/ps1/", "panstarrs/ps1/public/")
    if "hlsp" in path:
        return path.replace("/hlsp_local/public/", "mast/")
    return path.lstrip("/")


def _lookup_keys(data_uris: list[str]) -> list[str | None]:
    """Ask MAST where each product sits in the bucket: one request per :data:`LOOKUP_CHUNK` URIs.

    The same requests as ``astroquery.mast.utils.mast_relative_path``, written again because
    that function (astroquery 0.4.11) sends them with no time-out to the hard-coded host
    ``https://mast.stsci.edu``, so a stalled MAST would hang the caller and the host cannot
    be configured.
    """
    import requests

    url = f"{_mast_server()}/api/v0.1/path_lookup/"
    keys: list[str | None] = []
    with requests.Session() as session:
        for start in range(0, len(data_uris), LOOKUP_CHUNK):
            chunk = data_uris[start : start + LOOKUP_CHUNK]
            try:
                response = session.get(url, params={"uri": chunk}, timeout=config.timeout())
                response.raise_for_status()
                answer = response.json()
            except (requests.RequestException, ValueError) as error:
                raise RomanHelpersError(
                    f"the MAST path look-up at {url} failed ({error}); check the connection to MAST, "
                    "or set ROMAN_HELPERS_MAST_URL to the right server"
                ) from error
            for uri in chunk:
                entry = answer.get(uri) if isinstance(answer, dict) else None
                path = entry.get("path") if isinstance(entry, dict) else None
                keys.append(_cloud_key(path) if path else None)
    return keys


def _exists(client: Any, key: str) -> bool:
    """HEAD one key of :data:`CLOUD_BUCKET`; ``False`` when there is no such key.

    A refusal or a missing bucket raises, in the kit's words.
    """
    try:
        client.head_object(Bucket=CLOUD_BUCKET, Key=key)
    except Exception as error:
        translated = _s3.translate(error, f"s3://{CLOUD_BUCKET}/{key}", anonymous=True)
        if isinstance(translated, ObjectNotFoundError) and not isinstance(translated, BucketNotFoundError):
            return False
        if translated is error:
            raise
        raise translated from error
    return True


def cloud_uris(products: Any, *, workers: int = 16) -> list[str | None]:
    """Return the ``s3://`` URIs of MAST products in the open-data bucket.

    The same answer as ``Observations.get_cloud_uris(products)`` (in the same order,
    duplicate dataURIs dropped the same way), reached with fewer round trips: one
    ``path_lookup`` request per 50 products, then the existence checks (unsigned
    ``HEAD`` requests on ``stpubdata``) made concurrently instead of one after another.
    No ``enable_cloud_dataset()`` call is needed.

    Parameters
    ----------
    products : astropy.table.Table, astropy.table.Row, str or list of str
        A product table with a ``dataURI`` column (for example from
        ``Observations.get_product_list`` or :func:`roman_helpers.query.products`), or
        MAST dataURIs such as ``"mast:HST/product/ib6w01010_drz.fits"``.
    workers : int, optional
        Existence checks in flight at once (default 16).

    Returns
    -------
    list of str or None
        One entry per distinct dataURI, in first-seen order: ``s3://stpubdata/<key>``, or
        ``None`` for a product with no copy in the cloud. ``[u for u in result if u]`` is
        exactly what astroquery's ``get_cloud_uris`` returns (it drops the ``None`` entries).
        An empty table or list gives ``[]``, without any request (astroquery returns ``None``
        and warns).

    Raises
    ------
    InvalidParameterError
        If ``products`` has no ``dataURI`` column, holds something that is not a MAST
        dataURI, or ``workers`` is not a positive integer.
    AccessDeniedError, ObjectNotFoundError
        If S3 refuses the checks or the bucket is missing (wrong endpoint).
    RomanHelpersError
        If the MAST path look-up fails (HTTP error, no connection, time-out).

    Warns
    -----
    NotInCloudWarning
        Once, naming every product MAST or S3 does not have in the cloud.

    Notes
    -----
    The MAST server is ``ROMAN_HELPERS_MAST_URL`` if set, else ``astroquery.mast.conf.server``
    (default ``https://mast.stsci.edu``); every request has the :func:`roman_helpers.config.timeout`.
    The S3 endpoint follows ``AWS_ENDPOINT_URL``, as for every botocore client.

    Examples
    --------
    >>> cloud_uris([])
    []
    >>> cloud_uris(["mast:HST/product/ib1f01010_drz.fits"])
    ['s3://stpubdata/hst/public/ib1f/ib1f01010/ib1f01010_drz.fits']
    """
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1:
        raise InvalidParameterError("workers", workers, hint="Give a whole number of 1 or more")
    data_uris = _data_uris(products)
    if not data_uris:
        return []
    keys = _lookup_keys(data_uris)
    wanted = [key for key in keys if key is not None]
    client = _s3.client(anon=True, connections=max(10, workers)) if wanted else None
    with ThreadPoolExecutor(max_workers=min(int(workers), max(1, len(wanted)))) as pool:
        found = dict(zip(wanted, pool.map(lambda key: _exists(client, key), wanted), strict=True))
    result = [f"s3://{CLOUD_BUCKET}/{key}" if key is not None and found[key] else None for key in keys]
    missing = [uri for uri, cloud in zip(data_uris, result, strict=True) if cloud is None]
    if missing:
        shown = ", ".join(missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
        warnings.warn(
            f"{len(missing)} of {len(data_uris)} products are not in s3://{CLOUD_BUCKET} "
            f"(their URIs are None): {shown}",
            NotInCloudWarning,
            stacklevel=2,
        )
    return result


def _s3_uri_of(url: str) -> str | None:
    """``s3://bucket/key`` of an S3 web address (virtual-hosted or path style), else None.

    Examples
    --------
    >>> _s3_uri_of("https://stpubdata.s3.amazonaws.com/roman/a/b_cal.asdf?X-Amz-Expires=3600")
    's3://stpubdata/roman/a/b_cal.asdf'
    >>> _s3_uri_of("https://s3.us-east-1.amazonaws.com/stpubdata/roman/a%20b.asdf")
    's3://stpubdata/roman/a b.asdf'
    >>> _s3_uri_of("https://mast.stsci.edu/portal/x") is None
    True
    """
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    path = unquote(parts.path).lstrip("/")
    match = re.match(r"^(?:(?P<bucket>.+)\.)?s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com$", host)
    if match is None:
        return None
    bucket = match["bucket"]
    if bucket is None:
        bucket, _, path = path.partition("/")
    return f"s3://{bucket}/{path}" if bucket and path else None


def _mission_products(results: Any, client: Any, filters: dict[str, Any]) -> Any:
    """The product table of mission-search results (datasets are listed first), filtered."""
    from .query import _call

    if not hasattr(results, "colnames"):
        raise InvalidParameterError(
            "results", results, hint="Pass a table from a MastMissions search or its get_product_list"
        )
    if "uri" not in results.colnames:
        dataset_key = client.get_dataset_kwd()
        if dataset_key not in results.colnames:
            raise InvalidParameterError(
                "results",
                f"table with columns {', '.join(results.colnames)}",
                hint=f"Pass datasets from a MastMissions(mission={client.mission!r}) search (they have a "
                f"{dataset_key} column) or the products of its get_product_list (a uri column)",
            )
        results = _call(client.get_product_list, results) if len(results) else results[:0]
    return client.filter_products(results, **filters) if filters and len(results) else results


def _located(session: Any, url: str, product: str) -> str | None:
    """Ask MAST where one product is: the ``s3://`` URI its download redirects to, or None."""
    import requests

    try:
        answer = session.head(
            url, params={"product_name": product}, allow_redirects=False, timeout=config.timeout()
        )
    except requests.RequestException as error:
        raise RomanHelpersError(
            f"could not reach MAST at {url} ({error}); check the network connection"
        ) from error
    if answer.status_code == 401:
        raise AccessDeniedError(
            f"MAST refused to say where {product} is (401): these data need a MAST token before their public "
            "release. Make the client with roman_helpers.query.missions(token=...) or log it in with "
            "its login() (astroquery reads MAST_API_TOKEN); tokens are made at https://auth.mast.stsci.edu/token"
        )
    if answer.status_code in (301, 302, 303, 307, 308):
        return _s3_uri_of(answer.headers.get("Location", ""))
    if answer.status_code == 404:
        return None
    raise RomanHelpersError(f"MAST answered {answer.status_code} for {product} at {url}; try again later")


def mission_uris(results: Any, *, client: Any = None, workers: int = 8, **filters: Any) -> list[str | None]:
    """Return the ``s3://`` URIs of products found with MAST's mission search (``MastMissions``).

    MAST's download of a mission product answers with a redirect to the file in the cloud; the
    address it redirects to is the product's place in the bucket. This asks for the redirect
    (a ``HEAD``, concurrently for many products) and reads the bucket and key from it: no
    bytes are downloaded, and the URIs can be streamed at once
    (:func:`roman_helpers.stream.read_metadata`, :func:`roman_helpers.stream.cutout`).

    Parameters
    ----------
    results : astropy.table.Table
        Datasets from a ``MastMissions`` search (their products are listed first), or products
        from its ``get_product_list`` / ``filter_products``.
    client : astroquery.mast.MastMissionsClass, optional
        The client the results came from, logged in when the data need a token
        (:func:`roman_helpers.query.missions`); default ``missions("roman")``, anonymous.
    workers : int, optional
        Requests in flight at once (default 8).
    **filters
        Product filters for ``filter_products``, e.g. ``category="CALIBRATED"`` or
        ``extension="asdf"``.

    Returns
    -------
    list of str or None
        One per product, in the product table's order: ``s3://bucket/key``, or None for a
        product MAST does not serve from the cloud.

    Raises
    ------
    InvalidParameterError
        If ``results`` is not a mission-search table, or ``workers`` not a positive integer.
    AccessDeniedError
        If MAST wants a token for these data (Roman before public release) and has none.
    RomanHelpersError
        If MAST cannot be reached or answers with an error.

    Examples
    --------
    >>> from astropy.coordinates import SkyCoord
    >>> from roman_helpers import query, stream
    >>> roman = query.missions("roman", token="0123456789abcdef0123456789abcdef")  # your MAST token
    INFO: MAST API token accepted, welcome offline sandbox user [astroquery.mast.auth]
    >>> target = SkyCoord(9.0, -44.0, unit="deg")
    >>> datasets = roman.query_region(target, radius=0, optical_element="F062", detector="WFI14")
    >>> uris = sorted(mission_uris(datasets, client=roman, category="CALIBRATED"))
    >>> len(uris), uris[0]
    (9, 's3://stpubdata/roman/nexus/soc_simulations/r00342/l2/r0034201040001004008_0001_wfi14_f062_cal.asdf')
    >>> stream.read_metadata(uris[0])["instrument"]["optical_element"]
    'F062'
    """
    from . import query

    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1:
        raise InvalidParameterError("workers", workers, hint="Give a whole number of 1 or more")
    client = client if client is not None else query.missions("roman")
    query._with_time_limit(client)
    products = _mission_products(results, client, filters)
    names = [str(uri) for uri in products["uri"]] if len(products) else []
    if not names:
        return []
    url = f"{client._service_api_connection.MISSIONS_DOWNLOAD_URL}{client.mission}/api/v0.1/retrieve_product"
    with ThreadPoolExecutor(max_workers=min(int(workers), len(names))) as pool:
        return list(pool.map(lambda name: _located(client._session, url, name), names))


# --------------------------------------------------------------------------- dataset layouts


def romanisim_uri(pointing: str, optical_element: str, detector: int | str, suffix: str = "cal") -> str:
    """Return the URI of a Roman I-Sim dense-field file (Roman Research Nexus bucket, 2024 names).

    Parameters
    ----------
    pointing : str
        Pointing directory, e.g. ``"R0.5_DP0.5_PA0"``.
    optical_element : str
        ``"F158"`` (visit 001) or ``"F129"`` (visit 002); OpenUniverse's ``"H158"`` and
        ``"J129"`` are read as these.
    detector : int or str
        1-18, or ``"WFI07"``.
    suffix : str, optional
        ``"cal"`` (level 2, default) or ``"uncal"`` (level 1).

    Returns
    -------
    str
        ``s3://roman-sci-test-data-prod-summer-beta-test/ROMANISIM/...``; reading it needs the
        Roman Research Nexus's credentials.

    Raises
    ------
    InvalidParameterError
        On a value the dataset does not have; the message lists the valid ones.

    Examples
    --------
    >>> romanisim_uri("R0.5_DP0.5_PA0", "F158", 1)
    's3://roman-sci-test-data-prod-summer-beta-test/ROMANISIM/DENSE_REGION/R0.5_DP0.5_PA0/r0000101001001001001_01101_0001_WFI01_cal.asdf'
    """
    return datasets.get("romanisim-dense-region").uri(
        pointing=pointing, optical_element=optical_element, detector=detector, suffix=suffix
    )


def openuniverse_fits_uri(band: str, pointing: str | int, sensor: int | str) -> str:
    """Return the URI of an OpenUniverse 2024 preview image (IRSA bucket, ``.fits.gz``).

    Parameters
    ----------
    band : str
        The filter, in Roman's name or OpenUniverse's, in any case: ``"F184"``, ``"F158"`` or
        ``"H158"``. The URI spells it as OpenUniverse does (F158 is ``H158``).
    pointing : str or int
        Pointing number of the Wide Area Survey (a row of its observation sequence), e.g.
        ``"15297"``; each pointing was taken through one band (15297 through F184, 15298
        through H158).
    sensor : int or str
        Detector 1-18 (not zero-padded in the file name).

    Returns
    -------
    str
        ``s3://nasa-irsa-simulations/openuniverse2024/...``, read anonymously.

    Raises
    ------
    InvalidParameterError
        On a value the dataset does not have; the message lists the valid ones (filters in
        both spellings).

    Examples
    --------
    >>> openuniverse_fits_uri("F184", "15297", 11).rsplit("/", 1)[-1]
    'Roman_WAS_simple_model_F184_15297_11.fits.gz'
    >>> openuniverse_fits_uri("F158", "15298", 3).rsplit("/", 1)[-1]
    'Roman_WAS_simple_model_H158_15298_3.fits.gz'
    """
    return datasets.get("openuniverse-was-fits").uri(band=band, pointing=pointing, sensor=sensor)


def openuniverse_asdf_uri(band: str, pointing: str | int, sensor: int | str) -> str:
    """Return the URI of an OpenUniverse image converted to ASDF (Roman Research Nexus bucket).

    Parameters
    ----------
    band : str
        The filter, in Roman's name or OpenUniverse's, in any case: ``"F184"``, ``"F158"`` or
        ``"H158"``. The URI spells it as OpenUniverse does (F158 is ``H158``).
    pointing : str or int
        Pointing number of the Wide Area Survey (a row of its observation sequence), e.g.
        ``"15297"``; each pointing was taken through one band (15297 through F184, 15298
        through H158).
    sensor : int or str
        Detector 1-18 (zero-padded in the file name: ``wfi03``).

    Returns
    -------
    str
        ``s3://roman-sci-test-data-prod-summer-beta-test/OPEN_UNIVERSE/...``; reading it needs
        the Roman Research Nexus's credentials.

    Raises
    ------
    InvalidParameterError
        On a value the dataset does not have; the message lists the valid ones.

    Examples
    --------
    >>> openuniverse_asdf_uri("H158", 15298, 3).rsplit("/", 1)[-1]
    'roman_was_H158_15298_wfi03_simple.asdf'
    """
    return datasets.get("openuniverse-was-asdf").uri(band=band, pointing=pointing, sensor=sensor)


def tutorial_uri(detector: int | str, optical_element: str) -> str:
    """Return the URI of a Roman public tutorial file (open-data bucket, 2026 names).

    Parameters
    ----------
    detector : int or str
        1-18, or ``"WFI11"``.
    optical_element : str
        ``"F106"`` or ``"F158"``.

    Returns
    -------
    str
        ``s3://stpubdata/roman/nexus/...``, read anonymously.

    Raises
    ------
    InvalidParameterError
        On a value the dataset does not have; the message lists the valid ones.

    Examples
    --------
    >>> tutorial_uri(11, "F106").rsplit("/", 1)[-1]
    'r0003201001001001004_0001_wfi11_f106_cal.asdf'
    """
    return datasets.get("roman-tutorial-2026").uri(detector=detector, optical_element=optical_element)


# --------------------------------------------------------------------------- file names

#: The visit id: program (5 digits), execution plan (2), pass (3), segment (3), observation (3), visit (3).
_VISIT_ID = (
    r"r(?P<program>\d{5})(?P<plan>\d{2})(?P<pass>\d{3})"
    r"(?P<segment>\d{3})(?P<observation>\d{3})(?P<visit>\d{3})"
)
_TAIL = r"_(?P<suffix>[a-z0-9]+)\.(?P<extension>[a-z0-9]+)"
_NAMES = {
    # 2024: visit file group (2), sequence (1), activity (2); exposure (4); detector upper case.
    "2024": re.compile(
        _VISIT_ID + r"_(?P<visit_file_group>\d{2})(?P<visit_file_sequence>\d)"
        r"(?P<visit_file_activity>\d{2})_(?P<exposure>\d{4})_(?P<detector>wfi\d{2})" + _TAIL,
        re.IGNORECASE,
    ),
    # 2026: exposure (4); detector and optical element lower case.
    "2026": re.compile(
        _VISIT_ID + r"_(?P<exposure>\d{4})_(?P<detector>wfi\d{2})_(?P<optical_element>[a-z0-9]+)" + _TAIL,
        re.IGNORECASE,
    ),
}
_FIELDS = (
    "visit_id",
    "program",
    "plan",
    "pass",
    "segment",
    "observation",
    "visit",
    "visit_file_group",
    "visit_file_sequence",
    "visit_file_activity",
    "exposure",
    "detector",
    "optical_element",
    "suffix",
    "extension",
)
_NAME_EXAMPLES = (
    "valid names look like 'r0003201001001001004_0001_wfi11_f106_cal.asdf' (since 2026) or "
    "'r0000101001001001001_01101_0001_WFI01_cal.asdf' (2024)"
)


def parse_roman_filename(name: str) -> dict[str, str | None]:
    """Decode a Roman WFI file name, in the 2024 or the 2026 convention.

    Parameters
    ----------
    name : str
        A file name, or a path or ``s3://`` URI ending in one.

    Returns
    -------
    dict
        ``convention`` (``"2024"`` or ``"2026"``) and, as strings with their leading zeros,
        ``visit_id`` (``r`` and 19 digits), ``program`` (5 digits), ``plan`` (execution plan, 2),
        ``pass`` (3), ``segment`` (3), ``observation`` (3), ``visit`` (3),
        ``visit_file_group`` (2), ``visit_file_sequence`` (1), ``visit_file_activity`` (2),
        ``exposure`` (4), ``detector`` (``"WFI01"`` ... ``"WFI18"``), ``optical_element``
        (upper case, e.g. ``"F106"``), ``suffix`` (``"cal"``, ``"uncal"`` ...) and ``extension``.
        Fields a convention does not have are ``None``: the visit-file fields in 2026 names,
        the optical element in 2024 names.

    Raises
    ------
    InvalidParameterError
        If the name follows neither convention, or names a detector outside WFI01-WFI18;
        the message shows valid names.

    Examples
    --------
    >>> info = parse_roman_filename("r0003201001001001004_0001_wfi11_f106_cal.asdf")
    >>> info["convention"], info["program"], info["visit"], info["detector"], info["optical_element"]
    ('2026', '00032', '004', 'WFI11', 'F106')
    >>> parse_roman_filename("r0000101001001001001_01101_0001_WFI01_cal.asdf")["visit_file_activity"]
    '01'
    """
    if not isinstance(name, str):
        raise InvalidParameterError("file name", name, hint=_NAME_EXAMPLES)
    base = name.rstrip("/").rsplit("/", 1)[-1]
    for convention, pattern in _NAMES.items():  # noqa: B007 - used after the loop, which stops at the match
        match = pattern.fullmatch(base)
        if match:
            break
    else:
        if not re.match(r"r\d{19}_", base, re.IGNORECASE):
            why = (
                "It must start with 'r' and the 19-digit visit id (program 5 digits, plan 2, pass 3, "
                "segment 3, observation 3, visit 3), then '_'"
            )
        else:
            why = (
                "After the visit id come either '_<exposure 4 digits>_wfi<NN>_<filter>_<suffix>.asdf' (2026) "
                "or '_<visit file group, sequence, activity: 5 digits>_<exposure 4 digits>"
                "_WFI<NN>_<suffix>.asdf' (2024)"
            )
        raise InvalidParameterError("file name", base, hint=f"{why}; {_NAME_EXAMPLES}")
    fields: dict[str, str | None] = dict.fromkeys(_FIELDS)
    fields.update(match.groupdict())
    fields["visit_id"] = base[:20].lower()
    detector = fields["detector"] = match["detector"].upper()  # detector, suffix and extension always match
    if not 1 <= int(detector[3:]) <= 18:
        raise InvalidParameterError(
            "detector", detector, [f"WFI{n:02d}" for n in range(1, 19)], hint=f"In file name {base!r}"
        )
    if fields["optical_element"] is not None:
        fields["optical_element"] = fields["optical_element"].upper()
    fields["suffix"] = match["suffix"].lower()
    fields["extension"] = match["extension"].lower()
    return {"convention": convention, **fields}
