"""The sandbox's IRSA image search, through the real clients (astroquery.ipac.irsa, pyvo).

Expectations are computed here from the images themselves: each file's footprint from the WCS
in its own header (read back from S3 with astropy), never from the service's answer. The calls
listed in ``roman_helpers.sandbox.supported`` (the book's table) are run and checked in
``test_sandbox_fidelity.py``; this file covers the rest: many positions, every row's values,
band and time edges, the answer's shape, the proxy, and geometry on made-up images.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import requests
import trustme
from _irsa_support import (
    ARCSEC,
    BUCKET,
    COLLECTION,
    NOTEBOOK_COLUMNS,
    SIA_URL,
    TAP_URL,
    footprint_test,
    holding,
    keys,
    probe_positions,
    read_images,
)
from astropy.io.votable import parse_single_table

from roman_helpers.sandbox.data import Entry, Manifest
from roman_helpers.sandbox.services.irsa import COLUMNS, IrsaServer
from roman_helpers.sandbox.services.proxy import TlsProxy, refusal_message

# headers with MJD-OBS but no DATE-OBS (as OpenUniverse's): astropy notes the fix it makes
pytestmark = pytest.mark.filterwarnings("ignore::astropy.wcs.FITSFixedWarning")


@pytest.fixture(scope="module")
def sandbox_images(sandbox):
    """Every OpenUniverse image of the sandbox's S3, read back with s3fs + astropy: key -> headers."""
    return read_images(sandbox.s3.url)


@pytest.fixture
def irsa(sandbox_env):
    """astroquery's IRSA client set up as IRSA's OpenUniverse notebooks do."""
    from astroquery.ipac.irsa import IrsaClass

    client = IrsaClass()
    client.sia_url = SIA_URL
    client.tap_url = TAP_URL
    return client


# ------------------------------------------------------------------ through the proxy, astroquery
def test_query_sia_returns_exactly_the_images_holding_the_position(irsa, sandbox_images):
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    checked = hits = 0
    for ra, dec in probe_positions(sandbox_images):
        expected = holding(sandbox_images, ra, dec, 1 * ARCSEC)
        if expected is None:  # a probe on an edge says nothing either way; the others must agree
            continue
        table = irsa.query_sia(pos=(SkyCoord(ra, dec, unit="deg"), 1 * u.arcsec), collection=COLLECTION)
        assert keys(table) == expected, (ra, dec)
        assert len(table) == len(expected)
        checked += 1
        hits += bool(expected)
    assert checked >= 10 and 0 < hits < checked  # both kinds of probe were asked


def test_rows_describe_their_files(irsa, sandbox_images):
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from astropy.wcs import WCS

    key = next(iter(sandbox_images))
    sci, primary = sandbox_images[key]["sci"], sandbox_images[key]["primary"]
    ra, dec = WCS(sci).pixel_to_world_values((sci["NAXIS1"] - 1) / 2, (sci["NAXIS2"] - 1) / 2)
    table = irsa.query_sia(pos=(SkyCoord(ra, dec, unit="deg"), 1 * u.arcsec), collection=COLLECTION)
    row = table[[json.loads(v)["aws"]["key"] == key for v in table["cloud_access"]]][0]
    assert row["obs_id"] == Path(key).name.removesuffix(".fits.gz")
    assert row["energy_bandpassname"] == primary["FILTER"]
    assert (row["facility_name"], row["instrument_name"]) == (primary["TELESCOP"], primary["INSTRUME"])
    assert (row["s_xel1"], row["s_xel2"]) == (sci["NAXIS1"], sci["NAXIS2"])
    assert row["s_ra"] == pytest.approx(float(ra), abs=1e-9) and row["s_dec"] == pytest.approx(
        float(dec), abs=1e-9
    )
    assert row["dist_to_point"] < 1e-4  # pyvo sends a SkyCoord rounded to 4 decimals of a degree
    # s_fov is the diameter of the circle round the image: half the diagonal, twice
    diagonal = math.hypot(sci["NAXIS1"], sci["NAXIS2"]) * abs(sci["CD2_2"])
    assert row["s_fov"] == pytest.approx(diagonal, rel=1e-4)
    wavelength = int(primary["FILTER"][-3:]) / 100 * 1e-6  # F158: 1.58 micron, inside the band
    assert row["em_min"] < wavelength < row["em_max"]
    assert row["obs_collection"] == COLLECTION and row["dataproduct_type"] == "image"
    corners = np.array(row["s_region"].split()[2:], float).reshape(4, 2)
    x, y = WCS(sci).world_to_pixel_values(corners[:, 0], corners[:, 1])
    edges_x, edges_y = (
        [-0.5, -0.5, sci["NAXIS1"] - 0.5, sci["NAXIS1"] - 0.5],
        [-0.5, -0.5, sci["NAXIS2"] - 0.5, sci["NAXIS2"] - 0.5],
    )
    assert sorted(x) == pytest.approx(edges_x, abs=0.01) and sorted(y) == pytest.approx(edges_y, abs=0.01)


