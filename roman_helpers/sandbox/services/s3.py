"""The sandbox's S3: a read-only S3 endpoint over an archive, behind middleware we control.

Layers, outermost first::

    faults (optional)  ->  accounting  ->  network model  ->  access policy  ->  S3 app  ->  archive

* the **S3 app** (:class:`~roman_helpers.sandbox.services.s3_app.S3App`) answers S3's read
  requests from a :class:`~roman_helpers.sandbox.archive.registry.Archive`, whose objects may
  be local files or bytes made on demand;
* **accounting** records one :class:`RequestRecord` per request with the body bytes actually
  handed to the socket (ranged GETs count the range, HEAD counts 0), served to other processes
  as JSON at ``GET /_sandbox/stats`` (``POST /_sandbox/stats/reset`` clears it);
* the **network model** adds ``latency`` seconds before each request and caps the body at
  ``bandwidth`` bytes per second, so benchmarks see a cost per request and per byte;
* the **access policy** answers unsigned requests for a private bucket with AWS's
  ``403 AccessDenied`` (the real ``roman-sci-test-data-prod-summer-beta-test`` bucket refuses
  anonymous listings and reads alike).

:class:`S3Server` runs the stack in a child process (``python -m
roman_helpers.sandbox.services.s3``, reading a JSON configuration on stdin), so generating bytes
never competes with the client for the caller's interpreter; the archive is built there from an
:class:`~roman_helpers.sandbox.archive.registry.ArchiveSpec`. :class:`LocalS3Server` serves the
same stack from a thread of the caller's process (tests that look inside the archive).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from roman_helpers.sandbox.archive.registry import Archive, ArchiveSpec, FileArchive, build_archive
from roman_helpers.sandbox.services.s3_app import (
    S3App,
    bucket_and_key,
    is_signed,
    new_signer,
    presign_url,
    s3_error,
)
from roman_helpers.sandbox.services.serving import (
    Environ,
    SandboxStartError,
    StartResponse,
    WSGIApplication,
    WsgiService,
    quiet_request_handler,
)

__all__ = [
    "Accounting",
    "LocalS3Server",
    "RequestRecord",
    "S3Server",
    "SandboxStartError",
    "Stats",
    "archive_spec",
    "s3_stack",
]

STATS_PATH = "/_sandbox/stats"


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


def _close(body: Iterable[bytes]) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        close()


class AccessPolicy:
    """Refuse unsigned requests to private buckets with ``403 AccessDenied``, as AWS does."""

    def __init__(self, app: WSGIApplication, private_buckets: Iterable[str]) -> None:
        self.app = app
        self.private_buckets = frozenset(private_buckets)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        bucket, _ = bucket_and_key(environ)
        if bucket in self.private_buckets and not is_signed(environ):
            return s3_error(environ, start_response, 403, "AccessDenied", "Access Denied")
        return self.app(environ, start_response)


class NetworkModel:
    """Add ``latency`` seconds per request and cap body throughput at ``bandwidth`` bytes/s."""

    def __init__(self, app: WSGIApplication, latency: float = 0.0, bandwidth: float | None = None) -> None:
        self.app = app
        self.latency = float(latency or 0.0)
        self.bandwidth = float(bandwidth) if bandwidth else None

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
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
            _close(body)


class Accounting:
    """Record every request and the body bytes sent; serve the records at ``/_sandbox/stats``."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self.stats = Stats()
        self.lock = threading.Lock()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Answer the stats endpoint, or pass the request on and count what goes back."""
        path = environ.get("PATH_INFO", "")
        if path.startswith(STATS_PATH):
            return self._stats_endpoint(environ, start_response)
        status_holder: list[int] = [0]

        def recording_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            status_holder[0] = int(status.split()[0])
            return start_response(status, headers, exc_info)

        body = self.app(environ, recording_start_response)
        return self._count(environ, body, status_holder)

    def _count(self, environ: Environ, body: Iterable[bytes], status_holder: list[int]) -> Iterator[bytes]:
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
            _close(body)
            if record is None:
                self._record(environ, status_holder, sent)
            elif record.bytes_sent != sent:
                with self.lock:
                    records = self.stats.records
                    for index in range(len(records) - 1, -1, -1):
                        if records[index] is record:
                            records[index] = replace(record, bytes_sent=sent)
                            break

    def _record(self, environ: Environ, status_holder: list[int], sent: int) -> RequestRecord:
        bucket, key = bucket_and_key(environ)
        record = RequestRecord(
            method=environ["REQUEST_METHOD"],
            bucket=bucket,
            key=key,
            query=environ.get("QUERY_STRING", ""),
            range=environ.get("HTTP_RANGE"),
            status=status_holder[0],
            bytes_sent=sent,
            authorized=is_signed(environ),
            delayed=bool(environ.get("sandbox.delayed")),
        )
        with self.lock:
            self.stats.records.append(record)
        return record

    def _stats_endpoint(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
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


def wrap_faults(app: WSGIApplication, faults: Any) -> WSGIApplication:
    """Wrap ``app`` in the fault injector when ``faults`` (rules, dicts or a spec string) is given."""
    if not faults:
        return app
    from roman_helpers.sandbox.services.faults import FaultInjector, FaultRule

    rules: Any = faults
    if not isinstance(faults, str):
        rules = [FaultRule(**rule) if isinstance(rule, dict) else rule for rule in faults]
    injector: WSGIApplication = FaultInjector(app, rules)
    return injector


def s3_stack(
    archive: Archive,
    *,
    latency: float = 0.0,
    bandwidth: float | None = None,
    faults: Any = None,
    signers: dict[str, str] | None = None,
) -> tuple[WSGIApplication, Accounting]:
    """The sandbox S3's WSGI stack over ``archive``, and its accounting layer.

    Parameters
    ----------
    archive : Archive
    latency, bandwidth, faults
        As for :class:`S3Server`.
    signers : dict, optional
        Keys whose presigned URLs the S3 app accepts (:class:`~roman_helpers.sandbox.services.s3_app.S3App`).

    Returns
    -------
    app : WSGI application
        The outermost layer.
    accounting : Accounting
        Its ``stats`` are the requests served.
    """
    app: WSGIApplication = S3App(archive, signers=signers)
    app = AccessPolicy(app, [bucket.name for bucket in archive.buckets if not bucket.public])
    app = NetworkModel(app, latency, bandwidth)
    accounting = Accounting(app)
    return wrap_faults(accounting, faults), accounting


def archive_spec(source: Any) -> ArchiveSpec:
    """What :class:`S3Server` serves, as an :class:`ArchiveSpec` its process can build.

    Parameters
    ----------
    source : ArchiveSpec or list of local files
        A spec is returned as it is. A list of local files is anything with ``objects`` (items
        with ``bucket``, ``key`` and optionally ``md5``), ``file(entry)`` (the local path) and
        ``buckets()`` (``{name: public}``), such as the benchmark's and the streaming tests'
        lists: its files are served as they are
        (:class:`~roman_helpers.sandbox.archive.registry.FileArchive`).

    Returns
    -------
    ArchiveSpec
    """
    if isinstance(source, ArchiveSpec):
        return source
    files = [
        (entry.bucket, entry.key, source.file(entry), getattr(entry, "md5", None)) for entry in source.objects
    ]
    return FileArchive.spec(files, dict(source.buckets()))


# ---------------------------------------------------------------- the server process


def _serve(config: dict[str, Any]) -> None:
    """Child-process entry: build the archive, bind, report the port as one JSON line, serve until killed."""
    # Ctrl-C reaches the whole process group: the parent stops us in order, and if the parent
    # dies without doing so, the watchdog ends us instead of leaving an orphan holding the port.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def watchdog() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()
    server: Any = None
    try:
        from werkzeug.serving import make_server

        for entry in reversed(config.get("sys_path", [])):  # the parent's modules (archive factories)
            if entry not in sys.path:
                sys.path.insert(0, entry)
        started = time.perf_counter()
        archive = build_archive(config["archive"])
        app, _ = s3_stack(
            archive,
            latency=config["latency"],
            bandwidth=config["bandwidth"],
            faults=config["faults"],
            signers=config.get("signers"),
        )
        server = make_server(
            config["host"], config["port"], app, threaded=True, request_handler=quiet_request_handler()
        )
        report = {
            "state": "ok",
            "port": server.server_port,
            "objects": archive.count(),
            "seconds": time.perf_counter() - started,
        }
    except BaseException as error:  # noqa: BLE001 - report any start failure to the parent, then exit
        report = {"state": "error", "message": f"{type(error).__name__}: {error}"}
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()
    if report["state"] == "ok":
        server.serve_forever()


class S3Server:
    """The sandbox S3 (:func:`s3_stack`) in its own process, with accounting, network model and access policy.

    Parameters
    ----------
    source : ArchiveSpec or list of local files
        How to build the archive to serve, in the server's process (the sandbox's:
        :func:`roman_helpers.sandbox.archive.layouts.sky_archive_spec`), or local files to serve
        as they are (see :func:`archive_spec`).
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

    Attributes
    ----------
    spec : ArchiveSpec
        What the server builds (:func:`archive_spec` of ``source``).
    objects : int
        Objects the archive lists (known once started).
    load_seconds : float
        Seconds the server's process took to build its archive.

    Examples
    --------
    >>> from roman_helpers.sandbox.archive import layouts
    >>> with S3Server(layouts.sky_archive_spec()) as s3:  # every layout, made on demand
    ...     print(s3.url.startswith("http://127.0.0.1:"), s3.stats.requests, s3.objects > 1000)
    True 0 True
    """

    def __init__(
        self,
        source: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency: float = 0.0,
        bandwidth: float | None = None,
        faults: Any = None,
    ) -> None:
        self.spec = archive_spec(source)
        self.host, self.port = host, port
        self.latency, self.bandwidth, self.faults = latency, bandwidth, faults
        self.objects = 0
        self.load_seconds = 0.0
        self._process: subprocess.Popen[str] | None = None
        self._signer = new_signer()  # sent to the server's process on stdin, never shown

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> S3Server:
        """Start the server process and wait until it listens; raise SandboxStartError on failure."""
        if self._process is not None:
            return self
        config = {
            "archive": self.spec.to_json(),
            "sys_path": [entry for entry in sys.path if entry],
            "host": self.host,
            "port": self.port,
            "latency": self.latency,
            "bandwidth": self.bandwidth,
            "faults": self.faults if isinstance(self.faults, (str, type(None))) else _rules_spec(self.faults),
            "signers": self._signer,
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
        self.port, self.objects, self.load_seconds = report["port"], report["objects"], report["seconds"]
        self._process = process
        return self

    def presign(
        self,
        bucket: str,
        key: str,
        *,
        expires: int = 3600,
        signed_at: Any = None,
        endpoint: str | None = None,
    ) -> str:
        """A presigned GET URL of ``bucket/key`` that this server accepts until it expires.

        ``endpoint`` is where the URL points (default this server, path style); a bucket's web
        address (``https://stpubdata.s3.amazonaws.com``) gives a virtual-hosted URL, as AWS's.

        Examples
        --------
        >>> from roman_helpers.sandbox.archive import layouts
        >>> with S3Server(layouts.sky_archive_spec()) as s3:
        ...     url = s3.presign("stpubdata", "hst/x.fits", expires=60)
        >>> "X-Amz-Expires=60" in url and url.startswith(s3.url + "/stpubdata/hst/x.fits?")
        True
        """
        return presign_url(
            endpoint or self.url, bucket, key, self._signer, expires=expires, signed_at=signed_at
        )

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

    def __exit__(self, *exc_info: object) -> None:
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


class LocalS3Server(WsgiService):
    """The sandbox S3 over an :class:`Archive` of this process, served from a thread.

    For tests and tools that need to look inside the archive while it serves (count calls of a
    row function, read its cache). The API is :class:`S3Server`'s.

    Parameters
    ----------
    archive : Archive
    host, port, latency, bandwidth, faults
        As for :class:`S3Server`.

    Examples
    --------
    >>> import urllib.request
    >>> from roman_helpers.sandbox.archive.registry import Archive
    >>> with LocalS3Server(Archive()) as s3:
    ...     answer = urllib.request.urlopen(s3.url + "/_sandbox/stats").read()
    >>> json.loads(answer)["requests"]
    0
    """

    name = "S3"

    def __init__(
        self,
        archive: Archive,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency: float = 0.0,
        bandwidth: float | None = None,
        faults: Any = None,
    ) -> None:
        self.archive = archive
        self.host, self.port = host, port
        self._signer = new_signer()
        self.app, self.accounting = s3_stack(
            archive, latency=latency, bandwidth=bandwidth, faults=faults, signers=self._signer
        )
        self._wsgi = self.app

    #: A presigned GET URL this server accepts (:meth:`S3Server.presign`: the same signing, here in-process).
    presign = S3Server.presign

    @property
    def stats(self) -> Stats:
        """Requests recorded so far."""
        with self.accounting.lock:
            return Stats(list(self.accounting.stats.records))

    def reset_stats(self) -> None:
        """Forget the requests recorded so far."""
        with self.accounting.lock:
            self.accounting.stats = Stats()


def _no_proxy_opener() -> urllib.request.OpenerDirector:
    # the sandbox's own HTTPS_PROXY may be in this process's environment; loopback never goes through it
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _rules_spec(rules: Any) -> Any:
    # fault rules cross to the child process as JSON; they are dataclasses (or dicts already)
    return [asdict(rule) if hasattr(rule, "__dataclass_fields__") else rule for rule in rules]


if __name__ == "__main__":
    _serve(json.load(sys.stdin))
