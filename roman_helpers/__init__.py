"""roman_helpers: find, stream and (when you must) download Roman and MAST data in the cloud.

Modules, one concern each:

- :mod:`roman_helpers.query` -- MAST searches through astroquery.mast
- :mod:`roman_helpers.uris` -- cloud URIs: MAST products, Roman layouts, file-name parsing
- :mod:`roman_helpers.stream` -- open FITS/ASDF/datamodels from ``s3://``, headers, cutouts
- :mod:`roman_helpers.download` -- safe, parallel, verified downloads
- :mod:`roman_helpers.datasets` -- the datasets the tutorials run on
- :mod:`roman_helpers.errors` -- exception types
- :mod:`roman_helpers.config` -- configuration read from the environment

The offline stand-in for MAST and S3 lives in :mod:`roman_helpers.sandbox`;
nothing in the kit imports it.
"""

__version__ = "0.1.0"
