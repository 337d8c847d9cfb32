"""``roman-helpers`` as a person at a shell uses it: ``get`` of prefixes and of URIs on standard
input, bare URIs from ``ls --uris`` for a pipe, a quiet stop when the reader of a pipe closes,
progress bars only on a terminal, one default for download workers, an unreachable endpoint or
a mistyped bucket said in one line with what to do, fast. And ``make bench``: a run writes under
``build/`` only; publishing to the book is a step of its own.

S3 is the moto server of conftest.py on 127.0.0.1; the unreachable endpoint is a closed port on
127.0.0.1. Commands whose pipes matter run as subprocesses (they inherit the test's environment).
"""

from __future__ import annotations

import fcntl
import importlib.util
import itertools
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
import s3fs
from astropy.io import fits

from roman_helpers import _s3, cli, config, transfer
from roman_helpers.download import download
from tests.conftest import PRIVATE_BUCKET, put_object
from tests.test_s3 import closed_port

ROOT = Path(__file__).resolve().parents[1]
HINT = "Start the offline sandbox (`roman-helpers sandbox run -- COMMAND`) or run on the Roman Research Nexus"
TREE = {
    "t/pre/a.fits": b"a" * 10,
    "t/pre/sub/b.fits": b"b" * 20,
    "t/pre/sub/deep/c.fits": b"c" * 30,
    "t/other/x.bin": b"x" * 5,
}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "roman_helpers.cli", *args]


def environment() -> dict[str, str]:
    """This process's environment (the test's S3 endpoint), importing this checkout's package."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        command(*args), input=stdin, capture_output=True, text=True, timeout=120, env=environment()
    )


def files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def tree(buckets, s3_client) -> dict[str, bytes]:
    for key, body in TREE.items():
        put_object(s3_client, "stpubdata", key, body)
    return TREE


@pytest.fixture
def nowhere(moto_endpoint, monkeypatch) -> str:
    """AWS_ENDPOINT_URL names a port on 127.0.0.1 that nothing listens on."""
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    s3fs.S3FileSystem.clear_instance_cache()
    return endpoint


# --------------------------------------------------------------------------- get: prefixes and standard input


def test_get_a_prefix_fetches_everything_below_it_in_its_layout(tree, tmp_path, capsys):
    tmp_path /= "data"
    assert cli.main(["get", "s3://stpubdata/t/pre/", "-d", str(tmp_path), "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "s3://stpubdata/t/pre/: 3 objects, 60 bytes"  # said before anything is fetched
    assert [line.split()[0] for line in lines[1:4]] == ["downloaded"] * 3
    assert lines[-1] == "3 downloaded, 0 skipped, 0 failed; 60 bytes received"
    assert files(tmp_path) == {key: body for key, body in TREE.items() if key.startswith("t/pre/")}


def test_get_a_prefix_with_nothing_below_fetches_nothing(buckets, tmp_path, capsys):
    assert cli.main(["get", "s3://stpubdata/t/none/", "-d", str(tmp_path / "data")]) == 1
    assert capsys.readouterr().err.startswith("error: nothing at s3://stpubdata/t/none/")
    assert not (tmp_path / "data").exists()


def test_get_reads_uris_from_standard_input(tree, tmp_path):
    tmp_path /= "data"
    listing = (
        "# what tonight's run needs\n\n"
        "s3://stpubdata/t/pre/a.fits\n"
        "   s3://stpubdata/t/other/x.bin  \n"
        "s3://stpubdata/t/pre/sub/\n"  # a prefix on standard input is listed too
        "s3://stpubdata/t/pre/a.fits\n"
    )  # and a URI given twice is fetched once
    done = run("get", "-", "-d", str(tmp_path), "--no-progress", stdin=listing)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "s3://stpubdata/t/pre/sub/: 2 objects, 50 bytes"
    assert "4 downloaded, 0 skipped, 0 failed; 65 bytes received" in done.stdout
    assert files(tmp_path) == TREE


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        (
            "        10  s3://stpubdata/t/pre/a.fits\n",
            "error: line 1 of standard input is not one s3:// URI: "
            "'10  s3://stpubdata/t/pre/a.fits'; give one URI a line, "
            "as `roman-helpers ls --uris PREFIX` prints them",
        ),
        ("# nothing\n\n", "error: no URIs on standard input; give one s3:// URI a line"),
    ],
)
def test_get_standard_input_that_holds_no_uris(tree, tmp_path, stdin, message):
    done = run("get", "-", "-d", str(tmp_path / "data"), stdin=stdin)
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith(message)
    assert not (tmp_path / "data").exists()


# --------------------------------------------------------------------------- ls --uris, and pipes


def test_ls_uris_prints_bare_uris(tree, capsys):
    assert cli.main(["ls", "--uris", "s3://stpubdata/t/pre/"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "s3://stpubdata/t/pre/a.fits",
        "s3://stpubdata/t/pre/sub/",
    ]
    assert cli.main(["ls", "-r", "--uris", "s3://stpubdata/t/pre/"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"s3://stpubdata/{key}" for key in sorted(TREE) if key.startswith("t/pre/")
    ]


def test_ls_uris_piped_into_get(tree, tmp_path):
    """roman-helpers ls -r --uris s3://stpubdata/t/ | roman-helpers get - -d DIR"""
    tmp_path /= "data"
    lister = subprocess.Popen(
        command("ls", "-r", "--uris", "s3://stpubdata/t/"), stdout=subprocess.PIPE, env=environment()
    )
    getter = subprocess.run(
        command("get", "-", "-d", str(tmp_path), "--no-progress"),
        stdin=lister.stdout,
        capture_output=True,
        text=True,
        timeout=120,
        env=environment(),
    )
    lister.stdout.close()
    assert lister.wait(timeout=120) == 0
    assert getter.returncode == 0, getter.stderr
    assert files(tmp_path) == TREE


