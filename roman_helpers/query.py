"""Search MAST with astroquery's ``Observations`` and ``MastMissions``, with a time limit on every request.

A thin layer: the functions return astroquery's own tables and clients, and take its criteria
and filters unchanged. What they add:

* every HTTP request astroquery makes for them has the time limit of
  :func:`roman_helpers.config.timeout` (``ROMAN_HELPERS_TIMEOUT``, default 60 s); astroquery
  itself sends requests with no socket time-out, so a server that stops answering blocks forever;
* an empty observation table is refused with a clear message instead of being sent to MAST;
* :func:`science_products` is the tutorial's filter (calibrated, drizzled WFC3 science images).

For the cloud locations of the products use :func:`roman_helpers.uris.cloud_uris`. Roman data
at MAST are searched with the mission search (:func:`missions` gives astroquery's
``MastMissions`` client); :func:`roman_helpers.uris.mission_uris` turns its results into
``s3://`` URIs.

Examples
--------
>>> from roman_helpers import query
>>> obs = query.search(
...     obs_collection="HST",
...     instrument_name="WFC3/IR",
...     filters="F160W",
...     proposal_id=["11360"],
...     dataRights="PUBLIC",
... )
>>> science = query.science_products(obs)
>>> len(science)
60
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from requests.adapters import HTTPAdapter

from . import config
from .errors import InvalidParameterError, RomanHelpersError

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from astropy.table import Table
    from requests import PreparedRequest, Response

__all__ = ["SCIENCE_FILTERS", "enable_cloud", "missions", "products", "science_products", "search"]

#: The tutorial's product filter: level-3 (drizzled) WFC3 science images.
SCIENCE_FILTERS: dict[str, list[Any]] = {
    "calib_level": [3],
    "productType": ["SCIENCE"],
    "dataproduct_type": ["image"],
    "project": ["CALWF3"],
}


class _TimeoutAdapter(HTTPAdapter):
    """A requests adapter that fills in :func:`roman_helpers.config.timeout` when none is given.

    astroquery's ``BaseQuery._request`` passes ``timeout=None`` (no limit) to
    ``requests.Session.request`` for every MAST portal call, and ``conf.timeout`` /
    ``PortalAPI.TIMEOUT`` do not help: that value (600 s, copied when the module is imported)
    only bounds the *polling loop* of a query MAST answers with ``EXECUTING``, and is checked
    after a response has arrived, so it never interrupts a request that hangs. requests has no
    session-wide default time-out either; an adapter mounted on astroquery's session is the
    one place every request passes through. The limit is read at each request, not at import.
    """

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> Response:
        """Send ``request``, with :func:`roman_helpers.config.timeout` if no time limit is given."""
        if timeout is None:
            timeout = config.timeout()
        return super().send(
            request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
        )


def _with_time_limit(client: Any) -> Any:
    """Mount :class:`_TimeoutAdapter` on an astroquery MAST client's session(s); return the client.

    Neither astroquery nor requests offers a public way to give a session a default time-out,
    so the adapter is mounted on astroquery's private ``_session`` (which its portal and
    service connections, ``_portal_api_connection._session`` and
    ``_service_api_connection._session``, share today). The test suite checks that the
    installed astroquery still has these attributes.
    """
    connections = ("_portal_api_connection", "_service_api_connection")
    sessions = {
        id(s): s
        for s in (
            client._session,
            *(getattr(getattr(client, c, None), "_session", None) for c in connections),
        )
        if s is not None
    }
    for session in sessions.values():
        for prefix in ("https://", "http://"):
            if not isinstance(session.adapters.get(prefix), _TimeoutAdapter):
                session.mount(prefix, _TimeoutAdapter())
    return client


def _observations() -> Any:
    """Return ``astroquery.mast.Observations`` with :class:`_TimeoutAdapter` on its session(s)."""
    from astroquery.mast import Observations

    return _with_time_limit(Observations)


def missions(mission: str = "roman", *, token: str | None = None) -> Any:
    """Return astroquery's MAST mission search client, its requests under the kit's time limit.

    ``MastMissions(mission=mission, mast_token=token)``: search with its ``query_region``,
    ``query_criteria`` and ``query_object``, list products with ``get_product_list``, and pass
    it to :func:`roman_helpers.uris.mission_uris` for the products' ``s3://`` URIs.

    Parameters
    ----------
    mission : str, optional
        MAST's name of the mission (default ``"roman"``).
    token : str, optional
        A MAST token (https://auth.mast.stsci.edu/token). Roman data need one before their
        public release. Default: the token in the environment variable ``MAST_API_TOKEN``, when
        set; without either, the client searches anonymously. The token goes to astroquery's
        login and nowhere else.

    Returns
    -------
    astroquery.mast.MastMissionsClass

    Raises
    ------
    astroquery.exceptions.LoginError
        If MAST does not accept the token.
    RomanHelpersError
        If MAST does not answer within :func:`roman_helpers.config.timeout` or cannot be reached.

    Examples
    --------
    >>> from astropy.coordinates import SkyCoord
    >>> roman = missions("roman")  # logs in with MAST_API_TOKEN when it is set
    INFO: MAST API token accepted, welcome offline sandbox user [astroquery.mast.auth]
    >>> datasets = roman.query_region(SkyCoord(9.0, -44.0, unit="deg"), radius=0, optical_element="F062")
    >>> len(datasets), sorted(set(datasets["detector"].tolist()))
    (18, ['WFI04', 'WFI14'])
    """
    from astroquery.mast import MastMissions

    if token is None:
        token = config.mast_token()
    return _with_time_limit(_call(MastMissions, mission=mission, mast_token=token))


def _call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run an astroquery call, turning a time-out or a lost connection into our error type."""
    import requests

    try:
        return function(*args, **kwargs)
    except requests.Timeout as error:
        raise RomanHelpersError(
            f"MAST did not answer within {config.timeout():g} s; try again later, or allow more "
            "time with ROMAN_HELPERS_TIMEOUT"
        ) from error
    except requests.ConnectionError as error:
        raise RomanHelpersError(f"could not reach MAST ({error}); check the network connection") from error


def _is_empty(observations: Any) -> bool:
    if observations is None:
        return True
    if isinstance(observations, str):
        return not observations.strip()
    try:
        return len(observations) == 0
    except TypeError:  # a single obsid number
        return False


def enable_cloud() -> None:
    """Make astroquery locate products in the AWS open-data bucket.

    Calls ``Observations.enable_cloud_dataset(provider="AWS")``, which
    ``Observations.get_cloud_uris`` needs. :func:`roman_helpers.uris.cloud_uris` does not.

    Examples
    --------
    >>> enable_cloud()
    INFO: Using the S3 STScI public dataset [astroquery.mast.cloud]
    """
    _observations().enable_cloud_dataset(provider="AWS")


def search(**criteria: Any) -> Table:
    """Search MAST observations (``Observations.query_criteria``).

    Parameters
    ----------
    **criteria
        Observation fields and their accepted values, as ``query_criteria`` takes them,
        for example ``obs_collection="HST", proposal_id=["11360"]``; also ``coordinates``,
        ``objectname`` and ``radius``.

    Returns
    -------
    astropy.table.Table
        One row per observation (empty, with a ``NoResultsWarning``, when nothing matches).

    Raises
    ------
    InvalidParameterError
        If no criterion is given.
    astroquery.exceptions.InvalidQueryError
        On an unknown criterion (astroquery's message names it).
    RomanHelpersError
        If MAST does not answer within :func:`roman_helpers.config.timeout` or cannot be reached.

    Examples
    --------
    >>> obs = search(obs_collection="HST", proposal_id=["11360"], filters="F160W")
    >>> len(obs), set(obs["filters"]) == {"F160W"}
    (60, True)
    """
    if not criteria:
        raise InvalidParameterError(
            "criteria",
            criteria,
            hint="Give at least one, e.g. search(obs_collection='HST', proposal_id=['11360'])",
        )
    return _call(_observations().query_criteria, **criteria)


def products(observations: Table | str | int, **filters: Any) -> Table:
    """List the data products of observations, optionally filtered.

    Parameters
    ----------
    observations : astropy.table.Table, astropy.table.Row, str or list of str
        Observations from :func:`search` (or their ``obsid`` values). A product table (one
        with a ``productFilename`` column, e.g. from an earlier call) is only filtered.
    **filters
        Product fields and accepted values for ``Observations.filter_products``, e.g.
        ``productType=["SCIENCE"]``; none means every product.

    Returns
    -------
    astropy.table.Table
        astroquery's product table.

    Raises
    ------
    InvalidParameterError
        If ``observations`` is empty: there is nothing to ask MAST about.
    RomanHelpersError
        If MAST does not answer within :func:`roman_helpers.config.timeout` or cannot be reached.

    Examples
    --------
    >>> drizzled = products(
    ...     search(obs_collection="HST", proposal_id=["11360"]), productSubGroupDescription=["DRZ"]
    ... )
    >>> len(drizzled), set(drizzled["productSubGroupDescription"]) == {"DRZ"}
    (72, True)
    """
    if _is_empty(observations):
        raise InvalidParameterError(
            "observations",
            "empty table" if hasattr(observations, "colnames") else observations,
            hint="There is nothing to list products of: the search (or an earlier filter) matched "
            "nothing. Widen the criteria of search() and check len() of its result first",
        )
    obs = _observations()
    if hasattr(observations, "colnames") and "productFilename" in observations.colnames:
        table = observations
    else:
        table = _call(obs.get_product_list, observations)
    return obs.filter_products(table, **filters) if filters else table


def science_products(observations: Table | str | int) -> Table:
    """Return the tutorial's science products of observations.

    The filter is :data:`SCIENCE_FILTERS`: ``calib_level=[3]``, ``productType=["SCIENCE"]``,
    ``dataproduct_type=["image"]``, ``project=["CALWF3"]`` (drizzled WFC3 images).

    Parameters
    ----------
    observations : astropy.table.Table, astropy.table.Row, str or list of str
        As for :func:`products`.

    Returns
    -------
    astropy.table.Table

    Raises
    ------
    InvalidParameterError
        If ``observations`` is empty.

    Examples
    --------
    >>> science = science_products(
    ...     search(
    ...         obs_collection="HST",
    ...         filters="F160W",
    ...         instrument_name="WFC3/IR",
    ...         proposal_id=["11360"],
    ...         dataRights="PUBLIC",
    ...     )
    ... )
    >>> len(science)
    60
    """
    return products(observations, **SCIENCE_FILTERS)
