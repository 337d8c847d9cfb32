"""Fidelity of the offline sandbox's MAST and IRSA, driven by the list in ``roman_helpers.sandbox.supported``.

* Every call listed there runs through the real client library (astroquery, pyvo, requests,
  s3fs, astropy) under the sandbox. A supported call's answer is checked against the sandbox's
  own files, read here independently of the service: for MAST, positions from the drizzled
  images' WCS, criteria from their headers, file sets from the association tables, bytes from
  the generated files; for IRSA, footprints from the WCS in each OpenUniverse image's header
  and bands, times and bytes from the files (``_irsa_support``). A failing call must raise the
  listed error with the listed text.
* Every service with a recorded MAST answer (astroquery's own test data) answers with the same
  shape: field names and types, paging keys, row keys.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import astropy.units as u
import numpy as np
import pytest
import requests
from _irsa_support import (
    ARCSEC,
    BUCKET,
    COLLECTION,
    NOTEBOOK_COLUMNS,
    SIA_URL,
    header_value,
    holding,
    keys,
    read_images,
)
from astropy.coordinates import SkyCoord
from astropy.io import fits

from roman_helpers.sandbox import supported
from roman_helpers.sandbox.data import Entry

MAST_CALLS = supported.calls_for("MAST")
RECORDED = Path(__import__("astroquery.mast", fromlist=["mast"]).__file__).parent / "tests" / "data"
MAST = "https://mast.stsci.edu"


# --------------------------------------------------------------------------- the sandbox's files
@dataclass
class Files:
    """What the generated files say, read without the MAST service."""

    by_name: dict[str, Entry]  # file name -> bucket object or MAST-only file
    in_bucket: set[str]  # file names held in stpubdata
    paths: dict[str, Path]  # file name -> local path
    drz: dict[str, fits.Header] = field(default_factory=dict)  # association -> primary header
    centres: dict[str, SkyCoord] = field(default_factory=dict)  # association -> image centre (SCI WCS)
    members: dict[str, list[str]] = field(default_factory=dict)  # association -> exposures (ASN table)

    def files_of(self, association: str) -> set[str]:
        """Names of every file of an association and its exposures (by the folder they live in)."""
        folders = {association, *self.members[association]}
        return {name for name, entry in self.by_name.items() if entry.key.split("/")[-2] in folders}

    def within(self, centre: SkyCoord, radius: u.Quantity) -> set[str]:
        return {name for name, position in self.centres.items() if centre.separation(position) <= radius}

    def where(self, **keywords) -> set[str]:
        return {
            name
            for name, header in self.drz.items()
            if all(str(header[k]).strip() == str(v) for k, v in keywords.items())
        }


@pytest.fixture(scope="module")
def files(sandbox) -> Files:
    manifest = sandbox.manifest
    hst = [e for e in [*manifest.objects, *manifest.mast_files] if e.key.startswith("hst/public/")]
    found = Files(
        {e.key.rsplit("/", 1)[1]: e for e in hst},
        {e.key.rsplit("/", 1)[1] for e in manifest.objects if e.key.startswith("hst/public/")},
        {e.key.rsplit("/", 1)[1]: manifest.file(e) for e in hst},
    )
    for name, path in found.paths.items():
        if name.endswith("_drz.fits"):
            association = name[: -len("_drz.fits")]
            with fits.open(path) as hdul:
                found.drz[association] = hdul[0].header.copy()
                found.centres[association] = SkyCoord(
                    hdul["SCI"].header["CRVAL1"], hdul["SCI"].header["CRVAL2"], unit="deg"
                )
        elif name.endswith("_asn.fits"):
            with fits.open(path) as hdul:
                table = hdul["ASN"].data
                found.members[name[: -len("_asn.fits")]] = [
                    m.strip().lower()
                    for m, kind in zip(table["MEMNAME"], table["MEMTYPE"], strict=True)
                    if kind.strip() == "EXP-DTH"
                ]
    return found


def _md5(path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


# --------------------------------------------------------------------------- running one listed call
@dataclass
class Outcome:
    call: supported.Call
    namespace: dict
    folder: Path
    result: object = None
    error: BaseException | None = None
    warnings: list = field(default_factory=list)


def _run(call: supported.Call, folder: Path) -> Outcome:
    namespace: dict = {}
    exec(supported.SETUP[call.family], namespace)
    namespace["folder"] = str(folder)
    outcome = Outcome(call, namespace, folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            outcome.result = eval(call.code, namespace)
        except Exception as error:  # noqa: BLE001 - compared with the listed error below
            outcome.error = error
    outcome.warnings = [w.category.__name__ for w in caught]
    return outcome


def _obs_ids(table) -> list[str]:
    return [str(v) for v in table["obs_id"]]


def _assert_cone(table, files: Files, centre: SkyCoord, radius: u.Quantity) -> set[str]:
    expected = files.within(centre, radius)
    assert expected, "the check needs observations in the cone"
    margins = [abs((centre.separation(p) - radius).to_value(u.arcsec)) for p in files.centres.values()]
    assert min(margins) > 0.01, "an observation sits on the cone's edge: the check would be ambiguous"
    assert set(_obs_ids(table)) == expected and len(table) == len(expected)
    if "distance" in table.colnames:
        for row in table:
            separation = centre.separation(files.centres[row["obs_id"]]).to_value(u.arcsec)
            assert row["distance"] == pytest.approx(separation, abs=0.01)
    return expected


# --------------------------------------------------------------------------- checks of supported calls
def check_region(o: Outcome, files: Files, sandbox) -> None:
    _assert_cone(o.result, files, o.namespace["m85"], 0.05 * u.deg)


def check_region_ra0(o: Outcome, files: Files, sandbox) -> None:
    found = _assert_cone(o.result, files, o.namespace["ra0"], 10 * u.arcsec)
    ras = [files.centres[name].ra.deg for name in found]
    assert min(ras) < 1 and max(ras) > 359  # both sides of 0h are in, so the wrap was crossed


def check_region_pole(o: Outcome, files: Files, sandbox) -> None:
    found = _assert_cone(o.result, files, o.namespace["pole"], 0.01 * u.deg)
    assert len({round(files.centres[name].ra.deg) for name in found}) >= 3  # any right ascension


def check_region_paged(o: Outcome, files: Files, sandbox) -> None:
    everything = sorted(files.within(o.namespace["m85"], 0.05 * u.deg))
    full = o.namespace["Observations"].query_region(o.namespace["m85"], radius="0.05 deg")
    assert len(full) == len(everything) > 40
    assert _obs_ids(o.result) == _obs_ids(full)[20:40]


def check_object(o: Outcome, files: Files, sandbox) -> None:
    _assert_cone(o.result, files, o.namespace["m85"], 0.05 * u.deg)


def check_resolve(o: Outcome, files: Files, sandbox) -> None:
    assert o.result.separation(o.namespace["m85"]) < 1 * u.arcsec
    assert o.result.separation(files.centres["ib1f0v010"]) < 5 * u.arcsec  # the tutorial's images show it


def check_count_region(o: Outcome, files: Files, sandbox) -> None:
    assert o.result == len(files.within(o.namespace["ra0"], 10 * u.arcsec)) > 0


def check_count_object(o: Outcome, files: Files, sandbox) -> None:
    assert o.result == len(files.within(o.namespace["m85"], 0.05 * u.deg)) > 0


def _tutorial(files: Files) -> set[str]:
    return files.where(FILTER="F160W", PROPOSID=11360, INSTRUME="WFC3", DETECTOR="IR")


def check_criteria(o: Outcome, files: Files, sandbox) -> None:
    assert set(_obs_ids(o.result)) == _tutorial(files) and len(o.result) == 60


def check_count_criteria(o: Outcome, files: Files, sandbox) -> None:
    assert (
        int(o.result)
        == len(_tutorial(files))
        == len(o.namespace["Observations"].query_criteria(**o.namespace["tutorial"]))
    )


def check_criteria_range(o: Outcome, files: Files, sandbox) -> None:
    expected = {name for name, header in files.drz.items() if 700 <= header["EXPTIME"] <= 1200}
    assert set(_obs_ids(o.result)) == expected and 0 < len(expected) < len(files.drz)


def check_criteria_wildcard(o: Outcome, files: Files, sandbox) -> None:
    expected = {name for name, header in files.drz.items() if header["TARGNAME"].startswith("NCP")}
    assert set(_obs_ids(o.result)) == expected and expected


def check_criteria_paged(o: Outcome, files: Files, sandbox) -> None:
    everything = files.where(PROPOSID=11360)
    full = o.namespace["Observations"].query_criteria(proposal_id="11360")
    assert len(full) == len(everything) and len(o.result) == len(everything) - 50
    assert _obs_ids(o.result) == _obs_ids(full)[50:]


def check_criteria_object(o: Outcome, files: Files, sandbox) -> None:
    expected = files.within(o.namespace["m85"], 0.05 * u.deg) & files.where(FILTER="F110W")
    assert set(_obs_ids(o.result)) == expected and expected


def check_criteria_coordinates(o: Outcome, files: Files, sandbox) -> None:
    _assert_cone(o.result, files, o.namespace["pole"], 0.1 * u.deg)


def check_count_criteria_position(o: Outcome, files: Files, sandbox) -> None:
    assert (
        int(o.result)
        == len(files.within(o.namespace["ra0"], 10 * u.arcsec) & files.where(FILTER="F125W"))
        > 0
    )


def check_metadata_observations(o: Outcome, files: Files, sandbox) -> None:
    described = dict(zip(o.result["Column Name"], o.result["Data Type"], strict=True))
    table = o.namespace["Observations"].query_region(o.namespace["ra0"], radius="10 arcsec")
    assert set(table.colnames) <= set(described)
    kinds = {"float": "f", "integer": "i", "string": "U", "boolean": "b"}
    for name in table.colnames:
        if described[name] in kinds and name not in ("obsid", "objID"):
            assert table[name].dtype.kind == kinds[described[name]], name


def check_metadata_products(o: Outcome, files: Files, sandbox) -> None:
    assert set(o.namespace["visit"].colnames) <= set(o.result["Column Name"])


def check_missions(o: Outcome, files: Files, sandbox) -> None:
    assert o.result == sorted({header["TELESCOP"] for header in files.drz.values()})


def _assert_products(table, files: Files, associations: set[str]) -> None:
    expected = set().union(*(files.files_of(a) for a in associations))
    names = [str(n) for n in table["productFilename"]]
    assert sorted(names) == sorted(expected)
    for row in table:
        name = str(row["productFilename"])
        assert row["size"] == files.paths[name].stat().st_size, name
        assert (row["productType"] == "PREVIEW") == (name not in files.in_bucket), name


def check_products(o: Outcome, files: Files, sandbox) -> None:
    _assert_products(o.result, files, {"ib1f0v010"})
    counts = defaultdict(int)
    for row in o.result:
        counts[(str(row["productType"]), str(row["productSubGroupDescription"]))] += 1
    assert counts[("SCIENCE", "DRZ")] == 1 and counts[("SCIENCE", "FLT")] == counts[("SCIENCE", "RAW")] == 2
    assert counts[("SCIENCE", "IMA")] == 2 and counts[("AUXILIARY", "SPT")] == 2
    assert {k[1] for k in counts if k[0] == "AUXILIARY"} == {"ASN", "JIF", "JIT", "TRL", "SPT"}
    assert sum(v for k, v in counts.items() if k[0] == "PREVIEW") == 4


def check_products_many(o: Outcome, files: Files, sandbox) -> None:
    _assert_products(o.result, files, files.where(PROPOSID=17010))


def check_products_unique(o: Outcome, files: Files, sandbox) -> None:
    observations = o.namespace["Observations"]
    each = [observations.get_product_list(obsid) for obsid in ("24797441", "24797442")]
    expected = {str(uri) for table in each for uri in table["dataURI"]}
    assert sorted(str(uri) for uri in o.result["dataURI"]) == sorted(expected) and len(expected) == 38


def check_filter_products(o: Outcome, files: Files, sandbox) -> None:
    assert {str(n) for n in o.result["productFilename"]} == {f"{a}_drz.fits" for a in _tutorial(files)}
    assert "24797441" in {str(v) for v in o.result["obsID"]}


def check_cloud_uris(o: Outcome, files: Files, sandbox) -> None:
    for uri, cloud in o.result.items():
        name = uri.rsplit("/", 1)[1]
        expected = f"s3://stpubdata/{files.by_name[name].key}" if name in files.in_bucket else None
        assert cloud == expected, name
    missing = [uri for uri, cloud in o.result.items() if cloud is None]
    assert len(missing) == 4 and o.warnings.count("NoResultsWarning") == len(missing)


def check_cloud_uris_criteria(o: Outcome, files: Files, sandbox) -> None:
    wanted = {
        name
        for a in files.where(PROPOSID=17010)
        for name in files.files_of(a)
        if name.endswith(("_drz.fits", "_flt.fits"))
    }
    assert sorted(o.result) == sorted(f"s3://stpubdata/{files.by_name[name].key}" for name in wanted)


def _assert_downloaded(manifest, files: Files) -> None:
    for path in manifest["Local Path"]:
        name = Path(path).name
        assert _md5(path) == files.by_name[name].md5, name
        if name.endswith(".fits"):
            with fits.open(path) as hdul:
                assert hdul[0].header["TELESCOP"] == "HST" and hdul[0].header["FILENAME"] == name
        else:
            from PIL import Image

            with Image.open(path) as picture:
                assert picture.format == "JPEG" and min(picture.size) > 0


def check_download_cloud(o: Outcome, files: Files, sandbox) -> None:
    assert list(o.result["Status"]) == ["COMPLETE"] * len(o.namespace["visit"])
    _assert_downloaded(o.result, files)
    assert {Path(p).parent.name for p in o.result["Local Path"]} == {"ib1f0v010", *files.members["ib1f0v010"]}


def check_download_previews(o: Outcome, files: Files, sandbox) -> None:
    assert list(o.result["Status"]) == ["COMPLETE"] * 4
    _assert_downloaded(o.result, files)


def check_download_cloud_only(o: Outcome, files: Files, sandbox) -> None:
    assert list(o.result["Status"]) == ["SKIPPED"] * 4
    assert not [p for p in o.folder.rglob("*") if p.is_file()]


def check_download_https(o: Outcome, files: Files, sandbox) -> None:
    status, message, _ = o.result
    assert (status, message) == ("COMPLETE", None)
    path = o.folder / "ib1f0vabq_ima.fits"
    assert _md5(path) == files.by_name[path.name].md5
    with fits.open(path) as hdul:  # one imset (SCI, ERR, DQ, SAMP, TIME) per read
        assert sum(h.name == "SCI" for h in hdul) == hdul[0].header["NSAMP"] == len(hdul) // 5


# --------------------------------------------------------------------------- checks of supported IRSA calls
@dataclass
class Images:
    """The OpenUniverse images, read from the sandbox's S3 without the IRSA service."""

    headers: dict[str, dict]  # bucket key -> {"primary": header, "sci": header}
    entries: dict[str, Entry]  # bucket key -> manifest entry (size, md5)

    def at(self, ra: float, dec: float, radius: float) -> set[str]:
        """Keys of the images holding (ra, dec), asserted clear of every edge by ``2 * radius``."""
        found = holding(self.headers, ra, dec, radius)
        assert found, f"({ra}, {dec}) must lie well inside some image and clear of every edge"
        return found

    def band(self, key: str) -> str:
        return str(header_value(self.headers[key], "FILTER")).strip()


