"""Storing an index: its columns, and its files in ECSV or Parquet, written whole or not at all (private)."""

from __future__ import annotations

import json
import math
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._atomic import replacing
from ..errors import FileFormatError, InvalidParameterError, MissingExtraError, ObjectNotFoundError

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from astropy.table import Table

__all__ = ["COLUMNS", "load_index", "read_parquet", "save_index", "strings"]

#: The columns of an index, in order, with their type and the value of a file not (yet) indexed.
COLUMNS: dict[str, tuple[Any, Any]] = {
    "uri": (object, ""),
    "instrument": (object, ""),
    "band": (object, ""),
    "detector": (object, ""),
    "t_start": (np.float64, math.nan),
    "t_end": (np.float64, math.nan),
    "exptime": (np.float64, math.nan),
    "naxis1": (np.int64, 0),
    "naxis2": (np.int64, 0),
    "ra_center": (np.float64, math.nan),
    "dec_center": (np.float64, math.nan),
    "ra_corners": ((np.float64, 4), math.nan),
    "dec_corners": ((np.float64, 4), math.nan),
    "fov_radius": (np.float64, math.nan),
    "wcs": (object, ""),
    "wcs_error": (np.float64, math.nan),
    "etag": (object, ""),
    "size": (np.int64, 0),
    "error": (object, ""),
}
_UNITS = {
    "t_start": "d",
    "t_end": "d",
    "exptime": "s",
    "naxis1": "pix",
    "naxis2": "pix",
    "ra_center": "deg",
    "dec_center": "deg",
    "ra_corners": "deg",
    "dec_corners": "deg",
    "fov_radius": "deg",
    "wcs_error": "pix",
    "size": "byte",
}
_FORMAT_KEY = "footprint_index_version"
_FORMAT_VERSION = 1


def _table(rows: list[dict[str, Any]]) -> Table:
    from astropy.table import Column, Table

    table = Table()
    for name, (dtype, blank) in COLUMNS.items():
        values = [row.get(name, blank) for row in rows]
        if isinstance(dtype, tuple):
            array: np.ndarray = np.full((len(rows), dtype[1]), blank, dtype=dtype[0])
            for i, value in enumerate(values):
                array[i] = value
        elif dtype is object:
            array = np.empty(len(rows), dtype=object)
            array[:] = ["" if v is None or v is np.ma.masked else str(v) for v in values]
        else:
            array = np.array(values, dtype=dtype)
        table[name] = Column(array, unit=_UNITS.get(name))
    return table


def strings(column: Any) -> np.ndarray:
    """A text column as Python strings, masked values (how astropy reads an empty ECSV field) as ''."""
    if hasattr(column, "filled"):
        column = column.filled("")
    return np.asarray(column, dtype=object)


def _holds(column: Any) -> str:
    """What a column holds, in words."""
    values = np.asarray(column)
    if values.dtype.kind in "US":
        return "text"
    if values.dtype.kind == "O":
        return "text" if all(isinstance(v, str) for v in values.ravel()) else "Python objects"
    return {"b": "true/false values", "f": "floating-point numbers", "c": "complex numbers"}.get(
        values.dtype.kind, f"values of type {values.dtype}"
    )


def _wrong_type(name: str, column: Any) -> str | None:
    """Why ``column`` cannot be the index's column ``name``, or None when it can."""
    dtype, _blank = COLUMNS[name]
    values = np.asarray(column)
    if dtype is object:
        return None  # text: whatever is there is read as text
    if isinstance(dtype, tuple):
        width = dtype[1]
        if values.ndim != 2 or values.shape[1] != width:
            holds = "one value a row" if values.ndim == 1 else f"values shaped {values.shape[1:]} a row"
            return f"holds {holds}, where an index holds {width}"
        dtype = dtype[0]
    if np.dtype(dtype).kind == "f" and values.dtype.kind not in "fiu":
        return f"holds {_holds(column)}, where an index holds numbers"
    if np.dtype(dtype).kind == "i" and values.dtype.kind not in "iu":
        return f"holds {_holds(column)}, where an index holds whole numbers"
    return None


def _check_columns(table: Table, what: str) -> None:
    """Refuse a table that is not an index: a column missing, or holding values of another type."""
    missing = [name for name in COLUMNS if name not in table.colnames]
    if missing:
        raise FileFormatError(
            f"{what} is not a footprint index: it lacks the columns {', '.join(missing)} (an index has "
            f"{', '.join(COLUMNS)}); make one with roman_helpers.footprints.build_index"
        )
    for name in COLUMNS:
        why = _wrong_type(name, table[name])
        if why is not None:
            raise FileFormatError(
                f"{what} is not a footprint index: its column {name} {why}; "
                "make one with roman_helpers.footprints.build_index"
            )


def _described(stored: Any, path: Path) -> dict[str, Any]:
    """The ``roman_helpers`` metadata of a Parquet index: ``{"meta": {...}, "units": {...}}``."""
    text = (stored.schema.metadata or {}).get(b"roman_helpers", b"{}")
    try:
        described = json.loads(text)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError alike
        raise FileFormatError(
            f"{path} is not a footprint index: its roman_helpers metadata is not JSON ({error}); "
            "expected an index written by save_index"
        ) from None
    if not isinstance(described, dict) or not all(
        isinstance(described.get(key, {}), dict) for key in ("meta", "units")
    ):
        raise FileFormatError(
            f"{path} is not a footprint index: its roman_helpers metadata is not a JSON object of "
            "'meta' and 'units'; expected an index written by save_index"
        )
    return described


def _pyarrow(action: str) -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as error:
        raise MissingExtraError(f"{action} a Parquet index", ["survey"], "pyarrow") from error
    return pa, pq


