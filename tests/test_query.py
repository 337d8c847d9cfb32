"""roman_helpers.query (and cloud_uris end to end) against the offline sandbox's MAST and S3.

The sandbox serves a synthetic MAST catalog in which the tutorial's query gives the
tutorial's numbers: 60 science products, obsID 24797441 among them, all in the cloud.
The time-limit and empty-input tests need no sandbox.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from astropy.table import Table

from roman_helpers import query
from roman_helpers.errors import InvalidParameterError, RomanHelpersError
from roman_helpers.transfer import measure
from roman_helpers.uris import cloud_uris

SEED_CRITERIA = {
    "obs_collection": "HST",
    "filters": "F160W",
    "instrument_name": "WFC3/IR",
    "proposal_id": ["11360"],
    "dataRights": "PUBLIC",
}


@pytest.fixture
def science(sandbox_env) -> Table:
    return query.science_products(query.search(**SEED_CRITERIA))


def test_search_and_science_products_give_the_tutorials_numbers(science: Table) -> None:
    assert len(science) == 60
    assert "24797441" in {str(obsid) for obsid in science["obsID"]}
    assert set(science["productType"]) == {"SCIENCE"} and set(science["project"]) == {"CALWF3"}
    assert {int(level) for level in science["calib_level"]} == {3}


def test_science_products_are_the_archives_science_files_of_the_matching_visits(science: Table) -> None:
    """The same 60, file for file, as the sandbox's HST layout lists them (not as its MAST answers):
    the calibration-level-3 science files (drizzled images) of the F160W visits of proposal 11360."""
    from roman_helpers.sandbox.archive.layouts import hst
    from roman_helpers.sandbox.sky.surveys import hst as design

    visits = design.observations()
    matching = {
        str(visit["obs_id"])
        for visit in visits
        if str(visit["proposal_id"]) == "11360" and str(visit["filter"]) == "F160W"
    }
    expected = {
        p.data_uri
        for p in hst.products()
        if p.obs_id in matching and (p.kind.product_type, p.kind.calib_level) == ("SCIENCE", 3)
    }
    assert {str(uri) for uri in science["dataURI"]} == expected and len(expected) == 60


def test_products_filters_a_product_table_without_asking_again(sandbox_env) -> None:
    observations = query.search(**SEED_CRITERIA)
    every = query.products(observations)
    assert len(every) > 60
    again = query.science_products(every)  # a product table: filtered locally
    assert list(again["dataURI"]) == list(query.science_products(observations)["dataURI"])
    drz = query.products(every, productSubGroupDescription=["DRZ"])
    assert 0 < len(drz) < len(every)


def test_unknown_criterion_is_astroquerys_error(sandbox_env) -> None:
    from astroquery.exceptions import InvalidQueryError

    with pytest.raises(InvalidQueryError, match="no_such_field"):
        query.search(obs_collection="HST", no_such_field="x")


def test_cloud_uris_matches_astroquery(science: Table) -> None:
    from astroquery.mast import Observations

    query.enable_cloud()
    with measure() as theirs:
        expected = Observations.get_cloud_uris(science)
    with measure() as ours:
        got = cloud_uris(science)
    assert len(expected) == 60
    assert got == expected
    assert ours.by_operation() == theirs.by_operation() == {"HeadObject": 60}


def test_empty_tables_are_refused() -> None:
    for call in (query.products, query.science_products):
        with pytest.raises(InvalidParameterError, match="matched nothing"):
            call(Table({"obsid": []}, dtype=[str]))
        with pytest.raises(InvalidParameterError, match="matched nothing"):
            call([])


def test_search_needs_a_criterion() -> None:
    with pytest.raises(InvalidParameterError, match="Give at least one"):
        query.search()


def test_the_private_sessions_the_time_limit_is_mounted_on_still_exist() -> None:
    """astroquery has no public hook for a default time-out: a release that renames these fails here."""
    import requests
    from astroquery.mast import Observations

    assert isinstance(Observations._session, requests.Session)
    assert isinstance(Observations._portal_api_connection._session, requests.Session)
    query._observations()
    for session in (Observations._session, Observations._portal_api_connection._session):
        assert isinstance(session.get_adapter("https://mast.stsci.edu/api"), query._TimeoutAdapter)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def test_a_silent_mast_gives_up_after_the_configured_timeout(silent_server: str, monkeypatch) -> None:
    from astroquery.mast import Observations

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("ROMAN_HELPERS_TIMEOUT", "0.5")
    portal = Observations._portal_api_connection
    monkeypatch.setattr(portal, "MAST_REQUEST_URL", f"{silent_server}/api/v0/invoke")
    monkeypatch.setattr(
        portal, "COLUMNS_CONFIG_URL", f"{silent_server}/portal/Mashup/Mashup.asmx/columnsconfig"
    )
    with pytest.raises(RomanHelpersError, match=r"did not answer within 0.5 s"):
        query.search(obs_collection="HST", proposal_id=["11360"])
