"""Loopback HTTP(S) proxy that sends MAST and IRSA traffic to the sandbox and refuses everything else.

Why a proxy: astroquery 0.4.11 builds its portal URLs from ``astroquery.mast.conf.server``
*when the module is imported*, hard-codes ``https://mast.stsci.edu/api/v0.1/path_lookup/``
and resolves object names at ``http://mastresolver.stsci.edu/Santa-war/query``; IRSA's tutorials
name ``https://irsa.ipac.caltech.edu/simulated/SIA`` outright. Pointing those at local services
without patching library internals takes a proxy: clients get
``HTTPS_PROXY``/``HTTP_PROXY=http://127.0.0.1:PORT`` and trust a CA the launcher generates
(``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``), and unmodified code reaches the sandbox.

* ``CONNECT mast.stsci.edu:443`` (or another served host): answer ``200``, terminate TLS with a
  certificate for that host signed by the sandbox CA (trustme), relay the decrypted HTTP to the
  local service that answers for the host (MAST for ``mast.stsci.edu`` and
  ``mastresolver.stsci.edu``, IRSA for ``irsa.ipac.caltech.edu``).
* ``CONNECT stpubdata.s3.amazonaws.com:443`` (:data:`S3_HOSTS`): the same, relayed to the
  sandbox's S3: the web address MAST's Missions downloads redirect to (a presigned URL).
* Plain-HTTP proxy requests for a served host (``GET http://mastresolver.stsci.edu/...``):
  relayed to that host's local service.
* Any other host, either way: ``403`` whose reason and body say
  ``roman-helpers sandbox: host X is not served; the sandbox never reaches the internet``;
  the refusal is logged and kept in :attr:`TlsProxy.refused`. Nothing is forwarded, so a
  client fails at once instead of hanging.
"""

from __future__ import annotations

import logging
import select
import socket
import socketserver
import ssl
import threading
from collections.abc import Mapping
from typing import Any

from roman_helpers.sandbox.services.serving import BackgroundService

__all__ = ["IRSA_HOSTS", "MAST_HOSTS", "S3_HOSTS", "SERVED_HOSTS", "TlsProxy", "refusal_message"]

log = logging.getLogger(__name__)

#: Hosts the sandbox's MAST service answers for.
MAST_HOSTS = ("mast.stsci.edu", "mastresolver.stsci.edu")
#: Hosts the sandbox's IRSA service answers for.
IRSA_HOSTS = ("irsa.ipac.caltech.edu",)
#: The bucket web addresses the sandbox's S3 answers for (presigned download URLs point there).
S3_HOSTS = ("stpubdata.s3.amazonaws.com",)
#: Every host the sandbox's MAST and IRSA answer for (S3 hosts are routed when given).
SERVED_HOSTS = MAST_HOSTS + IRSA_HOSTS
_HEAD_LIMIT = 64 * 1024
_IDLE_SECONDS = 300


def refusal_message(host: str) -> str:
    """Return the text sent (and logged) when a client asks for a host the sandbox does not serve."""
    return f"roman-helpers sandbox: host {host} is not served; the sandbox never reaches the internet"