@pytest.mark.parametrize(
    "args",
    [
        ["ls", "--uris", "-r", "s3://stpubdata/t/"],
        ["ls", "s3://stpubdata/t/pre/"],
        ["datasets"],
        ["uri", "roman-tutorial-2026"],
    ],
)
def test_a_closed_pipe_ends_the_command_quietly(tree, args):
    """`| head -1` that has read its line: the reader is gone before the command writes."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            command(*args), stdout=writer, stderr=subprocess.PIPE, text=True, timeout=120, env=environment()
        )
    finally:
        os.close(writer)
    assert (done.returncode, done.stderr) == (0, "")


# --------------------------------------------------------------------------- progress bars, workers


def drawn_on(stderr_is_terminal: bool, *args: str) -> str:
    """What `roman-helpers ARGS` writes to its stderr: a pseudo-terminal, or a pipe."""
    if not stderr_is_terminal:
        done = subprocess.run(command(*args), capture_output=True, text=True, timeout=120, env=environment())
        assert done.returncode == 0, done.stderr
        return done.stderr
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 24 rows, 100 columns
    try:
        process = subprocess.Popen(
            command(*args), stdout=subprocess.DEVNULL, stderr=terminal, env=environment()
        )
        os.close(terminal)
        output = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            output += chunk
        assert process.wait(timeout=120) == 0
    finally:
        os.close(controller)
    return output.decode(errors="replace")


def test_get_draws_a_progress_bar_only_on_a_terminal(tree, tmp_path):
    get = ["get", "s3://stpubdata/t/pre/a.fits", "--overwrite", "-d", str(tmp_path)]
    assert drawn_on(False, *get) == ""
    assert "1 file(s)" in drawn_on(True, *get)
    assert "1 file(s)" in drawn_on(False, *get, "--progress")
    assert drawn_on(True, *get, "--no-progress") == ""


def sequential(stats: transfer.TransferStats) -> bool:
    """True when no request began before the one before it had its answer."""
    records = sorted(stats.records, key=lambda r: r.started)
    return all(later.started >= earlier.finished for earlier, later in itertools.pairwise(records))


def test_one_default_for_workers_in_the_command_and_in_python(tree, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ROMAN_HELPERS_DOWNLOAD_WORKERS", "1")
    uris = [f"s3://stpubdata/{key}" for key in TREE]
    with transfer.measure() as in_python:
        assert all(r.status == "downloaded" for r in download(uris, tmp_path / "python", progress=False))
    with transfer.measure() as on_the_command_line:
        assert cli.main(["get", *uris, "-d", str(tmp_path / "cli"), "--no-progress"]) == 0
    for stats in (in_python, on_the_command_line):
        assert stats.by_operation() == {"HeadObject": 4, "GetObject": 4}
        assert sequential(stats)  # one worker: one object after another


def test_workers_default_is_documented_and_checked(buckets, monkeypatch, capsys, tmp_path):
    assert cli.main(["get", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    default = config.DEFAULT_DOWNLOAD_WORKERS
    assert f"files fetched at once (default {default}, or ROMAN_HELPERS_DOWNLOAD_WORKERS" in out
    monkeypatch.setenv("ROMAN_HELPERS_DOWNLOAD_WORKERS", "many")
    assert cli.main(["get", "s3://stpubdata/t/a.fits", "-d", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith("error: invalid ROMAN_HELPERS_DOWNLOAD_WORKERS 'many'")
    assert cli.main(["get", "s3://stpubdata/t/a.fits", "-d", str(tmp_path), "--workers", "0"]) == 2


# --------------------------------------------------------------------------- one wording for anonymous access


def test_refusal_names_the_option_and_the_keyword(buckets, s3_client, tmp_path, capsys):
    put_object(s3_client, PRIVATE_BUCKET, "t/secret.asdf", b"s" * 10)
    uri = f"s3://{PRIVATE_BUCKET}/t/secret.asdf"
    assert cli.main(["get", uri, "--anon", "-d", str(tmp_path), "--no-progress"]) == 1
    said = capsys.readouterr().err
    [result] = download([uri], tmp_path, anon=True, progress=False)
    for message in (said, str(result.error)):
        assert f"access to {uri} was refused" in message
        assert "anon=False in Python, --no-anon on the command line" in message


# --------------------------------------------------------------------------- no endpoint, mistyped bucket


@pytest.mark.parametrize(
    "args",
    [
        ["ls", "s3://stpubdata/t/"],
        ["get", "s3://stpubdata/t/pre/", "-d", "{dir}"],
        ["get", "s3://stpubdata/t/a.fits", "s3://stpubdata/t/b.fits", "-d", "{dir}"],
        ["info", "s3://stpubdata/t/a.fits"],
    ],
)
def test_unreachable_endpoint_one_line_with_what_to_do(nowhere, tmp_path, args):
    done = run(*(arg.format(dir=tmp_path) for arg in args))
    assert done.returncode == 1 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error: no S3 endpoint answered at {nowhere} (named by AWS_ENDPOINT_URL)")
    assert HINT in line


@pytest.mark.parametrize(
    ("args", "requests"),
    [
        (["ls", "s3://stpubdata/t/"], 1),
        (["get", "s3://stpubdata/t/a.fits", "s3://stpubdata/t/b.fits", "-d", "{dir}"], 2),  # one HEAD each
    ],
)
def test_unreachable_endpoint_is_tried_once_on_the_command_line(nowhere, tmp_path, capsys, args, requests):
    with transfer.measure() as stats:
        assert cli.main([arg.format(dir=tmp_path) for arg in args]) == 1
    assert stats.requests == requests  # botocore would try each 5 times, with growing waits between
    assert all(record.status == 0 for record in stats.records)  # none was answered
    assert HINT in capsys.readouterr().err


def test_fail_fast_is_a_hook_of_the_kits_clients_not_of_every_client(nowhere, monkeypatch):
    """Inside command_line() the kit's clients, made before or inside it, try a connection once;
    a client another library makes keeps botocore's retries, and botocore's built-in list is not
    touched (only transfer.measure() uses it)."""
    from botocore import handlers
    from botocore.config import Config

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    before = list(handlers.BUILTIN_HANDLERS)
    made_before = _s3.client(anon=True)
    with config.command_line():
        assert before == handlers.BUILTIN_HANDLERS
        clients = {
            "kit, made before": made_before,
            "kit, made inside": _s3.client(anon=True),
            "another library's": _s3_free_client(Config(connect_timeout=2)),
        }
        tried = {}
        for name, client in clients.items():
            with transfer.measure() as stats, pytest.raises(Exception, match="Could not connect"):
                transfer.watch(client).head_object(Bucket="stpubdata", Key="t/a.fits")
            tried[name] = stats.requests
    assert tried == {"kit, made before": 1, "kit, made inside": 1, "another library's": 3}
    with transfer.measure() as stats, pytest.raises(Exception, match="Could not connect"):
        made_before.head_object(Bucket="stpubdata", Key="t/a.fits")
    assert stats.requests == 3  # outside the command line, botocore's retries as configured


def _s3_free_client(options):
    """A plain boto3 client, as a library other than the kit would make it."""
    import boto3

    return boto3.Session().client("s3", config=options)


def test_command_line_settings_hold_only_inside_it(moto_endpoint, monkeypatch):
    monkeypatch.delenv("ROMAN_HELPERS_CONNECT_TIMEOUT", raising=False)
    monkeypatch.setenv("ROMAN_HELPERS_TIMEOUT", "30")
    with config.command_line():
        assert config.connect_timeout() == config.COMMAND_LINE_CONNECT_TIMEOUT == 2.0
        fs = _s3.filesystem("stpubdata", skip_instance_cache=True)
        assert fs.config_kwargs["connect_timeout"] == 2.0
    assert config.connect_timeout() == 30.0
    monkeypatch.setenv("ROMAN_HELPERS_CONNECT_TIMEOUT", "5")
    with config.command_line():
        assert config.connect_timeout() == 5.0


def test_mistyped_bucket_says_no_such_bucket(tree, tmp_path, capsys):
    for args in (
        ["ls", "s3://stpubdta/t/pre/"],
        ["get", "s3://stpubdta/t/pre/a.fits", "-d", str(tmp_path), "--no-progress"],
        ["get", "s3://stpubdta/t/pre/", "-d", str(tmp_path)],
    ):
        assert cli.main(args) == 1
        [line] = capsys.readouterr().err.splitlines()
        assert line.startswith("error: ") and "no such bucket 'stpubdta'" in line, args
        assert "did you mean 'stpubdata' (s3://stpubdata/t/pre/" in line
    assert not list(tmp_path.rglob("*.fits"))


# --------------------------------------------------------------------------- help


def test_help_shows_prefixes_standard_input_and_uris(capsys):
    assert cli.main(["--help"]) == 0
    epilog = capsys.readouterr().out
    assert "roman-helpers ls -r --uris s3://stpubdata/hst/public/ib6w/ | grep _drz.fits" in epilog
    assert "roman-helpers get - -d data/" in epilog
    assert "roman-helpers get s3://stpubdata/hst/public/ib6w/ib6w01010/ -d data/" in epilog
    for name, words in (
        ("get", ["A URI ending in / is a prefix", "'-' reads URIs from standard input"]),
        ("ls", ["--uris", "print only the s3:// URIs, one a line"]),
    ):
        assert cli.main([name, "--help"]) == 0
        text = " ".join(capsys.readouterr().out.split())
        assert all(word in text for word in words), name


# --------------------------------------------------------------------------- edges a newcomer meets


@pytest.fixture
def image(buckets, s3_client) -> str:
    """test_cli's image: 40 x 30 pixels of 0.36 arcsec, with a TAN WCS centred on 187.44 +18.19."""
    from tests.test_cli import FITS_KEY, _fits_bytes

    put_object(s3_client, "stpubdata", FITS_KEY, _fits_bytes())
    return f"s3://stpubdata/{FITS_KEY}"


