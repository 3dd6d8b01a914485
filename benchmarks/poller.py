"""The payment-alert poller at scale: ``python benchmarks/poller.py``.

The sandbox runs in a child process (so this process's CPU is the bot's alone), holding
10,000 links across 100 keys, seeded straight into its SQLite store; the bot's store is
seeded through ``Repo.upsert_link`` as a bot that has run a while (quiet links backed off,
polls spread over the 10× cycle). One full cycle warms up (every link polled once: first
polls after a start take the full path), then the measured cycles run while 1 % of the
links receive payments at random moments (three each, so the first lands on a quiet link
and the next ones on a link made active by the first).

It reports, against baselines measured in the same run:
(a) provider requests per poll cycle (one POLL_INTERVAL) against the active links, beside
    what polling every link every interval would cost;
(b) time from a charge landing in the sandbox to its outbox row: median and p99, against
    the poll interval, for payments on quiet links and on active links;
(c) CPU seconds of the bot per 1,000 polls beside a bare httpx loop making the same GET
    requests at the same pace (target ≤ 1.5×);
(d) peak memory (RSS) of the bot process (target < 150 MB at 10,000 links).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import multiprocessing.connection
import random
import resource
import shutil
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx

from bot.config import load_settings
from bot.dgs import API_KEY_HEADER
from bot.dgs.models import KIGALI, Link
from bot.notify.diff import Alert
from bot.notify.poller import Poller, PollerConfig
from bot.sandbox.store import SandboxStore
from bot.services import open_services
from bot.store.db import decode_json

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
CPU_TARGET = 1.5
MEMORY_TARGET_MB = 150
MAX_CONNECTIONS = 64


# --- the sandbox, in its own process ---------------------------------------------------


def sandbox_process(db_path: str, conn: multiprocessing.connection.Connection) -> None:
    asyncio.run(_serve_sandbox(db_path, conn))


async def _serve_sandbox(db_path: str, conn: multiprocessing.connection.Connection) -> None:
    from bot.sandbox import Sandbox

    loop = asyncio.get_running_loop()
    async with Sandbox(db_path=db_path, test_mode=True) as sandbox:
        conn.send(sandbox.api_base_url)
        landed: dict[str, tuple[float, str]] = {}
        pending: list[asyncio.Task[None]] = []

        async def pay_later(delay: float, key: str, link_id: str, amount: int) -> None:
            await asyncio.sleep(delay)
            charge = await sandbox.add_charge(key, link_id, amount, payment_type="mobile_money")
            landed[charge["id"]] = (time.time(), link_id)

        while True:
            command, argument = await loop.run_in_executor(None, conn.recv)
            if command == "pay":
                pending += [asyncio.create_task(pay_later(*item)) for item in argument]
            elif command == "landed":
                await asyncio.gather(*pending)
                conn.send(landed)
            elif command == "cpu":
                conn.send(time.process_time())
            elif command == "stop":
                conn.send("bye")
                return


def seed_sandbox(db_path: str, keys: list[str], per_key: int) -> dict[str, list[str]]:
    store = SandboxStore(db_path)
    created = (datetime.now(KIGALI) - timedelta(days=2)).strftime(TIME_FORMAT)
    try:
        return {key: store.seed_links(key, per_key, created_at=created) for key in keys}
    finally:
        store.close()


# --- helpers -----------------------------------------------------------------------------


class CountingTransport(httpx.AsyncBaseTransport):
    """The bot's real transport, counting the GETs it carries, per second."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(
                max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS // 2
            )
        )
        self.gets: list[tuple[float, str]] = []  # (time, path)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            self.gets.append((time.monotonic(), request.url.path))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def cpu() -> float:
    return time.process_time()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run_pump(poller: Poller, until: float) -> None:
    """What the job queue does: a tick, the pump, the next tick."""
    while time.monotonic() < until:
        await poller.pump(lambda: time.monotonic() < until)
        await asyncio.sleep(poller.config.tick)


async def bare_loop(
    base_url: str, requests: list[tuple[float, str, str]], concurrency: int
) -> tuple[float, float]:
    """The same GETs through a plain httpx client, each started at the moment (relative to
    the first) the bot started it, at most as many at once as the bot: (cpu s, wall s)."""
    client = httpx.AsyncClient(
        base_url=base_url,
        limits=httpx.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS // 2
        ),
    )
    gate = asyncio.Semaphore(concurrency)
    try:
        started_wall, started_cpu = time.monotonic(), cpu()
        origin = requests[0][0] if requests else 0.0

        async def one(path: str, key: str) -> None:
            async with gate:
                response = await client.get(path, headers={API_KEY_HEADER: key})
                response.raise_for_status()

        tasks = []
        for at, path, key in requests:
            delay = started_wall + (at - origin) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(path, key)))
        await asyncio.gather(*tasks)
        return cpu() - started_cpu, time.monotonic() - started_wall
    finally:
        await client.aclose()