class TlsProxy(BackgroundService):
    """Start a proxy on 127.0.0.1 routing each served host to its local service.

    Parameters
    ----------
    backend : tuple of (str, int), or mapping of str to it
        Address of the local service for every host in ``hosts``, or ``{host: address}`` (then
        its keys are the served hosts and ``hosts`` is not used).
    ca : trustme.CA
        Certificate authority that signs the served hosts' certificate.
    host, port : str, int
        Address to bind; port 0 picks a free one.
    hosts : sequence of str
        Host names to serve when ``backend`` is one address.
    """

    def __init__(
        self,
        backend: tuple[str, int] | Mapping[str, tuple[str, int]],
        ca: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        hosts: tuple[str, ...] = SERVED_HOSTS,
    ) -> None:
        if isinstance(backend, Mapping):
            self.routes = {name.lower(): (address[0], address[1]) for name, address in backend.items()}
        else:
            self.routes = {name.lower(): (backend[0], backend[1]) for name in hosts}
        self.hosts = tuple(self.routes)
        self.host, self.port = host, port
        self.refused: list[str] = []
        self.tunnels = 0
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*self.hosts).configure_cert(self._context)
        self._server: socketserver.ThreadingTCPServer | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, the value for ``HTTPS_PROXY``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> TlsProxy:
        """Bind and serve in a daemon thread."""
        from roman_helpers.sandbox.services.s3 import SandboxStartError

        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._handle(self.request)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        try:
            server = socketserver.ThreadingTCPServer((self.host, self.port), Handler)
        except OSError as error:
            raise SandboxStartError(
                f"the sandbox proxy cannot listen on {self.host}:{self.port}: {error}"
            ) from None
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, name="sandbox-proxy", daemon=True).start()
        return self

    # ------------------------------------------------------------------ internals
    def _handle(self, client: socket.socket) -> None:
        client.settimeout(30)
        try:
            head, rest = _read_head(client)
        except (OSError, ValueError):
            return
        if not head:
            return
        request_line, _, headers = head.partition(b"\r\n")
        try:
            method, target, version = request_line.decode("latin-1").split(" ", 2)
        except ValueError:
            return
        if method.upper() == "CONNECT":
            host = target.rsplit(":", 1)[0].strip("[]").lower()
            if host not in self.hosts:
                return self._refuse(client, host)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            try:
                tls = self._context.wrap_socket(client, server_side=True)
            except (OSError, ssl.SSLError) as error:
                log.warning("sandbox proxy: TLS handshake for %s failed: %s", host, error)
                return
            self.tunnels += 1
            with tls, socket.create_connection(self.routes[host], timeout=30) as upstream:
                if rest:
                    upstream.sendall(rest)
                _relay(tls, upstream)
            return
        # plain-HTTP proxy request: absolute URL in the request line
        host = _host_of(target, headers)
        if host not in self.hosts:
            return self._refuse(client, host)
        path = target.split("://", 1)[-1]
        path = "/" + path.split("/", 1)[1] if "/" in path else "/"
        kept = [
            line
            for line in headers.split(b"\r\n")
            if line and not line.lower().startswith((b"connection:", b"proxy-connection:", b"keep-alive:"))
        ]
        forwarded = (
            f"{method} {path} {version}\r\n".encode("latin-1")
            + b"\r\n".join(kept)
            + b"\r\nConnection: close\r\n\r\n"
            + rest
        )
        with socket.create_connection(self.routes[host], timeout=30) as upstream:
            upstream.sendall(forwarded)
            _relay(client, upstream)

    def _refuse(self, client: socket.socket, host: str) -> None:
        message = refusal_message(host)
        self.refused.append(host)
        log.warning(message)
        body = (message + "\n").encode()
        client.sendall(
            f"HTTP/1.1 403 {message}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return b"", b""
        data += chunk
        if len(data) > _HEAD_LIMIT:
            raise ValueError("request head too large")
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _host_of(target: str, headers: bytes) -> str:
    if "://" in target:
        netloc = target.split("://", 1)[1].split("/", 1)[0]
    else:
        netloc = next(
            (
                line.split(b":", 1)[1].strip().decode("latin-1")
                for line in headers.split(b"\r\n")
                if line.lower().startswith(b"host:")
            ),
            "",
        )
    return netloc.rsplit(":", 1)[0].strip("[]").lower() if ":" in netloc else netloc.lower()


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes or both stay idle for a long time."""
    pair = {client: upstream, upstream: client}
    for sock in pair:
        sock.settimeout(None)
    while True:
        readable: list[socket.socket]
        if isinstance(client, ssl.SSLSocket) and client.pending():
            readable = [client]
        else:
            readable, _, _ = select.select(list(pair), [], [], _IDLE_SECONDS)
            if not readable:
                return
        for sock in readable:
            try:
                data = sock.recv(65536)
            except (OSError, ssl.SSLError):
                return
            if not data:
                return
            try:
                pair[sock].sendall(data)
            except OSError:
                return
