"""The survey commands of ``roman-helpers``: ``index``, ``find`` and ``lightcurve``.

Each is a thin wrapper over the kit: ``index`` over :func:`roman_helpers.footprints.build_index`
and :func:`~roman_helpers.footprints.save_index`, ``find`` over
:func:`roman_helpers.footprints.find`, ``lightcurve`` over that, then
:func:`roman_helpers.batch.cutouts` and :func:`roman_helpers.photometry.light_curve`. They are
added to the parser by :func:`register`, called from :func:`roman_helpers.cli.build_parser`.

What the shell adds: sky positions written as astronomers write them (read by the package's one
parser, :mod:`roman_helpers._sky`, as ``cutout`` reads them), sources of URIs on
standard input or in a file, summaries, and files written whole or not at all (a temporary
file renamed into place), so that an interrupted run never leaves a half-written index.

``find`` with no file over the target prints nothing on standard output and the reason (with
the distance to the nearest footprint) on standard error, and exits with 0: an empty answer is
an answer, and a pipe such as ``find ... --uris | xargs ...`` then simply has nothing to do.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import secrets
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InvalidParameterError, MissingExtraError, ObjectNotFoundError, RomanHelpersError

if TYPE_CHECKING:
    from astropy.coordinates import SkyCoord
    from astropy.table import Table

__all__ = ["parse_time", "register"]

_INDEX_SUFFIXES = (".ecsv", ".parquet")


# --------------------------------------------------------------------------- parsing


def parse_time(text: str | None, name: str) -> float | None:
    """An MJD from ``"61000.5"`` or an ISO date/time (UTC); ``None`` stays ``None``.

    Parameters
    ----------
    text : str or None
    name : str
        The option, for the message.

    Returns
    -------
    float or None

    Examples
    --------
    >>> parse_time("61000.5", "--start"), parse_time("2025-11-30T12:00:00", "--end")
    (61000.5, 61009.5)
    """
    if text is None:
        return None
    with contextlib.suppress(ValueError):
        return float(text)
    from astropy.time import Time

    try:
        return float(Time(text.strip(), scale="utc").mjd)
    except ValueError:
        raise InvalidParameterError(
            name,
            text,
            hint="Give an MJD (61000.5) or an ISO date or time (2026-02-25 or 2026-02-25T06:30:00, UTC)",
        ) from None


def _radius(text: str | None) -> Any:
    """An angle for find: a unit is needed (pixels differ from file to file)."""
    from . import _sky

    return None if text is None else _sky.parse_radius(text, _sky.CLI)


class _Usage(Exception):
    """Options that do not go together (exit status 2)."""


def _usage(args: argparse.Namespace, error: BaseException) -> int:
    """A command line that cannot be read: one line ``error: ...``, exit status 2 (as ``cutout``)."""
    if args.debug:
        raise error
    print(f"error: {error}", file=sys.stderr)
    return 2


# --------------------------------------------------------------------------- files


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary name next to ``path`` (same suffix); rename it over ``path`` on success.

    The rename is atomic on one file system, so ``path`` is either the old file or the new one,
    never half of either; on failure the temporary file is removed. (``tempfile`` would create
    the file with mode 0600; the writers here create it themselves, with the usual permissions.)
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _output(path_text: str, suffixes: tuple[str, ...], name: str, overwrite: bool) -> Path:
    """Check an output path before any work is done."""
    path = Path(path_text)
    if path.suffix.lower() not in suffixes:
        raise InvalidParameterError(name, path_text, valid=suffixes, hint="The name says the format")
    if not path.parent.is_dir():
        raise ObjectNotFoundError(f"no folder {path.parent} to write {path.name} into; create it first")
    if path.exists() and not overwrite:
        raise InvalidParameterError(name, path_text, hint="The file exists; pass --overwrite to replace it")
    return path


def _load_index(path_text: str) -> Table:
    from . import footprints

    path = Path(path_text)
    if path.suffix.lower() in _INDEX_SUFFIXES and not path.is_file():
        raise ObjectNotFoundError(f"no index at {path}; make one with `roman-helpers index SOURCE -o {path}`")
    return footprints.load_index(path)


def _uri_lines(lines: Any) -> list[str]:
    """URIs one a line; blank lines and ``#`` comments left out."""
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _progress() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


