"""Manifest benchmark: the Core Community Survey manifests searched by exact footprint and by centre distance.

One run, under the offline sandbox with its S3 server's network model (20 ms per request and a
200 MB/s per-request bandwidth cap by default), over both simulations' manifests (GBTDS r00340,
88,038 rows; HLWAS r00342, 68,040 rows), each written to ECSV and read back as a user reads the
published file:

* **index**: the manifest read with astropy (``Table.read``, the ``ccs_simulations`` notebook's
  first step) against :func:`roman_helpers.footprints.from_manifest` of the same file;
* **search**: for ``--positions`` random positions on each survey's files (seeded: a row of the
  band, then a pixel of it, placed on the sky by the sandbox's detector geometry), the
  notebook's search (``SkyCoord.separation`` of ``detector_ra, detector_dec`` within 0.1 degree,
  and the band; and within half a detector's side, the widest cone that includes no wrong file)
  against :func:`~roman_helpers.footprints.find` on the index (the footprints of the files within
  reach read from their headers the first time, none the second);
* **truth**: the files whose pixels hold each position, from the sky model's own WFI geometry
  (each file's pointing, detector centre and CD matrix, the gnomonic projection of
  :mod:`roman_helpers.sandbox.sky.wfi`), never the kit's: files missed and wrongly included by
  each way.

A band is searched per survey (``--gbtds-band``, ``--hlwas-band``; F087 and F158 by default, the
F146 cadence would make each first search read some 2,000 headers): the notebook's way filters
by it too. Header reads and bytes are the kit's client counts (:func:`roman_helpers.transfer.measure`).

The sandbox makes a file's bytes when first read; the first file of each kind (band and exposure
time: its multi-accumulation table) costs it tens of seconds, so one file of each kind searched is
read before the clock starts, as the survey benchmark does.

Writes ``build/bench/manifest/results.json`` and ``table.md`` and prints the table (the manifests'
ECSV files go to a temporary folder); nothing tracked. Usage: ``python bench/manifest.py
[--quick] [--positions 10] [--latency 0.02] [--bandwidth 2e8] [--workers 16] [--seed 20]
[--cache DIR] [--output-dir DIR] [--running]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from run import aws_environment, fmt_bytes  # noqa: E402  (bench/run.py)

from roman_helpers import footprints, transfer  # noqa: E402
from roman_helpers.sandbox.launcher import Sandbox  # noqa: E402
from roman_helpers.sandbox.sky import wfi  # noqa: E402
from roman_helpers.sandbox.sky.surveys import ccs  # noqa: E402

OUTPUT = ROOT / "build" / "bench" / "manifest"  # untracked (.gitignore)
NOTEBOOK_RADIUS_DEG = 0.1  # the ccs_simulations notebook's cone
#: The widest cone on detector centres that never includes a file whose pixels miss the target: a
#: detector's half side (its pixels hold every point that near its centre).
HALF_SIDE_DEG = (wfi.DETECTOR_SIDE / 2 - 0.5) * wfi.PIXEL_SCALE / 3600
SURVEYS = {"r00340": "GBTDS", "r00342": "HLWAS"}
QUICK_BANDS = {"r00340": "F213", "r00342": "F062"}  # the fewest exposures: a smoke run's few reads


# ------------------------------------------------------------------ the truth, from the sky model


def holding(manifest: dict[str, np.ndarray], rows: np.ndarray, ra: float, dec: float) -> np.ndarray:
    """Those of ``rows`` whose pixels hold (ra, dec): the sky model's detector geometry, by hand.

    Each file's detector centre (:func:`wfi.detector_centres` of its pointing), the target's
    standard coordinates about it (:func:`wfi.project`) and the inverse of its CD matrix
    (:func:`wfi.cd_matrix`, the Roman convention of the L2 files) give the target's pixel.
    """
    sca = manifest["sca"][rows]
    centre_ra, centre_dec = wfi.detector_centres(
        manifest["wfi_ra"][rows], manifest["wfi_dec"][rows], manifest["wfi_pa"][rows], sca
    )
    xi, eta = wfi.project(centre_ra, centre_dec, ra, dec)
    inverse = np.linalg.inv(wfi.cd_matrix(manifest["wfi_pa"][rows], sca, "roman"))
    x = inverse[:, 0, 0] * xi + inverse[:, 0, 1] * eta + wfi.REFERENCE_PIXEL
    y = inverse[:, 1, 0] * xi + inverse[:, 1, 1] * eta + wfi.REFERENCE_PIXEL
    edge = wfi.DETECTOR_SIDE - 0.5
    return rows[(x >= -0.5) & (x < edge) & (y >= -0.5) & (y < edge)]


def near(
    manifest: dict[str, np.ndarray], rows: np.ndarray, ra: float, dec: float, degrees: float
) -> np.ndarray:
    """Those of ``rows`` whose detector position lies within ``degrees`` (haversine)."""
    d1, d2 = np.radians(dec), np.radians(manifest["detector_dec"][rows])
    dra = np.radians(manifest["detector_ra"][rows] - ra)
    h = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin(dra / 2) ** 2
    return rows[2 * np.degrees(np.arcsin(np.sqrt(np.clip(h, 0, 1)))) <= degrees]


def positions(manifest: dict[str, np.ndarray], band: str, count: int, seed: int) -> list[tuple[float, float]]:
    """``count`` positions on files of ``band``: a row drawn at random, then a pixel of it."""
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(manifest["band"] == band)
    chosen = rng.choice(rows, count, replace=False)
    pixels = rng.uniform(-0.5, wfi.DETECTOR_SIDE - 0.5, (count, 2))
    found = []
    for row, (x, y) in zip(chosen, pixels, strict=True):
        ra, dec = wfi.pixel_to_sky(
            manifest["wfi_ra"][row],
            manifest["wfi_dec"][row],
            manifest["wfi_pa"][row],
            manifest["sca"][row],
            [x],
            [y],
            convention="roman",
        )
        found.append((float(ra[0]), float(dec[0])))
    return found


# ------------------------------------------------------------------ the two ways


def notebook_index(path: Path) -> tuple[Any, Any, float]:
    """The notebook's way: the manifest read with astropy, and its detectors as one SkyCoord."""
    from astropy.coordinates import SkyCoord
    from astropy.table import Table

    started = time.perf_counter()
    table = Table.read(path, format="ascii.ecsv")
    coords = SkyCoord(ra=table["detector_ra"], dec=table["detector_dec"], unit="deg")
    return table, coords, time.perf_counter() - started


