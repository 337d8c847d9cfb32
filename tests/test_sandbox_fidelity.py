"""Fidelity of the offline sandbox's MAST and IRSA, driven by the list in ``roman_helpers.sandbox.supported``.

* Every call listed there runs through the real client library (astroquery, pyvo, requests,
  s3fs, astropy) under the sandbox. A supported call's answer is checked against the sandbox's
  own files, read here independently of the service: for MAST, positions from the drizzled
  images' WCS, criteria from their headers, file sets from the association tables (all read
  with astropy from the archive's bytes), sizes from the bucket's listing, bytes from the
  archive; for IRSA, footprints from the layouts' image records tested by another method than
  the service's, bands and times from the file names and the survey designs, bytes from the
  archive (``_irsa_support``). A failing call must raise the listed error with the listed text.
* Every service with a recorded MAST answer (astroquery's own test data) answers with the same
  shape: field names and types, paging keys, row keys.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
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
    RecordGeometry,
    keys,
    sky_records,
)
from astropy.coordinates import SkyCoord
from astropy.io import fits

from roman_helpers.sandbox import supported
from roman_helpers.sandbox.archive.layouts import hst
from roman_helpers.sandbox.archive.objects import ArchiveObject
from roman_helpers.sandbox.archive.registry import Archive

MAST_CALLS = supported.calls_for("MAST")
RECORDED = Path(__import__("astroquery.mast", fromlist=["mast"]).__file__).parent / "tests" / "data"
MAST = "https://mast.stsci.edu"


# --------------------------------------------------------------------------- the sandbox's files
class _ObjectFile(io.RawIOBase):
    """An archive object as a seekable binary file: astropy reads headers and seeks past the data."""

    def __init__(self, item: ArchiveObject) -> None:
        self.item, self.position = item, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.position, 2: self.item.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer: Any) -> int:
        end = min(self.item.size, self.position + len(buffer))
        data = self.item.read(self.position, end) if end > self.position else b""
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)


@dataclass
class Files:
    """What the archive's HST objects say, read without the MAST service."""

    archive: Archive  # the sandbox's archive: bucket objects, and the previews MAST alone serves
    keys: dict[str, str]  # file name -> key (previews: where path_lookup puts them; not in the bucket)
    in_bucket: dict[str, int]  # file name -> size, as the bucket lists it
    drz: dict[str, fits.Header] = field(default_factory=dict)  # association -> primary header
    centres: dict[str, SkyCoord] = field(default_factory=dict)  # association -> image centre (SCI WCS)
    members: dict[str, list[str]] = field(default_factory=dict)  # association -> exposures (ASN table)
    digests: dict[str, str] = field(default_factory=dict)  # file name -> MD5 of the archive's bytes

    def item(self, name: str) -> ArchiveObject:
        found = hst.download_object(self.archive, self.keys[name])
        assert found is not None, name
        return found

    def size(self, name: str) -> int:
        """The size the bucket lists (for a preview: the length of MAST's file)."""
        return self.in_bucket[name] if name in self.in_bucket else self.item(name).size

    def md5(self, name: str) -> str:
        if name not in self.digests:
            item = self.item(name)
            self.digests[name] = hashlib.md5(item.read(0, item.size)).hexdigest()
        return self.digests[name]

    def files_of(self, association: str) -> set[str]:
        """Names of every file of an association and its exposures (by the folder they live in)."""
        folders = {association, *self.members[association]}
        return {name for name, key in self.keys.items() if key.split("/")[-2] in folders}

    def within(self, centre: SkyCoord, radius: u.Quantity) -> set[str]:
        return {name for name, position in self.centres.items() if centre.separation(position) <= radius}

    def where(self, **keywords: object) -> set[str]:
        return {
            name
            for name, header in self.drz.items()
            if all(str(header[k]).strip() == str(v) for k, v in keywords.items())
        }