@pytest.fixture(scope="module")
def images(sandbox) -> Images:
    headers = read_images(sandbox.s3.url)
    return Images(headers, {key: sandbox.manifest.find(BUCKET, key) for key in headers})


def _at_field(o: Outcome, images: Images) -> set[str]:
    field = o.namespace["field"]
    return images.at(field.ra.deg, field.dec.deg, ARCSEC)


def _image_key(o: Outcome) -> str:
    return json.loads(o.namespace["image"]["cloud_access"])["aws"]["key"]


def check_sia(o: Outcome, images: Images, sandbox) -> None:
    expected = _at_field(o, images)
    assert keys(o.result) == expected and len(o.result) == len(expected)
    assert len({images.band(key) for key in expected}) >= 2  # the field was imaged in several bands
    for row in o.result:
        key = json.loads(row["cloud_access"])["aws"]["key"]
        assert row["obs_id"] == Path(key).name.removesuffix(".fits.gz")
        assert row["energy_bandpassname"] == images.band(key)
        assert (row["s_xel1"], row["s_xel2"]) == (
            images.headers[key]["sci"]["NAXIS1"],
            images.headers[key]["sci"]["NAXIS2"],
        )
        assert row["obs_collection"] == COLLECTION
    for name in (*NOTEBOOK_COLUMNS, "dist_to_point"):
        assert name in o.result.colnames, name


