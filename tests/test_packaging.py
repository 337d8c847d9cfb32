"""What ``pip install roman-helpers`` brings, and that the kit works with nothing more.

- the installed core requirements hold no test server, plotting or notebook runner;
- each extra's import names (checked before a command runs) match its requirements;
- with moto, werkzeug, trustme, papermill, matplotlib and the sandbox package refused at import,
  the kit imports, the command line helps, and ``sandbox``/``run`` say which extra to install;
- no module outside ``roman_helpers/sandbox/`` imports the sandbox at module level;
- ``import roman_helpers`` imports no astropy, s3fs or boto3 (submodules load on first use);
- the command the book gives for opening the tutorials, ``roman-helpers sandbox run -- jupyter
  lab``, finds JupyterLab, and JupyterLab has the widget manager that draws progress bars.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import roman_helpers
from roman_helpers import _extras

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "roman_helpers"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
NOT_CORE = {"moto", "werkzeug", "trustme", "matplotlib", "papermill"}
REFUSED = ("moto", "werkzeug", "trustme", "papermill", "matplotlib", "roman_helpers.sandbox")

# Run first in the child: a meta-path finder that refuses the optional packages, as if absent.
REFUSE = f"""
import sys
REFUSED = {REFUSED!r}

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if any(name == r or name.startswith(r + ".") for r in REFUSED):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Refuse())
"""


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)


def _names(lines: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(line).name) for line in lines}


# --------------------------------------------------------------------------- (a) metadata


def test_installed_core_requirements_are_the_kit_only() -> None:
    requires = metadata.requires("roman-helpers") or []
    core = [line for line in requires if "extra ==" not in line]
    stale = "(the installed metadata may be stale: pip install -e . again)"
    assert _names(core) & NOT_CORE == set(), f"core requirements {core} {stale}"
    assert _names(core) == _names(PYPROJECT["dependencies"]), stale
    assert roman_helpers.__version__ == PYPROJECT["version"], stale


@pytest.mark.parametrize("extra", sorted(_extras.MODULES))
def test_extra_modules_match_the_extra_requirements(extra: str) -> None:
    required = _names(PYPROJECT["optional-dependencies"][extra])
    # import name = distribution name for all of these
    assert {canonicalize_name(module) for module in _extras.MODULES[extra]} == required


def test_extras_that_need_the_optional_parts_include_them() -> None:
    extras = PYPROJECT["optional-dependencies"]
    included = {
        extra: {
            e
            for line in lines
            if canonicalize_name(Requirement(line).name) == "roman-helpers"
            for e in Requirement(line).extras
        }
        for extra, lines in extras.items()
    }
    assert {"sandbox", "notebooks"} <= included["test"]
    assert "notebooks" in included["docs"]
    assert set().union(*included.values()) <= set(extras)


# --------------------------------------------------------------------------- (b) no extras


def test_kit_works_without_the_extras() -> None:
    done = _python(
        REFUSE
        + """
import importlib, json, pkgutil
import roman_helpers as r
r.stream, r.download, r.__version__
kit = sorted(m.name for m in pkgutil.iter_modules(r.__path__) if m.name not in ("sandbox", "__main__"))
for name in kit:
    importlib.import_module(f"roman_helpers.{name}")
print(json.dumps({"kit": kit, "version": r.__version__,
                  "loaded": sorted(m for m in sys.modules if m.split(".")[0] in REFUSED
                                   or m.startswith("roman_helpers.sandbox"))}))
"""
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert {
        "config",
        "datasets",
        "download",
        "errors",
        "query",
        "stream",
        "transfer",
        "uris",
        "cli",
        "runner",
    } <= set(report["kit"])
    assert report["version"] == PYPROJECT["version"]
    assert report["loaded"] == []


def _cli(*argv: str) -> subprocess.CompletedProcess:
    return _python(REFUSE + f"from roman_helpers.cli import main\nsys.exit(main({list(argv)!r}))")


def test_help_without_the_extras_lists_sandbox_and_run() -> None:
    done = _cli("--help")
    assert done.returncode == 0, done.stderr
    assert "\n    sandbox " in done.stdout and "needs the sandbox extra" in done.stdout
    assert "\n    run " in done.stdout


@pytest.mark.parametrize(
    "argv", [("sandbox", "up"), ("sandbox", "run", "--", "true"), ("sandbox", "up", "--latency", "20ms")]
)
def test_sandbox_without_its_extra_names_it(argv: tuple[str, ...]) -> None:
    done = _cli(*argv)
    assert done.returncode == 1
    assert done.stderr.startswith("error: roman-helpers sandbox needs the sandbox extra")
    assert 'install the sandbox extra: pip install "roman-helpers[sandbox]"' in done.stderr
    assert "Traceback" not in done.stderr


def test_run_without_its_extras_names_them() -> None:
    done = _cli("run", "--all")
    assert done.returncode == 1
    assert 'pip install "roman-helpers[notebooks,sandbox]"' in done.stderr, done.stderr
    done = _cli("run", "--all", "--real")
    assert done.returncode == 1
    assert 'install the notebooks extra: pip install "roman-helpers[notebooks]"' in done.stderr, done.stderr


# --------------------------------------------------------------------------- (c) import graph


def _module_level_imports(tree: ast.AST) -> list[ast.stmt]:
    """Import statements that run when the module is imported (not inside a function)."""
    found, todo = [], list(ast.iter_child_nodes(tree))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return found


def _imported(node: ast.stmt, package: str) -> list[str]:
    """Absolute names an import statement in module ``package`` brings in."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = package.split(".")
    base = base[: len(base) - node.level + 1] if node.level else []
    module = ".".join([*base, *(node.module.split(".") if node.module else [])])
    return [module, *(f"{module}.{alias.name}" for alias in node.names)]


