r"""Run other people's public notebooks, unmodified, against the offline sandbox, and report each cell.

The sandbox promises that code written for MAST, IRSA and the AWS buckets runs on it unchanged.
Code nobody here wrote is the honest test of that promise: the OpenUniverse notebooks of
Caltech-IPAC/irsa-tutorials (MyST Markdown) and the notebooks of spacetelescope/roman_notebooks
(.ipynb). This tool executes each given notebook cell by cell in a Jupyter kernel whose
environment is the sandbox's (run it under ``roman-helpers sandbox run``, which also isolates the
network on Linux), keeps going after a failing cell, and reports per notebook: code cells that ran
without error / code cells, and the first failure with its message.

The notebooks are not part of this repository (their code is not ours to copy): point the tool at
clones, e.g. ``git clone https://github.com/Caltech-IPAC/irsa-tutorials``. Each notebook runs in a
temporary copy of its own folder, so files it reads beside itself are found and nothing it writes
lands in the clone. Running them needs what they import: ``pip install "roman-helpers[peers]"``.

The ``ccs_simulations`` notebook of roman_notebooks reads three ECSV manifests from its own
folder (``gbtds_manifest.ecsv``, ``hlwas_manifest.ecsv``, ``hlwas_coadd_manifest.ecsv``). The
real repository ships them beside the notebook, but they list the real files, which the sandbox
does not hold, and a clone without its large files lacks them: when the copy's folder has none,
the sandbox's own manifests (``roman-helpers sandbox manifests``) are written there, so the
notebook searches the files the sandbox serves.

Usage::

    roman-helpers sandbox run -- python tools/public_notebooks.py \
        irsa-tutorials/tutorials/simulated-data/OpenUniverse2024/openuniverse2024_quickstart.md \
        roman_notebooks/notebooks/working_with_asdf/working_with_asdf.ipynb \
        --json build/public-notebooks.json

Exit status: 0 when every notebook ran every code cell, 1 otherwise, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class CellOutcome:
    """One code cell: its index among the code cells, whether it raised, and what."""

    index: int
    ok: bool
    seconds: float
    error: str = ""


@dataclass
class NotebookOutcome:
    """What happened to one notebook."""

    path: str
    cells: list[CellOutcome] = field(default_factory=list)
    error: str = ""  # a failure before any cell ran (unreadable notebook, kernel that would not start)

    @property
    def ran(self) -> int:
        """Code cells that ran without raising."""
        return sum(cell.ok for cell in self.cells)

    @property
    def total(self) -> int:
        """Code cells in the notebook."""
        return len(self.cells)

    @property
    def first_failure(self) -> str:
        """``cell N: ExceptionName: message`` of the first failing cell, or the set-up error."""
        if self.error:
            return self.error
        for cell in self.cells:
            if not cell.ok:
                return f"cell {cell.index + 1}: {cell.error}"
        return ""


def read_notebook(path: Path) -> Any:
    """Read an ``.ipynb`` file, or a MyST Markdown notebook through jupytext."""
    import nbformat

    if path.suffix == ".md":
        import jupytext

        return jupytext.read(path)
    return nbformat.read(path, as_version=4)


def _error_text(outputs: list[Any]) -> str:
    for output in outputs:
        if output.get("output_type") == "error":
            message = " ".join(str(output.get("evalue", "")).split())
            return f"{output.get('ename', 'Error')}: {message[:400]}"
    return ""


def place_manifests(folder: Path) -> list[Path]:
    """Write the sandbox's CCS manifests into a ``ccs_simulations`` folder that lacks them.

    A manifest already in the folder is kept as it is. Other folders are left alone.
    """
    if folder.name != "ccs_simulations":
        return []
    from roman_helpers.sandbox.sky.surveys import ccs

    if all((folder / name).is_file() for name in ccs.MANIFEST_FILES):
        return []
    print(f"  writing the sandbox's CCS manifests into {folder} ...", file=sys.stderr, flush=True)
    return ccs.write_manifests(folder, overwrite=False)


def run_notebook(path: Path, *, timeout: float, kernel: str) -> NotebookOutcome:
    """Execute ``path`` cell by cell in a copy of its folder; never raise for a failing cell."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    outcome = NotebookOutcome(str(path))
    try:
        notebook = read_notebook(path)
    except Exception as error:  # noqa: BLE001 - reported as this notebook's outcome
        outcome.error = f"could not read: {type(error).__name__}: {error}"
        return outcome
    with tempfile.TemporaryDirectory(prefix="public-notebook-") as scratch:
        folder = Path(scratch) / path.parent.name
        shutil.copytree(path.parent, folder, ignore=shutil.ignore_patterns(".git", "*.ipynb_checkpoints"))
        place_manifests(folder)
        client = NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name=kernel,
            allow_errors=True,
            resources={"metadata": {"path": str(folder)}},
        )
        code = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
        try:
            with client.setup_kernel(cwd=str(folder)):
                for number, index in enumerate(code):
                    cell = notebook.cells[index]
                    started = time.perf_counter()
                    try:
                        client.execute_cell(cell, index)
                        error = _error_text(cell.get("outputs", []))
                    except CellExecutionError as failure:
                        error = str(failure).splitlines()[-1][:400]
                    except TimeoutError:
                        error = f"TimeoutError: cell ran longer than {timeout:.0f} s"
                    outcome.cells.append(
                        CellOutcome(number, not error, round(time.perf_counter() - started, 2), error)
                    )
        except Exception as error:  # noqa: BLE001 - a kernel that dies is this notebook's outcome
            outcome.error = f"kernel: {type(error).__name__}: {error}"
            outcome.cells += [
                CellOutcome(n, False, 0.0, "not run") for n in range(len(outcome.cells), len(code))
            ]
    return outcome


def format_table(outcomes: list[NotebookOutcome]) -> str:
    """Markdown table: notebook, code cells run / total, first failure."""
    lines = ["| notebook | code cells run / total | first failure |", "| --- | ---: | --- |"]
    for outcome in outcomes:
        failure = outcome.first_failure.replace("|", "\\|") or "—"
        lines.append(f"| {Path(outcome.path).name} | {outcome.ran} / {outcome.total} | {failure} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description="Run public notebooks unmodified, cell by cell, and report what ran.",
        epilog="Run it under `roman-helpers sandbox run -- ...` to test them against the offline sandbox.",
    )
    parser.add_argument("notebooks", nargs="+", type=Path, help=".ipynb or MyST .md notebooks")
    parser.add_argument("--timeout", type=float, default=900, help="seconds a cell may run (default 900)")
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel name (default python3)")
    parser.add_argument("--json", type=Path, help="also write the per-cell outcomes here")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    outcomes = []
    for path in args.notebooks:
        print(f"running {path} ...", file=sys.stderr, flush=True)
        outcome = run_notebook(path, timeout=args.timeout, kernel=args.kernel)
        print(f"  {outcome.ran} / {outcome.total} code cells ran", file=sys.stderr, flush=True)
        outcomes.append(outcome)
    print(format_table(outcomes))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = [
            {**asdict(o), "ran": o.ran, "total": o.total, "first_failure": o.first_failure} for o in outcomes
        ]
        args.json.write_text(json.dumps(payload, indent=2))
    return 0 if all(o.ran == o.total and not o.error for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
