"""Every filter the sandbox's archives image the sky through, with the numbers that make an image.

Roman WFI (F062 ... F213, with OpenUniverse's spellings R062 Z087 Y106 J129 W146 H158 F184 K213),
Rubin LSSTCam (u g r i z y) and HST WFC3/IR (F110W, F125W, F140W, F160W). Wavelengths are in micrometres;
``zeropoint`` is the AB magnitude of a source that gives 1 electron per second in the
instrument (so ``mag = zeropoint - 2.5 log10(rate)``); ``sky_rate`` and ``dark_current`` are
electrons per second per native pixel; ``read_noise`` is electrons per pixel of a calibrated
exposure (its ramp fitted); ``pixel_scale`` is the native pixel in arcseconds.

Where the numbers come from
    Roman: the Roman technical-information tables (``data/WideFieldInstrument`` of
    spacetelescope/roman-technical-information, 2024): ``FiltersSummary/filter_parameters.ecsv``
    (post-CDR wavelength ranges and the PSF FWHM of a K0V star near the field centre),
    ``ZeroPoints/Roman_zeropoints_20240301.ecsv`` (AB magnitude for 1 count/s; the value here is
    the mean of the 18 detectors, which scatter by 0.03-0.04 mag; the pivot wavelength is
    ``h c PHOTLAM / FLAM`` of the same table), ``ZodiacalLight/zodiacal_light.ecsv`` (minimum
    zodiacal light; the sky here is 1.5 times it, a typical high-latitude field) plus
    ``Backgrounds/internal_thermal_backgrounds.ecsv``, and ``FPSPerformance``
    (median total noise 5.58 e- of a calibrated exposure, median CDS noise 13.81 e-, median
    dark current 0.018 e-/s). Collecting area 3.757e4 cm^2 (GalSim's ``roman`` module), which
    only converts OpenUniverse's catalog fluxes (photons/s/cm^2) to electrons per second.
    Rubin: SMTN-002 ("Calculating LSST limiting magnitudes and SNR", v1.9 throughputs, as
    rubin_sim's ``SysEngVals`` carries them): zero points for 1 e-/s, dark-sky brightness
    (mag/arcsec^2, turned into e-/s/pixel at 0.2"/pixel), FWHM_eff at the survey's median
    seeing, read noise 8.8 e-, effective aperture 6.423 m. Effective wavelengths and edges are
    those of the v1.9 throughput curves to about 5 nm.
    HST WFC3/IR: the WFC3 photometric zero-point tables (IR, infinite aperture; PHOTPLAM is the
    pivot) and the WFC3 Instrument Handbook (PSF FWHM, pixel 0.13", up-the-ramp read noise of a
    16-read exposure about 12 e-, typical high-latitude zodiacal background); HST's collecting
    area 45238.93 cm^2 (2.4 m, obscured), as synphot's.

PSFs are Moffat profiles (``psf_beta``): 2.5 for the space telescopes (a core with extended
wings), 3.5 for Rubin's seeing-limited images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "AB_ZERO_JY",
    "BANDS",
    "HST_BANDS",
    "ROMAN_BANDS",
    "RUBIN_BANDS",
    "Band",
    "band",
]

#: Flux density of AB magnitude 0, Jy: m_AB = -2.5 log10(f_nu / erg s^-1 cm^-2 Hz^-1) - 48.60
#: (Oke & Gunn 1983), i.e. 3630.78 Jy (often rounded to 3631).
AB_ZERO_JY = 10 ** (-0.4 * 48.60) * 1e23
_ARCSEC_SR = (math.pi / 180 / 3600) ** 2


@dataclass(frozen=True)
class Band:
    """One filter of one instrument and what the sky looks like through it.

    Attributes
    ----------
    name : str
        The instrument's own spelling (``"F158"``, ``"r"``, ``"F160W"``).
    facility : str
        ``"Roman"``, ``"Rubin"`` or ``"HST"``.
    instrument : str
        ``"WFI"``, ``"LSSTCam"`` or ``"WFC3/IR"``.
    aliases : tuple of str
        Other spellings :func:`band` accepts (OpenUniverse's ``"H158"`` for ``"F158"``).
    wavelength_min, wavelength_max, pivot : float
        Blue edge, red edge and pivot (or effective) wavelength, micrometres.
    zeropoint : float
        AB magnitude of a source that gives 1 electron per second (native pixels, whole PSF).
    psf_fwhm : float
        FWHM of the point-spread function, arcseconds.
    psf_beta : float
        Moffat index of the point-spread function.
    sky_rate : float
        Typical sky, electrons per second per native pixel.
    read_noise : float
        Read noise of a calibrated exposure, electrons per pixel.
    dark_current : float
        Electrons per second per pixel.
    pixel_scale : float
        Native pixel, arcseconds.
    collecting_area : float
        Telescope's collecting area, cm^2 (photons/s/cm^2 in the catalogs times this is e-/s).
    """

    name: str
    facility: str
    instrument: str
    aliases: tuple[str, ...]
    wavelength_min: float
    wavelength_max: float
    pivot: float
    zeropoint: float
    psf_fwhm: float
    psf_beta: float
    sky_rate: float
    read_noise: float
    dark_current: float
    pixel_scale: float
    collecting_area: float

    @property
    def openuniverse_name(self) -> str:
        """The spelling OpenUniverse's file names and catalog columns use (``"H158"``, ``"r"``).

        Examples
        --------
        >>> band("F158").openuniverse_name, band("F146").openuniverse_name, band("r").openuniverse_name
        ('H158', 'W146', 'r')
        """
        return self.aliases[0] if self.facility == "Roman" else self.name

    @property
    def catalog_flux_column(self) -> str:
        """The OpenUniverse ``galaxy_flux`` column of this band (``roman_flux_H158``, ``lsst_flux_r``).

        Examples
        --------
        >>> band("J129").catalog_flux_column, band("i").catalog_flux_column
        ('roman_flux_J129', 'lsst_flux_i')
        """
        if self.facility == "Roman":
            return f"roman_flux_{self.openuniverse_name}"
        if self.facility == "Rubin":
            return f"lsst_flux_{self.name}"
        return f"hst_flux_{self.name}"

    @property
    def psf_fwhm_pixels(self) -> float:
        """PSF FWHM in native pixels."""
        return self.psf_fwhm / self.pixel_scale

    def rate(self, mag: float) -> float:
        """Electrons per second from a source of AB magnitude ``mag``.

        Examples
        --------
        >>> b = band("H158")
        >>> round(b.rate(b.zeropoint), 6)
        1.0
        """
        return float(10 ** (-0.4 * (mag - self.zeropoint)))

    def mag(self, rate: float) -> float:
        """AB magnitude of a source giving ``rate`` electrons per second.

        Examples
        --------
        >>> b = band("r")
        >>> round(b.mag(100.0) - b.zeropoint, 6)
        -5.0
        """
        return self.zeropoint - 2.5 * math.log10(rate)

    @property
    def photon_flux_per_rate(self) -> float:
        """Photons/s/cm^2 (OpenUniverse's catalog unit) per electron per second."""
        return 1.0 / self.collecting_area

    def mjy_per_sr(self, pixel_scale: float | None = None) -> float:
        """MJy/sr of a pixel holding 1 electron per second (pixel side ``pixel_scale``, arcsec).

        Parameters
        ----------
        pixel_scale : float, optional
            The image's pixel (a coadd's may differ from the native); default the native.

        Examples
        --------
        >>> import astropy.units as u
        >>> b = band("F158")
        >>> one = (b.zeropoint * u.ABmag).to(u.MJy) / ((0.11 * u.arcsec) ** 2).to(u.sr)  # 1 e-/s in a pixel
        >>> round(float(b.mjy_per_sr() / one.value), 9)
        1.0
        """
        side = self.pixel_scale if pixel_scale is None else pixel_scale
        return AB_ZERO_JY * 1e-6 * 10 ** (-0.4 * self.zeropoint) / (side**2 * _ARCSEC_SR)


def _roman(
    name: str,
    alias: str,
    edges: tuple[float, float],
    pivot: float,
    zeropoint: float,
    fwhm: float,
    zodi_min: float,
    thermal: float,
) -> Band:
    return Band(
        name=name,
        facility="Roman",
        instrument="WFI",
        aliases=(alias,),
        wavelength_min=edges[0],
        wavelength_max=edges[1],
        pivot=pivot,
        zeropoint=zeropoint,
        psf_fwhm=fwhm,
        psf_beta=2.5,
        sky_rate=round(1.5 * zodi_min + thermal, 4),
        read_noise=5.58,
        dark_current=0.018,
        pixel_scale=0.11,
        collecting_area=3.757e4,
    )


ROMAN_BANDS: tuple[Band, ...] = (
    # name, OpenUniverse name, (min, max) um, pivot um, AB zp (1 e-/s), FWHM ", min zodi, thermal (e-/s/px)
    _roman("F062", "R062", (0.48, 0.76), 0.6275, 26.618, 0.058, 0.25, 0.003),
    _roman("F087", "Z087", (0.76, 0.977), 0.8718, 26.302, 0.073, 0.251, 0.003),
    _roman("F106", "Y106", (0.927, 1.192), 1.0618, 26.355, 0.087, 0.277, 0.003),
    _roman("F129", "J129", (1.131, 1.454), 1.2841, 26.353, 0.106, 0.267, 0.003),
    _roman("F146", "W146", (0.927, 2.000), 1.4339, 27.584, 0.105, 0.781, 1.03),
    _roman("F158", "H158", (1.380, 1.774), 1.5800, 26.376, 0.128, 0.244, 0.048),
    _roman("F184", "F184", (1.683, 2.000), 1.8383, 25.912, 0.146, 0.141, 0.155),
    _roman("F213", "K213", (1.95, 2.30), 2.1311, 25.863, 0.169, 0.118, 4.38),
)


def _rubin(
    name: str, edges: tuple[float, float], effective: float, zeropoint: float, sky_mag: float, fwhm: float
) -> Band:
    pixel = 0.2
    return Band(
        name=name,
        facility="Rubin",
        instrument="LSSTCam",
        aliases=(f"lsst_{name}", f"LSST-{name}"),
        wavelength_min=edges[0],
        wavelength_max=edges[1],
        pivot=effective,
        zeropoint=zeropoint,
        psf_fwhm=fwhm,
        psf_beta=3.5,
        sky_rate=round(10 ** (-0.4 * (sky_mag - zeropoint)) * pixel**2, 3),
        read_noise=8.8,
        dark_current=0.2,
        pixel_scale=pixel,
        collecting_area=math.pi * (642.3 / 2) ** 2,
    )


RUBIN_BANDS: tuple[Band, ...] = (
    # name, (min, max) um, effective um, AB zp (1 e-/s), dark sky mag/arcsec^2, FWHM_eff "
    _rubin("u", (0.320, 0.400), 0.367, 26.524, 23.052, 0.92),
    _rubin("g", (0.400, 0.552), 0.482, 28.508, 22.254, 0.87),
    _rubin("r", (0.552, 0.691), 0.622, 28.361, 21.198, 0.83),
    _rubin("i", (0.691, 0.818), 0.754, 28.171, 20.463, 0.80),
    _rubin("z", (0.818, 0.922), 0.869, 27.782, 19.606, 0.78),
    _rubin("y", (0.948, 1.060), 0.971, 26.818, 18.602, 0.76),
)


def _hst(
    name: str, edges: tuple[float, float], pivot: float, zeropoint: float, fwhm: float, sky: float
) -> Band:
    return Band(
        name=name,
        facility="HST",
        instrument="WFC3/IR",
        aliases=(f"WFC3_IR_{name}", f"IR-{name}"),
        wavelength_min=edges[0],
        wavelength_max=edges[1],
        pivot=pivot,
        zeropoint=zeropoint,
        psf_fwhm=fwhm,
        psf_beta=2.5,
        sky_rate=sky,
        read_noise=12.0,
        dark_current=0.048,
        pixel_scale=0.13,
        collecting_area=45238.93,
    )


HST_BANDS: tuple[Band, ...] = (
    # name, (min, max) um, pivot um, AB zp (1 e-/s), FWHM ", sky (e-/s/px)
    _hst("F110W", (0.883, 1.412), 1.1534, 26.822, 0.137, 1.2),
    _hst("F125W", (1.100, 1.400), 1.2486, 26.230, 0.136, 0.8),
    _hst("F140W", (1.200, 1.600), 1.3923, 26.452, 0.142, 0.9),
    _hst("F160W", (1.400, 1.700), 1.5369, 25.946, 0.151, 0.7),
)

#: Every band, Roman first.
BANDS: tuple[Band, ...] = ROMAN_BANDS + RUBIN_BANDS + HST_BANDS


def _lookup() -> dict[str, Band]:
    table: dict[str, Band] = {}
    for known in BANDS:
        for spelling in (known.name, *known.aliases):
            # Rubin's one-letter names are case-sensitive in practice ("y" vs "Y106"), but no
            # two bands share a spelling once folded, so folding is safe and forgiving.
            table[spelling.casefold()] = known
    return table


_BY_NAME = _lookup()


def band(name: str | Band) -> Band:
    """Return the band called ``name``, in any spelling, case-insensitive.

    Parameters
    ----------
    name : str or Band
        ``"F158"``, ``"H158"``, ``"h158"``, ``"r"``, ``"F160W"`` ... (a :class:`Band` is returned as is).

    Returns
    -------
    Band

    Raises
    ------
    roman_helpers.errors.InvalidParameterError
        For a name no band has; the message lists the known names.

    Examples
    --------
    >>> band("H158") is band("F158") is band("f158")
    True
    >>> band("W146").name, band("K213").pivot
    ('F146', 2.1311)
    >>> band("F999")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    roman_helpers.errors.InvalidParameterError: invalid band 'F999'; valid values are: F062 (R062), ...
    """
    if isinstance(name, Band):
        return name
    found = _BY_NAME.get(str(name).strip().casefold())
    if found is None:
        from roman_helpers.errors import InvalidParameterError

        known = [f"{b.name} ({b.aliases[0]})" if b.facility == "Roman" else b.name for b in BANDS]
        raise InvalidParameterError("band", name, known)
    return found
