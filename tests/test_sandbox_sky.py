"""The sandbox's one sky: filters, light curves, sources by tile, catalogs, and images of them.

Expectations come from outside the renderer: the catalog tables (what an astronomer reads), the
public documentation of the real files (column names, types, units), astropy (distances, WCS)
and photutils (what an astronomer measures on the pixels).
"""

from __future__ import annotations

import io
import math

import hpgeom
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.cosmology import FlatLambdaCDM
from astropy.wcs import WCS
from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture
from photutils.centroids import centroid_com

from roman_helpers.errors import InvalidParameterError
from roman_helpers.sandbox.sky import bands, render, sources, transients
from roman_helpers.sandbox.sky.render import BLOCK_ROWS, Exposure

TDS = (9.45, -44.02)  # centre of the OpenUniverse Time Domain Survey (IRSA's TDE notebook)
BULGE = (268.5, -29.3)  # (l, b) = (0.6, -1.8), a Galactic Bulge Time Domain Survey field
TDS_CELL = int(hpgeom.angle_to_pixel(32, *TDS, nest=False, lonlat=True))


def tan_wcs(ra: float, dec: float, shape: tuple[int, int], scale: float, rotation: float = 0.0) -> WCS:
    """A plain gnomonic WCS centred on the image, rotated by ``rotation`` degrees (east of north)."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [(shape[1] + 1) / 2, (shape[0] + 1) / 2]
    c, s = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
    wcs.wcs.cd = np.array([[-c, s], [s, c]]) * scale / 3600
    return wcs


def aperture_flux(sci: np.ndarray, err: np.ndarray, x: float, y: float, radius: float) -> tuple[float, float]:
    """Background-subtracted aperture sum and its error (photutils), pixels 0-based."""
    aperture = CircularAperture((x, y), radius)
    annulus = CircularAnnulus((x, y), radius + 4, radius + 14)
    background = ApertureStats(sci, annulus).median
    total = ApertureStats(sci, aperture, sum_method="exact").sum - background * aperture.area
    error = math.sqrt(ApertureStats(err**2, aperture, sum_method="exact").sum)
    return float(total), error


# ---------------------------------------------------------------------------- bands
def test_every_spelling_of_a_band_is_the_same_band():
    for roman, openuniverse in zip(
        ("F062", "F087", "F106", "F129", "F146", "F158", "F184", "F213"),
        ("R062", "Z087", "Y106", "J129", "W146", "H158", "F184", "K213"),
        strict=True,
    ):
        assert bands.band(roman) is bands.band(openuniverse) is bands.band(openuniverse.lower())
        assert bands.band(roman).openuniverse_name == openuniverse
    assert {b.name for b in bands.RUBIN_BANDS} == set("ugrizy")
    assert bands.band("f160w").facility == "HST"


def test_an_unknown_band_lists_the_known_ones():
    with pytest.raises(InvalidParameterError) as raised:
        bands.band("F999")
    message = str(raised.value)
    assert "F999" in message and "H158" in message and "F160W" in message and "y" in message


def test_bands_are_ordered_and_physical():
    for b in bands.BANDS:
        assert b.wavelength_min < b.pivot < b.wavelength_max
        assert 20 < b.zeropoint < 30 and b.sky_rate > 0 and b.pixel_scale > 0
    roman = [b.pivot for b in bands.ROMAN_BANDS if b.name != "F146"]
    assert roman == sorted(roman)
    # The diffraction limit grows with wavelength: so do Roman's PSFs
    fwhm = [b.psf_fwhm for b in bands.ROMAN_BANDS if b.name != "F146"]
    assert fwhm == sorted(fwhm)


# ---------------------------------------------------------------------------- light curves
def test_distance_modulus_matches_astropy():
    cosmology = FlatLambdaCDM(H0=transients.H0, Om0=transients.OMEGA_M, Tcmb0=0)
    z = np.array([0.05, 0.5, 1.0, 2.5])
    assert np.allclose(transients.distance_modulus(z), cosmology.distmod(z).value, atol=2e-3)


def _single(gentype: int, z: float, shape: float = 1.0, colour: float = 2.5) -> transients.LightCurves:
    return transients.LightCurves(
        gentype=np.array([gentype], np.int32),
        redshift=np.array([z]),
        peak_mjd=np.array([62000.0]),
        peak_abs_mag=np.array([-19.5]),
        shape=np.array([shape]),
        colour=np.array([colour]),
    )


def _fade_time(light: transients.LightCurves, which: str, magnitudes: float) -> float:
    days = np.linspace(0.0, 2000.0, 200_001)
    mags = light.mag(which, 62000.0 + days)
    return float(days[np.argmax(mags >= mags[0] + magnitudes)])


def test_time_runs_slower_by_one_plus_z():
    # A TDE's colour does not change with time, so its shape in any band is its rest-frame shape
    near, far = _single(42, 0.2), _single(42, 1.0)
    ratio = _fade_time(far, "F158", 1.0) / _fade_time(near, "F158", 1.0)
    assert ratio == pytest.approx(2.0 / 1.2, rel=2e-3)


def test_tde_declines_as_t_to_the_minus_five_thirds():
    light = _single(42, 0.1)
    late = np.array([150.0, 350.0])  # rest days after peak, past the 40-day knee (t counted from disruption)
    mags = light.mag("F129", 62000.0 + late * 1.1)
    expected = 2.5 * 5 / 3 * math.log10((350 + 40) / (150 + 40))
    assert mags[1] - mags[0] == pytest.approx(expected, rel=1e-6)


def test_sn_ia_peaks_at_peak_and_is_dark_outside_its_window():
    light = _single(10, 0.3, shape=0.0, colour=0.0)
    days = np.linspace(-30, 30, 601) * 1.3
    mags = light.mag("r", 62000.0 + days)  # r at z 0.3 is rest-frame B
    assert abs(days[np.argmin(mags)]) <= 1.0
    assert np.isinf(light.mag("r", light.start_mjd - 1.0)).all() and np.isinf(
        light.mag("r", light.end_mjd + 1)
    )


def test_families_carry_openuniverse_names():
    names = {f.gentype: f.model_name for f in transients.FAMILIES}
    assert names[10] == "SALT3.NIR_WAVEEXT" and names[42] == "NON1ASED.TDE-BBFIT" and names[99] == "FIXMAG"
    with pytest.raises(InvalidParameterError):
        transients.family(1234)


# ---------------------------------------------------------------------------- sources and tiles
def test_tiles_are_deterministic_in_any_order():
    order = [200_001, 100_000, 200_000]
    first = {t: sources.tile(t) for t in order}
    sources.tile.cache_clear()
    sources.tile_counts.cache_clear()
    for t in reversed(order):
        again = sources.tile(t)
        assert np.array_equal(again.galaxies.ra, first[t].galaxies.ra)
        assert np.array_equal(again.stars.mag_f158, first[t].stars.mag_f158)
        assert np.array_equal(again.transients.light.peak_mjd, first[t].transients.light.peak_mjd)


@pytest.mark.parametrize("position", [TDS, BULGE])
def test_tile_counts_are_the_rows_made(position):
    tiles = sources.tiles_in_cone(*position, 0.2)
    for t in tiles[:6]:
        counts = sources.tile_counts(int(t))
        made = sources.tile(int(t))
        assert (len(made.stars), len(made.galaxies), len(made.transients)) == (
            counts.stars,
            counts.galaxies,
            counts.total_transients,
        )
        # every source lies inside its own tile
        for kind in (made.stars, made.galaxies):
            pixel = hpgeom.angle_to_pixel(sources.TILE_NSIDE, kind.ra, kind.dec, nest=True, lonlat=True)
            assert (pixel == t).all()


def test_densities():
    area = 2 * math.pi * (1 - math.cos(math.radians(0.1))) * (180 / math.pi) ** 2
    field = sources.cone(*TDS, 0.1)
    galaxy_density = len(field.galaxies) / area
    assert galaxy_density == pytest.approx(sources.GALAXY_DENSITY, rel=0.2)
    star_density = (field.stars.mag("F158") < 25).sum() / area
    assert 1e3 <= star_density <= 1e4  # high Galactic latitude (b = -73 deg)
    bulge = sources.cone(*BULGE, 0.02)
    small = 2 * math.pi * (1 - math.cos(math.radians(0.02))) * (180 / math.pi) ** 2
    assert len(bulge.stars) / small == pytest.approx(sources.STAR_DENSITY_CAP, rel=0.1)


def test_galaxy_colours_are_one_spectrum_across_facilities():
    galaxies = sources.cone(*TDS, 0.05).galaxies
    # The same galaxy through filters at nearly the same wavelength agrees to a few hundredths
    # (more where a spectral break falls inside one filter and not the other): Rubin z and Roman
    # F087 (0.869, 0.872 um), HST F160W and Roman F158 (1.537, 1.580 um)
    for one, other in (("z", "F087"), ("F160W", "F158")):
        difference = np.abs(galaxies.mag(one) - galaxies.mag(other))
        assert np.median(difference) < 0.05 and np.percentile(difference, 90) < 0.15, (one, other)
    # and colours are redder towards the red (most galaxies): F158 brighter than r
    assert np.median(galaxies.mag("r") - galaxies.mag("F158")) > 0.3


def test_cone_and_polygon_select_by_position():
    near = sources.cone(*TDS, 0.03)
    separation = SkyCoord(near.galaxies.ra, near.galaxies.dec, unit="deg").separation(
        SkyCoord(*TDS, unit="deg")
    )
    assert (separation.deg <= 0.03).all() and len(near.galaxies) > 0
    ra = [9.40, 9.50, 9.50, 9.40]
    dec = [-44.06, -44.06, -43.98, -43.98]
    box = sources.polygon(ra, dec)
    g = box.galaxies
    assert ((g.ra > 9.40) & (g.ra < 9.50) & (g.dec > -44.06) & (g.dec < -43.98)).all()
    wider = sources.cone(9.45, -44.02, 0.06).galaxies
    inside = (wider.ra > 9.401) & (wider.ra < 9.499) & (wider.dec > -44.059) & (wider.dec < -43.981)
    assert set(wider.object_id[inside].tolist()) <= set(g.object_id.tolist())


# ---------------------------------------------------------------------------- catalogs
# Columns, types and units of roman_rubin_cats_v1.1.2 as LSSTDESC/skyCatalogs documents them.
DOCUMENTED = {
    "galaxy": {
        "galaxy_id": pa.int64(),
        "ra": pa.float64(),
        "dec": pa.float64(),
        "redshift": pa.float64(),
        "redshiftHubble": pa.float64(),
        "peculiarVelocity": pa.float64(),
        "shear1": pa.float64(),
        "shear2": pa.float64(),
        "convergence": pa.float64(),
        "spheroidHalfLightRadiusArcsec": pa.float32(),
        "diskHalfLightRadiusArcsec": pa.float32(),
        "diskEllipticity1": pa.float64(),
        "diskEllipticity2": pa.float64(),
        "spheroidEllipticity1": pa.float64(),
        "spheroidEllipticity2": pa.float64(),
        "um_source_galaxy_obs_sm": pa.float32(),
        "MW_rv": pa.float32(),
        "MW_av": pa.float32(),
    },
    "galaxy_flux": {
        "galaxy_id": pa.int64(),
        **{f"lsst_flux_{b}": pa.float32() for b in "ugrizy"},
        **{
            f"roman_flux_{b}": pa.float32()
            for b in ("W146", "R062", "Z087", "Y106", "J129", "H158", "F184", "K213")
        },
    },
    "pointsource": {
        "object_type": pa.string(),
        "id": pa.string(),
        "ra": pa.float64(),
        "dec": pa.float64(),
        "host_galaxy_id": pa.int64(),
        "magnorm": pa.float64(),
        "sed_filepath": pa.string(),
        "MW_rv": pa.float32(),
        "MW_av": pa.float32(),
        "mura": pa.float64(),
        "mudec": pa.float64(),
        "radial_velocity": pa.float64(),
        "parallax": pa.float64(),
        "variability_model": pa.string(),
    },
    "snana": {
        "id": pa.int64(),
        "ra": pa.float64(),
        "dec": pa.float64(),
        "host_id": pa.int64(),
        "gentype": pa.int32(),
        "model_name": pa.string(),
        "start_mjd": pa.float32(),
        "end_mjd": pa.float32(),
        "z_CMB": pa.float32(),
        "mw_EBV": pa.float32(),
        "mw_extinction_applied": pa.bool_(),
        "AV": pa.float32(),
        "RV": pa.float32(),
        "v_pec": pa.float32(),
        "host_ra": pa.float64(),
        "host_dec": pa.float64(),
        "host_mag_g": pa.float32(),
        "host_mag_i": pa.float32(),
        "host_mag_F": pa.float32(),
        "host_sn_sep": pa.float32(),
        "peak_mjd": pa.float32(),
        "peak_mag_g": pa.float32(),
        "peak_mag_i": pa.float32(),
        "peak_mag_F": pa.float32(),
        "lens_dmu_applied": pa.bool_(),
        "model_param_names": pa.list_(pa.string()),
        "model_param_values": pa.list_(pa.string()),
        "MW_av": pa.float32(),
        "MW_rv": pa.float32(),
    },
}


@pytest.fixture(scope="module")
def tds_catalog() -> dict[str, pa.Table]:
    return {kind: sources.catalog_table(kind, TDS_CELL) for kind in sources.CATALOG_KINDS}


@pytest.mark.parametrize("kind", sorted(DOCUMENTED))
def test_catalog_columns_types_and_counts(tds_catalog, kind):
    table = tds_catalog[kind]
    for name, kind_type in DOCUMENTED[kind].items():
        assert table.schema.field(name).type == kind_type, name
    assert table.num_rows == sources.catalog_count(kind, TDS_CELL) > 0
    if "ra" in table.column_names:
        assert table.schema.field("ra").metadata[b"unit"] == b"deg"


def test_catalog_fluxes_are_in_photons_per_second_per_cm2(tds_catalog):
    flux = tds_catalog["galaxy_flux"]
    assert flux.schema.field("roman_flux_H158").metadata[b"unit"] == b"photons/s/cm^2"
    assert flux.column("galaxy_id").equals(tds_catalog["galaxy"].column("galaxy_id"))


def test_catalog_rows_are_inside_their_cell_and_deterministic(tds_catalog):
    galaxy = tds_catalog["galaxy"]
    cell = hpgeom.angle_to_pixel(
        32, galaxy.column("ra").to_numpy(), galaxy.column("dec").to_numpy(), nest=False
    )
    assert (cell == TDS_CELL).all()
    again = sources.catalog_table("snana", TDS_CELL)
    first, second = io.BytesIO(), io.BytesIO()
    pq.write_table(tds_catalog["snana"], first)
    pq.write_table(again, second)
    assert first.getvalue() == second.getvalue()


def test_transients_join_their_hosts(tds_catalog):
    snana = tds_catalog["snana"].to_pydict()
    galaxy = tds_catalog["galaxy"].to_pydict()
    by_id = {gid: i for i, gid in enumerate(galaxy["galaxy_id"])}
    hosted = [i for i, h in enumerate(snana["host_id"]) if h >= 0]
    assert 0.8 < len(hosted) / len(snana["id"]) < 1.0  # most on a host, some hostless
    for i in hosted:
        g = by_id[snana["host_id"][i]]
        assert snana["host_ra"][i] == galaxy["ra"][g] and snana["host_dec"][i] == galaxy["dec"][g]
        assert snana["z_CMB"][i] == pytest.approx(galaxy["redshift"][g], rel=1e-6)
        offset = SkyCoord(snana["ra"][i], snana["dec"][i], unit="deg").separation(
            SkyCoord(galaxy["ra"][g], galaxy["dec"][g], unit="deg")
        )
        assert offset.arcsec == pytest.approx(snana["host_sn_sep"][i], abs=1e-3)
    models = set(snana["model_name"])
    assert {"SALT3.NIR_WAVEEXT", "NON1ASED.TDE-BBFIT", "NON1ASED.V19_CC+HostXT_WAVEEXT"} <= models
    mjd = np.array(snana["peak_mjd"])
    assert mjd.min() >= 61900 and mjd.max() <= 62950


# ---------------------------------------------------------------------------- images
def test_rows_are_the_same_however_they_are_read():
    shape = (300, 260)
    wcs = tan_wcs(*TDS, shape, 0.11, rotation=30)
    whole = Exposure(wcs, shape, "F158", exptime=140.0, mjd=62100.0, seed=11, detector=3).rows(0, 300)
    pieces = Exposure(wcs, shape, "F158", exptime=140.0, mjd=62100.0, seed=11, detector=3)
    parts = [pieces.rows(y0, y1) for y0, y1 in ((250, 300), (0, 37), (130, 250), (37, 130))]
    order = np.argsort([250, 0, 130, 37])
    for plane in range(3):
        joined = np.concatenate([parts[i][plane] for i in order])
        assert joined.tobytes() == whole[plane].tobytes()
    other_seed = Exposure(wcs, shape, "F158", exptime=140.0, mjd=62100.0, seed=12, detector=3).rows(0, 300)
    assert not np.array_equal(other_seed[0], whole[0])


def test_a_cut_out_costs_its_blocks_only():
    shape = (4088, 4088)
    wcs = tan_wcs(*TDS, shape, 0.11)
    image = Exposure(wcs, shape, "F158", exptime=140.0, mjd=62100.0, seed=1)
    image.rows(2000, 2100)
    assert image.made_blocks == len(render.blocks(2000, 2100)) == 2
    cut_out_components = image.rendered_components
    whole = Exposure(wcs, shape, "F158", exptime=140.0, mjd=62100.0, seed=1)
    for y0 in range(0, shape[0], BLOCK_ROWS):
        whole.rows(y0, min(y0 + BLOCK_ROWS, shape[0]))
    assert whole.made_blocks == 64
    assert 0 < cut_out_components < whole.rendered_components / 10
    assert whole.rows(2000, 2100)[0].tobytes() == image.rows(2000, 2100)[0].tobytes()


def test_units_follow_the_ab_definition():
    shape = (64, 64)
    wcs = tan_wcs(*TDS, shape, 0.11)
    made = {
        unit: Exposure(wcs, shape, "F129", exptime=200.0, mjd=62100.0, seed=9, gain=1.8, units=unit).rows(
            0, 64
        )[0]
        for unit in render.UNITS
    }
    electrons = made["electron"].astype(float)
    zeropoint = bands.band("F129").zeropoint
    one_electron_per_second = (zeropoint * u.ABmag).to(u.nJy).value  # nJy of a source giving 1 e-/s
    pixel = ((0.11 * u.arcsec) ** 2).to(u.sr).value
    assert np.allclose(made["DN/s"], electrons / 200.0 / 1.8, rtol=1e-6)
    assert np.allclose(made["nJy"], electrons / 200.0 * one_electron_per_second, rtol=1e-5)
    assert np.allclose(made["MJy/sr"], electrons / 200.0 * one_electron_per_second * 1e-15 / pixel, rtol=1e-5)
    assert np.allclose(made["electron/native pixel/exposure"], electrons, rtol=1e-6)  # native pixels here


def test_photometry_of_a_cone_sees_transients_only_when_lit():
    field = sources.cone(*TDS, 0.05)
    early = field.photometry("F158")
    assert "transient" not in early["obj_type"].tolist()
    late = field.photometry("F158", mjd=62400.0)
    lit = late["obj_type"] == "transient"
    assert lit.any() and np.isfinite(late["mag"][lit]).all()
    assert lit.sum() < len(field.transients)


def test_truth_needs_no_pixels_and_is_poisson():
    shape = (2000, 2000)
    image = Exposure(tan_wcs(*TDS, shape, 0.11), shape, "F184", exptime=300.0, mjd=62100.0, seed=4)
    table = render.truth(image)
    assert image.made_blocks == 0
    x, y = image.wcs.all_world2pix(table["ra"], table["dec"], 1)
    assert np.allclose(x, table["x"]) and np.allclose(y, table["y"])
    assert ((table["x"] > 0.5) & (table["x"] < shape[1] + 0.5)).all()
    assert set(table["obj_type"].tolist()) <= {"galaxy", "star", "transient"}
    pulls = (table["realized_flux"] - table["flux"]) / np.sqrt(table["flux"])
    assert abs(pulls.mean()) < 0.1 and 0.9 < pulls.std() < 1.1
    again = render.truth(
        Exposure(tan_wcs(*TDS, shape, 0.11), shape, "F184", exptime=300.0, mjd=62100.0, seed=4)
    )
    assert np.array_equal(again["realized_flux"], table["realized_flux"])


def _isolated(
    ra: np.ndarray, dec: np.ndarray, candidates: np.ndarray, others: SkyCoord, radius: float
) -> list[int]:
    chosen = []
    for i in candidates:
        separation = SkyCoord(ra[i], dec[i], unit="deg").separation(others).arcsec
        if np.sort(separation)[1] > radius:  # the nearest other than itself
            chosen.append(int(i))
    return chosen


def test_one_sky_a_galaxy_in_f158_and_f184(tds_catalog):
    """The issue's done-when: one catalog galaxy, cut from the F158 and F184 images of one
    pointing, lands at its catalog position with its catalog fluxes, within the noise."""
    galaxy = tds_catalog["galaxy"].to_pydict()
    flux = tds_catalog["galaxy_flux"].to_pydict()
    stars = tds_catalog["pointsource"].to_pydict()
    ra, dec = np.array(galaxy["ra"]), np.array(galaxy["dec"])
    pointing = SkyCoord(*TDS, unit="deg")
    near = pointing.separation(SkyCoord(ra, dec, unit="deg")).deg < 0.05
    size = np.maximum(galaxy["diskHalfLightRadiusArcsec"], galaxy["spheroidHalfLightRadiusArcsec"])
    bright = np.flatnonzero(near & (np.array(flux["roman_flux_H158"]) > 2e-3) & (size < 0.8))
    everything = SkyCoord(np.concatenate([ra, stars["ra"]]), np.concatenate([dec, stars["dec"]]), unit="deg")
    chosen = _isolated(
        ra, dec, bright[np.argsort(-np.array(flux["roman_flux_H158"])[bright])], everything, 6.0
    )
    assert chosen, "no bright isolated galaxy near the pointing"
    target = chosen[0]

    shape = (4088, 4088)
    wcs = tan_wcs(*TDS, shape, 0.11, rotation=-25.0)  # one pointing, both filters
    x, y = wcs.all_world2pix(ra[target], dec[target], 0)
    row0 = int(y) - 60
    found = {}
    for name, column in (("F158", "roman_flux_H158"), ("F184", "roman_flux_F184")):
        image = Exposure(wcs, shape, name, exptime=300.0, mjd=62100.0, seed=40 + len(found), detector=7)
        sci, err, _ = image.rows(row0, row0 + 120)  # a cut-out: two or three blocks, never the image
        assert image.made_blocks <= 3
        cut = sci[:, int(x) - 60 : int(x) + 60].astype(float)
        cut_err = err[:, int(x) - 60 : int(x) + 60].astype(float)
        cx, cy = x - (int(x) - 60), y - row0
        radius = max(2.0, 5 * size[target]) / 0.11
        measured, sigma = aperture_flux(cut, cut_err, cx, cy, radius)
        band = bands.band(name)
        expected = flux[column][target] * band.collecting_area * image.exptime
        # centroid: first moment in a circle re-centred on it (photutils' centroid_com), sky removed
        yy, xx = np.mgrid[0 : cut.shape[0], 0 : cut.shape[1]]
        background = np.median(cut[np.hypot(xx - cx, yy - cy) > radius])
        mx, my, inner = cut.shape[1] / 2, cut.shape[0] / 2, max(0.6, 2 * size[target]) / 0.11
        for _ in range(5):
            inside = np.hypot(xx - mx, yy - my) < inner
            mx, my = centroid_com(np.where(inside, cut - background, 0.0))
        total = np.where(inside, cut - background, 0.0).sum()
        spread = math.hypot(
            math.sqrt((((xx - mx) * cut_err) ** 2)[inside].sum()),
            math.sqrt((((yy - my) * cut_err) ** 2)[inside].sum()),
        )
        sky = wcs.pixel_to_world(mx + int(x) - 60, my + row0)
        found[name] = (sky, measured, sigma, expected, spread / total * 0.11)
    catalog = SkyCoord(ra[target], dec[target], unit="deg")
    for name, (sky, measured, sigma, expected, noise) in found.items():
        offset = sky.separation(catalog).to(u.arcsec).value
        print(
            f"{name}: centroid offset {offset:.4f} arcsec (noise {noise:.4f}), "
            f"flux / catalog {measured / expected:.4f} +- {sigma / expected:.4f}"
        )
        assert offset < 4 * noise + 0.005  # within the noise, and a twentieth of a pixel
        # aperture loss of a de Vaucouleurs bulge beyond 5 half-light radii is a few per cent
        assert abs(measured - expected) < 4 * sigma + 0.04 * expected
    both = math.hypot(found["F158"][4], found["F184"][4])
    assert found["F158"][0].separation(found["F184"][0]).arcsec < 4 * both + 0.005


def test_isolated_stars_give_their_catalog_fluxes(tds_catalog):
    """Rubin r images of isolated stars return the pointsource_flux catalog's r fluxes."""
    stars = tds_catalog["pointsource"].to_pydict()
    fluxes = tds_catalog["pointsource_flux"].to_pydict()
    galaxy = tds_catalog["galaxy"].to_pydict()
    ra, dec = np.array(stars["ra"]), np.array(stars["dec"])
    r = bands.band("r")
    rate = np.array(fluxes["lsst_flux_r"]) * r.collecting_area
    candidates = np.flatnonzero((rate > 200) & (rate < 2500))  # bright, never saturated in 300 s
    others = SkyCoord(np.concatenate([ra, galaxy["ra"]]), np.concatenate([dec, galaxy["dec"]]), unit="deg")
    chosen = _isolated(ra, dec, candidates[:40], others, 8.0)[:6]
    assert len(chosen) >= 3
    ratios = []
    for i in chosen:
        shape = (120, 120)
        wcs = tan_wcs(ra[i], dec[i], shape, r.pixel_scale)
        image = Exposure(wcs, shape, "r", exptime=300.0, mjd=62100.0, seed=int(i))
        sci, err, _ = image.rows(0, 120)
        x, y = wcs.all_world2pix(ra[i], dec[i], 0)
        measured, sigma = aperture_flux(
            sci.astype(float), err.astype(float), float(x), float(y), 3.0 / r.pixel_scale
        )
        expected = rate[i] * image.exptime
        assert abs(measured - expected) < 4 * sigma + 0.01 * expected
        ratios.append(measured / expected)
    print("star flux / catalog:", np.round(ratios, 4))


