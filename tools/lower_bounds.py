"""Write a pip constraints file that pins each dependency to its declared lower bound.

``make test-oldest`` installs the kit with these pins into a separate virtual environment
and runs the unit tests there, so a kernel that is not on the newest releases is tested.

Usage::

    python tools/lower_bounds.py [--extra NAME ...] [-o constraints.txt]

Reads ``[project] dependencies`` (and the optional-dependency groups named with
``--extra``, when pyproject.toml has them) and writes ``name==X.Y`` for every
``name>=X.Y`` (also for ``~=X.Y`` and ``==X.Y``). Requirements without a lower bound, or
whose environment marker does not apply here, are left unpinned and listed on stderr.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]

# OVERRIDES of declared lower bounds that fail on Python 3.11 (found by `make test-oldest`).
# The bound in pyproject.toml should be raised to these; once it is, the entry is unused and this
# script says so on stderr. name -> (lowest version that passes, why).
OVERRIDES: dict[str, tuple[str, str]] = {}


def lower_bound(req: Requirement) -> Version | None:
    """The lowest version ``req`` allows, read from its ``>=``, ``~=`` or ``==`` clauses."""
    bounds = [
        Version(spec.version)
        for spec in req.specifier
        if spec.operator in (">=", "~=", "==") and "*" not in spec.version
    ]
    return max(bounds, default=None)


def requirements(pyproject: dict, extras: list[str]) -> list[Requirement]:
    """The core requirements plus those of the named extras that exist."""
    project = pyproject.get("project", {})
    lines = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra in optional:
            lines += optional[extra]
        else:
            print(f"lower_bounds: pyproject.toml has no extra {extra!r}; skipped", file=sys.stderr)
    return [Requirement(line) for line in lines]


def constraints(reqs: list[Requirement]) -> list[str]:
    """One ``name==version`` line per bounded requirement; overrides are marked."""
    pins: dict[str, tuple[Version, str]] = {}
    for req in reqs:
        name = canonicalize_name(req.name)
        if req.marker is not None and not req.marker.evaluate():
            print(f"lower_bounds: {req} does not apply here; unpinned", file=sys.stderr)
            continue
        bound = lower_bound(req)
        if bound is None:
            print(f"lower_bounds: {req} has no lower bound; unpinned", file=sys.stderr)
            continue
        if name in pins and pins[name][0] >= bound:
            continue  # listed twice (core and an extra): the higher bound wins
        line = f"{name}=={bound}"
        if name in OVERRIDES:
            version, why = OVERRIDES[name]
            if Version(version) > bound:
                line = f"{name}=={version}  # OVERRIDE: declared >={bound}; {why}"
            else:
                print(
                    f"lower_bounds: override {name}=={version} is no longer needed "
                    f"(declared >={bound}); remove it",
                    file=sys.stderr,
                )
        pins[name] = (bound, line)
    return [line for _, line in pins.values()]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return its exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument(
        "--extra", action="append", default=[], help="also pin this optional-dependency group, if it exists"
    )
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    pyproject = tomllib.loads(args.pyproject.read_text())
    text = "".join(line + "\n" for line in constraints(requirements(pyproject, args.extra)))
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
