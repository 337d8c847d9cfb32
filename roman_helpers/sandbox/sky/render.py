"""Images of the sandbox's sky: one exposure, a coadd, a Level-1 ramp, row by row, deterministically.

An :class:`Exposure` is a celestial WCS (the caller's), an image shape, a band, an exposure time
and a start time, a seed, and the units wanted. Its pixels are made in fixed blocks of
:data:`BLOCK_ROWS` rows: the noise of block ``b`` is drawn from a generator seeded with
``(seed, b)``, and each source is drawn from the same stamp whichever block asks for it, so rows
``y0 .. y1`` are the same pixels however (and in whatever order) an image is read, and a
cut-out costs the blocks it touches, not the image.

What a pixel holds
    ``sky + dark + sources + noise``, in electrons collected during the exposure (before the unit
    conversion). Each source's total is its expected count (rate in the band at mid-exposure
    times the exposure time) drawn once from a Poisson distribution for this image and this
    source (:meth:`Exposure.realized`, a function of ``(seed, object_id)`` only, so the truth can
    be written without pixels), spread over the pixels by its profile. Stars and transients
    are Moffat point-spread functions of the band's FWHM; galaxies are a Sersic n = 1 disk plus an
    n = 4 bulge, sheared to their ellipticities and convolved with the PSF. All profiles are
    mixtures of Gaussians (fitted once to the exact profiles' enclosed light, 0.5 % accurate),
    so the convolution is exact and each Gaussian is integrated over the pixel: exactly (error
    functions) for circular ones narrower than 0.75 pixel, by adding the pixel's variance to
    wider ones (the error of that is below 1e-5 of the flux). The sky's and read noise are
    Gaussian. (GalSim draws such profiles exactly, but it is a large compiled dependency the
    sandbox does not carry; Gaussian mixtures keep drawing to vectorised numpy, a full 4088 x
    4088 image in about two seconds.) ``err`` is the standard deviation of each pixel (read
    noise, sky, dark, source);
    the source's own Poisson noise is that of its realised total (its pixels share it), which
    is what aperture photometry sees.

Data quality (``roman_datamodels.dqflags.pixel`` values)
    Per detector (``Exposure.detector``): dead pixels (``DEAD | DO_NOT_USE``, value 0) and hot
    pixels (``HOT``, 3 e-/s more), 0.02 % each, fixed for the detector. Per exposure: cosmic-ray
    hits (``JUMP_DET``; the value is the corrected one, as in a calibrated image), 5 x 10^-6 per
    pixel per second. ``SATURATED`` where a pixel's expected electrons exceed the full well.

Units: ``"electron"`` (electrons in the exposure, OpenUniverse's FITS), ``"DN/s"`` (Roman Level 2:
electrons / gain / exposure time), ``"MJy/sr"``, ``"nJy"`` (per pixel, Rubin's coadds),
``"electron/native pixel/exposure"`` (OpenUniverse's WAS coadds: electrons per exposure per
0.11" pixel area).
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from roman_helpers.sandbox.sky import sources as sky_sources
from roman_helpers.sandbox.sky.bands import AB_ZERO_JY, Band, band

__all__ = [
    "BLOCK_ROWS",
    "COADD_LAYERS",
    "EXPOSURES_KEPT",
    "FRAME_TIME",
    "REFERENCE_PIXELS",
    "UNITS",
    "Exposure",
    "RecentBlocks",
    "blocks",
    "coadd_grid",
    "coadd_layer_rows",
    "ramp_rows",
    "truth",
]

#: Rows per block of pixels: the unit of generation and of noise seeding.
BLOCK_ROWS = 64
UNITS = ("electron", "DN/s", "MJy/sr", "nJy", "electron/native pixel/exposure")

_FULL_WELL = 1.0e5  # electrons (HgCdTe well depths are ~1e5 e-)
_CR_RATE = 5e-6  # cosmic-ray hits per pixel per second
_DEFECT_FRACTION = 2e-4  # dead and hot pixels, each
_HOT_RATE = 3.0  # e-/s more in a hot pixel
_NARROW = 0.75  # pixels: narrower circular Gaussians are integrated exactly
_MAX_RADIUS = 256
_RADII = np.array([2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 96, 128, 192, 256])


def blocks(y0: int, y1: int) -> range:
    """Indices of the blocks holding rows ``y0 .. y1 - 1``.

    Examples
    --------
    >>> list(blocks(2000, 2100))
    [31, 32]
    """
    if y1 <= y0:
        return range(0)
    return range(y0 // BLOCK_ROWS, (y1 - 1) // BLOCK_ROWS + 1)


# ---------------------------------------------------------------------------- profiles as Gaussian mixtures
def _fit_enclosed(
    enclosed: Callable[[np.ndarray], np.ndarray], radii: tuple[float, float], sigmas: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative weights of circular Gaussians (widths ``sigmas``) matching a profile's enclosed light."""
    from scipy.optimize import nnls

    radius = np.geomspace(radii[0], radii[1], 300)
    design = 1 - np.exp(-0.5 * radius[:, None] ** 2 / sigmas[None, :] ** 2)
    weights, _ = nnls(design, enclosed(radius), maxiter=5000)
    keep = weights > 0
    return weights[keep] / weights[keep].sum(), sigmas[keep] ** 2


