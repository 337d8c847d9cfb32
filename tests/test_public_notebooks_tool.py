"""tools/public_notebooks.py: runs every code cell, keeps going after a failure, reports honestly.

The notebooks here are written by the test (one MyST Markdown, one .ipynb), so what each cell
does, and which fails, is known independently of the tool.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "public_notebooks.py"

MYST = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A notebook kept as Markdown

```{code-cell} ipython3
import pathlib
rows = pathlib.Path("beside.csv").read_text().splitlines()
```

```{code-cell} ipython3
pathlib.Path("written.txt").write_text(str(len(rows)))
```

```{code-cell} ipython3
raise ValueError("this cell fails on purpose")
```

```{code-cell} ipython3
print(len(rows))
```
"""


def _ipynb(path: Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# An .ipynb notebook"),
        nbformat.v4.new_code_cell("value = 6 * 7"),
        nbformat.v4.new_code_cell("assert value == 42"),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return path


def test_reports_cells_run_and_the_first_failure_and_leaves_the_clone_alone(tmp_path):
    clone = tmp_path / "clone" / "OpenUniverse"
    clone.mkdir(parents=True)
    (clone / "beside.csv").write_text("a,b\n1,2\n3,4\n")
    markdown = clone / "story.md"
    markdown.write_text(MYST)
    ipynb = _ipynb(tmp_path / "clone" / "other.ipynb")
    report = tmp_path / "report.json"

    done = subprocess.run(
        [sys.executable, str(TOOL), str(markdown), str(ipynb), "--json", str(report), "--timeout", "120"],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 1, done.stderr  # one notebook has a failing cell
    outcomes = {Path(o["path"]).name: o for o in json.loads(report.read_text())}
    story = outcomes["story.md"]
    assert (story["ran"], story["total"]) == (3, 4)  # the cell after the failure still ran
    assert [c["ok"] for c in story["cells"]] == [True, True, False, True]
    assert story["first_failure"] == "cell 3: ValueError: this cell fails on purpose"
    assert (outcomes["other.ipynb"]["ran"], outcomes["other.ipynb"]["total"]) == (2, 2)
    assert "| story.md | 3 / 4 | cell 3: ValueError: this cell fails on purpose |" in done.stdout
    # the notebook ran in a copy of its folder: what it wrote is not in the clone
    assert not (clone / "written.txt").exists()


def test_a_missing_notebook_is_a_usage_error(tmp_path):
    done = subprocess.run(
        [sys.executable, str(TOOL), str(tmp_path / "nope.ipynb")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "no such notebook" in done.stderr
