"""The ``roman-helpers`` command line.

Every sub-command is a thin wrapper over one function of the kit, so what it does is
documented there: ``ls`` (:func:`roman_helpers.uris.list_objects`), ``info``
(:func:`roman_helpers.stream.info`), ``header`` (:func:`roman_helpers.stream.read_header`),
``cutout`` (:func:`roman_helpers.stream.cutouts`), ``get`` (:func:`roman_helpers.download.download`),
``datasets`` (:mod:`roman_helpers.datasets`), ``uri`` (:meth:`roman_helpers.datasets.Dataset.uri`),
plus ``sandbox`` (:mod:`roman_helpers.sandbox.cli`, with the ``sandbox`` extra) and ``run``
(:mod:`roman_helpers.runner`, with the ``notebooks`` extra). Without its extra, such a command
says which one to install.

Errors a user can cause print ``error: <message>`` and exit with 1 (2 for a usage error);
``--debug`` shows the traceback instead. Output into a pipe that closes early (``| head``) ends
the command quietly, with status 0. Commands run inside :func:`roman_helpers.config.command_line`:
an S3 endpoint that does not answer is reported within seconds, not retried.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import _cli_survey, _extras, config, datasets, uris
from .errors import (
    InvalidParameterError,
    InvalidURIError,
    MissingExtraError,
    RomanHelpersError,
)
from .runner import register as register_run
from .uris import split_uri

__all__ = ["build_parser", "main"]

_DESCRIPTION = """\
Find, stream and download Roman and MAST data in the cloud.

Public buckets (stpubdata, nasa-irsa-simulations) are read anonymously; others with
your AWS credentials (on the Roman Science Platform, its role). Everything follows
AWS_ENDPOINT_URL, so the same commands run against the offline sandbox."""

_EPILOG = """\
examples:
  roman-helpers datasets                      # the datasets the tutorials use
  roman-helpers datasets openuniverse-was-fits
  roman-helpers uri openuniverse-was-fits band=F158 hpix=15298 sensor=3
  roman-helpers ls s3://stpubdata/roman/nexus/soc_simulations/tutorial_data/roman-2026.2/
  roman-helpers ls -r --uris s3://stpubdata/hst/public/ib6w/ | grep _drz.fits | \\
      roman-helpers get - -d data/   # URIs on standard input, one a line
  roman-helpers info s3://stpubdata/hst/public/ib6w/ib6w01010/ib6w01010_drz.fits
  roman-helpers header s3://stpubdata/hst/public/ib6w/ib6w01010/ib6w01010_drz.fits --ext SCI
  roman-helpers cutout s3://stpubdata/hst/public/ib6w/ib6w01010/ib6w01010_drz.fits \\
      --box 500 400 600 450 -o cut.fits             # X0 Y0 X1 Y1: 100 columns, 50 rows
  roman-helpers cutout URI --ra 186.3502 --dec 18.1911 --size 64 -o cut.fits
  roman-helpers cutout URI --target "12:25:24.05 +18:11:27.9" --size 20arcsec,30arcsec -o cut.fits
  roman-helpers get URI [URI ...] -d data/
  roman-helpers get s3://stpubdata/hst/public/ib6w/ib6w01010/ -d data/   # a prefix: all below it
  roman-helpers sandbox run -- python my_script.py   # against the offline sandbox
  roman-helpers run --dataset openuniverse-was-fits  # execute the tutorials
  roman-helpers index s3://stpubdata/roman/nexus/soc_simulations/tutorial_data/roman-2026.2/ -o idx.ecsv
  roman-helpers find idx.ecsv --target "05:21:09.6 -69:38:16.8" --band F158 --radius 2arcsec
  roman-helpers lightcurve idx.ecsv --target "80.29 -69.638" --band F158 -o curve.ecsv --plot curve.png

