"""The sandbox's read-only S3 (services/s3_app.py) as S3 clients see it: boto3, s3fs and plain HTTP.

Listing (paging over more than 1000 keys, delimiters, start-after, markers, UTF-8 order, URL
encoding), addressing (path and virtual-hosted style), conditional and ranged reads, the errors
S3 words, misses that say what the offline sandbox mirrors, and the server's counts.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse

import boto3
import pytest
import requests
import s3fs
from _stream_support import signed_client
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from roman_helpers.sandbox.archive.cache import ChunkCache
from roman_helpers.sandbox.archive.objects import GENERATED_DATE
from roman_helpers.sandbox.archive.registry import Archive, Provider
from roman_helpers.sandbox.archive.tables import text_object
from roman_helpers.sandbox.services.s3 import LocalS3Server

PUBLIC, PRIVATE = "stpubdata", "roman-sci-test-data-prod-summer-beta-test"
DATASETS = [f"hst/public/ib6w/ib6w{n:04d}/" for n in range(1200)]
BULK = sorted(f"{d}{name}" for d in DATASETS for name in ("ib6w_drz.fits", "ib6w_flt.fits"))
SPECIAL = [
    "special/a b.txt",
    "special/a+b.txt",
    "special/100%.txt",
    "special/<&>'\".txt",
    "special/é.txt",
    "special/z.txt",
    "special/\u00ff.txt",
    "special/\U0001f600.txt",
    "special/\u4e2d.txt",
]
MIRRORED = "HST products by proposal, for the tests"


def _text(key: str):
    return text_object(key, lambda: f"content of {key}")


def _broken(key: str):
    if key == "broken/a":
        raise RuntimeError("no object today")
    return text_object(key, lambda: 1 / 0)


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    archive = Archive(ChunkCache(tmp_path_factory.mktemp("s3-cache")))
    archive.add_bucket(PUBLIC)
    archive.add_bucket(PRIVATE, public=False)
    archive.add(Provider(PUBLIC, "hst/", MIRRORED, lambda: list(reversed(BULK)), _text))
    archive.add(Provider(PUBLIC, "special/", "keys with awkward characters", lambda: SPECIAL, _text))
    archive.add(
        Provider(PRIVATE, "ROMANISIM/", "the platform's simulations", lambda: ["ROMANISIM/a.txt"], _text)
    )
    with LocalS3Server(archive) as server:
        yield server


@pytest.fixture
def anonymous(s3):
    return boto3.client(
        "s3", endpoint_url=s3.url, region_name="us-east-1", config=Config(signature_version=UNSIGNED)
    )


@pytest.fixture
def fs(s3):
    s3fs.S3FileSystem.clear_instance_cache()
    return s3fs.S3FileSystem(anon=True, endpoint_url=s3.url, skip_instance_cache=True)


def _error(call) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value


def _raw(s3, path: str, method: str = "GET", **headers) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False  # loopback: never a proxy from the environment
        return session.request(method, s3.url + path, headers=headers, timeout=30)


# ------------------------------------------------------------------ listing


def test_more_than_1000_keys_page_in_order_with_boto3_and_s3fs(anonymous, fs):
    pages = list(anonymous.get_paginator("list_objects_v2").paginate(Bucket=PUBLIC, Prefix="hst/"))
    assert [page["KeyCount"] for page in pages] == [1000, 1000, 400]
    assert [page["IsTruncated"] for page in pages] == [True, True, False]
    assert [item["Key"] for page in pages for item in page["Contents"]] == BULK
    v1 = list(anonymous.get_paginator("list_objects").paginate(Bucket=PUBLIC, Prefix="hst/"))
    assert [item["Key"] for page in v1 for item in page["Contents"]] == BULK
    assert fs.find(f"{PUBLIC}/hst/") == [f"{PUBLIC}/{key}" for key in BULK]
    first = pages[0]["Contents"][0]
    assert first["Size"] == len(f"content of {first['Key']}")
    assert first["LastModified"] == GENERATED_DATE and first["ETag"].endswith('-1"')


def test_delimiter_rolls_keys_up_and_pages_over_common_prefixes(anonymous, fs):
    pages = list(
        anonymous.get_paginator("list_objects_v2").paginate(
            Bucket=PUBLIC, Prefix="hst/public/ib6w/", Delimiter="/"
        )
    )
    assert [page["KeyCount"] for page in pages] == [1000, 200]
    assert [p["Prefix"] for page in pages for p in page["CommonPrefixes"]] == DATASETS
    assert all("Contents" not in page for page in pages)
    v1 = list(
        anonymous.get_paginator("list_objects").paginate(
            Bucket=PUBLIC, Prefix="hst/public/ib6w/", Delimiter="/"
        )
    )
    assert v1[0]["NextMarker"] == DATASETS[999]
    assert [p["Prefix"] for page in v1 for p in page["CommonPrefixes"]] == DATASETS
    top = anonymous.list_objects_v2(Bucket=PUBLIC, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["hst/", "special/"] and top["KeyCount"] == 2
    assert fs.ls(f"{PUBLIC}/hst/public/ib6w/")[:2] == [f"{PUBLIC}/{d.rstrip('/')}" for d in DATASETS[:2]]


def test_start_after_and_max_keys(anonymous):
    after = anonymous.list_objects_v2(Bucket=PUBLIC, Prefix="hst/", StartAfter=BULK[997], MaxKeys=3)
    assert [o["Key"] for o in after["Contents"]] == BULK[998:1001]
    assert (after["KeyCount"], after["IsTruncated"], after["StartAfter"]) == (3, True, BULK[997])
    capped = anonymous.list_objects_v2(Bucket=PUBLIC, MaxKeys=5000)
    assert (capped["MaxKeys"], capped["KeyCount"]) == (1000, 1000)
    nothing = anonymous.list_objects_v2(Bucket=PUBLIC, MaxKeys=0)
    assert (nothing["KeyCount"], nothing["IsTruncated"]) == (0, False)
    beyond = anonymous.list_objects_v2(Bucket=PUBLIC, StartAfter="zzz")
    assert beyond["KeyCount"] == 0 and "Contents" not in beyond
    inside = anonymous.list_objects_v2(Bucket=PUBLIC, Prefix=DATASETS[5], StartAfter=DATASETS[5])
    assert [o["Key"] for o in inside["Contents"]] == [
        f"{DATASETS[5]}ib6w_drz.fits",
        f"{DATASETS[5]}ib6w_flt.fits",
    ]


def test_keys_list_in_utf8_byte_order_and_survive_url_encoding(s3, anonymous, fs):
    listed = [o["Key"] for o in anonymous.list_objects_v2(Bucket=PUBLIC, Prefix="special/")["Contents"]]
    assert listed == sorted(SPECIAL, key=lambda key: key.encode("utf-8"))
    assert [o["Key"] for o in anonymous.list_objects(Bucket=PUBLIC, Prefix="special/")["Contents"]] == listed
    assert fs.find(f"{PUBLIC}/special/") == [f"{PUBLIC}/{key}" for key in listed]
    for key in SPECIAL:
        assert anonymous.get_object(Bucket=PUBLIC, Key=key)["Body"].read() == f"content of {key}".encode()
        assert fs.cat_file(f"{PUBLIC}/{key}") == f"content of {key}".encode()
    encoded = _raw(s3, f"/{PUBLIC}?list-type=2&prefix=special/&encoding-type=url").text
    assert "<EncodingType>url</EncodingType>" in encoded
    assert "<Key>special/a%2Bb.txt</Key>" in encoded and "<Key>special/100%25.txt</Key>" in encoded
    keys = [part.split("</Key>")[0] for part in encoded.split("<Key>")[1:]]
    assert [urllib.parse.unquote_plus(key) for key in keys] == listed
    plain = _raw(s3, f"/{PUBLIC}?list-type=2&prefix=special/").text
    assert "<Key>special/&lt;&amp;&gt;'\".txt</Key>" in plain


# ------------------------------------------------------------------ buckets


def test_bucket_requests(s3, anonymous):
    assert anonymous.head_bucket(Bucket=PUBLIC)["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == (
        "us-east-1"
    )
    assert anonymous.get_bucket_location(Bucket=PUBLIC)["LocationConstraint"] is None
    assert _error(lambda: anonymous.head_bucket(Bucket="no-such-bucket")).response["Error"]["Code"] == "404"
    assert _error(lambda: anonymous.list_buckets()).response["Error"]["Code"] == "AccessDenied"
    names = [b["Name"] for b in signed_client(s3.url).list_buckets()["Buckets"]]
    assert names == [PRIVATE, PUBLIC]
    assert (
        _error(lambda: anonymous.list_objects_v2(Bucket=PRIVATE)).response["Error"]["Code"] == "AccessDenied"
    )
    assert signed_client(s3.url).list_objects_v2(Bucket=PRIVATE)["KeyCount"] == 1


# ------------------------------------------------------------------ objects


def test_conditional_reads(anonymous):
    key = SPECIAL[0]
    head = anonymous.head_object(Bucket=PUBLIC, Key=key)
    etag, modified = head["ETag"], head["LastModified"]
    assert anonymous.get_object(Bucket=PUBLIC, Key=key, IfMatch=etag)["Body"].read()
    failed = _error(lambda: anonymous.get_object(Bucket=PUBLIC, Key=key, IfMatch='"0123"'))
    assert (failed.response["Error"]["Code"], failed.response["Error"]["Condition"]) == (
        "PreconditionFailed",
        "If-Match",
    )
    assert _error(lambda: anonymous.get_object(Bucket=PUBLIC, Key=key, IfNoneMatch=etag)).response["Error"][
        "Code"
    ] == ("304")
    later, earlier = modified + dt.timedelta(days=1), modified - dt.timedelta(days=1)
    assert _error(lambda: anonymous.get_object(Bucket=PUBLIC, Key=key, IfModifiedSince=later)).response[
        "Error"
    ]["Code"] == ("304")
    assert anonymous.get_object(Bucket=PUBLIC, Key=key, IfModifiedSince=earlier)["ContentLength"] > 0
    unmodified = _error(lambda: anonymous.get_object(Bucket=PUBLIC, Key=key, IfUnmodifiedSince=earlier))
    assert unmodified.response["Error"]["Condition"] == "If-Unmodified-Since"
    # If-Match true wins over If-Unmodified-Since false, as S3 documents
    assert anonymous.get_object(Bucket=PUBLIC, Key=key, IfMatch=etag, IfUnmodifiedSince=earlier)[
        "Body"
    ].read()


def test_ranges_overrides_and_refusals(s3, anonymous):
    key = SPECIAL[5]
    body = f"content of {key}".encode()
    part = anonymous.get_object(Bucket=PUBLIC, Key=key, Range="bytes=-4")
    assert (part["Body"].read(), part["ContentRange"]) == (
        body[-4:],
        f"bytes {len(body) - 4}-{len(body) - 1}/{len(body)}",
    )
    invalid = _error(lambda: anonymous.get_object(Bucket=PUBLIC, Key=key, Range=f"bytes={len(body)}-"))
    assert invalid.response["Error"]["Code"] == "InvalidRange"
    assert invalid.response["Error"]["ActualObjectSize"] == str(len(body))
    typed = anonymous.get_object(Bucket=PUBLIC, Key=key, ResponseContentType="application/fits")
    assert typed["ContentType"] == "application/fits"
    assert _raw(s3, f"/{PUBLIC}/{key}?acl").status_code == 501
    assert b"offline sandbox" in _raw(s3, f"/{PUBLIC}?versioning").content
    assert _raw(s3, f"/{PUBLIC}/{key}", "PUT").status_code == 403
    for query, message in (
        ("list-type=2&continuation-token=bm90LW91cnM=", "continuation token provided is incorrect"),
        ("max-keys=-1", "max-keys"),
        ("encoding-type=base64", "Invalid Encoding Method"),
    ):
        answer = _raw(s3, f"/{PUBLIC}?{query}")
        assert (
            answer.status_code == 400
            and message in answer.text
            and "<Code>InvalidArgument</Code>" in answer.text
        )


@pytest.mark.parametrize(
    "host",
    [
        "stpubdata.s3.amazonaws.com",
        "stpubdata.s3.us-east-1.amazonaws.com",
        "stpubdata.s3-us-east-1.amazonaws.com",
        "stpubdata.localhost:{port}",
    ],
)
def test_virtual_hosted_style_names_the_bucket_in_the_host(s3, host):
    host = host.format(port=s3.port)
    key = urllib.parse.quote(SPECIAL[4])
    assert _raw(s3, f"/{key}", Host=host).content == _raw(s3, f"/{PUBLIC}/{key}").content
    listing = _raw(s3, "/?list-type=2&prefix=special/", Host=host)
    assert listing.status_code == 200 and listing.text.count("<Key>") == len(SPECIAL)
    assert _raw(s3, "/", "HEAD", Host=host).headers["x-amz-bucket-region"] == "us-east-1"


def test_a_failure_to_make_an_object_is_s3_s_internal_error(tmp_path):
    archive = Archive(ChunkCache(tmp_path))
    archive.add_bucket(PUBLIC)
    archive.add(
        Provider(PUBLIC, "broken/", "objects whose maker fails", lambda: ["broken/a", "broken/b"], _broken)
    )
    with LocalS3Server(archive) as server:
        for key, reason in (("broken/a", "no object today"), ("broken/b", "division by zero")):
            answer = _raw(server, f"/{PUBLIC}/{key}")
            assert answer.status_code == 500 and "<Code>InternalError</Code>" in answer.text
            assert reason in answer.text


# ------------------------------------------------------------------ misses


def test_misses_say_what_the_sandbox_mirrors(anonymous, fs):
    missing = _error(lambda: anonymous.get_object(Bucket=PUBLIC, Key="hst/public/zzzz/zzzz0000/x.fits"))
    message = missing.response["Error"]["Message"]
    assert missing.response["Error"]["Code"] == "NoSuchKey"
    assert message.startswith(
        "The specified key does not exist."
    )  # S3's words first: code matching them works
    assert (
        "offline sandbox" in message
        and f"{PUBLIC}/hst/ ({MIRRORED})" in message
        and "book/sandbox.md" in message
    )
    elsewhere = _error(lambda: anonymous.get_object(Bucket=PUBLIC, Key="roman/x.asdf")).response["Error"][
        "Message"
    ]
    assert (
        "does not mirror stpubdata/roman/x.asdf" in elsewhere
        and "special/: keys with awkward characters" in elsewhere
    )
    bucket = _error(lambda: anonymous.list_objects_v2(Bucket="nasa-irsa-simulations"))
    assert bucket.response["Error"]["Code"] == "NoSuchBucket"
    assert f"it serves {PRIVATE}, {PUBLIC}" in bucket.response["Error"]["Message"]
    # s3fs turns the bucket miss into FileNotFoundError with the explanation ...
    with pytest.raises(FileNotFoundError, match="offline sandbox has no bucket nasa-irsa-simulations"):
        fs.open("nasa-irsa-simulations/openuniverse2024/x.fits.gz")
    # ... and a ranged read of a missing key too; opening one starts with a HEAD, which has no body
    with pytest.raises(FileNotFoundError, match="offline sandbox mirrors stpubdata/hst/"):
        fs.cat_file(f"{PUBLIC}/hst/missing.fits", start=0, end=10)
    with pytest.raises(FileNotFoundError, match=f"^{PUBLIC}/hst/missing.fits$"):
        fs.open(f"{PUBLIC}/hst/missing.fits")
    head = _error(lambda: anonymous.head_object(Bucket=PUBLIC, Key="hst/missing.fits"))
    assert (head.response["Error"]["Code"], head.response["Error"]["Message"]) == ("404", "Not Found")
    assert (
        anonymous.list_objects_v2(Bucket=PUBLIC, Prefix="hst/missing/")["KeyCount"] == 0
    )  # as S3: empty, no error


# ------------------------------------------------------------------ accounting


def test_accounting_counts_each_request_and_its_body_bytes(s3, anonymous):
    key = SPECIAL[5]
    size = len(f"content of {key}")
    s3.reset_stats()
    anonymous.list_objects_v2(Bucket=PUBLIC, Prefix="special/")
    anonymous.head_object(Bucket=PUBLIC, Key=key)
    anonymous.get_object(Bucket=PUBLIC, Key=key, Range="bytes=2-5")["Body"].read()
    anonymous.get_object(Bucket=PUBLIC, Key=key)["Body"].read()
    _error(lambda: anonymous.get_object(Bucket=PUBLIC, Key="special/none"))
    _raw(s3, f"/{urllib.parse.quote(key)}", Host="stpubdata.s3.amazonaws.com")
    records = s3.stats.records
    assert [(r.method, r.bucket, r.key, r.status) for r in records] == [
        ("GET", PUBLIC, "", 200),
        ("HEAD", PUBLIC, key, 200),
        ("GET", PUBLIC, key, 206),
        ("GET", PUBLIC, key, 200),
        ("GET", PUBLIC, "special/none", 404),
        ("GET", PUBLIC, key, 200),
    ]
    assert [r.bytes_sent for r in records[1:4]] == [0, 4, size] and records[5].bytes_sent == size
    assert records[0].bytes_sent > 0 and records[4].bytes_sent > 0 and not any(r.authorized for r in records)


def test_the_sandbox_names_the_folders_it_holds_when_a_key_is_missing(sandbox):
    client = boto3.client(
        "s3", endpoint_url=sandbox.s3.url, region_name="us-east-1", config=Config(signature_version=UNSIGNED)
    )
    key = "openuniverse2024/roman/full/RomanTDS/images/none.fits.gz"
    message = _error(lambda: client.get_object(Bucket="nasa-irsa-simulations", Key=key)).response["Error"][
        "Message"
    ]
    assert "offline sandbox mirrors nasa-irsa-simulations/" in message and f"but not {key}" in message
    # the layout the key would belong to, by its prefix, and what that layout holds
    assert "mirrors nasa-irsa-simulations/openuniverse2024/roman/full/RomanTDS/ (" in message
    assert message.endswith("See the sandbox page of the book (book/sandbox.md).")
