"""The ``roman-helpers`` command: in-process through ``main`` and as the installed script.

S3 commands run against the moto server of conftest.py (bucket ``stpubdata`` is public,
as on AWS); nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from roman_helpers import cli
from roman_helpers.errors import InvalidParameterError
from tests.conftest import put_object

SCRIPT = Path(sys.executable).with_name("roman-helpers")
IMAGE = np.arange(40 * 30, dtype=np.float32).reshape(30, 40)  # 30 rows, 40 columns
FITS_KEY = "t/cli/image_drz.fits"
FITS_URI = f"s3://stpubdata/{FITS_KEY}"


def run_script(*args: str) -> subprocess.CompletedProcess:
    """Run the installed ``roman-helpers`` script with this process's environment."""
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def _wcs() -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [187.44, 18.19]
    wcs.wcs.crpix = [21.0, 16.0]  # 1-based: pixel (20, 15) 0-based
    wcs.wcs.cdelt = [-1e-4, 1e-4]
    return wcs


def _fits_bytes() -> bytes:
    sci = fits.ImageHDU(IMAGE, header=_wcs().to_header(), name="SCI")
    primary = fits.PrimaryHDU()
    primary.header["TELESCOP"] = "HST"
    buffer = io.BytesIO()
    fits.HDUList([primary, sci]).writeto(buffer)
    return buffer.getvalue()


@pytest.fixture
def fits_object(buckets, s3_client) -> str:
    put_object(s3_client, "stpubdata", FITS_KEY, _fits_bytes())
    return FITS_URI


# --------------------------------------------------------------------------- help, datasets, uri


def test_help_describes_the_commands_with_examples(capsys) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: roman-helpers")
    for command in ("ls", "info", "header", "cutout", "get", "datasets", "uri", "sandbox", "run"):
        assert f"\n    {command} " in out
    assert "examples:" in out and "roman-helpers uri openuniverse-was-fits" in out and "--debug" in out


def test_installed_script_prints_help() -> None:
    done = run_script("--help")
    assert done.returncode == 0
    assert "Find, stream and download Roman and MAST data" in done.stdout


def test_no_command_is_a_usage_error(capsys) -> None:
    assert cli.main([]) == 2
    assert "usage: roman-helpers" in capsys.readouterr().err
    assert cli.main(["no-such-command"]) == 2


def test_every_subcommand_has_a_handler() -> None:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if a.choices and "uri" in a.choices)
    for name, sub in action.choices.items():
        assert sub.get_default("handler") is not None, name


def test_datasets_lists_every_dataset(capsys) -> None:
    assert cli.main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in (
        "hst-wfc3ir-m85",
        "romanisim-dense-region",
        "openuniverse-was-fits",
        "openuniverse-was-asdf",
        "roman-tutorial-2026",
    ):
        assert name in out


def test_datasets_shows_parameters_and_valid_values(capsys) -> None:
    assert cli.main(["datasets", "openuniverse-was-fits"]) == 0
    out = capsys.readouterr().out
    # filters in the archive's spelling and Roman's where they differ
    assert "band (default F184)" in out and "values: F184, H158 (F158)" in out
    assert "roman-helpers uri openuniverse-was-fits band=F184 pointing=15297 sensor=11" in out


def test_datasets_spells_every_filter_both_ways(capsys) -> None:
    assert cli.main(["datasets", "openuniverse-tds-fits"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.strip().startswith("band "))
    spelled = "R062 (F062), Z087 (F087), Y106 (F106), J129 (F129), H158 (F158), F184, K213 (F213)"
    assert "(default H158 (F158))" in line and line.endswith(f"values: {spelled}")
    assert cli.main(["datasets", "hst-wfc3ir-m85"]) == 0
    assert "values: F160W, F110W" in capsys.readouterr().out  # other instruments' names as they are


def test_datasets_unknown_name(capsys) -> None:
    assert cli.main(["datasets", "nope"]) == 1
    assert "error: invalid dataset 'nope'; valid values are: hst-wfc3ir-m85" in capsys.readouterr().err


def test_uri_builds_a_dataset_uri(capsys) -> None:
    assert cli.main(["uri", "openuniverse-was-fits", "band=H158", "pointing=15298", "sensor=3"]) == 0
    assert capsys.readouterr().out.strip() == (
        "s3://nasa-irsa-simulations/openuniverse2024/roman/preview/RomanWAS/images/simple_model/"
        "H158/15298/Roman_WAS_simple_model_H158_15298_3.fits.gz"
    )


def test_uri_takes_extra_template_fields(capsys) -> None:
    assert cli.main(["uri", "hst-wfc3ir-m85", "obs_id=ib6w01010"]) == 0
    assert capsys.readouterr().out.strip() == "s3://stpubdata/hst/public/ib6w/ib6w01010/ib6w01010_drz.fits"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["uri", "openuniverse-was-fits", "band=F999"],
            "invalid band 'F999'; valid values are: F184, F158 (H158 in this dataset)",
        ),
        (["uri", "openuniverse-was-fits", "sensor=19"], "valid values are: 1, 2, 3"),
        (["uri", "openuniverse-was-fits", "pointing=15x97"], "valid values are: 15297, 15298"),
        (["uri", "openuniverse-was-fits", "sensr=3"], "valid values are: band, pointing, sensor"),
        (["uri", "openuniverse-was-fits", "band"], "Write key=value"),
        (["uri", "hst-wfc3ir-m85"], "pass obs_id="),
    ],
)
def test_uri_bad_values_say_what_is_valid(capsys, args, message) -> None:
    assert cli.main(args) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and message in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_installed_script_bad_value_exits_1_without_traceback() -> None:
    done = run_script("uri", "openuniverse-was-fits", "band=F999")
    assert done.returncode == 1
    assert done.stderr.strip().startswith(
        "error: invalid band 'F999'; valid values are: F184, F158 (H158 in this dataset). "
    )


