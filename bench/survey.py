"""Survey-scale benchmark: index the images of a Time Domain Survey transient, cut its light curve.

One run, under the offline sandbox with its S3 server's network model (20 ms per request and a
200 MB/s per-request bandwidth cap by default), over the OpenUniverse 2024 TDS as IRSA lays it out
(``openuniverse2024/roman/full/RomanTDS/``: gzip-compressed FITS, SCI/ERR/DQ of 4088 x 4088
pixels, about 200 MB a file):

* **the epochs**: the transient tutorial 4 follows, chosen by its rule from the field's truth
  catalog (the brightest SN Ia of ``snana_<cell>.parquet`` within 0.5 deg of the field's centre
  whose peak lies inside the survey), and the ``--epochs`` images of one band (H158) holding it
  taken nearest its peak, found with IRSA's SIA as a user would;
* **index**: :func:`roman_helpers.footprints.build_index` over those images' ``cloud_access``
  entries: bytes read per file (server-counted) against 64 KiB, and files indexed per second;
  then one :func:`~roman_helpers.footprints.find` over 10^6 synthetic footprints (plus the real ones);
* **light curve**: the transient's cut-out from every epoch with :func:`roman_helpers.batch.cutouts`
  and its forced photometry (:func:`roman_helpers.photometry.light_curve`), against the anchors
  over the same files: the serial ``fits.open`` + ``Cutout2D`` loop (of ``.data`` and of
  ``.section``) and astrocut's ``FITSCutout``. Bytes are compared with a bound: the gzip stream
  through the member holding the box's last row of SCI plus one read block of the kit (a gzip
  stream cannot be entered mid-way);
* **scaling**: files per second of the cut-outs at 1, 2, 4, 8 and 16 threads and on a 2-process
  Dask ``LocalCluster``.

The sandbox makes the files' bytes on demand and keeps what it made under ``--cache`` (within its
budget, ``ROMAN_HELPERS_SANDBOX_CACHE_BUDGET``): the first read of an image costs the sandbox's
making of it too, so the phases run in the order above and every way reads files another way has
read before; with more epochs than the cache holds, later ways pay for making them again.

An anchor way that would take longer than ``--budget`` seconds stops after the file that passes
it; its per-file numbers then stand for the whole list (the table says how many files it did).

Writes ``build/bench/survey/results.json``, ``table.md`` and figures (``gain.png``,
``scaling.png``, ``ways.png``, ``light_curve.png``) and prints the tables; nothing tracked. Publishing is a
separate, explicit step, ``make bench-survey-publish`` (``python bench/survey.py --publish``): it
draws the tables and figures again from ``results.json`` and puts them into the book (what one
light curve costs between the ``survey-gain`` markers at the top of ``book/performance.md``, the
tables between its ``survey-table`` markers, ``book/images/survey-*.png``), with the results in
``book/survey-results.json``. ``--quick`` results are refused.

Usage: ``python bench/survey.py [--quick] [--epochs 40] [--latency 0.02] [--bandwidth 2e8]
[--workers 16] [--budget 120] [--cache DIR] [--output-dir DIR] [--no-cluster]`` and
``python bench/survey.py --publish [--output-dir DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from run import (  # noqa: E402  (bench/run.py)
    FONT_PT,
    KIB,
    MB,
    PAGE_WIDTH_IN,
    aws_environment,
    fmt_bytes,
    update_book,
)

from roman_helpers import batch, footprints, photometry, stream  # noqa: E402
from roman_helpers.sandbox.launcher import Sandbox  # noqa: E402
from roman_helpers.sandbox.services.s3 import S3Server  # noqa: E402

OUTPUT = ROOT / "build" / "bench" / "survey"  # untracked (.gitignore): every run writes here
BOOK_PAGE = ROOT / "book" / "performance.md"  # the "Survey scale" section, between survey-table markers
BOOK_IMAGES = ROOT / "book" / "images"  # survey-scaling.png, survey-ways.png, survey-light_curve.png
BOOK_RESULTS = ROOT / "book" / "survey-results.json"
BAND = "H158"
CUT = 25  # pixels a side of each cut-out
APERTURE = (3.0, (8.0, 14.0))  # radius and background annulus, pixels
WORKERS = (1, 2, 4, 8, 16)
LAYOUTS = {"openuniverse": "OpenUniverse .fits.gz"}
SIDE = 4088  # pixels a side of a detector image
BUCKET = "nasa-irsa-simulations"
SURVEY = f"{BUCKET}/openuniverse2024/roman/full/RomanTDS"
FIELD = (9.45, -44.02)  # the field's centre as IRSA's notebooks give it (ELAIS-S1)
SIA_URL = "https://irsa.ipac.caltech.edu/simulated/SIA"
COLLECTION = "simulated_roman_openuniverse2024"


# ------------------------------------------------------------------ counting


@dataclass
class Way:
    """One way of cutting the light curve, counted by the server and timed."""

    name: str
    files: int  # files it worked on (fewer than asked when the time budget stopped it)
    asked: int
    ok: int
    requests: int
    bytes: int
    seconds: float
    identical: int = 0  # cut-outs with the same pixels as the kit's
    note: str = ""

    @property
    def seconds_per_file(self) -> float:
        return self.seconds / max(self.files, 1)

    @property
    def bytes_per_file(self) -> float:
        return self.bytes / max(self.files, 1)


def by_key(records) -> dict[str, dict[str, int]]:
    """Requests and body bytes per object key (a listing has key '')."""
    out: dict[str, dict[str, int]] = {}
    for record in records:
        entry = out.setdefault(record.key, {"requests": 0, "bytes": 0})
        entry["requests"] += 1
        entry["bytes"] += record.bytes_sent
    return out


def serial(
    server: S3Server,
    name: str,
    uris: list[str],
    one: Callable[[str], Any],
    budget: float,
    reference: dict[str, np.ndarray],
) -> Way:
    """Run ``one(uri)`` over the files in turn (the anchors), counting at the server."""
    mark = len(server.stats.records)
    started, done, ok, identical, note = time.perf_counter(), 0, 0, 0, ""
    for uri in uris:
        try:
            pixels = one(uri)
            ok += 1
            identical += bool(uri in reference and np.array_equal(pixels, reference[uri], equal_nan=True))
        except Exception as error:  # noqa: BLE001 - an anchor that fails on a file is reported, not fatal
            note = f"{type(error).__name__}: {str(error)[:80]}"
        done += 1
        if time.perf_counter() - started > budget and done < len(uris):
            note = (note + "; " if note else "") + f"stopped by the {budget:.0f} s budget"
            break
    seconds = time.perf_counter() - started
    counted = server.stats.since(mark)
    return Way(name, done, len(uris), ok, counted.requests, counted.bytes_sent, seconds, identical, note)


# ------------------------------------------------------------------ the anchors


def fits_cutout(uri: str, target, size: int, section: bool) -> np.ndarray:
    """astropy as documented for cloud files: ``fits.open`` of the URI, then ``Cutout2D``
    of ``.section`` (only the rows needed) or of ``.data`` (the whole image)."""
    from astropy.io import fits
    from astropy.nddata import Cutout2D
    from astropy.wcs import WCS

    with fits.open(uri, fsspec_kwargs={"anon": True}) as hdul:
        hdu = hdul["SCI"]
        return np.array(
            Cutout2D(
                hdu.section if section else hdu.data, target, size, wcs=WCS(hdu.header), mode="trim"
            ).data
        )


def astrocut_cutout(uri: str, target, size: int) -> np.ndarray:
    """astrocut's ``FITSCutout`` on one file (it loops over a list the same way)."""
    from astrocut import FITSCutout

    made = FITSCutout([uri], target, cutout_size=size, extension=1)
    return np.array(made.cutouts_by_file[uri][0].data)


