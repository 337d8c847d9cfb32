"""Light curves of every target of a catalog, each file read once.

A field holds hundreds of transients and thousands of stars. Asking for one target's light curve
at a time reads every file once per target (for a ``.fits.gz`` image, its compressed stream up
to the target's rows, every time). Here the targets are placed on the files first, all at once
(:func:`roman_helpers.footprints.find_many`); then each file is read once for all the targets on
it (:func:`roman_helpers.stream.stamps`: the rows any stamp needs, each byte once), and each stamp
is measured with the same forced aperture photometry as one target's light curve
(:func:`roman_helpers.photometry.forced_photometry`). The files are worked on as
:func:`roman_helpers.batch.map_files` works: threads by default or a Dask cluster, failures
listed and not raised, a progress bar, Ctrl-C keeping what is done.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _sky
from .errors import Interrupted, InvalidParameterError, ObjectNotFoundError

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from astropy.coordinates import SkyCoord
    from astropy.table import Table

    from .batch import BatchResult

__all__ = ["ID_COLUMNS", "light_curves", "read_catalog"]

#: Names of a catalog's identifier column, tried in this order (case does not matter).
ID_COLUMNS = ("id", "object_id", "target", "name", "source_id")
_RA_COLUMNS = ("ra", "ra_deg", "raj2000", "ra_icrs")
_DEC_COLUMNS = ("dec", "dec_deg", "dej2000", "dec_icrs")
#: When a transient shines (MJD), as the OpenUniverse transient catalogs name it.
_WINDOW_COLUMNS = ("start_mjd", "end_mjd")


def _column(table: Table, names: Sequence[str]) -> str | None:
    by_lower = {name.lower(): name for name in table.colnames}
    return next((by_lower[name] for name in names if name in by_lower), None)


def read_catalog(catalog: Table | str | PathLike, *, anon: bool | None = None) -> tuple[list[Any], SkyCoord]:
    """The targets of a catalog: their identifiers and positions.

    Parameters
    ----------
    catalog : astropy.table.Table, path or s3:// URI
        A table (or an ECSV, Parquet, FITS or CSV file astropy can read) with ``ra`` and ``dec``
        columns in degrees (or with angle units), and an identifier column if it has one
        (:data:`ID_COLUMNS`: ``id``, ``object_id`` ...; otherwise the row number is the id).
        An ``s3://`` URI of a Parquet file, such as an OpenUniverse truth catalog
        (``.../roman_rubin_cats_v1.1.2_faint/snana_<cell>.parquet``: the transients of a
        HEALPix cell), is read in place, its identifier and position columns only.
    anon : bool, optional
        For an ``s3://`` catalog: anonymous access; by default decided by the bucket.

    Returns
    -------
    (list, astropy.coordinates.SkyCoord)
        The identifiers, and the positions (ICRS) in the same order.

    Raises
    ------
    InvalidParameterError
        If the file does not exist or cannot be read, or the table has no RA and Dec columns.

    Examples
    --------
    >>> from astropy.table import Table
    >>> ids, positions = read_catalog(Table({"object_id": [7, 9], "RA": [150.1, 150.2], "Dec": [2.2, 2.3]}))
    >>> ids, positions.dec.deg.tolist()
    ([7, 9], [2.2, 2.3])
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    catalog = _catalog_table(catalog, anon)
    colnames = getattr(catalog, "colnames", None)
    if colnames is None:
        raise InvalidParameterError(
            "catalog",
            type(catalog).__name__,
            hint="give an astropy Table or the path of an ECSV or Parquet file",
        )
    ra_name, dec_name = _column(catalog, _RA_COLUMNS), _column(catalog, _DEC_COLUMNS)
    if ra_name is None or dec_name is None:
        raise InvalidParameterError(
            "catalog",
            f"a table with columns {list(colnames)}",
            hint="it needs 'ra' and 'dec' columns (degrees, ICRS)",
        )

    def degrees(name: str) -> Any:
        column = catalog[name]
        unit = getattr(column, "unit", None)
        return u.Quantity(column, unit) if unit is not None else np.asarray(column, float) * u.deg

    positions = SkyCoord(degrees(ra_name), degrees(dec_name))
    id_name = _column(catalog, ID_COLUMNS)
    ids = (
        [value.item() if hasattr(value, "item") else value for value in catalog[id_name]]
        if id_name is not None
        else list(range(len(catalog)))
    )
    return ids, positions


