"""IRSA's image search (SIA) over the OpenUniverse images: one record per image, from the designs alone.

Collections, as IRSA names them and its notebooks query them
    ``simulated_roman_openuniverse2024``: the Time Domain and Wide Area Survey simple_model
    images; ``simulated_rubin_openuniverse2024``: the Rubin preview coadds. The quickstart and TDE
    notebooks read ``obs_id`` (the file name without ``.fits.gz``, so ``'TDS_simple_model' in
    obs_id`` picks the TDS), ``energy_bandpassname`` (the filter as the file names spell it),
    ``t_min``/``t_max`` (equal for a single exposure, the TDE notebook says: its ``MJD-OBS``),
    ``s_ra``/``s_dec`` (the image centre), ``s_fov`` (a diameter: the notebook keeps targets
    within 0.45 of it of the centre) and ``cloud_access`` (JSON with the bucket and key).

Which files the records point to
    The ``full`` release: every ``preview`` image is also in ``full`` (the preview regions lie
    inside the full ones), the current IRSA notebooks open ``full``, and records for both copies
    would give every preview image twice (the TDE notebook's light curves would count each epoch
    twice). The WAS coadd blocks are not in the search: IRSA's WAS and Firefly notebooks find them
    by their block's row and column, never through SIA, and nothing public shows them among the
    collection's images.

Footprints and centres come from :mod:`~roman_helpers.sandbox.sky.wfi` (the same projection the
files' WCS uses) and the Rubin patch's WCS; times, filters and exposure times from the survey
designs; sizes from the layouts' closed forms. No file is read or made.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import numpy as np

from roman_helpers.sandbox.archive.layouts.openuniverse._common import BUCKET
from roman_helpers.sandbox.archive.layouts.openuniverse._images import image_rows
from roman_helpers.sandbox.archive.layouts.openuniverse._rubin import (
    SPAN,
    VISIT_SECONDS,
    VISITS,
    coadd_key,
    coadd_size,
)
from roman_helpers.sandbox.sky import wfi
from roman_helpers.sandbox.sky.bands import band
from roman_helpers.sandbox.sky.surveys import rubin

ROMAN = "simulated_roman_openuniverse2024"
RUBIN = "simulated_rubin_openuniverse2024"
#: Where IRSA serves the same files over HTTPS: ``access_url`` is this followed by the key.
HTTPS_DATA = "https://irsa.ipac.caltech.edu/data/theory/"
#: The record's columns, in the order of IRSA's answers (ObsCore, then IRSA's own).
COLUMNS = (
    "s_ra",
    "s_dec",
    "facility_name",
    "instrument_name",
    "dataproduct_subtype",
    "calib_level",
    "dataproduct_type",
    "energy_bandpassname",
    "energy_emband",
    "obs_id",
    "s_resolution",
    "em_min",
    "em_max",
    "em_res_power",
    "access_url",
    "access_format",
    "access_estsize",
    "t_exptime",
    "s_region",
    "obs_collection",
    "target_name",
    "s_xel1",
    "s_xel2",
    "s_pixel_scale",
    "t_min",
    "t_max",
    "t_resolution",
    "t_xel",
    "obs_publisher_did",
    "s_fov",
    "em_xel",
    "pol_states",
    "pol_xel",
    "o_ucd",
    "cloud_access",
)
_NULL_FLOAT = ("t_resolution",)
_NULL_TEXT = ("target_name", "pol_states")


def _unit(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    a, d = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)], axis=-1)


def _footprint(
    corner_ra: np.ndarray, corner_dec: np.ndarray, centre_ra: np.ndarray, centre_dec: np.ndarray
) -> tuple[list[str], np.ndarray]:
    """``s_region`` polygons (counter-clockwise on the sky) and ``s_fov`` (diameter, degrees)."""
    corners = _unit(corner_ra, corner_dec)  # (n, 4, 3)
    centre = _unit(centre_ra, centre_dec)  # (n, 3)
    clockwise = np.einsum("ij,ij->i", np.cross(corners[:, 0], corners[:, 1]), centre) < 0
    corner_ra = np.where(clockwise[:, None], corner_ra[:, ::-1], corner_ra) % 360.0
    corner_dec = np.where(clockwise[:, None], corner_dec[:, ::-1], corner_dec)
    cosine = np.clip(np.einsum("ijk,ik->ij", corners, centre), -1.0, 1.0)
    fov = 2 * np.degrees(np.arccos(cosine.min(axis=1)))
    regions = [
        "POLYGON ICRS " + " ".join(f"{r:.8f} {d:.8f}" for r, d in zip(ras, decs, strict=True))
        for ras, decs in zip(corner_ra.tolist(), corner_dec.tolist(), strict=True)
    ]
    return regions, fov


def _band_columns(names: np.ndarray) -> dict[str, np.ndarray]:
    edges = {name: band(name) for name in np.unique(names).tolist()}
    low = np.array([edges[n].wavelength_min * 1e-6 for n in names.tolist()])
    high = np.array([edges[n].wavelength_max * 1e-6 for n in names.tolist()])
    return {
        "em_min": low,
        "em_max": high,
        "em_res_power": (low + high) / 2 / (high - low),
        "energy_emband": np.where((low + high) / 2 < 1e-6, "Optical", "Infrared"),
        "s_resolution": np.array([edges[n].psf_fwhm for n in names.tolist()]),
    }


def _cloud(keys: list[str]) -> list[str]:
    return [json.dumps({"aws": {"bucket_name": BUCKET, "key": key, "region": "us-east-1"}}) for key in keys]


def _shared(
    collection: str, keys: list[str], suffix: str, filters: np.ndarray, instrument: tuple[str, str, int, str]
) -> dict[str, Any]:
    """The columns every record has from its key, filter and instrument (facility, instrument, level, UCD)."""
    names = [key.rsplit("/", 1)[1].removesuffix(suffix) for key in keys]
    count = len(keys)
    facility, camera, level, ucd = instrument
    return {
        "facility_name": np.full(count, facility),
        "instrument_name": np.full(count, camera),
        "dataproduct_subtype": np.full(count, "science"),
        "calib_level": np.full(count, level),
        "dataproduct_type": np.full(count, "image"),
        "energy_bandpassname": filters,
        "obs_id": np.array(names),
        **_band_columns(filters),
        "access_url": np.array([HTTPS_DATA + key for key in keys]),
        "access_format": np.full(count, "application/fits"),
        "obs_collection": np.full(count, collection),
        "t_xel": np.full(count, 1),
        "obs_publisher_did": np.array([f"ivo://irsa.ipac/{collection}?{name}" for name in names]),
        "em_xel": np.full(count, 1),
        "pol_xel": np.full(count, 0),
        "o_ucd": np.full(count, ucd),
        "cloud_access": np.array(_cloud(keys)),
    }


def _singles(survey: str) -> dict[str, Any]:
    rows = image_rows(survey, "full")
    ra, dec, pa, sca = rows["ra"], rows["dec"], rows["pa"], rows["sca"]
    corner_ra, corner_dec = wfi.corners(ra, dec, pa, sca, "openuniverse")
    middle = (wfi.DETECTOR_SIDE - 1) / 2
    centre_ra, centre_dec = wfi.pixel_to_sky(ra, dec, pa, sca, middle, middle, "openuniverse")
    regions, fov = _footprint(corner_ra, corner_dec, centre_ra, centre_dec)
    count = len(ra)
    return {
        **_shared(ROMAN, rows["key"].tolist(), ".fits.gz", rows["filter"], ("Roman", "WFI", 2, "phot.count")),
        "s_ra": centre_ra % 360.0,
        "s_dec": centre_dec,
        "access_estsize": np.ceil(rows["size"] / 1000).astype(np.int64),
        "t_exptime": rows["exptime"].astype(float),
        "s_region": np.array(regions),
        "s_xel1": np.full(count, wfi.DETECTOR_SIDE),
        "s_xel2": np.full(count, wfi.DETECTOR_SIDE),
        "s_pixel_scale": np.full(count, wfi.PIXEL_SCALE),
        "t_min": rows["date"].astype(float),
        "t_max": rows["date"].astype(float),
        "s_fov": fov,
    }


def _rubin_coadds() -> dict[str, Any]:
    from astropy.wcs import WCS

    header = rubin.patch_header()
    nx, ny = int(header["NAXIS1"]), int(header["NAXIS2"])
    patch = WCS(header)
    corner_ra, corner_dec = patch.wcs_pix2world(
        [-0.5, nx - 0.5, nx - 0.5, -0.5], [-0.5, -0.5, ny - 0.5, ny - 0.5], 0
    )
    centre_ra, centre_dec = patch.wcs_pix2world([(nx - 1) / 2], [(ny - 1) / 2], 0)
    filters = np.array(rubin.FILTERS)
    count = len(filters)
    regions, fov = _footprint(
        np.tile(corner_ra, (count, 1)),
        np.tile(corner_dec, (count, 1)),
        np.repeat(centre_ra, count),
        np.repeat(centre_dec, count),
    )
    keys = [coadd_key(name) for name in rubin.FILTERS]
    return {
        **_shared(RUBIN, keys, ".fits", filters, ("Rubin", "LSSTCam", 3, "phot.flux.density")),
        "s_ra": np.repeat(centre_ra, count) % 360.0,
        "s_dec": np.repeat(centre_dec, count),
        "access_estsize": np.full(count, math.ceil(coadd_size() / 1000)),
        "t_exptime": np.array([VISITS[name] * VISIT_SECONDS for name in rubin.FILTERS]),
        "s_region": np.array(regions),
        "s_xel1": np.full(count, nx),
        "s_xel2": np.full(count, ny),
        "s_pixel_scale": np.full(count, rubin.PIXEL_SCALE),
        "t_min": np.full(count, SPAN[0]),
        "t_max": np.full(count, SPAN[1]),
        "s_fov": fov,
    }


@functools.cache
def _collection(name: str) -> Any:
    from astropy.table import MaskedColumn, Table, vstack

    parts = [_singles("RomanTDS"), _singles("RomanWAS")] if name == ROMAN else [_rubin_coadds()]
    tables = []
    for values in parts:
        count = len(values["obs_id"])
        for column in _NULL_FLOAT:
            values[column] = MaskedColumn(np.zeros(count), mask=np.ones(count, bool))
        for column in _NULL_TEXT:
            values[column] = MaskedColumn(np.full(count, ""), mask=np.ones(count, bool))
        tables.append(Table({column: values[column] for column in COLUMNS}))
    return vstack(tables, join_type="exact") if len(tables) > 1 else tables[0]


def image_records(collection: str | None = None) -> Any:
    """The records of IRSA's image search over the OpenUniverse 2024 collections (see the module's notes).

    Parameters
    ----------
    collection : {"simulated_roman_openuniverse2024", "simulated_rubin_openuniverse2024"}, optional
        One collection only; default both.

    Returns
    -------
    astropy.table.Table
        One row per image, the columns of :data:`COLUMNS` (nulls masked): the TDS and WAS images
        of the ``full`` release, then the six Rubin coadds. Each collection is built once (the
        Roman one, 130,000 rows, in a few seconds) and shared: treat it as read-only.

    Examples
    --------
    >>> coadds = image_records("simulated_rubin_openuniverse2024")
    >>> coadds["energy_bandpassname"].tolist(), int(coadds["s_xel1"][0])
    (['u', 'g', 'r', 'i', 'z', 'y'], 4200)
    >>> json.loads(coadds["cloud_access"][2])["aws"]["key"].endswith(
    ...     "_r_DC2_u_descdm_preview_data_step3_2877_19_w_2024_12_20240403T150003Z.fits"
    ... )
    True
    """
    from astropy.table import vstack

    if collection is not None:
        if collection not in (ROMAN, RUBIN):
            raise ValueError(f"OpenUniverse 2024 has the collections {ROMAN} and {RUBIN}, not {collection!r}")
        return _collection(collection)
    return vstack([_collection(ROMAN), _collection(RUBIN)], join_type="exact")


__all__ = ["COLUMNS", "HTTPS_DATA", "ROMAN", "RUBIN", "image_records"]
