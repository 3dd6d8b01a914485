"""A throwaway PostgreSQL cluster for the tests: Debian's binaries, a temp folder, a free
port on 127.0.0.1, trust authentication, no fsync. As root it runs as ``nobody`` (initdb
refuses root). Standard library only, so ``.ci/run`` can use it before the venv exists:

    python3 -m tests.postgres_cluster start   # prints DIR and URL lines
    python3 -m tests.postgres_cluster stop DIR
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

USER = "paylinks"  # the cluster's superuser (no password: trust, on 127.0.0.1 only)
ENV_URL = "PAYLINKS_TEST_DATABASE_URL"


class ClusterUnavailableError(RuntimeError):
    """No PostgreSQL binaries here, or the cluster would not start: the reason."""


@dataclass(frozen=True)
class Cluster:
    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"


def _bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise ClusterUnavailableError(
            "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb): "
            "apt-get install postgresql, or set " + ENV_URL
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_owner(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "nobody", "--", *args]


def _run(args: list[str], folder: Path) -> None:
    done = subprocess.run(
        _as_owner(args), capture_output=True, text=True, timeout=120, cwd=folder, check=False
    )
    if done.returncode != 0:
        raise ClusterUnavailableError(f"{Path(args[0]).name} failed: {done.stderr.strip()[-500:]}")


def start() -> Cluster:
    """Create and start a cluster; ``stop(cluster.folder)`` removes it."""
    bin_dir = _bin_dir()
    folder = Path(tempfile.mkdtemp(prefix="paylinks-pg-"))
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(folder, nobody.pw_uid, nobody.pw_gid)
    data = folder / "data"
    port = _free_port()
    try:
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            folder,
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={folder} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        _run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(folder / "log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            folder,
        )
    except (ClusterUnavailableError, OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise ClusterUnavailableError(f"could not start a PostgreSQL cluster: {exc}") from exc
    return Cluster(folder, port)


def stop(folder: Path) -> None:
    data = folder / "data"
    if data.exists():
        try:
            _run([str(_bin_dir() / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], folder)
        except ClusterUnavailableError:
            time.sleep(0.5)
    shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["start"]:
        try:
            cluster = start()
        except ClusterUnavailableError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"DIR={cluster.folder}")
        print(f"URL={cluster.url}")
        return 0
    if argv[:1] == ["stop"] and len(argv) == 2:
        stop(Path(argv[1]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