# --- the run -----------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    interval = args.interval
    workdir = Path(tempfile.mkdtemp(prefix="poller-bench-"))
    try:
        await _run(args, rng, interval, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def _run(
    args: argparse.Namespace, rng: random.Random, interval: float, workdir: Path
) -> None:
    keys = [f"sk_test_bench_{index:04d}" for index in range(args.keys)]
    per_key = args.links // args.keys
    sandbox_db = str(workdir / "sandbox.sqlite3")
    link_ids = seed_sandbox(sandbox_db, keys, per_key)
    total_links = per_key * len(keys)

    context = multiprocessing.get_context("spawn")
    parent_conn, child_conn = context.Pipe()
    child = context.Process(target=sandbox_process, args=(sandbox_db, child_conn), daemon=True)
    child.start()
    api_base_url = parent_conn.recv()

    settings = load_settings(
        _env_file=None,
        telegram_bot_token="1:benchmark",
        dgs_api_base_url=api_base_url,
        bot_data_dir=workdir / "bot",
        poll_interval_seconds=interval,
        log_level="WARNING",
    )
    transport = CountingTransport()
    config = PollerConfig(interval=interval)
    if args.in_flight:
        config.max_in_flight = args.in_flight
    cycle = interval * config.quiet_max_factor
    print(
        f"{total_links:,} links across {len(keys)} keys; POLL_INTERVAL {interval:g} s, quiet "
        f"links every {cycle:g} s; sandbox in its own process"
    )
    async with open_services(settings, dgs_transport=transport) as services:
        repo = services.repo
        created = datetime.now(KIGALI) - timedelta(days=2)
        now = time.time()
        seeded_at = time.monotonic()
        for owner, key in enumerate(keys, start=1):
            await repo.save_credential(owner, key)
            fingerprint = services.repo.key_fingerprint(key)
            async with services.db.transaction() as conn:
                for index, link_id in enumerate(link_ids[key]):
                    link = Link(
                        id=link_id,
                        title=f"Seeded link {index + 1}",
                        currency="RWF",
                        amount=Decimal(1000),
                        created_at=created,
                    )
                    await repo.upsert_link(
                        link,
                        owner_user_id=owner,
                        api_key_fingerprint=fingerprint,
                        next_poll_at=now + rng.uniform(0, cycle),
                        conn=conn,
                    )
                await conn.execute(
                    "UPDATE links SET quiet_steps = 3 WHERE api_key_fingerprint = ?",
                    (fingerprint,),
                )
        print(f"seeded the bot's store in {time.monotonic() - seeded_at:.1f} s")
        poller = Poller(services, config, rng=random.Random(args.seed))

        # Warm-up: one full cycle, so every link had its first poll after the start.
        warm_cpu, warm_polls = cpu(), poller.polls
        await run_pump(poller, time.monotonic() + cycle)
        warm_cpu, warm_polls = cpu() - warm_cpu, poller.polls - warm_polls

        # Measured: payments land on 1 % of the links while the poller runs.
        measure = cycle * args.cycles
        paying = rng.sample([(key, link) for key in keys for link in link_ids[key]], args.paying)
        schedule = []
        for key, link_id in paying:
            first = rng.uniform(0, measure - cycle)
            for number in range(3):
                at = first + number * rng.uniform(0.5, 3) * interval
                schedule.append((at, key, link_id, 100 + number))
        parent_conn.send(("pay", schedule))
        parent_conn.send(("cpu", None))
        sandbox_cpu = parent_conn.recv()
        gets_before = len(transport.gets)
        profiler = cProfile.Profile(time.thread_time) if args.profile else None
        started, started_cpu, polls_before = time.monotonic(), cpu(), poller.polls
        started_thread = time.thread_time()
        if profiler is not None:
            profiler.enable()
        await run_pump(poller, started + measure)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        bot_cpu, bot_wall = cpu() - started_cpu, time.monotonic() - started
        loop_cpu = time.thread_time() - started_thread
        polls = poller.polls - polls_before
        measured_gets = transport.gets[gets_before:]
        parent_conn.send(("cpu", None))
        sandbox_cpu = parent_conn.recv() - sandbox_cpu

        # Late payments still get their poll (not counted in the figures above).
        parent_conn.send(("landed", None))
        landed: dict[str, tuple[float, str]] = parent_conn.recv()
        queued_at: dict[str, float] = {}
        drain_until = time.monotonic() + cycle * 1.2
        while True:
            for row in await services.db.fetchall("SELECT payload, created_at FROM outbox"):
                for charge_id in Alert.from_payload(decode_json(row["payload"])).charge_ids:
                    queued_at[charge_id] = row["created_at"]
            if landed.keys() <= queued_at.keys() or time.monotonic() > drain_until:
                break
            await run_pump(poller, time.monotonic() + interval)
        bot_rss = rss_mb()

    await transport.aclose()

    # (a) requests per poll cycle, against the links active at the time
    first_paid: dict[str, float] = {}
    for landed_at, link_id in sorted(landed.values()):
        first_paid.setdefault(link_id, landed_at)
    per_cycle = []
    windows = int(bot_wall // interval)
    wall_offset = time.time() - time.monotonic()
    for window in range(windows):
        low, high = started + window * interval, started + (window + 1) * interval
        count = sum(1 for at, _ in measured_gets if low <= at < high)
        active = sum(1 for at in first_paid.values() if at - wall_offset < high)
        per_cycle.append((count, active))
    print("\n(a) provider requests per poll cycle (one POLL_INTERVAL)")
    for label, part in (("first cycle", per_cycle[:1]), ("last cycle ", per_cycle[-1:])):
        count, active = part[0]
        expected = active + (total_links - active) / config.quiet_max_factor
        print(
            f"    {label}: {count:6,} requests, {active:4} active links; model "
            f"active + quiet/10 = {expected:,.0f}; every link every interval = {total_links:,} "
            f"({count / total_links:.2f}x of that)"
        )
    mean_count = statistics.mean(count for count, _ in per_cycle)
    print(
        f"    mean over {len(per_cycle)} cycles: {mean_count:,.0f} requests "
        f"= {mean_count / total_links:.3f} x the link count"
    )

    # (b) charge → outbox row. A link is active from its first alert on: a charge landing
    # before that (even the link's second) waited for a quiet link's poll.
    first_alert: dict[str, float] = {}
    for charge_id, (_, link_id) in landed.items():
        if charge_id in queued_at:
            first_alert[link_id] = min(first_alert.get(link_id, 1e100), queued_at[charge_id])
    quiet: list[float] = []
    active_delays: list[float] = []
    for charge_id, (landed_at, link_id) in landed.items():
        if charge_id not in queued_at:
            continue
        delay = queued_at[charge_id] - landed_at
        (active_delays if landed_at > first_alert[link_id] else quiet).append(delay)
    missing = len(landed) - len(queued_at.keys() & landed.keys())
    print("\n(b) charge landing → its outbox row")
    for label, delays, bound in (
        ("on a quiet link  ", quiet, cycle),
        ("on an active link", active_delays, interval),
    ):
        if delays:
            median, p99 = statistics.median(delays), percentile(delays, 0.99)
            print(
                f"    {label}: n={len(delays):3}  median {median:6.2f} s = "
                f"{median / interval:4.2f} x interval, p99 {p99:6.2f} s = {p99 / interval:4.2f} "
                f"x interval (poll period there: {bound:g} s)"
            )
    print(f"    charges without an outbox row: {missing}")

    # (c) CPU per 1,000 polls, beside a bare httpx loop with the same requests and pace
    replay = _replay_of(measured_gets, link_ids)
    bare_cpu, _ = await bare_loop(api_base_url, replay, config.max_in_flight)
    bot_per_k = bot_cpu / polls * 1000
    bare_per_k = bare_cpu / len(replay) * 1000
    print("\n(c) CPU seconds per 1,000 polls (this process: event loop + SQLite thread)")
    print(f"    bot poller      : {bot_per_k:6.3f} s  ({polls:,} polls in {bot_wall:.0f} s)")
    print(f"    (of which the event loop's thread: {loop_cpu / polls * 1000:.3f} s)")
    print(
        f"    (polls made {polls / bot_wall:.0f}/s; the sandbox process used "
        f"{sandbox_cpu / bot_wall:.0%} of a core, this one {bot_cpu / bot_wall:.0%})"
    )
    if poller.failures:
        print(f"    (failed polls: {dict(poller.failures)})")
    print(
        f"    bare httpx loop : {bare_per_k:6.3f} s  (the same {len(replay):,} GETs, replayed "
        "at the moments the bot made them)"
    )
    ratio = bot_per_k / bare_per_k
    verdict = "within" if ratio <= CPU_TARGET else "OVER"
    print(f"    ratio           : {ratio:.2f}x  ({verdict} target <= {CPU_TARGET}x)")
    print(
        f"    first polls after a start (warm-up, full path): "
        f"{warm_cpu / max(1, warm_polls) * 1000:.3f} s per 1,000 ({warm_polls:,} polls)"
    )

    # (d) memory
    verdict = "within" if bot_rss < MEMORY_TARGET_MB else "OVER"
    print("\n(d) peak memory of the bot process")
    print(
        f"    {bot_rss:.0f} MB RSS at {total_links:,} links "
        f"({verdict} target < {MEMORY_TARGET_MB} MB)"
    )

    parent_conn.send(("stop", None))
    parent_conn.recv()
    child.join(timeout=10)


def _replay_of(
    gets: list[tuple[float, str]], link_ids: dict[str, list[str]]
) -> list[tuple[float, str, str]]:
    """(moment, path, key) of every link GET the bot made."""
    key_of = {link_id: key for key, ids in link_ids.items() for link_id in ids}
    replay = []
    for at, path in gets:
        key = key_of.get(path.rsplit("/", 1)[-1])
        if key is not None:
            replay.append((at, path.removeprefix("/generation/v2"), key))
    return replay


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--links", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--interval", type=float, default=5.0, help="POLL_INTERVAL_SECONDS")
    parser.add_argument("--paying", type=int, default=100, help="links that get payments")
    parser.add_argument("--cycles", type=int, default=2, help="measured quiet cycles")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--in-flight", type=int, help="PollerConfig.max_in_flight")
    parser.add_argument("--profile", help="write a cProfile of the measured phase here")
    asyncio.run(main(parser.parse_args()))
