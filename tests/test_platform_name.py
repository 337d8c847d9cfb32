"""The platform is the Roman Research Nexus, its kernels "Roman Research Nexus {version}".

STScI renamed the Roman Science Platform; its own notebooks name their kernel "Roman Research
Nexus 2026.2" (kernelspec name ``roman_cal``). Everything this project publishes (the book's pages,
the generated datasets page, the tutorials, the README and contributor guide, and the kit's
docstrings and messages, which become the API reference, the command-line help and the errors a
reader sees) uses the current name, and none names a single kernel as if it were the only one.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OLD_NAME = re.compile(r"roman science platform|science[- ]platform|\bRSP\b", re.IGNORECASE)
OLD_KERNEL = re.compile(r"Roman Calibration", re.IGNORECASE)
KERNEL_DISPLAY = re.compile(r"Roman Research Nexus \d{4}\.\d+")
# CHANGES.rst is left out on purpose: its entries record what the platform was called then.
PUBLISHED = (
    "README.md",
    "CONTRIBUTING.md",
    "environment.yml",
    "book/*.md",
    "notebooks/*.md",
    "notebooks/*.ipynb",
    "roman_helpers/**/*.py",
    "roman_helpers/*.yaml",
    "bench/*.py",  # the performance page's text is written by the benchmark's publish step
)
# Lines still to change in modules being restructured elsewhere; they change with that work.
# Each entry is the exact line: any other occurrence, in these files or elsewhere, fails.
PENDING: dict[str, set[str]] = {}


def _published_files() -> list[Path]:
    return sorted({path for pattern in PUBLISHED for path in ROOT.glob(pattern) if path.is_file()})


def _generated_datasets_page() -> str:
    spec = importlib.util.spec_from_file_location("book_build", ROOT / "book" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return build.datasets_markdown()


def test_published_text_names_the_roman_research_nexus() -> None:
    found = []
    for path in _published_files():
        relative = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if (OLD_NAME.search(line) or OLD_KERNEL.search(line)) and line.strip() not in PENDING.get(
                relative, ()
            ):
                found.append(f"{relative}:{number}: {line.strip()}")
    for number, line in enumerate(_generated_datasets_page().splitlines(), 1):
        if OLD_NAME.search(line):
            found.append(f"datasets page:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def test_the_scan_sees_every_spelling_of_the_old_name() -> None:
    for text in (
        "on the Roman Science Platform",
        "the science-platform bucket",
        "the science platform's role",
        "an RSP kernel",
    ):
        assert OLD_NAME.search(text), text
    assert OLD_KERNEL.search("choose the *Roman Calibration* kernel")
    assert not OLD_NAME.search("on the Roman Research Nexus, STScI's cloud platform")


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_tutorials_name_the_nexus_kernel_by_its_versioned_name(path: Path) -> None:
    notebook = json.loads(path.read_text())
    spec = notebook["metadata"]["kernelspec"]
    assert spec["name"] == "roman_cal", "the Nexus kernels' kernelspec name"
    assert KERNEL_DISPLAY.fullmatch(spec["display_name"]), spec["display_name"]
    text = "\n".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown")
    assert "Roman Research Nexus {version}" in text, "say how the kernels are named"
