"""What a file says about its pixels: the exposure, the filter, the unit and the zero point (private).

The one home of these rules, read from what is already in hand: the FITS headers walked to reach
the pixels, or the ASDF tree read to place them. The index (:mod:`roman_helpers.footprints`) reads
band, detector and times here; cut-outs read their :class:`Provenance` here, without another request.

Zero points (``zeropoint``: the AB magnitude of a source whose pixels, summed, make 1 in the
file's unit, so that ``mag = zeropoint - 2.5 log10(flux)``):

* OpenUniverse 2024 images (roman_imsim's FITS): ``ZPTMAG`` is 2.5 log10(exposure time x
  collecting area), to which the filter's AB zero point for 1 photon s^-1 cm^-2 is added
  (how snappl reads it). That bandpass zero point is Roman's AB zero point for 1 e-/s
  (:data:`ROMAN_AB_ZEROPOINTS`) minus 2.5 log10 of the collecting area.
* The Nexus's ASDF conversions of those images carry ``ZPTMAG`` as the image's AB zero point.
* Roman Level 2 files: ``meta.photometry.conversion_megajanskys`` (MJy/sr of 1 DN/s) times
  ``pixel_area`` (sr) is the flux density of 1 DN/s; astropy's ``ABmag`` does the rest.
* HST: ``PHOTFNU`` (Jy s per electron or count) for images in a rate.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _bands, _wcs

if TYPE_CHECKING:  # for the type hints only; imported late at run time
    from astropy.io.fits import Header
    from astropy.units import UnitBase

__all__ = [
    "ROMAN_AB_ZEROPOINTS",
    "Provenance",
    "describe_headers",
    "describe_tree",
    "from_headers",
    "from_tree",
    "node",
]

#: Roman WFI AB magnitude of a source giving 1 electron per second, by filter (Roman's names; other
#: spellings through :func:`roman_helpers._bands.canonical`): the mean of the 18 detectors in
#: roman-technical-information's ``ZeroPoints/Roman_zeropoints_20240301.ecsv`` (the detectors
#: scatter by 0.03-0.04 mag).
ROMAN_AB_ZEROPOINTS = {
    "F062": 26.618,
    "F087": 26.302,
    "F106": 26.355,
    "F129": 26.353,
    "F146": 27.584,
    "F158": 26.376,
    "F184": 25.912,
    "F213": 25.863,
}
#: Roman's collecting area in cm^2 as GalSim's ``roman`` module (and so roman_imsim's ZPTMAG) has it.
ROMAN_COLLECTING_AREA = 3.757e4


def header_value(headers: Iterable[Any], *keys: str) -> Any:
    """The first non-empty value of the first of ``keys`` found in any of ``headers`` (in order)."""
    for key in keys:
        for header in headers:
            value = header.get(key)
            if value is not None and str(value).strip() != "":
                return value.strip() if isinstance(value, str) else value
    return None


def as_float(value: Any) -> float:
    """A number, or NaN."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def to_mjd(value: Any) -> float:
    """MJD of a time given as a number (already MJD), an ISO string or an astropy Time."""
    from astropy.time import Time

    if value is None:
        return math.nan
    if isinstance(value, Time):
        return float(value.mjd)
    if isinstance(value, (int, float, np.floating)):
        return float(value)
    try:
        return float(Time(str(value).strip()).mjd)
    except ValueError:
        return math.nan


def _fits_times(headers: Sequence[Any]) -> tuple[float, float, float]:
    exptime = as_float(header_value(headers, "EXPTIME", "XPOSURE", "EXPOSURE"))
    start = as_float(header_value(headers, "MJD-OBS", "EXPSTART", "MJD-BEG"))
    if math.isnan(start):
        date = header_value(headers, "DATE-OBS", "DATE-BEG")
        clock = header_value(headers, "TIME-OBS")
        if date is not None and clock is not None and "T" not in str(date):
            date = f"{date}T{clock}"
        start = to_mjd(date)
    end = as_float(header_value(headers, "MJD-END", "EXPEND"))
    if math.isnan(end):
        end = to_mjd(header_value(headers, "DATE-END"))
    if math.isnan(end) and not math.isnan(exptime):
        end = start + exptime / 86400
    return start, end, exptime