# --------------------------------------------------------------------------- index


def _index(args: argparse.Namespace) -> int:
    from . import footprints

    output = Path(args.output)
    if output.suffix.lower() not in _INDEX_SUFFIXES:
        raise InvalidParameterError(
            "-o",
            args.output,
            valid=_INDEX_SUFFIXES,
            hint="An index is saved as ECSV (text) or Parquet (large indexes)",
        )
    if output.suffix.lower() == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError as error:
            raise MissingExtraError("A Parquet index", ["survey"], error.name) from error
    previous = None
    if output.exists():
        if args.update:
            previous = footprints.load_index(output)
        elif not args.overwrite:
            raise InvalidParameterError(
                "-o",
                args.output,
                hint="The index exists; pass --update to refresh it (only files whose "
                "ETag changed are read again) or --overwrite to build it anew",
            )
    elif args.update:
        print(f"no index at {output} yet: building a new one", file=sys.stderr)
    if not output.parent.is_dir():
        raise ObjectNotFoundError(f"no folder {output.parent} to write {output.name} into; create it first")

    if args.source.startswith("s3://"):
        source: Any = args.source
    elif args.source == "-":
        source = _uri_lines(sys.stdin)
        if not source:
            raise InvalidParameterError("SOURCE", "-", hint="No URIs came on standard input (one a line)")
    else:
        listing = Path(args.source)
        if not listing.is_file():
            raise ObjectNotFoundError(
                f"no file {args.source}; SOURCE is an s3:// prefix, '-' for URIs on standard input, "
                "or a file of URIs (one a line)"
            )
        source = _uri_lines(listing.read_text().splitlines())
        if not source:
            raise InvalidParameterError("SOURCE", args.source, hint="The file holds no URIs (one a line)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what they say is in the summary below
        index = footprints.build_index(
            source, previous=previous, max_workers=args.workers, anon=args.anon, progress=_progress()
        )
    with _replacing(output) as temporary:
        footprints.save_index(index, temporary)
    counts = index.meta["build"]
    for row in index:
        if row["error"]:
            skipped = str(row["error"]).startswith(footprints.NOT_AN_IMAGE)
            print(f"{'skipped' if skipped else 'failed'}: {row['uri']}: {row['error']}", file=sys.stderr)
    skipped = counts["skipped_none"] + counts["skipped_not_image"]
    print(
        f"wrote {output}: {counts['files']} files; {counts['read']} read, {counts['reused']} reused "
        f"(unchanged), {counts['failed']} failed, {skipped} skipped (not images or not in the cloud)"
    )
    return 0


# --------------------------------------------------------------------------- find


def _position(args: argparse.Namespace) -> SkyCoord:
    """The target of --target, or of --ra and --dec (read by the package's one position parser)."""
    from . import _sky

    if args.target is None and (args.ra is None or args.dec is None):
        raise _Usage("give --target 'RA DEC', or --ra and --dec")
    if args.target is not None and (args.ra is not None or args.dec is not None):
        raise _Usage("give either --target or --ra and --dec, not both")
    typed = {"ra": args.ra, "dec": args.dec, "position": args.target}
    terms = _sky.CLI.with_typed(**{name: text for name, text in typed.items() if text is not None})
    if args.target is not None:
        return _sky.parse_position(args.target, terms)
    from astropy.coordinates import SkyCoord

    return SkyCoord(_sky.parse_ra(args.ra, terms), _sky.parse_dec(args.dec, terms), frame="icrs")


def _selection(args: argparse.Namespace) -> dict[str, Any]:
    """The target and the band and time selection, read from the options (before any work)."""
    start, end = parse_time(args.start, "--start"), parse_time(args.end, "--end")
    time = (start, end) if start is not None or end is not None else None
    return {"position": _position(args), "band": args.band, "time": time}


def _found(index_path: str, selection: dict[str, Any], radius: Any = None) -> Table:
    """The rows of the index over the target; the reason in ``meta["message"]`` when there are none."""
    from . import footprints

    index = _load_index(index_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an empty answer warns; its message is in meta
        return footprints.find(index, radius=radius, **selection)


def _nothing(found: Table, with_radius: bool) -> str:
    message = str(found.meta.get("message", "no file in the index holds the target"))
    hint = (
        "widen the search with --radius"
        if with_radius
        else "check the position, or search wider with `roman-helpers find --radius`"
    )
    return message.replace("widen the search with radius=", hint)


def _find(args: argparse.Namespace) -> int:
    try:
        selection, radius = _selection(args), _radius(args.radius)
    except (_Usage, InvalidParameterError) as error:
        return _usage(args, error)
    found = _found(args.index, selection, radius)
    if not len(found):
        print(_nothing(found, True), file=sys.stderr)
        return 0
    if args.uris:
        lines = [str(uri) for uri in found["uri"]]
    else:
        shown = found["uri", "band", "detector", "t_start", "x", "y"].copy()
        for name, form in (("t_start", ".5f"), ("x", ".2f"), ("y", ".2f")):  # MJD; 0-based pixels
            shown[name].format, shown[name].unit = form, None
        lines = shown.pformat(max_lines=-1, max_width=-1)
    try:
        print("\n".join(lines), flush=True)
    except BrokenPipeError:
        # the reader stopped early (`| head`): what it did not read is not an error. Later writes
        # (the interpreter's last flush) go nowhere, as Python's documentation advises.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


# --------------------------------------------------------------------------- lightcurve


def _lightcurve(args: argparse.Namespace) -> int:
    from . import _sky, batch, config
    from .photometry import light_curve

    if args.plot:  # the missing extra first: before any work, as for every command that needs one
        try:
            import matplotlib
        except ImportError as error:
            raise MissingExtraError("--plot", ["notebooks"], error.name) from error
        matplotlib.use("Agg")  # files only: no window, whatever the display
    r_in, r_out = args.annulus
    try:
        selection = _selection(args)
        if not args.radius <= r_in < r_out:
            raise _Usage("need --radius <= R_IN < R_OUT (the annulus lies outside the aperture)")
        default = 2 * math.ceil(r_out) + 3  # just holds the annulus
        size = _sky.parse_size(args.size, _sky.CLI.with_typed(size=args.size)) if args.size else default
    except (_Usage, InvalidParameterError) as error:
        return _usage(args, error)
    curve_path = _output(args.output, (".ecsv",), "-o", args.overwrite)
    plot_path = _output(args.plot, (".png", ".pdf", ".svg"), "--plot", args.overwrite) if args.plot else None
    found = _found(args.index, selection)
    target = selection["position"]
    if not len(found):
        raise ObjectNotFoundError(_nothing(found, False))
    files = found["uri", "band", "detector", "t_start", "t_end"]
    ends = zip(files["t_start"], files["t_end"], strict=True)
    files["t_end"] = [end if math.isfinite(end) else start for start, end in ends]  # no EXPTIME: an instant
    try:
        result = batch.cutouts(
            files,
            target,
            size,
            client=args.scheduler,
            max_workers=args.workers,
            anon=args.anon,
            timeout=args.timeout,
            progress=_progress(),
        )
    except InvalidParameterError as error:
        if error.name != "client":
            raise
        waited = min(args.timeout or config.timeout(), batch.CONNECT_TIMEOUT)
        raise InvalidParameterError(
            "--scheduler",
            args.scheduler,
            hint=f"No Dask scheduler answered there within {waited:g} s; check the address (the scheduler "
            "prints it when it starts), start one with `dask scheduler` and `dask worker ADDRESS`, "
            "or leave out --scheduler to work in threads here",
        ) from None
    print(f"files found: {len(found)}; ok: {len(result.ok)}; failed: {len(result.failed)}")
    for failure in result.failed:
        print(f"failed: {failure.uri}: {failure.error_type}: {failure.message}", file=sys.stderr)
    print(
        f"moved {result.bytes:,} bytes in {result.requests} requests; "
        f"{result.files_per_second:.1f} files/s on {result.backend}"
    )
    if not result.ok:
        raise RomanHelpersError(
            f"none of the {len(found)} files gave a cut-out (see the failures above); nothing written"
        )
    curve = light_curve(result, target, radius=args.radius, annulus=(r_in, r_out))
    curve.meta.update(
        {
            "target_ra_deg": float(target.ra.deg),
            "target_dec_deg": float(target.dec.deg),
            "aperture_radius_pix": args.radius,
            "annulus_pix": [r_in, r_out],
            "cutout_size": str(args.size or default),  # pixels, unless an angle is written
            "index": str(args.index),
        }
    )
    with _replacing(curve_path) as temporary:
        curve.write(temporary, format="ascii.ecsv")
    print(f"wrote {curve_path}: {len(curve)} points")
    if plot_path is not None:
        from .photometry import plot_light_curve

        ax = plot_light_curve(curve)
        ax.set_title(f"ra {target.ra.deg:.6f}  dec {target.dec.deg:+.6f}")
        try:
            with _replacing(plot_path) as temporary:
                ax.figure.savefig(temporary, format=plot_path.suffix[1:].lower(), dpi=120)
        finally:
            import matplotlib.pyplot as plt

            plt.close(ax.figure)
        print(f"wrote {plot_path}")
    return 0


# --------------------------------------------------------------------------- parser


def _anon_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--anon",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="force anonymous (--anon) or credentialed (--no-anon) access; "
        "by default public buckets are read anonymously",
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"give a whole number of 1 or more, not {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"give a number above 0, not {text}")
    return value


def _selection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "index", metavar="INDEX", help="an index from `roman-helpers index` (.ecsv or .parquet)"
    )
    parser.add_argument(
        "--target",
        metavar="'RA DEC'",
        help="the position: decimal degrees ('150.1 2.2'), sexagesimal with RA in hours "
        "('10:00:24 +02:12:00') or with units ('10h00m24s +2d12m')",
    )
    parser.add_argument("--ra", metavar="RA", help="right ascension (with --dec), as for --target")
    parser.add_argument("--dec", metavar="DEC", help="declination (with --ra)")
    parser.add_argument(
        "--band",
        nargs="+",
        action="extend",
        metavar="BAND",
        help="only these bands, e.g. --band F158 F184 (case does not matter)",
    )
    parser.add_argument("--start", metavar="MJD|ISO", help="only exposures ending after this time (UTC)")
    parser.add_argument("--end", metavar="MJD|ISO", help="only exposures starting before this time (UTC)")


def register(commands: argparse._SubParsersAction, command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``index``, ``find`` and ``lightcurve`` to the ``roman-helpers`` command line.

    Parameters
    ----------
    commands : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers`` returned.
    command : callable
        ``command(name, help, handler, description)``: adds a sub-command with the options
        every command shares and returns its parser (see :func:`roman_helpers.cli.build_parser`).

    Examples
    --------
    >>> from roman_helpers.cli import build_parser
    >>> args = build_parser().parse_args(["find", "tds.ecsv", "--target", "150.1 2.2", "--band", "F158"])
    >>> args.index, args.target, args.band
    ('tds.ecsv', '150.1 2.2', ['F158'])
    """
    index = command(
        "index",
        "index image files by sky footprint and time, from their headers",
        _index,
        "Read the headers (FITS) or metadata (ASDF) of image files, never their pixels, and write one "
        "row per file (band, detector, time, footprint, WCS) to INDEX. With --update, files whose "
        "ETag has not changed keep their row without being read. The index is written whole or not "
        "at all. Exits with 0 once it is written, even when some files could not be indexed: they "
        "are listed, kept with the reason, and tried again by the next --update.",
    )
    index.add_argument(
        "source",
        metavar="SOURCE",
        help="an s3:// prefix (listed recursively), '-' for URIs on standard input, or a "
        "file of URIs; one URI a line, blank lines and '#' comments ignored",
    )
    index.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="INDEX",
        help="index to write: .ecsv (text) or .parquet (large surveys; survey extra)",
    )
    how = index.add_mutually_exclusive_group()
    how.add_argument(
        "--update",
        action="store_true",
        help="start from the existing INDEX; read again only files whose ETag changed",
    )
    how.add_argument("--overwrite", action="store_true", help="replace an existing INDEX, reading every file")
    index.add_argument("--workers", type=_positive_int, default=16, help="files read at once (default 16)")
    _anon_option(index)

    find = command(
        "find",
        "list the files of an index whose image holds a position",
        _find,
        "List the files of an index whose image holds a sky position, with the position's 0-based "
        "pixel (x, y) in each, in time order. With no file there, prints nothing, says on standard "
        "error how far the nearest footprint is, and exits with 0 (a pipe then has nothing to do).",
    )
    _selection_options(find)
    find.add_argument(
        "--radius",
        metavar="ANGLE",
        help="also files whose image comes within this angle, with its unit: 10arcsec, 0.5arcmin",
    )
    find.add_argument(
        "--uris", action="store_true", help="print only the URIs, one a line (for scripts and pipes)"
    )

    lightcurve = command(
        "lightcurve",
        "forced photometry of a target in every file of an index that holds it",
        _lightcurve,
        "Find the files that hold the target, cut the same small region out of each (fetching only "
        "those pixels, in parallel threads or on a Dask cluster), measure the flux in a circle at the "
        "target minus the local background, and write the light curve (ECSV; a plot if asked). A "
        "file that fails is listed and left out; the exit status is 1 only when nothing could be "
        "measured.",
    )
    _selection_options(lightcurve)
    lightcurve.add_argument(
        "--size",
        default=None,
        metavar="SIZE",
        help="side of the cut-outs in pixels (25) or as an angle (3arcsec); two values are ny,nx "
        "(default: just enough for the annulus)",
    )
    lightcurve.add_argument(
        "--radius", type=_positive_float, default=3.0, metavar="PIXELS", help="aperture radius (default 3)"
    )
    lightcurve.add_argument(
        "--annulus",
        type=_positive_float,
        nargs=2,
        default=(8.0, 14.0),
        metavar=("R_IN", "R_OUT"),
        help="background annulus radii (default 8 14)",
    )
    lightcurve.add_argument(
        "-o", "--output", required=True, metavar="CURVE.ecsv", help="light curve to write"
    )
    lightcurve.add_argument(
        "--plot", metavar="CURVE.png", help="also plot it (.png, .pdf or .svg; needs the notebooks extra)"
    )
    lightcurve.add_argument(
        "--overwrite", action="store_true", help="replace CURVE.ecsv and the plot if present"
    )
    lightcurve.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="work on this Dask cluster, e.g. tcp://10.0.0.5:8786 (survey extra); its "
        "workers need the same credentials and AWS_ENDPOINT_URL",
    )
    lightcurve.add_argument(
        "--workers", type=_positive_int, default=8, help="threads when no --scheduler is given (default 8)"
    )
    lightcurve.add_argument(
        "--timeout",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="time limit of one attempt at one file, and of the wait for the scheduler (at most 10 s)",
    )
    _anon_option(lightcurve)
