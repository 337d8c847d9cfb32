"""What the sandbox's OpenUniverse images are, known without its IRSA service (shared by the IRSA tests).

Expectations come from the archive layouts' image records (the catalog the survey designs give,
:func:`roman_helpers.sandbox.archive.layouts.image_records`) tested here with another method than
the service's (each outline projected onto the sky's tangent plane at the probe, where its
great-circle edges are straight lines, and tested with matplotlib's polygon test), and from the
files' own headers (read back through S3 with astropy) for the images whose headers are needed.
"""

from __future__ import annotations

import functools
import gzip
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

SIA_URL = "https://irsa.ipac.caltech.edu/simulated/SIA"
TAP_URL = "https://irsa.ipac.caltech.edu/simulated/TAP"
COLLECTION = "simulated_roman_openuniverse2024"
RUBIN_COLLECTION = "simulated_rubin_openuniverse2024"
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

Holds = Callable[[float, float, float], "bool | None"]


def footprint_test(header: Any) -> Holds:
    """``holds(ra, dec, margin_deg)`` from an image's WCS header: True, False, or None near an edge."""
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


def _outline(s_region: str) -> np.ndarray:
    return np.array([float(w) for w in s_region.split()[1:] if w[0] in "+-.0123456789"]).reshape(-1, 2)