def _fits_band(headers: Sequence[Any]) -> str:
    band = header_value(headers, "FILTER")
    if band is None:  # ACS/WFC: two filter wheels, one of them CLEAR
        wheels = [str(v) for v in (header_value(headers, "FILTER1"), header_value(headers, "FILTER2")) if v]
        band = "+".join(w for w in wheels if not w.upper().startswith("CLEAR")) or None
    return "" if band is None else str(band)


def describe_headers(headers: Sequence[Any]) -> dict[str, Any]:
    """Instrument, band, detector and times from FITS keywords (a header, or a tree that copies them)."""
    detector = header_value(headers, "DETECTOR")
    if detector is None and header_value(headers, "SCA_NUM") is not None:  # OpenUniverse: WFI detector
        detector = f"WFI{int(header_value(headers, 'SCA_NUM')):02d}"
    t_start, t_end, exptime = _fits_times(headers)
    return {
        "instrument": str(header_value(headers, "INSTRUME", "TELESCOP") or ""),
        "band": _fits_band(headers),
        "detector": "" if detector is None else str(detector),
        "t_start": t_start,
        "t_end": t_end,
        "exptime": exptime,
    }


def node(tree: Any, *path: str) -> Any:
    """``tree[path[0]][path[1]]...``, or None where the path stops."""
    for key in path:
        try:
            tree = tree[key]
        except (KeyError, TypeError, IndexError, AttributeError):
            return None
        if tree is None:
            return None
    return tree


def _text(value: Any) -> str:
    """A name the file gives (a band, a detector): text or a number, else nothing."""
    return str(value) if isinstance(value, (str, int, np.integer)) and not isinstance(value, bool) else ""


def _copies_fits(meta: Any) -> bool:
    """Whether an ASDF ``meta`` holds the FITS keywords of the image it was converted from (OpenUniverse)."""
    return isinstance(meta, Mapping) and header_value([meta], "FILTER", "EXPTIME", "MJD-OBS") is not None


def describe_tree(meta: Any) -> dict[str, Any]:
    """Instrument, band, detector and times of a Roman ASDF file's ``meta`` (as :func:`describe_headers`)."""
    if _copies_fits(meta):
        return describe_headers([meta])
    # an exposure (level 2), else the span of the exposures a mosaic was made of (level 3)
    start = to_mjd(node(meta, "exposure", "start_time") or node(meta, "coadd_info", "time_first"))
    exptime = as_float(
        node(meta, "exposure", "exposure_time")
        or node(meta, "exposure", "effective_exposure_time")
        or node(meta, "coadd_info", "exposure_time")
        or node(meta, "exptime")
    )
    end = to_mjd(node(meta, "exposure", "end_time") or node(meta, "coadd_info", "time_last"))
    instrument = node(meta, "instrument", "name") or node(meta, "instrument")
    return {
        "instrument": instrument if isinstance(instrument, str) else "",
        "band": _text(node(meta, "instrument", "optical_element") or node(meta, "band")),
        "detector": _text(node(meta, "instrument", "detector") or node(meta, "sensor")),
        "t_start": start,
        "t_end": end if not math.isnan(end) else start + exptime / 86400,
        "exptime": exptime,
    }


# --------------------------------------------------------------------------- provenance of a cut-out


