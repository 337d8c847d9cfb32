"""Many byte ranges of one object, fetched concurrently (private).

One wrapper over :meth:`fsspec.AbstractFileSystem.cat_ranges`, because fsspec before
2026.6 ignores ``on_error="raise"`` in the asynchronous implementation s3fs uses and puts
the exception into the returned list instead; the caller would then meet a ``TypeError``
far from the cause rather than the S3 error, which the kit translates for the user.
"""

from __future__ import annotations

from typing import Any


def cat_ranges(fs: Any, paths: list[str], starts: list[int], ends: list[int], **kwargs: Any) -> list[bytes]:
    r"""Return the bytes of each range, raising the first error any range met.

    Parameters
    ----------
    fs : fsspec.AbstractFileSystem
        The file system (s3fs for ``s3://``).
    paths, starts, ends : list
        One path and one half-open byte range per piece, as for ``cat_ranges``.
    **kwargs
        Passed to ``cat_ranges`` (``batch_size`` ...).

    Returns
    -------
    list of bytes

    Examples
    --------
    >>> import fsspec
    >>> fs = fsspec.filesystem("memory")
    >>> fs.pipe("/demo.bin", bytes(range(10)))
    >>> cat_ranges(fs, ["/demo.bin"] * 2, [0, 5], [2, 8])
    [b'\x00\x01', b'\x05\x06\x07']
    """
    pieces = fs.cat_ranges(paths, starts, ends, on_error="raise", **kwargs)
    for piece in pieces:
        if isinstance(piece, BaseException):
            raise piece
    return pieces