def cut_region(image: str, folder: Path, *size: str) -> tuple[int, int, int, int]:
    """``cutout --size SIZE...`` of ``image``: the region it cut, as written in the file."""
    out = folder / "cut.fits"
    args = ["cutout", image, "--target", "187.44 18.19", "--size", *size, "-o", str(out), "--overwrite"]
    assert cli.main(args) == 0, size
    header = fits.getheader(out, "SCI")
    return header["XMIN"], header["XMAX"], header["YMIN"], header["YMAX"]


def test_a_size_is_read_as_astronomers_write_it(image, tmp_path, capsys):
    reference = cut_region(image, tmp_path, "3arcsec")
    assert reference[1] - reference[0] + 1 == round(3 / 0.36)
    for typed in (["3", "arcsec"], ['3"'], ["3''"], ["3 arcsec"], ["3", "arcsec,3", "arcsec"], ["0.05'"]):
        assert cut_region(image, tmp_path, *typed) == reference, typed
    capsys.readouterr()


def test_a_radius_is_read_as_astronomers_write_it(tds_index, capsys):
    found = {}
    for typed in (["2arcsec"], ["2", "arcsec"], ['2"']):
        args = ["find", str(tds_index.path), "--target", "9.4508 -44.0905", "--radius", *typed, "--uris"]
        assert cli.main(args) == 0, typed
        found[" ".join(typed)] = capsys.readouterr().out
    assert found["2arcsec"] and len(set(found.values())) == 1, found


