"""Archive: buckets of sorted keys whose objects are built on demand, with S3's listing rules.

A *provider* mirrors one layout of a real archive: a bucket, the prefix it fills, a cheap way to
enumerate its keys, a way to build the object for a key, and one paragraph saying what it
mirrors (shown to users when they ask for something the sandbox does not hold, and in the
book). An :class:`Archive` gathers providers, lists keys as S3 does (prefix, delimiter,
start-after and paging, in UTF-8 byte order) and builds objects when asked, remembering the
most recent in a bounded LRU. Generated objects are read through a
:class:`~roman_helpers.sandbox.archive.cache.ChunkCache`.

:class:`FileArchive` serves a list of local files (the tests'
and the benchmark's files). The sandbox's S3 server runs in its own process and builds its
archive there from an :class:`ArchiveSpec`: a factory's import path and JSON arguments.

Examples
--------
>>> from roman_helpers.sandbox.archive.tables import text_object
>>> archive = Archive()
>>> _ = archive.add_bucket("stpubdata")
>>> _ = archive.add(
...     Provider(
...         bucket="stpubdata",
...         prefix="hst/public/",
...         description="HST files by dataset",
...         list_keys=lambda: [f"hst/public/ib6w/ib6w0{n}010/README" for n in range(3)],
...         build=lambda key: text_object(key, lambda: key.upper()),
...     )
... )
>>> page = archive.listing("stpubdata", prefix="hst/public/ib6w/", delimiter="/", max_keys=2)
>>> page.common_prefixes, page.truncated, page.next_after
(['hst/public/ib6w/ib6w00010/', 'hst/public/ib6w/ib6w01010/'], True, 'hst/public/ib6w/ib6w01010/')
>>> archive.get("stpubdata", "hst/public/ib6w/ib6w02010/README").read(0, 10)
b'HST/PUBLIC'
>>> archive.get("stpubdata", "hst/public/nope") is None
True
"""

from __future__ import annotations

import bisect
import hashlib
import importlib
import importlib.metadata
import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from roman_helpers.sandbox.archive.cache import ChunkCache
from roman_helpers.sandbox.archive.objects import GENERATED_DATE, ArchiveObject, FileObject

__all__ = [
    "BOOK_PAGE",
    "SEE_BOOK",
    "Archive",
    "ArchiveSpec",
    "Bucket",
    "FileArchive",
    "Listing",
    "Provider",
    "build_archive",
    "code_version",
]

#: Where the book explains the sandbox (named in every miss).
BOOK_PAGE = "book/sandbox.md"
#: The sentence every miss ends with, whichever service answers it.
SEE_BOOK = f"See the sandbox page of the book ({BOOK_PAGE})."


