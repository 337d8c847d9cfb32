"""Format-faithful synthetic files: HST WFC3/IR products and previews, Roman ASDF (levels 1, 2), OpenUniverse.

Each writer produces the structure of the real product (extensions, header keywords, ASDF tree
paths, lz4-compressed arrays written by roman_datamodels, a gwcs and catalogs where the real
file has them) with a deterministic sky: point sources and galaxies rendered through the same
WCS the file carries, so a catalog overlaid through the WCS lands on its sources.
"""

from __future__ import annotations

import gzip
import math
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "canonical_asdf_history",
    "hst_exposure_rate",
    "hst_galaxy_image",
    "hst_sample_times",
    "render",
    "sky_image",
    "source_catalogs",
    "tan_gwcs",
    "tan_header",
    "write_gzip_fits",
    "write_hst_asn",
    "write_hst_drz",
    "write_hst_flt",
    "write_hst_ima",
    "write_hst_jitter",
    "write_hst_preview",
    "write_hst_raw",
    "write_hst_spt",
    "write_hst_trl",
    "write_openuniverse_asdf",
    "write_openuniverse_fits_gz",
    "write_preview_jpeg",
    "write_roman_cal",
    "write_roman_uncal",
]

ROMAN_PIXEL_DEG = 0.11 / 3600
HST_IR_DRZ_PIXEL_DEG = 0.128 / 3600
#: What the files say made them.
_ORIGIN = "roman-helpers sandbox (synthetic)"


def tan_header(shape: tuple[int, int], ra: float, dec: float, pixel_deg: float):
    """Return a FITS header with a north-up gnomonic WCS centred on the image.

    Parameters
    ----------
    shape : (ny, nx)
    ra, dec : float
        Sky position of the image centre, degrees.
    pixel_deg : float
        Pixel size, degrees.

    Returns
    -------
    astropy.io.fits.Header
    """
    from astropy.io import fits

    ny, nx = shape
    header = fits.Header()
    header.update(
        WCSAXES=2,
        CTYPE1="RA---TAN",
        CTYPE2="DEC--TAN",
        CUNIT1="deg",
        CUNIT2="deg",
        CRPIX1=(nx + 1) / 2,
        CRPIX2=(ny + 1) / 2,
        CRVAL1=ra,
        CRVAL2=dec,
        CD1_1=-pixel_deg,
        CD1_2=0.0,
        CD2_1=0.0,
        CD2_2=pixel_deg,
        RADESYS="ICRS",
    )
    return header


def tan_gwcs(shape: tuple[int, int], ra: float, dec: float, pixel_deg: float):
    """Return a :class:`gwcs.WCS` equal to :func:`tan_header`'s WCS (0-based pixels).

    Parameters
    ----------
    shape : (ny, nx)
    ra, dec : float
        Sky position of the image centre, degrees.
    pixel_deg : float
        Pixel size, degrees.

    Returns
    -------
    gwcs.WCS
        ``detector`` (pixels) to ``world`` (ICRS) with a bounding box on the image.
    """
    import astropy.units as u
    from astropy.coordinates import ICRS
    from astropy.modeling import models
    from gwcs import coordinate_frames as cf
    from gwcs import wcs

    ny, nx = shape
    transform = (
        (models.Shift(-(nx - 1) / 2) & models.Shift(-(ny - 1) / 2))
        | (models.Scale(-pixel_deg) & models.Scale(pixel_deg))
        | models.Pix2Sky_TAN()
        | models.RotateNative2Celestial(ra, dec, 180.0)
    )
    detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    world = cf.CelestialFrame(
        reference_frame=ICRS(), name="world", unit=(u.deg, u.deg), axes_names=("lon", "lat")
    )
    result = wcs.WCS([(detector, transform), (world, None)])
    result.bounding_box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
    return result


def render(image: np.ndarray, x: np.ndarray, y: np.ndarray, flux: np.ndarray, sigma: np.ndarray) -> None:
    """Add circular Gaussian sources to ``image`` in place (sources off the image are skipped).

    Parameters
    ----------
    image : 2-D ndarray
    x, y : ndarray
        0-based pixel positions.
    flux : ndarray
        Total counts of each source.
    sigma : ndarray
        Gaussian width in pixels.
    """
    ny, nx = image.shape
    for xc, yc, total, width in zip(x, y, flux, sigma, strict=True):
        radius = math.ceil(4 * width)
        x0, x1 = max(int(xc) - radius, 0), min(int(xc) + radius + 1, nx)
        y0, y1 = max(int(yc) - radius, 0), min(int(yc) + radius + 1, ny)
        if x0 >= x1 or y0 >= y1:
            continue
        gx = np.exp(-0.5 * ((np.arange(x0, x1) - xc) / width) ** 2)
        gy = np.exp(-0.5 * ((np.arange(y0, y1) - yc) / width) ** 2)
        image[y0:y1, x0:x1] += (total / (2 * math.pi * width**2)) * np.outer(gy, gx)