Errors print 'error: <message>' and exit with 1 (2 for a usage error); --debug shows
the traceback."""

#: Modules whose exceptions are operational (network, service, store), not bugs of the kit.
_SERVICE_MODULES = {"astroquery", "botocore", "boto3", "requests", "urllib3", "aiobotocore"}


# --------------------------------------------------------------------------- handlers


def _ls(args: argparse.Namespace) -> int:
    for entry in uris.list_objects(args.uri, recursive=args.recursive, anon=args.anon):
        if args.uris:
            print(entry.uri)
        elif entry.is_prefix:
            print(f"{'PRE':>14}  {entry.uri}")
        else:
            print(f"{entry.size:>14}  {entry.uri}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from . import stream

    print(stream.info(args.uri, anon=args.anon).rstrip("\n"))
    return 0


def _extension(text: str) -> int | str:
    """``"1"`` -> 1, ``"SCI"`` -> ``"SCI"``."""
    return int(text) if text.lstrip("-").isdigit() else text


def _header(args: argparse.Namespace) -> int:
    from . import stream

    if args.uri.lower().endswith(".asdf"):
        raise InvalidParameterError(
            "uri", args.uri, hint="header reads FITS files; for ASDF metadata use `roman-helpers info`"
        )
    header = stream.read_header(args.uri, args.ext, anon=args.anon)
    print(header.tostring(sep="\n", endcard=False, padding=False).rstrip())
    return 0


def _usage_error(args: argparse.Namespace, message: str | BaseException) -> int:
    """A command line that cannot be read: one line ``error: ...``, exit status 2."""
    if args.debug and isinstance(message, BaseException):
        raise message
    print(f"error: {message}", file=sys.stderr)
    return 2


def _cutout_request(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """Read the position, size and box options into values and the terms that name them in errors.

    Raises InvalidParameterError (a usage error) for what cannot be read; the checks against the
    image (box and position inside it, size not larger) are stream's.
    """
    from . import _sky

    terms = _sky.CLI.with_typed(
        **{
            name: value
            for name, value in (
                ("size", args.size),
                ("ra", args.ra),
                ("dec", args.dec),
                ("position", args.target),
                ("box", " ".join(str(v) for v in args.box) if args.box else None),
            )
            if value is not None
        }
    )
    if args.box is not None:
        return terms, {"box": tuple(args.box)}
    if args.ra is not None:
        from astropy.coordinates import SkyCoord

        position = SkyCoord(_sky.parse_ra(args.ra, terms), _sky.parse_dec(args.dec, terms), frame="icrs")
        terms = terms.with_names(position="--ra/--dec").with_typed(position=f"{args.ra} {args.dec}")
    else:
        position = _sky.parse_position(args.target, terms)
    return terms, {"position": position, "size": _sky.parse_size(args.size, terms)}


def _cutout(args: argparse.Namespace) -> int:
    from . import stream

    if args.box is not None and any(v is not None for v in (args.dec, args.size)):
        return _usage_error(args, "--box goes alone; --dec and --size go with --ra or --target")
    if args.ra is not None and (args.dec is None or args.size is None):
        return _usage_error(args, "--ra needs --dec and --size, e.g. --ra 10.68 --dec 41.27 --size 64")
    if args.target is not None and (args.dec is not None or args.size is None):
        return _usage_error(
            args, '--target needs --size (and no --dec), e.g. --target "00:42:44 +41:16:09" --size 10arcsec'
        )
    try:
        terms, where = _cutout_request(args)
    except InvalidParameterError as error:
        return _usage_error(args, error)
    output = Path(args.output)
    if output.exists() and not args.overwrite:
        raise InvalidParameterError(
            "output", str(output), hint="The file exists; pass --overwrite to replace it"
        )
    exts = [_extension(name.strip()) for name in args.ext.split(",") if name.strip()] if args.ext else None
    # stream's private entry point: the same cut-outs as stream.cutouts, with errors worded for the flags
    cuts = stream._cut(args.uri, exts=exts, companions=exts is None, anon=args.anon, terms=terms, **where)
    hdul = stream.to_hdulist(cuts, source=args.uri)
    hdul.writeto(output, overwrite=True)
    sci = hdul[1].header
    (ymin, ymax), (xmin, xmax) = next(iter(cuts.values())).bbox_original
    ny, nx = hdul[1].data.shape
    wcs = (
        "no WCS"
        if "CTYPE1" not in sci
        else f"WCS fitted to the gwcs within {sci['SIPMXERR']:.2g} pixel"
        if "SIPMXERR" in sci
        else "WCS"
    )
    print(
        f"wrote {output}: {', '.join(hdu.name for hdu in hdul[1:])}, {ny} x {nx} pixels (ny x nx), "
        f"x {xmin}..{xmax}, y {ymin}..{ymax} of {args.uri}; {wcs}"
    )
    return 0


def _is_prefix(uri: str) -> bool:
    """A URI ending in ``/`` (or a bare bucket) names everything below it."""
    return uri.endswith("/") or not split_uri(uri)[1]


def _stdin_uris() -> list[str]:
    """URIs from standard input, one a line; blank lines and ``#`` comments are skipped."""
    given = []
    for number, line in enumerate(sys.stdin, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if not text.startswith("s3://") or len(text.split()) > 1:
            raise InvalidURIError(
                f"line {number} of standard input is not one s3:// URI: {text!r}; give one "
                "URI a line, as `roman-helpers ls --uris PREFIX` prints them"
            )
        given.append(text)
    return given


def _requested(arguments: Sequence[str], anon: bool | None) -> list[str]:
    """The object URIs to fetch: ``-`` read from standard input, prefixes listed recursively.

    Each prefix's object count and total size are printed before anything is fetched.
    """
    given: list[str] = []
    for argument in arguments:
        given += _stdin_uris() if argument == "-" else [argument]
    if not given:
        raise InvalidURIError(
            "no URIs on standard input; give one s3:// URI a line, for example "
            "`roman-helpers ls --uris PREFIX | roman-helpers get - -d DIR`"
        )
    found: list[str] = []
    for uri in given:
        if not _is_prefix(uri):
            split_uri(uri)  # a malformed URI is refused before anything is fetched
            found.append(uri)
            continue
        objects = uris.list_objects(uri, recursive=True, anon=anon)
        total = sum(entry.size for entry in objects)
        print(f"{uri}: {len(objects)} object{'s' if len(objects) != 1 else ''}, {total:,} bytes")
        found += [entry.uri for entry in objects]
    return list(dict.fromkeys(found))  # once each, in order


def _get(args: argparse.Namespace) -> int:
    from .download import download
    from .errors import EndpointUnreachableError

    wanted = _requested(args.uris, args.anon)
    sys.stdout.flush()  # the prefix summaries before the progress bar
    results = download(
        wanted,
        args.dir,
        anon=args.anon,
        max_workers=args.workers,
        progress=args.progress,
        overwrite=args.overwrite,
    )
    unreachable = [r.error for r in results if isinstance(r.error, EndpointUnreachableError)]
    if unreachable and len(unreachable) == len(results):
        raise unreachable[0]  # nothing answered: one line, not one per URI
    counts = {"downloaded": 0, "skipped": 0, "failed": 0}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
        if result.status == "failed":
            said = str(result.error)
            print(f"error: {said}" if result.uri in said else f"error: {result.uri}: {said}", file=sys.stderr)
        else:
            print(f"{result.status:<10} {result.bytes:>14}  {result.path}")
    print(
        f"{counts['downloaded']} downloaded, {counts['skipped']} skipped, {counts['failed']} failed; "
        f"{sum(r.bytes for r in results):,} bytes received"
    )
    return 1 if counts["failed"] else 0


def _datasets(args: argparse.Namespace) -> int:
    if args.name is None:
        width = max(len(name) for name in datasets.names())
        for ds in datasets.load().values():
            print(f"{ds.name:<{width}}  {ds.access:<12}  {ds.title}")
        return 0
    ds = datasets.get(args.name)
    print(f"{ds.name}: {ds.title}\n\n{ds.description}\n")
    print(f"bucket:    {ds.bucket} ({ds.access})")
    print(f"template:  {ds.template}")
    print(f"notebooks: {', '.join(str(n) for n in ds.notebooks)}")
    print("parameters:")
    for p in ds.parameters.values():
        values = ", ".join(str(v) for v in p.values) if p.values is not None else "any"
        print(f"  {p.name} (default {p.default}): {p.help}; values: {values}")
    extra = ds.extra_fields
    if extra:
        print(f"also give: {', '.join(extra)} (template fields that are not parameters)")
    example = {**ds.defaults(), **{name: name.upper() for name in extra}}
    print(f"example:   roman-helpers uri {ds.name} " + " ".join(f"{k}={v}" for k, v in example.items()))
    return 0


def _uri(args: argparse.Namespace) -> int:
    params = {}
    for item in args.params:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidParameterError("argument", item, hint="Write key=value, e.g. band=F158")
        params[name.strip()] = value.strip()
    print(datasets.get(args.dataset).uri(**params))
    return 0


# --------------------------------------------------------------------------- parser


def _positive(text: str) -> int:
    """argparse type: a whole number of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: give a whole number of 1 or more")
    return value


def _anon_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--anon",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="force anonymous (--anon) or credentialed (--no-anon) access; "
        "by default public buckets are read anonymously",
    )


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
    parser = argparse.ArgumentParser(
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
    commands = parser.add_subparsers(metavar="COMMAND")

    def command(
        name: str,
        help: str,
        handler: Callable[[argparse.Namespace], int],
        description: str | None = None,
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=description or help, parents=[common])
        sub.set_defaults(handler=handler, command_parser=sub)
        return sub

    ls = command(
        "ls",
        "list objects under an s3:// prefix, with sizes in bytes",
        _ls,
        "List the objects and sub-prefixes under an s3:// prefix, with sizes in bytes "
        "('PRE' marks a sub-prefix). With --uris, print the URIs alone, one a line, "
        "ready for `roman-helpers get -`.",
    )
    ls.add_argument("uri", metavar="URI", help="s3://bucket/prefix")
    ls.add_argument("-r", "--recursive", action="store_true", help="list every object below the prefix")
    ls.add_argument(
        "--uris", action="store_true", help="print only the s3:// URIs, one a line (sub-prefixes end in /)"
    )
    _anon_option(ls)

    info = command(
        "info",
        "summarise a FITS or ASDF file, reading headers only",
        _info,
        "Show the HDUs of a FITS file or the tree of an ASDF file, reading only headers "
        "or the tree, not the data.",
    )
    info.add_argument("uri", metavar="URI", help="s3:// URI of a .fits, .fits.gz or .asdf file")
    _anon_option(info)

    header = command(
        "header",
        "print one FITS header",
        _header,
        "Print one header of a FITS file, reading only its header blocks.",
    )
    header.add_argument("uri", metavar="URI", help="s3:// URI of a .fits or .fits.gz file")
    header.add_argument("--ext", type=_extension, default=0, help="HDU number or name (default 0)")
    _anon_option(header)

    cutout = command(
        "cutout",
        "cut a region out of an image into a FITS file",
        _cutout,
        "Cut a region out of an image on S3, fetching only (about) the pixels in it, and "
        "write it to a multi-extension FITS file: the science image plus its ERR and DQ "
        "arrays when the file has them (extensions SCI, ERR, DQ), each with the WCS (for a "
        "Roman gwcs, a SIP approximation fitted over the cut-out, its measured accuracy in "
        "SIPMXERR). Give --box, or a centre (--ra and --dec, or --target) and --size. "
        "Errors in the options exit with 2; a region that does not fit the image with 1.",
    )
    cutout.add_argument("uri", metavar="URI", help="s3:// URI of a .fits, .fits.gz or Roman .asdf file")
    where = cutout.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--box",
        type=int,
        nargs=4,
        metavar=("X0", "Y0", "X1", "Y1"),
        help="pixel corners, 0-based, end exclusive: columns X0..X1-1 and rows Y0..Y1-1, "
        "i.e. data[Y0:Y1, X0:X1] (as box=(x0, y0, x1, y1) in Python)",
    )
    where.add_argument(
        "--ra",
        metavar="RA",
        help="centre right ascension: decimal degrees (9.9875) or sexagesimal hours "
        "(00:39:57, 0h39m57s); with --dec and --size",
    )
    where.add_argument(
        "--target",
        metavar='"RA DEC"',
        help='centre as one string: "00:39:57 -44:01:20" (RA in hours), "9.9875 -44.0222" '
        '(degrees) or "0h39m57s -44d01m20s"; with --size. Object names are not '
        "looked up (that needs the network)",
    )
    cutout.add_argument(
        "--dec",
        metavar="DEC",
        help="centre declination in degrees: decimal (-44.0222) or sexagesimal (-44:01:20)",
    )
    cutout.add_argument(
        "--size",
        metavar="NY[,NX]",
        help="pixels (64) or an angle (10arcsec, 0.5arcmin); one value for a square, two "
        "for rows,columns (height,width: ny,nx, as astropy's Cutout2D), e.g. "
        "20arcsec,30arcsec",
    )
    cutout.add_argument(
        "--ext",
        metavar="NAME[,NAME...]",
        default=None,
        help="which arrays: FITS HDU names or numbers (SCI, 1), or ASDF arrays (data, "
        "err, dq); the first places the cut-out. Default: the science image plus ERR "
        "and DQ when present (for a .fits.gz these lie after the whole science image: "
        "--ext SCI reads less)",
    )
    cutout.add_argument("-o", "--output", required=True, metavar="OUT.fits", help="FITS file to write")
    cutout.add_argument("--overwrite", action="store_true", help="replace OUT.fits if it exists")
    _anon_option(cutout)

    get = command(
        "get",
        "download objects, verified, into a folder",
        _get,
        "Download objects into a folder, keeping their keys as paths (so objects below a "
        "prefix keep their layout). A URI ending in / is a prefix: every object below it "
        "is fetched, and their number and total size are printed first. '-' reads URIs "
        "from standard input, one a line ('#' comments and blank lines skipped). Each file "
        "is verified and renamed into place only when complete; files already present "
        "are skipped. Exits with 1 when any download failed.",
    )
    get.add_argument(
        "uris",
        nargs="+",
        metavar="URI",
        help="s3:// URIs of objects, prefixes ending in /, or - for standard input",
    )
    get.add_argument("-d", "--dir", required=True, metavar="DIR", help="destination folder")
    get.add_argument(
        "--workers",
        type=_positive,
        default=None,
        help=f"files fetched at once (default {config.DEFAULT_DOWNLOAD_WORKERS}, or "
        "ROMAN_HELPERS_DOWNLOAD_WORKERS when set; the same default as in Python)",
    )
    get.add_argument("--overwrite", action="store_true", help="fetch again files already present")
    get.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    _anon_option(get)

    ds = command(
        "datasets",
        "list the datasets, or show one's parameters",
        _datasets,
        "Without NAME, list the datasets of datasets.yaml; with NAME, show its bucket, "
        "template and parameters with their valid values.",
    )
    ds.add_argument("name", nargs="?", metavar="NAME", help="a dataset name")

    uri = command(
        "uri",
        "build the s3:// URI of one file of a dataset",
        _uri,
        "Build the s3:// URI of one file of a dataset from key=value parameters; "
        "parameters left out take their defaults. A value that does not exist is "
        "refused with the list of valid ones.",
    )
    uri.add_argument("dataset", metavar="DATASET", help="a dataset name (see `roman-helpers datasets`)")
    uri.add_argument("params", nargs="*", metavar="KEY=VALUE", help="parameter values, e.g. sensor=3")

    _cli_survey.register(commands, command)  # index, find, lightcurve
    _register_sandbox(commands)
    register_run(commands)  # always offered; without the notebooks extra it says what to install
    return parser


def _register_sandbox(commands: argparse._SubParsersAction) -> None:
    """Add ``sandbox``: the real command with the sandbox extra, else one that says how to get it."""
    absent = _extras.missing("sandbox")
    if absent is None:
        try:
            from .sandbox.cli import register  # guarded: the sandbox extra is installed
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


# --------------------------------------------------------------------------- entry point


def _expected(error: BaseException) -> bool:
    """True for errors a user or a service causes; anything else is a bug and keeps its traceback."""
    if isinstance(error, (RomanHelpersError, OSError)):
        return True
    return type(error).__module__.split(".")[0] in _SERVICE_MODULES


def _quiet_stdout() -> None:
    """Point standard output at the null device, its reader having gone.

    As Python's documentation advises for SIGPIPE: Python ignores the signal, so a write into a
    pipe whose reader has closed raises BrokenPipeError; the output left is dropped by pointing
    the descriptor at devnull, so that the flush at exit does not fail again. (A closed network
    connection reaches us as the libraries' own errors, so a BrokenPipeError here is the output's.)
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # a replaced stdout without a descriptor
        pass


def _status(code: object) -> int:
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``roman-helpers`` with ``argv`` (default ``sys.argv[1:]``) and return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments, without the program name.

    Returns
    -------
    int
        0 on success (also when the reader of standard output stops early, as ``| head``
        does), 1 on an error (printed as ``error: <message>``), 2 on a usage error, 130 when
        interrupted. With ``--debug`` errors are raised, with their traceback.

    Examples
    --------
    >>> main(["uri", "roman-tutorial-2026", "detector=4"])
    s3://stpubdata/roman/nexus/soc_simulations/tutorial_data/roman-2026.2/r0003201001001001004_0001_wfi04_f106_cal.asdf
    0
    """
    try:
        status = _run(argv)
        sys.stdout.flush()  # a reader that has gone shows here when the output fitted the buffer
        return status
    except BrokenPipeError:
        _quiet_stdout()
        return 0  # the reader (`| head`) has what it wanted: stop quietly


def _run(argv: Sequence[str] | None) -> int:
    """:func:`main` but for a closed standard output."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return _status(exit_.code)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        with config.command_line():
            return _status(args.handler(args))
    except SystemExit as exit_:  # a handler's usage error (parser.error)
        return _status(exit_.code)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise  # handled by main()
    except Exception as error:
        if args.debug or not _expected(error):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
