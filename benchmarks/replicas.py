"""Replicas: updates answered per second and p95 reply, 1, 2 and 3 replicas on PostgreSQL
beside 1 process on SQLite, in the same run (issue 16, point 6).

    python benchmarks/replicas.py [--users 200] [--rounds 1]

Every configuration runs in webhook mode (``WEBHOOK_URL``), so the only differences are the
store and the number of processes: the fake Bot API (``tests/fakes/telegram.py``) posts each
update to the next process in turn (``webhook_round_robin``, as a load balancer would). On
SQLite the one process queues updates in memory; on PostgreSQL every replica keeps them in the
shared inbox and any replica handles them (``bot/replicas.py``). PostgreSQL is
``PAYLINKS_TEST_DATABASE_URL`` or a throwaway cluster (``tests/postgres_cluster.py``), a fresh
database per configuration.

Each user does three things in a row, each once the answer to the last has come: ``/start``,
``/help`` and ``/new`` (the form's first step: its state written, for any replica to read);
all users at once. No provider call: with one shared operator key the client's pacing of that
key (issue 15) would be measured instead of the replicas (a first version with quick creates
and ``/links`` answered 10 to 20 updates/s in every configuration, the key's pace).

A reply's latency runs from the moment its update is queued at the fake to the bot's answer
reaching it. Throughput: updates answered / the wall time from the first update queued to the
last answer. The bar (issue 16): 3 replicas not slower than one
PostgreSQL replica, and nothing lost (every update answered).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import ChildBot, percentile, ratio

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests import postgres_cluster  # noqa: E402
from tests.engines import drop_postgres_database, fresh_postgres_database  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402

TOKEN = "123456789:BENCH-token-for-the-fake-bot-api-xxxxxxxx"
OPERATOR_KEY = "sk_test_operator_key_bench"
SECRET = "bench-webhook-secret"
HOOK = "/telegram-updates"
FIRST_USER = 30_000
STEP_TIMEOUT = 120.0


@dataclass(frozen=True)
class Config:
    label: str
    replicas: int
    postgres: bool


CONFIGS = (
    Config("1 process, SQLite", 1, False),
    Config("1 replica, PostgreSQL", 1, True),
    Config("2 replicas, PostgreSQL", 2, True),
    Config("3 replicas, PostgreSQL", 3, True),
)


@dataclass
class Result:
    config: Config
    latencies: list[float] = field(default_factory=list)
    expected: int = 0
    wall: float = math.nan

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.wall if self.wall > 0 else math.nan

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 95) if self.latencies else math.nan

    @property
    def median(self) -> float:
        return percentile(self.latencies, 50) if self.latencies else math.nan


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out {what}")
        await asyncio.sleep(0.02)


async def measure(config: Config, users: int, server: str | None) -> Result:
    from bot.devtools.sandbox import Sandbox

    result = Result(config, expected=3 * users)
    database: tuple[str, str] | None = None
    if config.postgres:
        assert server is not None
        database = await fresh_postgres_database(server)
    try:
        with tempfile.TemporaryDirectory(prefix="paylinks-replicas-") as tmp:
            workdir = Path(tmp)
            async with FakeTelegram(token=TOKEN) as tg, Sandbox(test_mode=False) as sandbox:
                people = [tg.user(FIRST_USER + i, f"Vendor {i}") for i in range(users + 1)]
                base_env = {
                    "TELEGRAM_BOT_TOKEN": TOKEN,
                    "TELEGRAM_API_BASE_URL": tg.base_url,
                    "DGS_API_BASE_URL": sandbox.api_base_url,
                    "DGS_API_KEY": OPERATOR_KEY,
                    "DGS_ALLOWED_USERS": ",".join(str(p.id) for p in people),
                    "WEBHOOK_SECRET": SECRET,
                    "WEBHOOK_LISTEN": "127.0.0.1",
                    "LOG_LEVEL": "WARNING",
                }
                if database is not None:
                    base_env["DATABASE_URL"] = database[0]
                hooks: list[str] = []
                children: list[ChildBot] = []
                try:
                    for number in range(config.replicas):
                        port = free_port()
                        folder = workdir / f"r{number}"
                        folder.mkdir()
                        hook = f"http://127.0.0.1:{port}{HOOK}"
                        env = {
                            **base_env,
                            "BOT_DATA_DIR": str(folder),
                            "WEBHOOK_URL": hook,
                            "PORT": str(port),
                        }
                        child = ChildBot(["-m", "bot"], env, folder / "bot.log", cwd=ROOT)
                        calls = len(tg.calls("setWebhook"))
                        await child.__aenter__()
                        children.append(child)
                        await until(
                            lambda c=calls: len(tg.calls("setWebhook")) > c, 60, "starting"
                        )
                        hooks.append(hook)
                    tg.webhook_round_robin = hooks
                    # Warm up: one user, one create, before the clock starts.
                    warm = people[-1]
                    await tg.send_text(warm, "/start")
                    await tg.wait_for_message(warm.id, None, 60)
                    start = time.monotonic()
                    walks = [walk(tg, person, result) for person in people[:-1]]
                    await asyncio.gather(*walks)
                    result.wall = time.monotonic() - start
                finally:
                    for child in reversed(children):
                        await child.__aexit__(None, None, None)
    finally:
        if database is not None and server is not None:
            await drop_postgres_database(server, database[1])
    return result


async def walk(tg: FakeTelegram, person: Any, result: Result) -> None:
    steps: Sequence[tuple[str, Callable[[Any], bool]]] = (
        ("/start", lambda m: True),
        ("/help", lambda m: "/new" in m.content and "/links" in m.content),
        ("/new", lambda m: "Fixed amount" in m.button_texts),
    )
    for text, answer in steps:
        mark = tg.mark()
        sent = time.monotonic()
        await tg.send_text(person, text)
        await tg.wait_for_message(person.id, answer, STEP_TIMEOUT, since=mark)
        result.latencies.append(time.monotonic() - sent)


def print_results(results: Sequence[Result]) -> None:
    base = next(r for r in results if r.config.replicas == 1 and r.config.postgres)
    print(
        f"  {'':<24} {'rate×':>6} {'p95×':>6}   {'answered':>9} {'updates/s':>10}"
        f" {'median':>9} {'p95':>9}   (× vs 1 replica on PostgreSQL)"
    )
    for r in results:
        print(
            f"  {r.config.label:<24} {ratio(r.per_second, base.per_second):5.2f}×"
            f" {ratio(r.p95, base.p95):5.2f}×   {len(r.latencies):>4}/{r.expected:<4}"
            f" {r.per_second:10.1f} {r.median * 1000:7.0f}ms {r.p95 * 1000:7.0f}ms"
        )


async def main(args: argparse.Namespace) -> None:
    import os

    server = os.environ.get(postgres_cluster.ENV_URL)
    cluster = None
    if server is None:
        cluster = postgres_cluster.start()
        server = cluster.url
    try:
        for number in range(args.rounds):
            results = [await measure(config, args.users, server) for config in CONFIGS]
            print(f"round {number + 1}: {args.users} users, 3 updates each, webhook mode")
            sys.stdout.flush()
            print_results(results)
    finally:
        if cluster is not None:
            postgres_cluster.stop(cluster.folder)


def _parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(_parse()))
