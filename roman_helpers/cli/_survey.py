"""The survey commands: ``index``, ``find`` and ``lightcurve`` (private).

Each parses its options, calls one function of the kit and prints: ``index``
:func:`roman_helpers.footprints.build_index` (with ``--manifest``,
:func:`~roman_helpers.footprints.from_manifest`; then :func:`~roman_helpers.footprints.save_index`),
``find`` :func:`roman_helpers.footprints.find`, ``lightcurve``
:func:`roman_helpers.photometry.light_curve_from_index` (with ``--targets``,
:func:`roman_helpers.catalog_photometry.light_curves`). What the shell adds: sources of URIs on
standard input or in a file, summaries, and files written whole or not at all.

``find`` with no file over the target prints nothing on standard output and the reason (with
the distance to the nearest footprint) on standard error, and exits with 0: an empty answer is
an answer, and a pipe such as ``find ... --uris | xargs ...`` then simply has nothing to do.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _extras, _sky
from .._atomic import replacing
from ..errors import (
    Interrupted,
    InvalidParameterError,
    MissingExtraError,
    ObjectNotFoundError,
    RomanHelpersError,
)
from ..photometry import METHODS
from ._files import checked_output, progress, uri_lines
from ._options import anon_option, positive_float, positive_int, selection_options, sky_target, target_words
from ._words import Usage, Words, interrupted, usage_error

if TYPE_CHECKING:
    from astropy.table import Table

__all__ = ["register"]

Command = Callable[..., argparse.ArgumentParser]
_INDEX_SUFFIXES = (".ecsv", ".parquet")


# --------------------------------------------------------------------------- index


def _previous_index(args: argparse.Namespace) -> Path | None:
    """The index to update, if any; checks the output before any work is done."""
    output = Path(args.output)
    if output.suffix.lower() not in _INDEX_SUFFIXES:
        raise InvalidParameterError(
            "-o",
            args.output,
            valid=_INDEX_SUFFIXES,
            hint="An index is saved as ECSV (text) or Parquet (large indexes)",
        )
    if output.suffix.lower() == ".parquet":
        _extras.require("A Parquet index", "survey")
    if not output.exists():
        if args.update:
            print(f"no index at {output} yet: building a new one", file=sys.stderr)
        if not output.parent.is_dir():
            raise ObjectNotFoundError(
                f"no folder {output.parent} to write {output.name} into; create it first"
            )
        return None
    if args.update:
        return output
    if not args.overwrite:
        raise InvalidParameterError(
            "-o",
            args.output,
            hint="The index exists; pass --update to refresh it (only files whose "
            "ETag changed are read again) or --overwrite to build it anew",
        )
    return None


def _index_source(text: str) -> Any:
    """An s3:// prefix as it is; URIs from standard input ('-') or from a file, one a line."""
    if text.startswith("s3://"):
        return text
    if text == "-":
        source = uri_lines(sys.stdin, "standard input")
        if not source:
            raise InvalidParameterError("SOURCE", "-", hint="No URIs came on standard input (one a line)")
        return source
    listing = Path(text)
    if not listing.is_file():
        raise ObjectNotFoundError(
            f"no file {text}; SOURCE is an s3:// prefix, '-' for URIs on standard input, "
            "or a file of URIs (one a line)"
        )
    source = uri_lines(listing.read_text().splitlines(), str(listing))
    if not source:
        raise InvalidParameterError("SOURCE", text, hint="The file holds no URIs (one a line)")
    return source


def _index_manifest(args: argparse.Namespace) -> int:
    """``index --manifest FILE``: the manifest's rows, no file read (``find`` reads footprints)."""
    from .. import footprints

    if args.source is not None or args.update:
        return usage_error(
            args.debug, Usage("give either SOURCE or --manifest FILE (an index from a manifest is made anew)")
        )
    _previous_index(args)  # the output checked before any work
    index = footprints.from_manifest(args.manifest, uri_column=args.uri_column)
    footprints.save_index(index, args.output)  # whole or not at all
    counts = index.meta["build"]
    print(
        f"wrote {args.output}: {counts['files']} files from {args.manifest} "
        f"({index.meta['manifest']['uri_column']}), "
        f"{counts['skipped_none']} rows without a URI skipped; no file read: `roman-helpers find` "
        "reads the footprints of the files a target may be on, and keeps them in the index"
    )
    return 0


