"""The payment-alert notifier at scale: ``python benchmarks/poller.py``.

The sandbox runs in a child process (so this process's CPU is the bot's alone), holding
10,000 links across 100 keys, made two days before their keys were connected, seeded straight
into its SQLite store. The bot starts with an empty store: its first sweep adopts every link
from the lists (history). Then the jobs run as in the bot (the pump every tick, the sweep of
every key's list every interval) while 1 % of the links receive payments at random moments
(three each: the first lands on a link quiet for days, the next ones on a link it made active).

It reports, against baselines measured in the same run:
(a) provider requests per interval against ⌈links/100⌉ per key + the active links;
(b) time from a charge landing in the sandbox to its outbox row: median and p99 for payments
    on quiet links and on active links (target p99 ≤ 1 × interval + 5 s);
(c) CPU seconds of the bot per 1,000 requests beside a bare httpx loop making the same GET
    requests at the same moments and decoding each answer's JSON, as any client must
    (target ≤ 1.5×);
(d) peak memory (RSS) of the bot process (target < 150 MB at 10,000 links);
and one SUMMARY line to compare run with run (ratio first, then the absolute numbers).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import math
import multiprocessing
import multiprocessing.connection
import random
import resource
import shutil
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from bot.config import load_settings
from bot.devtools.sandbox.store import SandboxStore
from bot.dgs import API_KEY_HEADER
from bot.dgs.models import KIGALI
from bot.notify.diff import Alert
from bot.notify.poller import Poller, PollerConfig
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
    from bot.devtools.sandbox import Sandbox

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
        self.gets: list[tuple[float, str, str]] = []  # (time, path and query, key)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            target = request.url.raw_path.decode()
            self.gets.append((time.monotonic(), target, request.headers[API_KEY_HEADER]))
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


async def run_jobs(poller: Poller, until: float) -> None:
    """What the job queue does: the pump every tick, the sweep every interval (each also at
    once), and a pump as soon as the sweep makes links due."""

    async def pumping() -> None:
        while time.monotonic() < until:
            await poller.pump(lambda: time.monotonic() < until)
            await asyncio.sleep(poller.config.tick)

    async def sweeping() -> None:
        while time.monotonic() < until:
            await poller.relist(lambda: time.monotonic() < until)
            await asyncio.sleep(poller.config.sweep_every)

    await asyncio.gather(pumping(), sweeping())


async def bare_loop(
    base_url: str, requests: list[tuple[float, str, str]], concurrency: int
) -> tuple[float, float]:
    """The same GETs through a plain httpx client, each started at the moment (relative to
    the first) the bot started it, at most as many at once as the bot, each answer's JSON
    decoded (the least any client does with it): (cpu s, wall s)."""
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
                try:
                    response = await client.get(path, headers={API_KEY_HEADER: key})
                except (httpx.RemoteProtocolError, httpx.ReadError):
                    # A keep-alive connection the sandbox closed meanwhile: once more, as
                    # the bot's client would.
                    response = await client.get(path, headers={API_KEY_HEADER: key})
                response.raise_for_status()
                response.json()

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
    bound_lists = sum(math.ceil(len(ids) / 100) for ids in link_ids.values())
    print(
        f"{total_links:,} links across {len(keys)} keys, made 2 days ago; POLL_INTERVAL "
        f"{interval:g} s; sandbox in its own process"
    )
    async with open_services(settings, dgs_transport=transport) as services:
        for owner, key in enumerate(keys, start=1):
            await services.repo.save_credential(owner, key)
        poller = Poller(services, config, rng=random.Random(args.seed))

        # Adoption: the first sweep finds every link (made before the keys were connected:
        # history) from the lists alone.
        adopt_started, adopt_gets = time.monotonic(), len(transport.gets)
        await poller.relist()
        adopted = len(await services.db.fetchall("SELECT link_id FROM links"))
        adopt_requests = len(transport.gets) - adopt_gets
        print(
            f"adoption: {adopted:,} links found with {adopt_requests:,} requests in "
            f"{time.monotonic() - adopt_started:.1f} s (a details call each would be "
            f"{total_links:,})"
        )

        # Warm-up: a few intervals of the jobs as they run in the bot.
        await run_jobs(poller, time.monotonic() + 3 * interval)

        # Measured: payments land on 1 % of the links while the jobs run; each paid link
        # gets three, the first on a link quiet for days, the next ones on a link made active.
        measure = interval * args.intervals
        paying = rng.sample([(key, link) for key in keys for link in link_ids[key]], args.paying)
        schedule = []
        for key, link_id in paying:
            first = rng.uniform(0, measure - 4 * interval)
            for number in range(3):
                at = first + number * rng.uniform(0.5, 1.5) * interval
                schedule.append((at, key, link_id, 100 + number))
        parent_conn.send(("pay", schedule))
        parent_conn.send(("cpu", None))
        sandbox_cpu = parent_conn.recv()
        gets_before = len(transport.gets)
        profiler = cProfile.Profile(time.thread_time) if args.profile else None
        started, started_cpu = time.monotonic(), cpu()
        polls_before, lists_before = poller.polls, poller.sweep.requests
        pages_read_before = poller.sweep.pages_read
        started_thread = time.thread_time()
        if profiler is not None:
            profiler.enable()
        await run_jobs(poller, started + measure)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        bot_cpu, bot_wall = cpu() - started_cpu, time.monotonic() - started
        loop_cpu = time.thread_time() - started_thread
        polls = poller.polls - polls_before
        lists = poller.sweep.requests - lists_before
        measured_gets = transport.gets[gets_before:]
        parent_conn.send(("cpu", None))
        sandbox_cpu = parent_conn.recv() - sandbox_cpu

        # Late payments still get their poll (not counted in the figures above).
        parent_conn.send(("landed", None))
        landed: dict[str, tuple[float, str]] = parent_conn.recv()
        queued_at: dict[str, float] = {}
        drain_until = time.monotonic() + 4 * interval
        while True:
            for row in await services.db.fetchall("SELECT payload, created_at FROM outbox"):
                for charge_id in Alert.from_payload(decode_json(row["payload"])).charge_ids:
                    queued_at[charge_id] = row["created_at"]
            if landed.keys() <= queued_at.keys() or time.monotonic() > drain_until:
                break
            await run_jobs(poller, time.monotonic() + interval)
        bot_rss = rss_mb()

    await transport.aclose()

    # (a) requests per interval, against the bound: the lists plus the active links
    first_paid: dict[str, float] = {}
    for landed_at, link_id in sorted(landed.values()):
        first_paid.setdefault(link_id, landed_at)
    per_interval = []
    windows = int(bot_wall // interval)
    wall_offset = time.time() - time.monotonic()
    for window in range(windows):
        low, high = started + window * interval, started + (window + 1) * interval
        count = sum(1 for at, _, _ in measured_gets if low <= at < high)
        active = sum(1 for at in first_paid.values() if at - wall_offset < high)
        per_interval.append((count, bound_lists + active))
    worst = max(count - bound for count, bound in per_interval)
    mean_count = statistics.mean(count for count, _ in per_interval)
    print("\n(a) provider requests per interval")
    print(
        f"    mean {mean_count:,.0f} ({lists:,} list pages and {polls:,} details polls in "
        f"{len(per_interval)} intervals); bound ⌈links/100⌉ per key + active links: worst "
        f"interval {worst:+,} against it (before the sweep: ~1,050)"
    )

    # (b) charge → outbox row, on links quiet for days (the first payment) and active ones
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
    target = interval + 5
    print(
        f"\n(b) charge landing → its outbox row (target p99 <= 1 x interval + 5 s = {target:g} s)"
    )
    worst_p99 = 0.0
    for label, delays in (("on a quiet link  ", quiet), ("on an active link", active_delays)):
        if delays:
            median, p99 = statistics.median(delays), percentile(delays, 0.99)
            worst_p99 = max(worst_p99, p99)
            print(
                f"    {label}: n={len(delays):3}  median {median:6.2f} s, p99 {p99:6.2f} s "
                f"= {p99 / interval:4.2f} x interval"
            )
    print(f"    charges without an outbox row: {missing}")

    # (c) CPU per 1,000 requests, beside a bare httpx loop with the same requests and pace
    replay = _replay_of(measured_gets)
    bare_cpu, _ = await bare_loop(api_base_url, replay, config.max_in_flight)
    made = len(measured_gets)
    bot_per_k = bot_cpu / made * 1000
    bare_per_k = bare_cpu / len(replay) * 1000
    cpu_ratio = bot_per_k / bare_per_k
    print("\n(c) CPU seconds per 1,000 requests (this process: event loop + SQLite thread)")
    print(f"    bot notifier    : {bot_per_k:6.3f} s  ({made:,} requests in {bot_wall:.0f} s)")
    print(f"    (of which the event loop's thread: {loop_cpu / made * 1000:.3f} s)")
    print(f"    (the sandbox process used {sandbox_cpu / bot_wall:.0%} of a core)")
    if poller.failures:
        print(f"    (failed polls: {dict(poller.failures)})")
    print(
        f"    bare httpx loop : {bare_per_k:6.3f} s  (the same {len(replay):,} GETs, replayed, "
        "JSON decoded)"
    )
    print(
        f"    (list pages compared with the store: {poller.sweep.pages_read - pages_read_before:,}"
        f" of {lists:,}; the others were shown as when they last matched it)"
    )
    verdict = "within" if cpu_ratio <= CPU_TARGET else "OVER"
    print(f"    ratio           : {cpu_ratio:.2f}x  ({verdict} target <= {CPU_TARGET}x)")

    # (d) memory
    verdict = "within" if bot_rss < MEMORY_TARGET_MB else "OVER"
    print("\n(d) peak memory of the bot process")
    print(
        f"    {bot_rss:.0f} MB RSS at {total_links:,} links "
        f"({verdict} target < {MEMORY_TARGET_MB} MB)"
    )

    print(
        f"\nSUMMARY poller: cpu {cpu_ratio:.2f}x bare httpx; p99 alert {worst_p99 / interval:.2f}"
        f" x interval ({worst_p99:.1f} s, target {target:g} s); requests/interval "
        f"{mean_count:,.0f} (bound {bound_lists:,} + active); adoption {adopt_requests:,} "
        f"requests for {adopted:,} links; rss {bot_rss:.0f} MB; missing {missing}"
    )

    parent_conn.send(("stop", None))
    parent_conn.recv()
    child.join(timeout=10)


def _replay_of(gets: list[tuple[float, str, str]]) -> list[tuple[float, str, str]]:
    """(moment, path, key) of every GET the bot made: list pages and details alike."""
    return [(at, target.removeprefix("/generation/v2"), key) for at, target, key in gets]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--links", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--interval", type=float, default=5.0, help="POLL_INTERVAL_SECONDS")
    parser.add_argument("--paying", type=int, default=100, help="links that get payments")
    parser.add_argument("--intervals", type=int, default=20, help="measured intervals")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--in-flight", type=int, help="PollerConfig.max_in_flight")
    parser.add_argument("--profile", help="write a cProfile of the measured phase here")
    asyncio.run(main(parser.parse_args()))
