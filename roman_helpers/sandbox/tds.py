"""A Roman Time Domain Survey (TDS) field: one patch of sky seen at hundreds of epochs.

The field
    Pointings dithered around :data:`FIELD` every :data:`CADENCE` days for :data:`EPOCHS`
    visits, each visit one pointing per band of :data:`BANDS` (H158 then J129, minutes apart),
    so about a year and a half of survey. Each pointing images a small grid of detectors
    (:data:`DETECTORS`, WFI numbering: three detectors a column), a gap between them; the
    random dither (fixed generator, same numbers every build) puts the transient on different
    detectors at different epochs and off every detector at others. Static stars, and one
    transient at :data:`TRANSIENT` whose rate rises for :data:`RISE_DAYS` days to its peak at
    :data:`PEAK_MJD`, then declines exponentially (:func:`transient_rate`).

Units and photometry
    Point sources are circular Gaussians of the band's PSF FWHM whose pixel values sum to the
    source's counts. Each detector sees sky (``SKY_MEAN``), read noise and, for the sources, a
    Poisson draw of their counts (the per-image ``realized_flux``); ERR is the standard
    deviation of each pixel (sky, read noise and source counts), DQ flags a few dead pixels
    per detector (``DO_NOT_USE | DEAD``, value 0) and cosmic-ray hits (``JUMP_DET``, values
    already corrected). Gain is 1, so electrons and DN are the same number.

    * OpenUniverse FITS: SCI and ERR in electrons collected in the exposure (``BUNIT``);
      ``ZPTMAG`` is the AB magnitude of a source giving one electron in the image, so
      ``mag_AB = ZPTMAG - 2.5 log10(counts)``.
    * Roman level-2 ASDF: ``data`` and ``err`` in DN/s (the same image divided by the
      exposure time); ``meta.photometry.conversion_megajanskys`` converts DN/s to MJy/sr.
    * Truth: rates in electrons per second, ``mag_AB = zeropoint - 2.5 log10(rate)`` with the
      band's :attr:`FieldBand.zeropoint`.

Layouts (bucket, key)
    ``nasa-irsa-simulations``, under ``openuniverse2024/roman/preview/RomanTDS/``, as IRSA
    publishes OpenUniverse 2024: ``images/simple_model/{band}/{pointing}/
    Roman_TDS_simple_model_{band}_{pointing}_{sca}.fits.gz`` (HDU 0 no data; 1 SCI with the
    WCS, ``MJD-OBS``, ``EXPTIME``, ``FILTER``, ``SCA_NUM``, ``ZPTMAG``; 2 ERR; 3 DQ int32), the
    observation sequence ``Roman_TDS_obseq_11_6_23.fits`` (HDU 1: ``ra, dec, pa, date, filter,
    exptime``, row number = pointing) and per-image truth ``truth/{band}/{pointing}/
    Roman_TDS_index_{band}_{pointing}_{sca}.txt`` (``object_id ra dec x y realized_flux flux
    mag obj_type``, x and y 1-based, fluxes in electrons).

    ``stpubdata``, under ``roman/nexus/soc_simulations/tds/``: level-2 ``ImageModel`` files
    ``{band}/r{visit id}_0001_wfi{detector}_{band}_cal.asdf`` (roman_datamodels, lz4, a gwcs
    in ``meta.wcs``) of the same exposures, and ``truth/tds_{sources,light_curve,files}.ecsv``,
    the tables :func:`truth` returns.

The sandbox serves the small version (:data:`SIDE` pixels a side); :func:`build_full` writes
the same survey at the real detector size for benchmarks, on request only.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from roman_helpers.sandbox import synth

__all__ = [
    "BANDS",
    "CADENCE",
    "DETECTORS",
    "EPOCHS",
    "EXPTIME",
    "FIELD",
    "FULL_SIDE",
    "MISSES",
    "MJD_START",
    "OU_BUCKET",
    "OU_ROOT",
    "PEAK_MJD",
    "RISE_DAYS",
    "ROMAN_BUCKET",
    "ROMAN_PREFIX",
    "SIDE",
    "TRANSIENT",
    "FieldBand",
    "Pointing",
    "build_full",
    "objects",
    "pointings",
    "transient_rate",
    "truth",
]


@dataclass(frozen=True)
class FieldBand:
    """One filter of the survey and what the field looks like in it.

    Attributes
    ----------
    name : str
        OpenUniverse spelling (``"H158"``), used in the FITS layout.
    optical_element : str
        Roman spelling (``"F158"``), used in the ASDF layout.
    zeropoint : float
        AB magnitude of a source giving 1 electron per second.
    sky : float
        Mean sky, electrons per second per pixel.
    fwhm : float
        FWHM of the Gaussian PSF, pixels.
    peak_mag : float
        AB magnitude of the transient at its peak.
    decline_days : float
        e-folding time of the transient's decline, days.
    """

    name: str
    optical_element: str
    zeropoint: float
    sky: float
    fwhm: float
    peak_mag: float
    decline_days: float


BANDS = (
    FieldBand("H158", "F158", 26.40, 0.45, 2.6, 21.6, 32.0),
    FieldBand("J129", "F129", 26.30, 0.38, 2.3, 21.8, 24.0),
)
FIELD = (9.45, -44.09)  # field centre, ICRS degrees
TRANSIENT = (9.4508, -44.0905)  # the transient, ICRS degrees
TRANSIENT_ID = 30_000_001
DETECTORS = (1, 4)  # WFI detectors imaged at each pointing
EPOCHS = 110  # visits; each images every band
MISSES = 10  # visits a band whose dither leaves the transient off the detectors
CADENCE = 5.05  # days between visits
MJD_START = 62000.0
PEAK_MJD = 62203.25
RISE_DAYS = 18.0
EXPTIME = 302.275  # seconds, as the OpenUniverse TDS H158 and J129 exposures
READ_NOISE = 8.0  # electrons per pixel
SIDE = 128  # pixels a side of the sandbox's images
FULL_SIDE = 4088  # the real detector
PITCH = 1.05  # detector spacing in detector widths (the rest is the gap)
DITHER_MARGIN = 0.3  # dithers reach this far (detector widths) beyond the grid
STARS_PER_DETECTOR = 2.5
_SEED = 20281
_PIXEL_ARCSEC = synth.ROMAN_PIXEL_DEG * 3600

OU_BUCKET = "nasa-irsa-simulations"
OU_ROOT = "openuniverse2024/roman/preview/RomanTDS"
OBSEQ_KEY = f"{OU_ROOT}/Roman_TDS_obseq_11_6_23.fits"
ROMAN_BUCKET = "stpubdata"
ROMAN_PREFIX = "roman/nexus/soc_simulations/tds"
TRUTH_KEYS = {name: f"{ROMAN_PREFIX}/truth/tds_{name}.ecsv" for name in ("sources", "light_curve", "files")}
_PROGRAM = 21  # the 2026 file names: program 00021, plan 01, pass = visit number, observation = band


@dataclass(frozen=True)
class Pointing:
    """One row of the observation sequence: a boresight, a band and a time.

    Attributes
    ----------
    number : int
        Row of the observation sequence, the ``pointing`` of the OpenUniverse file names.
    epoch : int
        Visit number, 0-based.
    band : FieldBand
    mjd : float
        Exposure start (UTC), whole seconds.
    ra, dec : float
        Boresight (centre of the detector grid), degrees.
    sky_scale : float
        This exposure's sky relative to the band's mean.
    """

    number: int
    epoch: int
    band: FieldBand
    mjd: float
    ra: float
    dec: float
    sky_scale: float

    @property
    def visit_id(self) -> str:
        """19-digit Roman visit id of the exposure (program, plan, pass, segment, observation, visit)."""
        return f"{_PROGRAM:05d}01{self.epoch + 1:03d}001{BANDS.index(self.band) + 1:03d}001"


def _grid() -> dict[int, tuple[float, float]]:
    """Each detector's centre relative to the boresight, in detector widths (+x west, +y north)."""
    cells = {sca: ((sca - 1) // 3, (sca - 1) % 3) for sca in DETECTORS}  # WFI: three detectors a column
    mid_c = (min(c for c, _ in cells.values()) + max(c for c, _ in cells.values())) / 2
    mid_r = (min(r for _, r in cells.values()) + max(r for _, r in cells.values())) / 2
    return {sca: ((c - mid_c) * PITCH, (r - mid_r) * PITCH) for sca, (c, r) in cells.items()}


def _half_extent() -> tuple[float, float]:
    grid = _grid().values()
    return (max(abs(u) for u, _ in grid) + 0.5, max(abs(v) for _, v in grid) + 0.5)


#: One offset, or an array of them.
_Offsets = TypeVar("_Offsets", float, np.ndarray)


def _offset(ra: float, dec: float, west: _Offsets, north: _Offsets, side: int) -> tuple[_Offsets, _Offsets]:
    """Move (ra, dec) by ``west``/``north`` detector widths on the tangent plane (small angles)."""
    width = side * synth.ROMAN_PIXEL_DEG
    return ra - west * width / math.cos(math.radians(dec)), dec + north * width


def _detector_centre(pointing: Pointing, sca: int, side: int) -> tuple[float, float]:
    west, north = _grid()[sca]
    ra, dec = _offset(pointing.ra, pointing.dec, west, north, side)
    return round(ra, 9), round(dec, 9)


def _wcs(pointing: Pointing, sca: int, side: int):
    from astropy.wcs import WCS

    return WCS(synth.tan_header((side, side), *_detector_centre(pointing, sca, side), synth.ROMAN_PIXEL_DEG))


@functools.cache
def pointings(side: int = SIDE) -> tuple[Pointing, ...]:
    """Return the observation sequence: every visit, every band, in time order.

    Each pointing's dither is drawn so that the transient lands on one of its detectors (at a
    random place on a random detector) except at :data:`MISSES` visits a band, when it falls
    outside the detector grid or in a gap.

    Parameters
    ----------
    side : int
        Detector size in pixels; dithers are drawn in detector widths, so the transient lands
        on the same detectors at any size.

    Returns
    -------
    tuple of Pointing
        ``len(BANDS) * EPOCHS`` rows; row ``i`` has ``number == i``.

    Examples
    --------
    >>> rows = pointings()
    >>> len(rows), rows[0].band.name, rows[1].band.name
    (220, 'H158', 'J129')
    >>> round(rows[-1].mjd - rows[0].mjd)
    550
    """
    rng = np.random.default_rng(_SEED)
    grid = _grid()
    reach_x, reach_y = (extent + DITHER_MARGIN for extent in _half_extent())
    missed = {band.name: set(rng.choice(EPOCHS, MISSES, replace=False).tolist()) for band in BANDS}
    rows: list[Pointing] = []
    for epoch in range(EPOCHS):
        start = MJD_START + epoch * CADENCE + rng.uniform(-0.3, 0.3)
        for index, band in enumerate(BANDS):
            seconds = round((start - MJD_START) * 86400 + index * (EXPTIME + 120.0))
            sky_scale = round(float(rng.uniform(0.85, 1.25)), 4)
            while True:  # where the transient falls, in detector widths from the boresight
                if epoch in missed[band.name]:
                    west, north = rng.uniform(-reach_x, reach_x), rng.uniform(-reach_y, reach_y)
                else:
                    centre = grid[DETECTORS[rng.integers(len(DETECTORS))]]
                    west, north = centre[0] + rng.uniform(-0.48, 0.48), centre[1] + rng.uniform(-0.48, 0.48)
                ra, dec = (round(v, 9) for v in _offset(*TRANSIENT, -west, -north, side))
                row = Pointing(len(rows), epoch, band, MJD_START + seconds / 86400, ra, dec, sky_scale)
                holding = [_holds(*_target_pixel(row, sca, side), side) for sca in DETECTORS]
                near_edge = any(_edge_distance(row, sca, side) <= 0.05 for sca in DETECTORS)
                if not near_edge and any(holding) != (epoch in missed[band.name]):
                    break
            rows.append(row)
    return tuple(rows)


@functools.cache
def _target_pixel(pointing: Pointing, sca: int, side: int) -> tuple[float, float]:
    x, y = _wcs(pointing, sca, side).wcs_world2pix([TRANSIENT], 0)[0]
    return float(x), float(y)


def _edge_distance(pointing: Pointing, sca: int, side: int) -> float:
    x, y = _target_pixel(pointing, sca, side)
    return min(abs(x + 0.5), abs(side - 0.5 - x), abs(y + 0.5), abs(side - 0.5 - y))


def _holds(x: float, y: float, side: int) -> bool:
    return -0.5 < x < side - 0.5 and -0.5 < y < side - 0.5


def transient_rate(band: FieldBand | str, mjd: float | np.ndarray) -> np.ndarray:
    """Return the transient's rate (electrons per second) in ``band`` at ``mjd``.

    Zero before ``PEAK_MJD - RISE_DAYS``, then a quadratic rise to the band's peak, then an
    exponential decline with the band's ``decline_days``.

    Parameters
    ----------
    band : FieldBand or str
        A band of :data:`BANDS`, or its name in either spelling (``"H158"`` or ``"F158"``).
    mjd : float or array

    Returns
    -------
    ndarray of float

    Examples
    --------
    >>> float(transient_rate("H158", PEAK_MJD)) == 10 ** (0.4 * (26.40 - 21.6))
    True
    >>> float(transient_rate("F129", PEAK_MJD - RISE_DAYS - 1))
    0.0
    """
    band = _band(band)
    t = np.asarray(mjd, dtype=float)
    peak = 10 ** (0.4 * (band.zeropoint - band.peak_mag))
    rise = peak * np.clip((t - (PEAK_MJD - RISE_DAYS)) / RISE_DAYS, 0, None) ** 2
    return np.where(t <= PEAK_MJD, rise, peak * np.exp(-(t - PEAK_MJD) / band.decline_days))


def _band(band: FieldBand | str) -> FieldBand:
    if isinstance(band, FieldBand):
        return band
    for known in BANDS:
        if str(band).upper() in (known.name, known.optical_element):
            return known
    from roman_helpers.errors import InvalidParameterError

    raise InvalidParameterError("band", band, [b.name for b in BANDS] + [b.optical_element for b in BANDS])


@functools.cache
def _stars(side: int):
    """Static stars around the field: id, ra, dec and an AB magnitude per band (transient kept clear)."""
    rng = np.random.default_rng(_SEED + 1)
    reach_x, reach_y = (2 * extent + DITHER_MARGIN for extent in _half_extent())  # as far as images reach
    count = int(STARS_PER_DETECTOR * 4 * reach_x * reach_y)
    west, north = rng.uniform(-reach_x, reach_x, count), rng.uniform(-reach_y, reach_y, count)
    mag = rng.uniform(18.0, 23.5, count)
    colour = rng.uniform(0.0, 0.6, count)
    ra, dec = _offset(FIELD[0], FIELD[1], west, north, side)
    clear = np.hypot((ra - TRANSIENT[0]) * math.cos(math.radians(FIELD[1])), dec - TRANSIENT[1]) * 3600 > 2.5
    ids = 20_000_001 + np.arange(count)
    return {
        "object_id": ids[clear],
        "ra": np.round(ra[clear], 8),
        "dec": np.round(dec[clear], 8),
        BANDS[0].name: np.round(mag[clear], 3),
        BANDS[1].name: np.round(mag[clear] - colour[clear], 3),
    }


# ------------------------------------------------------------------ one exposure
@dataclass
class _Exposure:
    pointing: Pointing
    sca: int
    side: int
    header: Any  # SCI header: WCS and the exposure's keywords
    sci: np.ndarray  # electrons, float32
    err: np.ndarray  # electrons, float32
    dq: np.ndarray  # uint32 flags
    sky: float  # electrons per pixel
    rows: list[str]  # per-image truth lines

    @property
    def centre(self) -> tuple[float, float]:
        return _detector_centre(self.pointing, self.sca, self.side)

    @property
    def start(self) -> str:
        from astropy.time import Time

        return Time(self.pointing.mjd, format="mjd", scale="utc").isot


@functools.cache
def _dead_pixels(sca: int, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Return a detector's dead pixels (x, y).

    None lies within 8 pixels of where the transient falls on the detector at any epoch, so
    photometry of the transient never loses its core.
    """
    rng = np.random.default_rng([_SEED, 99, sca, side])
    track = np.array([_target_pixel(p, sca, side) for p in pointings(side)])
    x, y = rng.integers(0, side, (2, 20 * max(2, side * side // 5000)))
    clear = np.array([np.hypot(*(track - (i, j)).T).min() > 8 for i, j in zip(x, y, strict=True)])
    keep = np.flatnonzero(clear)[: max(2, side * side // 5000)]
    return x[keep], y[keep]


def _sources(pointing: Pointing, side: int):
    """Every object's id, position, type and rate (electrons per second) at this pointing's time."""
    stars = _stars(side)
    band = pointing.band
    ids = np.append(stars["object_id"], TRANSIENT_ID)
    ra, dec = np.append(stars["ra"], TRANSIENT[0]), np.append(stars["dec"], TRANSIENT[1])
    rate = np.append(10 ** (0.4 * (band.zeropoint - stars[band.name])), transient_rate(band, pointing.mjd))
    kind = np.array(["star"] * len(stars["ra"]) + ["transient"])
    return ids, ra, dec, kind, rate


def _expose(
    pointing: Pointing, sca: int, side: int, background: tuple[np.ndarray, float] | None = None
) -> _Exposure:
    """Render one detector of one pointing (``background``: a shared noise image, for full size)."""
    from roman_datamodels.dqflags import pixel

    band = pointing.band
    rng = np.random.default_rng([_SEED, pointing.number, sca, side])
    from astropy.wcs import WCS

    header = synth.tan_header((side, side), *_detector_centre(pointing, sca, side), synth.ROMAN_PIXEL_DEG)
    wcs = WCS(header)
    ids, ra, dec, kind, rate = _sources(pointing, side)
    x, y = wcs.wcs_world2pix(np.column_stack([ra, dec]), 0).T
    sigma = band.fwhm / (2 * math.sqrt(2 * math.log(2)))
    near = (x > -5 * sigma) & (x < side - 1 + 5 * sigma) & (y > -5 * sigma) & (y < side - 1 + 5 * sigma)
    counts = rate * EXPTIME
    realized = rng.poisson(counts).astype(float)
    source = np.zeros((side, side))
    synth.render(source, x[near], y[near], realized[near], np.full(near.sum(), sigma))

    sky = round(band.sky * pointing.sky_scale * EXPTIME, 3)
    if background is None:
        noise = rng.standard_normal((side, side)) * math.sqrt(READ_NOISE**2 + sky)
    else:  # full size: epochs share one noise image, scaled to this exposure's sky
        noise = background[0] * math.sqrt(READ_NOISE**2 + sky) / background[1]
    sci = (sky + source + noise).astype(np.float32)
    err = np.sqrt(READ_NOISE**2 + sky + source).astype(np.float32)
    dq = np.zeros((side, side), np.uint32)
    hits = rng.integers(0, side, (2, max(1, side * side // 1000)))
    dq[hits[1], hits[0]] |= pixel.JUMP_DET
    dead_x, dead_y = _dead_pixels(sca, side)
    dq[dead_y, dead_x] |= pixel.DO_NOT_USE | pixel.DEAD
    sci[dead_y, dead_x] = 0.0

    header["BUNIT"] = ("electron", "electrons collected in the exposure")
    header["MJD-OBS"] = (pointing.mjd, "exposure start, MJD (UTC)")
    header["EXPTIME"] = (EXPTIME, "exposure time, s")
    header["FILTER"] = (band.name, "filter")
    header["SCA_NUM"] = (sca, "WFI detector")
    header["ZPTMAG"] = (
        round(band.zeropoint + 2.5 * math.log10(EXPTIME), 6),
        "AB mag of 1 electron in this image",
    )
    header["SKY_MEAN"] = (sky, "mean sky, electrons per pixel")
    header["ORIENTAT"] = (0.0, "position angle of the image y axis, deg E of N")
    header["PSF_FWHM"] = (round(band.fwhm * _PIXEL_ARCSEC, 4), "Gaussian PSF FWHM, arcsec")
    header["GAIN"] = (1.0, "electrons per DN")

    rows = []
    on = (x > -0.5) & (x < side - 0.5) & (y > -0.5) & (y < side - 0.5) & (counts > 0)
    for i in np.flatnonzero(on):
        mag = band.zeropoint - 2.5 * math.log10(rate[i])
        rows.append(
            f"{ids[i]} {ra[i]:.8f} {dec[i]:.8f} {x[i] + 1:.4f} {y[i] + 1:.4f} "
            f"{realized[i]:.1f} {counts[i]:.4f} {mag:.4f} {kind[i]}"
        )
    return _Exposure(pointing, sca, side, header, sci, err, dq, sky, rows)


@functools.lru_cache(maxsize=4)
def _small_exposure(number: int, sca: int) -> _Exposure:
    # the FITS, truth and ASDF objects of one exposure are written one after the other
    return _expose(pointings(SIDE)[number], sca, SIDE)


# ------------------------------------------------------------------ writers
def _write_fits(path: Path, exposure: _Exposure) -> Path:
    from astropy.io import fits

    primary = fits.PrimaryHDU()
    primary.header.update(TELESCOP="Roman", INSTRUME="WFI", ORIGIN="roman-helpers sandbox (synthetic)")
    primary.header.extend(exposure.header.cards)  # OpenUniverse repeats the WCS and keywords in HDU 0
    extension = exposure.header
    hdus = fits.HDUList(
        [
            primary,
            fits.ImageHDU(exposure.sci, header=extension, name="SCI"),
            fits.ImageHDU(exposure.err, header=extension, name="ERR"),
            fits.ImageHDU(exposure.dq.astype(np.int32), header=extension, name="DQ"),
        ]
    )
    return synth.write_gzip_fits(hdus, path)


def _write_index(path: Path, exposure: _Exposure) -> Path:
    path.write_text(
        "# object_id ra dec x y realized_flux flux mag obj_type\n"
        + "".join(row + "\n" for row in exposure.rows)
    )
    return path


def _write_cal(path: Path, exposure: _Exposure) -> Path:
    import astropy.units as u
    import roman_datamodels.datamodels as dm
    from astropy.time import Time

    from roman_helpers.sandbox.data import _roman_ids

    pointing, side = exposure.pointing, exposure.side
    ra, dec = exposure.centre
    model = dm.ImageModel.create_fake_data(shape=(side, side))
    synth._roman_meta(
        model,
        detector=exposure.sca,
        optical_element=pointing.band.optical_element,
        ra=ra,
        dec=dec,
        start=exposure.start,
        filename=path.name,
        ids=_roman_ids(_cal_key(pointing, exposure.sca).rsplit("/", 1)[1]),
    )
    model.meta.exposure.exposure_time = EXPTIME
    model.meta.exposure.end_time = Time(exposure.start) + EXPTIME * u.s
    pixel_sr = (synth.ROMAN_PIXEL_DEG * math.pi / 180) ** 2
    model.meta.photometry.pixel_area = pixel_sr
    model.meta.photometry.conversion_megajanskys = 3631e-6 * 10 ** (-0.4 * pointing.band.zeropoint) / pixel_sr
    model.meta.photometry.conversion_megajanskys_uncertainty = 0.0
    model.meta.wcs = synth.tan_gwcs((side, side), ra, dec, synth.ROMAN_PIXEL_DEG)
    model.data = exposure.sci / np.float32(EXPTIME)
    # float16 in the newest schemas, float32 in older roman_datamodels: keep what the model was made with
    model.err = (exposure.err / np.float32(EXPTIME)).astype(model.err.dtype)
    variance = exposure.err.astype(np.float64) ** 2 - READ_NOISE**2  # sky and source counts
    model.var_poisson = (variance / EXPTIME**2).astype(model.var_poisson.dtype)
    model.dq = exposure.dq
    synth._save_reproducibly(model, path, exposure.start)  # also orders the extension history
    return path


def _write_obseq(path: Path, side: int) -> Path:
    from astropy.io import fits

    rows = pointings(side)
    columns = [
        fits.Column(name="ra", format="D", unit="deg", array=[p.ra for p in rows]),
        fits.Column(name="dec", format="D", unit="deg", array=[p.dec for p in rows]),
        fits.Column(name="pa", format="D", unit="deg", array=np.zeros(len(rows))),
        fits.Column(name="date", format="D", unit="d", array=[p.mjd for p in rows]),
        fits.Column(name="filter", format="4A", array=[p.band.name for p in rows]),
        fits.Column(name="exptime", format="D", unit="s", array=np.full(len(rows), EXPTIME)),
    ]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns)]).writeto(path, overwrite=True)
    return path


def _write_table(path: Path, name: str, side: int) -> Path:
    _truth(side)[name].write(path, format="ascii.ecsv", overwrite=True)
    return path


def _planned_fits(path: Path, *, number: int, sca: int) -> Path:
    return _write_fits(path, _small_exposure(number, sca))


def _planned_index(path: Path, *, number: int, sca: int) -> Path:
    return _write_index(path, _small_exposure(number, sca))


def _planned_cal(path: Path, *, number: int, sca: int) -> Path:
    return _write_cal(path, _small_exposure(number, sca))


# ------------------------------------------------------------------ keys and truth
def _fits_key(pointing: Pointing, sca: int) -> str:
    band = pointing.band.name
    return (
        f"{OU_ROOT}/images/simple_model/{band}/{pointing.number}/"
        f"Roman_TDS_simple_model_{band}_{pointing.number}_{sca}.fits.gz"
    )


def _index_key(pointing: Pointing, sca: int) -> str:
    band = pointing.band.name
    return f"{OU_ROOT}/truth/{band}/{pointing.number}/Roman_TDS_index_{band}_{pointing.number}_{sca}.txt"


def _cal_key(pointing: Pointing, sca: int) -> str:
    band = pointing.band.optical_element.lower()
    return f"{ROMAN_PREFIX}/{band}/r{pointing.visit_id}_0001_wfi{sca:02d}_{band}_cal.asdf"


@functools.cache
def _truth(side: int) -> dict[str, Any]:
    import astropy.units as u
    from astropy.table import Table

    stars = _stars(side)
    described = {
        "field_ra": FIELD[0],
        "field_dec": FIELD[1],
        "transient_id": TRANSIENT_ID,
        "transient_ra": TRANSIENT[0],
        "transient_dec": TRANSIENT[1],
        "peak_mjd": PEAK_MJD,
        "rise_days": RISE_DAYS,
        "exptime_s": EXPTIME,
        "read_noise_e": READ_NOISE,
        "gain_e_per_dn": 1.0,
        "detector_pixels": side,
        "pixel_arcsec": _PIXEL_ARCSEC,
        "bands": {
            b.name: {
                "optical_element": b.optical_element,
                "zeropoint_ab_1e_per_s": b.zeropoint,
                "psf_fwhm_pixels": b.fwhm,
                "peak_mag_ab": b.peak_mag,
                "decline_days": b.decline_days,
            }
            for b in BANDS
        },
        "units": "flux: electrons per second (= DN/s, gain 1); counts: electrons in the exposure; "
        "mag: AB, zeropoint - 2.5 log10(flux); FITS ZPTMAG = zeropoint + 2.5 log10(EXPTIME)",
    }
    sources = Table(
        {
            "object_id": np.append(stars["object_id"], TRANSIENT_ID),
            "obj_type": ["star"] * len(stars["ra"]) + ["transient"],
            "ra": np.append(stars["ra"], TRANSIENT[0]) * u.deg,
            "dec": np.append(stars["dec"], TRANSIENT[1]) * u.deg,
            **{f"mag_{b.name}": np.append(stars[b.name], b.peak_mag) for b in BANDS},
        },
        meta={"description": "Static stars and the transient (its peak magnitudes)", **described},
    )
    rows = pointings(side)
    rate = np.array([float(transient_rate(p.band, p.mjd)) for p in rows])
    with np.errstate(divide="ignore"):
        mag = np.where(rate > 0, np.array([p.band.zeropoint for p in rows]) - 2.5 * np.log10(rate), np.nan)
    light_curve = Table(
        {
            "pointing": [p.number for p in rows],
            "band": [p.band.name for p in rows],
            "optical_element": [p.band.optical_element for p in rows],
            "mjd": [p.mjd for p in rows] * u.d,
            "flux": rate * u.electron / u.s,
            "counts": rate * EXPTIME * u.electron,
            "mag": mag,
        },
        meta={"description": "The transient at every exposure start (model values)", **described},
    )
    columns = (
        "layout",
        "bucket",
        "key",
        "band",
        "optical_element",
        "pointing",
        "sca",
        "mjd",
        "holds_target",
        "x",
        "y",
        "truth_key",
    )
    files: dict[str, list] = {name: [] for name in columns}
    for layout in ("openuniverse", "roman"):
        for p in rows:
            for sca in DETECTORS:
                x, y = _target_pixel(p, sca, side)
                openuniverse = layout == "openuniverse"
                values = (
                    layout,
                    OU_BUCKET if openuniverse else ROMAN_BUCKET,
                    _fits_key(p, sca) if openuniverse else _cal_key(p, sca),
                    p.band.name,
                    p.band.optical_element,
                    p.number,
                    sca,
                    p.mjd,
                    _holds(x, y, side),
                    round(x, 4),
                    round(y, 4),
                    _index_key(p, sca) if openuniverse else "",
                )
                for name, value in zip(files, values, strict=True):
                    files[name].append(value)
    files_table = Table(
        files,
        meta={
            "description": "Every image; holds_target: the transient's position "
            "is on its pixel grid; x, y: its 0-based pixel",
            **described,
        },
    )
    files_table["mjd"].unit = u.d
    return {"sources": sources, "light_curve": light_curve, "files": files_table}


def truth(size: str = "small") -> dict[str, Any]:
    """Return the field's truth: its sources, the transient's light curve and every image.

    Parameters
    ----------
    size : {"small", "full"}
        The sandbox's images (``"small"``) or those of :func:`build_full`.

    Returns
    -------
    dict of str to astropy.table.Table
        ``"sources"`` (object_id, obj_type, ra, dec, ``mag_<band>``: AB magnitudes, the
        transient's at its peak), ``"light_curve"`` (pointing, band, optical_element, mjd,
        flux in electrons per second, counts in electrons, AB mag; one row per exposure) and
        ``"files"`` (layout ``"openuniverse"`` or ``"roman"``, bucket, key, band, optical_element,
        pointing, sca, mjd, holds_target, x and y: the transient's 0-based pixel, truth_key: the per-image
        truth file). Each table's ``meta`` holds the field, zero points, PSF and units. The
        sandbox stores the same tables as ECSV in ``stpubdata`` (:data:`TRUTH_KEYS`).

    Examples
    --------
    >>> tables = truth()
    >>> lc = tables["light_curve"]
    >>> int((lc["band"] == "H158").sum()) >= 100
    True
    >>> files = tables["files"]
    >>> 0 < int(files["holds_target"].sum()) < len(files)
    True
    """
    if size not in ("small", "full"):
        from roman_helpers.errors import InvalidParameterError

        raise InvalidParameterError("size", size, ["small", "full"])
    return {name: table.copy() for name, table in _truth(SIDE if size == "small" else FULL_SIDE).items()}


# ------------------------------------------------------------------ what the sandbox serves
def objects(size: str = "small") -> Iterator[Any]:
    """Yield the sandbox's TDS objects as :class:`~roman_helpers.sandbox.data.PlannedObject`.

    The sandbox's ``"full"`` size keeps these images small (hundreds of full-size images
    would not fit a laptop); :func:`build_full` writes full-size ones on request.

    Parameters
    ----------
    size : {"small", "full"}

    Yields
    ------
    PlannedObject
        The observation sequence, the truth tables, then per exposure its FITS image, its
        per-image truth and its level-2 ASDF file.

    Examples
    --------
    >>> planned = list(objects())
    >>> sum(o.key.endswith(".fits.gz") for o in planned) == len(pointings()) * len(DETECTORS)
    True
    """
    from roman_helpers.sandbox.data import PlannedObject

    yield PlannedObject(OU_BUCKET, OBSEQ_KEY, _write_obseq, {"side": SIDE})
    for name, key in TRUTH_KEYS.items():
        yield PlannedObject(ROMAN_BUCKET, key, _write_table, {"name": name, "side": SIDE})
    for p in pointings(SIDE):
        for sca in DETECTORS:
            which = {"number": p.number, "sca": sca}
            yield PlannedObject(OU_BUCKET, _fits_key(p, sca), _planned_fits, which)
            yield PlannedObject(OU_BUCKET, _index_key(p, sca), _planned_index, which)
            yield PlannedObject(ROMAN_BUCKET, _cal_key(p, sca), _planned_cal, which)


# ------------------------------------------------------------------ full size, for benchmarks
def _near_peak(epochs: int) -> list[int]:
    by_distance = sorted(range(EPOCHS), key=lambda e: (abs(MJD_START + e * CADENCE - PEAK_MJD), e))
    return sorted(by_distance[:epochs])


def build_full(
    directory: str | os.PathLike,
    *,
    epochs: int = 8,
    layouts: Iterable[str] = ("openuniverse", "roman"),
    progress: bool = True,
):
    """Write the survey at the real detector size (4088 x 4088) into ``directory``.

    Every image is its own file with its own header, time and sources, but the epochs of a
    band and detector share one noise image (scaled to each exposure's sky), which saves most
    of the generation time. A second call with the same arguments reuses the files.

    Parameters
    ----------
    directory : path
        Files go to ``directory/<bucket>/<key>``, with ``manifest.json`` beside them.
    epochs : int
        Visits to write (each in every band and detector): the ones nearest the transient's
        peak. About 130 MB per visit, band and detector for both layouts.
    layouts : iterable of {"openuniverse", "roman"}
        FITS (``.fits.gz``, with per-image truth) and/or level-2 ASDF.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    roman_helpers.sandbox.data.Manifest
        The files written (with the observation sequence and the truth tables for this size),
        ready for :class:`~roman_helpers.sandbox.services.s3.S3Server` and
        :class:`~roman_helpers.sandbox.services.irsa.IrsaServer`.

    Examples
    --------
    A single epoch in both layouts writes 16 images of 4088 x 4088 pixels (over a gigabyte),
    too much for an example that runs on every test run, so this one call is not run:

    >>> manifest = build_full("tds-full", epochs=1)  # doctest: +SKIP
    """
    import sys

    from tqdm.auto import tqdm

    from roman_helpers.sandbox import data

    layouts = tuple(layouts)
    unknown = set(layouts) - {"openuniverse", "roman"}
    if unknown or not 1 <= epochs <= EPOCHS:
        from roman_helpers.errors import InvalidParameterError

        if unknown:
            raise InvalidParameterError("layout", sorted(unknown)[0], ["openuniverse", "roman"])
        raise InvalidParameterError("epochs", epochs, hint=f"Give a number of visits from 1 to {EPOCHS}.")
    root = Path(directory)
    stamp = hashlib.sha256(
        Path(__file__).read_bytes() + Path(synth.__file__).read_bytes() + repr((epochs, layouts)).encode()
    ).hexdigest()[:12]
    try:
        stored = json.loads((root / "manifest.json").read_text())
        if stored.get("stamp") == stamp:
            return data.Manifest(root, [data.Entry(**e) for e in stored["objects"]], "full")
    except (OSError, ValueError):
        pass

    side, chosen = FULL_SIDE, set(_near_peak(epochs))
    plan: list[tuple[str, str, Any]] = [(OU_BUCKET, OBSEQ_KEY, functools.partial(_write_obseq, side=side))]
    plan += [
        (ROMAN_BUCKET, key, functools.partial(_write_table, name=name, side=side))
        for name, key in TRUTH_KEYS.items()
    ]
    entries = []

    def store(bucket: str, key: str, write) -> None:
        target = root / bucket / key
        target.parent.mkdir(parents=True, exist_ok=True)
        write(target)
        entries.append(
            data.Entry(
                bucket, key, f"{bucket}/{key}", target.stat().st_size, data._md5(target), data.BUCKETS[bucket]
            )
        )

    for bucket, key, write in plan:
        store(bucket, key, write)
    selected = [p for p in pointings(side) if p.epoch in chosen]
    jobs = [(band, sca) for band in BANDS for sca in DETECTORS]
    bar = tqdm(
        total=len(selected) * len(DETECTORS),
        desc="full-size TDS images",
        unit="image",
        disable=not progress,
        file=sys.stderr,
    )
    for band, sca in jobs:
        noise = np.random.default_rng([_SEED, 7, BANDS.index(band), sca]).standard_normal(
            (side, side), dtype=np.float32
        )
        for p in (p for p in selected if p.band == band):
            exposure = _expose(p, sca, side, background=(noise, 1.0))
            if "openuniverse" in layouts:
                store(OU_BUCKET, _fits_key(p, sca), functools.partial(_write_fits, exposure=exposure))
                store(OU_BUCKET, _index_key(p, sca), functools.partial(_write_index, exposure=exposure))
            if "roman" in layouts:
                store(ROMAN_BUCKET, _cal_key(p, sca), functools.partial(_write_cal, exposure=exposure))
            bar.update()
    bar.close()
    listing = {"stamp": stamp, "objects": [e.__dict__ for e in entries]}
    (root / "manifest.json").write_text(json.dumps(listing))
    return data.Manifest(root, entries, "full")
