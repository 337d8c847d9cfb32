"""The tutorial notebooks: committed clean, parameterised, validated, executed.

- structure: no outputs or execution counts are committed; the sections of a Project Pythia
  notebook (overview, prerequisites, imports, ..., summary, what's next, resources); every import
  in the Imports section; one ``parameters`` cell, followed by the check against
  ``datasets.yaml`` with its code hidden; nbval markers as cell tags, not comments; no internal
  words in the text; the platform kernel in the metadata;
- a bad papermill parameter stops the run at the check with the valid values in the error;
- the runner executes what ``datasets.yaml`` lists, keeps going after a failure, and summarises;
- nbval (``--nbval-lax``, deterministic cells compared) passes over ``notebooks/`` with the
  kernels inheriting the offline sandbox's environment.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from roman_helpers import datasets, runner
from roman_helpers.errors import InvalidParameterError
from roman_helpers.notebook_params import check_parameters

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"
CREDENTIAL_WORDS = re.compile(r"key|secret|token|password|credential", re.IGNORECASE)


def _parameter_names(cell) -> list[str]:
    return re.findall(r"^(\w+)\s*=", cell.source, flags=re.MULTILINE)


def _read(path: Path):
    return nbformat.read(path, as_version=4)


# --------------------------------------------------------------------------- structure
def test_every_tutorial_in_datasets_yaml_exists():
    numbers = sorted({n for ds in datasets.load().values() for n in ds.notebooks})
    assert numbers == [1, 2, 3, 4, 5, 6]
    assert [runner.find_notebook(n, NOTEBOOK_DIR).name[:2] for n in numbers] == [
        "01",
        "02",
        "03",
        "04",
        "05",
        "06",
    ]
    assert (NOTEBOOK_DIR / "00_introduction.md").is_file()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = _read(path)
    nbformat.validate(nb)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells
    assert [c.execution_count for c in code_cells] == [None] * len(code_cells)
    assert [c for c in code_cells if c.outputs] == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_platform_kernel_in_metadata(path):
    spec = _read(path).metadata.kernelspec
    assert spec.name == "roman_cal"
    assert re.fullmatch(r"Roman Research Nexus \d{4}\.\d+", spec.display_name), spec.display_name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_parameters_cell_then_the_check(path):
    nb = _read(path)
    number = int(path.name[:2])
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    params_cell = nb.cells[tagged[0]]
    assert params_cell.cell_type == "code"
    names = _parameter_names(params_cell)
    assert names[0] == "dataset"
    assert not [n for n in names if CREDENTIAL_WORDS.search(n)]

    # every knob belongs to a dataset this tutorial reads; the default dataset is one of them
    used = [ds for ds in datasets.load().values() if number in ds.notebooks]
    knobs = {name for ds in used for name in ds.parameters}
    assert set(names[1:]) <= knobs
    namespace: dict = {}
    exec(params_cell.source, namespace)  # plain assignments only
    assert namespace["dataset"] in {ds.name for ds in used}
    checked = check_parameters(namespace["dataset"], namespace, notebook=number, announce=False)
    assert checked.dataset == namespace["dataset"]

    # the cell right after the parameters is the check: one line, its code hidden in the book
    # (Jupyter Book's remove-input keeps its output) and collapsed in JupyterLab
    check = nb.cells[tagged[0] + 1]
    assert check.source == f"params = check_parameters(dataset, globals(), notebook={number})"
    assert check.metadata.get("tags") == ["remove-input"]
    assert check.metadata.get("jupyter", {}).get("source_hidden") is True


def _headings(nb) -> list[str]:
    return [
        line.lstrip("#").strip()
        for c in nb.cells
        if c.cell_type == "markdown"
        for line in c.source.splitlines()
        if re.match(r"#{1,3} ", line)
    ]


PYTHIA_SECTIONS = [
    "Overview",
    "Prerequisites",
    "Imports",
    "The data",
    "Summary",
    "What's next",
    "Resources and references",
]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_sections_follow_the_project_pythia_shape(path):
    nb = _read(path)
    headings = _headings(nb)
    assert headings[0].startswith(f"{int(path.name[:2])}. ")  # the title
    found = [h for h in headings if h in PYTHIA_SECTIONS]
    assert found == PYTHIA_SECTIONS, headings
    numbered = [h for h in headings[1:] if re.match(r"\d\. ", h)]
    assert len(numbered) >= 3, "the science comes in short numbered sections"
    prerequisites = next(c.source for c in nb.cells if "## Prerequisites" in c.source)
    assert re.search(r"\*\*Time to learn:\*\* about \d+ minutes", prerequisites)
    # the imports come before the data, which come before the first numbered section
    order = [headings.index(h) for h in ("Imports", "The data", numbered[0])]
    assert order == sorted(order)


def _imports(source: str) -> list[ast.stmt]:
    return [node for node in ast.walk(ast.parse(source)) if isinstance(node, (ast.Import, ast.ImportFrom))]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_import_is_in_the_imports_section(path):
    nb = _read(path)
    heading = next(
        i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("## Imports")
    )
    imports_cell = nb.cells[heading + 1]
    statements = ast.parse(imports_cell.source).body
    assert statements and len(_imports(imports_cell.source)) == len(statements), (
        "the Imports cell holds imports only"
    )
    elsewhere = [
        c.id for c in nb.cells if c.cell_type == "code" and c is not imports_cell and _imports(c.source)
    ]
    assert elsewhere == []
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code is imports_cell


# How the notebook's code works, as opposed to what the data are: not the first thing a reader meets.
PLUMBING = re.compile(r"\bknobs?\b|params\.|for_dataset|globals\(|papermill", re.IGNORECASE)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_data_section_starts_with_the_science(path):
    """Up to the parameters, the text says what the data are, not how the notebook handles them."""
    nb = _read(path)
    parameters = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    before = "\n".join(c.source for c in nb.cells[:parameters] if c.cell_type == "markdown")
    the_data = before.split("## The data", 1)[1]
    assert len(the_data.split()) >= 30, "say what the data are"
    assert PLUMBING.findall(before) == []


NBVAL_TAGS = {"nbval-check-output", "nbval-ignore-output", "nbval-skip", "nbval-raises-exception"}
INTERNAL_WORDS = re.compile(
    r"\bseed|(?-i:REFERENCE)|issue \d|(?<![_-])\bhelpers?\b|sandbox-fidelity|NBVAL", re.IGNORECASE
)


@pytest.mark.parametrize("path", [*NOTEBOOKS, NOTEBOOK_DIR / "00_introduction.md"], ids=lambda p: p.name)
def test_published_text_has_no_internal_words(path):
    if path.suffix == ".ipynb":
        nb = _read(path)
        texts = {c.id: c.source for c in nb.cells}
        tags = {tag for c in nb.cells for tag in c.metadata.get("tags", [])}
        assert {t for t in tags if t.startswith("nbval")} <= NBVAL_TAGS
    else:
        texts = {path.name: path.read_text()}
    found = {where: INTERNAL_WORDS.findall(text) for where, text in texts.items()}
    assert {where: words for where, words in found.items() if words} == {}


def test_check_parameters_names_valid_values():
    with pytest.raises(InvalidParameterError, match=r"F184, F158 \(H158 in this dataset\)") as err:
        check_parameters("openuniverse-was-fits", {"band": "F999"}, notebook=2, announce=False)
    assert err.value.name == "band"
    with pytest.raises(InvalidParameterError, match="hst-wfc3ir-m85, roman-tutorial-2026"):
        check_parameters("romanisim-dense-region", {}, notebook=3, announce=False)


def test_shared_knobs_follow_the_chosen_dataset_only_when_identical():
    p = check_parameters(
        "openuniverse-was-fits", {"band": "H158", "pointing": "15298", "sensor": 3}, announce=False
    )
    assert p.uri("openuniverse-was-asdf").endswith("/H158/15298/roman_was_H158_15298_wfi03_simple.asdf")
    p = check_parameters("roman-tutorial-2026", {"detector": 4, "optical_element": "F106"}, announce=False)
    assert p.for_dataset("romanisim-dense-region") == datasets.get("romanisim-dense-region").defaults()
    assert p.uri().endswith("_wfi04_f106_cal.asdf")


# --------------------------------------------------------------------------- papermill
@pytest.mark.notebooks
def test_bad_parameter_stops_papermill_at_the_check(tmp_path):
    import papermill

    source = runner.find_notebook(1, NOTEBOOK_DIR)
    output = tmp_path / "bad.ipynb"
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(
            str(source),
            str(output),
            kernel_name=runner.LOCAL_KERNEL,
            parameters={"dataset": "hst-wfc3ir-m85", "filters": "F999W"},
            progress_bar=False,
            cwd=str(tmp_path),
        )
    assert err.value.ename == "InvalidParameterError"
    assert "F999W" in err.value.evalue and "F160W, F110W" in err.value.evalue

    executed = _read(output)
    code_cells = [c for c in executed.cells if c.cell_type == "code"]
    ran = [c for c in code_cells if c.execution_count is not None]
    # imports, parameters, papermill's injected parameters, the check: nothing after it ran
    assert len(ran) == 4
    assert "check_parameters" in ran[-1].source
    assert ran[-1].outputs[-1].output_type == "error"


def _tiny_tutorial(folder: Path) -> None:
    """A stand-in tutorial 1 that fails for one parameter value (for the runner's own logic)."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('dataset = "hst-wfc3ir-m85"\nfilters = "F160W"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell('assert filters != "F110W", "no F110W here"\nprint(dataset, filters)'),
    ]
    nb.metadata["kernelspec"] = {
        "name": "roman_cal",
        "display_name": "Roman Research Nexus 2026.2",
        "language": "python",
    }
    folder.mkdir()
    nbformat.write(nb, folder / "01_tiny.ipynb")


