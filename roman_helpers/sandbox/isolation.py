"""A private network for ``roman-helpers sandbox run``, in which every S3 client reaches the sandbox.

Why: boto3, s3fs, pandas and astropy follow ``AWS_ENDPOINT_URL``, and web clients follow
``HTTPS_PROXY``; pyarrow's own S3 client (``pyarrow.fs.S3FileSystem(region="us-east-1",
anonymous=True)``, as IRSA's OpenUniverse notebooks build it) follows neither. pyarrow 26 bundles
the AWS SDK for C++ over libcurl; it resolves ``<bucket>.s3.us-east-1.amazonaws.com`` and
connects there over HTTPS (virtual-hosted style, the name also sent as the TLS server name).
Without patching pyarrow only the operating system can send it elsewhere, so on Linux
``sandbox run`` starts again in a fresh interpreter that first enters private namespaces (no
privileges needed) and then starts the sandbox and the command in them:

* a **user namespace**, the caller mapped to their own user and group IDs, so the command runs
  as the same user as outside; the namespace's capabilities are used only by this process, before
  the command starts;
* a **network namespace** whose only interface is loopback: nothing started inside can leave the
  machine, and a connection to any other address fails at once ("Network is unreachable");
* a **mount namespace** in which files bind-mounted over the system's make ``/etc/hosts`` map the
  AWS names of the mirrored buckets (:func:`s3_host_names`) to 127.0.0.1, ``/etc/resolv.conf``
  name no reachable name server and ``/etc/nsswitch.conf`` look host names up only in those two
  (so any other name fails to resolve at once, and no resolver daemon outside answers for the
  command), and the system's certificate bundles also trust the sandbox's authority.

:class:`S3Front` listens on 127.0.0.1:443 (and :80), terminates TLS with a certificate for those
names signed by the sandbox's authority, moves the bucket from the ``Host`` header into the path
(path-style addressing, which every S3 service understands) and relays to the sandbox's S3
service. pyarrow trusts the authority through ``SSL_CERT_FILE``: on Linux, importing
``pyarrow.fs`` hands Python's ``ssl.get_default_verify_paths()`` (which reads ``SSL_CERT_FILE`` and
``SSL_CERT_DIR``) to its TLS layer (``pyarrow/_fs.pyx``, ARROW-9261); with the variable unset it
reads the system bundle, which the mount namespace extends.

A server the command starts inside (``jupyter lab``) listens in the private network, which this
machine's browser cannot reach: the first process forwards every port opened inside to the same
port on this machine's loopback (127.0.0.1 and ::1 only), by passing each accepted connection into
the namespace over a Unix socket pair (``SCM_RIGHTS``).

Where namespaces cannot be made (macOS, Windows, Linux with unprivileged user namespaces disabled,
containers whose seccomp profile refuses them) or ``--no-isolation`` is given, ``sandbox run``
carries on without them and says once, on standard error, that pyarrow's S3 client cannot be
redirected. ``sandbox up`` serves other shells, which stay on this machine's network, so it never
isolates. The state is ``ROMAN_HELPERS_SANDBOX_ISOLATION`` in the environment and ``"isolation"``
in the state file.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import http.server
import json
import os
import signal
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roman_helpers.sandbox.services.serving import BackgroundService

if TYPE_CHECKING:  # imported late: the launcher needs the sandbox extra, this module only the stdlib
    from roman_helpers.sandbox.launcher import Sandbox

__all__ = [
    "ENVIRONMENT_VARIABLE",
    "PATH_STYLE_HOSTS",
    "VIRTUAL_HOST_PATTERNS",
    "Isolation",
    "S3Front",
    "describe_shared",
    "enter_relaunched",
    "isolated",
    "relaunch",
    "relaunch_wanted",
    "s3_host_names",
]

#: Environment variable telling a command whether it runs in the private network.
ENVIRONMENT_VARIABLE = "ROMAN_HELPERS_SANDBOX_ISOLATION"
#: Virtual-hosted names of a bucket in ``us-east-1``: botocore's global one, the regional one the
#: AWS SDK for C++ (pyarrow) uses, the legacy ``s3-external-1`` and the dual-stack one.
VIRTUAL_HOST_PATTERNS = (
    "{bucket}.s3.amazonaws.com",
    "{bucket}.s3.us-east-1.amazonaws.com",
    "{bucket}.s3-external-1.amazonaws.com",
    "{bucket}.s3.dualstack.us-east-1.amazonaws.com",
)
#: The same endpoints without a bucket: path-style requests name the bucket in the path.
PATH_STYLE_HOSTS = tuple(pattern.removeprefix("{bucket}.") for pattern in VIRTUAL_HOST_PATTERNS)

# Linux constants (sched.h, sys/mount.h, linux/sockios.h, net/if.h, sys/prctl.h)
_CLONE_NEWNS, _CLONE_NEWUSER, _CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
_MS_BIND, _MS_REC, _MS_PRIVATE = 0x1000, 0x4000, 0x40000
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_PR_SET_PDEATHSIG = 1
_IFREQ = "16sH22x"  # struct ifreq: interface name, then ifr_flags in a 24-byte union

_SYSTEM_CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/cert.pem",  # Arch, openSUSE, OpenSSL's default
)
_NSCD_DIRECTORIES = ("/run/nscd", "/var/run/nscd")  # glibc asks nscd first when its socket exists
_POLL_SECONDS = 0.25  # how often the ports opened inside are looked for
_IDLE_SECONDS = 300
_CHUNK = 1 << 16
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "expect",
    }
)


@dataclass(frozen=True)
class Isolation:
    """Whether ``sandbox run`` put its command in a private network, and why not.

    Attributes
    ----------
    mode : {"namespace", "none"}
    reason : str
        Empty in a private network; otherwise why not.
    """

    mode: str
    reason: str = ""

    @property
    def redirects_pyarrow(self) -> bool:
        """True when pyarrow's own S3 client reaches the sandbox."""
        return self.mode == "namespace"


