"""The parser of ``roman-helpers``: the top level, and each group of sub-commands added to it (private)."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from typing import Any

from .. import _extras
from ..errors import MissingExtraError
from ..runner import register as register_run
from ._datasets import register as register_datasets
from ._objects import register as register_objects
from ._options import joined_units
from ._survey import register as register_survey

__all__ = ["build_parser"]

_DESCRIPTION = """\
Find, stream and download Roman and MAST data in the cloud.

Public buckets (stpubdata, nasa-irsa-simulations) are read anonymously; others with
your AWS credentials (on the Roman Research Nexus, its role). Everything follows
AWS_ENDPOINT_URL, so the same commands run against the offline sandbox."""

_EPILOG = """\
examples:
  roman-helpers datasets                      # the datasets the tutorials use
  roman-helpers datasets openuniverse-was-fits
  roman-helpers uri openuniverse-was-fits band=F158 pointing=15298 sensor=3   # OpenUniverse's H158
  roman-helpers ls s3://stpubdata/roman/nexus/soc_simulations/tutorial_data/roman-2026.2/
  roman-helpers ls -r --uris s3://stpubdata/hst/public/ib6w/ | grep _drz.fits | \\
      roman-helpers get - -d data/   # URIs on standard input, one a line
  roman-helpers info s3://stpubdata/hst/public/ib6w/ib6w01010/ib6w01010_drz.fits
  roman-helpers header s3://stpubdata/hst/public/ib6w/ib6w01010/ib6w01010_drz.fits --ext SCI
  roman-helpers cutout s3://stpubdata/hst/public/ib6w/ib6w01010/ib6w01010_drz.fits \\
      --box 500 400 600 450 -o cut.fits             # X0 Y0 X1 Y1: 100 columns, 50 rows
  roman-helpers cutout URI --ra 186.3502 --dec 18.1911 --size 64 -o cut.fits
  roman-helpers cutout URI --target "12:25:24.05 +18:11:27.9" --size 20arcsec,30arcsec -o cut.fits
  roman-helpers cutout URI --pixel 550 425 --size 5 arcsec -o cut.fits   # centre in pixels
  roman-helpers get URI [URI ...] -d data/
  roman-helpers get s3://stpubdata/hst/public/ib6w/ib6w01010/ -d data/   # a prefix: all below it
  roman-helpers sandbox run -- python my_script.py   # against the offline sandbox
  roman-helpers run --dataset openuniverse-was-fits  # execute the tutorials
  roman-helpers index s3://stpubdata/roman/nexus/soc_simulations/tutorial_data/roman-2026.2/ -o idx.ecsv
  roman-helpers find idx.ecsv --target "18:03:10.9 -00:17:13.2" --band F106 --radius 2arcsec
  roman-helpers index --manifest gbtds_manifest.ecsv -o gbtds.parquet   # a survey's manifest
  roman-helpers find gbtds.parquet --target "267.12 -29.99" --band F087   # reads what it needs
  roman-helpers lightcurve idx.ecsv --target "270.7956 -0.287" --band F106 -o curve.ecsv --plot curve.png
  roman-helpers lightcurve idx.ecsv --targets field.ecsv --band F106 -o curves.ecsv

Errors print 'error: <message>' and exit with 1 (2 for a usage error); --debug shows
the traceback. Ctrl-C stops within about a second, keeps what was finished (an index
of the files read, the files downloaded, the points measured), says so, and exits
with 130."""


class _Parser(argparse.ArgumentParser):
    """argparse, reading ``--size 5 arcsec`` as one value (:func:`._options.joined_units`)."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        return super().parse_known_args(joined_units(sys.argv[1:] if args is None else args), namespace)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``roman-helpers``.

    Each sub-command sets ``handler``, a function of the parsed arguments that returns
    the exit status.

    Returns
    -------
    argparse.ArgumentParser

    Examples
    --------
    >>> args = build_parser().parse_args(["uri", "roman-tutorial-2026", "detector=4"])
    >>> args.dataset, args.params
    ('roman-tutorial-2026', ['detector=4'])
    """
    parser = _Parser(
        prog="roman-helpers",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of an error"
    )
    commands = parser.add_subparsers(metavar="COMMAND", parser_class=argparse.ArgumentParser)

    def command(
        name: str, help: str, handler: Callable[[argparse.Namespace], int], description: str | None = None
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=description or help, parents=[common])
        sub.set_defaults(handler=handler, command_parser=sub)
        return sub

    register_objects(command)  # ls, info, header, cutout, get
    register_datasets(command)  # datasets, uri
    register_survey(command)  # index, find, lightcurve
    _register_sandbox(commands)
    register_run(commands)  # always offered; without the notebooks extra it says what to install
    return parser


def _register_sandbox(commands: argparse._SubParsersAction) -> None:
    """Add ``sandbox``: the real command with the sandbox extra, else one that says how to get it."""
    absent = _extras.missing("sandbox")
    if absent is None:
        try:
            from ..sandbox.cli import register  # guarded: the sandbox extra is installed
        except ModuleNotFoundError as not_found:
            absent = not_found.name
        else:
            register(commands)
            return
    error = MissingExtraError("roman-helpers sandbox", ["sandbox"], absent)
    stub = commands.add_parser(
        "sandbox",
        help="offline stand-in for MAST, IRSA and S3 (needs the sandbox extra)",
        description=str(error),
    )
    stub.add_argument("arguments", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    stub.set_defaults(handler=functools.partial(_missing_extra, error))


def _missing_extra(error: MissingExtraError, args: argparse.Namespace) -> int:
    raise error