@pytest.fixture(scope="module")
def files(sandbox) -> Files:
    import s3fs

    listed = s3fs.S3FileSystem(anon=True, endpoint_url=sandbox.s3.url, skip_instance_cache=True).find(
        "stpubdata/hst/public/", detail=True
    )
    found = Files(
        sandbox.archive,
        {p.filename: p.key for p in hst.products()},
        {path.rsplit("/", 1)[1]: int(info["size"]) for path, info in listed.items()},
    )
    for name in found.keys:
        if name.endswith("_drz.fits"):
            association = name[: -len("_drz.fits")]
            with fits.open(io.BufferedReader(_ObjectFile(found.item(name)), 1 << 16)) as hdul:
                found.drz[association] = hdul[0].header.copy()
                sci = hdul["SCI"].header
                found.centres[association] = SkyCoord(sci["CRVAL1"], sci["CRVAL2"], unit="deg")
        elif name.endswith("_asn.fits"):
            with fits.open(io.BufferedReader(_ObjectFile(found.item(name)), 1 << 16)) as hdul:
                table = hdul["ASN"].data
                found.members[name[: -len("_asn.fits")]] = [
                    m.strip().lower()
                    for m, kind in zip(table["MEMNAME"], table["MEMTYPE"], strict=True)
                    if kind.strip() == "EXP-DTH"
                ]
    return found


def _md5(path: str | Path) -> str:
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
        assert row["size"] == files.size(name), name
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
        expected = f"s3://stpubdata/{files.keys[name]}" if name in files.in_bucket else None
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
    assert sorted(o.result) == sorted(f"s3://stpubdata/{files.keys[name]}" for name in wanted)


def _assert_downloaded(manifest, files: Files) -> None:
    for path in manifest["Local Path"]:
        name = Path(path).name
        assert _md5(path) == files.md5(name), name
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
    assert _md5(path) == files.md5(path.name)
    with fits.open(path) as hdul:  # one imset (SCI, ERR, DQ, SAMP, TIME) per read
        assert sum(h.name == "SCI" for h in hdul) == hdul[0].header["NSAMP"] == len(hdul) // 5


# --------------------------------------------------------------------------- checks of supported IRSA calls
@dataclass
class Images:
    """The OpenUniverse images, from the layouts' records and the survey designs, without the IRSA service."""

    geometry: RecordGeometry
    archive: Archive

    def at(self, ra: float, dec: float, radius: float) -> tuple[set[str], set[str]]:
        """Keys of the images a cone must meet, and of those it may (an edge a micro-degree from its rim)."""
        must, may = self.geometry.cone(ra, dec, radius)
        assert must, f"({ra}, {dec}) must lie on some image"
        return must, may

    @staticmethod
    def band(key: str) -> str:
        """The filter, as the file's name spells it (``.../simple_model/{band}/{pointing}/...``)."""
        return key.split("/")[-3]

    @staticmethod
    def mjd(key: str) -> float:
        """When the image was taken: its pointing's date in its survey's observation sequence."""
        from roman_helpers.sandbox.sky.surveys import tds, was

        survey = tds if "/RomanTDS/" in key else was
        return float(survey.observation_sequence()["date"][int(key.split("/")[-2])])

    def item(self, key: str) -> ArchiveObject:
        found = self.archive.get(BUCKET, key)
        assert found is not None, key
        return found


@pytest.fixture(scope="module")
def images(sandbox) -> Images:
    return Images(sky_records(), sandbox.archive)


def _at_field(o: Outcome, images: Images, radius: float = ARCSEC) -> tuple[set[str], set[str]]:
    field = o.namespace["field"]
    return images.at(field.ra.deg, field.dec.deg, radius)


def _between(found: set[str], bounds: tuple[set[str], set[str]]) -> bool:
    return bounds[0] <= found <= bounds[1]


def _image_key(o: Outcome) -> str:
    return json.loads(o.namespace["image"]["cloud_access"])["aws"]["key"]


def check_sia(o: Outcome, images: Images, sandbox) -> None:
    expected = _at_field(o, images)
    assert _between(keys(o.result), expected) and len(o.result) == len(keys(o.result))
    assert len({images.band(key) for key in expected[0]}) >= 2  # the field was imaged in several bands
    for row in o.result:
        key = json.loads(row["cloud_access"])["aws"]["key"]
        assert row["obs_id"] == Path(key).name.removesuffix(".fits.gz")
        assert row["energy_bandpassname"] == images.band(key)
        assert (row["s_xel1"], row["s_xel2"]) == (4088, 4088)  # Roman WFI detectors
        assert row["obs_collection"] == COLLECTION
    for name in (*NOTEBOOK_COLUMNS, "dist_to_point"):
        assert name in o.result.colnames, name


def check_sia_band(o: Outcome, images: Images, sandbox) -> None:
    # WFI filter table: F158 passes 1.380-1.774 micron, F184 1.683-2.000; 1.5-1.6 micron meets F158 only
    every = keys(o.namespace["images"])
    expected = {key for key in every if images.band(key) == "H158"}
    assert keys(o.result) == expected and expected and expected < every


