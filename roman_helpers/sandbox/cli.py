"""The ``roman-helpers sandbox`` command: ``up`` (foreground) and ``run -- COMMAND ...``.

``roman-helpers sandbox up`` starts the sandbox, prints the ``export`` lines a shell needs (no
secrets in them), writes them to a file for ``source``, and serves until Ctrl-C.
``roman-helpers sandbox run -- COMMAND ...`` starts it, runs COMMAND with that environment,
stops it and returns COMMAND's exit code. On Linux the sandbox and COMMAND run in a private
network of their own, where nothing can reach the internet and even clients that ignore the
environment (pyarrow's S3 client) reach the sandbox; ``--no-isolation`` turns that off.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING

from roman_helpers.errors import InvalidParameterError, MissingExtraError

if TYPE_CHECKING:
    from roman_helpers.sandbox.launcher import Sandbox

__all__ = ["main", "parse_bandwidth", "parse_duration", "register", "relaunched_main"]

#: What ``roman-helpers sandbox --help`` says: plain text (the module's docstring is for the API docs).
_DESCRIPTION = """\
An offline stand-in for MAST, IRSA and the S3 buckets, on this machine only, serving
synthetic files laid out as the real archives lay theirs out.

  roman-helpers sandbox up                  start it in the foreground, print the
                                            export lines a shell needs (no secrets in
                                            them); Ctrl-C stops it
  roman-helpers sandbox run -- COMMAND ...  start it, run COMMAND with its environment,
                                            stop it, and exit with COMMAND's status
  roman-helpers sandbox manifests [DIR]     write the Core Community Survey simulations'
                                            manifests (the ECSV files the ccs_simulations
                                            notebook reads) into DIR"""

_DURATION_UNITS = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}
_BYTE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_duration(text: str) -> float:
    """Parse ``"20ms"``, ``"0.5s"`` or ``"0.02"`` (seconds) into seconds.

    Examples
    --------
    >>> parse_duration("20ms")
    0.02
    """
    match = re.fullmatch(r"\s*([0-9.]+)\s*(ms|us|s)?\s*", text.lower())
    if not match:
        raise InvalidParameterError("latency", text, hint="write a duration such as 20ms, 0.5s or 0.02")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2) or ""]


def parse_bandwidth(text: str) -> float:
    """Parse ``"200MB/s"``, ``"50MiB/s"`` or ``"1000000"`` (bytes per second).

    Examples
    --------
    >>> parse_bandwidth("200MB/s")
    200000000.0
    """
    match = re.fullmatch(r"\s*([0-9.]+)\s*([kmg]i?b|b)?\s*(/s)?\s*", text.lower())
    if not match or float(match.group(1)) <= 0:
        raise InvalidParameterError(
            "bandwidth", text, hint="write a rate such as 200MB/s, 50MiB/s or 1000000"
        )
    return float(match.group(1)) * _BYTE_UNITS[match.group(2) or ""]


def _add_options(parser: argparse.ArgumentParser) -> None:
    # --size chose small or full-size files built at start; images are now made when read, at their
    # real size. The option is still accepted, so that old scripts run, and says it does nothing.
    parser.add_argument("--size", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--latency", type=parse_duration, default=0.0, help="delay per S3 request, e.g. 20ms")
    parser.add_argument(
        "--bandwidth", type=parse_bandwidth, default=None, help="S3 throughput cap, e.g. 200MB/s"
    )
    parser.add_argument(
        "--faults",
        default=None,
        help="fault rules for the S3, MAST and IRSA services, e.g. slowdown:0.1 "
        "(see roman_helpers.sandbox.services.faults)",
    )
    parser.add_argument("--cache-dir", default=None, help="where generated data is cached")
    parser.add_argument("--env-file", default=None, help="also write the export lines to this file")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``sandbox`` command (``up`` and ``run``) to an argparse sub-parser collection.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers()`` returned. Each command sets ``handler``
        (a function of the parsed arguments returning an exit code).
    """
    sandbox = subparsers.add_parser(
        "sandbox",
        help="offline stand-in for MAST, IRSA and S3",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = sandbox.add_subparsers(dest="sandbox_command", metavar="{up,run,manifests}")
    sandbox.set_defaults(handler=lambda args: _usage(sandbox))
    up = commands.add_parser("up", help="start in the foreground and print the environment to export")
    _add_options(up)
    up.set_defaults(handler=_up)
    run = commands.add_parser(
        "run", help="run COMMAND with the sandbox's environment", usage="%(prog)s [options] -- COMMAND ..."
    )
    _add_options(run)
    run.add_argument(
        "--no-isolation",
        dest="isolation",
        action="store_false",
        help="do not give COMMAND a private network (Linux): pyarrow's own S3 client then "
        "tries the real AWS servers",
    )
    run.add_argument("command", nargs=argparse.REMAINDER, help="the command to run (after --)")
    run.set_defaults(handler=_run)
    manifests = commands.add_parser(
        "manifests",
        help="write the CCS simulations' ECSV manifests",
        description="Write gbtds_manifest.ecsv, hlwas_manifest.ecsv and hlwas_coadd_manifest.ecsv: "
        "the manifests of the Science Operations Center's Core Community Survey simulations "
        "(r00340, r00342) as the offline sandbox serves them, in the published columns, one row "
        "per L1/L2 dataset or L3 skycell product. Use them where the ccs_simulations notebook "
        "expects the real ones (beside it). About 70 MB; under a minute.",
    )
    manifests.add_argument(
        "directory", nargs="?", default=".", help="folder to write them into (default: the current one)"
    )
    manifests.add_argument(
        "--keep", action="store_true", help="leave a manifest that is already there as it is"
    )
    manifests.set_defaults(handler=_manifests)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _sandbox(args: argparse.Namespace) -> Sandbox:
    try:  # werkzeug and trustme come with the sandbox extra
        from roman_helpers.sandbox.launcher import SIZE_IS_GONE, Sandbox
    except ModuleNotFoundError as error:
        raise MissingExtraError("roman-helpers sandbox", ["sandbox"], error.name) from error

    if getattr(args, "size", None) is not None:
        print(f"roman-helpers sandbox: --size {args.size}: {SIZE_IS_GONE}", file=sys.stderr)
    return Sandbox(
        args.cache_dir,
        latency=args.latency,
        bandwidth=args.bandwidth,
        faults=args.faults,
        env_file=args.env_file,
    )


def _terminate_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _up(args: argparse.Namespace) -> int:
    from roman_helpers.sandbox import isolation

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    sandbox = _sandbox(args)
    try:
        sandbox.start()
        assert sandbox.s3 is not None and sandbox.proxy is not None  # started
        isolation.describe_shared(sandbox)
        print("\n".join(sandbox.export_lines()))
        print(
            f"# sandbox running: S3 {sandbox.s3.url}, MAST and IRSA via proxy {sandbox.proxy.url}; "
            f"`source {sandbox.env_file}` in another shell; Ctrl-C stops it",
            file=sys.stderr,
            flush=True,
        )
        sys.stdout.flush()
        threading.Event().wait()
    except KeyboardInterrupt:
        print("# sandbox stopped", file=sys.stderr)
    finally:
        sandbox.stop()
    return 0


def _run(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise InvalidParameterError(
            "command",
            "",
            hint="give the command after --, e.g. roman-helpers sandbox run -- python my_script.py",
        )
    from roman_helpers.sandbox import isolation

    if isolation.relaunch_wanted(args.isolation):
        return isolation.relaunch(vars(args))  # this command again, in a private network
    with _sandbox(args) as sandbox, isolation.isolated(sandbox, args.isolation):
        environ = sandbox.apply(dict(os.environ))
        try:
            return subprocess.call(command, env=environ)
        except FileNotFoundError:
            raise InvalidParameterError("command", command[0], hint="no such program on PATH") from None
        except KeyboardInterrupt:
            return 130


def _manifests(args: argparse.Namespace) -> int:
    from roman_helpers.sandbox.sky.surveys import ccs

    paths = ccs.write_manifests(
        args.directory,
        overwrite=not args.keep,
        progress=lambda name: print(f"writing {name} ...", file=sys.stderr, flush=True),
    )
    for path in paths:
        print(path)
    return 0


def relaunched_main(arguments: list[str]) -> int:
    """Entry of ``sandbox run`` relaunched in a private network (see :func:`.isolation.relaunch`).

    Enters the namespaces first, then runs ``sandbox run`` with the options the first process parsed.
    """
    from roman_helpers.errors import RomanHelpersError
    from roman_helpers.sandbox import isolation

    options = isolation.enter_relaunched(arguments)
    parser = argparse.ArgumentParser(prog="roman-helpers")
    register(parser.add_subparsers())
    args = parser.parse_args(["sandbox", "run"])
    vars(args).update(options)
    try:
        return int(args.handler(args))
    except RomanHelpersError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    """Run ``sandbox`` on its own (``python -m roman_helpers.sandbox up|run ...``)."""
    from roman_helpers.errors import RomanHelpersError

    parser = argparse.ArgumentParser(prog="python -m roman_helpers.sandbox")
    subparsers = parser.add_subparsers()
    register(subparsers)
    args = parser.parse_args(["sandbox", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.handler(args)
    except RomanHelpersError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    # run through the package's module, not this __main__ copy, so that the isolation state the
    # relaunched process sets is the one the command line reads
    from roman_helpers.sandbox import cli

    sys.exit(cli.relaunched_main(sys.argv[1:]))