def _projected(vertices: np.ndarray, ra: float, dec: float) -> tuple[np.ndarray, np.ndarray]:
    """For outlines (n, k, 2) of (ra, dec) vertices: whether each holds (ra, dec), and its nearest edge.

    Each outline is projected gnomonically about (ra, dec), where its great-circle edges are straight
    lines and the position is the origin; the even-odd rule along the +x axis says whether the origin
    is inside, and the distance to the nearest edge (degrees, exact to a part in 10^7 at an
    arcminute) how near it is. Outlines reaching round the sky from here hold nothing and are far.
    """
    a0, d0 = math.radians(ra), math.radians(dec)
    ra_v, dec_v = np.radians(vertices[..., 0]), np.radians(vertices[..., 1])
    cos_c = np.sin(d0) * np.sin(dec_v) + np.cos(d0) * np.cos(dec_v) * np.cos(ra_v - a0)
    far = np.any(cos_c <= 0.1, axis=-1)
    cos_c = np.where(cos_c <= 0.1, 1.0, cos_c)
    x = np.cos(dec_v) * np.sin(ra_v - a0) / cos_c
    y = (np.cos(d0) * np.sin(dec_v) - np.sin(d0) * np.cos(dec_v) * np.cos(ra_v - a0)) / cos_c
    xn, yn = np.roll(x, -1, axis=-1), np.roll(y, -1, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = x - y * (xn - x) / (yn - y)
    inside = np.count_nonzero(((y > 0) != (yn > 0)) & (at > 0), axis=-1) % 2 == 1
    ex, ey = xn - x, yn - y
    t = np.clip(-(x * ex + y * ey) / np.maximum(ex**2 + ey**2, 1e-300), 0.0, 1.0)
    nearest = np.degrees(np.arctan(np.hypot(x + t * ex, y + t * ey).min(axis=-1)))
    return inside & ~far, np.where(far, 180.0, nearest)


def _projected_verdicts(vertices: np.ndarray, ra: float, dec: float, margin: float) -> np.ndarray:
    """1 where an outline holds (ra, dec), 0 where not, -1 where an edge is within ``margin``."""
    inside, nearest = _projected(vertices, ra, dec)
    verdict = np.where(inside, 1, 0)
    verdict[nearest <= margin] = -1
    return verdict


def region_test(s_region: str) -> Holds:
    """``holds(ra, dec, margin_deg)`` from an ObsCore ``POLYGON`` outline (edges are great circles)."""
    vertices = _outline(s_region)[None]

    def holds(ra: float, dec: float, margin: float) -> bool | None:
        verdict = int(_projected_verdicts(vertices, ra, dec, margin)[0])
        return None if verdict < 0 else bool(verdict)

    return holds


class RecordGeometry:
    """Every record's outline and centre, parsed once, to find the records holding a position."""

    def __init__(self, records: Any) -> None:
        self.records = records
        self.keys = np.array([record_key(row) for row in records])
        self.vertices = np.stack([_outline(str(text)) for text in records["s_region"]])
        self.ra = np.asarray(records["s_ra"], float)
        self.dec = np.asarray(records["s_dec"], float)

    def _near(self, ra: float, dec: float, reach: float) -> np.ndarray:
        # more than any image's half-diagonal (a WFI detector's is 0.09 degrees, a Rubin patch's 0.17)
        d0, d = math.radians(dec), np.radians(self.dec)
        cosine = np.sin(d) * math.sin(d0) + np.cos(d) * math.cos(d0) * np.cos(np.radians(self.ra - ra))
        return np.flatnonzero(cosine >= math.cos(math.radians(reach)))

    def cone(
        self, ra: float, dec: float, radius: float, tolerance: float = 1e-6, reach: float = 0.6
    ) -> tuple[set[str], set[str]]:
        """The records a cone must meet, and those it may meet (an edge within ``tolerance`` of its rim).

        A cone meets an image when its centre is inside or an edge is within the radius.
        """
        near = self._near(ra, dec, reach)
        inside, nearest = _projected(self.vertices[near], ra, dec)
        must = inside | (nearest < radius - tolerance)
        may = inside | (nearest <= radius + tolerance)
        return set(self.keys[near[must]].tolist()), set(self.keys[near[may]].tolist())


@functools.lru_cache(maxsize=1)
def sky_records() -> RecordGeometry:
    """The sandbox's image records (every OpenUniverse image IRSA's search knows), in the test process."""
    from roman_helpers.sandbox.archive import layouts

    records = layouts.image_records()
    assert len(records) > 1000, "the sandbox's layouts publish OpenUniverse images"
    return RecordGeometry(records)


def record_key(record: Any) -> str:
    """The bucket key a record's ``cloud_access`` names."""
    return str(json.loads(str(record["cloud_access"]))["aws"]["key"])


def holding(tests: Mapping[str, Holds], ra: float, dec: float, radius: float) -> set[str] | None:
    """Keys whose footprint holds (ra, dec); None when a footprint edge is within ``2 * radius``."""
    found = set()
    for key, holds in tests.items():
        verdict = holds(ra, dec, 2 * radius)
        if verdict is None:
            return None
        if verdict:
            found.add(key)
    return found


def probe_positions(records: Any, every: int, collection: str = COLLECTION) -> list[tuple[float, float]]:
    """Image centres, points a fifth of the way in from a corner, and points beyond an edge.

    Rounded to 1e-4 degrees, as pyvo sends a position.
    """
    chosen = records[records["obs_collection"] == collection][::every]
    positions = []
    for row in chosen:
        corners = np.array(str(row["s_region"]).split()[2:], float).reshape(-1, 2)
        centre = np.array([float(row["s_ra"]), float(row["s_dec"])])
        corner = corners[0].copy()
        corner[0] = centre[0] + (corner[0] - centre[0] + 180) % 360 - 180
        for where in (centre, centre + 0.8 * (corner - centre), centre + 1.3 * (corner - centre)):
            positions.append((round(float(where[0]) % 360, 4), round(float(where[1]), 4)))
    return positions


def keys(table: Any) -> set[str]:
    """The bucket keys a search answer's ``cloud_access`` column names."""
    return {json.loads(value)["aws"]["key"] for value in table["cloud_access"]}


def read_headers(s3_url: str, key: str) -> dict[str, Any]:
    """An image's primary and first-extension headers, read from the sandbox's S3 with s3fs and astropy."""
    import s3fs
    from astropy.io import fits

    fs = s3fs.S3FileSystem(anon=True, endpoint_url=s3_url, skip_instance_cache=True)
    handle = fs.open(f"{BUCKET}/{key}", "rb", block_size=1 << 20)
    stream = gzip.open(handle) if key.endswith(".gz") else handle  # noqa: SIM115 - closed below
    with handle, stream, fits.open(stream) as hdul:
        return {"primary": hdul[0].header.copy(), "sci": hdul[1].header.copy()}


def header_value(headers: dict[str, Any], name: str, default: Any = None) -> Any:
    """``name`` from the image's first extension, else its primary header."""
    return headers["sci"].get(name, headers["primary"].get(name, default))
