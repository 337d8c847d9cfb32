"""Files written whole or not at all (private).

Used wherever the kit or its command line writes a result a user keeps (an index, a light curve,
a plot): an interrupted or failed write never leaves half a file, nor a half-replaced one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["replacing"]


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
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
