"""Cloud URIs: parsing, MAST products to ``s3://`` URIs, Roman layouts and file names."""

from __future__ import annotations

import re

from .errors import InvalidURIError

__all__ = ["split_uri"]

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


def split_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into bucket and key.

    Parameters
    ----------
    uri : str
        An S3 URI. The key may be empty (``s3://bucket/``) for listings.

    Returns
    -------
    tuple of str
        ``(bucket, key)``.

    Raises
    ------
    InvalidURIError
        If ``uri`` is not a string of the form ``s3://bucket[/key]`` with a valid bucket name.

    Examples
    --------
    >>> split_uri("s3://stpubdata/hst/public/ib6w/ib6w01010/ib6w01010_drz.fits")
    ('stpubdata', 'hst/public/ib6w/ib6w01010/ib6w01010_drz.fits')
    """
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise InvalidURIError(
            f"not an S3 URI: {uri!r}; expected 's3://<bucket>/<key>', "
            "for example 's3://stpubdata/hst/public/ib6w/ib6w01010/ib6w01010_drz.fits'")
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not _BUCKET.match(bucket):
        raise InvalidURIError(
            f"invalid bucket name {bucket!r} in {uri!r}; bucket names are 3-63 lower-case "
            "letters, digits, dots and hyphens")
    return bucket, key
