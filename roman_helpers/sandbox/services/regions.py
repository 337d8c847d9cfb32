"""Which image footprints a region of the sky meets: the geometry of IRSA's image search (SIA v2).

:class:`Footprints` holds many convex footprints (an image's four corners, or any convex
outline) as unit vectors; :class:`Circle`, :class:`Polygon` and :class:`Range` are the three
regions SIA's ``POS`` names, and each ``meets(footprints)`` answers for every footprint at once.
Everything works on the sphere (unit vectors), so regions across right ascension 0h and round
the poles need no special case, except the range, which is a box in right ascension and
declination by definition.

Written here because no installed library tests sky regions against one another (astropy-
regions and spherical-geometry are not dependencies); vectorised with NumPy because the
sandbox's image search holds hundreds of thousands of footprints.

Examples
--------
>>> footprints = Footprints.from_regions(["POLYGON ICRS 9.9 -44.1 10.1 -44.1 10.1 -43.9 9.9 -43.9"])
>>> Circle.parse(10.0, -44.0, 0.01).meets(footprints).tolist()
[True]
>>> Circle.parse(10.5, -44.0, 0.01).meets(footprints).tolist()
[False]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Circle", "Footprints", "Polygon", "Range", "angle", "unit"]

Vectors = NDArray[np.float64]


def unit(ra: ArrayLike, dec: ArrayLike) -> Vectors:
    """Unit vectors (last axis x, y, z) of positions in degrees.

    Examples
    --------
    >>> unit(0.0, 90.0).round(12).tolist()
    [0.0, 0.0, 1.0]
    """
    a, d = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    return np.stack([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)], axis=-1)


def angle(u: Vectors, v: Vectors) -> NDArray[np.float64]:
    """Angles between unit vectors, degrees (the atan2 form: exact for tiny and large angles).

    Examples
    --------
    >>> float(angle(unit(10.0, 0.0), unit(10.0, 1e-6)) * 3600)
    0.0036
    """
    cross = np.linalg.norm(np.cross(u, v), axis=-1)
    return np.degrees(np.arctan2(cross, np.sum(u * v, axis=-1)))


def _inside_convex(points: Vectors, corners: Vectors) -> NDArray[np.bool_]:
    """Whether points (n, 3) lie inside counter-clockwise convex outlines (n, k, 3) under a hemisphere."""
    edges = np.cross(corners, np.roll(corners, -1, axis=-2))
    return np.all(np.einsum("nkj,nj->nk", edges, points) >= 0, axis=-1)


def _arc_distance(p: Vectors, a: Vectors, b: Vectors) -> NDArray[np.float64]:
    """Degrees from points ``p`` (n, 1, 3) to the shorter great-circle arcs ``a``-``b`` (n, k, 3)."""
    normal = np.cross(a, b)
    length = np.linalg.norm(normal, axis=-1)
    safe = np.where(length > 0, length, 1.0)[..., None]
    normal = normal / safe
    height = np.sum(p * normal, axis=-1)
    foot = p - height[..., None] * normal
    on_arc = (length > 0) & (np.sum(np.cross(a, foot) * normal, axis=-1) >= 0)
    on_arc &= np.sum(np.cross(foot, b) * normal, axis=-1) >= 0
    on_arc &= np.linalg.norm(foot, axis=-1) > 0
    to_ends = np.minimum(angle(np.broadcast_to(p, a.shape), a), angle(np.broadcast_to(p, b.shape), b))
    return np.where(on_arc, np.degrees(np.arcsin(np.clip(np.abs(height), 0.0, 1.0))), to_ends)


def _winds_round(points: Vectors, vertices: Vectors) -> NDArray[np.bool_]:
    """Whether a simple outline (m, 3), of either orientation, encloses each of ``points`` (n, 3).

    The outline's bearings as seen from a point turn by a full circle when it encloses the
    point; of the two regions an outline bounds, the one counted as inside does not hold the
    point's antipode.
    """
    north = np.array([0.0, 0.0, 1.0]) - points[:, 2:3] * points
    at_pole = np.linalg.norm(north, axis=-1) < 1e-12
    north[at_pole] = np.array([1.0, 0.0, 0.0])  # at a pole any perpendicular will do
    north /= np.linalg.norm(north, axis=-1)[:, None]
    east = np.cross(north, points)
    bearings = np.arctan2(east @ vertices.T, north @ vertices.T)  # (n, m)
    turns = np.diff(np.concatenate([bearings, bearings[:, :1]], axis=1), axis=1)
    turns = (turns + np.pi) % (2 * np.pi) - np.pi
    return np.abs(turns.sum(axis=1)) > np.pi


def _on_arc(x: Vectors, a: Vectors, b: Vectors, normal: Vectors) -> NDArray[np.bool_]:
    return (np.sum(np.cross(a, x) * normal, axis=-1) >= 0) & (np.sum(np.cross(x, b) * normal, axis=-1) >= 0)


@dataclass(frozen=True)
class Footprints:
    """Convex outlines on the sky: corners (counter-clockwise), centres and circumscribed radii.

    Attributes
    ----------
    corners : ndarray, shape (n, k, 3)
        Unit vectors of each outline's vertices (outlines with fewer than ``k`` repeat their last).
    centres : ndarray, shape (n, 3)
    radii : ndarray, shape (n,)
        Degrees from each centre to its farthest vertex.
    """

    corners: Vectors
    centres: Vectors
    radii: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.centres)

    @classmethod
    def from_regions(cls, regions: Sequence[str], centres: Vectors | None = None) -> Footprints:
        """Footprints from ObsCore ``s_region`` strings (``POLYGON [ICRS] ra1 dec1 ra2 dec2 ...``).

        Parameters
        ----------
        regions : sequence of str
        centres : ndarray, optional
            Unit vectors of the centres (default: the normalised mean of the vertices).

        Examples
        --------
        >>> f = Footprints.from_regions(["POLYGON 0 0 1 0 0 1", "POLYGON ICRS 0 0 0 1 1 1 1 0"])
        >>> f.corners.shape, len(f)
        ((2, 4, 3), 2)
        """
        outlines = []
        for text in regions:
            words = str(text).split()
            if not words or words[0].upper() != "POLYGON":
                raise ValueError(f"not a polygon: {text!r}")
            numbers = [float(w) for w in words[1:] if w[0] in "+-.0123456789"]
            if len(numbers) < 6 or len(numbers) % 2:
                raise ValueError(f"a polygon needs three or more ra dec pairs: {text!r}")
            outlines.append(np.asarray(numbers).reshape(-1, 2))
        k = max((len(o) for o in outlines), default=3)
        padded = np.array([np.concatenate([o, np.repeat(o[-1:], k - len(o), axis=0)]) for o in outlines])
        corners = unit(padded[..., 0], padded[..., 1]) if outlines else np.zeros((0, k, 3))
        if centres is None:
            mean = corners.sum(axis=1)
            centres = mean / np.linalg.norm(mean, axis=-1, keepdims=True) if len(mean) else np.zeros((0, 3))
        turning = np.cross(corners, np.roll(corners, -1, axis=1)).sum(axis=1)
        clockwise = np.sum(turning * centres, axis=-1) < 0
        corners[clockwise] = corners[clockwise, ::-1]
        radii = angle(centres[:, None, :], corners).max(axis=1) if len(corners) else np.zeros(0)
        return cls(corners, centres, radii)


@dataclass(frozen=True)
class Circle:
    """A cone: centre (unit vector) and radius in degrees."""

    centre: Vectors
    radius: float

    @classmethod
    def parse(cls, ra: float, dec: float, radius: float) -> Circle:
        """The circle of ``radius`` degrees round (ra, dec)."""
        return cls(unit(ra, dec), radius)

    def meets(self, footprints: Footprints) -> NDArray[np.bool_]:
        """Whether the circle and each footprint share any area (or touch)."""
        found = np.zeros(len(footprints), bool)
        near = np.flatnonzero(
            angle(footprints.centres, self.centre[None, :]) <= self.radius + footprints.radii + 1e-9
        )
        if near.size == 0:
            return found
        corners = footprints.corners[near]
        points = np.broadcast_to(self.centre, (len(near), 3))
        inside = _inside_convex(points, corners)
        edges = _arc_distance(points[:, None, :], corners, np.roll(corners, -1, axis=1))
        found[near] = inside | np.any(edges <= self.radius, axis=1)
        return found


@dataclass(frozen=True)
class Polygon:
    """A simple spherical polygon of three or more vertices (either orientation)."""

    vertices: Vectors

    @classmethod
    def parse(cls, pairs: ArrayLike) -> Polygon:
        """The polygon with vertices at ``pairs`` (m, 2) of (ra, dec) degrees."""
        values = np.asarray(pairs, float)
        return cls(unit(values[:, 0], values[:, 1]))

    def meets(self, footprints: Footprints) -> NDArray[np.bool_]:
        """Whether the polygon and each footprint share area (a vertex inside the other, or edges cross)."""
        found = np.zeros(len(footprints), bool)
        mean = self.vertices.sum(axis=0)
        candidates = np.arange(len(footprints))
        if np.linalg.norm(mean) > 1e-6:  # a bounding cap, unless the polygon is near a great circle
            middle = mean / np.linalg.norm(mean)
            reach = float(angle(self.vertices, middle[None, :]).max())
            if reach < 90:
                candidates = np.flatnonzero(
                    angle(footprints.centres, middle[None, :]) <= reach + footprints.radii + 1e-9
                )
        if candidates.size == 0:
            return found
        corners = footprints.corners[candidates]
        n, k, _ = corners.shape
        hit = _winds_round(corners.reshape(-1, 3), self.vertices).reshape(n, k).any(axis=1)
        for vertex in self.vertices:
            hit |= _inside_convex(np.broadcast_to(vertex, (n, 3)), corners)
        a, b = corners, np.roll(corners, -1, axis=1)
        n1 = np.cross(a, b)  # (n, k, 3)
        for c, d in zip(self.vertices, np.roll(self.vertices, -1, axis=0), strict=True):
            n2 = np.cross(c, d)
            line = np.cross(n1, n2)
            length = np.linalg.norm(line, axis=-1)
            line = line / np.where(length > 0, length, 1.0)[..., None]
            for x in (line, -line):
                crossing = (length > 0) & _on_arc(x, a, b, n1)
                crossing &= _on_arc(x, np.broadcast_to(c, x.shape), np.broadcast_to(d, x.shape), n2)
                hit |= crossing.any(axis=1)
        found[candidates] = hit
        return found


def _segments_meet_box(
    x0: NDArray[np.float64],
    y0: NDArray[np.float64],
    x1: NDArray[np.float64],
    y1: NDArray[np.float64],
    box: tuple[float, float, float, float],
) -> NDArray[np.bool_]:
    """Whether segments (x0, y0)-(x1, y1) touch the box (xlo, xhi, ylo, yhi), edges included.

    The Liang-Barsky clipping test, on arrays of segments; infinite box edges are allowed.
    """
    xlo, xhi, ylo, yhi = box
    start, end = np.zeros(x0.shape), np.ones(x0.shape)
    ok = np.ones(x0.shape, bool)
    dx, dy = x1 - x0, y1 - y0
    with np.errstate(divide="ignore", invalid="ignore"):
        for p, q in ((-dx, x0 - xlo), (dx, xhi - x0), (-dy, y0 - ylo), (dy, yhi - y0)):
            flat = p == 0
            ok &= ~(flat & (q < 0))
            t = np.where(flat, 0.0, q / np.where(flat, 1.0, p))
            start = np.where(~flat & (p < 0), np.maximum(start, t), start)
            end = np.where(~flat & (p > 0), np.minimum(end, t), end)
    return ok & (start <= end)


def _planar_inside(x: float, y: float, xs: NDArray[np.float64], ys: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Even-odd rule: whether (x, y) is inside each closed outline (rows of ``xs``, ``ys``) in the plane."""
    xn, yn = np.roll(xs, -1, axis=-1), np.roll(ys, -1, axis=-1)
    crosses = (ys > y) != (yn > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = xs + (y - ys) * (xn - xs) / (yn - ys)
    return np.count_nonzero(crosses & (x < at), axis=-1) % 2 == 1


@dataclass(frozen=True)
class Range:
    """A box in right ascension and declination (degrees); ``ra_min > ra_max`` wraps through 0h."""

    ra_min: float
    ra_max: float
    dec_min: float
    dec_max: float

    def _may_meet(self, footprints: Footprints) -> NDArray[np.bool_]:
        """Footprints whose circumscribed cap meets the box (a superset of those that do)."""
        centre_dec = np.degrees(np.arcsin(np.clip(footprints.centres[:, 2], -1, 1)))
        centre_ra = np.degrees(np.arctan2(footprints.centres[:, 1], footprints.centres[:, 0])) % 360
        reach = footprints.radii + 1e-6
        keep = (centre_dec + reach >= self.dec_min) & (centre_dec - reach <= self.dec_max)
        if self.ra_max - self.ra_min >= 360:
            return keep
        polar = np.abs(centre_dec) + reach >= 90
        with np.errstate(invalid="ignore"):
            half = np.degrees(
                np.arcsin(np.clip(np.sin(np.radians(reach)) / np.cos(np.radians(centre_dec)), 0, 1))
            )
        width = (self.ra_max - self.ra_min) % 360
        offset = (centre_ra - self.ra_min) % 360
        in_ra = (offset <= width + half) | (offset >= 360 - half)
        return keep & (polar | in_ra)

    def _meets_all(self, corners: Vectors, centres: Vectors) -> NDArray[np.bool_]:
        # Each footprint's outline, 16 points an edge, in (RA, Dec) unwrapped round its centre: a
        # great-circle edge well under a degree long strays from that polyline by far less than a
        # milliarcsecond, and the box is exact in these coordinates.
        steps = np.linspace(0.0, 1.0, 16, endpoint=False)[None, None, :, None]
        ends = np.roll(corners, -1, axis=1)
        outline = (corners[:, :, None, :] + steps * (ends - corners)[:, :, None, :]).reshape(
            len(corners), -1, 3
        )
        outline /= np.linalg.norm(outline, axis=-1, keepdims=True)
        centre_ra = np.degrees(np.arctan2(centres[:, 1], centres[:, 0]))[:, None]
        ra = np.degrees(np.arctan2(outline[..., 1], outline[..., 0]))
        ra = centre_ra + (ra - centre_ra + 180.0) % 360.0 - 180.0
        dec = np.degrees(np.arcsin(np.clip(outline[..., 2], -1, 1)))
        n = len(corners)
        north = _inside_convex(np.broadcast_to([0.0, 0.0, 1.0], (n, 3)), corners)
        south = _inside_convex(np.broadcast_to([0.0, 0.0, -1.0], (n, 3)), corners)
        # a footprint holding a pole holds every RA beyond its outline
        found = (north & (self.dec_max >= dec.max(axis=1))) | (south & (self.dec_min <= dec.min(axis=1)))
        if self.ra_max - self.ra_min >= 360.0:
            boxes = [(-math.inf, math.inf)]
        else:
            lo, hi = self.ra_min, self.ra_max if self.ra_max >= self.ra_min else self.ra_max + 360.0
            boxes = [(lo + shift, hi + shift) for shift in (-360.0, 0.0, 360.0)]
        before_ra, before_dec = np.roll(ra, 1, axis=1), np.roll(dec, 1, axis=1)
        for lo, hi in boxes:
            box = (lo, hi, self.dec_min, self.dec_max)
            found |= _segments_meet_box(ra, dec, before_ra, before_dec, box).any(axis=1)
            if math.isfinite(lo):
                found |= _planar_inside(lo, self.dec_min, ra, dec)  # the box lies inside the footprint
        return found

    def meets(self, footprints: Footprints) -> NDArray[np.bool_]:
        """Whether the box and each footprint share any area."""
        found = np.zeros(len(footprints), bool)
        candidates = np.flatnonzero(self._may_meet(footprints))
        for start in range(0, len(candidates), 10_000):  # bounded memory: 64 outline points a footprint
            chosen = candidates[start : start + 10_000]
            found[chosen] = self._meets_all(footprints.corners[chosen], footprints.centres[chosen])
        return found
