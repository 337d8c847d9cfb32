"""The ``roman-helpers`` command line.

Every sub-command is a thin wrapper over one function of the kit, so what it does is
documented there: ``ls`` (:func:`roman_helpers.config.filesystem`), ``info``
(:func:`roman_helpers.stream.info`), ``header`` (:func:`roman_helpers.stream.read_header`),
``cutout`` (:func:`roman_helpers.stream.cutout`), ``get`` (:func:`roman_helpers.download.download`),
``datasets`` (:mod:`roman_helpers.datasets`), ``uri`` (:meth:`roman_helpers.datasets.Dataset.uri`),
plus ``sandbox`` (:mod:`roman_helpers.sandbox.cli`, with the ``sandbox`` extra) and ``run``
(:mod:`roman_helpers.runner`, with the ``notebooks`` extra). Without its extra, such a command
says which one to install.

Errors a user can cause print ``error: <message>`` and exit with 1 (2 for a usage error);
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from pathlib import Path

from . import _extras, config, datasets
from .errors import (BucketNotFoundError, InvalidParameterError, MissingExtraError, ObjectNotFoundError,
                     RomanHelpersError, translate_s3_error)
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
  roman-helpers info s3://stpubdata/hst/public/ib6w/ib6w01010/ib6w01010_drz.fits
  roman-helpers header s3://stpubdata/hst/public/ib6w/ib6w01010/ib6w01010_drz.fits --ext SCI
  roman-helpers cutout s3://stpubdata/hst/public/ib6w/ib6w01010/ib6w01010_drz.fits \\
      --box 500 500 600 600 -o cut.fits
  roman-helpers cutout URI --ra 187.44 --dec 18.19 --size 64 -o cut.fits
  roman-helpers get URI [URI ...] -d data/ --workers 8
  roman-helpers sandbox run -- python my_script.py   # against the offline sandbox
  roman-helpers run --dataset openuniverse-was-fits  # execute the tutorials

Errors print 'error: <message>' and exit with 1 (2 for a usage error); --debug shows
the traceback."""

#: Modules whose exceptions are operational (network, service, store), not bugs of the kit.
_SERVICE_MODULES = {"astroquery", "botocore", "boto3", "requests", "urllib3", "aiobotocore"}


# --------------------------------------------------------------------------- handlers

def _ls(args: argparse.Namespace) -> int:
    bucket, key = split_uri(args.uri)
    fs = config.filesystem(bucket, anon=args.anon)
    path = f"{bucket}/{key}".rstrip("/")
    try:
        entries = list(fs.find(path, detail=True).values()) if args.recursive else fs.ls(path, detail=True)
    except OSError as error:
        translated = translate_s3_error(error, args.uri, anonymous=fs.anon)
        if isinstance(translated, BucketNotFoundError) or not isinstance(translated, ObjectNotFoundError):
            if translated is error:
                raise
            raise translated from error
        entries = []  # nothing under the prefix: said below, in words for a listing
    if not entries:
        raise ObjectNotFoundError(f"nothing at {args.uri}; check the bucket and prefix "
                                  f"(list the level above, e.g. s3://{bucket}/)")
    for entry in sorted(entries, key=lambda e: e["name"]):
        if entry.get("type") == "directory":
            print(f"{'PRE':>14}  s3://{entry['name'].rstrip('/')}/")
        else:
            print(f"{entry.get('size', 0):>14}  s3://{entry['name']}")
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
        raise InvalidParameterError("uri", args.uri, hint="header reads FITS files; for ASDF metadata "
                                    "use `roman-helpers info`")
    header = stream.read_header(args.uri, args.ext, anon=args.anon)
    print(header.tostring(sep="\n", endcard=False, padding=False).rstrip())
    return 0