def _catalog_table(catalog: Any, anon: bool | None) -> Any:
    """The catalog as a table: a table as given, a file read by astropy, a bucket's Parquet in place."""
    from astropy.table import Table

    if isinstance(catalog, str) and catalog.startswith("s3://"):
        catalog = _remote_catalog(catalog, anon)
    elif isinstance(catalog, (str, PathLike)):
        path = Path(catalog)
        if not path.is_file():
            raise InvalidParameterError(
                "catalog", str(catalog), hint="no such file; give an ECSV or Parquet table of targets"
            )
        try:
            catalog = Table.read(path)
        except Exception as error:  # astropy's readers raise many kinds for a file they cannot read
            raise InvalidParameterError(
                "catalog", str(path), hint=f"astropy cannot read it as a table ({error}); write it as ECSV"
            ) from error
    return catalog


def _remote_catalog(uri: str, anon: bool | None) -> Table:
    """A catalog in a bucket: of a Parquet file, the footer, then only the id, position and window columns."""
    import pyarrow.parquet as pq
    from astropy.table import Table

    from ._s3 import filesystem, translate

    if not uri.endswith(".parquet"):
        raise InvalidParameterError(
            "catalog", uri, hint="a catalog in a bucket is read as Parquet; copy another format here first"
        )
    fs, path = filesystem(uri, anon=anon), uri.removeprefix("s3://")
    wanted = {*ID_COLUMNS, *_RA_COLUMNS, *_DEC_COLUMNS, *_WINDOW_COLUMNS}
    try:
        names = [name for name in pq.read_schema(path, filesystem=fs).names if name.lower() in wanted]
        return Table(pq.read_table(path, filesystem=fs, columns=names).to_pydict())
    except Exception as error:  # S3's errors become the kit's, with advice; others pass unchanged
        translated = translate(error, uri)
        if translated is error:
            raise
        raise translated from error


def _measure_file(
    uri: str,
    *,
    centres: Mapping[str, tuple[list[int], list[float], list[float]]],
    size: Any,
    radius: float,
    annulus: tuple[float, float],
    anon: bool | None,
) -> list[tuple]:
    """Read one file once for all its targets and measure each (top level: Dask imports it by name).

    Returns one ``(target, flux, flux_err, background, coverage, x, y, unit, zeropoint, problem)``
    per target (``unit`` and ``zeropoint`` as the file gives them: text, and an AB magnitude or NaN);
    ``problem`` is empty, or why that target could not be cut out of this file.
    """
    from astropy.coordinates import SkyCoord

    from .photometry import ForcedFlux, forced_photometry
    from .stream import stamps
    from .stream._gwcs_cutout import GwcsCutout

    targets, ra, dec = centres[uri]
    positions = SkyCoord(ra, dec, unit="deg")
    try:  # science and errors, as one target's light curve measures them
        cuts = stamps(uri, positions, size, arrays=[None, "ERR"], anon=anon)
    except InvalidParameterError as error:
        if error.name != "ext":
            raise
        cuts = stamps(uri, positions, size, arrays=[None], anon=anon)  # no error array
    measured = []
    for target, position, cut in zip(targets, positions, cuts, strict=True):
        if isinstance(cut, Exception):
            measured.append((target, np.nan, np.nan, np.nan, 0.0, np.nan, np.nan, "", np.nan, str(cut)))
            continue
        data, *err = cut.values()
        provenance = getattr(data, "provenance", None)
        # a Roman stamp's gwcs is made when first read (milliseconds a stamp): its target is measured
        # at the pixel the stamp was placed at, where the stamp's gwcs puts it (to the bit when the
        # file's gwcs has an inverse, as Roman's have); a FITS stamp's WCS is cheap, and asked
        pixel = data.input_position_cutout if isinstance(data, GwcsCutout) else None
        try:
            flux = forced_photometry(
                data if pixel is None else data.data,
                position if pixel is None else None,
                radius=radius,
                annulus=annulus,
                error=err[0].data if err else None,
                pixel=pixel,
            )
        except InvalidParameterError as error:
            if error.name != "position":
                raise
            flux = ForcedFlux(np.nan, np.nan, np.nan, np.nan, np.nan, 0.0)  # no valid pixel there
        measured.append(_row(target, flux, data, provenance))
    return measured


