"""One vocabulary of band names (roman_helpers._bands), taken wherever the kit takes a band.

The spellings are checked against sources the kit does not read: Roman's data model (rad's
enumeration of the WFI's optical elements) and the sandbox's filter table (OpenUniverse's names of
Roman's filters, which the sandbox's file names and FILTER keywords use). What find,
light_curve_from_index, the URI builders and the command line answer is checked against the files
the sandbox's layout names (tests/_tds_transient.py: a supernova of its Time Domain Survey and the
images of it that conftest.tds_index indexed), never against the kit's own answer in another spelling
alone.
"""

from __future__ import annotations

import re
from importlib import resources

import numpy as np
import pytest
import yaml
from _tds_transient import BAND, OTHER_BAND, indexed, transient
from astropy.coordinates import SkyCoord
from astropy.table import Table

from roman_helpers import _bands, _sky, datasets, footprints, photometry, uris
from roman_helpers.cli import main
from roman_helpers.errors import InvalidParameterError
from roman_helpers.sandbox.archive.layouts.openuniverse._images import image_key
from roman_helpers.sandbox.sky.bands import ROMAN_BANDS, band

#: Days either side of the supernova's peak whose exposures the light curves measure (a few).
HALF_WINDOW = 6.0


def _rad_optical_elements() -> set[str]:
    """The WFI's optical elements in the newest schema of Roman's data model that rad ships."""
    schemas = resources.files("rad") / "resources" / "schemas"
    found = [p for p in schemas.iterdir() if re.fullmatch(r"wfi_optical_element-[\d.]+\.yaml", p.name)]
    newest = max(found, key=lambda p: tuple(int(n) for n in p.name[20:-5].split(".")))
    return set(yaml.safe_load(newest.read_text())["enum"])


def _holding(name: str) -> list[str]:
    """The indexed images of one band (OpenUniverse's spelling) that hold the supernova, in time order."""
    return [image.uri for image in indexed() if image.band == name and image.holds]


@pytest.fixture
def index(tds_index, sandbox_env) -> Table:
    assert tds_index.status == 0
    return footprints.load_index(tds_index.path)


def _supernova() -> SkyCoord:
    sn = transient()
    return SkyCoord(sn.ra, sn.dec, unit="deg")


# --------------------------------------------------------------------------- the vocabulary


def test_roman_names_are_those_of_romans_data_model() -> None:
    elements = _rad_optical_elements()
    assert {"F158", "GRISM", "PRISM", "DARK"} <= elements  # the schema was read
    assert set(_bands.ROMAN_ELEMENTS) == elements - {"NOT_CONFIGURED"}  # that one is no element
    for name in _bands.ROMAN_ELEMENTS:
        assert _bands.canonical(name.lower()) == name and _bands.spelling(name, "Roman") == name


def test_openuniverse_names_are_those_the_sandboxs_archive_writes() -> None:
    assert len(ROMAN_BANDS) == 8
    renamed = {b.name: b.openuniverse_name for b in ROMAN_BANDS if b.openuniverse_name != b.name}
    assert renamed == _bands.ARCHIVES["OpenUniverse"] and len(renamed) == 7  # all but F184
    for b in ROMAN_BANDS:
        for alias in (b.openuniverse_name, b.openuniverse_name.lower(), f" {b.name.lower()} ", *b.aliases):
            assert _bands.canonical(alias) == b.name, alias
        assert _bands.spelling(b.name, "OpenUniverse") == b.openuniverse_name
        assert _bands.spelling(b.openuniverse_name.lower(), "Roman") == b.name
    with pytest.raises(InvalidParameterError, match="valid values are: Roman, OpenUniverse"):
        _bands.spelling("F158", "IRSA")


def test_other_instruments_names_are_matched_as_written() -> None:
    assert _bands.canonical("f160w") == "F160W" and _bands.canonical("r") == "R"
    assert _bands.held({"F160W"}, ["F110W", "F160W"]) == ["F160W"]
    assert _sky.parse_bands(["F160W", "h158", "J129", "f129"]) == {"F160W", "F158", "F129"}


