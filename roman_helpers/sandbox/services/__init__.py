"""The sandbox's network services: WSGI apps that answer as S3, MAST and IRSA do.

:mod:`~roman_helpers.sandbox.services.s3` (the buckets), :mod:`~roman_helpers.sandbox.services.mast`
(with the MAST rows of :mod:`~roman_helpers.sandbox.services.catalog`),
:mod:`~roman_helpers.sandbox.services.irsa` (image search, with the sky geometry of
:mod:`~roman_helpers.sandbox.services.regions`), :mod:`~roman_helpers.sandbox.services.proxy`
(TLS for the archives' host names) and :mod:`~roman_helpers.sandbox.services.faults` (failures
on demand). They serve what :mod:`roman_helpers.sandbox.archive` holds and never generate bytes
themselves.
"""
