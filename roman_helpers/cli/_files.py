"""What the commands read and write besides S3: paths, URIs one a line, progress (private)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

from .._progress import shown
from ..errors import InvalidParameterError, InvalidURIError, ObjectNotFoundError

__all__ = ["checked_output", "progress", "quiet_stdout", "uri_lines"]


def checked_output(path_text: str, suffixes: tuple[str, ...], name: str, overwrite: bool) -> Path:
    """Check an output path before any work is done: its suffix, its folder, and what is there."""
    path = Path(path_text)
    if path.suffix.lower() not in suffixes:
        raise InvalidParameterError(name, path_text, valid=suffixes, hint="The name says the format")
    if not path.parent.is_dir():
        raise ObjectNotFoundError(f"no folder {path.parent} to write {path.name} into; create it first")
    if path.exists() and not overwrite:
        raise InvalidParameterError(name, path_text, hint="The file exists; pass --overwrite to replace it")
    return path


def uri_lines(lines: Iterable[str], where: str, strict: bool = False) -> list[str]:
    """URIs one a line; blank lines and ``#`` comments left out.

    With ``strict``, every other line must be one ``s3://`` URI (said of ``where``).
    """
    found = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if strict and (not text.startswith("s3://") or len(text.split()) > 1):
            raise InvalidURIError(
                f"line {number} of {where} is not one s3:// URI: {text!r}; give one "
                "URI a line, as `roman-helpers ls --uris PREFIX` prints them"
            )
        found.append(text)
    return found


def progress() -> bool:
    """Show progress bars: on a terminal, never in a log (the kit's one rule)."""
    return shown(None)


def quiet_stdout() -> None:
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