def test_a_transient_at_peak_has_its_peak_magnitude(tds_catalog):
    """Difference of an image at peak and one before the explosion: the catalog's peak_mag_F."""
    snana = tds_catalog["snana"].to_pydict()
    peak = np.array(snana["peak_mag_F"])
    hosted = np.array(snana["host_id"]) >= 0
    i = int(np.flatnonzero(hosted & np.isfinite(peak))[np.argmin(peak[hosted & np.isfinite(peak)])])
    assert peak[i] < 24
    shape = (128, 128)
    wcs = tan_wcs(snana["ra"][i], snana["dec"][i], shape, 0.11)
    f184 = bands.band("F184")
    exptime = 100.0
    mjd = snana["peak_mjd"][i] - exptime / 2 / 86400  # the middle of the exposure at the peak
    at_peak = Exposure(wcs, shape, "F184", exptime=exptime, mjd=mjd, seed=1, cosmic_rays=False)
    before = Exposure(
        wcs, shape, "F184", exptime=exptime, mjd=snana["start_mjd"][i] - 30, seed=2, cosmic_rays=False
    )
    (sci, err, _), (ref, ref_err, _) = at_peak.rows(0, 128), before.rows(0, 128)
    x, y = wcs.all_world2pix(snana["ra"][i], snana["dec"][i], 0)
    difference = sci.astype(float) - ref.astype(float)
    measured, sigma = aperture_flux(difference, np.hypot(err, ref_err), float(x), float(y), 1.0 / 0.11)
    expected = 10 ** (-0.4 * (peak[i] - f184.zeropoint)) * exptime
    assert abs(measured - expected) < 4 * sigma + 0.02 * expected
    dark = render.truth(before)
    assert snana["id"][i] not in dark["object_id"].tolist()