def test_parse_bands_reads_every_spelling_and_refuses_what_is_no_name() -> None:
    assert _sky.parse_bands(None) is None
    assert _sky.parse_bands("h158") == _sky.parse_bands("F158") == {"F158"}
    assert _sky.parse_bands(("W146", "k213", "PRISM")) == {"F146", "F213", "PRISM"}
    for bad in ("", [], ["F158", ""], [158]):
        with pytest.raises(InvalidParameterError, match="give a band name such as F158"):
            _sky.parse_bands(bad)


# --------------------------------------------------------------------------- find and light curves


def test_find_takes_romans_name_and_reports_the_archives(index) -> None:
    where = _supernova()
    h158, j129 = _holding(BAND), _holding(OTHER_BAND)
    assert len(h158) >= 10 and len(j129) >= 1
    for asked in ("F158", "f158", "H158", "h158", ["F158"], ("H158", "F158")):
        found = footprints.find(index, where, band=asked)
        assert list(found["uri"]) == h158, asked
        assert set(found["band"]) == {BAND}, asked  # the files' own name
    assert list(footprints.find(index, where, band="F129")["uri"]) == j129
    both = footprints.find(index, where, band=["F158", "j129"])
    assert sorted(both["uri"]) == sorted(h158 + j129) and set(both["band"]) == {BAND, OTHER_BAND}


def test_find_in_an_index_spelled_as_roman_takes_openuniverses_name(index) -> None:
    """The same files, their band written F158 and F129 (as Roman's own files write it)."""
    index["band"] = [band(str(name)).name if name else "" for name in index["band"]]
    found = footprints.find(index, _supernova(), band="H158")
    assert list(found["uri"]) == _holding(BAND) and set(found["band"]) == {"F158"}
    assert list(footprints.find(index, _supernova(), band="j129")["uri"]) == _holding(OTHER_BAND)


def test_an_index_of_both_archives_answers_one_filter_with_both_spellings(index) -> None:
    """Half the H158 files written F158, as an index of OpenUniverse's files and Roman's would hold."""
    renamed = set(_holding(BAND)[::2])
    written = zip(index["uri"], index["band"], strict=True)
    index["band"] = ["F158" if uri in renamed else name for uri, name in written]
    for asked in ("F158", "H158"):
        found = footprints.find(index, _supernova(), band=asked)
        assert list(found["uri"]) == _holding(BAND)
        assert [str(b) for b in found["band"]] == ["F158" if uri in renamed else BAND for uri in found["uri"]]
    with pytest.raises(InvalidParameterError) as refused:
        footprints.find(index, _supernova(), band="F184")
    assert refused.value.valid == ["F158", "F158 (H158 in this index)", "F129 (J129 in this index)"]


def test_a_band_the_index_lacks_is_refused_naming_both_spellings(index) -> None:
    held = sorted({image.band for image in indexed()})
    assert held == ["H158", "J129"]
    expected = [f"{band(name).name} ({name} in this index)" for name in held]
    with pytest.raises(InvalidParameterError) as refused:
        footprints.find(index, _supernova(), band="r062")
    assert refused.value.valid == expected
    message = str(refused.value)
    assert message.startswith(f"invalid band 'F062 (R062)'; valid values are: {', '.join(expected)}. ")
    assert "this index holds only these" in message and "F158 = H158" in message
    with pytest.raises(InvalidParameterError) as refused:
        footprints.find(index, _supernova(), band=["F158", "F184", "K213"])
    assert refused.value.value == ["F184", "F213 (K213)"]  # each band missing, the one present not


def test_a_light_curve_from_index_takes_romans_name(index) -> None:
    peak = transient().peak_mjd
    start, end = peak - HALF_WINDOW, peak + HALF_WINDOW
    measured = [i for i in indexed() if i.band == BAND and i.holds and i.start < end and i.end > start]
    curve = photometry.light_curve_from_index(
        index, _supernova(), band="f158", time=(start, end), progress=False
    )
    assert len(curve) == len(measured) >= 3 and np.all(np.isfinite(curve["flux"]))
    assert [str(f) for f in curve["file"]] == [i.uri for i in measured]
    assert set(curve["band"]) == {BAND}


