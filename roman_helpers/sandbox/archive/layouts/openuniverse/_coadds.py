"""The Wide Area Survey's coadd blocks: ``RomanWAS/images/coadds/{band}/Row{row}/prod_*_map.fits``.

What the real files hold, and where each fact comes from
    * The layout ``coadds/{band}/Row{row:02d}/prod_{band[0]}_{col:02d}_{row:02d}_map.fits``,
      uncompressed, in the ``preview`` release only: IRSA's WAS and Firefly notebooks (rows and
      columns 12-23, filters F184 H158 J129 K213 Y106) and PyIMCOM's output guide, which reads
      ``.../preview/RomanWAS/images/coadds/H158/Row14/prod_H_18_14_map.fits`` from IRSA.
    * HDUs, as IRSA's WAS notebook describes them and PyIMCOM's ``Block.build_output_file``
      writes them: PRIMARY the 1 x 15 x 2688 x 2688 float32 cube with the block's WCS (layer
      0 the science image, the others test layers); ``CONFIG`` an ASCII table of the coadder's
      configuration text (column ``text``, A512; header ``TILESCHM, RERUN, MOSAIC, FILTER,
      BLOCKX, BLOCKY``); ``INDATA`` a binary table of the input exposures (``obsid`` J, ``sca``
      I, ``ra, dec, pa`` D in degrees, ``valid`` L); ``INWEIGHT`` the mean weight of each input
      in each of the 84 x 84 postage stamps, 1 x Nin x 84 x 84; ``INWEIGHTFLAT`` the same laid
      out as 1 x 84 x (Nin x 84) (the notebook's name and shape; newer PyIMCOM writes
      ``INWTFLAT``); ``FIDELITY`` (uint16), ``SIGMA`` (int16), ``INWTSUM`` (int16) and
      ``EFFCOVER`` (uint16), 1 x 2688 x 2688 maps of log10 quantities, each with the block's
      WCS and a ``UNIT`` keyword whose comment says how to rescale it.

How the sandbox makes them
    The block grid, its WCS and which blocks exist: :mod:`~roman_helpers.sandbox.sky.surveys.was`.
    The inputs: every detector image of the WAS observation sequence, in the block's filter,
    whose pixels come within the block's half-diagonal of its centre. Layer 0 and the test
    layers: :func:`~roman_helpers.sandbox.sky.render.coadd_layer_rows` of an exposure with the
    block's WCS, 140 s per input, as many inputs as ``INDATA`` lists. The weight and quality
    maps follow from which inputs cover each postage stamp: weights 1/N over the N inputs that
    cover it; ``EFFCOVER`` N; ``INWTSUM`` 1 where covered; ``FIDELITY`` U/C = 10^-(4 + N/2);
    ``SIGMA`` 0.9/sqrt(N) (the sandbox's stand-ins for the coadder's own diagnostics, with the
    right units and trends).
"""

from __future__ import annotations

import functools
import io
import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from roman_helpers.sandbox.archive.fits import BLOCK, HDU, FitsObject, TableSpec
from roman_helpers.sandbox.archive.layouts.openuniverse._common import (
    BUCKET,
    ROOT,
    LazyObject,
    seed,
    version,
)
from roman_helpers.sandbox.archive.objects import ArraySpec, GeneratedObject, Pieces
from roman_helpers.sandbox.archive.registry import Provider
from roman_helpers.sandbox.sky import render, wfi
from roman_helpers.sandbox.sky.surveys import was

