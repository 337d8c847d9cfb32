"""The source tutorial's code, copied unmodified into a notebook, runs top to bottom in a kernel
started under ``roman-helpers sandbox run -- ...`` and prints the source tutorial's numbers."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
# The source tutorial, exported as text, lives beside the repository (CI clones it next to
# `shared/`), not in it.
SOURCE_TUTORIAL = ROOT.parent / "shared" / "seed" / "000_0d08fb16aa621a39.txt"


def source_tutorial_text() -> str:
    """Return the source tutorial's text; fail (never skip) when it is not beside the repository."""
    if not SOURCE_TUTORIAL.is_file():
        pytest.fail(
            f"the source tutorial is missing: expected {SOURCE_TUTORIAL} "
            f"(<repository root>/../shared/seed/). Clone or link the shared folder "
            f"next to the repository, e.g. `ln -s /path/to/shared {ROOT.parent / 'shared'}`.",
            pytrace=False,
        )
    return SOURCE_TUTORIAL.read_text()


def source_code_cells(text: str) -> list[str]:
    """Return the code cells of a notebook exported as text, byte for byte.

    A cell is the block after an ``In [None]:`` line; it ends at the first blank line after
    which the text is markdown (a rule, anchor, ``##`` heading, list item or prose) rather than
    code (a ``#`` comment, an assignment, a call, a statement).
    """
    cells = []
    blocks = text.split("In [None]:\n")[1:]
    for block in blocks:
        lines = block.split("\n")
        while lines and not lines[0].strip():
            lines.pop(0)
        code: list[str] = []
        for index, line in enumerate(lines):
            if not line.strip():
                following = next((nxt for nxt in lines[index + 1 :] if nxt.strip()), "")
                if not _looks_like_code(following):
                    break
            code.append(line)
        cells.append("\n".join(code).rstrip("\n"))
    return cells


_CODE_START = re.compile(r"^(\s|#|[A-Za-z_][\w.]*\s*(=|\(|\[)|with |for |if |import |from |print\(|\w+$)")


def _looks_like_code(line: str) -> bool:
    if line.startswith(("***", "<", "##", "\\-", "- ", "**")):
        return False  # rule, anchor, heading, list: markdown
    return bool(_CODE_START.match(line))  # "# ..." counts as a code comment


def _launcher() -> list[str]:
    if importlib.util.find_spec("roman_helpers.cli") is not None:
        script = Path(sys.executable).with_name("roman-helpers")
        if script.exists():
            return [str(script), "sandbox", "run"]
    return [sys.executable, "-m", "roman_helpers.sandbox", "run"]


def test_source_cells_are_extracted_unmodified():
    text = source_tutorial_text()
    cells = source_code_cells(text)
    assert len(cells) == text.count("In [None]:") == 12
    for cell in cells:
        assert cell in text  # byte for byte
    assert cells[0].startswith("import asdf") and cells[-1].endswith("# fs.get(URI, local_file_path)")


@pytest.mark.notebooks
@pytest.mark.timeout(900)
def test_source_notebook_runs_unmodified_under_sandbox_run(tmp_path):
    cells = source_code_cells(source_tutorial_text())
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source, output = tmp_path / "source.ipynb", tmp_path / "source.out.ipynb"
    nbformat.write(notebook, source)

    command = [
        *_launcher(),
        "--",
        sys.executable,
        "-m",
        "papermill",
        "--kernel",
        "python3",
        "--cwd",
        str(tmp_path),
        str(source),
        str(output),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=850, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]

    executed = nbformat.read(output, as_version=4)
    assert all(cell.execution_count is not None for cell in executed.cells)
    assert not [o for cell in executed.cells for o in cell.outputs if o.output_type == "error"]
    text = "\n".join(_output_text(cell) for cell in executed.cells)
    assert "Length = 60 rows" in text.split("Single data product:")[0]
    assert "24797441" in text.split("Single data product:")[1]
    uris_cell = _output_text(executed.cells[3])
    assert uris_cell.count("s3://stpubdata/hst/public/") == 60
    assert "SCI" in _output_text(executed.cells[5])  # HDUList.info() of the streamed drizzled file
    assert "ROMANISIM" in _output_text(executed.cells[6])  # fs.ls of the credentialed bucket


def _output_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.data.get("text/plain", ""))
    return "\n".join(parts)
