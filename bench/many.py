"""Many-target benchmark: the light curves of hundreds of sources over a hundred full-size epochs.

One run, under the offline sandbox with its S3 server's network model (20 ms per request and a
200 MB/s per-request bandwidth cap by default), in two layouts of one field each:

* **OpenUniverse .fits.gz**: the ``--epochs`` H158 images of the OpenUniverse 2024 Time Domain
  Survey (gzip-compressed FITS, SCI/ERR/DQ of 4088 x 4088 pixels) holding the transient
  tutorial 4 follows, found as ``bench/survey.py`` finds them (IRSA's SIA); the targets are the
  truth catalogs' transients and stars within :data:`RADIUS_ARCMIN` of it (``snana_<cell>`` and
  ``pointsource_<cell>.parquet``), topped up with a seeded choice of its galaxies
  (``galaxy_<cell>.parquet``) when they are fewer than ``--targets``;
* **Roman ASDF**: the first ``--epochs`` F146 exposures (one every ~12 minutes) of detector
  :data:`GBTDS_DETECTOR` on the first field of the Core Community Survey's Galactic Bulge
  Time-Domain Survey simulation (``r00340/l2/*_cal.asdf``, lz4-compressed blocks), from the
  simulation's manifest; the targets a seeded choice of the stars (``type == 'PSF'``, F146
  brighter than :data:`GBTDS_FAINTEST`) of its input catalogs (``input_catalogs/cat-<hpix>.fits``)
  within :data:`RADIUS_ARCMIN` of the detector's centre.

For each layout, over the same files and the same stamps (31 pixels, the default for a 3-pixel
aperture and an 8-14 pixel annulus):

* **roman_helpers**: :func:`roman_helpers.catalog_photometry.light_curves`, every file read once
  for all its targets;
* **one target at a time**: :func:`roman_helpers.footprints.find`,
  :func:`roman_helpers.batch.cutouts` and :func:`roman_helpers.photometry.light_curve` per
  target, as the kit did before. The whole loop would re-read every file once per target (hours
  for 200 ``.fits.gz`` targets), so it runs on a seeded subset of ``--per-target`` targets and
  its time and bytes are scaled to all of them (the table says so);
* **astrocut**: ``FITSCutout`` (``.fits.gz``, extension 1) or ``ASDFCutout`` (ASDF) of all the
  targets' coordinates at once, file after file; past ``--budget`` seconds it stops after the
  file that passes it and its per-file numbers stand for the whole list (the table says so).

Bytes are set against a floor worked out from the files' layout without the kit: for a
``.fits.gz`` file, the compressed stream through the gzip member holding the last row any
target's stamp needs of ERR (SCI comes before it; a gzip stream cannot be entered mid-way); for
an ASDF file, the YAML tree and the lz4 chunks of ``data`` and ``err`` holding any stamp's rows,
with their block headers. A stamp's rows come from the WCS the sandbox made the file with.

The sandbox makes the files' bytes on demand (a full-size ``.fits.gz`` image ~20 s to its last
row) and keeps them under ``--cache`` within ``ROMAN_HELPERS_SANDBOX_CACHE_BUDGET`` (raised here
to :data:`CACHE_BUDGET` unless set): the kit runs first and pays for the making.

Writes ``build/bench/many/results.json``, ``table.md`` and ``many.png`` and prints the table;
nothing tracked. ``make bench-publish`` (``python bench/many.py --publish``) puts the last full run
into the book's "Many targets" section (between the ``many-table`` markers of
``book/performance.md``, ``book/images/many.png``, ``book/many-results.json``); ``--quick``
results are refused.

Usage: ``python bench/many.py [--quick] [--targets 200] [--epochs 100] [--per-target 2]
[--latency 0.02] [--bandwidth 2e8] [--workers 8] [--budget 180] [--layouts openuniverse,gbtds]
[--no-astrocut] [--cache DIR] [--output-dir DIR]`` and ``python bench/many.py --publish``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from run import FONT_PT, MB, PAGE_WIDTH_IN, aws_environment, fmt_bytes, update_book  # noqa: E402
from survey import SIDE, SURVEY, by_key, choose_epochs, closing, gz_floor, ratio  # noqa: E402

from roman_helpers import batch, catalog_photometry, footprints, photometry  # noqa: E402
from roman_helpers.sandbox.launcher import Sandbox  # noqa: E402

OUTPUT = ROOT / "build" / "bench" / "many"  # untracked (.gitignore): every run writes here
BOOK_PAGE = ROOT / "book" / "performance.md"  # the "Many targets" section, between many-table markers
BOOK_IMAGES = ROOT / "book" / "images"
BOOK_RESULTS = ROOT / "book" / "many-results.json"
SEED = 19
RADIUS = 3.0  # aperture, pixels
ANNULUS = (8.0, 14.0)
STAMP = photometry.default_size(ANNULUS)  # 31 pixels: what light_curves cuts by default
RADIUS_ARCMIN = {"openuniverse": 4.0, "gbtds": 1.5}  # targets within this of the field's centre
GBTDS_RADII = (0.5, 0.75, 1.0, 1.5)  # arcmin: GBTDS targets within the smallest holding them all
OU_BAND = "H158"
GBTDS = "r00340"
GBTDS_BAND = "F146"
GBTDS_DETECTOR = "WFI10"
GBTDS_FAINTEST = 22.0  # F146 AB magnitude of the faintest star chosen
CACHE_BUDGET = "40G"  # a hundred full-size .fits.gz images, read whole by astrocut
LAYOUTS = {"openuniverse": "OpenUniverse .fits.gz", "gbtds": "Roman ASDF (GBTDS L2)"}
KIT = "roman_helpers light_curves"
PER_TARGET = "one target at a time"
ASTROCUT = "astrocut"


# ------------------------------------------------------------------ the files and the targets


def openuniverse_field(epochs: int, targets: int, rng: np.random.Generator) -> dict[str, Any]:
    """The tutorial's transient's ``epochs`` H158 images, and the sources around it."""
    import astropy.units as u
    import hpgeom
    import pyarrow.parquet as pq
    import s3fs
    from astropy.coordinates import SkyCoord
    from astropy.table import Table, vstack

    centre, transient, images = choose_epochs(epochs)
    uris = [
        f"s3://{entry['aws']['bucket_name']}/{entry['aws']['key']}"
        for entry in (json.loads(text) for text in images["cloud_access"])
    ]
    public = s3fs.S3FileSystem(anon=True)
    cell = hpgeom.angle_to_pixel(32, centre.ra.deg, centre.dec.deg, nest=False)
    folder = f"{SURVEY.removesuffix('RomanTDS')}roman_rubin_cats_v1.1.2_faint"

    def near(kind: str) -> Table:
        table = Table(
            pq.read_table(
                f"{folder}/{kind}_{cell}.parquet", filesystem=public, columns=["ra", "dec"]
            ).to_pydict()
        )
        table["id"] = (
            pq.read_table(f"{folder}/{kind}_{cell}.parquet", filesystem=public, columns=[_id_column(kind)])
            .column(0)
            .to_pylist()
        )
        table["id"] = [f"{kind}:{value}" for value in table["id"]]
        table["kind"] = kind
        places = SkyCoord(table["ra"], table["dec"], unit="deg")
        return table[places.separation(centre) < RADIUS_ARCMIN["openuniverse"] * u.arcmin][
            "id", "ra", "dec", "kind"
        ]

    chosen = vstack([near("snana"), near("pointsource")])
    if len(chosen) < targets:  # topped up with galaxies, a seeded choice
        galaxies = near("galaxy")
        chosen = vstack([chosen, galaxies[np.sort(rng.permutation(len(galaxies))[: targets - len(chosen)])]])
    chosen = chosen[np.sort(rng.permutation(len(chosen))[:targets])]
    return {
        "uris": uris,
        "band": OU_BAND,
        "catalog": chosen,
        "centre": (float(centre.ra.deg), float(centre.dec.deg)),
        "about": f"transient {transient['id']}'s {len(uris)} {OU_BAND} images nearest its peak",
    }


def _id_column(kind: str) -> str:
    return {"galaxy": "galaxy_id"}.get(kind, "id")


def gbtds_field(epochs: int, targets: int, rng: np.random.Generator) -> dict[str, Any]:
    """The first ``epochs`` F146 exposures of one detector on the GBTDS's first field, and its stars.

    The exposures come from the simulation's manifest (as the sandbox tabulates it: the real
    manifest's columns); the stars from its input catalogs, read as a user reads a FITS table.
    """
    import hpgeom
    import s3fs
    from astropy.coordinates import SkyCoord
    from astropy.io import fits
    from astropy.table import Table, vstack

    from roman_helpers.sandbox.sky.surveys import ccs

    manifest = ccs.manifest(GBTDS)
    rows = manifest[
        (manifest["optical_element"] == GBTDS_BAND)
        & (manifest["pass"] == 2)
        & (manifest["observation"] == 1)
        & (manifest["detector"] == GBTDS_DETECTOR)
    ]
    rows = rows[np.argsort(np.asarray(rows["start_time"], dtype=str), kind="stable")[:epochs]]
    uris = [str(uri) for uri in rows["l2_s3_uri"]]
    centre = SkyCoord(float(np.mean(rows["detector_ra"])), float(np.mean(rows["detector_dec"])), unit="deg")
    galactic = centre.galactic
    cells = hpgeom.query_circle(
        ccs.CATALOG_NSIDE,
        galactic.l.deg,
        galactic.b.deg,
        RADIUS_ARCMIN["gbtds"] / 60,
        nest=True,
        lonlat=True,
        inclusive=True,
    )
    cells = np.intersect1d(cells, ccs.input_catalog_cells(GBTDS))
    public = s3fs.S3FileSystem(anon=True)
    parts = []
    for cell in cells:
        key = f"{ccs.BUCKET}/{ccs.PREFIX}/input_catalogs/cat-{cell}.fits"
        with public.open(key) as handle, fits.open(handle) as hdul:
            data = hdul[1].data
            table = Table(
                {
                    "ra": np.asarray(data["ra"], float),
                    "dec": np.asarray(data["dec"], float),
                    "type": np.asarray(data["type"]).astype(str),
                    "mag": -2.5 * np.log10(np.maximum(np.asarray(data[GBTDS_BAND], float), 1e-30)),
                }
            )
        table["id"] = [f"cat-{cell}:{row}" for row in range(len(table))]
        parts.append(table)
    stars = vstack(parts)
    places = SkyCoord(stars["ra"], stars["dec"], unit="deg")
    bright = (np.char.strip(np.asarray(stars["type"], dtype=str)) == "PSF") & (stars["mag"] < GBTDS_FAINTEST)
    distance = places.separation(centre).arcmin
    # the smallest circle that holds the targets: fewer 4 MiB chunks of rows for every way to read
    radius = next(
        (r for r in GBTDS_RADII if np.sum(bright & (distance < r)) >= targets), RADIUS_ARCMIN["gbtds"]
    )
    stars = stars[bright & (distance < radius)]
    chosen = stars[np.sort(rng.permutation(len(stars))[:targets])]
    chosen["kind"] = "star"
    return {
        "uris": uris,
        "band": GBTDS_BAND,
        "catalog": chosen["id", "ra", "dec", "kind"],
        "centre": (float(centre.ra.deg), float(centre.dec.deg)),
        "about": f"the first {len(uris)} {GBTDS_BAND} exposures of {GBTDS_DETECTOR}, GBTDS field 1 "
        f"(stars within {radius} arcmin of its centre)",
    }


# ------------------------------------------------------------------ floors (without the kit)


def stamp_rows(wcs: Any, ra: np.ndarray, dec: np.ndarray) -> list[tuple[int, int]]:
    """Rows ``[start, stop)`` of the stamp of each target on the image (its centre within the
    image's pixels), as ``Cutout2D`` places an odd side, trimmed at the image's edges."""
    x, y = wcs.all_world2pix(ra, dec, 0)
    on = (x >= -0.5) & (x < SIDE - 0.5) & (y >= -0.5) & (y < SIDE - 0.5)
    y0 = np.ceil(y[on] - STAMP / 2).astype(int)
    return [(max(int(a), 0), min(int(a) + STAMP, SIDE)) for a in y0]


def openuniverse_floor(archive: Any, uri: str, catalog: Any) -> tuple[int, int]:
    """The ``.fits.gz`` floor of one file, and how many targets' stamps touch it."""
    from astropy.wcs import WCS

    from roman_helpers.sandbox.archive.layouts.openuniverse import _images

    pointing, name = uri.rsplit("/", 2)[1:]
    sca = int(name.removesuffix(".fits.gz").rsplit("_", 1)[1])
    header = _images._gzip("RomanTDS", "full", int(pointing), sca).inner.headers[1]
    rows = stamp_rows(WCS(header), np.asarray(catalog["ra"]), np.asarray(catalog["dec"]))
    if not rows:
        return 0, 0
    return gz_floor(uri, (0, max(stop for _, stop in rows)), extension=2, read_block=False), len(rows)


def asdf_floor(archive: Any, uri: str, catalog: Any) -> tuple[int, int]:
    """The ASDF floor of one file (tree, and the lz4 chunks of data and err under any stamp)."""
    from roman_helpers.sandbox.archive.asdf import LZ4_CHUNK, lz4_literal_chunk_header
    from roman_helpers.sandbox.archive.layouts import roman

    bucket, key = uri.removeprefix("s3://").split("/", 1)
    item = archive.get(bucket, key)
    item = getattr(item, "item", item)  # the archive's cache wraps the ASDF object
    stem = key.rsplit("/", 1)[1].removesuffix("_cal.asdf")
    wcs = roman.sky_image(roman.ccs_image(GBTDS, stem)).wcs
    rows = stamp_rows(wcs, np.asarray(catalog["ra"]), np.asarray(catalog["dec"]))
    if not rows:
        return 0, 0
    framed = len(lz4_literal_chunk_header(LZ4_CHUNK)) + LZ4_CHUNK
    total = item.block_offsets[0]  # the tree, up to the first block
    header = 4 + 2 + 48  # asdf block magic, header size, header
    for path, nbytes in zip(item.block_paths, item.block_nbytes, strict=True):
        if len(path) != 2 or path[-1] not in ("data", "err"):
            continue
        row_bytes = nbytes // SIDE  # err is float16 in Roman L2 files, data float32
        chunks = {
            k
            for a, b in rows
            for k in range(a * row_bytes // LZ4_CHUNK, (b * row_bytes - 1) // LZ4_CHUNK + 1)
        }
        last = (nbytes - 1) // LZ4_CHUNK
        rest = nbytes - last * LZ4_CHUNK
        total += header + sum(
            framed if k < last else len(lz4_literal_chunk_header(rest)) + rest for k in chunks
        )
    return total, len(rows)


# ------------------------------------------------------------------ the ways


def counted(server: Any, call: Any) -> tuple[Any, dict[str, Any]]:
    """``call()``, with the server's requests and bytes and the seconds it took."""
    mark = len(server.stats.records)
    started = time.perf_counter()
    value = call()
    seconds = time.perf_counter() - started
    counts = server.stats.since(mark)
    return value, {
        "requests": counts.requests,
        "bytes": counts.bytes_sent,
        "seconds": seconds,
        "by_key": by_key(counts.records),
    }


def kit_way(
    server: Any, index: Any, catalog: Any, band: str, workers: int, first_pass: bool = True
) -> tuple[Any, dict]:
    """The kit's light curves of every target, twice: the first pass lets the sandbox make the
    bytes (its time is kept, not compared), the second is the one measured (once without
    ``first_pass``: counts are the same, the time then includes the making)."""

    def call() -> Any:
        return catalog_photometry.light_curves(
            index, catalog, band=band, radius=RADIUS, annulus=ANNULUS, max_workers=workers, progress=False
        )

    first = {"seconds": None}
    if first_pass:
        _, first = counted(server, call)
        print(f"    first pass (the sandbox making the files) {first['seconds']:.0f} s", flush=True)
    table, got = counted(server, call)
    return table, {
        "first_pass_seconds": first["seconds"],
        "name": KIT,
        "files": int(table.meta["files"]),
        "targets": len(set(np.asarray(table["target"], dtype=str))),
        "pairs": len(table),
        "failed": list(table.meta["failed"]),
        **got,
    }


def per_target_way(
    server: Any, index: Any, catalog: Any, band: str, workers: int, subset: list[int], kit: Any
) -> dict:
    """One light curve per target, for the targets of ``subset``; fluxes compared with the kit's."""
    from astropy.coordinates import SkyCoord

    total = {"requests": 0, "bytes": 0, "seconds": 0.0}
    pairs, same, files = 0, 0, set()
    by_target = {str(t): kit[np.asarray(kit["target"], dtype=str) == str(t)] for t in catalog["id"][subset]}
    for row in subset:
        position = SkyCoord(catalog["ra"][row], catalog["dec"][row], unit="deg")

        def one(position: Any = position) -> Any:
            found = footprints.find(index, position, band=band)
            result = batch.cutouts(found, position, STAMP, max_workers=workers, progress=False)
            return photometry.light_curve(result, position, radius=RADIUS, annulus=ANNULUS)

        curve, got = counted(server, one)
        for name in total:
            total[name] += got[name]
        pairs += len(curve)
        files.update(str(f) for f in curve["file"])
        theirs = by_target[str(catalog["id"][row])]
        flux = dict(
            zip(
                np.asarray(theirs["file"], dtype=str),
                np.asarray(getattr(theirs["flux"], "value", theirs["flux"]), float),
                strict=True,
            )
        )
        mine = np.asarray(getattr(curve["flux"], "value", curve["flux"]), float)
        same += sum(
            bool(np.isclose(value, flux.get(str(f), np.nan), rtol=1e-6, equal_nan=True))
            for f, value in zip(curve["file"], mine, strict=True)
        )
    return {
        "name": PER_TARGET,
        "files": len(files),
        "targets": len(subset),
        "pairs": pairs,
        "same_flux": same,
        "failed": [],
        **total,
    }


def astrocut_way(
    server: Any, uris: list[str], catalog: Any, asdf: bool, budget: float, subset: list[int] | None = None
) -> dict:
    """astrocut's multi-coordinate cut-outs of every target (or of ``subset``), file after file,
    within ``budget`` s of its own (each file made by the sandbox first, untimed; making and
    cutting together stop after 3 x ``budget``)."""
    import fsspec
    from astrocut import ASDFCutout, FITSCutout
    from astropy.coordinates import SkyCoord

    chosen = catalog if subset is None else catalog[subset]
    coordinates = SkyCoord(chosen["ra"], chosen["dec"], unit="deg")
    done, made, note, requests, sent = 0, 0, "", 0, 0
    warm, seconds = 0.0, 0.0

    def cut(uri: str) -> Any:
        if asdf:
            return ASDFCutout([uri], coordinates, cutout_size=STAMP)
        return FITSCutout([uri], coordinates, cutout_size=STAMP, extension=1)

    for uri in uris:
        begun = time.perf_counter()
        if asdf:  # once untimed: the sandbox makes the blocks astrocut reads
            with contextlib.suppress(Exception):  # the timed call below reports it
                cut(uri)
        else:  # astrocut reads the whole .fits.gz stream (more than once): the sandbox makes it all
            with fsspec.open(uri, "rb", anon=True) as handle:
                while handle.read(64 * 2**20):
                    pass
        warm += time.perf_counter() - begun
        mark, begun = len(server.stats.records), time.perf_counter()
        try:
            made += sum(len(v) for v in cut(uri).cutouts_by_file.values())
        except Exception as error:  # noqa: BLE001 - a file astrocut cannot cut is reported, not fatal
            note = f"{type(error).__name__}: {str(error)[:80]}"
        seconds += time.perf_counter() - begun
        got = server.stats.since(mark)
        requests, sent = requests + got.requests, sent + got.bytes_sent
        done += 1
        if (seconds > budget or seconds + warm > 3 * budget) and done < len(uris):
            note = (note + "; " if note else "") + f"stopped by the {budget:.0f} s budget"
            break
    return {
        "name": ASTROCUT,
        "files": done,
        "targets": len(chosen),
        "pairs": made,
        "failed": [note] if note else [],
        "requests": requests,
        "bytes": sent,
        "seconds": seconds,
        "making_seconds": warm,
    }


# ------------------------------------------------------------------ one layout


def say(line: str) -> None:
    print(line, flush=True)


def way_line(way: dict) -> str:
    """A way's raw numbers, as measured (before any scaling), for the log."""
    return (
        f"{way['files']} files, {way['targets']} targets, {way['pairs']} stamps, {way['requests']} requests, "
        f"{fmt_bytes(way['bytes'])}, {way['seconds']:.1f} s"
    )


def run_layout(
    sandbox: Any, layout: str, field: dict, args: argparse.Namespace, rng: np.random.Generator, astrocut: bool
) -> dict:
    server = sandbox.s3
    uris, catalog, band = field["uris"], field["catalog"], field["band"]
    print(f"{LAYOUTS[layout]}: {field['about']}, {len(catalog)} targets", flush=True)
    print("  index ...", flush=True)
    index, indexed = counted(
        server, lambda: footprints.build_index(uris, max_workers=args.workers, progress=False)
    )
    say(f"  index: {len(index)} files, {indexed['requests']} requests, {fmt_bytes(indexed['bytes'])}")
    print(f"  light curves of {len(catalog)} targets ...", flush=True)
    table, kit = kit_way(server, index, catalog, band, args.workers, first_pass=not args.quick)
    floors = []
    floor_of = openuniverse_floor if layout == "openuniverse" else asdf_floor
    for uri in uris:
        floor, touching = floor_of(sandbox.archive, uri, catalog)
        key = uri.split("/", 3)[3]
        got = kit["by_key"].get(key, {"requests": 0, "bytes": 0})
        floors.append({"key": key, "floor": floor, "stamps": touching, **got})
    kit["floor"] = sum(f["floor"] for f in floors)
    kit["floor_stamps"] = sum(f["stamps"] for f in floors)
    say(
        f"  {KIT}: {way_line(kit)}; floor {fmt_bytes(kit['floor'])} "
        f"({kit['bytes'] / max(kit['floor'], 1):.3f} x)"
    )
    on_files = sorted({str(t) for t in table["target"]})
    candidates = [i for i, t in enumerate(catalog["id"]) if str(t) in set(on_files)]
    subset = sorted(
        rng.choice(candidates, size=min(args.per_target, len(candidates)), replace=False).tolist()
    )
    print(f"  one target at a time, {len(subset)} of {len(on_files)} targets ...", flush=True)
    single = per_target_way(server, index, catalog, band, args.workers, subset, table)
    say(f"  {PER_TARGET}: {way_line(single)}; same flux {single['same_flux']}/{single['pairs']}")
    ways = [kit, single]
    if astrocut:
        # astrocut's FITSCutout reads a .fits.gz stream again for every coordinate (about 1 GB
        # each here): its coordinates are the per-target subset, scaled; ASDFCutout takes them all
        asdf = layout == "gbtds"
        say(f"  astrocut, {len(catalog) if asdf else len(subset)} coordinates a file ...")
        ways.append(astrocut_way(server, uris, catalog, asdf, args.budget, None if asdf else subset))
        say(f"  {ASTROCUT}: {way_line(ways[-1])}; {ways[-1]['failed']}")
    for way in ways:
        way.pop("by_key", None)
    return {
        "about": field["about"],
        "catalog": {
            name: [str(v) if name == "id" else float(v) for v in catalog[name]]
            for name in ("id", "ra", "dec")
        },
        "band": band,
        "centre": field["centre"],
        "epochs": len(uris),
        "targets": len(catalog),
        "targets_on_files": len(on_files),
        "kinds": {
            str(k): int(n)
            for k, n in zip(
                *np.unique(np.asarray(catalog["kind"], dtype=str), return_counts=True), strict=True
            )
        },
        "index": {k: v for k, v in indexed.items() if k != "by_key"} | {"files": len(index)},
        "per_file": floors,
        "ways": ways,
    }


# ------------------------------------------------------------------ numbers


def scaled(way: dict, layout: dict) -> dict:
    """A way's numbers for the whole run: as measured, or scaled from its part (and says so)."""
    if way["name"] == PER_TARGET:
        factor = layout["targets_on_files"] / max(way["targets"], 1)
        basis = f"{way['targets']} of {layout['targets_on_files']} targets, scaled"
    elif way["name"] == ASTROCUT:
        files = layout["epochs"] / max(way["files"], 1)
        coordinates = layout["targets"] / max(way["targets"], 1)
        factor = files * coordinates
        parts = [f"{way['files']} of {layout['epochs']} files"] if files != 1 else []
        parts += [f"{way['targets']} of {layout['targets']} coordinates"] if coordinates != 1 else []
        basis = ", ".join(parts) + ", scaled"
    else:
        factor, basis = 1.0, "measured"
    return {
        "requests": way["requests"] * factor,
        "bytes": way["bytes"] * factor,
        "seconds": way["seconds"] * factor,
        "basis": basis if factor != 1 else "measured",
    }


def summary(results: dict) -> list[dict]:
    """One row per layout and way: whole-run numbers and the ratios to the kit."""
    rows = []
    for layout, lay in results["layouts"].items():
        kit = scaled(lay["ways"][0], lay)
        pairs = lay["ways"][0]["pairs"]
        for way in lay["ways"]:
            whole = scaled(way, lay)
            rows.append(
                {
                    "layout": layout,
                    "way": way["name"],
                    "basis": whole["basis"],
                    "requests": whole["requests"],
                    "bytes": whole["bytes"],
                    "seconds": whole["seconds"],
                    "bytes_over_floor": whole["bytes"] / max(lay["ways"][0]["floor"], 1),
                    "files_per_second": lay["epochs"] / whole["seconds"],
                    "pairs_per_second": pairs / whole["seconds"],
                    "time_vs_kit": whole["seconds"] / kit["seconds"],
                    "bytes_vs_kit": whole["bytes"] / max(kit["bytes"], 1),
                }
            )
    return rows


def targets(results: dict) -> list[dict]:
    """Each number the benchmark aims at, the value reached and whether it is met."""
    out = []
    rows = summary(results)
    for layout, lay in results["layouts"].items():
        kit = lay["ways"][0]
        name = LAYOUTS[layout]
        out.append(
            {
                "what": f"{name}: size",
                "target": ">= 200 targets x >= 100 full-size epochs",
                "value": f"{lay['targets']} targets ({lay['targets_on_files']} on the files) "
                f"x {lay['epochs']} epochs; {kit['pairs']:,} measurements",
                "met": lay["targets"] >= 200 and lay["epochs"] >= 100,
            }
        )
        over = kit["bytes"] / max(kit["floor"], 1)
        out.append(
            {
                "what": f"{name}: bytes",
                "target": "<= 1.2 x the floor",
                "value": f"{over:.3f} x ({fmt_bytes(kit['bytes'])} for {fmt_bytes(kit['floor'])})",
                "met": over <= 1.2,
            }
        )
        for row in rows:
            if row["layout"] != layout or row["way"] == KIT:
                continue
            aim = ">= 20 x faster" if row["way"] == PER_TARGET else "(printed)"
            out.append(
                {
                    "what": f"{name}: time against {row['way']}",
                    "target": aim,
                    "value": ratio(row["time_vs_kit"], "faster", "slower")
                    + ("" if row["basis"] == "measured" else f" ({row['basis']})"),
                    "met": row["time_vs_kit"] >= 20 if row["way"] == PER_TARGET else None,
                }
            )
    return out


def table(results: dict) -> str:
    """The run as Markdown: settings, a table of the ways for each layout, the targets."""
    settings = results["settings"]
    lines = [
        f"{settings['targets']} targets over {settings['epochs']} epochs per layout; "
        f"{settings['latency_s'] * 1000:.0f} ms per request, "
        f"{settings['bandwidth_bytes_per_s'] / MB:.0f} MB/s per request; {settings['workers']} threads; "
        f"{STAMP}-pixel stamps; {settings['cpus']} CPUs"
        + (" (**--quick**: a smoke run, not the benchmark)" if settings["quick"] else "")
        + (
            "; the layouts ran side by side, one process each, sharing the machine"
            if settings.get("joined")
            else ""
        )
        + ".",
    ]
    # one table per layout, with few columns: the book's text column is about 680 pixels wide
    for layout, lay in results["layouts"].items():
        lines += [
            "",
            f"**{LAYOUTS[layout]}, {lay['epochs']} epochs**",
            "",
            "| way | requests | GB read | read / floor | time (s) | files / s | measurements / s "
            "| time / the kit's |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in summary(results):
            if row["layout"] != layout:
                continue
            scaled_note = "" if row["basis"] == "measured" else f" ({row['basis']})"
            over = row["bytes_over_floor"]
            lines.append(
                f"| {row['way']}{scaled_note} | {row['requests']:,.0f} | {row['bytes'] / 1e9:,.1f} "
                f"| {over:,.{3 if over < 10 else 0}f} | {row['seconds']:,.0f} "
                f"| {row['files_per_second']:.2f} "
                f"| {row['pairs_per_second']:,.0f} | {row['time_vs_kit']:,.1f} |"
            )
    lines += ["", "| aim | target | reached | met |", "|---|---|---|---|"]
    for t in results["targets"]:
        met = {True: "yes", False: "**no**", None: "-"}[t["met"]]
        lines.append(f"| {t['what']} | {t['target']} | {t['value']} | {met} |")
    for layout, lay in results["layouts"].items():
        kit, single = lay["ways"][0], lay["ways"][1]
        lines += [
            "",
            f"{LAYOUTS[layout]}: {lay['about']}; targets "
            + ", ".join(f"{n} {k}" for k, n in lay["kinds"].items())
            + f"; {kit['pairs']:,} measurements ({kit['floor_stamps']:,} targets on the files by their "
            f"WCS); one target at a time gave the same flux for {single['same_flux']} of its "
            f"{single['pairs']} measurements"
            + (f"; {len(kit['failed'])} problems, first: {kit['failed'][0]}" if kit["failed"] else "")
            + ".",
        ]
    return "\n".join(lines)


def figure(results: dict) -> Any:
    """Time and bytes of each way, both layouts, the kit against the others (log scales)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary(results)
    colours = {KIT: "#1f6fb4", PER_TARGET: "#b0b0b0", ASTROCUT: "#e08a2c"}
    with plt.rc_context({"font.size": FONT_PT}):
        fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH_IN, 3.8), sharey=True)
        layouts = list(results["layouts"])
        ways = [KIT, PER_TARGET, ASTROCUT]
        height = 0.8 / len(ways)
        for axis, attribute, scale, title in (
            (axes[0], "seconds", 60, "minutes"),
            (axes[1], "bytes", 1e9, "GB read"),
        ):
            for k, way in enumerate(ways):
                found = [
                    next((r for r in rows if r["layout"] == lay and r["way"] == way), None) for lay in layouts
                ]
                values = [r[attribute] / scale if r else 0 for r in found]
                bars = axis.barh(
                    np.arange(len(layouts)) + (k - 1) * height, values, height, color=colours[way], label=way
                )
                for bar, r in zip(bars, found, strict=True):
                    if r and r["basis"] != "measured":
                        bar.set_hatch("//")  # scaled from a part of the run
                axis.bar_label(
                    bars,
                    [f"{v:.3g}" if v < 1e3 else f"{v:,.0f}" for v in values],
                    padding=2,
                    fontsize=FONT_PT - 2,
                )
            axis.set_xscale("log")
            axis.set_xlim(right=axis.get_xlim()[1] * 30)
            axis.set_title(f"{title}, {results['settings']['targets']} light curves")
        axes[0].set_yticks(np.arange(len(layouts)), [LAYOUTS[k].replace(" (", "\n(") for k in layouts])
        axes[0].invert_yaxis()
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(
            handles,
            [*labels[:-1], f"{labels[-1]}; hatched: scaled from a part of the run"],
            loc="lower center",
            ncol=3,
            fontsize=FONT_PT - 2,
            frameon=False,
        )
        fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def save_figure(results: dict, image: Path) -> None:
    import matplotlib.pyplot as plt

    image.parent.mkdir(parents=True, exist_ok=True)
    fig = figure(results)
    fig.savefig(image, dpi=110)
    plt.close(fig)


def write(results: dict, folder: Path) -> str:
    """``results.json``, ``table.md`` and ``many.png`` in ``folder``; the table's Markdown."""
    results["targets"] = targets(results)
    markdown = table(results)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (folder / "table.md").write_text(markdown + "\n")
    save_figure(results, folder / "many.png")
    return markdown


def publish(
    out: Path = OUTPUT, page: Path = BOOK_PAGE, images: Path = BOOK_IMAGES, copy: Path = BOOK_RESULTS
) -> None:
    """Put the full run in ``out`` into the book: the page's ``many-table`` section, drawn again
    from ``results.json`` with its figure (``images/many.png``), and the results as ``copy``."""
    source = out / "results.json"
    if not source.exists():
        raise SystemExit(f"no many-target benchmark results in {out}: run `python bench/many.py` first")
    results = json.loads(source.read_text())
    if results["settings"].get("quick"):
        raise SystemExit(
            f"{source} holds --quick results, which are not published: run bench/many.py without --quick"
        )
    results["targets"] = targets(results)
    save_figure(results, images / "many.png")
    relative = Path(os.path.relpath(images, page.parent)).as_posix()
    update_book(
        f"![Time and bytes of {results['settings']['targets']} light curves, each way]"
        f"({relative}/many.png)\n\n{table(results)}",
        page,
        "many-table",
    )
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"published {source} into {page}, {images}/many.png and {copy}")


def join(folders: list[Path], out: Path) -> None:
    """The layouts of runs made side by side (one process each, same settings) as one run."""
    runs = [json.loads((folder / "results.json").read_text()) for folder in folders]
    joined = dict(runs[0], layouts={}, seconds=max(run["seconds"] for run in runs))
    for run in runs:
        different = {k for k in run["settings"] if run["settings"][k] != runs[0]["settings"].get(k)}
        if different:
            raise SystemExit(f"runs with different settings ({sorted(different)}) cannot be joined")
        joined["layouts"].update(run["layouts"])
    joined.pop("targets", None)
    joined["settings"]["joined"] = [str(folder) for folder in folders]
    print(write(joined, out))


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument(
        "--quick", action="store_true", help="6 targets x 2 epochs, 1 target at a time: a smoke run"
    )
    parser.add_argument("--targets", type=int, default=None, help="targets per layout (default 200; 6 quick)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per layout (default 100; 2 quick)")
    parser.add_argument(
        "--per-target", type=int, default=None, help="targets timed one at a time (default 2; 1 quick)"
    )
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request (default 0.02)")
    parser.add_argument("--bandwidth", type=float, default=2e8, help="bytes/s per request (default 2e8)")
    parser.add_argument("--workers", type=int, default=8, help="threads for the kit (default 8)")
    parser.add_argument(
        "--budget", type=float, default=180.0, help="seconds astrocut may run per layout (default 180)"
    )
    parser.add_argument(
        "--layouts", default=",".join(LAYOUTS), help=f"of {', '.join(LAYOUTS)} (default both)"
    )
    parser.add_argument("--no-astrocut", action="store_true", help="skip astrocut")
    parser.add_argument(
        "--cache", type=Path, default=HERE / ".cache", help="the sandbox's cache of generated bytes"
    )
    parser.add_argument("--output-dir", type=Path, default=OUTPUT, help=f"default {OUTPUT.relative_to(ROOT)}")
    parser.add_argument(
        "--publish", action="store_true", help="do not run: put the last full run into the book"
    )
    parser.add_argument(
        "--join",
        type=Path,
        nargs="+",
        help="do not run: join the layouts of runs in these folders (one layout each) into --output-dir",
    )
    args = parser.parse_args(argv)
    if args.join:
        join(args.join, args.output_dir)
        return 0
    if args.publish:
        publish(args.output_dir)
        return 0
    warnings.simplefilter("ignore")
    args.targets = args.targets or (6 if args.quick else 200)
    args.epochs = args.epochs or (2 if args.quick else 100)
    args.per_target = args.per_target or (1 if args.quick else 2)
    layouts = [name.strip() for name in args.layouts.split(",") if name.strip()]
    unknown = sorted(set(layouts) - set(LAYOUTS))
    if unknown:
        parser.error(f"unknown layouts {unknown}: choose from {', '.join(LAYOUTS)}")
    try:
        import astrocut

        astrocut_version = None if args.no_astrocut else astrocut.__version__
    except ImportError:
        astrocut_version = None
    os.environ.setdefault("ROMAN_HELPERS_SANDBOX_CACHE_BUDGET", CACHE_BUDGET)
    started = time.perf_counter()
    aws_environment()
    results: dict[str, Any] = {
        "settings": {
            "targets": args.targets,
            "epochs": args.epochs,
            "per_target": args.per_target,
            "latency_s": args.latency,
            "bandwidth_bytes_per_s": args.bandwidth,
            "workers": args.workers,
            "budget_s": args.budget,
            "stamp": STAMP,
            "aperture": [RADIUS, list(ANNULUS)],
            "seed": SEED,
            "quick": args.quick,
            "astrocut": astrocut_version,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "layouts": {},
    }
    with Sandbox(cache_dir=args.cache, latency=args.latency, bandwidth=args.bandwidth) as sandbox:
        sandbox.apply(os.environ)
        for layout in layouts:
            rng = np.random.default_rng(SEED)
            make = openuniverse_field if layout == "openuniverse" else gbtds_field
            field = make(args.epochs, args.targets, rng)
            results["layouts"][layout] = run_layout(
                sandbox, layout, field, args, rng, astrocut_version is not None
            )
    results["seconds"] = time.perf_counter() - started
    markdown = write(results, args.output_dir)
    closing(results, markdown, args.output_dir, args.quick, "make bench-publish")
    return 0


if __name__ == "__main__":
    sys.exit(main())
