"""The sandbox's universe: stars, galaxies and transients, made on demand anywhere on the sky.

Tiles
    The sky is cut into HEALPix tiles of ``nside`` :data:`TILE_NSIDE` (256, NESTED ordering,
    13.7' across: a 7.5' Roman detector touches one to four). Each tile's content is a pure
    function of its index (random generators seeded with ``(SEED, kind, tile)``), so any part of
    the sky can be made in any order, on any machine, and comes out the same. How many objects a
    tile holds is drawn first, on its own (:func:`tile_counts`), so the size of a catalog is known
    without making its rows. Made tiles are kept in a bounded least-recently-used cache.

    OpenUniverse's catalogs are cut by HEALPix ``nside`` 32 in RING ordering; each such cell is
    exactly 64 tiles (NESTED indices ``64 * nest32(cell) ... + 63``), so a cell's catalog is the
    union of its tiles, in tile order (:func:`catalog_table`).

Stars
    Per square degree, to AB 25 in F158: about 1,700 at the Galactic poles, rising as
    ``1 / (sin|b| + 0.08)`` towards the plane (a csc-like law: ~3,000 at ``|b| = 30`` deg, ~10,000
    at ``|b| = 10`` deg), with a Galactic bulge of up to millions per square degree within ~6 deg of
    the Galactic centre. Densities are capped at :data:`STAR_DENSITY_CAP` (2 x 10^6 per deg^2,
    about 31,000 stars on one Roman detector) so that any full image renders in seconds; real
    bulge fields are denser still. Magnitudes follow ``dN/dm ~ 10^(0.2 m)`` from AB 14 to 25
    (F158); colours are those of blackbodies of 3,000-12,000 K.

Galaxies
    :data:`GALAXY_DENSITY` (5 x 10^4 per deg^2) from F158 = 18 to 26.5 with ``dN/dm ~ 10^(0.3
    m)`` (near-infrared number counts), redshifts growing with magnitude (median 0.5 at 20, 1.3
    at 26), a disk (Sersic n = 1) and a bulge (n = 4) with their own half-light radii and
    ellipticities (reduced shears ``g = (1 - q)/(1 + q)``; ``e1 = g cos 2 PA``, ``e2 = g sin 2
    PA``, PA the major axis's position angle, north through east), and one spectral energy
    distribution (:func:`galaxy_sed`: a star-forming to quiescent family with a 4000 A break
    and the Lyman break) that fixes the AB magnitude in every Roman, Rubin and HST band
    consistently at the galaxy's redshift. Magnitudes and catalog fluxes are observed ones
    (Milky-Way extinction and lensing magnification included), so an image shows exactly the
    catalog's flux.

Transients
    The families of :mod:`.transients` at their rates per square degree per year, peaks spread
    over :data:`PEAK_MJD_RANGE` (the OpenUniverse Time Domain Survey's years, MJD 61900-62950),
    most on a host galaxy of their tile at the host's redshift (offset drawn from the host
    disk's light; TDEs at the nucleus), the rest hostless (``host_id`` -1).

Queries: :func:`cone`, :func:`polygon` (sky positions; transients' light at an MJD through
:meth:`Transients.rate`). Catalog tables: :func:`catalog_table`, :func:`catalog_count`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from roman_helpers.sandbox.sky import transients as tr
from roman_helpers.sandbox.sky.bands import ROMAN_BANDS, RUBIN_BANDS, Band, band

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "CATALOG_KINDS",
    "CELL_NSIDE",
    "GALAXY_DENSITY",
    "PEAK_MJD_RANGE",
    "SEED",
    "STAR_DENSITY_CAP",
    "TILE_NSIDE",
    "Galaxies",
    "Sources",
    "Stars",
    "TileCounts",
    "Transients",
    "catalog_count",
    "catalog_table",
    "cell_tiles",
    "cone",
    "galactic",
    "galaxy_sed",
    "polygon",
    "star_density",
    "tile",
    "tile_counts",
    "tiles_in_cone",
    "tiles_in_polygon",
    "unit_vectors",
]

SEED = 20_240_017
TILE_NSIDE = 256
CELL_NSIDE = 32
_TILES_PER_CELL = (TILE_NSIDE // CELL_NSIDE) ** 2
#: Positions are centres of HEALPix pixels at the finest order hpgeom allows (~0.4 mas), so
#: every source lies inside its tile exactly and positions have no visible grid.
_POSITION_ORDER = 29
_SUBPIXELS = 4 ** (_POSITION_ORDER - int(math.log2(TILE_NSIDE)))

STAR_DENSITY_CAP = 2.0e6
STAR_MAG_RANGE = (14.0, 25.0)
GALAXY_DENSITY = 5.0e4
GALAXY_MAG_RANGE = (18.0, 26.5)
#: Transients peak within these MJDs (the OpenUniverse TDS years, 2027-2030).
PEAK_MJD_RANGE = (61900.0, 62950.0)
#: Reference band of the stored magnitudes: every other band follows from the spectrum.
_REFERENCE = band("F158")

# Object ids: kind prefix, tile and running number; unique across kinds and tiles.
_ID_KIND = {"galaxy": 1_000_000_000_000, "star": 2_000_000_000_000, "transient": 3_000_000_000_000}
_ID_TILE = 1_000_000

#: ICRS -> Galactic rotation (the IAU definition through FK5 J2000 as astropy realises it;
#: rows are the Galactic x, y, z axes in ICRS components). Written out so that a tile's star
#: count costs a matrix product, not a coordinate-frame transformation.
_ICRS_TO_GALACTIC = np.array(
    [
        [-0.0548756577125917, -0.8734370519556163, -0.4838350736167155],
        [0.4941094371927275, -0.4448297212232952, 0.7469821839866676],
        [-0.8676661375596587, -0.1980763372730008, 0.4559838136873016],
    ]
)


def unit_vectors(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """Unit vectors of positions (degrees), the x, y, z axis first: shape ``(3, *ra.shape)``.

    Examples
    --------
    >>> unit_vectors(np.array([0.0]), np.array([90.0])).round(12)[:, 0].tolist()
    [0.0, 0.0, 1.0]
    """
    a, d = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)])


def galactic(ra: np.ndarray | float, dec: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Galactic longitude and latitude (degrees) of ICRS positions (degrees).

    Examples
    --------
    >>> l, b = galactic([266.40499, 192.85948], [-28.93617, 27.12825])  # the centre, the north pole
    >>> [round(float(v), 4) for v in b]
    [0.0, 90.0]
    """
    xyz = _ICRS_TO_GALACTIC @ unit_vectors(np.asarray(ra, float), np.asarray(dec, float)).reshape(3, -1)
    lon = np.degrees(np.arctan2(xyz[1], xyz[0])) % 360
    lat = np.degrees(np.arcsin(np.clip(xyz[2], -1, 1)))
    shape = np.shape(ra)
    return lon.reshape(shape), lat.reshape(shape)


