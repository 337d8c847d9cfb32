"""Check a tutorial notebook's papermill parameters against ``datasets.yaml``.

Every tutorial notebook starts with a cell tagged ``parameters`` (a dataset
name and that dataset's knobs) followed by one line::

    params = check_parameters(dataset, globals(), notebook=2)

A bad value stops the notebook right there, in its first cell, with an
:class:`~roman_helpers.errors.InvalidParameterError` that lists the values
that exist, instead of an obscure ``FileNotFoundError`` ten cells later.

A notebook may read several datasets (tutorial 2 streams four). The knobs
set in the parameters cell belong to the chosen ``dataset``;
:meth:`NotebookParameters.for_dataset` gives every other dataset its
defaults, except a dataset with exactly the same knobs (the OpenUniverse
images as FITS and as ASDF), which gets the same values, so both sections
open the same image.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import config, datasets
from .errors import InvalidParameterError

__all__ = ["NotebookParameters", "check_parameters", "running_in_sandbox"]


def running_in_sandbox() -> bool:
    """Tell whether this process was started under the offline sandbox.

    The sandbox launcher exports ``ROMAN_HELPERS_SANDBOX`` (the path of its
    state file) to every process it starts; nothing else sets it.

    Returns
    -------
    bool
    """
    return config.sandbox_state() is not None


def _same_knobs(a: datasets.Dataset, b: datasets.Dataset) -> bool:
    return {n: p.values for n, p in a.parameters.items()} == {n: p.values for n, p in b.parameters.items()}


@dataclass(frozen=True)
class NotebookParameters:
    """Validated parameters of one notebook run.

    Attributes
    ----------
    dataset : str
        The dataset chosen in the parameters cell.
    values : dict
        That dataset's parameters, every one present and converted to its type.
    """

    dataset: str
    values: dict[str, Any]

    def for_dataset(self, name: str) -> dict[str, Any]:
        """Return the parameters to use for dataset ``name``.

        Parameters
        ----------
        name : str
            A dataset of ``datasets.yaml``.

        Returns
        -------
        dict
            The checked values when ``name`` is the chosen dataset or has
            exactly its knobs; otherwise the defaults of ``name``.

        Examples
        --------
        >>> p = check_parameters(
        ...     "openuniverse-was-fits", {"band": "H158", "pointing": "15298"}, announce=False
        ... )
        >>> p.for_dataset("openuniverse-was-asdf")["pointing"]
        '15298'
        >>> p.for_dataset("roman-tutorial-2026")
        {'detector': 11, 'optical_element': 'F106'}
        """
        target = datasets.get(name)
        if name == self.dataset or _same_knobs(target, datasets.get(self.dataset)):
            return dict(self.values)
        return target.defaults()

    def uri(self, name: str | None = None, **extra: Any) -> str:
        """Return the ``s3://`` URI of dataset ``name`` (default: the chosen one).

        Parameters
        ----------
        name : str, optional
            Dataset name; the chosen dataset when omitted.
        **extra
            Template fields that are not parameters (``obs_id`` for HST).

        Returns
        -------
        str
        """
        name = name or self.dataset
        return datasets.get(name).uri(**{**self.for_dataset(name), **extra})

    def __getitem__(self, knob: str) -> Any:
        return self.values[knob]


def check_parameters(
    dataset: str, namespace: Mapping[str, Any], *, notebook: int | None = None, announce: bool = True
) -> NotebookParameters:
    """Validate a notebook's parameters against ``datasets.yaml``.

    Parameters
    ----------
    dataset : str
        Name of the dataset the run is about.
    namespace : mapping
        Where the knobs live; in a notebook, ``globals()``. Only names that
        are parameters of ``dataset`` are read; missing ones take defaults.
    notebook : int, optional
        The tutorial's number; when given, ``dataset`` must be one that
        ``datasets.yaml`` lists for this notebook.
    announce : bool, default True
        Print the checked values, and say so when the numbers will come from
        the offline sandbox rather than MAST and AWS.

    Returns
    -------
    NotebookParameters

    Raises
    ------
    InvalidParameterError
        On an unknown dataset, a dataset this notebook does not use, or a
        knob whose value does not exist; the message lists the valid values.

    Examples
    --------
    >>> check_parameters("hst-wfc3ir-m85", {"filters": "F110W"}, announce=False).values
    {'proposal_id': '11360', 'filters': 'F110W', 'obsid': '24797441'}
    >>> check_parameters("hst-wfc3ir-m85", {"filters": "F999W"}, announce=False)
    Traceback (most recent call last):
    ...
    roman_helpers.errors.InvalidParameterError: invalid filters 'F999W'; valid values are: F160W, F110W
    """
    chosen = datasets.get(dataset)
    if notebook is not None and notebook not in chosen.notebooks:
        usable = [name for name, ds in datasets.load().items() if notebook in ds.notebooks]
        raise InvalidParameterError(
            "dataset", dataset, usable, hint=f"tutorial {notebook} does not use {dataset!r}"
        )
    knobs = {name: namespace[name] for name in chosen.parameters if name in namespace}
    checked = NotebookParameters(dataset, chosen.validate(**knobs))
    if announce:
        shown = ", ".join(f"{k}={v!r}" for k, v in checked.values.items())
        print(f"dataset {dataset!r}: {shown}")
        if running_in_sandbox():
            print(
                "Running under the offline sandbox: the files below have the real archives' names, "
                "formats and sizes, but their pixels are simulated here, not read from MAST or AWS."
            )
    return checked
