"""FaultInjector and parse_faults: each kind, each selector, against moto over HTTP."""

from __future__ import annotations

import http.client

import pytest

from roman_helpers.errors import InvalidParameterError
from roman_helpers.sandbox.services.faults import FaultRule, parse_faults
from tests.conftest import put_object
from tests.faulty_server import FaultyS3

BODY = bytes(range(256)) * 8


def test_parse_faults_spec():
    rules = parse_faults("slowdown:0.1,reset:key=foo,flip:nth=3,cut:key=a.fits:fraction=0.99:method=get")
    assert [(r.kind, r.rate, r.key, r.nth) for r in rules][:3] == [
        ("slowdown", 0.1, None, None),
        ("reset", 0.0, "foo", None),
        ("flip", 0.0, None, 3),
    ]
    assert rules[3].fraction == 0.99 and rules[3].method == "GET"


@pytest.mark.parametrize(
    ("spec", "named"),
    [("explode:0.1", "explode"), ("cut:size=3", "size"), ("reset:nth=x", "x"), ("slowdown:2", "2")],
)
def test_parse_faults_rejects_bad_spec(spec, named):
    with pytest.raises(InvalidParameterError, match=named):
        parse_faults(spec)


@pytest.fixture
def stored(buckets, s3_client):
    put_object(s3_client, "stpubdata", "f/obj.bin", BODY)


def get(url: str, path: str = "/stpubdata/f/obj.bin", method: str = "GET"):
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=3)
    connection.request(method, path)
    response = connection.getresponse()
    return response, response.read()


def test_slowdown_and_500_are_s3_errors(stored):
    with FaultyS3("slowdown:nth=1,error500:nth=2") as server:
        first, body1 = get(server.url)
        second, body2 = get(server.url)
        third, body3 = get(server.url)
    assert first.status == 503 and b"<Code>SlowDown</Code>" in body1
    assert second.status == 500 and b"<Code>InternalError</Code>" in body2
    assert third.status == 200 and body3 == BODY
    assert dict(server.injector.injected) == {"slowdown": 1, "error500": 1} and server.injector.requests == 3


def test_reset_breaks_connection(stored):
    with (
        FaultyS3([FaultRule("reset", key="obj.bin")]) as server,
        pytest.raises((ConnectionError, http.client.RemoteDisconnected)),
    ):
        get(server.url)


@pytest.mark.parametrize("fraction", [0.0, 0.5, 0.99])
def test_cut_sends_full_length_short_body(stored, fraction):
    with (
        FaultyS3([FaultRule("cut", fraction=fraction)]) as server,
        pytest.raises(http.client.IncompleteRead) as caught,
    ):
        get(server.url)
    assert len(caught.value.partial) == int(len(BODY) * fraction)
    assert caught.value.expected == len(BODY) - int(len(BODY) * fraction)


def test_stall_answers_nothing_until_timeout(stored):
    with FaultyS3([FaultRule("stall", seconds=2)]) as server:
        host, port = server.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=0.3)
        connection.request("GET", "/stpubdata/f/obj.bin")  # sent whole: the stall is in the answer
        with pytest.raises(TimeoutError):
            connection.getresponse()


def test_flip_changes_exactly_one_byte(stored):
    with FaultyS3([FaultRule("flip", offset=10)]) as server:
        response, body = get(server.url)
    assert response.status == 200 and len(body) == len(BODY)
    assert [i for i in range(len(BODY)) if body[i] != BODY[i]] == [10]


def test_badsum_replaces_etag(stored):
    with FaultyS3([FaultRule("badsum")]) as server:
        response, _body = get(server.url, method="HEAD")
    assert response.getheader("ETag") == '"' + "0" * 32 + '"'


def test_rate_is_seeded_and_repeatable(stored):
    counts = []
    for _ in range(2):
        with FaultyS3([FaultRule("slowdown", rate=0.3)], seed=42) as server:
            statuses = [get(server.url)[0].status for _ in range(30)]
        counts.append(statuses)
    assert counts[0] == counts[1] and 0 < counts[0].count(503) < 30


def test_times_caps_firing(stored):
    with FaultyS3([FaultRule("slowdown", times=2)]) as server:
        statuses = [get(server.url)[0].status for _ in range(4)]
    assert statuses == [503, 503, 200, 200]


def test_sandbox_s3server_takes_fault_rules(tmp_path, monkeypatch):
    """S's S3Server wraps its app with our injector, rules crossing to its process as JSON."""
    from types import SimpleNamespace

    import s3fs

    from roman_helpers.download import download
    from roman_helpers.sandbox.services.s3 import S3Server

    (tmp_path / "obj.bin").write_bytes(BODY)
    entry = SimpleNamespace(bucket="stpubdata", key="f/obj.bin", path="obj.bin", public=True)
    manifest = SimpleNamespace(
        objects=[entry], file=lambda e: tmp_path / e.path, buckets=lambda: {"stpubdata": True}
    )
    rules = [FaultRule("slowdown", key="obj.bin", method="GET", times=2)]
    with S3Server(manifest, faults=rules) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("ROMAN_HELPERS_BACKOFF", "0.01")
        s3fs.S3FileSystem.clear_instance_cache()
        [result] = download(["s3://stpubdata/f/obj.bin"], tmp_path / "out", progress=False)
        records = server.stats.records
    assert result.status == "downloaded" and result.attempts == 3
    # faults sit outside the accounting: the server recorded the HEAD and the one successful GET
    assert [(r.method, r.status) for r in records] == [("HEAD", 200), ("GET", 200)]
    assert not any(r.authorized for r in records)


# --------------------------------------------------------------------------- bad rules


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"kind": "melt"}, "melt"),
        ({"kind": "cut", "rate": 1.5}, "1.5"),
        ({"kind": "flip", "nth": 0}, "0"),
        ({"kind": "cut", "fraction": -0.1}, "-0.1"),
    ],
)
def test_fault_rule_values(kwargs, named):
    with pytest.raises(InvalidParameterError, match=named):
        FaultRule(**kwargs)


def test_faults_spec_names_the_bad_rule():
    with pytest.raises(InvalidParameterError, match="'cut:fraction=half'"):
        parse_faults("slowdown:0.1,cut:fraction=half")


def test_sandbox_refuses_a_bad_fault_spec_before_starting_anything(tmp_path):
    from roman_helpers.sandbox.launcher import Sandbox

    with pytest.raises(InvalidParameterError, match="seed"):
        Sandbox(tmp_path, faults="slowdown:0.3:seed=1")
    assert list(tmp_path.iterdir()) == []  # no data built, no state written
