"""The GitHub Actions workflow: test every push and pull request, publish the book from main.

The workflow cannot run here (no machine of this project reaches GitHub), so what it promises is
read from the file and checked by the two linters the project uses for it: actionlint (syntax,
expressions, job graph) and zizmor (security: permissions, credentials, pinning, injection).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
BIN = Path(sys.executable).parent
PINNED = re.compile(r"(?P<action>[\w.-]+/[\w.-]+)@(?P<sha>[0-9a-f]{40}) # v\d+(\.\d+)*")


@pytest.fixture(scope="module")
def workflow() -> dict:
    assert WORKFLOW.is_file(), f"no workflow at {WORKFLOW.relative_to(ROOT)}"
    return yaml.safe_load(WORKFLOW.read_text())


def _triggers(workflow: dict) -> dict:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true


def _runs(job: dict) -> list[str]:
    return [step["run"].strip() for step in job["steps"] if "run" in step]


def _uses(job: dict) -> list[str]:
    return [step["uses"].split("@")[0] for step in job["steps"] if "uses" in step]


def _readme_test_command() -> str:
    block = (ROOT / "README.md").read_text().split("## Two commands on a fresh machine", 1)[1]
    commands = [
        line.split("#")[0].strip() for line in block.split("```bash\n", 1)[1].split("```")[0].splitlines()
    ]
    [test] = [command for command in commands if "test" in command]
    return test


def test_every_push_and_pull_request_runs_the_readme_test_command(workflow: dict) -> None:
    triggers = _triggers(workflow)
    assert set(triggers) == {"push", "pull_request"}
    assert not triggers["push"] and not triggers["pull_request"], "no branch filter: every push"
    test = workflow["jobs"]["test"]
    assert "if" not in test
    assert _readme_test_command() == "make test"
    assert _runs(test)[-1] == "make test"
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("\nmake test")


def test_the_book_is_built_and_deployed_from_main_after_the_tests_pass(workflow: dict) -> None:
    jobs = workflow["jobs"]
    book, deploy = jobs["book"], jobs["deploy"]
    assert book["needs"] == "test"
    assert book["if"] == "${{ github.event_name == 'push' && github.ref == 'refs/heads/main' }}"
    assert _runs(book) == ["make book"]
    [upload] = [
        step for step in book["steps"] if step.get("uses", "").startswith("actions/upload-pages-artifact@")
    ]
    assert upload["with"]["path"].rstrip("/") == "_build/html"  # where book/build.py writes the site
    assert deploy["needs"] == "book"  # and so, through it, on test and on main
    assert _uses(deploy) == ["actions/deploy-pages"]
    assert deploy["environment"]["name"] == "github-pages"


def test_python_is_the_projects_3_11(workflow: dict) -> None:
    for name in ("test", "book"):
        [setup] = [
            s
            for s in workflow["jobs"][name]["steps"]
            if s.get("uses", "").startswith("actions/setup-python@")
        ]
        assert setup["with"]["python-version"] == "3.11"


def test_every_action_is_pinned_by_a_full_commit_sha() -> None:
    lines = [line.strip() for line in WORKFLOW.read_text().splitlines() if re.match(r"\s*(- )?uses:", line)]
    assert len(lines) >= 6
    unpinned = [line for line in lines if not PINNED.search(line)]
    assert not unpinned, "pin by the commit SHA, with the release tag in a comment:\n" + "\n".join(unpinned)


def test_each_job_has_only_the_permissions_it_needs(workflow: dict) -> None:
    assert workflow["permissions"] == {}, "nothing granted by default"
    granted = {name: job["permissions"] for name, job in workflow["jobs"].items()}
    assert granted == {
        "test": {"contents": "read"},
        "book": {"contents": "read"},
        "deploy": {"pages": "write", "id-token": "write"},
    }
    for name in ("test", "book"):
        [checkout] = [
            s for s in workflow["jobs"][name]["steps"] if s.get("uses", "").startswith("actions/checkout@")
        ]
        assert checkout["with"]["persist-credentials"] is False, f"{name}: the token stays out of .git/config"


@pytest.mark.parametrize(
    "command",
    [["actionlint", "-no-color"], ["zizmor", "--offline", "--no-progress", "--quiet"]],
    ids=lambda command: command[0],
)
def test_the_linters_pass_the_workflow(command: list[str]) -> None:
    done = subprocess.run(
        [str(BIN / command[0]), *command[1:], str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_make_lint_runs_both_linters_on_every_workflow() -> None:
    makefile = (ROOT / "Makefile").read_text()
    lint = makefile.split("\nlint: ", 1)[1].split("\n\n", 1)[0]
    assert "$(BIN)/actionlint" in lint and "$(BIN)/zizmor" in lint
    assert lint.count(".github/workflows") >= 2
