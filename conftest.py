"""pytest set-up for the whole repository: the kit's docstring examples run against the sandbox.

pytest-doctestplus collects the ``>>>`` examples of every module in ``roman_helpers/``
(``doctest_plus = "enabled"`` in ``pyproject.toml``). An example that searches MAST, streams
from ``s3://`` or downloads a file reaches the network on a user's machine; here it runs against
the offline sandbox instead, exactly as a notebook does under ``roman-helpers sandbox run``: the
sandbox's environment variables are set for the example and nothing in the example changes.
So an example needs no ``# doctest: +SKIP`` just because it talks to MAST or S3.

Each doctest also runs in a fresh temporary directory, so an example that downloads writes
nothing into the checkout.
"""

from __future__ import annotations

import pytest

# fixtures `sandbox` (one per session) and `sandbox_env` (environment applied for one test)
pytest_plugins = ["roman_helpers.sandbox.pytest_plugin"]


@pytest.fixture(autouse=True)
def _doctest_sandbox(request: pytest.FixtureRequest) -> None:
    """Run each doctest with the sandbox's environment, in its own temporary directory.

    Ordinary tests are left alone: they ask for ``sandbox_env`` or ``moto_endpoint`` themselves.
    The session's sandbox starts at the first doctest that runs (a few seconds with its data
    cached) and is shared with the tests.
    """
    if not isinstance(request.node, pytest.DoctestItem):
        return
    request.getfixturevalue("sandbox_env")
    tmp_path = request.getfixturevalue("tmp_path")
    request.getfixturevalue("monkeypatch").chdir(tmp_path)