def test_band_constraint_keeps_the_images_whose_band_meets_it(irsa, sandbox_images):
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    ra, dec = probe_positions(sandbox_images)[0]
    position = (SkyCoord(ra, dec, unit="deg"), 1 * u.arcsec)
    every = irsa.query_sia(pos=position, collection=COLLECTION)
    assert len(set(every["energy_bandpassname"])) >= 2  # several bands hold this position
    for row in every:
        low, high = row["em_min"], row["em_max"]
        # just above this band's blue edge: this band for sure, others only if they reach there
        band = (low + 1e-9, low + 2e-9)  # metres
        kept = irsa.query_sia(pos=position, collection=COLLECTION, band=band)
        wanted = {r["obs_id"] for r in every if r["em_min"] <= low + 2e-9 and r["em_max"] >= low + 1e-9}
        assert set(kept["obs_id"]) == wanted and row["obs_id"] in wanted
        outside = irsa.query_sia(pos=position, collection=COLLECTION, band=(high + 1e-9, high + 2e-9))
        assert row["obs_id"] not in set(outside["obs_id"])


def test_malformed_parameters_raise_dal_query_error_with_the_reason(irsa, sandbox_env):
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from pyvo.dal import DALQueryError

    position = (SkyCoord(10, -44, unit="deg"), 1 * u.arcsec)
    with pytest.raises(DALQueryError, match="TIME: 'yesterday' is not a list of numbers"):
        irsa.query_sia(pos=position, collection=COLLECTION, TIME="yesterday")
    with pytest.raises(DALQueryError, match="POS: 'BOX 10 -44 1 1' is not a CIRCLE, RANGE or POLYGON"):
        irsa.query_sia(collection=COLLECTION, POS="BOX 10 -44 1 1")
    with pytest.raises(DALQueryError, match=r"POS: position \(400.0, -44.0\) is off the sky"):
        irsa.query_sia(collection=COLLECTION, POS="CIRCLE 400 -44 0.1")
    answer = requests.get(SIA_URL, params={"POS": "CIRCLE 10 -44"}, timeout=30)
    assert answer.status_code == 400 and 'value="ERROR"' in answer.text and "three numbers" in answer.text