#: Releases that hold coadds: IRSA documents only the preview's (see the module's notes).
RELEASES = ("preview",)
STAMPS = was.BLOCK_PIXELS // was.STAMP_PIXELS  # 84 postage stamps a side
_SIDE = was.BLOCK_PIXELS
_LAYERS = len(render.COADD_LAYERS)
_EXPTIME = 140.0
#: PyIMCOM's filter codes (its configuration guide): FILTER in CONFIG's JSON.
_FILTER_CODES = {"W146": 0, "F184": 1, "H158": 2, "J129": 3, "Y106": 4, "Z087": 5, "R062": 6, "K213": 10}
#: The test layers after the science layer, as PyIMCOM's EXTRAINPUT names them (its guide).
_EXTRA_INPUT = (
    "labnoise",
    "gsstar14",
    "nstar14,2e5,86,3",
    "gstrstar14",
    "gsfdstar14,0.05",
    "gsext14,seed=100",
    "gsext14,seed=100,shear=.02:0",
    "gsext14,seed=100,shear=-.01:0.017320508075688773",
    "gsext14,seed=100,shear=-.01:-0.017320508075688773",
    "1fnoise9",
    "whitenoise10",
    "whitenoise11",
    "whitenoise12",
    "whitenoise13",
)
#: (EXTNAME, dtype, UNIT value and comment) of the quality maps, as PyIMCOM compresses them.
_MAPS = (
    ("FIDELITY", "uint16", ("0.2mB", "-5000*log10(U/C)"), -5000.0),
    ("SIGMA", "int16", ("0.1mB", "-10000*log10(Sigma)"), -10000.0),
    ("INWTSUM", "int16", ("5uB", "200000*log10(Tsum)"), 200000.0),
    ("EFFCOVER", "uint16", ("20uB", "50000*log10(Neff)"), 50000.0),
)


def coadd_key(band_name: str, row: int, col: int, release: str = "preview") -> str:
    """The key of one coadd block file.

    Examples
    --------
    >>> coadd_key("H158", 14, 16)
    'openuniverse2024/roman/preview/RomanWAS/images/coadds/H158/Row14/prod_H_16_14_map.fits'
    """
    name = f"prod_{band_name[0]}_{col:02d}_{row:02d}_map.fits"
    return f"{ROOT}roman/{release}/RomanWAS/images/coadds/{band_name}/Row{row:02d}/{name}"


@functools.cache
def _was_sequence() -> dict[str, np.ndarray]:
    table = was.observation_sequence()
    return {name: np.asarray(table[name]) for name in table.colnames}


@functools.lru_cache(maxsize=2048)
def inputs(band_name: str, row: int, col: int) -> tuple[np.ndarray, np.ndarray]:
    """The input exposures of one block: (pointing, detector) of the WAS images in its filter that reach it.

    An input reaches the block when its detector's pixels come within the block's half-diagonal
    (74 arcsec) of the block's centre; sorted by pointing, then detector, as PyIMCOM sorts them.

    Examples
    --------
    >>> pointing, sca = inputs("H158", 17, 17)
    >>> len(pointing) > 10, bool((np.diff(pointing) >= 0).all())
    (True, True)
    """
    sequence = _was_sequence()
    chosen = np.flatnonzero(sequence["filter"] == band_name)
    ra, dec = (float(v) for v in was.block_centre(row, col))
    radius = _SIDE * was.COADD_PIXEL_ARCSEC / 3600.0 / math.sqrt(2.0)
    hits = wfi.overlaps_disc(
        sequence["ra"][chosen], sequence["dec"][chosen], sequence["pa"][chosen], (ra, dec), radius
    )
    rows, detector = np.nonzero(hits)
    return chosen[rows].astype(np.int64), (detector + 1).astype(np.int64)


def _block_wcs(row: int, col: int) -> Any:
    from astropy.wcs import WCS

    result = WCS(was.block_header(row, col))
    result.pixel_shape = (_SIDE, _SIDE)
    return result


@functools.lru_cache(maxsize=4)
def coadd_exposure(band_name: str, row: int, col: int) -> render.Exposure:
    """The exposure a block's layers are drawn from: its WCS, 140 s a input, one input per ``INDATA`` row.

    Examples
    --------
    >>> block = coadd_exposure("H158", 17, 17)
    >>> block.shape, block.units, block.n_exposures == len(inputs("H158", 17, 17)[0])
    ((2688, 2688), 'electron/native pixel/exposure', True)
    """
    pointing, _ = inputs(band_name, row, col)
    dates = _was_sequence()["date"][pointing]
    return render.Exposure(
        _block_wcs(row, col),
        (_SIDE, _SIDE),
        band_name,
        exptime=_EXPTIME,
        mjd=float(dates.mean()) if len(dates) else float(_was_sequence()["date"][0]),
        seed=seed(ROOT, "RomanWAS-coadd", band_name, row, col),
        units="electron/native pixel/exposure",
        n_exposures=max(len(pointing), 1),
        cosmic_rays=False,
    )