def _cutout(args: argparse.Namespace) -> int:
    from . import stream

    if args.ra is not None and (args.dec is None or args.size is None):
        args.command_parser.error("--ra needs --dec and --size")
    if args.box is not None and (args.dec is not None or args.size is not None):
        args.command_parser.error("--box goes alone; --dec and --size go with --ra")
    output = Path(args.output)
    if output.exists() and not args.overwrite:
        raise InvalidParameterError("output", str(output), hint="The file exists; pass --overwrite to replace it")
    if args.box is not None:
        x0, y0, x1, y1 = args.box
        cut = stream.cutout(args.uri, box=(x0, x1, y0, y1), ext=args.ext, anon=args.anon)
    else:
        from astropy.coordinates import SkyCoord

        cut = stream.cutout(args.uri, position=SkyCoord(args.ra, args.dec, unit="deg"), size=args.size,
                            ext=args.ext, anon=args.anon)
    _write_cutout(cut, output, args.uri)
    (ymin, ymax), (xmin, xmax) = cut.bbox_original
    print(f"wrote {output}: {cut.data.shape[1]} x {cut.data.shape[0]} pixels "
          f"(x {xmin}..{xmax}, y {ymin}..{ymax} of {args.uri})")
    return 0


def _write_cutout(cut, output: Path, uri: str) -> None:
    from astropy.io import fits
    from astropy.wcs import WCS

    header = fits.Header()
    if isinstance(getattr(cut, "wcs", None), WCS):  # a gwcs (ASDF) has no FITS form to write
        header.update(cut.wcs.to_header())
    (ymin, ymax), (xmin, xmax) = cut.bbox_original
    header["SRCURI"] = uri  # no comment: a long URI fills the card (astropy continues it)
    for name, value in (("XMIN", xmin), ("XMAX", xmax), ("YMIN", ymin), ("YMAX", ymax)):
        header[name] = (int(value), "0-based pixel of the source image, inclusive")
    fits.PrimaryHDU(data=cut.data, header=header).writeto(output, overwrite=True)


def _get(args: argparse.Namespace) -> int:
    from .download import download

    progress = sys.stderr.isatty() if args.progress is None else args.progress
    results = download(args.uris, args.dir, anon=args.anon, max_workers=args.workers,
                       progress=progress, overwrite=args.overwrite)
    counts = {"downloaded": 0, "skipped": 0, "failed": 0}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
        if result.status == "failed":
            print(f"error: {result.uri}: {result.error}", file=sys.stderr)
        else:
            print(f"{result.status:<10} {result.bytes:>14}  {result.path}")
    print(f"{counts['downloaded']} downloaded, {counts['skipped']} skipped, {counts['failed']} failed; "
          f"{sum(r.bytes for r in results):,} bytes received")
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

