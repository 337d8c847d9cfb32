"""Fixtures shared by the streaming, transfer and benchmark-count tests; every S3 test's AWS environment.

One sandbox S3 server (:class:`roman_helpers.sandbox.services.s3.S3Server`, which counts what it
serves) holds reduced-size files with the real structure, generated once per session by
``bench/files.py``: an HST-like drz, a 4088-wide two-image FITS, an OpenUniverse-like
``.fits.gz`` and a Roman lz4 ``_cal.asdf``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import s3fs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import files  # noqa: E402  (bench/files.py)

from roman_helpers.sandbox.services.s3 import S3Server  # noqa: E402

PUBLIC = "stpubdata"
PRIVATE = "roman-sci-test-data-prod-summer-beta-test"


@dataclass
class Served:
    """The running server, the local copies and the URIs of what it serves."""

    server: S3Server
    local: dict[str, Path]
    uri: dict[str, str]

    def counted(self, mark: int):
        """Server-side records since ``mark`` (a previous ``len(stats.records)``)."""
        return self.server.stats.since(mark)

    def mark(self) -> int:
        return len(self.server.stats.records)


@pytest.fixture(scope="session")
def served(tmp_path_factory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("stream-files")
    local = {
        "drz": files.write_hst_drz(folder / "ib6w01010_drz.fits", ny=600, nx=1600),
        "fits": files.write_two_image_fits(folder / "two_image.fits", ny=200),
        "gz": files.write_fits_gz(folder / "Roman_WAS_simple_model_F158_9307_1.fits.gz", ny=600),
        "asdf": files.write_roman_cal(folder / "r0003201001001001004_0001_wfi01_f158_cal.asdf", ny=1024),
    }
    keys = {
        "drz": (PUBLIC, "hst/public/ib6w/ib6w01010/ib6w01010_drz.fits"),
        "fits": (PUBLIC, "test/two_image.fits"),
        "gz": (
            "nasa-irsa-simulations",
            "openuniverse2024/roman/preview/RomanWAS/images/simple_model/"
            "F158/9307/Roman_WAS_simple_model_F158_9307_1.fits.gz",
        ),
        "asdf": (PUBLIC, "roman/test/r0003201001001001004_0001_wfi01_f158_cal.asdf"),
        "private_fits": (PRIVATE, "test/two_image.fits"),
    }
    entries = [
        files.Entry(bucket, key, local[name.removeprefix("private_")], bucket != PRIVATE)
        for name, (bucket, key) in keys.items()
    ]
    with S3Server(files.LocalManifest(entries)) as server:
        yield Served(server, local, {name: f"s3://{b}/{k}" for name, (b, k) in keys.items()})


def point_aws_clients_at(url: str, tmp_path: Path, monkeypatch, *, unset: tuple[str, ...] = ()) -> None:
    """Point this test's AWS clients at ``url`` with throw-away credentials in a file.

    Only this test's environment changes (``monkeypatch``); ``unset`` names more variables to
    remove, besides the AWS ones that would choose other credentials or another endpoint.
    """
    credentials = tmp_path / "aws-credentials"
    credentials.write_text("[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    for name in (
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL_S3",
        *unset,
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    s3fs.S3FileSystem.clear_instance_cache()


def signed_client(url: str, **options):
    """A boto3 S3 client for ``url`` that signs its requests with throw-away credentials."""
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="throwaway",
        aws_secret_access_key="throwaway",
        **options,
    )


@pytest.fixture
def s3env(served: Served, tmp_path, monkeypatch) -> Iterator[Served]:
    """Point this test's AWS clients at the server, with throw-away credentials in a file."""
    proxies = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")
    point_aws_clients_at(served.server.url, tmp_path, monkeypatch, unset=proxies)
    yield served
    s3fs.S3FileSystem.clear_instance_cache()