def check_sia_time(o: Outcome, images: Images, sandbox) -> None:
    every = keys(o.namespace["images"])
    expected = {key for key in every if 62000 <= images.mjd(key) <= 62500}
    assert keys(o.result) == expected and expected and expected < every


def check_sia_rubin(o: Outcome, images: Images, sandbox) -> None:
    from roman_helpers.sandbox.sky.surveys import rubin

    must, may = images.at(9.55, -44.1, ARCSEC)
    expected = ({k for k in must if "/rubin/" in k}, {k for k in may if "/rubin/" in k})
    assert _between(keys(o.result), expected) and sorted(o.result["energy_bandpassname"]) == sorted(
        rubin.FILTERS
    )
    assert all(f"/deepCoadd_calexp/{rubin.TRACT}/{rubin.PATCH}/" in key for key in keys(o.result))


def check_sia_maxrec(o: Outcome, images: Images, sandbox) -> None:
    full = o.namespace["images"]
    assert _between(keys(full), _at_field(o, images)) and len(full) >= 2
    assert list(o.result["obs_id"]) == [full["obs_id"][0]]
    assert not [name for name in o.warnings if "Overflow" in name]


def check_sia_unknown_collection(o: Outcome, images: Images, sandbox) -> None:
    assert len(o.result) == 0 and len(o.namespace["images"]) >= len(_at_field(o, images)[0]) > 0


def check_sia_observed(o: Outcome, images: Images, sandbox) -> None:
    assert o.namespace["IrsaClass"]().sia_url == "https://irsa.ipac.caltech.edu/SIA"  # astroquery's default
    assert len(o.result) == 0 and len(o.namespace["images"]) >= len(_at_field(o, images)[0]) > 0


def check_sia2_service(o: Outcome, images: Images, sandbox) -> None:
    assert o.result.query_ep == SIA_URL  # read from the VOSI capabilities


def check_sia2_search(o: Outcome, images: Images, sandbox) -> None:
    must, may = images.at(9.8, -44.02, 0.001)  # 1.7 micron is inside both F158 and F184
    in_band = (
        {k for k in must if images.band(k) in ("H158", "F184")},
        {k for k in may if images.band(k) in ("H158", "F184")},
    )
    table = o.result.to_table()
    assert _between(keys(table), in_band) and {images.band(key) for key in keys(table)} == {"H158", "F184"}
    record = o.result[0]
    assert record.s_fov.unit == u.deg and record.em_min.unit == u.m and record.obs_collection == COLLECTION


def check_sia2_polygon(o: Outcome, images: Images, sandbox) -> None:
    # the square's inscribed circle is over 0.0007 deg across it, its circumscribed under 0.0013
    inner, outer = images.at(9.8, -44.02, 0.0007), images.at(9.8, -44.02, 0.0013)
    assert _between(keys(o.result.to_table()), (inner[0], outer[1]))


def check_collections(o: Outcome, images: Images, sandbox) -> None:
    expected = {f"simulated_{key.split('/')[1]}_openuniverse2024" for key in images.geometry.keys}
    assert set(o.result["collection"]) == expected and len(o.result) == len(expected) == 2
    assert len(o.namespace["Irsa"].list_collections(servicetype="SSA")) == 0  # no spectra


def check_access_url(o: Outcome, images: Images, sandbox) -> None:
    key = _image_key(o)
    assert key in _at_field(o, images)[1]
    item = images.item(key)
    assert o.result.status_code == 206 and o.result.content == item.read(0, 100_000)
    assert o.result.headers["Content-Range"] == f"bytes 0-99999/{item.size}"
    assert o.namespace["image"]["access_estsize"] == math.ceil(item.size / 1000)  # kilobytes


def check_cloud_access_fits(o: Outcome, images: Images, sandbox) -> None:
    key = _image_key(o)
    assert key in _at_field(o, images)[1]
    assert o.namespace["cloud"]["bucket_name"] == BUCKET and o.namespace["cloud"]["region"] == "us-east-1"
    with o.result as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "ERR", "DQ"]
        sci = hdul[1].header
        assert (sci["NAXIS1"], sci["NAXIS2"], sci["BITPIX"]) == (4088, 4088, -32)
        assert str(sci.get("FILTER", hdul[0].header.get("FILTER"))).strip() == images.band(key)
        assert sci["MJD-OBS"] == pytest.approx(images.mjd(key), abs=1e-6)


def check_cloud_access_s3fs(o: Outcome, images: Images, sandbox) -> None:
    assert o.result == images.item(_image_key(o)).read(0, 100_000)


