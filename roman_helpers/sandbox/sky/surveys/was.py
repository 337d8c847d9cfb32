"""The OpenUniverse 2024 Roman Wide Area Survey: its single-exposure images and its coadd block grid.

IRSA publishes, under ``openuniverse2024/roman/{full|preview}/RomanWAS/``, single exposures
``images/simple_model/{filter}/{N}/Roman_WAS_simple_model_{filter}_{N}_{sca}.fits.gz`` and
coadds ``images/coadds/{filter}/Row{row}/prod_{filter[0]}_{col}_{row}_map.fits``.

What ``N`` is
    The Roman data-access tutorial calls it ``hpix`` (a HEALPix cell), but it is the row of the
    WAS observation sequence (``Roman_WAS_obseq_11_1_23.fits``), the pointing number, as in the
    Time Domain Survey's names: the images come out of the same simulation code (roman_imsim
    names its output ``{filter}_{pointing}_{sca}``), public code that reads the archive takes
    the number as a row of that sequence, and no HEALPix cell numbered 15297 or 15298, at any
    resolution or ordering, lies near the OpenUniverse field (the nearest reading, nside 64,
    puts it at RA 92, Dec +22). Each pointing has one filter, so a number appears in one filter
    only.

Filters
    The real layout spells them as OpenUniverse does: Y106 J129 H158 F184 K213 (the filters of
    the coadds, which IRSA lists). ``H158`` is the F158 filter; ``roman_helpers/datasets.yaml``
    names that folder ``F158``, which the real layout does not have (``F184`` is the same in
    both spellings).

The coadd block grid (facts read from IRSA's WAS notebook)
    The notebook's table of the preview's block centres is reproduced to 1e-10 arcsec by a
    stereographic projection about (RA, Dec) = (9.55, -44.1) (the prose says "around RA = 9.5";
    the table says 9.55), blocks 100 arcsec apart, 36 x 36 of them (rows 0-35 northwards,
    columns 0-35 westwards), the listed centre of block (row, col) being the sky position of
    FITS pixel (1344, 1344) of a 2688-pixel block at 1.25/32 arcsec per pixel: the block's
    middle lies half a pixel further (:func:`block_centre`). A gnomonic projection misses the
    table by 0.02 arcsec. Each block file is 84 x 84 postage stamps of 32 pixels (1.25 arcsec),
    2688 pixels (105 arcsec): its 100-arcsec block and 2.5 arcsec of its neighbours each side.
    The preview holds rows and columns 12-23.

The sandbox's own choices
    * The observation sequence: 16 passes over a 11 x 20 grid of tiles (8.6 x 8.4 degrees,
      the size of the ~70 deg² OpenUniverse footprint) 0.78 and 0.42 degrees apart, each tile
      imaged in five filters in a row (pointing number modulo 5: Y106 J129 F184 H158 K213),
      140 s exposures (the HLWAS reference exposure) 70 s apart, a pass every 15 days from
      MJD 61750, the roll following the Sun, dithers of up to 3 arcmin.
    * The grid is placed so that the pointings the Roman tutorials name (15297 in F184, 15298
      in H158, ``datasets.yaml``) image the middle of the coadd area, as the real ones do.
    * Mirrored extent: ``full`` holds all 18 detectors of every pointing whose field overlaps a
      disc of radius 0.75 degrees about the coadd grid's centre (it holds the 1 x 1 degree coadd
      area); ``preview`` those overlapping a disc of radius 0.24 degrees (the central 20 x 20
      arcmin). Whole pointings, because the Roman Research Nexus's ASDF conversion of the preview
      (``OPEN_UNIVERSE/WAS/simple_model``) holds all 18 detectors of a pointing.

Examples
--------
>>> sequence = observation_sequence()
>>> str(sequence["filter"][15297]), str(sequence["filter"][15298])
('F184', 'H158')
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from astropy.table import Table
from numpy.typing import ArrayLike, NDArray

from roman_helpers.sandbox.sky import wfi
from roman_helpers.sandbox.sky.surveys.common import Disc, detector_images, rng, seed, yearly_roll

__all__ = [
    "BLOCKS",
    "BLOCK_ARCSEC",
    "BLOCK_PIXELS",
    "COADD_CENTRE",
    "COADD_FILTERS",
    "COADD_PIXEL_ARCSEC",
    "FILTERS",
    "OBSEQ_NAME",
    "PREVIEW_BLOCKS",
    "RELEASES",
    "STAMP_PIXELS",
    "block_centre",
    "block_header",
    "block_of",
    "coadd_blocks",
    "image_exposure",
    "image_seed",
    "images",
    "observation_sequence",
    "region",
]

OBSEQ_NAME = "Roman_WAS_obseq_11_1_23.fits"
#: Filters of the single exposures, in the order of a tile's five exposures.
FILTERS = ("Y106", "J129", "F184", "H158", "K213")
#: Filters of the coadds, as IRSA lists them.
COADD_FILTERS = ("F184", "H158", "J129", "K213", "Y106")
RELEASES = ("full", "preview")
#: Tangent point of the coadd grid's stereographic projection (ra, dec), degrees.
COADD_CENTRE = (9.55, -44.1)
#: Blocks a side of the full grid, their pitch and their files' pixels.
BLOCKS = 36
BLOCK_ARCSEC = 100.0
STAMP_PIXELS = 32
COADD_PIXEL_ARCSEC = 1.25 / STAMP_PIXELS
BLOCK_PIXELS = 84 * STAMP_PIXELS
#: Rows (and columns) of the preview's blocks.
PREVIEW_BLOCKS = range(12, 24)
_PITCH_PIXELS = round(BLOCK_ARCSEC / COADD_PIXEL_ARCSEC)  # 2560 output pixels between block centres

_PASSES = 16
_GRID = (11, 20)  # tiles along u and v
_STEP = (0.78, 0.42)
_EXPTIME = 140.0
_OVERHEAD = 70.0
_PASS_DAYS = 15.0
_MJD_START = 61750.0
_DITHER = 0.05
_ANCHOR = 15297  # a pointing the Roman tutorials name: its tile is put on the coadd grid's centre
_RADII = {"full": 0.75, "preview": 0.24}


def region(release: str) -> Disc:
    """Return the disc whose pointings a release of the sandbox's WAS holds.

    Parameters
    ----------
    release : {"full", "preview"}

    Returns
    -------
    Disc

    Examples
    --------
    >>> region("full").radius
    0.75
    """
    if release not in RELEASES:
        raise ValueError(f"release must be one of {RELEASES}, not {release!r}")
    return Disc(*COADD_CENTRE, _RADII[release])


def _tile_offsets() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    nu, nv = _GRID
    j, i = np.divmod(np.arange(nu * nv), nu)
    return (i - (nu - 1) / 2) * _STEP[0], (j - (nv - 1) / 2) * _STEP[1]


@functools.cache
def _build() -> Table:
    tiles = _GRID[0] * _GRID[1]
    n = _PASSES * tiles * len(FILTERS)
    pointing = np.arange(n)
    tile_number, slot = np.divmod(pointing, len(FILTERS))
    pass_, tile = np.divmod(tile_number, tiles)
    u, v = _tile_offsets()
    # the grid is fixed on the sky (north up), placed so that the anchor's tile is at the coadd centre
    anchor_tile = (_ANCHOR // len(FILTERS)) % tiles
    xi, eta = -(u - u[anchor_tile]), v - v[anchor_tile]
    generator = rng("openuniverse2024", "RomanWAS", "dither")
    dxi, deta = generator.uniform(-_DITHER, _DITHER, (2, n))
    ra, dec = wfi.deproject(*COADD_CENTRE, xi[tile] + dxi, eta[tile] + deta)
    date = (
        _MJD_START
        + pass_ * _PASS_DAYS
        + (np.arange(n) % (tiles * len(FILTERS)) + 1) * (_EXPTIME + _OVERHEAD) / 86400
    )
    pa = yearly_roll(_MJD_START + pass_ * _PASS_DAYS, 0.0, _MJD_START) + generator.uniform(-1.0, 1.0, n)
    return Table(
        {
            "ra": np.round(ra, 8),
            "dec": np.round(dec, 8),
            "filter": np.array(FILTERS)[slot],
            "exptime": np.full(n, _EXPTIME),
            "date": np.round(date, 8),
            "pa": np.round(pa % 360.0, 6),
            "pointing": pointing,
            "pass": pass_,
            "tile": tile,
        }
    )


def observation_sequence() -> Table:
    """Return the WAS observation sequence (``Roman_WAS_obseq_11_1_23.fits``, HDU 1).

    Returns
    -------
    astropy.table.Table
        ``ra, dec, filter, exptime, date, pa`` as the TDS sequence; row number = pointing = the
        ``N`` of the image names.

    Examples
    --------
    >>> len(observation_sequence())
    17600
    """
    table = _build()
    return Table([table[name] for name in ("ra", "dec", "filter", "exptime", "date", "pa")], copy=False)


@functools.cache
def _images(release: str) -> Table:
    return detector_images(_build(), region(release), whole_pointings=True)


def images(release: str = "preview") -> Table:
    """Return the single-exposure images (``simple_model``) a release of the sandbox's WAS holds.

    Parameters
    ----------
    release : {"full", "preview"}

    Returns
    -------
    astropy.table.Table
        ``pointing, sca, filter, date, exptime, pa, ra, dec`` (``ra, dec``: the detector's
        reference pixel), all 18 detectors of each pointing held.

    Examples
    --------
    >>> table = images("preview")
    >>> bool(((table["pointing"] == 15297) & (table["filter"] == "F184")).sum() == 18)
    True
    """
    return Table(_images(release), copy=False)


def image_seed(pointing: int, sca: int) -> int:
    """Return the seed of the WAS image (``pointing``, ``sca``): its noise, cosmic rays, realised fluxes.

    One rule for every layout that serves the image (IRSA's ``.fits.gz`` and the Roman Research
    Nexus's ASDF conversion), so both hold the same pixels.

    Examples
    --------
    >>> image_seed(15297, 11) == image_seed(15297, 11) != image_seed(15297, 12)
    True
    """
    return seed("openuniverse2024", "RomanWAS", "simple_model", int(pointing), int(sca))


def image_exposure(pointing: int, sca: int) -> Any:
    """Return the :class:`~roman_helpers.sandbox.sky.render.Exposure` of WAS image (``pointing``, ``sca``).

    The pointing's row of :func:`observation_sequence` (boresight, position angle, filter,
    exposure time, start), the detector's WCS in the OpenUniverse convention, 4088 x 4088
    pixels in electrons, the detector's own defects, :func:`image_seed`.

    Examples
    --------
    >>> image = image_exposure(15297, 11)
    >>> image.shape, image.units, image.filter.name
    ((4088, 4088), 'electron', 'F184')
    """
    from roman_helpers.sandbox.sky.render import Exposure

    row = _build()[int(pointing)]
    return Exposure(
        wfi.wcs(float(row["ra"]), float(row["dec"]), float(row["pa"]), int(sca)),
        (wfi.DETECTOR_SIDE, wfi.DETECTOR_SIDE),
        str(row["filter"]),
        exptime=float(row["exptime"]),
        mjd=float(row["date"]),
        seed=image_seed(pointing, sca),
        units="electron",
        detector=int(sca),
    )


@functools.cache
def _mosaic_wcs() -> Any:
    """The grid's projection: stereographic about the centre, 0-based pixel 0 at the tangent point."""
    from astropy.wcs import WCS

    scale = COADD_PIXEL_ARCSEC / 3600.0
    projection = WCS(naxis=2)
    projection.wcs.ctype = ["RA---STG", "DEC--STG"]
    projection.wcs.crval = list(COADD_CENTRE)
    projection.wcs.crpix = [1.0, 1.0]
    projection.wcs.cd = [[-scale, 0.0], [0.0, scale]]
    return projection


