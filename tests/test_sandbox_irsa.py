"""The sandbox's IRSA image search, through the real clients (astroquery.ipac.irsa, pyvo).

Expectations come from the archive layouts' image records (the catalog the survey designs give),
tested by another method than the service's (tests/_irsa_support.py: outlines projected onto the
tangent plane), and from the images' own headers read back from S3 with astropy. The calls
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
    RUBIN_COLLECTION,
    SIA_URL,
    TAP_URL,
    footprint_test,
    header_value,
    holding,
    keys,
    probe_positions,
    read_headers,
    sky_records,
)
from astropy.io.votable import parse_single_table

from roman_helpers.sandbox.archive.registry import SEE_BOOK, FileArchive
from roman_helpers.sandbox.services.irsa import COLUMNS, IrsaServer
from roman_helpers.sandbox.services.proxy import TlsProxy, refusal_message

# headers with MJD-OBS but no DATE-OBS (as OpenUniverse's): astropy notes the fix it makes
pytestmark = pytest.mark.filterwarnings("ignore::astropy.wcs.FITSFixedWarning")
#: A cone small enough that, among the hundreds of Time Domain Survey epochs over one place, few
#: image edges pass within it: most probes then say something either way.
SMALL = 0.05 * ARCSEC


@pytest.fixture(scope="module")
def geometry():
    """Every image record's outline, parsed once (the expectations' catalog)."""
    return sky_records()


@pytest.fixture
def irsa(sandbox_env):
    """astroquery's IRSA client set up as IRSA's OpenUniverse notebooks do."""
    from astroquery.ipac.irsa import IrsaClass

    client = IrsaClass()
    client.sia_url = SIA_URL
    client.tap_url = TAP_URL
    return client


def _cone(irsa, ra: float, dec: float, radius: float, **constraints):
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    return irsa.query_sia(pos=(SkyCoord(ra, dec, unit="deg"), radius * u.deg), **constraints)


# ------------------------------------------------------------------ through the proxy, astroquery
def test_query_sia_returns_exactly_the_images_whose_footprints_meet_the_cone(irsa, geometry):
    checked = hits = 0
    beyond = [(14.0, -44.0), (9.45, -41.5)]  # degrees outside the mirrored fields: nothing there
    for ra, dec in [*probe_positions(geometry.records, every=6553)[:30], *beyond]:
        for radius in (SMALL, 20 * ARCSEC):
            must, may = geometry.cone(ra, dec, radius)
            found = keys(_cone(irsa, ra, dec, radius, collection=COLLECTION))
            assert must <= found <= may, (ra, dec, radius)
            assert len(may - must) <= 2  # few edges pass within a micro-degree of a cone's rim
            checked += 1
            hits += bool(must)
    assert checked >= 20 and 0 < hits < checked  # both kinds of probe were asked


def test_rows_describe_their_files(irsa, sandbox, geometry):
    """A TDS, a WAS and a Rubin image: each row's values against the file's own header."""
    from astropy.wcs import WCS

    records = geometry.records
    chosen = [
        next(i for i, name in enumerate(records["obs_id"]) if "TDS_simple_model" in str(name)),
        next(i for i, name in enumerate(records["obs_id"]) if "WAS_simple_model" in str(name)),
        int(np.flatnonzero(records["obs_collection"] == RUBIN_COLLECTION)[0]),
    ]
    for index in chosen:
        key = json.loads(str(records["cloud_access"][index]))["aws"]["key"]
        headers = read_headers(sandbox.s3.url, key)
        sci = headers["sci"]
        wcs = WCS(sci)
        ra, dec = (
            float(v) for v in wcs.pixel_to_world_values((sci["NAXIS1"] - 1) / 2, (sci["NAXIS2"] - 1) / 2)
        )
        collection = str(records["obs_collection"][index])
        table = _cone(irsa, round(ra, 4), round(dec, 4), ARCSEC, collection=collection)
        row = table[[json.loads(v)["aws"]["key"] == key for v in table["cloud_access"]]][0]
        assert row["obs_id"] == Path(key).name.removesuffix(".gz").removesuffix(".fits")
        assert (row["s_xel1"], row["s_xel2"]) == (sci["NAXIS1"], sci["NAXIS2"])
        assert row["s_ra"] == pytest.approx(ra, abs=1e-7) and row["s_dec"] == pytest.approx(dec, abs=1e-7)
        corners = np.array(row["s_region"].split()[2:], float).reshape(4, 2)
        x, y = wcs.world_to_pixel_values(corners[:, 0], corners[:, 1])
        edges_x = [-0.5, -0.5, sci["NAXIS1"] - 0.5, sci["NAXIS1"] - 0.5]
        edges_y = [-0.5, -0.5, sci["NAXIS2"] - 0.5, sci["NAXIS2"] - 0.5]
        assert sorted(x) == pytest.approx(edges_x, abs=0.01) and sorted(y) == pytest.approx(edges_y, abs=0.01)
        diagonal = math.hypot(sci["NAXIS1"], sci["NAXIS2"]) * math.sqrt(
            abs(np.linalg.det(wcs.pixel_scale_matrix))
        )
        assert row["s_fov"] == pytest.approx(diagonal, rel=1e-3)  # the circle round the image: a diameter
        band = str(header_value(headers, "FILTER", header_value(headers, "BAND", ""))).strip()
        if band:
            assert row["energy_bandpassname"] == band
        from roman_helpers.sandbox.sky.bands import band as passband

        pivot = passband(str(row["energy_bandpassname"])).pivot * 1e-6
        assert row["em_min"] < pivot < row["em_max"]
        assert row["obs_collection"] == collection and row["dataproduct_type"] == "image"


def test_band_constraint_keeps_the_images_whose_band_meets_it(irsa, geometry):
    ra, dec = 9.8, -44.02
    every = _cone(irsa, ra, dec, SMALL, collection=COLLECTION)
    assert len(set(every["energy_bandpassname"])) >= 2  # several bands hold this position
    for name in sorted(set(every["energy_bandpassname"])):
        row = every[every["energy_bandpassname"] == name][0]
        low, high = row["em_min"], row["em_max"]
        # just above this band's blue edge: this band for sure, others only if they reach there
        kept = _cone(irsa, ra, dec, SMALL, collection=COLLECTION, band=(low + 1e-9, low + 2e-9))
        wanted = {r["obs_id"] for r in every if r["em_min"] <= low + 2e-9 and r["em_max"] >= low + 1e-9}
        assert set(kept["obs_id"]) == wanted and row["obs_id"] in wanted
        outside = _cone(irsa, ra, dec, SMALL, collection=COLLECTION, band=(high + 1e-9, high + 2e-9))
        assert row["obs_id"] not in set(outside["obs_id"])


def test_time_constraint_keeps_the_epochs_in_the_window(irsa, geometry):
    every = _cone(irsa, 9.8, -44.02, SMALL, collection=COLLECTION)
    times = np.sort(np.asarray(every["t_min"], float))
    assert len(times) > 20  # the Time Domain Survey images one place again and again
    low, high = float(times[len(times) // 4]), float(times[len(times) // 2])
    from astropy.time import Time

    window = _cone(
        irsa,
        9.8,
        -44.02,
        SMALL,
        collection=COLLECTION,
        time=(Time(low, format="mjd"), Time(high, format="mjd")),
    )
    expected = {r["obs_id"] for r in every if r["t_min"] <= high and r["t_max"] >= low}
    assert set(window["obs_id"]) == expected and 0 < len(expected) < len(every)


def test_the_rubin_collection_holds_one_coadd_per_filter(irsa, geometry):
    records = geometry.records
    rubin = records[records["obs_collection"] == RUBIN_COLLECTION]
    ra, dec = round(float(rubin["s_ra"][0]), 4), round(float(rubin["s_dec"][0]), 4)
    found = _cone(irsa, ra, dec, ARCSEC, collection=RUBIN_COLLECTION)
    assert sorted(found["energy_bandpassname"]) == sorted("ugrizy")
    assert set(found["facility_name"]) == {"Rubin"}


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


def test_empty_answers_say_what_the_sandbox_holds(sandbox_env):
    from pyvo.dal import SIA2Service

    service = SIA2Service(SIA_URL)
    unknown = service.search(pos=(9.8, -44.02, 0.01), collection="simulated_spherex_nosuchthing")
    status, message = unknown.status
    assert len(unknown) == 0 and status == "OK"
    assert "does not mirror the collection simulated_spherex_nosuchthing" in message
    assert COLLECTION in message and RUBIN_COLLECTION in message and message.endswith(SEE_BOOK)
    elsewhere = service.search(pos=(200.0, 30.0, 0.01), collection=COLLECTION)
    assert (
        len(elsewhere) == 0 and "Nothing in the roman-helpers offline sandbox matches" in elsewhere.status[1]
    )
    observed = SIA2Service("https://irsa.ipac.caltech.edu/SIA").search(pos=(9.8, -44.02, 0.01))
    assert len(observed) == 0 and "only IRSA's simulated-data image search" in observed.status[1]
    other = requests.get("https://irsa.ipac.caltech.edu/SSA?POS=10,-44", timeout=30)
    assert other.status_code == 404 and SEE_BOOK in other.text


def test_collections_are_what_the_records_hold(irsa, geometry):
    listed = irsa.list_collections(servicetype="SIA")
    assert (
        set(listed["collection"]) == set(geometry.records["obs_collection"]) == {COLLECTION, RUBIN_COLLECTION}
    )


def test_image_bytes_over_https_are_the_buckets(sandbox_env, geometry):
    import s3fs

    records = geometry.records
    row = records[0]
    key = json.loads(str(row["cloud_access"]))["aws"]["key"]
    part = requests.get(str(row["access_url"]), headers={"Range": "bytes=1000-4999"}, timeout=120)
    assert part.status_code == 206 and part.headers["Content-Range"].startswith("bytes 1000-4999/")
    size = int(part.headers["Content-Range"].rsplit("/", 1)[1])
    fs = s3fs.S3FileSystem(anon=True)
    assert part.content == fs.cat_file(f"{BUCKET}/{key}", start=1000, end=5000)
    assert size == fs.info(f"{BUCKET}/{key}")["size"] and math.ceil(size / 1000) == row["access_estsize"]


def test_notebook_code_runs_on_the_answer(irsa, geometry):
    """The column use of IRSA's OpenUniverse notebooks, verbatim in spirit, on a sandbox answer."""
    results = _cone(irsa, 9.8, -44.02, ARCSEC, collection=COLLECTION)
    band = str(results["energy_bandpassname"][0])
    chosen = results[
        ["TDS_simple_model" in r["obs_id"] and band in r["energy_bandpassname"] for r in results]
    ]
    is_band = np.char.strip(np.array(chosen["energy_bandpassname"], dtype=str)) == band
    chosen = chosen[is_band]
    chosen.sort("t_min")
    uris = [
        f"s3://{json.loads(c)['aws']['bucket_name']}/{json.loads(c)['aws']['key']}"
        for c in chosen["cloud_access"]
    ]
    from astropy.coordinates import SkyCoord

    centres = SkyCoord(chosen["s_ra"], chosen["s_dec"], unit="deg")
    separation = centres.separation(SkyCoord(9.8, -44.02, unit="deg")).deg
    assert np.allclose(chosen["dist_to_point"], separation, atol=1e-9)  # degrees to each image's centre
    kept = chosen[chosen["dist_to_point"] < 0.45 * chosen["s_fov"]]  # the TDE notebook's cut: clear of edges
    assert len(uris) >= len(kept) >= 10
    assert all(u.startswith(f"s3://{BUCKET}/openuniverse2024/") for u in uris)
    for name in (*NOTEBOOK_COLUMNS, "obs_collection"):
        assert name in results.colnames
    assert results["s_ra"].dtype == np.float64 and results["t_min"].dtype == np.float64
    assert results["s_xel1"].dtype == np.int64 and results["calib_level"].dtype == np.int32
    assert isinstance(results["cloud_access"][0], str) and isinstance(results["obs_id"][0], str)


