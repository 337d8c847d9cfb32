"""``roman-helpers index``, ``find`` and ``lightcurve`` against moto on 127.0.0.1.

The images are test_batch.py's epochs (a Gaussian star of known flux at TARGET in a SCI image
with a TAN WCS, an ERR image of 5 per pixel, one epoch whose image lies a degree away), given
here the band, start time, exposure time and detector that an index reads from headers.
Expectations come from what was written (EPOCHS, STAR_FLUX), from the client's request counts
(:func:`roman_helpers.transfer.measure`), or from astropy; never from the commands themselves.
"""

from __future__ import annotations

import io
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time

from roman_helpers import footprints
from roman_helpers.cli import main
from roman_helpers.transfer import measure
from tests.conftest import put_object
from tests.test_batch import EPOCHS, SHAPE, STAR_FLUX, fits_bytes

PREFIX = "s3://stpubdata/survey-cli/"
EXPTIME = 86.4  # seconds: t_end = t_start + 0.001 day
ON_TARGET = [name for name, epoch in EPOCHS.items() if epoch[0] is not None]  # in time order
PYTHON = [sys.executable, "-m", "roman_helpers"]


def epoch_bytes(name: str) -> bytes:
    """test_batch's epoch ``name`` with FILTER, MJD-OBS, EXPTIME and SCA_NUM in its SCI header."""
    seed = list(EPOCHS).index(name)
    position, with_err, band, mjd = EPOCHS[name]
    body, _sci, _err = fits_bytes(seed, position, with_err)
    with fits.open(io.BytesIO(body)) as hdul:
        hdul["SCI"].header.update({"FILTER": band, "MJD-OBS": mjd, "EXPTIME": EXPTIME, "SCA_NUM": seed + 1})
        out = io.BytesIO()
        hdul.writeto(out)
    return out.getvalue()


@pytest.fixture
def survey(buckets, s3_client) -> dict[str, str]:
    """The epochs (and a file that is not an image) under PREFIX; name -> URI."""
    for name in EPOCHS:
        put_object(s3_client, buckets["public"], f"survey-cli/{name}", epoch_bytes(name))
    put_object(s3_client, buckets["public"], "survey-cli/README.txt", b"not an image\n")
    return {name: PREFIX + name for name in EPOCHS}


@pytest.fixture
def folder(tmp_path) -> Path:
    """An empty folder for what the commands write (tmp_path also holds the test's credentials)."""
    (tmp_path / "out").mkdir()
    return tmp_path / "out"


@pytest.fixture
def index(survey, folder, capsys) -> Path:
    path = folder / "index.ecsv"
    assert main(["index", PREFIX, "-o", str(path)]) == 0
    capsys.readouterr()
    return path


def one_error_line(err: str) -> str:
    """The single line a failed command prints; fails the test if there is more."""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


# --------------------------------------------------------------------------- round trip


