"""The commands on objects in S3: ``ls``, ``info``, ``header``, ``cutout`` and ``get`` (private).

Each parses its options, calls one function of the kit and prints what it returned.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import _sky, config, uris
from ..errors import Interrupted, InvalidParameterError, InvalidURIError
from ._files import uri_lines
from ._options import anon_option, extension, positive_int, sky_target, target_words
from ._words import Usage, Words, interrupted, usage_error

__all__ = ["register"]

Command = Callable[..., argparse.ArgumentParser]


# --------------------------------------------------------------------------- ls, info, header


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
    from .. import stream

    print(stream.info(args.uri, anon=args.anon).rstrip("\n"))
    return 0


def _header(args: argparse.Namespace) -> int:
    from .. import stream

    if args.uri.lower().endswith(".asdf"):
        raise InvalidParameterError(
            "uri", args.uri, hint="header reads FITS files; for ASDF metadata use `roman-helpers info`"
        )
    with Words({"ext": "--ext"}):
        header = stream.read_header(args.uri, args.ext, anon=args.anon)
    print(header.tostring(sep="\n", endcard=False, padding=False).rstrip())
    return 0


# --------------------------------------------------------------------------- cutout


def _cutout_words(args: argparse.Namespace) -> Words:
    """``cutout``'s options for the kit's parameters, and what was typed for them."""
    target = target_words(args)
    return Words(
        flags={**target.flags, "box": "--box", "pixel": "--pixel", "size": "--size", "ext": "--ext"},
        typed={
            **target.typed,
            "box": " ".join(str(v) for v in args.box) if args.box else None,
            "pixel": " ".join(f"{v:g}" for v in args.pixel) if args.pixel else None,
            "size": args.size,
        },
    )


def _cutout_request(args: argparse.Namespace) -> dict[str, Any]:
    """The box, or the centre and size, read from the options (a usage error if they cannot be)."""
    if args.box is not None and any(v is not None for v in (args.dec, args.size)):
        raise Usage("--box goes alone; --dec and --size go with --ra, --target or --pixel")
    if args.ra is not None and (args.dec is None or args.size is None):
        raise Usage("--ra needs --dec and --size, e.g. --ra 10.68 --dec 41.27 --size 64")
    if args.target is not None and (args.dec is not None or args.size is None):
        raise Usage(
            '--target needs --size (and no --dec), e.g. --target "00:42:44 +41:16:09" --size 10arcsec'
        )
    if args.pixel is not None and (args.dec is not None or args.size is None):
        raise Usage("--pixel needs --size (and no --dec), e.g. --pixel 1049.5 924.5 --size 64")
    if args.box is not None:
        return {"box": tuple(args.box)}
    if args.pixel is not None:
        return {"pixel": _sky.parse_pixel(args.pixel), "size": _sky.parse_size(args.size)}
    return {"position": sky_target(args.target, args.ra, args.dec), "size": _sky.parse_size(args.size)}


def _cutout(args: argparse.Namespace) -> int:
    from .. import stream

    words = _cutout_words(args)
    try:
        with words:
            where = _cutout_request(args)
    except (Usage, InvalidParameterError) as error:
        return usage_error(args.debug, error)
    output = Path(args.output)
    if output.exists() and not args.overwrite:
        raise InvalidParameterError(
            "output", str(output), hint="The file exists; pass --overwrite to replace it"
        )
    exts = [extension(name.strip()) for name in args.ext.split(",") if name.strip()] if args.ext else None
    with words:
        cuts = stream.cutouts(args.uri, arrays=exts, anon=args.anon, **where)
    hdul = stream.to_hdulist(cuts, source=args.uri)
    hdul.writeto(output, overwrite=True)
    print(_cutout_summary(output, hdul, next(iter(cuts.values())).bbox_original, args.uri))
    return 0


def _cutout_summary(output: Path, hdul: Any, bbox: Any, uri: str) -> str:
    sci = hdul[1].header
    (ymin, ymax), (xmin, xmax) = bbox
    ny, nx = hdul[1].data.shape
    wcs = (
        "no WCS"
        if "CTYPE1" not in sci
        else f"WCS fitted to the gwcs within {sci['SIPMXERR']:.2g} pixel"
        if "SIPMXERR" in sci
        else "WCS"
    )
    return (
        f"wrote {output}: {', '.join(hdu.name for hdu in hdul[1:])}, {ny} x {nx} pixels (ny x nx), "
        f"x {xmin}..{xmax}, y {ymin}..{ymax} of {uri}; {wcs}"
    )


# --------------------------------------------------------------------------- get


def _requested(arguments: Sequence[str], anon: bool | None) -> list[str]:
    """The object URIs to fetch: ``-`` read from standard input, prefixes listed recursively.

    Each prefix's object count and total size are printed before anything is fetched.
    """
    given: list[str] = []
    for argument in arguments:
        given += uri_lines(sys.stdin, "standard input", strict=True) if argument == "-" else [argument]
    if not given:
        raise InvalidURIError(
            "no URIs on standard input; give one s3:// URI a line, for example "
            "`roman-helpers ls --uris PREFIX | roman-helpers get - -d DIR`"
        )
    found: list[str] = []
    for uri in given:
        _bucket, key = uris.split_uri(uri)  # a malformed URI is refused before anything is fetched
        if key and not key.endswith("/"):  # an object; a URI ending in / (or a bucket) is a prefix
            found.append(uri)
            continue
        objects = uris.list_objects(uri, recursive=True, anon=anon)
        total = sum(entry.size for entry in objects)
        print(f"{uri}: {len(objects)} object{'s' if len(objects) != 1 else ''}, {total:,} bytes")
        found += [entry.uri for entry in objects]
    return list(dict.fromkeys(found))  # once each, in order


def _get(args: argparse.Namespace) -> int:
    from ..download import download
    from ..errors import EndpointUnreachableError

    wanted = _requested(args.uris, args.anon)
    sys.stdout.flush()  # the prefix summaries before the progress bar
    try:
        results = download(
            wanted,
            args.dir,
            anon=args.anon,
            max_workers=args.workers,
            progress=args.progress,
            overwrite=args.overwrite,
        )
    except Interrupted as stopped:
        if args.debug:
            raise
        kept = [result for result in stopped.partial if result.status != "failed"]  # type: ignore[attr-defined]
        for result in kept:
            print(f"{result.status:<10} {result.bytes:>14}  {result.path}")
        return interrupted(
            f"{len(kept)} of {stopped.total} files downloaded into {args.dir} are kept; "
            "the same command again fetches the rest (files present are skipped)"
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


# --------------------------------------------------------------------------- the parsers


def register(command: Command) -> None:
    """Add ``ls``, ``info``, ``header``, ``cutout`` and ``get``; ``command`` makes a sub-command's parser."""
    _add_ls(command)
    _add_info_and_header(command)
    _add_cutout(command)
    _add_get(command)