def _check_block(row: ArrayLike, col: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    rows, cols = np.asarray(row), np.asarray(col)
    if rows.size and (rows.min() < 0 or rows.max() >= BLOCKS or cols.min() < 0 or cols.max() >= BLOCKS):
        raise ValueError(f"coadd blocks have rows and columns 0 to {BLOCKS - 1}")
    return rows.astype(np.int64), cols.astype(np.int64)


def block_centre(row: ArrayLike, col: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the sky position IRSA lists as a coadd block's centre.

    That is FITS pixel (1344, 1344) of the block's 2688 x 2688 image, half an output pixel
    (0.02 arcsec) south-east of the block's geometric middle.

    Parameters
    ----------
    row, col : array_like of int
        Block row (0-35, northwards) and column (0-35, westwards).

    Returns
    -------
    ra, dec : ndarray
        Degrees.

    Examples
    --------
    >>> ra, dec = block_centre(12, 12)
    >>> round(float(ra), 5), round(float(dec), 5)
    (9.7633, -44.25258)
    """
    rows, cols = _check_block(row, col)
    centre = (BLOCKS - 1) / 2
    x = (cols - centre) * _PITCH_PIXELS - 0.5
    y = (rows - centre) * _PITCH_PIXELS - 0.5
    ra, dec = _mosaic_wcs().wcs_pix2world(x, y, 0)
    return np.asarray(ra, dtype=float), np.asarray(dec, dtype=float)


def block_of(ra: ArrayLike, dec: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Return the (row, col) of the coadd block whose 100-arcsec area holds each position.

    The inverse of :func:`block_centre`: positions outside the 36 x 36 grid give -1.

    Parameters
    ----------
    ra, dec : array_like
        Degrees.

    Returns
    -------
    row, col : ndarray of int

    Examples
    --------
    >>> row, col = block_of(*block_centre([0, 20, 35], [35, 14, 0]))
    >>> row.tolist(), col.tolist()
    ([0, 20, 35], [35, 14, 0])
    >>> [int(v) for v in block_of(30.0, -44.1)]
    [-1, -1]
    """
    x, y = _mosaic_wcs().wcs_world2pix(np.asarray(ra, dtype=float), np.asarray(dec, dtype=float), 0)
    centre = (BLOCKS - 1) / 2
    col = np.floor(np.asarray(x) / _PITCH_PIXELS + centre + 0.5).astype(np.int64)
    row = np.floor(np.asarray(y) / _PITCH_PIXELS + centre + 0.5).astype(np.int64)
    outside = (row < 0) | (row >= BLOCKS) | (col < 0) | (col >= BLOCKS)
    return np.where(outside, -1, row), np.where(outside, -1, col)


def block_header(row: int, col: int) -> Any:
    """Return the celestial WCS of one coadd block file (2688 x 2688, 1.25/32 arcsec pixels).

    Parameters
    ----------
    row, col : int
        Block row and column, 0-35.

    Returns
    -------
    astropy.io.fits.Header
        ``CTYPE RA---STG/DEC--STG``, ``CRVAL`` the grid's centre, ``CRPIX`` placing this block,
        ``CD`` (north up, east left).

    Examples
    --------
    >>> from astropy.wcs import WCS
    >>> w = WCS(block_header(17, 17))
    >>> ra, dec = w.wcs_pix2world([[1343.0, 1343.0]], 0)[0]
    >>> ra0, dec0 = block_centre(17, 17)
    >>> bool(abs(ra - ra0) < 1e-9 and abs(dec - dec0) < 1e-9)
    True
    """
    from astropy.io import fits

    rows, cols = _check_block(row, col)
    centre = (BLOCKS - 1) / 2
    scale = COADD_PIXEL_ARCSEC / 3600.0
    header = fits.Header()
    header["WCSAXES"] = 2
    header["CTYPE1"] = "RA---STG"
    header["CTYPE2"] = "DEC--STG"
    # 0-based pixel 1343 of the block is the grid's pixel (col - 17.5) * 2560 - 0.5
    header["CRPIX1"] = BLOCK_PIXELS / 2 + 0.5 - (float(cols) - centre) * _PITCH_PIXELS
    header["CRPIX2"] = BLOCK_PIXELS / 2 + 0.5 - (float(rows) - centre) * _PITCH_PIXELS
    header["CRVAL1"] = COADD_CENTRE[0]
    header["CRVAL2"] = COADD_CENTRE[1]
    header["CUNIT1"] = "deg"
    header["CUNIT2"] = "deg"
    header["CD1_1"] = -scale
    header["CD1_2"] = 0.0
    header["CD2_1"] = 0.0
    header["CD2_2"] = scale
    header["RADESYS"] = "ICRS"
    return header


def coadd_blocks(release: str = "preview") -> Table:
    """Return every coadd block file a release holds.

    Parameters
    ----------
    release : {"full", "preview"}
        ``full``: the 36 x 36 grid; ``preview``: rows and columns 12-23.

    Returns
    -------
    astropy.table.Table
        ``filter, row, col, ra, dec`` (``ra, dec`` from :func:`block_centre`).

    Examples
    --------
    >>> len(coadd_blocks("preview")), len(coadd_blocks("full"))
    (720, 6480)
    """
    if release not in RELEASES:
        raise ValueError(f"release must be one of {RELEASES}, not {release!r}")
    span = np.arange(BLOCKS) if release == "full" else np.arange(PREVIEW_BLOCKS.start, PREVIEW_BLOCKS.stop)
    rows, cols = (grid.ravel() for grid in np.meshgrid(span, span, indexing="ij"))
    ra, dec = block_centre(rows, cols)
    n = len(rows)
    return Table(
        {
            "filter": np.repeat(np.array(COADD_FILTERS), n),
            "row": np.tile(rows, len(COADD_FILTERS)),
            "col": np.tile(cols, len(COADD_FILTERS)),
            "ra": np.tile(ra, len(COADD_FILTERS)),
            "dec": np.tile(dec, len(COADD_FILTERS)),
        }
    )
