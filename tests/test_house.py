"""The walls the documentation states, read from the source with ``ast`` (nothing is imported).

- the import graph of the kit (``roman_helpers`` but its sandbox, which stands beside the house and
  is checked by its own tests) has no cycle, and the kit reaches the sandbox only behind the
  guards of the commands that need it;
- ``errors`` and ``config`` are leaves: they import nothing of the package, not even lazily;
- outside the S3 layer (``roman_helpers/_s3/``) no module imports botocore, boto3 or aiobotocore or
  makes an ``S3FileSystem``; botocore's ``BUILTIN_HANDLERS`` is changed only for
  ``transfer.measure``.

Every scan is checked on small sources first: a scan that sees nothing proves nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "roman_helpers"
S3_LAYER = "roman_helpers._s3"
#: The kit's imports of the sandbox: the commands that run it, behind a guard naming the extra.
SANDBOX_GUARDS = {"roman_helpers.cli._parser", "roman_helpers.runner"}
#: The leaves: modules that import nothing of the package.
LEAVES = ("roman_helpers.config", "roman_helpers.errors")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _imports(name: str, tree: ast.AST, modules: dict[str, Path]) -> list[tuple[str, ast.AST, str | None]]:
    """``(imported module, node, enclosing function)`` of every import in a module, at any depth.

    ``from X import y`` names the module ``X.y`` when that is a module of the package, else ``X``.
    """
    package = name if _is_package(name, modules) else name.rpartition(".")[0]
    found = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            inside = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Import):
                found.extend((alias.name, child, function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - child.level + 1] if child.level else []
                module = ".".join([*base, *(child.module.split(".") if child.module else [])])
                for alias in child.names:
                    submodule = f"{module}.{alias.name}"
                    found.append((submodule if submodule in modules else module, child, function))
            visit(child, inside)

    visit(tree, None)
    return found


def _graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, at import time or inside functions."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for imported, _node, _function in _imports(name, ast.parse(path.read_text(), str(path)), modules):
            if imported not in modules or imported == name:
                continue
            edges.add(imported)
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for after in graph[node]:
            if after not in index:
                connect(after)
                low[node] = min(low[node], low[after])
            elif after in stack:
                low[node] = min(low[node], index[after])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            connect(node)
    return found


# --------------------------------------------------------------------------- the scans, on small sources


def test_the_import_scan_sees_every_spelling_and_the_cycle_check_finds_a_loop() -> None:
    modules = {
        name: Path("__init__.py" if name in ("pkg", "pkg.sub") else "m.py")
        for name in ("pkg", "pkg.a", "pkg.b", "pkg.sub", "pkg.sub.c")
    }
    source = "from . import a\nfrom .b import x\ndef f():\n    from .sub import c\n"
    source += "import pkg.b\nfrom ..pkg import b"
    found = {
        (imported, function) for imported, _node, function in _imports("pkg.a", ast.parse(source), modules)
    }
    assert found == {("pkg.a", None), ("pkg.b", None), ("pkg.sub.c", "f")}
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_s3_scan_sees_each_way_in() -> None:
    for source in (
        "import botocore",
        "from botocore.exceptions import ClientError",
        "def f():\n    import boto3",
        "import aiobotocore.session",
        "import s3fs\nfs = s3fs.S3FileSystem(anon=True)",
        "from s3fs import S3FileSystem\nS3FileSystem()",
    ):
        assert _s3_contacts(ast.parse(source)), source
    assert _s3_contacts(ast.parse("import numpy\nfrom . import _s3\n_s3.filesystem('b')")) == []


# --------------------------------------------------------------------------- the house


def test_no_cycle_in_the_kits_import_graph() -> None:
    modules = {
        name: path for name, path in _modules().items() if not name.startswith("roman_helpers.sandbox")
    }
    graph = {name: {after for after in edges if after in modules} for name, edges in _graph(modules).items()}
    assert len(graph) > 40 and graph["roman_helpers.stream"]  # the scan read the package
    assert _cycles(graph) == []


def test_errors_and_config_are_leaves() -> None:
    modules = _modules()
    for leaf in LEAVES:
        path = modules[leaf]
        imported = _imports(leaf, ast.parse(path.read_text(), str(path)), modules)
        assert [name for name, _node, _function in imported if name.startswith("roman_helpers")] == []


def test_the_kit_reaches_the_sandbox_only_behind_the_commands_guards() -> None:
    modules = _modules()
    for name, path in modules.items():
        if name.startswith("roman_helpers.sandbox"):
            continue
        for imported, node, function in _imports(name, ast.parse(path.read_text(), str(path)), modules):
            if imported.startswith("roman_helpers.sandbox"):
                assert name in SANDBOX_GUARDS and function is not None, (
                    f"{name}:{node.lineno} imports {imported}"
                )


def _s3_contacts(tree: ast.AST) -> list[int]:
    """Lines that import botocore, boto3 or aiobotocore, or name ``S3FileSystem`` (to make one)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else []
            if node.module == "s3fs" and any(alias.name == "S3FileSystem" for alias in node.names):
                lines.append(node.lineno)
        elif isinstance(node, ast.Attribute) and node.attr == "S3FileSystem":
            lines.append(node.lineno)
            continue
        else:
            continue
        if any(name.split(".")[0] in ("botocore", "boto3", "aiobotocore") for name in names):
            lines.append(node.lineno)
    return lines