def test_notebook_code_runs_on_the_answer(irsa, sandbox_images):
    """The column use of IRSA's OpenUniverse notebooks, verbatim in spirit, on a sandbox answer."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    ra, dec = probe_positions(sandbox_images)[0]
    results = irsa.query_sia(pos=(SkyCoord(ra, dec, unit="deg"), 1 * u.arcsec), collection=COLLECTION)
    survey = next(iter(sandbox_images)).split("/")[3].removeprefix("Roman")  # WAS or TDS
    band = str(results["energy_bandpassname"][0])
    chosen = results[
        [f"{survey}_simple_model" in r["obs_id"] and band in r["energy_bandpassname"] for r in results]
    ]
    is_band = np.char.strip(np.array(chosen["energy_bandpassname"], dtype=str)) == band
    chosen = chosen[is_band]
    chosen.sort("t_min")
    uris = [
        f"s3://{json.loads(c)['aws']['bucket_name']}/{json.loads(c)['aws']['key']}"
        for c in chosen["cloud_access"]
    ]
    not_on_edge = [r["dist_to_point"] < 0.45 * r["s_fov"] for r in chosen]
    assert len(uris) >= 1 and all(not_on_edge)
    assert all(u.startswith(f"s3://{BUCKET}/openuniverse2024/") for u in uris)
    for name in (*NOTEBOOK_COLUMNS, "obs_collection"):
        assert name in results.colnames
    assert results["s_ra"].dtype == np.float64 and results["t_min"].dtype == np.float64
    assert results["s_xel1"].dtype == np.int64 and results["calib_level"].dtype == np.int32
    assert isinstance(results["cloud_access"][0], str) and isinstance(results["obs_id"][0], str)


def test_pyvo_sia2_service_with_several_positions_and_records(sandbox_env, sandbox_images):
    from astropy import units as u
    from pyvo.dal import SIA2Service

    service = SIA2Service(SIA_URL)
    assert service.query_ep == SIA_URL  # from the VOSI capabilities
    probes = [p for p in probe_positions(sandbox_images) if holding(sandbox_images, *p, ARCSEC)]
    first, second = (
        probes[0],
        next(
            p
            for p in probes[1:]
            if holding(sandbox_images, *p, ARCSEC) != holding(sandbox_images, *probes[0], ARCSEC)
        ),
    )
    both = service.search(pos=[(*first, ARCSEC), (*second, ARCSEC)], collection=COLLECTION)
    assert keys(both.to_table()) == (
        holding(sandbox_images, *first, ARCSEC) | holding(sandbox_images, *second, ARCSEC)
    )
    record = both[0]
    assert record.s_fov.unit == u.deg and record.em_min.unit == u.m
    assert record.access_estsize.unit == u.byte and record.obs_collection == COLLECTION
    assert record.t_min is None or record.t_min.format == "mjd"


def test_answer_fields_match_the_obscore_response_pyvo_records():
    """Our column datatypes, units and UCDs against pyvo's recorded SIA v2 answer (tests/data)."""
    from astropy.io.votable import parse

    recorded = {
        f.name: f
        for f in parse(Path(__file__).with_name("data") / "sia2_obscore_pyvo.xml")
        .resources[0]
        .tables[0]
        .fields
    }
    shared = [c for c in COLUMNS if c[0] in recorded]
    assert len(shared) >= 25
    for name, datatype, _, unit, ucd, utype in shared:
        theirs = recorded[name]
        assert (datatype, unit or None, utype) == (
            theirs.datatype,
            str(theirs.unit) if theirs.unit else None,
            theirs.utype,
        ), name
        if name != "obs_publisher_did":  # ObsCore 1.1 gives meta.ref.uri; that recording has meta.ref.url
            assert ucd == theirs.ucd, name


# ------------------------------------------------------------------ the proxy
@pytest.mark.timeout(60)
def test_proxy_serves_irsa_and_refuses_other_hosts(sandbox_env):
    capabilities = requests.get(SIA_URL + "/capabilities", timeout=30)
    assert (
        capabilities.status_code == 200
        and 'standardID="ivo://ivoa.net/std/SIA#query-2.0"' in capabilities.text
    )
    plain = requests.get("http://irsa.ipac.caltech.edu/simulated/SIA/availability", timeout=30)
    assert plain.status_code == 200 and "<vosi:available>true" in plain.text
    for host in ("irsa.ipac.caltech.edu.example.org", "caltech.edu"):
        with pytest.raises(requests.exceptions.ProxyError, match=f"host {host} is not served"):
            requests.get(f"https://{host}/simulated/SIA/capabilities", timeout=10)
        assert sandbox_env.proxy.refused[-1] == host
    refused = requests.get("http://ipac.caltech.edu/SIA", timeout=10)
    assert refused.status_code == 403 and refused.text.strip() == refusal_message("ipac.caltech.edu")


