"""Many targets, each file read once: ``stream.stamps``, ``footprints.find_many``,
``catalog_photometry.light_curves`` and ``roman-helpers lightcurve --targets``, against the sandbox.

The files are full-size: four Roman tutorial exposures (``_cal.asdf``, lz4-compressed 4088 x 4088
arrays) and the mosaic that the kit's doctests also read, and a few OpenUniverse TDS ``.fits.gz``
images. The targets are placed on a grid of pixels of one exposure with astropy's WCS from the
index. Expectations come from the one-target path of the kit (``stream.cutouts`` and
``photometry.light_curve_from_index``, which cut one region per file), and from the client's
own request counts (:func:`roman_helpers.transfer.measure`); never from the code under test.
"""

from __future__ import annotations

import contextlib
import io
import re
import threading
import warnings

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table

from roman_helpers import footprints, stream
from roman_helpers.catalog_photometry import light_curves
from roman_helpers.cli import main
from roman_helpers.errors import InvalidParameterError, ObjectNotFoundError
from roman_helpers.photometry import light_curve_from_index
from roman_helpers.transfer import measure
from tests.conftest import sandbox_environment
from tests.test_batch import _abandoned_attempts_finish

TUTORIAL = "s3://stpubdata/roman/nexus/soc_simulations/tutorial_data/roman-2026.2/"
#: The four dithered exposures of one detector and the mosaic over them (those the doctests read).
FILES = [f"{TUTORIAL}r0003201001001001004_000{n}_wfi11_f106_cal.asdf" for n in range(1, 5)] + [
    f"{TUTORIAL}my_roman_mosaic_coadd.asdf"
]
#: Pixels of the first exposure where the targets are put: 12 targets spread over the detector.
GRID = [(x, y) for x in (300.0, 1500.0, 2700.0, 3800.0) for y in (400.0, 2000.0, 3600.0)]
FAR = ("far", 10.0, -44.0)  # on no file of the index
SIZE = 31  # the default stamp: 2 * ceil(14) + 3


@pytest.fixture(scope="module")
def field(sandbox) -> tuple[Table, Table]:
    """The index of FILES, and a catalog of the GRID's targets and one target far from them all."""
    with sandbox_environment(sandbox):
        index = footprints.build_index(FILES, progress=False)
    first = index[index["uri"] == FILES[0]][0]
    sky = footprints.row_wcs(first).pixel_to_world([x for x, _ in GRID], [y for _, y in GRID])
    catalog = Table(
        {
            "id": [f"t{n:02d}" for n in range(len(GRID))] + [FAR[0]],
            "ra": [*sky.ra.deg, FAR[1]],
            "dec": [*sky.dec.deg, FAR[2]],
        }
    )
    return index, catalog


@pytest.fixture(scope="module")
def runs(sandbox, field) -> dict:
    """The many-target run and, for each target, the one-target light curve, with their transfers."""
    index, catalog = field
    with sandbox_environment(sandbox):
        with measure() as many_stats:
            table = light_curves(index, catalog, band="F106", progress=False)
        singles = {}
        for row in catalog[:-1]:
            with measure() as stats:
                curve = light_curve_from_index(
                    index, f"{row['ra']} {row['dec']}", band="F106", progress=False
                )
            singles[str(row["id"])] = (curve, stats)
    return {"table": table, "stats": many_stats, "singles": singles}


def tree_reads(stats) -> int:
    """Reads from a file's first byte: one per file opened (an ASDF tree, a FITS primary header).

    Only answered reads count: an attempt that timed out before an answer (status 0; the sandbox
    making a file's first rows on a cold cache, several files at once) is tried again, the same read.
    """
    return sum(1 for record in stats.records if record.status and (record.range or "").startswith("bytes=0-"))


