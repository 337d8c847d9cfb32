"""What the sandbox's servers share: WSGI types, the start error, serving from a thread, stopping once."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Self

from roman_helpers.errors import RomanHelpersError

__all__ = [
    "BackgroundService",
    "Environ",
    "SandboxStartError",
    "StartResponse",
    "WSGIApplication",
    "WsgiService",
    "quiet_request_handler",
    "serve_wsgi",
]

#: The WSGI calling convention, as the services' type hints spell it.
Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApplication = Callable[[Environ, StartResponse], Iterable[bytes]]


class SandboxStartError(RomanHelpersError, RuntimeError):
    """A sandbox service could not start (port in use, unusable cache, child crashed)."""


def quiet_request_handler() -> type:
    """Return a werkzeug request handler that does not log every request to stderr."""
    from werkzeug.serving import WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    return QuietHandler


class BackgroundService:
    """Base of a server that :meth:`start` binds and serves from a daemon thread.

    Subclasses set ``self._server`` (a :class:`socketserver.BaseServer`) in ``start``.
    """

    _server: Any = None

    def start(self) -> BackgroundService:  # pragma: no cover - abstract
        """Bind and serve from a daemon thread; return the service."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> BackgroundService:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class WsgiService(BackgroundService):
    """A WSGI application served by werkzeug on ``host``:``port`` from a daemon thread.

    Subclasses set ``self._wsgi`` (the application), ``self.host`` and ``self.port`` (0 picks a
    free one) in ``__init__``, and ``name`` (for the thread and the error when the address is taken).
    """

    name = "WSGI"
    host = "127.0.0.1"
    port = 0
    _wsgi: WSGIApplication

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the bound port once started)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        """Bind and serve from a daemon thread; raise SandboxStartError when the address is taken."""
        if self._server is None:
            self._server = serve_wsgi(self._wsgi, self.host, self.port, self.name)
            self.port = self._server.server_port
        return self

    def __enter__(self) -> Self:
        return self.start()


def serve_wsgi(app: WSGIApplication, host: str, port: int, what: str) -> Any:
    """Bind a threaded werkzeug server for ``app`` and serve it from a daemon thread.

    Parameters
    ----------
    app : WSGI application
    host, port : str, int
        Address to bind; port 0 picks a free one.
    what : str
        Service name for the thread and for the error when the address is taken.

    Returns
    -------
    werkzeug.serving.BaseWSGIServer
        Its ``server_port`` is the bound port; stop it with ``shutdown()`` and ``server_close()``.

    Raises
    ------
    SandboxStartError
        The address cannot be bound.

    Examples
    --------
    >>> server = serve_wsgi(lambda environ, start_response: [], "127.0.0.1", 0, "demo")
    >>> server.server_port > 0
    True
    >>> server.shutdown()
    >>> server.server_close()
    """
    import threading

    from werkzeug.serving import make_server

    try:
        server = make_server(host, port, app, threaded=True, request_handler=quiet_request_handler())
    except OSError as error:
        raise SandboxStartError(
            f"the sandbox {what} service cannot listen on {host}:{port}: {error}"
        ) from None
    threading.Thread(target=server.serve_forever, name=f"sandbox-{what.lower()}", daemon=True).start()
    return server
