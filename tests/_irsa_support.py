"""What the sandbox's OpenUniverse images say, read without its IRSA service (shared by the IRSA tests).

Expectations are computed from the images themselves: each file's footprint from the WCS in its
own header, read back from the sandbox's S3 with s3fs and astropy, never from a service's answer.
"""

from __future__ import annotations

import functools
import gzip
import json
import math

import numpy as np

SIA_URL = "https://irsa.ipac.caltech.edu/simulated/SIA"
TAP_URL = "https://irsa.ipac.caltech.edu/simulated/TAP"
COLLECTION = "simulated_roman_openuniverse2024"
BUCKET = "nasa-irsa-simulations"
ARCSEC = 1 / 3600
#: The columns of an image search that IRSA's notebooks read.
NOTEBOOK_COLUMNS = (
    "obs_id",
    "energy_bandpassname",
    "cloud_access",
    "t_min",
    "t_max",
    "s_ra",
    "s_dec",
    "s_fov",
    "access_url",
    "em_min",
    "em_max",
    "s_region",
)


def footprint_test(header):
    """Return ``holds(ra, dec, margin_deg)`` -> True / False / None (too close to an edge to say)."""
    from astropy.wcs import WCS

    wcs = WCS(header)
    nx, ny = header["NAXIS1"], header["NAXIS2"]
    scale = math.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix)))

    def holds(ra: float, dec: float, margin: float) -> bool | None:
        x, y = wcs.world_to_pixel_values(ra, dec)
        inside = min(x + 0.5, nx - 0.5 - x, y + 0.5, ny - 0.5 - y)  # pixels to the nearest edge
        if abs(inside) * scale <= margin:
            return None
        return bool(inside > 0)

    return holds


@functools.lru_cache(maxsize=2)
def read_images(s3_url: str) -> dict[str, dict]:
    """Every OpenUniverse image in the S3 server at ``s3_url``: key -> {"primary": header, "sci": header}."""
    import s3fs
    from astropy.io import fits

    fs = s3fs.S3FileSystem(anon=True, endpoint_url=s3_url, skip_instance_cache=True)
    # The Time Domain Survey field (tested in test_sandbox_tds.py) lies apart from these images; its
    # hundreds of overlapping epochs would leave no probe position clear of an image edge.
    keys = sorted(
        p.split("/", 1)[1]
        for p in fs.find(f"{BUCKET}/openuniverse2024")
        if p.endswith(".fits.gz") and "/images/" in p and "/RomanTDS/" not in p
    )
    images = {}
    for key in keys:
        with (
            fs.open(f"{BUCKET}/{key}", "rb", block_size=1 << 16) as handle,
            gzip.open(handle) as unzipped,
            fits.open(unzipped) as hdul,
        ):
            images[key] = {"primary": hdul[0].header.copy(), "sci": hdul[1].header.copy()}
    assert len(images) > 10  # the sandbox publishes the OpenUniverse preview images
    return images


def holding(images, ra, dec, radius) -> set[str] | None:
    """Keys whose footprint holds (ra, dec); None when a footprint edge is within ``2 * radius``."""
    found = set()
    for key, headers in images.items():
        verdict = footprint_test(headers["sci"])(ra, dec, 2 * radius)
        if verdict is None:
            return None
        if verdict:
            found.add(key)
    return found


def probe_positions(images):
    """Image centres, points well inside near a corner, and points in the gaps between detectors."""
    from astropy.wcs import WCS

    positions = []
    for key in list(images)[::7]:
        sci = images[key]["sci"]
        wcs = WCS(sci)
        nx, ny = sci["NAXIS1"], sci["NAXIS2"]
        for x, y in (((nx - 1) / 2, (ny - 1) / 2), (0.1 * nx, 0.85 * ny), (1.6 * nx, (ny - 1) / 2)):
            positions.append(tuple(float(v) for v in wcs.pixel_to_world_values(x, y)))
    return positions


def keys(table) -> set[str]:
    """The bucket keys a search answer's ``cloud_access`` column names."""
    return {json.loads(value)["aws"]["key"] for value in table["cloud_access"]}


def header_value(headers: dict, name: str, default=None):
    """``name`` from the image's first extension, else its primary header (as IRSA's rows take it)."""
    return headers["sci"].get(name, headers["primary"].get(name, default))