def _row(target: int, flux: Any, cut: Any, provenance: Any) -> tuple:
    """One target's measurement on one file, as :func:`_table` takes it (the pixel is the file's)."""
    x, y = cut.to_original_position((flux.x, flux.y))
    unit, zeropoint = getattr(provenance, "unit", ""), getattr(provenance, "zeropoint", np.nan)
    return (
        target,
        flux.flux,
        flux.flux_err,
        flux.background,
        flux.coverage,
        float(x),
        float(y),
        unit,
        zeropoint,
        "",
    )


def _cut_file(
    uri: str,
    *,
    centres: Mapping[str, tuple[list[int], list[float], list[float]]],
    size: Any,
    anon: bool | None,
) -> list[tuple]:
    """Read one file once for all its targets and keep each stamp (top level: Dask imports it by name).

    Returns one ``(target, ImageCutout or None, problem)`` per target, for the methods that
    measure a target's epochs together (PSF, difference).
    """
    from astropy.coordinates import SkyCoord

    from .batch import ImageCutout
    from .stream import stamps

    targets, ra, dec = centres[uri]
    positions = SkyCoord(ra, dec, unit="deg")
    try:
        cuts = stamps(uri, positions, size, arrays=[None, "ERR"], anon=anon)
    except InvalidParameterError as error:
        if error.name != "ext":
            raise
        cuts = stamps(uri, positions, size, arrays=[None], anon=anon)  # no error array
    kept: list[tuple] = []
    for target, cut in zip(targets, cuts, strict=True):
        if isinstance(cut, Exception):
            kept.append((target, None, str(cut)))
            continue
        data, *err = cut.values()
        kept.append((target, ImageCutout(data, err[0] if err else None), ""))
    return kept


def _measured_by_target(
    result: BatchResult,
    positions: SkyCoord,
    windows: list[Any],
    method: str,
    radius: float,
    annulus: tuple[float, float],
) -> BatchResult:
    """Each target's stamps measured together by ``method``, as one target's light curve measures them.

    The stamps of a batch of :func:`_cut_file` are grouped by target; each group goes through
    :func:`roman_helpers.photometry.light_curve`'s own measurement (one implementation of every
    method), and the measurements go back to their files in :func:`_measure_file`'s form.
    """
    from .batch import BatchResult, Success
    from .photometry import ForcedFlux, _measurer, _mid_time

    by_target: dict[int, list[Success]] = {}
    problems: dict[tuple[int, int], str] = {}
    for item in result.ok:
        for target, stamp, problem in item.value:
            if problem:
                problems[(item.index, target)] = problem
            else:
                by_target.setdefault(target, []).append(
                    Success(item.uri, stamp, item.attempts, item.meta, item.index)
                )
    measured: dict[tuple[int, int], tuple] = {}
    psf_models = None
    if method == "psf" and by_target:  # one PSF per band from the stars of every target's stamps
        from ._psf import epsf_by_band

        psf_models = epsf_by_band([item for items in by_target.values() for item in items], radius)
    for target, items in by_target.items():
        position = positions[target]
        measure = _measurer(
            method,
            items,
            lambda _item, position=position: {"position": position},
            radius,
            annulus,
            windows[target],
            mid_time=lambda item: _mid_time(item.meta["t_start"], item.meta["t_end"]),
            psf_models=psf_models,
        )
        for item in items:
            try:
                flux = measure(item)
            except InvalidParameterError as error:
                if error.name != "position":
                    raise
                flux = ForcedFlux(np.nan, np.nan, np.nan, np.nan, np.nan, 0.0)  # no valid pixel there
            measured[(item.index, target)] = _row(target, flux, item.cutout, item.value.provenance)
    blank = (np.nan, np.nan, np.nan, 0.0, np.nan, np.nan, "", np.nan)
    files = [
        Success(
            item.uri,
            [
                measured.get((item.index, target), (target, *blank, problems.get((item.index, target), "")))
                for target, _stamp, _problem in item.value
            ],
            item.attempts,
            item.meta,
            item.index,
        )
        for item in result.ok
    ]
    return BatchResult(files, result.failed, result.requests, result.bytes, result.seconds, result.backend)