def _index(args: argparse.Namespace) -> int:
    from .. import footprints

    if args.manifest is not None:
        return _index_manifest(args)
    if args.source is None:
        return usage_error(
            args.debug,
            Usage(
                "give the files to index: SOURCE (an s3:// prefix, '-' or a file of URIs) or --manifest FILE"
            ),
        )
    previous = _previous_index(args)
    source = _index_source(args.source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # what they say is in the summary below
            index = footprints.build_index(
                source, previous=previous, max_workers=args.workers, anon=args.anon, progress=progress()
            )
    except Interrupted as stopped:
        if args.debug:
            raise
        footprints.save_index(stopped.partial, args.output)  # whole or not at all
        unchecked = stopped.partial.meta["build"]["interrupted"]["unchecked"]  # type: ignore[attr-defined]
        kept = f" (with {unchecked} rows of the old index, checked next time)" if unchecked else ""
        return interrupted(
            f"{stopped.done} of {stopped.total} files indexed, saved to {args.output}{kept}; "
            f"`roman-helpers index {args.source} -o {args.output} --update` goes on from there"
        )
    footprints.save_index(index, args.output)  # whole or not at all
    for row in index:
        if row["error"]:
            skipped = str(row["error"]).startswith(footprints.NOT_AN_IMAGE)
            print(f"{'skipped' if skipped else 'failed'}: {row['uri']}: {row['error']}", file=sys.stderr)
    counts = index.meta["build"]
    skipped = counts["skipped_none"] + counts["skipped_not_image"]
    print(
        f"wrote {args.output}: {counts['files']} files; {counts['read']} read, {counts['reused']} reused "
        f"(unchanged), {counts['failed']} failed, {skipped} skipped (not images or not in the cloud)"
    )
    return 0


# --------------------------------------------------------------------------- find


def _selection_words(args: argparse.Namespace) -> Words:
    """The options of the target and the band and time selection, for the kit's parameters."""
    target = target_words(args)
    flags = {**target.flags, "band": "--band", "start": "--start", "end": "--end", "time": "--start/--end"}
    return Words(flags, {**target.typed, "start": args.start, "end": args.end})


def _selection(args: argparse.Namespace) -> dict[str, Any]:
    """The target and the band and time selection, read from the options (before any work)."""
    if args.target is not None and (args.ra is not None or args.dec is not None):
        raise Usage("give either --target or --ra and --dec, not both")
    return {
        "position": sky_target(args.target, args.ra, args.dec),
        "band": args.band,
        "time": _time_selection(args),
    }


def _time_selection(args: argparse.Namespace) -> Any:
    """The time interval of --start and --end, or None."""
    start, end = _sky.parse_time(args.start, "start"), _sky.parse_time(args.end, "end")
    return (start, end) if start is not None or end is not None else None


def _load_index(path_text: str) -> Table:
    from .. import footprints

    path = Path(path_text)
    if path.suffix.lower() in _INDEX_SUFFIXES and not path.is_file():
        raise ObjectNotFoundError(f"no index at {path}; make one with `roman-helpers index SOURCE -o {path}`")
    return footprints.load_index(path)


def _find(args: argparse.Namespace) -> int:
    from .. import footprints

    selection_words = _selection_words(args)
    words = Words(
        {**selection_words.flags, "radius": "--radius"}, {**selection_words.typed, "radius": args.radius}
    )
    try:
        with words:
            selection = _selection(args)
            radius = None if args.radius is None else _sky.parse_radius(args.radius)
    except (Usage, InvalidParameterError) as error:
        return usage_error(args.debug, error)
    path = Path(args.index)
    _load_index(args.index)  # says what to do when it is not an index, before any work
    with warnings.catch_warnings(record=True) as said, words:
        warnings.simplefilter("always")  # an empty answer warns (its message is in meta); others are said
        found = footprints.find(
            path, radius=radius, **selection, max_workers=args.workers, anon=args.anon, progress=progress()
        )
    read = found.meta["footprints"]
    if read["read"]:
        print(
            f"read the footprints of {read['read']} files from their headers (kept in {path})",
            file=sys.stderr,
        )
    for warning in said:
        if "could not be read" in str(warning.message):
            print(f"warning: {warning.message}", file=sys.stderr)
    if not len(found):
        print(words.say(found.meta["message"]), file=sys.stderr)
        return 0
    if args.uris:
        print("\n".join(str(uri) for uri in found["uri"]))
        return 0
    print("\n".join(_found_table(found, args.long)))
    return 0


def _elided(text: str, width: int) -> str:
    """``text`` cut in its middle to ``width`` characters: a file's name keeps its start and its end."""
    if len(text) <= width:
        return text
    head = (width - 3) // 2
    return f"{text[:head]}...{text[len(text) - (width - 3 - head) :]}"


def _found_table(found: Table, long: bool) -> list[str]:
    """The files found, one a line, as wide as the terminal (80 columns when it is not one).

    URIs run past 120 characters: the table names each file under the folder they share, said
    on the first line, and cuts the middle of names still too long. ``--long`` shows whole URIs.
    """
    import shutil

    shown = found["band", "detector", "t_start", "x", "y"].copy()
    for name, form in (("t_start", ".5f"), ("x", ".2f"), ("y", ".2f")):  # MJD; 0-based pixels
        shown[name].format, shown[name].unit = form, None
    uris = [str(uri) for uri in found["uri"]]
    if long:
        shown.add_column(uris, name="uri", index=0)
        return shown.pformat(max_lines=-1, max_width=-1)
    shared = []  # the folders all the URIs are under
    for names in zip(*(uri.split("/")[:-1] for uri in uris), strict=False):
        if len(set(names)) > 1:
            break
        shared.append(names[0])
    folder = "/".join(shared) + "/"
    others = max(len(line) for line in shown.pformat(max_lines=-1, max_width=-1))
    room = max(24, shutil.get_terminal_size().columns - others - 1)
    shown.add_column([_elided(uri.removeprefix(folder), room) for uri in uris], name="file", index=0)
    shown["file"].format = "<"  # names read from their start
    return [f"files under {folder} (--long for whole URIs):", *shown.pformat(max_lines=-1, max_width=-1)]


# --------------------------------------------------------------------------- lightcurve


def _lightcurve_words(args: argparse.Namespace) -> Words:
    selection = _selection_words(args)
    return Words(
        {
            **selection.flags,
            "size": "--size",
            "radius": "--radius",
            "annulus": "--annulus",
            "client": "--scheduler",
            "method": "--method",
            "reference_window": "--reference-window",
        },
        {
            **selection.typed,
            "size": args.size,
            "annulus": " ".join(f"{r:g}" for r in args.annulus),
            "client": args.scheduler,
            "reference_window": None if args.reference_window is None else " ".join(args.reference_window),
        },
    )


def _plotting() -> None:
    """The missing extra first: before any work, as for every command that needs one."""
    try:
        import matplotlib
    except ImportError as error:
        raise MissingExtraError("--plot", ["notebooks"], error.name) from error
    matplotlib.use("Agg")  # files only: no window, whatever the display


def _lightcurve(args: argparse.Namespace) -> int:
    from ..photometry import light_curve_from_index

    if args.targets is not None:
        return _lightcurves(args)
    if args.plot:
        _plotting()
    words = _lightcurve_words(args)
    try:
        with words:
            selection = _selection(args)
            _sky.check_apertures(args.radius, *args.annulus)
            if args.size is not None:
                _sky.parse_size(args.size)
    except (Usage, InvalidParameterError) as error:
        return usage_error(args.debug, error)
    curve_path = checked_output(args.output, (".ecsv",), "-o", args.overwrite)
    plot_path = (
        checked_output(args.plot, (".png", ".pdf", ".svg"), "--plot", args.overwrite) if args.plot else None
    )
    index = _load_index(args.index)
    try:
        with warnings.catch_warnings(), words:
            warnings.simplefilter("ignore")  # what they say is printed below
            curve = light_curve_from_index(
                index,
                selection.pop("position"),
                **selection,
                **_measuring(args),
                method=args.method,
                reference_window=None if args.reference_window is None else tuple(args.reference_window),
            )
    except Interrupted as stopped:
        if args.debug:
            raise
        return _interrupted_curve(stopped, args.index, curve_path)
    _report(curve)
    _write(curve, args.index, curve_path)
    print(f"wrote {curve_path}: {len(curve)} points")
    if plot_path is not None:
        _plot(curve, plot_path, mag=args.mag)
    return 0


def _measuring(args: argparse.Namespace) -> dict[str, Any]:
    """The options of the stamps, the apertures and the work, as the kit's parameters."""
    return {
        "size": args.size,
        "radius": args.radius,
        "annulus": tuple(args.annulus),
        "client": args.scheduler,
        "max_workers": args.workers,
        "anon": args.anon,
        "timeout": args.timeout,
        "progress": progress(),
    }


def _write(table: Any, index: str, path: Path) -> None:
    """The table, with the index it came from, written whole or not at all."""
    table.meta["index"] = str(index)
    with replacing(path) as temporary:
        table.write(temporary, format="ascii.ecsv")


def _lightcurves(args: argparse.Namespace) -> int:
    """``lightcurve --targets CATALOG``: every target of a catalog, each file read once."""
    from ..catalog_photometry import light_curves

    one = _lightcurve_words(args)
    words = Words({**one.flags, "catalog": "--targets"}, {**one.typed, "catalog": args.targets})
    try:
        with words:
            if args.target is not None or args.ra is not None or args.dec is not None:
                raise Usage("give either --targets CATALOG or one target (--target, or --ra and --dec)")
            if args.plot:
                raise Usage("--plot draws one target's light curve; leave it out with --targets")
            time = _time_selection(args)
            _sky.check_apertures(args.radius, *args.annulus)
            if args.size is not None:
                _sky.parse_size(args.size)
    except (Usage, InvalidParameterError) as error:
        return usage_error(args.debug, error)
    table_path = checked_output(args.output, (".ecsv",), "-o", args.overwrite)
    index = _load_index(args.index)
    try:
        with warnings.catch_warnings(), words:
            warnings.simplefilter("ignore")  # what they say is printed below
            table = light_curves(
                index,
                args.targets,
                band=args.band,
                time=time,
                **_measuring(args),
                method=args.method,
                reference_window=None if args.reference_window is None else tuple(args.reference_window),
            )
    except Interrupted as stopped:
        if args.debug:
            raise
        return _interrupted_curve(stopped, args.index, table_path)
    meta, transfer = table.meta, table.meta["transfer"]
    for failure in meta["failed"]:
        print(f"failed: {failure}", file=sys.stderr)
    _write(table, args.index, table_path)
    on_files = meta["targets"] - len(meta["not_covered"])
    print(
        f"wrote {table_path}: {len(table)} points of {on_files} of {meta['targets']} targets "
        f"({len(meta['not_covered'])} on no file) from {meta['files']} files, {len(meta['failed'])} failed; "
        f"moved {transfer['bytes']:,} bytes in {transfer['requests']} requests"
    )
    return 0


def _interrupted_curve(stopped: Interrupted, index: str, path: Path) -> int:
    """Ctrl-C: the points measured so far are written (``meta["interrupted"]`` says so), and said."""
    curve: Any = stopped.partial
    left = f"{stopped.total - stopped.done} of {stopped.total} files not measured"
    if not len(curve):
        return interrupted(f"no point was measured yet ({left}); nothing written")
    _write(curve, index, path)
    return interrupted(
        f"wrote the {len(curve)} points measured so far to {path} ({left}); run it again for the whole curve"
    )


def _report(curve: Any) -> None:
    """What the batch did: files, failures, transfer; an error when nothing could be measured."""
    meta, transfer = curve.meta, curve.meta["transfer"]
    print(f"files found: {meta['files']}; ok: {len(curve)}; failed: {len(meta['failed'])}")
    for failure in meta["failed"]:
        print(f"failed: {failure}", file=sys.stderr)
    rate = meta["files"] / transfer["seconds"] if transfer["seconds"] > 0 else float("nan")
    print(
        f"moved {transfer['bytes']:,} bytes in {transfer['requests']} requests; "
        f"{rate:.1f} files/s on {transfer['backend']}"
    )
    if not len(curve):
        raise RomanHelpersError(
            f"none of the {meta['files']} files gave a cut-out (see the failures above); nothing written"
        )


def _plot(curve: Any, path: Path, *, mag: bool = False) -> None:
    import matplotlib.pyplot as plt

    from ..photometry import plot_light_curve

    ax = plot_light_curve(curve, mag=mag)
    ax.set_title(f"ra {curve.meta['target_ra_deg']:.6f}  dec {curve.meta['target_dec_deg']:+.6f}")
    try:
        with replacing(path) as temporary:
            ax.figure.savefig(temporary, format=path.suffix[1:].lower(), dpi=120)
    finally:
        plt.close(ax.figure)
    print(f"wrote {path}")


# --------------------------------------------------------------------------- the parsers


def register(command: Command) -> None:
    """Add ``index``, ``find`` and ``lightcurve``; ``command`` makes a sub-command's parser.

    Examples
    --------
    >>> from roman_helpers.cli import build_parser
    >>> args = build_parser().parse_args(["find", "tds.ecsv", "--target", "150.1 2.2", "--band", "F158"])
    >>> args.index, args.target, args.band
    ('tds.ecsv', '150.1 2.2', ['F158'])
    """
    _add_index(command)
    _add_find(command)
    _add_lightcurve(command)


def _add_index(command: Command) -> None:
    index = command(
        "index",
        "index image files by sky footprint and time, from their headers",
        _index,
        "Read the headers (FITS) or metadata (ASDF) of image files, never their pixels, and write one "
        "row per file (band, detector, time, footprint, WCS) to INDEX. With --update, files whose "
        "ETag has not changed keep their row without being read. The index is written whole or not "
        "at all. Exits with 0 once it is written, even when some files could not be indexed: they "
        "are listed, kept with the reason, and tried again by the next --update. Files that hold "
        "no image (a FITS table beside the images) are skipped, with a note.",
    )
    index.add_argument(
        "source",
        metavar="SOURCE",
        nargs="?",
        help="an s3:// prefix (listed recursively), '-' for URIs on standard input, or a "
        "file of URIs; one URI a line, blank lines and '#' comments ignored",
    )
    index.add_argument(
        "--manifest",
        metavar="FILE",
        help="instead of SOURCE, a survey's manifest (.ecsv as the Core Community Survey simulations "
        "publish it, .csv or .parquet): its rows become the index at once, no file read; `find` then "
        "reads the footprints of only the files a target may be on, and keeps them in INDEX",
    )
    index.add_argument(
        "--uri-column",
        metavar="COLUMN",
        help="with --manifest: the column of the files to index (default l2_s3_uri, the calibrated "
        "images, or l3_s3_uri, the skycell mosaics, in the coadd manifest; level-1 files hold no WCS "
        "to place them, and each row keeps l1_s3_uri beside it)",
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
    index.add_argument("--workers", type=positive_int, default=16, help="files read at once (default 16)")
    anon_option(index)


def _add_find(command: Command) -> None:
    find = command(
        "find",
        "list the files of an index whose image holds a position",
        _find,
        "List the files of an index whose image holds a sky position, with the position's 0-based "
        "pixel (x, y) in each, in time order. With no file there, prints nothing, says on standard "
        "error how far the nearest footprint is, and exits with 0 (a pipe then has nothing to do).",
    )
    selection_options(find)
    find.add_argument(
        "--radius",
        metavar="ANGLE",
        help="also files whose image comes within this angle, with its unit: 10arcsec, 0.5arcmin",
    )
    find.add_argument(
        "--workers",
        type=positive_int,
        default=16,
        help="footprints read at once from an index made with --manifest (default 16)",
    )
    anon_option(find)
    shown = find.add_mutually_exclusive_group()
    shown.add_argument(
        "--uris", action="store_true", help="print only the URIs, one a line (for scripts and pipes)"
    )
    shown.add_argument(
        "--long",
        action="store_true",
        help="whole URIs in the table, however wide (by default it fits the terminal: each file is "
        "named under the folder they share, long names cut in the middle)",
    )


def _add_lightcurve(command: Command) -> None:
    lightcurve = command(
        "lightcurve",
        "forced photometry of a target (or of every target of a catalog) in every file that holds it",
        _lightcurve,
        "Find the files that hold the target, cut the same small region out of each (fetching only "
        "those pixels, in parallel threads or on a Dask cluster), measure the flux in a circle at the "
        "target minus the local background, and write the light curve (ECSV; a plot if asked). A "
        "file that fails is listed and left out; the exit status is 1 only when nothing could be "
        "measured. With --targets CATALOG, every target of the catalog at once: each file is read "
        "once for all the targets on it, and one table of all their points is written (group it by "
        "its 'target' column for each light curve).",
    )
    selection_options(lightcurve)
    lightcurve.add_argument(
        "--targets",
        metavar="CATALOG",
        help="every target of this catalog instead of one (.ecsv or .parquet with ra and dec columns "
        "in degrees, and an id column if it has one): each file is read once for all the targets on "
        "it, and one table of all the points is written",
    )
    lightcurve.add_argument(
        "--size",
        default=None,
        metavar="SIZE",
        help="side of the cut-outs in pixels (25) or as an angle (3arcsec); two values are ny,nx "
        "(default: just enough for the annulus)",
    )
    lightcurve.add_argument(
        "--radius", type=positive_float, default=3.0, metavar="PIXELS", help="aperture radius (default 3)"
    )
    lightcurve.add_argument(
        "--annulus",
        type=positive_float,
        nargs=2,
        default=(8.0, 14.0),
        metavar=("R_IN", "R_OUT"),
        help="background annulus radii (default 8 14)",
    )
    lightcurve.add_argument(
        "--method",
        choices=METHODS,
        default="aperture",
        help="how each epoch is measured at the target: aperture (the flux in the circle minus the "
        "annulus' background; the default), psf (an empirical PSF from the cut-outs' isolated stars "
        "fitted there: give a --size that holds a few stars), difference (the aperture on the epoch "
        "minus a reference image of its band, the median of the epochs outside --reference-window: "
        "a transient on a galaxy without the galaxy)",
    )
    lightcurve.add_argument(
        "--reference-window",
        nargs=2,
        metavar=("START", "END"),
        help="for --method difference: when the target varies (MJD or ISO, UTC); the epochs outside "
        "it make the reference. With --targets and no window, each target's own is read from the "
        "catalog's start_mjd and end_mjd columns",
    )
    _add_lightcurve_outputs(lightcurve)


def _add_lightcurve_outputs(lightcurve: argparse.ArgumentParser) -> None:
    """Where ``lightcurve`` writes, and where it works."""
    lightcurve.add_argument(
        "-o", "--output", required=True, metavar="CURVE.ecsv", help="light curve to write"
    )
    lightcurve.add_argument(
        "--plot", metavar="CURVE.png", help="also plot it (.png, .pdf or .svg; needs the notebooks extra)"
    )
    lightcurve.add_argument(
        "--mag",
        action="store_true",
        help="plot AB magnitudes (brighter up) instead of fluxes; the files must give a zero point "
        "(the ECSV has both where they do)",
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
        "--workers", type=positive_int, default=8, help="threads when no --scheduler is given (default 8)"
    )
    lightcurve.add_argument(
        "--timeout",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="time limit of one attempt at one file, and of the wait for the scheduler (at most 10 s)",
    )
    anon_option(lightcurve)