# --------------------------------------------------------------------------- URIs


def test_the_uri_builders_take_either_name_and_write_the_archives() -> None:
    h158 = f"s3://nasa-irsa-simulations/{image_key('RomanWAS', 'preview', 'H158', 15298, 3)}"
    for asked in ("F158", "f158", "H158", " h158 "):
        assert uris.openuniverse_fits_uri(asked, 15298, 3) == h158, asked
        assert uris.openuniverse_asdf_uri(asked, 15298, 3).endswith(
            "/H158/15298/roman_was_H158_15298_wfi03_simple.asdf"
        )
    tds = datasets.get("openuniverse-tds-fits")
    assert tds.uri(band="F129", pointing=5, sca=3) == (
        f"s3://nasa-irsa-simulations/{image_key('RomanTDS', 'full', 'J129', 5, 3)}"
    )
    # the 2024 dense field names its visits by filter: OpenUniverse's name chooses the same visit
    assert uris.romanisim_uri("R0.5_DP0.5_PA0", "J129", 7).endswith(
        "r0000101001001001002_01101_0001_WFI07_cal.asdf"
    )


def test_every_filter_of_every_dataset_is_taken_in_each_spelling() -> None:
    checked = 0
    for ds in datasets.load().values():
        for parameter in ds.parameters.values():
            if parameter.kind != "band":
                continue
            for value in parameter.values or ():
                spellings = {value, value.lower(), band(value).name, band(value).openuniverse_name}
                for spelled in spellings:
                    assert parameter.coerce(spelled) == value, (ds.name, spelled)
                checked += 1
    assert checked == 2 + 2 + 2 + 2 + 1 + 7 + 8  # HST, dense field, the two WAS, tutorial data, TDS, CCS


def test_a_filter_a_dataset_lacks_is_refused_naming_both_spellings() -> None:
    with pytest.raises(InvalidParameterError) as refused:
        uris.openuniverse_fits_uri("K213", 15297, 11)
    assert refused.value.valid == ["F184", "F158 (H158 in this dataset)"]
    assert str(refused.value).startswith(
        "invalid band 'F213 (K213)'; valid values are: F184, F158 (H158 in this dataset). this dataset "
        "holds only these; Roman's names and OpenUniverse's are both taken"
    )


# --------------------------------------------------------------------------- the command line


def test_the_command_line_takes_either_name(index, tds_index, tmp_path, capsys) -> None:
    where = f"{transient().ra:.6f} {transient().dec:.6f}"
    for asked in ("F158", "h158"):
        assert main(["find", str(tds_index.path), "--target", where, "--band", asked, "--uris"]) == 0
        assert capsys.readouterr().out.split() == _holding(BAND), asked
    assert main(["find", str(tds_index.path), "--target", where, "--band", "F062"]) == 1
    err = capsys.readouterr().err
    assert (
        "invalid --band 'F062 (R062)'; valid values are: F158 (H158 in this index), F129 (J129 in this index)"
        in err
    )

    peak = transient().peak_mjd
    out = tmp_path / "curve.ecsv"
    common = ["lightcurve", str(tds_index.path), "--target", where, "-o", str(out)]
    window = ["--start", str(peak - HALF_WINDOW), "--end", str(peak + HALF_WINDOW)]
    assert main([*common, "--band", "F158", *window]) == 0
    capsys.readouterr()
    curve = Table.read(out)
    measured = [
        i.uri
        for i in indexed()
        if i.band == BAND and i.holds and peak - HALF_WINDOW < i.end and i.start < peak + HALF_WINDOW
    ]
    assert len(curve) == len(measured) >= 3 and set(curve["band"]) == {BAND}

    assert main(["uri", "openuniverse-was-fits", "band=F158", "pointing=15298", "sensor=3"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"s3://nasa-irsa-simulations/{image_key('RomanWAS', 'preview', 'H158', 15298, 3)}"
    )
    assert main(["uri", "openuniverse-was-fits", "band=W146"]) == 1
    assert (
        "invalid band 'F146 (W146)'; valid values are: F184, F158 (H158 in this dataset)"
        in capsys.readouterr().err
    )
