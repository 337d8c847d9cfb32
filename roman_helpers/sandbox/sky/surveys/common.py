"""What the survey tables share: regions on the sky, the observatory's roll, reproducible dithers."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from roman_helpers.sandbox.sky import wfi

__all__ = ["Disc", "image_rows", "rng", "seed", "yearly_roll"]


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


def image_rows(
    mask: NDArray[np.bool_], whole_pointings: bool = False
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Return (pointing row, detector number) of the images a (pointings, 18) mask selects.

    Parameters
    ----------
    mask : ndarray of bool
        Shape (n_pointings, 18), e.g. from :meth:`Disc.overlapping`.
    whole_pointings : bool
        Keep all 18 detectors of every pointing with any detector selected.

    Returns
    -------
    rows, sca : ndarray of int
        Sorted by row, then detector (1-18).

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((3, 18), dtype=bool)
    >>> mask[1, [0, 5]] = True
    >>> rows, sca = image_rows(mask)
    >>> rows.tolist(), sca.tolist()
    ([1, 1], [1, 6])
    >>> len(image_rows(mask, whole_pointings=True)[0])
    18
    """
    if whole_pointings:
        mask = np.repeat(mask.any(axis=1, keepdims=True), mask.shape[1], axis=1)
    rows, index = np.nonzero(mask)
    return rows.astype(np.int64), index.astype(np.int64) + 1


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
    digest = hashlib.sha256("/".join(str(part) for part in key).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def rng(*key: str | int) -> np.random.Generator:
    """Return a random generator seeded by a name (same numbers on every machine and run).

    Examples
    --------
    >>> float(rng("tds", 1).uniform()) == float(rng("tds", 1).uniform())
    True
    """
    digest = hashlib.sha256("/".join(str(part) for part in key).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))
