"""The names of Roman's filters, as each archive spells them (private).

Roman's Wide Field Instrument has eight imaging filters, F062 ... F213, and three other elements
(``GRISM``, ``PRISM`` and ``DARK``): the names of its data model (``roman.meta.instrument.
optical_element``), of MAST and of the Roman Research Nexus. The OpenUniverse 2024 simulations
spell six of the same filters after the photometric band they stand in for: R062, Z087, Y106,
J129, W146, H158 and K213 (F184 keeps its name), in their file names, folders and ``FILTER``
keywords. A user asking for F158 means the files named H158 as well, and the other way round:
this module is the one place where the spellings are matched. Names it does not know (HST's
F160W, Rubin's r) are matched as they are written, without regard to case.

Every function that takes a band reads it with :func:`roman_helpers._sky.parse_bands`, which
turns each name into its :func:`canonical` form; what a file or a dataset holds is then
chosen with :func:`held` and reported in the archive's own spelling.
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import InvalidParameterError

__all__ = ["ALIASES_NOTE", "ARCHIVES", "ROMAN_ELEMENTS", "canonical", "described", "held", "spelling"]

#: The optical elements of the Wide Field Instrument, as Roman's data model names them.
ROMAN_ELEMENTS: tuple[str, ...] = (
    "F062",
    "F087",
    "F106",
    "F129",
    "F146",
    "F158",
    "F184",
    "F213",
    "GRISM",
    "PRISM",
    "DARK",
)

#: Each archive's spelling of the elements it names otherwise (the rest it writes as Roman does).
ARCHIVES: dict[str, dict[str, str]] = {
    "Roman": {},
    "OpenUniverse": {
        "F062": "R062",
        "F087": "Z087",
        "F106": "Y106",
        "F129": "J129",
        "F146": "W146",
        "F158": "H158",
        "F213": "K213",
    },
}

_CANONICAL = {alias: name for names in ARCHIVES.values() for name, alias in names.items()}


def canonical(name: str) -> str:
    """Roman's name of a filter, from any spelling of it, in any case; other names in upper case.

    Parameters
    ----------
    name : str
        A filter's name: Roman's (``"F158"``), OpenUniverse's (``"H158"``) or another
        instrument's (``"F160W"``), in any case.

    Returns
    -------
    str

    Examples
    --------
    >>> canonical("h158"), canonical("F158"), canonical("W146"), canonical("f160w")
    ('F158', 'F158', 'F146', 'F160W')
    """
    upper = name.strip().upper()
    return _CANONICAL.get(upper, upper)


def spelling(name: str, archive: str) -> str:
    """How an archive spells a filter: ``spelling("F158", "OpenUniverse")`` is ``"H158"``.

    Parameters
    ----------
    name : str
        Any spelling of the filter (:func:`canonical`).
    archive : str
        ``"Roman"`` (the data model, MAST, the Roman Research Nexus) or ``"OpenUniverse"``.

    Returns
    -------
    str

    Raises
    ------
    InvalidParameterError
        For an archive not in :data:`ARCHIVES`.

    Examples
    --------
    >>> spelling("j129", "OpenUniverse"), spelling("H158", "Roman"), spelling("F184", "OpenUniverse")
    ('J129', 'F158', 'F184')
    """
    if archive not in ARCHIVES:
        raise InvalidParameterError("archive", archive, list(ARCHIVES))
    roman = canonical(name)
    return ARCHIVES[archive].get(roman, roman)


def described(written: str, where: str) -> str:
    """A name as written in a file or dataset, with Roman's name first when the two differ.

    Examples
    --------
    >>> described("H158", "this index"), described("F184", "this index")
    ('F158 (H158 in this index)', 'F184')
    """
    roman = canonical(written)
    return written if roman == written.strip().upper() else f"{roman} ({written} in {where})"


#: What every message about a band says of the spellings.
ALIASES_NOTE = "Roman's names and OpenUniverse's are both taken, in any case: " + ", ".join(
    f"{roman} = {alias}" for roman, alias in ARCHIVES["OpenUniverse"].items()
)


def held(
    wanted: Iterable[str], written: Iterable[str], *, name: str = "band", where: str = "this index"
) -> list[str]:
    """The names as written (in an index, a dataset) of the filters wanted; every one must be there.

    Parameters
    ----------
    wanted : iterable of str
        Roman's names (:func:`canonical`), as :func:`roman_helpers._sky.parse_bands` gives them.
    written : iterable of str
        The names the index or dataset holds, in its own spelling (a message lists them in
        this order).
    name : str
        The parameter, for the message.
    where : str
        What holds them, for the message (``"this index"``, ``"this dataset"``).

    Returns
    -------
    list of str
        The written names whose filter is wanted, in the order of ``written``.

    Raises
    ------
    InvalidParameterError
        If a filter wanted is not held: the message lists those held in both spellings.

    Examples
    --------
    >>> held({"F158"}, ["H158", "J129"])
    ['H158']
    >>> held({"F062"}, ["H158", "F184"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    roman_helpers.errors.InvalidParameterError: invalid band 'F062 (R062)'; valid values are: F158 (H158 ...
    """
    names = list(dict.fromkeys(str(w) for w in written if str(w).strip()))
    chosen = set(wanted)
    missing = sorted(chosen - {canonical(w) for w in names})
    if missing:
        asked: str | list[str] = [_as_asked(m) for m in missing]
        asked = asked[0] if len(asked) == 1 else asked
        roman = any(canonical(n) in ROMAN_ELEMENTS for n in [*names, *missing])  # else no word of Roman
        raise InvalidParameterError(
            name,
            asked,
            [described(w, where) for w in names],
            # the spellings only where Roman's filters are in question; else the list says it all
            hint=f"{where} holds only these; {ALIASES_NOTE}" if roman else None,
        )
    return [w for w in names if canonical(w) in chosen]


def _as_asked(roman: str) -> str:
    """A missing filter, with OpenUniverse's name beside Roman's where they differ."""
    other = ARCHIVES["OpenUniverse"].get(roman)
    return f"{roman} ({other})" if other else roman