def code_version(*modules: str, packages: Sequence[str] = ()) -> str:
    """A version string that changes whenever the code making a layout's bytes changes.

    A :class:`Provider`'s ``version`` is part of every object's identity in the shared chunk
    cache: built from the source of the modules that make the bytes and the versions of the
    libraries that format them, a cache never serves bytes an older generator made.

    Parameters
    ----------
    *modules : str
        Dotted names of the modules whose source makes the bytes.
    packages : sequence of str
        Distributions whose versions shape the bytes (``"asdf"``, ``"astropy"`` ...).

    Returns
    -------
    str
        16 hex digits.

    Examples
    --------
    >>> version = code_version("roman_helpers.sandbox.archive.objects", packages=("numpy",))
    >>> len(version), version == code_version("roman_helpers.sandbox.archive.objects", packages=("numpy",))
    (16, True)
    """
    digest = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ValueError(f"no module {name} to take a version from")
        digest.update(name.encode() + b"\0" + Path(spec.origin).read_bytes() + b"\0")
    for package in packages:
        digest.update(f"{package}={importlib.metadata.version(package)}\0".encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Bucket:
    """A bucket: its name, whether anonymous clients may read it, its creation date."""

    name: str
    public: bool = True
    created: datetime = GENERATED_DATE


@dataclass(frozen=True)
class Provider:
    """One mirrored layout: a prefix of a bucket, its keys and how each object is made.

    Parameters
    ----------
    bucket : str
    prefix : str
        Every key of the provider starts with it (``"openuniverse2024/roman/full/RomanTDS/"``).
    description : str
        One paragraph: what real data this mirrors and how the sandbox makes it.
    list_keys : callable
        ``list_keys()`` returns every key (full keys, with the prefix), in any order; it should be
        cheap (no object built), since it runs when the bucket is first listed.
    build : callable
        ``build(key)`` returns the object for a key of ``list_keys()`` (or None).
    version : str
        Version of the generator: part of each object's cache identity (change it when the
        bytes change).
    cache : bool
        Read generated bytes through the archive's chunk cache (False for local files).
    """

    bucket: str
    prefix: str
    description: str
    list_keys: Callable[[], Iterable[str]]
    build: Callable[[str], ArchiveObject | None]
    version: str = "1"
    cache: bool = True


@dataclass
class Listing:
    """One page of a listing.

    Attributes
    ----------
    contents : list of ArchiveObject
    common_prefixes : list of str
    truncated : bool
        More keys follow.
    next_after : str or None
        When truncated: the last key or common prefix of this page (the next page starts after it).
    """

    contents: list[ArchiveObject] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    next_after: str | None = None


def _after_everything_under(prefix: str) -> str:
    """The least string greater than every string that starts with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class Archive:
    """Buckets, their providers, S3-style listings, and objects built on demand.

    Keys sort by code point, which is UTF-8 byte order, the order S3 lists in.

    Parameters
    ----------
    cache : ChunkCache, optional
        Where generated bytes are kept; by default a cache in the default directory, made when
        first needed.
    remembered : int
        Built objects kept in memory (least recently used out).
    """

    def __init__(self, cache: ChunkCache | None = None, *, remembered: int = 4096) -> None:
        self._cache = cache
        self.remembered = remembered
        self._buckets: dict[str, Bucket] = {}
        self._providers: dict[str, list[Provider]] = {}
        self._keys: dict[str, list[str]] = {}
        self._owners: dict[str, list[tuple[str, Provider]]] = {}
        self._objects: OrderedDict[tuple[str, str], ArchiveObject] = OrderedDict()
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ building
    @property
    def cache(self) -> ChunkCache:
        """The chunk cache of generated bytes."""
        with self._lock:
            if self._cache is None:
                self._cache = ChunkCache()
            return self._cache

    def add_bucket(self, name: str, public: bool = True, created: datetime = GENERATED_DATE) -> Bucket:
        """Create (or return) bucket ``name``; ``public`` buckets are readable anonymously."""
        with self._lock:
            bucket = self._buckets.setdefault(name, Bucket(name, public, created))
            self._providers.setdefault(name, [])
            return bucket

    def add(self, provider: Provider) -> Provider:
        """Register a provider; its bucket must exist; prefixes of one bucket must not nest."""
        with self._lock:
            if provider.bucket not in self._buckets:
                raise ValueError(f"add_bucket({provider.bucket!r}) before adding its providers")
            for other in self._providers[provider.bucket]:
                if other.prefix.startswith(provider.prefix) or provider.prefix.startswith(other.prefix):
                    raise ValueError(
                        f"prefix {provider.prefix!r} overlaps {other.prefix!r} in bucket {provider.bucket}"
                    )
            self._providers[provider.bucket].append(provider)
            self._keys.pop(provider.bucket, None)
            return provider

    # ------------------------------------------------------------------ looking up
    @property
    def buckets(self) -> list[Bucket]:
        """Every bucket, by name."""
        return sorted(self._buckets.values(), key=lambda bucket: bucket.name)

    def bucket(self, name: str) -> Bucket | None:
        """Bucket ``name``, or None."""
        return self._buckets.get(name)

    def providers(self, bucket: str) -> list[Provider]:
        """The providers of ``bucket``, by prefix."""
        return sorted(self._providers.get(bucket, []), key=lambda provider: provider.prefix)

    def keys(self, bucket: str) -> list[str]:
        """Every key of ``bucket``, sorted (enumerated once, on first use)."""
        with self._lock:
            if bucket not in self._keys:
                owners: list[tuple[str, Provider]] = []
                for provider in self._providers.get(bucket, []):
                    for key in provider.list_keys():
                        if not key.startswith(provider.prefix):
                            raise ValueError(
                                f"key {key!r} is outside its provider's prefix {provider.prefix!r}"
                            )
                        owners.append((key, provider))
                owners.sort(key=lambda pair: pair[0])
                self._owners[bucket] = owners
                self._keys[bucket] = [key for key, _ in owners]
            return self._keys[bucket]

    def count(self) -> int:
        """Number of objects in every bucket."""
        return sum(len(self.keys(name)) for name in self._buckets)

    def _provider_of(self, bucket: str, key: str) -> Provider | None:
        keys = self.keys(bucket)
        index = bisect.bisect_left(keys, key)
        if index < len(keys) and keys[index] == key:
            return self._owners[bucket][index][1]
        return None

    def get(self, bucket: str, key: str) -> ArchiveObject | None:
        """The object at ``bucket``/``key``, built on first use and remembered; None if absent."""
        name = (bucket, key)
        with self._lock:
            held = self._objects.get(name)
            if held is not None:
                self._objects.move_to_end(name)
                return held
        provider = self._provider_of(bucket, key)
        if provider is None:
            return None
        item = provider.build(key)
        if item is None:
            return None
        if provider.cache:
            item = self.cache.wrap(item, f"{bucket}/{key}@{provider.version}")
        with self._lock:
            self._objects[name] = item
            while len(self._objects) > self.remembered:
                self._objects.popitem(last=False)
        return item

    # ------------------------------------------------------------------ listing
    def listing(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        after: str = "",
        max_keys: int = 1000,
    ) -> Listing:
        """One page of the keys of ``bucket`` under ``prefix``, as S3's ListObjects gives it.

        Parameters
        ----------
        bucket : str
        prefix : str
        delimiter : str
            Keys with ``delimiter`` after the prefix are rolled up into one common prefix
            (which counts as one entry of the page).
        after : str
            Start after this key (``start-after``, a marker, or the previous page's
            ``next_after``); after a common prefix, past every key under it.
        max_keys : int

        Returns
        -------
        Listing
        """
        keys = self.keys(bucket)
        index = bisect.bisect_left(keys, prefix)
        if after:
            if (
                delimiter
                and len(after) > len(prefix)
                and after.startswith(prefix)
                and after.endswith(delimiter)
            ):
                start = bisect.bisect_left(keys, _after_everything_under(after))  # a rolled-up prefix
            else:
                start = bisect.bisect_right(keys, after)
            index = max(index, start)
        page = Listing()
        names: list[str] = []
        while index < len(keys) and keys[index].startswith(prefix) and max_keys > 0:
            if len(names) + len(page.common_prefixes) == max_keys:
                page.truncated = True
                break
            key = keys[index]
            cut = key.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                common = key[: cut + len(delimiter)]
                page.common_prefixes.append(common)
                page.next_after = common
                index = bisect.bisect_left(keys, _after_everything_under(common), index)
                continue
            names.append(key)
            page.next_after = key
            index += 1
        if not page.truncated:
            page.next_after = None
        for key in names:
            item = self.get(bucket, key)
            if item is None:
                raise RuntimeError(f"{bucket}/{key} is listed but its provider built nothing")
            page.contents.append(item)
        return page

    # ------------------------------------------------------------------ misses
    def describe(self, bucket: str | None = None) -> str:
        """What the sandbox mirrors: in ``bucket``, or in every bucket."""
        if bucket is None:
            return " ".join(self.describe(name.name) for name in self.buckets)
        providers = self.providers(bucket)
        if not providers:
            return f"Bucket {bucket} holds nothing in this sandbox."
        mirrored = "; ".join(
            f"{provider.prefix or '(every key)'}: {provider.description}" for provider in providers
        )
        return f"Bucket {bucket} mirrors {mirrored}"

    def explain_missing(self, bucket: str, key: str | None = None) -> str:
        """The sentence a miss carries: this is the offline sandbox, what it mirrors, where to read more.

        Examples
        --------
        >>> archive = Archive()
        >>> print(archive.explain_missing("nasa-irsa-simulations", "x"))
        The roman-helpers offline sandbox has no bucket nasa-irsa-simulations; it serves no bucket. \
See the sandbox page of the book (book/sandbox.md).
        """
        book = SEE_BOOK
        if bucket not in self._buckets:
            served = ", ".join(name.name for name in self.buckets) or "no bucket"
            return f"The roman-helpers offline sandbox has no bucket {bucket}; it serves {served}. {book}"
        owner = next(
            (p for p in self.providers(bucket) if key is not None and key.startswith(p.prefix)), None
        )
        if owner is not None:
            return (
                f"The roman-helpers offline sandbox mirrors {bucket}/{owner.prefix} ({owner.description}), "
                f"but not {key}. {book}"
            )
        missing = f"{bucket}/{key or ''}"
        return f"The roman-helpers offline sandbox does not mirror {missing}. {self.describe(bucket)} {book}"


# ---------------------------------------------------------------- local files


class FileArchive(Archive):
    """An archive of local files: ``(bucket, key, path)`` triples, served byte for byte.

    Parameters
    ----------
    files : iterable
        Items with ``bucket``, ``key`` and ``path`` attributes (and optionally ``md5``, the hex
        MD5 when already known), or ``(bucket, key, path)`` tuples.
    buckets : mapping of str to bool, optional
        Every bucket and whether it is public (default: each bucket of ``files``, public).
    description : str, optional
        What the files are (shown in misses); by default the number of files and the folders
        they are in.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "drz.fits"
    >>> _ = path.write_bytes(b"SIMPLE")
    >>> archive = FileArchive([("stpubdata", "hst/public/x/drz.fits", path)])
    >>> archive.get("stpubdata", "hst/public/x/drz.fits").size
    6
    >>> archive.describe("stpubdata")
    'Bucket stpubdata mirrors (every key): 1 synthetic file, in hst/public/x/'
    """

    def __init__(
        self,
        files: Iterable[Any],
        buckets: Mapping[str, bool] | None = None,
        *,
        description: str | None = None,
    ) -> None:
        super().__init__()
        by_bucket: dict[str, dict[str, FileObject]] = {}
        for item in files:
            bucket, key, path, md5 = _file_fields(item)
            by_bucket.setdefault(bucket, {})[key] = FileObject(key, path, md5=md5)
        for name, public in (buckets or dict.fromkeys(by_bucket, True)).items():
            self.add_bucket(name, public)
        for name, objects in by_bucket.items():
            self.add_bucket(name)
            self.add(
                Provider(
                    bucket=name,
                    prefix="",
                    description=description or _folders(list(objects)),
                    list_keys=objects.keys,
                    build=objects.get,
                    cache=False,
                )
            )

    @classmethod
    def from_config(cls, files: Sequence[Sequence[Any]], buckets: Mapping[str, bool]) -> FileArchive:
        """Build from :meth:`spec`'s JSON arguments (in the S3 server's process)."""
        return cls([tuple(entry) for entry in files], buckets)

    @classmethod
    def spec(cls, files: Iterable[Any], buckets: Mapping[str, bool] | None = None) -> ArchiveSpec:
        """The :class:`ArchiveSpec` that builds this archive in another process.

        Parameters are those of the class.
        """
        entries = [_file_fields(item) for item in files]
        chosen = dict(buckets) if buckets is not None else dict.fromkeys((e[0] for e in entries), True)
        return ArchiveSpec(
            f"{__name__}:FileArchive.from_config",
            {"files": [[b, k, str(p), m] for b, k, p, m in entries], "buckets": chosen},
        )


def _folders(keys: Sequence[str], depth: int = 3, shown: int = 8) -> str:
    """``"12 synthetic files, in hst/public/ib6w/, roman/..."``: what a list of keys holds, in brief."""
    folders = sorted({"/".join(key.split("/")[:-1][:depth]) + "/" for key in keys if "/" in key})
    listed = ", ".join(folders[:shown]) + (
        f" and {len(folders) - shown} more folders" if len(folders) > shown else ""
    )
    noun = "file" if len(keys) == 1 else "files"
    return f"{len(keys)} synthetic {noun}" + (f", in {listed}" if folders else "")


def _file_fields(item: Any) -> tuple[str, str, Path, str | None]:
    if isinstance(item, tuple | list):
        bucket, key, path, *rest = item
        return str(bucket), str(key), Path(path), (rest[0] if rest else None)
    return str(item.bucket), str(item.key), Path(item.path), getattr(item, "md5", None)


# ---------------------------------------------------------------- across processes


@dataclass(frozen=True)
class ArchiveSpec:
    """How to build an archive in another process: ``factory(**arguments)``.

    Parameters
    ----------
    factory : str
        ``"package.module:callable"`` (a dotted attribute path after the colon is allowed).
    arguments : dict
        JSON-serialisable keyword arguments.
    """

    factory: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON form passed to the S3 server process."""
        return {"factory": self.factory, "arguments": self.arguments}


def build_archive(spec: ArchiveSpec | Mapping[str, Any]) -> Archive:
    """Import ``spec.factory`` and call it with ``spec.arguments``.

    Examples
    --------
    >>> build_archive(
    ...     ArchiveSpec(f"{__name__}:FileArchive.from_config", {"files": [], "buckets": {}})
    ... ).count()
    0
    """
    if isinstance(spec, Mapping):
        spec = ArchiveSpec(str(spec["factory"]), dict(spec.get("arguments", {})))
    module_name, _, attribute = spec.factory.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    archive = target(**spec.arguments)
    if not isinstance(archive, Archive):
        raise TypeError(f"{spec.factory} returned {type(archive).__name__}, not an Archive")
    return archive
