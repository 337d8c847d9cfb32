"""Light curves of the sandbox's transients, by family, at any redshift, in any band, at any time.

Each family is an analytic rest-frame model ``M(wavelength, phase)`` (AB absolute magnitude at a
rest wavelength, a rest-frame number of days from peak), observed at redshift ``z`` as

    m(band, mjd) = M(pivot / (1 + z), (mjd - peak_mjd) / (1 + z)) + mu(z) - 2.5 log10(1 + z)

(``mu`` the distance modulus of a flat LambdaCDM cosmology; the last term turns a rest-frame
AB magnitude per unit frequency into the observed one; time runs slower by ``1 + z``). Outside
``[start_mjd, end_mjd]`` a transient gives no light, as in OpenUniverse's catalogs, where those
two columns bound each model's light curve. Everything is vectorised over transients.

The families and their OpenUniverse / SNANA names (``model_name``, ``gentype``)
    =======  ========  ================================  ==========================================
    family   gentype   model_name                        model here
    =======  ========  ================================  ==========================================
    SN Ia    10        SALT3.NIR_WAVEEXT                 SALT-like: stretch x1, colour c, Tripp
                                                         standardisation (M_B = -19.36 - 0.15 x1 +
                                                         3.1 c), 18-day rise, second near-infrared
                                                         maximum 20-30 days after the first
    SN Ib    21        NON1ASED.V19_CC+HostXT_WAVEEXT    fast rise and decline, cooling photosphere
    SN Ic    26        NON1ASED.V19_CC+HostXT_WAVEEXT    as Ib, a little brighter and faster
    SN II    32        NON1ASED.V19_CC+HostXT_WAVEEXT    II-P: rise, 80-120-day plateau, drop, 56Co
                                                         tail (0.98 mag / 100 d)
    SLSN-I   40        NON1ASED.SLSN-I-BBFIT             hot cooling blackbody, slow rise and decline
    TDE      42        NON1ASED.TDE-BBFIT                hot blackbody (1.5-4 x 10^4 K), Gaussian
                                                         rise, t^-5/3 decline
    FIXMAG   99        FIXMAG                            a constant source of the same AB magnitude in
                                                         every band (OpenUniverse's calibration
                                                         sources)
    =======  ========  ================================  ==========================================

The gentype codes and model names are those found in OpenUniverse 2024's ``snana_*.parquet``
catalogs (``model_name`` values quoted by IRSA's OpenUniverse notebooks: ``SALT3.NIR_WAVEEXT``,
``NON1ASED.TDE-BBFIT``, ``FIXMAG``; the core-collapse library ``NON1ASED.V19_CC+HostXT_WAVEEXT``
of Vincenzi et al. 2019 extended to the near-infrared; gentype 10 Ia, 21 Ib, 26 Ic, 32 II, 40
SLSN-I, 42 TDE, 99 FIXMAG). SN Iax (12), kilonovae (50) and pair-instability SNe (57, 58) exist
in OpenUniverse too and are not modelled here. The cosmology is that of the Outer Rim
simulation OpenUniverse's galaxies come from (flat, H0 = 71, Omega_m = 0.2648); SN Ia's
absolute magnitude, alpha and beta are SNANA's defaults.

The models are analytic stand-ins with the families' shapes, colours and time scales, not
fits to spectra: a sandbox light curve is the right kind of curve, not a survey simulation.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from roman_helpers.sandbox.sky.bands import Band, band

__all__ = [
    "FAMILIES",
    "Family",
    "LightCurves",
    "blackbody_colour",
    "distance_modulus",
    "family",
    "redshift_grid_weights",
]

#: Outer Rim cosmology (Heitmann et al. 2019), on which OpenUniverse's galaxies are built.
H0 = 71.0
OMEGA_M = 0.2648

_H_OVER_K = 6.62607015e-34 / 1.380649e-23  # s K
_C_UM = 2.99792458e14  # speed of light, micrometres per second


def blackbody_colour(
    temperature: np.ndarray | float, wavelength: np.ndarray | float, reference: float
) -> np.ndarray:
    """AB magnitude of a blackbody at ``wavelength`` minus that at ``reference`` (micrometres).

    Parameters
    ----------
    temperature : float or array
        Kelvin.
    wavelength : float or array
        Micrometres.
    reference : float
        Micrometres.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> abs(float(blackbody_colour(5000.0, 1.0, 1.0)))
    0.0
    >>> bool(blackbody_colour(30000.0, 0.4, 1.0) < 0 < blackbody_colour(3000.0, 0.4, 1.0))
    True
    """
    t = np.asarray(temperature, dtype=float)
    lam = np.asarray(wavelength, dtype=float)

    def log_bnu(x: np.ndarray | float) -> np.ndarray:
        nu = _C_UM / np.asarray(x, dtype=float)
        a = np.minimum(_H_OVER_K * nu / t, 700.0)
        return 3 * np.log(nu) - np.log(np.expm1(a))

    return -2.5 / math.log(10) * (log_bnu(lam) - log_bnu(reference))


@functools.cache
def _distance_modulus_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from astropy.cosmology import FlatLambdaCDM

    cosmology = FlatLambdaCDM(H0=H0, Om0=OMEGA_M, Tcmb0=0.0)
    z = np.linspace(0.0, 6.0, 6001)[1:]
    mu = np.asarray(cosmology.distmod(z).value, dtype=float)
    volume = np.asarray(cosmology.differential_comoving_volume(z).value, dtype=float)  # Mpc^3 / sr
    return z, mu, volume


def distance_modulus(z: np.ndarray | float) -> np.ndarray:
    """Distance modulus (mag) at redshift ``z`` for the flat LambdaCDM cosmology of the sky.

    Interpolated on a fine grid (0.001 in z) computed once with astropy.cosmology.

    Examples
    --------
    >>> round(float(distance_modulus(0.1)), 2)
    38.29
    """
    grid, mu, _ = _distance_modulus_grid()
    return np.interp(np.asarray(z, dtype=float), grid, mu)


def redshift_grid_weights(
    evolution: Callable[[np.ndarray], np.ndarray], z_max: float
) -> tuple[np.ndarray, np.ndarray]:
    """Redshift grid and the cumulative probability of an event's redshift up to ``z_max``.

    Events per unit observer time and solid angle go as ``R(z) dV/dz / (1 + z)``; ``evolution``
    is the comoving rate's shape ``R(z)``.

    Returns
    -------
    z, cdf : ndarray
        For inverse-transform sampling (``np.interp(u, cdf, z)``).
    """
    grid, _, volume = _distance_modulus_grid()
    keep = grid <= z_max
    z = grid[keep]
    density = evolution(z) * volume[keep] / (1 + z)
    cdf = np.cumsum(density)
    return z, cdf / cdf[-1]


def _madau_dickinson(z: np.ndarray) -> np.ndarray:
    # Cosmic star-formation history (Madau & Dickinson 2014), the shape of core-collapse rates.
    return (1 + z) ** 2.7 / (1 + ((1 + z) / 2.9) ** 5.6)


def _sn_ia_evolution(z: np.ndarray) -> np.ndarray:
    # A delayed version of the star-formation history: SN Ia rates rise more slowly.
    return (1 + z) ** 1.5 / (1 + ((1 + z) / 3.0) ** 4.0)


def _tde_evolution(z: np.ndarray) -> np.ndarray:
    # Black-hole mass density changes little at z < 2; TDE rates are usually taken as falling.
    return (1 + z) ** -1.0


@dataclass(frozen=True)
class Family:
    """One kind of transient and how often it happens.

    Attributes
    ----------
    name : str
        ``"SN Ia"``, ``"SN II"``, ``"TDE"`` ...
    gentype : int
        SNANA's type code, as OpenUniverse's ``gentype`` column.
    model_name : str
        OpenUniverse's ``model_name``.
    rate : float
        Events per square degree per year (observer frame), all redshifts up to ``z_max``.
        For FIXMAG: sources per square degree (they do not vary).
    z_max : float
    peak_abs_mag : float
        Mean AB absolute magnitude at peak at ``reference`` (rest frame).
    peak_abs_scatter : float
        Its Gaussian scatter, mag.
    reference : float
        Rest wavelength of ``peak_abs_mag``, micrometres.
    rest_window : (float, float)
        Rest-frame days from peak during which the model gives light.
    hosted : float
        Fraction of events placed on a host galaxy.
    evolution : callable
        Shape of the comoving rate with redshift.
    """

    name: str
    gentype: int
    model_name: str
    rate: float
    z_max: float
    peak_abs_mag: float
    peak_abs_scatter: float
    reference: float
    rest_window: tuple[float, float]
    hosted: float
    evolution: Callable[[np.ndarray], np.ndarray]


_CC = "NON1ASED.V19_CC+HostXT_WAVEEXT"

#: The families, in gentype order. Rates are of the order of the measured volumetric rates
#: (SN Ia 2.5e-5, core collapse ~7e-5 per Mpc^3 per year locally, rising with redshift); TDEs
#: and SLSNe are boosted about tenfold so that a catalog cell (3.4 deg^2) holds dozens.
FAMILIES: tuple[Family, ...] = (
    Family(
        "SN Ia",
        10,
        "SALT3.NIR_WAVEEXT",
        450.0,
        2.0,
        -19.36,
        0.12,
        0.44,
        (-20.0, 80.0),
        0.97,
        _sn_ia_evolution,
    ),
    Family("SN Ib", 21, _CC, 250.0, 1.5, -17.4, 0.6, 0.55, (-18.0, 150.0), 0.97, _madau_dickinson),
    Family("SN Ic", 26, _CC, 250.0, 1.5, -17.6, 0.6, 0.55, (-16.0, 150.0), 0.97, _madau_dickinson),
    Family("SN II", 32, _CC, 1400.0, 1.5, -16.8, 0.8, 0.55, (-12.0, 250.0), 0.97, _madau_dickinson),
    Family(
        "SLSN-I",
        40,
        "NON1ASED.SLSN-I-BBFIT",
        3.0,
        3.5,
        -21.0,
        0.6,
        0.48,
        (-60.0, 250.0),
        0.9,
        _madau_dickinson,
    ),
    Family("TDE", 42, "NON1ASED.TDE-BBFIT", 10.0, 2.0, -19.5, 0.7, 0.48, (-60.0, 400.0), 1.0, _tde_evolution),
    Family("FIXMAG", 99, "FIXMAG", 20.0, 1.0, 22.0, 1.5, 0.55, (-2000.0, 2000.0), 0.0, _sn_ia_evolution),
)
_BY_GENTYPE = {f.gentype: f for f in FAMILIES}


def family(key: int | str) -> Family:
    """Return the family with this gentype (``10``) or name (``"SN Ia"``, ``"TDE"``).

    Examples
    --------
    >>> family(42).model_name
    'NON1ASED.TDE-BBFIT'
    >>> family("sn ia").gentype
    10
    """
    if isinstance(key, int | np.integer) and int(key) in _BY_GENTYPE:
        return _BY_GENTYPE[int(key)]
    for known in FAMILIES:
        if str(key).casefold() == known.name.casefold():
            return known
    from roman_helpers.errors import InvalidParameterError

    raise InvalidParameterError("transient family", key, [f"{f.gentype} ({f.name})" for f in FAMILIES])


# ---------------------------------------------------------------------------- rest-frame shapes
def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _to_mag(flux: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return -2.5 * np.log10(np.maximum(flux, 0.0))


def _uv_blanketing(wavelength: np.ndarray, edge: float, depth: float) -> np.ndarray:
    # Metal lines suppress supernova spectra blueward of ~0.35 um; a ramp of `depth` mag per 0.1 um.
    return depth * np.clip((edge - wavelength) / 0.1, 0.0, 3.0)


def _sn_ia(lam: np.ndarray, phase: np.ndarray, x1: np.ndarray, c: np.ndarray) -> np.ndarray:
    stretch = 0.98 + 0.091 * x1 + 0.003 * x1**2  # SALT2's x1 -> stretch (Guy et al. 2007 form)
    p = phase / stretch
    rise = _smoothstep((p + 18.0) / 18.0)  # t^2-like fireball rise, 18 rest days
    core = np.exp(-0.5 * (p / 10.5) ** 2)  # ~1.1 mag in B 15 days after peak
    tail = 0.28 * np.exp(-p / 70.0) * (1 - np.exp(-((p / 12.0) ** 2)))
    redness = np.clip((lam - 0.7) / 0.5, 0.0, 1.0)  # the second maximum grows into the near-infrared
    bump = 0.55 * redness * np.exp(-0.5 * ((p - (22.0 + 8.0 * redness)) / 8.0) ** 2)
    flux = np.where(p < 0, rise, core + tail + bump)
    temperature = 10500.0 - 4500.0 * np.clip(p / 35.0, 0.0, 1.0)
    colour = blackbody_colour(temperature, lam, 0.44) - blackbody_colour(10500.0, 0.44, 0.44)
    standardised = -0.15 * x1 + 3.1 * c * (0.44 / lam)  # Tripp: alpha x1, beta c with a 1/lambda law
    return _to_mag(flux) + colour + _uv_blanketing(lam, 0.33, 1.2) + standardised


def _stripped(lam: np.ndarray, phase: np.ndarray, speed: np.ndarray, extinction: np.ndarray) -> np.ndarray:
    p = phase / speed
    rise = _smoothstep((p + 15.0) / 15.0)
    core = np.exp(-0.5 * (p / 11.0) ** 2)
    tail = 0.25 * np.exp(-p / 60.0) * (1 - np.exp(-((p / 12.0) ** 2)))
    flux = np.where(p < 0, rise, core + tail)
    temperature = 7500.0 - 2500.0 * np.clip(p / 30.0, 0.0, 1.0)
    colour = blackbody_colour(temperature, lam, 0.55) - blackbody_colour(7500.0, 0.55, 0.55)
    return _to_mag(flux) + colour + _uv_blanketing(lam, 0.40, 1.5) + _host_dust(lam, extinction)


def _plateau(lam: np.ndarray, phase: np.ndarray, length: np.ndarray, extinction: np.ndarray) -> np.ndarray:
    rise = _smoothstep((phase + 10.0) / 10.0)
    blue = np.clip((0.55 - lam) / 0.2, 0.0, 1.5)
    plateau_mag = (0.008 + 0.03 * blue) * np.clip(phase, 0.0, None)  # bluer bands fade on the plateau
    drop = 2.2 * _smoothstep((phase - length) / 20.0)  # end of the hydrogen recombination
    cobalt = 0.0098 * np.clip(phase - length - 20.0, 0.0, None)  # 56Co decay
    temperature = 6000.0 + 9000.0 * np.exp(-np.clip(phase, 0.0, None) / 12.0)
    colour = blackbody_colour(temperature, lam, 0.55) - blackbody_colour(15000.0, 0.55, 0.55)
    shape = np.where(phase < 0, _to_mag(rise), plateau_mag + drop + cobalt)
    return shape + colour + _uv_blanketing(lam, 0.36, 0.8) + _host_dust(lam, extinction)


def _slsn(lam: np.ndarray, phase: np.ndarray, speed: np.ndarray, extinction: np.ndarray) -> np.ndarray:
    p = phase / speed
    rise = _smoothstep((p + 45.0) / 45.0)
    decline = np.exp(-np.clip(p, 0.0, None) / 45.0)
    flux = np.where(p < 0, rise, decline)
    temperature = 15000.0 - 7000.0 * np.clip(p / 80.0, 0.0, 1.0)
    colour = blackbody_colour(temperature, lam, 0.48) - blackbody_colour(15000.0, 0.48, 0.48)
    return _to_mag(flux) + colour + _uv_blanketing(lam, 0.25, 1.0) + _host_dust(lam, extinction)


def _tde(lam: np.ndarray, phase: np.ndarray, _unused: np.ndarray, temperature_1e4: np.ndarray) -> np.ndarray:
    tau = 40.0
    rise = np.exp(-0.5 * (np.clip(phase, None, 0.0) / 15.0) ** 2)
    decline = ((np.clip(phase, 0.0, None) + tau) / tau) ** (-5.0 / 3.0)  # fallback rate, t^-5/3
    flux = np.where(phase < 0, rise, decline)
    temperature = temperature_1e4 * 1e4
    colour = blackbody_colour(temperature, lam, 0.48)
    return _to_mag(flux) + colour


def _host_dust(lam: np.ndarray, av: np.ndarray) -> np.ndarray:
    # A_lambda / A_V ~ (0.55 / lambda)^1.3: a smooth stand-in for a Cardelli-like law with R_V = 3.1.
    return av * (0.55 / lam) ** 1.3


# ---------------------------------------------------------------------------- the light curves
@dataclass(frozen=True)
class LightCurves:
    """Transients as arrays, one element each: what is needed to compute their light at any time.

    Attributes
    ----------
    gentype : ndarray of int32
        Family (:data:`FAMILIES`).
    redshift : ndarray of float64
    peak_mjd : ndarray of float64
        Time of the peak (of the reference wavelength's rest-frame light curve).
    peak_abs_mag : ndarray of float64
        AB absolute magnitude at the family's reference wavelength at peak, before the shape and
        colour terms (for FIXMAG: the apparent magnitude in every band).
    shape : ndarray of float64
        SN Ia: SALT x1. SN II: plateau length (rest days). Ib, Ic, SLSN-I: time stretch.
        TDE: unused (1).
    colour : ndarray of float64
        SN Ia: SALT c. TDE: blackbody temperature / 10^4 K. Others: host A_V.

    Examples
    --------
    >>> lc = LightCurves(
    ...     gentype=np.array([10], np.int32),
    ...     redshift=np.array([0.5]),
    ...     peak_mjd=np.array([62100.0]),
    ...     peak_abs_mag=np.array([-19.36]),
    ...     shape=np.array([0.0]),
    ...     colour=np.array([0.0]),
    ... )
    >>> mags = lc.mag("F129", [62050.0, 62100.0, 62150.0])
    >>> bool(mags[1] < mags[2] < mags[0])
    True
    """

    gentype: np.ndarray
    redshift: np.ndarray
    peak_mjd: np.ndarray
    peak_abs_mag: np.ndarray
    shape: np.ndarray
    colour: np.ndarray

    def __len__(self) -> int:
        return len(self.gentype)

    def take(self, index: np.ndarray) -> LightCurves:
        """The transients at ``index`` (integer or boolean array)."""
        return LightCurves(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @property
    def start_mjd(self) -> np.ndarray:
        """First MJD at which the model gives light."""
        return self.peak_mjd + self._window(0) * (1 + self.redshift)

    @property
    def end_mjd(self) -> np.ndarray:
        """Last MJD at which the model gives light."""
        return self.peak_mjd + self._window(1) * (1 + self.redshift)

    def _window(self, side: int) -> np.ndarray:
        out = np.zeros(len(self))
        for known in FAMILIES:
            out[self.gentype == known.gentype] = known.rest_window[side]
        return out

    def mag(self, which: str | Band, mjd: float | np.ndarray | list[float]) -> np.ndarray:
        """AB magnitude of each transient in band ``which`` at ``mjd`` (``inf`` when dark).

        Parameters
        ----------
        which : str or Band
            Any spelling :func:`~roman_helpers.sandbox.sky.bands.band` accepts.
        mjd : float or array
            One time for all, or one per transient (or any shape broadcasting against them).

        Returns
        -------
        ndarray of float64
        """
        b = band(which)
        t = np.asarray(mjd, dtype=float)
        z = self.redshift
        shape = np.broadcast_shapes(t.shape, z.shape)
        if len(self) == 0:
            return np.zeros(shape)
        arrays = [
            np.broadcast_to(a, shape)
            for a in (t, z, self.peak_mjd, self.peak_abs_mag, self.shape, self.colour)
        ]
        t, z, peak, amplitude, shape_p, colour = arrays
        gentype = np.broadcast_to(self.gentype, shape)
        lam = b.pivot / (1 + z)
        phase = (t - peak) / (1 + z)
        out = np.full(shape, np.inf)
        models: dict[int, Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
            10: _sn_ia,
            21: _stripped,
            26: _stripped,
            32: _plateau,
            40: _slsn,
            42: _tde,
        }
        for known in FAMILIES:
            mask = gentype == known.gentype
            if not mask.any():
                continue
            if known.gentype == 99:
                out[mask] = amplitude[mask]
            else:
                relative = models[known.gentype](lam[mask], phase[mask], shape_p[mask], colour[mask])
                out[mask] = (
                    amplitude[mask] + relative + distance_modulus(z[mask]) - 2.5 * np.log10(1 + z[mask])
                )
        dark = (t < self.start_mjd) | (t > self.end_mjd) | ~np.isfinite(out)
        return np.where(dark, np.inf, out)

    def rate(self, which: str | Band, mjd: float | np.ndarray | list[float]) -> np.ndarray:
        """Electrons per second of each transient in band ``which`` at ``mjd`` (0 when dark).

        Examples
        --------
        >>> lc = LightCurves(
        ...     np.array([42], np.int32),
        ...     np.array([0.2]),
        ...     np.array([62400.0]),
        ...     np.array([-19.5]),
        ...     np.array([1.0]),
        ...     np.array([2.5]),
        ... )
        >>> rates = lc.rate("H158", [62000.0, 62400.0])
        >>> float(rates[0]), bool(rates[1] > 1)
        (0.0, True)
        """
        b = band(which)
        return 10 ** (-0.4 * (self.mag(b, mjd) - b.zeropoint))
