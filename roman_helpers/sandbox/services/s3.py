"""The sandbox's S3: moto's WSGI app behind middleware we control.

Layers, outermost first::

    faults (optional)  ->  accounting  ->  network model  ->  access policy  ->  direct reads  ->  moto

* **accounting** records one :class:`RequestRecord` per request with the body bytes actually
  handed to the socket (ranged GETs count the range, HEAD counts 0), served to other processes
  as JSON at ``GET /_sandbox/stats`` (``POST /_sandbox/stats/reset`` clears it).
* **network model** adds ``latency`` seconds before each request and caps the body at
  ``bandwidth`` bytes per second, so benchmarks see a cost per request and per byte.
* **access policy** answers unsigned requests for a private bucket with AWS's
  ``403 AccessDenied``. moto 5.2 alone still lets an anonymous client *list* a private bucket,
  which the real ``roman-sci-test-data-prod-summer-beta-test`` bucket refuses.
* **direct reads** fills the body of a plain object GET from moto's stored buffer, reading only
  the bytes asked for; moto itself still decides the status and headers (:class:`DirectReads`).

The server runs in its own process (``spawn``): moto keeps its buckets in module-global
state, so a server in the caller's process would share buckets with any other moto server
there (for example the unit tests' ``moto_server`` fixture) and one could wipe the other.
Objects are loaded straight into that process's moto backend (no HTTP round trips).
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from wsgiref.types import WSGIApplication

from roman_helpers.errors import RomanHelpersError

__all__ = ["RequestRecord", "S3Server", "SandboxStartError", "Stats"]

STATS_PATH = "/_sandbox/stats"
_ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message><RequestId>SANDBOX0000000000</RequestId>"
    b"<HostId>roman-helpers-sandbox</HostId></Error>"
)


class SandboxStartError(RomanHelpersError, RuntimeError):
    """A sandbox service could not start (port in use, unusable cache, child crashed)."""


@dataclass
class RequestRecord:
    """One request as the S3 server saw it.

    ``bytes_sent`` counts response-body bytes written to the socket; ``authorized`` tells
    whether the request carried a signature (header or presigned query).
    """

    method: str
    bucket: str
    key: str
    query: str
    range: str | None
    status: int
    bytes_sent: int
    authorized: bool
    delayed: bool = False  # the network model slept before answering


@dataclass
class Stats:
    """Server-side counts of S3 traffic.

    Examples
    --------
    >>> stats = Stats([RequestRecord("GET", "b", "k", "", "bytes=0-9", 206, 10, False)])
    >>> stats.requests, stats.bytes_sent
    (1, 10)
    """

    records: list[RequestRecord] = field(default_factory=list)

    @property
    def requests(self) -> int:
        """Number of requests."""
        return len(self.records)

    @property
    def bytes_sent(self) -> int:
        """Response-body bytes sent, summed over all requests."""
        return sum(r.bytes_sent for r in self.records)

    @property
    def delayed(self) -> int:
        """Number of requests the network model delayed."""
        return sum(1 for r in self.records if r.delayed)

    def since(self, mark: int) -> Stats:
        """Return the requests after the first ``mark`` ones (``mark`` = an earlier ``.requests``)."""
        return Stats(self.records[mark:])

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form served at ``/_sandbox/stats``."""
        return {
            "requests": self.requests,
            "bytes_sent": self.bytes_sent,
            "delayed": self.delayed,
            "records": [asdict(r) for r in self.records],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Stats:
        """Rebuild from :meth:`to_json` output."""
        return cls([RequestRecord(**r) for r in data["records"]])


# ---------------------------------------------------------------- WSGI middleware


def _bucket_and_key(environ: dict[str, Any]) -> tuple[str, str]:
    path = unquote(environ.get("PATH_INFO", "")).lstrip("/")
    host = environ.get("HTTP_HOST", "").split(":")[0]
    # virtual-hosted style (bucket.localhost); path style otherwise (what clients use with an IP)
    if host.endswith(".localhost"):
        return host[: -len(".localhost")], path
    bucket, _, key = path.partition("/")
    return bucket, key


def _is_signed(environ: dict[str, Any]) -> bool:
    query = environ.get("QUERY_STRING", "")
    return bool(environ.get("HTTP_AUTHORIZATION")) or "X-Amz-Signature=" in query or "Signature=" in query


class AccessPolicy:
    """Refuse unsigned requests to private buckets with ``403 AccessDenied``, as AWS does."""

    def __init__(self, app, private_buckets: Iterable[str]) -> None:
        self.app = app
        self.private_buckets = frozenset(private_buckets)

    def __call__(self, environ, start_response):
        bucket, _ = _bucket_and_key(environ)
        if bucket in self.private_buckets and not _is_signed(environ):
            start_response(
                "403 Forbidden",
                [("Content-Type", "application/xml"), ("Content-Length", str(len(_ACCESS_DENIED)))],
            )
            return [] if environ["REQUEST_METHOD"] == "HEAD" else [_ACCESS_DENIED]
        return self.app(environ, start_response)


class DirectReads:
    """Serve plain object GETs from moto's stored key, reading only the requested bytes.

    Why this exists: moto answers every GET by copying the *whole* object out of its buffer
    (``FakeKey.value``) before slicing the range, so each of a cutout's ~100 row reads of a
    134 MB FITS copied 134 MB and the benchmark timed the stand-in (7.6 s), not the client.
    Here moto still answers the request, as a HEAD: access checks and ACLs, status, every
    header and the ``Content-Range`` of a 206 are moto's own. Only the body is read here,
    from the same key's buffer (so an object overwritten by a PUT is served with its new
    bytes). Anything this does not mirror exactly goes to moto's GET unchanged: query
    parameters (versions, parts, header overrides), conditional or CORS headers, answers
    carrying ``x-amz-checksum-*`` headers, errors (404, 416, ...) and keys replaced meanwhile.
    """

    _PASS_THROUGH = (
        "HTTP_IF_MATCH",
        "HTTP_IF_NONE_MATCH",
        "HTTP_IF_MODIFIED_SINCE",
        "HTTP_IF_UNMODIFIED_SINCE",
        "HTTP_ORIGIN",
    )

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        bucket, key = _bucket_and_key(environ)
        if (
            environ["REQUEST_METHOD"] != "GET"
            or not bucket
            or not key
            or environ.get("QUERY_STRING", "") not in ("", "x-id=GetObject")
            or any(environ.get(name) for name in self._PASS_THROUGH)
        ):
            return self.app(environ, start_response)
        try:
            answer = self._probe(environ)
        except Exception:  # noqa: BLE001 - moto's GET gives the real answer (or the same error)
            answer = None
        read = self._read(bucket, key, *answer) if answer else None
        if read is None:
            return self.app(environ, start_response)
        body, metadata = read
        # moto's GET sends the user metadata (Content-Type, ...) just before Accept-Ranges, its
        # HEAD first: move those so the headers go out in the very order moto's GET uses
        headers = [h for h in answer[1] if h[0].lower() not in metadata]
        at = next((i for i, h in enumerate(headers) if h[0].lower() == "accept-ranges"), len(headers))
        headers[at:at] = [h for h in answer[1] if h[0].lower() in metadata]
        start_response(answer[0], headers)
        return [body]

    def _probe(self, environ) -> tuple[str, list[tuple[str, str]]] | None:
        """moto's answer to the same request as a HEAD, when it is a 200/206 without checksums."""
        answer: list = []
        probe = {**environ, "REQUEST_METHOD": "HEAD", "wsgi.input": io.BytesIO(b"")}
        body = self.app(probe, lambda status, headers, exc_info=None: answer.extend((status, headers)))
        try:
            for _ in body:
                pass
        finally:
            if hasattr(body, "close"):
                body.close()
        status, headers = answer
        if status[:3] not in ("200", "206") or any(
            name.lower().startswith("x-amz-checksum-") for name, _ in headers
        ):
            return None
        return status, headers

    @staticmethod
    def _read(
        bucket: str, key: str, status: str, headers: list[tuple[str, str]]
    ) -> tuple[bytes, set[str]] | None:
        """The body for moto's answer (``status``, ``headers``) and the key's metadata names."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        named = {name.lower(): value for name, value in headers}
        start, length = 0, int(named["content-length"])
        if status.startswith("206"):
            start = int(named["content-range"].split()[1].split("-")[0])
        try:
            stored = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_object(bucket, key)
        except Exception:  # noqa: BLE001 - moto's GET gives the real answer
            return None
        if stored is None or stored.etag != named.get("etag"):
            return None  # another version, or replaced since the HEAD: let moto answer
        try:
            with stored.lock:
                stored._value_buffer.seek(start)
                body = stored._value_buffer.read(length)
        except ValueError:  # the buffer was closed: the key was overwritten or deleted meanwhile
            return None
        return (body, {name.lower() for name in stored.metadata}) if len(body) == length else None


class NetworkModel:
    """Add ``latency`` seconds per request and cap body throughput at ``bandwidth`` bytes/s."""

    def __init__(self, app, latency: float = 0.0, bandwidth: float | None = None) -> None:
        self.app = app
        self.latency = float(latency or 0.0)
        self.bandwidth = float(bandwidth) if bandwidth else None

    def __call__(self, environ, start_response):
        if self.latency > 0:
            time.sleep(self.latency)
            environ["sandbox.delayed"] = True
        body = self.app(environ, start_response)
        if not self.bandwidth:
            return body
        return self._throttled(body, self.bandwidth)

    def _throttled(self, body: Iterable[bytes], bandwidth: float) -> Iterator[bytes]:
        step = max(int(bandwidth / 50), 16 * 1024)  # ~20 ms slices
        try:
            for chunk in body:
                for start in range(0, len(chunk), step):
                    piece = chunk[start : start + step]
                    time.sleep(len(piece) / bandwidth)
                    yield piece
        finally:
            if hasattr(body, "close"):
                body.close()


class Accounting:
    """Record every request and the body bytes sent; serve the records at ``/_sandbox/stats``."""

    def __init__(self, app) -> None:
        self.app = app
        self.stats = Stats()
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(STATS_PATH):
            return self._stats_endpoint(environ, start_response)
        status_holder: list[int] = [0]

        def recording_start_response(status, headers, exc_info=None):
            status_holder[0] = int(status.split()[0])
            return start_response(status, headers, exc_info)

        body = self.app(environ, recording_start_response)
        return self._count(environ, body, status_holder)

    def _count(self, environ, body, status_holder) -> Iterator[bytes]:
        # The record is stored just before the last chunk is written, not after: a client that
        # has read the whole body may ask for the statistics at once, and must find it there.
        # Should that last write fail, the record is corrected to the bytes really sent.
        sent, record = 0, None
        try:
            chunks = iter(body)
            chunk = next(chunks, None)
            while chunk is not None:
                following = next(chunks, None)
                if following is None:
                    record = self._record(environ, status_holder, sent + len(chunk))
                yield chunk  # returns once the server has written the chunk to the socket
                sent += len(chunk)
                chunk = following
        finally:
            if hasattr(body, "close"):
                body.close()
            if record is None:
                self._record(environ, status_holder, sent)
            elif record.bytes_sent != sent:
                with self.lock:
                    records = self.stats.records
                    for index in range(len(records) - 1, -1, -1):
                        if records[index] is record:
                            records[index] = replace(record, bytes_sent=sent)
                            break

    def _record(self, environ, status_holder, sent: int) -> RequestRecord:
        bucket, key = _bucket_and_key(environ)
        record = RequestRecord(
            method=environ["REQUEST_METHOD"],
            bucket=bucket,
            key=key,
            query=environ.get("QUERY_STRING", ""),
            range=environ.get("HTTP_RANGE"),
            status=status_holder[0],
            bytes_sent=sent,
            authorized=_is_signed(environ),
            delayed=bool(environ.get("sandbox.delayed")),
        )
        with self.lock:
            self.stats.records.append(record)
        return record

    def _stats_endpoint(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"].rstrip("/").endswith("/reset"):
            with self.lock:
                self.stats = Stats()
            payload = b'{"reset": true}'
        else:
            with self.lock:
                payload = json.dumps(self.stats.to_json()).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        )
        return [payload]


def wrap_faults(app, faults: Any):
    """Wrap ``app`` in R's fault injector when ``faults`` (rules or a spec string) is given."""
    if not faults:
        return app
    from roman_helpers.sandbox.services.faults import FaultInjector, parse_faults

    if isinstance(faults, str):
        rules = parse_faults(faults)
    else:
        from roman_helpers.sandbox.services.faults import FaultRule

        rules = [FaultRule(**rule) if isinstance(rule, dict) else rule for rule in faults]
    return FaultInjector(app, rules)


def quiet_request_handler():
    """Return a werkzeug request handler that does not log every request to stderr."""
    from werkzeug.serving import WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args, **kwargs) -> None:
            pass

    return QuietHandler