# The relaunched process's state: set once, before any thread exists.
_relaunched = False
_RELAUNCHED_BY = "roman_helpers.sandbox.cli"
_control: socket.socket | None = None  # to the first process, which forwards ports; None: no namespace
_unavailable = ""  # why the relaunched process has no namespace


def s3_host_names(buckets: Iterable[str]) -> dict[str, str | None]:
    """Return every AWS host name the private network answers for, with its bucket.

    Path-style hosts map to ``None`` (the bucket is in the path).

    Examples
    --------
    >>> names = s3_host_names(["nasa-irsa-simulations"])
    >>> names["nasa-irsa-simulations.s3.us-east-1.amazonaws.com"], names["s3.amazonaws.com"]
    ('nasa-irsa-simulations', None)
    >>> len(names)
    8
    """
    names: dict[str, str | None] = dict.fromkeys(PATH_STYLE_HOSTS)
    for bucket in buckets:
        names.update({pattern.format(bucket=bucket): bucket for pattern in VIRTUAL_HOST_PATTERNS})
    return names


# ---------------------------------------------------------------- entering the namespaces


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def _make_namespaces(uid: int, gid: int) -> None:
    """Enter new user, network and mount namespaces; map ``uid``/``gid`` to themselves; loopback up.

    Python 3.11 has no ``os.unshare``, hence ctypes. The calling process must be single-threaded
    (``unshare(CLONE_NEWUSER)`` refuses otherwise).
    """
    import fcntl  # not on Windows: imported only where it is used

    libc = _libc()
    _check(libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET | _CLONE_NEWNS), "unshare")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as handle:
            handle.write(text)
    # nothing mounted here may propagate back to the machine's own mount table
    _check(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "making mounts private")
    # A new network namespace has only loopback, and it is down. `ip link set lo up` would need
    # iproute2; this is the same request (SIOCSIFFLAGS); Linux then gives lo 127.0.0.1 and ::1.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        name, flags = struct.unpack(_IFREQ, fcntl.ioctl(probe, _SIOCGIFFLAGS, struct.pack(_IFREQ, b"lo", 0)))
        fcntl.ioctl(probe, _SIOCSIFFLAGS, struct.pack(_IFREQ, name, flags | _IFF_UP))


def _bind_mount(source: Path, target: str) -> None:
    mounted = _libc().mount(os.fsencode(source), os.fsencode(target), None, _MS_BIND, None)
    _check(mounted, f"mounting {target}")


