r"""Catalogs and text files: Parquet, ECSV and plain text objects built on first use.

A table's length in bytes depends on its content, so these objects are
:class:`~roman_helpers.sandbox.archive.objects.MaterialisedObject`: the table is made by a
function the first time the object's size or bytes are needed, then written once with the
format's own library (pyarrow for Parquet, astropy for ECSV). When a layout can tell the size
in advance cheaply it passes ``size=`` and listings never build the table.

Examples
--------
>>> import pyarrow as pa, pyarrow.parquet as pq
>>> item = parquet_object("cats/galaxy_10307.parquet", lambda: pa.table({"id": [1, 2], "ra": [9.7, 9.8]}))
>>> pq.read_table(pa.BufferReader(item.read(0, item.size))).column("ra").to_pylist()
[9.7, 9.8]
>>> text_object("README.txt", lambda: "synthetic\n").read(0, 4)
b'synt'
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime
from typing import Any

from roman_helpers.sandbox.archive.objects import GENERATED_DATE, MaterialisedObject

__all__ = ["ecsv_object", "parquet_object", "text_object"]


def parquet_object(
    key: str,
    build: Callable[[], Any],
    *,
    size: int | Callable[[], int] | None = None,
    version: str = "1",
    last_modified: datetime = GENERATED_DATE,
    **write_options: Any,
) -> MaterialisedObject:
    """A Parquet file of the table ``build()`` returns, written by pyarrow.

    Parameters
    ----------
    key : str
    build : callable
        Returns a :class:`pyarrow.Table` or an :class:`astropy.table.Table`; deterministic.
    size : int or callable, optional
        The file's length when known in advance.
    version, last_modified
        As for :class:`~roman_helpers.sandbox.archive.objects.GeneratedObject`.
    **write_options
        Passed to :func:`pyarrow.parquet.write_table` (``row_group_size``, ``compression`` ...).

    Returns
    -------
    MaterialisedObject
    """

    def write() -> bytes:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = build()
        if not isinstance(table, pa.Table):  # an astropy Table: through its columns
            table = pa.table({name: table[name].data for name in table.colnames})
        sink = io.BytesIO()
        pq.write_table(table, sink, **write_options)
        return sink.getvalue()

    return MaterialisedObject(key, write, size=size, version=version, last_modified=last_modified)


def ecsv_object(
    key: str,
    build: Callable[[], Any],
    *,
    size: int | Callable[[], int] | None = None,
    version: str = "1",
    last_modified: datetime = GENERATED_DATE,
) -> MaterialisedObject:
    """An ECSV file of the :class:`astropy.table.Table` ``build()`` returns, written by astropy.

    Parameters are those of :func:`parquet_object`.

    Examples
    --------
    >>> from astropy.table import Table
    >>> item = ecsv_object("truth.ecsv", lambda: Table({"mag": [21.5]}))
    >>> Table.read(item.read(0, item.size).decode(), format="ascii.ecsv")["mag"][0]
    np.float64(21.5)
    """

    def write() -> bytes:
        text = io.StringIO()
        build().write(text, format="ascii.ecsv")
        return text.getvalue().encode("utf-8")

    return MaterialisedObject(key, write, size=size, version=version, last_modified=last_modified)


def text_object(
    key: str,
    build: Callable[[], str],
    *,
    size: int | Callable[[], int] | None = None,
    version: str = "1",
    last_modified: datetime = GENERATED_DATE,
) -> MaterialisedObject:
    """A UTF-8 text file whose text ``build()`` returns (truth lists, READMEs).

    Parameters are those of :func:`parquet_object`.
    """
    return MaterialisedObject(
        key, lambda: build().encode("utf-8"), size=size, version=version, last_modified=last_modified
    )
