"""A throwaway PostgreSQL cluster on a Unix socket (tests and benchmarks, never the product).

``with LocalPostgres() as pg: pg.url`` runs Debian's ``initdb`` and ``pg_ctl`` (as the
``postgres`` user via ``runuser`` when this process is root), trust authentication, no
TCP listener, ``fsync`` off; everything is removed on exit.  :class:`PostgresUnavailable`
says why it cannot start (no server binaries, no ``postgres`` user, ``initdb`` failed).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from voice_assist.errors import StoreError


class PostgresUnavailable(StoreError):
    """A throwaway cluster cannot be started here; the message says why."""


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: p.split("/")[4])
    return Path(found[-1]).parent if found else None


class LocalPostgres:
    def __init__(self) -> None:
        bindir = _pg_bin()
        if bindir is None:
            raise PostgresUnavailable(
                "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin): "
                "install Debian's postgresql (scripts/system-deps.sh)"
            )
        self.bindir = bindir
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresUnavailable(
                    "running as root and there is no 'postgres' user"
                ) from exc
            if shutil.which("runuser") is None:
                raise PostgresUnavailable("running as root and runuser(1) is missing")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.root = Path(tempfile.mkdtemp(prefix="va-pg-"))
        self.data, self.sock = self.root / "data", self.root / "sock"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@/postgres?host={self.sock}&port={self.port}"

    def _run(self, *cmd: str) -> None:
        proc = subprocess.run([*self.as_user, *cmd], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise PostgresUnavailable(f"{Path(cmd[0]).name} failed: {proc.stdout}\n{proc.stderr}")

    def start(self) -> LocalPostgres:
        self.sock.mkdir()
        if self.as_user:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sock, "postgres")
        try:
            self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust",
                      "-U", "postgres", "--no-sync", "-E", "UTF8")  # fmt: skip
            opts = f"-k {self.sock} -p {self.port} -c listen_addresses='' -c fsync=off"
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", opts,
                      "-l", str(self.root / "log"), "-w", "-t", "60", "start")  # fmt: skip
        except (PostgresUnavailable, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(self.root, ignore_errors=True)
            raise PostgresUnavailable(
                f"could not start a throwaway PostgreSQL cluster: {exc}"
            ) from exc
        return self

    def stop(self) -> None:
        subprocess.run(
            [*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
             "stop"],
            capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
