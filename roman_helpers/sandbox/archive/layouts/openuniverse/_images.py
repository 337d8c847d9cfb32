"""Single exposures of the Roman surveys (``RomanTDS``, ``RomanWAS``): images, per-image truth, the sequence.

What the real files hold, and where each fact comes from
    * HDUs: 0 PRIMARY without data, 1 ``SCI`` float32, 2 ``ERR`` float32, 3 ``DQ`` int32, each
      4088 x 4088 (IRSA's quickstart and TDE notebooks list them; snappl's
      ``OpenUniverse2024FITSImage`` reads SCI/ERR/DQ as HDUs 1/2/3, 32-bit float and integer).
    * Every HDU carries the same header: roman_imsim's ``write_fits`` (``detector_physics.py``)
      writes the primary and the three images with the header of the simulated truth image,
      which is why IRSA's TDS notebook can build the WCS and read ``ORIENTAT`` from HDU 0 and
      snappl reads ``SCA_NUM``, ``FILTER``, ``MJD-OBS`` and ``ZPTMAG`` from HDU 1.
    * That header is GalSim's Roman WCS header (``galsim/roman/roman_wcs.py``: ``EQUINOX``,
      ``WCSAXES``, ``CTYPE``, ``CRPIX``, ``CRVAL``, ``CD``, ``TELESCOP``, ``INSTRUME``,
      ``RA_TARG``, ``DEC_TARG``, ``PA_FPA``, ``SCA_NUM``, ``ORIENTAT``, ``LONPOLE``), the
      exposure's keywords roman_imsim adds (``sca.py``: ``EXPTIME``, ``MJD-OBS`` the exposure's
      start, ``DATE-OBS`` its ISO form, ``FILTER`` in OpenUniverse spelling, ``ZPTMAG`` =
      2.5 log10(exptime x collecting area)), GalSim's own (``GS_XMIN``, ``GS_YMIN``, ``GS_WCS``)
      and ``SKY_MEAN`` (``write_fits``: the mean sky in electrons; the Roman Research Nexus's
      ASDF conversion reads it). An AB zero point is GalSim's bandpass zero point plus
      ``ZPTMAG`` (snappl's ``_get_zeropoint``; the RAPID pipeline's injection code does the same).
    * ``BUNIT = 'electron'`` in ``SCI`` and ``ERR`` is the sandbox's addition: the pixels are
      electrons collected in the exposure, which the real headers do not say.
    * Per-image truth ``truth/{band}/{pointing}/Roman_{TDS,WAS}_index_{band}_{pointing}_{sca}.txt``
      (public code reads both surveys' from ``full``): GalSim's ``OutputCatalog.writeAscii`` (the
      ``truth`` output of roman_imsim's ``tds.yaml`` and ``was.yaml``): a ``#`` header of names centred in 16
      characters, then one line per object, each field 16 characters wide (``%16d``,
      ``%16.8e``, ``%16s``) separated by one space: 153 bytes a line, so a file's size follows
      from its number of rows.
    * The observation sequence ``Roman_TDS_obseq_11_6_23.fits``: HDU 1 a binary table, one row
      per pointing (roman_imsim's ``ObSeqDataLoader`` reads ``ra, dec, pa, date, filter,
      exptime`` of row ``visit``).

How the sandbox makes them
    Pixels from :class:`~roman_helpers.sandbox.sky.render.Exposure` (electrons, the detector's
    dead and hot pixels, cosmic rays) on the detector's WCS from :mod:`~roman_helpers.sandbox.sky.wfi`
    in the OpenUniverse convention, at the pointing, time, filter and exposure time of
    :mod:`~roman_helpers.sandbox.sky.surveys.tds` or :mod:`~roman_helpers.sandbox.sky.surveys.was`;
    the truth from :func:`~roman_helpers.sandbox.sky.render.truth` of the same exposure. The
    ``preview`` copy of an image is byte for byte its ``full`` copy (the seed names the
    survey, pointing and detector, not the release).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from roman_helpers.sandbox.archive.fits import HDU, FitsObject, GzipObject, TableSpec
from roman_helpers.sandbox.archive.layouts.openuniverse._common import (
    BUCKET,
    ROOT,
    LazyObject,
    seed,
    version,
)
from roman_helpers.sandbox.archive.objects import GENERATED_DATE, ArchiveObject, ArraySpec, MaterialisedObject
from roman_helpers.sandbox.archive.registry import Provider
from roman_helpers.sandbox.sky import render, wfi
from roman_helpers.sandbox.sky.bands import band
from roman_helpers.sandbox.sky.surveys import tds, was

SURVEYS = ("RomanTDS", "RomanWAS")
_TAG = {"RomanTDS": "TDS", "RomanWAS": "WAS"}
_SIDE = wfi.DETECTOR_SIDE
#: The gzip header's time stamp of every generated .fits.gz (fixed, so the bytes repeat).
_GZIP_MTIME = int(GENERATED_DATE.timestamp())
_MJD_ZERO = datetime(1858, 11, 17)
TRUTH_COLUMNS = ("object_id", "ra", "dec", "x", "y", "realized_flux", "flux", "mag", "obj_type")
_TRUTH_WIDTH = 16  # GalSim's writeAscii: prec 8 + 8
_TRUTH_HEADER = ("# " + "".join(f"{name:^{_TRUTH_WIDTH}} " for name in TRUTH_COLUMNS) + "\n").encode()
_TRUTH_LINE = len(TRUTH_COLUMNS) * (_TRUTH_WIDTH + 1)  # fields, separators and the newline
_TRUTH_FORMAT = " ".join(["%16d", *["%16.8e"] * 7, "%16s"]) + "\n"


def _survey(name: str) -> Any:
    return tds if name == "RomanTDS" else was


@functools.cache
def _sequence(survey: str) -> dict[str, np.ndarray]:
    table = _survey(survey).observation_sequence()
    return {name: np.asarray(table[name]) for name in table.colnames}


def image_name(survey: str, band_name: str, pointing: int, sca: int, suffix: str = ".fits.gz") -> str:
    """The file name of one detector image, as IRSA names it.

    Examples
    --------
    >>> image_name("RomanTDS", "J129", 110, 3)
    'Roman_TDS_simple_model_J129_110_3.fits.gz'
    """
    return f"Roman_{_TAG[survey]}_simple_model_{band_name}_{pointing}_{sca}{suffix}"


def image_key(survey: str, release: str, band_name: str, pointing: int, sca: int) -> str:
    """The key of one detector image in ``nasa-irsa-simulations``.

    Examples
    --------
    >>> image_key("RomanWAS", "preview", "Y106", 940, 1)
    'openuniverse2024/roman/preview/RomanWAS/images/simple_model/Y106/940/Roman_WAS_simple_model_Y106_940_1.fits.gz'
    """
    name = image_name(survey, band_name, pointing, sca)
    return f"{ROOT}roman/{release}/{survey}/images/simple_model/{band_name}/{pointing}/{name}"


def truth_key(survey: str, release: str, band_name: str, pointing: int, sca: int) -> str:
    """The key of one image's truth list.

    Examples
    --------
    >>> truth_key("RomanTDS", "full", "J129", 110, 3)
    'openuniverse2024/roman/full/RomanTDS/truth/J129/110/Roman_TDS_index_J129_110_3.txt'
    """
    name = f"Roman_{_TAG[survey]}_index_{band_name}_{pointing}_{sca}.txt"
    return f"{ROOT}roman/{release}/{survey}/truth/{band_name}/{pointing}/{name}"


def obseq_key(release: str) -> str:
    """The key of the TDS observation sequence of a release."""
    return f"{ROOT}roman/{release}/RomanTDS/{tds.OBSEQ_NAME}"


# ---------------------------------------------------------------------------- one exposure
@functools.lru_cache(maxsize=render.EXPOSURES_KEPT)
def exposure(survey: str, pointing: int, sca: int) -> render.Exposure:
    """The sky as detector ``sca`` saw it at ``pointing`` of ``survey``: what a simple_model image holds.

    Parameters
    ----------
    survey : {"RomanTDS", "RomanWAS"}
    pointing : int
        Row of the survey's observation sequence.
    sca : int
        Detector, 1-18.

    Returns
    -------
    roman_helpers.sandbox.sky.render.Exposure
        Electrons, 4088 x 4088, the OpenUniverse orientation of the detector (the last few are
        kept: ask again rather than keeping one).

    Examples
    --------
    >>> image = exposure("RomanTDS", 110, 3)
    >>> image.shape, image.units, image.filter.name
    ((4088, 4088), 'electron', 'F129')
    """
    row = _sequence(survey)
    if not 0 <= pointing < len(row["ra"]):
        raise ValueError(f"{survey} has pointings 0 to {len(row['ra']) - 1}, not {pointing}")
    ra, dec, pa = float(row["ra"][pointing]), float(row["dec"][pointing]), float(row["pa"][pointing])
    return render.Exposure(
        wfi.wcs(ra, dec, pa, sca, "openuniverse"),
        (_SIDE, _SIDE),
        str(row["filter"][pointing]),
        exptime=float(row["exptime"][pointing]),
        mjd=float(row["date"][pointing]),
        seed=seed(ROOT, survey, pointing, sca),
        units="electron",
        detector=sca,
    )


def image_header(survey: str, pointing: int, sca: int) -> Any:
    """The header every HDU of one simple_model image carries (see the module's notes).

    Examples
    --------
    >>> header = image_header("RomanTDS", 110, 3)
    >>> header["FILTER"], header["SCA_NUM"], round(header["ZPTMAG"] - 2.5 * math.log10(header["EXPTIME"]), 3)
    ('J129', 3, 11.437)
    """
    row = _sequence(survey)
    ra, dec, pa = float(row["ra"][pointing]), float(row["dec"][pointing]), float(row["pa"][pointing])
    filter_name = str(row["filter"][pointing])
    exptime, start = float(row["exptime"][pointing]), float(row["date"][pointing])
    header = wfi.fits_header(ra, dec, pa, sca, "openuniverse")
    header.insert("WCSAXES", ("EQUINOX", 2000.0, "equinox of celestial coordinate system"))
    header.set("TELESCOP", "Roman", "telescope used to acquire data", after="RADESYS")
    header.set("INSTRUME", "WFI", "identifier for instrument used to acquire data", after="TELESCOP")
    header["LONPOLE"] = (180.0, "Native longitude of celestial pole")
    header["EXPTIME"] = exptime
    header["MJD-OBS"] = start
    # roman_imsim writes Time(mjd).datetime.isoformat(); the same calendar arithmetic, without
    # astropy's warning that 2027-2030 lie beyond its table of leap seconds
    header["DATE-OBS"] = (_MJD_ZERO + timedelta(days=start)).isoformat()
    header["FILTER"] = filter_name
    header["ZPTMAG"] = 2.5 * math.log10(exptime * band(filter_name).collecting_area)
    header["GS_XMIN"] = 1
    header["GS_YMIN"] = 1
    header["GS_WCS"] = "GSFitsWCS"
    header["SKY_MEAN"] = (float(exposure(survey, pointing, sca).sky_counts), "mean sky, electrons per pixel")
    return header


def image_fits(survey: str, pointing: int, sca: int) -> FitsObject:
    """One simple_model image as FITS (PRIMARY, SCI, ERR, DQ), its pixels made when read.

    Examples
    --------
    >>> item = image_fits("RomanTDS", 110, 3)  # headers only: no pixel is made yet
    >>> item.size, [header["EXTNAME"] for header in item.headers[1:]]
    (200566080, ['SCI', 'ERR', 'DQ'])
    """
    image = exposure(survey, pointing, sca)
    header = image_header(survey, pointing, sca)

    def plane(index: int, kind: str) -> ArraySpec:
        def rows(y0: int, y1: int) -> np.ndarray:
            return image.rows(y0, y1)[index].astype(kind, copy=False)

        return ArraySpec(kind, (_SIDE, _SIDE), rows)

    hdus = [HDU(header)]
    for index, (name, kind) in enumerate((("SCI", "float32"), ("ERR", "float32"), ("DQ", "int32"))):
        extension = header.copy()
        extension["EXTVER"] = 1
        if name != "DQ":
            extension["BUNIT"] = ("electron", "electrons collected in the exposure")
        hdus.append(HDU(extension, plane(index, kind), name=name))
    key = image_key(survey, "full", header["FILTER"], pointing, sca)
    return FitsObject(key.removesuffix(".gz"), hdus, version=version(f"{survey}-fits"))


def _gzip(survey: str, release: str, pointing: int, sca: int) -> GzipObject:
    inner = image_fits(survey, pointing, sca)
    name = str(_sequence(survey)["filter"][pointing])
    return GzipObject(
        image_key(survey, release, name, pointing, sca),
        inner,
        fname=image_name(survey, name, pointing, sca, ".fits"),
        mtime=_GZIP_MTIME,
        version=version(f"{survey}-image"),
    )


@functools.cache
def _gzip_base(survey: str) -> int:
    """Size of an image's .fits.gz less its file name's length: the same for every image of a survey."""
    row = _sequence(survey)
    made = _gzip(survey, "full", 0, 1)
    return made.size - len(image_name(survey, str(row["filter"][0]), 0, 1, ".fits"))


def image_size(survey: str, pointing: int, sca: int) -> int:
    """Bytes of one .fits.gz image, without making it (closed form).

    Examples
    --------
    >>> image_size("RomanTDS", 110, 3) - image_size("RomanTDS", 110, 12)
    -1
    """
    name = image_name(survey, str(_sequence(survey)["filter"][pointing]), pointing, sca, ".fits")
    return _gzip_base(survey) + len(name)


def image_object(survey: str, release: str, pointing: int, sca: int) -> LazyObject:
    """The .fits.gz object of one image: listed at its closed-form size, made when read."""
    name = str(_sequence(survey)["filter"][pointing])
    return LazyObject(
        image_key(survey, release, name, pointing, sca),
        functools.partial(_gzip, survey, release, pointing, sca),
        size=image_size(survey, pointing, sca),
        version=version(f"{survey}-image"),
        content_type="application/gzip",
    )


# ---------------------------------------------------------------------------- truth
def truth_rows(survey: str, pointing: int, sca: int) -> dict[str, np.ndarray]:
    """The truth of one image: :func:`~roman_helpers.sandbox.sky.render.truth` of its exposure."""
    return render.truth(exposure(survey, pointing, sca))


def truth_text(survey: str, pointing: int, sca: int) -> bytes:
    """One image's ``Roman_{TDS,WAS}_index_*.txt``, as GalSim's ``OutputCatalog.writeAscii`` lays it out.

    Examples
    --------
    >>> text = truth_text("RomanTDS", 110, 3).decode()
    >>> text.splitlines()[0].split()[1:4], len(text.splitlines()[1])
    (['object_id', 'ra', 'dec'], 152)
    """
    rows = truth_rows(survey, pointing, sca)
    columns = [rows[name].tolist() for name in TRUTH_COLUMNS]
    lines = [_TRUTH_HEADER]
    for values in zip(*columns, strict=True):
        line = (_TRUTH_FORMAT % values).encode()
        if len(line) != _TRUTH_LINE:
            raise ValueError(f"a truth line of {survey} {pointing}/{sca} overflows its fixed width: {line!r}")
        lines.append(line)
    return b"".join(lines)


def truth_size(survey: str, pointing: int, sca: int) -> int:
    """Bytes of one truth file: a fixed header and 153 bytes a row (the rows counted without pixels)."""
    return len(_TRUTH_HEADER) + _TRUTH_LINE * len(truth_rows(survey, pointing, sca)["object_id"])


def truth_object(survey: str, release: str, pointing: int, sca: int) -> LazyObject:
    """The truth text object of one image."""
    name = str(_sequence(survey)["filter"][pointing])
    key = truth_key(survey, release, name, pointing, sca)
    tag = version(f"{survey}-truth")
    return LazyObject(
        key,
        lambda: MaterialisedObject(key, lambda: truth_text(survey, pointing, sca), version=tag),
        size=functools.partial(truth_size, survey, pointing, sca),
        version=tag,
        content_type="text/plain",
    )


# ---------------------------------------------------------------------------- observation sequence
def obseq_fits(release: str) -> FitsObject:
    """``Roman_TDS_obseq_11_6_23.fits``: an empty primary HDU and the sequence as a binary table.

    Examples
    --------
    >>> from astropy.io import fits
    >>> item = obseq_fits("preview")
    >>> fits.Header.fromstring(item.read(2880, 5760).decode())["NAXIS2"] == len(tds.observation_sequence())
    True
    """
    from astropy.io import fits

    sequence = _sequence("RomanTDS")
    columns = [
        fits.Column("ra", "D", unit="deg"),
        fits.Column("dec", "D", unit="deg"),
        fits.Column("filter", "4A"),
        fits.Column("exptime", "D", unit="s"),
        fits.Column("date", "D", unit="d"),
        fits.Column("pa", "D", unit="deg"),
    ]

    def rows(r0: int, r1: int) -> dict[str, np.ndarray]:
        return {name: values[r0:r1] for name, values in sequence.items()}

    table = TableSpec(columns, len(sequence["ra"]), rows)
    return FitsObject(obseq_key(release), [HDU(), HDU(None, table)], version=version("tds-obseq"))


# ---------------------------------------------------------------------------- providers
_IMAGE = re.compile(
    r"images/simple_model/(?P<band>[^/]+)/(?P<pointing>\d+)/Roman_(TDS|WAS)_simple_model_"
    r"(?P=band)_(?P=pointing)_(?P<sca>\d+)\.fits\.gz$"
)
_TRUTH = re.compile(
    r"truth/(?P<band>[^/]+)/(?P<pointing>\d+)/Roman_(TDS|WAS)_index_(?P=band)_(?P=pointing)_"
    r"(?P<sca>\d+)\.txt$"
)


def _images(survey: str, release: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    table = _survey(survey).images(release)
    return np.asarray(table["pointing"]), np.asarray(table["sca"]), np.asarray(table["filter"])


def _image_keys(survey: str, release: str) -> Iterator[str]:
    pointing, sca, name = _images(survey, release)
    for p, s, b in zip(pointing.tolist(), sca.tolist(), name.tolist(), strict=True):
        yield image_key(survey, release, b, p, s)
        yield truth_key(survey, release, b, p, s)


def _under(keys: Callable[[], Iterator[str]], prefix: str) -> Iterator[str]:
    return (key for key in keys() if key.startswith(prefix))


def _builder(survey: str, release: str) -> Callable[[str], ArchiveObject | None]:
    prefix = f"{ROOT}roman/{release}/{survey}/"

    def build(key: str) -> ArchiveObject | None:
        rest = key.removeprefix(prefix)
        if survey == "RomanTDS" and rest == tds.OBSEQ_NAME:
            return obseq_fits(release)
        found = _IMAGE.fullmatch(rest)
        if found is not None:
            return image_object(survey, release, int(found["pointing"]), int(found["sca"]))
        found = _TRUTH.fullmatch(rest)
        if found is not None:
            return truth_object(survey, release, int(found["pointing"]), int(found["sca"]))
        return None

    return build


_DESCRIPTIONS = {
    "RomanTDS": (
        "the OpenUniverse 2024 Roman Time Domain Survey ({release}): {count:,} simple_model detector "
        "images (.fits.gz, SCI/ERR/DQ at 4088 x 4088, electrons), the per-image truth lists and the "
        "observation sequence Roman_TDS_obseq_11_6_23.fits, for the pointings and detectors of the "
        "survey design that overlap a disc of radius {radius} deg about (RA, Dec) = ({ra}, {dec}); "
        "made on demand from the sandbox's one synthetic sky"
    ),
    "RomanWAS": (
        "the OpenUniverse 2024 Roman Wide Area Survey's single exposures ({release}): {count:,} "
        "simple_model detector images (.fits.gz, SCI/ERR/DQ at 4088 x 4088, electrons) and their "
        "per-image truth lists, of every pointing of the survey design that overlaps a disc of radius "
        "{radius} deg about (RA, Dec) = ({ra}, {dec}), all 18 detectors each; made on demand from the "
        "sandbox's one synthetic sky"
    ),
}


def providers() -> list[Provider]:
    """The TDS (images, truth, sequence) and WAS (images, truth) providers of both releases."""
    made = []
    for survey in SURVEYS:
        for release in ("full", "preview"):
            region = _survey(survey).region(release)
            count = len(_survey(survey).images(release))
            description = _DESCRIPTIONS[survey].format(
                release=release, count=count, radius=region.radius, ra=region.ra, dec=region.dec
            )

            def keys(survey: str = survey, release: str = release) -> Iterator[str]:
                yield from _image_keys(survey, release)
                if survey == "RomanTDS":
                    yield obseq_key(release)

            # RomanWAS/images/coadds/ is another provider's: the WAS single exposures take two prefixes
            prefixes = [f"{ROOT}roman/{release}/{survey}/"]
            if survey == "RomanWAS":
                prefixes = [f"{prefixes[0]}images/simple_model/", f"{prefixes[0]}truth/"]
            for prefix in prefixes:
                made.append(
                    Provider(
                        bucket=BUCKET,
                        prefix=prefix,
                        description=description,
                        list_keys=functools.partial(_under, keys, prefix),
                        build=_builder(survey, release),
                        version=version(survey),
                    )
                )
    return made


def image_rows(survey: str, release: str = "full") -> dict[str, np.ndarray]:
    """Every image of a release of a survey, with the numbers its SIA record needs (no file read).

    Returns
    -------
    dict of str to ndarray
        ``pointing, sca, filter, date, exptime, ra, dec, pa`` (the pointing's boresight and
        position angle) and ``key``, ``size``.
    """
    pointing, sca, name = _images(survey, release)
    row = _sequence(survey)
    return {
        "pointing": pointing,
        "sca": sca,
        "filter": name,
        "date": row["date"][pointing],
        "exptime": row["exptime"][pointing],
        "ra": row["ra"][pointing],
        "dec": row["dec"][pointing],
        "pa": row["pa"][pointing],
        "key": np.array(
            [image_key(survey, release, b, p, s) for p, s, b in zip(pointing, sca, name, strict=True)]
        ),
        "size": _gzip_base(survey)
        + np.array(
            [len(image_name(survey, b, p, s, ".fits")) for p, s, b in zip(pointing, sca, name, strict=True)]
        ),
    }


__all__ = [
    "SURVEYS",
    "TRUTH_COLUMNS",
    "exposure",
    "image_fits",
    "image_header",
    "image_key",
    "image_name",
    "image_object",
    "image_rows",
    "image_size",
    "obseq_fits",
    "obseq_key",
    "providers",
    "truth_key",
    "truth_object",
    "truth_rows",
    "truth_size",
    "truth_text",
]
