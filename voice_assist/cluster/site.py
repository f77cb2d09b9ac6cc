"""A one-machine site (``serve --workers N``): N worker processes and a gateway.

The workers share the media port through ``SO_REUSEPORT`` (the kernel spreads new
connections across them; each worker's admission still has the last word and a full
worker says so on ``/healthz``).  The gateway runs in this process on the main port.
Several machines: run ``serve --role worker`` behind a load balancer (HAProxy
``leastconn`` with ``/healthz`` checks) and ``serve --role gateway`` anywhere, all on one
Redis and one PostgreSQL (docs/scaleout.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

from voice_assist.config import Settings
from voice_assist.errors import ConfigError, VoiceAssistError

log = logging.getLogger(__name__)

RESTART_DELAY_S = 2.0


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket that other processes may bind too (``SO_REUSEPORT``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise VoiceAssistError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A private ``redis-server`` on loopback, no persistence (the store is the record).

    ``with RedisServer() as r: r.url``; :meth:`restart` stops and starts it on the same
    port (benchmarks and tests of a Redis restart).
    """

    def __init__(self, *, port: int = 0, root: Path | None = None) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise ConfigError(
                "redis-server not found: install Debian's redis-server "
                "(scripts/system-deps.sh) or set cluster.redis_url"
            )
        self.exe = exe
        self.port = port or free_port()
        self.root = root or Path(tempfile.mkdtemp(prefix="va-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root), "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise VoiceAssistError(f"redis-server exited ({self.proc.returncode})")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise VoiceAssistError("redis-server did not start within 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def worker_command(args: argparse.Namespace, *, host: str, media_port: int) -> list[str]:
    """The worker's command line; :class:`WorkerProcesses` appends ``--own-port``."""
    cmd = [sys.executable, "-m", "voice_assist"]
    if args.config:
        cmd += ["--config", str(args.config)]
    cmd += ["-v"] * int(args.verbose)
    cmd += ["serve", "--role", "worker", "--host", host, "--port", str(media_port), "--reuse-port"]
    if args.no_store:
        cmd.append("--no-store")
    return cmd


class WorkerProcesses:
    """Starts N workers and restarts one that dies (a new process: a new worker id)."""

    def __init__(self, cmd: list[str], n: int, env: dict[str, str]) -> None:
        self.cmd, self.n, self.env = cmd, n, env
        self.procs: list[subprocess.Popen[bytes]] = []
        self.restarts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="site-workers", daemon=True)

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.n)]
        self._thread.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen([*self.cmd, "--own-port", str(free_port())], env=self.env)

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None and not self._stop.is_set():
                    log.error("worker pid %d exited (%s); restarting it", proc.pid, proc.returncode)
                    time.sleep(RESTART_DELAY_S)
                    self.restarts += 1
                    self.procs[i] = self._spawn()

    def stop(self) -> None:
        self._stop.set()
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def run_site(
    args: argparse.Namespace, settings: Settings, *, host: str, port: int, media_port: int
) -> int:
    import uvicorn

    from voice_assist.server.app import create_app, install_log_redaction
    from voice_assist.server.local import uvicorn_config

    if args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    if not settings.server.secret:
        raise ConfigError(
            "a site of several processes needs one token secret: set VOICE_ASSIST_SECRET"
        )
    private = None
    url = settings.cluster.redis_url
    if not url:
        private = RedisServer()
        private.start()
        url = private.url
        log.warning("started a private redis-server on %s", url)
    from dataclasses import replace

    settings = replace(settings, cluster=replace(settings.cluster, redis_url=url))
    env = dict(os.environ, VOICE_ASSIST_REDIS_URL=url)
    workers = WorkerProcesses(
        worker_command(args, host=host, media_port=media_port), args.workers, env
    )
    store = None
    if not args.no_store:
        from voice_assist.store import Store

        store = Store.open(settings)
    app = create_app(settings, store=store, role="gateway")
    install_log_redaction()
    workers.start()
    log.warning(
        "voice_assist site: %d workers on ws://%s:%d (media), gateway on http://%s:%d "
        "(pages: /overlay, /supervisor)",
        args.workers,
        host,
        media_port,
        host,
        port,
    )
    try:
        uvicorn.Server(
            uvicorn_config(app, settings, host=host, port=port, verbose=args.verbose)
        ).run()
    finally:
        workers.stop()
        if private is not None:
            private.stop()
    return 0