def star_density(ra: np.ndarray | float, dec: np.ndarray | float) -> np.ndarray:
    """Stars per square degree to AB 25 (F158) at ICRS positions, capped at :data:`STAR_DENSITY_CAP`.

    Examples
    --------
    >>> pole, bulge = star_density([192.86, 268.5], [27.13, -29.3])  # NGP; (l, b) = (0.6, -1.8)
    >>> bool(1000 < pole < 3000), bool(bulge == STAR_DENSITY_CAP)
    (True, True)
    """
    lon, lat = galactic(ra, dec)
    lon = np.where(lon > 180, lon - 360, lon)
    sin_b = np.abs(np.sin(np.radians(lat)))
    disk = 1800.0 / (sin_b + 0.08) * (1 + 1.5 * np.exp(-np.abs(lon) / 40.0) * np.exp(-sin_b / 0.2))
    bulge = 6.0e6 * np.exp(-0.5 * (lon**2 + (lat / 0.7) ** 2) / 4.0**2)
    return np.minimum(disk + bulge, STAR_DENSITY_CAP)


def _milky_way_av(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    # A cosecant law (A_V ~ 0.06 / sin|b| at high latitude), capped: a stand-in for a dust map.
    _, lat = galactic(ra, dec)
    return np.minimum(0.06 / np.maximum(np.abs(np.sin(np.radians(lat))), 0.02), 3.0)


def galaxy_sed(wavelength: np.ndarray, red: np.ndarray) -> np.ndarray:
    """AB magnitude (arbitrary zero) of a galaxy's rest-frame spectrum at ``wavelength`` (um).

    A one-parameter family from star-forming (``red`` = 0: flat ``f_nu`` in the ultraviolet, a
    weak 4000 A break) to quiescent (``red`` = 1: a steep red continuum, a 1-magnitude break),
    with the Lyman-alpha forest (-1.5 mag below 1216 A) and the Lyman limit (912 A) that make
    high-redshift galaxies drop out of the blue bands. Power laws ``f_nu ~ lambda^s`` between
    the breaks, continuous except at the breaks.

    Examples
    --------
    >>> import numpy as np
    >>> m = galaxy_sed(np.array([0.35, 0.45, 0.35, 0.45]), np.array([0.0, 0.0, 1.0, 1.0]))
    >>> bool(m[2] - m[3] > m[0] - m[1] > 0)  # quiescent galaxies have the bigger break
    True
    """
    lam = np.asarray(wavelength, dtype=float)
    red = np.asarray(red, dtype=float)
    x = np.log10(lam)
    s_far = -0.3  # beyond the 1.6 um stellar bump f_nu falls again
    s_nir = 0.3 + 0.3 * red
    s_opt = 1.0 + 1.5 * red
    s_uv = 2.5 * red
    x_h, x_4000, x_lya, x_ll = math.log10(1.6), math.log10(0.4), math.log10(0.1216), math.log10(0.0912)
    mag = np.select(
        [x >= x_h, x >= 0, x >= x_4000],
        [-2.5 * (s_nir * x_h + s_far * (x - x_h)), -2.5 * s_nir * x, -2.5 * s_opt * x],
        -2.5 * (s_opt * x_4000 + s_uv * (x - x_4000)) + 0.15 + 0.85 * red,
    )
    return mag + np.where(x < x_lya, 1.5, 0.0) + np.where(x < x_ll, 10.0, 0.0)


def _band_mag(which: Band, redshift: np.ndarray, red: np.ndarray) -> np.ndarray:
    # The spectrum averaged in f_nu over the filter (flat throughput between its edges, 16 points):
    # a break inside a filter dims it gradually, as through a real bandpass.
    wavelengths = np.linspace(which.wavelength_min, which.wavelength_max, 16)
    rest = wavelengths[:, None] / (1 + redshift)[None, :]
    mean = np.mean(10 ** (-0.4 * galaxy_sed(rest, np.broadcast_to(red, rest.shape))), axis=0)
    return -2.5 * np.log10(mean)


def _galaxy_colour(which: Band, redshift: np.ndarray, red: np.ndarray) -> np.ndarray:
    return _band_mag(which, redshift, red) - _band_mag(_REFERENCE, redshift, red)


# ---------------------------------------------------------------------------- columns of sources
class _Columns:
    """Equal-length numpy columns (a frozen dataclass's fields) that can be selected and joined."""

    # every kind of source has these (declared for the type checker; the dataclasses define them)
    object_id: np.ndarray
    ra: np.ndarray
    dec: np.ndarray

    def __len__(self) -> int:
        return len(getattr(self, fields(self)[0].name))  # type: ignore[arg-type]

    def take(self, index: np.ndarray) -> Self:
        """The rows at ``index`` (integer or boolean array), in that order."""
        values = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            values[f.name] = value.take(index) if isinstance(value, tr.LightCurves) else value[index]
        return type(self)(**values)

    @classmethod
    def concatenate(cls, parts: Sequence[Self]) -> Self:
        """Join ``parts`` (at least one) end to end."""
        values: dict[str, Any] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            columns = [getattr(p, f.name) for p in parts]
            if isinstance(columns[0], tr.LightCurves):
                values[f.name] = tr.LightCurves(
                    **{
                        g.name: np.concatenate([getattr(c, g.name) for c in columns])
                        for g in fields(tr.LightCurves)
                    }
                )
            else:
                values[f.name] = np.concatenate(columns)
        return cls(**values)


@dataclass(frozen=True)
class Stars(_Columns):
    """Stars: ids, ICRS positions (deg), F158 AB magnitude, blackbody temperature (K), proper motions.

    Positions are at epoch J2000; the images ignore proper motion.
    """

    object_id: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    mag_f158: np.ndarray
    temperature: np.ndarray
    mw_av: np.ndarray
    pm_ra: np.ndarray
    pm_dec: np.ndarray
    parallax: np.ndarray
    radial_velocity: np.ndarray

    def mag(self, which: str | Band) -> np.ndarray:
        """AB magnitude in band ``which``."""
        b = band(which)
        return self.mag_f158 + tr.blackbody_colour(self.temperature, b.pivot, _REFERENCE.pivot)

    def rate(self, which: str | Band) -> np.ndarray:
        """Electrons per second in band ``which``."""
        b = band(which)
        return 10 ** (-0.4 * (self.mag(b) - b.zeropoint))


@dataclass(frozen=True)
class Galaxies(_Columns):
    """Galaxies: ids, positions, redshift, F158 magnitude, spectrum, and the shapes of bulge and disk.

    Sizes are half-light radii in arcseconds; ``disk_g1, disk_g2, bulge_g1, bulge_g2`` are the
    components' reduced-shear ellipticities (see the module's description); ``bulge_fraction``
    is the bulge's share of the light (in every band: one spectrum for both components).
    """

    object_id: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    redshift: np.ndarray
    redshift_hubble: np.ndarray
    mag_f158: np.ndarray
    red: np.ndarray
    bulge_fraction: np.ndarray
    disk_hlr: np.ndarray
    bulge_hlr: np.ndarray
    disk_g1: np.ndarray
    disk_g2: np.ndarray
    bulge_g1: np.ndarray
    bulge_g2: np.ndarray
    shear1: np.ndarray
    shear2: np.ndarray
    convergence: np.ndarray
    stellar_mass: np.ndarray
    mw_av: np.ndarray

    def mag(self, which: str | Band) -> np.ndarray:
        """AB magnitude in band ``which`` (the galaxy's spectrum at its redshift)."""
        return self.mag_f158 + _galaxy_colour(band(which), self.redshift, self.red)

    def rate(self, which: str | Band) -> np.ndarray:
        """Electrons per second in band ``which``."""
        b = band(which)
        return 10 ** (-0.4 * (self.mag(b) - b.zeropoint))


@dataclass(frozen=True)
class Transients(_Columns):
    """Transients: ids, positions, host (``host_id`` -1 when hostless) and light curves."""

    object_id: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    host_id: np.ndarray
    host_separation: np.ndarray
    mw_av: np.ndarray
    light: tr.LightCurves

    def mag(self, which: str | Band, mjd: float | np.ndarray) -> np.ndarray:
        """AB magnitude in band ``which`` at ``mjd`` (``inf`` when dark)."""
        return self.light.mag(which, mjd)

    def rate(self, which: str | Band, mjd: float | np.ndarray) -> np.ndarray:
        """Electrons per second in band ``which`` at ``mjd``."""
        return self.light.rate(which, mjd)


@dataclass(frozen=True)
class Sources:
    """Stars, galaxies and transients of one part of the sky, in tile order."""

    stars: Stars
    galaxies: Galaxies
    transients: Transients

    def __len__(self) -> int:
        return len(self.stars) + len(self.galaxies) + len(self.transients)

    def photometry(self, which: str | Band, mjd: float | None = None) -> dict[str, np.ndarray]:
        """Every source's id, kind, position and AB magnitude in band ``which``.

        Parameters
        ----------
        which : str or Band
        mjd : float, optional
            When to see the transients; without it they are left out.

        Returns
        -------
        dict of str to ndarray
            ``object_id``, ``obj_type`` (``"star"``, ``"galaxy"``, ``"transient"``), ``ra``,
            ``dec``, ``mag`` (AB; transients dark at ``mjd`` are left out), ``rate`` (e-/s).

        Examples
        --------
        >>> seen = cone(9.45, -44.02, 0.05).photometry("F158", mjd=62400.0)
        >>> sorted(set(seen["obj_type"].tolist()))
        ['galaxy', 'star', 'transient']
        """
        b = band(which)
        parts = [("star", self.stars, self.stars.mag(b)), ("galaxy", self.galaxies, self.galaxies.mag(b))]
        if mjd is not None:
            mags = self.transients.mag(b, mjd)
            lit = np.flatnonzero(np.isfinite(mags))
            parts.append(("transient", self.transients.take(lit), mags[lit]))
        mag = np.concatenate([p[2] for p in parts])
        return {
            "object_id": np.concatenate([p[1].object_id for p in parts]),
            "obj_type": np.concatenate([np.full(len(p[1]), p[0]) for p in parts]),
            "ra": np.concatenate([p[1].ra for p in parts]),
            "dec": np.concatenate([p[1].dec for p in parts]),
            "mag": mag,
            "rate": 10 ** (-0.4 * (mag - b.zeropoint)),
        }


# ---------------------------------------------------------------------------- tiles
@dataclass(frozen=True)
class TileCounts:
    """How many objects a tile holds; drawn before (and without) the objects themselves."""

    stars: int
    galaxies: int
    transients: tuple[int, ...]  # one count per family of transients.FAMILIES

    @property
    def total_transients(self) -> int:
        """All transients of the tile."""
        return sum(self.transients)


@functools.cache
def tile_area() -> float:
    """Area of one tile, square degrees.

    Examples
    --------
    >>> round(tile_area(), 5)
    0.05246
    """
    return 4 * math.pi * (180 / math.pi) ** 2 / (12 * TILE_NSIDE**2)


def _tile_centre(index: int) -> tuple[float, float]:
    import hpgeom

    ra, dec = hpgeom.pixel_to_angle(TILE_NSIDE, np.int64(index), nest=True, lonlat=True)
    return float(ra), float(dec)


def _check_tile(index: int) -> int:
    if not 0 <= int(index) < 12 * TILE_NSIDE**2:
        from roman_helpers.errors import InvalidParameterError

        raise InvalidParameterError(
            "tile",
            index,
            hint=f"Tiles are HEALPix nside {TILE_NSIDE} NESTED indices, 0 to {12 * TILE_NSIDE**2 - 1}.",
        )
    return int(index)


@functools.lru_cache(maxsize=65536)
def tile_counts(index: int) -> TileCounts:
    """The number of stars, galaxies and transients (per family) in tile ``index``.

    Cheap: no object is made. :func:`tile` makes exactly these numbers.

    Examples
    --------
    >>> counts = tile_counts(100_000)
    >>> counts == tile_counts(100_000), len(counts.transients) == len(tr.FAMILIES)
    (True, True)
    """
    index = _check_tile(index)
    rng = np.random.default_rng([SEED, 0, index])
    area = tile_area()
    ra, dec = _tile_centre(index)
    stars = int(rng.poisson(float(star_density(ra, dec)) * area))
    galaxies = int(rng.poisson(GALAXY_DENSITY * area))
    years = (PEAK_MJD_RANGE[1] - PEAK_MJD_RANGE[0]) / 365.25
    counts = tuple(int(rng.poisson(f.rate * area * (1.0 if f.gentype == 99 else years))) for f in tr.FAMILIES)
    return TileCounts(stars, galaxies, counts)


def _positions(rng: np.random.Generator, index: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    import hpgeom

    sub = rng.integers(0, _SUBPIXELS, count, dtype=np.int64) + np.int64(index) * np.int64(_SUBPIXELS)
    ra, dec = hpgeom.pixel_to_angle(2**_POSITION_ORDER, sub, nest=True, lonlat=True)
    return np.asarray(ra, dtype=float), np.asarray(dec, dtype=float)


def _power_law_mags(
    rng: np.random.Generator, count: int, low: float, high: float, slope: float
) -> np.ndarray:
    # dN/dm ~ 10^(slope m) on [low, high], by inverting its cumulative distribution
    a, b = 10 ** (slope * low), 10 ** (slope * high)
    return np.log10(a + rng.random(count) * (b - a)) / slope


def _make_stars(index: int, count: int) -> Stars:
    rng = np.random.default_rng([SEED, 1, index])
    ra, dec = _positions(rng, index, count)
    mag = _power_law_mags(rng, count, *STAR_MAG_RANGE, 0.2)
    # Mostly cool dwarfs: log-uniform 3,000-12,000 K, weighted to the cool end
    temperature = 3000.0 * 4.0 ** (rng.random(count) ** 1.5)
    distance_pc = 10 ** ((mag - 4.0 + 5) / 5)  # a rough absolute magnitude of 4
    return Stars(
        object_id=_ID_KIND["star"] + index * _ID_TILE + np.arange(count, dtype=np.int64),
        ra=ra,
        dec=dec,
        mag_f158=mag,
        temperature=np.round(temperature),
        mw_av=_milky_way_av(ra, dec),
        pm_ra=rng.normal(0.0, 5.0, count),
        pm_dec=rng.normal(0.0, 5.0, count),
        parallax=1000.0 / distance_pc,
        radial_velocity=rng.normal(0.0, 40.0, count),
    )


def _make_galaxies(index: int, count: int) -> Galaxies:
    rng = np.random.default_rng([SEED, 2, index])
    ra, dec = _positions(rng, index, count)
    mag = _power_law_mags(rng, count, *GALAXY_MAG_RANGE, 0.3)
    median_z = 0.25 + 0.13 * (mag - 18.0)
    redshift_hubble = np.clip(median_z * 10 ** (0.15 * rng.standard_normal(count)), 0.02, 4.5)
    velocity = rng.normal(0.0, 300.0, count)  # km/s along the line of sight
    redshift = (1 + redshift_hubble) * (1 + velocity / 299792.458) - 1
    quiescent = rng.random(count) < 0.4 * np.exp(-redshift / 1.5)
    red = np.where(quiescent, 0.75 + 0.25 * rng.random(count), 0.3 * rng.random(count))
    bulge_fraction = np.clip(0.15 + 0.75 * red + 0.1 * rng.standard_normal(count), 0.0, 1.0)
    disk_hlr = np.clip(0.9 * 10 ** (-0.12 * (mag - 20.0) + 0.15 * rng.standard_normal(count)), 0.05, 4.0)
    bulge_hlr = np.clip(0.4 * disk_hlr * 10 ** (0.1 * rng.standard_normal(count)), 0.03, 3.0)
    position_angle = rng.uniform(0.0, math.pi, count)
    disk_q = rng.uniform(0.15, 1.0, count)
    bulge_q = rng.uniform(0.5, 1.0, count)
    bulge_angle = position_angle + np.radians(rng.normal(0.0, 10.0, count))
    disk_g = (1 - disk_q) / (1 + disk_q)
    bulge_g = (1 - bulge_q) / (1 + bulge_q)
    absolute = mag - tr.distance_modulus(redshift) + 2.5 * np.log10(1 + redshift)
    stellar_mass = 10 ** (10.6 - 0.4 * (absolute + 22.0) + 0.3 * red)
    return Galaxies(
        object_id=_ID_KIND["galaxy"] + index * _ID_TILE + np.arange(count, dtype=np.int64),
        ra=ra,
        dec=dec,
        redshift=redshift,
        redshift_hubble=redshift_hubble,
        mag_f158=mag,
        red=red,
        bulge_fraction=bulge_fraction,
        disk_hlr=disk_hlr,
        bulge_hlr=bulge_hlr,
        disk_g1=disk_g * np.cos(2 * position_angle),
        disk_g2=disk_g * np.sin(2 * position_angle),
        bulge_g1=bulge_g * np.cos(2 * bulge_angle),
        bulge_g2=bulge_g * np.sin(2 * bulge_angle),
        shear1=rng.normal(0.0, 0.01, count),
        shear2=rng.normal(0.0, 0.01, count),
        convergence=rng.normal(0.0, 0.01, count),
        stellar_mass=stellar_mass,
        mw_av=_milky_way_av(ra, dec),
    )


def _float32_exact(values: np.ndarray) -> np.ndarray:
    # MJDs are stored as float32 in the catalogs: keep only values a float32 holds, so the
    # catalog's peak_mjd is the model's exactly.
    return np.asarray(values, dtype=np.float32).astype(np.float64)


@functools.cache
def _redshift_cdf(gentype: int) -> tuple[np.ndarray, np.ndarray]:
    known = tr.family(gentype)
    return tr.redshift_grid_weights(known.evolution, known.z_max)


def _make_transients(index: int, counts: TileCounts, galaxies: Galaxies) -> Transients:
    rng = np.random.default_rng([SEED, 3, index])
    parts: list[dict[str, np.ndarray]] = []
    order = np.argsort(galaxies.redshift, kind="stable")
    sorted_z = galaxies.redshift[order]
    for known, count in zip(tr.FAMILIES, counts.transients, strict=True):
        z_grid, cdf = _redshift_cdf(known.gentype)
        z = np.interp(rng.random(count), cdf, z_grid)
        hosted = (rng.random(count) < known.hosted) & (len(galaxies) > 0)
        host = np.full(count, -1, dtype=np.int64)
        if len(galaxies):
            nearest = np.clip(np.searchsorted(sorted_z, z), 0, len(galaxies) - 1)
            host = np.where(hosted, order[nearest], -1)
        ra, dec = _positions(rng, index, count)
        # offsets within the host disk's light (exponential profile), along its ellipse
        radius = rng.gamma(2.0, 1.0, count)
        angle = rng.uniform(0.0, 2 * math.pi, count)
        z_host = galaxies.redshift[np.maximum(host, 0)] if len(galaxies) else z
        z = np.where(host >= 0, z_host, z)
        dx = np.zeros(count)
        dy = np.zeros(count)
        if len(galaxies) and known.gentype != 42:  # TDEs are nuclear
            h = np.maximum(host, 0)
            scale = galaxies.disk_hlr[h] / 1.678  # exponential scale length from half-light radius
            g = np.hypot(galaxies.disk_g1[h], galaxies.disk_g2[h])
            q = (1 - g) / (1 + g)
            pa = 0.5 * np.arctan2(galaxies.disk_g2[h], galaxies.disk_g1[h])
            major, minor = (
                radius * np.cos(angle) * scale / np.sqrt(q),
                radius * np.sin(angle) * scale * np.sqrt(q),
            )
            dy = major * np.cos(pa) - minor * np.sin(pa)  # north
            dx = major * np.sin(pa) + minor * np.cos(pa)  # east
        if len(galaxies):
            h = np.maximum(host, 0)
            host_ra = galaxies.ra[h] + dx / 3600 / np.cos(np.radians(galaxies.dec[h]))
            host_dec = galaxies.dec[h] + dy / 3600
            ra = np.where(host >= 0, host_ra % 360, ra)
            dec = np.where(host >= 0, host_dec, dec)
        separation = np.where(host >= 0, np.hypot(dx, dy), np.nan)
        peak = _float32_exact(rng.uniform(*PEAK_MJD_RANGE, count))
        amplitude = known.peak_abs_mag + known.peak_abs_scatter * rng.standard_normal(count)
        if known.gentype == 10:
            shape = np.clip(rng.normal(0.0, 1.0, count), -3.0, 3.0)
            colour = np.clip(rng.normal(0.0, 0.08, count), -0.3, 0.5)
        elif known.gentype == 32:
            shape = rng.uniform(80.0, 120.0, count)
            colour = rng.exponential(0.3, count)
        elif known.gentype == 42:
            shape = np.ones(count)
            colour = rng.uniform(1.5, 4.0, count)
        elif known.gentype == 99:
            shape = np.ones(count)
            colour = np.zeros(count)
            amplitude = np.clip(amplitude, 18.0, 26.0)
            z = np.zeros(count)
            host = np.full(count, -1, dtype=np.int64)
            separation = np.full(count, np.nan)
            peak = np.full(count, _float32_exact(np.array([sum(PEAK_MJD_RANGE) / 2]))[0])
        else:
            shape = np.clip(rng.normal(1.0, 0.15, count), 0.6, 1.6)
            colour = rng.exponential(0.2, count)
        parts.append(
            {
                "ra": ra,
                "dec": dec,
                "host": host,
                "separation": separation,
                "gentype": np.full(count, known.gentype, dtype=np.int32),
                "redshift": z,
                "peak": peak,
                "amplitude": amplitude,
                "shape": shape,
                "colour": colour,
            }
        )
    joined = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    total = len(joined["ra"])
    host_index = joined["host"]
    host_id = np.where(
        host_index >= 0, galaxies.object_id[np.maximum(host_index, 0)] if len(galaxies) else -1, -1
    )
    return Transients(
        object_id=_ID_KIND["transient"] + index * _ID_TILE + np.arange(total, dtype=np.int64),
        ra=joined["ra"],
        dec=joined["dec"],
        host_id=host_id.astype(np.int64),
        host_separation=joined["separation"],
        mw_av=_milky_way_av(joined["ra"], joined["dec"]),
        light=tr.LightCurves(
            gentype=joined["gentype"],
            redshift=joined["redshift"],
            peak_mjd=joined["peak"],
            peak_abs_mag=joined["amplitude"],
            shape=joined["shape"],
            colour=joined["colour"],
        ),
    )


@functools.lru_cache(maxsize=192)
def tile(index: int) -> Sources:
    """Every star, galaxy and transient of tile ``index`` (HEALPix nside 256, NESTED).

    Parameters
    ----------
    index : int

    Returns
    -------
    Sources
        Exactly :func:`tile_counts` objects of each kind, in a fixed order.

    Examples
    --------
    >>> made = tile(100_000)
    >>> counts = tile_counts(100_000)
    >>> (len(made.stars), len(made.galaxies), len(made.transients)) == (
    ...     counts.stars,
    ...     counts.galaxies,
    ...     counts.total_transients,
    ... )
    True
    """
    index = _check_tile(index)
    counts = tile_counts(index)
    galaxies = _make_galaxies(index, counts.galaxies)
    return Sources(_make_stars(index, counts.stars), galaxies, _make_transients(index, counts, galaxies))


# ---------------------------------------------------------------------------- queries
def tiles_in_cone(ra: float, dec: float, radius: float) -> np.ndarray:
    """Tiles that may hold sources within ``radius`` degrees of (``ra``, ``dec``), ascending.

    Examples
    --------
    >>> tiles = tiles_in_cone(9.45, -44.02, 0.05)
    >>> 1 <= len(tiles) <= 4, bool(np.all(np.diff(tiles) > 0))
    (True, True)
    """
    import hpgeom

    found = hpgeom.query_circle(TILE_NSIDE, ra, dec, radius, inclusive=True, nest=True, lonlat=True)
    return np.unique(np.asarray(found, dtype=np.int64))


def tiles_in_polygon(ra: Sequence[float] | np.ndarray, dec: Sequence[float] | np.ndarray) -> np.ndarray:
    """Tiles that may hold sources inside the sky polygon with these vertices (degrees), ascending."""
    import hpgeom

    found = hpgeom.query_polygon(
        TILE_NSIDE, np.asarray(ra, float), np.asarray(dec, float), inclusive=True, nest=True, lonlat=True
    )
    return np.unique(np.asarray(found, dtype=np.int64))


def _gather(tiles: np.ndarray) -> Sources:
    made = [tile(int(t)) for t in tiles]
    if not made:
        made = [tile(0)]
        return Sources(
            made[0].stars.take(np.zeros(0, int)),
            made[0].galaxies.take(np.zeros(0, int)),
            made[0].transients.take(np.zeros(0, int)),
        )
    return Sources(
        Stars.concatenate([m.stars for m in made]),
        Galaxies.concatenate([m.galaxies for m in made]),
        Transients.concatenate([m.transients for m in made]),
    )


def _select(sources: Sources, keep: Any) -> Sources:
    return Sources(
        sources.stars.take(np.flatnonzero(keep(sources.stars.ra, sources.stars.dec))),
        sources.galaxies.take(np.flatnonzero(keep(sources.galaxies.ra, sources.galaxies.dec))),
        sources.transients.take(np.flatnonzero(keep(sources.transients.ra, sources.transients.dec))),
    )


def cone(ra: float, dec: float, radius: float) -> Sources:
    """Every source within ``radius`` degrees of (``ra``, ``dec``), in tile order.

    Examples
    --------
    >>> near = cone(9.45, -44.02, 0.02)
    >>> 10 < len(near.galaxies) < 200
    True
    """
    centre = unit_vectors(np.array(ra, float), np.array(dec, float))
    limit = math.cos(math.radians(radius))

    def inside(r: np.ndarray, d: np.ndarray) -> np.ndarray:
        return np.einsum("i,i...->...", centre, unit_vectors(r, d)) >= limit

    return _select(_gather(tiles_in_cone(ra, dec, radius)), inside)


def polygon(ra: Sequence[float] | np.ndarray, dec: Sequence[float] | np.ndarray) -> Sources:
    """Every source inside the sky polygon with these vertices (degrees, either winding), in tile order.

    The polygon's edges are great circles; inside is decided on the gnomonic projection about
    the vertices' mean direction (where great circles are straight lines), so it holds for any
    polygon smaller than a hemisphere. (Written here: none of the sandbox's libraries tests
    points against a spherical polygon.)

    Examples
    --------
    >>> box = polygon([9.40, 9.50, 9.50, 9.40], [-44.06, -44.06, -43.98, -43.98])
    >>> len(box.galaxies) > 0
    True
    """
    vra, vdec = np.asarray(ra, float), np.asarray(dec, float)
    vertices = unit_vectors(vra, vdec)
    axis = vertices.mean(axis=1)
    axis /= np.linalg.norm(axis)
    east = np.cross([0.0, 0.0, 1.0], axis)
    if np.linalg.norm(east) < 1e-12:
        east = np.array([1.0, 0.0, 0.0])
    east /= np.linalg.norm(east)
    north = np.cross(axis, east)

    def project(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        depth = np.einsum("i,i...->...", axis, v)
        return np.einsum("i,i...->...", east, v) / depth, np.einsum("i,i...->...", north, v) / depth

    px, py = project(vertices)

    def inside(r: np.ndarray, d: np.ndarray) -> np.ndarray:
        points = unit_vectors(r, d)
        x, y = project(points)
        result = np.zeros(x.shape, dtype=bool)
        for i in range(len(px)):  # even-odd rule
            x1, y1, x2, y2 = px[i - 1], py[i - 1], px[i], py[i]
            crosses = (y1 > y) != (y2 > y)
            with np.errstate(divide="ignore", invalid="ignore"):
                at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            result ^= crosses & (x < at)
        return result & (np.einsum("i,i...->...", axis, points) > 0)

    return _select(_gather(tiles_in_polygon(vra, vdec)), inside)


# ---------------------------------------------------------------------------- OpenUniverse catalogs
#: The OpenUniverse 2024 catalog files of one HEALPix cell (``{kind}_{cell}.parquet`` in
#: ``roman_rubin_cats_v1.1.2_faint/``).
CATALOG_KINDS = ("galaxy", "galaxy_flux", "pointsource", "pointsource_flux", "snana")

# Column names, types and units as skyCatalogs documents the roman_rubin 1.1.2 files
# (docs/roman-rubin-1.1.2/{diffsky_galaxy,UW_stars,snana}.rst of LSSTDESC/skyCatalogs): "double"
# there is float64, "float" float32. Fluxes are photons/s/cm^2 integrated over the band.
_FLUX_UNIT = "photons/s/cm^2"
_GALAXY_FLUX_BANDS = (*RUBIN_BANDS, band("W146"), *[b for b in ROMAN_BANDS if b.name != "F146"])
_PEAK_BANDS = {"g": band("g"), "i": band("i"), "F": band("F184")}  # SNANA's one-letter F is F184


def cell_tiles(cell: int) -> np.ndarray:
    """The 64 tiles (nside 256, NESTED, ascending) that make up catalog cell ``cell`` (nside 32, RING).

    Examples
    --------
    >>> import hpgeom
    >>> tiles = cell_tiles(10_000)
    >>> len(tiles), set(hpgeom.nest_to_ring(32, tiles // 64).tolist()) == {10_000}
    (64, True)
    """
    import hpgeom

    if not 0 <= int(cell) < 12 * CELL_NSIDE**2:
        from roman_helpers.errors import InvalidParameterError

        raise InvalidParameterError(
            "cell",
            cell,
            hint=f"Cells are HEALPix nside {CELL_NSIDE} RING indices, 0 to {12 * CELL_NSIDE**2 - 1}.",
        )
    nest = int(hpgeom.ring_to_nest(CELL_NSIDE, np.int64(cell)))
    return nest * _TILES_PER_CELL + np.arange(_TILES_PER_CELL, dtype=np.int64)


def _check_kind(kind: str) -> str:
    if kind not in CATALOG_KINDS:
        from roman_helpers.errors import InvalidParameterError

        raise InvalidParameterError("catalog kind", kind, CATALOG_KINDS)
    return kind


def catalog_count(kind: str, cell: int) -> int:
    """Rows of catalog ``kind`` for cell ``cell``, known without making them.

    Examples
    --------
    >>> catalog_count("galaxy", 10_000) == catalog_count("galaxy_flux", 10_000) > 100_000
    True
    """
    _check_kind(kind)
    counts = [tile_counts(int(t)) for t in cell_tiles(cell)]
    if kind.startswith("galaxy"):
        return sum(c.galaxies for c in counts)
    if kind.startswith("pointsource"):
        return sum(c.stars for c in counts)
    return sum(c.total_transients for c in counts)


def _field(name: str, kind: Any, unit: str | None = None, description: str | None = None) -> pa.Field:
    import pyarrow as pa

    metadata = {k: v for k, v in (("unit", unit), ("description", description)) if v}
    return pa.field(name, kind, metadata=metadata or None)


def _galaxy_table(galaxies: Galaxies) -> pa.Table:
    import pyarrow as pa

    f64, f32 = pa.float64(), pa.float32()
    columns = [
        (_field("galaxy_id", pa.int64(), None, "Unique object identifier"), galaxies.object_id),
        (_field("ra", f64, "deg"), galaxies.ra),
        (_field("dec", f64, "deg"), galaxies.dec),
        (_field("redshift", f64, None, "Cosmological redshift with line-of-sight motion"), galaxies.redshift),
        (_field("redshiftHubble", f64, None, "Cosmological redshift"), galaxies.redshift_hubble),
        (
            _field("peculiarVelocity", f64, "km/s"),
            299792.458 * ((1 + galaxies.redshift) / (1 + galaxies.redshift_hubble) - 1),
        ),
        (_field("shear1", f64), galaxies.shear1),
        (_field("shear2", f64), galaxies.shear2),
        (_field("convergence", f64), galaxies.convergence),
        (_field("spheroidHalfLightRadiusArcsec", f32, "arcsec"), galaxies.bulge_hlr),
        (_field("diskHalfLightRadiusArcsec", f32, "arcsec"), galaxies.disk_hlr),
        (_field("diskEllipticity1", f64), galaxies.disk_g1),
        (_field("diskEllipticity2", f64), galaxies.disk_g2),
        (_field("spheroidEllipticity1", f64), galaxies.bulge_g1),
        (_field("spheroidEllipticity2", f64), galaxies.bulge_g2),
        (_field("um_source_galaxy_obs_sm", f32, "solMass"), galaxies.stellar_mass),
        (_field("MW_rv", f32), np.full(len(galaxies), 3.1)),
        (_field("MW_av", f32, "mag"), galaxies.mw_av),
    ]
    return pa.Table.from_arrays(
        [pa.array(np.asarray(v), type=f.type) for f, v in columns], schema=pa.schema([f for f, _ in columns])
    )


def _galaxy_flux_table(galaxies: Galaxies) -> pa.Table:
    import pyarrow as pa

    columns = [(_field("galaxy_id", pa.int64()), galaxies.object_id)]
    for b in _GALAXY_FLUX_BANDS:
        columns.append(
            (_field(b.catalog_flux_column, pa.float32(), _FLUX_UNIT), galaxies.rate(b) / b.collecting_area)
        )
    return pa.Table.from_arrays(
        [pa.array(np.asarray(v), type=f.type) for f, v in columns], schema=pa.schema([f for f, _ in columns])
    )


def _pointsource_table(stars: Stars) -> pa.Table:
    import pyarrow as pa

    n = len(stars)
    salt2 = pa.struct([("x0", pa.float64()), ("x1", pa.float64()), ("c", pa.float64())])
    temperature = stars.temperature.astype(np.int64)
    columns = [
        (_field("object_type", pa.string()), pa.array(["star"] * n, pa.string())),
        (_field("id", pa.string()), pa.array(stars.object_id.astype(str).tolist(), pa.string())),
        (_field("ra", pa.float64(), "deg"), stars.ra),
        (_field("dec", pa.float64(), "deg"), stars.dec),
        (_field("host_galaxy_id", pa.int64()), np.full(n, -1, np.int64)),
        (
            _field("magnorm", pa.float64(), "mag", "AB magnitude of the SED at 500 nm"),
            stars.mag_f158 + tr.blackbody_colour(stars.temperature, 0.5, _REFERENCE.pivot),
        ),
        (
            _field("sed_filepath", pa.string()),
            pa.array([f"starSED/blackbody/bb_{t}K.txt" for t in temperature.tolist()], pa.string()),
        ),
        (_field("MW_rv", pa.float32()), np.full(n, 3.1)),
        (_field("MW_av", pa.float32(), "mag"), stars.mw_av),
        (_field("mura", pa.float64(), "mas/yr"), stars.pm_ra),
        (_field("mudec", pa.float64(), "mas/yr"), stars.pm_dec),
        (_field("radial_velocity", pa.float64(), "km/s"), stars.radial_velocity),
        (_field("parallax", pa.float64(), "mas"), stars.parallax),
        (_field("variability_model", pa.string()), pa.array([None] * n, pa.string())),
        (_field("salt2_params", salt2), pa.array([None] * n, salt2)),
    ]
    arrays = [v if isinstance(v, pa.Array) else pa.array(np.asarray(v), type=f.type) for f, v in columns]
    return pa.Table.from_arrays(arrays, schema=pa.schema([f for f, _ in columns]))


def _pointsource_flux_table(stars: Stars) -> pa.Table:
    import pyarrow as pa

    columns = [(_field("id", pa.string()), pa.array(stars.object_id.astype(str).tolist(), pa.string()))]
    for b in RUBIN_BANDS:
        columns.append(
            (_field(b.catalog_flux_column, pa.float32(), _FLUX_UNIT), stars.rate(b) / b.collecting_area)
        )
    arrays = [v if isinstance(v, pa.Array) else pa.array(np.asarray(v), type=f.type) for f, v in columns]
    return pa.Table.from_arrays(arrays, schema=pa.schema([f for f, _ in columns]))


def _parameters(light: tr.LightCurves) -> tuple[list[list[str]], list[list[str]]]:
    names: list[list[str]] = []
    values: list[list[str]] = []
    for gentype, shape, colour in zip(
        light.gentype.tolist(), light.shape.tolist(), light.colour.tolist(), strict=True
    ):
        if gentype == 10:
            names.append(["salt2_x1", "salt2_c"])
            values.append([f"{shape:.4f}", f"{colour:.4f}"])
        elif gentype == 32:
            names.append(["plateau_days", "AV"])
            values.append([f"{shape:.2f}", f"{colour:.4f}"])
        elif gentype == 42:
            names.append(["temperature_K"])
            values.append([f"{colour * 1e4:.0f}"])
        elif gentype == 99:
            names.append([])
            values.append([])
        else:
            names.append(["stretch", "AV"])
            values.append([f"{shape:.4f}", f"{colour:.4f}"])
    return names, values


def _snana_table(transients: Transients, galaxies: Galaxies) -> pa.Table:
    import pyarrow as pa

    light = transients.light
    n = len(transients)
    f32, f64 = pa.float32(), pa.float64()
    position = {gid: i for i, gid in enumerate(galaxies.object_id.tolist())}
    hosted = transients.host_id >= 0
    rows = np.array([position.get(h, 0) for h in transients.host_id.tolist()], dtype=np.int64)
    host = galaxies.take(rows) if n else galaxies

    def host_value(values: np.ndarray) -> np.ndarray:
        return np.where(hosted, values, np.nan) if n else np.zeros(0)

    dusty = ~np.isin(light.gentype, [10, 42, 99])  # the families whose colour is a host A_V
    names, parameter_values = _parameters(light)
    columns: list[tuple[pa.Field, Any]] = [
        (_field("id", pa.int64()), transients.object_id),
        (_field("ra", f64, "deg"), transients.ra),
        (_field("dec", f64, "deg"), transients.dec),
        (_field("host_id", pa.int64(), None, "galaxy_id of the host; -1: hostless"), transients.host_id),
        (_field("gentype", pa.int32()), light.gentype),
        (
            _field("model_name", pa.string()),
            pa.array([tr.family(int(g)).model_name for g in light.gentype.tolist()]),
        ),
        (_field("start_mjd", f32, "d"), light.start_mjd),
        (_field("end_mjd", f32, "d"), light.end_mjd),
        (_field("z_CMB", f32), light.redshift),
        (_field("mw_EBV", f32, "mag"), transients.mw_av / 3.1),
        (_field("mw_extinction_applied", pa.bool_()), np.zeros(n, bool)),
        (_field("AV", f32, "mag", "host extinction; -9: none applied"), np.where(dusty, light.colour, -9.0)),
        (_field("RV", f32), np.where(dusty, 3.1, -9.0)),
        (_field("v_pec", f32, "km/s"), np.zeros(n)),
        (_field("host_ra", f64, "deg"), host_value(host.ra)),
        (_field("host_dec", f64, "deg"), host_value(host.dec)),
        (_field("host_mag_g", f32, "mag"), host_value(host.mag("g"))),
        (_field("host_mag_i", f32, "mag"), host_value(host.mag("i"))),
        (_field("host_mag_F", f32, "mag"), host_value(host.mag("F184"))),
        (_field("host_sn_sep", f32, "arcsec"), transients.host_separation),
        (_field("peak_mjd", f32, "d"), light.peak_mjd),
        *[
            (_field(f"peak_mag_{letter}", f32, "mag"), light.mag(b, light.peak_mjd))
            for letter, b in _PEAK_BANDS.items()
        ],
        (_field("lens_dmu_applied", pa.bool_()), np.zeros(n, bool)),
        (_field("model_param_names", pa.list_(pa.string())), pa.array(names, pa.list_(pa.string()))),
        (
            _field("model_param_values", pa.list_(pa.string())),
            pa.array(parameter_values, pa.list_(pa.string())),
        ),
        (_field("MW_av", f32, "mag"), transients.mw_av),
        (_field("MW_rv", f32), np.full(n, 3.1)),
    ]
    arrays = [v if isinstance(v, pa.Array) else pa.array(np.asarray(v), type=f.type) for f, v in columns]
    return pa.Table.from_arrays(arrays, schema=pa.schema([f for f, _ in columns]))


def catalog_table(kind: str, cell: int) -> pa.Table:
    """OpenUniverse 2024 catalog ``kind`` of cell ``cell`` (HEALPix nside 32, RING) as a pyarrow Table.

    Parameters
    ----------
    kind : {"galaxy", "galaxy_flux", "pointsource", "pointsource_flux", "snana"}
        The file ``{kind}_{cell}.parquet`` of ``roman_rubin_cats_v1.1.2_faint``.
    cell : int

    Returns
    -------
    pyarrow.Table
        :func:`catalog_count` rows in tile order, the files' columns, types and units (units in
        each field's metadata). ``snana.host_id`` joins ``galaxy.galaxy_id`` of the same cell;
        ``galaxy_flux`` rows are those of ``galaxy``, in the same order.

    Examples
    --------
    >>> table = catalog_table("snana", 10_000)
    >>> table.num_rows == catalog_count("snana", 10_000), table.schema.field("z_CMB").type
    (True, DataType(float))
    """
    _check_kind(kind)
    made = _gather(cell_tiles(cell))
    if kind == "galaxy":
        return _galaxy_table(made.galaxies)
    if kind == "galaxy_flux":
        return _galaxy_flux_table(made.galaxies)
    if kind == "pointsource":
        return _pointsource_table(made.stars)
    if kind == "pointsource_flux":
        return _pointsource_flux_table(made.stars)
    return _snana_table(made.transients, made.galaxies)
