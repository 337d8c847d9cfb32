"""Roman-format files outside the surveys: the 2026.2 tutorial data and the Roman Research Nexus's sets.

File names (the Roman data-levels convention)
    2026 names: ``r{program:05d}{plan:02d}{pass:03d}{segment:03d}{observation:03d}{visit:03d}_
    {exposure:04d}_wfi{detector:02d}_{optical element}_{suffix}.asdf`` (:func:`exposure_name`).
    The 2024 names of the Roman Research Nexus's Roman I-Sim set put a visit-file group (2 digits),
    sequence (1) and activity (2) between the visit and the exposure:
    ``r0000101001001001001_01101_0001_WFI01_cal.asdf``.

Published facts
    * The tutorial data (``roman/nexus/soc_simulations/tutorial_data/roman-2026.2/`` of
      ``stpubdata``; roman_notebooks ``markdown/simulated-data.md``, release 2026.2): Roman I-Sim,
      four full-focal-plane exposures (18 detectors each) in a four-point box dither near the
      globular cluster NGC 6535, centred at (RA, Dec) = (270.94, -0.2) deg, F106; dither steps,
      each an offset from the previous position in arcsec: (0, 0), (0.55, 200.55),
      (200.55, 0.55), (0.55, -200.55) (about half a detector, filling the gaps between
      detectors); a mosaic of detector WFI11 from the four positions. Level 1 (``_uncal``) and
      Level 2 (``_cal``) files of every detector.
    * Their names: program 32, plan 1, pass 1, segment 1, observation 1, visit 4; the
      roman_notebooks data-access tutorial names exposures 1 and 2 of one visit
      (``..._0001_wfi02_...`` and ``..._0002_wfi02_...``), so the four dither positions are
      exposures 1 to 4 of visit 4, in dither order. The mosaic has the generic name
      :data:`TUTORIAL_MOSAIC` (the same tutorial: L3 names were not settled).
    * The Roman Research Nexus's dense stellar field: two pointings named ``R0.5_DP0.5_PA0`` and
      ``R0.5_DP0.5_PA90`` (position angles 0 and 90 degrees, as the names say), F158 in visit
      001 and F129 in visit 002, all 18 detectors, cal and uncal (the source tutorial).
    * The Roman Research Nexus's ASDF conversions of the OpenUniverse WAS preview images are one per
      WAS image: :func:`.was.images` ``("preview")`` lists them.

The sandbox's own choices (no public page gives these)
    * Tutorial data: the first dither position is the published centre; the dither offsets are
      taken along the focal plane's axes (X along ``u``, Y along ``v`` of
      :data:`~roman_helpers.sandbox.sky.wfi.SCA_OFFSETS`). Position angle 273.56 deg: the
      direction of the Sun seen from the field at the start (astropy's ``get_sun``, geocentric),
      the solar arrays towards the Sun. Start 2026-09-14T05:12:00 (the field is 99 deg from the
      Sun, inside Roman's field of regard), 139.8 s exposures (Roman I-Sim's default) one
      minute apart.
    * The dense field at (268.52, -29.43) towards the Galactic bulge, F158 starting
      2026-03-01T00:00:00 and F129 an hour later, 139.8 s each.

Examples
--------
>>> exposure_name(32, 1, 1, 1, 1, 4, 1, 11, "F106", "cal")
'r0003201001001001004_0001_wfi11_f106_cal.asdf'
"""

from __future__ import annotations

from typing import Any

import numpy as np
from astropy.table import Table

from roman_helpers.sandbox.sky import wfi

__all__ = [
    "DENSE_REGION",
    "DENSE_REGION_FILTERS",
    "TUTORIAL",
    "TUTORIAL_DITHERS",
    "TUTORIAL_MOSAIC",
    "dense_region",
    "exposure_name",
    "legacy_exposure_name",
    "tutorial_exposures",
    "tutorial_pointings",
    "visit_id",
]

