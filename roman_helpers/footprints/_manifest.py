"""An index made from a survey's file manifest: rows at once, footprints when a search needs them (private).

The Roman Research Nexus's Core Community Survey simulations ship manifests (ECSV) with a row per
exposure and detector: the pointing, the detector's position on the sky, the filter, the times
and the files' ``s3://`` URIs -- but no footprint. :func:`from_manifest` turns such a table into
index rows at once (no file is read); :func:`~roman_helpers.footprints.find` then reads the
footprints of only the files that could hold a target, from their headers, and keeps them in the
index, so that the next search over the same place reads nothing.

Which files could hold a target: a detector's pixels all lie within its circumradius of its
centre, so a file whose detector centre is farther than that (plus any search radius) cannot
hold it. :data:`DETECTOR_REACH_DEG` is that bound for the Wide Field Instrument, with a margin;
:data:`SKYCELL_REACH_DEG` the same for the level-3 mosaics on Roman's sky tiling, placed by the
centre of their skycell (the coadd manifest's ``skycell_ra``, ``skycell_dec``).
"""

from __future__ import annotations

import math
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import FileFormatError, Interrupted, InvalidParameterError, ObjectNotFoundError
from ._build import _NOT_READ, _read_all
from ._store import _FORMAT_KEY, _FORMAT_VERSION, COLUMNS, _table, read_parquet, strings

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from astropy.table import Table

__all__ = ["DETECTOR_REACH_DEG", "SKYCELL_REACH_DEG", "candidates", "from_manifest", "learn", "pending"]

#: Pixels a side of a WFI detector's science array, and its nominal pixel scale (arcsec).
_WFI_SIDE, _WFI_SCALE = 4088, 0.11
#: The farthest pixel corner from a detector's reference position: the reference pixel is at most
#: half a pixel from the array's centre, so 2044.5 pixels along each axis, 318.0 arcsec at 0.11
#: arcsec a pixel.
_CIRCUMRADIUS_ARCSEC = math.sqrt(2) * (_WFI_SIDE / 2 + 0.5) * _WFI_SCALE
#: Degrees from a manifest's detector position within which all of that detector's pixels lie:
#: the circumradius with its scale 10 per cent larger (the WFI's plate scale varies by a few per
#: cent over the field, and its detectors are not exact squares on the sky) and 10 arcsec more (a
#: manifest's detector position that is not its reference pixel): 360 arcsec. A file whose
#: detector position is farther from a target than this plus the search radius cannot hold it.
DETECTOR_REACH_DEG = (1.1 * _CIRCUMRADIUS_ARCSEC + 10.0) / 3600
#: Pixels a side of a skycell mosaic (4800 and 100 of overlap on each side) and its pixel scale.
_SKYCELL_SIDE, _SKYCELL_SCALE = 5000, 0.055
#: Degrees from a skycell's centre within which all of its mosaic's pixels lie, with the same
#: margins as :data:`DETECTOR_REACH_DEG`: 224 arcsec (a skycell's corner is 194.5 arcsec from its
#: centre; its tangent-plane projection about its region's tangent point stretches that by less
#: than 0.1 per cent within the region).
SKYCELL_REACH_DEG = (1.1 * math.sqrt(2) * (_SKYCELL_SIDE / 2 + 0.5) * _SKYCELL_SCALE + 10.0) / 3600

#: Manifest columns each seeded row needs (``end_time`` is optional: start plus exposure time).
_NEEDED = ("detector_ra", "detector_dec", "detector", "optical_element", "start_time", "exptime")
#: The same for a manifest of skycell mosaics (the coadd manifest: no detector, no times).
_NEEDED_MOSAIC = ("skycell_ra", "skycell_dec", "optical_element")
#: The URI columns tried, in this order, when none is named: the calibrated images, the mosaics.
_URI_COLUMNS = ("l2_s3_uri", "l3_s3_uri")
#: Manifest columns that become index columns (under the index's names) and are not kept twice.
_CONSUMED = ("optical_element", "start_time", "end_time", "exptime", "detector")
_READERS = {".ecsv": "ascii.ecsv", ".csv": "ascii.csv"}


def pending(index: Table) -> np.ndarray:
    """Rows seeded from a manifest whose footprint has not been read yet (no error, no image size)."""
    unread = np.asarray(index["naxis1"]) == 0  # integers first: the text of only those rows is looked at
    rows = np.flatnonzero(unread)
    unread[rows] = strings(index["error"])[rows] == ""
    return unread


