"""pytest fixtures for the offline sandbox.

Load with ``pytest_plugins = ["roman_helpers.sandbox.pytest_plugin"]`` in ``conftest.py``.

``sandbox``
    session scope: one :class:`~roman_helpers.sandbox.launcher.Sandbox` (the sky archive) for the
    whole run, stopped at the end.
``sandbox_env``
    function scope: applies ``sandbox.env`` to ``os.environ`` with ``monkeypatch`` (undone after
    the test) and clears s3fs's instance cache before and after, so no file system built for
    another endpoint or credential is reused. Yields the sandbox.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from roman_helpers.sandbox.launcher import OVERRIDDEN_VARIABLES, Sandbox


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """A running sandbox shared by the whole test session."""
    with Sandbox() as running:
        yield running


@pytest.fixture
def sandbox_env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """Point this test's process environment at the session sandbox."""
    import s3fs

    for name in OVERRIDDEN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in sandbox.env.items():
        monkeypatch.setenv(name, value)
    s3fs.S3FileSystem.clear_instance_cache()
    yield sandbox
    s3fs.S3FileSystem.clear_instance_cache()