def sky_image(
    shape: tuple[int, int],
    seed: int,
    *,
    sky: float = 100.0,
    noise: float = 5.0,
    stars_per_megapixel: float = 2000.0,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Return a float32 image of sky, noise and stars, and the stars' pixel positions and fluxes.

    Parameters
    ----------
    shape : (ny, nx)
    seed : int
        Seed of the random generator (same seed, same image).
    sky, noise : float
        Background level and its Gaussian noise.
    stars_per_megapixel : float
        Source density.

    Returns
    -------
    image : ndarray of float32
    stars : dict with ``x``, ``y``, ``flux``
    """
    rng = np.random.default_rng(seed)
    ny, nx = shape
    image = rng.normal(sky, noise, size=shape).astype(np.float32)
    count = max(3, int(stars_per_megapixel * nx * ny / 1e6))
    stars = {
        "x": rng.uniform(0, nx - 1, count),
        "y": rng.uniform(0, ny - 1, count),
        "flux": 10 ** rng.uniform(2.5, 5.0, count),
    }
    render(image, stars["x"], stars["y"], stars["flux"], np.full(count, 1.3))
    return image, stars


def hst_galaxy_image(header, shape: tuple[int, int], galaxy: tuple[float, float], seed: int) -> np.ndarray:
    """Return a float32 image of an elliptical galaxy and its globular clusters (electrons/s).

    Parameters
    ----------
    header : astropy.io.fits.Header
        The image's celestial WCS (from :func:`tan_header`).
    shape : (ny, nx)
    galaxy : (float, float)
        Sky position (ra, dec) of the galaxy's nucleus.
    seed : int

    Returns
    -------
    ndarray of float32
    """
    from astropy.wcs import WCS

    gx, gy = WCS(header).all_world2pix([[galaxy[0], galaxy[1]]], 0)[0]
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    radius = np.hypot((xx - gx) / 1.0, (yy - gy) / 0.8) + 1.0
    image, _ = sky_image(shape, seed, sky=0.5, noise=0.02, stars_per_megapixel=150)
    image *= 0.004  # stars become faint globular clusters on the galaxy
    image += (4.0 * np.exp(-7.67 * ((radius / 150.0) ** 0.25 - 1.0)) / 2000.0).astype(np.float32)
    return image


def write_hst_drz(
    path: Path,
    *,
    shape: tuple[int, int],
    ra: float,
    dec: float,
    galaxy: tuple[float, float],
    band: str,
    rootname: str,
    exptime: float,
    proposal_id: str,
    seed: int,
    targname: str = "M85",
) -> Path:
    """Write a WFC3/IR drizzled product: PRIMARY, SCI, WHT, CTX, HDRTAB.

    The SCI image shows an elliptical galaxy at ``galaxy`` (ra, dec) with its globular clusters.

    Parameters
    ----------
    path : pathlib.Path
    shape : (ny, nx)
    ra, dec : float
        Image centre.
    galaxy : (float, float)
        Sky position of the galaxy's nucleus.
    band, rootname, proposal_id : str
        FILTER, ROOTNAME and PROPOSID keywords.
    exptime : float
    seed : int
    targname : str
        TARGNAME keyword.

    Returns
    -------
    pathlib.Path
    """
    from astropy.io import fits

    header = tan_header(shape, ra, dec, HST_IR_DRZ_PIXEL_DEG)
    image = hst_galaxy_image(header, shape, galaxy, seed)

    primary = fits.PrimaryHDU()
    primary.header.update(
        TELESCOP="HST",
        INSTRUME="WFC3",
        DETECTOR="IR",
        FILTER=band,
        TARGNAME=targname,
        PROPOSID=int(proposal_id),
        EXPTIME=exptime,
        ROOTNAME=rootname,
        FILENAME=f"{rootname}_drz.fits",
        RA_TARG=galaxy[0],
        DEC_TARG=galaxy[1],
        ORIGIN=_ORIGIN,
    )
    for number in range(120):  # real drizzled primary headers run to hundreds of cards
        primary.header[f"HIERARCH SANDBOX FILLER{number:03d}"] = (number, "stands in for the real keywords")
    sci_header = header.copy()
    sci_header.update(BUNIT="ELECTRONS/S", EXPTIME=exptime)
    hdus = [
        primary,
        fits.ImageHDU(image, header=sci_header, name="SCI"),
        fits.ImageHDU(np.full(shape, exptime, np.float32), header=header, name="WHT"),
        fits.ImageHDU(np.ones(shape, np.int32), header=header, name="CTX"),
        fits.BinTableHDU.from_columns(
            [
                fits.Column(
                    name="ROOTNAME", format="9A", array=np.array([rootname[:6] + s for s in ("abq", "bbq")])
                ),
                fits.Column(name="EXPTIME", format="E", array=np.full(2, exptime / 2)),
            ],
            name="HDRTAB",
        ),
    ]
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


# ------------------------------------------------------------------ HST WFC3/IR exposures and auxiliary files
#: Native WFC3/IR pixel: the grid of the flt, ima and raw files (their geometric distortion is left out).
HST_IR_PIXEL_DEG = 0.13 / 3600
#: Reference pixels around a WFC3/IR readout: raw and ima images are this much wider on each side than flt.
HST_IR_REFERENCE_PIXELS = 5


def _hst_primary(keywords: dict[str, Any], filename: str, filetype: str):
    from astropy.io import fits

    primary = fits.PrimaryHDU()
    primary.header.update(
        FILENAME=filename, FILETYPE=filetype, TELESCOP="HST", INSTRUME="WFC3", DETECTOR="IR", ORIGIN=_ORIGIN
    )
    primary.header.update(keywords)
    return primary


def _write_fits(hdus: list, path: Path) -> None:
    # The headers here are valid by construction; skipping astropy's output verification saves a
    # third of the time of writing the ~1,500 small HST files (the bytes are the same).
    from astropy.io import fits

    fits.HDUList(hdus).writeto(path, overwrite=True, output_verify="ignore")


def hst_sample_times(nsamp: int, exptime: float) -> np.ndarray:
    """Return the MULTIACCUM read times of a WFC3/IR exposure: zeroth read at 0 s, last at ``exptime``.

    Examples
    --------
    >>> hst_sample_times(4, 300.0).tolist()
    [0.0, 100.0, 200.0, 300.0]
    """
    return np.linspace(0.0, exptime, nsamp)


def hst_exposure_rate(
    shape: tuple[int, int], ra: float, dec: float, galaxy: tuple[float, float], seed: int
) -> tuple[np.ndarray, Any]:
    """Return one exposure's count-rate image (electrons/s) on the native grid, and its WCS header.

    Parameters
    ----------
    shape : (ny, nx)
        The calibrated (flt) image size.
    ra, dec : float
        Image centre.
    galaxy : (float, float)
        Sky position of the galaxy's nucleus.
    seed : int
        The exposure's seed: its flt, ima, raw and preview show the same sky.

    Returns
    -------
    rate : ndarray of float32
    header : astropy.io.fits.Header
    """
    header = tan_header(shape, ra, dec, HST_IR_PIXEL_DEG)
    return hst_galaxy_image(header, shape, galaxy, seed), header


def _wcs_with_border(header, border: int):
    """The WCS header of the same image with ``border`` reference pixels added on every side."""
    wide = header.copy()
    wide["CRPIX1"] += border
    wide["CRPIX2"] += border
    return wide


def write_hst_flt(
    path: Path,
    *,
    shape: tuple[int, int],
    ra: float,
    dec: float,
    galaxy: tuple[float, float],
    exptime: float,
    nsamp: int,
    seed: int,
    keywords: dict[str, Any],
) -> Path:
    """Write a WFC3/IR calibrated exposure (``_flt.fits``): PRIMARY, SCI, ERR, DQ, SAMP, TIME.

    Parameters
    ----------
    path : pathlib.Path
    shape : (ny, nx)
    ra, dec : float
    galaxy : (float, float)
    exptime : float
    nsamp : int
        Number of reads (NSAMP, zeroth read included).
    seed : int
    keywords : dict
        Primary-header keywords (ROOTNAME, TARGNAME, PROPOSID, FILTER, ASN_ID ...).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile
    >>> from astropy.io import fits
    >>> path = Path(tempfile.mkdtemp()) / "ib1f0vabq_flt.fits"
    >>> _ = write_hst_flt(
    ...     path,
    ...     shape=(64, 64),
    ...     ra=186.35,
    ...     dec=18.19,
    ...     galaxy=(186.35, 18.19),
    ...     exptime=551.45,
    ...     nsamp=4,
    ...     seed=1,
    ...     keywords={"ROOTNAME": "ib1f0vabq"},
    ... )
    >>> [hdu.name for hdu in fits.open(path)]
    ['PRIMARY', 'SCI', 'ERR', 'DQ', 'SAMP', 'TIME']
    """
    from astropy.io import fits

    rate, header = hst_exposure_rate(shape, ra, dec, galaxy, seed)
    error = np.sqrt(np.abs(rate) * exptime + 20.0**2).astype(np.float32) / np.float32(exptime)
    hdus = [_hst_primary({**keywords, "EXPTIME": exptime, "NSAMP": nsamp}, path.name, "SCI")]
    for name, data, unit in (
        ("SCI", rate, "ELECTRONS/S"),
        ("ERR", error, "ELECTRONS/S"),
        ("DQ", np.zeros(shape, np.int16), "UNITLESS"),
        ("SAMP", np.full(shape, nsamp - 1, np.int16), "UNITLESS"),
        ("TIME", np.full(shape, exptime, np.float32), "SECONDS"),
    ):
        extension = fits.ImageHDU(data, header=header, name=name, ver=1)
        extension.header["BUNIT"] = unit
        hdus.append(extension)
    _write_fits(hdus, path)
    return path


_IMSETS: dict[tuple, list] = {}


def _imset_extensions(kind: str, full: tuple[int, int], nsamp: int, wcs_header) -> list:
    """The 5 x NSAMP extensions of a raw or ima file, made once per kind, size and NSAMP, then refilled.

    Why: creating those astropy headers anew for each of the ~320 raw and ima files took a third
    of the sandbox's first start. The caller sets again every value that differs between files
    (data, CRVAL1/2, SAMPTIME, PIXVALUE), so the bytes are those fresh headers would give.
    """
    from astropy.io import fits

    key = (kind, full, nsamp)
    if key not in _IMSETS:
        extensions = []
        for version, sample in enumerate(
            range(nsamp - 1, -1, -1), start=1
        ):  # the files list the last read first
            for name, dtype in (
                ("SCI", np.float32),
                ("ERR", np.float32),
                ("DQ", np.int16),
                ("SAMP", np.int16),
                ("TIME", np.float32),
            ):
                if kind == "raw" and name != "SCI":  # empty extensions: NPIX1, NPIX2 and a constant PIXVALUE
                    extension = fits.ImageHDU(name=name, ver=version)
                    pixvalue = {"ERR": 0.0, "DQ": 0, "SAMP": sample, "TIME": 0.0}[name]
                    extension.header.update(
                        NPIX1=full[1], NPIX2=full[0], PIXVALUE=pixvalue, SAMPNUM=sample, SAMPTIME=0.0
                    )
                else:
                    data = np.zeros(full, np.uint16 if kind == "raw" else dtype)
                    extension = fits.ImageHDU(data, header=wcs_header, name=name, ver=version)
                    extension.header.update(SAMPNUM=sample, SAMPTIME=0.0)
                extensions.append(extension)
        _IMSETS[key] = extensions
    extensions = _IMSETS[key]
    for extension in extensions:
        if "CRVAL1" in extension.header:
            extension.header["CRVAL1"], extension.header["CRVAL2"] = (
                wcs_header["CRVAL1"],
                wcs_header["CRVAL2"],
            )
    return extensions


#: The calibrated (flt) image inside a raw or ima image's reference pixels.
_INSIDE_REFERENCE_PIXELS = (slice(HST_IR_REFERENCE_PIXELS, -HST_IR_REFERENCE_PIXELS),) * 2


def _write_multiaccum(
    path: Path,
    kind: str,
    header,
    shape: tuple[int, int],
    exptime: float,
    nsamp: int,
    keywords: dict[str, Any],
    read: Callable[[tuple[int, int], int, float], tuple],
) -> Path:
    """Write a raw or ima file: the primary header, then one imset per read, last read first.

    ``header`` and ``shape`` are the calibrated (flt) image's WCS and size; the imsets add the
    reference pixels around it. ``read(full, sample, seconds)`` gives the five values of one
    read's imset (SCI, ERR, DQ, SAMP, TIME) at the ``full`` size: an array is the extension's
    data, a number the PIXVALUE of an empty extension.
    """
    border = HST_IR_REFERENCE_PIXELS
    full = (shape[0] + 2 * border, shape[1] + 2 * border)
    times = hst_sample_times(nsamp, exptime)
    extensions = _imset_extensions(kind, full, nsamp, _wcs_with_border(header, border))
    unfilled = iter(extensions)
    for sample in range(nsamp - 1, -1, -1):
        seconds = float(times[sample])
        for value in read(full, sample, seconds):
            extension = next(unfilled)
            extension.header["SAMPTIME"] = seconds
            if isinstance(value, np.ndarray):
                extension.data = value
            else:
                extension.header["PIXVALUE"] = value
    primary = _hst_primary({**keywords, "EXPTIME": exptime, "NSAMP": nsamp}, path.name, "SCI")
    _write_fits([primary, *extensions], path)
    return path


def write_hst_ima(
    path: Path,
    *,
    shape: tuple[int, int],
    ra: float,
    dec: float,
    galaxy: tuple[float, float],
    exptime: float,
    nsamp: int,
    seed: int,
    keywords: dict[str, Any],
) -> Path:
    """Write a WFC3/IR intermediate MULTIACCUM file (``_ima.fits``): one imset per read, last read first.

    Each imset holds SCI, ERR (float32), DQ, SAMP (int16) and TIME (float32) at the raw size
    (``shape`` plus the reference pixels). Parameters are those of :func:`write_hst_flt`.

    Returns
    -------
    pathlib.Path
    """
    rate, header = hst_exposure_rate(shape, ra, dec, galaxy, seed)
    rng = np.random.default_rng(seed + 2)

    def read(full: tuple[int, int], sample: int, seconds: float) -> tuple:
        science = np.zeros(full, np.float32)
        if seconds > 0:
            science[_INSIDE_REFERENCE_PIXELS] = rate + rng.normal(0, 20.0, shape).astype(np.float32) / seconds
        error = np.full(full, 20.0 / max(seconds, 1.0), np.float32)
        quality, samples = np.zeros(full, np.int16), np.full(full, sample, np.int16)
        return science, error, quality, samples, np.full(full, seconds, np.float32)

    return _write_multiaccum(path, "ima", header, shape, exptime, nsamp, keywords, read)


def write_hst_raw(
    path: Path,
    *,
    shape: tuple[int, int],
    ra: float,
    dec: float,
    galaxy: tuple[float, float],
    exptime: float,
    nsamp: int,
    seed: int,
    keywords: dict[str, Any],
) -> Path:
    """Write a WFC3/IR raw MULTIACCUM file (``_raw.fits``): one imset per read, last read first.

    SCI holds the detector counts (unsigned 16-bit DN, bias and reference pixels included); ERR,
    DQ, SAMP and TIME are empty extensions carrying ``NPIX1``/``NPIX2``/``PIXVALUE``, as in the real
    raw files. Parameters are those of :func:`write_hst_flt`.

    Returns
    -------
    pathlib.Path
    """
    rate, header = hst_exposure_rate(shape, ra, dec, galaxy, seed)
    gain, bias = 2.5, 12000.0
    rng = np.random.default_rng(seed + 1)

    def read(full: tuple[int, int], sample: int, seconds: float) -> tuple:
        counts = np.full(full, bias) + rng.normal(0, 8.0, full)
        counts[_INSIDE_REFERENCE_PIXELS] += np.maximum(rate, 0) * seconds / gain
        return np.clip(counts, 0, 65535).astype(np.uint16), 0.0, 0, sample, seconds

    return _write_multiaccum(path, "raw", header, shape, exptime, nsamp, keywords, read)


def write_hst_spt(path: Path, *, keywords: dict[str, Any], seed: int) -> Path:
    """Write a support file (``_spt.fits``): proposal and telemetry keywords, and a UDL extension.

    Parameters
    ----------
    path : pathlib.Path
    keywords : dict
        Primary-header keywords.
    seed : int

    Returns
    -------
    pathlib.Path
    """
    from astropy.io import fits

    primary = _hst_primary(keywords, path.name, "SPT")
    udl = fits.ImageHDU(
        np.random.default_rng(seed).integers(0, 4096, 1024).astype(np.int16), name="UDL", ver=1
    )
    _write_fits([primary, udl], path)
    return path


def write_hst_trl(path: Path, *, keywords: dict[str, Any], steps: list[str]) -> Path:
    """Write a trailer file (``_trl.fits``): the processing log as a one-column text table.

    Parameters
    ----------
    path : pathlib.Path
    keywords : dict
        Primary-header keywords.
    steps : list of str
        Log lines (at most 132 characters each).

    Returns
    -------
    pathlib.Path
    """
    from astropy.io import fits

    lines = np.array([line[:132] for line in steps])
    table = fits.BinTableHDU.from_columns([fits.Column(name="TEXT_FILE", format="132A", array=lines)])
    _write_fits([_hst_primary(keywords, path.name, "TRL"), table], path)
    return path


def write_hst_asn(path: Path, *, keywords: dict[str, Any], members: list[str], product: str) -> Path:
    """Write an association table (``_asn.fits``): MEMNAME, MEMTYPE, MEMPRSNT.

    Parameters
    ----------
    path : pathlib.Path
    keywords : dict
    members : list of str
        Exposure root names (``EXP-DTH`` rows).
    product : str
        The association's product name (``PROD-DTH`` row).

    Returns
    -------
    pathlib.Path
    """
    from astropy.io import fits

    names = [m.upper() for m in members] + [product.upper()]
    kinds = ["EXP-DTH"] * len(members) + ["PROD-DTH"]
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="MEMNAME", format="14A", array=np.array(names)),
            fits.Column(name="MEMTYPE", format="14A", array=np.array(kinds)),
            fits.Column(name="MEMPRSNT", format="L", array=np.ones(len(names), bool)),
        ],
        name="ASN",
    )
    _write_fits([_hst_primary(keywords, path.name, "ASN_TABLE"), table], path)
    return path


def write_hst_jitter(
    path: Path,
    *,
    keywords: dict[str, Any],
    exposures: list[str],
    exptime: float,
    ra: float,
    dec: float,
    seed: int,
    image: bool,
) -> Path:
    """Write the pointing-jitter files of an association: ``_jit.fits`` (tables) or ``_jif.fits`` (images).

    One extension per exposure: a ``JIT`` table sampled every 3 s (``Seconds``, ``V2_dom``,
    ``V3_dom``, ``RA``, ``DEC``, ``Roll``, ``LimbAng``, ``DayNight``), or a ``JIF`` 2-D jitter
    histogram.

    Parameters
    ----------
    path : pathlib.Path
    keywords : dict
    exposures : list of str
        Exposure root names, one extension each.
    exptime : float
        Seconds per exposure.
    ra, dec : float
        Pointing.
    seed : int
    image : bool
        Write the ``_jif`` images instead of the ``_jit`` tables.

    Returns
    -------
    pathlib.Path
    """
    from astropy.io import fits

    rng = np.random.default_rng(seed)
    hdus = [_hst_primary(keywords, path.name, "JIF" if image else "JIT")]
    for version, exposure in enumerate(exposures, start=1):
        if image:
            hdu = fits.ImageHDU(rng.poisson(4.0, (32, 32)).astype(np.int16), name="JIF", ver=version)
        else:
            seconds = np.arange(0.0, exptime + 3.0, 3.0)
            n = len(seconds)
            v2, v3 = rng.normal(0, 0.003, n), rng.normal(0, 0.003, n)
            hdu = fits.BinTableHDU.from_columns(
                [
                    fits.Column(name="Seconds", format="E", unit="seconds", array=seconds),
                    fits.Column(name="V2_dom", format="E", unit="arcsec", array=v2),
                    fits.Column(name="V3_dom", format="E", unit="arcsec", array=v3),
                    fits.Column(name="RA", format="D", unit="degrees", array=ra + v2 / 3600),
                    fits.Column(name="DEC", format="D", unit="degrees", array=dec + v3 / 3600),
                    fits.Column(name="Roll", format="E", unit="degrees", array=np.full(n, 91.7)),
                    fits.Column(name="LimbAng", format="E", unit="degrees", array=np.linspace(40.0, 75.0, n)),
                    fits.Column(name="DayNight", format="I", array=np.zeros(n, np.int16)),
                ],
                name="JIT",
                ver=version,
            )
        hdu.header["EXPNAME"] = exposure[:8].upper() + "J"
        hdus.append(hdu)
    _write_fits(hdus, path)
    return path


def write_preview_jpeg(path: Path, image: np.ndarray, *, max_side: int | None = None) -> Path:
    """Write a MAST-style preview of ``image``: an asinh-stretched greyscale JPEG, north up.

    Parameters
    ----------
    path : pathlib.Path
    image : 2-D ndarray
    max_side : int, optional
        Shrink to this many pixels on the longer side (thumbnails).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> path = write_preview_jpeg(Path(tempfile.mkdtemp()) / "p.jpg", np.arange(64.0).reshape(8, 8))
    >>> Image.open(path).format, Image.open(path).size
    ('JPEG', (8, 8))
    """
    from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval
    from PIL import Image  # Pillow comes with matplotlib

    scaled = ImageNormalize(image, interval=PercentileInterval(99.5), stretch=AsinhStretch())(
        image, clip=True
    )
    picture = Image.fromarray((np.flipud(np.asarray(scaled.filled(0))) * 255).astype(np.uint8), mode="L")
    if max_side and max(picture.size) > max_side:
        picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    picture.save(path, format="JPEG", quality=80)
    return path


def write_hst_preview(
    path: Path,
    *,
    shape: tuple[int, int],
    ra: float,
    dec: float,
    galaxy: tuple[float, float],
    seed: int,
    pixel_deg: float,
    max_side: int | None = None,
) -> Path:
    """Write the preview JPEG of a drizzled (``pixel_deg`` = drizzled pixel) or flt image.

    The image is computed as its FITS file's writer computes it (same seed), so the preview shows
    the file's sky.

    Returns
    -------
    pathlib.Path
    """
    header = tan_header(shape, ra, dec, pixel_deg)
    return write_preview_jpeg(path, hst_galaxy_image(header, shape, galaxy, seed), max_side=max_side)


def _roman_meta(
    model,
    filename: str,
    detector: int,
    optical_element: str,
    ra: float,
    dec: float,
    start: str,
    ids: dict[str, Any],
) -> None:
    from astropy.time import Time

    meta = model.meta
    meta.filename = filename
    meta.instrument.detector = f"WFI{detector:02d}"
    meta.instrument.optical_element = optical_element
    meta.exposure.start_time = Time(start)
    meta.exposure.end_time = Time(Time(start).mjd + 139.8 / 86400, format="mjd", scale="utc")
    meta.exposure.exposure_time = 139.8
    meta.pointing.target_ra, meta.pointing.target_dec = ra, dec
    meta.wcsinfo.ra_ref, meta.wcsinfo.dec_ref = ra, dec
    meta.wcsinfo.aperture_name = f"WFI{detector:02d}_FULL"
    for name, value in ids.items():
        setattr(meta.observation, name, value)
    meta.program.title = _ORIGIN


def _save_reproducibly(model, path: Path, file_date: str) -> None:
    """Save with roman_datamodels, then pin ``meta.file_date`` so the same inputs give the same bytes.

    ``DataModel.save`` stamps the wall-clock time into ``file_date``. The stamp is rewritten in
    place with a value of the same length, so no offset in the file moves (ASDF checksums cover
    blocks, not the tree).
    """
    from astropy.time import Time

    model.save(path)
    canonical_asdf_history(path)
    pinned = Time(file_date).isot.encode()
    raw = path.read_bytes()
    stamped = re.compile(rb"(file_date: [^\n]*?value: ')(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})(')")
    match = stamped.search(raw)
    if match is None or len(match.group(2)) != len(pinned):
        return  # a layout we do not know: keep roman_datamodels' stamp
    path.write_bytes(raw[: match.start(2)] + pinned + raw[match.end(2) :])


def canonical_asdf_history(path: Path) -> None:
    """Sort the ``history.extensions`` entries of an ASDF file in place, so equal inputs give equal bytes.

    asdf lists the extensions a file used by iterating over a set of objects, so their order
    changes from one process to the next. Sorting the entries keeps the header's length, so no
    block offset moves (ASDF checksums cover blocks, not the tree).

    Parameters
    ----------
    path : pathlib.Path
        An ASDF file.
    """
    from roman_helpers.sandbox.archive.asdf import sort_history

    with open(path, "r+b") as handle:
        head = handle.read(1 << 20)
        ordered = sort_history(head)
        if ordered != head:  # same length: no block offset moves
            handle.seek(0)
            handle.write(ordered)


def write_roman_cal(
    path: Path,
    *,
    shape: tuple[int, int],
    detector: int,
    optical_element: str,
    ra: float,
    dec: float,
    start: str,
    ids: dict[str, Any],
    seed: int,
    stars_per_megapixel: float = 4000.0,
) -> Path:
    """Write a level-2 ``ImageModel`` (``_cal.asdf``) with roman_datamodels, lz4 as it saves.

    Parameters
    ----------
    path : pathlib.Path
    shape : (ny, nx)
    detector : int
        1-18.
    optical_element : str
    ra, dec : float
        Detector centre; ``meta.wcs`` is a gnomonic gwcs there.
    start : str
        Exposure start (ISO time).
    ids : dict
        ``meta.observation`` fields (program, execution_plan, pass, segment, observation, visit ...).
    seed : int
    stars_per_megapixel : float

    Returns
    -------
    pathlib.Path
    """
    import roman_datamodels.datamodels as dm

    model = dm.ImageModel.create_fake_data(shape=shape)
    _roman_meta(model, path.name, detector, optical_element, ra, dec, start, ids)
    model.meta.wcs = tan_gwcs(shape, ra, dec, ROMAN_PIXEL_DEG)
    image, _ = sky_image(shape, seed, sky=1.0, noise=0.05, stars_per_megapixel=stars_per_megapixel)
    model.data = image * np.float32(0.1)
    model.dq = np.zeros(shape, np.uint32)
    model.err = np.full(shape, 0.05, model.err.dtype)
    _save_reproducibly(model, path, start)
    return path


def write_roman_uncal(
    path: Path,
    *,
    shape: tuple[int, int],
    detector: int,
    optical_element: str,
    ra: float,
    dec: float,
    start: str,
    ids: dict[str, Any],
    seed: int,
    resultants: int = 6,
) -> Path:
    """Write a level-1 ``ScienceRawModel`` (``_uncal.asdf``): a ramp of uint16 resultants.

    Parameters are those of :func:`write_roman_cal`, plus ``resultants`` (ramp length).

    Returns
    -------
    pathlib.Path
    """
    import roman_datamodels.datamodels as dm

    model = dm.ScienceRawModel.create_fake_data(shape=(resultants, *shape))
    _roman_meta(model, path.name, detector, optical_element, ra, dec, start, ids)
    model.meta.exposure.nresultants = resultants
    rate, _ = sky_image(shape, seed, sky=1.0, noise=0.05, stars_per_megapixel=4000.0)
    rng = np.random.default_rng(seed + 1)
    reads = np.arange(1, resultants + 1, dtype=np.float32)[:, None, None] * 3.04 * rate[None] * 0.1
    ramp = 1000.0 + reads + rng.normal(0, 3.0, size=(resultants, *shape))
    model.data = np.clip(ramp, 0, 65535).astype(np.uint16)
    _save_reproducibly(model, path, start)
    return path


def source_catalogs(shape: tuple[int, int], ra: float, dec: float, seed: int):
    """Return galaxy, star and transient tables for one OpenUniverse detector footprint.

    Parameters
    ----------
    shape : (ny, nx)
    ra, dec : float
        Detector centre.
    seed : int

    Returns
    -------
    dict of str to astropy.table.Table
        ``galaxies`` (id, ra, dec, mag, half_light_radius, redshift), ``stars`` (id, ra, dec, mag),
        ``transients`` (id, ra, dec, mag, peak_mjd, model), all inside the footprint.
    """
    from astropy.table import Table

    rng = np.random.default_rng(seed)
    gwcs_wcs = tan_gwcs(shape, ra, dec, ROMAN_PIXEL_DEG)
    area = shape[0] * shape[1] / 1e6

    def positions(count: int):
        x = rng.uniform(4, shape[1] - 5, count)
        y = rng.uniform(4, shape[0] - 5, count)
        lon, lat = gwcs_wcs(x, y)
        return np.round(lon, 8), np.round(lat, 8)

    n_gal, n_star, n_tr = max(8, int(120 * area)), max(4, int(40 * area)), max(2, int(4 * area))
    g_ra, g_dec = positions(n_gal)
    s_ra, s_dec = positions(n_star)
    t_ra, t_dec = positions(n_tr)
    return {
        "galaxies": Table(
            {
                "id": np.arange(n_gal, dtype=np.int64) + 10_000_000 * (seed % 100),
                "ra": g_ra,
                "dec": g_dec,
                "mag": np.round(rng.uniform(20.0, 25.5, n_gal), 3),
                "half_light_radius": np.round(rng.uniform(0.15, 0.9, n_gal), 3),
                "redshift": np.round(rng.uniform(0.1, 2.5, n_gal), 4),
            }
        ),
        "stars": Table(
            {
                "id": np.arange(n_star, dtype=np.int64) + 20_000_000 * (seed % 100),
                "ra": s_ra,
                "dec": s_dec,
                "mag": np.round(rng.uniform(17.0, 24.0, n_star), 3),
            }
        ),
        "transients": Table(
            {
                "id": np.arange(n_tr, dtype=np.int64) + 30_000_000 * (seed % 100),
                "ra": t_ra,
                "dec": t_dec,
                "mag": np.round(rng.uniform(21.0, 24.0, n_tr), 3),
                "peak_mjd": np.round(rng.uniform(62000.0, 62400.0, n_tr), 3),
                "model": np.array(["SNIa", "SNII", "SNIb"])[rng.integers(0, 3, n_tr)],
            }
        ),
    }


def openuniverse_image(shape: tuple[int, int], ra: float, dec: float, catalogs, seed: int) -> np.ndarray:
    """Render an OpenUniverse-like image of ``catalogs`` through the detector's gwcs.

    Parameters
    ----------
    shape : (ny, nx)
    ra, dec : float
    catalogs : dict of Table
        From :func:`source_catalogs`.
    seed : int

    Returns
    -------
    ndarray of float32
    """
    gwcs_wcs = tan_gwcs(shape, ra, dec, ROMAN_PIXEL_DEG)
    image = np.random.default_rng(seed).normal(1.0, 0.05, size=shape).astype(np.float32)
    for name in ("stars", "galaxies", "transients"):
        table = catalogs[name]
        x, y = gwcs_wcs.world_to_pixel_values(np.asarray(table["ra"]), np.asarray(table["dec"]))
        flux = 10 ** (-0.4 * (np.asarray(table["mag"]) - 27.0))
        if name == "galaxies":
            sigma = np.asarray(table["half_light_radius"]) / 0.11
        else:
            sigma = np.full(len(table), 1.2)
        render(image, x, y, flux, sigma)
    return image


def write_openuniverse_fits_gz(
    path: Path, *, shape: tuple[int, int], ra: float, dec: float, band: str, catalogs, seed: int
) -> Path:
    """Write an IRSA OpenUniverse 2024 preview image: gzip FITS with SCI, ERR and DQ.

    Parameters
    ----------
    path : pathlib.Path
        Ends in ``.fits.gz``.
    shape : (ny, nx)
    ra, dec : float
    band : str
    catalogs : dict of Table
    seed : int

    Returns
    -------
    pathlib.Path
    """
    from astropy.io import fits

    header = tan_header(shape, ra, dec, ROMAN_PIXEL_DEG)
    image = openuniverse_image(shape, ra, dec, catalogs, seed)
    primary = fits.PrimaryHDU()
    primary.header.update(TELESCOP="Roman", INSTRUME="WFI", FILTER=band, ORIGIN=_ORIGIN)
    hdus = fits.HDUList(
        [
            primary,
            fits.ImageHDU(image, header=header, name="SCI"),
            fits.ImageHDU(np.full(shape, 0.05, np.float32), header=header, name="ERR"),
            fits.ImageHDU(np.zeros(shape, np.uint32), header=header, name="DQ"),
        ]
    )
    return write_gzip_fits(hdus, path)


def write_gzip_fits(hdus, path: Path) -> Path:
    """Write ``hdus`` gzip-compressed (level 1, no timestamp, so the bytes are reproducible).

    Parameters
    ----------
    hdus : astropy.io.fits.HDUList
    path : pathlib.Path
        Ends in ``.fits.gz``.

    Returns
    -------
    pathlib.Path
    """
    raw = path.with_name(path.name + ".tmp")
    hdus.writeto(raw, overwrite=True)
    with open(raw, "rb") as source, gzip.GzipFile(path, "wb", compresslevel=1, mtime=0) as target:
        shutil.copyfileobj(source, target, 1 << 22)
    raw.unlink()
    return path


def write_openuniverse_asdf(
    path: Path,
    *,
    shape: tuple[int, int],
    ra: float,
    dec: float,
    band: str,
    hpix: str,
    sensor: int,
    catalogs,
    seed: int,
) -> Path:
    """Write the Roman Research Nexus's ASDF conversion of an OpenUniverse image.

    The tree holds ``roman.meta``, ``roman.data`` (the FITS SCI image), ``roman.err``, ``roman.dq``,
    ``roman.wcs`` (a gwcs) and ``roman.catalogs.{galaxies,stars,transients}``; arrays are lz4.

    Parameters
    ----------
    path : pathlib.Path
    shape : (ny, nx)
    ra, dec : float
    band, hpix : str
    sensor : int
    catalogs : dict of Table
    seed : int

    Returns
    -------
    pathlib.Path
    """
    import asdf

    image = openuniverse_image(shape, ra, dec, catalogs, seed)
    tree = {
        "roman": {
            "meta": {
                "band": band,
                "hpix": hpix,
                "sensor": f"WFI{sensor:02d}",
                "exptime": 139.8,
                "origin": "OpenUniverse 2024 preview, converted (roman-helpers sandbox, synthetic)",
            },
            "data": image,
            "err": np.full(shape, 0.05, np.float32),
            "dq": np.zeros(shape, np.uint32),
            "wcs": tan_gwcs(shape, ra, dec, ROMAN_PIXEL_DEG),
            "catalogs": dict(catalogs),
        }
    }
    asdf.AsdfFile(tree).write_to(path, all_array_compression="lz4")
    canonical_asdf_history(path)
    return path
