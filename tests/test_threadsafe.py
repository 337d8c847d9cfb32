"""The kit's gwcs SIP fits give, from many threads at once, exactly what one fit alone gives.

gwcs's fit sets a process-wide "error" warning filter while it runs and warns with the same
category when its search falls short; without the kit's lock, overlapping fits turned each other's
warnings into exceptions (see roman_helpers/_threadsafe.py).
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor

from roman_helpers import _wcs
from tests.test_footprints import BIG, SHAPE, _distorted_gwcs

ROUNDS, THREADS = 6, 8


def _fits(gwcs_by_shape) -> list:
    """One fit per (use, shape) pair: its header's text and its measured deviation."""

    def index_fit(shape):  # as an index row's
        fit = _wcs.fit_sip(gwcs_by_shape[shape], shape, goal=0.01)
        return "index", shape, fit.header.tostring(), fit.deviation

    def cutout_fit(shape):  # as a cut-out's FITS header, with the inverse polynomial
        fit = _wcs.fit_sip(gwcs_by_shape[shape], shape, goal=0.01, inverse=True)
        return "cutout", shape, fit.header.tostring(), fit.deviation

    return [(index_fit, shape) for shape in gwcs_by_shape] + [(cutout_fit, shape) for shape in gwcs_by_shape]


def test_concurrent_sip_fits_equal_the_fit_alone_and_leave_the_filters_as_they_were() -> None:
    gwcs_by_shape = {SHAPE: _distorted_gwcs(SHAPE), BIG: _distorted_gwcs(BIG)}
    jobs = _fits(gwcs_by_shape)
    filters_before = list(warnings.filters)
    alone = {result[:2]: result[2:] for result in (fit(shape) for fit, shape in jobs)}
    assert all("A_ORDER" in text for text, _ in alone.values())  # a real distortion was fitted
    with ThreadPoolExecutor(THREADS) as pool:
        together = list(pool.map(lambda job: job[0](job[1]), jobs * ROUNDS))
    assert len(together) == len(jobs) * ROUNDS
    for kind, shape, text, error in together:
        assert (text, error) == alone[kind, shape], (kind, shape)
    assert list(warnings.filters) == filters_before