def test_debug_shows_the_traceback() -> None:
    for args in (
        ["--debug", "uri", "openuniverse-was-fits", "band=F999"],
        ["uri", "openuniverse-was-fits", "band=F999", "--debug"],
    ):
        done = run_script(*args)
        assert done.returncode == 1
        assert "Traceback (most recent call last)" in done.stderr
        assert "InvalidParameterError: invalid band 'F999'" in done.stderr


def test_debug_raises_in_process() -> None:
    with pytest.raises(InvalidParameterError):
        cli.main(["--debug", "uri", "roman-tutorial-2026", "detector=0"])


# --------------------------------------------------------------------------- run


def test_run_looks_for_notebooks_in_the_current_directory(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "--dataset", "hst-wfc3ir-m85", "--real", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"invalid notebooks folder '{tmp_path / 'notebooks'}'" in err
    assert "--notebooks DIR" in err
    assert not (tmp_path / "build").exists()  # nothing ran


def test_run_reads_notebooks_from_the_folder_given(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tutorials").mkdir()  # exists, but holds no tutorial 1
    assert (
        cli.main(
            ["run", "--dataset", "hst-wfc3ir-m85", "--real", "--no-progress", "--notebooks", "tutorials"]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert f"invalid notebook 1. Looked in {tmp_path / 'tutorials'}, which holds no tutorial" in err


# --------------------------------------------------------------------------- S3 commands


def test_ls_lists_sizes(buckets, s3_client, capsys) -> None:
    put_object(s3_client, "stpubdata", "t/ls/a.fits", b"a" * 10)
    put_object(s3_client, "stpubdata", "t/ls/sub/b.fits", b"b" * 25)
    assert cli.main(["ls", "s3://stpubdata/t/ls/"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines] == [
        ["10", "s3://stpubdata/t/ls/a.fits"],
        ["PRE", "s3://stpubdata/t/ls/sub/"],
    ]
    assert cli.main(["ls", "-r", "s3://stpubdata/t/ls"]) == 0
    assert [line.split() for line in capsys.readouterr().out.splitlines()] == [
        ["10", "s3://stpubdata/t/ls/a.fits"],
        ["25", "s3://stpubdata/t/ls/sub/b.fits"],
    ]


def test_ls_of_nothing_is_an_error(buckets, capsys) -> None:
    assert cli.main(["ls", "s3://stpubdata/no/such/prefix/"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: nothing at s3://stpubdata/no/such/prefix/") and "Traceback" not in err


def test_ls_bad_uri(capsys) -> None:
    assert cli.main(["ls", "stpubdata/t/"]) == 1
    assert "error: not an S3 URI: 'stpubdata/t/'" in capsys.readouterr().err


def test_installed_script_ls_follows_the_endpoint(buckets, s3_client) -> None:
    put_object(s3_client, "stpubdata", "t/script/x.bin", b"12345")
    done = run_script("ls", "s3://stpubdata/t/script/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["5", "s3://stpubdata/t/script/x.bin"]


def test_info_lists_the_hdus(fits_object, capsys) -> None:
    assert cli.main(["info", fits_object]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Filename: {fits_object}")
    assert "PRIMARY" in out and "SCI" in out and "(40, 30)" in out
    assert "Sky footprint of SCI (40 x 30 pixels, x by y)" in out
    for x, y in [(19.5, 14.5), (0, 0), (39, 0), (39, 29), (0, 29)]:
        ra, dec = _wcs().pixel_to_world_values(x, y)
        assert f"RA, Dec = {float(ra):11.6f} {float(dec):+11.6f} deg" in out


def test_header_prints_one_extension(fits_object, capsys) -> None:
    assert cli.main(["header", fits_object, "--ext", "SCI"]) == 0
    out = capsys.readouterr().out
    assert "EXTNAME = 'SCI " in out and "NAXIS1  =                   40" in out
    assert cli.main(["header", fits_object]) == 0
    assert "TELESCOP= 'HST " in capsys.readouterr().out


def test_header_unknown_extension(fits_object, capsys) -> None:
    assert cli.main(["header", fits_object, "--ext", "WHT"]) == 1
    assert "error: invalid --ext 'WHT'; valid values are: 0, 1, PRIMARY, SCI" in capsys.readouterr().err


def test_info_of_a_missing_object(buckets, capsys) -> None:
    assert cli.main(["info", "s3://stpubdata/t/cli/missing.fits"]) == 1
    assert "error: no object at s3://stpubdata/t/cli/missing.fits" in capsys.readouterr().err


def test_cutout_box_writes_the_pixels(fits_object, tmp_path, capsys) -> None:
    out = tmp_path / "cut.fits"
    assert cli.main(["cutout", fits_object, "--box", "2", "3", "7", "9", "-o", str(out)]) == 0  # X0 Y0 X1 Y1
    assert f"wrote {out}: SCI, 6 x 5 pixels (ny x nx), x 2..6, y 3..8" in capsys.readouterr().out
    with fits.open(out) as hdul:
        assert [hdu.name for hdu in hdul] == ["PRIMARY", "SCI"]  # this file has no ERR or DQ
        np.testing.assert_array_equal(hdul["SCI"].data, IMAGE[3:9, 2:7])
        assert hdul[0].header["SRCURI"] == fits_object
        assert (hdul["SCI"].header["XMIN"], hdul["SCI"].header["YMAX"]) == (2, 8)
        wcs = WCS(hdul["SCI"].header)
        assert wcs.has_celestial
        np.testing.assert_allclose(wcs.pixel_to_world_values(0, 0), _wcs().pixel_to_world_values(2, 3))


def test_cutout_sky_position(fits_object, tmp_path) -> None:
    out = tmp_path / "sky.fits"
    ra, dec = _wcs().pixel_to_world_values(20, 15)
    assert (
        cli.main(["cutout", fits_object, "--ra", str(ra), "--dec", str(dec), "--size", "5", "-o", str(out)])
        == 0
    )
    with fits.open(out) as hdul:
        np.testing.assert_array_equal(hdul["SCI"].data, IMAGE[13:18, 18:23])


def test_cutout_sexagesimal_target_and_angular_size(fits_object, tmp_path) -> None:
    from astropy.coordinates import SkyCoord

    out = tmp_path / "target.fits"
    centre = SkyCoord(*_wcs().pixel_to_world_values(20, 15), unit="deg")
    target = centre.to_string("hmsdms", sep=":", precision=4)
    # 0.36 arcsec = 1 pixel of 1e-4 deg: 5 rows and 7 columns (ny,nx)
    assert (
        cli.main(
            ["cutout", fits_object, "--target", target, "--size", "1.8arcsec,2.52arcsec", "-o", str(out)]
        )
        == 0
    )
    with fits.open(out) as hdul:
        np.testing.assert_array_equal(hdul["SCI"].data, IMAGE[13:18, 17:24])


def test_cutout_refuses_to_overwrite_and_checks_options(fits_object, tmp_path, capsys) -> None:
    out = tmp_path / "cut.fits"
    out.write_bytes(b"keep me")
    assert cli.main(["cutout", fits_object, "--box", "0", "0", "4", "4", "-o", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == b"keep me"
    assert cli.main(["cutout", fits_object, "--box", "0", "0", "4", "4", "-o", str(out), "--overwrite"]) == 0
    assert cli.main(["cutout", fits_object, "--ra", "187.44", "-o", str(out)]) == 2
    assert "--ra needs --dec and --size" in capsys.readouterr().err
    assert cli.main(["cutout", fits_object, "-o", str(out)]) == 2  # neither --box nor --ra


def test_cutout_outside_the_image(fits_object, tmp_path, capsys) -> None:
    assert (
        cli.main(["cutout", fits_object, "--box", "30", "20", "50", "25", "-o", str(tmp_path / "x.fits")])
        == 1
    )
    err = capsys.readouterr().err
    assert err.startswith("error: invalid --box '30 20 50 25'. --box X0 Y0 X1 Y1: 0-based pixel corners")
    assert "the image has 40 columns and 30 rows" in err


def test_get_downloads_reports_and_fails_on_a_missing_object(buckets, s3_client, tmp_path, capsys) -> None:
    put_object(s3_client, "stpubdata", "t/get/one.bin", b"1" * 100)
    put_object(s3_client, "stpubdata", "t/get/two.bin", b"2" * 200)
    good = ["s3://stpubdata/t/get/one.bin", "s3://stpubdata/t/get/two.bin"]
    destination = tmp_path / "data"
    status = cli.main(
        [
            "get",
            *good,
            "s3://stpubdata/t/get/missing.bin",
            "-d",
            str(destination),
            "--workers",
            "2",
            "--no-progress",
        ]
    )
    captured = capsys.readouterr()
    assert status == 1
    assert (destination / "t/get/one.bin").read_bytes() == b"1" * 100
    assert (destination / "t/get/two.bin").read_bytes() == b"2" * 200
    assert not (destination / "t/get/missing.bin").exists()
    assert "error: no object at s3://stpubdata/t/get/missing.bin" in captured.err  # the URI once
    assert "2 downloaded, 0 skipped, 1 failed; 300 bytes received" in captured.out

    assert cli.main(["get", *good, "-d", str(destination), "--no-progress"]) == 0
    assert "0 downloaded, 2 skipped, 0 failed" in capsys.readouterr().out