def check_sia_band(o: Outcome, images: Images, sandbox) -> None:
    # WFI filter table: F158 passes 1.380-1.774 micron, F184 1.683-2.000; 1.5-1.6 micron meets F158 only
    every = _at_field(o, images)
    expected = {key for key in every if images.band(key) == "F158"}
    assert keys(o.result) == expected and expected and expected < every


def check_sia_time(o: Outcome, images: Images, sandbox) -> None:
    every = _at_field(o, images)
    expected = {key for key in every if 62000 <= header_value(images.headers[key], "MJD-OBS", -1) <= 62500}
    assert keys(o.result) == expected


def check_sia_maxrec(o: Outcome, images: Images, sandbox) -> None:
    full = o.namespace["images"]
    assert keys(full) == _at_field(o, images) and len(full) >= 2
    assert list(o.result["obs_id"]) == [full["obs_id"][0]]
    assert not [name for name in o.warnings if "Overflow" in name]


def check_sia_unknown_collection(o: Outcome, images: Images, sandbox) -> None:
    assert len(o.result) == 0 and len(o.namespace["images"]) == len(_at_field(o, images)) > 0


def check_sia_observed(o: Outcome, images: Images, sandbox) -> None:
    assert o.namespace["IrsaClass"]().sia_url == "https://irsa.ipac.caltech.edu/SIA"  # astroquery's default
    assert len(o.result) == 0 and len(o.namespace["images"]) == len(_at_field(o, images)) > 0


