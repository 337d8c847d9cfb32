r"""Index image files by their footprint on the sky and their time, then find the ones over a position.

A survey's science (light curves, stacks) needs every file that covers one position, across
hundreds of epochs and thousands of files, and no general service answers that for a bucket.
:func:`build_index` reads the headers (FITS) or the metadata tree (ASDF) of each file, never
the pixels, and returns one row per file: band, detector, time, the four corners of the
footprint and a WCS from which pixel positions are computed later without opening the file
again. :func:`save_index` writes it as ECSV (the format of the Roman Research Nexus's manifests) or
Parquet; :func:`find` answers "which files hold this position, and where" in a fraction of a
second, even for a million rows; :func:`find_many` answers it for thousands of positions at once.

A survey that publishes a manifest of its files (the Core Community Survey simulations' ECSV
tables on the Roman Research Nexus) gives an index without reading any file:
:func:`from_manifest` makes its rows from the manifest's, and :func:`find` reads the footprints of
only the files that could hold the position asked for (their detector within
:data:`DETECTOR_REACH_DEG` of it), keeps them, and answers by the files' exact footprints, where
the manifest alone could only compare the distance to each detector's centre. A manifest of
level-3 mosaics (the coadd manifest) is taken the same way, each mosaic placed by its skycell's
centre (within :data:`SKYCELL_REACH_DEG`).

Columns of an index
-------------------
``uri``
    ``s3://`` URI of the file.
``instrument``, ``band``, ``detector``
    From ``INSTRUME`` (else ``TELESCOP``), ``FILTER``, ``DETECTOR`` (else ``SCA_NUM`` as ``WFInn``)
    in FITS headers; from ``roman.meta.instrument.{name,optical_element,detector}`` (else
    ``roman.meta.{band,sensor}``) in ASDF files. Empty when the file does not say. The band is
    written as the file writes it (OpenUniverse's ``H158`` for Roman's ``F158``); :func:`find`
    takes either name.
``t_start``, ``t_end``, ``exptime``
    Start and end of the exposure (MJD) and its length (s); NaN when the file does not say.
``naxis1``, ``naxis2``
    Image width and height in pixels.
``ra_center``, ``dec_center``, ``ra_corners``, ``dec_corners``, ``fov_radius``
    ICRS degrees: the centre pixel, the outer corners of the corner pixels in the order
    (0, 0), (naxis1, 0), (naxis1, naxis2), (0, naxis2), and the largest centre-to-corner distance.
``wcs``
    The celestial WCS as FITS header text, one card a line without comments or padding
    (``fits.Header.fromstring(row["wcs"], sep="\n")``; :func:`row_wcs` gives the WCS). For FITS it
    is the file's own; for an ASDF gwcs it is a FITS-SIP fit.
``wcs_error``
    Largest difference, in pixels, between that WCS and the file's own over the image (0 for FITS).
``etag``, ``size``
    The object's ETag and size when it was read: an incremental rebuild skips files whose ETag
    is unchanged.
``error``
    Empty for an indexed file (and for a file of a manifest whose footprint is not read yet:
    ``naxis1`` is then 0, ``ra_center``, ``dec_center`` are the manifest's detector position and
    ``fov_radius`` is :data:`DETECTOR_REACH_DEG`, or its skycell's centre and
    :data:`SKYCELL_REACH_DEG`); otherwise why it could not be indexed, and the
    other columns are blank (:func:`find` ignores the row). ``"not read: ..."`` (a network or access
    failure) is tried again by the next incremental build; ``"bad file: ..."`` (content that is not
    a readable image) once the file changes. ``"not an image: ..."`` marks a readable file that
    holds no image (such as a survey's observation sequence, a FITS table beside its images): it is
    skipped, not counted as a failure.
"""

from __future__ import annotations

from ._build import NOT_AN_IMAGE, build_index
from ._manifest import DETECTOR_REACH_DEG, SKYCELL_REACH_DEG, from_manifest
from ._query import find, find_many, row_wcs
from ._read import SIP_LIMIT, SIP_MAX_ERROR
from ._store import COLUMNS, load_index, save_index

__all__ = [
    "COLUMNS",
    "DETECTOR_REACH_DEG",
    "NOT_AN_IMAGE",
    "SIP_LIMIT",
    "SIP_MAX_ERROR",
    "SKYCELL_REACH_DEG",
    "build_index",
    "find",
    "find_many",
    "from_manifest",
    "load_index",
    "row_wcs",
    "save_index",
]