@pytest.mark.notebooks
def test_runner_keeps_going_after_a_failure_and_reports_it(tmp_path, capsys):
    _tiny_tutorial(tmp_path / "nbs")
    parser = argparse.ArgumentParser()
    runner.register(parser.add_subparsers())
    args = parser.parse_args(
        [
            "run",
            "--dataset",
            "hst-wfc3ir-m85",
            "--notebook",
            "1",
            "--real",
            "--no-progress",
            "--output",
            str(tmp_path / "runs"),
        ]
    )
    results = runner.run_notebooks(
        args.dataset,
        args.notebook,
        real=True,
        output_dir=args.output,
        notebooks_dir=tmp_path / "nbs",
        progress=False,
    )
    assert [(r.params["filters"], r.status) for r in results] == [("F160W", "passed"), ("F110W", "failed")]
    assert "no F110W here" in results[1].error
    outputs = sorted(p.name for p in (tmp_path / "runs" / "hst-wfc3ir-m85").iterdir())
    assert outputs == ["01_tiny__defaults.ipynb", "01_tiny__filters-F110W_obsid-24797501.ipynb"]
    summary = json.loads((tmp_path / "runs" / "summary.json").read_text())
    assert [r["status"] for r in summary["runs"]] == ["passed", "failed"]
    table = runner.format_summary(results)
    assert "1 passed, 1 failed" in table and "FAILED 01_tiny.ipynb" in table


