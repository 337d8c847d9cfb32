"""Read FITS and ASDF files straight from ``s3://`` without downloading them.

Every function here reads as few bytes as the task needs:

* headers and ``info`` read the file with a small read-ahead cache
  (:data:`HEADER_BLOCK`), not s3fs's 50 MiB default block;
* ASDF metadata reads only the YAML tree at the head of the file, in growing
  steps so that at most a fifth more than the tree is fetched;
* cut-outs of uncompressed images fetch exactly the pixels of each row of the box,
  all rows concurrently (:meth:`fsspec.AbstractFileSystem.cat_ranges`);
* cut-outs of lz4-compressed ASDF arrays (how roman_datamodels saves them) walk the
  chunk headers of the compressed block and fetch only the chunks holding the rows
  of the box, instead of asdf's whole-block read;
* cut-outs of ``.fits.gz`` files stream the compressed bytes forward once, and stop
  at the chunk holding the last row needed;
* :func:`cutouts` cuts the same region out of the science image and its ERR and DQ
  arrays with one plan, and :func:`to_hdulist` packs them, with their WCS, into a FITS file;
* :func:`stamps` cuts small regions around many positions out of one file, fetching the rows
  any of them needs once (one pass of a ``.fits.gz`` stream for all).

Boxes are ``(x0, y0, x1, y1)``, 0-based pixel corners, end exclusive
(``data[y0:y1, x0:x1]``), everywhere in the package; sizes are ``(ny, nx)`` as in
:class:`astropy.nddata.Cutout2D`, in pixels or as angles.

Public buckets are read anonymously, others with the default AWS credential
chain (see :func:`filesystem`). Files are closed when the
``with`` block or the call ends.
"""

# The rooms of this package: opening (_remote), headers and metadata (_metadata), where a cut-out
# lies (_plan), the bytes of FITS and ASDF cut-outs (_fits_cutouts, _asdf_cutouts, over the byte
# layouts of roman_helpers._fits_layout and _asdf_layout), and cut-outs as FITS (_to_fits).

from __future__ import annotations

from .._fits_layout import HEADER_BLOCK
from .._s3 import filesystem
from ._cutouts import cutout, cutouts, stamps
from ._metadata import info, read_header, read_metadata
from ._remote import GZIP_BLOCK, open_asdf, open_datamodel, open_fits
from ._to_fits import to_hdulist

__all__ = [
    "GZIP_BLOCK",
    "HEADER_BLOCK",
    "cutout",
    "cutouts",
    "filesystem",
    "info",
    "open_asdf",
    "open_datamodel",
    "open_fits",
    "read_header",
    "read_metadata",
    "stamps",
    "to_hdulist",
]
