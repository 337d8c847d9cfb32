"""The ``roman-helpers`` command line.

Every sub-command parses its options, calls one function of the kit and prints, so what it does
is documented there: ``ls`` (:func:`roman_helpers.uris.list_objects`), ``info``
(:func:`roman_helpers.stream.info`), ``header`` (:func:`roman_helpers.stream.read_header`),
``cutout`` (:func:`roman_helpers.stream.cutouts`), ``get`` (:func:`roman_helpers.download.download`),
``datasets`` (:mod:`roman_helpers.datasets`), ``uri`` (:meth:`roman_helpers.datasets.Dataset.uri`),
``index`` (:func:`roman_helpers.footprints.build_index`), ``find``
(:func:`roman_helpers.footprints.find`), ``lightcurve``
(:func:`roman_helpers.photometry.light_curve_from_index`), plus ``sandbox``
(:mod:`roman_helpers.sandbox.cli`, with the ``sandbox`` extra) and ``run``
(:mod:`roman_helpers.runner`, with the ``notebooks`` extra). Without its extra, such a command
says which one to install.

Errors a user can cause print ``error: <message>`` and exit with 1 (2 for a usage error), in the
command line's words: the kit names a parameter as Python does, and the command says it as the
option that was typed (``--size``, not ``size``); ``--debug`` shows the traceback instead.
Output into a pipe that closes early (``| head``) ends the command quietly, with status 0.
Ctrl-C stops a command within about a second; what it finished is kept (an index of the files
read, the files downloaded, the points measured) and said in one line, and it exits with 130.
Commands run inside :func:`roman_helpers.config.command_line`: an S3 endpoint that does not
answer is reported within seconds, not retried.
"""

from __future__ import annotations

from ._main import main
from ._parser import build_parser

__all__ = ["build_parser", "main"]