def notebook_search(
    table: Any, coords: Any, ra: float, dec: float, band: str, radius: float = NOTEBOOK_RADIUS_DEG
) -> tuple[set[str], float]:
    """The notebook's cone: separation from the detector positions within 0.1 degree, and the band."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    started = time.perf_counter()
    target = SkyCoord(ra=ra * u.deg, dec=dec * u.deg)
    mask = (target.separation(coords) <= radius * u.deg) & (table["optical_element"] == band)
    found = {str(uri) for uri in table["l2_s3_uri"][mask]}
    return found, time.perf_counter() - started


def kit_search(index: Any, ra: float, dec: float, band: str, workers: int) -> dict[str, Any]:
    """One :func:`footprints.find`, counted: time, header reads, requests and bytes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an empty answer warns; counted below
        with transfer.measure() as client:
            started = time.perf_counter()
            found = footprints.find(index, f"{ra} {dec}", band=band, max_workers=workers, progress=False)
            seconds = time.perf_counter() - started
    return {
        "found": {str(uri) for uri in found["uri"]},
        "seconds": seconds,
        "reads": int(found.meta["footprints"]["read"]),
        "requests": client.requests,
        "bytes": client.bytes,
    }


# ------------------------------------------------------------------ one survey


def survey(
    program: str, folder: Path, band: str, count: int, seed: int, workers: int, quick: bool
) -> dict[str, Any]:
    table = ccs.manifest(program)
    if quick:  # the band's rows only: the same searches, without a minute of writing and reading ECSV
        table = table[table["optical_element"] == band]
    path = folder / f"{SURVEYS[program].lower()}_manifest.ecsv"
    table.write(path, format="ascii.ecsv", overwrite=True)
    manifest = {
        "wfi_ra": np.asarray(table["wfi_ra"], float),
        "wfi_dec": np.asarray(table["wfi_dec"], float),
        "wfi_pa": np.asarray(table["wfi_pa"], float),
        "detector_ra": np.asarray(table["detector_ra"], float),
        "detector_dec": np.asarray(table["detector_dec"], float),
        "sca": np.array([int(str(name)[3:]) for name in table["detector"]]),
        "band": np.asarray(table["optical_element"]).astype(str),
        "uri": np.asarray(table["l2_s3_uri"]).astype(str),
    }
    nb_table, nb_coords, nb_index_seconds = notebook_index(path)
    started = time.perf_counter()
    index = footprints.from_manifest(path)
    kit_index_seconds = time.perf_counter() - started
    of_band = np.flatnonzero(manifest["band"] == band)
    exptime = np.asarray(table["exptime"], float)[of_band]
    kinds = [str(manifest["uri"][of_band[i]]) for i in np.unique(exptime, return_index=True)[1]]
    footprints.build_index(kinds, max_workers=workers, progress=False)  # the sandbox makes each kind once
    queries = []
    for number, (ra, dec) in enumerate(positions(manifest, band, count, seed)):
        truth = set(manifest["uri"][holding(manifest, near(manifest, of_band, ra, dec, 0.3), ra, dec)])
        within_reach = len(near(manifest, of_band, ra, dec, footprints.DETECTOR_REACH_DEG))
        first = kit_search(index, ra, dec, band, workers)
        again = kit_search(index, ra, dec, band, workers)
        cone, cone_seconds = notebook_search(nb_table, nb_coords, ra, dec, band)
        small, small_seconds = notebook_search(nb_table, nb_coords, ra, dec, band, HALF_SIDE_DEG)
        queries.append(
            {
                "ra": ra,
                "dec": dec,
                "truth": len(truth),
                "within_reach": within_reach,
                "kit_first": {k: v for k, v in first.items() if k != "found"} | score(first["found"], truth),
                "kit_again": {k: v for k, v in again.items() if k != "found"} | score(again["found"], truth),
                "notebook": {"seconds": cone_seconds, "reads": 0, "requests": 0, "bytes": 0}
                | score(cone, truth),
                "half_side": {"seconds": small_seconds, "reads": 0, "requests": 0, "bytes": 0}
                | score(small, truth),
            }
        )
        q = queries[-1]
        print(
            f"  {SURVEYS[program]} {number + 1}/{count}: {len(truth)} files hold it; find read "
            f"{first['reads']} headers ({first['seconds']:.1f} s), then {again['reads']}; the cone "
            f"missed {q['notebook']['missed']}, wrongly included {q['notebook']['wrong']}; a "
            f"{HALF_SIDE_DEG:.4f}-degree cone missed {q['half_side']['missed']}",
            flush=True,
        )
    return {
        "program": program,
        "survey": SURVEYS[program],
        "rows": len(table),
        "band": band,
        "notebook_index_seconds": nb_index_seconds,
        "kit_index_seconds": kit_index_seconds,
        "queries": queries,
    }