def test_runner_cli_rejects_bad_selection():
    parser = argparse.ArgumentParser()
    runner.register(parser.add_subparsers())
    args = parser.parse_args(["run", "--dataset", "no-such-dataset"])
    with pytest.raises(InvalidParameterError, match="hst-wfc3ir-m85"):
        args.handler(args)
    with pytest.raises(InvalidParameterError, match="--all"):
        args.handler(parser.parse_args(["run"]))
    with pytest.raises(InvalidParameterError, match="valid values are: 1, 3"):
        runner.planned_runs(["hst-wfc3ir-m85"], [2])


def test_every_dataset_example_is_planned():
    runs = runner.planned_runs()
    expected = sum(len(ds.notebooks) * len(ds.examples) for ds in datasets.load().values())
    assert len(runs) == expected
    for run in runs:
        params = run.parameters()
        assert params["dataset"] == run.dataset
        assert not [k for k in params if CREDENTIAL_WORDS.search(k)]


@pytest.mark.notebooks
def test_runner_executes_tutorial_one_under_the_sandbox(tmp_path):
    results = runner.run_notebooks(
        ["hst-wfc3ir-m85"], [1], output_dir=tmp_path, notebooks_dir=NOTEBOOK_DIR, progress=False
    )
    assert [r.status for r in results] == ["passed", "passed"], [r.error for r in results]
    executed = _read(Path(results[0].output))
    text = "\n".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert "offline sandbox" in text
    assert "60 level-3 science images" in text
    assert "ROMAN_HELPERS_SANDBOX" not in os.environ  # the runner put the environment back


# --------------------------------------------------------------------------- tutorial 4
TDS_DATASET = "openuniverse-tds-fits"


def _stdout(nb, cell_id: str) -> str:
    cell = next(c for c in nb.cells if c.id == cell_id)
    return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")


