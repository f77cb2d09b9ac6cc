"""Run the server inside the current event loop (``demo``, the live benchmark, tests)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from voice_assist.config import Settings
from voice_assist.errors import VoiceAssistError
from voice_assist.server.context import ServerContext


def uvicorn_config(
    app: Starlette, settings: Settings, *, host: str, port: int, verbose: int = 0
) -> uvicorn.Config:
    """uvicorn settings shared by ``serve``, ``demo`` and the live benchmark."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ws_max_size=settings.server.max_message_bytes,
        ws_ping_interval=settings.server.ws_ping_interval_s or None,
        ws_ping_timeout=settings.server.ws_ping_timeout_s or None,
        log_level="info" if verbose else "warning",
        access_log=verbose > 1,
        timeout_graceful_shutdown=15,
        lifespan="on",
    )


class LocalServer:
    """``async with LocalServer(app, settings) as srv:`` serves on ``srv.base_url`` until exit.

    Entering waits until the engine is ready (model loaded and warmed), so callers can
    stream at once.  ``port=0`` picks a free port.
    """

    def __init__(
        self,
        app: Starlette,
        settings: Settings,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ready_timeout_s: float = 300.0,
        verbose: int = 0,
    ) -> None:
        self.app = app
        self.ctx: ServerContext = app.state.ctx
        self.server = uvicorn.Server(
            uvicorn_config(app, settings, host=host, port=port, verbose=verbose)
        )
        self.host = host
        self.port = port
        self.ready_timeout_s = ready_timeout_s
        self._task: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    async def __aenter__(self) -> LocalServer:
        self._task = asyncio.create_task(self.server.serve())
        deadline = time.monotonic() + self.ready_timeout_s
        while not self.server.started:
            if self._task.done():
                self._task.result()
                raise VoiceAssistError("the server stopped while starting (port in use?)")
            await asyncio.sleep(0.05)
        sockets = [s for srv in self.server.servers for s in srv.sockets]
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        while not self.ctx.ready:
            if self.ctx.start_error:
                await self.__aexit__(None, None, None)
                raise VoiceAssistError(f"engine failed to start: {self.ctx.start_error}")
            if time.monotonic() > deadline:
                await self.__aexit__(None, None, None)
                raise VoiceAssistError("engine not ready in time")
            await asyncio.sleep(0.1)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._task

    async def serve_forever(self) -> Any:
        assert self._task is not None
        return await self._task


class ServerThread:
    """The server on its own event loop in a background thread (tests, notebooks, benches).

    ::

        srv = ServerThread(settings).start()   # returns once the engine is ready
        ... connect to srv.ws_url ...
        srv.stop()

    ``run(coro)`` runs a coroutine on the server's loop (to reach the engine safely).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: Any = None,
        secret: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        role: str = "single",
    ) -> None:
        """``role``: see :func:`voice_assist.server.app.create_app` (a gateway in tests)."""
        import threading

        from voice_assist.server.app import create_app

        self.settings = settings
        self.app = create_app(settings, store=store, secret=secret, role=role)
        self.ctx: ServerContext = self.app.state.ctx
        self._host, self._port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: LocalServer | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="voice-assist-server", daemon=True)

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return self._server.base_url

    @property
    def ws_url(self) -> str:
        assert self._server is not None
        return self._server.ws_url

    def start(self, timeout_s: float = 300.0) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise VoiceAssistError("server thread did not become ready in time")
        if self._error is not None:
            raise self._error
        return self

    def run(self, coro: Any, timeout_s: float = 60.0) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    def stop(self, timeout_s: float = 60.0) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._server = LocalServer(self.app, self.settings, host=self._host, port=self._port)
        async with self._server:
            self._ready.set()
            await self._stop.wait()