def test_pyvo_sia2_service_with_several_positions_and_records(sandbox_env, geometry):
    from astropy import units as u
    from pyvo.dal import SIA2Service

    service = SIA2Service(SIA_URL)
    assert service.query_ep == SIA_URL  # from the VOSI capabilities
    first, second = (9.8, -44.02), (9.3, -44.1)
    one, two = geometry.cone(*first, SMALL), geometry.cone(*second, SMALL)
    both = service.search(pos=[(*first, SMALL), (*second, SMALL)], collection=COLLECTION)
    found = keys(both.to_table())
    assert one[0] | two[0] <= found <= one[1] | two[1] and one[0] - two[1]
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

    from roman_helpers.sandbox.services.serving import serve_wsgi

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
    from files import tan_header, write_gzip_fits  # bench/files.py

    header = tan_header((LOCAL_SIDE, LOCAL_SIDE), ra, dec, LOCAL_PIXEL)
    angle = math.radians(rotation)
    header["CD1_1"], header["CD1_2"] = -LOCAL_PIXEL * math.cos(angle), LOCAL_PIXEL * math.sin(angle)
    header["CD2_1"], header["CD2_2"] = LOCAL_PIXEL * math.sin(angle), LOCAL_PIXEL * math.cos(angle)
    header.update({"MJD-OBS": mjd, "EXPTIME": 139.8, "FILTER": band, "SCA_NUM": sca})
    primary = fits.PrimaryHDU()
    primary.header.update(TELESCOP="Roman", INSTRUME="WFI")
    image = np.zeros((LOCAL_SIDE, LOCAL_SIDE), np.float32)
    write_gzip_fits(
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


def _record(key: str, headers: dict, size: int) -> dict:
    """The image-search row a layout would give this made-up image, worked out from its header."""
    from astropy.wcs import WCS

    from roman_helpers.sandbox.sky.bands import band

    sci, primary = headers["sci"], headers["primary"]
    wcs = WCS(sci)
    n = sci["NAXIS1"]
    ra, dec = wcs.pixel_to_world_values([-0.5, n - 0.5, n - 0.5, -0.5], [-0.5, -0.5, n - 0.5, n - 0.5])
    centre = wcs.pixel_to_world_values((n - 1) / 2, (n - 1) / 2)
    passband = band(sci["FILTER"])
    name = Path(key).name.removesuffix(".fits.gz")
    return {
        "s_ra": float(centre[0]) % 360,
        "s_dec": float(centre[1]),
        "facility_name": primary["TELESCOP"],
        "instrument_name": primary["INSTRUME"],
        "calib_level": 2,
        "dataproduct_type": "image",
        "energy_bandpassname": sci["FILTER"],
        "obs_id": name,
        "em_min": passband.wavelength_min * 1e-6,
        "em_max": passband.wavelength_max * 1e-6,
        "access_url": f"https://irsa.ipac.caltech.edu/data/theory/{key}",
        "access_format": "application/fits",
        "access_estsize": math.ceil(size / 1000),
        "t_exptime": sci["EXPTIME"],
        "s_region": "POLYGON ICRS "
        + " ".join(f"{r % 360:.10f} {d:.10f}" for r, d in zip(ra, dec, strict=True)),
        "obs_collection": COLLECTION,
        "s_xel1": n,
        "s_xel2": n,
        "t_min": sci["MJD-OBS"],
        "t_max": sci["MJD-OBS"],
        "obs_publisher_did": f"ivo://irsa.ipac/{COLLECTION}?{name}",
        "cloud_access": json.dumps({"aws": {"bucket_name": BUCKET, "key": key, "region": "us-east-1"}}),
    }


@pytest.fixture(scope="module")
def local_service(tmp_path_factory):
    from astropy.io import fits
    from astropy.table import Table

    root = tmp_path_factory.mktemp("irsa-images")
    files, headers, rows = [], {}, []
    for (band, pointing, sca), (ra, dec, rotation, mjd) in LOCAL_IMAGES.items():
        key = (
            f"openuniverse2024/roman/full/RomanTDS/images/simple_model/{band}/{pointing}/"
            f"Roman_TDS_simple_model_{band}_{pointing}_{sca}.fits.gz"
        )
        path = root / key
        path.parent.mkdir(parents=True)
        _write_local_image(path, ra, dec, rotation, mjd, band, sca)
        files.append((BUCKET, key, path))
        with fits.open(path) as hdul:
            headers[key] = {"primary": hdul[0].header.copy(), "sci": hdul[1].header.copy()}
        rows.append(_record(key, headers[key], path.stat().st_size))
    session = requests.Session()
    session.trust_env = False  # straight to loopback, whatever proxy the environment names
    records = Table(rows=rows)
    with IrsaServer(records, FileArchive(files)) as server:
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
    expected = holding({k: footprint_test(h["sci"]) for k, h in headers.items()}, ra, dec, ARCSEC)
    assert expected is not None, "probe too close to an edge"
    assert keys(_local_search(local_service, pos=(ra, dec, ARCSEC))) == expected


def test_probes_above_cover_every_local_image(local_service):
    _, headers, _ = local_service
    probes = [(359.9, 10.0), (45.0, -90.0), (150.0, 2.0)]
    tests = {k: footprint_test(h["sci"]) for k, h in headers.items()}
    covered = set().union(*(holding(tests, ra, dec, ARCSEC) for ra, dec in probes))
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


def test_local_image_bytes_by_range_and_a_missing_one_explained(local_service):
    server, headers, session = local_service
    key = next(iter(headers))
    url = f"{server.url}/data/theory/{key}"
    whole = session.get(url, timeout=30)
    part = session.get(url, headers={"Range": "bytes=10-109"}, timeout=30)
    assert whole.status_code == 200 and part.status_code == 206 and part.content == whole.content[10:110]
    assert int(session.head(url, timeout=30).headers["Content-Length"]) == len(whole.content)
    missing = session.get(f"{server.url}/data/theory/openuniverse2024/nothing.fits", timeout=30)
    assert missing.status_code == 404 and SEE_BOOK in missing.text
