"""A read-only S3 endpoint over an :class:`~roman_helpers.sandbox.archive.registry.Archive` (WSGI).

Why by hand: S3 stand-ins (moto and the like) store bytes, and the sandbox's objects mostly do
not exist until a client reads them; no library serves S3 from objects made on demand. The app
answers what S3 clients (botocore, s3fs, fsspec, astropy, pyarrow) send to read public data,
as S3 answers it:

==========================  ======================================================================
request                     answer
==========================  ======================================================================
ListBuckets                 signed: every bucket; anonymous: ``403 AccessDenied`` (as AWS)
HeadBucket                  200 with ``x-amz-bucket-region``; 404 (no body) for an unknown bucket
GetBucketLocation           ``LocationConstraint`` (empty: us-east-1)
ListObjects, ListObjectsV2  prefix, delimiter, max-keys (at most 1000), marker / start-after,
                            continuation tokens, ``encoding-type=url``, fetch-owner; keys in
                            UTF-8 byte order
HeadObject, GetObject       Content-Length, ETag, Last-Modified, Content-Type, Accept-Ranges;
                            one ``Range`` (``a-b``, ``a-``, ``-n``) gives 206 with Content-Range,
                            a range past the end ``416 InvalidRange`` (with the size), several
                            or malformed ranges the whole object; If-Match, If-None-Match,
                            If-Modified-Since, If-Unmodified-Since (412 / 304);
                            ``response-*`` header overrides
presigned GET/HEAD          ``X-Amz-*`` query parameters (SigV4) checked: a signature that does not
                            match ``403 SignatureDoesNotMatch``, an unknown key
                            ``403 InvalidAccessKeyId``, a URL past ``X-Amz-Date + X-Amz-Expires``
                            ``403 AccessDenied`` "Request has expired" (:func:`presign_url`)
writes (PUT, POST, DELETE)  ``403 AccessDenied``, as a public bucket refuses them
other sub-resources         ``501 NotImplemented`` naming the sandbox
==========================  ======================================================================

Presigned URLs are the one signature the app checks (MAST's Missions downloads redirect to them;
:mod:`~roman_helpers.sandbox.services.missions`): their keys are the app's ``signers``, made
afresh for each server. Requests signed in a header (botocore with the sandbox's throw-away
keys) are taken as they come. SigV4 is written out here because botocore signs but offers no
public way to check a signature made at another time; the tests check the two agree.

Every answer carries ``x-amz-request-id`` and ``x-amz-id-2``. Requests may name the bucket in
the path (``http://127.0.0.1:PORT/bucket/key``) or in the host (``bucket.s3.amazonaws.com``,
``bucket.s3.us-east-1.amazonaws.com``, ``bucket.localhost``).

A miss (``NoSuchKey``, ``NoSuchBucket``) carries S3's own message followed by what the sandbox
mirrors and the book's sandbox page (:meth:`~roman_helpers.sandbox.archive.registry.Archive.explain_missing`);
a HEAD answer has no body, so a HEAD miss is S3's bare 404.

Examples
--------
>>> from werkzeug.test import Client
>>> from roman_helpers.sandbox.archive.registry import Archive, Provider
>>> from roman_helpers.sandbox.archive.tables import text_object
>>> archive = Archive()
>>> _ = archive.add_bucket("stpubdata")
>>> def make(key):
...     return text_object(key, lambda: "0123456789")
>>> _ = archive.add(Provider("stpubdata", "hst/", "HST data", lambda: ["hst/a.txt"], make))
>>> answer = Client(S3App(archive)).get("/stpubdata/hst/a.txt", headers={"Range": "bytes=2-4"})
>>> answer.status, answer.headers["Content-Range"], answer.data
('206 Partial Content', 'bytes 2-4/10', b'234')
>>> print(Client(S3App(archive)).get("/stpubdata/hst/b.txt").text)  # doctest: +ELLIPSIS
<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The specified key does not exist. The roman-helpers offline sandbox ...
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, quote_plus, urlsplit
from xml.sax.saxutils import escape

from roman_helpers.sandbox.archive.objects import ArchiveObject
from roman_helpers.sandbox.archive.registry import Archive

__all__ = ["PIECE", "S3App", "bucket_and_key", "is_signed", "new_signer", "presign_url", "s3_error"]

#: Body bytes produced per step of a GET (aligned to multiples of it, like the archive's cache).
PIECE = 1 << 20
_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
_OWNER_ID = hashlib.sha256(b"roman-helpers offline sandbox").hexdigest()
_OWNER = f"<Owner><ID>{_OWNER_ID}</ID><DisplayName>roman-helpers-sandbox</DisplayName></Owner>"
_VIRTUAL_HOST = re.compile(r"^(?P<bucket>.+?)\.(?:s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com|localhost)$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_WRITES = {"PUT", "POST", "DELETE", "PATCH"}
_OBJECT_SUBRESOURCES = {"acl", "tagging", "attributes", "torrent", "legal-hold", "retention", "uploadId"}
_RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
    "response-content-language": "Content-Language",
    "response-cache-control": "Cache-Control",
    "response-expires": "Expires",
}
_PRECONDITION = "At least one of the pre-conditions you specified did not hold"
_STATUS = {
    200: "200 OK",
    206: "206 Partial Content",
    304: "304 Not Modified",
    400: "400 Bad Request",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    412: "412 Precondition Failed",
    416: "416 Requested Range Not Satisfiable",
    500: "500 Internal Server Error",
    501: "501 Not Implemented",
}

StartResponse = Callable[..., Any]
Headers = list[tuple[str, str]]


def bucket_and_key(environ: dict[str, Any]) -> tuple[str, str]:
    """The bucket and key a request names, in virtual-hosted or path style.

    Examples
    --------
    >>> bucket_and_key({"HTTP_HOST": "stpubdata.s3.us-east-1.amazonaws.com", "PATH_INFO": "/hst/a b.fits"})
    ('stpubdata', 'hst/a b.fits')
    >>> bucket_and_key({"HTTP_HOST": "127.0.0.1:9000", "PATH_INFO": "/stpubdata/hst/x"})
    ('stpubdata', 'hst/x')
    >>> bucket_and_key({"HTTP_HOST": "s3.amazonaws.com", "PATH_INFO": "/"})
    ('', '')
    """
    # WSGI gives the decoded path as latin-1 text of its bytes; keys are UTF-8
    raw = environ.get("PATH_INFO", "")
    try:
        path = raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        path = raw
    path = path[1:] if path.startswith("/") else path
    host = environ.get("HTTP_HOST", "")
    host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    match = _VIRTUAL_HOST.match(host.lower())
    if match:
        return match.group("bucket"), path
    bucket, _, key = path.partition("/")
    return bucket, key


def is_signed(environ: dict[str, Any]) -> bool:
    """Whether the request carries a signature (header or presigned query)."""
    query = environ.get("QUERY_STRING", "")
    return bool(environ.get("HTTP_AUTHORIZATION")) or "X-Amz-Signature=" in query or "Signature=" in query


_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_MAX_EXPIRES = 604800  # seven days, S3's limit for a presigned URL


def new_signer() -> dict[str, str]:
    """A fresh key pair for presigning, ``{access key id: secret}`` (never printed or logged)."""
    return {"ASIA" + secrets.token_hex(8).upper(): secrets.token_urlsafe(30)}


def _signature(
    secret: str, method: str, host: str, path: str, query: list[tuple[str, str]], amz_date: str, scope: str
) -> str:
    """SigV4 signature of a presigned request (``UNSIGNED-PAYLOAD``, the host header signed)."""
    encoded = sorted(
        (quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in query if k != "X-Amz-Signature"
    )
    canonical = "\n".join(
        [method, path, "&".join(f"{k}={v}" for k, v in encoded), f"host:{host}\n", "host", "UNSIGNED-PAYLOAD"]
    )
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def presign_url(
    endpoint: str,
    bucket: str,
    key: str,
    signer: Mapping[str, str],
    *,
    expires: int = 3600,
    signed_at: datetime | None = None,
    region: str = "us-east-1",
) -> str:
    """A presigned GET URL of ``bucket/key`` at ``endpoint``, as botocore makes them.

    Parameters
    ----------
    endpoint : str
        ``http://127.0.0.1:PORT`` of the S3 server (path style: ``/bucket/key``), or a bucket's
        web address such as ``https://stpubdata.s3.amazonaws.com`` (virtual-hosted: ``/key``).
    bucket, key : str
    signer : mapping
        ``{access key id: secret}`` (one entry; :func:`new_signer`).
    expires : int
        Seconds the URL stays valid (1 to 604800).
    signed_at : datetime, optional
        When it was signed (default now, UTC).
    region : str

    Returns
    -------
    str

    Examples
    --------
    >>> url = presign_url(
    ...     "http://127.0.0.1:9",
    ...     "stpubdata",
    ...     "a/b.txt",
    ...     {"AKID": "secret"},
    ...     signed_at=datetime(2027, 1, 1, tzinfo=UTC),
    ... )
    >>> url.split("?")[0], "X-Amz-Expires=3600" in url
    ('http://127.0.0.1:9/stpubdata/a/b.txt', True)
    """
    ((access_key, secret),) = signer.items()
    moment = (signed_at or datetime.now(UTC)).astimezone(UTC)
    amz_date = moment.strftime(_AMZ_DATE)
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    host = urlsplit(endpoint).netloc
    virtual = host.split(":")[0].startswith(f"{bucket}.")
    path = f"/{quote(key, safe='/~')}" if virtual else f"/{bucket}/{quote(key, safe='/~')}"
    query = [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", f"{access_key}/{scope}"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(int(expires))),
        ("X-Amz-SignedHeaders", "host"),
    ]
    signature = _signature(secret, "GET", host, path, query, amz_date, scope)
    text = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query)
    return f"{endpoint.rstrip('/')}{path}?{text}&X-Amz-Signature={signature}"


def _check_presigned(environ: dict[str, Any], method: str, signers: Mapping[str, str]) -> None:
    """Raise the S3 error a presigned request earns (bad signature, unknown key, expired)."""
    query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    given = dict(query)
    try:
        access_key, scope = given["X-Amz-Credential"].split("/", 1)
        amz_date, expires = given["X-Amz-Date"], int(given["X-Amz-Expires"])
        signed_at = datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=UTC)
        if given.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or not 0 < expires <= _MAX_EXPIRES:
            raise ValueError
    except (KeyError, ValueError):
        raise _Answer(
            400, "AuthorizationQueryParametersError", "Query-string authentication version 4 requires the "
            "X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters.",
        ) from None  # fmt: skip
    secret = signers.get(access_key)
    if secret is None:
        raise _Answer(
            403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.",
            AWSAccessKeyId=access_key,
        )  # fmt: skip
    path = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or quote(environ.get("PATH_INFO", "")))
    path = path.split("?", 1)[0]
    host = environ.get("HTTP_HOST", "")
    # The sandbox's own relays (the proxy's tunnel, the private network's S3 front) may hand a
    # request for the bucket's web address over in path style on 127.0.0.1: the bucket's web
    # names are this server's own, so a URL signed for any of them is the same request.
    bucket, key = bucket_and_key(environ)
    forms = [(host, path)]
    if bucket and key:
        quoted = "/" + quote(key, safe="/~")
        forms += [
            (f"{bucket}.{suffix}", quoted) for suffix in ("s3.amazonaws.com", "s3.us-east-1.amazonaws.com")
        ]
    # a presigned GET URL may be used for HEAD as well (S3 checks the method it was signed for)
    given_signature = given.get("X-Amz-Signature", "")
    if not any(
        hmac.compare_digest(_signature(secret, "GET", h, p, query, amz_date, scope), given_signature)
        for h, p in forms
    ):
        raise _Answer(
            403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature "
            "you provided. Check your key and signing method.", AWSAccessKeyId=access_key,
        )  # fmt: skip
    now = datetime.now(UTC)
    ends = signed_at + timedelta(seconds=expires)
    if now > ends:
        raise _Answer(
            403, "AccessDenied", "Request has expired", **{"X-Amz-Expires": str(expires)},
            Expires=ends.strftime("%Y-%m-%dT%H:%M:%SZ"), ServerTime=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )  # fmt: skip


def _http_date(moment: datetime) -> str:
    return email.utils.format_datetime(moment.astimezone(UTC), usegmt=True)


def _iso_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _parse_http_date(text: str) -> datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None  # S3 ignores a date it cannot read
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _etags(header: str) -> list[str]:
    return [tag.strip().removeprefix("W/").strip('"') for tag in header.split(",") if tag.strip()]


def _parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """``(start, end)`` end exclusive; ``"unsatisfiable"``; or None (answer the whole object)."""
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # several ranges, or not a byte range: S3 sends the whole object
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last n bytes
        count = int(last)
        return "unsatisfiable" if count == 0 or size == 0 else (max(0, size - count), size)
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, min(size, int(last) + 1) if last else size


def _request_ids() -> Headers:
    return [("x-amz-request-id", secrets.token_hex(8).upper()), ("x-amz-id-2", secrets.token_urlsafe(48))]


def s3_error(
    environ: dict[str, Any], start_response: StartResponse, status: int, code: str, message: str
) -> list[bytes]:
    """Answer with an S3 error (XML body, request IDs; the status alone to a HEAD).

    Examples
    --------
    >>> answered = []
    >>> body = s3_error(
    ...     {"REQUEST_METHOD": "GET"}, lambda *a: answered.append(a), 403, "AccessDenied", "Access Denied"
    ... )
    >>> answered[0][0], b"<Code>AccessDenied</Code>" in body[0]
    ('403 Forbidden', True)
    """
    ids = _request_ids()
    method = environ.get("REQUEST_METHOD", "GET").upper()
    status, headers, body = _error(_Answer(status, code, message), ids[0][1], method)
    start_response(_STATUS[status], [*headers, *ids])
    return list(body)


def _error(answer: _Answer, request_id: str, method: str) -> tuple[int, Headers, Iterable[bytes]]:
    extra = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in answer.fields.items())
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{answer.code}</Code><Message>{escape(answer.message)}</Message>{extra}"
        f"<RequestId>{request_id}</RequestId><HostId>roman-helpers-sandbox</HostId></Error>"
    ).encode()
    headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
    if answer.code == "InvalidRange":
        headers.append(("Content-Range", f"bytes */{answer.fields['ActualObjectSize']}"))
    if method == "HEAD":  # S3 answers HEAD with the status alone
        return answer.status, [("Content-Length", "0")], []
    return answer.status, headers, [body]


class _Answer(Exception):
    """An error answer, raised where it is found and written by :meth:`S3App.__call__`."""

    def __init__(self, status: int, code: str, message: str, **fields: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


class S3App:
    """The sandbox's read-only S3 endpoint over ``archive`` (a WSGI application).

    Parameters
    ----------
    archive : Archive
    region : str
        Region the buckets report.
    signers : mapping, optional
        ``{access key id: secret}`` whose presigned URLs are accepted (none: every presigned
        URL is refused as signed with an unknown key).
    """

    def __init__(
        self, archive: Archive, region: str = "us-east-1", signers: Mapping[str, str] | None = None
    ) -> None:
        self.archive = archive
        self.region = region
        self.signers = dict(signers or {})

    # ------------------------------------------------------------------ dispatch
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer one request."""
        ids = _request_ids()
        method = environ.get("REQUEST_METHOD", "GET").upper()
        try:
            status, headers, body = self._dispatch(environ, method)
        except _Answer as answer:
            status, headers, body = _error(answer, ids[0][1], method)
        except Exception as error:  # noqa: BLE001 - a fault of the sandbox: S3's 500, which clients retry
            failure = _Answer(500, "InternalError", f"The roman-helpers offline sandbox failed: {error!r}")
            status, headers, body = _error(failure, ids[0][1], method)
        start_response(_STATUS[status], [*headers, *ids])
        return body

    def _dispatch(self, environ: dict[str, Any], method: str) -> tuple[int, Headers, Iterable[bytes]]:
        bucket, key = bucket_and_key(environ)
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if method in _WRITES:
            raise _Answer(
                403, "AccessDenied", "Access Denied (the roman-helpers offline sandbox is read-only)"
            )
        if method not in ("GET", "HEAD"):
            raise _Answer(
                405, "MethodNotAllowed", "The specified method is not allowed against this resource."
            )
        if "X-Amz-Signature" in query or "X-Amz-Credential" in query:
            _check_presigned(environ, method, self.signers)
        if not bucket:
            return self._list_buckets(environ, method)
        if self.archive.bucket(bucket) is None:
            raise _Answer(
                404,
                "NoSuchBucket",
                "The specified bucket does not exist. " + self.archive.explain_missing(bucket, key or None),
                BucketName=bucket,
            )
        if not key:
            return self._bucket(bucket, query, method)
        unsupported = sorted(_OBJECT_SUBRESOURCES & set(query))
        if unsupported:
            raise _Answer(
                501,
                "NotImplemented",
                f"The roman-helpers offline sandbox does not answer the {unsupported[0]} request of objects.",
            )
        return self._object(environ, bucket, key, query, method)

    @staticmethod
    def _xml(root: str, inner: str, method: str) -> tuple[int, Headers, Iterable[bytes]]:
        text = f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{_NAMESPACE}">{inner}</{root}>'
        data = text.encode()
        headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(data)))]
        return 200, headers, [] if method == "HEAD" else [data]

    # ------------------------------------------------------------------ service and buckets
    def _list_buckets(self, environ: dict[str, Any], method: str) -> tuple[int, Headers, Iterable[bytes]]:
        if not is_signed(environ):
            raise _Answer(403, "AccessDenied", "Access Denied")
        buckets = "".join(
            f"<Bucket><Name>{escape(b.name)}</Name><CreationDate>{_iso_date(b.created)}</CreationDate></Bucket>"
            for b in self.archive.buckets
        )
        return self._xml("ListAllMyBucketsResult", f"{_OWNER}<Buckets>{buckets}</Buckets>", method)

    def _bucket(
        self, bucket: str, query: dict[str, list[str]], method: str
    ) -> tuple[int, Headers, Iterable[bytes]]:
        if method == "HEAD":
            return 200, [("x-amz-bucket-region", self.region), ("Content-Length", "0")], []
        if "location" in query:
            region = "" if self.region == "us-east-1" else escape(self.region)
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<LocationConstraint xmlns="{_NAMESPACE}">{region}</LocationConstraint>'
            ).encode()
            return 200, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))], [body]
        known = {"list-type", "prefix", "delimiter", "max-keys", "marker", "continuation-token"}
        known |= {"start-after", "encoding-type", "fetch-owner", "x-id"}
        unknown = sorted(name for name in query if name not in known)
        if unknown:
            raise _Answer(
                501,
                "NotImplemented",
                f"The roman-helpers offline sandbox does not answer the {unknown[0]} request of buckets.",
            )
        return self._list_objects(bucket, query, method)

    def _list_objects(
        self, bucket: str, query: dict[str, list[str]], method: str
    ) -> tuple[int, Headers, Iterable[bytes]]:
        def one(name: str) -> str:
            return query.get(name, [""])[0]

        version2 = one("list-type") == "2"
        encoding = one("encoding-type")
        if encoding not in ("", "url"):
            raise _Answer(400, "InvalidArgument", "Invalid Encoding Method specified in Request")
        try:
            max_keys = min(1000, int(one("max-keys") or 1000))
        except ValueError:
            max_keys = -1
        if max_keys < 0:
            raise _Answer(400, "InvalidArgument", "Provided max-keys not an integer or within integer range")
        prefix, delimiter = one("prefix"), one("delimiter")
        token = one("continuation-token")
        if version2:
            after = _decode_token(token) if "continuation-token" in query else one("start-after")
        else:
            after = one("marker")
        page = self.archive.listing(bucket, prefix, delimiter, after, max_keys)

        def coded(text: str) -> str:
            return escape(quote_plus(text, safe="/") if encoding else text)

        parts = [f"<Name>{escape(bucket)}</Name>"]
        # botocore decodes the top-level Prefix of ListObjectsV2 only: v1's goes back as given
        parts.append(f"<Prefix>{coded(prefix) if version2 else escape(prefix)}</Prefix>")
        if version2:
            if "continuation-token" in query:
                parts.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
            if "start-after" in query:
                parts.append(f"<StartAfter>{coded(one('start-after'))}</StartAfter>")
            parts.append(f"<KeyCount>{len(page.contents) + len(page.common_prefixes)}</KeyCount>")
        else:
            parts.append(f"<Marker>{coded(after)}</Marker>")
        parts.append(f"<MaxKeys>{max_keys}</MaxKeys>")
        if delimiter:
            parts.append(f"<Delimiter>{coded(delimiter)}</Delimiter>")
        if encoding:
            parts.append("<EncodingType>url</EncodingType>")
        parts.append(f"<IsTruncated>{'true' if page.truncated else 'false'}</IsTruncated>")
        if page.truncated and page.next_after is not None:
            if version2:
                parts.append(
                    f"<NextContinuationToken>{_encode_token(page.next_after)}</NextContinuationToken>"
                )
            elif delimiter:  # S3 gives NextMarker only with a delimiter; clients use the last key otherwise
                parts.append(f"<NextMarker>{coded(page.next_after)}</NextMarker>")
        owner = _OWNER if not version2 or one("fetch-owner") == "true" else ""
        prefixes = "".join(
            f"<CommonPrefixes><Prefix>{coded(p)}</Prefix></CommonPrefixes>" for p in page.common_prefixes
        )
        head = f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="{_NAMESPACE}">' + "".join(
            parts
        )

        def body() -> Iterator[bytes]:
            # Sent as it is made: an object's size may take a second to work out (a catalog's is
            # its Parquet file's), and clients give up on a silent answer (pyarrow after 3 s).
            yield head.encode()
            for item in page.contents:
                yield _content(item, coded, owner).encode()
            yield (prefixes + "</ListBucketResult>").encode()

        return 200, [("Content-Type", "application/xml")], [] if method == "HEAD" else body()

    # ------------------------------------------------------------------ objects
    def _object(
        self, environ: dict[str, Any], bucket: str, key: str, query: dict[str, list[str]], method: str
    ) -> tuple[int, Headers, Iterable[bytes]]:
        version = query.get("versionId", [""])[0]
        if version not in ("", "null"):
            raise _Answer(400, "InvalidArgument", "Invalid version id specified", ArgumentName="versionId")
        item = self.archive.get(bucket, key)
        if item is None:
            raise _Answer(
                404,
                "NoSuchKey",
                "The specified key does not exist. " + self.archive.explain_missing(bucket, key),
                Key=key,
            )
        size = item.size
        headers: Headers = [
            ("Accept-Ranges", "bytes"),
            ("Last-Modified", _http_date(item.last_modified)),
            ("ETag", item.etag),
        ]
        if not _preconditions(environ, item):
            return 304, headers, []
        span: tuple[int, int] = (0, size)
        status = 200
        requested = environ.get("HTTP_RANGE")
        if requested:
            parsed = _parse_range(requested, size)
            if parsed == "unsatisfiable":
                raise _Answer(
                    416,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                    RangeRequested=requested,
                    ActualObjectSize=str(size),
                )
            if isinstance(parsed, tuple):
                span, status = parsed, 206
                headers.append(("Content-Range", f"bytes {span[0]}-{span[1] - 1}/{size}"))
        content_type = item.content_type
        overrides = [
            (_RESPONSE_OVERRIDES[name], query[name][0]) for name in query if name in _RESPONSE_OVERRIDES
        ]
        if any(name == "Content-Type" for name, _ in overrides):
            content_type = next(value for name, value in overrides if name == "Content-Type")
        headers += [(n, v) for n, v in overrides if n != "Content-Type"]
        headers += [("Content-Type", content_type), ("Content-Length", str(span[1] - span[0]))]
        if method == "HEAD" or span[0] == span[1]:
            return status, headers, []
        try:  # the first piece before the status goes out: a failure to make it is a 500
            first = item.read(span[0], min(span[1], (span[0] // PIECE + 1) * PIECE))
        except Exception as error:  # noqa: BLE001 - any generator failure is the server's, as on S3
            raise _Answer(500, "InternalError", f"The sandbox could not make {key}: {error}") from None
        return status, headers, _body(item, first, span[0] + len(first), span[1])


def _body(item: ArchiveObject, first: bytes, start: int, end: int) -> Iterator[bytes]:
    yield first
    while start < end:
        stop = min(end, (start // PIECE + 1) * PIECE)
        yield item.read(start, stop)
        start = stop


def _preconditions(environ: dict[str, Any], item: ArchiveObject) -> bool:
    """Check the conditional headers in RFC 9110's order; False means 304, a failure raises 412."""
    etag = item.etag.strip('"')
    modified = item.last_modified.replace(microsecond=0)
    if_match = environ.get("HTTP_IF_MATCH")
    if if_match is not None:
        tags = _etags(if_match)
        if "*" not in tags and etag not in tags:
            raise _Answer(412, "PreconditionFailed", _PRECONDITION, Condition="If-Match")
    else:
        since = _parse_http_date(environ.get("HTTP_IF_UNMODIFIED_SINCE", ""))
        if since is not None and modified > since:
            raise _Answer(412, "PreconditionFailed", _PRECONDITION, Condition="If-Unmodified-Since")
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        tags = _etags(if_none_match)
        return not ("*" in tags or etag in tags)
    since = _parse_http_date(environ.get("HTTP_IF_MODIFIED_SINCE", ""))
    return since is None or modified > since


def _content(item: ArchiveObject, coded: Callable[[str], str], owner: str) -> str:
    return (
        f"<Contents><Key>{coded(item.key)}</Key><LastModified>{_iso_date(item.last_modified)}</LastModified>"
        f"<ETag>{escape(item.etag)}</ETag><Size>{item.size}</Size>{owner}"
        "<StorageClass>STANDARD</StorageClass></Contents>"
    )


def _encode_token(after: str) -> str:
    return base64.urlsafe_b64encode(b"sandbox:" + after.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(token.encode())
    except (binascii.Error, ValueError):
        raw = b""
    if not raw.startswith(b"sandbox:"):
        raise _Answer(400, "InvalidArgument", "The continuation token provided is incorrect")
    return raw.removeprefix(b"sandbox:").decode("utf-8", "replace")
