"""Progress bars for where the code runs: a widget in Jupyter, text on a terminal, none in logs.

tqdm's own choice, ``tqdm.auto``, does not fit: in a Jupyter kernel without ipywidgets it
prints ``TqdmWarning: IProgress not found`` into the notebook as soon as it is imported, and
with ``disable=None`` it draws nothing in Jupyter at all, because a kernel's standard error is
not a terminal. :func:`tqdm` chooses instead:

- in a Jupyter kernel: tqdm's widget when ipywidgets is installed (the ``notebooks`` extra),
  otherwise a text bar, which Jupyter redraws in place; never a warning;
- elsewhere: a text bar on standard error when it is a terminal, nothing when it is a file or
  a pipe (a log, a batch job, CI).

tqdm's own setting ``TQDM_DISABLE=1`` hides the bars whose display is left to this choice; the
book's build sets it, since a static page cannot show a live bar.
"""

from __future__ import annotations

import importlib.util
import io
import sys
from typing import Any

__all__ = ["shown", "tqdm"]


def _in_jupyter_kernel() -> bool:
    ipython = sys.modules.get("IPython")  # looked up, never imported: a script has no kernel
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def _has_widgets() -> bool:
    try:
        return importlib.util.find_spec("ipywidgets") is not None
    except (ImportError, ValueError):  # a finder refused it, or it is marked absent in sys.modules
        return False


def _hidden_by_tqdm_setting() -> bool:
    """Whether tqdm's ``TQDM_DISABLE`` setting hides bars left to their default.

    tqdm applies it to its text bar, but its widget always passes ``disable`` on; so ask a
    text bar that draws into nothing.
    """
    from tqdm.std import tqdm as text_bar

    probe = text_bar(total=0, file=io.StringIO(), leave=False)
    hidden = bool(probe.disable)
    probe.close()
    return hidden


def shown(progress: bool | None) -> bool:
    """Tell whether a bar is drawn for a ``progress`` argument, for bars tqdm does not draw.

    Parameters
    ----------
    progress : bool, optional
        ``True`` or ``False`` decide; ``None`` means: in Jupyter or on a terminal, unless
        tqdm's ``TQDM_DISABLE`` setting hides bars, and never in a log.

    Returns
    -------
    bool

    Examples
    --------
    >>> shown(False), shown(True)
    (False, True)
    """
    if progress is not None:
        return bool(progress)
    return (_in_jupyter_kernel() or _stderr_is_terminal()) and not _hidden_by_tqdm_setting()


def tqdm(*args: Any, disable: bool | None = None, **kwargs: Any) -> Any:
    """Return a tqdm progress bar of the kind that suits where the code runs.

    Parameters
    ----------
    *args, **kwargs
        tqdm's own arguments (``iterable``, ``total``, ``desc``, ``unit`` ...).
    disable : bool, optional
        ``True``: no bar. ``False``: a bar wherever the code runs, a log included.
        ``None`` (default): a bar in Jupyter or on a terminal, none in a log; tqdm's
        ``TQDM_DISABLE`` setting can hide it.

    Returns
    -------
    tqdm.std.tqdm
        A ``tqdm.notebook.tqdm`` widget in a Jupyter kernel with ipywidgets, a text bar
        otherwise; use it as any tqdm bar (``update``, ``close``, a ``with`` block, iteration).

    Examples
    --------
    Iterating through a bar gives the items, here without drawing anything:

    >>> [name.upper() for name in tqdm(["a.fits", "b.fits"], desc="files", disable=True)]
    ['A.FITS', 'B.FITS']
    """
    from tqdm.std import tqdm as text_bar

    if disable:
        return text_bar(*args, disable=True, **kwargs)
    in_jupyter = _in_jupyter_kernel()
    if in_jupyter and _has_widgets():
        from tqdm.notebook import tqdm as bar_class
    else:
        bar_class = text_bar
    if disable is False:
        return bar_class(*args, disable=False, **kwargs)
    if in_jupyter:
        return bar_class(*args, disable=_hidden_by_tqdm_setting(), **kwargs)
    if _stderr_is_terminal():
        return bar_class(*args, **kwargs)  # tqdm's default, or its TQDM_DISABLE setting
    return bar_class(*args, disable=True, **kwargs)
