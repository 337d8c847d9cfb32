"""roman_helpers.uris: file names, dataset builders, and cloud_uris against local services.

cloud_uris is exercised against a moto server (the HEAD checks) and a small path-lookup
service started here on 127.0.0.1, which counts the requests it receives.
"""

from __future__ import annotations

import json
import math
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from astropy.table import Table

from roman_helpers import datasets, uris
from roman_helpers.errors import (
    AccessDeniedError,
    InvalidParameterError,
    NotInCloudWarning,
    RomanHelpersError,
)
from roman_helpers.transfer import measure
from tests.conftest import put_object

OLD_NAME = "r0000101001001001001_01101_0001_WFI01_cal.asdf"
NEW_NAME = "r0003201001001001004_0001_wfi11_f106_cal.asdf"


# --------------------------------------------------------------------------- file names


def test_parse_2024_name() -> None:
    fields = uris.parse_roman_filename(OLD_NAME)
    assert fields == {
        "convention": "2024",
        "visit_id": "r0000101001001001001",
        "program": "00001",
        "plan": "01",
        "pass": "001",
        "segment": "001",
        "observation": "001",
        "visit": "001",
        "visit_file_group": "01",
        "visit_file_sequence": "1",
        "visit_file_activity": "01",
        "exposure": "0001",
        "detector": "WFI01",
        "optical_element": None,
        "suffix": "cal",
        "extension": "asdf",
    }


def test_parse_2026_name_from_a_uri() -> None:
    fields = uris.parse_roman_filename(
        "s3://stpubdata/roman/nexus/soc_simulations/tutorial_data/roman-2026.2/" + NEW_NAME
    )
    assert fields["convention"] == "2026"
    assert (
        fields["program"],
        fields["plan"],
        fields["pass"],
        fields["segment"],
        fields["observation"],
        fields["visit"],
    ) == ("00032", "01", "001", "001", "001", "004")
    assert (fields["exposure"], fields["detector"], fields["optical_element"], fields["suffix"]) == (
        "0001",
        "WFI11",
        "F106",
        "cal",
    )
    assert fields["visit_file_group"] is None and fields["visit_file_activity"] is None


