"""Shared pieces of the load benchmark: statistics, a bot in a child process, its memory.

Bots run as child processes so that their memory is their own (the peak RSS the kernel
reports for that process) and so that the fake Bot API and the sandbox, which live in the
benchmark's process, never take event-loop time from the bot being measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType


@dataclass(frozen=True)
class Stats:
    """Latencies of one group of updates, in seconds."""

    count: int
    median: float
    p95: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        if not values:
            return cls(0, math.nan, math.nan, math.nan)
        return cls(len(values), statistics.median(values), percentile(values, 95), max(values))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``q`` % of values ≤ it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def ratio(value: float, baseline: float) -> float:
    if baseline <= 0 or math.isnan(value) or math.isnan(baseline):
        return math.nan
    return value / baseline


@dataclass(frozen=True)
class Memory:
    """Resident memory of a process, in MiB: now and the peak so far (VmRSS, VmHWM)."""

    rss: float
    peak: float


def memory_of(pid: int) -> Memory:
    """From ``/proc/<pid>/status`` (Linux): the kernel's own count, shared libraries included."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024  # kB → MiB
    return Memory(rss=fields["VmRSS"], peak=fields["VmHWM"])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (``/proc/<pid>/stat``)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the command name (which may hold spaces) start at the closing parenthesis.
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


class ChildBot:
    """``async with ChildBot(argv, env, log_path) as child:`` a bot process, stopped by
    SIGTERM on exit (killed if it does not stop within ``stop_timeout`` seconds)."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        *,
        cwd: Path,
        stop_timeout: float = 30.0,
    ) -> None:
        self._argv = list(argv)
        self._env = {**os.environ, **env}
        self._log_path = log_path
        self._cwd = cwd
        self._stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the child bot is not running")
        return self._process.pid

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def memory(self) -> Memory:
        return memory_of(self.pid)

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self._log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    async def __aenter__(self) -> ChildBot:
        with self._log_path.open("wb") as log:
            self._process = subprocess.Popen(  # noqa: ASYNC220 - returns at once
                [sys.executable, *self._argv],
                env=self._env,
                cwd=self._cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._stop_timeout
        # Polled rather than waited on in a thread: the loop must keep serving the fake Bot
        # API and the sandbox, which the stopping bot still talks to.
        while process.poll() is None and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if process.poll() is None:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        self.returncode = process.returncode
