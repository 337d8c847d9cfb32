"""The OpenUniverse 2024 Roman Time Domain Survey: its observation sequence and which images exist.

IRSA publishes the simulation under ``openuniverse2024/roman/{full|preview}/RomanTDS/``: the
observation sequence ``Roman_TDS_obseq_11_6_23.fits`` (HDU 1, one row per pointing; the row
number is the ``pointing`` of the image names) and up to 18 images a pointing,
``images/simple_model/{filter}/{pointing}/Roman_TDS_simple_model_{filter}_{pointing}_{sca}.fits.gz``.

Published facts this table follows
    * Columns of the sequence: ``ra, dec, filter, exptime, date, pa`` (``date`` in MJD, ``pa``
      the focal plane's position angle): public code that reads the real file (roman_imsim's
      sequence loader, the Roman SN project's pointing loader); a public plotting script reads
      ``row[2]`` as the filter and ``row[5]`` as ``pa``, which fixes their order.
    * Seven filters in OpenUniverse spelling, R062 Z087 Y106 J129 H158 F184 K213; two tiers
      imaged every five days for about two years (the Roman High Latitude Time Domain Survey
      reference design, Rose et al. 2021: a wide tier of ~19 deg² and a deep tier of ~4.2 deg²),
      centred near the LSST ELAIS-S1 deep-drilling field (RA 9.45, Dec -44.0, as the IRSA
      notebooks and the LSST deep-drilling field list place it).
    * The sequence's structure, inferred from IRSA's listing of the real images holding one
      supernova (the instance CSV beside the IRSA TDS notebook): images of one filter at one
      place recur at pointing numbers that differ by whole multiples of 385 (one visit every
      five days has 385 pointings), and within a visit same-filter pointings that hold it
      differ by 5 (each place is imaged in five filters in a row, the filter given by the
      pointing's remainder modulo 5). The supernova there is held in a quarter of the visits:
      the field turns with the observatory's roll through the year.
    * Deep-tier exposure times of 300, 300, 300 and 900 s in Y, J, H and F (the design the
      IPAC Roman image simulations describe for the deep tier).

The sandbox's own choices
    * 77 places ("tiles") a visit: 63 wide-tier tiles (a 9 x 7 grid) then 14 deep-tier tiles
      (7 x 2), both centred on the field, 0.78 deg apart along the focal plane's long axis and
      0.42 deg along the short one (a grid that turns with the visit's roll, so each visit
      covers the field without gaps bar the detectors' own). 63 x 0.281 = 17.7 deg² and
      14 x 0.281 = 3.9 deg², close to the reference design's tiers.
    * The five filters of a tile, by remainder modulo 5: wide J129 Y106 R062 Z087 H158; deep
      J129 Y106 F184 K213 H158 (R062 at remainder 2 as in IRSA's listing).
    * Exposure times: wide tier 161 s in R062 and 101 s in the others; deep tier 302.275 s in
      Y106, J129 and H158 and 901.175 s in F184 and K213; 70 s of slew and settle between
      exposures.
    * 148 visits, the first at MJD 62000 (2028-08-10), five days apart (about two years); the
      position angle starts at 0 and follows the Sun (:func:`~.common.yearly_roll`); every
      exposure is dithered by up to 3 arcmin and 1 degree of roll from its tile (seeded).
    * The mirrored extent (the region whose images exist in the sandbox): ``full`` holds every
      (pointing, detector) whose pixels overlap a disc of radius :data:`FULL_RADIUS` about the
      field centre (1.3 deg², the deep tier's middle, where both tiers overlap and every filter
      is imaged); ``preview`` those overlapping a disc of radius :data:`PREVIEW_RADIUS` (0.13
      deg², a few detectors across, as IRSA's preview is a small part of the field).

Examples
--------
>>> sequence = observation_sequence()
>>> sequence.colnames
['ra', 'dec', 'filter', 'exptime', 'date', 'pa']
>>> len(sequence) == VISITS * POINTINGS_PER_VISIT
True
"""

from __future__ import annotations

