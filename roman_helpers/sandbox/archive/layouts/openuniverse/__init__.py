"""OpenUniverse 2024 at IRSA: ``s3://nasa-irsa-simulations/openuniverse2024/``, drawn from the sandbox's sky.

What is mirrored (each room's notes say where every fact comes from)
    ``roman/{full,preview}/RomanTDS/``
        Time Domain Survey simple_model images ``images/simple_model/{band}/{pointing}/
        Roman_TDS_simple_model_{band}_{pointing}_{sca}.fits.gz``, their truth lists
        ``truth/{band}/{pointing}/Roman_TDS_index_{band}_{pointing}_{sca}.txt`` and the
        observation sequence ``Roman_TDS_obseq_11_6_23.fits`` (:mod:`._images`).
    ``roman/{full,preview}/RomanWAS/images/simple_model/``
        Wide Area Survey simple_model images, same structure (:mod:`._images`).
    ``roman/preview/RomanWAS/images/coadds/``
        The WAS coadd blocks ``{band}/Row{row}/prod_{b}_{col}_{row}_map.fits`` (:mod:`._coadds`).
    ``roman/{full,preview}/roman_rubin_cats_v1.1.2_faint/``
        The truth catalogs ``{kind}_{cell}.parquet`` (:mod:`._catalogs`).
    ``rubin/preview/``
        The Rubin preview coadds of tract 2877, patch 19 (:mod:`._rubin`).

Which images exist follows the survey designs of :mod:`roman_helpers.sandbox.sky.surveys`;
every pixel, truth row and catalog row is drawn from the one sky of
:mod:`roman_helpers.sandbox.sky`. Sizes are known without pixels (closed forms for images and
coadds, a row count for truth lists; catalogs are made when first listed); bytes are made when
read and are the same in every process. :func:`image_records` gives IRSA's image search its
rows (:mod:`._records`).

Examples
--------
>>> [provider.prefix for provider in providers()][:2]
['openuniverse2024/roman/full/RomanTDS/', 'openuniverse2024/roman/preview/RomanTDS/']
"""

from __future__ import annotations

from typing import Any

from roman_helpers.sandbox.archive.layouts.openuniverse import _catalogs, _coadds, _images, _records, _rubin
from roman_helpers.sandbox.archive.layouts.openuniverse._common import BUCKET, fingerprint
from roman_helpers.sandbox.archive.registry import Provider

__all__ = ["BUCKETS", "fingerprint", "image_records", "providers"]

#: The bucket these layouts fill, and whether anonymous clients may read it (IRSA's is public).
BUCKETS = {BUCKET: True}


def providers() -> list[Provider]:
    """Every OpenUniverse key space: TDS and WAS images (both releases), coadds, catalogs, Rubin."""
    return [
        *_images.providers(),
        *_coadds.providers(),
        *_catalogs.providers(),
        *_rubin.providers(),
    ]


def image_records(collection: str | None = None) -> Any:
    """IRSA's image-search rows for the OpenUniverse collections, or one of them (see :mod:`._records`)."""
    return _records.image_records(collection)
