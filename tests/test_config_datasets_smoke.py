"""Smoke test of the shared moto fixture (the other modules' tests build on it)."""

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import put_object


def test_public_objects_are_anonymous_and_private_ones_are_not(buckets, s3_client):
    put_object(s3_client, buckets["public"], "a.txt", b"open")
    put_object(s3_client, buckets["private"], "b.txt", b"closed")
    anon = boto3.client("s3", config=Config(signature_version=UNSIGNED))
    assert anon.get_object(Bucket=buckets["public"], Key="a.txt")["Body"].read() == b"open"
    with pytest.raises(ClientError) as err:
        anon.get_object(Bucket=buckets["private"], Key="b.txt")
    assert err.value.response["Error"]["Code"] in {"403", "AccessDenied"}