import functools

import numpy as np
from astropy.table import Table

from roman_helpers.sandbox.sky import wfi
from roman_helpers.sandbox.sky.surveys.common import Disc, detector_images, rng, yearly_roll

__all__ = [
    "CADENCE",
    "FIELD",
    "FILTERS",
    "FULL_RADIUS",
    "MJD_START",
    "OBSEQ_NAME",
    "POINTINGS_PER_VISIT",
    "PREVIEW_RADIUS",
    "RELEASES",
    "SLOTS",
    "VISITS",
    "images",
    "observation_sequence",
    "pointings",
    "region",
]

#: File name of the observation sequence.
OBSEQ_NAME = "Roman_TDS_obseq_11_6_23.fits"
#: Filters in OpenUniverse spelling.
FILTERS = ("R062", "Z087", "Y106", "J129", "H158", "F184", "K213")
#: Field centre (ra, dec), degrees: the LSST ELAIS-S1 deep-drilling field.
FIELD = (9.45, -44.0)
#: Days between visits.
CADENCE = 5.0
#: Number of visits.
VISITS = 148
#: First visit, MJD.
MJD_START = 62000.0
#: Filters of a tile by pointing number modulo 5, per tier.
SLOTS = {
    "wide": ("J129", "Y106", "R062", "Z087", "H158"),
    "deep": ("J129", "Y106", "F184", "K213", "H158"),
}
_EXPTIME = {
    "wide": {"R062": 161.0, "Z087": 101.0, "Y106": 101.0, "J129": 101.0, "H158": 101.0},
    "deep": {"Y106": 302.275, "J129": 302.275, "H158": 302.275, "F184": 901.175, "K213": 901.175},
}
_OVERHEAD = 70.0  # seconds of slew and settle before each exposure
_GRIDS = {"wide": (9, 7), "deep": (7, 2)}  # tiles along u and v
_STEP = (0.78, 0.42)  # degrees between tiles along u and v
_DITHER = 0.05  # degrees, each way
_ROLL_DITHER = 1.0  # degrees
#: Tiles a visit and pointings a visit.
TILES_PER_VISIT = sum(nu * nv for nu, nv in _GRIDS.values())
POINTINGS_PER_VISIT = TILES_PER_VISIT * 5
#: Radii (degrees) of the mirrored discs about :data:`FIELD`.
FULL_RADIUS = 0.65
PREVIEW_RADIUS = 0.2
#: What each release of the layout holds.
RELEASES = ("full", "preview")


def region(release: str) -> Disc:
    """Return the part of the sky whose images a release of the sandbox's TDS holds.

    Parameters
    ----------
    release : {"full", "preview"}

    Returns
    -------
    Disc

    Examples
    --------
    >>> region("preview").radius < region("full").radius
    True
    """
    if release not in RELEASES:
        raise ValueError(f"release must be one of {RELEASES}, not {release!r}")
    return Disc(*FIELD, FULL_RADIUS if release == "full" else PREVIEW_RADIUS)


