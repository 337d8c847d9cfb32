"""roman_helpers: find, stream and (when you must) download Roman and MAST data in the cloud.

Modules, one concern each:

- :mod:`roman_helpers.query` -- MAST searches through astroquery.mast
- :mod:`roman_helpers.uris` -- cloud URIs: MAST products, Roman layouts, file-name parsing
- :mod:`roman_helpers.stream` -- open FITS/ASDF/datamodels from ``s3://``, headers, cutouts
- :mod:`roman_helpers.download` -- safe, parallel, verified downloads
- :mod:`roman_helpers.transfer` -- count the S3 requests and bytes a block of code causes
- :mod:`roman_helpers.footprints` -- an index of files by sky footprint and time; find the files
  over a position
- :mod:`roman_helpers.batch` -- one operation over many files, on threads or a Dask cluster
- :mod:`roman_helpers.photometry` -- forced photometry on cut-outs, light curves
- :mod:`roman_helpers.catalog_photometry` -- light curves of every target of a catalog, each
  file read once
- :mod:`roman_helpers.datasets` -- the datasets the tutorials run on
- :mod:`roman_helpers.errors` -- exception types
- :mod:`roman_helpers.config` -- configuration read from the environment

Each is imported on first use, so ``import roman_helpers`` is quick and
``roman_helpers.stream.info(...)`` works without importing ``roman_helpers.stream`` first.

The offline stand-in for MAST and S3 lives in :mod:`roman_helpers.sandbox`
(``pip install "roman-helpers[sandbox]"``); nothing in the kit imports it.

Examples
--------
>>> import roman_helpers
>>> roman_helpers.datasets.get("hst-wfc3ir-m85").bucket
'stpubdata'
"""

from __future__ import annotations

import importlib

#: The modules of the kit, imported on first attribute access (PEP 562).
__all__ = [
    "batch",
    "catalog_photometry",
    "config",
    "datasets",
    "download",
    "errors",
    "footprints",
    "photometry",
    "query",
    "stream",
    "transfer",
    "uris",
]


def __getattr__(name: str) -> object:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")  # also sets it as an attribute here
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:  # the version is written once, in pyproject.toml
            value = version("roman-helpers")
        except PackageNotFoundError:  # a source tree on sys.path that was never installed
            value = "0+unknown"
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, "__version__"})