# ---------------------------------------------------------------- the server process


def _load_objects(objects: list[tuple[str, str, str, bool]], buckets: dict[str, bool]) -> int:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import get_canned_acl, s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    public_read, private = get_canned_acl("public-read"), get_canned_acl("private")
    for name, public in buckets.items():
        backend.create_bucket(name, "us-east-1").set_acl(public_read if public else private)
    total = 0
    for bucket, key, path, public in objects:
        data = Path(path).read_bytes()
        stored = backend.put_object(bucket, key, data)
        stored.set_acl(public_read if public else private)
        total += len(data)
    return total


def _serve(config: dict[str, Any]) -> None:
    """Child-process entry: load objects, bind, report the port as one JSON line, serve until killed."""
    # Ctrl-C reaches the whole process group: the parent stops us in order, and if the parent
    # dies without doing so, the watchdog ends us instead of leaving an orphan holding the port.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def watchdog() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()
    try:
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        started = time.perf_counter()
        loaded = _load_objects(config["objects"], config["buckets"])
        app: WSGIApplication = DirectReads(DomainDispatcherApplication(create_backend_app))
        app = AccessPolicy(app, [b for b, public in config["buckets"].items() if not public])
        app = NetworkModel(app, config["latency"], config["bandwidth"])
        app = Accounting(app)
        app = wrap_faults(app, config["faults"])
        server = make_server(
            config["host"], config["port"], app, threaded=True, request_handler=quiet_request_handler()
        )
        report = {
            "state": "ok",
            "port": server.server_port,
            "loaded": loaded,
            "seconds": time.perf_counter() - started,
        }
    except BaseException as error:  # noqa: BLE001 - report any start failure to the parent, then exit
        report = {"state": "error", "message": f"{type(error).__name__}: {error}"}
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()
    if report["state"] == "ok":
        server.serve_forever()