def test_index_then_find_then_lightcurve(survey, folder, capsys) -> None:
    path = folder / "index.ecsv"
    assert main(["index", PREFIX, "-o", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == (
        f"wrote {path}: 5 files; 5 read, 0 reused (unchanged), 0 failed, "
        "1 skipped (not images or not in the cloud)\n"
    )
    assert err == ""  # no progress bar off a terminal
    assert [p.name for p in folder.iterdir()] == ["index.ecsv"]  # no temporary file left

    # the URIs, in time order, for a decimal and a sexagesimal spelling of the target
    for where in (
        ["--target", "150.1 2.2"],
        ["--target", "10:00:24 +02:12:00"],
        ["--ra", "10h00m24s", "--dec", "+2d12m"],
    ):
        assert main(["find", str(path), *where, "--uris"]) == 0
        assert capsys.readouterr().out.splitlines() == [survey[name] for name in ON_TARGET], where

    assert main(["find", str(path), "--target", "150.1 2.2", "--long"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["uri", "band", "detector", "t_start", "x", "y"]
    rows = [line.split() for line in lines[2:]]
    assert [row[0] for row in rows] == [survey[name] for name in ON_TARGET]
    for row, name in zip(rows, ON_TARGET, strict=True):
        (x, y), _, band, mjd = EPOCHS[name]
        assert row[1:4] == [band, f"WFI{list(EPOCHS).index(name) + 1:02d}", f"{mjd:.5f}"]
        assert (float(row[4]), float(row[5])) == pytest.approx((x, y), abs=0.006)

    curve_path, plot_path = folder / "curve.ecsv", folder / "curve.png"
    with measure() as moved:
        assert (
            main(
                [
                    "lightcurve",
                    str(path),
                    "--target",
                    "150.1 2.2",
                    "--size",
                    "25",
                    "--radius",
                    "5",
                    "--annulus",
                    "7",
                    "11",
                    "-o",
                    str(curve_path),
                    "--plot",
                    str(plot_path),
                ]
            )
            == 0
        )
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[0] == f"files found: {len(ON_TARGET)}; ok: {len(ON_TARGET)}; failed: 0"
    assert out.splitlines()[1].startswith(f"moved {moved.bytes:,} bytes in {moved.requests} requests; ")
    assert moved.by_operation().get("GetObject", 0) > 0
    assert f"wrote {curve_path}: {len(ON_TARGET)} points" in out and f"wrote {plot_path}" in out

    curve = Table.read(curve_path, format="ascii.ecsv")
    assert list(curve["file"]) == [survey[name] for name in ON_TARGET]
    assert list(curve["band"]) == [EPOCHS[name][2] for name in ON_TARGET]
    assert list(curve["time"].mjd) == pytest.approx(
        [EPOCHS[n][3] + EXPTIME / 86400 / 2 for n in ON_TARGET], abs=1e-9
    )
    for row, name in zip(curve, ON_TARGET, strict=True):
        true_flux = STAR_FLUX[list(EPOCHS).index(name)]
        assert row["coverage"] == 1.0
        assert abs(row["flux"] - true_flux) < 3 * row["flux_err"], name
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # selections: bands (any case, several), and time by MJD or ISO date
    assert main(["find", str(path), "--target", "150.1 2.2", "--band", "f158", "F184", "--uris"]) == 0
    assert capsys.readouterr().out.split() == [survey["e01.fits"], survey["e03.fits"], survey["e05.fits"]]
    start = Time(60004.0, format="mjd").isot
    assert (
        main(["find", str(path), "--target", "150.1 2.2", "--start", start, "--end", "60012", "--uris"]) == 0
    )
    assert capsys.readouterr().out.split() == [survey["e02.fits"], survey["e03.fits"]]


def test_a_file_that_fails_is_listed_and_left_out(index, survey, s3_client, tmp_path, capsys) -> None:
    s3_client.delete_object(Bucket="stpubdata", Key="survey-cli/e03.fits")
    curve_path = tmp_path / "curve.ecsv"
    size = "2.75arcsec"  # 25 pixels of 0.11 arcsec
    command = ["lightcurve", str(index), "--target", "150.1 2.2", "--size", size]
    assert main([*command, "-o", str(curve_path)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == f"files found: {len(ON_TARGET)}; ok: {len(ON_TARGET) - 1}; failed: 1"
    assert err.startswith(f"failed: {survey['e03.fits']}: ObjectNotFoundError: ") and err.count("\n") == 1
    kept = [survey[name] for name in ON_TARGET if name != "e03.fits"]
    assert list(Table.read(curve_path, format="ascii.ecsv")["file"]) == kept

    # the curve exists now: not replaced without --overwrite
    assert main(["lightcurve", str(index), "--target", "150.1 2.2", "-o", str(curve_path)]) == 1
    assert "--overwrite" in one_error_line(capsys.readouterr().err)


def test_lightcurve_on_a_dask_cluster_by_address(index, survey, capsys) -> None:
    from distributed import LocalCluster

    threads, on_dask = index.parent / "threads.ecsv", index.parent / "dask.ecsv"
    common = ["lightcurve", str(index), "--target", "150.1 2.2", "--size", "25", "--radius", "5"]
    assert main([*common, "--annulus", "7", "11", "-o", str(threads)]) == 0
    capsys.readouterr()
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=False,
            protocol="tcp",
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        measure() as moved,
    ):
        address = cluster.scheduler_address
        assert main([*common, "--annulus", "7", "11", "-o", str(on_dask), "--scheduler", address]) == 0
    out = capsys.readouterr().out
    assert f"ok: {len(ON_TARGET)}; failed: 0" in out
    assert f"moved {moved.bytes:,} bytes in {moved.requests} requests; " in out and f"on {address}" in out
    expected, got = Table.read(threads, format="ascii.ecsv"), Table.read(on_dask, format="ascii.ecsv")
    assert list(got["file"]) == [survey[name] for name in ON_TARGET]
    for name in ("flux", "flux_err", "x", "y"):
        assert list(got[name]) == pytest.approx(list(expected[name]), rel=1e-12), name  # same pixels


def test_parquet_index(survey, tmp_path, capsys) -> None:
    path = tmp_path / "index.parquet"
    assert main(["index", PREFIX, "-o", str(path)]) == 0
    assert path.read_bytes()[:4] == b"PAR1"
    capsys.readouterr()
    assert main(["find", str(path), "--target", "150.1 2.2", "--uris"]) == 0
    assert capsys.readouterr().out.split() == [survey[name] for name in ON_TARGET]


# --------------------------------------------------------------------------- index sources and updates


def test_update_reads_only_what_changed(index, survey, s3_client, capsys) -> None:
    first = footprints.load_index(index)
    with measure() as cost:
        assert main(["index", PREFIX, "-o", str(index), "--update"]) == 0
    assert "GetObject" not in cost.by_operation() and "HeadObject" not in cost.by_operation()
    assert "5 files; 0 read, 5 reused (unchanged), 0 failed" in capsys.readouterr().out
    again = footprints.load_index(index)
    assert list(again["uri"]) == list(first["uri"]) and list(again["etag"]) == list(first["etag"])

    with fits.open(io.BytesIO(epoch_bytes("e02.fits"))) as hdul:  # one file changes band
        hdul["SCI"].header["FILTER"] = "F129"
        changed = io.BytesIO()
        hdul.writeto(changed)
    put_object(s3_client, "stpubdata", "survey-cli/e02.fits", changed.getvalue())
    with measure() as cost:
        assert main(["index", PREFIX, "-o", str(index), "--update"]) == 0
    assert "5 files; 1 read, 4 reused (unchanged)" in capsys.readouterr().out
    assert cost.by_operation().get("GetObject", 0) > 0
    assert main(["find", str(index), "--target", "150.1 2.2", "--band", "F129", "--uris"]) == 0
    assert capsys.readouterr().out.split() == [survey["e02.fits"]]

    # an existing index is neither rebuilt nor replaced unless asked
    assert main(["index", PREFIX, "-o", str(index)]) == 1
    err = one_error_line(capsys.readouterr().err)
    assert "--update" in err and "--overwrite" in err


def test_uris_from_standard_input_or_a_file(survey, tmp_path, monkeypatch, capsys) -> None:
    listing = f"# two epochs and a note\n{survey['e05.fits']}\n\n  {survey['e01.fits']}\n{PREFIX}README.txt\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(listing))
    assert main(["index", "-", "-o", str(tmp_path / "stdin.ecsv"), "--update"]) == 0  # none yet: a new one
    out, err = capsys.readouterr()
    assert "2 files; 2 read, 0 reused (unchanged), 0 failed, 1 skipped" in out
    assert err == f"no index at {tmp_path / 'stdin.ecsv'} yet: building a new one\n"
    assert list(footprints.load_index(tmp_path / "stdin.ecsv")["uri"]) == [
        survey["e05.fits"],
        survey["e01.fits"],
    ]
    (tmp_path / "uris.txt").write_text(listing)
    assert main(["index", str(tmp_path / "uris.txt"), "-o", str(tmp_path / "file.ecsv")]) == 0
    assert list(footprints.load_index(tmp_path / "file.ecsv")["uri"]) == [
        survey["e05.fits"],
        survey["e01.fits"],
    ]
    capsys.readouterr()

    monkeypatch.setattr(sys, "stdin", io.StringIO("\n# nothing\n"))
    assert main(["index", "-", "-o", str(tmp_path / "none.ecsv")]) == 1
    assert "No URIs came on standard input" in one_error_line(capsys.readouterr().err)
    assert main(["index", str(tmp_path / "absent.txt"), "-o", str(tmp_path / "none.ecsv")]) == 1
    assert "SOURCE is an s3:// prefix, '-'" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "none.ecsv").exists()


def test_find_piped_into_index_between_processes(index, survey, tmp_path) -> None:
    piped = tmp_path / "f158.ecsv"
    finder = shlex.join(
        [*PYTHON, "find", str(index), "--target", "10:00:24 +02:12:00", "--band", "F158", "--uris"]
    )
    indexer = shlex.join([*PYTHON, "index", "-", "-o", str(piped)])
    done = subprocess.run(
        f"{finder} | {indexer}", shell=True, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"wrote {piped}: 2 files; 2 read, 0 reused (unchanged), 0 failed, "
        "0 skipped (not images or not in the cloud)\n"
    )
    assert list(footprints.load_index(piped)["uri"]) == [survey["e01.fits"], survey["e03.fits"]]


def test_find_into_a_reader_that_stopped_is_not_an_error(index) -> None:
    # the reading end is closed before find writes, as when `| head -1` has its line: the write
    # fails with a broken pipe at once, every time
    code = f"""
import os, sys
from roman_helpers.cli import main
read, write = os.pipe()
os.close(read)
os.dup2(write, sys.stdout.fileno())
sys.exit(main(["find", {str(index)!r}, "--target", "150.1 2.2"]))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")


def test_a_failed_write_leaves_the_old_index(index, monkeypatch, capsys) -> None:
    before = index.read_bytes()

    def half_then_fail(table, path, **options):  # the disk fills up halfway through writing the index
        Path(path).write_bytes(before[: len(before) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Table, "write", half_then_fail)
    assert main(["index", PREFIX, "-o", str(index), "--overwrite"]) == 1
    assert "No space left on device" in one_error_line(capsys.readouterr().err)
    assert index.read_bytes() == before
    assert [p.name for p in index.parent.iterdir()] == [index.name]


# --------------------------------------------------------------------------- mistakes


@pytest.mark.parametrize(
    ("arguments", "status", "message"),
    [
        (
            ["--target", "150.1 2.2", "--band", "F999"],
            1,
            "invalid --band 'F999'; valid values are: F087, F158, F184",
        ),
        # options that cannot be read: exit 2, as for cutout
        (["--target", "banana split"], 2, "invalid --target 'banana split'. object names are not looked up"),
        (["--target", "150.1 2.2 7"], 2, "invalid --target '150.1 2.2 7'. give RA and Dec"),
        (["--ra", "150.1", "--dec", "95"], 2, "invalid --dec '95'. a declination lies between -90 and +90"),
        (["--target", "150.1 2.2", "--start", "yesterday"], 2, "invalid --start 'yesterday'. give an MJD"),
        (
            ["--target", "150.1 2.2", "--radius", "30"],
            2,
            "invalid --radius '30'. give an angle with its unit",
        ),
        (["--target", "150.1 2.2", "--ra", "150.1"], 2, "give either --target or --ra and --dec, not both"),
        (["--ra", "150.1"], 2, "give --target 'RA DEC', or --ra and --dec"),
    ],
)
def test_bad_find_arguments(index, capsys, arguments, status, message) -> None:
    assert main(["find", str(index), *arguments]) == status
    out, err = capsys.readouterr()
    assert out == "" and one_error_line(err).startswith(f"error: {message}")


@pytest.mark.parametrize(
    ("arguments", "status", "message"),
    [
        (
            ["--radius", "5", "--annulus", "4", "10"],
            2,
            "invalid --annulus '4 10'. need 0 < --radius <= r_in < r_out (the annulus lies outside",
        ),
        (["--size", "0"], 2, "invalid --size '0'. a size must be positive"),
        (["--size", "wide"], 2, "invalid --size 'wide'"),
        (["--plot", "curve.gif"], 1, "invalid --plot"),
    ],
)
def test_bad_lightcurve_arguments(index, capsys, arguments, status, message) -> None:
    curve = index.parent / "curve.ecsv"
    assert main(["lightcurve", str(index), "--target", "150.1 2.2", "-o", str(curve), *arguments]) == status
    out, err = capsys.readouterr()
    assert out == "" and one_error_line(err).startswith(f"error: {message}") and not curve.exists()


def test_what_is_not_an_index(tmp_path, capsys) -> None:
    Table({"ra": [1.0], "dec": [2.0]}).write(tmp_path / "catalogue.ecsv")
    (tmp_path / "notes.txt").write_text("hello\n")
    for name, message in (
        ("catalogue.ecsv", "is not a footprint index: it lacks the columns uri"),
        ("missing.ecsv", "no index at"),
        ("notes.txt", "invalid path"),
    ):
        assert main(["find", str(tmp_path / name), "--target", "150.1 2.2"]) == 1
        assert message in one_error_line(capsys.readouterr().err), name
    assert main(["index", PREFIX, "-o", str(tmp_path / "index.csv")]) == 1
    assert "valid values are: .ecsv, .parquet" in one_error_line(capsys.readouterr().err)


def test_a_position_outside_every_footprint(index, survey, tmp_path, capsys) -> None:
    north = f"150.1 {2.2 + 20 / 3600:.10f}"  # 20 arcsec north of the star, off every image
    # find: nothing on standard output, the reason on standard error, exit 0 (a pipe has nothing to do)
    assert main(["find", str(index), "--target", north, "--uris"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    # nearest: the image whose top edge (row SHAPE[0] - 0.5, north up, 0.11 arcsec rows) reaches
    # furthest north of the star
    reach = {name: (SHAPE[0] - 0.5 - EPOCHS[name][0][1]) * 0.11 for name in ON_TARGET}
    nearest = max(reach, key=reach.get)
    assert err == (
        f"no file in the index holds ra=150.100000 dec=2.205556; the nearest footprint is "
        f"{20 - reach[nearest]:.1f} arcsec away ({survey[nearest]}); widen the search "
        "with --radius\n"
    )
    for radius in ("30arcsec", "0.5arcmin", "0.01deg"):
        assert main(["find", str(index), "--target", north, "--radius", radius, "--uris"]) == 0
        assert capsys.readouterr().out.split() == [survey[name] for name in ON_TARGET], radius
    # lightcurve: nothing to measure is an error, and nothing is written
    assert main(["lightcurve", str(index), "--target", north, "-o", str(tmp_path / "c.ecsv")]) == 1
    assert "the nearest footprint is" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "c.ecsv").exists()


def test_a_dead_scheduler_is_one_line_within_the_time_limit(index, tmp_path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = subprocess.run(
        [
            *PYTHON,
            "lightcurve",
            str(index),
            "--target",
            "150.1 2.2",
            "-o",
            str(tmp_path / "c.ecsv"),
            "--scheduler",
            f"tcp://127.0.0.1:{port}",
            "--timeout",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1 and done.stdout == ""
    err = one_error_line(done.stderr)
    assert err.startswith(
        f"error: invalid --scheduler 'tcp://127.0.0.1:{port}'. no Dask scheduler answered there within 1 s"
    )
    assert not (tmp_path / "c.ecsv").exists()


def test_plot_without_matplotlib_names_the_extra(tmp_path) -> None:
    code = f"""
import sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "matplotlib":
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, Refuse())
from roman_helpers.cli import main
sys.exit(main(["lightcurve", "index.ecsv", "--target", "150.1 2.2", "-o", {str(tmp_path / "c.ecsv")!r},
               "--plot", {str(tmp_path / "c.png")!r}]))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 1
    err = one_error_line(done.stderr)
    assert "--plot needs the notebooks extra" in err and 'pip install "roman-helpers[notebooks]"' in err


def test_help_shows_the_survey_examples(capsys) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for verb in ("index", "find", "lightcurve"):
        assert f"\n  roman-helpers {verb} " in out


def test_an_index_of_tds_files_skips_the_observation_sequence_with_a_note(tds_index) -> None:
    """Among the images a FITS table (the TDS observation sequence): read, skipped with a note, not failed."""
    from _tds_transient import OBSEQ_URI, indexed

    images = [image.uri for image in indexed()]  # the sandbox's own list: .fits.gz images of its layout
    assert tds_index.sources == [*images, OBSEQ_URI] and len(images) >= 20
    assert tds_index.status == 0
    assert tds_index.out == (
        f"wrote {tds_index.path}: {len(images) + 1} files; {len(images) + 1} read, 0 reused (unchanged), "
        "0 failed, 1 skipped (not images or not in the cloud)\n"
    )
    [note] = tds_index.err.splitlines()
    assert note.startswith(f"skipped: {OBSEQ_URI}: not an image") and "table" in note
    rows = footprints.load_index(tds_index.path)  # the table keeps its row, marked, so --update skips it
    assert sorted(rows["uri"]) == sorted([*images, OBSEQ_URI])
    assert [str(uri) for uri, error in zip(rows["uri"], rows["error"], strict=True) if error] == [OBSEQ_URI]
    assert rows["error"][list(rows["uri"]).index(OBSEQ_URI)].startswith("not an image: ")


def test_index_files_that_are_not_indexes_are_one_line(tmp_path, capsys) -> None:
    from tests.test_footprints import _not_indexes

    for name, (path, said) in _not_indexes(tmp_path).items():
        assert main(["find", str(path), "--target", "150 2"]) == 1, name
        out, err = capsys.readouterr()
        assert out == "" and said in one_error_line(err), name
