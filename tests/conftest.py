"""Shared fixtures: moto in server mode on 127.0.0.1, buckets shaped like the real ones.

The ``mock_aws`` decorator does not intercept aiobotocore (which s3fs uses), so every
test talks HTTP to a real moto server bound to loopback on a free port.
"""

from __future__ import annotations

import contextlib
import io
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import s3fs
from moto.server import ThreadedMotoServer

from roman_helpers import _s3

# fixtures `sandbox`, `sandbox_env`; `served`, `s3env` (the counting S3 server of the streaming tests)
pytest_plugins = ["roman_helpers.sandbox.pytest_plugin", "_stream_support"]

PUBLIC_BUCKET = "stpubdata"
PRIVATE_BUCKET = "roman-sci-test-data-prod-summer-beta-test"


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Start moto on 127.0.0.1 (a free port) for the whole session; yield its URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def interruptible() -> Iterator[None]:
    """Ctrl-C (SIGINT) raises KeyboardInterrupt here and is not ignored by child processes.

    A shell without job control starts background commands (``make test &`` in a script) with
    SIGINT ignored, and Python then installs no KeyboardInterrupt handler, in this process or in
    the processes it starts. Tests of what Ctrl-C does set Python's own handler for their run;
    a child process then starts with SIGINT at its default (exec resets handlers, not ignores).
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def moto_endpoint(moto_server, tmp_path, monkeypatch) -> Iterator[str]:
    """Point every AWS client of this test at the moto server, with throw-away credentials.

    The environment is changed for this test only (``monkeypatch``), so tests that use
    the full sandbox instead do not collide with this one.
    """
    # imported here, not at the top: pytest loads the plugin first, with its assertion rewriting
    from _stream_support import point_aws_clients_at

    point_aws_clients_at(moto_server, tmp_path, monkeypatch)
    _s3.failures.forget_buckets()  # the buckets of this test are not those of the last one
    yield moto_server
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3_client(moto_endpoint):
    """A credentialed boto3 client for the test server."""
    return boto3.client("s3")


@pytest.fixture
def buckets(s3_client) -> Iterator[dict[str, str]]:
    """Empty public and private buckets, removed after the test.

    Objects put with :func:`put_public` are ``public-read`` (moto serves unsigned
    GETs only for those); objects in the private bucket refuse anonymous reads.
    """
    names = {"public": PUBLIC_BUCKET, "private": PRIVATE_BUCKET}
    for name in names.values():
        s3_client.create_bucket(Bucket=name)
    s3fs.S3FileSystem.clear_instance_cache()
    yield names
    for name in names.values():
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=name):
            for obj in page.get("Contents", []):
                s3_client.delete_object(Bucket=name, Key=obj["Key"])
        s3_client.delete_bucket(Bucket=name)


def put_object(client, bucket: str, key: str, body: bytes) -> None:
    """Store ``body`` with the ACL the real bucket would give it."""
    acl = "public-read" if bucket != PRIVATE_BUCKET else "private"
    client.put_object(Bucket=bucket, Key=key, Body=body, ACL=acl)


@dataclass
class Indexed:
    """What ``roman-helpers index`` wrote and said, and the URIs it was given."""

    path: Path
    status: int
    out: str
    err: str
    sources: list[str]


@contextlib.contextmanager
def sandbox_environment(sandbox) -> Iterator[None]:
    """The sandbox's environment for a block: for fixtures wider than a test (``sandbox_env`` is per test)."""
    from roman_helpers.sandbox.launcher import OVERRIDDEN_VARIABLES

    with pytest.MonkeyPatch.context() as patch:
        for name in OVERRIDDEN_VARIABLES:
            patch.delenv(name, raising=False)
        for name, value in sandbox.env.items():
            patch.setenv(name, value)
        s3fs.S3FileSystem.clear_instance_cache()
        try:
            yield
        finally:
            s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="session")
def tds_index(sandbox, tmp_path_factory) -> Indexed:
    """``roman-helpers index`` over a few tens of the sandbox's TDS preview files, once per session.

    The files are those of ``_tds_transient.index_sources``: images holding one supernova of the
    sandbox's sky, one pointing's detectors and the observation sequence (not the whole preview
    prefix: 19,193 images). They are given as a file of URIs, one a line, as a user would.
    """
    from _tds_transient import index_sources

    from roman_helpers.cli import main

    folder = tmp_path_factory.mktemp("tds-index")
    listing, path = folder / "uris.txt", folder / "tds.ecsv"
    sources = index_sources()
    listing.write_text("".join(f"{uri}\n" for uri in sources))
    out, err = io.StringIO(), io.StringIO()
    with sandbox_environment(sandbox), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["index", str(listing), "-o", str(path)])
    return Indexed(path, status, out.getvalue(), err.getvalue(), sources)


# --------------------------------------------------------------------------- the book, built beside the suite
_BOOK_TESTS = "test_book_browser.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the built book's tests last, so its background build overlaps the rest of the suite."""
    book = [item for item in items if item.path.name == _BOOK_TESTS]
    items[:] = [item for item in items if item.path.name != _BOOK_TESTS] + book


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start building the book in the background when any of its tests will run."""
    book = [item for item in session.items if item.path.name == _BOOK_TESTS]
    if book and not session.config.option.collectonly:
        book[0].module.start_background_build()


def pytest_sessionfinish(session: pytest.Session) -> None:
    for item in session.items:
        if item.path.name == _BOOK_TESTS:
            item.module.stop_background_build()
            return
