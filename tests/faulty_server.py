"""An in-process S3 (moto's WSGI app, sharing the ``moto_server`` fixture's buckets) behind
:class:`FaultInjector`, so tests can read the injector's counters directly."""

from __future__ import annotations

import threading

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

from roman_helpers.sandbox.services.faults import FaultInjector
from roman_helpers.sandbox.services.s3 import quiet_request_handler


class FaultyS3:
    def __init__(self, rules, seed: int = 0) -> None:
        self.injector = FaultInjector(DomainDispatcherApplication(create_backend_app), rules, seed)
        self.server = make_server(
            "127.0.0.1", 0, self.injector, threaded=True, request_handler=quiet_request_handler()
        )
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultyS3:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
