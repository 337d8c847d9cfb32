"""What the sandbox's in-process servers share: serve in a daemon thread, stop once, ``with``."""

from __future__ import annotations

from typing import Any


class BackgroundService:
    """Base of a server that :meth:`start` binds and serves from a daemon thread.

    Subclasses set ``self._server`` (a :class:`socketserver.BaseServer`) in ``start``.
    """

    _server: Any = None

    def start(self) -> BackgroundService:  # pragma: no cover - abstract
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
