"""Credentials: never in errors or reprs; anonymous requests carry no Authorization header."""

from __future__ import annotations

import pytest

from roman_helpers.download import download
from roman_helpers.sandbox.services.faults import FaultRule
from tests.conftest import put_object
from tests.faulty_server import FaultyS3

SENTINEL_KEY = "AKIASENTINEL0000XYZ"
SENTINEL_SECRET = "sentinel-secret-9f8e7d6c5b4a"


@pytest.fixture
def sentinel_creds(moto_endpoint, tmp_path, monkeypatch):
    creds = tmp_path / "sentinel-credentials"
    creds.write_text(
        f"[default]\naws_access_key_id = {SENTINEL_KEY}\naws_secret_access_key = {SENTINEL_SECRET}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))


class Recorder:
    """WSGI layer recording (method, path, has Authorization) of each request."""

    def __init__(self, app):
        self.app, self.seen = app, []

    def __call__(self, environ, start_response):
        self.seen.append(
            (environ["REQUEST_METHOD"], environ["PATH_INFO"], bool(environ.get("HTTP_AUTHORIZATION")))
        )
        return self.app(environ, start_response)


def test_public_requests_unsigned_private_signed(buckets, s3_client, tmp_path, monkeypatch, sentinel_creds):
    put_object(s3_client, "stpubdata", "p/a.bin", b"public")
    put_object(s3_client, "roman-sci-test-data-prod-summer-beta-test", "q/b.bin", b"private")
    server = FaultyS3([])
    recorder = Recorder(server.injector.app)
    server.injector.app = recorder
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    with server:
        results = download(
            ["s3://stpubdata/p/a.bin", "s3://roman-sci-test-data-prod-summer-beta-test/q/b.bin"],
            tmp_path,
            progress=False,
        )
    assert [r.status for r in results] == ["downloaded", "downloaded"]
    public = [auth for _, path, auth in recorder.seen if path.startswith("/stpubdata/")]
    private = [auth for _, path, auth in recorder.seen if path.startswith("/roman-sci")]
    assert public and not any(public)
    assert private and all(private)


def test_sentinel_never_in_errors_or_reprs(buckets, s3_client, tmp_path, monkeypatch, sentinel_creds):
    put_object(s3_client, "roman-sci-test-data-prod-summer-beta-test", "q/b.bin", b"private")
    uris = [
        "s3://roman-sci-test-data-prod-summer-beta-test/q/missing.bin",
        "s3://roman-sci-test-data-prod-summer-beta-test/q/b.bin",
        "s3://roman-sci-test-data-prod-summer-beta-test/../x",
        "not-a-uri",
    ]
    with FaultyS3([FaultRule("slowdown", key="b.bin")]) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        results = download(uris, tmp_path, progress=False)
    assert all(r.status == "failed" for r in results)
    text = " ".join(repr(r) + str(r.error) + repr(r.error) + repr(r.error.__cause__) for r in results)
    assert SENTINEL_KEY not in text and SENTINEL_SECRET not in text