def _read_manifest(path: Path) -> Table:
    """A manifest file as a table: ECSV, CSV or Parquet, told by its name."""
    from astropy.table import Table

    suffix = path.suffix.lower()
    if suffix not in (*_READERS, ".parquet"):
        raise InvalidParameterError(
            "manifest",
            str(path),
            valid=[*_READERS, ".parquet"],
            hint="give the manifest as the survey publishes it (ECSV), or as CSV or Parquet",
        )
    if not path.is_file():
        raise ObjectNotFoundError(f"no manifest at {path}; download the survey's manifest (ECSV) first")
    if suffix == ".parquet":
        return read_parquet(path, "a manifest (a table of files)")
    try:
        return Table.read(path, format=_READERS[suffix])
    except Exception as error:  # astropy raises many types for a file that is not this format
        raise FileFormatError(
            f"{path} is not a {suffix[1:].upper()} table ({type(error).__name__}: {error})"
        ) from error


def _text(column: Any) -> np.ndarray:
    """A column as stripped Python strings; masked or missing values become ''."""
    return np.array([str(value).strip() for value in strings(column)], dtype=object)


def _mjd(column: Any, name: str) -> np.ndarray:
    """Times as MJD: ISO strings (UTC, as the manifests write them) or numbers already in MJD."""
    from astropy.time import Time

    values = np.asarray(column.filled(np.nan) if hasattr(column, "filled") else column)
    if values.dtype.kind in "fiu":
        return values.astype(float)
    text = _text(column)
    result = np.full(len(text), math.nan)
    given = text != ""
    try:
        result[given] = Time(list(text[given]), scale="utc").mjd
    except ValueError as error:
        raise FileFormatError(
            f"the manifest's {name} column holds times astropy cannot read ({error})"
        ) from None
    return result


