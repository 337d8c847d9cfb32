"""The truth catalogs: ``roman/{full,preview}/roman_rubin_cats_v1.1.2_faint/{kind}_{cell}.parquet``.

What the real files hold, and where each fact comes from
    One Parquet file per catalog kind and HEALPix cell (nside 32, RING): IRSA's quickstart, TDE,
    SED and Firefly notebooks (``snana_{cell}``, ``galaxy_{cell}``, ``galaxy_flux_{cell}``,
    ``pointsource_{cell}``); columns, types and units as skyCatalogs documents roman_rubin 1.1.2
    (:func:`~roman_helpers.sandbox.sky.sources.catalog_table`). ``snana.host_id`` joins
    ``galaxy.galaxy_id`` of the same cell.

How the sandbox makes them
    :func:`~roman_helpers.sandbox.sky.sources.catalog_table` of each kind of
    :data:`~roman_helpers.sandbox.sky.sources.CATALOG_KINDS` for every cell the mirrored TDS and
    WAS regions of the release touch, written by pyarrow (one row group, its default
    compression). Rows are in ascending id: the sky is made tile by tile (nside 256, NESTED) and an
    id is ``kind prefix + tile x 10^6 + running number``, so tile order is id order. A file is
    made when it is first listed or read (a second or two for a cell's 170,000 galaxies); its
    size is then remembered by the archive's cache, so later listings cost nothing.
"""

from __future__ import annotations

import functools
import io
import re

from roman_helpers.sandbox.archive.layouts.openuniverse._common import (
    BUCKET,
    RELEASES,
    ROOT,
    LazyObject,
    version,
)
from roman_helpers.sandbox.archive.objects import MaterialisedObject
from roman_helpers.sandbox.archive.registry import Provider
from roman_helpers.sandbox.sky import sources
from roman_helpers.sandbox.sky.surveys import tds, was

#: The catalog folder.
FOLDER = "roman_rubin_cats_v1.1.2_faint"
_NAME = re.compile(r"(?P<kind>[a-z_]+)_(?P<cell>\d+)\.parquet")


@functools.cache
def cells(release: str) -> tuple[int, ...]:
    """The catalog cells (nside 32, RING) a release holds: those the release's TDS and WAS regions touch.

    Examples
    --------
    >>> set(cells("preview")) <= set(cells("full"))
    True
    >>> import hpgeom
    >>> int(hpgeom.angle_to_pixel(32, 9.45, -44.02, nest=False)) in cells("preview")
    True
    """
    import hpgeom

    found: set[int] = set()
    for region in (tds.region(release), was.region(release)):
        touched = hpgeom.query_circle(
            sources.CELL_NSIDE, region.ra, region.dec, region.radius, nest=False, inclusive=True
        )
        found.update(int(cell) for cell in touched)
    return tuple(sorted(found))


def catalog_key(release: str, kind: str, cell: int) -> str:
    """The key of one catalog file.

    Examples
    --------
    >>> catalog_key("full", "snana", 10307)
    'openuniverse2024/roman/full/roman_rubin_cats_v1.1.2_faint/snana_10307.parquet'
    """
    return f"{ROOT}roman/{release}/{FOLDER}/{kind}_{cell}.parquet"


@functools.lru_cache(maxsize=4)
def catalog_bytes(kind: str, cell: int) -> bytes:
    """The Parquet file of one catalog kind and cell (the same bytes in both releases)."""
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(sources.catalog_table(kind, cell), sink)
    return sink.getvalue()


@functools.cache
def catalog_size(kind: str, cell: int) -> int:
    """Bytes of one catalog file (made once to know it; remembered for the other release)."""
    return len(catalog_bytes(kind, cell))


def catalog_object(release: str, kind: str, cell: int) -> LazyObject:
    """One catalog file: sized by making it (once), made again only if let go before it is read."""
    key = catalog_key(release, kind, cell)
    return LazyObject(
        key,
        lambda: MaterialisedObject(
            key,
            functools.partial(catalog_bytes, kind, cell),
            size=catalog_size(kind, cell),
            version=version("catalog"),
        ),
        size=functools.partial(catalog_size, kind, cell),
        version=version("catalog"),
        content_type="application/octet-stream",
    )


def providers() -> list[Provider]:
    """The catalog folders of both releases."""
    made = []
    for release in RELEASES:
        prefix = f"{ROOT}roman/{release}/{FOLDER}/"
        held = cells(release)

        def build(
            key: str, prefix: str = prefix, release: str = release, held: tuple[int, ...] = held
        ) -> LazyObject | None:
            found = _NAME.fullmatch(key.removeprefix(prefix))
            if found is None or found["kind"] not in sources.CATALOG_KINDS or int(found["cell"]) not in held:
                return None
            return catalog_object(release, found["kind"], int(found["cell"]))

        def keys(release: str = release, held: tuple[int, ...] = held) -> list[str]:
            return [catalog_key(release, kind, cell) for kind in sources.CATALOG_KINDS for cell in held]

        description = (
            f"the OpenUniverse 2024 truth catalogs ({release}): "
            f"{', '.join(sources.CATALOG_KINDS)} Parquet files of HEALPix cells {', '.join(map(str, held))} "
            "(nside 32, RING), those the mirrored Time Domain and Wide Area Survey regions touch; "
            "made from the sandbox's one synthetic sky when first listed or read"
        )
        made.append(
            Provider(
                bucket=BUCKET,
                prefix=prefix,
                description=description,
                list_keys=keys,
                build=build,
                version=version("catalog"),
            )
        )
    return made


__all__ = ["FOLDER", "catalog_bytes", "catalog_key", "catalog_object", "catalog_size", "cells", "providers"]