def check_sia2_service(o: Outcome, images: Images, sandbox) -> None:
    assert o.result.query_ep == SIA_URL  # read from the VOSI capabilities


def check_sia2_search(o: Outcome, images: Images, sandbox) -> None:
    expected = images.at(9.8, -44.02, 0.001)  # 1.7 micron is inside both F158 and F184
    table = o.result.to_table()
    assert keys(table) == expected and {images.band(key) for key in expected} == {"F158", "F184"}
    record = o.result[0]
    assert record.s_fov.unit == u.deg and record.em_min.unit == u.m and record.obs_collection == COLLECTION


def check_sia2_polygon(o: Outcome, images: Images, sandbox) -> None:
    # every corner is within 0.0015 deg of (9.8, -44.02); the images are clear of it by twice that
    assert keys(o.result.to_table()) == images.at(9.8, -44.02, 0.0015)


def check_collections(o: Outcome, images: Images, sandbox) -> None:
    expected = {f"simulated_{key.split('/')[1]}_openuniverse2024" for key in images.headers}
    assert set(o.result["collection"]) == expected and len(o.result) == len(expected)
    assert len(o.namespace["Irsa"].list_collections(servicetype="SSA")) == 0  # no spectra


def check_access_url(o: Outcome, images: Images, sandbox) -> None:
    key = _image_key(o)
    assert key in _at_field(o, images)
    entry = images.entries[key]
    assert o.result.status_code == 200 and len(o.result.content) == entry.size
    assert hashlib.md5(o.result.content).hexdigest() == entry.md5
    assert o.namespace["image"]["access_estsize"] == math.ceil(entry.size / 1000)  # kilobytes
    part = requests.get(o.namespace["image"]["access_url"], headers={"Range": "bytes=10-109"}, timeout=30)
    assert part.status_code == 206 and part.content == o.result.content[10:110]