@functools.lru_cache(maxsize=4)
def coverage(band_name: str, row: int, col: int) -> np.ndarray:
    """Which input covers each postage stamp's centre: bool array (Nin, 84, 84).

    Examples
    --------
    >>> covered = coverage("H158", 17, 17)
    >>> covered.shape[1:], bool(covered.any(axis=0).mean() > 0.9)
    ((84, 84), True)
    """
    pointing, sca = inputs(band_name, row, col)
    centres = np.arange(STAMPS) * was.STAMP_PIXELS + (was.STAMP_PIXELS - 1) / 2
    x, y = np.meshgrid(centres, centres)
    ra, dec = _block_wcs(row, col).wcs_pix2world(x, y, 0)
    sequence = _was_sequence()
    out = np.zeros((len(pointing), STAMPS, STAMPS), dtype=bool)
    edge = (-0.5, wfi.DETECTOR_SIDE - 0.5)
    for index, (p, s) in enumerate(zip(pointing.tolist(), sca.tolist(), strict=True)):
        detector = wfi.wcs(float(sequence["ra"][p]), float(sequence["dec"][p]), float(sequence["pa"][p]), s)
        px, py = detector.wcs_world2pix(ra, dec, 0)
        out[index] = (px >= edge[0]) & (px < edge[1]) & (py >= edge[0]) & (py < edge[1])
    return out


def _weights(band_name: str, row: int, col: int) -> np.ndarray:
    covered = coverage(band_name, row, col).astype(np.float32)
    count = covered.sum(axis=0)
    return (covered / np.maximum(count, 1.0))[None]  # 1 x Nin x 84 x 84


def _map_rows(
    band_name: str, row: int, col: int, scale: float, kind: str
) -> Callable[[int, int], np.ndarray]:
    info = np.iinfo(kind)

    def rows(y0: int, y1: int) -> np.ndarray:
        count = coverage(band_name, row, col).sum(axis=0).astype(float)  # N per stamp
        if scale == -5000.0:  # FIDELITY: U/C
            value = np.where(count > 0, 10.0 ** -(4.0 + count / 2.0), 1.0)
        elif scale == -10000.0:  # SIGMA
            value = 0.9 / np.sqrt(np.maximum(count, 1.0))
        elif scale == 200000.0:  # INWTSUM: the weights sum to 1 where any input covers
            value = np.where(count > 0, 1.0, 0.0)
        else:  # EFFCOVER
            value = count
        coded = np.clip(np.floor(scale * np.log10(np.clip(value, 1e-32, None)) + 0.5), info.min, info.max)
        stamp_rows = np.arange(y0, y1) // was.STAMP_PIXELS
        return np.repeat(coded[stamp_rows], was.STAMP_PIXELS, axis=1).astype(kind)

    return rows