def light_curves(
    index: Table | str | PathLike,
    catalog: Table | str | PathLike,
    *,
    band: str | Sequence[str] | None = None,
    time: Any = None,
    size: Any = None,
    radius: float = 3.0,
    annulus: Sequence[float] = (8.0, 14.0),
    client: Any = None,
    max_workers: int = 8,
    anon: bool | None = None,
    retries: int = 2,
    timeout: float | None = None,
    progress: bool | None = None,
    method: str = "aperture",
    reference_window: Any = None,
) -> Table:
    """Forced photometry of every target of a catalog in every file of an index that holds it.

    Each file is read once for all the targets on it, so a field of hundreds of targets costs
    about what one target costs, not hundreds of times that. The fluxes are those that
    :func:`roman_helpers.photometry.light_curve_from_index` gives for each target alone.

    Parameters
    ----------
    index : astropy.table.Table or path
        From :func:`roman_helpers.footprints.build_index` or a file of
        :func:`roman_helpers.footprints.save_index`.
    catalog : astropy.table.Table or path
        The targets: ``ra`` and ``dec`` columns (degrees) and an identifier column if it has one,
        as :func:`read_catalog` reads them; an ECSV or Parquet file.
    band, time, size, radius, annulus
        As for :func:`roman_helpers.photometry.light_curve_from_index`: the bands and times of
        the files, the side of each target's stamp (by default just enough for the annulus), the
        aperture and background annulus radii in pixels.
    client, max_workers, anon, retries, timeout, progress
        As for :func:`roman_helpers.batch.cutouts`: threads by default, or a Dask cluster.
    method : {"aperture", "psf", "difference"}
        As for :func:`roman_helpers.photometry.light_curve`: each target's epochs are measured
        together, as its own light curve would be (for ``"psf"`` and ``"difference"`` the
        stamps are kept until all of a target's files are read). For ``"psf"`` the PSF of each
        band is built once, from the isolated stars in the stamps of all the targets: a catalog
        that lists a field's bright stars along with its targets gives every target a PSF
        measured on them (on a grid finer than the pixels when they are bright enough), which
        a faint target's own stamps cannot give.
    reference_window : (start, end), optional
        For ``method="difference"``: when the targets may vary, the same for every target.
        Without it, each target's own window is read from the catalog's ``start_mjd`` and
        ``end_mjd`` columns (as the OpenUniverse transient catalogs give them: the days the
        transient shines), and the epochs outside it make its reference.

    Returns
    -------
    astropy.table.Table
        One row per target and file: ``target`` (the catalog's identifier), ``ra`` and ``dec``
        (degrees), ``time`` (mid-exposure, MJD), ``band``, ``flux``, ``flux_err``,
        ``background``, ``coverage``, ``file``, ``detector``, and ``x``, ``y`` (the target's
        0-based pixel in the file), sorted by target (in catalog order) then time. Units and
        magnitudes as :func:`roman_helpers.photometry.light_curve` gives them: fluxes as
        quantities in the files' unit (or a ``unit`` column when the files differ), and
        ``zeropoint``, ``mag``, ``mag_err`` (AB) where the files give a zero point.
        ``table.group_by("target")`` gives each target's light curve. A stamp without a valid
        pixel under the aperture has NaN flux and ``coverage`` 0. ``meta`` records ``targets``
        (how many), ``not_covered`` (the identifiers of targets on no file), ``files`` (the files
        holding any target), ``failed`` (``"URI: ErrorType: message"`` for a file that failed,
        ``"URI: target ID: message"`` for a target that could not be cut out of one), the
        apertures, the stamp size and the ``transfer`` (requests, bytes, seconds, backend).

    Raises
    ------
    ObjectNotFoundError
        If no target of the catalog is on any file of the index.
    InvalidParameterError
        For a catalog, band, time, size or apertures that cannot be used.
    Interrupted
        On Ctrl-C, within about a second: its ``partial`` is the table of the files measured so
        far (``meta["interrupted"]`` says how many of how many).

    Examples
    --------
    >>> from astropy.table import Table
    >>> from roman_helpers.footprints import build_index
    >>> index = build_index("s3://stpubdata/roman/nexus/soc_simulations/tutorial_data/roman-2026.2/")
    >>> catalog = Table(
    ...     {"id": ["a", "b", "far"], "ra": [270.7956, 270.80, 10.0], "dec": [-0.2870, -0.29, -44.0]}
    ... )
    >>> table = light_curves(index, catalog, band="F106", progress=False)
    >>> curves = table.group_by("target")
    >>> [(str(curve["target"][0]), len(curve)) for curve in curves.groups]
    [('a', 5), ('b', 5)]
    >>> table.meta["not_covered"], table.meta["files"], table.meta["failed"]
    (['far'], 5, [])
    """
    from . import footprints
    from .batch import map_files
    from .photometry import default_size

    r_in, r_out = (float(value) for value in annulus)
    _sky.check_apertures(float(radius), r_in, r_out)
    ids, positions, windows = _targets(catalog, anon, method, reference_window)
    size = default_size((r_in, r_out)) if size is None else size
    pixels = _sky.parse_size(size)
    found = footprints.find_many(index, positions, band=band, time=time)
    covered = set(np.asarray(found["target"]).tolist())
    not_covered = [ids[i] for i in range(len(ids)) if i not in covered]
    if not len(found):
        raise ObjectNotFoundError(
            f"none of the {len(ids)} targets of the catalog is on a file of the index"
            f"{' in the band and time asked for' if band is not None or time is not None else ''}; "
            "check the catalog's ra and dec (degrees), or use an index of that field"
        )
    centres: dict[str, tuple[list[int], list[float], list[float]]] = {}  # plain values: sent to workers
    all_ra, all_dec = np.asarray(positions.ra.deg, float), np.asarray(positions.dec.deg, float)
    for uri, target in zip(
        np.asarray(found["uri"], dtype=str), np.asarray(found["target"], int), strict=True
    ):
        targets, ra, dec = centres.setdefault(str(uri), ([], [], []))
        targets.append(int(target))
        ra.append(float(all_ra[target]))
        dec.append(float(all_dec[target]))
    files = found["uri", "band", "detector", "t_start", "t_end"]
    files = files[np.unique(np.asarray(files["uri"], dtype=str), return_index=True)[1]]
    files = files[np.argsort(np.asarray(files["t_start"], float), kind="stable")]
    together = method != "aperture"  # a target's epochs measured together: keep the stamps
    function = (
        functools.partial(_cut_file, centres=centres, size=pixels, anon=anon)
        if together
        else functools.partial(
            _measure_file,
            centres=centres,
            size=pixels,
            radius=float(radius),
            annulus=(r_in, r_out),
            anon=anon,
        )
    )

    def measured(batch: BatchResult) -> BatchResult:
        if not together:
            return batch
        return _measured_by_target(batch, positions, windows, method, float(radius), (r_in, r_out))

    recorded = {
        "targets": len(ids),
        "not_covered": not_covered,
        "files": len(files),
        "aperture_radius_pix": float(radius),
        "annulus_pix": [r_in, r_out],
        "cutout_size": str(size),
        "method": method,
    }
    try:
        result = map_files(
            function,
            files,
            client=client,
            max_workers=max_workers,
            retries=retries,
            timeout=timeout,
            progress=progress,
        )
    except Interrupted as stopped:
        table = _table(measured(stopped.partial), ids, positions, recorded)  # type: ignore[arg-type]
        table.meta["interrupted"] = f"after {stopped.done} of {stopped.total} files"
        raise Interrupted(
            f"interrupted after {stopped.done} of {stopped.total} files; the table of those is this "
            "exception's .partial",
            table,
            stopped.done,
            stopped.total,
        ) from None
    return _table(measured(result), ids, positions, recorded)