def _try_in_child(action: Callable[[], None]) -> str:
    """Run ``action`` in a forked child; return "" if it succeeded, else why it failed.

    Entering namespaces cannot be undone, so it is tried in a throw-away child first: where it
    fails half-way (a user namespace allowed, a mount refused), this process is left untouched
    and carries on without isolation.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only system calls, then _exit
        message = b""
        try:
            action()
        except OSError as error:
            message = (error.strerror or str(error)).encode()
        except BaseException as error:  # noqa: BLE001 - reported to the parent, never raised in a fork
            message = f"{type(error).__name__}: {error}".encode()
        os.write(write_end, message or b"ok")
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        answer = pipe.read().decode(errors="replace")
    os.waitpid(pid, 0)
    return "" if answer == "ok" else answer or "the trial process died"


def _enter() -> str:
    """Put this (single-threaded, freshly started) process into the namespaces; "" or why not."""
    if sys.platform != "linux":
        return f"private networks need Linux, this is {sys.platform}"
    uid, gid = os.getuid(), os.getgid()
    reason = _try_in_child(lambda: _make_namespaces(uid, gid))
    if reason:
        return f"{reason}; unprivileged user namespaces are disabled or refused here"
    try:
        _make_namespaces(uid, gid)
    except OSError as error:  # it worked in the trial child: nothing to fall back on half-way
        raise SystemExit(
            f"error: roman-helpers sandbox could not enter its private network ({error.strerror or error}); "
            "run it again with --no-isolation"
        ) from None
    return ""


# ---------------------------------------------------------------- the first process


def relaunch_wanted(isolate: bool) -> bool:
    """True when ``sandbox run`` should start again inside private namespaces (Linux, not yet done)."""
    return isolate and sys.platform == "linux" and not _relaunched


def relaunch(options: Mapping[str, Any]) -> int:
    """Run ``sandbox run`` again in a fresh interpreter that first enters the namespaces.

    This process stays on the machine's network, forwards the ports the command opens inside
    (see :class:`_PortForwarder`), passes on SIGTERM and SIGHUP, and returns the exit code.

    Parameters
    ----------
    options : mapping
        The parsed ``sandbox run`` arguments (JSON-serialisable values; others are dropped).
    """
    wanted = {name: value for name, value in options.items() if not callable(value)}
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        process = subprocess.Popen(
            # the command line's module runs it again, after enter_relaunched (named, not imported:
            # the command line imports this module)
            [sys.executable, "-m", _RELAUNCHED_BY, json.dumps(wanted, default=str), str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
        )
    finally:
        theirs.close()
    forwarder = _PortForwarder(ours)
    threading.Thread(target=forwarder.serve, name="sandbox-ports", daemon=True).start()
    passed_on = (signal.SIGTERM, signal.SIGHUP)
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for number in passed_on:
            previous[number] = signal.signal(number, lambda signum, frame: process.send_signal(signum))
    try:
        while True:
            try:
                code = process.wait()
                return 128 - code if code < 0 else code  # killed by a signal: as a shell reports it
            except KeyboardInterrupt:
                # Ctrl-C reaches the whole process group: the relaunched process stops the
                # sandbox and the command, and its exit code is the one to return
                continue
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        forwarder.close()


class _PortForwarder:
    """First process: listen on this machine's loopback for each port the command opened inside.

    Each accepted connection is handed to the relaunched process (``socket.send_fds``), which
    connects to the same port inside and relays. Messages on the socket pair (SOCK_SEQPACKET,
    one message per call): ``listen PORT`` and ``close PORT`` from inside, ``conn PORT`` plus one
    descriptor from here.
    """

    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.listeners: dict[int, list[socket.socket]] = {}
        self.lock = threading.Lock()

    def serve(self) -> None:
        """Follow the messages from inside until the socket pair closes."""
        while True:
            try:
                message = self.control.recv(64)
            except OSError:
                break
            if not message:
                break
            verb, _, port_text = message.decode().partition(" ")
            if verb == "listen":
                self._listen(int(port_text))
            elif verb == "close":
                self._stop(int(port_text))
        self.close()

    def close(self) -> None:
        """Stop every listener and close the socket pair."""
        for port in list(self.listeners):
            self._stop(port)
        self.control.close()

    def _listen(self, port: int) -> None:
        opened: list[socket.socket] = []
        refusal: OSError | None = None
        for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            try:
                listener = socket.socket(family, socket.SOCK_STREAM)
            except OSError as error:  # no IPv6 on this machine
                refusal = error if family == socket.AF_INET else refusal
                continue
            try:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                listener.bind((address, port))
                listener.listen(64)
            except OSError as error:
                listener.close()
                if family == socket.AF_INET:
                    refusal = error
                continue
            opened.append(listener)
            threading.Thread(target=self._accept, args=(listener, port), daemon=True).start()
        self.listeners[port] = opened
        if refusal is not None:
            print(
                f"roman-helpers sandbox: port {port}, opened by the command, cannot be offered on this "
                f"machine's 127.0.0.1 ({refusal.strerror}); it is reachable only inside",
                file=sys.stderr,
                flush=True,
            )

    def _stop(self, port: int) -> None:
        for listener in self.listeners.pop(port, []):
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            listener.close()

    def _accept(self, listener: socket.socket, port: int) -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection, self.lock:
                try:
                    socket.send_fds(self.control, [f"conn {port}".encode()], [connection.fileno()])
                except OSError:
                    return


# ---------------------------------------------------------------- inside the namespaces


class _PortWatcher:
    """Relaunched process: tell the first process which ports the command listens on; relay."""

    def __init__(self, control: socket.socket, own_ports: set[int]) -> None:
        self.control = control
        self.own_ports = own_ports
        self.offered: set[int] = set()
        self.stopped = threading.Event()

    def start(self) -> _PortWatcher:
        threading.Thread(target=self._watch, name="sandbox-port-watch", daemon=True).start()
        threading.Thread(target=self._receive, name="sandbox-port-relay", daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        with contextlib.suppress(OSError):
            self.control.shutdown(socket.SHUT_RDWR)
        self.control.close()

    def _watch(self) -> None:
        while not self.stopped.wait(_POLL_SECONDS):
            listening = _listening_ports() - self.own_ports
            try:
                for port in sorted(listening - self.offered):
                    self.control.send(f"listen {port}".encode())
                for port in sorted(self.offered - listening):
                    self.control.send(f"close {port}".encode())
            except OSError:
                return
            self.offered = listening

    def _receive(self) -> None:
        while not self.stopped.is_set():
            try:
                message, descriptors, _, _ = socket.recv_fds(self.control, 64, 1)
            except OSError:
                return
            if not message:
                return
            for descriptor in descriptors:
                outside = socket.socket(fileno=descriptor)
                port = int(message.decode().partition(" ")[2])
                threading.Thread(target=_relay_to_port, args=(outside, port), daemon=True).start()


def _listening_ports() -> set[int]:
    """Ports in state LISTEN in this network namespace (``/proc/self/net/tcp`` and ``tcp6``)."""
    ports: set[int] = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines, None)
            for line in lines:
                fields = line.split()
                if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _relay_to_port(outside: socket.socket, port: int) -> None:
    inside: socket.socket | None = None
    for address in ("127.0.0.1", "::1"):
        with contextlib.suppress(OSError):
            inside = socket.create_connection((address, port), timeout=10)
            break
    if inside is None:
        outside.close()
        return
    inside.settimeout(None)
    _splice(outside, inside)


def _splice(one: socket.socket, other: socket.socket) -> None:
    """Copy bytes both ways until each side has finished sending, then close both."""

    def copy(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(_CHUNK):
                target.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)

    backwards = threading.Thread(target=copy, args=(other, one), daemon=True)
    backwards.start()
    copy(one, other)
    backwards.join()
    one.close()
    other.close()


class S3Front(BackgroundService):
    """TLS (and plain HTTP) on the AWS S3 names of the mirrored buckets, relayed to the sandbox's S3.

    Written by hand because no library does this: werkzeug's ``ProxyMiddleware`` routes by path
    prefix only and re-quotes the decoded path, while an S3 virtual-hosted request names its
    bucket in the ``Host`` header and its key must reach the S3 service byte for byte. proxy.py
    serves ``CONNECT`` tunnels for proxy-aware clients; this serves clients that connect directly.

    Parameters
    ----------
    names : mapping of str to (str or None)
        Host name -> bucket (``None`` for path-style hosts), as :func:`s3_host_names` gives.
    backend : tuple of (str, int)
        Address of the sandbox's S3 service (plain HTTP).
    ca : trustme.CA, optional
        Signs the certificate; without it the front serves plain HTTP.
    host, port : str, int
        Address to bind (port 0 picks a free one).
    """

    def __init__(
        self,
        names: Mapping[str, str | None],
        backend: tuple[str, int],
        ca: Any = None,
        host: str = "127.0.0.1",
        port: int = 443,
    ) -> None:
        self.names = {name.lower(): bucket for name, bucket in names.items()}
        self.backend = backend
        self.host, self.port = host, port
        self.context: ssl.SSLContext | None = None
        if ca is not None:
            self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert(*self.names).configure_cert(self.context)
        self._server = None

    def path_style(self, host: str, target: str) -> str | None:
        """The path-style request target for ``target`` sent to ``host``, or None for a foreign host.

        Examples
        --------
        >>> front = S3Front(s3_host_names(["stpubdata"]), ("127.0.0.1", 9))
        >>> front.path_style("stpubdata.s3.amazonaws.com", "/hst/public/x.fits")
        '/stpubdata/hst/public/x.fits'
        >>> front.path_style("stpubdata.s3.us-east-1.amazonaws.com", "/?list-type=2&prefix=hst%2F")
        '/stpubdata?list-type=2&prefix=hst%2F'
        >>> front.path_style("s3.amazonaws.com:443", "/stpubdata/hst")
        '/stpubdata/hst'
        >>> front.path_style("example.org", "/") is None
        True
        """
        name = host.lower().rsplit(":", 1)[0] if host.count(":") == 1 else host.lower()
        if name not in self.names:
            return None
        bucket = self.names[name]
        if bucket is None:
            return target
        if target == "/" or target.startswith("/?"):
            return f"/{bucket}{target[1:]}"
        return f"/{bucket}{target}"

    def start(self) -> S3Front:
        """Bind and serve from a daemon thread."""
        from roman_helpers.sandbox.services.serving import SandboxStartError

        try:
            server = _FrontServer((self.host, self.port), self)
        except OSError as error:
            raise SandboxStartError(
                f"the sandbox's S3 front cannot listen on {self.host}:{self.port}: {error}"
            ) from None
        self._server = server
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, name=f"sandbox-s3-{self.port}", daemon=True).start()
        return self


class _FrontServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address: tuple[str, int], front: S3Front) -> None:
        self.front = front
        super().__init__(address, _FrontHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # the handshake happens here, in the connection's own thread, so a silent client
        # holds up only itself
        if self.front.context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(30)
        try:
            secure = self.front.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        with secure:
            super().finish_request(secure, client_address)


class _FrontHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as S3 clients expect
    timeout = _IDLE_SECONDS
    server: _FrontServer

    def log_message(self, format: str, *args: Any) -> None:
        """The S3 service keeps the records; nothing is logged here."""

    def _forward(self) -> None:
        target = self.server.front.path_style(self.headers.get("Host", ""), self.path)
        if target is None:
            self._answer(400, f"roman-helpers sandbox: host {self.headers.get('Host')} is not an S3 name")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        upstream = http.client.HTTPConnection(*self.server.front.backend, timeout=_IDLE_SECONDS)
        with contextlib.closing(upstream):
            try:
                upstream.putrequest(self.command, target, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    if name.lower() not in _HOP_BY_HOP:
                        upstream.putheader(name, value)
                upstream.endheaders(body)
                response = upstream.getresponse()
            except OSError as error:
                self._answer(502, f"roman-helpers sandbox: the S3 service did not answer ({error})")
                return
            self._send(response)

    def _send(self, response: http.client.HTTPResponse) -> None:
        self.send_response_only(response.status, response.reason)
        sized = False
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP:
                sized = sized or name.lower() == "content-length"
                self.send_header(name, value)
        bodiless = self.command == "HEAD" or response.status in (204, 304)
        chunked = not sized and not bodiless  # a body of unknown length (a listing made as it is sent)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if bodiless:
            return
        while chunk := response.read1(_CHUNK):  # what has come, at once: clients give up on silence
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            self.wfile.flush()
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _answer(self, status: int, text: str) -> None:
        body = (text + "\n").encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_OPTIONS = _forward


# ---------------------------------------------------------------- the sandbox, in or out of them


@contextlib.contextmanager
def isolated(sandbox: Sandbox, isolate: bool = True) -> Iterator[Isolation]:
    """Give a started sandbox's command the private network, or say what that costs without it.

    Inside the namespaces (``sandbox run`` on Linux, relaunched by :func:`relaunch`): start
    :class:`S3Front` on ports 443 and 80, bind-mount the name and certificate files, forward the
    ports the command opens. Anywhere else: print once why pyarrow's S3 client is not redirected.
    Either way the state goes into ``sandbox.env`` (:data:`ENVIRONMENT_VARIABLE`), the env file
    and the state file. Everything started here stops on exit.

    Parameters
    ----------
    sandbox : Sandbox
        Started, in this process.
    isolate : bool
        False when the user asked for no isolation (``--no-isolation``).

    Yields
    ------
    Isolation
    """
    if _control is None:
        reason = _unavailable or (
            f"private networks need Linux, this is {sys.platform}" if isolate else "--no-isolation was given"
        )
        state = Isolation("none", reason)
        print(_unredirected_note(reason), file=sys.stderr, flush=True)
        _record(sandbox, state, {})
        yield state
        return
    started = time.perf_counter()
    assert sandbox.s3 is not None and sandbox.state_dir is not None  # a started sandbox
    names = s3_host_names(_mirrored_buckets(sandbox))
    backend = (sandbox.s3.host, sandbox.s3.port)
    fronts = [S3Front(names, backend, sandbox.ca, port=443), S3Front(names, backend, port=80)]
    watcher: _PortWatcher | None = None
    try:
        for front in fronts:
            front.start()
        _mount_private_files(sandbox.state_dir / "isolation", names, sandbox.ca.cert_pem.bytes())
        state = Isolation("namespace")
        served = [name for name in names if name not in sandbox.env.get("NO_PROXY", "").split(",")]
        extra = {
            # requests and curl would otherwise tunnel these through the proxy, which refuses them
            "NO_PROXY": ",".join([sandbox.env.get("NO_PROXY", ""), *served]).strip(","),
            "no_proxy": ",".join([sandbox.env.get("no_proxy", ""), *served]).strip(","),
        }
        _record(sandbox, state, extra, s3_hosts=list(names))
        watcher = _PortWatcher(_control, _listening_ports()).start()
        sandbox.timings["isolation"] = time.perf_counter() - started
        yield state
    finally:
        if watcher is not None:
            watcher.stop()
        for front in fronts:
            front.stop()


def describe_shared(sandbox: Sandbox) -> Isolation:
    """Record (and say once) that ``sandbox up`` serves other shells outside any private network."""
    state = Isolation("none", "sandbox up serves other shells, which use this machine's network")
    print(
        "# pyarrow.fs.S3FileSystem does not follow these variables: its reads reach the sandbox only "
        "under `roman-helpers sandbox run -- COMMAND` on Linux",
        file=sys.stderr,
        flush=True,
    )
    _record(sandbox, state, {})
    return state


def _unredirected_note(reason: str) -> str:
    return (
        f"roman-helpers sandbox: the command runs on this machine's own network ({reason}). "
        "boto3, s3fs, pandas, astropy and web requests still reach the sandbox, but pyarrow's own "
        "S3 client (pyarrow.fs.S3FileSystem) cannot be redirected: it would try the real AWS "
        "servers. See the sandbox page of the book."
    )


def _mirrored_buckets(sandbox: Sandbox) -> list[str]:
    return sorted(sandbox.buckets)


def _record(sandbox: Sandbox, state: Isolation, extra: dict[str, str], **details: Any) -> None:
    """Put ``state`` (and ``extra`` variables) into the sandbox's environment, env file and state file."""
    sandbox.env.update(extra)
    sandbox.env[ENVIRONMENT_VARIABLE] = state.mode
    if sandbox.env_file is not None:
        sandbox.write_env_file(sandbox.env_file)
    state_file = Path(sandbox.env.get("ROMAN_HELPERS_SANDBOX", ""))
    if state_file.is_file():
        saved = json.loads(state_file.read_text())
        saved["isolation"] = {
            "mode": state.mode,
            "reason": state.reason,
            "pyarrow_redirected": state.redirects_pyarrow,
            **details,
        }
        state_file.write_text(json.dumps(saved, indent=2))