def test_every_target_measures_as_its_own_light_curve(runs) -> None:
    table = runs["table"]
    assert sorted(set(table["target"])) == sorted(runs["singles"])
    for target, (curve, _stats) in runs["singles"].items():
        mine = table[table["target"] == target]
        assert len(mine) == len(curve) >= 1, target
        by_file = {str(row["file"]): row for row in mine}
        assert set(by_file) == {str(uri) for uri in curve["file"]}
        for row in curve:
            other = by_file[str(row["file"])]
            for name in ("flux", "flux_err", "background", "coverage", "x", "y"):
                assert other[name] == pytest.approx(row[name], rel=1e-12, abs=1e-12, nan_ok=True), (
                    target,
                    name,
                )
            for name in ("zeropoint", "mag", "mag_err"):  # as one target's curve gives them
                assert (name in table.colnames) == (name in curve.colnames)
                if name in curve.colnames:
                    assert float(np.asarray(other[name])) == pytest.approx(
                        float(np.asarray(row[name])), rel=1e-12, nan_ok=True
                    )
            if "unit" in curve.colnames:
                assert other["unit"] == row["unit"]
            assert float(other["time"].mjd) == pytest.approx(float(row["time"].mjd), abs=1e-9)
            assert other["band"] == row["band"] and other["detector"] == row["detector"]
    assert {"zeropoint", "mag", "unit"} <= set(table.colnames)  # exposures in DN/s beside a mosaic in MJy/sr
    # grouped, they are the per-target curves
    assert len(table.group_by("target").groups) == len(runs["singles"])


def test_each_file_is_read_once_for_all_its_targets(runs) -> None:
    table, stats, singles = runs["table"], runs["stats"], runs["singles"]
    files = len(set(table["file"]))
    assert table.meta["files"] == files == len(FILES)
    assert tree_reads(stats) == files  # each file opened once ...
    single_reads = sum(tree_reads(s) for _, s in singles.values())
    assert single_reads == len(table)  # ... where one target at a time opens it once per target on it
    single_requests = sum(s.requests for _, s in singles.values())
    single_bytes = sum(s.bytes for _, s in singles.values())
    assert stats.requests * 4 < single_requests
    assert stats.bytes * 1.5 < single_bytes  # 4 MB lz4 chunks of ~250 rows: targets share few
    # the kit's own count is the client's
    assert table.meta["transfer"]["requests"] == stats.requests
    assert table.meta["transfer"]["bytes"] == stats.bytes
    print(
        f"\n{len(singles)} targets x {files} files: at once {stats.requests} requests, "
        f"{stats.bytes:,} bytes; one target at a time {single_requests} requests, {single_bytes:,} bytes"
    )


def _intervals(stats, size: int) -> set[tuple[int, int]]:
    """The byte ranges the records fetched, as half-open intervals (a suffix range from the end)."""
    found = set()
    for record in stats.records:
        first, _, last = (record.range or "").removeprefix("bytes=").partition("-")
        if not first:  # bytes=-N: the last N bytes
            found.add((size - int(last), size))
        elif record.bytes:
            found.add((int(first), int(first) + record.bytes))
    return found


def _union(intervals) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def twice(stats, size: int) -> int:
    """Bytes fetched more than once by the reads of ``stats`` (of one file of ``size`` bytes)."""
    return stats.bytes - sum(end - start for start, end in _union(_intervals(stats, size)))


def test_stamps_fetch_the_union_of_what_each_target_needs(sandbox_env, field) -> None:
    """Per file: the same pixels as one cut-out per target, and exactly the bytes their reads cover."""
    index, catalog = field
    positions = SkyCoord(catalog["ra"], catalog["dec"], unit="deg")
    found = footprints.find_many(index, positions, band="F106")
    for uri in FILES[:2]:  # two exposures: enough for the rule, and quick
        on_file = [int(t) for t in found["target"][found["uri"] == uri]]
        assert len(on_file) >= 3
        size = int(index["size"][index["uri"] == uri][0])
        with measure() as many:
            stamps = stream.stamps(uri, positions[on_file], SIZE, arrays=[None, "err"])
        singles = []
        for target, stamp in zip(on_file, stamps, strict=True):
            with measure() as one:
                cuts = stream.cutouts(uri, position=positions[target], size=SIZE, arrays=[None, "err"])
            singles.append(one)
            for name in ("data", "err"):
                assert np.array_equal(stamp[name].data, cuts[name].data)
                assert stamp[name].bbox_original == cuts[name].bbox_original
        floor = _union(set().union(*(_intervals(one, size) for one in singles)))
        assert _union(_intervals(many, size)) == floor  # no byte outside the union, none missing
        assert tree_reads(many) == 1

        # Each byte once, but where one read ends inside the next, as in every one-target read too:
        # the tree read's tail in the first chunk, a chunk's header read before its payload.
        assert twice(many, size) <= max(twice(one, size) for one in singles) + 8 * many.requests
        assert many.requests < sum(one.requests for one in singles)


