"""Offline stand-in for MAST and AWS S3 (development and CI only).

Started by :class:`roman_helpers.sandbox.launcher.Sandbox` (or
``roman-helpers sandbox up``), it serves the objects of
:mod:`roman_helpers.datasets` from a local moto S3 server, answers the MAST
portal API from a synthetic catalog, and terminates TLS for
``mast.stsci.edu`` in a loopback proxy. Everything is switched on through
environment variables, so unmodified code runs against it. The kit never
imports this package.
"""