def _mount_private_files(folder: Path, names: Mapping[str, str | None], ca_pem: bytes) -> None:
    """Write the namespace's own hosts, resolver, name-service and CA files; mount them over the system's."""
    folder.mkdir(parents=True, exist_ok=True)
    hosts = folder / "hosts"
    hosts.write_text(_hosts_file(Path("/etc/hosts"), socket.gethostname(), names))
    _bind_mount(hosts, "/etc/hosts")
    resolver = folder / "resolv.conf"
    resolver.write_text(
        "# roman-helpers sandbox: nothing answers here, so names outside /etc/hosts fail at once\n"
        "nameserver 127.0.0.1\noptions attempts:1 timeout:1\n"
    )
    with contextlib.suppress(FileNotFoundError):  # a dangling /etc/resolv.conf link: no resolver anyway
        _bind_mount(resolver, "/etc/resolv.conf")
    nsswitch = Path("/etc/nsswitch.conf")
    if nsswitch.is_file():
        lines = nsswitch.read_text().splitlines()
        kept = [line for line in lines if not line.strip().startswith("hosts:")]
        (folder / "nsswitch.conf").write_text("\n".join([*kept, "hosts: files dns", ""]))
        _bind_mount(folder / "nsswitch.conf", str(nsswitch))
    for directory in _NSCD_DIRECTORIES:
        if Path(directory).is_dir() and not Path(directory).is_symlink():
            (folder / "no-nscd").mkdir(exist_ok=True)
            _bind_mount(folder / "no-nscd", directory)
    for number, bundle in enumerate(_ca_bundles()):
        combined = folder / f"ca-bundle-{number}.pem"
        combined.write_bytes(bundle.read_bytes().rstrip(b"\n") + b"\n" + ca_pem)
        _bind_mount(combined, str(bundle))


