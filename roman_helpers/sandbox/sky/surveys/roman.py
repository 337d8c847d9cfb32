"""Roman-format files outside the surveys: the 2026.2 tutorial data and the Roman Research Nexus's sets.

File names (the Roman data-levels convention)
    2026 names: ``r{program:05d}{plan:02d}{pass:03d}{segment:03d}{observation:03d}{visit:03d}_
    {exposure:04d}_wfi{detector:02d}_{optical element}_{suffix}.asdf`` (:func:`exposure_name`).
    The 2024 names of the Roman Research Nexus's Roman I-Sim set put a visit-file group (2 digits),
    sequence (1) and activity (2) between the visit and the exposure:
    ``r0000101001001001001_01101_0001_WFI01_cal.asdf``.

Published facts
    * The tutorial exposure ``r0003201001001001004_0001``: program 32, plan 1, pass 1, segment 1,
      observation 1, visit 4, exposure 1; F106; all 18 detectors, ``_cal.asdf`` and
      ``_uncal.asdf`` (the roman_notebooks tutorials read both), under
      ``roman/nexus/soc_simulations/tutorial_data/roman-2026.2/`` of ``stpubdata``.
    * The Roman Research Nexus's dense stellar field: two pointings named ``R0.5_DP0.5_PA0`` and
      ``R0.5_DP0.5_PA90`` (position angles 0 and 90 degrees, as the names say), F158 in visit
      001 and F129 in visit 002, all 18 detectors, cal and uncal (the source tutorial).
    * The Roman Research Nexus's ASDF conversions of the OpenUniverse WAS preview images are one per
      WAS image: :func:`.was.images` ``("preview")`` lists them.

The sandbox's own choices (no public page gives these exposures' pointings)
    The tutorial exposure points at (80.48, -69.51), in the Large Magellanic Cloud, position angle
    0, starting 2026-09-14T05:12:00 for 139.8 s; the dense field at (268.52, -29.43) towards the
    Galactic bulge, F158 starting 2026-03-01T00:00:00 and F129 an hour later, 139.8 s each (the
    sandbox's earlier values, kept so that existing tutorials find the same places).
    ``roman_helpers/datasets.yaml`` also names an F158 version of the tutorial exposure: the
    table lists it (same pointing, ``optical_element`` F158) so the project's datasets keep
    working, though a real exposure has one filter.

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
    "dense_region",
    "exposure_name",
    "legacy_exposure_name",
    "tutorial_exposures",
    "visit_id",
]

#: The tutorial exposure: pointing (ra, dec, pa), start time, exposure time, visit fields.
TUTORIAL: dict[str, Any] = {
    "ra": 80.48,
    "dec": -69.51,
    "pa": 0.0,
    "start_time": "2026-09-14T05:12:00.000",
    "exptime": 139.8,
    "program": 32,
    "plan": 1,
    "pass": 1,
    "segment": 1,
    "observation": 1,
    "visit": 4,
    "exposure": 1,
}
_TUTORIAL_FILTERS = ("F106", "F158")  # F106 is the real exposure's; F158 is datasets.yaml's
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


def tutorial_exposures() -> Table:
    """Return the tutorial data's files: 18 detectors x filters x (cal, uncal).

    Returns
    -------
    astropy.table.Table
        ``name, detector, optical_element, suffix, wfi_ra, wfi_dec, wfi_pa, detector_ra,
        detector_dec, start_time, exptime`` and the visit fields.

    Examples
    --------
    >>> table = tutorial_exposures()
    >>> len(table), str(table["name"][0])
    (72, 'r0003201001001001004_0001_wfi01_f106_cal.asdf')
    """
    rows = []
    t = TUTORIAL
    for element in _TUTORIAL_FILTERS:
        for suffix in _SUFFIXES:
            for detector in wfi.DETECTORS:
                name = exposure_name(
                    t["program"], t["plan"], t["pass"], t["segment"], t["observation"], t["visit"],
                    t["exposure"], detector, element, suffix,
                )  # fmt: skip
                rows.append((name, detector, element, suffix))
    names, detectors, elements, suffixes = (np.array(column) for column in zip(*rows, strict=True))
    centre_ra, centre_dec = wfi.detector_centres(t["ra"], t["dec"], t["pa"], detectors)
    n = len(names)
    return Table(
        {
            "name": names,
            "detector": detectors,
            "optical_element": elements,
            "suffix": suffixes,
            "wfi_ra": np.full(n, t["ra"]),
            "wfi_dec": np.full(n, t["dec"]),
            "wfi_pa": np.full(n, t["pa"]),
            "detector_ra": centre_ra,
            "detector_dec": centre_dec,
            "start_time": np.full(n, t["start_time"]),
            "exptime": np.full(n, t["exptime"]),
            **{field: np.full(n, t[field]) for field in ("program", "pass", "visit", "exposure")},
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
