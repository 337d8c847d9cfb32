"""Execute the tutorial notebooks with papermill, once per dataset example.

``roman_helpers/datasets.yaml`` says which tutorials use a dataset
(``notebooks``) and with which parameter sets (``examples``). The runner
executes every such pair into ``build/runs/<dataset>/``, under one offline
sandbox started for the whole batch (or against MAST and AWS with
``real=True``), shows a progress bar, keeps going when a run fails, and
reports a summary table.

The notebooks are read from ``./notebooks`` in the current directory (a clone of
the tutorials) or from ``--notebooks DIR``. Running them needs the ``notebooks``
extra, and the offline sandbox the ``sandbox`` extra::

    pip install "roman-helpers[notebooks,sandbox]"

Command line::

    roman-helpers run --dataset hst-wfc3ir-m85            # tutorials 1 and 3 on HST data
    roman-helpers run --dataset roman-tutorial-2026 --notebook 2
    roman-helpers run --all                                 # every dataset (``make run``)
    roman-helpers run --all --real                          # against MAST and AWS
    roman-helpers run --all --notebooks ~/tutorials/notebooks

Credentials are never parameters: papermill writes every parameter into the
output notebook. The kernels inherit the environment (under the sandbox, its
endpoint, proxy and credential-file variables) instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import _extras, datasets
from .errors import InvalidParameterError, MissingExtraError, RomanHelpersError

__all__ = [
    "RunResult",
    "default_notebooks_dir",
    "find_notebook",
    "format_summary",
    "main",
    "planned_runs",
    "register",
    "run_notebooks",
]

#: Kernel used for local runs: the current interpreter (jupyter_client maps ``python3`` to
#: ``sys.executable``), whatever kernel the notebook's metadata names for the Roman Research Nexus.
LOCAL_KERNEL = "python3"


@dataclass
class RunResult:
    """Outcome of one papermill run.

    Attributes
    ----------
    notebook : str
        File name of the source notebook.
    dataset : str
        Dataset the run used.
    params : dict
        Parameters injected by papermill (dataset name and every knob).
    status : str
        ``"passed"`` or ``"failed"``.
    duration : float
        Seconds the run took.
    output : str
        Path of the executed notebook.
    error : str or None
        ``ExceptionName: message`` of the failure.
    """

    notebook: str
    dataset: str
    params: dict[str, Any]
    status: str
    duration: float
    output: str
    error: str | None = None


@dataclass(frozen=True)
class PlannedRun:
    """One (dataset, notebook, parameter set) to execute."""

    dataset: str
    notebook: int
    example: dict[str, Any] = field(default_factory=dict)

    def parameters(self) -> dict[str, Any]:
        """Return what papermill injects: the dataset and all its knobs, checked."""
        return {"dataset": self.dataset, **datasets.get(self.dataset).validate(**self.example)}

    def slug(self) -> str:
        """Return a file-name fragment naming the non-default parameters."""
        if not self.example:
            return "defaults"
        return "_".join(f"{k}-{v}" for k, v in sorted(self.example.items()))


def default_notebooks_dir() -> Path:
    """Return where the tutorials are looked for by default: ``notebooks/`` in the current directory.

    The installed package carries no notebooks; run from a clone of the tutorials, or pass
    ``notebooks_dir`` (``--notebooks DIR``).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> default_notebooks_dir() == Path.cwd() / "notebooks"
    True
    """
    return Path.cwd() / "notebooks"


def find_notebook(number: int, notebooks_dir: str | Path | None = None) -> Path:
    """Return the tutorial notebook numbered ``number`` (``NN_*.ipynb``).

    Parameters
    ----------
    number : int
        Tutorial number, as in ``datasets.yaml``.
    notebooks_dir : path, optional
        Folder of the notebooks; :func:`default_notebooks_dir` when omitted.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    InvalidParameterError
        If the folder does not exist (the message says where it looked), or no notebook
        there has that number (the message lists the numbers there are).

    Examples
    --------
    >>> find_notebook(1, "no-such-folder")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    roman_helpers.errors.InvalidParameterError: invalid notebooks folder '.../no-such-folder'.
    No such folder: ...
    """
    folder = Path(notebooks_dir) if notebooks_dir else default_notebooks_dir()
    if not folder.is_dir():
        raise InvalidParameterError(
            "notebooks folder",
            str(folder.resolve()),
            hint="No such folder: run from the folder that holds the tutorials' notebooks/ "
            "(a clone of the tutorials), or pass --notebooks DIR",
        )
    matches = sorted(folder.glob(f"{number:02d}_*.ipynb"))
    if not matches:
        present = sorted(int(p.name[:2]) for p in folder.glob("[0-9][0-9]_*.ipynb"))
        raise InvalidParameterError(
            "notebook",
            number,
            present or None,
            hint=f"Looked in {folder.resolve()}"
            + ("" if present else ", which holds no tutorial notebooks (NN_*.ipynb); pass --notebooks DIR"),
        )
    return matches[0]


def planned_runs(
    dataset_names: Iterable[str] | None = None, notebooks: Iterable[int] | None = None
) -> list[PlannedRun]:
    """List the runs for some datasets (all when ``None``), optionally only some notebooks.

    Parameters
    ----------
    dataset_names : iterable of str, optional
        Datasets of ``datasets.yaml``; every dataset when omitted.
    notebooks : iterable of int, optional
        Only these tutorial numbers.

    Returns
    -------
    list of PlannedRun

    Raises
    ------
    InvalidParameterError
        On an unknown dataset, or a notebook that none of the chosen datasets uses.

    Examples
    --------
    >>> [(r.notebook, r.example) for r in planned_runs(["hst-wfc3ir-m85"], [1])]
    [(1, {}), (1, {'filters': 'F110W', 'obsid': '24797501'})]
    """
    names = list(dataset_names) if dataset_names else datasets.names()
    wanted = set(notebooks) if notebooks else None
    runs: list[PlannedRun] = []
    for name in names:
        ds = datasets.get(name)
        for number in ds.notebooks:
            if wanted is None or number in wanted:
                runs.extend(PlannedRun(name, number, dict(ex)) for ex in ds.examples)
    if wanted and not runs:
        usable = sorted({n for name in names for n in datasets.get(name).notebooks})
        raise InvalidParameterError(
            "notebook",
            ", ".join(map(str, sorted(wanted))),
            usable,
            hint=f"those are the tutorials that use {', '.join(names)}",
        )
    return runs


@contextlib.contextmanager
def _environment(real: bool, sandbox_options: dict[str, Any] | None) -> Iterator[None]:
    """Set os.environ for the kernels (inherited at start), and put it back afterwards."""
    saved = dict(os.environ)
    try:
        if real:
            yield
            return
        try:  # guarded: the runner is a tool, not kit, and may start a sandbox when it is installed
            from .sandbox.launcher import Sandbox
        except ModuleNotFoundError as error:
            raise MissingExtraError("the offline sandbox", ["sandbox"], error.name) from error

        with Sandbox(**(sandbox_options or {})) as sandbox:
            sandbox.apply(os.environ)  # also drops AWS_PROFILE & co, which would override it
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _describe(error: BaseException) -> str:
    ename = getattr(error, "ename", None)  # papermill.PapermillExecutionError
    if ename:
        return f"{ename}: {getattr(error, 'evalue', '')}"
    return f"{type(error).__name__}: {error}"


def run_notebooks(
    dataset_names: Iterable[str] | None = None,
    notebooks: Iterable[int] | None = None,
    *,
    real: bool = False,
    output_dir: str | Path = "build/runs",
    notebooks_dir: str | Path | None = None,
    progress: bool = True,
    kernel_name: str = LOCAL_KERNEL,
    cell_timeout: int = 600,
    sandbox_options: dict[str, Any] | None = None,
) -> list[RunResult]:
    """Execute tutorial notebooks with papermill and return one result per run.

    Parameters
    ----------
    dataset_names : iterable of str, optional
        Datasets to run; all of ``datasets.yaml`` when omitted.
    notebooks : iterable of int, optional
        Only these tutorial numbers.
    real : bool, default False
        Use MAST and AWS; otherwise start one offline sandbox for the batch.
    output_dir : path, default ``build/runs``
        Executed notebooks go to ``<output_dir>/<dataset>/``; a ``summary.json``
        beside them lists every run.
    notebooks_dir : path, optional
        Folder of the source notebooks; ``./notebooks`` when omitted.
    progress : bool, default True
        Show a progress bar: on a terminal or in Jupyter, never in a log.
    kernel_name : str, default ``"python3"``
        Kernel to execute with; the default is the current environment.
    cell_timeout : int, default 600
        Seconds one cell may run.
    sandbox_options : dict, optional
        Keyword arguments of :class:`roman_helpers.sandbox.launcher.Sandbox`.

    Returns
    -------
    list of RunResult
        In the order run; a failed run does not stop the others.

    Raises
    ------
    MissingExtraError
        Without the ``notebooks`` extra (or, unless ``real``, the ``sandbox`` extra).
    InvalidParameterError
        On an unknown dataset or notebook, or a notebooks folder that does not exist.
    """
    _extras.require("running the tutorials", "notebooks", *(() if real else ("sandbox",)))
    import papermill  # guarded above: the notebooks extra

    from ._progress import tqdm

    runs = planned_runs(dataset_names, notebooks)
    sources = {number: find_notebook(number, notebooks_dir) for number in {r.notebook for r in runs}}
    output_root = Path(output_dir).resolve()
    results: list[RunResult] = []
    with _environment(real, sandbox_options):
        bar = tqdm(runs, desc="notebooks", unit="run", disable=None if progress else True, file=sys.stderr)
        for run in bar:
            source = sources[run.notebook]
            target_dir = output_root / run.dataset
            target_dir.mkdir(parents=True, exist_ok=True)
            target = target_dir / f"{source.stem}__{run.slug()}.ipynb"
            bar.set_postfix_str(f"{source.stem} {run.dataset} {run.slug()}")
            params = run.parameters()
            started = time.perf_counter()
            try:
                papermill.execute_notebook(
                    str(source),
                    str(target),
                    parameters=params,
                    kernel_name=kernel_name,
                    language="python",
                    progress_bar=False,
                    cwd=str(target_dir),
                    execution_timeout=cell_timeout,
                )
                status, error = "passed", None
            except Exception as exc:  # noqa: BLE001 - one failed run must not stop the batch
                status, error = "failed", _describe(exc)
            results.append(
                RunResult(
                    source.name,
                    run.dataset,
                    params,
                    status,
                    round(time.perf_counter() - started, 2),
                    str(target),
                    error,
                )
            )
        bar.close()
    output_root.mkdir(parents=True, exist_ok=True)
    (output_root / "summary.json").write_text(
        json.dumps({"real": real, "runs": [asdict(r) for r in results]}, indent=2) + "\n"
    )
    return results


def format_summary(results: Sequence[RunResult]) -> str:
    """Return a plain-text table: notebook, dataset, params, status, duration.

    Parameters
    ----------
    results : sequence of RunResult

    Returns
    -------
    str
    """
    header = ("notebook", "dataset", "params", "status", "duration")
    rows = [header]
    for r in results:
        knobs = ", ".join(f"{k}={v}" for k, v in r.params.items() if k != "dataset")
        rows.append((r.notebook, r.dataset, knobs, r.status, f"{r.duration:.1f} s"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    failed = [r for r in results if r.status != "passed"]
    lines.append(
        f"{len(results) - len(failed)} passed, {len(failed)} failed, {sum(r.duration for r in results):.1f} s"
    )
    lines.extend(f"FAILED {r.notebook} [{r.dataset}]: {r.error}" for r in failed)
    return "\n".join(lines)


def _handle(args: argparse.Namespace) -> int:
    if not args.all and not args.dataset:
        raise InvalidParameterError(
            "dataset selection", None, datasets.names(), hint="pass --dataset NAME (repeatable) or --all"
        )
    for name in args.dataset or ():
        datasets.get(name)  # fail fast on a typo, before any sandbox starts
    results = run_notebooks(
        None if args.all else args.dataset,
        args.notebook,
        real=args.real,
        output_dir=args.output,
        notebooks_dir=args.notebooks,
        progress=not args.no_progress,
    )
    print(format_summary(results))
    return 0 if all(r.status == "passed" for r in results) else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``run`` command to the ``roman-helpers`` command line.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers`` returned.
    """
    parser = subparsers.add_parser(
        "run",
        help="execute the tutorial notebooks with papermill",
        description="Execute the tutorial notebooks for one or all datasets of datasets.yaml "
        "(each with its example parameter sets) into build/runs/<dataset>/, under the "
        "offline sandbox unless --real. Needs the notebooks extra (and the sandbox extra "
        'unless --real): pip install "roman-helpers[notebooks,sandbox]".',
    )
    parser.add_argument(
        "--dataset",
        action="append",
        metavar="NAME",
        help=f"dataset to run (repeatable); one of: {', '.join(datasets.names())}",
    )
    parser.add_argument(
        "--notebook", type=int, action="append", metavar="N", help="only tutorial N (repeatable)"
    )
    parser.add_argument("--all", action="store_true", help="run every dataset")
    parser.add_argument("--real", action="store_true", help="use MAST and AWS instead of the offline sandbox")
    parser.add_argument(
        "--notebooks",
        default=None,
        metavar="DIR",
        help="folder of the tutorial notebooks (default: ./notebooks)",
    )
    parser.add_argument(
        "--output",
        default="build/runs",
        metavar="DIR",
        help="where executed notebooks go (default: build/runs)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=_handle)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m roman_helpers.runner [run options]`` without the ``roman-helpers`` entry point.

    Parameters
    ----------
    argv : sequence of str, optional
        The options of ``roman-helpers run`` (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when every run passed, 1 when one failed or an extra is missing, 2 on a usage error.
    """
    parser = argparse.ArgumentParser(prog="python -m roman_helpers.runner")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["run", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.handler(args)
    except InvalidParameterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except RomanHelpersError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