# ------------------------------------------------------------------ floors


def gz_floor(uri: str, rows: tuple[int, int], extension: int = 1, read_block: bool = True) -> int:
    """Compressed bytes through the gzip member holding the last row of the box of an image
    (``extension``: 1 SCI, 2 ERR), plus one read block of the kit when ``read_block``.

    The sandbox's ``.fits.gz`` is a multi-member gzip whose member offsets are known without
    reading it; the image's data offset comes from the FITS headers' sizes (astropy), not from
    the kit's reader.
    """
    from roman_helpers.sandbox.archive.layouts.openuniverse import _images

    pointing, name = uri.rsplit("/", 2)[1:]
    sca = int(name.removesuffix(".fits.gz").rsplit("_", 1)[1])
    packed = _images._gzip("RomanTDS", "full", int(pointing), sca)
    inner = packed.inner
    image = -(-SIDE * SIDE * 4 // 2880) * 2880  # a 4088 x 4088 32-bit image, padded to FITS blocks
    start = sum(len(header.tostring()) for header in inner.headers[: extension + 1])  # PRIMARY has no data
    last = start + (extension - 1) * image + rows[1] * SIDE * 4
    member = last // packed.member_size
    offsets = packed.member_offsets
    through = offsets[member + 1] if member + 1 < len(offsets) else packed.size
    return int(through) + (stream.GZIP_BLOCK if read_block else 0)


# ------------------------------------------------------------------ phases


def index_phase(server: S3Server, uris: list[str], workers: int) -> tuple[Any, dict]:
    """Index the epochs' files (as IRSA's ``cloud_access`` gives them); bytes per file against 64 KiB."""
    footprints.build_index(uris[:1], max_workers=workers, progress=False)  # the client, untimed
    mark = len(server.stats.records)
    started = time.perf_counter()
    index = footprints.build_index(uris, max_workers=workers, progress=False)
    seconds = time.perf_counter() - started
    counted = server.stats.since(mark)
    keys = by_key(counted.records)
    per_file = []
    for uri in uris:
        key = uri.split("/", 3)[3]
        got = keys.get(key, {"requests": 0, "bytes": 0})
        per_file.append({"key": key, "requests": got["requests"], "bytes": got["bytes"], "limit": 64 * KIB})
    listing = keys.get("", {"requests": 0, "bytes": 0})
    result = {
        "files": len(index),
        "failed": int(index.meta["build"]["failed"]),
        "seconds": seconds,
        "files_per_second": len(index) / seconds,
        "requests": counted.requests,
        "bytes": counted.bytes_sent,
        "listing_requests": listing["requests"],
        "listing_bytes": listing["bytes"],
        "max_file_bytes": max(f["bytes"] for f in per_file),
        "max_file_requests": max(f["requests"] for f in per_file),
        "within_bound": sum(f["bytes"] <= f["limit"] for f in per_file),
        "per_file": per_file,
    }
    return index, result


def synthetic_index(count: int, seed: int = 1) -> dict[str, np.ndarray]:
    """Footprints of 4088-pixel detectors at random places and angles over the whole sky.

    Vectorised by hand (gnomonic projection of the corners, TAN WCS text in the index's form):
    astropy would take minutes to make a million WCS objects.
    """
    rng = np.random.default_rng(seed)
    ra = rng.uniform(0, 360, count)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, count)))
    angle = rng.uniform(0, 2 * np.pi, count)
    scale = 0.11 / 3600
    cd = np.stack(
        [-scale * np.cos(angle), scale * np.sin(angle), scale * np.sin(angle), scale * np.cos(angle)], 1
    )
    half = 4088 / 2
    corners = np.array([(-half, -half), (half, -half), (half, half), (-half, half)])  # pixel edges from CRPIX
    xi = np.radians(cd[:, None, 0] * corners[None, :, 0] + cd[:, None, 1] * corners[None, :, 1])
    eta = np.radians(cd[:, None, 2] * corners[None, :, 0] + cd[:, None, 3] * corners[None, :, 1])
    ra0, dec0 = np.radians(ra)[:, None], np.radians(dec)[:, None]
    denominator = np.cos(dec0) - eta * np.sin(dec0)
    ra_corners = np.degrees(ra0 + np.arctan2(xi, denominator)) % 360
    dec_corners = np.degrees(np.arctan2(np.sin(dec0) + eta * np.cos(dec0), np.hypot(xi, denominator)))
    template = (
        "WCSAXES =                    2\nCRPIX1  =               2044.5\nCRPIX2  =               2044.5\n"
        "CD1_1   = {:20.12e}\nCD1_2   = {:20.12e}\nCD2_1   = {:20.12e}\nCD2_2   = {:20.12e}\n"
        "CUNIT1  = 'deg'\nCUNIT2  = 'deg'\nCTYPE1  = 'RA---TAN'\nCTYPE2  = 'DEC--TAN'\n"
        "CRVAL1  = {:20.12f}\nCRVAL2  = {:20.12f}\nRADESYS = 'ICRS'"
    )
    wcs = np.array(
        [template.format(*c, r, d) for c, r, d in zip(cd.tolist(), ra.tolist(), dec.tolist(), strict=True)],
        dtype=object,
    )
    bands = np.array(["R062", "Z087", "Y106", "J129", "H158", "F184", "K213"], dtype=object)
    t_start = rng.uniform(61000, 63000, count)
    return {
        "uri": np.array([f"s3://synthetic/{n:07d}.fits.gz" for n in range(count)], dtype=object),
        "instrument": np.full(count, "WFI", dtype=object),
        "band": bands[rng.integers(0, 7, count)],
        "detector": np.full(count, "WFI01", dtype=object),
        "t_start": t_start,
        "t_end": t_start + 300 / 86400,
        "exptime": np.full(count, 300.0),
        "naxis1": np.full(count, 4088),
        "naxis2": np.full(count, 4088),
        "ra_center": ra,
        "dec_center": dec,
        "ra_corners": ra_corners,
        "dec_corners": dec_corners,
        "fov_radius": np.full(count, half * scale * 2**0.5),
        "wcs": wcs,
        "wcs_error": np.zeros(count),
        "etag": np.full(count, "", dtype=object),
        "size": np.zeros(count, dtype=np.int64),
        "error": np.full(count, "", dtype=object),
    }


