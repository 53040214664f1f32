"""A private PostgreSQL cluster on a free loopback port, for tests that stop and restart the server.

The system cluster on 5432 is shared by everyone's tests and must never be restarted; this one lives
in a temp dir of its own (initdb + pg_ctl, run as the `postgres` OS user, trust auth on loopback).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.dovecot import free_loopback_port


def _binary_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    """initdb'd into a temp dir; `start`, `stop`, `restart`, `url(db)`; `remove` deletes it all."""

    def __init__(self) -> None:
        self.bin = _binary_dir()
        if self.bin is None:
            raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise RuntimeError("there is no `postgres` OS user to run a private cluster as") from exc
        self.root = Path(tempfile.mkdtemp(prefix="curmail-pg-"))
        os.chmod(self.root, 0o755)
        self.data = self.root / "data"
        self.port = free_loopback_port()
        shutil.chown(self.root, "postgres", "postgres")
        self._as_postgres("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                          "--no-sync")

    def _as_postgres(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = ["runuser", "-u", "postgres", "--", str(self.bin / tool), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"),
                          "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def restart(self) -> None:
        """A fast shutdown drops every client connection; then the same cluster on the same port."""
        self.stop()
        self.start()

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
