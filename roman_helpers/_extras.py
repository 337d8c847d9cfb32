"""The optional parts of the package (pip extras), and the check that one is installed.

``pip install roman-helpers`` installs the kit only. The offline sandbox (``sandbox``
extra) and the tutorial runner (``notebooks`` extra) need more; commands that use them
call :func:`require` first, so a missing extra gives one line saying what to install
instead of an ``ImportError`` traceback.
"""

from __future__ import annotations

import importlib.util

from .errors import MissingExtraError

__all__ = ["MODULES", "missing", "require"]

#: The import names of each extra's requirements in pyproject.toml
#: (tests/test_packaging.py checks that the two agree).
MODULES: dict[str, tuple[str, ...]] = {
    "sandbox": ("werkzeug", "trustme", "hpgeom", "pyarrow", "scipy"),
    "notebooks": ("papermill", "ipykernel", "nbformat", "matplotlib", "jupyterlab", "ipywidgets"),
    "survey": ("dask", "photutils", "reproject", "pyarrow", "hpgeom"),
}


def missing(extra: str) -> str | None:
    """Return the first module of ``extra`` that cannot be found, or ``None`` when all can.

    Only looks the modules up (:func:`importlib.util.find_spec`); nothing is imported.

    Parameters
    ----------
    extra : str
        A key of :data:`MODULES`.

    Returns
    -------
    str or None

    Examples
    --------
    >>> missing("sandbox") in (None, "werkzeug", "trustme", "hpgeom", "pyarrow", "scipy")
    True
    """
    for name in MODULES[extra]:
        try:
            if importlib.util.find_spec(name) is None:
                return name
        except (ImportError, ValueError):  # a finder refused it, or a broken half-import
            return name
    return None


def require(feature: str, *extras: str) -> None:
    """Raise :class:`~roman_helpers.errors.MissingExtraError` unless every extra is installed.

    Parameters
    ----------
    feature : str
        What needs the extras, named as the user called it (``"roman-helpers run"``).
    *extras : str
        Keys of :data:`MODULES`.

    Raises
    ------
    MissingExtraError
        Naming every missing extra and the ``pip install`` line that adds them.

    Examples
    --------
    >>> require("nothing at all")  # no extras asked for: always satisfied
    """
    absent = {extra: name for extra in extras if (name := missing(extra)) is not None}
    if absent:
        raise MissingExtraError(feature, list(absent), next(iter(absent.values())))