def query_phase(real, target, count: int) -> dict:
    """One find() over ``count`` synthetic footprints plus the real index."""
    from astropy.table import Column, Table

    synthetic = synthetic_index(count)
    big = Table()
    for name in footprints.COLUMNS:
        big[name] = Column(np.concatenate([np.asarray(real[name]), synthetic[name]]), unit=real[name].unit)
    big.meta = dict(real.meta)
    del synthetic
    times = []
    for _ in range(4):
        started = time.perf_counter()
        found = footprints.find(big, target, band=BAND)
        times.append(time.perf_counter() - started)
    real_found = int(np.sum([str(u).startswith("s3://synthetic/") is False for u in found["uri"]]))
    return {
        "rows": len(big),
        "synthetic": count,
        "first_seconds": times[0],
        "best_seconds": min(times),
        "found": len(found),
        "found_real": real_found,
    }


def light_curve_phase(
    server: S3Server,
    found,
    target,
    workers: int,
    budget: float,
    astrocut: bool,
    truth: dict[str, float],
) -> dict:
    """The kit's cut-outs and photometry, the anchors over the same files, floors per file."""
    uris = [str(u) for u in found["uri"]]
    batch.cutouts(
        found[:1], target, CUT, max_workers=workers, with_errors=False, progress=False
    )  # client, untimed
    mark = len(server.stats.records)
    started = time.perf_counter()
    result = batch.cutouts(found, target, CUT, max_workers=workers, with_errors=False, progress=False)
    seconds = time.perf_counter() - started
    counted = server.stats.since(mark)
    started = time.perf_counter()
    curve = photometry.light_curve(result, target, radius=APERTURE[0], annulus=APERTURE[1])
    photometry_seconds = time.perf_counter() - started
    exposure = dict(zip(found["uri"], found["exptime"], strict=True))
    kit = Way(
        f"roman_helpers batch.cutouts ({workers} threads)",
        len(uris),
        len(uris),
        len(result.ok),
        counted.requests,
        counted.bytes_sent,
        seconds,
        len(result.ok),
        f"+ {photometry_seconds:.2f} s photometry"
        + (f"; {len(result.failed)} failed: {result.failed[0].message[:80]}" if result.failed else ""),
    )
    reference = {item.uri: np.asarray(item.cutout.data) for item in result.ok}
    keys = by_key(counted.records)
    per_file, floor_total = [], 0
    sizes = dict(zip(found["uri"], found["size"], strict=True))
    for item in result.ok:
        ys = item.cutout.slices_original[0]
        key = item.uri.split("/", 3)[3]
        floor = gz_floor(item.uri, (ys.start, ys.stop))
        floor_total += floor
        per_file.append(
            {
                "key": key,
                "rows": [ys.start, ys.stop],
                "floor": floor,
                "size": int(sizes[item.uri]),
                **keys.get(key, {"requests": 0, "bytes": 0}),
            }
        )

    ways = [kit]
    ways.append(
        serial(
            server,
            "fits.open + Cutout2D(.data) (serial loop)",
            uris,
            lambda u: fits_cutout(u, target, CUT, section=False),
            budget,
            reference,
        )
    )
    ways.append(
        serial(
            server,
            "fits.open + Cutout2D(.section) (serial loop)",
            uris,
            lambda u: fits_cutout(u, target, CUT, section=True),
            budget,
            reference,
        )
    )
    if astrocut:
        ways.append(
            serial(
                server,
                "astrocut FITSCutout",
                uris,
                lambda u: astrocut_cutout(u, target, CUT),
                budget,
                reference,
            )
        )
    anchors = [w for w in ways[1:] if w.ok]
    best = min(anchors, key=lambda w: w.seconds_per_file) if anchors else None
    default = ways[1]
    return {
        "files": len(uris),
        "ok": len(result.ok),
        "failed": [f.message for f in result.failed],
        "photometry_seconds": photometry_seconds,
        "floor_bytes": floor_total,
        "per_file": per_file,
        "ways": [
            {**asdict(w), "seconds_per_file": w.seconds_per_file, "bytes_per_file": w.bytes_per_file}
            for w in ways
        ],
        "best_anchor": best.name if best else None,
        "bytes_over_floor": kit.bytes / max(floor_total, 1),
        "fewer_bytes_than_default": default.bytes_per_file / max(kit.bytes_per_file, 1),
        "faster_than_best_anchor": best.seconds_per_file / kit.seconds_per_file if best else None,
        "curve": {
            "mjd": curve.time.mjd.tolist(),
            "flux": np.asarray(curve["flux"]).tolist(),
            "flux_err": np.asarray(curve["flux_err"]).tolist(),
            "exptime": [float(exposure[uri]) for uri in curve["file"]],
            "truth": [truth.get(uri, 0.0) for uri in curve["file"]],  # electrons, the truth lists' flux
        },
    }


