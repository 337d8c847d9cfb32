"""What the OpenUniverse layouts share: the bucket, versions, seeds, and objects built on first read."""

from __future__ import annotations

import hashlib
import importlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from roman_helpers.sandbox.archive.objects import (
    DEFAULT_CONTENT_TYPE,
    ArchiveObject,
    GeneratedObject,
    check_range,
)

#: IRSA's public bucket of simulations (anonymous reads).
BUCKET = "nasa-irsa-simulations"
#: Where OpenUniverse 2024 lives in it.
ROOT = "openuniverse2024/"
#: Both releases IRSA publishes of the Roman side (``full`` holds every ``preview`` image too).
RELEASES = ("full", "preview")

# The modules whose code makes the bytes: a change to any of them changes every version, so a
# shared chunk cache never serves bytes an older generator made.
_GENERATORS = (
    "roman_helpers.sandbox.sky.bands",
    "roman_helpers.sandbox.sky.sources",
    "roman_helpers.sandbox.sky.transients",
    "roman_helpers.sandbox.sky.render",
    "roman_helpers.sandbox.sky.wfi",
    "roman_helpers.sandbox.sky.surveys.common",
    "roman_helpers.sandbox.sky.surveys.tds",
    "roman_helpers.sandbox.sky.surveys.was",
    "roman_helpers.sandbox.sky.surveys.rubin",
    "roman_helpers.sandbox.archive.objects",
    "roman_helpers.sandbox.archive.fits",
    "roman_helpers.sandbox.archive.tables",
)
_fingerprint: list[str] = []


def fingerprint() -> str:
    """Hex digest of the source of every module that makes OpenUniverse bytes (this package too).

    Examples
    --------
    >>> len(fingerprint()), fingerprint() == fingerprint()
    (16, True)
    """
    if not _fingerprint:
        digest = hashlib.sha256()
        here = Path(__file__).parent
        files = sorted(here.glob("*.py")) + [
            Path(str(importlib.import_module(name).__file__)) for name in _GENERATORS
        ]
        for path in files:
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        _fingerprint.append(digest.hexdigest()[:16])
    return _fingerprint[0]


def version(product: str) -> str:
    """The version of one product's bytes: its own revision and the generators' fingerprint.

    Examples
    --------
    >>> version("tds-image").startswith("tds-image-")
    True
    """
    return f"{product}-{fingerprint()}"


def seed(*parts: str | int) -> int:
    """A 62-bit seed named by ``parts``: the same on every machine, in every process.

    Examples
    --------
    >>> seed("RomanTDS", 10, 3) == seed("RomanTDS", 10, 3) != seed("RomanTDS", 10, 4)
    True
    """
    digest = hashlib.sha256("/".join(str(part) for part in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 2


# Objects built for reading are kept here, a few at a time: a built image holds its exposure and
# that exposure's last blocks of pixels (tens of MB), while the archive remembers thousands of
# listed objects. What was read stays in the chunk cache, so rebuilding one is cheap.
_BUILT: OrderedDict[tuple[str, str], ArchiveObject] = OrderedDict()
_BUILT_LIMIT = 6
_BUILT_LOCK = threading.Lock()


class LazyObject(GeneratedObject):
    """An object whose size is known (or cheap) before its bytes, built only when first read.

    Parameters
    ----------
    key : str
    make : callable
        ``make()`` returns the object that holds the bytes (a FITS, gzip or table object); it
        must be cheap (no pixels), as it runs again whenever the built object has been let go.
    size : int or callable
        The size, or ``size() -> int`` computed once on first use.
    version, content_type
        As for :class:`~roman_helpers.sandbox.archive.objects.GeneratedObject`.

    Examples
    --------
    >>> from roman_helpers.sandbox.archive.objects import MaterialisedObject
    >>> item = LazyObject(
    ...     "a/b.txt", lambda: MaterialisedObject("a/b.txt", lambda: b"sky"), size=3, version="1"
    ... )
    >>> item.size, item.read(1, 3)
    (3, b'ky')
    """

    def __init__(
        self,
        key: str,
        make: Callable[[], ArchiveObject],
        *,
        size: int | Callable[[], int],
        version: str,
        content_type: str = DEFAULT_CONTENT_TYPE,
    ) -> None:
        super().__init__(key, version=version, content_type=content_type)
        self._make = make
        self._size_source = size
        self._size = size if isinstance(size, int) else None
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Length in bytes (worked out once)."""
        known = self._size
        if known is None:
            with self._lock:
                source = self._size_source
                known = self._size = source if isinstance(source, int) else int(source())
        return known

    def inner(self) -> ArchiveObject:
        """The object holding the bytes (built now if it is not among the few kept)."""
        name = (self.key, self.version)
        with _BUILT_LOCK:
            held = _BUILT.get(name)
            if held is not None:
                _BUILT.move_to_end(name)
                return held
        # made outside the lock (two threads may make the same object: identically, and one is kept)
        made = self._make()
        if made.size != self.size:
            raise RuntimeError(f"{self.key}: built {made.size} bytes, but it was listed at {self.size}")
        with _BUILT_LOCK:
            kept = _BUILT.setdefault(name, made)
            _BUILT.move_to_end(name)
            while len(_BUILT) > _BUILT_LIMIT:
                _BUILT.popitem(last=False)
            return kept

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``, from the built object."""
        check_range(start, end, self.size)
        return self.inner().read(start, end)