def check_cloud_access_fits(o: Outcome, images: Images, sandbox) -> None:
    key = _image_key(o)
    assert key in _at_field(o, images)
    assert o.namespace["cloud"]["bucket_name"] == BUCKET and o.namespace["cloud"]["region"] == "us-east-1"
    with o.result as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "ERR", "DQ"]
        assert hdul[1].header == images.headers[key]["sci"]
        assert hdul[1].data.shape == (
            images.headers[key]["sci"]["NAXIS2"],
            images.headers[key]["sci"]["NAXIS1"],
        )


def check_cloud_access_s3fs(o: Outcome, images: Images, sandbox) -> None:
    entry = images.entries[_image_key(o)]
    assert len(o.result) == entry.size and hashlib.md5(o.result).hexdigest() == entry.md5


CHECKS = {
    name[len("check_") :].replace("_", "-"): function
    for name, function in dict(globals()).items()
    if name.startswith("check_")
}
FACTS = {"MAST": "files", "IRSA": "images"}  # the fixture each family's checks compare with


# --------------------------------------------------------------------------- the tests
def test_every_supported_call_has_a_check_and_every_check_a_call():
    assert set(CHECKS) == {call.id for call in supported.CALLS if call.error is None}
    assert len({call.id for call in supported.CALLS}) == len(supported.CALLS)
    assert set(FACTS) == set(supported.SETUP) == {call.family for call in supported.CALLS}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("call", supported.CALLS, ids=[call.id for call in supported.CALLS])
