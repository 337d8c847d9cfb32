"""MAST Missions for Roman under the offline sandbox, through the real astroquery 0.4.11.

What the answers are checked against, computed here and not by the service:

* which datasets hold a position: the CCS manifests' rows (``ccs.manifest``), each detector's
  WCS as an astropy ``WCS`` (``wfi.wcs``, Roman convention) and ``world_to_pixel``: the pixel
  must fall on the detector's 4088 x 4088 pixels;
* criteria: the manifest's columns, filtered with NumPy;
* products: the keys beside each dataset in the layout and their sizes as S3 gives them (s3fs);
* downloads: the bytes S3 serves for the same key, and the S3 server's own record of the
  presigned request.

Downloads use the 300 x 300 ``_thumb.png`` previews: no full-size file is moved.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import astropy.units as u
import numpy as np
import pytest
import requests
import s3fs
from astropy.coordinates import SkyCoord
from astroquery.exceptions import InvalidQueryError, LoginError
from astroquery.mast import MastMissions

from roman_helpers.sandbox.services.s3_app import presign_url
from roman_helpers.sandbox.sky import wfi
from roman_helpers.sandbox.sky.surveys import ccs

# a search with limit=n that finds n rows warns that there may be more: that is what those ask for
pytestmark = pytest.mark.filterwarnings("ignore::astroquery.exceptions.MaxResultsWarning")

BUCKET = "stpubdata"
WEB = f"https://{BUCKET}.s3.amazonaws.com"
SUFFIXES = ("uncal.asdf", "cal.asdf", "preview.png", "thumb.png")


def _stem(l2_uri: str) -> str:
    return l2_uri.rsplit("/", 1)[1].removesuffix("_cal.asdf")


def _holding(ra: float, dec: float) -> tuple[set[str], float]:
    """Datasets whose detector pixels hold (ra, dec), by each detector's astropy WCS; and the
    smallest distance of the position from any candidate's pixel edge (pixels).

    One astropy WCS per detector and position angle, moved to each row's reference position
    (its ``CRVAL``, the manifest's ``detector_ra/dec``): the same projection ``wfi.wcs`` gives
    every file, made about 20 times faster than building one per row."""
    target = SkyCoord(ra, dec, unit="deg")
    found, closest, templates = set(), np.inf, {}
    for program in ccs.PROGRAMS:
        table = ccs.manifest(program)
        centres = SkyCoord(table["detector_ra"], table["detector_dec"], unit="deg")
        near = np.flatnonzero(centres.separation(target) < 0.1 * u.deg)  # half a diagonal is 0.088 deg
        for row in table[near]:
            detector, pa = int(str(row["detector"])[3:]), float(row["wfi_pa"])
            if (detector, pa) not in templates:
                templates[detector, pa] = wfi.wcs(
                    row["wfi_ra"], row["wfi_dec"], pa, detector, convention="roman"
                )
            w = templates[detector, pa]
            w.wcs.crval = [float(row["detector_ra"]), float(row["detector_dec"])]
            w.wcs.set()
            x, y = (float(v) for v in w.world_to_pixel_values(ra, dec))
            edge = min(x + 0.5, y + 0.5, wfi.DETECTOR_SIDE - 0.5 - x, wfi.DETECTOR_SIDE - 0.5 - y)
            closest = min(closest, abs(edge))
            if edge > 0:
                found.add(_stem(str(row["l2_s3_uri"])))
    return found, closest


def _gbtds_position() -> tuple[float, float]:
    """A position 0.01 degree off the centre of WFI05 in the first F146 exposure of the bulge survey."""
    table = ccs.manifest("r00340")
    row = table[(table["optical_element"] == "F146") & (table["detector"] == "WFI05")][0]
    return float(row["detector_ra"]) + 0.01, float(row["detector_dec"]) - 0.01


POSITIONS = {"hlwas": (9.0, -44.0), "gbtds": _gbtds_position()}


@pytest.fixture
def missions(sandbox_env):
    return MastMissions(mission="roman")


@pytest.mark.parametrize("survey", sorted(POSITIONS))
def test_a_position_finds_exactly_the_detectors_whose_pixels_hold_it(missions, survey):
    ra, dec = POSITIONS[survey]
    expected, closest = _holding(ra, dec)
    assert closest > 0.01  # not on a pixel edge, where two methods could round differently
    found = missions.query_region(SkyCoord(ra, dec, unit="deg"), radius=0)
    assert set(found["fileSetName"]) == expected
    assert len(found) == len(expected) > 50
    assert {"search_pos", "ang_sep"} <= set(found.colnames)
    assert np.all(np.diff(found["ang_sep"]) >= 0)  # nearest reference position first, as MAST sorts


def test_criteria_filter_as_the_manifest_says(missions):
    table = ccs.manifest("r00342")
    keep = (
        (table["optical_element"] == "F213")
        & np.isin(table["detector"], ["WFI01", "WFI02"])
        & (table["visit"] != 1)
        & (table["exposure"] >= 1)
        & (table["exposure"] <= 2)
    )
    expected = {_stem(str(uri)) for uri in table["l2_s3_uri"][keep]}
    found = missions.query_criteria(
        program=342, optical_element="F213", detector=["WFI01", "WFI02"], visit="!1", exposure="1..2"
    )
    assert set(found["fileSetName"]) == expected and len(found) == len(expected) > 100
    found = missions.query_criteria(fileSetName="r00342*_wfi18_f062", exposure_time=">290")
    assert set(found["fileSetName"]) == {
        _stem(str(uri))
        for uri, d, f in zip(table["l2_s3_uri"], table["detector"], table["optical_element"], strict=True)
        if d == "WFI18" and f == "F062"
    }


def test_position_and_criteria_together_and_a_time_range(missions):
    ra, dec = POSITIONS["gbtds"]
    holding, _ = _holding(ra, dec)
    table = ccs.manifest("r00340")
    in_range = {
        _stem(str(uri))
        for uri, t in zip(table["l2_s3_uri"], table["start_time"], strict=True)
        if "2027-09-03" <= str(t) <= "2027-09-04"
    }
    found = missions.query_criteria(
        coordinates=SkyCoord(ra, dec, unit="deg"), radius=0, start_time="2027-09-03..2027-09-04"
    )
    assert set(found["fileSetName"]) == holding & in_range and len(found) > 20


def test_the_column_list_and_unknown_criteria(missions):
    columns = missions.get_column_list()
    kinds = dict(zip(columns["name"], columns["data_type"], strict=True))
    assert kinds["fileSetName"] == "string" and kinds["program"] == kinds["pass"] == "integer"
    assert kinds["start_time"] == "datetime" and kinds["ra_ref"] == "float"
    with pytest.raises(InvalidQueryError, match="Did you mean 'optical_element'"):
        missions.query_criteria(optical_elements="F146")


def test_product_lists_are_the_files_beside_each_dataset(missions):
    datasets = missions.query_criteria(program=340, optical_element="F087", detector="WFI07", limit=3)
    products = missions.get_product_list(datasets)
    stems = set(datasets["fileSetName"])
    assert len(stems) == 3
    assert {str(name) for name in products["filename"]} == {f"{s}_{x}" for s in stems for x in SUFFIXES}
    fs = s3fs.S3FileSystem(anon=True)
    root = f"{BUCKET}/{ccs.PREFIX}/r00340"
    listed = {  # a HEAD each: what S3 says the object's size is
        f"{stem}_{x}": fs.info(f"{root}/{'l1' if x.startswith('uncal') else 'l2'}/{stem}_{x}")["size"]
        for stem in stems
        for x in SUFFIXES
    }
    assert {str(p["filename"]): int(p["size"]) for p in products} == listed
    assert len(missions.get_unique_product_list(datasets)) == len(products) == 12
    previews = missions.filter_products(products, extension="png")
    assert sorted(set(previews["category"])) == ["PREVIEW", "THUMBNAIL"] and len(previews) == 6
    assert len(missions.filter_products(products, category="CALIBRATED", size=">100000000")) == 3


def test_the_tutorial_data_are_datasets_too(missions):
    from roman_helpers.sandbox.sky.surveys import roman as surveys

    table = surveys.tutorial_exposures()
    stems = {str(n).removesuffix("_cal.asdf") for n in table["name"] if str(n).endswith("_cal.asdf")}
    found = missions.query_criteria(program=32)
    assert set(found["fileSetName"]) == stems and len(found) == 72
    stem = sorted(stems)[0]
    products = missions.get_product_list(stem)
    folder = f"{BUCKET}/{ccs.PREFIX}/tutorial_data/roman-2026.2"
    fs = s3fs.S3FileSystem(anon=True)
    assert {str(p["filename"]): int(p["size"]) for p in products} == {
        f"{stem}_{x}": fs.info(f"{folder}/{stem}_{x}")["size"] for x in ("uncal.asdf", "cal.asdf")
    }


def _thumb(missions):
    datasets = missions.query_criteria(program=342, visit=1, exposure=1, detector="WFI10", **{"pass": 1})
    products = missions.get_product_list(datasets)
    return missions.filter_products(products, category="THUMBNAIL")


def test_a_download_follows_the_presigned_redirect_to_the_bytes_s3_serves(sandbox_env, tmp_path):
    token = secrets.token_hex(16)
    missions = MastMissions(mission="roman", mast_token=token)
    thumb = _thumb(missions)
    assert len(thumb) == 1
    key = f"{ccs.PREFIX}/r00342/l2/{thumb['filename'][0]}"
    mark = sandbox_env.s3.stats.requests
    manifest = missions.download_products(thumb, download_dir=tmp_path)
    assert list(manifest["Status"]) == ["COMPLETE"]
    got = Path(manifest["Local Path"][0]).read_bytes()
    records = [r for r in sandbox_env.s3.stats.since(mark).records if r.key == key]
    assert [(r.method, r.status, r.bytes_sent) for r in records] == [("GET", 200, len(got))]
    assert "X-Amz-Signature=" in records[0].query and "X-Amz-Expires=3600" in records[0].query
    assert token not in records[0].query
    expected = s3fs.S3FileSystem(anon=True).cat(f"{BUCKET}/{key}")
    assert hashlib.sha256(got).digest() == hashlib.sha256(expected).digest() and len(got) == 270_388


def test_a_download_without_a_token_gets_astroquerys_not_authorized(missions, sandbox_env, caplog, tmp_path):
    thumb = _thumb(missions)
    mark = sandbox_env.s3.stats.requests
    with caplog.at_level(logging.WARNING, logger="astroquery"):
        status, message, _ = missions.download_file(thumb["uri"][0], local_path=str(tmp_path))
    assert status == "ERROR" and "401" in message
    assert (
        "You are not authorized to download" in caplog.text and "Please authenticate yourself" in caplog.text
    )
    assert sandbox_env.s3.stats.requests == mark  # MAST refused it: nothing reached S3
    with pytest.raises(LoginError, match="MAST API token invalid"):
        MastMissions(mission="roman", mast_token="not-a-token")


def test_presigned_urls_expire_and_their_signature_is_checked(sandbox_env):
    key = f"{ccs.PREFIX}/r00342/l2/{_thumb(MastMissions(mission='roman'))['filename'][0]}"
    fresh = sandbox_env.s3.presign(BUCKET, key, expires=60, endpoint=WEB)
    assert requests.head(fresh, timeout=60).status_code == 200
    old = sandbox_env.s3.presign(
        BUCKET, key, expires=60, endpoint=WEB, signed_at=datetime.now(UTC) - timedelta(hours=2)
    )
    expired = requests.get(old, timeout=60)
    assert expired.status_code == 403 and "<Message>Request has expired</Message>" in expired.text
    forged = fresh.replace("X-Amz-Expires=60", "X-Amz-Expires=600")
    refused = requests.get(forged, timeout=60)
    assert refused.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in refused.text
    other = fresh.replace("_thumb.png", "_preview.png")
    assert "SignatureDoesNotMatch" in requests.get(other, timeout=60).text
    # the sandbox's relays may deliver a request for the bucket's web address in path style
    relayed = fresh.replace(WEB, f"{sandbox_env.s3.url}/{BUCKET}")
    assert requests.head(relayed, timeout=60).status_code == 200
    assert requests.head(forged.replace(WEB, f"{sandbox_env.s3.url}/{BUCKET}"), timeout=60).status_code == 403


def test_the_sandboxs_presigned_urls_are_botocores():
    import boto3

    moment = datetime(2027, 9, 1, 12, 0, 0, tzinfo=UTC)
    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id="AKIDSANDBOX",
        aws_secret_access_key="a-secret",
        config=__import__("botocore.config", fromlist=["Config"]).Config(
            signature_version="s3v4", s3={"addressing_style": "path"}
        ),
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=moment.replace(tzinfo=None)):
        theirs = client.generate_presigned_url(
            "get_object", Params={"Bucket": BUCKET, "Key": "roman/a b/x_cal.asdf"}, ExpiresIn=900
        )
    ours = presign_url(
        "http://127.0.0.1:9", BUCKET, "roman/a b/x_cal.asdf", {"AKIDSANDBOX": "a-secret"},
        expires=900, signed_at=moment,
    )  # fmt: skip
    assert ours == theirs


# --------------------------------------------------------------------------- the kit
def test_mission_uris_are_the_manifests_s3_uris_and_stream(sandbox_env):
    from roman_helpers import query, stream, uris

    client = query.missions("roman", token=secrets.token_hex(16))
    datasets = client.query_criteria(program=340, optical_element="F213", detector="WFI03", limit=4)
    table = ccs.manifest("r00340")
    wanted = set(datasets["fileSetName"])
    l1 = {_stem(str(b)): str(a) for a, b in zip(table["l1_s3_uri"], table["l2_s3_uri"], strict=True)}
    l2 = {_stem(str(b)): str(b) for b in table["l2_s3_uri"]}
    mark = sandbox_env.s3.stats.requests
    found = uris.mission_uris(datasets, client=client, extension="asdf")
    assert sandbox_env.s3.stats.requests == mark  # MAST's redirects were read, no byte was fetched
    assert sorted(found) == sorted([l1[s] for s in wanted] + [l2[s] for s in wanted]) and len(found) == 8
    products = client.filter_products(client.get_product_list(datasets), category="CALIBRATED")
    assert uris.mission_uris(products, client=client) == [l2[str(s)] for s in products["dataset"]]
    meta = stream.read_metadata(l2[str(products["dataset"][0])])
    assert meta["instrument"]["detector"] == "WFI03" and meta["instrument"]["optical_element"] == "F213"


def test_mission_uris_without_a_token_say_what_to_do(sandbox_env, monkeypatch):
    from roman_helpers import query, uris
    from roman_helpers.errors import AccessDeniedError, InvalidParameterError

    monkeypatch.delenv("MAST_API_TOKEN")  # the sandbox sets one, as a platform that provides tokens would
    client = query.missions("roman")
    datasets = client.query_criteria(program=342, optical_element="F146", detector="WFI09", limit=1)
    with pytest.raises(AccessDeniedError, match="need a MAST token"):
        uris.mission_uris(datasets, client=client)
    with pytest.raises(InvalidParameterError, match="fileSetName"):
        uris.mission_uris(datasets["program", "pass"], client=client)
    monkeypatch.setenv("MAST_API_TOKEN", secrets.token_hex(16))  # read when the client is made
    located = uris.mission_uris(datasets, category="CALIBRATED")
    assert len(located) == 1 and located[0].startswith("s3://stpubdata/") and located[0].endswith("_cal.asdf")


# --------------------------------------------------------------------------- MAST's answer shapes
RECORDED = Path(__import__("astroquery.mast", fromlist=["mast"]).__file__).parent / "tests" / "data"


def test_answers_have_the_shape_of_masts_recorded_ones(sandbox_env):
    """The keys of MAST's recorded answers (astroquery's test data), with our values' types."""
    import json

    base = "https://mast.stsci.edu/search"
    search = requests.post(
        f"{base}/roman/api/v0.1/search",
        json={"target": ["9.0 -44.0"], "radius": 3, "radius_units": "arcminutes", "limit": 5, "offset": 0},
        timeout=120,
    ).json()
    recorded = json.loads((RECORDED / "mission_results.json").read_text())
    assert set(search) == set(recorded) and len(search["results"]) == 5 and search["totalResults"] > 5
    assert all(set(c) == {"name", "type"} for c in search["info"])
    types = {c["name"]: c["type"] for c in search["info"]}
    python = {"VARCHAR": str, "DATETIME": str, "FLOAT": float, "INTEGER": int}
    for row in search["results"]:
        assert list(row) == list(types)  # every column the info lists, in its order
        assert all(isinstance(row[name], python[kind]) for name, kind in types.items())
    products = requests.post(
        f"{base}/roman/api/v0.1/post_list_products",
        json={"dataset_ids": [search["results"][0]["fileSetName"]]},
        timeout=120,
    ).json()
    recorded = json.loads((RECORDED / "mission_products.json").read_text())
    assert set(products) == set(recorded) and len(products["products"]) == 4
    assert all(set(p) == set(recorded["products"][0]) for p in products["products"])
    columns = requests.get(
        f"{base}/util/api/v0.1/column_list", params={"mission": "roman"}, timeout=60
    ).json()
    recorded = json.loads((RECORDED / "mission_columns.json").read_text())
    assert all(set(c) == set(recorded[0]) for c in columns) and len(columns) > 20
    anonymous = requests.get("https://mast.stsci.edu/whoami", timeout=60).json()
    assert anonymous["anon"] is True


# --------------------------------------------------------------------------- HST, the default mission
def test_the_default_mission_hst_lists_and_downloads_an_associations_files(sandbox_env, tmp_path):
    from astroquery.mast import Observations

    hst = MastMissions()
    found = hst.query_criteria(sci_pep_id=11360, sci_spec_1234="F160W")
    assert len(found) == 60 and set(found["sci_status"]) == {"PUBLIC"}
    dataset = str(found["sci_data_set_name"][0])
    products = hst.get_product_list(dataset)
    observation = Observations.query_criteria(obs_id=dataset.lower())
    listed = Observations.get_product_list(observation)
    assert sorted(map(str, products["filename"])) == sorted(map(str, listed["productFilename"]))
    association = hst.filter_products(products, file_suffix="ASN")
    manifest = hst.download_products(association, download_dir=tmp_path)  # public: no token
    assert list(manifest["Status"]) == ["COMPLETE"]
    name = f"{dataset.lower()}_asn.fits"
    expected = s3fs.S3FileSystem(anon=True).cat(f"{BUCKET}/hst/public/{name[:4]}/{dataset.lower()}/{name}")
    assert Path(manifest["Local Path"][0]).read_bytes() == expected
