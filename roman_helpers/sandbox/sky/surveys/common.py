"""What the survey tables share: regions on the sky, the observatory's roll, reproducible dithers."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from numpy.typing import ArrayLike, NDArray

from roman_helpers.sandbox.sky import wfi

__all__ = ["Disc", "detector_images", "rng", "seed", "yearly_roll"]


@dataclass(frozen=True)
class Disc:
    """A circular region of the sky: what a layout mirrors.

    Attributes
    ----------
    ra, dec : float
        Centre, degrees (ICRS).
    radius : float
        Degrees.

    Examples
    --------
    >>> disc = Disc(9.45, -44.0, 0.5)
    >>> round(disc.area, 3)
    0.785
    >>> disc.contains([9.45, 12.0], [-44.2, -44.0]).tolist()
    [True, False]
    """

    ra: float
    dec: float
    radius: float

    @property
    def area(self) -> float:
        """Area in square degrees (of the spherical cap)."""
        return 2 * math.pi * (1 - math.cos(math.radians(self.radius))) * (180 / math.pi) ** 2

    def contains(self, ra: ArrayLike, dec: ArrayLike) -> NDArray[np.bool_]:
        """Return which positions (degrees) lie inside the disc."""
        d0, d = math.radians(self.dec), np.radians(dec)
        cos_sep = np.sin(d) * math.sin(d0) + np.cos(d) * math.cos(d0) * np.cos(
            np.radians(np.subtract(ra, self.ra))
        )
        return np.asarray(cos_sep >= math.cos(math.radians(self.radius)))

    def overlapping(self, ra: ArrayLike, dec: ArrayLike, pa: ArrayLike) -> NDArray[np.bool_]:
        """Return which detector images of WFI pointings overlap the disc, shape (n, 18)."""
        return wfi.overlaps_disc(ra, dec, pa, (self.ra, self.dec), self.radius)


def detector_images(sequence: Table, region: Disc, whole_pointings: bool = False) -> Table:
    """Return the detector images of an observation sequence that a region mirrors.

    Parameters
    ----------
    sequence : astropy.table.Table
        One row per pointing: ``ra, dec, pa`` (the boresight, degrees), ``filter``, ``date``
        and ``exptime``.
    region : Disc
        The part of the sky mirrored: a detector image is kept when it overlaps the disc.
    whole_pointings : bool
        Keep all 18 detectors of every pointing with any detector kept.

    Returns
    -------
    astropy.table.Table
        ``pointing`` (row of ``sequence``), ``sca`` (1-18), ``filter, date, exptime, pa`` and
        ``ra, dec`` (the detector's centre), sorted by pointing, then detector.

    Examples
    --------
    >>> from astropy.table import Table
    >>> sequence = Table(
    ...     {
    ...         "ra": [9.45, 120.0],
    ...         "dec": [-44.0, 10.0],
    ...         "pa": [0.0, 0.0],
    ...         "filter": ["H158", "H158"],
    ...         "date": [62000.0, 62001.0],
    ...         "exptime": [140.0, 140.0],
    ...     }
    ... )
    >>> region = Disc(9.45, -44.0, 0.05)
    >>> images = detector_images(sequence, region)
    >>> 0 < len(images) < 18, set(images["pointing"].tolist())
    (True, {0})
    >>> len(detector_images(sequence, region, whole_pointings=True))
    18
    """
    ra, dec, pa = (np.asarray(sequence[name]) for name in ("ra", "dec", "pa"))
    mask = region.overlapping(ra, dec, pa)
    if whole_pointings:
        mask = np.repeat(mask.any(axis=1, keepdims=True), mask.shape[1], axis=1)
    rows, index = np.nonzero(mask)
    sca = index.astype(np.int64) + 1
    centre_ra, centre_dec = wfi.detector_centres(ra[rows], dec[rows], pa[rows], sca)
    return Table(
        {
            "pointing": rows.astype(np.int64),
            "sca": sca,
            "filter": sequence["filter"][rows],
            "date": sequence["date"][rows],
            "exptime": sequence["exptime"][rows],
            "pa": pa[rows],
            "ra": centre_ra,
            "dec": centre_dec,
        }
    )


def yearly_roll(mjd: ArrayLike, pa_start: float, mjd_start: float) -> NDArray[np.float64]:
    """Return the focal plane's position angle when it follows the Sun round the year.

    Roman keeps its solar panels towards the Sun (roll within 15 degrees of that), so the
    position angle of a field far from the ecliptic turns once a year. The sandbox keeps the
    nominal roll: ``pa_start`` at ``mjd_start``, plus 360 degrees per year.

    Parameters
    ----------
    mjd : array_like
        Times, MJD.
    pa_start : float
        Position angle at ``mjd_start``, degrees.
    mjd_start : float
        MJD.

    Returns
    -------
    ndarray
        Degrees in [0, 360).

    Examples
    --------
    >>> float(yearly_roll(61000.0 + 365.25 / 4, 10.0, 61000.0))
    100.0
    """
    return (pa_start + 360.0 * (np.asarray(mjd, dtype=float) - mjd_start) / 365.25) % 360.0


def seed(*key: str | int) -> int:
    """Return a seed named by ``key``: the same non-negative 63-bit integer on every machine and run.

    An image's :class:`~roman_helpers.sandbox.sky.render.Exposure` takes its ``seed`` from the
    image's name, so every file made of that image (and every layout serving it) has its pixels.

    Examples
    --------
    >>> seed("tds", 1) == seed("tds", 1), seed("tds", 1) == seed("tds", 2)
    (True, False)
    >>> 0 <= seed("was", 15297, 11) < 2**63
    True
    """
    return _name_integer(key) >> 1


def rng(*key: str | int) -> np.random.Generator:
    """Return a random generator seeded by a name (same numbers on every machine and run).

    Examples
    --------
    >>> float(rng("tds", 1).uniform()) == float(rng("tds", 1).uniform())
    True
    """
    return np.random.default_rng(_name_integer(key))


def _name_integer(key: tuple[str | int, ...]) -> int:
    # SHA-256 rather than hash(): Python salts str hashes per process, and every machine must agree.
    digest = hashlib.sha256("/".join(str(part) for part in key).encode()).digest()
    return int.from_bytes(digest[:8], "little")