def score(found: set[str], truth: set[str]) -> dict[str, int]:
    return {"found": len(found), "missed": len(truth - found), "wrong": len(found - truth)}


# ------------------------------------------------------------------ the table


WAYS = (
    ("notebook", "manifest: centre within 0.1 deg (the notebook's)", "notebook_index_seconds"),
    ("half_side", f"manifest: centre within {HALF_SIDE_DEG:.4f} deg (half a side)", "notebook_index_seconds"),
    ("kit_first", "find (exact footprint), first search", "kit_index_seconds"),
    ("kit_again", "find, same place again", "kit_index_seconds"),
)


def table(results: dict[str, Any]) -> str:
    lines = [
        "| survey (rows, band) | way | index (s) | s / query | header reads / query | bytes / query "
        "| files found | missed | wrongly included |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for one in results["surveys"]:
        queries = one["queries"]
        for key, name, index_key in WAYS:
            values = [q[key] for q in queries]
            n = max(len(values), 1)

            def total(name: str, values: list[dict] = values) -> float:
                return sum(v[name] for v in values)

            lines.append(
                f"| {one['survey']} ({one['rows']:,}, {one['band']}) | {name} | {one[index_key]:.2f} "
                f"| {total('seconds') / n:.3f} | {total('reads') / n:.1f} "
                f"| {fmt_bytes(round(total('bytes') / n))} "
                f"| {total('found'):.0f} | {total('missed'):.0f} | {total('wrong'):.0f} |"
            )
    truth = sum(q["truth"] for one in results["surveys"] for q in one["queries"])
    queries = sum(len(one["queries"]) for one in results["surveys"])
    return "\n".join(
        [
            f"{queries} positions, {truth} (file, position) pairs whose pixels hold the position in the "
            "sky model; files found, missed and wrongly included are summed over the positions.",
            "",
            *lines,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 positions a survey, in its rarest band (F213, F062): a smoke run",
    )
    parser.add_argument(
        "--positions", type=int, default=None, help="positions a survey (default 10; 2 quick)"
    )
    parser.add_argument("--gbtds-band", default="F087", help="band searched in the GBTDS (default F087)")
    parser.add_argument("--hlwas-band", default="F158", help="band searched in the HLWAS (default F158)")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request (default 0.02)")
    parser.add_argument("--bandwidth", type=float, default=2e8, help="bytes/s per request (default 2e8)")
    parser.add_argument("--workers", type=int, default=16, help="headers read at once (default 16)")
    parser.add_argument("--seed", type=int, default=20, help="seed of the positions (default 20)")
    parser.add_argument(
        "--cache", type=Path, default=HERE / ".cache", help="the sandbox's cache of generated bytes"
    )
    parser.add_argument("--output-dir", type=Path, default=OUTPUT, help=f"default {OUTPUT.relative_to(ROOT)}")
    parser.add_argument(
        "--running",
        action="store_true",
        help="search through the sandbox the environment already points at (AWS_ENDPOINT_URL, as under "
        "`roman-helpers sandbox run`) instead of starting one; its network model is its own",
    )
    args = parser.parse_args(argv)
    count = args.positions or (2 if args.quick else 10)
    bands = QUICK_BANDS if args.quick else {"r00340": args.gbtds_band, "r00342": args.hlwas_band}
    args.output_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if not args.running:
        aws_environment()
    results: dict[str, Any] = {
        "settings": {
            "quick": args.quick,
            "positions": count,
            "bands": bands,
            "latency_s": None if args.running else args.latency,
            "bandwidth_bytes_per_s": None if args.running else args.bandwidth,
            "workers": args.workers,
            "seed": args.seed,
            "notebook_radius_deg": NOTEBOOK_RADIUS_DEG,
            "half_side_deg": HALF_SIDE_DEG,
            "reach_deg": footprints.DETECTOR_REACH_DEG,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "surveys": [],
    }
    with (
        contextlib.nullcontext()
        if args.running
        else Sandbox(cache_dir=args.cache, latency=args.latency, bandwidth=args.bandwidth) as sandbox,
        tempfile.TemporaryDirectory(prefix="bench-manifest-") as folder,
    ):
        if not args.running:
            sandbox.apply(os.environ)
        for number, program in enumerate(SURVEYS):
            print(f"{SURVEYS[program]} ({program}), {bands[program]}:", flush=True)
            results["surveys"].append(
                survey(
                    program, Path(folder), bands[program], count, args.seed + number, args.workers, args.quick
                )
            )
    results["rows"] = sum(one["rows"] for one in results["surveys"])
    results["seconds"] = time.perf_counter() - started
    markdown = table(results)
    (args.output_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    (args.output_dir / "table.md").write_text(markdown + "\n")
    print()
    print(markdown)
    print(
        f"\n{results['rows']:,} manifest rows; took {results['seconds']:.0f} s; written to {args.output_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