#: The tutorial data: the first pointing (ra, dec, pa), start time, exposure time, visit fields.
TUTORIAL: dict[str, Any] = {
    "ra": 270.94,
    "dec": -0.2,
    "pa": 273.56,
    "optical_element": "F106",
    "start_time": "2026-09-14T05:12:00.000",
    "exptime": 139.8,
    "gap": 60.0,  # seconds between the end of one exposure and the start of the next
    "program": 32,
    "plan": 1,
    "pass": 1,
    "segment": 1,
    "observation": 1,
    "visit": 4,
}
#: The box dither: each step's offset from the previous position, arcsec along the focal plane's
#: (X, Y); step k is exposure k + 1.
TUTORIAL_DITHERS = ((0.0, 0.0), (0.55, 200.55), (200.55, 0.55), (0.55, -200.55))
#: The tutorial data's mosaic of detector WFI11 (its name in the bucket).
TUTORIAL_MOSAIC = "my_roman_mosaic_coadd.asdf"
#: The dense field's two pointings: name -> (ra, dec, pa).
DENSE_REGION = {"R0.5_DP0.5_PA0": (268.52, -29.43, 0.0), "R0.5_DP0.5_PA90": (268.52, -29.43, 90.0)}
#: Filter -> (visit, start time).
DENSE_REGION_FILTERS = {"F158": (1, "2026-03-01T00:00:00.000"), "F129": (2, "2026-03-01T01:00:00.000")}
_SUFFIXES = ("cal", "uncal")


def visit_id(program: int, plan: int, pass_: int, segment: int, observation: int, visit: int) -> str:
    """Return the 19-character visit identifier that starts a Roman file name.

    Parameters
    ----------
    program, plan, pass_, segment, observation, visit : int

    Returns
    -------
    str

    Examples
    --------
    >>> visit_id(340, 1, 2, 1, 1, 25)
    'r0034001002001001025'
    """
    return f"r{program:05d}{plan:02d}{pass_:03d}{segment:03d}{observation:03d}{visit:03d}"


def exposure_name(
    program: int,
    plan: int,
    pass_: int,
    segment: int,
    observation: int,
    visit: int,
    exposure: int,
    detector: int,
    optical_element: str,
    suffix: str,
    extension: str = "asdf",
) -> str:
    """Return a 2026-convention Roman file name.

    Parameters
    ----------
    program, plan, pass_, segment, observation, visit, exposure : int
    detector : int
        1-18.
    optical_element : str
        ``F158`` or ``f158``.
    suffix : str
        ``cal``, ``uncal``, ``preview``...
    extension : str
        ``asdf``, ``png``...

    Returns
    -------
    str

    Examples
    --------
    >>> exposure_name(340, 1, 2, 1, 1, 25, 1, 10, "F146", "preview", "png")
    'r0034001002001001025_0001_wfi10_f146_preview.png'
    """
    ident = visit_id(program, plan, pass_, segment, observation, visit)
    return f"{ident}_{exposure:04d}_wfi{detector:02d}_{optical_element.lower()}_{suffix}.{extension}"


def legacy_exposure_name(visit: int, detector: int, suffix: str) -> str:
    """Return a 2024-convention name of the Roman Research Nexus's dense-field set.

    Examples
    --------
    >>> legacy_exposure_name(2, 7, "uncal")
    'r0000101001001001002_01101_0001_WFI07_uncal.asdf'
    """
    return f"{visit_id(1, 1, 1, 1, 1, visit)}_01101_0001_WFI{detector:02d}_{suffix}.asdf"


def tutorial_pointings() -> Table:
    """Return the tutorial data's four exposures: where the focal plane pointed and when.

    Returns
    -------
    astropy.table.Table
        One row per dither position: ``exposure`` (1-4), ``wfi_ra, wfi_dec, wfi_pa`` (the WFI
        centre and the focal plane's position angle, degrees), ``start_time``, ``end_time``
        (ISO, UTC), ``exptime`` (s).

    Examples
    --------
    >>> table = tutorial_pointings()
    >>> table["exposure"].tolist(), [round(float(v), 6) for v in table["wfi_dec"][:1]]
    ([1, 2, 3, 4], [-0.2])
    >>> str(table["start_time"][1])
    '2026-09-14T05:15:19.800'
    """
    from astropy.time import Time, TimeDelta

    t = TUTORIAL
    steps = np.cumsum(np.array(TUTORIAL_DITHERS, dtype=float), axis=0) / 3600.0  # degrees along (u, v)
    xi, eta = wfi.focal_plane_to_sky(steps[:, 0], steps[:, 1], t["pa"])
    ra, dec = wfi.deproject(t["ra"], t["dec"], xi, eta)
    n = len(TUTORIAL_DITHERS)
    start = Time(t["start_time"], scale="utc") + TimeDelta(
        np.arange(n) * (t["exptime"] + t["gap"]), format="sec"
    )
    end = start + TimeDelta(np.full(n, t["exptime"]), format="sec")
    return Table(
        {
            "exposure": np.arange(1, n + 1),
            "wfi_ra": np.round(ra, 10),
            "wfi_dec": np.round(dec, 10),
            "wfi_pa": np.full(n, t["pa"]),
            "start_time": start.isot,
            "end_time": end.isot,
            "exptime": np.full(n, t["exptime"]),
        }
    )


