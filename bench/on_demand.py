"""How fast the sandbox serves objects it has never made: first bytes and whole-file throughput.

Each measurement starts a sandbox S3 server (its own process) over the generated archive of
``bench/files.py`` (full-size 4088 x 4088 images: a three-image FITS, its ``.fits.gz``, a Roman
lz4 ``_cal.asdf``) with an empty cache, so every byte the client reads is made for it, then times
one read from the client's first request to its answer. No network model: loopback only, so the
times are the sandbox's (and the client's). Facts to report, not targets to assert.

Usage: ``python bench/on_demand.py [--out build/bench/on_demand.json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import files  # noqa: E402

from roman_helpers.sandbox.archive.registry import ArchiveSpec  # noqa: E402
from roman_helpers.sandbox.services.s3 import S3Server  # noqa: E402

MB = 1_000_000
IRSA = "nasa-irsa-simulations"
URIS = {
    "FITS": f"s3://{IRSA}/{files.GENERATED_FITS}",
    "FITS.gz": f"s3://{IRSA}/{files.GENERATED_GZ}",
    "ASDF lz4": f"s3://stpubdata/{files.GENERATED_CAL}",
}
NEAR_START = (1000, 100, 1100, 200)  # x0, y0, x1, y1
NEAR_END = (1000, 3900, 1100, 4000)


def _kit_environment(url: str, folder: Path) -> None:
    import os

    import s3fs

    credentials = folder / "credentials"
    credentials.write_text("[default]\naws_access_key_id = x\naws_secret_access_key = x\n")
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "HTTPS_PROXY", "HTTP_PROXY"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ENDPOINT_URL=url,
        AWS_SHARED_CREDENTIALS_FILE=str(credentials),
        AWS_CONFIG_FILE=str(folder / "config"),
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    s3fs.S3FileSystem.clear_instance_cache()


def cold(what: str, read: Callable[[str, object], object]) -> dict:
    """Time ``read(url, fs)`` against a new server with an empty cache; return the record."""
    import s3fs

    with tempfile.TemporaryDirectory(prefix="on-demand-") as folder:
        spec = ArchiveSpec("files:generated_archive", {"cache_dir": folder})
        with S3Server(spec) as server:
            _kit_environment(server.url, Path(folder))
            fs = s3fs.S3FileSystem(anon=True, endpoint_url=server.url, skip_instance_cache=True)
            started = time.perf_counter()
            read(server.url, fs)
            seconds = time.perf_counter() - started
            stats = server.stats
    record = {
        "what": what,
        "seconds": round(seconds, 3),
        "requests": stats.requests,
        "bytes": stats.bytes_sent,
    }
    print(
        f"{what:58s} {seconds:7.2f} s {stats.requests:5d} requests {stats.bytes_sent / MB:9.2f} MB",
        flush=True,
    )
    return record


def throughput(name: str) -> list[dict]:
    """A whole-file read, cold (every byte made) and again (from the cache)."""
    import s3fs

    records = []
    with (
        tempfile.TemporaryDirectory(prefix="on-demand-") as folder,
        S3Server(ArchiveSpec("files:generated_archive", {"cache_dir": folder})) as server,
    ):
        for run in ("cold", "cached"):
            fs = s3fs.S3FileSystem(anon=True, endpoint_url=server.url, skip_instance_cache=True)
            started = time.perf_counter()
            size = len(fs.cat_file(URIS[name]))
            seconds = time.perf_counter() - started
            rate = size / MB / seconds
            record = {"what": f"whole {name}, {run}", "seconds": round(seconds, 3), "bytes": size}
            print(f"{record['what']:58s} {seconds:7.2f} s {size / MB:9.1f} MB  {rate:7.1f} MB/s", flush=True)
            records.append({**record, "MB_per_s": round(rate, 1)})
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench" / "on_demand.json")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    import roman_datamodels as rdm
    from astropy.io import fits

    from roman_helpers import stream

    small = {"default_block_size": 64 * 1024}  # what the kit's headers use; s3fs's default is 50 MiB

    def astropy_header(uri: str, blocks: dict) -> Callable[[str, object], object]:
        def read(url: str, fs: object) -> object:
            with fits.open(
                uri, use_fsspec=True, fsspec_kwargs={"anon": True, "endpoint_url": url, **blocks}
            ) as hdus:
                return hdus["SCI"].header

        return read

    def astropy_section(
        uri: str, box: tuple[int, int, int, int], blocks: dict
    ) -> Callable[[str, object], object]:
        def read(url: str, fs: object) -> object:
            x0, y0, x1, y1 = box
            with fits.open(
                uri, use_fsspec=True, fsspec_kwargs={"anon": True, "endpoint_url": url, **blocks}
            ) as hdus:
                return hdus["SCI"].section[y0:y1, x0:x1]

        return read

    def rdm_meta(url: str, fs) -> object:
        with (
            fs.open(URIS["ASDF lz4"], "rb", block_size=256 * 1024, cache_type="bytes") as handle,
            rdm.open(handle) as model,
        ):
            return model.meta.exposure.start_time

    def rdm_cut(box: tuple[int, int, int, int]) -> Callable[[str, object], object]:
        def read(url: str, fs) -> object:
            x0, y0, x1, y1 = box
            with (
                fs.open(URIS["ASDF lz4"], "rb", block_size=4 * 1024 * 1024, cache_type="bytes") as handle,
                rdm.open(handle) as model,
            ):
                return model.data[y0:y1, x0:x1].copy()

        return read

    records = []
    for name in ("FITS", "FITS.gz"):
        uri = URIS[name]
        # astropy with s3fs's defaults, as the tutorials' first cells read; small blocks where they help
        ways = {"defaults": {}, "64 KiB blocks": small} if name == "FITS" else {"defaults": {}}
        for label, blocks in ways.items():
            records.append(cold(f"{name}: SCI header, astropy ({label})", astropy_header(uri, blocks)))
        records.append(
            cold(
                f"{name}: SCI header, kit read_header",
                lambda url, fs, uri=uri: stream.read_header(uri, "SCI"),
            )
        )
        for where, box in (("near the start", NEAR_START), ("near the end", NEAR_END)):
            for label, blocks in ways.items():
                records.append(
                    cold(
                        f"{name}: 100x100 cut-out {where}, astropy .section ({label})",
                        astropy_section(uri, box, blocks),
                    )
                )
            records.append(
                cold(
                    f"{name}: 100x100 cut-out {where}, kit cutout",
                    lambda url, fs, uri=uri, box=box: stream.cutout(uri, box=box),
                )
            )
    uri = URIS["ASDF lz4"]
    records.append(cold("ASDF lz4: meta, roman_datamodels over s3fs (256 KiB)", rdm_meta))
    records.append(cold("ASDF lz4: meta, kit read_metadata", lambda url, fs: stream.read_metadata(uri)))
    for where, box in (("near the start", NEAR_START), ("near the end", NEAR_END)):
        records.append(cold(f"ASDF lz4: 100x100 cut-out {where}, roman_datamodels", rdm_cut(box)))
        records.append(
            cold(
                f"ASDF lz4: 100x100 cut-out {where}, kit cutout",
                lambda url, fs, box=box: stream.cutout(uri, box=box),
            )
        )
    for name in URIS:
        records += throughput(name)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(records, indent=1))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
