"""Offline stand-in for MAST, IRSA and AWS S3 (development and CI only).

Started by :class:`roman_helpers.sandbox.launcher.Sandbox` (or ``roman-helpers sandbox up``), it
serves the archives' layouts (:mod:`roman_helpers.sandbox.archive.layouts`: the buckets' keys as
the real archives name them, every object made on demand from one synthetic sky,
:mod:`roman_helpers.sandbox.sky`) from a local read-only S3 server, answers most of what
``astroquery.mast.Observations`` asks MAST (searches, product lists, cloud addresses, downloads)
for the HST products it holds, answers IRSA's image search for simulated data
(``Irsa.query_sia``, pyvo's ``SIA2Service``) from the layouts' image records, and terminates TLS
for ``mast.stsci.edu`` and ``irsa.ipac.caltech.edu`` in a loopback proxy that refuses every other
host. Everything is switched on through environment variables, so unmodified code runs against
it. The calls it answers, and how the others fail, are listed in
:mod:`roman_helpers.sandbox.supported`. The kit never imports this package.
"""