def scaling_phase(layout: str, found, target, cluster: bool) -> list[dict]:
    """Files per second of the same cut-outs at 1 ... 16 threads, and on a 2-process LocalCluster."""
    rows = []

    def record(backend: str, workers: int, result) -> None:
        rows.append(
            {
                "layout": layout,
                "backend": backend,
                "workers": workers,
                "files": result.files,
                "ok": len(result.ok),
                "seconds": result.seconds,
                "files_per_second": result.files_per_second,
                "requests": result.requests,
                "bytes": result.bytes,
            }
        )
        print(f"    {layout} {backend} x{workers}: {result.files_per_second:.1f} files/s", flush=True)

    for workers in WORKERS:
        batch.cutouts(found[:1], target, CUT, max_workers=workers, with_errors=False, progress=False)
        record(
            "threads",
            workers,
            batch.cutouts(found, target, CUT, max_workers=workers, with_errors=False, progress=False),
        )
    if cluster:
        from distributed import Client, LocalCluster

        with (
            LocalCluster(n_workers=2, threads_per_worker=8, processes=True, dashboard_address=None) as local,
            Client(local) as client,
        ):
            batch.cutouts(found[:2], target, CUT, client=client, with_errors=False, progress=False)
            record(
                "LocalCluster 2 processes x 8 threads",
                16,
                batch.cutouts(found, target, CUT, client=client, with_errors=False, progress=False),
            )
    return rows


# ------------------------------------------------------------------ output


def targets(results: dict) -> list[dict]:
    """Each number the benchmark aims at, the value reached and whether it is met."""
    out = []

    def add(what: str, target: str, value: str, met: bool | None) -> None:
        out.append({"what": what, "target": target, "value": value, "met": met})

    for layout, index in results["index"].items():
        add(
            f"index {LAYOUTS[layout]}: bytes per file",
            "<= 64 KiB per file",
            f"max {fmt_bytes(index['max_file_bytes'])}; {index['within_bound']}/{index['files']} within",
            index["within_bound"] == index["files"],
        )
        add(
            f"index {LAYOUTS[layout]}: files per second",
            ">= 20 files/s",
            f"{index['files_per_second']:.1f} files/s",
            index["files_per_second"] >= 20,
        )
    query = results["query"]
    add(
        f"find() over {query['rows']:,} footprints",
        "<= 0.1 s",
        f"{query['first_seconds']:.3f} s first, {query['best_seconds']:.3f} s best ({query['found']} found)",
        query["first_seconds"] <= 0.1,
    )
    for layout, lc in results["light_curve"].items():
        kit = lc["ways"][0]
        within = sum(f["bytes"] <= f["floor"] for f in lc["per_file"])
        add(
            f"light curve {LAYOUTS[layout]}: bytes",
            "<= gzip stream through the member of the box's last row + one read block",
            f"{kit['bytes'] / max(lc['floor_bytes'], 1):.3f} x bound; "
            f"{within}/{len(lc['per_file'])} files within",
            within == len(lc["per_file"]),
        )
        ratio = lc["faster_than_best_anchor"]
        add(
            f"light curve {LAYOUTS[layout]}: time vs the fastest usual way ({lc['best_anchor']})",
            "(printed)",
            "-" if ratio is None else f"{ratio:.1f} x faster",
            None,
        )
    return out


def ratio(value: float, more: str, less: str) -> str:
    """``value`` as "12 x faster" (or "1.5 x slower" below 1)."""
    word = more if value >= 1 else less
    value = value if value >= 1 else 1 / max(value, 1e-12)
    return f"{value:.0f} x {word}" if value >= 10 else f"{value:.1f} x {word}"


