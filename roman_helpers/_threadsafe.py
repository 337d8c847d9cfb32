"""One lock for the library calls that must not overlap when the kit works in threads.

``warnings.catch_warnings`` saves the process-wide list of warning filters when a block starts and
puts it back when the block ends. Two threads whose blocks overlap therefore put back each other's
lists: a filter one of them set is lost early, or left in place for the rest of the process.
gwcs's SIP fit (:meth:`gwcs.WCS.to_fits_sip`) sets an ``"error"`` filter for scipy's
``LinAlgWarning`` this way, and warns with that same category when its search for a degree falls
short. Run from several threads at once, one fit's warning became another fit's exception: 71 of
160 fits of two distorted gwcs, 8 threads at a time, failed, where every fit alone succeeds.

So every block of the kit that may run in a worker thread (:func:`roman_helpers.footprints.build_index`,
:func:`roman_helpers.batch.cutouts`) and either fits gwcs or changes the warning filters holds
:data:`LOCK`. The blocks are pure computation (no network), so little is lost by running them one
at a time. (Python 3.14 can make the filters local to each thread; 3.11 cannot.)
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

#: Held while gwcs fits a SIP polynomial and while the warning filters are changed in a worker
#: thread. Re-entrant: a block that holds it may call another that takes it.
LOCK = threading.RLock()


@contextmanager
def quiet(category: type[Warning] = Warning) -> Iterator[None]:
    """Ignore warnings of ``category`` in a block, holding :data:`LOCK` so threads do not overlap."""
    with LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", category)
        yield