def _expected_tds_run(params: dict) -> dict:
    """What tutorial 4 must find, from the sandbox's own sky and survey tables (never the kit)."""
    import hpgeom
    import numpy as np

    from roman_helpers.sandbox.archive.layouts.openuniverse import _images
    from roman_helpers.sandbox.sky import render, sources, wfi
    from roman_helpers.sandbox.sky.surveys import tds

    ra0, dec0 = (float(v) for v in params["field"].split(","))
    table = sources.catalog_table("snana", int(hpgeom.angle_to_pixel(32, ra0, dec0, nest=False)))
    columns = ("id", "ra", "dec", "model_name", "peak_mjd", "peak_mag_F")
    catalog = {name: np.asarray(table.column(name).to_pylist()) for name in columns}
    sequence = tds.observation_sequence()
    start, end = float(sequence["date"].min()), float(sequence["date"].max())
    # the rule the tutorial states: SN Ia within 0.5 deg of the field's centre, its window inside
    # the survey, brightest F184 peak (separations by the haversine formula, not astropy's)
    ra, dec, centre_dec = np.radians(catalog["ra"]), np.radians(catalog["dec"]), np.radians(dec0)
    haversine = (
        np.sin((dec - centre_dec) / 2) ** 2
        + np.cos(dec) * np.cos(centre_dec) * np.sin((ra - np.radians(ra0)) / 2) ** 2
    )
    near = np.degrees(2 * np.arcsin(np.sqrt(haversine))) < 0.5
    peak = catalog["peak_mjd"].astype(float)
    keep = (
        (catalog["model_name"] == "SALT3.NIR_WAVEEXT")
        & near
        & (peak - params["days_before_peak"] > start)
        & (peak + params["days_after_peak"] < end)
    )
    chosen = np.flatnonzero(keep)[np.argmin(catalog["peak_mag_F"][keep])]
    target = (float(catalog["ra"][chosen]), float(catalog["dec"][chosen]))
    lo, hi = peak[chosen] - params["days_before_peak"], peak[chosen] + params["days_after_peak"]

    # images of the band in the window whose detector holds the target, by the detectors' WCS
    images = tds.images("full")
    near_image = (np.abs(images["dec"] - target[1]) < 0.2) & (
        np.abs((images["ra"] - target[0]) * np.cos(np.radians(target[1]))) < 0.2
    )
    candidates = images[near_image & (images["filter"] == params["band"])]
    candidates = candidates[(candidates["date"] >= lo) & (candidates["date"] <= hi)]
    holding, listed = 0, 0
    for row in candidates:
        pointing = sequence[int(row["pointing"])]  # the boresight (the table's ra, dec: the detector's)
        x, y = wfi.wcs(
            float(pointing["ra"]), float(pointing["dec"]), float(pointing["pa"]), int(row["sca"])
        ).world_to_pixel_values(*target)
        x, y = float(x), float(y)
        if not (-0.5 <= x < wfi.DETECTOR_SIDE - 0.5 and -0.5 <= y < wfi.DETECTOR_SIDE - 0.5):
            continue
        holding += 1
        truth = render.truth(_images.exposure("RomanTDS", int(row["pointing"]), int(row["sca"])))
        listed += int(np.isin(catalog["id"][chosen], truth["object_id"]))
    return {"id": int(catalog["id"][chosen]), "images": holding, "listed": listed}


