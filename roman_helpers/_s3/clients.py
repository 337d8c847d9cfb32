"""The factory of every boto3 client and s3fs file system the kit makes (private).

Each gets the time-outs of :mod:`roman_helpers.config` (the connection and the read, each its
own), a connection pool sized for the work, the anonymous rule (:func:`is_anonymous`) and the
kit's hooks (:func:`roman_helpers._s3.hooks.attach`). Endpoint and credentials are left to
botocore, which reads ``AWS_ENDPOINT_URL`` and the credential chain itself.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

from .. import config
from .hooks import attach

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from s3fs import S3FileSystem

__all__ = ["client", "filesystem", "is_anonymous", "open_known"]


def is_anonymous(bucket: str | None, anon: bool | None) -> bool:
    """The anonymous rule: ``anon`` when given, else anonymous for a public bucket only.

    Parameters
    ----------
    bucket : str or None
        A bucket name or an ``s3://`` URI; None for none in particular (credentials).
    anon : bool or None
        What the caller asked for, if anything.

    Examples
    --------
    >>> is_anonymous("s3://stpubdata/hst/a.fits", None), is_anonymous("stpubdata", False)
    (True, False)
    """
    if anon is not None:
        return bool(anon)
    name = (bucket or "").removeprefix("s3://").split("/", 1)[0]
    return config.is_public_bucket(name) if name else False


@functools.cache
def _filesystem_class() -> type[S3FileSystem]:
    """s3fs's file system, attaching the kit's hooks to each client it makes (built on first use).

    s3fs makes its botocore client when it first connects, and again if its connection pool was
    closed; :meth:`set_session` is where it does, so the hooks are attached there. Instances
    share s3fs's own instance cache, so ``S3FileSystem.clear_instance_cache()`` clears them too
    and :mod:`roman_helpers.transfer` finds them where it finds every cached file system.
    """
    import s3fs
    from fsspec.asyn import sync_wrapper

    class KitFileSystem(s3fs.S3FileSystem):
        async def set_session(self, refresh: bool = False, kwargs: dict | None = None) -> Any:
            made = await super().set_session(refresh=refresh, kwargs=kwargs or {})
            attach(made.meta.events)
            return made

        _connect = set_session
        connect = sync_wrapper(set_session)

    KitFileSystem.__module__, KitFileSystem.__qualname__ = __name__, "KitFileSystem"
    KitFileSystem._cache = s3fs.S3FileSystem._cache
    return KitFileSystem


def __getattr__(name: str) -> Any:
    if name == "KitFileSystem":  # so that a pickled file system finds its class
        return _filesystem_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def filesystem(
    bucket: str | None = None, *, anon: bool | None = None, connections: int | None = None, **kwargs: Any
) -> S3FileSystem:
    """Return an :class:`s3fs.S3FileSystem` configured for low transfer.

    Parameters
    ----------
    bucket : str, optional
        Bucket (or ``s3://`` URI) the file system will read; decides anonymous access when
        ``anon`` is not given (:func:`is_anonymous`).
    anon : bool, optional
        Force anonymous (``True``) or credentialed (``False``) access.
    connections : int, optional
        Connections kept open to S3 (aiobotocore's default is 10).
    **kwargs
        Passed to :class:`s3fs.S3FileSystem`; ``config_kwargs`` are merged into the time-outs
        set here rather than replacing them.

    Returns
    -------
    s3fs.S3FileSystem
        Reading blocks of :func:`roman_helpers.config.block_size` (s3fs's default is 50 MiB),
        with the kit's hooks on its client. Equal arguments give the same (cached) instance.
    """
    options: dict[str, Any] = {
        "anon": is_anonymous(bucket, anon),
        "default_block_size": config.block_size(),
        "default_cache_type": "bytes",
        "config_kwargs": {"connect_timeout": config.connect_timeout(), "read_timeout": config.timeout()},
    }
    if connections is not None:
        options["config_kwargs"]["max_pool_connections"] = connections
    options["config_kwargs"].update(kwargs.pop("config_kwargs", {}))
    options.update(kwargs)
    return _filesystem_class()(**options)


_LOADER_LOCK = threading.Lock()
_LOADER: list[Any] = []  # botocore's data loader, shared: parsing the S3 model costs ~0.1 s per session


def client(
    *, anon: bool, connections: int = 10, max_attempts: int | None = None, handlers: tuple = ()
) -> Any:
    """Return a boto3 S3 client.

    Parameters
    ----------
    anon : bool
        Send unsigned requests (public buckets) or sign them with the default credential chain.
    connections : int
        Connections kept open to S3.
    max_attempts : int, optional
        Requests botocore sends for one call at most (its ``standard`` retry mode, with jittered
        exponential backoff); by default botocore's own setting.
    handlers : tuple of (event, handler)
        More botocore event handlers for this client (for example a count of requests).

    Returns
    -------
    botocore.client.BaseClient
        Made from a new session, so that the environment (endpoint, credentials) is read afresh;
        only the loader of botocore's bundled models is shared.
    """
    import boto3
    import botocore.session
    from botocore import UNSIGNED
    from botocore.config import Config

    options: dict[str, Any] = {
        "connect_timeout": config.connect_timeout(),
        "read_timeout": config.timeout(),
        "max_pool_connections": connections,
    }
    if max_attempts is not None:
        options["retries"] = {"mode": "standard", "total_max_attempts": max_attempts}
    if anon:
        options["signature_version"] = UNSIGNED  # no Authorization header at all
    session = botocore.session.get_session()
    with _LOADER_LOCK:
        if _LOADER:
            session.register_component("data_loader", _LOADER[0])
        else:
            _LOADER.append(session.get_component("data_loader"))
    made = boto3.session.Session(botocore_session=session).client("s3", config=Config(**options))
    attach(made.meta.events)
    for event, handler in handlers:
        made.meta.events.register(event, handler, unique_id=f"{handler.__module__}.{handler.__name__}")
    return made


def open_known(fs: Any, path: str, size: int, etag: str, block_size: int) -> Any:
    """Open for reads of ``block_size`` bytes ahead, with the size and ETag known from a listing (or a HEAD).

    They spare another HEAD, and a file replaced meanwhile fails rather than mixing two versions.
    """
    handle = fs.open(path, "rb", cache_type="readahead", block_size=block_size, size=size)
    handle.details = {"name": path, "size": size, "ETag": f'"{etag}"'}
    return handle
