"""Options and argument types several commands share (private)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .. import _sky
from ._words import Usage, Words

if TYPE_CHECKING:
    from astropy.coordinates import SkyCoord

__all__ = [
    "anon_option",
    "extension",
    "joined_units",
    "positive_float",
    "positive_int",
    "selection_options",
    "sky_target",
    "target_words",
]


#: Options whose value may be an angle, typed with a space before its unit: --size 5 arcsec.
ANGLE_OPTIONS = ("--size", "--radius")


def joined_units(argv: Sequence[str]) -> list[str]:
    """``--size 5 arcsec`` read as ``--size "5 arcsec"``: a unit typed after a space is the value's.

    argparse gives an option one word, so the unit would be a stray argument ("unrecognized
    arguments: arcsec"). A word after the value of :data:`ANGLE_OPTIONS` that is a unit of angle
    (before any comma: ``--size 20 arcsec,30 arcsec``) joins the value; ``--`` ends the options.

    Examples
    --------
    >>> joined_units(["cutout", "URI", "--size", "20", "arcsec,30", "arcsec", "-o", "cut.fits"])
    ['cutout', 'URI', '--size', '20 arcsec,30 arcsec', '-o', 'cut.fits']
    """
    joined: list[str] = []
    value_of_angle = False  # the last word is the value of an angle option
    for position, word in enumerate(argv):
        if word == "--":
            return joined + list(argv[position:])
        if value_of_angle and _sky.is_angle_unit(word.split(",")[0]):
            joined[-1] += f" {word}"
            continue
        value_of_angle = (bool(joined) and joined[-1] in ANGLE_OPTIONS) or word.startswith(
            tuple(f"{option}=" for option in ANGLE_OPTIONS)
        )
        joined.append(word)
    return joined


def positive_int(text: str) -> int:
    """argparse type: a whole number of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: give a whole number of 1 or more")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: give a number above 0")
    return value


def extension(text: str) -> int | str:
    """``"1"`` -> 1, ``"SCI"`` -> ``"SCI"``."""
    return int(text) if text.lstrip("-").isdigit() else text


def anon_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--anon",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="force anonymous (--anon) or credentialed (--no-anon) access; "
        "by default public buckets are read anonymously",
    )


def selection_options(parser: argparse.ArgumentParser) -> None:
    """The index, the target and the band and time selection of ``find`` and ``lightcurve``."""
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
        help="only these bands, e.g. --band F158 F184, in Roman's names or OpenUniverse's "
        "(F158 also finds files named H158) and in any case",
    )
    parser.add_argument("--start", metavar="MJD|ISO", help="only exposures ending after this time (UTC)")
    parser.add_argument("--end", metavar="MJD|ISO", help="only exposures starting before this time (UTC)")


def target_words(args: argparse.Namespace) -> Words:
    """The words of --target (or --ra and --dec) for the kit's ``position``, ``ra`` and ``dec``."""
    given_apart = args.target is None and args.ra is not None
    return Words(
        flags={"position": "--ra/--dec" if given_apart else "--target", "ra": "--ra", "dec": "--dec"},
        typed={
            "position": f"{args.ra} {args.dec}" if given_apart else args.target,
            "ra": args.ra,
            "dec": args.dec,
        },
    )


def sky_target(target: str | None, ra: str | None, dec: str | None) -> SkyCoord:
    """The target of --target, or of --ra and --dec, read by the package's one parser."""
    if target is not None:
        return _sky.parse_sky_position(target)
    if ra is None or dec is None:
        raise Usage("give --target 'RA DEC', or --ra and --dec")
    from astropy.coordinates import SkyCoord

    return SkyCoord(_sky.parse_ra(ra), _sky.parse_dec(dec), frame="icrs")