@dataclass(frozen=True)
class Provenance:
    """Where a cut-out comes from and what its pixels mean, as its file says.

    Attributes
    ----------
    source : str
        The file's URI.
    telescope, instrument, band, detector : str
        As the file names them (empty when it does not).
    exptime : float
        Exposure time in seconds (NaN when not given).
    mjd_start, mjd_end : float
        Start and end of the exposure (MJD; NaN when not given).
    unit : str
        The pixels' unit as astropy spells it (``"electron"``, ``"DN / s"``, ``"MJy / sr"``); empty
        when the file does not say.
    zeropoint : float
        AB magnitude of a source whose pixels sum to 1 in ``unit`` (NaN without one).
    zeropoint_source : str
        Where the zero point comes from.
    pixel_area : float
        A pixel's solid angle in steradians, where the file gives it (else NaN).
    """

    source: str = ""
    telescope: str = ""
    instrument: str = ""
    band: str = ""
    detector: str = ""
    exptime: float = math.nan
    mjd_start: float = math.nan
    mjd_end: float = math.nan
    unit: str = ""
    zeropoint: float = math.nan
    zeropoint_source: str = ""
    pixel_area: float = math.nan

    @property
    def mjd_mid(self) -> float:
        """Mid-exposure (MJD): the start when the end is not known."""
        return (self.mjd_start + self.mjd_end) / 2 if math.isfinite(self.mjd_end) else self.mjd_start

    @property
    def astropy_unit(self) -> UnitBase | None:
        """:attr:`unit` as an astropy unit, or None."""
        import astropy.units as u

        return u.Unit(self.unit) if self.unit else None

    def cards(self) -> list[tuple[str, Any, str]]:
        """FITS cards ``(keyword, value, comment)`` of what is known (nothing for what is not)."""
        cards: list[tuple[str, Any, str]] = [
            ("TELESCOP", self.telescope, "telescope"),
            ("INSTRUME", self.instrument, "instrument"),
            ("FILTER", self.band, "filter, as the source file names it"),
            ("DETECTOR", self.detector, "detector"),
            ("EXPTIME", self.exptime, "[s] exposure time"),
            ("MJD-OBS", self.mjd_start, "[d] start of the exposure (MJD)"),
            ("MJD-END", self.mjd_end, "[d] end of the exposure (MJD)"),
            ("MJD-AVG", self.mjd_mid, "[d] mid-exposure (MJD)"),
            ("BUNIT", self.unit, "unit of the pixels"),
            ("ZPTAB", self.zeropoint, "AB mag of a source whose pixels sum to 1 BUNIT"),
            ("PIXAR_SR", self.pixel_area, "[sr] solid angle of a pixel"),
        ]
        return [(key, value, comment) for key, value, comment in cards if value != "" and _finite(value)]


def _finite(value: Any) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


def unit_text(value: Any) -> str:
    """A unit as the file writes it (``'electron'``, ``'DN/s'``, ``'ELECTRONS/S'``), as astropy spells it."""
    import astropy.units as u

    if value is None:
        return ""
    if isinstance(value, u.UnitBase):
        unit = value
    else:
        text = str(value).strip()
        if not text:
            return ""
        # HST writes ELECTRONS/S and COUNTS/S: astropy knows the singular, lower-case names
        normal = text.lower().replace("electrons", "electron").replace("counts", "count")
        unit = u.Unit(normal, parse_strict="silent")
        if isinstance(unit, u.UnrecognizedUnit):
            return ""
    return unit.to_string() if unit != u.dimensionless_unscaled else ""


def _ab(flux_density_mjy: float) -> float:
    """AB magnitude of a flux density in MJy (astropy's ``ABmag``); NaN when not positive."""
    import astropy.units as u

    if not flux_density_mjy > 0:
        return math.nan
    return float((flux_density_mjy * u.MJy).to(u.ABmag).value)


def _made(described: Mapping[str, Any], source: str, **known: Any) -> Provenance:
    """A :class:`Provenance` from what :func:`describe_headers` or :func:`describe_tree` found."""
    return Provenance(
        source=source,
        band=described["band"],
        detector=described["detector"],
        exptime=described["exptime"],
        mjd_start=described["t_start"],
        mjd_end=described["t_end"],
        **known,
    )


def _number(value: Any) -> float:
    """A number of the tree, given bare or as a Quantity (older files), or NaN."""
    return as_float(getattr(value, "value", value))