@functools.cache
def _sersic(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights and variances (in units of the half-light radius squared) of a Sersic profile."""
    from scipy.special import gammainc

    b = 2 * n - 1 / 3 + 4 / (405 * n) + 46 / (25515 * n * n)  # Ciotti & Bertin (1999)
    if n == 1:
        return _fit_enclosed(lambda r: gammainc(2.0, b * r), (0.02, 8.0), np.geomspace(0.03, 3.0, 8))
    return _fit_enclosed(
        lambda r: gammainc(2.0 * n, b * r ** (1 / n)), (0.01, 15.0), np.geomspace(0.003, 8.0, 10)
    )


@functools.cache
def _moffat(beta: float, components: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Weights and variances (in units of the FWHM squared) of a Moffat profile of index ``beta``."""
    alpha = 1 / (2 * math.sqrt(2 ** (1 / beta) - 1))
    reach = 10.0 if beta < 3 else 6.0
    return _fit_enclosed(
        lambda r: 1 - (1 + (r / alpha) ** 2) ** (1 - beta),
        (0.05, reach),
        np.geomspace(0.15, reach * 0.8, components),
    )


# ------------------------------------------------------------------------ blocks kept while files are read
class RecentBlocks:
    """Blocks of pixels made lately, of any images, kept under one byte budget.

    A file is served a few chunks at a time, often from several threads at once, and each chunk
    asks for the blocks of rows under it: a lz4 chunk of float16 errors covers twice the rows of
    one of float32 data, and both are asked for again when the data-quality array is read. Kept
    here, a block is made once while its file is read. One budget for every image of the process
    bounds the memory however many files are read together; the blocks used least recently go
    first. (``functools.lru_cache`` counts entries, not bytes, and cannot be asked to hold a
    value made by the caller.)

    Parameters
    ----------
    budget : int
        Bytes of arrays held at most (beyond the last block added, which is always kept).

    Examples
    --------
    >>> recent = RecentBlocks(budget=3 * 8 * 1000)
    >>> def make(index):
    ...     return np.full(1000, float(index))
    >>> blocks_made = [recent.get(("image", i), lambda: make(i)) for i in (0, 1, 2, 0, 3)]
    >>> recent.made, recent.held, sorted(recent.in_order())
    (4, 24000, [('image', 0), ('image', 2), ('image', 3)])
    """

    def __init__(self, budget: int) -> None:
        self.budget = int(budget)
        self._held: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        #: Blocks made so far, and bytes held now.
        self.made = 0
        self.held = 0

    def in_order(self) -> list[Any]:
        """The keys of the blocks held, least recently used first."""
        with self._lock:
            return list(self._held)

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        """The block ``key``, made by ``make()`` (an array or a tuple of arrays) unless held.

        Two threads asking for the same missing block at once both make it, identically; one
        copy is kept.
        """
        with self._lock:
            held = self._held.get(key)
            if held is not None:
                self._held.move_to_end(key)
                return held[0]
        made = make()
        size = sum(a.nbytes for a in made) if isinstance(made, tuple) else int(made.nbytes)
        with self._lock:
            self.made += 1
            if key not in self._held:
                self._held[key] = (made, size)
                self.held += size
            while self.held > self.budget and len(self._held) > 1:
                _, (_, dropped) = self._held.popitem(last=False)
                self.held -= dropped
        return made


#: The blocks of every :class:`Exposure` of the process: the last 768 MiB made. A 64-row block of a
#: 4088-wide image is 3.1 MB of pixels (or 2.1 MB of its noiseless model, for ramps); a reader of
#: eight calibrated files at once, 20 blocks each, needs 500 MB.
_PIXELS = RecentBlocks(768 * 1024**2)
_TOKENS = itertools.count()

#: How many exposures a layout keeps made (with their sources and Gaussians, a few MB each): more
#: than the files a reader has open at once (the kit reads 8 by default). With fewer, readers'
#: threads took each other's exposures away, and each was made again, sources and all, for
#: every chunk read: eight times a file.
EXPOSURES_KEPT = 16


# ---------------------------------------------------------------------------- deterministic per-source draws
def _splitmix64(values: np.ndarray) -> np.ndarray:
    # A counter-based hash: one uniform number per (seed, object) without making a generator for
    # each object (numpy offers no keyed draw). SplitMix64 (Steele, Lea & Flood 2014).
    z = values.astype(np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z


def _uniform(seed: int, ids: np.ndarray, stream: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        key = _splitmix64(
            np.asarray(ids, dtype=np.int64).astype(np.uint64) ^ _splitmix64(np.array([seed, stream]))[0]
        )
        key = _splitmix64(key ^ _splitmix64(np.array([stream], dtype=np.uint64))[0])
    return (key >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53) + 0.5 / 2**53


def _poisson(expected: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Poisson deviates by inverting the distribution at ``uniform`` (normal beyond 10^4 counts)."""
    from scipy.special import ndtri

    out = np.zeros(expected.shape)
    small = (expected > 0) & (expected < 1e4)
    out[small] = _poisson_quantile(expected[small], uniform[small])
    large = expected >= 1e4
    out[large] = np.round(expected[large] + np.sqrt(expected[large]) * ndtri(uniform[large]))
    return out


def _poisson_quantile(mean: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The smallest ``k`` with ``P(X <= k) >= p`` for ``X`` Poisson of ``mean``: scipy's ``poisson.ppf``.

    ``poisson.ppf`` inverts the continuous extension of the distribution by a numerical search
    for every value, which made it a third of the time a bulge exposure (50,000 sources) takes to
    make. Here the search starts from the Cornish-Fisher approximation and steps by one count to
    the answer, with the cumulative distribution (``scipy.special.pdtr``) checked at each step:
    the same definition, so the same numbers (equal to ``ppf`` in 2.2 million random draws of
    means from 1e-4 to 1e4), five times faster. Within 1e-12 of ``p = 1``, where the cumulative
    distribution rounds to 1 in double precision and the definition no longer decides, ``ppf``
    answers.

    Examples
    --------
    >>> from scipy.stats import poisson
    >>> mean, p = np.array([0.3, 4.0, 250.0, 9000.0]), np.array([0.9, 0.01, 0.5, 0.999])
    >>> bool((_poisson_quantile(mean, p) == poisson.ppf(p, mean)).all())
    True
    """
    from scipy.special import ndtri, pdtr
    from scipy.stats import poisson

    z = ndtri(p)
    k = np.maximum(np.floor(mean + np.sqrt(mean) * z + (z * z - 1) / 6), 0.0)
    rising = np.arange(len(k))
    while len(rising):  # below the answer: up one count
        rising = rising[pdtr(k[rising], mean[rising]) < p[rising]]
        k[rising] += 1
    falling = np.flatnonzero(k > 0)
    while len(falling):  # above it: down while the count below still reaches p
        falling = falling[pdtr(k[falling] - 1, mean[falling]) >= p[falling]]
        k[falling] -= 1
        falling = falling[k[falling] > 0]
    tail = p > 1 - 1e-12
    k[tail] = poisson.ppf(p[tail], mean[tail])
    return k


# ---------------------------------------------------------------------------- components
@dataclass(frozen=True)
class _Components:
    """Gaussians to draw: position (pixels), total counts, covariance (pixels^2), stamp radius."""

    x: np.ndarray
    y: np.ndarray
    counts: np.ndarray
    cxx: np.ndarray
    cxy: np.ndarray
    cyy: np.ndarray
    radius: np.ndarray  # one of _RADII
    circular: np.ndarray  # bool: integrate exactly (error functions, sigma^2 = cxx)

    @staticmethod
    def empty() -> _Components:
        nothing = np.zeros(0)
        return _Components(
            nothing, nothing, nothing, nothing, nothing, nothing, np.zeros(0, int), np.zeros(0, bool)
        )

    @staticmethod
    def join(parts: list[_Components]) -> _Components:
        if not parts:
            return _Components.empty()
        return _Components(*(np.concatenate([getattr(p, f) for p in parts]) for f in _COMPONENT_FIELDS))

    def take(self, index: np.ndarray) -> _Components:
        return _Components(*(getattr(self, f)[index] for f in _COMPONENT_FIELDS))


_COMPONENT_FIELDS = ("x", "y", "counts", "cxx", "cxy", "cyy", "radius", "circular")


def _stamp_radius(
    counts: np.ndarray, sigma_max: np.ndarray, peak_sigma: np.ndarray, floor: float
) -> np.ndarray:
    # Out to where the Gaussian falls below 1 % of the pixel noise, and at least 4 sigma (flux loss
    # < 3e-4), on a fixed ladder of sizes so components can be drawn together.
    peak = counts / (2 * math.pi * np.maximum(peak_sigma, 1e-3) ** 2)
    reach = sigma_max * np.sqrt(2 * np.log(np.maximum(peak / (0.01 * floor), 1.0)))
    radius = np.maximum(np.ceil(4 * sigma_max) + 1, np.ceil(reach))
    index = np.searchsorted(_RADII, np.minimum(radius, _MAX_RADIUS))
    return _RADII[np.minimum(index, len(_RADII) - 1)]


def _draw(block: np.ndarray, row0: int, parts: _Components) -> None:
    """Add ``parts`` to ``block`` (rows ``row0 ..``), pixel-integrated."""
    from scipy.special import ndtr

    height, width = block.shape
    flat = block.reshape(-1)
    for radius in np.unique(parts.radius):
        chosen = parts.take(np.flatnonzero(parts.radius == radius))
        size = 2 * int(radius) + 1
        chunk = max(1, 4_000_000 // (size * size))
        offsets = np.arange(-int(radius), int(radius) + 1)
        for start in range(0, len(chosen.x), chunk):
            c = chosen.take(np.arange(start, min(start + chunk, len(chosen.x))))
            cx, cy = np.rint(c.x).astype(np.int64), np.rint(c.y).astype(np.int64)
            px = cx[:, None] + offsets[None, :]  # (n, size) pixel columns
            if size > height:
                # a stamp taller than the block: only the block's rows (those outside the stamp are
                # masked below), the same pixels in the same order, so the same sums
                py = np.broadcast_to(row0 + np.arange(height)[None, :], (len(c.x), height))
                py = np.where(np.abs(py - cy[:, None]) <= radius, py, -1)
            else:
                py = cy[:, None] + offsets[None, :]
            dx = px - c.x[:, None]
            dy = py - c.y[:, None]
            values = np.empty((len(c.x), py.shape[1], size))
            circ = c.circular
            if circ.any():
                s = np.sqrt(c.cxx[circ])[:, None]
                ex = ndtr((dx[circ] + 0.5) / s) - ndtr((dx[circ] - 0.5) / s)
                ey = ndtr((dy[circ] + 0.5) / s) - ndtr((dy[circ] - 0.5) / s)
                values[circ] = ey[:, :, None] * ex[:, None, :] * c.counts[circ][:, None, None]
            ell = ~circ
            if ell.any():
                cxx, cxy, cyy = c.cxx[ell] + 1 / 12, c.cxy[ell], c.cyy[ell] + 1 / 12
                det = cxx * cyy - cxy * cxy
                ixx, ixy, iyy = cyy / det, -cxy / det, cxx / det
                ddx, ddy = dx[ell][:, None, :], dy[ell][:, :, None]
                q = (
                    ixx[:, None, None] * ddx**2
                    + 2 * ixy[:, None, None] * ddx * ddy
                    + iyy[:, None, None] * ddy**2
                )
                norm = c.counts[ell] / (2 * math.pi * np.sqrt(det))
                values[ell] = norm[:, None, None] * np.exp(-0.5 * q)
            rows = py - row0
            inside = (rows[:, :, None] >= 0) & (rows[:, :, None] < height) & (px[:, None, :] >= 0)
            inside &= px[:, None, :] < width
            index = rows[:, :, None] * width + px[:, None, :]
            flat += np.bincount(index[inside], weights=values[inside], minlength=flat.size)


# ---------------------------------------------------------------------------- exposure
def _as_wcs(wcs: Any) -> Any:
    from astropy.io import fits
    from astropy.wcs import WCS

    if isinstance(wcs, WCS):
        return wcs
    if isinstance(wcs, fits.Header | dict):
        return WCS(wcs)
    from roman_helpers.errors import InvalidParameterError

    raise InvalidParameterError(
        "wcs", type(wcs).__name__, hint="Give an astropy.wcs.WCS or a FITS header with a celestial WCS."
    )


@dataclass(frozen=True, eq=False)
class Exposure:
    """One image of the sky: a WCS, a shape, a band, an exposure and the units wanted.

    Parameters
    ----------
    wcs : astropy.wcs.WCS or astropy.io.fits.Header
        Celestial WCS of the image (0-based pixels as astropy counts them).
    shape : (ny, nx)
    band : str or Band
    exptime : float
        Seconds (per exposure, for a coadd).
    mjd : float
        Start of the exposure (transients are drawn at mid-exposure).
    seed : int
        Everything random about this image (noise, realised counts, cosmic rays) follows from it.
    units : str
        One of :data:`UNITS`.
    sky : float, optional
        Sky, electrons per second per native pixel; default the band's.
    read_noise : float, optional
        Electrons per native pixel; default the band's.
    gain : float
        Electrons per DN.
    detector : int, optional
        Fixes the dead and hot pixels (the same for every image of that detector); None: none.
    n_exposures : int
        A coadd of this many exposures: noise of their mean, no cosmic rays, no defects.
    cosmic_rays : bool
    psf_fwhm : float, optional
        Arcseconds; default the band's.

    Notes
    -----
    An exposure keeps what it has computed: its sources (with pixel positions and realised
    counts) and the Gaussians to draw (a few MB); its blocks are kept with every exposure's in
    one store of the last 768 MiB made (:class:`RecentBlocks`). Keep an exposure while its file
    is being read, and let it go after. It may be read from several threads; a block two
    threads ask for at once may be made twice, identically.

    Examples
    --------
    >>> from astropy.wcs import WCS
    >>> wcs = WCS(naxis=2)
    >>> wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    >>> wcs.wcs.crval = [9.45, -44.02]
    >>> wcs.wcs.crpix = [50.5, 50.5]
    >>> wcs.wcs.cdelt = [-0.11 / 3600, 0.11 / 3600]
    >>> image = Exposure(wcs, (100, 100), "H158", exptime=140.0, mjd=62100.0, seed=1)
    >>> sci, err, dq = image.rows(0, 100)
    >>> sci.shape, sci.dtype.name, bool((err > 0).all())
    ((100, 100), 'float32', True)
    >>> bool((image.rows(30, 40)[0] == sci[30:40]).all())
    True
    """

    wcs: Any
    shape: tuple[int, int]
    band: Band | str
    exptime: float
    mjd: float
    seed: int
    units: str = "electron"
    sky: float | None = None
    read_noise: float | None = None
    gain: float = 1.0
    detector: int | None = None
    n_exposures: int = 1
    cosmic_rays: bool = True
    psf_fwhm: float | None = None
    _token: int = field(default_factory=lambda: next(_TOKENS), init=False, repr=False)  # its blocks' key
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _layers: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    #: How many source components have been drawn (counts work, for tests of what a cut-out costs).
    rendered_components: int = field(default=0, init=False, repr=False)
    #: How many blocks have been made.
    made_blocks: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "wcs", _as_wcs(self.wcs))
        object.__setattr__(self, "band", band(self.band))
        object.__setattr__(self, "shape", (int(self.shape[0]), int(self.shape[1])))
        if self.units not in UNITS:
            from roman_helpers.errors import InvalidParameterError

            raise InvalidParameterError("units", self.units, UNITS)

    # -------------------------------------------------------------- derived numbers
    @property
    def filter(self) -> Band:
        """The band, as a :class:`~roman_helpers.sandbox.sky.bands.Band`."""
        assert isinstance(self.band, Band)
        return self.band

    @functools.cached_property
    def pixel_scale(self) -> float:
        """Mean pixel side, arcseconds."""
        from astropy.wcs.utils import proj_plane_pixel_scales

        return float(np.sqrt(np.prod(proj_plane_pixel_scales(self.wcs))) * 3600)

    @property
    def mid_mjd(self) -> float:
        """Middle of the exposure, MJD."""
        return self.mjd + self.exptime / 2 / 86400

    @functools.cached_property
    def sky_counts(self) -> float:
        """Sky in electrons per image pixel in the exposure."""
        rate = self.filter.sky_rate if self.sky is None else self.sky
        return rate * self.exptime * (self.pixel_scale / self.filter.pixel_scale) ** 2

    @functools.cached_property
    def _noise_floor(self) -> float:
        """Variance of an empty pixel of the exposure (read noise, sky, dark), electrons^2."""
        read = self.filter.read_noise if self.read_noise is None else self.read_noise
        area = (self.pixel_scale / self.filter.pixel_scale) ** 2
        dark = self.filter.dark_current * self.exptime * area
        return read**2 * area + self.sky_counts + dark

    @functools.cached_property
    def _psf(self) -> tuple[np.ndarray, np.ndarray]:
        fwhm = (self.filter.psf_fwhm if self.psf_fwhm is None else self.psf_fwhm) / self.pixel_scale
        weights, variances = _moffat(self.filter.psf_beta)
        return weights, variances * fwhm**2

    @functools.cached_property
    def _psf_coarse(self) -> tuple[np.ndarray, np.ndarray]:
        # three Gaussians are enough under an extended galaxy
        fwhm = (self.filter.psf_fwhm if self.psf_fwhm is None else self.psf_fwhm) / self.pixel_scale
        weights, variances = _moffat(self.filter.psf_beta, 3)
        return weights, variances * fwhm**2

    # -------------------------------------------------------------- the sources of this image
    @functools.cached_property
    def _footprint(self) -> tuple[float, float, float]:
        ny, nx = self.shape
        x = np.array([-0.5, nx - 0.5, nx - 0.5, -0.5, (nx - 1) / 2])
        y = np.array([-0.5, -0.5, ny - 0.5, ny - 0.5, (ny - 1) / 2])
        ra, dec = self.wcs.all_pix2world(x, y, 0)
        centre = sky_sources.unit_vectors(ra[4:], dec[4:])[:, 0]
        corners = sky_sources.unit_vectors(ra[:4], dec[:4])
        radius = float(np.degrees(np.arccos(np.clip(centre @ corners, -1, 1))).max())
        margin = _MAX_RADIUS * self.pixel_scale / 3600 / 4  # wings of bright stars beyond the edge
        return float(ra[4]), float(dec[4]), radius + margin

    @functools.cached_property
    def sources(self) -> sky_sources.Sources:
        """The sky's sources near enough to this image to put light on it."""
        ra, dec, radius = self._footprint
        return sky_sources.cone(ra, dec, radius)

    @functools.cached_property
    def _catalog(self) -> dict[str, np.ndarray]:
        """Every source near the image: id, kind, position, pixel, expected and realised counts, mag."""
        found = self.sources
        b = self.filter
        kinds = (
            ("star", found.stars, found.stars.mag(b)),
            ("galaxy", found.galaxies, found.galaxies.mag(b)),
            ("transient", found.transients, found.transients.mag(b, self.mid_mjd)),
        )
        ids = np.concatenate([k[1].object_id for k in kinds])
        ra = np.concatenate([k[1].ra for k in kinds])
        dec = np.concatenate([k[1].dec for k in kinds])
        mag = np.concatenate([k[2] for k in kinds])
        kind = np.concatenate([np.full(len(k[1]), i, np.int8) for i, k in enumerate(kinds)])
        if len(ids):
            x, y = self.wcs.all_world2pix(ra, dec, 0)
        else:
            x = y = np.zeros(0)
        with np.errstate(over="ignore"):
            expected = np.where(np.isfinite(mag), 10 ** (-0.4 * (mag - b.zeropoint)), 0.0) * self.exptime
        realized = _poisson(expected, _uniform(self.seed, ids, 1))
        return {
            "object_id": ids,
            "kind": kind,
            "ra": ra,
            "dec": dec,
            "x": np.asarray(x, float),
            "y": np.asarray(y, float),
            "expected": expected,
            "realized": realized,
            "mag": mag,
        }

    def realized(self) -> dict[str, np.ndarray]:
        """Every source near the image with its expected and realised electrons in this exposure.

        Returns
        -------
        dict of str to ndarray
            ``object_id``, ``kind`` (0 star, 1 galaxy, 2 transient), ``ra``, ``dec``, ``x``, ``y``
            (0-based pixels), ``expected`` and ``realized`` (electrons in the exposure), ``mag`` (AB
            in the band at mid-exposure; ``inf`` for a dark transient). Made without any pixel.
        """
        return {k: v.copy() for k, v in self._catalog.items()}

    @functools.cached_property
    def _components(self) -> _Components:
        cat = self._catalog
        floor = math.sqrt(self._noise_floor / max(self.n_exposures, 1))
        ny, nx = self.shape
        near = (cat["x"] > -_MAX_RADIUS) & (cat["x"] < nx + _MAX_RADIUS) & (cat["y"] > -_MAX_RADIUS)
        near &= (cat["y"] < ny + _MAX_RADIUS) & (cat["realized"] > 0)
        parts: list[_Components] = []
        point = near & (cat["kind"] != 1)
        weights, variances = self._psf
        if point.any():
            parts.append(
                self._points(
                    cat["x"][point], cat["y"][point], cat["realized"][point], weights, variances, floor
                )
            )
        galaxy = near & (cat["kind"] == 1)
        if galaxy.any():
            rows = np.flatnonzero(galaxy)
            first = len(self.sources.stars)  # the catalog lists stars, then galaxies, then transients
            parts.append(self._galaxies(self.sources.galaxies.take(rows - first), cat, rows, floor))
        return _Components.join(parts)

    @staticmethod
    def _points(
        x: np.ndarray,
        y: np.ndarray,
        counts: np.ndarray,
        weights: np.ndarray,
        variances: np.ndarray,
        floor: float,
    ) -> _Components:
        n, k = len(x), len(weights)
        cnt = (counts[:, None] * weights[None, :]).ravel()
        var = np.broadcast_to(variances[None, :], (n, k)).ravel()
        sigma = np.sqrt(var)
        radius = _stamp_radius(cnt, sigma, sigma, floor)
        # circular components: exact pixel integration (narrow) or with the pixel's variance (wide)
        return _Components(
            np.repeat(x, k),
            np.repeat(y, k),
            cnt,
            var,
            np.zeros(n * k),
            var.copy(),
            radius,
            np.ones(n * k, bool),
        )

    def _galaxies(
        self, galaxies: sky_sources.Galaxies, cat: dict[str, np.ndarray], rows: np.ndarray, floor: float
    ) -> _Components:
        x, y, counts = cat["x"][rows], cat["y"][rows], cat["realized"][rows]
        # local Jacobian d(pixel)/d(arcsec east, north), by finite differences through the WCS
        step = 1.0 / 3600
        cosd = np.cos(np.radians(galaxies.dec))
        xe, ye = self.wcs.all_world2pix(galaxies.ra + step / cosd, galaxies.dec, 0)
        xn, yn = self.wcs.all_world2pix(galaxies.ra, galaxies.dec + step, 0)
        jac = np.stack([np.stack([xe - x, xn - x], -1), np.stack([ye - y, yn - y], -1)], -2)  # (n, 2, 2)
        psf_w, psf_v = self._psf_coarse
        parts: list[_Components] = []
        for name, fraction, hlr, g1, g2 in (
            ("disk", 1 - galaxies.bulge_fraction, galaxies.disk_hlr, galaxies.disk_g1, galaxies.disk_g2),
            ("bulge", galaxies.bulge_fraction, galaxies.bulge_hlr, galaxies.bulge_g1, galaxies.bulge_g2),
        ):
            prof_w, prof_v = _sersic(1 if name == "disk" else 4)
            g1 = g1 + galaxies.shear1
            g2 = g2 + galaxies.shear2
            g = np.minimum(np.hypot(g1, g2), 0.95)
            q = (1 - g) / (1 + g)
            pa = 0.5 * np.arctan2(g2, g1)  # major axis, from north through east
            major = np.stack([np.sin(pa), np.cos(pa)], -1)  # (east, north)
            minor = np.stack([np.cos(pa), -np.sin(pa)], -1)
            shape_sky = (
                major[:, :, None] * major[:, None, :] / q[:, None, None]
                + minor[:, :, None] * minor[:, None, :] * q[:, None, None]
            ) * (hlr**2)[:, None, None]
            shape_pix = jac @ shape_sky @ np.swapaxes(jac, 1, 2)  # arcsec^2 -> pixel^2
            for pw, pv in zip(prof_w, prof_v, strict=True):
                for sw, sv in zip(psf_w, psf_v, strict=True):
                    weight = counts * fraction * pw * sw
                    keep = weight > 0
                    if not keep.any():
                        continue
                    cov = shape_pix[keep] * pv
                    cxx = cov[:, 0, 0] + sv
                    cyy = cov[:, 1, 1] + sv
                    cxy = cov[:, 0, 1]
                    det = cxx * cyy - cxy * cxy
                    small = 0.5 * (cxx + cyy) - np.sqrt(0.25 * (cxx - cyy) ** 2 + cxy**2)
                    large = cxx + cyy - small
                    narrow = small < _NARROW**2
                    circle = np.sqrt(np.sqrt(det))  # same area, for the narrow ones
                    cxx = np.where(narrow, circle**2, cxx)
                    cyy = np.where(narrow, circle**2, cyy)
                    cxy = np.where(narrow, 0.0, cxy)
                    sigma_max = np.sqrt(np.where(narrow, circle**2, large))
                    radius = _stamp_radius(weight[keep], sigma_max, np.sqrt(np.sqrt(det)), floor)
                    parts.append(_Components(x[keep], y[keep], weight[keep], cxx, cxy, cyy, radius, narrow))
        return _Components.join(parts)

    @functools.cached_property
    def _reach(self) -> tuple[np.ndarray, np.ndarray]:
        c = self._components
        return np.floor(c.y - c.radius).astype(np.int64), np.ceil(c.y + c.radius).astype(np.int64)

    # -------------------------------------------------------------- pixels
    def model_block(self, index: int) -> np.ndarray:
        """Expected electrons of the sources in block ``index`` (no sky, no noise), float64.

        The noiseless image of the sources: the Level-1 ramps accumulate it (and the sky).
        """
        return _PIXELS.get(
            (self._token, "model", index), lambda: self._draw_components(index, self._components, self._reach)
        )

    def _draw_components(
        self, index: int, components: _Components, reach: tuple[np.ndarray, np.ndarray]
    ) -> np.ndarray:
        ny, nx = self.shape
        row0 = index * BLOCK_ROWS
        height = min(BLOCK_ROWS, ny - row0)
        block = np.zeros((height, nx))
        low, high = reach
        touching = np.flatnonzero((high >= row0) & (low < row0 + height))
        with self._lock:
            object.__setattr__(self, "rendered_components", self.rendered_components + len(touching))
        if len(touching):
            _draw(block, row0, components.take(touching))
        return block

    def _block(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _PIXELS.get((self._token, "pixels", index), lambda: self._make_block(index))

    def _make_block(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from roman_datamodels.dqflags import pixel

        with self._lock:
            object.__setattr__(self, "made_blocks", self.made_blocks + 1)
        nx = self.shape[1]
        row0 = index * BLOCK_ROWS
        # drawn, not kept: once its pixels are kept, a block's model is not needed for them again
        sources = self._draw_components(index, self._components, self._reach)
        n = max(self.n_exposures, 1)
        variance = (self._noise_floor + np.maximum(sources, 0.0)) / n
        rng = np.random.default_rng([self.seed, index])
        noise = rng.standard_normal(sources.shape) * np.sqrt(variance)
        # the dark is subtracted in a calibrated image: its noise stays (in the floor), its level not
        sci = self.sky_counts + sources + noise
        dq = np.zeros(sources.shape, np.uint32)
        saturated = self.sky_counts + sources > _FULL_WELL
        dq[saturated] |= np.uint32(pixel.SATURATED)
        sci = np.where(saturated, _FULL_WELL, sci)
        if self.detector is not None and n == 1:
            dead, hot = _defects(int(self.detector), self.shape)
            for (yy, xx), flag, add in (
                (dead, pixel.DEAD | pixel.DO_NOT_USE, None),
                (hot, pixel.HOT, _HOT_RATE),
            ):
                rows = (yy >= row0) & (yy < row0 + sources.shape[0])
                ry, rx = yy[rows] - row0, xx[rows]
                dq[ry, rx] |= np.uint32(flag)
                if add is None:
                    sci[ry, rx] = 0.0
                else:
                    sci[ry, rx] += add * self.exptime
        if self.cosmic_rays and n == 1:
            hits = np.random.default_rng([self.seed, index, 1])
            count = hits.poisson(_CR_RATE * self.exptime * sources.size)
            ry, rx = hits.integers(0, sources.shape[0], count), hits.integers(0, nx, count)
            dq[ry, rx] |= np.uint32(pixel.JUMP_DET)
        err = np.sqrt(variance)
        scale = self._unit_scale
        return (sci * scale).astype(np.float32), (err * scale).astype(np.float32), dq

    @property
    def zeropoint(self) -> float:
        """AB magnitude of a source whose pixels add up to 1 in this image's units (FITS ``ZPTMAG``).

        Examples
        --------
        >>> from astropy.wcs import WCS
        >>> wcs = WCS(naxis=2)
        >>> wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        >>> wcs.wcs.cdelt = [-0.11 / 3600, 0.11 / 3600]
        >>> image = Exposure(wcs, (10, 10), "H158", exptime=100.0, mjd=62000.0, seed=0)
        >>> round(image.zeropoint - image.filter.zeropoint, 6)  # electrons in 100 s: +5 mag
        5.0
        """
        return self.filter.zeropoint + 2.5 * math.log10(self.exptime * self._unit_scale)

    @functools.cached_property
    def _unit_scale(self) -> float:
        b = self.filter
        per_second = 1.0 / self.exptime
        if self.units == "electron":
            return 1.0
        if self.units == "electron/native pixel/exposure":
            return (b.pixel_scale / self.pixel_scale) ** 2
        if self.units == "DN/s":
            return per_second / self.gain
        if self.units == "MJy/sr":
            return per_second * b.mjy_per_sr(self.pixel_scale)
        return per_second * AB_ZERO_JY * 1e9 * 10 ** (-0.4 * b.zeropoint)  # nJy

    def rows(self, y0: int, y1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Science, error and data-quality rows ``y0 .. y1 - 1`` (whole width).

        Parameters
        ----------
        y0, y1 : int
            0 <= y0 <= y1 <= ny.

        Returns
        -------
        sci, err : ndarray of float32
            In :attr:`units`.
        dq : ndarray of uint32
            ``roman_datamodels.dqflags.pixel`` flags.
        """
        ny, nx = self.shape
        if not 0 <= y0 <= y1 <= ny:
            from roman_helpers.errors import InvalidParameterError

            raise InvalidParameterError("rows", (y0, y1), hint=f"Give 0 <= y0 <= y1 <= {ny}.")
        out = [
            np.empty((y1 - y0, nx), np.float32),
            np.empty((y1 - y0, nx), np.float32),
            np.empty((y1 - y0, nx), np.uint32),
        ]
        for index in blocks(y0, y1):
            made = self._block(index)
            start = index * BLOCK_ROWS
            a, b = max(y0, start), min(y1, start + BLOCK_ROWS)
            for target, source in zip(out, made, strict=True):
                target[a - y0 : b - y0] = source[a - start : b - start]
        return out[0], out[1], out[2]


@functools.lru_cache(maxsize=32)
def _defects(
    detector: int, shape: tuple[int, int]
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng([sky_sources.SEED, 9, detector, shape[0], shape[1]])
    count = int(_DEFECT_FRACTION * shape[0] * shape[1])
    dead = (rng.integers(0, shape[0], count), rng.integers(0, shape[1], count))
    hot = (rng.integers(0, shape[0], count), rng.integers(0, shape[1], count))
    return dead, hot


# ---------------------------------------------------------------------------- per-image truth
def truth(exposure: Exposure) -> dict[str, np.ndarray]:
    """OpenUniverse's per-image truth (``Roman_TDS_index_*.txt``) of an exposure, without its pixels.

    Every source whose centre falls on the image and that gives light, galaxies, then stars, then
    transients (each in tile order).

    Returns
    -------
    dict of str to ndarray
        ``object_id``, ``ra``, ``dec`` (deg), ``x``, ``y`` (1-based pixels, FITS convention),
        ``realized_flux`` (the electrons drawn for this image), ``flux`` (expected electrons),
        ``mag`` (AB), ``obj_type`` (``"galaxy"``, ``"star"``, ``"transient"``).

    Examples
    --------
    >>> from astropy.wcs import WCS
    >>> wcs = WCS(naxis=2)
    >>> wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    >>> wcs.wcs.crval = [9.45, -44.02]
    >>> wcs.wcs.crpix = [500.5, 500.5]
    >>> wcs.wcs.cdelt = [-0.11 / 3600, 0.11 / 3600]
    >>> table = truth(Exposure(wcs, (1000, 1000), "F184", exptime=300.0, mjd=62200.0, seed=5))
    >>> sorted(set(table["obj_type"].tolist())) >= ["galaxy"]
    True
    >>> bool((table["x"] >= 0.5).all() and (table["x"] < 1000.5).all())
    True
    """
    cat = exposure._catalog
    ny, nx = exposure.shape
    on = (cat["x"] >= -0.5) & (cat["x"] < nx - 0.5) & (cat["y"] >= -0.5) & (cat["y"] < ny - 0.5)
    on &= cat["expected"] > 0
    order = np.concatenate([np.flatnonzero(on & (cat["kind"] == k)) for k in (1, 0, 2)])
    names = np.array(["star", "galaxy", "transient"])
    return {
        "object_id": cat["object_id"][order],
        "ra": cat["ra"][order],
        "dec": cat["dec"][order],
        "x": cat["x"][order] + 1,
        "y": cat["y"][order] + 1,
        "realized_flux": cat["realized"][order],
        "flux": cat["expected"][order],
        "mag": cat["mag"][order],
        "obj_type": names[cat["kind"][order]],
    }


# ---------------------------------------------------------------------------- coadds
#: The 15 layers of an OpenUniverse 2024 Wide Area Survey coadd (``prod_{b}_{col}_{row}_map.fits``,
#: HDU 0 of shape 1 x 15 x ny x nx), as IRSA's WAS notebook describes them. Layer 0 is the sky;
#: the others are the coadder's test layers, drawn here by their description.
COADD_LAYERS = (
    "science",  # 0: e- per 0.11" pixel area per exposure
    "lab noise",  # 1: dark-frame noise, e/(0.11")^2/s
    "stars, flux 1",  # 2: point sources on the HEALPix order-14 grid, total flux 1
    "noisy stars",  # 3: the same, 2.4e5 e- with their own Poisson noise and 86 e^2/input pixel of background
    "stars, one pass",  # 4: flux 1 in one of two passes (0.5 in the mean)
    "stars, varying flux",  # 5: flux 1, 5 % brighter at the field's edge than at its centre
    "extended objects",  # 6: exponential profiles, scale radius 0.125-0.5", |g| < 0.5, flux 1
    "extended, shear E-W",  # 7: layer 6 sheared by (g1, g2) = (0.02, 0)
    "extended, shear NNW-SSE",  # 8: (-0.01, 0.0173)
    "extended, shear NNE-SSW",  # 9: (-0.01, -0.0173)
    "1/f noise",  # 10: variance 1 per ln f
    "white noise 1",  # 11-14: unit variance per input pixel, four seeds
    "white noise 2",
    "white noise 3",
    "white noise 4",
)
_SHEARS = {7: (0.02, 0.0), 8: (-0.01, 0.02 * math.sqrt(3) / 2), 9: (-0.01, -0.02 * math.sqrt(3) / 2)}
_GRID_NSIDE = 2**14


def coadd_grid(exposure: Exposure) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where a coadd's injected objects (layers 2-9) sit: HEALPix order-14 pixel centres on it.

    Returns
    -------
    ids : ndarray of int64
        HEALPix nside 16384 NESTED indices.
    position : ndarray, shape (2, n)
        Their ra and dec, degrees.
    x, y : ndarray
        0-based pixel positions in the coadd.
    """
    import hpgeom

    cached = exposure._layers.get("grid")
    if cached is None:
        ny, nx = exposure.shape
        corner_x = np.array([-0.5, nx - 0.5, nx - 0.5, -0.5])
        corner_y = np.array([-0.5, -0.5, ny - 0.5, ny - 0.5])
        ra, dec = exposure.wcs.all_pix2world(corner_x, corner_y, 0)
        ids = np.unique(hpgeom.query_polygon(_GRID_NSIDE, ra, dec, inclusive=False, nest=True, lonlat=True))
        gra, gdec = hpgeom.pixel_to_angle(_GRID_NSIDE, ids, nest=True, lonlat=True)
        x, y = exposure.wcs.all_world2pix(gra, gdec, 0)
        cached = (np.asarray(ids, np.int64), np.asarray(gra), np.asarray(gdec), np.asarray(x), np.asarray(y))
        exposure._layers["grid"] = cached
    ids, gra, gdec, x, y = cached
    return ids, np.stack([gra, gdec]), x, y


def _layer_components(exposure: Exposure, layer: int) -> tuple[_Components, tuple[np.ndarray, np.ndarray]]:
    key = f"layer{layer}"
    if key in exposure._layers:
        return exposure._layers[key]
    ids, position, x, y = coadd_grid(exposure)
    ny, nx = exposure.shape
    native = (exposure.filter.pixel_scale / exposure.pixel_scale) ** 2  # the layer's unit is per 0.11" area
    floor = 1e-3
    if layer <= 5:
        flux = np.ones(len(ids))
        if layer == 3:
            flux = _poisson(np.full(len(ids), 2.4e5), _uniform(exposure.seed, ids, 3))
        elif layer == 4:
            flux = flux * 0.5
        elif layer == 5:
            edge = np.hypot(x - (nx - 1) / 2, y - (ny - 1) / 2) / np.hypot(nx / 2, ny / 2)
            flux = flux * (1 + 0.05 * edge)
        weights, variances = exposure._psf
        made = Exposure._points(x, y, flux / native, weights, variances, floor)
    else:
        count = len(ids)
        scale_radius = 0.125 * 4 ** _uniform(sky_sources.SEED, ids, 61)
        g = 0.5 * np.sqrt(_uniform(sky_sources.SEED, ids, 62))
        angle = 2 * math.pi * _uniform(sky_sources.SEED, ids, 63)
        g1, g2 = g * np.cos(angle), g * np.sin(angle)
        shear = _SHEARS.get(layer, (0.0, 0.0))
        zeros = np.zeros(count)
        objects = sky_sources.Galaxies(
            object_id=ids,
            ra=position[0],
            dec=position[1],
            redshift=zeros,
            redshift_hubble=zeros,
            mag_f158=zeros,
            red=zeros,
            bulge_fraction=zeros,
            disk_hlr=1.678 * scale_radius,  # half-light radius of an exponential profile
            bulge_hlr=np.full(count, 0.1),
            disk_g1=g1,
            disk_g2=g2,
            bulge_g1=zeros,
            bulge_g2=zeros,
            shear1=np.full(count, shear[0]),
            shear2=np.full(count, shear[1]),
            convergence=zeros,
            stellar_mass=zeros,
            mw_av=zeros,
        )
        rows = np.arange(count)
        made = exposure._galaxies(
            objects, {"x": x, "y": y, "realized": np.full(count, 1.0 / native)}, rows, floor
        )
    reach = (np.floor(made.y - made.radius).astype(np.int64), np.ceil(made.y + made.radius).astype(np.int64))
    exposure._layers[key] = (made, reach)
    return made, reach


def _one_over_f(exposure: Exposure, row0: int, height: int) -> np.ndarray:
    # A smooth random field with equal variance per logarithmic frequency interval, as a sum of
    # plane waves: a pure function of the pixel, so it does not depend on how rows are read.
    rng = np.random.default_rng([exposure.seed, 10])
    waves = 96
    ny, nx = exposure.shape
    frequency = np.exp(rng.uniform(math.log(1.0 / max(nx, ny)), math.log(0.5), waves))  # cycles per pixel
    direction = rng.uniform(0.0, 2 * math.pi, waves)
    phase = rng.uniform(0.0, 2 * math.pi, waves)
    span = math.log(0.5 * max(nx, ny))
    amplitude = math.sqrt(2 * span / waves)  # variance 1 per ln f over the span
    # cos(kx x + ky y + p) = cos(kx x) cos(ky y + p) - sin(kx x) sin(ky y + p): one matrix product
    kx = 2 * math.pi * frequency * np.cos(direction)
    ky = 2 * math.pi * frequency * np.sin(direction)
    xs = np.arange(nx)[None, :] * kx[:, None]
    ys = np.arange(row0, row0 + height)[None, :] * ky[:, None] + phase[:, None]
    along_x = np.concatenate([np.cos(xs), -np.sin(xs)])
    along_y = np.concatenate([np.cos(ys), np.sin(ys)])
    return amplitude * (along_y.T @ along_x)


def coadd_layer_rows(exposure: Exposure, layer: int, y0: int, y1: int) -> np.ndarray:
    """Rows ``y0 .. y1 - 1`` of layer ``layer`` (0-14) of an OpenUniverse WAS coadd of ``exposure``.

    ``exposure`` describes the coadd: its WCS and shape (the coadd's pixel), band, the exposure
    time of one input, ``n_exposures`` inputs, ``units="electron/native pixel/exposure"``,
    ``cosmic_rays=False``. Layer 0 is :meth:`Exposure.rows`' science; the others are drawn
    per :data:`COADD_LAYERS`, deterministically, in the same blocks.

    Returns
    -------
    ndarray of float32

    Examples
    --------
    >>> from astropy.wcs import WCS
    >>> wcs = WCS(naxis=2)
    >>> wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    >>> wcs.wcs.crval = [9.5, -44.1]
    >>> wcs.wcs.crpix = [100.5, 100.5]
    >>> wcs.wcs.cdelt = [-0.0390625 / 3600, 0.0390625 / 3600]
    >>> coadd = Exposure(
    ...     wcs,
    ...     (200, 200),
    ...     "H158",
    ...     exptime=140.0,
    ...     mjd=62000.0,
    ...     seed=7,
    ...     n_exposures=6,
    ...     cosmic_rays=False,
    ...     units="electron/native pixel/exposure",
    ... )
    >>> [coadd_layer_rows(coadd, k, 0, 200).shape for k in (0, 2, 6, 10, 11)] == [(200, 200)] * 5
    True
    """
    if not 0 <= layer < len(COADD_LAYERS):
        from roman_helpers.errors import InvalidParameterError

        raise InvalidParameterError("layer", layer, list(range(len(COADD_LAYERS))))
    if layer == 0:
        return exposure.rows(y0, y1)[0]
    ny, nx = exposure.shape
    out = np.empty((y1 - y0, nx), np.float32)
    for index in blocks(y0, y1):
        row0 = index * BLOCK_ROWS
        height = min(BLOCK_ROWS, ny - row0)
        rng = np.random.default_rng([exposure.seed, index, 100 + layer])
        if layer == 1:
            block = 0.004 * rng.standard_normal((height, nx))  # masked dark frames: a few 1e-3 e/p/s
        elif layer == 10:
            block = _one_over_f(exposure, row0, height)
        elif layer >= 11:
            block = rng.standard_normal((height, nx)) / math.sqrt(max(exposure.n_exposures, 1))
        else:
            components, reach = _layer_components(exposure, layer)
            block = exposure._draw_components(index, components, reach)
            if layer == 3:  # the noisy stars: background of 86 e^2 per input pixel, and their own noise
                native = (exposure.filter.pixel_scale / exposure.pixel_scale) ** 2
                variance = (86.0 / native + np.maximum(block, 0) / native) / max(exposure.n_exposures, 1)
                block = block + rng.standard_normal(block.shape) * np.sqrt(variance)
        a, b = max(y0, row0), min(y1, row0 + height)
        out[a - y0 : b - y0] = block[a - row0 : b - row0]
    return out


# ---------------------------------------------------------------------------- Level-1 ramps
#: Seconds between reads of a Roman WFI detector.
FRAME_TIME = 3.04
#: Reference pixels on each side of a Roman Level-1 frame (4096 = 4088 + 2 x 4).
REFERENCE_PIXELS = 4
_BIAS = 10_000.0  # DN
_READ_NOISE_ROMAN = 13.81 / math.sqrt(2)  # electrons per read: median CDS noise / sqrt(2)


def ramp_rows(
    exposure: Exposure, y0: int, y1: int, read_pattern: list[list[int]], gain: float = 2.0
) -> np.ndarray:
    """Rows ``y0 .. y1 - 1`` of the Level-1 resultants of ``exposure`` (a 4088 x 4088 Roman image).

    The frame is 4096 x 4096: the science pixels with :data:`REFERENCE_PIXELS` reference pixels
    (bias and read noise, no light) on every side. Resultant ``k`` is the mean of the reads
    ``read_pattern[k]`` (read ``n`` taken at ``n * FRAME_TIME`` s): the accumulated electrons of
    sky, dark and sources (the image's expected light, with Poisson noise growing along the
    ramp), plus read noise (the median CDS noise of the WFI detectors / sqrt 2 per read,
    averaged over the reads), over ``gain`` e-/DN, on a bias of about 10,000 DN fixed per
    detector. Made in the same 64-row blocks as the image (of the 4096-row frame), seeded per
    block, so any rows come out the same.

    Parameters
    ----------
    exposure : Exposure
    y0, y1 : int
        0 <= y0 <= y1 <= 4096.
    read_pattern : list of list of int
        Reads averaged into each resultant (a multi-accumulation table), 1-based, increasing.
    gain : float
        Electrons per DN.

    Returns
    -------
    ndarray of uint16, shape (n_resultants, y1 - y0, 4096)

    Examples
    --------
    >>> from astropy.wcs import WCS
    >>> wcs = WCS(naxis=2)
    >>> wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    >>> wcs.wcs.crval = [9.45, -44.02]
    >>> wcs.wcs.crpix = [2044.5, 2044.5]
    >>> wcs.wcs.cdelt = [-0.11 / 3600, 0.11 / 3600]
    >>> image = Exposure(wcs, (4088, 4088), "F158", exptime=139.8, mjd=62000.0, seed=2, detector=4)
    >>> ramp = ramp_rows(image, 2000, 2010, [[1], [2, 3], [4, 5, 6], [7]])
    >>> ramp.shape, ramp.dtype.name
    ((4, 10, 4096), 'uint16')
    >>> bool((ramp[-1].astype(int) - ramp[0].astype(int)).mean() > 0)
    True
    """
    ny, nx = exposure.shape
    border = REFERENCE_PIXELS
    full_y, full_x = ny + 2 * border, nx + 2 * border
    if not 0 <= y0 <= y1 <= full_y:
        from roman_helpers.errors import InvalidParameterError

        raise InvalidParameterError("rows", (y0, y1), hint=f"Give 0 <= y0 <= y1 <= {full_y}.")
    reads = [np.asarray(r, float) for r in read_pattern]
    mean_time = np.array([r.mean() * FRAME_TIME for r in reads])
    step = np.diff(np.concatenate([[0.0], mean_time]))
    read_sigma = np.array([_READ_NOISE_ROMAN / math.sqrt(len(r)) for r in reads])
    detector = 0 if exposure.detector is None else int(exposure.detector)
    sky_rate = exposure.sky_counts / exposure.exptime + exposure.filter.dark_current
    out = np.empty((len(reads), y1 - y0, full_x), np.uint16)
    for index in blocks(y0, y1):
        row0 = index * BLOCK_ROWS
        height = min(BLOCK_ROWS, full_y - row0)
        rate = np.zeros((height, full_x))
        science = np.arange(row0, row0 + height) - border  # science row of each frame row
        valid = (science >= 0) & (science < ny)
        if valid.any():
            first, last = int(science[valid][0]), int(science[valid][-1]) + 1
            model = np.vstack(
                [
                    exposure.model_block(b)[
                        max(first, b * BLOCK_ROWS) - b * BLOCK_ROWS : min(last, (b + 1) * BLOCK_ROWS)
                        - b * BLOCK_ROWS
                    ]
                    for b in blocks(first, last)
                ]
            )
            rate[valid, border : border + nx] = np.maximum(model, 0.0) / exposure.exptime + sky_rate
        rng = np.random.default_rng([exposure.seed, 2, index])
        bias = _BIAS + 150.0 * np.random.default_rng([sky_sources.SEED, 8, detector, index]).standard_normal(
            (height, full_x)
        )
        accumulated = np.zeros((height, full_x))
        frame = np.empty((len(reads), height, full_x))
        for k in range(len(reads)):
            accumulated += rate * step[k] + np.sqrt(rate * step[k]) * rng.standard_normal((height, full_x))
            frame[k] = bias + (accumulated + read_sigma[k] * rng.standard_normal((height, full_x))) / gain
        a, b = max(y0, row0), min(y1, row0 + height)
        out[:, a - y0 : b - y0] = np.clip(np.rint(frame[:, a - row0 : b - row0]), 0, 65535).astype(np.uint16)
    return out
