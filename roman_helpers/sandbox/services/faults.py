"""Fault injection for the sandbox's HTTP services (S3 and MAST).

:class:`FaultInjector` is WSGI middleware. It sits outermost on a server and, for the requests
its rules select, answers with a failure real networks and real S3 produce:

=========  ===================================================================================
kind       what the client sees
=========  ===================================================================================
slowdown   ``503 SlowDown`` with S3's XML error body (S3 asks clients to back off)
error500   ``500 InternalError`` with S3's XML error body
reset      the TCP connection is reset before any response byte
cut        full headers (true ``Content-Length``) but only ``fraction`` of the body, then close
stall      the request is accepted and nothing is answered for ``seconds`` (bounded, so tests
           end), then the connection is dropped; with ``fraction`` > 0 part of the body is
           sent first
flip       the body arrives complete, with one byte inverted (at ``offset``, default the middle)
badsum     the object's stored checksum is wrong: ``ETag`` and ``x-amz-checksum-*`` are replaced
=========  ===================================================================================

A rule selects requests by ``key`` (substring of the URL path), ``method``, and then either
``nth`` (only the nth request that matches), ``rate`` (probability, drawn from a generator
seeded by ``seed`` so a run is repeatable) or neither (every match). ``times`` caps how often a
rule fires.

Rules are written on the command line as a spec string, e.g.
``roman-helpers sandbox up --faults "slowdown:0.1,reset:key=foo,flip:nth=3"``:
rules are separated by commas, a rule is ``kind`` followed by ``:``-separated arguments, a bare
number is the rate and ``name=value`` sets any other field.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from typing import Any, NoReturn
from urllib.parse import unquote

from roman_helpers.errors import InvalidParameterError

__all__ = ["KINDS", "FaultInjector", "FaultRule", "parse_faults"]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

#: Fault kinds understood by :class:`FaultInjector`.
KINDS: tuple[str, ...] = ("slowdown", "error500", "reset", "cut", "stall", "flip", "badsum")

_ERROR_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
    "<RequestId>SANDBOXFAULT0000</RequestId><HostId>roman-helpers-sandbox</HostId></Error>"
)


@dataclass
class FaultRule:
    """One fault and the requests it applies to.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    rate : float
        Probability of firing on a matching request (0 means: decide by ``nth``, or always).
    key : str, optional
        Only requests whose URL path contains this text.
    method : str, optional
        Only requests with this HTTP method (``GET``, ``HEAD``, ``POST`` ...).
    nth : int, optional
        Fire only on the nth matching request (1-based).
    times : int, optional
        Fire at most this many times.
    fraction : float, optional
        For ``cut`` and ``stall``: share of the body sent before the failure (default 0.5 for
        ``cut``, 0 for ``stall``).
    seconds : float
        For ``stall``: how long to hold the request before dropping it.
    offset : int, optional
        For ``flip``: body offset of the inverted byte (default the middle of the body).

    Examples
    --------
    >>> FaultRule("cut", key="big.fits", fraction=0.5).kind
    'cut'
    """

    kind: str
    rate: float = 0.0
    key: str | None = None
    method: str | None = None
    nth: int | None = None
    times: int | None = None
    fraction: float | None = None
    seconds: float = 30.0
    offset: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidParameterError("fault kind", self.kind, KINDS)
        if not 0.0 <= float(self.rate) <= 1.0:
            raise InvalidParameterError("fault rate", self.rate, hint="use a probability between 0 and 1")
        if self.fraction is None:
            self.fraction = 0.5 if self.kind == "cut" else 0.0
        if not 0.0 <= float(self.fraction) <= 1.0:
            raise InvalidParameterError(
                "fault fraction", self.fraction, hint="use a share of the body between 0 and 1"
            )
        if self.nth is not None and int(self.nth) < 1:
            raise InvalidParameterError("fault nth", self.nth, hint="requests are counted from 1")
        if self.method:
            self.method = self.method.upper()


def parse_faults(spec: str) -> list[FaultRule]:
    """Parse a ``--faults`` string into rules.

    Parameters
    ----------
    spec : str
        Comma-separated rules, each ``kind[:arg[:arg...]]``; an argument is a bare rate
        (``0.1``) or ``name=value`` for a :class:`FaultRule` field.

    Returns
    -------
    list of FaultRule

    Raises
    ------
    InvalidParameterError
        Unknown kind or field, or a value of the wrong type; the message names it.

    Examples
    --------
    >>> [(r.kind, r.rate, r.key, r.nth) for r in parse_faults("slowdown:0.1,reset:key=foo,flip:nth=3")]
    [('slowdown', 0.1, None, None), ('reset', 0.0, 'foo', None), ('flip', 0.0, None, 3)]
    """
    types = {f.name: f.type for f in fields(FaultRule)}
    rules = []
    for text in (part.strip() for part in spec.split(",")):
        if not text:
            continue
        kind, *arguments = text.split(":")
        options: dict[str, Any] = {}
        for argument in arguments:
            name, sep, value = argument.partition("=")
            if not sep:
                name, value = "rate", argument
            name = name.strip()
            if name not in types or name == "kind":
                raise InvalidParameterError(
                    f"fault option in {text!r}", name, [n for n in types if n != "kind"]
                )
            try:
                if "float" in str(types[name]):
                    options[name] = float(value)
                elif "int" in str(types[name]):
                    options[name] = int(value)
                else:
                    options[name] = value
            except ValueError:
                raise InvalidParameterError(
                    f"fault {name} in {text!r}", value, hint=f"{name} needs a number"
                ) from None
        rules.append(FaultRule(kind.strip().lower(), **options))
    return rules


class FaultInjector:
    """WSGI middleware that injects the faults of ``rules`` into the wrapped ``app``.

    Parameters
    ----------
    app : WSGI application
        The service to wrap (the sandbox's S3 or MAST app ...).
    rules : list of FaultRule, or str
        Rules, or a spec string for :func:`parse_faults`.
    seed : int
        Seed of the random draws for ``rate`` rules.

    Attributes
    ----------
    requests : int
        Requests seen.
    injected : collections.Counter
        Faults injected, by kind.
    log : list of tuple
        ``(kind, method, path)`` of every injected fault, in order.

    Notes
    -----
    Each rule counts the requests it matches; the first rule that fires decides the request's
    fault. ``reset``, ``cut`` and ``stall`` need the raw socket, which werkzeug's development
    server exposes as ``environ["werkzeug.socket"]``.
    """

    def __init__(self, app: WSGIApp, rules: list[FaultRule] | str, seed: int = 0) -> None:
        self.app = app
        self.rules = parse_faults(rules) if isinstance(rules, str) else list(rules)
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.requests = 0
        self.injected: Counter[str] = Counter()
        self.log: list[tuple[str, str, str]] = []
        self._matches = [0] * len(self.rules)
        self._fired = [0] * len(self.rules)

    # ---------------------------------------------------------------- selection
    def _choose(self, method: str, path: str) -> FaultRule | None:
        with self.lock:
            self.requests += 1
            chosen = None
            for index, rule in enumerate(self.rules):
                if rule.method and rule.method != method:
                    continue
                if rule.key and rule.key not in path:
                    continue
                self._matches[index] += 1  # every rule counts every match, so nth is per rule
                if chosen is not None:
                    continue
                if rule.times is not None and self._fired[index] >= rule.times:
                    continue
                if rule.nth is not None:
                    fire = self._matches[index] == rule.nth
                elif rule.rate:
                    fire = self.random.random() < rule.rate
                else:
                    fire = True
                if fire:
                    self._fired[index] += 1
                    self.injected[rule.kind] += 1
                    self.log.append((rule.kind, method, path))
                    chosen = rule
        return chosen

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Answer one WSGI request: with the first rule that fires, else from the wrapped app."""
        method = environ.get("REQUEST_METHOD", "GET")
        path = unquote(environ.get("PATH_INFO", ""))
        rule = self._choose(method, path)
        if rule is None:
            return self.app(environ, start_response)
        return getattr(self, f"_{rule.kind}")(rule, environ, start_response)

    # ---------------------------------------------------------------- the faults
    @staticmethod
    def _error(
        status: str, code: str, message: str, environ: Environ, start_response: StartResponse
    ) -> Iterable[bytes]:
        body = _ERROR_XML.format(code=code, message=message).encode()
        start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    def _slowdown(self, rule: FaultRule, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        return self._error(
            "503 Slow Down", "SlowDown", "Please reduce your request rate.", environ, start_response
        )

    def _error500(self, rule: FaultRule, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        return self._error(
            "500 Internal Server Error",
            "InternalError",
            "We encountered an internal error. Please try again.",
            environ,
            start_response,
        )

    @staticmethod
    def _drop(environ: Environ, *, reset: bool) -> NoReturn:
        """Close the client connection: with an RST when ``reset``, else an orderly FIN."""
        connection = environ.get("werkzeug.socket")
        if connection is None:
            raise ConnectionAbortedError("fault injected (no raw socket to close)")
        try:
            if reset:  # the final close of the descriptor then sends an RST
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # werkzeug's file objects keep the descriptor open: shutdown ends the connection now
            connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        # werkzeug treats ConnectionError as "client went away" and stops quietly
        raise ConnectionAbortedError("fault injected")

    def _reset(self, rule: FaultRule, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        self._drop(environ, reset=True)

    def _full_response(self, environ: Environ) -> tuple[str, list[tuple[str, str]], bytes]:
        """Run the wrapped app to the end; return its status, headers and whole body."""
        captured: dict[str, Any] = {}

        def capture(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, list(headers)
            return lambda data: None

        result = self.app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return captured["status"], captured["headers"], body

    def _partial_then(
        self, rule: FaultRule, environ: Environ, start_response: StartResponse, *, stall: bool
    ) -> Iterable[bytes]:
        status, headers, body = self._full_response(environ)
        start_response(status, headers)
        sent = int(len(body) * (rule.fraction or 0.0))
        if environ.get("REQUEST_METHOD") == "HEAD" or not body:
            sent = 0

        def generate() -> Iterator[bytes]:
            yield body[:sent]  # even when empty: makes the server send the status line and headers
            if stall:
                time.sleep(rule.seconds)
            self._drop(environ, reset=False)

        return generate()

    def _cut(self, rule: FaultRule, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        return self._partial_then(rule, environ, start_response, stall=False)

    def _stall(self, rule: FaultRule, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if not rule.fraction:
            time.sleep(rule.seconds)  # nothing at all, not even the status line
            self._drop(environ, reset=False)
        return self._partial_then(rule, environ, start_response, stall=True)

    def _flip(self, rule: FaultRule, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        status, headers, body = self._full_response(environ)
        if body:
            offset = len(body) // 2 if rule.offset is None else min(int(rule.offset), len(body) - 1)
            body = body[:offset] + bytes([body[offset] ^ 0xFF]) + body[offset + 1 :]
        start_response(status, headers)
        return [body]

    def _badsum(self, rule: FaultRule, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        status, headers, body = self._full_response(environ)
        wrong = []
        for name, value in headers:
            lowered = name.lower()
            if lowered == "etag":
                value = '"' + "0" * 32 + '"'
            elif lowered.startswith("x-amz-checksum-") and lowered != "x-amz-checksum-type":
                value = "AAAAAA==" if len(value) <= 12 else "A" * (len(value) - 1) + "="
            wrong.append((name, value))
        start_response(status, wrong)
        return [body]