def test_a_gzipped_image_is_read_once_to_the_last_row_needed(sandbox_env) -> None:
    """``.fits.gz``: one pass of the stream for all stamps, no further than the furthest one's own read."""
    from _tds_transient import BAND, holding

    image = holding(BAND)[0]
    pixels = [(image.x, image.y), (600.0, 500.0), (3000.0, 1200.0), (2000.0, 2600.0)]
    with measure() as many:
        stamps = stream.stamps(image.uri, pixels=pixels, size=15)
    singles = []
    for pixel, stamp in zip(pixels, stamps, strict=True):
        with measure() as one:
            cuts = stream.cutouts(image.uri, pixel=pixel, size=15)
        singles.append(one)
        assert list(stamp) == list(cuts)
        for name in cuts:
            assert np.array_equal(stamp[name].data, cuts[name].data)
    assert tree_reads(many) == 1
    furthest = max(singles, key=lambda one: one.bytes)
    assert many.bytes == furthest.bytes  # the compressed prefix through the last row any stamp needs
    assert many.requests == furthest.requests
    assert sum(one.bytes for one in singles) > 2 * many.bytes


def test_a_target_on_no_file_is_reported(runs) -> None:
    table = runs["table"]
    assert table.meta["not_covered"] == [FAR[0]]
    assert FAR[0] not in set(table["target"])
    assert table.meta["targets"] == len(GRID) + 1
    assert table.meta["failed"] == []


def test_no_target_on_any_file_is_an_error(sandbox_env, field) -> None:
    index, _catalog = field
    from roman_helpers.errors import ObjectNotFoundError

    with pytest.raises(ObjectNotFoundError, match="none of the 1 targets"):
        light_curves(index, Table({"ra": [FAR[1]], "dec": [FAR[2]]}), progress=False)


def test_a_catalog_without_positions_says_what_it_needs(field, tmp_path) -> None:
    from roman_helpers.errors import InvalidParameterError

    index, _catalog = field
    with pytest.raises(InvalidParameterError, match="'ra' and 'dec'"):
        light_curves(index, Table({"x": [1.0], "y": [2.0]}), progress=False)
    with pytest.raises(InvalidParameterError, match="no such file"):
        light_curves(index, tmp_path / "missing.ecsv", progress=False)


def test_the_command_writes_the_table(sandbox_env, field, runs, tmp_path) -> None:
    index, catalog = field
    index_path, catalog_path, out = (
        tmp_path / "index.ecsv",
        tmp_path / "targets.ecsv",
        tmp_path / "curves.ecsv",
    )
    footprints.save_index(index, index_path)
    catalog.write(catalog_path, format="ascii.ecsv")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(
            ["lightcurve", str(index_path), "--targets", str(catalog_path), "--band", "F106", "-o", str(out)]
        )
    assert status == 0, stderr.getvalue()
    written = Table.read(out, format="ascii.ecsv")
    expected = runs["table"]
    assert len(written) == len(expected)
    assert list(written["target"]) == list(expected["target"])
    assert np.allclose(written["flux"], expected["flux"], equal_nan=True)
    assert written.meta["not_covered"] == [FAR[0]]
    summary = stdout.getvalue().strip().splitlines()[-1]
    assert re.match(
        rf"wrote {re.escape(str(out))}: {len(expected)} points of {len(GRID)} of {len(GRID) + 1} targets "
        rf"\(1 on no file\) from {len(FILES)} files, 0 failed; moved [\d,]+ bytes in \d+ requests$",
        summary,
    ), summary
    # one target and --targets together is a usage error, before any work
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(
            [
                "lightcurve",
                str(index_path),
                "--targets",
                str(catalog_path),
                "--target",
                "270.8 -0.29",
                "-o",
                str(tmp_path / "x.ecsv"),
            ]
        )
    assert status == 2 and "--targets" in stderr.getvalue()


def test_find_many_places_each_target_as_find_does(sandbox_env, field) -> None:
    index, catalog = field
    positions = SkyCoord(catalog["ra"], catalog["dec"], unit="deg")
    found = footprints.find_many(index, positions, band="F106")
    for target, position in enumerate(positions):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the far target: nothing found, said in a warning
            alone = footprints.find(index, position, band="F106")
        mine = found[found["target"] == target]
        assert list(mine["uri"]) == list(alone["uri"])
        assert np.allclose(mine["x"], alone["x"], atol=1e-6) and np.allclose(mine["y"], alone["y"], atol=1e-6)