def from_headers(headers: Sequence[Header], source: str = "") -> Provenance:
    """The provenance of a FITS image: its own header first, then the primary header."""
    described = describe_headers(headers)
    unit = unit_text(header_value(headers, "BUNIT"))
    zptmag = as_float(header_value(headers, "ZPTMAG"))
    if not unit and math.isfinite(zptmag):
        unit = "electron"  # roman_imsim's images (OpenUniverse) are electrons and do not say so
    zeropoint, origin = math.nan, ""
    band_zeropoint = ROMAN_AB_ZEROPOINTS.get(_bands.canonical(described["band"]))
    if math.isfinite(zptmag) and band_zeropoint is not None:
        zeropoint = zptmag + band_zeropoint - 2.5 * math.log10(ROMAN_COLLECTING_AREA)
        origin = (
            f"ZPTMAG + {described['band']} AB zero point of 1 photon/s/cm^2 ({band_zeropoint} for "
            f"1 e-/s, Roman WFI technical tables 2024, - 2.5 log10 {ROMAN_COLLECTING_AREA:g} cm^2)"
        )
    photfnu = as_float(header_value(headers, "PHOTFNU"))
    if math.isnan(zeropoint) and math.isfinite(photfnu) and unit.endswith("/ s"):
        zeropoint, origin = _ab(photfnu * 1e-6), "PHOTFNU (Jy s per count or electron)"
    area = as_float(header_value(headers, "PIXAR_SR"))
    if math.isnan(zeropoint) and math.isfinite(area) and unit == "MJy / sr":
        zeropoint, origin = _ab(area), "MJy/sr x PIXAR_SR"
    return _made(
        described,
        source,
        telescope=str(header_value(headers, "TELESCOP") or ""),
        instrument=str(header_value(headers, "INSTRUME") or ""),
        unit=unit,
        zeropoint=zeropoint,
        zeropoint_source=origin,
        pixel_area=area,
    )


def from_tree(tree: Mapping, raw_tree: Mapping | None = None, source: str = "") -> Provenance:
    """The provenance of a Roman ASDF image from its tree (``raw_tree``: tags kept, for a data unit)."""
    roman = tree.get("roman", tree)
    meta = node(roman, "meta") or {}
    described = describe_tree(meta)
    if _copies_fits(meta):  # the Nexus's conversion of an OpenUniverse image: ZPTMAG is its AB zero point
        zptmag = as_float(header_value([meta], "ZPTMAG"))
        return _made(
            described,
            source,
            telescope=str(header_value([meta], "TELESCOP") or "Roman"),
            instrument=str(header_value([meta], "INSTRUME") or "WFI"),
            unit=unit_text(header_value([meta], "BUNIT")) or ("electron" if math.isfinite(zptmag) else ""),
            zeropoint=zptmag,
            zeropoint_source="ZPTMAG" if math.isfinite(zptmag) else "",
        )
    unit = unit_text(node(raw_tree or {}, "roman", "data", "unit"))  # older files: data as a Quantity
    if not unit:
        # romancal's flux step turns DN/s into MJy/sr (rad's l2_cal_step, l3_cal_step); before it,
        # a calibrated exposure (one with photometric metadata) is in DN/s
        if str(node(meta, "cal_step", "flux")).upper() == "COMPLETE":
            unit = "MJy / sr"
        elif node(meta, "photometry") is not None:
            unit = "DN / s"
    conversion = _number(node(meta, "photometry", "conversion_megajanskys"))
    area = _number(node(meta, "photometry", "pixel_area"))
    zeropoint, origin = math.nan, ""
    if math.isfinite(area) and unit == "MJy / sr":
        zeropoint, origin = _ab(area), "meta.photometry.pixel_area"
    elif math.isfinite(area) and math.isfinite(conversion) and unit == "DN / s":
        zeropoint = _ab(conversion * area)
        origin = "meta.photometry.conversion_megajanskys x pixel_area"
    telescope = node(meta, "telescope")
    return _made(
        described,
        source,
        telescope=telescope if isinstance(telescope, str) else "",
        instrument=described["instrument"],
        unit=unit,
        zeropoint=zeropoint,
        zeropoint_source=origin,
        pixel_area=area,
    )


def with_wcs_pixel_area(provenance: Provenance, wcs: Any, x: float, y: float) -> Provenance:
    """The zero point of an image in MJy/sr whose file gives no pixel area (a mosaic), from its WCS.

    A pixel's solid angle by the WCS at pixel (x, y), the cut-out's centre.
    """
    if provenance.unit != "MJy / sr" or math.isfinite(provenance.pixel_area) or wcs is None:
        return provenance
    import astropy.units as u

    area = float(_wcs.pixel_scale(wcs, x, y).to_value(u.rad)) ** 2
    return dataclasses.replace(
        provenance,
        pixel_area=area,
        zeropoint=_ab(area),
        zeropoint_source="MJy/sr x the pixel's solid angle (WCS)",
    )