def _kind(path: str | PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".ecsv", ".parquet"):
        return suffix[1:]
    raise InvalidParameterError(
        "path",
        str(path),
        valid=[".ecsv", ".parquet"],
        hint="an index is saved as ECSV (readable text) or Parquet (large indexes)",
    )


def save_index(table: Table, path: str | PathLike) -> Path:
    """Write an index to ``.ecsv`` or ``.parquet``.

    ECSV is the text format of the Roman Research Nexus's file manifests, fine up to some
    ten thousand files; Parquet is compact and fast for large indexes and needs ``pyarrow``
    (``pip install "roman-helpers[survey]"``).

    Parameters
    ----------
    table : astropy.table.Table
        From :func:`build_index` (or :func:`find`).
    path : str or path-like
        Ends in ``.ecsv`` or ``.parquet``; an existing file is replaced, only once the new one is
        written whole (a failed write leaves it as it was).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> from roman_helpers.footprints import build_index, load_index, save_index
    >>> index = build_index(
    ...     [
    ...         "s3://nasa-irsa-simulations/openuniverse2024/roman/preview/RomanWAS/"
    ...         "images/simple_model/H158/15298/Roman_WAS_simple_model_H158_15298_3.fits.gz"
    ...     ]
    ... )
    >>> path = save_index(index, "index.ecsv")
    >>> load_index(path)["band"][0]
    'H158'
    """
    _check_columns(table, "the table")
    kind, path = _kind(path), Path(path)
    writer = _write_ecsv if kind == "ecsv" else _write_parquet
    with replacing(path) as temporary:  # an interrupted write leaves the old index, not half a new one
        writer(table, temporary)
    return path


def _write_ecsv(table: Table, path: Path) -> None:
    out = table.copy(copy_data=False)
    for name in out.colnames:  # plain text columns, not ECSV's JSON-encoded objects
        if out[name].dtype == object:
            out[name] = np.array([str(v) for v in out[name]], dtype=str)
    out.write(path, format="ascii.ecsv", overwrite=True)


def _write_parquet(table: Table, path: Path) -> None:
    pa, pq = _pyarrow("saving")
    # pyarrow directly: astropy's Parquet reader needs pandas as well, and these columns are simple.
    arrays = {}
    for name in table.colnames:
        column = table[name]
        values = np.ma.getdata(column)
        if values.ndim == 2:
            arrays[name] = pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), values.shape[1])
        elif values.dtype.kind in "OUS":
            arrays[name] = pa.array([str(v) for v in values], pa.string())
        else:
            arrays[name] = pa.array(values)
    units = {name: str(table[name].unit) for name in table.colnames if table[name].unit is not None}
    described = json.dumps({"meta": dict(table.meta), "units": units}, default=str)
    pq.write_table(pa.table(arrays).replace_schema_metadata({"roman_helpers": described}), path)


def read_parquet(path: Path, expected: str) -> Table:
    """A Parquet file as a table, with the units and meta an index written here records.

    pyarrow directly: astropy's Parquet reader needs pandas as well, and these columns are simple
    (numbers, text, and fixed-size lists of numbers).
    """
    from astropy.table import Column, Table

    pa, pq = _pyarrow("reading")
    try:
        stored = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise FileFormatError(f"{path} is not a Parquet file ({error}); expected {expected}") from error
    described = _described(stored, path)
    table = Table(meta=described.get("meta", {}))
    for name in stored.column_names:
        column = stored.column(name).combine_chunks()
        if pa.types.is_fixed_size_list(column.type):
            values = column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), -1)
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            values = np.array(column.to_pylist(), dtype=object)
        else:
            values = column.to_numpy(zero_copy_only=False)
        table[name] = Column(values, unit=described.get("units", {}).get(name))
    return table


def load_index(path: str | PathLike) -> Table:
    """Read an index written by :func:`save_index`.

    Parameters
    ----------
    path : str or path-like
        A ``.ecsv`` or ``.parquet`` file.

    Returns
    -------
    astropy.table.Table

    Raises
    ------
    ObjectNotFoundError
        If there is no such file.
    FileFormatError
        If the file is not a footprint index: not ECSV or Parquet, a column missing or holding
        values of another type (text where an index holds numbers ...), metadata that is not
        JSON. The message names the column.
    InvalidParameterError
        If the name ends in neither ``.ecsv`` nor ``.parquet``.

    Examples
    --------
    >>> from roman_helpers.footprints import load_index
    >>> load_index("notes.txt")
    Traceback (most recent call last):
    ...
    roman_helpers.errors.InvalidParameterError: invalid path 'notes.txt'; valid values are: ...
    """
    from astropy.table import Column, MaskedColumn, Table

    kind, path = _kind(path), Path(path)
    if not path.is_file():
        raise ObjectNotFoundError(f"no index at {path}; make one with build_index and save_index")
    if kind == "ecsv":
        try:
            table = Table.read(path, format="ascii.ecsv")
        except Exception as error:  # astropy raises many types for a file that is not ECSV
            raise FileFormatError(
                f"{path} is not an ECSV table ({type(error).__name__}: {error}); "
                "expected an index written by save_index"
            ) from error
    else:
        table = read_parquet(path, "an index written by save_index")
    _check_columns(table, str(path))
    for name, (dtype, _blank) in COLUMNS.items():  # text columns as Python strings; ECSV reads "" as masked
        if dtype is object:
            column = table[name]
            column = column.filled("") if isinstance(column, MaskedColumn) else column
            table[name] = Column(np.array([str(v) for v in column], dtype=object), unit=None)
    return table