def _targets(
    catalog: Table | str | PathLike, anon: bool | None, method: str, reference_window: Any
) -> tuple[list[Any], SkyCoord, list[Any]]:
    """The catalog's identifiers, positions and, for difference photometry, each target's window."""
    from .photometry import _check_method

    windows: list[Any]
    if method == "difference" and reference_window is None:  # each target's own, from the catalog
        table = _catalog_table(catalog, anon)
        start, end = (_column(table, (name,)) for name in _WINDOW_COLUMNS)
        if start is None or end is None:
            raise InvalidParameterError(
                "reference_window",
                None,
                hint="give the window when the targets may vary, or a catalog with start_mjd and "
                "end_mjd columns (each target's own)",
            )
        windows = [(float(a), float(b)) for a, b in zip(table[start], table[end], strict=True)]
        ids, positions = read_catalog(table)
    else:
        ids, positions = read_catalog(catalog, anon=anon)
        windows = [reference_window] * len(ids)
    for window in {tuple(w) if w is not None else None for w in windows}:
        _check_method(method, window)  # every window is checked before a file is read
    return ids, positions, windows


_COLUMNS = ("flux", "flux_err", "background", "coverage", "x", "y", "unit", "zeropoint")


def _table(result: BatchResult, ids: list[Any], positions: SkyCoord, recorded: dict[str, Any]) -> Table:
    """The long table of a batch's measurements, with what :func:`light_curves` records."""
    from astropy.table import Table
    from astropy.time import Time

    from .photometry import _mid_time, _with_units

    rows: dict[str, list] = {name: [] for name in ("order", "mjd", "band", "file", "detector", *_COLUMNS)}
    failed = [f"{item.uri}: {item.error_type}: {item.message}" for item in result.failed]
    for item in sorted(result.ok, key=lambda item: item.index):
        for target, *values, problem in item.value:
            if problem:
                failed.append(f"{item.uri}: target {ids[target]}: {problem}")
                continue
            rows["order"].append(target)
            rows["mjd"].append(_mid_time(item.meta["t_start"], item.meta["t_end"]))
            rows["band"].append(str(item.meta.get("band", "")))
            rows["file"].append(item.uri)
            rows["detector"].append(str(item.meta.get("detector", "")))
            for name, value in zip(_COLUMNS, values, strict=True):
                rows[name].append(value)
    order_of = np.asarray(rows.pop("order"), dtype=int)
    mjd = np.asarray(rows.pop("mjd"), dtype=float)
    order = np.lexsort((mjd, order_of))
    table = Table()
    table["target"] = [ids[i] for i in order_of[order]] if len(order) else np.array([], dtype=str)
    table["ra"] = positions.ra.deg[order_of[order]] if len(order) else np.array([], dtype=float)
    table["dec"] = positions.dec.deg[order_of[order]] if len(order) else np.array([], dtype=float)
    table["time"] = Time(mjd[order], format="mjd")
    columns = {
        name: np.asarray(rows[name])[order] if rows[name] else np.array([], dtype=float)
        for name in ("band", *_COLUMNS[:4], "file", "detector", "x", "y", "unit", "zeropoint")
    }
    for name, values in _with_units(columns).items():  # units and AB magnitudes as one curve has them
        table[name] = values
    table.meta.update(recorded)
    table.meta["failed"] = failed
    table.meta["transfer"] = {
        "requests": result.requests,
        "bytes": result.bytes,
        "seconds": round(result.seconds, 3),
        "backend": result.backend,
    }
    return table