def test_dataset_parameters_given_as_options_say_how_to_write_them(capsys):
    assert cli.main(["uri", "openuniverse-was-fits", "--band", "H158", "--sensor=3", "pointing=15298"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (
        "error: uri takes a dataset's parameters as KEY=VALUE, not as options: "
        "roman-helpers uri openuniverse-was-fits band=H158 sensor=3 pointing=15298\n"
    )
    assert cli.main(["uri", "openuniverse-was-fits", "pointing=15298", "band=H158", "sensor=3"]) == 0
    assert "_H158_15298_3.fits.gz" in capsys.readouterr().out


@pytest.mark.parametrize("uri", ["s3://stpubdata/t/pre/", "s3://stpubdata/t/pre"])
def test_info_on_a_prefix_suggests_ls(tree, capsys, uri):
    assert cli.main(["info", uri]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1, err
    assert "`roman-helpers ls s3://stpubdata/t/pre/`" in err and "uris.list_objects" in err


def test_a_date_in_romans_years_prints_no_warning(tds_index):
    import warnings

    from astropy.time import Time

    from roman_helpers import _sky

    done = run("find", str(tds_index.path), "--target", "9.4508 -44.0905", "--start", "2029-01-01", "--uris")
    assert done.returncode == 0 and done.stdout and done.stderr == ""
    filters = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _sky.parse_time("2029-01-01") == 62137.0
        assert caught == []
        assert Time("2029-01-01", scale="utc").mjd == 62137.0  # outside the kit, ERFA still says it
        assert "dubious year" in str(caught[0].message)
    assert warnings.filters == filters  # quieted in the kit's parser only, not for the process


@pytest.mark.parametrize(
    "args", [["sandbox", "--help"], ["sandbox", "up", "--help"], ["sandbox", "run", "--help"]]
)
def test_sandbox_help_is_plain_text(capsys, args):
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "``" not in out and ":func:" not in out and ":mod:" not in out, out
    assert "roman-helpers sandbox run -- COMMAND" in out or args[1] != "--help"


@pytest.mark.parametrize("columns", [80, 100])
def test_find_fits_a_terminal(tds_index, monkeypatch, capsys, columns):
    from _tds_transient import BAND, BUCKET, RELEASE, indexed, transient

    from roman_helpers import footprints

    monkeypatch.setenv("COLUMNS", str(columns))
    where = f"{transient().ra:.6f} {transient().dec:.6f}"
    uris = [str(u) for u in footprints.find(tds_index.path, where, band=BAND)["uri"]]
    # every image of the band is below it, each in its pointing's folder
    folder = f"s3://{BUCKET}/openuniverse2024/roman/{RELEASE}/RomanTDS/images/simple_model/{BAND}/"
    held = [image for image in indexed() if image.band == BAND and image.holds]
    assert len(uris) == len(held) >= 10 and max(len(uri) for uri in uris) > 100
    args = ["find", str(tds_index.path), "--target", where, "--band", BAND]
    assert cli.main(args) == 0
    first, *table = capsys.readouterr().out.splitlines()
    assert first == f"files under {folder} (--long for whole URIs):"
    assert len(table) == len(uris) + 2 and all(len(line) <= columns for line in table)
    for uri, row in zip(uris, table[2:], strict=True):
        name, cell = uri.removeprefix(folder), row.split()[0]
        head, _, tail = cell.partition("...")
        assert cell == name if len(name) <= len(cell) else name.startswith(head) and name.endswith(tail)
    assert cli.main([*args, "--long"]) == 0
    assert [row.split()[0] for row in capsys.readouterr().out.splitlines()[2:]] == uris


# --------------------------------------------------------------------------- make bench


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run_manners", ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def fake_results(bench):
    def run(requests, size, seconds):
        return bench.Run(
            requests,
            size,
            seconds,
            round_trips=2,
            peak_memory=1_000_000,
            client_requests=requests,
            client_bytes=size,
        )

    return [
        bench.Result("header of a FITS", "<= 64 KiB", run(2, 52_400_000, 0.47), run(1, 8_200, 0.03), True),
        bench.Result(
            "download 20 files (248 MB)",
            "throughput >= boto3 transfer manager",
            run(20, 248_500_000, 0.43),
            run(40, 248_500_000, 0.61),
            True,
            reference=run(60, 248_500_000, 0.77),
            reference_name=bench.REFERENCE_BOTO3,
        ),
    ]


def test_bench_report_keeps_references_out_of_the_ours_columns(bench):
    text = bench.report(fake_results(bench))
    main, references = text.split("Measured in the same run for comparison, and not roman_helpers' numbers:")
    download_row = next(line for line in main.splitlines() if line.startswith("| download 20 files"))
    cells = [cell.strip() for cell in download_row.strip("|").split("|")]
    header = [cell.strip() for cell in main.splitlines()[0].strip("|").split("|")]
    assert cells[header.index("ours: requests")] == "40" and cells[header.index("ours: s")] == "0.61"
    assert "0.77" not in main and "reference" not in main
    [reference_row] = [line for line in references.splitlines() if line.startswith("| download")]
    assert "boto3 transfer manager, 8 threads (reference, not roman_helpers)" in reference_row
    assert "| 60 |" in reference_row and "0.77" in reference_row


def test_bench_writes_under_its_folder_and_publishing_is_separate(bench, tmp_path):
    tracked = {path: path.read_bytes() for path in (bench.BOOK_PAGE, bench.BOOK_FIGURE)}
    assert bench.OUT == ROOT / "build" / "bench"
    out = tmp_path / "build" / "bench"
    settings = {"latency_s": 0.02, "bandwidth_bytes_per_s": 2e8, "quick": False}
    bench.write(fake_results(bench), out, settings)
    assert sorted(p.name for p in out.iterdir()) == ["performance.png", "results.json", "table.md"]
    assert {path: path.read_bytes() for path in tracked} == tracked  # the book is untouched by a run

    page = tmp_path / "performance.md"
    page.write_text("intro\n<!-- bench-table:start -->\nold table\n<!-- bench-table:end -->\nafter\n")
    figure, copy = tmp_path / "images" / "performance.png", tmp_path / "performance-results.json"
    bench.publish(out, page=page, figure=figure, results_copy=copy)
    published = page.read_text()
    assert "old table" not in published and published.startswith("intro\n") and published.endswith("after\n")
    assert (out / "table.md").read_text().strip() in published
    assert figure.read_bytes().startswith(b"\x89PNG")
    assert json.loads(copy.read_text()) == json.loads((out / "results.json").read_text())
    _, again = bench.load(copy)
    assert again == fake_results(bench)


def test_bench_publish_refuses_quick_or_missing_results(bench, tmp_path):
    with pytest.raises(SystemExit, match="run `make bench`"):
        bench.main(["--publish", "--out", str(tmp_path / "nothing")])
    bench.write(fake_results(bench), tmp_path, {"quick": True})
    with pytest.raises(SystemExit, match="--quick results"):
        bench.publish(
            tmp_path, page=tmp_path / "p.md", figure=tmp_path / "f.png", results_copy=tmp_path / "r.json"
        )
    assert not (tmp_path / "p.md").exists()


def test_make_bench_runs_and_publishes_in_two_steps():
    def recipe(target: str) -> str:
        done = subprocess.run(
            ["make", "-n", "-C", str(ROOT), target], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "bench/run.py" in recipe("bench") and "--publish" not in recipe("bench")
    assert "bench/run.py --publish" in recipe("bench-publish")


def test_an_endpoint_that_has_answered_is_tried_again_on_the_command_line(
    moto_endpoint, nowhere, monkeypatch
):
    """A connection not made fails fast only while the endpoint has never answered: after an
    answer it is a fault on the way (a loaded machine), retried, so a batch does not lose a file."""
    from botocore.exceptions import EndpointConnectionError

    with config.command_line():
        monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
        working = _s3.client(anon=True)
        working.list_buckets()  # answered
        monkeypatch.setenv("AWS_ENDPOINT_URL", nowhere)
        dead = _s3.client(anon=True)  # nothing listens there
        decisions = {}
        for name, made in (("answered before", working), ("never answered", dead)):
            # what botocore asks its handlers after a connection was not made; the first answer
            # that is not None decides: False is "do not retry", a number is the wait before retrying
            answers = made.meta.events.emit(
                "needs-retry.s3.GetObject",
                response=None,
                endpoint=made._endpoint,
                operation=made.meta.service_model.operation_model("GetObject"),
                attempts=1,
                caught_exception=EndpointConnectionError(endpoint_url=made._endpoint.host),
                request_dict={"context": {}},
            )
            decisions[name] = next(answer for _, answer in answers if answer is not None)
    assert decisions["never answered"] is False
    assert decisions["answered before"] is not False and decisions["answered before"] >= 0