class S3Server:
    """moto S3 holding a sandbox manifest's objects, with accounting, network model and access policy.

    Parameters
    ----------
    manifest : Manifest
        What to serve (``objects`` with bucket, key, public flag; ``file(entry)``; ``buckets()``).
    host : str
        Loopback address to bind.
    port : int
        0 picks a free port.
    latency : float
        Seconds added before each request.
    bandwidth : float, optional
        Body throughput cap in bytes per second.
    faults : str or list, optional
        Fault rules (or a ``--faults`` spec string) for :mod:`roman_helpers.sandbox.services.faults`.

    Examples
    --------
    >>> from roman_helpers.sandbox import data
    >>> manifest = data.build(progress=False)  # the sandbox's files, cached after the first call
    >>> with S3Server(manifest) as s3:
    ...     print(s3.url.startswith("http://127.0.0.1:"), s3.stats.requests)
    True 0
    """

    def __init__(
        self,
        manifest: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency: float = 0.0,
        bandwidth: float | None = None,
        faults: Any = None,
    ) -> None:
        self.manifest = manifest
        self.host, self.port = host, port
        self.latency, self.bandwidth, self.faults = latency, bandwidth, faults
        self.loaded_bytes = 0
        self.load_seconds = 0.0
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> S3Server:
        """Start the server process and wait until it listens; raise SandboxStartError on failure."""
        if self._process is not None:
            return self
        config = {
            "objects": [
                (e.bucket, e.key, str(self.manifest.file(e)), bool(e.public)) for e in self.manifest.objects
            ],
            "buckets": dict(self.manifest.buckets()),
            "host": self.host,
            "port": self.port,
            "latency": self.latency,
            "bandwidth": self.bandwidth,
            "faults": self.faults if isinstance(self.faults, (str, type(None))) else _rules_spec(self.faults),
        }
        # a plain child interpreter (not multiprocessing): it must not re-import the caller's __main__
        process = subprocess.Popen(
            [sys.executable, "-m", "roman_helpers.sandbox.services.s3"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdin is not None and process.stdout is not None  # both are pipes
        process.stdin.write(json.dumps(config))
        process.stdin.close()
        line = process.stdout.readline()
        try:
            report = json.loads(line)
        except ValueError:
            process.kill()
            process.wait(10)
            raise SandboxStartError(
                f"the sandbox S3 server exited during start (code {process.returncode})"
            ) from None
        if report["state"] != "ok":
            process.wait(10)
            raise SandboxStartError(
                f"the sandbox S3 server could not start on {self.host}:{self.port}: {report['message']}"
            )
        self.port, self.loaded_bytes, self.load_seconds = report["port"], report["loaded"], report["seconds"]
        self._process = process
        return self

    def stop(self) -> None:
        """Stop the server process (idempotent)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def stats(self) -> Stats:
        """Requests recorded so far (fetched from the server process)."""
        with _no_proxy_opener().open(self.url + STATS_PATH, timeout=30) as response:
            return Stats.from_json(json.load(response))

    def reset_stats(self) -> None:
        """Forget the requests recorded so far."""
        request = urllib.request.Request(self.url + STATS_PATH + "/reset", data=b"", method="POST")
        with _no_proxy_opener().open(request, timeout=30) as response:
            response.read()


def _no_proxy_opener() -> urllib.request.OpenerDirector:
    # the sandbox's own HTTPS_PROXY may be in this process's environment; loopback never goes through it
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _rules_spec(rules: Any) -> Any:
    # fault rules cross to the child process as JSON; R's rules are expected to be dataclasses
    return [asdict(rule) if hasattr(rule, "__dataclass_fields__") else rule for rule in rules]


if __name__ == "__main__":
    _serve(json.load(sys.stdin))
