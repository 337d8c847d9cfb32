"""Bad input a user can type: one clear error of our types, naming the input."""

from __future__ import annotations

import pytest

from roman_helpers.download import download, safe_destination
from roman_helpers.errors import (
    AccessDeniedError,
    InvalidParameterError,
    InvalidURIError,
    ObjectNotFoundError,
    UnsafePathError,
)
from roman_helpers.sandbox.services.faults import FaultRule, parse_faults
from tests.conftest import put_object


@pytest.mark.parametrize(
    "uri",
    ["stpubdata/a.fits", "http://stpubdata/a.fits", "s3://", "s3://UPPER/a", "s3://ab/x", "s3:/stpubdata/a"],
)
def test_download_malformed_uri(moto_endpoint, tmp_path, uri):
    [result] = download([uri], tmp_path, progress=False)
    assert result.status == "failed" and isinstance(result.error, InvalidURIError)
    assert uri in str(result.error) or uri.removeprefix("s3://").split("/")[0] in str(result.error)


def test_download_unknown_bucket_and_key(buckets, s3_client, tmp_path):
    put_object(s3_client, "stpubdata", "here.bin", b"x")
    results = download(
        ["s3://stpubdata/not-here.bin", "s3://no-such-bucket-zz/k.bin", "s3://stpubdata/here.bin"],
        tmp_path,
        progress=False,
    )
    assert isinstance(results[0].error, ObjectNotFoundError) and "not-here.bin" in str(results[0].error)
    assert isinstance(results[1].error, ObjectNotFoundError) and "no-such-bucket-zz" in str(results[1].error)
    assert results[2].status == "downloaded"


def test_download_private_bucket_anonymously_is_refused(buckets, s3_client, tmp_path, monkeypatch):
    """moto's bare server accepts anonymous reads of private objects; S's access policy refuses
    them. Here we check the mapping of S3's 403 to AccessDeniedError via a forced anonymous read
    of an object whose ACL is private."""
    bucket = "roman-sci-test-data-prod-summer-beta-test"
    put_object(s3_client, bucket, "secret.asdf", b"x")
    [result] = download([f"s3://{bucket}/secret.asdf"], tmp_path, anon=True, progress=False)
    assert isinstance(result.error, AccessDeniedError) and bucket in str(result.error)
    assert not (tmp_path / "secret.asdf").exists()


@pytest.mark.parametrize("key", ["", "a//b", "a/./b", "dir/", "a\x00b"])
def test_more_unsafe_keys(tmp_path, key):
    with pytest.raises(UnsafePathError) as caught:
        safe_destination(tmp_path, key)
    assert repr(key) in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"kind": "melt"}, "melt"),
        ({"kind": "cut", "rate": 1.5}, "1.5"),
        ({"kind": "flip", "nth": 0}, "0"),
        ({"kind": "cut", "fraction": -0.1}, "-0.1"),
    ],
)
def test_fault_rule_values(kwargs, named):
    with pytest.raises(InvalidParameterError, match=named):
        FaultRule(**kwargs)


def test_faults_spec_names_the_bad_rule():
    with pytest.raises(InvalidParameterError, match="'cut:fraction=half'"):
        parse_faults("slowdown:0.1,cut:fraction=half")


def test_sandbox_refuses_a_bad_fault_spec_before_starting_anything(tmp_path):
    from roman_helpers.sandbox.launcher import Sandbox

    with pytest.raises(InvalidParameterError, match="seed"):
        Sandbox(tmp_path, faults="slowdown:0.3:seed=1")
    assert list(tmp_path.iterdir()) == []  # no data built, no state written