@pytest.mark.timeout(60)
def test_proxy_routes_each_host_to_its_own_service():
    seen = {}

    def app_for(name):
        def app(environ, start_response):
            seen[name] = environ["PATH_INFO"]
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [name.encode()]

        return app

    from roman_helpers.sandbox.services._service import serve_wsgi

    one, two = (
        serve_wsgi(app_for("one"), "127.0.0.1", 0, "one"),
        serve_wsgi(app_for("two"), "127.0.0.1", 0, "two"),
    )
    try:
        with TlsProxy(
            {"one.example": ("127.0.0.1", one.server_port), "two.example": ("127.0.0.1", two.server_port)},
            trustme.CA(),
        ) as proxy:
            proxies = {"http": proxy.url}
            assert requests.get("http://two.example/b", proxies=proxies, timeout=10).text == "two"
            assert requests.get("http://one.example/a", proxies=proxies, timeout=10).text == "one"
            assert requests.get("http://three.example/c", proxies=proxies, timeout=10).status_code == 403
        assert seen == {"one": "/a", "two": "/b"}
    finally:
        for server in (one, two):
            server.shutdown()
            server.server_close()


# ------------------------------------------------------------------ geometry and time on made-up images
# Time-domain images written for these tests: big (about 1 degree) footprints across RA 0, round the
# south pole and tilted, and epochs at known MJDs, served by the same application on loopback.
LOCAL_IMAGES = {  # (band, pointing, sca): (ra, dec, rotation deg, MJD-OBS)
    ("J129", "101", 1): (359.8, 10.0, 0.0, 62000.5),
    ("J129", "102", 2): (45.0, -89.8, 0.0, 62001.5),
    ("J129", "103", 3): (150.0, 2.0, 0.0, 62010.5),
    ("J129", "104", 3): (150.0, 2.0, 0.0, 62020.5),
    ("H158", "105", 3): (150.0, 2.0, 30.0, 62015.5),
}
LOCAL_SIDE = 64
LOCAL_PIXEL = 1.0 / LOCAL_SIDE


def _write_local_image(
    path: Path, ra: float, dec: float, rotation: float, mjd: float, band: str, sca: int
) -> None:
    from astropy.io import fits

    from roman_helpers.sandbox import synth

    header = synth.tan_header((LOCAL_SIDE, LOCAL_SIDE), ra, dec, LOCAL_PIXEL)
    angle = math.radians(rotation)
    header["CD1_1"], header["CD1_2"] = -LOCAL_PIXEL * math.cos(angle), LOCAL_PIXEL * math.sin(angle)
    header["CD2_1"], header["CD2_2"] = LOCAL_PIXEL * math.sin(angle), LOCAL_PIXEL * math.cos(angle)
    header.update({"MJD-OBS": mjd, "EXPTIME": 139.8, "FILTER": band, "SCA_NUM": sca})
    primary = fits.PrimaryHDU()
    primary.header.update(TELESCOP="Roman", INSTRUME="WFI")
    image = np.zeros((LOCAL_SIDE, LOCAL_SIDE), np.float32)
    synth.write_gzip_fits(
        fits.HDUList(
            [
                primary,
                fits.ImageHDU(image, header=header, name="SCI"),
                fits.ImageHDU(image, header=header, name="ERR"),
                fits.ImageHDU(image.astype(np.int32), header=header, name="DQ"),
            ]
        ),
        path,
    )