def test_a_file_that_fails_is_listed_and_the_others_measured(sandbox_env, field, runs) -> None:
    index, catalog = field
    broken = index.copy()
    missing = FILES[1].replace("_0002_", "_0009_")  # no such object
    broken["uri"][broken["uri"] == FILES[1]] = missing
    table = light_curves(broken, catalog, band="F106", progress=False, retries=0)
    assert len(table.meta["failed"]) == 1 and table.meta["failed"][0].startswith(
        f"{missing}: ObjectNotFoundError"
    )
    expected = runs["table"][runs["table"]["file"] != FILES[1]]
    assert list(table["file"]) == list(expected["file"])
    assert np.array_equal(table["flux"], expected["flux"], equal_nan=True)


def test_a_dask_cluster_gives_what_threads_give(sandbox_env, field, runs) -> None:
    from distributed import Client, LocalCluster

    index, catalog = field
    chosen = catalog[:3]
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            protocol="tcp",
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
        measure() as stats,
    ):
        table = light_curves(index, chosen, band="F106", client=client, progress=False)
    expected = runs["table"][np.isin(runs["table"]["target"], list(chosen["id"]))]
    assert list(table["file"]) == list(expected["file"])
    assert np.array_equal(table["flux"], expected["flux"], equal_nan=True)
    assert table.meta["transfer"]["backend"].startswith("tcp://127.0.0.1")
    assert tree_reads(stats) == table.meta["files"]


def test_ctrl_c_keeps_the_files_measured(sandbox_env, field, runs, monkeypatch, interruptible) -> None:
    """Ctrl-C once the first file is measured: the table of the files done comes with the exception."""
    import _thread

    from roman_helpers import catalog_photometry
    from roman_helpers.errors import Interrupted

    index, catalog = field
    measure_file = catalog_photometry._measure_file
    pressed = threading.Event()

    def then_ctrl_c(uri: str, **kwargs) -> list:
        measured = measure_file(uri, **kwargs)
        if not pressed.is_set():  # once: as a terminal's Ctrl-C, after the first file is measured
            pressed.set()
            _thread.interrupt_main()
        return measured

    monkeypatch.setattr(catalog_photometry, "_measure_file", then_ctrl_c)
    try:
        with pytest.raises(Interrupted) as stopped:
            light_curves(index, catalog, band="F106", max_workers=1, progress=False)
    finally:  # a file under way when Ctrl-C came ends by itself: not in the next test's counts
        _abandoned_attempts_finish()
    partial = stopped.value.partial
    assert 1 <= stopped.value.done < len(FILES) and stopped.value.total == len(FILES)
    assert partial.meta["interrupted"] == f"after {stopped.value.done} of {len(FILES)} files"
    done = set(partial["file"])
    assert len(done) == stopped.value.done
    expected = runs["table"][np.isin(runs["table"]["file"], list(done))]
    assert list(partial["target"]) == list(expected["target"])
    assert np.array_equal(partial["flux"], expected["flux"], equal_nan=True)


def test_an_uncompressed_fits_image_gives_each_byte_once(sandbox_env) -> None:
    """Plain FITS: the rows of all stamps in one batch of ranges, touching rows merged, none twice."""
    uri = "s3://stpubdata/hst/public/ib1f/ib1f01010/ib1f01010_drz.fits"  # SCI, WHT, CTX of 1014 x 1014
    pixels = [(100.0, 120.0), (110.0, 125.0), (600.0, 500.0), (900.0, 880.0)]  # the first two overlap
    with measure() as many:
        stamps = stream.stamps(uri, pixels=pixels, size=21)
    singles = []
    for pixel, stamp in zip(pixels, stamps, strict=True):
        with measure() as one:
            cuts = stream.cutouts(uri, pixel=pixel, size=21)
        singles.append(one)
        assert list(stamp) == list(cuts)
        for name in cuts:
            assert np.array_equal(stamp[name].data, cuts[name].data)
    floor = _union(set().union(*(_intervals(one, 0) for one in singles)))
    assert _union(_intervals(many, 0)) == floor
    # no pixel fetched twice: only the header walk's own overlapping reads, as in each one-stamp read
    assert twice(many, 0) == twice(singles[0], 0)
    assert many.bytes < sum(one.bytes for one in singles)
    assert many.requests < sum(one.requests for one in singles)