def test_coadd_layers_and_ramps():
    shape = (1400, 1400)
    coadd = Exposure(
        tan_wcs(9.5, -44.1, shape, 0.0390625),
        shape,
        "H158",
        exptime=140.0,
        mjd=62000.0,
        seed=8,
        n_exposures=6,
        cosmic_rays=False,
        units="electron/native pixel/exposure",
    )
    stars = np.vstack(
        [render.coadd_layer_rows(coadd, 2, y0, min(y0 + 200, 1400)) for y0 in range(0, 1400, 200)]
    )
    _, _, x, y = render.coadd_grid(coadd)
    inner = (x > 60) & (x < 1340) & (y > 60) & (y < 1340)
    native = (0.11 / 0.0390625) ** 2
    for gx, gy in zip(x[inner], y[inner], strict=True):
        box = stars[int(gy) - 50 : int(gy) + 51, int(gx) - 50 : int(gx) + 51]
        assert box.sum() * native == pytest.approx(1.0, abs=0.01)  # "normalized to total flux of 1"
    assert (
        render.coadd_layer_rows(coadd, 11, 100, 300).tobytes()
        == np.vstack(
            [render.coadd_layer_rows(coadd, 11, 100, 170), render.coadd_layer_rows(coadd, 11, 170, 300)]
        ).tobytes()
    )

    image = Exposure(
        tan_wcs(*TDS, (4088, 4088), 0.11), (4088, 4088), "F158", exptime=140.0, mjd=62000.0, seed=3
    )
    pattern = [[1], [2, 3], [4, 5, 6, 7], [8, 9, 10, 11, 12, 13, 14, 15], [46]]
    ramp = render.ramp_rows(image, 0, 130, pattern)
    assert ramp.shape == (5, 130, 4096) and ramp.dtype == np.uint16
    assert (
        ramp.tobytes()
        == np.concatenate(
            [render.ramp_rows(image, 0, 70, pattern), render.ramp_rows(image, 70, 130, pattern)], axis=1
        ).tobytes()
    )
    slope = (ramp[-1].astype(float) - ramp[0]) * 2.0 / ((46 - 1) * render.FRAME_TIME)  # e-/s (gain 2)
    reference = slope[:, :4]
    assert abs(reference.mean()) < 0.1  # reference pixels see no light
    science = np.median(slope[10:, 10:-10])
    assert science == pytest.approx(bands.band("F158").sky_rate + bands.band("F158").dark_current, rel=0.05)


def test_poisson_deviates_are_scipy_s_quantiles():
    """The sandbox's quick inversion of the Poisson distribution gives scipy's ``poisson.ppf``."""
    from scipy.stats import poisson

    rng = np.random.default_rng(7)
    mean = 10 ** rng.uniform(-4, 4, 200_000)
    p = (rng.integers(0, 2**53, mean.size) + 0.5) / 2**53
    p[:50] = 1 - 2**-53  # where the distribution rounds to 1
    assert np.array_equal(render._poisson_quantile(mean, p), poisson.ppf(p, mean))


def test_blocks_of_many_exposures_share_one_budget():
    store = render.RecentBlocks(budget=10 * 64 * 8)  # ten blocks of 64 float64 values
    for image in range(4):
        for index in range(5):
            store.get((image, index), lambda: np.zeros(64))
    assert (store.made, store.held) == (20, 10 * 64 * 8)
    assert store.in_order() == [(image, index) for image in (2, 3) for index in range(5)]  # the last ten
    assert store.get((2, 0), lambda: np.ones(64))[0] == 0  # held: not made again, and now the newest
    store.get((0, 0), lambda: np.ones(64))
    assert store.made == 21 and store.in_order()[0] == (2, 2) and (2, 1) not in store.in_order()