def tutorial_exposures() -> Table:
    """Return the tutorial data's exposure files: 4 dither positions x 18 detectors x (cal, uncal).

    Returns
    -------
    astropy.table.Table
        ``name, detector, optical_element, suffix, wfi_ra, wfi_dec, wfi_pa, detector_ra,
        detector_dec, start_time, end_time, exptime`` and the visit fields ``program, plan,
        pass, segment, observation, visit, exposure``.

    Examples
    --------
    >>> table = tutorial_exposures()
    >>> len(table), str(table["name"][0])
    (144, 'r0003201001001001004_0001_wfi01_f106_cal.asdf')
    >>> sorted(set(table["optical_element"].tolist()))
    ['F106']
    """
    t = TUTORIAL
    pointings = tutorial_pointings()
    rows = []
    for index, exposure in enumerate(pointings["exposure"].tolist()):
        for suffix in _SUFFIXES:
            for detector in wfi.DETECTORS:
                name = exposure_name(
                    t["program"], t["plan"], t["pass"], t["segment"], t["observation"], t["visit"],
                    exposure, detector, t["optical_element"], suffix,
                )  # fmt: skip
                rows.append((index, name, detector, suffix))
    index_, names, detectors, suffixes = (np.array(column) for column in zip(*rows, strict=True))
    chosen = pointings[index_]
    centre_ra, centre_dec = wfi.detector_centres(
        np.asarray(chosen["wfi_ra"]), np.asarray(chosen["wfi_dec"]), np.asarray(chosen["wfi_pa"]), detectors
    )
    n = len(names)
    return Table(
        {
            "name": names,
            "detector": detectors,
            "optical_element": np.full(n, t["optical_element"]),
            "suffix": suffixes,
            "wfi_ra": chosen["wfi_ra"],
            "wfi_dec": chosen["wfi_dec"],
            "wfi_pa": chosen["wfi_pa"],
            "detector_ra": centre_ra,
            "detector_dec": centre_dec,
            "start_time": chosen["start_time"],
            "end_time": chosen["end_time"],
            "exptime": chosen["exptime"],
            **{
                field: np.full(n, t[field])
                for field in ("program", "plan", "pass", "segment", "observation", "visit")
            },
            "exposure": chosen["exposure"],
        }
    )


def dense_region() -> Table:
    """Return the Roman Research Nexus's dense-field files: 2 pointings x 2 filters x 18 x (cal, uncal).

    Returns
    -------
    astropy.table.Table
        ``pointing`` (the folder), ``name``, ``optical_element``, ``visit``, ``detector``,
        ``suffix``, ``wfi_ra, wfi_dec, wfi_pa, detector_ra, detector_dec, start_time, exptime``.

    Examples
    --------
    >>> table = dense_region()
    >>> len(table), str(table["name"][0])
    (144, 'r0000101001001001001_01101_0001_WFI01_cal.asdf')
    """
    rows = []
    for pointing, (ra, dec, pa) in DENSE_REGION.items():
        for element, (visit, start) in DENSE_REGION_FILTERS.items():
            for suffix in _SUFFIXES:
                for detector in wfi.DETECTORS:
                    rows.append(
                        (pointing, legacy_exposure_name(visit, detector, suffix), element, visit, detector,
                         suffix, ra, dec, pa, start)
                    )  # fmt: skip
    columns = list(zip(*rows, strict=True))
    pointing_, name, element_, visit_, detector_, suffix_, ra_, dec_, pa_, start_ = (
        np.array(c) for c in columns
    )
    centre_ra, centre_dec = wfi.detector_centres(ra_, dec_, pa_, detector_)
    return Table(
        {
            "pointing": pointing_,
            "name": name,
            "optical_element": element_,
            "visit": visit_,
            "detector": detector_,
            "suffix": suffix_,
            "wfi_ra": ra_,
            "wfi_dec": dec_,
            "wfi_pa": pa_,
            "detector_ra": centre_ra,
            "detector_dec": centre_dec,
            "start_time": start_,
            "exptime": np.full(len(name), 139.8),
        }
    )
