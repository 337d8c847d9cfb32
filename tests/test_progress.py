"""Progress bars where the code runs: a widget in Jupyter, a text bar on a terminal, nothing in logs.

Each case runs for real: a child process whose standard error is a pseudo-terminal, one whose
standard error is a pipe (a log), and Jupyter kernels (nbclient), with and without ipywidgets.
No case may print a warning: tqdm's own choice of bar (``tqdm.auto``) prints
``TqdmWarning: IProgress not found`` into a notebook that lacks ipywidgets.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

import nbformat
import pytest
from nbclient import NotebookClient

from roman_helpers import runner

BAR = """
from roman_helpers._progress import tqdm
bar = tqdm(total=3, desc="files"{extra})
for _ in range(3):
    bar.update(1)
bar.close()
"""


def _child(code: str, *, terminal: bool) -> str:
    """Run ``code`` in a child Python; return what it wrote to standard error and output."""
    if not terminal:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # 80 columns
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=follower, timeout=120
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
    assert done.returncode == 0
    return b"".join(chunks).decode()


def test_a_terminal_gets_a_text_bar() -> None:
    shown = _child(BAR.format(extra=""), terminal=True)
    assert "files: 100%" in shown and "3/3" in shown
    assert "Warning" not in shown


def test_a_log_gets_nothing_unless_asked() -> None:
    assert _child(BAR.format(extra=""), terminal=False) == ""
    forced = _child(BAR.format(extra=", disable=False"), terminal=False)
    assert "files: 100%" in forced and "3/3" in forced
    assert _child(BAR.format(extra=", disable=True"), terminal=True) == ""


def _kernel_outputs(*cells: str) -> list[dict]:
    """Execute ``cells`` in a Jupyter kernel; return the outputs of the last one."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    NotebookClient(nb, kernel_name=runner.LOCAL_KERNEL, timeout=120).execute()
    return nb.cells[-1].outputs


def _texts(outputs: list[dict]) -> str:
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)


# Warnings shown every time, so that one already issued in the kernel cannot hide.
WARNINGS_ALWAYS = "import warnings\nwarnings.simplefilter('always')"


def test_jupyter_gets_a_widget_and_no_warning(monkeypatch) -> None:
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    outputs = _kernel_outputs(WARNINGS_ALWAYS, BAR.format(extra=""))
    widgets = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widgets) == 1, outputs
    assert [o for o in outputs if o.get("name") == "stderr"] == []
    assert "Warning" not in _texts(outputs)


def test_jupyter_without_ipywidgets_gets_a_text_bar_and_no_warning(monkeypatch) -> None:
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    hide_ipywidgets = "import sys\nsys.modules['ipywidgets'] = None  # as if not installed"
    outputs = _kernel_outputs(WARNINGS_ALWAYS, hide_ipywidgets, BAR.format(extra=""))
    assert [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})] == []
    text = _texts(outputs)
    assert "files: 100%" in text and "3/3" in text
    assert "Warning" not in text and "IProgress" not in text


@pytest.mark.parametrize("extra", ["", ", disable=None"])
def test_tqdm_disable_hides_the_bars_left_to_the_choice(monkeypatch, extra: str) -> None:
    """The book's build sets tqdm's own ``TQDM_DISABLE``: a static page cannot show a live bar."""
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert _kernel_outputs(BAR.format(extra=extra)) == []
    forced = _kernel_outputs(BAR.format(extra=", disable=False"))
    assert [o for o in forced if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]


def test_the_kit_takes_its_bars_from_one_place() -> None:
    """No module of the kit picks a tqdm class itself (``tqdm.auto`` warns in Jupyter)."""
    from pathlib import Path

    package = Path(runner.__file__).parent
    chosen_elsewhere = [
        f"{path.relative_to(package)}:{number}"
        for path in sorted(package.glob("*.py"))
        if path.name != "_progress.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if line.strip().startswith(("from tqdm", "import tqdm"))
    ]
    assert chosen_elsewhere == []


@pytest.mark.parametrize(
    ("code", "terminal", "expected"),
    [
        ("print(shown(None))", True, "True"),
        ("print(shown(None))", False, "False"),
        ("print(shown(True))", False, "True"),
        ("print(shown(False))", True, "False"),
    ],
)
def test_shown_answers_as_the_bars_choose(code: str, terminal: bool, expected: str) -> None:
    """For bars tqdm does not draw (Dask's): the same choice, as a yes or no."""
    program = f"import sys\nfrom roman_helpers._progress import shown\nsys.stdout = sys.stderr\n{code}"
    assert _child(program, terminal=terminal).strip() == expected


def test_shown_follows_jupyter_and_tqdm_disable(monkeypatch) -> None:
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    [output] = _kernel_outputs("from roman_helpers._progress import shown\nprint(shown(None))")
    assert output["text"].strip() == "True"
    monkeypatch.setenv("TQDM_DISABLE", "1")
    [output] = _kernel_outputs("from roman_helpers._progress import shown\nprint(shown(None), shown(True))")
    assert output["text"].strip() == "False True"
