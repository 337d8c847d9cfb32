"""MAST failing as real services fail: roman_helpers.query ends with a clear error, fast, never hangs.

The sandbox's MAST runs with the fault middleware of :mod:`roman_helpers.sandbox.services.faults`;
astroquery's portal URLs are pointed straight at it (plain HTTP on loopback, no proxy), as in test_query.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from roman_helpers import query
from roman_helpers.errors import RomanHelpersError
from roman_helpers.sandbox.services.faults import FaultRule
from roman_helpers.sandbox.services.mast import MastServer

TIMEOUT = 0.5


@pytest.fixture
def mast_with(monkeypatch) -> Iterator:
    """Start a sandbox MAST with the given fault rules and point astroquery's portal at it."""
    from astroquery.mast import Observations

    servers: list[MastServer] = []
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("ROMAN_HELPERS_TIMEOUT", str(TIMEOUT))

    def start(rules: list[FaultRule]) -> MastServer:
        server = MastServer(faults=rules).start()
        servers.append(server)
        portal = Observations._portal_api_connection
        monkeypatch.setattr(portal, "MAST_REQUEST_URL", f"{server.url}/api/v0/invoke")
        monkeypatch.setattr(
            portal, "COLUMNS_CONFIG_URL", f"{server.url}/portal/Mashup/Mashup.asmx/columnsconfig"
        )
        return server

    yield start
    for server in servers:
        server.stop()


def test_a_healthy_sandbox_mast_answers_directly(mast_with) -> None:
    mast_with([])
    assert len(query.search(obs_collection="HST", proposal_id=["11360"], filters="F160W")) == 60


def test_always_503_fails_fast_with_an_http_error(mast_with) -> None:
    server = mast_with([FaultRule("slowdown", key="invoke")])
    started = time.monotonic()
    with pytest.raises(requests.HTTPError, match="503"):
        query.search(obs_collection="HST", proposal_id=["11360"])
    elapsed = time.monotonic() - started
    assert server._wsgi.injected["slowdown"] == 1  # failed on the first answer: no retry loop
    assert elapsed < TIMEOUT * 1.2 + 2.0  # fast, with slack for a busy machine


def test_a_stalled_invoke_ends_within_the_timeout(mast_with) -> None:
    server = mast_with([FaultRule("stall", key="invoke", seconds=10)])
    started = time.monotonic()
    with pytest.raises(RomanHelpersError, match=rf"did not answer within {TIMEOUT:g} s"):
        query.search(obs_collection="HST", proposal_id=["11360"])
    elapsed = time.monotonic() - started
    assert server._wsgi.injected["stall"] == 1
    assert elapsed < 10  # bounded by our timeout, not by the 10 s stall