def _anon_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--anon", action=argparse.BooleanOptionalAction, default=None,
                        help="force anonymous (--anon) or credentialed (--no-anon) access; "
                             "by default public buckets are read anonymously")


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
    parser = argparse.ArgumentParser(prog="roman-helpers", description=_DESCRIPTION, epilog=_EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an error")
    commands = parser.add_subparsers(metavar="COMMAND")

    def command(name: str, help: str, handler, description: str | None = None) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=description or help, parents=[common])
        sub.set_defaults(handler=handler, command_parser=sub)
        return sub

    ls = command("ls", "list objects under an s3:// prefix, with sizes in bytes", _ls,
                 "List the objects and sub-prefixes under an s3:// prefix, with sizes in bytes "
                 "('PRE' marks a sub-prefix).")
    ls.add_argument("uri", metavar="URI", help="s3://bucket/prefix")
    ls.add_argument("-r", "--recursive", action="store_true", help="list every object below the prefix")
    _anon_option(ls)

    info = command("info", "summarise a FITS or ASDF file, reading headers only", _info,
                   "Show the HDUs of a FITS file or the tree of an ASDF file, reading only headers "
                   "or the tree, not the data.")
    info.add_argument("uri", metavar="URI", help="s3:// URI of a .fits, .fits.gz or .asdf file")
    _anon_option(info)

    header = command("header", "print one FITS header", _header,
                     "Print one header of a FITS file, reading only its header blocks.")
    header.add_argument("uri", metavar="URI", help="s3:// URI of a .fits or .fits.gz file")
    header.add_argument("--ext", type=_extension, default=0, help="HDU number or name (default 0)")
    _anon_option(header)

    cutout = command("cutout", "cut a region out of an image into a FITS file", _cutout,
                     "Cut a region out of an image on S3, fetching only (about) the pixels in it, and "
                     "write it to a FITS file (with its WCS when the source has a FITS WCS).")
    cutout.add_argument("uri", metavar="URI", help="s3:// URI of a .fits, .fits.gz or Roman .asdf file")
    where = cutout.add_mutually_exclusive_group(required=True)
    where.add_argument("--box", type=int, nargs=4, metavar=("X0", "Y0", "X1", "Y1"),
                       help="pixel corners, 0-based, end exclusive: columns X0..X1-1, rows Y0..Y1-1")
    where.add_argument("--ra", type=float, help="centre right ascension in degrees (with --dec and --size)")
    cutout.add_argument("--dec", type=float, help="centre declination in degrees")
    cutout.add_argument("--size", type=int, help="side of the square cut-out in pixels")
    cutout.add_argument("--ext", type=_extension, default=None, help="FITS HDU (default: the first image)")
    cutout.add_argument("-o", "--output", required=True, metavar="OUT.fits", help="FITS file to write")
    cutout.add_argument("--overwrite", action="store_true", help="replace OUT.fits if it exists")
    _anon_option(cutout)

    get = command("get", "download objects, verified, into a folder", _get,
                  "Download objects into a folder, keeping their keys as paths. Each file is verified "
                  "and renamed into place only when complete; files already present are skipped. "
                  "Exits with 1 when any download failed.")
    get.add_argument("uris", nargs="+", metavar="URI", help="s3:// URIs")
    get.add_argument("-d", "--dir", required=True, metavar="DIR", help="destination folder")
    get.add_argument("--workers", type=int, default=8, help="files fetched at once (default 8)")
    get.add_argument("--overwrite", action="store_true", help="fetch again files already present")
    get.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="progress bar on stderr (default: when stderr is a terminal)")
    _anon_option(get)

    ds = command("datasets", "list the datasets, or show one's parameters", _datasets,
                 "Without NAME, list the datasets of datasets.yaml; with NAME, show its bucket, "
                 "template and parameters with their valid values.")
    ds.add_argument("name", nargs="?", metavar="NAME", help="a dataset name")

    uri = command("uri", "build the s3:// URI of one file of a dataset", _uri,
                  "Build the s3:// URI of one file of a dataset from key=value parameters; "
                  "parameters left out take their defaults. A value that does not exist is "
                  "refused with the list of valid ones.")
    uri.add_argument("dataset", metavar="DATASET", help="a dataset name (see `roman-helpers datasets`)")
    uri.add_argument("params", nargs="*", metavar="KEY=VALUE", help="parameter values, e.g. sensor=3")

    _register_sandbox(commands)
    register_run(commands)  # always offered; without the notebooks extra it says what to install
    return parser


def _register_sandbox(commands: argparse._SubParsersAction) -> None:
    """Add ``sandbox``: the real command with the sandbox extra, else one that says how to get it."""
    absent = _extras.missing("sandbox")
    if absent is None:
        try:
            from .sandbox.cli import register  # guarded: the sandbox extra is installed
        except ModuleNotFoundError as error:
            absent = error.name
        else:
            register(commands)
            return
    error = MissingExtraError("roman-helpers sandbox", ["sandbox"], absent)
    stub = commands.add_parser("sandbox",
                               help="offline stand-in for MAST, IRSA and S3 (needs the sandbox extra)",
                               description=str(error))
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
        0 on success, 1 on an error (printed as ``error: <message>``), 2 on a usage error,
        130 when interrupted. With ``--debug`` errors are raised, with their traceback.

    Examples
    --------
    >>> main(["uri", "roman-tutorial-2026", "detector=4"])
    s3://stpubdata/roman/nexus/soc_simulations/tutorial_data/roman-2026.2/r0003201001001001004_0001_wfi04_f106_cal.asdf
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return _status(exit_.code)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return _status(args.handler(args))
    except SystemExit as exit_:  # a handler's usage error (parser.error)
        return _status(exit_.code)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug or not _expected(error):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