def test_only_the_s3_layer_touches_botocore_boto3_and_s3fs_file_systems() -> None:
    offenders = []
    for name, path in _modules().items():
        if name == S3_LAYER or name.startswith((f"{S3_LAYER}.", "roman_helpers.sandbox")):
            continue
        offenders += [f"{name}:{line}" for line in _s3_contacts(ast.parse(path.read_text(), str(path)))]
    assert offenders == []


def _builtin_handler_uses() -> dict[str, list[str]]:
    """Module -> the functions in it that name botocore's BUILTIN_HANDLERS."""
    uses: dict[str, list[str]] = {}
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(), str(path))
        for function in (node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)):
            if any(isinstance(n, ast.Attribute) and n.attr == "BUILTIN_HANDLERS" for n in ast.walk(function)):
                uses.setdefault(name, []).append(function.name)
    return uses


def _callers(function: str) -> set[str]:
    """``module.function`` of the functions of the kit (the sandbox aside) that call ``function``."""
    found = set()
    for name, path in _modules().items():
        if name.startswith("roman_helpers.sandbox"):
            continue
        for caller in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(caller, ast.FunctionDef):
                continue
            for call in (n for n in ast.walk(caller) if isinstance(n, ast.Call)):
                called = (
                    call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
                )
                if called == function:
                    found.add(f"{name}.{caller.name}")
    return found


def test_botocore_builtin_handlers_change_only_for_transfer_measure() -> None:
    # the only code that edits the list: two functions of the S3 layer's hooks
    assert _builtin_handler_uses() == {f"{S3_LAYER}.hooks": ["join_new_sessions", "leave_new_sessions"]}
    # called by transfer.measure's start and stop only, and those by measure alone
    assert _callers("join_new_sessions") == {"roman_helpers.transfer._start"}
    assert _callers("leave_new_sessions") == {"roman_helpers.transfer._stop"}
    assert _callers("_start") == {"roman_helpers.transfer.measure"}
    assert _callers("_stop") == {"roman_helpers.transfer.measure"}