@pytest.fixture(scope="module")
def local_service(tmp_path_factory):
    from astropy.io import fits

    root = tmp_path_factory.mktemp("irsa-images")
    entries, headers = [], {}
    for (band, pointing, sca), (ra, dec, rotation, mjd) in LOCAL_IMAGES.items():
        key = (
            f"openuniverse2024/roman/full/RomanTDS/images/simple_model/{band}/{pointing}/"
            f"Roman_TDS_simple_model_{band}_{pointing}_{sca}.fits.gz"
        )
        path = root / key
        path.parent.mkdir(parents=True)
        _write_local_image(path, ra, dec, rotation, mjd, band, sca)
        entries.append(Entry(BUCKET, key, key, path.stat().st_size, "", True))
        with fits.open(path) as hdul:
            headers[key] = {"primary": hdul[0].header.copy(), "sci": hdul[1].header.copy()}
    session = requests.Session()
    session.trust_env = False  # straight to loopback, whatever proxy the environment names
    with IrsaServer(Manifest(root, entries)) as server:
        yield server, headers, session


def _local_search(local_service, **constraints):
    from pyvo.dal import SIA2Service

    server, _, session = local_service
    service = SIA2Service(f"{server.url}/simulated/SIA", session=session)
    return service.search(collection=COLLECTION, **constraints).to_table()


@pytest.mark.parametrize(
    ("ra", "dec"),
    [
        (359.9, 10.0),
        (0.2, 10.1),
        (359.45, 9.6),
        (0.0, 10.0),
        (45.0, -90.0),
        (200.0, -89.5),
        (317.0, -89.9),
        (150.0, 2.0),
        (150.4, 2.3),
        (149.7, 1.65),
        (150.47, 2.0),
        (151.0, 2.0),
        (10.0, -89.0),
    ],
)
def test_cone_matching_across_ra_zero_round_the_pole_and_tilted(local_service, ra, dec):
    _, headers, _ = local_service
    expected = holding(headers, ra, dec, ARCSEC)
    assert expected is not None, "probe too close to an edge"
    assert keys(_local_search(local_service, pos=(ra, dec, ARCSEC))) == expected


def test_probes_above_cover_every_local_image(local_service):
    _, headers, _ = local_service
    probes = [(359.9, 10.0), (45.0, -90.0), (150.0, 2.0)]
    covered = set().union(*(holding(headers, ra, dec, ARCSEC) for ra, dec in probes))
    assert covered == set(headers)


def test_range_wraps_through_ra_zero_and_polygon_holds_the_pole(local_service):
    server, headers, session = local_service
    straddle = next(k for k in headers if "_101_" in k)
    pole = next(k for k in headers if "_102_" in k)
    east_of_zero = keys(_local_search(local_service, pos=(0.1, 0.2, 9.9, 10.1)))  # RANGE from pyvo
    assert east_of_zero == {straddle}
    answer = session.get(
        f"{server.url}/simulated/SIA", params={"POS": "RANGE 359.5 0.5 9.9 10.1"}, timeout=30
    )
    table = parse_single_table(io.BytesIO(answer.content)).to_table()
    assert keys(table) == {straddle}
    # the straddling image lies between RA 359.0 and 0.5 (through 0), so a box from 359.0 the short
    # way round to 0.2 meets it, and the box from 0.5 the long way round to 359.0 does not
    from astropy.wcs import WCS

    edge = np.linspace(-0.5, LOCAL_SIDE - 0.5, 50)
    ras, _ = WCS(headers[straddle]["sci"]).pixel_to_world_values(
        np.r_[edge, edge], np.r_[edge * 0 - 0.5, edge]
    )
    assert np.all((ras > 359.0) | (ras < 0.5)) and np.any(ras > 359.5) and np.any(ras < 0.1)
    for shape, expected in (("RANGE 359.0 0.2 9.9 10.1", {straddle}), ("RANGE 0.5 359.0 9.9 10.1", set())):
        answer = session.get(f"{server.url}/simulated/SIA", params={"POS": shape}, timeout=30)
        assert keys(parse_single_table(io.BytesIO(answer.content)).to_table()) == expected, shape
    assert keys(_local_search(local_service, pos=(0, 360, -90, -89.9))) == {pole}
    ring = (0, -89.7, 90, -89.7, 180, -89.7, 270, -89.7)  # round the pole, holding it
    assert keys(_local_search(local_service, pos=ring)) == {pole}
    assert keys(_local_search(local_service, pos=(0, 360, -90, 90))) == set(headers)


