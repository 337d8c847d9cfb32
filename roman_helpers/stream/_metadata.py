"""Headers, metadata and a summary of a file, reading its headers or its ASDF tree only (private)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _asdf_layout, _fits_layout, _s3, _wcs
from .._fits_layout import HEADER_BLOCK
from ..errors import FileFormatError
from ._remote import _filesystem, _kind, _open_remote, _translated_errors, open_fits

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from asdf import AsdfFile
    from astropy.io.fits import Header

__all__ = ["info", "read_header", "read_metadata"]


def read_header(uri: str, ext: int | str = 0, *, anon: bool | None = None) -> Header:
    """Read one FITS header, fetching only the header blocks.

    Parameters
    ----------
    uri : str
        ``s3://`` URI of a FITS file.
    ext : int or str, optional
        HDU index or name (``"SCI"``); default the primary header.
    anon : bool, optional
        Anonymous access; by default decided by the bucket.

    Returns
    -------
    astropy.io.fits.Header

    Raises
    ------
    InvalidParameterError
        If the file has no such extension.
    CorruptedDataError
        If a ``.fits.gz`` file's stream is damaged (it is read again first).
    """
    return _s3.reread(lambda: _read_header(uri, ext, anon), uri)


def _read_header(uri: str, ext: int | str, anon: bool | None) -> Header:
    if _kind(uri) == "fits.gz":
        # astropy would decompress the whole stream to list the HDUs; walking stops at the header.
        with (
            _open_remote(uri, anon, cache_type="readahead", block_size=HEADER_BLOCK) as (_fs, _path, handle),
            _fits_layout.CheckedGzipFile(handle, uri) as gz,
        ):
            return _fits_layout.find_hdu(_fits_layout.ForwardReader(gz), ext, uri, image=False)[0]
    fs, path = _filesystem(uri, anon)
    with _translated_errors(uri, anon):
        return _fits_layout.find_hdu(_fits_layout.RangeReader(fs, path), ext, uri, image=False)[0]


def _to_plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _to_plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_plain(item) for item in value]
    return value


@contextlib.contextmanager
def _remote_asdf_tree(uri: str, anon: bool | None) -> Iterator[AsdfFile]:
    """Fetch the YAML tree of a remote ASDF file and open it: tagged objects become astropy/gwcs objects.

    No block is read, but those of a gwcs that keeps its arrays in blocks (a file written by plain
    asdf): :func:`roman_helpers._asdf_layout.open_tree`.
    """
    fs, path = _filesystem(uri, anon)
    with _translated_errors(uri, anon):
        tree_bytes, file = _s3.reread(
            lambda: _asdf_layout.read_tree(
                fs,
                path,
                uri,
                open_rest=lambda: fs.open(path, "rb", cache_type="readahead", block_size=HEADER_BLOCK),
            ),
            uri,
        )
        with file, _asdf_layout.open_tree(tree_bytes, file, uri) as af:
            yield af


def read_metadata(uri: str, *, anon: bool | None = None) -> dict:
    """Read a file's metadata without its data.

    For ASDF the YAML tree alone is fetched and ``roman.meta`` returned (the whole
    tree if there is no ``roman`` node); for FITS the primary header.

    Parameters
    ----------
    uri : str
        ``s3://`` URI of a ``.asdf``, ``.fits`` or ``.fits.gz`` file.
    anon : bool, optional
        Anonymous access; by default decided by the bucket.

    Returns
    -------
    dict
        Plain nested dictionaries; values keep their types (``astropy.time.Time``,
        ``gwcs.WCS`` ...). A gwcs that keeps its arrays in binary blocks (a file written by
        plain asdf) is read with those blocks.

    Raises
    ------
    FileFormatError
        If the file is not what its name says, is truncated, or its tree is beyond what an
        image's metadata holds (nested, or through YAML aliases expanded, past the kit's limits:
        see the troubleshooting page).
    """
    if _kind(uri) != "asdf":
        from astropy.io.fits.verify import VerifyError

        header = read_header(uri, 0, anon=anon)
        try:
            return {key: value for key, value in header.items() if key not in ("COMMENT", "HISTORY", "")}
        except (VerifyError, ValueError) as error:  # astropy parses each card when it is first read
            raise FileFormatError(
                f"{uri}: its primary header has a card FITS cannot read ({error})"
            ) from None
    with _remote_asdf_tree(uri, anon) as af:
        tree = af.tree
        if "roman" in tree and "meta" in tree["roman"]:
            return _to_plain(tree["roman"]["meta"])
        return _to_plain(
            {key: value for key, value in tree.items() if key not in ("asdf_library", "history")}
        )


def _tree_gwcs(tree: Mapping) -> Any:
    """The gwcs of a Roman tree (:func:`roman_helpers._asdf_layout.wcs_node`); None if it has none."""
    found = _asdf_layout.wcs_node(tree)
    return found if hasattr(found, "forward_transform") else None


def _footprint(wcs: Any, shape: tuple[int, int]) -> list[tuple[str, float, float, Any]]:
    """Centre and corners of an image of ``shape`` (ny, nx): (label, x, y, SkyCoord in ICRS).

    Corners are the centres of the corner pixels; ``wcs`` is an astropy WCS or a gwcs.
    """
    ny, nx = shape
    points = [
        ("centre", (nx - 1) / 2, (ny - 1) / 2),
        ("corner", 0, 0),
        ("corner", nx - 1, 0),
        ("corner", nx - 1, ny - 1),
        ("corner", 0, ny - 1),
    ]
    xs, ys = np.array([p[1] for p in points], float), np.array([p[2] for p in points], float)
    world = wcs.pixel_to_world(xs, ys).icrs
    return [(label, x, y, world[i]) for i, (label, x, y) in enumerate(points)]


def _footprint_text(wcs: Any, shape: tuple[int, int], what: str) -> str:
    lines = [
        f"Sky footprint of {what} ({shape[1]} x {shape[0]} pixels, x by y), ICRS; corners are the "
        "centres of the corner pixels:"
    ]
    for label, x, y, coord in _footprint(wcs, shape):
        lines.append(
            f"  {label:<7} x, y = {x:>7g}, {y:>7g}   RA, Dec = {coord.ra.deg:11.6f} "
            f"{coord.dec.deg:+11.6f} deg   {coord.to_string('hmsdms', precision=2)}"
        )
    return "\n".join(lines) + "\n"


def _coverage(wcs: Any, shape: tuple[int, int]) -> str:
    """What an image covers, on one line: its centre and corners in RA, Dec (degrees)."""
    parts = [f"{coord.ra.deg:.5f} {coord.dec.deg:+.5f}" for _label, _x, _y, coord in _footprint(wcs, shape)]
    return f"RA, Dec (deg, ICRS) centre {parts[0]}, corners {', '.join(parts[1:])}"


def info(uri: str, *, anon: bool | None = None) -> str:
    """Summarise a file's structure and where it lies on the sky, reading headers or the tree only.

    Parameters
    ----------
    uri : str
        ``s3://`` URI of a ``.asdf``, ``.fits`` or ``.fits.gz`` file.
    anon : bool, optional
        Anonymous access; by default decided by the bucket.

    Returns
    -------
    str
        For FITS the table of :meth:`astropy.io.fits.HDUList.info`; for ASDF the tree
        as :meth:`asdf.AsdfFile.info` prints it. When the file has a celestial WCS (the
        first image HDU's FITS WCS, or the gwcs of a Roman file) it ends with the sky
        footprint: the RA and Dec of the image's centre and of its four corners.

    Examples
    --------
    >>> from roman_helpers.datasets import get
    >>> summary = info(get("roman-tutorial-2026").uri())
    >>> print(summary.splitlines()[0])
    root (AsdfObject)
    >>> footprint = summary[summary.index("Sky footprint of data") :].splitlines()
    >>> [line.split()[0] for line in footprint[1:]]  # then RA, Dec in degrees and sexagesimal
    ['centre', 'corner', 'corner', 'corner', 'corner']
    """
    return _s3.reread(lambda: _info(uri, anon), uri)


def _info(uri: str, anon: bool | None) -> str:
    from astropy.io.fits.verify import VerifyError

    out = io.StringIO()
    if _kind(uri) == "asdf":
        with _remote_asdf_tree(uri, anon) as af:
            with contextlib.redirect_stdout(out):
                af.info(max_rows=40, max_cols=120, show_values=True)
            gwcs_wcs = _tree_gwcs(af.tree)
            try:
                shape = tuple(_asdf_layout.find_array_node(af.tree, "data")["shape"])
            except (FileFormatError, TypeError):
                shape = tuple(getattr(af.tree.get("roman", af.tree).get("data"), "shape", ()))
        if gwcs_wcs is not None and len(shape) == 2:
            out.write(_footprint_text(gwcs_wcs, shape, "data"))
        return out.getvalue()
    with open_fits(uri, anon=anon) as hdul:
        try:  # astropy reads each HDU as it lists it: a damaged one fails in many ways
            hdul.info(output=out)
            images = [(index, hdu.header) for index, hdu in enumerate(hdul) if hdu.is_image]
        except (KeyError, AttributeError, TypeError, ValueError, IndexError, VerifyError, OSError) as error:
            if isinstance(error, OSError) and (type(error) is not OSError or error.errno is not None):
                raise  # the store or the network, not the file: translated by open_fits
            raise FileFormatError(
                f"{uri} is not a readable FITS file: astropy could not list its HDUs "
                f"({type(error).__name__}: {error})"
            ) from error
    footprint = ""
    for index, header in images:
        if header.get("NAXIS") == 2:
            wcs = _wcs.celestial(header, uri)
            if wcs is not None:
                name = header.get("EXTNAME", "PRIMARY" if index == 0 else f"HDU {index}")
                footprint = _footprint_text(wcs, _fits_layout.image_layout(header)[0], name)
                break
    lines = out.getvalue().splitlines(keepends=True)
    return f"Filename: {uri}\n" + "".join(lines[1:]) + footprint
