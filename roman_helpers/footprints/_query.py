"""Querying an index: the files whose image holds a position, and the pixel there (private)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from os import PathLike
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _bands, _sky, _wcs
from ._build import check_workers
from ._manifest import SKYCELL_REACH_DEG, candidates, learn, pending
from ._store import _check_columns, load_index, save_index, strings

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from astropy.coordinates import SkyCoord
    from astropy.table import Row, Table
    from astropy.wcs import WCS

__all__ = ["PREFILTER_MARGIN_DEG", "find", "find_many", "row_wcs"]

#: Extra angle around each footprint polygon in the fast pre-filter of :func:`find`. The corners are
#: joined by great circles; a pixel edge bent by a detector's optical distortion departs from that
#: great circle by far less than this, and the exact test with each file's WCS follows anyway.
PREFILTER_MARGIN_DEG = 10.0 / 3600


def _unit_vectors(ra: Any, dec: Any) -> np.ndarray:
    ra, dec = np.radians(ra), np.radians(dec)
    cos_dec = np.cos(dec)
    return np.stack([cos_dec * np.cos(ra), cos_dec * np.sin(ra), np.sin(dec)], axis=-1)


def _edges(ra_corners: np.ndarray, dec_corners: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Corner unit vectors (n, 4, 3), raw edge normals A x B, and unit normals pointing inside."""
    corners = _unit_vectors(ra_corners, dec_corners)
    raw = np.cross(corners, np.roll(corners, -1, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = raw / np.linalg.norm(raw, axis=-1, keepdims=True)
    # corner 2 lies inside the polygon whichever way round (parity) the corners go
    inward = np.sign(np.einsum("nj,nj->n", unit[:, 0], corners[:, 2]))
    return corners, raw, unit * inward[:, None, None]


def _polygon_distance(
    target: np.ndarray, corners: np.ndarray, raw: np.ndarray, inward: np.ndarray
) -> np.ndarray:
    """Angle (radians) from ``target`` to each footprint polygon; 0 inside."""
    sines = np.einsum("nkj,j->nk", inward, target)  # sine of the distance to each edge's great circle
    projected = target - sines[..., None] * inward
    ends = np.roll(corners, -1, axis=1)
    within = (np.einsum("nkj,nkj->nk", np.cross(corners, projected), raw) >= 0) & (
        np.einsum("nkj,nkj->nk", np.cross(projected, ends), raw) >= 0
    )

    def angle_to(points):
        return np.arctan2(np.linalg.norm(np.cross(points, target), axis=-1), points @ target)

    to_edge = np.where(
        within, np.arcsin(np.clip(np.abs(sines), 0, 1)), np.minimum(angle_to(corners), angle_to(ends))
    )
    return np.where(np.all(sines >= 0, axis=1), 0.0, np.min(to_edge, axis=1))


def row_wcs(row: Row) -> WCS:
    r"""Return the celestial WCS stored in one row of an index.

    Parameters
    ----------
    row : astropy.table.Row
        A row of :func:`build_index` or :func:`find`.

    Returns
    -------
    astropy.wcs.WCS
        0-based pixels as everywhere in astropy; for an ASDF file a FITS-SIP fit to its gwcs,
        within ``row["wcs_error"]`` pixels.

    Examples
    --------
    >>> from astropy.table import Table
    >>> text = "CTYPE1  = 'RA---TAN'\nCTYPE2  = 'DEC--TAN'\nCRVAL1  = 10.0\nCRVAL2  = -20.0"
    >>> row_wcs(Table({"wcs": [text]})[0]).wcs.crval
    array([ 10., -20.])
    """
    return _wcs.from_text(str(row["wcs"]))


def _pixel_positions(
    table: Table, rows: np.ndarray, target: SkyCoord, radius_deg: float
) -> tuple[np.ndarray, ...]:
    """x, y of ``target`` with each row's WCS, and whether the image (or the radius around it) holds it."""
    from astropy.wcs import NoConvergence

    xs, ys = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
    keep = np.zeros(len(rows), dtype=bool)
    in_frame: dict[str, tuple[float, float]] = {}  # the target converted once per celestial frame
    for i, row in enumerate(rows):
        text = str(table["wcs"][row])
        wcs, frame = _wcs.from_text(text), _wcs.celestial_frame(text)
        if repr(frame) not in in_frame:
            converted = target.transform_to(frame).spherical
            in_frame[repr(frame)] = (float(converted.lon.deg), float(converted.lat.deg))
        world = [0.0, 0.0]
        world[wcs.wcs.lng], world[wcs.wcs.lat] = in_frame[repr(frame)]
        try:
            x, y = wcs.all_world2pix(np.array([world]), 0)[0]
        except NoConvergence:  # a distortion polynomial far outside its image: not there
            continue
        xs[i], ys[i] = x, y
        nx, ny = int(table["naxis1"][row]), int(table["naxis2"][row])
        # 0-based pixel centres: the image spans -0.5 ... n - 0.5
        keep[i] = -0.5 <= x < nx - 0.5 and -0.5 <= y < ny - 0.5
        if not keep[i] and radius_deg > 0 and np.isfinite(x) and np.isfinite(y):
            nearest = wcs.pixel_to_world(np.clip(x, -0.5, nx - 0.5), np.clip(y, -0.5, ny - 0.5))
            keep[i] = bool(nearest.separation(target).deg <= radius_deg)
    return xs, ys, keep


def find(
    index: Table | str | PathLike,
    position: Any,
    *,
    radius: Any = None,
    band: str | Iterable[str] | None = None,
    time: Any = None,
    max_workers: int = 16,
    anon: bool | None = None,
    progress: bool | None = None,
) -> Table:
    """Find the files of an index whose image holds a sky position, and the pixel there.

    Parameters
    ----------
    index : astropy.table.Table or path
        From :func:`build_index`, :func:`from_manifest` or :func:`load_index`. The footprints
        of an index made from a manifest are read when first needed (see below) and kept in
        it: in the table given, or, for a path, saved back to that file.
    position : astropy.coordinates.SkyCoord or str
        The target. A string holds RA then Dec: decimal degrees (``"9.4508 -44.0905"``), or
        sexagesimal with RA in hours (``"00:37:48.19 -44:05:25.80"``), or with units
        (``"0h37m48.19s -44d05m25.8s"``), read as everywhere in the package.
    radius : astropy.units.Quantity or str, optional
        Also keep files whose image comes within this angle of the target.
    band : str or list of str, optional
        Keep only these bands, in any spelling and case: Roman's F158 also finds OpenUniverse's
        files named H158, and the other way round. The rows keep the file's own name.
    time : (start, end), optional
        Keep only exposures overlapping this interval: astropy ``Time``, MJD numbers or ISO dates
        and times (UTC); ``None`` leaves that end open. Files without times are left out when a
        time is given.
    max_workers : int, optional
        Files whose footprint is read at the same time (an index made from a manifest).
    anon : bool, optional
        Anonymous access for those reads; by default decided by each bucket.
    progress : bool, optional
        Show a progress bar while footprints are read; by default only on a terminal.

    Returns
    -------
    astropy.table.Table
        The index rows of the files found, sorted by ``t_start``, with ``x`` and ``y``: the
        target's 0-based pixel position in each file, from that file's own WCS (the image spans
        -0.5 to ``naxis - 0.5``). Empty, with a warning giving the distance to the nearest
        footprint, when no file holds the target: ``meta["reason"]`` says so, and
        ``meta["message"]`` adds what to do. Near a footprint that is to search wider
        (``radius=``); far from every one (more than :data:`NEAR_ARCSEC` and the footprint's own
        size), ``meta["suggestion"]`` says where the position was probably meant to be (RA and
        Dec swapped, the Dec's sign lost, an RA in hours read as degrees) when the index has
        files there, or that the index covers another part of the sky.
        ``meta["footprints"]`` counts the footprints this search read from file headers:
        ``candidates`` (files of a manifest not read yet whose detector lies within
        :data:`DETECTOR_REACH_DEG` plus the radius of the target, or whose skycell within
        :data:`SKYCELL_REACH_DEG`, and of the band and time asked for), ``read``, and of
        those ``not_read`` (the network failed: left out now, tried again by the next search,
        with a warning) and ``unreadable``. A second search of the same place reads none.

    Raises
    ------
    InvalidParameterError
        For a position, radius or time that cannot be read, or a band not in the index (the
        message lists those present, in Roman's and the files' spelling).
    FileFormatError
        For a table or file that is not an index (:func:`load_index`).
    Interrupted
        On Ctrl-C while footprints are read: those read by then are kept in the index.

    Examples
    --------
    >>> from roman_helpers.footprints import build_index, find
    >>> index = build_index("s3://stpubdata/roman/nexus/soc_simulations/tutorial_data/roman-2026.2/")
    >>> found = find(index, "270.7956 -0.2870", band="F106")  # the mosaic, then four exposures
    >>> list(found["detector"]), round(float(found["x"][1]), 1), round(float(found["y"][1]), 1)
    (['', 'WFI11', 'WFI11', 'WFI11', 'WFI11'], 1126.7, 2956.7)
    """
    check_workers(max_workers)
    path = index if isinstance(index, (str, PathLike)) else None
    if isinstance(index, (str, PathLike)):
        index = load_index(index)
    _check_columns(index, "index")
    target = _sky.parse_sky_position(position)
    radius_deg = 0.0 if radius is None else float(_sky.parse_radius(radius).deg)
    selected = _selection(index, band, time)
    points = _unit_vectors(float(target.ra.deg), float(target.dec.deg)).reshape(1, 3)
    read = _read_footprints(index, path, points, radius_deg, selected, max_workers, anon, progress)
    usable = (strings(index["error"]) == "") & (np.asarray(index["naxis1"]) > 0)
    rows, xs, ys = _holding(index, usable, selected, target, radius_deg)
    found = index[rows]
    found["x"], found["y"] = xs, ys
    found = (
        found[np.lexsort((np.asarray(found["uri"], dtype=str), np.asarray(found["t_start"], float)))]
        if len(found)
        else found
    )
    ra_t, dec_t = float(target.ra.deg), float(target.dec.deg)
    found.meta["query"] = {"ra": ra_t, "dec": dec_t, "radius_deg": radius_deg}
    found.meta["footprints"] = read
    if not len(found):
        usable[usable] = selected(np.flatnonzero(usable))
        unread = np.flatnonzero(pending(index))
        reason, suggestion = _unread_nearer(
            index, unread[selected(unread, unknown_time=True)], usable, ra_t, dec_t
        )
        if not reason:
            reason, suggestion = _nothing_found(index, usable, ra_t, dec_t)
        found.meta["reason"], found.meta["suggestion"] = reason, suggestion
        found.meta["message"] = message = reason + (
            f", so a wider radius= would not help; {suggestion}"
            if suggestion
            else "; widen the search with radius="
        )
        warnings.warn(message, UserWarning, stacklevel=2)
    return found


def _read_footprints(
    index: Table,
    path: str | PathLike | None,
    points: np.ndarray,
    radius_deg: float,
    selected: Callable[..., np.ndarray],
    max_workers: int,
    anon: bool | None,
    progress: bool | None,
) -> dict[str, int]:
    """Read the footprints of a manifest's files that could hold any of ``points``, into the index.

    The candidates: rows not read yet of the band and time asked for (or without times), whose
    detector lies within :data:`DETECTOR_REACH_DEG` (a skycell within :data:`SKYCELL_REACH_DEG`)
    plus the radius of a point. What is read is kept in ``index`` and, when it came from a file,
    saved back there (also on Ctrl-C).
    """
    rows = np.flatnonzero(pending(index))
    if len(rows):
        rows = rows[selected(rows, unknown_time=True)]  # band and time first: comparisons only
        rows = candidates(index, rows, points, radius_deg)
    counts = {"candidates": len(rows), "read": 0, "not_read": 0, "unreadable": 0}
    if not len(rows):
        return counts
    try:
        counts.update(learn(index, rows, anon=anon, max_workers=max_workers, progress=progress))
    finally:
        if path is not None:
            save_index(index, path)  # whole or not at all, with what was read (also on Ctrl-C)
    if counts["not_read"]:
        warnings.warn(
            f"{counts['not_read']} of the {len(rows)} files that may hold the position could not be "
            "read (the network or access failed): they are left out of this answer and read again by "
            "the next search",
            UserWarning,
            stacklevel=3,
        )
    return counts


def _holding(
    index: Table,
    usable: np.ndarray,
    selected: Callable[..., np.ndarray],
    target: SkyCoord,
    radius_deg: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows whose image holds ``target`` (or comes within the radius), and its pixel x, y in each."""
    ra_t, dec_t = float(target.ra.deg), float(target.dec.deg)
    reach = radius_deg + PREFILTER_MARGIN_DEG
    # Vectorised on the unit sphere by hand: no library tests one point against a million polygons.
    # 1. declination band, then 2. right-ascension window: comparisons only, no trigonometry per row
    fov = np.asarray(index["fov_radius"], float)
    candidates = np.flatnonzero(
        usable & (np.abs(np.asarray(index["dec_center"], float) - dec_t) <= fov + reach)
    )
    if len(candidates):
        widest = float(np.max(fov[candidates])) + reach
        if abs(dec_t) + widest < 90:
            # haversine: separation > widest wherever cos(dec1) cos(dec2) sin^2(dra/2) > sin^2(widest/2)
            lowest_cos = math.cos(math.radians(dec_t)) * math.cos(math.radians(abs(dec_t) + widest))
            ratio = math.sin(math.radians(widest) / 2) / math.sqrt(lowest_cos)
            window = 180.0 if ratio >= 1 else math.degrees(2 * math.asin(ratio))
            offset = (np.asarray(index["ra_center"], float)[candidates] - ra_t + 180.0) % 360.0 - 180.0
            candidates = candidates[np.abs(offset) <= window]
    # 3. the polygons: inside every edge's great circle, widened by the margin (and the radius)
    point = _unit_vectors(ra_t, dec_t)
    _corners, _raw, inward = _edges(
        np.asarray(index["ra_corners"], float)[candidates],
        np.asarray(index["dec_corners"], float)[candidates],
    )
    sines = np.einsum("nkj,j->nk", inward, point)
    candidates = candidates[np.all(sines >= -math.sin(math.radians(reach)), axis=1)]
    candidates = candidates[selected(candidates)]  # band and time: on the few rows left, not on all
    # 4. the exact test, with each file's own WCS
    xs, ys, keep = _pixel_positions(index, candidates, target, radius_deg)
    return candidates[keep], xs[keep], ys[keep]


def _selection(index: Table, band: Any, time: Any) -> Callable[..., np.ndarray]:
    """Check ``band`` and ``time``; return a mask function for rows (by number) that match them."""
    spellings: list[str] | None = None  # the band names as the index writes them
    wanted = _sky.parse_bands(band)
    if wanted is not None:
        spellings = _bands.held(wanted, sorted({str(b) for b in strings(index["band"])}))
    start, end = _sky.parse_time_range(time) if time is not None else (-math.inf, math.inf)

    def selected(rows: np.ndarray, *, unknown_time: bool = False) -> np.ndarray:
        """``unknown_time``: a row without times may match (a mosaic of a manifest, not read yet)."""
        keep = np.ones(len(rows), dtype=bool)
        if spellings is not None:
            keep &= np.isin(strings(index["band"])[rows], spellings)
        if time is not None:
            t_start = np.asarray(index["t_start"], float)[rows]
            t_end = np.asarray(index["t_end"], float)[rows]
            t_end = np.where(np.isnan(t_end), t_start, t_end)
            within = (t_end >= start) & (t_start <= end)
            keep &= within | (unknown_time & np.isnan(t_start))
        return keep

    return selected


#: A miss within this many arcseconds of a footprint (or within the footprint's own size) is near:
#: ``radius=`` may be what is wanted (a target at an image's edge, a gap between detectors).
#: Further away a wider search would only list unrelated files, and the position itself is doubted.
NEAR_ARCSEC = 60.0


def _angle_words(degrees: float) -> str:
    if degrees >= 1:
        return f"{degrees:.1f} degrees"
    if degrees >= 1 / 60:
        return f"{degrees * 60:.1f} arcmin"
    return f"{degrees * 3600:.1f} arcsec"


def _nearest(index: Table, rows: np.ndarray, point: np.ndarray, dec: float) -> tuple[float, int]:
    """The distance (degrees) from ``point`` to the nearest footprint of ``rows``, and that row."""
    ra_c, dec_c = np.asarray(index["ra_center"], float), np.asarray(index["dec_center"], float)
    fov = np.asarray(index["fov_radius"], float)

    def to_centre(rows: np.ndarray) -> np.ndarray:
        centres = _unit_vectors(ra_c[rows], dec_c[rows])
        return np.degrees(np.arctan2(np.linalg.norm(np.cross(centres, point), axis=-1), centres @ point))

    # a nearby centre bounds the answer; only rows within that bound (plus their size) in declination
    # can hold a nearer footprint, and a footprint is no nearer than its centre minus its radius
    near = rows[np.abs(dec_c[rows] - dec) <= 1.0]
    bound = float(np.nanmin(to_centre(near if len(near) else rows)))
    rows = rows[np.abs(dec_c[rows] - dec) <= bound + np.nanmax(fov[rows])]
    distances = to_centre(rows)
    rows = rows[distances - fov[rows] <= np.nanmin(distances)]
    distance = np.degrees(
        _polygon_distance(
            point,
            *_edges(
                np.asarray(index["ra_corners"], float)[rows], np.asarray(index["dec_corners"], float)[rows]
            ),
        )
    )
    nearest = int(np.nanargmin(distance))
    return float(distance[nearest]), int(rows[nearest])


def _misreadings(ra: float, dec: float) -> list[tuple[float, float, str, str]]:
    """Where a position typed with a common slip was meant to be: ``(ra, dec, the slip, advice)``."""
    found = []
    if ra <= 90:  # RA and Dec in each other's place (a Dec typed first cannot be negative here)
        found.append((dec, ra, "RA and Dec swapped", "check the order: RA first, then Dec"))
        found.append(
            (dec, -ra, "RA and Dec swapped, and the Dec's sign", "check the order (RA first) and the signs")
        )
    if dec != 0:
        found.append((ra, -dec, "the Dec's sign", "check the sign of the Dec"))
    if ra < 24:
        hours = f"{ra:g}h"
        found.append(
            (
                ra * 15,
                dec,
                "RA in hours",
                f"a decimal RA is read in degrees: write hours with their unit, {hours}",
            )
        )
    return [(r % 360, d, slip, advice) for r, d, slip, advice in found if -90 <= d <= 90]


def _extent(index: Table, rows: np.ndarray) -> tuple[str, float]:
    """Where the files of ``rows`` lie: the point they lie around, and within how many degrees of it."""
    ra_c, dec_c = np.asarray(index["ra_center"], float)[rows], np.asarray(index["dec_center"], float)[rows]
    centres = _unit_vectors(ra_c, dec_c)
    middle = centres.mean(axis=0)
    middle /= np.linalg.norm(middle)
    spread = np.degrees(np.arctan2(np.linalg.norm(np.cross(centres, middle), axis=-1), centres @ middle))
    within = float(np.max(spread + np.asarray(index["fov_radius"], float)[rows]))
    ra, dec = math.degrees(math.atan2(middle[1], middle[0])) % 360, math.degrees(math.asin(middle[2]))
    return f"ra={ra:.4f} dec={dec:.4f}", within


def _unread_nearer(
    index: Table, unread: np.ndarray, usable: np.ndarray, ra: float, dec: float
) -> tuple[str, str]:
    """Why nothing was found when a manifest's file not read yet is the nearest: ("", "") otherwise.

    Such a file's centre lies beyond its reach (its ``fov_radius`` until read:
    :data:`DETECTOR_REACH_DEG`, or a skycell's) plus the search radius (else it was read), so the
    distance to that centre less the reach is how near its pixels may come.
    """
    if not len(unread):
        return "", ""
    point = _unit_vectors(ra, dec)
    centres = _unit_vectors(
        np.asarray(index["ra_center"], float)[unread], np.asarray(index["dec_center"], float)[unread]
    )
    distances = np.degrees(np.arctan2(np.linalg.norm(np.cross(centres, point), axis=-1), centres @ point))
    reaches = np.asarray(index["fov_radius"], float)[unread]
    nearest = int(np.argmin(distances - reaches))  # the file whose pixels may come nearest
    centre, reach = float(distances[nearest]), float(reaches[nearest])
    if centre <= reach:  # within reach, yet not read: its read failed (find warned)
        return (
            f"no file read holds ra={ra:.6f} dec={dec:.6f}, but files that may hold it could not be read",
            "search again to read them",
        )
    rows = np.flatnonzero(usable)
    if len(rows) and _nearest(index, rows, point, dec)[0] <= centre - reach:
        return "", ""  # a footprint read is nearer: the usual answer
    mosaic = math.isclose(reach, SKYCELL_REACH_DEG)  # the bound a coadd manifest's rows are given
    what, whose = ("skycell", "a skycell mosaic's") if mosaic else ("detector", "a detector's")
    reason = (
        f"no file in the index holds ra={ra:.6f} dec={dec:.6f}; the nearest {what} of its manifest "
        f"has its centre {_angle_words(centre)} away, beyond the {reach * 3600:.0f} arcsec "
        f"within which {whose} pixels lie"
    )
    if centre * 3600 <= NEAR_ARCSEC + reach * 3600:
        return reason, ""
    middle, within = _extent(index, unread)
    return reason, (
        f"the manifest's files lie within {_angle_words(within)} of {middle}; check the position, "
        "or use the manifest of that field"
    )


def _nothing_found(index: Table, usable: np.ndarray, ra: float, dec: float) -> tuple[str, str]:
    """Why nothing was found (how far the nearest footprint is), and, when far, what to check.

    Only computed then. Near a footprint (:data:`NEAR_ARCSEC`) the suggestion is empty: a wider
    radius may be what is wanted. Far from all, it is the position as it was probably meant (RA
    and Dec swapped, a sign lost, hours read as degrees) where the index has files, or else that
    the index covers another part of the sky.
    """
    from astropy.coordinates import SkyCoord

    where = f"no file in the index holds ra={ra:.6f} dec={dec:.6f}"
    rows = np.flatnonzero(usable)
    if not len(rows):
        return f"{where}: no file is left after the band and time selection", ""
    distance, nearest = _nearest(index, rows, _unit_vectors(ra, dec), dec)
    if distance * 3600 <= max(NEAR_ARCSEC, float(index["fov_radius"][nearest]) * 3600):
        return (
            f"{where}; the nearest footprint is {distance * 3600:.1f} arcsec away ({index['uri'][nearest]})",
            "",
        )
    reason = f"{where}; the nearest footprint is {_angle_words(distance)} away"
    for meant_ra, meant_dec, slip, advice in _misreadings(ra, dec):
        meant = SkyCoord(meant_ra, meant_dec, unit="deg")
        held = _holding(index, usable, lambda rows: np.ones(len(rows), bool), meant, 0.0)[0]
        if len(held):
            return (
                reason,
                f"ra={meant_ra:.6f} dec={meant_dec:.6f} ({slip}) is in {len(held)} of its files: {advice}",
            )
    middle, within = _extent(index, rows)
    if within > 90:
        return reason, f"the index's {len(rows)} files lie all over the sky, none near it: check the position"
    return reason, (
        f"the index covers another part of the sky (its {len(rows)} files lie within {_angle_words(within)} "
        f"of {middle}); check the position, or use an index of that field"
    )


#: Files compared with every target at once in :func:`find_many` (bounds its memory: files x targets x 4).
_FILES_AT_ONCE = 2048


def _sky_positions(positions: Any) -> SkyCoord:
    """Many positions as one ICRS SkyCoord array: a SkyCoord (array), or SkyCoords or strings each."""
    from astropy.coordinates import SkyCoord

    if isinstance(positions, SkyCoord):
        return positions.icrs.reshape(-1) if not positions.isscalar else positions.icrs.reshape(1)
    if isinstance(positions, str):
        positions = [positions]
    parsed = [_sky.parse_sky_position(position) for position in positions]
    if not parsed:
        return SkyCoord([], [], unit="deg")
    return SkyCoord([p.ra for p in parsed], [p.dec for p in parsed])


def find_many(
    index: Table | str | PathLike,
    positions: Any,
    *,
    band: str | Iterable[str] | None = None,
    time: Any = None,
    max_workers: int = 16,
    anon: bool | None = None,
    progress: bool | None = None,
) -> Table:
    """Find, for each of many positions, the files of an index whose image holds it, and the pixel.

    What :func:`find` does for one position, for hundreds or thousands at once: every file's
    footprint is compared with every position in one array operation, then each file's WCS
    places all the positions near it in one call.

    Parameters
    ----------
    index : astropy.table.Table or path
        From :func:`build_index` or :func:`load_index`.
    positions : astropy.coordinates.SkyCoord or sequence of SkyCoord or str
        The targets: a SkyCoord array, or one SkyCoord or RA and Dec string each, as :func:`find`
        reads them.
    band, time, max_workers, anon, progress
        As for :func:`find`; footprints not read yet (an index made from a manifest) are read
        for the files that could hold any of the positions, and kept, as :func:`find` does.

    Returns
    -------
    astropy.table.Table
        One row per file and position it holds: ``target`` (the position's place in
        ``positions``, from 0), the file's index columns, and ``x`` and ``y``, the position's
        0-based pixel in that file. Sorted by ``t_start``, then file, then ``target``. A target
        on no file has no row.

    Raises
    ------
    InvalidParameterError
        For a position, band or time that cannot be read.

    Examples
    --------
    >>> from roman_helpers.footprints import build_index, find_many
    >>> index = build_index("s3://stpubdata/roman/nexus/soc_simulations/tutorial_data/roman-2026.2/")
    >>> found = find_many(index, ["270.7956 -0.2870", "270.80 -0.29", "10.0 -44.0"], band="F106")
    >>> sorted(set(found["target"].tolist())), int((found["target"] == 0).sum())  # the third: no file
    ([0, 1], 5)
    """
    from astropy.table import Table

    check_workers(max_workers)
    path = index if isinstance(index, (str, PathLike)) else None
    if isinstance(index, (str, PathLike)):
        index = load_index(index)
    _check_columns(index, "index")
    targets = _sky_positions(positions)
    selected = _selection(index, band, time)
    points = _unit_vectors(np.asarray(targets.ra.deg), np.asarray(targets.dec.deg)).reshape(-1, 3)
    read = _read_footprints(index, path, points, 0.0, selected, max_workers, anon, progress)
    rows = np.flatnonzero((strings(index["error"]) == "") & (np.asarray(index["naxis1"]) > 0))
    rows = rows[selected(rows)]
    reach = math.sin(math.radians(PREFILTER_MARGIN_DEG))
    pairs: list[tuple[int, int, float, float]] = []  # (index row, target, x, y)
    in_frame: dict[str, Any] = {}  # the targets converted once per celestial frame
    for first in range(0, len(rows), _FILES_AT_ONCE):
        chunk = rows[first : first + _FILES_AT_ONCE]
        _corners, _raw, inward = _edges(
            np.asarray(index["ra_corners"], float)[chunk], np.asarray(index["dec_corners"], float)[chunk]
        )
        # the polygons, widened by the margin: (files, targets) -- the exact test with each WCS follows
        near = np.all(np.einsum("fkj,tj->ftk", inward, points) >= -reach, axis=2)
        for row, near_targets in zip(chunk, near, strict=True):
            chosen = np.flatnonzero(near_targets)
            if len(chosen):
                pairs += _placed(index, int(row), chosen, targets, in_frame)
    found = index[[row for row, *_ in pairs]] if pairs else index[:0]
    found.add_column([target for _, target, _, _ in pairs], name="target", index=0)
    found["x"] = np.array([x for *_, x, _ in pairs], dtype=float)
    found["y"] = np.array([y for *_, y in pairs], dtype=float)
    if len(found):
        found = found[
            np.lexsort(
                (
                    np.asarray(found["target"]),
                    np.asarray(found["uri"], dtype=str),
                    np.asarray(found["t_start"], float),
                )
            )
        ]
    found = Table(found, copy=False)
    found.meta["footprints"] = read
    return found


def _placed(
    index: Table, row: int, chosen: np.ndarray, targets: SkyCoord, in_frame: dict[str, Any]
) -> list[tuple[int, int, float, float]]:
    """``(row, target, x, y)`` for each of the ``chosen`` targets that the file's image holds."""
    text = str(index["wcs"][row])
    wcs, frame = _wcs.from_text(text), _wcs.celestial_frame(text)
    if repr(frame) not in in_frame:
        converted = targets.transform_to(frame).spherical
        in_frame[repr(frame)] = (np.asarray(converted.lon.deg), np.asarray(converted.lat.deg))
    lon, lat = in_frame[repr(frame)]
    world = np.zeros((len(chosen), 2))
    world[:, wcs.wcs.lng], world[:, wcs.wcs.lat] = lon[chosen], lat[chosen]
    # quiet: a distortion polynomial that does not converge far outside its image gives a point
    # that the bounds below refuse (the pre-filter has already kept only targets near the image)
    xy = wcs.all_world2pix(world, 0, quiet=True)
    nx, ny = int(index["naxis1"][row]), int(index["naxis2"][row])
    x, y = xy[:, 0], xy[:, 1]
    keep = np.isfinite(x) & np.isfinite(y) & (x >= -0.5) & (x < nx - 0.5) & (y >= -0.5) & (y < ny - 0.5)
    return [
        (row, int(target), float(tx), float(ty))
        for target, tx, ty in zip(chosen[keep], x[keep], y[keep], strict=True)
    ]
