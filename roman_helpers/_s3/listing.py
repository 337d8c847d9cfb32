"""What is under an S3 prefix (private).

One listing rule for the whole kit: recursively, S3's own prefix rule (``.../F158/`` is a folder,
``.../Roman_TDS_simple_model_F1`` a start of names, as ``aws s3 ls --recursive`` reads them); one
level down, the objects and sub-prefixes of a folder.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BucketNotFoundError, ObjectNotFoundError
from .clients import filesystem
from .failures import translate

__all__ = ["S3Object", "list_prefix"]


@dataclass(frozen=True)
class S3Object:
    """One object (or sub-prefix) of a listing.

    Attributes
    ----------
    uri : str
        ``s3://bucket/key``; a sub-prefix ends in ``/``.
    size : int
        Bytes (0 for a sub-prefix).
    etag : str
        The object's ETag, without quotes ("" for a sub-prefix).
    is_prefix : bool
        A sub-prefix (a "folder"), only in a listing that is not recursive.
    """

    uri: str
    size: int
    etag: str = ""
    is_prefix: bool = False


def list_prefix(
    bucket: str, key: str, *, recursive: bool, anon: bool | None = None, connections: int | None = None
) -> list[S3Object]:
    """List ``s3://bucket/key``: every object below it, or (not ``recursive``) one level.

    Returns
    -------
    list of S3Object
        Sorted by name; empty when nothing is there.

    Raises
    ------
    BucketNotFoundError, AccessDeniedError, EndpointUnreachableError
        When the bucket does not exist, the listing is refused, or no endpoint answers.
    """
    uri = f"s3://{bucket}/{key}"
    fs = filesystem(bucket, anon=anon, connections=connections)
    folder, _, name = key.rpartition("/")
    try:
        if not recursive:
            found = {entry["name"]: entry for entry in fs.ls(f"{bucket}/{key}".rstrip("/"), detail=True)}
        elif name:
            found = fs.find(f"{bucket}/{folder}".rstrip("/"), prefix=name, detail=True)
        else:
            found = fs.find(f"{bucket}/{folder}".rstrip("/"), detail=True)
    except Exception as error:  # s3fs and botocore errors alike
        translated = translate(error, uri, anonymous=fs.anon)
        if isinstance(translated, ObjectNotFoundError) and not isinstance(translated, BucketNotFoundError):
            return []  # nothing under the prefix: the caller says so in its own words
        if translated is error:
            raise
        raise translated from error
    return [
        S3Object(f"s3://{path.rstrip('/')}/", 0, "", True)
        if info.get("type") == "directory"
        else S3Object(f"s3://{path}", int(info.get("size") or 0), str(info.get("ETag", "")).strip('"'))
        for path, info in sorted(found.items())
        if recursive is False or info.get("type", "file") != "directory"
    ]