@pytest.mark.parametrize("leaf", LEAVES)
def test_a_leaf_imports_without_the_rest_of_the_package(leaf: str) -> None:
    import subprocess
    import sys

    code = (
        f"import json, sys; import importlib; importlib.import_module({leaf!r}); "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('roman_helpers'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f'["roman_helpers", "{leaf}"]'


# --------------------------------------------------------------------------- the sandbox's own house
SANDBOX = "roman_helpers.sandbox"


def _private_uses(name: str, tree: ast.AST, modules: dict[str, Path]) -> list[str]:
    """Where a module uses another module's private names: ``from m import _x``, ``m._x``, ``import a._m``.

    A private module (``_name``) may be imported by the modules of its own package; a private name
    in a module, by that module only. Dunder names (``__file__``) are public.
    """

    def private(part: str) -> bool:
        return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))

    def outside_package(imported: str) -> bool:
        parts = imported.split(".")
        for depth, part in enumerate(parts):
            if private(part):
                package = ".".join(parts[:depth])
                own = name if _is_package(name, modules) else name.rpartition(".")[0]
                if not (own == package or own.startswith(package + ".")):
                    return True
        return False

    found: list[str] = []
    aliases: dict[str, str] = {}  # local name -> module of the package it refers to
    for imported, node, _function in _imports(name, tree, modules):
        if imported == name or not imported.startswith("roman_helpers"):
            continue
        if outside_package(imported):
            found.append(f"{name}:{node.lineno} imports {imported}")
        if isinstance(node, ast.ImportFrom):
            # _imports gives one entry per name: a submodule's own entry, or the module for the others
            this = [a for a in node.names if imported in modules and imported.endswith("." + a.name)]
            for alias in this or [alias for alias in node.names if f"{imported}.{alias.name}" not in modules]:
                if private(alias.name) and not this:
                    found.append(f"{name}:{node.lineno} imports {imported}.{alias.name}")
                if this:
                    aliases[alias.asname or alias.name] = imported
        else:
            for alias in node.names:
                if alias.name == imported:
                    aliases[alias.asname or alias.name.split(".")[0]] = imported if alias.asname else ""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr) and isinstance(node.value, ast.Name):
            module = aliases.get(node.value.id)
            if module and f"{module}.{node.attr}" not in modules:
                found.append(f"{name}:{node.lineno} uses {module}.{node.attr}")
    return found


def test_the_private_name_scan_sees_each_way_in() -> None:
    modules = {
        name: Path("__init__.py" if name in ("pkg", "pkg.sub") else "m.py")
        for name in ("pkg", "pkg.a", "pkg.b", "pkg.sub", "pkg.sub._c", "pkg.sub.d")
    }
    # the scan only looks at the package's own modules: the test package is named like it
    renamed = {k.replace("pkg", "roman_helpers"): v for k, v in modules.items()}
    scan = lambda name, source: _private_uses(name, ast.parse(source), renamed)  # noqa: E731
    assert scan("roman_helpers.a", "from roman_helpers.b import _hidden")
    assert scan("roman_helpers.a", "from roman_helpers import b\nb._hidden()")
    assert scan("roman_helpers.a", "from roman_helpers.sub import _c")  # a package's private module
    assert scan("roman_helpers.sub.d", "from roman_helpers.sub import _c") == []  # its own package's
    assert scan("roman_helpers.a", "from roman_helpers.b import public\nx = public._private") == []
    assert scan("roman_helpers.a", "from roman_helpers import b\nprint(b.__file__)") == []


def test_no_cycle_in_the_sandboxs_import_graph_and_no_private_names_across_modules() -> None:
    modules = _modules()
    sandbox = {name: path for name, path in modules.items() if name.startswith(SANDBOX)}
    graph = {name: {after for after in edges if after in sandbox} for name, edges in _graph(sandbox).items()}
    assert len(graph) > 30 and graph[f"{SANDBOX}.launcher"]  # the scan read the sandbox
    assert _cycles(graph) == []
    offenders = []
    for name, path in sandbox.items():
        offenders += _private_uses(name, ast.parse(path.read_text(), str(path)), modules)
    assert offenders == []


def test_the_sandboxs_rooms_import_downwards_only() -> None:
    """services -> archive -> sky: no room imports one above it (SANDBOX_PLAN.md)."""
    rank = {f"{SANDBOX}.sky": 0, f"{SANDBOX}.archive": 1, f"{SANDBOX}.services": 2}
    modules = _modules()
    for name, path in modules.items():
        room = next((r for r in rank if name == r or name.startswith(r + ".")), None)
        if room is None:
            continue
        for imported, node, _function in _imports(name, ast.parse(path.read_text(), str(path)), modules):
            other = next((r for r in rank if imported == r or imported.startswith(r + ".")), None)
            assert other is None or rank[other] <= rank[room], f"{name}:{node.lineno} imports {imported}"
