"""The cut-out of a Roman ASDF image, whose exact gwcs is made when first read (private).

Imported when the first ASDF cut-out is made (astropy loads then, not with :mod:`roman_helpers`).
"""

from __future__ import annotations

from typing import Any

from astropy.nddata import Cutout2D

from .. import _wcs

__all__ = ["GwcsCutout"]


class GwcsCutout(Cutout2D):
    """A :class:`astropy.nddata.Cutout2D` whose ``wcs``, the file's gwcs shifted to it, is made on first use.

    Made from the cut-out placed on the image (:func:`from_placed`), not by ``Cutout2D``'s own
    constructor (the pixels come from the file). ``wcs`` reads and sets as a ``Cutout2D``'s does;
    until read, it is a :class:`roman_helpers._wcs.Shifting`.
    """

    @classmethod
    def from_placed(cls, placed: Cutout2D, data: Any, wcs: _wcs.Shifting | None) -> GwcsCutout:
        """The cut-out ``placed`` on the image (its slices and positions), holding ``data`` and ``wcs``."""
        cut = cls.__new__(cls)
        cut.__dict__.update(placed.__dict__)
        cut.data = data
        cut.__dict__["wcs"] = wcs
        return cut

    @property
    def wcs(self) -> Any:
        """The cut-out's gwcs (exact: the file's own shifted to it), or None when the file has none."""
        value = self.__dict__.get("wcs")
        return value.get() if isinstance(value, _wcs.Shifting) else value

    @wcs.setter
    def wcs(self, value: Any) -> None:
        self.__dict__["wcs"] = value
