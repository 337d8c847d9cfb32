"""Running ``roman-helpers``: exit statuses, errors in one line, a reader that stopped early (private)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .. import config
from ..errors import RomanHelpersError
from ._files import quiet_stdout
from ._parser import build_parser
from ._words import INTERRUPTED, Usage, usage_error

__all__ = ["main"]

#: Modules whose exceptions are operational (network, service, store), not bugs of the kit.
_SERVICE_MODULES = {"astroquery", "botocore", "boto3", "requests", "urllib3", "aiobotocore"}


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
        quiet_stdout()
        return 0  # the reader (`| head`) has what it wanted: stop quietly


def _run(argv: Sequence[str] | None) -> int:
    """:func:`main` but for a closed standard output."""
    parser = build_parser()
    try:
        args, strays = parser.parse_known_args(argv)
        if strays:
            said = getattr(args, "strays", None)  # a command that knows what they were meant to be
            if said is not None:
                return usage_error(args.debug, Usage(said(args, strays)))
            getattr(args, "command_parser", parser).error(f"unrecognized arguments: {' '.join(strays)}")
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
        print("interrupted", file=sys.stderr)  # before anything was kept: commands that keep work say so
        return INTERRUPTED
    except BrokenPipeError:
        raise  # handled by main()
    except Exception as error:
        if args.debug or not _expected(error):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1