@pytest.mark.notebooks
@pytest.mark.parametrize(
    "run",
    [r for r in runner.planned_runs([TDS_DATASET], [4]) if r.example],
    ids=lambda r: f"{r.dataset}-{r.slug()}",
)
def test_tutorial_four_measures_every_epoch_of_the_transient(sandbox_env, tmp_path, monkeypatch, run):
    """Papermill runs tutorial 4 with the examples that change its knobs (nbval and the credential
    test run the defaults): it follows the transient the stated rule picks from the catalog, cuts
    a stamp out of every image of the band and window that holds it, and measures each one within
    its errors of the truth lists."""
    import papermill

    monkeypatch.setenv("MPLBACKEND", "Agg")
    params = run.parameters()
    output = tmp_path / "executed.ipynb"
    papermill.execute_notebook(
        str(runner.find_notebook(4, NOTEBOOK_DIR)),
        str(output),
        parameters=params,
        kernel_name=runner.LOCAL_KERNEL,
        progress_bar=False,
        cwd=str(tmp_path),
    )
    executed = _read(output)
    expected = _expected_tds_run(params)
    assert expected["images"] >= 10 and expected["listed"] >= 8

    assert f"transient {expected['id']} (SALT3.NIR_WAVEEXT)" in _stdout(executed, "nb04-052")
    band, images = params["band"], expected["images"]
    found = re.findall(r"^  (\w+): (\d+) images from", _stdout(executed, "nb04-016"), flags=re.MULTILINE)
    assert found == [(band, str(images))]
    size = params["cutout_size"]
    assert f"of {size} x {size} pixels" in _stdout(executed, "nb04-022")
    assert f"{images} stamps, 0 failures, on tcp://127.0.0.1:" in _stdout(executed, "nb04-024")
    assert f"the supernova is listed in {expected['listed']}," in _stdout(executed, "nb04-034")

    # every image is a point of the light curve, and nearly all lie within 3 sigma of the truth
    rows = re.findall(
        r"^(\w+)\s+(\d+)\s+(\d+)\s+[\d.]+\s+(-?[\d.]+)\s+([\d.]+)$",
        _stdout(executed, "nb04-038"),
        flags=re.MULTILINE,
    )
    assert [(name, int(points)) for name, points, *_ in rows] == [(band, images)]
    for _band, points, within, median, scatter in rows:
        assert int(within) >= 0.9 * int(points)
        assert abs(float(median)) < 0.6 and 0.6 < float(scatter) < 1.6

    # the index read headers only; the stamps read into the science and error arrays, not whole files
    table = re.findall(
        r"^(index|stamps) [^\d]*(\d+)\s+([\d,]+)\s+([\d,]+)\s+[\d.]+%$",
        _stdout(executed, "nb04-045"),
        flags=re.MULTILINE,
    )
    counted = {step: [int(n.replace(",", "")) for n in numbers] for step, *numbers in table}
    assert counted["stamps"][0] == images <= counted["index"][0]
    (_, index_bytes, size), (_, stamp_bytes, _) = counted["index"], counted["stamps"]
    assert index_bytes < 0.001 * size
    assert 0.25 * size < stamp_bytes < size


# --------------------------------------------------------------------------- nbval
# Committed notebooks carry no outputs, so the reference outputs of the cells tagged
# `nbval-check-output` live in tests/nbval_expected.json (keyed by notebook and cell id), recorded
# from a sandbox run with `python tests/test_notebooks.py --record` and reviewed like any golden file.
# The nbval test copies the notebooks, puts those outputs into the tagged cells and runs nbval with
# --nbval-lax, which compares the outputs of the tagged cells only (and runs every cell).
EXPECTED = ROOT / "tests" / "nbval_expected.json"
MARK = "nbval-check-output"


def _marked_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and MARK in c.metadata.get("tags", [])]


def test_expected_outputs_cover_exactly_the_marked_cells():
    assert EXPECTED.is_file(), "record it under the sandbox: python tests/test_notebooks.py --record"
    expected = json.loads(EXPECTED.read_text())
    marked = {p.name: sorted(c.id for c in _marked_cells(_read(p))) for p in NOTEBOOKS}
    assert all(marked.values())
    assert {name: sorted(cells) for name, cells in expected.items()} == marked
    assert all(outputs for cells in expected.values() for outputs in cells.values())


def _with_reference_outputs(folder: Path) -> Path:
    expected = json.loads(EXPECTED.read_text())
    folder.mkdir()
    for path in NOTEBOOKS:
        nb = _read(path)
        for cell in _marked_cells(nb):
            cell.outputs = [nbformat.from_dict(o) for o in expected[path.name][cell.id]]
            cell.execution_count = 1  # nbval skips comparing a cell it believes was never run
        nbformat.write(nb, folder / path.name)
    return folder


SENTINEL_KEY_ID = "AKIASENTINEL7Q2X9KEY"
SENTINEL_SECRET = "sentinel-Secret-5c9e1f7a"
SENTINEL_MAST_TOKEN = "5e471ae1c0ffee0000mast0000000042"  # MAST's form: 32 letters and digits


def _sentinel_environment(sandbox, folder: Path) -> dict[str, str]:
    """The sandbox's environment with sentinel credentials in the file and in variables."""
    credentials = folder / "sentinel-credentials"
    credentials.write_text(
        f"[default]\naws_access_key_id = {SENTINEL_KEY_ID}\naws_secret_access_key = {SENTINEL_SECRET}\n"
    )
    env = sandbox.apply(dict(os.environ))
    env.update(
        AWS_SHARED_CREDENTIALS_FILE=str(credentials),
        MY_ARCHIVE_TOKEN=SENTINEL_SECRET,
        MAST_API_TOKEN=SENTINEL_MAST_TOKEN,  # tutorial 6 logs in to MAST with it
        MPLBACKEND="Agg",
    )
    env["TQDM_DISABLE"] = "1"  # no progress widgets in the outputs nbval compares, as in the book
    return env


