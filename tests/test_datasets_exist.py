"""Every object ``datasets.yaml`` names is one the archives hold, as the offline sandbox mirrors them.

The defaults and examples of ``datasets.yaml`` ship to the Roman Research Nexus, so they must name
files of the real buckets. The sandbox lays its buckets out as the real archives do (its layouts
say where each fact comes from); here each example's key is looked for in a listing of its folder
under the sandbox, the way a reader would browse the bucket, and its size must be a real file's.
The HST dataset's key needs the ``obs_id`` MAST gives the example's ``obsID``: it is asked for,
as tutorial 1 does. The Time Domain Survey's needs a pointing and a detector, which tutorial 4
takes from IRSA's image search; here, from the sandbox's table of the survey's images (any image
of the example's band will do: the question is whether the template names it as the archive does).
"""

from __future__ import annotations

import pytest
import s3fs

from roman_helpers import datasets

EXAMPLES = [(name, example) for name, ds in datasets.load().items() for example in ds.examples]


def _hst_obs_id(values: dict) -> str:
    from astroquery.mast import Observations

    observations = Observations.query_criteria(
        obs_collection="HST",
        instrument_name="WFC3/IR",
        filters=values["filters"],
        proposal_id=[values["proposal_id"]],
        dataRights="PUBLIC",
    )
    products = Observations.filter_products(
        Observations.get_product_list(observations),
        calib_level=[3],
        productType=["SCIENCE"],
        dataproduct_type=["image"],
        project=["CALWF3"],
        obsID=values["obsid"],
    )
    assert len(products) == 1, f"obsID {values['obsid']} is not a level-3 science image of the query"
    return str(products["obs_id"][0])


def _tds_image(prefix: str, band: str) -> dict:
    from roman_helpers.sandbox.sky.surveys import tds

    release = prefix.split("/")[2]  # openuniverse2024/roman/{release}/RomanTDS/
    images = tds.images(release)
    row = images[images["filter"] == band][0]
    return {"pointing": int(row["pointing"]), "sca": int(row["sca"])}


@pytest.mark.parametrize(("name", "example"), EXAMPLES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(EXAMPLES)])
def test_every_dataset_example_is_in_its_folder(sandbox_env, name, example):
    ds = datasets.get(name)
    values = ds.validate(**example)
    if ds.extra_fields == ["obs_id"]:
        extra = {"obs_id": _hst_obs_id(values)}
    elif set(ds.extra_fields) == {"pointing", "sca"}:
        extra = _tds_image(ds.prefix, values["band"])
    else:
        extra = {}
    assert set(ds.extra_fields) == set(extra)
    key = ds.key(**values, **extra)
    assert key.startswith(ds.prefix)
    folder, _, filename = key.rpartition("/")
    fs = s3fs.S3FileSystem(anon=ds.anonymous)
    try:
        entries = fs.ls(f"{ds.bucket}/{folder}", detail=True)
    except FileNotFoundError:
        entries = []
    listed = {entry["name"].rsplit("/", 1)[-1]: entry["size"] for entry in entries}
    assert filename in listed, f"{key} is not in s3://{ds.bucket}/{folder}/"
    assert listed[filename] > 1_000_000  # a whole image, not a stand-in