def _hosts_file(original: Path, hostname: str, names: Iterable[str]) -> str:
    r"""The private network's /etc/hosts: every name in it is on loopback, the only interface there.

    The original's loopback lines are kept; lines naming other addresses (a container's own
    address, machines on the network) are dropped, since nothing can reach them from inside;
    this machine's name and the S3 names go to 127.0.0.1.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix="hosts") as handle:
    ...     _ = handle.write("127.0.0.1 localhost\n::1 localhost\n172.17.0.2 box\n# note\n")
    ...     handle.flush()
    ...     print(_hosts_file(Path(handle.name), "box", ["s3.amazonaws.com"]), end="")
    127.0.0.1 localhost
    ::1 localhost
    <BLANKLINE>
    # roman-helpers sandbox: this machine's name and the buckets' S3 names, on loopback
    127.0.0.1 box
    127.0.0.1 s3.amazonaws.com
    """
    kept = ["127.0.0.1 localhost", "::1 localhost"]
    if original.is_file():
        kept = [
            line
            for line in original.read_text().splitlines()
            if line.split() and (line.split()[0].startswith("127.") or line.split()[0] == "::1")
        ]
    local = [hostname] if hostname and hostname not in {n for line in kept for n in line.split()[1:]} else []
    return (
        "\n".join(kept)
        + "\n\n# roman-helpers sandbox: this machine's name and the buckets' S3 names, on loopback\n"
        + "".join(f"127.0.0.1 {name}\n" for name in [*local, *names])  # one a line: old resolvers cap aliases
    )


