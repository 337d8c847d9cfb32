"""The OpenUniverse 2024 Rubin preview coadd: tract 2877, patch 19 of the DC2 sky map.

IRSA publishes it under ``openuniverse2024/rubin/preview/u/descdm/preview_data_step3_2877_19_w_2024_12/
20240403T150003Z/deepCoadd_calexp/2877/19/{filter}/deepCoadd_calexp_2877_19_{filter}_DC2_u_descdm_
preview_data_step3_2877_19_w_2024_12_20240403T150003Z.fits``, filters u g r i z y.

Geometry (published conventions)
    The LSST Science Pipelines' ``RingsSkyMap`` as DESC's DC2 configured it (the ``DC2`` of the
    file names): 120 rings of tracts between the poles, 18,938 tracts, each a gnomonic projection
    about its centre at 0.2 arcsec per pixel, cut into 7 x 7 patches of 4000 x 4000 pixels that
    overlap by a 100-pixel border (a patch file is 4200 x 4200). Patch 19 is column 5, row 2.
    The rings sky map puts tract 2877 at (RA, Dec) = (10.1695, -43.8843) (ring 30, 177 tracts,
    the sixth); its patch 19 is then centred at about (9.553, -44.106), on the Roman coadd grid's
    centre (9.55, -44.1): the matched simulations overlap, as OpenUniverse made them.

Simplification (the sandbox's own)
    The tract's pixel grid is centred on the tract centre (pixel 14000 of 28000 on each axis);
    the real sky map sizes a tract from its ring's width plus a 1-arcmin overlap, which moves
    patch edges by a few hundred pixels at most.

Examples
--------
>>> ra, dec = tract_centre(2877)
>>> round(ra, 4), round(dec, 4)
(10.1695, -43.8843)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from astropy.table import Table

__all__ = [
    "FILTERS",
    "PATCH",
    "PATCH_BORDER",
    "PATCH_INNER",
    "PIXEL_SCALE",
    "RUN",
    "TRACT",
    "coadds",
    "patch_header",
    "tract_centre",
]

FILTERS = ("u", "g", "r", "i", "z", "y")
TRACT = 2877
PATCH = 19
#: The processing run in the preview's keys.
RUN = "u/descdm/preview_data_step3_2877_19_w_2024_12/20240403T150003Z"
PIXEL_SCALE = 0.2
PATCH_INNER = 4000
PATCH_BORDER = 100
_PATCHES = 7  # a side of a tract
_RINGS = 120


def tract_centre(tract: int) -> tuple[float, float]:
    """Return the centre (ra, dec) in degrees of a tract of the DC2 rings sky map.

    Parameters
    ----------
    tract : int
        Tract number, 0 (the south polar cap) to 18937 (the north one).

    Returns
    -------
    (float, float)

    Examples
    --------
    >>> tract_centre(0)
    (0.0, -90.0)
    """
    ring_size = math.pi / (_RINGS + 1)
    counts = []
    for ring in range(_RINGS):
        start = ring_size * (ring + 0.5) - math.pi / 2
        closest = min(abs(start), abs(start + ring_size))  # the ring's edge nearer the equator
        counts.append(int(2 * math.pi * math.cos(closest) / ring_size) + 1)
    if tract == 0:
        return 0.0, -90.0
    if tract == sum(counts) + 1:
        return 0.0, 90.0
    index = tract - 1
    for ring, count in enumerate(counts):
        if index < count:
            dec = ring_size * (ring + 1) - math.pi / 2
            return math.degrees(2 * math.pi * index / count), math.degrees(dec)
        index -= count
    raise ValueError(f"the DC2 sky map has tracts 0 to {sum(counts) + 1}, not {tract}")


def patch_header(tract: int = TRACT, patch: int = PATCH) -> Any:
    """Return the celestial WCS of a patch's coadd file (4200 x 4200 pixels with its border).

    Parameters
    ----------
    tract, patch : int
        Patch number = row * 7 + column.

    Returns
    -------
    astropy.io.fits.Header
        Gnomonic about the tract centre, 0.2 arcsec pixels, north up and east left; ``NAXIS1/2``
        the patch's size, ``LTV1/2`` minus the patch's origin in the tract.

    Examples
    --------
    >>> from astropy.wcs import WCS
    >>> header = patch_header()
    >>> ra, dec = WCS(header).wcs_pix2world([[2099.5, 2099.5]], 0)[0]
    >>> round(float(ra), 2), round(float(dec), 2)
    (9.55, -44.1)
    """
    from astropy.io import fits

    row, column = divmod(patch, _PATCHES)
    if not 0 <= row < _PATCHES:
        raise ValueError(f"a tract has patches 0 to {_PATCHES**2 - 1}, not {patch}")
    ra, dec = tract_centre(tract)
    tract_side = _PATCHES * PATCH_INNER
    x0 = max(column * PATCH_INNER - PATCH_BORDER, 0)
    y0 = max(row * PATCH_INNER - PATCH_BORDER, 0)
    x1 = min((column + 1) * PATCH_INNER + PATCH_BORDER, tract_side)
    y1 = min((row + 1) * PATCH_INNER + PATCH_BORDER, tract_side)
    scale = PIXEL_SCALE / 3600.0
    header = fits.Header()
    header["NAXIS"] = 2
    header["NAXIS1"] = x1 - x0
    header["NAXIS2"] = y1 - y0
    header["CTYPE1"] = "RA---TAN"
    header["CTYPE2"] = "DEC--TAN"
    header["CRPIX1"] = tract_side / 2 - x0 + 0.5
    header["CRPIX2"] = tract_side / 2 - y0 + 0.5
    header["CRVAL1"] = ra
    header["CRVAL2"] = dec
    header["CD1_1"] = -scale
    header["CD1_2"] = 0.0
    header["CD2_1"] = 0.0
    header["CD2_2"] = scale
    header["CUNIT1"] = "deg"
    header["CUNIT2"] = "deg"
    header["RADESYS"] = "ICRS"
    header["LTV1"] = -x0
    header["LTV2"] = -y0
    return header


def coadds() -> Table:
    """Return the preview's coadd files: one per filter.

    Returns
    -------
    astropy.table.Table
        ``tract, patch, filter, ra, dec`` (the patch file's middle).

    Examples
    --------
    >>> coadds()["filter"].tolist()
    ['u', 'g', 'r', 'i', 'z', 'y']
    """
    from astropy.wcs import WCS

    header = patch_header()
    ra, dec = WCS(header).wcs_pix2world([[(header["NAXIS1"] - 1) / 2, (header["NAXIS2"] - 1) / 2]], 0)[0]
    n = len(FILTERS)
    return Table(
        {
            "tract": np.full(n, TRACT),
            "patch": np.full(n, PATCH),
            "filter": np.array(FILTERS),
            "ra": np.full(n, float(ra)),
            "dec": np.full(n, float(dec)),
        }
    )
