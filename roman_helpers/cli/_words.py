"""The command line's words for the kit's parameters (private).

The kit's errors name a parameter as Python does (``size``, ``position``) and write a keyword
argument they mention as ``name=``, a box as ``(x0, y0, x1, y1)``. A command says them in its own
words, here, at the boundary: the option (``--size``), the text that was typed for it, and the box
as ``X0 Y0 X1 Y1``, the order of ``--box``. Nothing in the kit knows the command line's words.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType

from .. import _sky
from ..errors import InvalidParameterError

__all__ = ["BOX_FORM", "INTERRUPTED", "Usage", "Words", "interrupted", "usage_error"]

#: The exit status of a command stopped by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130

#: How ``--box`` is written on the command line.
BOX_FORM = "X0 Y0 X1 Y1"


class Usage(Exception):
    """Options that cannot be read or do not go together: exit status 2."""


@dataclass(frozen=True)
class Words:
    """How one command names the kit's parameters: its options, and what was typed for them.

    Used as a context manager around a call into the kit, it says an
    :class:`~roman_helpers.errors.InvalidParameterError` raised there in these words.

    Parameters
    ----------
    flags : mapping
        Parameter of the kit (``size``) to the option that gives it (``--size``).
    typed : mapping
        Parameter to the text the user typed for it, echoed instead of the parsed value.
    """

    flags: Mapping[str, str]
    typed: Mapping[str, str | None] = field(default_factory=dict)

    def say(self, text: str, box: bool = False) -> str:
        """``text`` with the kit's spellings (``box=(x0, y0, x1, y1)``, ``size=``) in these words."""
        if "box" in self.flags:
            text = text.replace(f"box={_sky.BOX_FORM}", f"{self.flags['box']} {BOX_FORM}")
        for name, flag in self.flags.items():  # a keyword argument, not a value such as "ra=150.1"
            text = re.sub(rf"\b{re.escape(name)}=(?![\w.+-])", flag, text)
        if box:  # the corners as --box writes them: X0, Y1 ...
            text = re.sub(r"\b([xy])([01])\b", lambda match: match.group(1).upper() + match.group(2), text)
        return text

    def reword(self, error: InvalidParameterError) -> InvalidParameterError:
        """``error`` said with the option's name, the text typed, and the options its hint names."""
        typed = self.typed.get(error.name)
        hint = self.say(error.hint, box=error.name == "box") if error.hint else error.hint
        said = InvalidParameterError(
            self.flags.get(error.name, error.name), error.value if typed is None else typed, error.valid, hint
        )
        said.__cause__ = error
        return said

    def __enter__(self) -> Words:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if isinstance(error, InvalidParameterError):
            raise self.reword(error) from error


def usage_error(debug: bool, error: BaseException) -> int:
    """A command line that cannot be read: one line ``error: ...``, exit status 2."""
    if debug:
        raise error
    print(f"error: {error}", file=sys.stderr)
    return 2


def interrupted(what_was_kept: str) -> int:
    """A command stopped by Ctrl-C: one line ``interrupted: <what was kept>``, exit status 130."""
    print(f"interrupted: {what_was_kept}", file=sys.stderr)
    return INTERRUPTED