# --------------------------------------------------------------------------- the mission search (Roman)
def _roman_stems(table) -> set[str]:
    return {str(uri).rsplit("/", 1)[1].removesuffix("_cal.asdf") for uri in table["l2_s3_uri"]}


def check_missions_search(o: Outcome, files: Files, sandbox) -> None:
    names = {str(name).lower() for name in o.result["sci_data_set_name"]}
    assert names == files.within(SkyCoord(186.350222, 18.191081, unit="deg"), 0.05 * u.deg) and names
    assert set(o.result["sci_spec_1234"]) <= {"F160W", "F110W"} and np.all(o.result["ang_sep"] <= 3.0)


def check_missions_columns(o: Outcome, files: Files, sandbox) -> None:
    assert {"fileSetName", "program", "pass", "detector", "optical_element", "start_time"} <= set(
        o.result["name"]
    )
    assert o.namespace["MastMissions"](mission="roman").get_dataset_kwd() == "fileSetName"


def check_missions_region(o: Outcome, files: Files, sandbox) -> None:
    from test_sandbox_missions import _holding  # each detector's astropy WCS, not the service's test

    expected, closest = _holding(9.0, -44.0)
    assert closest > 0.01 and set(o.result["fileSetName"]) == expected and len(o.result) == len(expected) > 0


def check_missions_criteria(o: Outcome, files: Files, sandbox) -> None:
    from roman_helpers.sandbox.sky.surveys import ccs

    t = ccs.manifest("r00342")
    keep = (t["optical_element"] == "F213") & np.isin(t["detector"], ["WFI01", "WFI02"]) & (t["visit"] != 1)
    keep &= t["exposure"] <= 2
    assert set(o.result["fileSetName"]) == _roman_stems(t[keep]) and len(o.result) == int(keep.sum()) > 0


def _roman_listing(sandbox, stem: str) -> dict[str, int]:
    import s3fs

    from roman_helpers.sandbox.sky.surveys import ccs

    fs = s3fs.S3FileSystem(anon=True, endpoint_url=sandbox.s3.url, skip_instance_cache=True)
    root = f"stpubdata/{ccs.PREFIX}/r{stem[1:6]}"
    suffixes = ("uncal.asdf", "cal.asdf", "preview.png", "thumb.png")  # the layout's files of a dataset
    return {
        f"{stem}_{x}": int(fs.info(f"{root}/{'l1' if x == 'uncal.asdf' else 'l2'}/{stem}_{x}")["size"])
        for x in suffixes
    }


def check_missions_products(o: Outcome, files: Files, sandbox) -> None:
    stem = str(o.result["dataset"][0])
    assert {str(p["filename"]): int(p["size"]) for p in o.result} == _roman_listing(sandbox, stem)
    assert len(o.result) == 4 and set(o.result["dataset"]) == {stem}


def check_missions_download_anonymous(o: Outcome, files: Files, sandbox) -> None:
    status, message, url = o.result
    assert status == "ERROR" and "401" in message and "/search/roman/api/v0.1/retrieve_product" in url
    assert not list(Path(o.folder).rglob("*.png"))


def check_missions_download(o: Outcome, files: Files, sandbox) -> None:
    import s3fs

    from roman_helpers.sandbox.sky.surveys import ccs

    (path,) = [Path(p) for p in o.result["Local Path"]]
    assert list(o.result["Status"]) == ["COMPLETE"] and path.name.endswith("_thumb.png")
    fs = s3fs.S3FileSystem(anon=True, endpoint_url=sandbox.s3.url, skip_instance_cache=True)
    assert path.read_bytes() == fs.cat(f"stpubdata/{ccs.PREFIX}/r00342/l2/{path.name}")


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
    assert sent == {name: files.size(name) for name in fits_files}


def test_download_file_answers_head_with_the_length_then_the_bytes(sandbox_env, files):
    for name in ("ib1f0v010_drz.jpg", "ib1f0vbbq_raw.fits"):
        url = f"{MAST}/api/v0.1/Download/file?uri=" + quote(f"mast:HST/product/{name}", safe=":/")
        head = requests.head(url, timeout=60)
        body = requests.get(url, timeout=60).content
        assert int(head.headers["Content-Length"]) == len(body) == files.size(name)
        assert hashlib.md5(body).hexdigest() == files.md5(name)


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
    assert answer["msg"].endswith("See the sandbox page of the book (book/sandbox.md).")