def test_nothing_outside_the_sandbox_imports_it_at_module_level() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[:2] == ("roman_helpers", "sandbox"):
            continue
        package = ".".join(relative.with_suffix("").parts[:-1])
        for node in _module_level_imports(ast.parse(path.read_text(), str(path))):
            names = _imported(node, package)
            if any(n == "roman_helpers.sandbox" or n.startswith("roman_helpers.sandbox.") for n in names):
                offenders.append(f"{relative}:{node.lineno}")
    assert offenders == []


def test_the_scan_sees_a_relative_sandbox_import() -> None:
    """The scan above must catch each spelling; a scan that sees nothing proves nothing."""
    for source in (
        "from .sandbox import launcher",
        "from . import sandbox",
        "import roman_helpers.sandbox.services.s3",
        "try:\n    from .sandbox.cli import register\nexcept ImportError:\n    pass",
    ):
        nodes = _module_level_imports(ast.parse(source))
        assert any(
            n.startswith("roman_helpers.sandbox") for node in nodes for n in _imported(node, "roman_helpers")
        ), source
    inside = _module_level_imports(ast.parse("def f():\n    from .sandbox import launcher"))
    assert inside == []


# --------------------------------------------------------------------------- (d) lazy


def test_import_is_lazy() -> None:
    done = _python("""
import json, sys
import roman_helpers as r
before = sorted(m for m in ("astropy", "s3fs", "boto3", "botocore", "numpy") if m in sys.modules)
names = dir(r)
r.errors, r.__version__
after_light = sorted(m for m in ("astropy", "s3fs", "boto3", "botocore", "numpy") if m in sys.modules)
r.stream
print(json.dumps({"before": before, "after_light": after_light, "dir": names,
                  "stream_loaded": "roman_helpers.stream" in sys.modules}))
""")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["before"] == [] and report["after_light"] == []
    assert {"stream", "download", "query", "uris", "transfer", "__version__"} <= set(report["dir"])
    assert report["stream_loaded"] is True


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'strem'"):
        roman_helpers.strem  # noqa: B018
    assert set(roman_helpers.__all__) <= set(dir(roman_helpers))


# --------------------------------------------------------------------------- (e) opening the tutorials

# The command the book, the README and every tutorial give for working on the notebooks offline.
JUPYTER_LAB = re.compile(r"roman-helpers sandbox run -- jupyter lab(?: [^\s`#]+)?")
PUBLISHED = ("README.md", "CONTRIBUTING.md", "book/*.md", "notebooks/*.md", "notebooks/*.ipynb")


def _documented_jupyter_lab_commands() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for pattern in PUBLISHED:
        for path in sorted(ROOT.glob(pattern)):
            for command in JUPYTER_LAB.findall(path.read_text()):
                found.setdefault(command, set()).add(path.relative_to(ROOT).as_posix())
    return found


def test_the_documented_way_to_open_the_tutorials_starts_jupyterlab() -> None:
    """``roman-helpers sandbox run -- jupyter lab`` finds JupyterLab in an install with the
    notebooks extra: the very command, with ``--version`` so that no server is left running."""
    documented = _documented_jupyter_lab_commands()
    assert documented, "the book no longer says how to open the tutorials"
    assert {"notebooks/00_introduction.md", "book/getting-started.md"} <= set().union(*documented.values())
    # as in an activated environment: the installed commands are on PATH
    scripts = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"}
    for command in sorted(documented):
        argv = [*command.split(), "--version"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
        assert done.returncode == 0, f"{command} (in {sorted(documented[command])}):\n{done.stderr[-3000:]}"
        assert re.fullmatch(r"4\.\d+\.\d+\S*", done.stdout.strip()), done.stdout


def test_jupyterlab_shows_progress_widgets() -> None:
    """The notebooks extra brings the widget manager JupyterLab needs to draw progress bars."""
    jupyter = Path(sys.executable).with_name("jupyter")
    done = subprocess.run(
        [str(jupyter), "labextension", "list"], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    listed = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)  # the list comes coloured
    assert re.search(r"@jupyter-widgets/jupyterlab-manager v\S+ enabled", listed), listed