def _add_ls(command: Command) -> None:
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
    anon_option(ls)


def _add_info_and_header(command: Command) -> None:
    info = command(
        "info",
        "summarise a FITS or ASDF file, reading headers only",
        _info,
        "Show the HDUs of a FITS file or the tree of an ASDF file, reading only headers "
        "or the tree, not the data.",
    )
    info.add_argument("uri", metavar="URI", help="s3:// URI of a .fits, .fits.gz or .asdf file")
    anon_option(info)
    header = command(
        "header",
        "print one FITS header",
        _header,
        "Print one header of a FITS file, reading only its header blocks.",
    )
    header.add_argument("uri", metavar="URI", help="s3:// URI of a .fits or .fits.gz file")
    header.add_argument("--ext", type=extension, default=0, help="HDU number or name (default 0)")
    anon_option(header)


def _add_cutout(command: Command) -> None:
    cutout = command(
        "cutout",
        "cut a region out of an image into a FITS file",
        _cutout,
        "Cut a region out of an image on S3, fetching only (about) the pixels in it, and "
        "write it to a multi-extension FITS file: the science image plus its ERR and DQ "
        "arrays when the file has them (extensions SCI, ERR, DQ), each with the WCS (for a "
        "Roman gwcs, a SIP approximation fitted over the cut-out, its measured accuracy in "
        "SIPMXERR). Give --box, or a centre (on the sky: --ra and --dec, or --target; in "
        "pixels: --pixel) and --size. "
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
    where.add_argument(
        "--pixel",
        type=float,
        nargs=2,
        metavar=("X", "Y"),
        help="centre in 0-based pixels, column then row (as pixel=(x, y) in Python); with --size",
    )
    _add_cutout_shape(cutout)


def _add_cutout_shape(cutout: argparse.ArgumentParser) -> None:
    """The options of ``cutout`` after where it is: its size, arrays and output."""
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
    anon_option(cutout)


def _add_get(command: Command) -> None:
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
        type=positive_int,
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
    anon_option(get)