def _tiles() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tier name, u and v (degrees, focal-plane frame) of the 77 tiles of a visit, in order."""
    tier, u, v = [], [], []
    for name, (nu, nv) in _GRIDS.items():
        for j in range(nv):
            for i in range(nu):
                tier.append(name)
                u.append((i - (nu - 1) / 2) * _STEP[0])
                v.append((j - (nv - 1) / 2) * _STEP[1])
    return np.array(tier), np.array(u), np.array(v)


@functools.cache
def _build() -> Table:
    tier_of_tile, u_tile, v_tile = _tiles()
    n = VISITS * POINTINGS_PER_VISIT
    pointing = np.arange(n)
    visit, within = np.divmod(pointing, POINTINGS_PER_VISIT)
    tile, slot = np.divmod(within, 5)
    tier = tier_of_tile[tile]
    filters = np.where(tier == "wide", np.array(SLOTS["wide"])[slot], np.array(SLOTS["deep"])[slot])
    # exposure time by (tier, slot): one lookup table, indexed per pointing
    lookup = np.array([[_EXPTIME[name][band] for band in SLOTS[name]] for name in ("wide", "deep")])
    exptime = lookup[(tier == "deep").astype(int), slot]
    # exposures of a visit one after another, each after its slew and settle
    elapsed = np.zeros(n)
    duration = (exptime + _OVERHEAD).reshape(VISITS, POINTINGS_PER_VISIT)
    elapsed.reshape(VISITS, POINTINGS_PER_VISIT)[:, 1:] = np.cumsum(duration, axis=1)[:, :-1]
    date = MJD_START + visit * CADENCE + (elapsed + _OVERHEAD) / 86400.0
    visit_start = MJD_START + np.arange(VISITS) * CADENCE
    generator = rng("openuniverse2024", "RomanTDS", "dither")
    roll = yearly_roll(visit_start, 0.0, MJD_START)[visit] + generator.uniform(-_ROLL_DITHER, _ROLL_DITHER, n)
    du, dv = generator.uniform(-_DITHER, _DITHER, (2, n))
    # the tile grid turns with the roll: the tile's (u, v) is an offset in the focal plane's frame
    tile_ra, tile_dec = wfi.deproject(
        *FIELD, *wfi.focal_plane_to_sky(u_tile[tile] + du, v_tile[tile] + dv, roll)
    )
    table = Table(
        {
            "ra": np.round(tile_ra, 8),
            "dec": np.round(tile_dec, 8),
            "filter": filters.astype("U4"),
            "exptime": exptime,
            "date": np.round(date, 8),
            "pa": np.round(roll % 360.0, 6),
            "pointing": pointing,
            "visit": visit,
            "tier": tier.astype("U4"),
            "tile": tile,
        }
    )
    return table


def observation_sequence() -> Table:
    """Return the observation sequence as ``Roman_TDS_obseq_11_6_23.fits`` holds it (HDU 1).

    Returns
    -------
    astropy.table.Table
        One row per pointing, row number = pointing: ``ra, dec`` (the WFI centre, degrees),
        ``filter`` (OpenUniverse spelling), ``exptime`` (s), ``date`` (exposure start, MJD),
        ``pa`` (the focal plane's position angle, degrees).

    Examples
    --------
    >>> sequence = observation_sequence()
    >>> sorted(set(sequence["filter"])) == sorted(FILTERS)
    True
    >>> days = float(sequence["date"].max() - sequence["date"].min())
    >>> 735 < days < 745
    True
    """
    table = _build()
    return Table([table[name] for name in ("ra", "dec", "filter", "exptime", "date", "pa")], copy=False)


def pointings() -> Table:
    """Return the observation sequence with the sandbox's bookkeeping beside it.

    Returns
    -------
    astropy.table.Table
        The columns of :func:`observation_sequence` and ``pointing`` (the row number),
        ``visit`` (0-based, five days apart), ``tier`` (``wide`` or ``deep``), ``tile``
        (0-76, the place within the visit).

    Examples
    --------
    >>> table = pointings()
    >>> bool((table["pointing"] % POINTINGS_PER_VISIT // 5 == table["tile"]).all())
    True
    """
    return Table(_build(), copy=False)


@functools.cache
def _images(release: str) -> Table:
    return detector_images(_build(), region(release))


def images(release: str = "full") -> Table:
    """Return every (pointing, detector) image a release of the sandbox's TDS holds.

    Parameters
    ----------
    release : {"full", "preview"}
        ``full``: every detector image overlapping :func:`region` ``("full")``; ``preview``:
        those overlapping the smaller preview disc (a subset of ``full``).

    Returns
    -------
    astropy.table.Table
        ``pointing, sca, filter, date, exptime, pa`` and ``ra, dec`` (the detector's reference
        pixel on the sky), sorted by pointing then detector.

    Examples
    --------
    >>> preview = images("preview")
    >>> sorted(set(preview["filter"])) == sorted(FILTERS)
    True
    >>> len(preview) < len(images("full"))
    True
    """
    return Table(_images(release), copy=False)
