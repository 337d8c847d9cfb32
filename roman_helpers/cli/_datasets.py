"""The commands on the datasets the tutorials run on: ``datasets`` and ``uri`` (private)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from .. import _bands, datasets
from ..errors import InvalidParameterError

__all__ = ["register"]


def _datasets(args: argparse.Namespace) -> int:
    if args.name is None:
        width = max(len(name) for name in datasets.names())
        for ds in datasets.load().values():
            print(f"{ds.name:<{width}}  {ds.access:<12}  {ds.title}")
        return 0
    ds = datasets.get(args.name)
    print(f"{ds.name}: {ds.title}\n\n{ds.description}\n")
    print(f"bucket:    {ds.bucket} ({ds.access})")
    print(f"template:  {ds.template}")
    print(f"notebooks: {', '.join(str(n) for n in ds.notebooks)}")
    print("parameters:")
    for p in ds.parameters.values():
        values = ", ".join(_spelled(p, v) for v in p.values) if p.values is not None else "any"
        print(f"  {p.name} (default {_spelled(p, p.default)}): {p.help}; values: {values}")
    extra = ds.extra_fields
    if extra:
        print(f"also give: {', '.join(extra)} (template fields that are not parameters)")
    example = {**ds.defaults(), **{name: name.upper() for name in extra}}
    print(f"example:   roman-helpers uri {ds.name} " + " ".join(f"{k}={v}" for k, v in example.items()))
    return 0


def _spelled(parameter: datasets.Parameter, value: object) -> str:
    """A filter as the archive spells it, with Roman's name beside it where they differ: H158 (F158)."""
    text = str(value)
    if parameter.kind != "band":
        return text
    roman = _bands.canonical(text)
    return text if roman == text.strip().upper() else f"{text} ({roman})"


def _uri(args: argparse.Namespace) -> int:
    params = {}
    for item in args.params:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidParameterError("argument", item, hint="Write key=value, e.g. band=F158")
        params[name.strip()] = value.strip()
    print(datasets.get(args.dataset).uri(**params))
    return 0


def _uri_strays(args: argparse.Namespace, strays: list[str]) -> str:
    """``uri DATASET --band F158``: parameters typed as options, and the command that was meant."""
    meant, words = list(args.params), iter(strays)
    for word in words:
        name, sep, value = word.lstrip("-").partition("=")
        if not sep and word.startswith("-"):
            value = next(words, "")
        meant.append(f"{name}={value}" if word.startswith("-") or sep else word)
    return (
        "uri takes a dataset's parameters as KEY=VALUE, not as options: "
        f"roman-helpers uri {args.dataset} {' '.join(meant)}"
    )


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``datasets`` and ``uri``; ``command`` makes a sub-command's parser."""
    ds = command(
        "datasets",
        "list the datasets, or show one's parameters",
        _datasets,
        "Without NAME, list the datasets of datasets.yaml; with NAME, show its bucket, "
        "template and parameters with their valid values.",
    )
    ds.add_argument("name", nargs="?", metavar="NAME", help="a dataset name")
    uri = command(
        "uri",
        "build the s3:// URI of one file of a dataset",
        _uri,
        "Build the s3:// URI of one file of a dataset from key=value parameters; "
        "parameters left out take their defaults. A value that does not exist is "
        "refused with the list of valid ones.",
    )
    uri.add_argument("dataset", metavar="DATASET", help="a dataset name (see `roman-helpers datasets`)")
    uri.add_argument("params", nargs="*", metavar="KEY=VALUE", help="parameter values, e.g. sensor=3")
    uri.set_defaults(strays=_uri_strays)