def test_a_truth_catalog_in_a_bucket_is_read_in_place_its_positions_only(sandbox_env) -> None:
    import hpgeom
    import pyarrow.parquet as pq
    import s3fs

    from roman_helpers.catalog_photometry import read_catalog
    from roman_helpers.sandbox.sky.surveys import tds

    cell = int(hpgeom.angle_to_pixel(32, *tds.FIELD, nest=False, lonlat=True))
    uri = f"s3://nasa-irsa-simulations/openuniverse2024/roman/full/roman_rubin_cats_v1.1.2_faint/snana_{cell}.parquet"
    with measure() as cost:
        ids, positions = read_catalog(uri)
    fs = s3fs.S3FileSystem(anon=True, skip_instance_cache=True)  # the whole file, by another client
    with fs.open(uri) as handle:
        whole = pq.read_table(handle)
    assert len(whole.column_names) > 3 and whole.num_rows > 100
    assert ids == whole.column("id").to_pylist()
    assert np.array_equal(positions.ra.deg, whole.column("ra").to_numpy())
    assert np.array_equal(positions.dec.deg, whole.column("dec").to_numpy())
    assert 0 < cost.bytes < fs.size(uri) / 2  # the footer and three columns, not the file
    with pytest.raises(InvalidParameterError, match="read as Parquet"):
        read_catalog(uri.replace(".parquet", ".ecsv"))
    with pytest.raises(ObjectNotFoundError):
        read_catalog(uri.replace(f"snana_{cell}", "snana_1"))


def test_difference_photometry_of_many_targets_is_each_targets_own(sandbox_env, field, tmp_path) -> None:
    """Each target's epochs measured together, as its own light curve measures them, windows per target."""
    from astropy.time import Time

    index, catalog = field
    found = footprints.find(index, SkyCoord(catalog["ra"][0], catalog["dec"][0], unit="deg"), band="F106")
    starts = sorted(float(t) for t in found["t_start"])
    # two targets, each with its own window: one epoch of each "shining", the others its reference
    chosen = catalog[[0, 5]]
    chosen["start_mjd"] = [starts[1] - 1e-4, starts[2] - 1e-4]
    chosen["end_mjd"] = [starts[1] + 1e-4, starts[2] + 1e-4]
    table = light_curves(index, chosen, band="F106", method="difference", progress=False)
    assert table.meta["method"] == "difference"
    for row in chosen:
        window = tuple(Time([row["start_mjd"], row["end_mjd"]], format="mjd").isot)
        curve = light_curve_from_index(
            index,
            f"{row['ra']} {row['dec']}",
            band="F106",
            method="difference",
            reference_window=window,
            progress=False,
        )
        mine = table[table["target"] == row["id"]]
        assert len(mine) == len(curve) >= 3
        assert np.isfinite(np.asarray(mine["flux"], dtype=float)).sum() >= 3  # measured, not all NaN
        by_file = {str(r["file"]): r for r in mine}
        for point in curve:
            other = by_file[str(point["file"])]
            for name in ("flux", "flux_err", "background", "coverage"):
                assert float(np.asarray(other[name])) == pytest.approx(
                    float(np.asarray(point[name])), rel=1e-9, abs=1e-12, nan_ok=True
                ), (row["id"], name)
    with pytest.raises(InvalidParameterError, match="start_mjd and end_mjd"):
        light_curves(index, catalog, band="F106", method="difference", progress=False)
    # the command: the same table from the catalog's windows
    index_path, catalog_path, out = tmp_path / "index.ecsv", tmp_path / "sn.ecsv", tmp_path / "diff.ecsv"
    footprints.save_index(index, index_path)
    chosen.write(catalog_path, format="ascii.ecsv")
    arguments = ["lightcurve", str(index_path), "--targets", str(catalog_path), "--band", "F106"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*arguments, "--method", "difference", "-o", str(out)]) == 0
    written = Table.read(out, format="ascii.ecsv")
    assert list(written["file"]) == list(table["file"])
    assert np.allclose(written["flux"], np.asarray(table["flux"]), equal_nan=True)