def _ca_bundles() -> list[Path]:
    """The certificate bundles TLS clients read by default here: the system's, Python's, certifi's."""
    candidates = [*_SYSTEM_CA_BUNDLES, ssl.get_default_verify_paths().openssl_cafile]
    with contextlib.suppress(ImportError):
        import certifi  # requests' bundle when REQUESTS_CA_BUNDLE is unset; astropy's for https

        candidates.append(certifi.where())
    found: dict[Path, None] = {}
    for candidate in candidates:
        path = Path(candidate).resolve()
        if path.is_file():
            found[path] = None
    return list(found)


def enter_relaunched(arguments: list[str]) -> dict[str, Any]:
    """In the relaunched process (:func:`relaunch`): enter the namespaces; return ``sandbox run``'s options.

    Parameters
    ----------
    arguments : list of str
        The options as JSON, and the descriptor of the socket to the first process.

    Returns
    -------
    dict
        The parsed ``sandbox run`` arguments the first process passed on.
    """
    global _relaunched, _control, _unavailable
    options, control = json.loads(arguments[0]), socket.socket(fileno=int(arguments[1]))
    _relaunched = True
    _unavailable = _enter()  # first, while this process has a single thread
    if _unavailable:
        control.close()
    else:
        _control = control
    _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)  # do not outlive the first process
    return dict(options)
