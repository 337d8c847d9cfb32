"""environment.yml must list what pyproject.toml requires, with the same bounds, and nothing else.

"What pyproject.toml requires" is the core ``dependencies`` plus the requirements of every extra
that the environment's editable install names, following extras that name other extras
(``roman-helpers[notebooks]``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


@pytest.fixture(scope="module")
def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _conda_and_pip(environment: dict) -> tuple[list[str], list[str]]:
    conda = [d for d in environment["dependencies"] if isinstance(d, str)]
    pip = [entry for d in environment["dependencies"] if isinstance(d, dict) for entry in d.get("pip", [])]
    return conda, pip


def _requirements(entries: list[str]) -> dict[str, Requirement]:
    """Requirement lines of the pip section by canonical name (options such as -e skipped)."""
    out = {}
    for entry in entries:
        if entry.startswith("-"):
            continue
        requirement = Requirement(entry)
        out[canonicalize_name(requirement.name)] = requirement
    return out


def test_environment_names_the_project_and_python(environment: dict, project: dict) -> None:
    assert environment["name"] == "roman-helpers"
    conda, _ = _conda_and_pip(environment)
    python = next(d for d in conda if d.split("=")[0] == "python")
    version = python.split("=", 1)[1]
    assert SpecifierSet(project["requires-python"]).contains(version + ".0")
    assert "pip" in conda


def _editable_extras(pip: list[str]) -> set[str]:
    editable = [entry for entry in pip if entry.startswith("-e ")]
    assert len(editable) == 1, f"one editable install of this package expected, found {editable}"
    target = editable[0][3:].strip().strip("'\"")
    path, _, extras = target.partition("[")
    assert path == "."
    return {extra.strip() for extra in extras.rstrip("]").split(",") if extra.strip()}


def _required(project: dict, extras: set[str]) -> dict[str, Requirement]:
    """Core requirements plus those of ``extras`` (and of the extras they name), by canonical name."""
    own = canonicalize_name(project["name"])
    lines = list(project["dependencies"])
    todo, seen = sorted(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for line in project["optional-dependencies"][extra]:
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) == own:
                todo.extend(requirement.extras)
            else:
                lines.append(line)
    out: dict[str, Requirement] = {}
    for line in lines:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        # two extras may need one package, with the same bounds (environment.yml lists it once)
        assert name not in out or str(out[name]) == str(requirement), (
            f"{requirement.name} is required twice in pyproject.toml with different bounds: "
            f"{out[name]} and {requirement}"
        )
        out[name] = requirement
    return out


def test_environment_installs_the_package_with_existing_extras(environment: dict, project: dict) -> None:
    _, pip = _conda_and_pip(environment)
    extras = _editable_extras(pip)
    assert extras <= set(project["optional-dependencies"])
    # a conda user gets the tutorials, their offline services and the tests
    assert {"notebooks", "sandbox", "test"} <= extras


def test_every_required_package_is_in_the_environment_with_the_same_bounds(
    environment: dict, project: dict
) -> None:
    _, pip = _conda_and_pip(environment)
    listed = _requirements(pip)
    for name, wanted in _required(project, _editable_extras(pip)).items():
        assert name in listed, f"{wanted.name} is in pyproject.toml but not in environment.yml"
        assert listed[name].specifier == wanted.specifier, f"{wanted.name}: {listed[name]} != {wanted}"
        assert wanted.extras <= listed[name].extras, f"{wanted.name}: extras {wanted.extras} missing"


def test_environment_has_no_dependency_the_project_lacks(environment: dict, project: dict) -> None:
    _, pip = _conda_and_pip(environment)
    declared = set(_required(project, _editable_extras(pip)))
    assert set(_requirements(pip)) - declared == set()