def from_manifest(manifest: Table | str | PathLike, *, uri_column: str | None = None) -> Table:
    """Make an index from a survey's file manifest, reading no file.

    Each row of the manifest with a URI becomes a row of the index: its file's band, detector,
    times and exposure time come from the manifest; its footprint is left to be read.
    :func:`find` reads, from their headers, the footprints of only the files that could hold
    the position asked for (those whose detector centre lies within
    :data:`DETECTOR_REACH_DEG` of it), keeps them in the index, and answers by those exact
    footprints. The manifest's other columns (the pointing ``wfi_ra, wfi_dec, wfi_pa``, the
    detector's ``detector_ra, detector_dec``, ``pass``, ``visit``, the other levels' URIs ...)
    are kept beside the index's own, so a search's answer carries them.

    A manifest of level-3 mosaics (the coadd manifest: ``skycell_ra``, ``skycell_dec``,
    ``optical_element``, ``l3_s3_uri``, no detector and no times) is taken the same way: each
    mosaic is placed by its skycell's centre, within :data:`SKYCELL_REACH_DEG`, and its times
    are those its file gives once read (until then a search over a time window reads it).

    Parameters
    ----------
    manifest : astropy.table.Table or path
        The manifest: a table, or an ``.ecsv`` (as the Core Community Survey simulations publish
        them), ``.csv`` or ``.parquet`` file, with the columns ``detector_ra``, ``detector_dec``
        (degrees), ``detector`` (``WFI01`` ... ``WFI18``), ``optical_element``, ``start_time``
        (and ``end_time``; ISO UTC or MJD), ``exptime`` (s) and ``uri_column``; or, for mosaics,
        ``skycell_ra``, ``skycell_dec`` (degrees), ``optical_element`` and ``uri_column``.
    uri_column : str, optional
        Which files to index: a column of ``s3://`` URIs. By default ``"l2_s3_uri"`` (the
        calibrated images), or ``"l3_s3_uri"`` (the mosaics) in a manifest without the first.
        Level-1 files (``"l1_s3_uri"``) hold no WCS, so :func:`find` cannot place them: index
        level 2 and read each file's ``l1_s3_uri`` beside it.

    Returns
    -------
    astropy.table.Table
        An index (the columns of :mod:`roman_helpers.footprints`) with the footprint columns
        blank (``naxis1`` 0, no ``wcs``) until :func:`find` reads them, and the manifest's other
        columns. ``meta["manifest"]`` says where it came from; rows without a URI are left out
        and counted in ``meta["build"]["skipped_none"]``. :func:`save_index` keeps it, with every
        footprint read so far.

    Raises
    ------
    FileFormatError
        If the manifest lacks a column an index needs (the message names it) or holds times
        that cannot be read.
    InvalidParameterError
        If ``uri_column`` is not a column of the manifest, or holds something other than
        ``s3://`` URIs; or a manifest file is neither ECSV, CSV nor Parquet.
    ObjectNotFoundError
        If there is no manifest file at that path.

    Examples
    --------
    Three rows of the Galactic Bulge Time-Domain Survey's manifest (``from_manifest(
    "gbtds_manifest.ecsv")`` takes the whole file): three detectors of one F087 exposure.

    >>> from astropy.table import Table
    >>> from roman_helpers.footprints import find, from_manifest
    >>> folder = "s3://stpubdata/roman/nexus/soc_simulations/r00340/l2/r0034001003001001001_0001_"
    >>> manifest = Table(
    ...     {
    ...         "detector_ra": [267.07010763, 267.19940029, 267.05282952],
    ...         "detector_dec": [-30.02480197, -29.95759896, -29.87435371],
    ...         "detector": ["WFI14", "WFI15", "WFI18"],
    ...         "optical_element": ["F087"] * 3,
    ...         "start_time": ["2027-09-01T01:18:30.000"] * 3,
    ...         "exptime": [146.2] * 3,
    ...         "l2_s3_uri": [
    ...             folder + name
    ...             for name in ("wfi14_f087_cal.asdf", "wfi15_f087_cal.asdf", "wfi18_f087_cal.asdf")
    ...         ],
    ...     }
    ... )
    >>> index = from_manifest(manifest)
    >>> found = find(index, "267.12 -29.99")  # WFI15's centre is 0.076 degrees away, but not its pixels
    >>> list(found["detector"]), found.meta["footprints"]["read"]
    (['WFI14'], 2)
    >>> find(index, "267.12 -29.99").meta["footprints"]["read"]  # the footprints are in the index now
    0
    """
    from astropy.table import Table

    source = "a table"
    if not isinstance(manifest, Table):
        if not isinstance(manifest, (str, PathLike)):
            raise InvalidParameterError(
                "manifest", manifest, hint="give an astropy Table or the path of an ECSV, CSV or Parquet file"
            )
        source = str(manifest)
        manifest = _read_manifest(Path(manifest))
    if uri_column is None:
        uri_column = next((name for name in _URI_COLUMNS if name in manifest.colnames), _URI_COLUMNS[0])
    if uri_column not in manifest.colnames:
        present = [name for name in manifest.colnames if name.endswith("_uri")] or manifest.colnames
        raise InvalidParameterError(
            "uri_column", uri_column, valid=present, hint="name the manifest's column of s3:// URIs"
        )
    mosaics = "detector_ra" not in manifest.colnames and "skycell_ra" in manifest.colnames
    needed = _NEEDED_MOSAIC if mosaics else _NEEDED
    missing = [name for name in needed if name not in manifest.colnames]
    if missing:
        raise FileFormatError(
            f"the manifest lacks the columns {', '.join(missing)}: an index seeded from a manifest needs "
            f"{', '.join(_NEEDED)} and {uri_column} (the Core Community Survey manifests' columns), or, "
            f"for mosaics, {', '.join(_NEEDED_MOSAIC)} and their URIs (the coadd manifest's)"
        )
    uris = _text(manifest[uri_column])
    kept = np.flatnonzero(uris != "")
    wrong = [uri for uri in uris[kept] if not uri.startswith("s3://")]
    if wrong:
        raise InvalidParameterError(
            uri_column, wrong[0], hint=f"the {uri_column} column should hold s3:// URIs"
        )
    table = manifest[kept]
    index = _table([{}] * len(table))  # the index's columns, types and blanks; filled in place below
    index["uri"][:] = uris[kept]
    index["band"][:] = _text(table["optical_element"])
    if mosaics:  # placed by the skycell; the times are the file's, once read
        index["instrument"][:] = "WFI"
        if "exptime" in table.colnames:
            index["exptime"][:] = np.asarray(table["exptime"], dtype=float)
        index["ra_center"][:] = np.asarray(table["skycell_ra"], dtype=float) % 360.0
        index["dec_center"][:] = np.asarray(table["skycell_dec"], dtype=float)
        index["fov_radius"][:] = SKYCELL_REACH_DEG  # a bound until the file's own footprint is read
    else:
        start = _mjd(table["start_time"], "start_time")
        exptime = np.asarray(table["exptime"], dtype=float)
        end = _mjd(table["end_time"], "end_time") if "end_time" in table.colnames else start + exptime / 86400
        detector = _text(table["detector"])
        index["instrument"][:] = np.where(np.char.startswith(detector.astype(str), "WFI"), "WFI", "")
        index["detector"][:] = detector
        index["t_start"][:], index["t_end"][:], index["exptime"][:] = start, end, exptime
        index["ra_center"][:] = np.asarray(table["detector_ra"], dtype=float) % 360.0
        index["dec_center"][:] = np.asarray(table["detector_dec"], dtype=float)
        index["fov_radius"][:] = DETECTOR_REACH_DEG  # a bound until the file's own footprint is read
    for name in table.colnames:
        if name not in _CONSUMED and name != uri_column and name not in index.colnames:
            index[name] = table[name]
    index.meta = {
        _FORMAT_KEY: _FORMAT_VERSION,
        "source": f"manifest {source} ({uri_column})",
        "manifest": {"source": source, "uri_column": uri_column, "rows": len(manifest)},
        "build": {
            "files": len(index),
            "read": 0,
            "reused": 0,
            "failed": 0,
            "skipped_none": len(manifest) - len(kept),
            "skipped_not_image": 0,
        },
    }
    return index