def _assert_no_sentinel(texts: dict[str, str]) -> None:
    sentinels = (SENTINEL_SECRET, SENTINEL_KEY_ID, SENTINEL_MAST_TOKEN)
    leaked = [name for name, text in texts.items() if any(sentinel in text for sentinel in sentinels)]
    assert not leaked, f"a sentinel credential appears in {leaked}"


# nbval keeps what each cell printed on its item (`test_outputs`); this plugin, put beside the
# copied notebooks, writes them out so one execution serves both nbval and the credential check.
_OUTPUT_DUMPER = """
import json, os

import pytest

_outputs = {}


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item):
    _outputs[item.nodeid] = getattr(item, "test_outputs", None) or []


def pytest_sessionfinish(session):
    with open(os.environ["NBVAL_OUTPUTS_FILE"], "w") as handle:
        json.dump(_outputs, handle, default=str)
"""


@pytest.mark.notebooks
@pytest.mark.timeout(1500)  # every tutorial in one run; longer when the book has not made their files yet
def test_nbval_passes_under_the_sandbox_and_no_credential_reaches_an_output(sandbox, tmp_path):
    """Every notebook runs once, with sentinel credentials in the environment: nbval compares the
    marked cells; no cell output or log shows a sentinel; public buckets are read unsigned and the
    platform's bucket only with the credentials (tutorial 2's anonymous attempt is refused)."""
    folder = _with_reference_outputs(tmp_path / "notebooks")
    (tmp_path / "conftest.py").write_text(_OUTPUT_DUMPER)
    outputs_file = tmp_path / "outputs.json"
    env = _sentinel_environment(sandbox, tmp_path)
    env["NBVAL_OUTPUTS_FILE"] = str(outputs_file)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--nbval-lax",
        "--nbval-current-env",
        "--nbval-sanitize-with",
        str(SANITIZE),
        "--nbval-cell-timeout",
        "600",  # as the book's: a cell that makes its files cold (tutorial 6's light curves) takes minutes
        "-p",
        "no:cacheprovider",
        "-q",
        "-o",
        "addopts=",
        "--rootdir",
        str(tmp_path),
        str(folder),
    ]
    mark = sandbox.s3.stats.requests
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", done.stdout)
    code_cells = sum(1 for p in NOTEBOOKS for c in _read(p).cells if c.cell_type == "code")
    assert passed and int(passed.group(1)) == code_cells

    outputs = json.loads(outputs_file.read_text())
    assert len(outputs) == code_cells and sum(map(bool, outputs.values())) > code_cells / 3
    _assert_no_sentinel({"nbval output": done.stdout + done.stderr, "cell outputs": json.dumps(outputs)})

    records = sandbox.s3.stats.since(mark).records
    public = [r for r in records if r.bucket in ("stpubdata", "nasa-irsa-simulations")]
    private = [r for r in records if r.bucket == "roman-sci-test-data-prod-summer-beta-test"]
    assert public and private
    assert [r for r in public if r.authorized] == []  # no Authorization header on public buckets
    assert all(r.authorized for r in private if r.status < 400)
    assert {r.status for r in private if not r.authorized} == {403}


def record_expected_outputs() -> None:
    """Run the notebooks under a fresh sandbox and store the marked cells' outputs."""
    import papermill

    from roman_helpers.sandbox.launcher import Sandbox

    recorded: dict[str, dict[str, list]] = {}
    with Sandbox() as sandbox, __import__("tempfile").TemporaryDirectory() as scratch:
        env_before = dict(os.environ)
        sandbox.apply(os.environ)
        os.environ["TQDM_DISABLE"] = "1"  # as the nbval run and the book: no progress widgets
        try:
            for path in NOTEBOOKS:
                out = Path(scratch) / path.name
                papermill.execute_notebook(
                    str(path), str(out), kernel_name=runner.LOCAL_KERNEL, progress_bar=False, cwd=scratch
                )
                executed = _read(out)
                recorded[path.name] = {c.id: [dict(o) for o in c.outputs] for c in _marked_cells(executed)}
        finally:
            os.environ.clear()
            os.environ.update(env_before)
    EXPECTED.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    print(f"wrote {EXPECTED}")


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    record_expected_outputs()