def test_listed_call_behaves_as_listed(call, sandbox_env, request, tmp_path):
    facts = request.getfixturevalue(FACTS[call.family])
    outcome = _run(call, tmp_path)
    if call.error is None:
        assert outcome.error is None, f"{call.code} raised {outcome.error!r}"
        CHECKS[call.id](outcome, facts, sandbox_env)
    else:
        assert outcome.error is not None, f"{call.code} did not fail"
        assert call.error in {cls.__name__ for cls in type(outcome.error).__mro__}, repr(outcome.error)
        assert call.message in str(outcome.error)


def test_download_products_moves_exactly_the_files_bytes_from_s3(sandbox_env, files, tmp_path):
    """The bucket's share of a download: each FITS file's bytes once, counted at the S3 server."""
    mark = sandbox_env.s3.stats.requests
    outcome = _run(next(c for c in MAST_CALLS if c.id == "download-cloud"), tmp_path)
    sent = defaultdict(int)
    for record in sandbox_env.s3.stats.since(mark).records:
        if record.method == "GET" and record.status in (200, 206):
            sent[record.key.rsplit("/", 1)[1]] += record.bytes_sent
    fits_files = {Path(p).name for p in outcome.result["Local Path"] if str(p).endswith(".fits")}
    assert sent == {name: files.by_name[name].size for name in fits_files}


