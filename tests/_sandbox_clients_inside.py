"""Run under ``roman-helpers sandbox run``: read with each S3 client, as unmodified code would.

``python _sandbox_clients_inside.py clients FITS_KEY PARQUET_KEY`` reads one FITS and one Parquet
object of ``nasa-irsa-simulations`` with every client and prints one JSON object: per client,
what it read (digests, rows, names) and the requests the sandbox's S3 service recorded for it
(``/_sandbox/stats``, reset before each client). ``python _sandbox_clients_inside.py network``
prints what this process can reach: its interfaces, name look-ups, connections to public
addresses, a web request through the proxy and pyarrow's client in another region.
Used by tests/test_sandbox_clients.py; it prints, the test asserts.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import traceback
import urllib.request
from collections.abc import Callable
from typing import Any

BUCKET = "nasa-irsa-simulations"
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the stats are on loopback


def _stats_url() -> str:
    with open(os.environ["ROMAN_HELPERS_SANDBOX"]) as state:
        return json.load(state)["stats"]


def _reset() -> None:
    request = urllib.request.Request(_stats_url() + "/reset", data=b"", method="POST")
    _direct.open(request, timeout=30).read()


def _records() -> list[dict[str, Any]]:
    return json.load(_direct.open(_stats_url(), timeout=30))["records"]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _table_summary(ids: Any, columns: list[str]) -> dict[str, Any]:
    import numpy as np

    return {
        "rows": len(ids),
        "ids_sha256": _sha256(np.asarray(ids, dtype=np.int64).tobytes()),
        "columns": columns,
    }


def s3fs_cat(fits_key: str, parquet_key: str) -> dict[str, Any]:
    import s3fs

    return {"sha256": _sha256(s3fs.S3FileSystem(anon=True).cat(f"{BUCKET}/{fits_key}"))}


def boto3_get_object(fits_key: str, parquet_key: str) -> dict[str, Any]:
    import boto3

    body = boto3.client("s3").get_object(Bucket=BUCKET, Key=fits_key)["Body"].read()
    return {"sha256": _sha256(body)}


def fsspec_open(fits_key: str, parquet_key: str) -> dict[str, Any]:
    import fsspec

    with fsspec.open(f"s3://{BUCKET}/{fits_key}", "rb", anon=True) as handle:
        return {"sha256": _sha256(handle.read())}


def astropy_fits_open(fits_key: str, parquet_key: str) -> dict[str, Any]:
    from astropy.io import fits

    with fits.open(f"s3://{BUCKET}/{fits_key}", fsspec_kwargs={"anon": True}) as hdus:
        return {"names": [hdu.name for hdu in hdus], "data_sha256": _sha256(hdus[1].data.tobytes())}


def pandas_read_parquet(fits_key: str, parquet_key: str) -> dict[str, Any]:
    import pandas as pd

    frame = pd.read_parquet(f"s3://{BUCKET}/{parquet_key}", storage_options={"anon": True})
    return _table_summary(frame["id"].to_numpy(), list(frame.columns))


def _pyarrow_fs() -> Any:
    import pyarrow.fs

    return pyarrow.fs.S3FileSystem(region="us-east-1", anonymous=True)  # as IRSA's notebooks build it


def pyarrow_read_table(fits_key: str, parquet_key: str) -> dict[str, Any]:
    import pyarrow.parquet as pq

    table = pq.read_table(f"{BUCKET}/{parquet_key}", filesystem=_pyarrow_fs())
    return _table_summary(table.column("id").to_numpy(), table.column_names)


def pyarrow_listing_and_footer(fits_key: str, parquet_key: str) -> dict[str, Any]:
    import pyarrow.fs
    import pyarrow.parquet as pq

    fs, path = _pyarrow_fs(), f"{BUCKET}/{parquet_key}"
    listed = fs.get_file_info(pyarrow.fs.FileSelector(path.rsplit("/", 1)[0]))
    metadata = pq.read_metadata(path, filesystem=fs)
    return {
        "listed": {info.path: info.size for info in listed},
        "num_rows": metadata.num_rows,
        "row_groups": metadata.num_row_groups,
        "schema": pq.read_schema(path, filesystem=fs).names,
    }


def pyarrow_filters(fits_key: str, parquet_key: str) -> dict[str, Any]:
    import pyarrow.parquet as pq

    table = pq.read_table(
        f"{BUCKET}/{parquet_key}", filesystem=_pyarrow_fs(), filters=[("dec", ">", -44.09)], columns=["id"]
    )
    return _table_summary(table.column("id").to_numpy(), table.column_names)


def requests_bucket_https(fits_key: str, parquet_key: str) -> dict[str, Any]:
    import requests

    response = requests.get(f"https://{BUCKET}.s3.amazonaws.com/{fits_key}", timeout=60)
    response.raise_for_status()
    return {"sha256": _sha256(response.content)}


def astropy_fits_open_https(fits_key: str, parquet_key: str) -> dict[str, Any]:
    from astropy.io import fits

    with fits.open(f"https://{BUCKET}.s3.amazonaws.com/{fits_key}", cache=False) as hdus:
        return {"names": [hdu.name for hdu in hdus], "data_sha256": _sha256(hdus[1].data.tobytes())}


CLIENTS: list[Callable[[str, str], dict[str, Any]]] = [
    s3fs_cat,
    boto3_get_object,
    fsspec_open,
    astropy_fits_open,
    pandas_read_parquet,
    pyarrow_read_table,
    pyarrow_listing_and_footer,
    pyarrow_filters,
    requests_bucket_https,
    astropy_fits_open_https,
]


def clients(fits_key: str, parquet_key: str) -> dict[str, Any]:
    report: dict[str, Any] = {"isolation": os.environ.get("ROMAN_HELPERS_SANDBOX_ISOLATION")}
    for client in CLIENTS:
        _reset()
        try:
            report[client.__name__] = {"read": client(fits_key, parquet_key)}
        except Exception:  # noqa: BLE001 - reported for the test to show
            report[client.__name__] = {"error": traceback.format_exc()}
        report[client.__name__]["records"] = _records()
    return report


def _outcome(action: Callable[[], Any]) -> dict[str, Any]:
    try:
        return {"ok": repr(action())}
    except OSError as error:
        return {"errno": error.errno, "error": f"{type(error).__name__}: {error}"}
    except Exception as error:  # noqa: BLE001 - reported for the test to show
        return {"error": f"{type(error).__name__}: {error}"}


def _connect(family: socket.AddressFamily, address: tuple[Any, ...]) -> None:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(20)
        sock.connect(address)


def _send_udp(address: tuple[str, int]) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        return sock.sendto(b"\0" * 12, address)


def _resolve(name: str) -> list[str]:
    return sorted({info[4][0] for info in socket.getaddrinfo(name, 443, proto=socket.IPPROTO_TCP)})


def network() -> dict[str, Any]:
    import requests

    def pyarrow_elsewhere() -> Any:
        import pyarrow.fs

        fs = pyarrow.fs.S3FileSystem(region="us-west-2", anonymous=True, connect_timeout=5)
        return fs.get_file_info(f"{BUCKET}/openuniverse2024")

    return {
        "interfaces": [name for _, name in socket.if_nameindex()],
        "isolation": os.environ.get("ROMAN_HELPERS_SANDBOX_ISOLATION"),
        "this_machine": _outcome(lambda: _resolve(socket.gethostname())),
        "resolve": {
            name: _outcome(lambda name=name: _resolve(name))
            for name in (
                f"{BUCKET}.s3.us-east-1.amazonaws.com",
                "s3.amazonaws.com",
                f"{BUCKET}.s3.us-west-2.amazonaws.com",
                "example.org",
                "mast.stsci.edu",
            )
        },
        "connect": {
            "93.184.215.14:443": _outcome(lambda: _connect(socket.AF_INET, ("93.184.215.14", 443))),
            "[2606:4700:4700::1111]:443": _outcome(
                lambda: _connect(socket.AF_INET6, ("2606:4700:4700::1111", 443))
            ),
            "udp 8.8.8.8:53": _outcome(lambda: _send_udp(("8.8.8.8", 53))),
        },
        "web_request": _outcome(lambda: requests.get("https://example.org/", timeout=20).status_code),
        "pyarrow_us_west_2": _outcome(pyarrow_elsewhere),
    }


if __name__ == "__main__":
    if sys.argv[1] == "clients":
        print(json.dumps(clients(sys.argv[2], sys.argv[3])))
    else:
        print(json.dumps(network()))
