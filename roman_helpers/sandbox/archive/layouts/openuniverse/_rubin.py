"""The Rubin preview coadds: ``openuniverse2024/rubin/preview/u/descdm/.../deepCoadd_calexp/...fits``.

What the real files hold, and where each fact comes from
    * One ``deepCoadd_calexp`` per filter u g r i z y of tract 2877, patch 19 of the DC2 sky map,
      written by the LSST Science Pipelines' butler under the processing run in the keys (IRSA's
      Firefly notebook reads them by these names; :mod:`~roman_helpers.sandbox.sky.surveys.rubin`).
    * An afw ``ExposureF`` as FITS, as users read it: an empty primary HDU, then ``IMAGE``
      (float32), ``MASK`` (int32) and ``VARIANCE`` (float32), each 4200 x 4200 (the 4000-pixel
      patch and its 100-pixel border) with the patch's TAN WCS; IRSA's notebook reads the pixels
      and the WCS from HDU 1. afw marks each plane with ``EXTTYPE`` and ``EXTNAME``, records the
      image's origin in the tract as ``LTV1/2`` and as the ``A`` (``LINEAR``, ``PIXEL``) WCS,
      ``INHERIT = T``, and names the mask planes in ``MP_*`` keywords (bit numbers). Coadd pixels
      are calibrated fluxes in nJy, so a source's magnitude is -2.5 log10(flux / ``FLUXMAG0``)
      with ``FLUXMAG0`` = 3631 Jy in nJy; the butler's provenance goes in ``LSST BUTLER ...``
      cards of the primary header.
    * Not mirrored: the persisted-object HDUs afw appends (PSF, photometric calibration, coadd
      inputs ...), which only the Science Pipelines read.

How the sandbox makes them
    :class:`~roman_helpers.sandbox.sky.render.Exposure` on the patch's WCS in nJy per pixel, the
    mean of N visits of 30 s (N per filter: about a year of the Wide-Fast-Deep survey, the
    baseline's share of visits per filter), no cosmic rays, the sky subtracted as the coadd's
    background model subtracts it; the mask marks ``DETECTED`` pixels (5 sigma above the sky)
    and saturated ones; the variance is the error squared. The visits span the first year of the
    survey (``t_min``/``t_max`` of the image search), the exposure is drawn at its middle.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from roman_helpers.sandbox.archive.fits import HDU, FitsObject
from roman_helpers.sandbox.archive.layouts.openuniverse._common import BUCKET, ROOT, LazyObject, seed, version
from roman_helpers.sandbox.archive.objects import ArraySpec
from roman_helpers.sandbox.archive.registry import Provider
from roman_helpers.sandbox.sky import render
from roman_helpers.sandbox.sky.bands import AB_ZERO_JY, band
from roman_helpers.sandbox.sky.surveys import rubin

#: Visits in each filter's coadd (the sandbox's choice: about a year of Wide-Fast-Deep, whose
#: baseline spends roughly 6, 9, 22, 22, 20 and 21 % of its visits in u g r i z y).
VISITS = {"u": 5, "g": 7, "r": 18, "i": 18, "z": 16, "y": 16}
#: Seconds of one visit (two 15-second snaps).
VISIT_SECONDS = 30.0
#: MJD span of the visits (the survey's first year).
SPAN = (61000.0, 61365.0)
#: Mask planes and their bits, as afw numbers its default planes and those coadds add.
MASK_PLANES = (
    "BAD",
    "SAT",
    "INTRP",
    "CR",
    "EDGE",
    "DETECTED",
    "DETECTED_NEGATIVE",
    "SUSPECT",
    "NO_DATA",
    "CLIPPED",
    "CROSSTALK",
    "INEXACT_PSF",
    "NOT_DEBLENDED",
    "REJECTED",
    "SENSOR_EDGE",
    "UNMASKEDNAN",
)
_FLUXMAG0 = AB_ZERO_JY * 1e9  # nJy of AB magnitude 0


def coadd_name(filter_name: str) -> str:
    """The file name of one filter's coadd.

    Examples
    --------
    >>> coadd_name("r")
    'deepCoadd_calexp_2877_19_r_DC2_u_descdm_preview_data_step3_2877_19_w_2024_12_20240403T150003Z.fits'
    """
    run = rubin.RUN.replace("/", "_")
    return f"deepCoadd_calexp_{rubin.TRACT}_{rubin.PATCH}_{filter_name}_DC2_{run}.fits"


def coadd_key(filter_name: str) -> str:
    """The key of one filter's coadd in ``nasa-irsa-simulations``.

    Examples
    --------
    >>> coadd_key("g").split("/")[:4]
    ['openuniverse2024', 'rubin', 'preview', 'u']
    """
    folder = f"{ROOT}rubin/preview/{rubin.RUN}/deepCoadd_calexp/{rubin.TRACT}/{rubin.PATCH}/{filter_name}"
    return f"{folder}/{coadd_name(filter_name)}"


def _wcs_cards() -> Any:
    header = rubin.patch_header()
    for name in ("NAXIS", "NAXIS1", "NAXIS2"):
        del header[name]
    return header


@functools.lru_cache(maxsize=2)
def coadd_exposure(filter_name: str) -> render.Exposure:
    """The patch as the coadd of ``filter_name`` shows it (nJy per pixel, sky included).

    Examples
    --------
    >>> image = coadd_exposure("r")
    >>> image.shape, image.units, image.n_exposures
    ((4200, 4200), 'nJy', 18)
    """
    from astropy.wcs import WCS

    header = rubin.patch_header()
    shape = (int(header["NAXIS2"]), int(header["NAXIS1"]))
    return render.Exposure(
        WCS(header),
        shape,
        band(filter_name),
        exptime=VISIT_SECONDS,
        mjd=(SPAN[0] + SPAN[1]) / 2,
        seed=seed(ROOT, "rubin", rubin.TRACT, rubin.PATCH, filter_name),
        units="nJy",
        n_exposures=VISITS[filter_name],
        cosmic_rays=False,
    )


def _sky(image: render.Exposure) -> float:
    """The sky of one pixel in the image's units (what the coadd's background model subtracts)."""
    scale = 10 ** (0.4 * (image.zeropoint - image.filter.zeropoint)) / image.exptime
    return float(image.sky_counts * scale)


def _plane(filter_name: str, which: str) -> Callable[[int, int], np.ndarray]:
    def rows(y0: int, y1: int) -> np.ndarray:
        from roman_datamodels.dqflags import pixel

        image = coadd_exposure(filter_name)
        sci, err, dq = image.rows(y0, y1)
        if which == "IMAGE":
            return sci - np.float32(_sky(image))
        if which == "VARIANCE":
            return err.astype(np.float32) ** 2
        mask = np.zeros(sci.shape, np.int32)
        mask[(sci - _sky(image)) > 5 * err] |= 1 << MASK_PLANES.index("DETECTED")
        mask[(dq & np.uint32(pixel.SATURATED)) != 0] |= 1 << MASK_PLANES.index("SAT")
        return mask

    return rows


def coadd_fits(filter_name: str) -> FitsObject:
    """One filter's ``deepCoadd_calexp`` file, its planes made when read.

    Examples
    --------
    >>> item = coadd_fits("i")
    >>> [header.get("EXTTYPE") for header in item.headers]
    [None, 'IMAGE', 'MASK', 'VARIANCE']
    """
    from astropy.io import fits

    patch = rubin.patch_header()
    shape = (int(patch["NAXIS2"]), int(patch["NAXIS1"]))
    primary = fits.Header()
    primary["FLUXMAG0"] = (_FLUXMAG0, "flux (nJy) of a zero-magnitude (AB) source")
    primary["HIERARCH LSST BUTLER DATASETTYPE"] = "deepCoadd_calexp"
    primary["HIERARCH LSST BUTLER RUN"] = rubin.RUN
    primary["HIERARCH LSST BUTLER DATAID SKYMAP"] = "DC2"
    primary["HIERARCH LSST BUTLER DATAID TRACT"] = rubin.TRACT
    primary["HIERARCH LSST BUTLER DATAID PATCH"] = rubin.PATCH
    primary["HIERARCH LSST BUTLER DATAID BAND"] = filter_name
    hdus = [HDU(primary)]
    for name, kind in (("IMAGE", "float32"), ("MASK", "int32"), ("VARIANCE", "float32")):
        header = fits.Header()
        header["EXTTYPE"] = name
        header["INHERIT"] = True
        header.extend(_wcs_cards())
        header["CRPIX1A"] = 1.0
        header["CRPIX2A"] = 1.0
        header["CRVAL1A"] = float(-patch["LTV1"])
        header["CRVAL2A"] = float(-patch["LTV2"])
        header["CTYPE1A"] = "LINEAR"
        header["CTYPE2A"] = "LINEAR"
        header["CUNIT1A"] = "PIXEL"
        header["CUNIT2A"] = "PIXEL"
        if name == "IMAGE":
            header["BUNIT"] = "nJy"
        if name == "MASK":
            for bit, plane in enumerate(MASK_PLANES):
                header[f"HIERARCH MP_{plane}" if len(plane) > 5 else f"MP_{plane}"] = bit
        hdus.append(HDU(header, ArraySpec(kind, shape, _plane(filter_name, name)), name=name))
    return FitsObject(coadd_key(filter_name), hdus, version=version("rubin-coadd"))


@functools.cache
def coadd_size() -> int:
    """Bytes of one coadd file (the same for every filter: their headers differ in values only)."""
    return coadd_fits("r").size


def coadd_object(filter_name: str) -> LazyObject:
    """The object of one filter's coadd: listed at its size, made when read."""
    return LazyObject(
        coadd_key(filter_name),
        functools.partial(coadd_fits, filter_name),
        size=coadd_size(),
        version=version("rubin-coadd"),
        content_type="application/fits",
    )


def providers() -> list[Provider]:
    """The Rubin preview coadds of tract 2877, patch 19."""
    prefix = f"{ROOT}rubin/preview/"
    by_key = {coadd_key(name): name for name in rubin.FILTERS}
    description = (
        f"the OpenUniverse 2024 Rubin preview: the deepCoadd_calexp of tract {rubin.TRACT}, patch "
        f"{rubin.PATCH} (DC2 sky map) in u, g, r, i, z and y, IMAGE (nJy), MASK and VARIANCE at 4200 x 4200 "
        "pixels of 0.2 arcsec; drawn on demand from the sandbox's one synthetic sky"
    )
    return [
        Provider(
            bucket=BUCKET,
            prefix=prefix,
            description=description,
            list_keys=lambda: list(by_key),
            build=lambda key: coadd_object(by_key[key]) if key in by_key else None,
            version=version("rubin-coadd"),
        )
    ]


__all__ = [
    "MASK_PLANES",
    "SPAN",
    "VISITS",
    "VISIT_SECONDS",
    "coadd_exposure",
    "coadd_fits",
    "coadd_key",
    "coadd_name",
    "coadd_object",
    "coadd_size",
    "providers",
]