def headlines(results: dict) -> list[str]:
    """The run in a few sentences, as a Markdown list."""
    lines = []
    index = results["index"]
    lines.append(
        "- **Index**: "
        + "; ".join(
            f"{i['files']} {LAYOUTS[layout]} files at {i['files_per_second']:.0f} files/s, "
            f"at most {fmt_bytes(i['max_file_bytes'])} read from a file"
            for layout, i in index.items()
        )
        + f". One `find()` over {results['query']['rows']:,} footprints: "
        f"{results['query']['first_seconds']:.3f} s."
    )
    for layout, lc in results["light_curve"].items():
        kit, usual = lc["ways"][0], lc["ways"][1]
        text = (
            f"- **Light curve, {LAYOUTS[layout]}**: roman_helpers reads "
            f"{fmt_bytes(int(kit['bytes_per_file']))} per epoch "
            f"({kit['bytes'] / max(lc['floor_bytes'], 1):.2f} x the "
            + "bound"
            + f"), {ratio(lc['fewer_bytes_than_default'], 'fewer', 'more')} bytes than "
            f"{usual['name'].split(' (')[0]} ({fmt_bytes(int(usual['bytes_per_file']))})"
        )
        if lc["faster_than_best_anchor"] is not None:
            text += (
                f", and is {ratio(lc['faster_than_best_anchor'], 'faster', 'slower')} per file than the "
                f"fastest usual way ({lc['best_anchor'].split(' (')[0]})"
            )
        lines.append(text + ".")
    for layout in LAYOUTS:
        rows = [r for r in results["scaling"] if r["layout"] == layout]
        if not rows:
            continue
        lines.append(
            f"- **Scaling, {LAYOUTS[layout]}**: "
            + ", ".join(f"{r['files_per_second']:.1f}" for r in rows if r["backend"] == "threads")
            + " files/s with "
            + ", ".join(str(r["workers"]) for r in rows if r["backend"] == "threads")
            + " threads"
            + "".join(
                f"; {r['files_per_second']:.1f} files/s with Dask ({r['backend']})"
                for r in rows
                if r["backend"] != "threads"
            )
            + "."
        )
    return lines