def test_download_file_answers_head_with_the_length_then_the_bytes(sandbox_env, files):
    for name in ("ib1f0v010_drz.jpg", "ib1f0vbbq_raw.fits"):
        url = f"{MAST}/api/v0.1/Download/file?uri=" + quote(f"mast:HST/product/{name}", safe=":/")
        head = requests.head(url, timeout=60)
        body = requests.get(url, timeout=60).content
        assert int(head.headers["Content-Length"]) == len(body) == files.by_name[name].size
        assert hashlib.md5(body).hexdigest() == files.by_name[name].md5


def test_the_table_shows_every_call():
    table = supported.markdown_table()
    assert all(f"`{call.code}`" in table for call in supported.CALLS)
    assert table.count("\n") == len(supported.CALLS) + 2


# --------------------------------------------------------------------------- response shapes
def _invoke(service: str, params: dict, **extra) -> dict:
    payload = json.dumps(
        {"service": service, "params": params, "format": "json", "pagesize": 50000, "page": 1, **extra}
    )
    response = requests.post(
        f"{MAST}/api/v0/invoke",
        data="request=" + quote(payload),
        timeout=60,
        headers={"Content-type": "application/x-www-form-urlencoded"},
    )
    response.raise_for_status()
    return response.json()


SHAPE_REQUESTS = {
    "Mast.Caom.Cone": lambda: _invoke("Mast.Caom.Cone", {"ra": 186.35, "dec": 18.19, "radius": 0.05}),
    "Mast.Caom.Filtered": lambda: _invoke(
        "Mast.Caom.Filtered", {"columns": "*", "filters": [{"paramName": "proposal_id", "values": ["17010"]}]}
    ),
    "Mast.Caom.Filtered.Position": lambda: _invoke(
        "Mast.Caom.Filtered.Position",
        {
            "columns": "*",
            "filters": [{"paramName": "filters", "values": ["F140W"]}],
            "position": "0, 90, 0.1",
        },
    ),
    "COUNT_BIG(*)": lambda: _invoke(
        "Mast.Caom.Filtered",
        {"columns": "COUNT_BIG(*)", "filters": [{"paramName": "proposal_id", "values": ["11360"]}]},
    ),
    "Mast.Caom.Products": lambda: _invoke("Mast.Caom.Products", {"obsid": "24797441,24797601"}),
    "columnsconfig": lambda: requests.post(
        f"{MAST}/portal/Mashup/Mashup.asmx/columnsconfig", data={"colConfigId": "Mast.Caom.Cone"}, timeout=60
    ).json(),
    "name resolver": lambda: requests.get(
        "http://mastresolver.stsci.edu/Santa-war/query",
        timeout=60,
        params={"name": ["M85", "NGC 4382"], "outputFormat": "json", "resolveAll": "true"},
    ).json(),
    "path_lookup": lambda: requests.get(
        f"{MAST}/api/v0.1/path_lookup/",
        timeout=60,
        params={"uri": ["mast:HST/product/ib1f0v01j_jit.fits", "mast:HST/product/does_not_exist.fits"]},
    ).json(),
}
RECORDED_SERVICES = [s for s in supported.SERVICES if s.recorded]
_PY_TYPES = {"string": (str,), "float": (float, int), "int": (int,), "boolean": (bool,)}


def test_every_service_is_reached_by_a_call_and_every_recorded_one_has_a_shape_check():
    assert {call.service for call in supported.CALLS} == {f"{s.family} {s.name}" for s in supported.SERVICES}
    assert set(SHAPE_REQUESTS) == {s.name for s in RECORDED_SERVICES}