def _cube_rows(band_name: str, row: int, col: int) -> Callable[[int, int], np.ndarray]:
    def rows(r0: int, r1: int) -> np.ndarray:
        block = coadd_exposure(band_name, row, col)
        parts = []
        for layer in range(r0 // _SIDE, (r1 - 1) // _SIDE + 1):
            y0, y1 = max(r0 - layer * _SIDE, 0), min(r1 - layer * _SIDE, _SIDE)
            parts.append(render.coadd_layer_rows(block, layer, y0, y1))
        return np.vstack(parts)

    return rows


def config_text(band_name: str, row: int, col: int) -> list[str]:
    """The lines of the block's ``CONFIG`` table: a PyIMCOM configuration, as JSON.

    Examples
    --------
    >>> config_text("H158", 14, 16)[:2]
    ['{', '  "OBSFILE": "Roman_WAS_obseq_11_1_23.fits",']
    """
    settings = {
        "OBSFILE": was.OBSEQ_NAME,
        "INDATA": ["RomanWAS/images/simple_model", "anlsim"],
        "CTR": list(was.COADD_CENTRE),
        "LONPOLE": 180.0,
        "BLOCK": was.BLOCKS,
        "OUTSIZE": [
            round(was.BLOCK_ARCSEC / was.COADD_PIXEL_ARCSEC / was.STAMP_PIXELS),
            was.STAMP_PIXELS,
            was.COADD_PIXEL_ARCSEC,
        ],
        "FILTER": _FILTER_CODES[band_name],
        "EXTRAINPUT": list(_EXTRA_INPUT),
        "OUTMAPS": "USTN",
        "OUTSTEM": f"prod_{band_name[0]}",
        "BLOCKX": col,
        "BLOCKY": row,
    }
    return json.dumps(settings, indent=2).splitlines()


def _config_bytes(band_name: str, row: int, col: int) -> bytes:
    """The CONFIG HDU (an ASCII table, which FitsObject does not lay out) as astropy writes it."""
    from astropy.io import fits

    lines = config_text(band_name, row, col)
    table = fits.TableHDU.from_columns([fits.Column(name="text", array=lines, format="A512", ascii=True)])
    table.header["EXTNAME"] = "CONFIG"
    table.header["TILESCHM"] = ("OpenUniverse2024", "Tiling scheme name")
    table.header["RERUN"] = ("sandbox", "Rerun name")
    table.header["MOSAIC"] = (0, "Mosaic number")
    table.header["FILTER"] = (band_name, "Filter code")
    table.header["BLOCKX"] = col
    table.header["BLOCKY"] = row
    written = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(written)
    return written.getvalue()[BLOCK:]  # the table alone: after the one-block empty primary HDU


def _head_fits(band_name: str, row: int, col: int) -> FitsObject:
    header = was.block_header(row, col)
    header["EXTEND"] = True
    cube = ArraySpec("float32", (1, _LAYERS, _SIDE, _SIDE), _cube_rows(band_name, row, col))
    key = coadd_key(band_name, row, col)
    return FitsObject(key + "#cube", [HDU(header, cube)], version=version("was-coadd"))


def _tail_fits(band_name: str, row: int, col: int, count: int) -> FitsObject:
    """INDATA ... EFFCOVER after a one-block empty primary HDU (read from its first extension on)."""
    from astropy.io import fits

    pointing, sca = inputs(band_name, row, col)
    sequence = _was_sequence()
    columns = [
        fits.Column("obsid", "J"),
        fits.Column("sca", "I"),
        fits.Column("ra", "D", unit="degree"),
        fits.Column("dec", "D", unit="degree"),
        fits.Column("pa", "D", unit="degree"),
        fits.Column("valid", "L"),
    ]

    def indata(r0: int, r1: int) -> dict[str, np.ndarray]:
        chosen = pointing[r0:r1]
        return {
            "obsid": chosen,
            "sca": sca[r0:r1],
            "ra": sequence["ra"][chosen],
            "dec": sequence["dec"][chosen],
            "pa": sequence["pa"][chosen],
            "valid": np.ones(len(chosen), dtype=bool),
        }

    def weight_rows(r0: int, r1: int) -> np.ndarray:
        return _weights(band_name, row, col).reshape(-1, STAMPS)[r0:r1]

    def flat_rows(r0: int, r1: int) -> np.ndarray:
        flat = np.transpose(_weights(band_name, row, col)[0], (1, 0, 2)).reshape(STAMPS, count * STAMPS)
        return flat[r0:r1]

    hdus = [
        HDU(),
        HDU(None, TableSpec(columns, count, indata), name="INDATA"),
        HDU(None, ArraySpec("float32", (1, count, STAMPS, STAMPS), weight_rows), name="INWEIGHT"),
        HDU(None, ArraySpec("float32", (1, STAMPS, count * STAMPS), flat_rows), name="INWEIGHTFLAT"),
    ]
    for name, kind, unit, scale in _MAPS:
        header = was.block_header(row, col)
        header["UNIT"] = unit
        spec = ArraySpec(kind, (1, _SIDE, _SIDE), _map_rows(band_name, row, col, scale, kind))
        hdus.append(HDU(header, spec, name=name))
    return FitsObject(coadd_key(band_name, row, col) + "#tail", hdus, version=version("was-coadd"))


class CoaddFile(GeneratedObject):
    """One coadd block file: the cube, the CONFIG ASCII table, then the binary HDUs, laid end to end.

    Parameters
    ----------
    band_name : str
    row, col : int
        The block, 0-35.
    """

    def __init__(self, band_name: str, row: int, col: int) -> None:
        super().__init__(coadd_key(band_name, row, col), version=version("was-coadd"))
        count = len(inputs(band_name, row, col)[0])
        self.head = _head_fits(band_name, row, col)
        self.config = _config_bytes(band_name, row, col)
        self.tail = _tail_fits(band_name, row, col, count)
        skip = self.tail.data_offsets[0]  # the empty primary header of the tail

        def tail(start: int, end: int) -> bytes:
            return self.tail.read(start + skip, end + skip)

        self._pieces = Pieces(
            [(self.head.size, self.head.read), Pieces.constant(self.config), (self.tail.size - skip, tail)]
        )

    @property
    def size(self) -> int:
        """Length of the file."""
        return self._pieces.size

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``."""
        return self._pieces.read(start, end)


def _padded(length: int) -> int:
    return -(-length // BLOCK) * BLOCK


@functools.cache
def _size_parts() -> tuple[int, int]:
    """(bytes that do not depend on the number of inputs, bytes of an INDATA row), from one block."""
    template = CoaddFile("H158", 17, 17)
    count = len(inputs("H158", 17, 17)[0])
    record = template.tail.headers[1]["NAXIS1"]
    variable = _padded(record * count) + 2 * _padded(4 * STAMPS * STAMPS * count)
    return template.size - variable, record


def coadd_size(band_name: str, row: int, col: int) -> int:
    """Bytes of one block file, from its number of inputs alone (closed form).

    Examples
    --------
    >>> coadd_size("H158", 17, 17) == CoaddFile("H158", 17, 17).size
    True
    """
    fixed, record = _size_parts()
    count = len(inputs(band_name, row, col)[0])
    return fixed + _padded(record * count) + 2 * _padded(4 * STAMPS * STAMPS * count)


def coadd_object(band_name: str, row: int, col: int) -> LazyObject:
    """The object of one block file: listed at its closed-form size, made when read."""
    return LazyObject(
        coadd_key(band_name, row, col),
        functools.partial(CoaddFile, band_name, row, col),
        size=functools.partial(coadd_size, band_name, row, col),
        version=version("was-coadd"),
        content_type="application/fits",
    )


def _keys(release: str) -> Iterator[str]:
    blocks = was.coadd_blocks(release)
    for name, row, col in zip(
        blocks["filter"].tolist(), blocks["row"].tolist(), blocks["col"].tolist(), strict=True
    ):
        yield coadd_key(name, row, col, release)


def providers() -> list[Provider]:
    """The coadd blocks of the preview release."""
    prefix = f"{ROOT}roman/preview/RomanWAS/images/coadds/"
    count = len(was.coadd_blocks("preview"))

    def build(key: str) -> LazyObject | None:
        parts = key.removeprefix(prefix).split("/")
        if len(parts) != 3:
            return None
        name, row, col = parts[0], int(parts[1].removeprefix("Row")), int(parts[2].split("_")[2])
        return coadd_object(name, row, col)

    description = (
        f"the OpenUniverse 2024 Wide Area Survey coadds of the preview: {count} blocks of 100 arcsec "
        f"(rows and columns {was.PREVIEW_BLOCKS.start}-{was.PREVIEW_BLOCKS.stop - 1} of the 36 x 36 grid "
        f"about (RA, Dec) = {was.COADD_CENTRE}) in F184, H158, J129, K213 and Y106, each the 15-layer "
        "cube with the CONFIG, INDATA, INWEIGHT, INWEIGHTFLAT, FIDELITY, SIGMA, INWTSUM and EFFCOVER "
        "extensions; drawn on demand from the sandbox's one synthetic sky"
    )
    return [
        Provider(
            bucket=BUCKET,
            prefix=prefix,
            description=description,
            list_keys=lambda: _keys("preview"),
            build=build,
            version=version("was-coadd"),
        )
    ]


__all__ = [
    "RELEASES",
    "STAMPS",
    "CoaddFile",
    "coadd_exposure",
    "coadd_key",
    "coadd_object",
    "coadd_size",
    "config_text",
    "coverage",
    "inputs",
    "providers",
]