def test_time_and_band_constraints_on_epochs(local_service):
    from astropy import units as u
    from astropy.time import Time

    _, headers, _ = local_service
    field = [k for k in headers if footprint_test(headers[k]["sci"])(150.0, 2.0, 0)]
    assert len(field) == 3
    window = (Time(62005, format="mjd"), Time(62016, format="mjd"))
    expected = {k for k in field if 62005 <= headers[k]["sci"]["MJD-OBS"] <= 62016}
    table = _local_search(local_service, pos=(150.0, 2.0, ARCSEC), time=window)
    assert keys(table) == expected and len(expected) == 2
    assert list(table["t_min"]) == list(table["t_max"])  # single exposures: t_min = t_max = MJD-OBS
    assert {round(t, 6) for t in table["t_min"]} == {headers[k]["sci"]["MJD-OBS"] for k in expected}
    j_only = _local_search(local_service, pos=(150.0, 2.0, ARCSEC), band=(1.29e-6 * u.m, 1.30e-6 * u.m))
    assert keys(j_only) == {k for k in field if headers[k]["sci"]["FILTER"] == "J129"}
    h_by_frequency = _local_search(
        local_service, pos=(150.0, 2.0, ARCSEC), band=(1.9e14 * u.Hz, 1.91e14 * u.Hz)
    )
    assert set(h_by_frequency["energy_bandpassname"]) == {"H158"}  # 1.58 micron is 1.897e14 Hz
    open_ended = _local_search(
        local_service, pos=(150.0, 2.0, ARCSEC), time=(Time(62012, format="mjd"), Time(70000, format="mjd"))
    )
    assert keys(open_ended) == {k for k in field if headers[k]["sci"]["MJD-OBS"] >= 62012}


def test_other_constraints_and_post(local_service):
    server, headers, session = local_service
    assert len(_local_search(local_service, calib_level=2)) == len(headers)
    assert len(_local_search(local_service, calib_level=3)) == 0
    assert len(_local_search(local_service, facility="Roman", instrument="WFI", data_type="image")) == len(
        headers
    )
    assert len(_local_search(local_service, facility="Rubin")) == 0
    assert len(_local_search(local_service, exptime=(100, 200))) == len(headers)
    assert len(_local_search(local_service, exptime=(200, 300))) == 0
    assert len(_local_search(local_service, pol="I")) == 0
    by_get = session.get(f"{server.url}/simulated/SIA", params={"POS": "CIRCLE 150 2 0.001"}, timeout=30)
    by_post = session.post(f"{server.url}/simulated/SIA", data={"pos": "CIRCLE 150 2 0.001"}, timeout=30)
    assert by_get.status_code == by_post.status_code == 200 and by_get.content == by_post.content
    bad = session.get(f"{server.url}/simulated/SIA", params={"MAXREC": "-1"}, timeout=30)
    assert bad.status_code == 400 and "MAXREC" in bad.text


def test_a_cone_meets_an_image_it_overlaps_without_holding_its_centre(local_service):
    from astropy.wcs import WCS

    _, headers, _ = local_service
    upright = [
        k
        for k in headers
        if footprint_test(headers[k]["sci"])(150.0, 2.0, 0) and headers[k]["sci"]["CD1_2"] == 0
    ]
    assert len(upright) == 2
    # 0.01 degree east of the images' east edge (pixel x = -0.5), along the middle row
    edge_ra, edge_dec = WCS(headers[upright[0]]["sci"]).pixel_to_world_values(-0.5, (LOCAL_SIDE - 1) / 2)
    ra, dec = float(edge_ra) + 0.01 / math.cos(math.radians(float(edge_dec))), float(edge_dec)
    assert not any(footprint_test(headers[k]["sci"])(ra, dec, 0.005) for k in upright)
    reaching = keys(_local_search(local_service, pos=(ra, dec, 0.011)))
    short = keys(_local_search(local_service, pos=(ra, dec, 0.009)))
    assert set(upright) <= reaching and not set(upright) & short