def test_parse_keeps_the_same_keys_for_both_conventions() -> None:
    assert uris.parse_roman_filename(OLD_NAME).keys() == uris.parse_roman_filename(NEW_NAME).keys()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("r00001_cal.asdf", "19-digit visit id"),
        ("x0000101001001001001_01101_0001_WFI01_cal.asdf", "19-digit visit id"),
        ("r0000101001001001001_0101_0001_WFI01_cal.asdf", "After the visit id"),
        ("r0003201001001001004_0001_wfi11_f106_cal", "After the visit id"),
        ("", "19-digit visit id"),
    ],
)
def test_parse_rejects_malformed_names_with_an_example(name: str, expected: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        uris.parse_roman_filename(name)
    message = str(info.value)
    assert expected in message
    assert NEW_NAME in message and OLD_NAME in message


def test_parse_rejects_a_detector_that_does_not_exist() -> None:
    with pytest.raises(InvalidParameterError, match=r"WFI19.*WFI01, WFI02"):
        uris.parse_roman_filename("r0003201001001001004_0001_wfi19_f106_cal.asdf")


def test_parse_rejects_a_non_string() -> None:
    with pytest.raises(InvalidParameterError, match="valid names look like"):
        uris.parse_roman_filename(42)


# --------------------------------------------------------------------------- builders


def test_romanisim_uri_follows_the_yaml_template() -> None:
    assert uris.romanisim_uri("R0.5_DP0.5_PA90", "F129", 7, suffix="uncal") == (
        "s3://roman-sci-test-data-prod-summer-beta-test/ROMANISIM/DENSE_REGION/R0.5_DP0.5_PA90/"
        "r0000101001001001002_01101_0001_WFI07_uncal.asdf"
    )


def test_builders_accept_the_usual_spellings() -> None:
    assert uris.romanisim_uri("R0.5_DP0.5_PA0", "f158", "WFI07") == uris.romanisim_uri(
        "R0.5_DP0.5_PA0", "F158", 7
    )
    assert uris.tutorial_uri("wfi04", "f106") == uris.tutorial_uri(4, "F106")
    assert uris.openuniverse_fits_uri("F184", 15297, "11") == uris.openuniverse_fits_uri("F184", "15297", 11)


def test_openuniverse_builders() -> None:
    assert uris.openuniverse_fits_uri("F184", "15297", 11) == (
        "s3://nasa-irsa-simulations/openuniverse2024/roman/preview/RomanWAS/images/simple_model/"
        "F184/15297/Roman_WAS_simple_model_F184_15297_11.fits.gz"
    )
    assert uris.openuniverse_asdf_uri("H158", "15298", 3) == (
        "s3://roman-sci-test-data-prod-summer-beta-test/OPEN_UNIVERSE/WAS/simple_model/"
        "H158/15298/roman_was_H158_15298_wfi03_simple.asdf"
    )


def test_tutorial_uri_parses_back() -> None:
    uri = uris.tutorial_uri(11, "F106")
    assert uri.startswith("s3://stpubdata/roman/nexus/soc_simulations/tutorial_data/roman-2026.2/")
    fields = uris.parse_roman_filename(uri)
    assert (fields["detector"], fields["optical_element"]) == ("WFI11", "F106")


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            lambda: uris.openuniverse_fits_uri("F999", "15297", 11),
            "invalid band 'F999'; valid values are: F184, F158 (H158 in this dataset)",
        ),
        (
            lambda: uris.openuniverse_asdf_uri("F184", "15x97", 11),
            "invalid pointing '15x97'; valid values are: 15297, 15298",
        ),
        (
            lambda: uris.openuniverse_fits_uri("F184", "99999", 11),
            "invalid pointing '99999'; valid values are: 15297, 15298",
        ),
        (
            lambda: uris.openuniverse_fits_uri("F184", "15297", 19),
            "invalid sensor 19; valid values are: 1, 2,",
        ),
        (
            lambda: uris.openuniverse_fits_uri("F184", "15297", "WFI00"),
            "invalid sensor 'WFI00'; valid values are: 1,",
        ),
        (lambda: uris.openuniverse_fits_uri("F184", "15297", 11.7), "invalid sensor 11.7"),
        (lambda: uris.openuniverse_fits_uri("F184", "15297", True), "invalid sensor True"),
        (
            lambda: uris.romanisim_uri("nowhere", "F158", 1),
            "invalid pointing 'nowhere'; valid values are: R0.5_DP0.5_PA0",
        ),
        (
            lambda: uris.romanisim_uri("R0.5_DP0.5_PA0", "F158", 1, suffix="rate"),
            "valid values are: cal, uncal",
        ),
        (lambda: uris.tutorial_uri(3, 106), "invalid optical_element 106; valid values are: F106"),
    ],
)
def test_builders_reject_bad_values_with_the_valid_ones(call, expected: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        call()
    assert expected in str(info.value)


def test_unknown_dataset_and_misspelt_parameter_are_refused() -> None:
    with pytest.raises(
        InvalidParameterError, match="invalid dataset 'nope'; valid values are: hst-wfc3ir-m85"
    ):
        datasets.get("nope")
    with pytest.raises(InvalidParameterError, match="has no parameter 'colour'"):
        datasets.get("roman-tutorial-2026").uri(colour="red")
    with pytest.raises(InvalidParameterError, match="has no parameter 'sensr'"):
        datasets.get("openuniverse-was-fits").uri(sensr=3)  # never silently the default file


def test_papermill_values_are_checked_as_strictly_as_the_api() -> None:
    dense = datasets.get("romanisim-dense-region")
    assert dense.validate(detector="WFI07", optical_element="f129", suffix="CAL") == {
        **dense.defaults(),
        "detector": 7,
        "optical_element": "F129",
        "suffix": "cal",
    }
    for bad in (11.7, True, "eleven"):
        with pytest.raises(InvalidParameterError, match="invalid detector"):
            dense.validate(detector=bad)


# --------------------------------------------------------------------------- cloud_uris


def _data_uri(n: int) -> str:
    return f"mast:HST/product/ib{n:04d}010_drz.fits"


def _key(n: int) -> str:
    return f"hst/public/ib{n:04d}/ib{n:04d}010/ib{n:04d}010_drz.fits"


class PathLookup:
    """A stand-in for MAST's path_lookup that counts requests; unknown dataURIs get a 404 entry."""

    def __init__(self, known: dict[str, str], status: int = 200) -> None:
        self.known, self.status = known, status
        self.requests: list[list[str]] = []
        lookup = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's name
                url = urlparse(self.path)
                asked = parse_qs(url.query).get("uri", [])
                lookup.requests.append(asked)
                answer = {
                    uri: (
                        {"status_code": 200, "path": "/" + lookup.known[uri]}
                        if uri in lookup.known
                        else {"status_code": 404, "path": None}
                    )
                    for uri in asked
                }
                body = json.dumps(answer).encode() if lookup.status == 200 else b"server error"
                ok = url.path == "/api/v0.1/path_lookup/"
                self.send_response(lookup.status if ok else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def path_lookup(monkeypatch) -> Iterator:
    """Start a path-lookup service on 127.0.0.1 and point ROMAN_HELPERS_MAST_URL at it."""
    started: list[PathLookup] = []

    def start(known: dict[str, str], status: int = 200) -> PathLookup:
        service = PathLookup(known, status)
        service.thread.start()
        started.append(service)
        monkeypatch.setenv("ROMAN_HELPERS_MAST_URL", service.url)
        return service

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield start
    for service in started:
        service.server.shutdown()
        service.server.server_close()


def test_cloud_uris_order_dedup_missing_and_request_counts(buckets, s3_client, path_lookup) -> None:
    count = 120
    known = {_data_uri(n): _key(n) for n in range(count)}
    absent_in_s3 = {7, 64}
    for n in range(count):
        if n not in absent_in_s3:
            put_object(s3_client, "stpubdata", _key(n), b"x")
    unknown = "mast:HST/product/zz9999010_drz.fits"  # MAST has no cloud path for it
    service = path_lookup(known)
    asked = [_data_uri(n) for n in reversed(range(count))] + [_data_uri(3), unknown, _data_uri(100)]

    with warnings.catch_warnings(record=True) as caught, measure() as s3:
        warnings.simplefilter("always")
        result = uris.cloud_uris(asked, workers=8)

    unique = [_data_uri(n) for n in reversed(range(count))] + [unknown]
    expected = [None if n in absent_in_s3 else f"s3://stpubdata/{_key(n)}" for n in reversed(range(count))]
    expected.append(None)  # the dataURI MAST does not know
    assert result == expected
    assert len(service.requests) == math.ceil(len(unique) / 50) == 3
    assert [len(chunk) for chunk in service.requests] == [50, 50, 21]
    assert [uri for chunk in service.requests for uri in chunk] == unique
    assert s3.by_operation().get("HeadObject") == count  # one HEAD per looked-up product, none for the 404
    notices = [w for w in caught if issubclass(w.category, NotInCloudWarning)]
    assert len(notices) == 1
    text = str(notices[0].message)
    assert "3 of 121" in text and unknown in text and _data_uri(7) in text and _data_uri(64) in text


def test_cloud_uris_takes_a_product_table_and_a_single_uri(buckets, s3_client, path_lookup) -> None:
    known = {_data_uri(n): _key(n) for n in range(3)}
    for key in known.values():
        put_object(s3_client, "stpubdata", key, b"x")
    path_lookup(known)
    table = Table(
        {"obsID": ["1", "2", "3", "2"], "dataURI": [_data_uri(2), _data_uri(0), _data_uri(1), _data_uri(0)]}
    )
    assert uris.cloud_uris(table) == [f"s3://stpubdata/{_key(n)}" for n in (2, 0, 1)]
    assert uris.cloud_uris(table[1]) == [f"s3://stpubdata/{_key(0)}"]
    assert uris.cloud_uris(_data_uri(1)) == [f"s3://stpubdata/{_key(1)}"]


def test_cloud_uris_of_nothing_is_empty_without_requests(path_lookup) -> None:
    service = path_lookup({})
    assert uris.cloud_uris([]) == []
    assert uris.cloud_uris(Table({"dataURI": []}, dtype=[str])) == []
    assert service.requests == []


def test_cloud_uris_rejects_bad_input() -> None:
    with pytest.raises(InvalidParameterError, match="dataURI column"):
        uris.cloud_uris(Table({"obs_id": ["ib6w01010"]}))
    with pytest.raises(InvalidParameterError, match="mast:HST/product/"):
        uris.cloud_uris(["s3://stpubdata/hst/public/x.fits"])
    with pytest.raises(InvalidParameterError, match="invalid workers 0"):
        uris.cloud_uris([_data_uri(1)], workers=0)


def test_cloud_uris_reports_a_failing_lookup(path_lookup) -> None:
    service = path_lookup({}, status=500)
    with pytest.raises(RomanHelpersError, match=r"MAST path look-up .* failed"):
        uris.cloud_uris([_data_uri(1)])
    assert len(service.requests) == 1


def test_cloud_uris_raises_when_s3_refuses(buckets, s3_client, path_lookup) -> None:
    s3_client.put_object(Bucket="stpubdata", Key=_key(1), Body=b"x", ACL="private")
    path_lookup({_data_uri(1): _key(1)})
    with pytest.raises(AccessDeniedError, match="refused"):
        uris.cloud_uris([_data_uri(1)])
