"""The datasets the tutorials can run on, read from ``datasets.yaml``.

The YAML file beside this module is the single source of truth: notebooks
validate their papermill parameters against it, and the book's datasets page
is made from it. Its defaults and examples name objects the real archives
hold (the offline sandbox serves the same keys).

Examples
--------
>>> from roman_helpers import datasets
>>> ds = datasets.get("openuniverse-was-fits")
>>> ds.uri(band="F184", pointing="15297", sensor=11)  # doctest: +ELLIPSIS
's3://nasa-irsa-simulations/openuniverse2024/.../F184/15297/Roman_WAS_simple_model_F184_15297_11.fits.gz'
>>> ds.uri(band="F158", pointing="15298", sensor=3).rsplit("/", 1)[-1]  # OpenUniverse names F158 H158
'Roman_WAS_simple_model_H158_15298_3.fits.gz'
"""

from __future__ import annotations

import functools
import numbers
import re
import string
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from . import _bands
from .errors import InvalidParameterError

__all__ = ["Dataset", "Parameter", "get", "load", "names"]

#: A whole number, optionally written as a detector name: 7, "07", "WFI07", "sca07".
_WHOLE_NUMBER = re.compile(r"(?:wfi|sca)?(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Parameter:
    """One knob of a dataset: its default, the values that exist, and what it means."""

    name: str
    default: Any
    values: tuple[Any, ...] | None = None
    help: str = ""
    #: ``"band"`` for a filter: any spelling of it is taken (``F158`` for OpenUniverse's ``H158``).
    kind: str = ""

    def coerce(self, value: Any) -> Any:
        """Return ``value`` in the type and spelling of the default, or raise.

        Whole-number parameters take ``7``, ``"07"`` or ``"WFI07"``; text parameters take any
        case (``"f158"`` is ``"F158"``) and whole numbers (``15297`` is ``"15297"``); a filter
        (``kind: band``) takes Roman's name or the dataset's own (``"F158"`` is OpenUniverse's
        ``"H158"``) and gives back the dataset's. Nothing else is converted: ``11.7`` and
        ``True`` are refused rather than truncated.

        Raises
        ------
        InvalidParameterError
            If the value cannot be converted or is not one of :attr:`values`; for a filter the
            message names each valid one in both spellings.

        Examples
        --------
        >>> get("openuniverse-was-fits").parameters["band"].coerce("f158")
        'H158'
        """
        if self.kind == "band" and self.values is not None and isinstance(value, str):
            wanted = {_bands.canonical(value)}
            return _bands.held(wanted, self.values, name=self.name, where="this dataset")[0]
        converted = self._converted(value)
        if converted is None or (self.values is not None and converted not in self.values):
            raise InvalidParameterError(
                self.name, value, self.values, hint=None if self.values is not None else self.help or None
            )
        return converted

    def _converted(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (str, numbers.Integral)):
            return None
        if isinstance(self.default, int):
            if isinstance(value, numbers.Integral):
                return int(value)
            match = _WHOLE_NUMBER.fullmatch(value.strip())
            return int(match.group(1)) if match else None
        text = str(value).strip()
        return next((valid for valid in self.values or () if str(valid).lower() == text.lower()), text)


@dataclass(frozen=True)
class Dataset:
    """A named set of objects in one bucket, addressed by a path template."""

    name: str
    title: str
    description: str
    bucket: str
    prefix: str
    template: str
    access: str
    notebooks: tuple[int, ...]
    parameters: dict[str, Parameter]
    lookups: dict[str, dict[str, Any]] = field(default_factory=dict)
    examples: tuple[dict[str, Any], ...] = ({},)

    @property
    def anonymous(self) -> bool:
        """``True`` when the bucket is read without credentials."""
        return self.access == "anonymous"

    def defaults(self) -> dict[str, Any]:
        """Return the default value of every parameter."""
        return {name: p.default for name, p in self.parameters.items()}

    def validate(self, **params: Any) -> dict[str, Any]:
        """Check parameter values and fill in defaults.

        Parameters
        ----------
        **params
            Values for some or all of the dataset's parameters.

        Returns
        -------
        dict
            Every parameter with a valid value, converted to its type.

        Raises
        ------
        InvalidParameterError
            On an unknown parameter name or a value that does not exist; the
            message lists what is valid.
        """
        unknown = set(params) - set(self.parameters)
        if unknown:
            name = sorted(unknown)[0]
            raise InvalidParameterError(
                "parameter name",
                name,
                sorted(self.parameters),
                hint=f"dataset {self.name!r} has no parameter {name!r}",
            )
        merged = self.defaults()
        merged.update(params)
        return {name: self.parameters[name].coerce(value) for name, value in merged.items()}

    @property
    def extra_fields(self) -> list[str]:
        """Template fields that are neither parameters nor lookups (``obs_id`` for HST)."""
        names = (name for _, name, _, _ in string.Formatter().parse(self.template) if name)
        return [
            name for name in dict.fromkeys(names) if name not in self.parameters and name not in self.lookups
        ]

    def key(self, **params: Any) -> str:
        """Return the object key for the given parameters (see :meth:`uri`)."""
        extra = {k: v for k, v in params.items() if k not in self.parameters}
        unknown = [name for name in extra if name not in self.extra_fields]
        if unknown:
            raise InvalidParameterError(
                "parameter name",
                unknown[0],
                [*self.parameters, *self.extra_fields],
                hint=f"dataset {self.name!r} has no parameter {unknown[0]!r}",
            )
        fields = {**extra, **self.validate(**{k: v for k, v in params.items() if k in self.parameters})}
        for derived, rule in self.lookups.items():
            fields[derived] = rule["map"][fields[rule["from"]]]
        try:
            return self.template.format(**fields)
        except KeyError as missing:
            raise InvalidParameterError(
                "template field",
                missing.args[0],
                sorted(fields),
                hint=f"pass {missing.args[0]}= to build a key of dataset {self.name!r}",
            ) from None

    def uri(self, **params: Any) -> str:
        """Return the ``s3://`` URI of one object of the dataset.

        Parameters
        ----------
        **params
            Dataset parameters (defaults fill the rest) and any extra template
            fields (for example ``obs_id`` for the HST dataset).

        Returns
        -------
        str
        """
        return f"s3://{self.bucket}/{self.key(**params)}"

    def all_params(self) -> list[dict[str, Any]]:
        """Return every combination of parameter values the dataset holds.

        Parameters without a list of values keep their default.
        """
        combos: list[dict[str, Any]] = [{}]
        for name, p in self.parameters.items():
            choices = p.values if p.values is not None else (p.default,)
            combos = [{**c, name: v} for c in combos for v in choices]
        return combos


@functools.cache
def load() -> dict[str, Dataset]:
    """Read ``datasets.yaml`` and return every dataset by name."""
    text = resources.files(__package__).joinpath("datasets.yaml").read_text()
    raw = yaml.safe_load(text)["datasets"]
    out = {}
    for name, spec in raw.items():
        params = {
            pname: Parameter(
                pname,
                p["default"],
                tuple(p["values"]) if "values" in p else None,
                p.get("help", ""),
                p.get("kind", ""),
            )
            for pname, p in spec.get("parameters", {}).items()
        }
        out[name] = Dataset(
            name=name,
            title=spec["title"],
            description=spec["description"].strip(),
            bucket=spec["bucket"],
            prefix=spec["prefix"],
            template=spec["template"],
            access=spec["access"],
            notebooks=tuple(spec.get("notebooks", ())),
            parameters=params,
            lookups=spec.get("lookups", {}),
            examples=tuple(spec.get("examples", [{}])),
        )
    return out


def names() -> list[str]:
    """Return the names of all datasets."""
    return list(load())


def get(name: str) -> Dataset:
    """Return one dataset by name.

    Raises
    ------
    InvalidParameterError
        If there is no dataset of that name; the message lists the names.
    """
    try:
        return load()[name]
    except KeyError:
        raise InvalidParameterError("dataset", name, names()) from None