def tables(results: dict, images: str | None = None) -> str:
    """The run's tables as Markdown (``table.md``).

    With ``images`` (the folder of the ``survey-*.png`` figures, relative to the page), the text
    that goes between the ``survey-table`` markers of the book's performance page.
    """
    s = results["settings"]
    cores = f" on a machine with {s['cpus']} CPU cores" if s.get("cpus") else ""
    took = (
        f"{results['seconds'] / 60:.0f} minutes"
        if results["seconds"] >= 120
        else f"{results['seconds']:.0f} s"
    )
    lines = [
        f"{s['epochs']} epochs of the Time Domain Survey field in {s['band']}, "
        f"{s['image_side']} x {s['image_side']} pixels each (OpenUniverse 2024 .fits.gz, IRSA's layout), "
        f"around the peak of transient {s.get('transient', '?')}; "
        f"served at {s['latency_s'] * 1000:.0f} ms per request and "
        f"{s['bandwidth_bytes_per_s'] / MB:.0f} MB/s per request; {s['cut']} x {s['cut']} pixel cut-outs; "
        f"roman_helpers with {s['workers']} threads; a usual way stops after the file that passes "
        f"{s['budget_s']:.0f} s. The run took {took}{cores}.",
        "",
        *headlines(results),
        "",
        "### Indexing the field",
        "",
        "| layout | files | requests | bytes | most read from one file | bound per file | within bound "
        "| s | files / s |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for layout, i in results["index"].items():
        bound = "64 KiB" if layout == "openuniverse" else "1.2 x its YAML tree"
        lines.append(
            f"| {LAYOUTS[layout]} | {i['files']} | {i['requests']} | {fmt_bytes(i['bytes'])} "
            f"| {fmt_bytes(i['max_file_bytes'])} | {bound} | {i['within_bound']}/{i['files']} "
            f"| {i['seconds']:.2f} | {i['files_per_second']:.1f} |"
        )
    q = results["query"]
    lines += [
        "",
        f"`find()` over {q['rows']:,} footprints ({q['synthetic']:,} made up at random over the whole sky, "
        f"plus the field's): {q['found']} files found ({q['found_real']} of the field), "
        f"{q['first_seconds']:.3f} s the first time, {q['best_seconds']:.3f} s at best.",
        "",
        "### One light curve, every epoch",
        "",
        "| layout | way | files | requests | bytes / file | s / file | same pixels |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    compared = [
        "| layout | way | bytes vs roman_helpers | time vs roman_helpers | note |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for layout, lc in results["light_curve"].items():
        kit = lc["ways"][0]
        lines.append(
            f"| {LAYOUTS[layout]} | floor | {lc['files']} | - "
            f"| {fmt_bytes(lc['floor_bytes'] // max(lc['files'], 1))} | - | - |"
        )
        compared.append(
            f"| {LAYOUTS[layout]} | floor | - | - | "
            + "gzip stream through the member of the box's last row + one read block |"
        )
        for w in lc["ways"]:
            files_done = f"{w['files']}" + (f" of {w['asked']}" if w["files"] < w["asked"] else "")
            lines.append(
                f"| {LAYOUTS[layout]} | {w['name']} | {files_done} | {w['requests']} "
                f"| {fmt_bytes(int(w['bytes_per_file']))} | {w['seconds_per_file']:.3f} "
                f"| {w['identical']}/{w['ok']} |"
            )
            compared.append(
                f"| {LAYOUTS[layout]} | {w['name']} "
                f"| {w['bytes_per_file'] / max(kit['bytes_per_file'], 1):.1f} x "
                f"| {w['seconds_per_file'] / kit['seconds_per_file']:.1f} x | {w['note']} |"
            )
    lines += ["", "The same ways against roman_helpers, per file:", "", *compared]
    lines += [
        "",
        "Same pixels: cut-outs equal to roman_helpers'. astrocut rounds the box's edges its own way "
        "(limit_rounding_method='round'), so some of its cut-outs sit one pixel over.",
    ]
    if images:
        lines += [
            "",
            f"![Bytes and seconds per file of each way, log scale]({images}/survey-ways.png)",
            "",
            f"![The transient's light curve in electrons per second, with the truth lists' flux]"
            f"({images}/survey-light_curve.png)",
        ]
    lines += [
        "",
        "### Scaling",
        "",
        "| layout | how | workers | files | s | files / s | requests | bytes |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results["scaling"]:
        lines.append(
            f"| {LAYOUTS[row['layout']]} | {row['backend']} | {row['workers']} | {row['files']} "
            f"| {row['seconds']:.2f} | {row['files_per_second']:.1f} | {row['requests']} "
            f"| {fmt_bytes(row['bytes'])} |"
        )
    if images:
        lines += ["", f"![Files per second against workers]({images}/survey-scaling.png)"]
    lines += [
        "",
        "### Targets",
        "",
        "| measure | target | measured | met |",
        "| --- | --- | --- | :---: |",
    ]
    for t in targets(results):
        met = "-" if t["met"] is None else "yes" if t["met"] else "NO"
        lines.append(f"| {t['what']} | {t['target']} | {t['value']} | {met} |")
    return "\n".join(lines)


def _per_light_curve(way: dict, attribute: str) -> float:
    """A way's bytes or seconds for the whole light curve (every epoch asked, at its per-file rate)."""
    return way[f"{attribute}_per_file"] * way["asked"]


def _size(n: float) -> str:
    """Bytes as a reader says them, to three figures: 481 MB, 12.3 GB."""
    return f"{n / 1e9:.3g} GB" if n >= 1e9 else f"{n / MB:.3g} MB"


def gain(results: dict, images: str | None = None) -> str:
    """What one light curve costs with roman_helpers and the usual way, in words (and the figure).

    The text that goes between the ``survey-gain`` markers at the top of the performance page.
    """
    s = results["settings"]
    lines = [
        f"One light curve of a transient from {s['epochs']} epochs of the Time Domain Survey: a "
        f"{s['cut']} x {s['cut']} pixel stamp around it from each full {s['image_side']} x "
        f"{s['image_side']} pixel image, then its photometry.",
        "",
    ]
    for layout, lc in results["light_curve"].items():
        kit, usual = lc["ways"][0], lc["ways"][1]
        kit_bytes, usual_bytes = _per_light_curve(kit, "bytes"), _per_light_curve(usual, "bytes")
        kit_s, usual_s = _per_light_curve(kit, "seconds"), _per_light_curve(usual, "seconds")
        lines.append(
            f"- **{LAYOUTS[layout]} images**: roman_helpers reads {_size(kit_bytes)} and takes "
            f"{kit_s:.3g} s for the whole light curve; opening each file ({usual['name'].split(' (')[0]}) "
            f"reads {_size(usual_bytes)} and takes {usual_s:.3g} s: "
            f"{ratio(usual_bytes / kit_bytes, 'fewer', 'more')} bytes and "
            f"{ratio(usual_s / kit_s, 'faster', 'slower')} with roman_helpers."
        )
    cores = f" on a machine with {s['cpus']} CPU cores" if s.get("cpus") else ""
    lines += [
        "",
        f"Measured with the files served at {s['latency_s'] * 1000:.0f} ms and "
        f"{s['bandwidth_bytes_per_s'] / MB:.0f} MB/s per request{cores}; the sections below give "
        "every number and how it was measured.",
    ]
    if images:
        lines += [
            "",
            f"![Bytes read and time taken for one light curve, by each way]({images}/survey-gain.png)",
        ]
    return "\n".join(lines)


def _figures(results: dict) -> dict[str, Any]:
    """The run's figures by file name: drawn as wide as the book's text column, lettering at FONT_PT."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures: dict[str, Any] = {}
    with plt.rc_context({"font.size": FONT_PT}):
        # the astronomer's view: one light curve, each layout, the kit against the usual way
        fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH_IN, 3.2), sharey=True)
        layouts = list(results["light_curve"])
        y = np.arange(len(layouts))
        for axis, attribute, scale, title in (
            (axes[0], "bytes", 1e9, "GB read"),
            (axes[1], "seconds", 1, "seconds"),
        ):
            usual = [
                _per_light_curve(results["light_curve"][k]["ways"][1], attribute) / scale for k in layouts
            ]
            kit = [_per_light_curve(results["light_curve"][k]["ways"][0], attribute) / scale for k in layouts]
            axis.barh(y - 0.2, usual, 0.4, color="#b0b0b0", label="opening each file")
            axis.barh(y + 0.2, kit, 0.4, color="#1f6fb4", label="roman_helpers")
            axis.set_title(f"{title} per light curve")
            axis.set_xlim(0, max(usual) * 1.05)
        axes[0].set_yticks(y, [textwrap.fill(LAYOUTS[k], 12) for k in layouts])
        axes[0].invert_yaxis()
        axes[1].legend(loc="lower right")
        fig.tight_layout()
        figures["gain.png"] = fig

        fig, axis = plt.subplots(figsize=(PAGE_WIDTH_IN, 4.2))
        for layout in LAYOUTS:
            rows = [r for r in results["scaling"] if r["layout"] == layout]
            threads = [r for r in rows if r["backend"] == "threads"]
            if not threads:
                continue
            (line,) = axis.plot(
                [r["workers"] for r in threads],
                [r["files_per_second"] for r in threads],
                "o-",
                label=f"{LAYOUTS[layout]}, threads",
            )
            for r in rows:
                if r["backend"] != "threads":
                    axis.plot(
                        [r["workers"]],
                        [r["files_per_second"]],
                        "s",
                        color=line.get_color(),
                        markersize=9,
                        markerfacecolor="none",
                        label=f"{LAYOUTS[layout]}, {r['backend']}",
                    )
        axis.set_xscale("log", base=2)
        axis.set_xticks(WORKERS, [str(w) for w in WORKERS])
        axis.set_xlabel("concurrent workers")
        axis.set_ylabel("files per second")
        axis.set_title(f"{CUT}x{CUT} cut-outs, {results['settings']['latency_s'] * 1000:.0f} ms per request")
        axis.legend(fontsize=FONT_PT - 1)
        fig.tight_layout()
        figures["scaling.png"] = fig

        ways = [(LAYOUTS[layout], w) for layout, lc in results["light_curve"].items() for w in lc["ways"]]
        fig, axes = plt.subplots(2, 1, figsize=(PAGE_WIDTH_IN, 0.5 * len(ways) * 2 + 1.8))
        y = np.arange(len(ways))
        for axis, attribute, title in (
            (axes[0], "bytes_per_file", "bytes per file"),
            (axes[1], "seconds_per_file", "seconds per file"),
        ):
            axis.barh(
                y,
                [w[attribute] for _, w in ways],
                color=["#1f6fb4" if w["name"].startswith("roman_helpers") else "#b0b0b0" for _, w in ways],
            )
            axis.set_xscale("log")
            axis.set_title(title)
            axis.set_yticks(
                y, [textwrap.fill(f"{layout}: {w['name'].split(' (')[0]}", 34) for layout, w in ways]
            )
            axis.invert_yaxis()
        fig.tight_layout()
        figures["ways.png"] = fig

        fig, axis = plt.subplots(figsize=(PAGE_WIDTH_IN, 4))
        for (layout, lc), marker in zip(results["light_curve"].items(), ("o", "x"), strict=False):
            seconds = np.array(lc["curve"]["exptime"])  # electrons in the exposure -> per second
            truth = np.array(lc["curve"]["truth"]) / seconds
            axis.plot(lc["curve"]["mjd"], truth, "s", mfc="none", color="k", label="truth (per-image lists)")
            axis.errorbar(
                lc["curve"]["mjd"],
                np.array(lc["curve"]["flux"]) / seconds,
                np.array(lc["curve"]["flux_err"]) / seconds,
                fmt=marker,
                ms=4,
                label=f"{LAYOUTS[layout]}, with the host galaxy's light",
            )
        axis.set_xlabel("MJD")
        axis.set_ylabel("transient flux (electrons / s)")
        axis.legend()
        fig.tight_layout()
        figures["light_curve.png"] = fig
    return figures


def plots(results: dict, folder: Path, prefix: str = "") -> None:
    """Draw ``gain.png``, ``scaling.png``, ``ways.png`` and ``light_curve.png`` (names after ``prefix``)."""
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    for name, fig in _figures(results).items():
        fig.savefig(folder / f"{prefix}{name}", dpi=110)
        plt.close(fig)


# ------------------------------------------------------------------ publishing


def publish(
    out: Path = OUTPUT,
    page: Path = BOOK_PAGE,
    images: Path = BOOK_IMAGES,
    results_copy: Path = BOOK_RESULTS,
) -> None:
    """Put the full run in ``out`` into the book: tables between the page's ``survey-table``
    markers, the figures as ``images/survey-*.png`` and the results as ``results_copy``.

    Tables and figures are drawn again from ``results.json`` (its targets too, in this version's
    words), so the page always matches the JSON published beside it.
    """
    source = out / "results.json"
    if not source.exists():
        raise SystemExit(
            f"no survey benchmark results in {out}: run `make bench-survey` (python bench/survey.py) first"
        )
    results = json.loads(source.read_text())
    if results["settings"].get("quick"):
        raise SystemExit(
            f"{source} holds --quick results (the sandbox's {results['settings']['image_side']}-pixel "
            "images), which are not published: run `make bench-survey` without --quick first"
        )
    results["targets"] = targets(results)
    relative = Path(os.path.relpath(images, page.parent)).as_posix()
    update_book(gain(results, relative), page, "survey-gain")
    update_book(tables(results, relative), page, "survey-table")
    plots(results, images, prefix="survey-")
    results_copy.parent.mkdir(parents=True, exist_ok=True)
    results_copy.write_text(json.dumps(results, indent=1) + "\n")
    print(f"published {source} into {page}, {images}/survey-*.png and {results_copy}")


# ------------------------------------------------------------------ main


def choose_epochs(count: int) -> tuple[Any, dict, Any]:
    """The transient tutorial 4 follows and the ``count`` images of :data:`BAND` holding it nearest
    its peak, as a user finds them: the field's snana catalog (pyarrow) and IRSA's SIA."""
    import astropy.units as u
    import hpgeom
    import pyarrow.parquet as pq
    import s3fs
    from astropy.coordinates import SkyCoord
    from astropy.io import fits
    from astropy.table import Table
    from astroquery.ipac.irsa import Irsa

    public = s3fs.S3FileSystem(anon=True)
    with public.open(f"{SURVEY}/Roman_TDS_obseq_11_6_23.fits") as handle, fits.open(handle) as hdul:
        dates = np.asarray(hdul[1].data["date"])
    start, end = float(dates.min()), float(dates.max())
    cell = hpgeom.angle_to_pixel(32, *FIELD, nest=False)
    columns = ["id", "ra", "dec", "model_name", "peak_mjd", "peak_mag_F"]
    catalog = Table(
        pq.read_table(
            f"{SURVEY.removesuffix('RomanTDS')}roman_rubin_cats_v1.1.2_faint/snana_{cell}.parquet",
            filesystem=public,
            columns=columns,
        ).to_pydict()
    )
    places = SkyCoord(catalog["ra"], catalog["dec"], unit="deg")
    candidates = catalog[
        (catalog["model_name"] == "SALT3.NIR_WAVEEXT")
        & (places.separation(SkyCoord(*FIELD, unit="deg")) < 0.5 * u.deg)
        & (catalog["peak_mjd"] > start)
        & (catalog["peak_mjd"] < end)
    ]
    chosen = candidates[np.argmin(candidates["peak_mag_F"])]
    target = SkyCoord(chosen["ra"], chosen["dec"], unit="deg")
    Irsa.sia_url = SIA_URL
    images = Irsa.query_sia(pos=(target, 1 * u.arcsec), collection=COLLECTION)
    images = images[
        [
            "TDS_simple_model" in str(obs_id) and BAND in str(name)
            for obs_id, name in zip(images["obs_id"], images["energy_bandpassname"], strict=True)
        ]
    ]
    nearest = np.argsort(
        np.abs(np.asarray(images["t_min"], float) - float(chosen["peak_mjd"])), kind="stable"
    )
    images = images[np.sort(nearest[:count])]
    return target, {"id": int(chosen["id"]), "peak_mjd": float(chosen["peak_mjd"])}, images


def truth_counts(uris: list[str], transient: int) -> dict[str, float]:
    """The transient's electrons in each image, from the truth list beside it (0 when not listed)."""
    import s3fs
    from astropy.table import Table

    public = s3fs.S3FileSystem(anon=True)
    out = {}
    for uri in uris:
        listed = uri.replace("/images/simple_model/", "/truth/").replace("_simple_model_", "_index_")
        table = Table.read(
            public.cat_file(listed.replace(".fits.gz", ".txt")).decode(), format="ascii.commented_header"
        )
        row = table[table["object_id"] == transient]
        out[uri] = float(row["flux"][0]) if len(row) else 0.0
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument(
        "--quick", action="store_true", help="4 epochs, 10^4 footprints, no cluster: a smoke run"
    )
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default 40; 4 with --quick)")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request (default 0.02)")
    parser.add_argument("--bandwidth", type=float, default=2e8, help="bytes/s per request (default 2e8)")
    parser.add_argument("--workers", type=int, default=16, help="threads for the kit (default 16)")
    parser.add_argument(
        "--budget", type=float, default=120.0, help="seconds an anchor way may run (default 120)"
    )
    parser.add_argument(
        "--footprints", type=int, default=None, help="synthetic footprints (default 10^6; 10^4 quick)"
    )
    parser.add_argument(
        "--no-cluster", action="store_true", help="skip the Dask LocalCluster (always with --quick)"
    )
    parser.add_argument("--no-astrocut", action="store_true", help="skip astrocut even when installed")
    parser.add_argument(
        "--cache", type=Path, default=HERE / ".cache", help="the sandbox's cache of generated bytes"
    )
    parser.add_argument("--output-dir", type=Path, default=OUTPUT, help=f"default {OUTPUT.relative_to(ROOT)}")
    parser.add_argument(
        "--publish",
        action="store_true",
        help="do not run: put the last full run in --output-dir into the book (performance page, "
        "figures, survey-results.json)",
    )
    args = parser.parse_args(argv)
    if args.publish:
        publish(args.output_dir)
        return 0
    warnings.simplefilter("ignore")

    epochs = args.epochs or (4 if args.quick else 40)
    started = time.perf_counter()
    try:
        import astrocut

        astrocut_version = None if args.no_astrocut else astrocut.__version__
    except ImportError:
        astrocut_version = None
    aws_environment()
    with Sandbox(cache_dir=args.cache, latency=args.latency, bandwidth=args.bandwidth) as sandbox:
        sandbox.apply(os.environ)
        server = sandbox.s3
        assert server is not None
        target, transient, images = choose_epochs(epochs)
        uris = [
            f"s3://{entry['aws']['bucket_name']}/{entry['aws']['key']}"
            for entry in (json.loads(text) for text in images["cloud_access"])
        ]
        print(
            f"transient {transient['id']}: {len(uris)} {BAND} images nearest its peak "
            f"(latency {args.latency * 1000:.0f} ms, {args.bandwidth / MB:.0f} MB/s per request)",
            flush=True,
        )
        results: dict[str, Any] = {
            "settings": {
                "latency_s": args.latency,
                "bandwidth_bytes_per_s": args.bandwidth,
                "epochs": len(uris),
                "image_side": SIDE,
                "band": BAND,
                "transient": transient["id"],
                "cut": CUT,
                "workers": args.workers,
                "quick": args.quick,
                "budget_s": args.budget,
                "astrocut": astrocut_version,
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            },
            "index": {},
            "light_curve": {},
            "scaling": [],
        }
        layout = "openuniverse"
        print("  index ...", flush=True)
        index, results["index"][layout] = index_phase(server, uris, args.workers)
        found = footprints.find(index, target, band=BAND)
        truth = truth_counts([str(uri) for uri in found["uri"]], transient["id"])
        print(f"  light curve over {len(found)} files ...", flush=True)
        results["light_curve"][layout] = light_curve_phase(
            server,
            found,
            target,
            args.workers,
            float("inf") if args.quick else args.budget,
            astrocut_version is not None,
            truth,
        )
        print("  scaling ...", flush=True)
        results["scaling"] += scaling_phase(layout, found, target, not (args.quick or args.no_cluster))
    print("  find() over synthetic footprints ...", flush=True)
    results["query"] = query_phase(index, target, args.footprints or (10_000 if args.quick else 1_000_000))
    results["targets"] = targets(results)
    results["seconds"] = time.perf_counter() - started
    markdown = gain(results) + "\n\n" + tables(results)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    (args.output_dir / "table.md").write_text(markdown + "\n")
    plots(results, args.output_dir)
    closing(results, markdown, args.output_dir, args.quick, "make bench-survey-publish")
    return 0


def closing(results: dict, markdown: str, folder: Path, quick: bool, publish_with: str) -> None:
    """Print a run's tables, where they went, and the targets it did not meet."""
    print()
    print(markdown)
    print(
        f"\nbenchmark took {results['seconds']:.0f} s; written to {folder}"
        + ("" if quick else f"; publish it with `{publish_with}`")
    )
    unmet = [t["what"] for t in results["targets"] if t["met"] is False]
    if unmet:
        print("targets not met: " + "; ".join(unmet))


if __name__ == "__main__":
    sys.exit(main())