def _angles_within(index: Table, rows: np.ndarray, points: np.ndarray, reach_deg: float) -> np.ndarray:
    """Boolean (rows, points): a row's centre within its ``fov_radius`` plus ``reach_deg`` of each point."""
    ra = np.radians(np.asarray(index["ra_center"], float)[rows])
    dec = np.radians(np.asarray(index["dec_center"], float)[rows])
    centres = np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)
    limit = np.cos(np.radians(np.minimum(np.asarray(index["fov_radius"], float)[rows] + reach_deg, 180.0)))
    return centres @ points.T >= limit[:, None]


#: Row-point pairs compared at once when choosing the files to read (bounds the memory: 8 bytes each).
_PAIRS_AT_ONCE = 1 << 22


def candidates(index: Table, rows: np.ndarray, points: np.ndarray, reach_deg: float) -> np.ndarray:
    """Those of ``rows`` whose centre lies within their ``fov_radius`` plus ``reach_deg`` of any point.

    ``points`` are unit vectors (n, 3). For a row whose footprint is not read yet, ``fov_radius``
    is :data:`DETECTOR_REACH_DEG` (:data:`SKYCELL_REACH_DEG` for a mosaic): no file farther away
    can hold a point.
    """
    at_once = max(1, _PAIRS_AT_ONCE // max(1, len(points)))
    kept = [
        chunk[np.any(_angles_within(index, chunk, points, reach_deg), axis=1)]
        for chunk in np.array_split(rows, max(1, math.ceil(len(rows) / at_once)))
    ]
    return np.concatenate(kept) if kept else rows[:0]


def learn(
    index: Table, rows: np.ndarray, *, anon: bool | None, max_workers: int, progress: bool | None
) -> dict[str, int]:
    """Read the footprints of ``rows`` from their files' headers and write them into ``index``.

    The files are read as :func:`~roman_helpers.footprints.build_index` reads them (in threads,
    headers only, with its retries and progress bar). A file that could not be fetched stays
    as it was, to be tried again by the next search; one found unreadable, or without an image,
    keeps its reason in ``error``. Returns the counts: ``read``, ``not_read``, ``unreadable``.

    Raises
    ------
    Interrupted
        On Ctrl-C: the footprints read by then are in ``index`` (its ``partial``).
    """
    files: list[tuple[str, str | None, int | None]] = [(str(index["uri"][row]), None, None) for row in rows]
    stopped: Interrupted | None = None
    try:
        results: dict[int, Any] = dict(enumerate(_read_all(files, {}, anon, max_workers, progress)))
    except Interrupted as error:
        stopped, results = error, dict(error.partial)  # type: ignore[call-overload]
    done = [(rows[position], row) for position, row in sorted(results.items()) if isinstance(row, dict)]
    kept = [(number, row) for number, row in done if not str(row.get("error", "")).startswith(_NOT_READ)]
    if kept:
        numbers = np.array([number for number, _ in kept])
        read = _table([row for _, row in kept])
        for name in COLUMNS:
            if name == "uri":
                continue
            if COLUMNS[name][0] is object and index[name].dtype != object:
                # text of a fixed width (a table read by astropy itself) would cut a WCS short
                index[name] = np.array([str(value) for value in strings(index[name])], dtype=object)
            index[name][numbers] = read[name]
    counts = {
        "read": len(done),
        "not_read": len(done) - len(kept),
        "unreadable": sum(str(row.get("error", "")) != "" for _, row in kept),
    }
    if stopped is not None:
        raise Interrupted(
            f"interrupted after reading {len(done)} of {len(files)} footprints; those are kept in the "
            "index (this exception's .partial): search again to read the others",
            index,
            len(done),
            len(files),
        ) from None
    return counts