def _assert_service_shape(ours: dict, recorded: dict) -> None:
    assert set(ours) == set(recorded)
    assert ours["status"] == recorded["status"] == "COMPLETE"
    our_types = {f["name"]: f["type"] for f in ours["fields"]}
    assert all(set(f) == {"name", "type"} for f in ours["fields"])
    for column in recorded["fields"]:  # every recorded column, with its type (MAST adds columns over time)
        assert our_types.get(column["name"]) == column["type"], column
    assert set(ours["paging"]) == set(recorded["paging"])
    paging = ours["paging"]
    assert paging["rows"] == len(ours["data"]) > 0
    assert paging["pagesFiltered"] == math.ceil(paging["rowsFiltered"] / paging["pageSize"])
    for row in ours["data"]:
        assert list(row) == list(our_types)


def _assert_row_values(ours: dict) -> None:
    types = {f["name"]: f["type"] for f in ours["fields"]}
    for row in ours["data"]:
        for name, value in row.items():
            assert value is None or isinstance(value, _PY_TYPES[types[name]]), (name, value)
            assert types[name] == "boolean" or not isinstance(value, bool), (name, value)


@pytest.mark.parametrize("service", RECORDED_SERVICES, ids=[s.name for s in RECORDED_SERVICES])
def test_answer_has_the_recorded_shape(service, sandbox_env):
    recorded = json.loads((RECORDED / service.recorded).read_text())
    ours = SHAPE_REQUESTS[service.name]()
    if service.name == "columnsconfig":
        for name, column in recorded.items():
            if column.get("remove"):
                continue
            assert name in ours, name
            assert ours[name].get("vot.datatype", ours[name].get("type")) == column.get(
                "vot.datatype", column.get("type")
            ), name
            assert column.get("text") is None or ours[name]["text"] == column["text"], name
    elif service.name == "name resolver":
        assert set(ours) == set(recorded)
        entries = recorded["resolvedCoordinate"]
        always = set.intersection(*(set(e) for e in entries))
        anywhere = set.union(*(set(e) for e in entries))
        assert len(ours["resolvedCoordinate"]) == 4  # two names, two resolvers each
        for entry in ours["resolvedCoordinate"]:
            assert always <= set(entry) <= anywhere
            assert isinstance(entry["ra"], float) and isinstance(entry["decl"], float)
    elif service.name == "path_lookup":
        found, missing = (ours[uri] for uri in ours)
        shapes = list(recorded.values())
        assert set(found) == set(shapes[0]) and missing == shapes[1]
        assert found == {"status_code": 200, "path": "/hst/public/ib1f/ib1f0v010/ib1f0v01j_jit.fits"}
    elif service.name == "COUNT_BIG(*)":  # the count comes back as a number under a "string" column
        _assert_service_shape(ours, recorded)
        assert [type(v) for v in ours["data"][0].values()] == [type(v) for v in recorded["data"][0].values()]
    else:
        _assert_service_shape(ours, recorded)
        _assert_row_values(ours)


def test_count_answer_is_one_row_one_column_equal_to_the_rows(sandbox_env):
    count = _invoke(
        "Mast.Caom.Filtered",
        {"columns": "COUNT_BIG(*)", "filters": [{"paramName": "filters", "values": ["F110W"]}]},
    )
    rows = _invoke(
        "Mast.Caom.Filtered", {"columns": "*", "filters": [{"paramName": "filters", "values": ["F110W"]}]}
    )
    assert count["data"] == [{"Column1": len(rows["data"])}] and len(rows["data"]) == 12
    assert np.all([row["filters"] == "F110W" for row in rows["data"]])


def test_unserved_service_names_the_books_sandbox_page(sandbox_env):
    answer = _invoke("Mast.Catalogs.Tess.Cone", {"ra": 0, "dec": 0, "radius": 0.1})
    assert answer["status"] == "ERROR" and answer["data"] == []
    assert "Unknown service: 'Mast.Catalogs.Tess.Cone'" in answer["msg"]
    assert "see the 'Offline sandbox' page of the tutorial book" in answer["msg"]
