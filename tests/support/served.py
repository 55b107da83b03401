"""The real app, served by uvicorn in a thread: what the browser tests, the hub's served tests
and the slow-viewer fault test run against."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time

import uvicorn
from starlette.applications import Starlette

from server.app import create_app
from server.hub.protocol import HubProtocol
from tasks.settings import Settings

START_TIMEOUT_S = 15.0


class ServedApp:
    """`create_app()` served by uvicorn in a thread on 127.0.0.1, with BASE_URL its address.

    `ws` is the WebSocket protocol: the Procfile's `HubProtocol` unless a test asks for another
    (such as "websockets-sansio", which makes the hub send through ASGI). The listening socket
    is bound before uvicorn starts, so no other process can take the port in between.

    The port is chosen on the first `start()` and kept: `stop()` then `start()` is a restart of
    the web process at the same address, with a new app (new hub, new subscription).
    """

    def __init__(self, settings: Settings, ws: type[asyncio.Protocol] | str = HubProtocol) -> None:
        self.settings = settings
        self.ws = ws
        self.port: int | None = None
        self._app: Starlette | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("Expected a started server, but it was never started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def app(self) -> Starlette:
        if self._app is None:
            raise RuntimeError(f"Expected a running server on {self.base_url}, but it is stopped")
        return self._app

    @property
    def is_running(self) -> bool:
        return self._thread is not None

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> ServedApp:
        if self.is_running:
            raise RuntimeError(f"{self.base_url} is already being served")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port or 0))
        self.port = sock.getsockname()[1]
        app = create_app(dataclasses.replace(self.settings, base_url=self.base_url))
        config = uvicorn.Config(
            app,
            ws=self.ws,
            ws_per_message_deflate=False,
            ws_max_size=4096,  # as the Procfile
            proxy_headers=False,  # as the Procfile: the app decides whom to believe
            log_level="warning",
            timeout_graceful_shutdown=5,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        self._app, self._server, self._thread, self._sock = app, server, thread, sock
        deadline = time.monotonic() + START_TIMEOUT_S
        # Started, and the hub subscribed: a page that connects before the subscription would
        # get its snapshot twice (once on connect, once when the subscription resyncs).
        while not (server.started and app.state.hub.has_subscribed):
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"uvicorn did not start on {self.base_url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Shut down as uvicorn does on SIGTERM: sockets closed with 1012, lifespan ended."""
        if self._server is None or self._thread is None or self._sock is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._sock.close()
        if self._app is not None:
            self._app.state.runtime.engine.dispose()
        is_stuck = self._thread.is_alive()
        self._app = self._server = self._thread = self._sock = None
        assert not is_stuck, f"uvicorn on port {self.port} did not stop"
