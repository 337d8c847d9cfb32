"""``make bench``: each streaming and download task run with the libraries' defaults and with
roman_helpers, in one run.

Full-size files with the real structure are generated once into ``bench/.cache``
(``bench/files.py``) and served by the sandbox S3 server
(:class:`roman_helpers.sandbox.services.s3.S3Server`) with its network model: 20 ms per request
and a 200 MB/s per-request bandwidth cap. Bytes and requests are counted by the server
(and cross-checked with :func:`roman_helpers.transfer.measure` in the client); wall time
with ``time.perf_counter``; peak memory with :mod:`tracemalloc` (Python and numpy
allocations above the level before the call).

A run writes only under ``build/bench/`` (not tracked): ``results.json``, the tables
(``table.md``) and the figure (``performance.png``), and prints the tables. Publishing them is a
separate, explicit step, ``make bench-publish`` (``python bench/run.py --publish``): it copies the
last full run's tables into ``book/performance.md`` (between the ``bench-table`` markers), its
figure to ``book/images/performance.png`` and its results to ``book/performance-results.json``.

Each row compares the libraries' defaults (how the source tutorial reads files) with
roman_helpers. A reference measured beside them (boto3's transfer manager for the downloads) is
kept apart, in a table of its own that names whose numbers they are.

Usage: ``python bench/run.py [--latency 0.02] [--bandwidth 2e8] [--quick] [--out DIR]`` and
``python bench/run.py --publish [--out DIR]`` (``--quick`` uses smaller files, for a smoke run;
its results are not published).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import tracemalloc
import warnings
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "build" / "bench"  # untracked (.gitignore): every run writes here
BOOK_PAGE = ROOT / "book" / "performance.md"
BOOK_FIGURE = ROOT / "book" / "images" / "performance.png"
BOOK_RESULTS = ROOT / "book" / "performance-results.json"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import files  # noqa: E402

from roman_helpers import stream, transfer  # noqa: E402
from roman_helpers.query import SCIENCE_FILTERS  # noqa: E402
from roman_helpers.sandbox.services.s3 import S3Server  # noqa: E402

MB = 1_000_000
KIB = 1024
BOX = (2000, 500, 2100, 600)  # x0, y0, x1, y1: 100 x 100 pixels (rows 500-600 straddle two lz4 chunks)
DOWNLOADS = 20
DOWNLOAD_REPEATS = 3  # sub-second timings: best of three, for every way alike
# Figures are drawn as wide as the book's text column (676 px at 96 px an inch), so that they are
# shown at the size they were drawn, with no lettering below FONT_PT (tick labels included).
PAGE_WIDTH_IN = 7.0
FONT_PT = 10


@dataclass
class Run:
    """One way of doing a scenario, measured.

    Bytes, requests and peak memory come from a first (cold) run; wall time and
    sequential round trips from a second run that reuses the file-system objects, so
    that creating an AWS client (about 0.4 s of Python here) is not counted as network.
    """

    requests: int
    bytes: int
    seconds: float
    round_trips: int
    peak_memory: int
    client_requests: int
    client_bytes: int


@dataclass
class Result:
    """One scenario: the libraries' defaults against roman_helpers, and any reference beside them.

    ``reference`` holds the numbers of a third way that is neither (boto3's transfer manager
    for the downloads), named by ``reference_name``; they are never shown as ours.
    """

    scenario: str
    target: str
    defaults: Run | None
    ours: Run | None
    met: bool | None
    note: str = ""
    extra: dict = field(default_factory=dict)
    reference: Run | None = None
    reference_name: str = ""


def measured(server: S3Server, call: Callable[[], object], repeats: int = 1) -> tuple[Run, object]:
    """Run ``call`` once counting at the server and in the client, then time it.

    The time is the best of ``repeats`` warm runs (as ``timeit`` reports): on a shared 2-core
    machine one run of a sub-second scenario swings by tens of percent with the neighbours' load.
    """
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()  # each way starts with no connections
    mark = len(server.stats.records)
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    with transfer.measure() as client:
        value = call()
    peak = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()
    counted = server.stats.since(mark)
    seconds = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        with transfer.measure() as warm:
            call()
        seconds = min(seconds, time.perf_counter() - started)
    return Run(
        counted.requests, counted.bytes_sent, seconds, warm.round_trips, peak, client.requests, client.bytes
    ), value


# ------------------------------------------------------------------ the files


def generate(cache: Path, quick: bool) -> dict[str, Path]:
    """Write the benchmark files once; reuse them while the generator and sizes are unchanged."""
    import hashlib

    from roman_helpers.sandbox import synth

    rows = 1024 if quick else files.WIDTH
    generators = hashlib.sha256(Path(files.__file__).read_bytes() + Path(synth.__file__).read_bytes())
    kind = "quick" if quick else "full"
    stamp = cache / f"{kind}-{generators.hexdigest()[:12]}"
    for old in cache.glob(f"{kind}*"):  # files from an earlier generator
        if old != stamp:
            shutil.rmtree(old, ignore_errors=True)
    stamp.mkdir(parents=True, exist_ok=True)
    plan = {
        "drz": (stamp / "ib6w01010_drz.fits", lambda p: files.write_hst_drz(p, ny=1016, nx=1016)),
        "fits": (stamp / "two_image_4088.fits", lambda p: files.write_two_image_fits(p, ny=rows)),
        "gz": (
            stamp / "Roman_WAS_simple_model_F158_9307_1.fits.gz",
            lambda p: files.write_fits_gz(p, ny=rows),
        ),
        "asdf": (
            stamp / "r0003201001001001004_0001_wfi01_f158_cal.asdf",
            lambda p: files.write_roman_cal(p, ny=rows),
        ),
    }
    paths = {}
    for name, (path, write) in plan.items():
        if not path.exists():
            print(f"generating {path.name} ...", flush=True)
            partial = path.with_name(path.name + ".part" + "".join(path.suffixes))
            write(partial)
            partial.rename(path)
        paths[name] = path
    return paths


KEYS = {
    "drz": ("stpubdata", "hst/public/ib6w/ib6w01010/ib6w01010_drz.fits"),
    "fits": ("stpubdata", "bench/two_image_4088.fits"),
    "gz": (
        "nasa-irsa-simulations",
        "openuniverse2024/roman/preview/RomanWAS/images/simple_model/"
        "F158/9307/Roman_WAS_simple_model_F158_9307_1.fits.gz",
    ),
    "asdf": ("stpubdata", "roman/bench/r0003201001001001004_0001_wfi01_f158_cal.asdf"),
}


# ------------------------------------------------------------------ the libraries' defaults
# (how the source tutorial reads files: astropy and s3fs as they come)


def seed_fits_info(uri):
    from astropy.io import fits

    with fits.open(uri, "readonly", fsspec_kwargs={"anon": True}) as hdul:
        hdul.info(output=False)


def seed_fits_header(uri):
    from astropy.io import fits

    with fits.open(uri, "readonly", fsspec_kwargs={"anon": True}) as hdul:
        return hdul[0].header


def seed_fits_cutout(uri):
    from astropy.io import fits
    from astropy.nddata import Cutout2D

    x0, y0, x1, y1 = BOX
    with fits.open(uri, "readonly", fsspec_kwargs={"anon": True}) as hdul:
        return Cutout2D(hdul[1].section, ((x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2), (y1 - y0, x1 - x0)).data


def seed_roman_meta(uri):
    import roman_datamodels as rdm
    import s3fs

    fs = s3fs.S3FileSystem(anon=True)
    with fs.open(uri, "rb") as handle, rdm.open(handle) as model:
        return model.meta.to_flat_dict()


def seed_roman_cutout(uri):
    import roman_datamodels as rdm
    import s3fs

    x0, y0, x1, y1 = BOX
    fs = s3fs.S3FileSystem(anon=True)
    with fs.open(uri, "rb") as handle, rdm.open(handle) as model:
        _ = model.meta.instrument.detector
        return np.array(model.data[y0:y1, x0:x1])


def seed_gz_cutout(uri):
    from astropy.io import fits

    x0, y0, x1, y1 = BOX
    with fits.open(uri, "readonly", fsspec_kwargs={"anon": True}) as hdul:
        return np.array(hdul["SCI"].section[y0:y1, x0:x1])


def ours_cutout(uri):
    return stream.cutout(uri, box=BOX).data


# ------------------------------------------------------------------ targets


def asdf_tree_and_index(path: Path) -> int:
    raw = path.read_bytes()
    return raw.find(b"\n...\n") + 5 + len(raw) - raw.rfind(b"#ASDF BLOCK INDEX")


def gzip_prefix(path: Path, decompressed_end: int) -> int:
    decoder, produced, consumed = zlib.decompressobj(16 + zlib.MAX_WBITS), 0, 0
    with open(path, "rb") as handle:
        while produced < decompressed_end:
            piece = handle.read(64 * KIB)
            produced += len(decoder.decompress(piece))
            consumed += len(piece)
    return consumed


def run_streaming(server: S3Server, local: dict[str, Path], latency: float) -> list[Result]:
    from astropy.io import fits

    uri = {name: f"s3://{bucket}/{key}" for name, (bucket, key) in KEYS.items()}
    results = []

    def scenario(name, target, seed_call, ours_call, check, note=""):
        print(f"  {name} ...", flush=True)
        defaults, seed_value = measured(server, seed_call)
        ours, ours_value = measured(server, ours_call)
        met, extra = check(ours, seed_value, ours_value)
        results.append(Result(name, target, defaults, ours, met, note, extra))

    size = {name: path.stat().st_size for name, path in local.items()}
    scenario(
        f"header / info() of a {size['drz'] / MB:.1f} MB HST drz",
        "<= 64 KiB",
        lambda: seed_fits_info(uri["drz"]),
        lambda: stream.info(uri["drz"]),
        lambda run, *_: (run.bytes <= 64 * KIB, {}),
    )
    scenario(
        f"header of a {size['fits'] / MB:.0f} MB 4088-wide FITS",
        "<= 64 KiB",
        lambda: seed_fits_header(uri["fits"]),
        lambda: stream.read_header(uri["fits"]),
        lambda run, *_: (run.bytes <= 64 * KIB, {}),
    )

    def check_cutout(run, seed_value, ours_value):
        same = bool(np.array_equal(seed_value, ours_value))
        return (
            run.bytes <= 100_000 and same and run.round_trips <= 4,
            {"identical_pixels": same, "wall_time_in_latencies": run.seconds / latency if latency else None},
        )

    scenario(
        "100x100 cutout of a 4088-wide float32 FITS image",
        "<= 100 KB, <= 4 round trips",
        lambda: seed_fits_cutout(uri["fits"]),
        lambda: ours_cutout(uri["fits"]),
        check_cutout,
    )

    budget = 1.2 * asdf_tree_and_index(local["asdf"])
    scenario(
        f"metadata of a Roman _cal.asdf ({size['asdf'] / MB:.0f} MB, lz4)",
        f"<= 1.2 x (tree + index) = {budget:,.0f} B",
        lambda: seed_roman_meta(uri["asdf"]),
        lambda: stream.read_metadata(uri["asdf"]),
        lambda run, *_: (run.bytes <= budget, {}),
    )

    def check_lz4(run, seed_value, ours_value):
        same = bool(np.array_equal(seed_value, ours_value))
        return run.bytes <= 9 * MB and same, {"identical_pixels": same}

    scenario(
        "100x100 cutout of roman.data (lz4)",
        "<= 9 MB",
        lambda: seed_roman_cutout(uri["asdf"]),
        lambda: ours_cutout(uri["asdf"]),
        check_lz4,
    )

    with fits.open(local["gz"]) as hdul:
        data_start = hdul.fileinfo(1)["datLoc"]
    prefix = gzip_prefix(local["gz"], data_start + BOX[3] * files.WIDTH * 4)

    def check_gz(run, seed_value, ours_value):
        same = bool(np.array_equal(seed_value, ours_value))
        return (
            run.bytes <= prefix + stream.GZIP_BLOCK and same,
            {"compressed_prefix_needed": prefix, "identical_pixels": same},
        )

    scenario(
        f"cutout of an OpenUniverse .fits.gz ({size['gz'] / MB:.0f} MB)",
        f"<= prefix {prefix / MB:.1f} MB + one {stream.GZIP_BLOCK // (1024 * 1024)} MiB read",
        lambda: seed_gz_cutout(uri["gz"]),
        lambda: ours_cutout(uri["gz"]),
        check_gz,
        note="a gzip stream cannot be entered mid-way: the prefix up to the last row is the floor",
    )
    return results


REFERENCE_BOTO3 = "boto3 transfer manager, 8 threads (reference, not roman_helpers)"


def run_downloads(server: S3Server, local: dict[str, Path]) -> list[Result]:
    """s3fs ``get`` (the default), boto3's transfer manager and roman_helpers.download, on 20 files
    and on one big object (fetched in concurrent ranged parts by boto3 and by us)."""
    try:
        from roman_helpers.download import download
    except ImportError:
        return [
            Result(
                f"download {DOWNLOADS} files",
                "throughput >= boto3",
                None,
                None,
                None,
                "roman_helpers.download is not available",
            )
        ]
    import boto3
    import s3fs
    from botocore import UNSIGNED
    from botocore.config import Config

    work = Path(tempfile.mkdtemp(prefix="bench-downloads-"))

    def three_ways(uris: list[str], expected: int) -> tuple[Run, Run, Run, bool, int]:
        def seed_get():
            fs = s3fs.S3FileSystem(anon=True)
            fs.get([u.removeprefix("s3://") for u in uris], str(work / "seed") + "/")

        def boto3_transfer_manager():
            from concurrent.futures import ThreadPoolExecutor

            client = boto3.client("s3", config=Config(signature_version=UNSIGNED, max_pool_connections=32))
            (work / "boto3").mkdir(exist_ok=True)
            with ThreadPoolExecutor(8) as pool:
                list(
                    pool.map(
                        lambda u: client.download_file(
                            u.split("/", 3)[2], u.split("/", 3)[3], str(work / "boto3" / Path(u).name)
                        ),
                        uris,
                    )
                )

        defaults, _ = measured(
            server, lambda: (shutil.rmtree(work / "seed", ignore_errors=True), seed_get()), DOWNLOAD_REPEATS
        )
        reference, _ = measured(
            server,
            lambda: (shutil.rmtree(work / "boto3", ignore_errors=True), boto3_transfer_manager()),
            DOWNLOAD_REPEATS,
        )
        mine, results = measured(
            server, lambda: download(uris, work / "ours", progress=False, overwrite=True), DOWNLOAD_REPEATS
        )
        written = sum(p.stat().st_size for p in (work / "ours").rglob("*") if p.is_file())
        shutil.rmtree(work / "ours", ignore_errors=True)
        ok = all(r.status == "downloaded" for r in results) and written == expected
        return defaults, reference, mine, ok and mine.seconds <= reference.seconds * 1.05, written

    try:
        out = []
        bucket, _ = KEYS["drz"]
        many = [f"s3://{bucket}/bench/downloads/file_{n:02d}_drz.fits" for n in range(DOWNLOADS)]
        big_bucket, big_key = KEYS["fits"]
        for label, uris, expected in (
            (f"download {DOWNLOADS} files", many, local["drz"].stat().st_size * DOWNLOADS),
            ("download one big object", [f"s3://{big_bucket}/{big_key}"], local["fits"].stat().st_size),
        ):
            print(f"  {label} ...", flush=True)
            defaults, reference, mine, met, written = three_ways(uris, expected)
            out.append(
                Result(
                    f"{label} ({expected / MB:.0f} MB)",
                    "throughput >= boto3 transfer manager; bytes written = sizes",
                    defaults,
                    mine,
                    met,
                    "defaults: s3fs get",
                    {"bytes_written": written, "object_bytes": expected},
                    reference,
                    REFERENCE_BOTO3,
                )
            )
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


TUTORIAL_QUERY = {
    "obs_collection": "HST",
    "filters": "F160W",
    "instrument_name": "WFC3/IR",
    "proposal_id": ["11360"],
    "dataRights": "PUBLIC",
}


def run_cloud_uris(latency: float, bandwidth: float) -> Result:
    """Tutorial 1's 60 products: astroquery's ``get_cloud_uris`` against ``roman_helpers.uris.cloud_uris``.

    Runs in the whole sandbox (MAST behind the TLS proxy, S3 with the same network model).
    Requests and round trips add the MAST path look-ups (counted by the sandbox MAST) to the
    S3 ``HEAD`` checks (counted by the S3 server); the look-ups are sequential, one per 50 products.
    """
    name, target = "cloud URIs for tutorial 1's 60 products", "<= 5 round trips"
    try:
        from roman_helpers.uris import cloud_uris
    except ImportError:
        return Result(name, target, None, None, None, "roman_helpers.uris.cloud_uris is not available")
    from roman_helpers.sandbox.launcher import Sandbox

    print(f"  {name} ...", flush=True)
    saved = dict(os.environ)
    try:
        with Sandbox(latency=latency, bandwidth=bandwidth) as sandbox:
            sandbox.apply()
            from astroquery.mast import Observations

            products = Observations.filter_products(
                Observations.get_product_list(Observations.query_criteria(**TUTORIAL_QUERY)),
                **SCIENCE_FILTERS,
            )
            Observations.enable_cloud_dataset(verbose=False)  # its client follows the sandbox endpoint

            def with_lookups(call):
                before = sandbox.mast.app.requests
                run, value = measured(sandbox.s3, call)
                lookups = (sandbox.mast.app.requests - before) // 2  # measured() runs the call twice
                run.requests += lookups
                run.round_trips += lookups
                return run, value

            defaults, seed_uris = with_lookups(lambda: Observations.get_cloud_uris(products))
            ours, our_uris = with_lookups(lambda: [uri for uri in cloud_uris(products) if uri])
            Observations.disable_cloud_dataset()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    same = list(seed_uris) == our_uris
    return Result(
        name,
        target,
        defaults,
        ours,
        same and len(our_uris) == 60 and ours.round_trips <= 5,
        "requests and round trips include the MAST path look-ups",
        {"same_uris": same, "uris": len(our_uris)},
    )


# ------------------------------------------------------------------ output


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("MB", MB), ("KB", 1000)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n} B"


def table(results: list[Result]) -> str:
    """The comparison, the libraries' defaults against roman_helpers, as two tables narrow enough
    for the book's column: what moved and how long it took, then the target, round trips and memory."""
    moved = [
        "| scenario | defaults: requests | ours: requests | defaults: bytes | ours: bytes | fewer bytes "
        "| defaults: s | ours: s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    checked = [
        "| scenario | target | met | defaults: round trips | ours: round trips | defaults: peak mem "
        "| ours: peak mem |",
        "| --- | --- | :---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        if r.ours is None or r.defaults is None:
            moved.append(f"| {r.scenario} | - | - | - | - | - | - | - |")
            checked.append(f"| {r.scenario} | {r.target} | not run: {r.note} | - | - | - | - |")
            continue
        d, o = r.defaults, r.ours
        moved.append(
            f"| {r.scenario} | {d.requests} | {o.requests} | {fmt_bytes(d.bytes)} | {fmt_bytes(o.bytes)} "
            f"| {d.bytes / max(o.bytes, 1):,.0f}x | {d.seconds:.2f} | {o.seconds:.2f} |"
        )
        checked.append(
            f"| {r.scenario} | {r.target} | {'-' if r.met is None else 'yes' if r.met else 'NO'} "
            f"| {d.round_trips} | {o.round_trips} | {fmt_bytes(d.peak_memory)} | {fmt_bytes(o.peak_memory)} |"
        )
    return "\n".join(moved) + "\n\nTargets, sequential round trips and peak memory:\n\n" + "\n".join(checked)


def reference_table(results: list[Result]) -> str:
    """The references measured beside some scenarios, each row saying whose numbers they are ("" if none)."""
    rows = [r for r in results if r.reference is not None]
    if not rows:
        return ""
    lines = [
        "| scenario | whose numbers | requests | bytes | round trips | s | peak mem |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        ref = r.reference
        lines.append(
            f"| {r.scenario} | {r.reference_name} | {ref.requests} | {fmt_bytes(ref.bytes)} "
            f"| {ref.round_trips} | {ref.seconds:.2f} | {fmt_bytes(ref.peak_memory)} |"
        )
    return "\n".join(lines)


def report(results: list[Result]) -> str:
    """Both tables as Markdown, as they go between the book page's ``bench-table`` markers."""
    references = reference_table(results)
    text = table(results)
    if references:
        text += (
            "\n\nMeasured in the same run for comparison, and not roman_helpers' numbers:\n\n" + references
        )
    return text


def figure(results: list[Result]):
    """Bytes and wall time of each scenario, the libraries' defaults against roman_helpers (log
    scales), one panel above the other at the width of the book's column."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in results if r.ours is not None and r.defaults is not None]
    labels = [textwrap.fill(r.scenario.split(" (")[0], 30) for r in shown]
    y = np.arange(len(shown))
    with plt.rc_context({"font.size": FONT_PT}):
        fig, axes = plt.subplots(2, 1, figsize=(PAGE_WIDTH_IN, 0.55 * len(shown) * 2 + 1.8))
        for axis, attribute, title in (
            (axes[0], "bytes", "bytes transferred"),
            (axes[1], "seconds", "wall time (s)"),
        ):
            defaults = [getattr(r.defaults, attribute) for r in shown]
            ours = [getattr(r.ours, attribute) for r in shown]
            axis.barh(y - 0.2, defaults, 0.4, label="library defaults", color="#b0b0b0")
            axis.barh(y + 0.2, ours, 0.4, label="roman_helpers", color="#1f6fb4")
            axis.set_xscale("log")
            axis.set_title(title)
            axis.set_yticks(y, labels)
            axis.invert_yaxis()
        axes[0].legend(loc="lower right")
        fig.tight_layout()
    return fig


def plot(results: list[Result], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig = figure(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results: list[Result], out: Path, settings: dict) -> Path:
    """Write ``results.json``, ``table.md`` and ``performance.png`` into ``out``, nothing else.

    Returns the path of the JSON file.
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    path.write_text(json.dumps({**settings, "results": [asdict(r) for r in results]}, indent=2, default=str))
    (out / "table.md").write_text(report(results) + "\n")
    plot(results, out / "performance.png")
    return path


def load(path: Path) -> tuple[dict, list[Result]]:
    """Read a ``results.json`` back: its settings and its results."""
    data = json.loads(path.read_text())
    settings = {key: value for key, value in data.items() if key != "results"}
    results = []
    for entry in data["results"]:
        runs = {
            name: Run(**entry[name]) if entry.get(name) else None
            for name in ("defaults", "ours", "reference")
        }
        results.append(Result(**{**entry, **runs}))
    return settings, results


def update_book(markdown: str, page: Path, marker: str = "bench-table") -> None:
    """Put ``markdown`` between the ``<!-- {marker}:start -->`` and ``:end`` markers of ``page``."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    text = page.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{page} has no {start} ... {end} markers to put the table between")
    head, rest = text.split(start, 1)
    page.write_text(head + start + "\n" + markdown + "\n" + end + rest.split(end, 1)[1])


def publish(
    out: Path, page: Path = BOOK_PAGE, figure: Path = BOOK_FIGURE, results_copy: Path = BOOK_RESULTS
) -> None:
    """Copy the results of the last full run in ``out`` into the book: tables, figure and JSON.

    The figure and tables are drawn again from ``results.json``, so what is published always
    matches the numbers published beside it.
    """
    source = out / "results.json"
    if not source.exists():
        raise SystemExit(f"no benchmark results in {out}: run `make bench` (python bench/run.py) first")
    settings, results = load(source)
    if settings.get("quick"):
        raise SystemExit(
            f"{source} holds --quick results (smaller files), which are not published: "
            "run `make bench` without --quick first"
        )
    update_book(report(results), page)
    plot(results, figure)
    results_copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, results_copy)
    print(f"published {source} into {page}, {figure} and {results_copy}")


def aws_environment() -> None:
    """Throw-away credentials in a file, no proxy, nothing from the caller's AWS setup."""
    credentials = Path(tempfile.mkdtemp(prefix="bench-aws-")) / "credentials"
    credentials.write_text("[default]\naws_access_key_id = bench\naws_secret_access_key = bench\n")
    for name in (
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL_S3",
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "https_proxy",
        "http_proxy",
    ):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_SHARED_CREDENTIALS_FILE=str(credentials),
        AWS_CONFIG_FILE=str(credentials) + ".config",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request (default 0.02)")
    parser.add_argument("--bandwidth", type=float, default=2e8, help="bytes/s per request (default 2e8)")
    parser.add_argument("--quick", action="store_true", help="smaller files, for a smoke run")
    parser.add_argument("--cache", type=Path, default=HERE / ".cache")
    parser.add_argument(
        "--out",
        type=Path,
        default=OUT,
        help=f"folder for results.json, table.md and performance.png (default {OUT.relative_to(ROOT)})",
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="do not run: copy the last full run's results from --out into the book",
    )
    args = parser.parse_args(argv)
    if args.publish:
        publish(args.out)
        return 0
    warnings.simplefilter("ignore")

    local = generate(args.cache, args.quick)
    entries = [files.Entry(bucket, key, local[name]) for name, (bucket, key) in KEYS.items()]
    entries += [
        files.Entry("stpubdata", f"bench/downloads/file_{n:02d}_drz.fits", local["drz"])
        for n in range(DOWNLOADS)
    ]
    aws_environment()
    print(
        f"serving {len(entries)} objects (latency {args.latency * 1000:.0f} ms, "
        f"bandwidth {args.bandwidth / MB:.0f} MB/s per request)",
        flush=True,
    )
    started = time.perf_counter()
    with S3Server(files.LocalManifest(entries), latency=args.latency, bandwidth=args.bandwidth) as server:
        os.environ["AWS_ENDPOINT_URL"] = server.url
        results = run_streaming(server, local, args.latency)
        results += run_downloads(server, local)
    results.append(run_cloud_uris(args.latency, args.bandwidth))
    print()
    print(report(results))
    print(f"\nbenchmark took {time.perf_counter() - started:.0f} s")
    written = write(
        results,
        args.out,
        {
            "latency_s": args.latency,
            "bandwidth_bytes_per_s": args.bandwidth,
            "quick": args.quick,
            "box": BOX,
            "python": platform.python_version(),
        },
    )
    print(f"results in {written.parent}" + ("" if args.quick else "; publish them with `make bench-publish`"))
    unmet = [r.scenario for r in results if r.met is False]
    if unmet:
        print("targets not met: " + "; ".join(unmet))
    return 0


if __name__ == "__main__":
    sys.exit(main())
