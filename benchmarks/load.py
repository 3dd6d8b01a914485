"""Market day: every user sends ``/start`` and a quick create at the same moment.

    python benchmarks/load.py [--users 200] [--scenarios base,slow,poll] [--rounds N]
        [--threaded-baseline] [--variant uncapped] [--stub-sniffio] [--profile DIR]

Each run starts a fresh fake Bot API (``tests/fakes/telegram.py``) and a fresh provider
sandbox in this process, then the bot under test as a child process, warms it up with one
user, and queues ``/start`` and ``/new 5000 Item N`` for every user at once. Latency runs from
the moment an update is queued at the fake to the moment the bot's reply (the text for
``/start``, the photo for ``/new``) reaches the fake. Several rounds are pooled, with the
order of the bots alternating.

The baseline, measured in the same run and the same way, is a bare python-telegram-bot bot
(``concurrent_updates=True``, PTB's defaults otherwise) that answers ``/start`` with a line and
``/new`` with a ``qrcode`` PNG made on the event loop, with no provider call
(``--threaded-baseline`` adds one that makes the PNG in a worker thread). Scenarios:

- ``base``: as above. Targets: every update answered; median and p95 ≤ 1.5× the bare bot.
- ``slow``: the sandbox holds every call of every other user's key for 2 s. Target: the
  other half's median and p95 ≤ 1.5× the same users' figures on the bare bot.
- ``poll``: PayLinks alone, with and without ~5,000 stored links, all due, so the notifier's
  poller works through a cycle while the users arrive; the second run is compared with the
  first.
- ``plain`` (issue 19): plain replies only. Every user sends ``/start`` at once; once all are
  answered, every user sends ``/help`` at once. Targets: median and p95 ≤ 1.3× the bare bot;
  SQLite write transactions per 100 updates ≤ 20 (counted at the bot's database boundary,
  ``Database.write_transactions``, reported beside the latencies; the notifier's own
  periodic writes, about one a second, are in that count).
- ``shared`` and ``shared429`` (issue 15): every user on one operator key sends one quick
  create at once; against the bare bot making the same POST, and with the sandbox answering
  429 above ``--limit`` requests/s. See ``_shared_key.py`` (run them with ``--users 100``).

PayLinks runs through ``bot.app.run_bot`` (auto-connect on) in a child process, like the bare
bot: the peak RSS (VmHWM) is then the bot's alone, and the fake Bot API and the sandbox never
take event-loop time from the bot being measured.

Diagnostics (the bot's code stays as shipped; the change is made in the child at start):
``--variant uncapped`` adds a PayLinks run whose AIORateLimiter has no overall 30 msg/s cap
(per-group limits and 429 retries kept); ``wide-dgs`` raises the provider client's in-flight
bound from 64 to 512; ``poll8`` lets the poller keep 8 polls in flight instead of 64; join
several with ``+``. ``--stub-sniffio`` makes ``import sniffio`` succeed in every bot, as
installing it would. ``--profile DIR`` writes a cProfile of each child (main thread only).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import logging
import math
import os
import pstats
import re
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import ChildBot, Memory, Stats, cpu_seconds, ratio
from _shared_key import bare_post, run_shared

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
if str(ROOT) not in sys.path:
    # The fake Bot API lives in the tests package, beside the installed ``bot`` package.
    sys.path.insert(0, str(ROOT))

from tests.fakes.telegram import FakeTelegram  # noqa: E402

TOKEN = "123456789:BENCH-token-for-the-fake-bot-api-xxxxxxxx"
TARGET = 1.5
WARM_USER = 1
FIRST_USER = 10_000
POLL_OWNER = 900_000  # owners of the seeded links; never send anything themselves
KEY_PREFIX = "sk_test_tg_"  # bot.accounts.SANDBOX_KEY_PREFIX: what auto-connect gives a user
LINK_GET = re.compile(r"/payment-links/[0-9a-f-]{36}$")
START, NEW, HELP = "start", "new", "help"
PLAIN_TARGET = 1.3
PLAIN_MAX_WRITES = 20  # per 100 updates
KIND_NAMES = {START: "/start", NEW: "/new (the QR card)", HELP: "/help"}


# --------------------------------------------------------------------------- the bots


def _serve(kind: str) -> None:
    """Child process: run one bot until SIGTERM."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if os.environ.get("BENCH_STUB_SNIFFIO"):
        _stub_sniffio()
    runner = _serve_ours if kind == "ours" else _serve_bare
    profile_path = os.environ.get("BENCH_PROFILE")
    if not profile_path:
        asyncio.run(runner())
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        asyncio.run(runner())
    finally:
        profiler.disable()
        profiler.dump_stats(profile_path)


def _stub_sniffio() -> None:
    """What installing ``sniffio`` would do: httpcore asks for it on every lock it makes, and
    a failed import is not cached, so without it each ask searches ``sys.path`` again."""
    import types

    stub = types.ModuleType("sniffio")
    stub.current_async_library = lambda: "asyncio"  # type: ignore[attr-defined]
    sys.modules.setdefault("sniffio", stub)


async def _serve_ours() -> None:
    from bot.app import run_bot
    from bot.config import load_settings

    _apply_variant(os.environ.get("BENCH_VARIANT", ""))
    shared = bool(os.environ.get("BENCH_SHARED_KEY"))  # the operator key serves everyone
    await run_bot(load_settings(), auto_connect=not shared, on_started=_report_counts_on_sigusr1)


async def _report_counts_on_sigusr1(app: Any) -> None:
    """On SIGUSR1, write the database's write-transaction count (and the updates still in
    hand) to ``BENCH_COUNTS``: the benchmark reads it between bursts."""
    from bot.store.group_commit import group_commit

    target = os.environ.get("BENCH_COUNTS")
    if not target:
        return
    db = app.bot_data.services.db

    def report() -> None:
        busy = app.update_processor.waiting_keys + app.update_queue.qsize()
        line = f"{db.write_transactions} {group_commit(db).flushes} {busy}\n"
        scratch = Path(f"{target}.tmp")
        scratch.write_text(line)
        scratch.replace(target)  # whole or not at all

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, report)


def _apply_variant(variant: str) -> None:
    """Diagnostic changes to PayLinks' wiring, made here so the bot's code stays as shipped."""
    names = {name for name in variant.split("+") if name}
    unknown = names - {"uncapped", "wide-dgs", "poll8"}
    if unknown:
        raise SystemExit(f"unknown variant(s): {', '.join(sorted(unknown))}")
    if "uncapped" in names:
        from telegram.ext import AIORateLimiter

        import bot.app

        class Uncapped(AIORateLimiter):
            def __init__(self, **kwargs: Any) -> None:
                super().__init__(**{**kwargs, "overall_max_rate": 0})

        setattr(bot.app, "AIORateLimiter", Uncapped)  # noqa: B010 - patching on purpose
    if "wide-dgs" in names:
        import bot.services
        from bot.dgs.client import DGSClient

        class Wide(DGSClient):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **{**kwargs, "max_concurrency": 512})

        setattr(bot.services, "DGSClient", Wide)  # noqa: B010 - patching on purpose
    if "poll8" in names:
        import bot.notify
        from bot.notify.poller import PollerConfig

        def narrow(**kwargs: Any) -> PollerConfig:
            return PollerConfig(**{**kwargs, "max_in_flight": 8})

        setattr(bot.notify, "PollerConfig", narrow)  # noqa: B010 - patching on purpose


async def _serve_bare() -> None:
    """The baseline: plain PTB, concurrent updates, a line for /start, a QR for /new (made
    on the event loop, as the plainest bot would; in a worker thread for ``threaded``)."""
    import qrcode
    from telegram import Update
    from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

    base = os.environ["TELEGRAM_API_BASE_URL"]
    threaded = os.environ.get("BENCH_VARIANT") == "threaded"

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message and update.effective_user:
            await update.effective_message.reply_text(
                f"Hello {update.effective_user.first_name}! Send /new <amount> <title>."
            )

    async def new(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        amount, *words = context.args or ["0"]
        title = " ".join(words) or "Payment"
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        url = f"https://pay.digitalservicescenter.rw/generation/pay/{slug}"
        if os.environ.get("BENCH_SHARED_KEY"):
            await bare_post(title, amount)
        if threaded:
            png = await asyncio.to_thread(qr_png, url)
        else:
            png = qr_png(url)
        await message.reply_photo(png, caption=f"{title}\nRWF {amount}")

    def qr_png(url: str) -> bytes:
        out = io.BytesIO()
        qrcode.make(url).save(out)
        return out.getvalue()

    app = (
        ApplicationBuilder()
        .token(os.environ["TELEGRAM_BOT_TOKEN"])
        .base_url(base)
        .base_file_url(base.removesuffix("/bot") + "/file/bot")
        .concurrent_updates(True)
        .build()
    )

    async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message:
            await update.effective_message.reply_text(
                "/new <amount> <title> – a payment link\n/links – your links"
            )

    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("new", new))
    app.add_handler(CommandHandler("help", help_command))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with app:
        await app.start()
        await app.updater.start_polling(timeout=10)  # type: ignore[union-attr]
        await stop.wait()
        await app.updater.stop()  # type: ignore[union-attr]
        await app.stop()


# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    slow_seconds: float = 0.0
    poll_links: int = 0
    plain: bool = False  # /start for everyone, then /help for everyone (issue 19)


@dataclass(frozen=True)
class Contender:
    label: str
    serve: str  # "bare" or "ours"
    variant: str = ""
    poll_links: bool = False  # in the poll scenario: seed the links for this run


@dataclass
class Run:
    """One run of one bot: latencies by (user, update kind), memory, CPU."""

    latency: dict[tuple[int, str], float] = field(default_factory=dict)
    wrong: int = 0  # replies that were not the expected answer (an error text, a failed send)
    ready: Memory | None = None
    end: Memory | None = None
    window: float = math.nan  # seconds from the first update queued to the last reply
    bot_cpu: float = math.nan  # CPU seconds the bot used in that window
    driver_cpu: float = math.nan  # … and the fake Bot API + sandbox (this process)
    notes: list[str] = field(default_factory=list)
    # Plain scenario, PayLinks only: write transactions (all; group commits) per burst.
    writes: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class Outcome:
    """A contender's runs in one scenario, pooled."""

    label: str
    users: list[int]
    runs: list[Run] = field(default_factory=list)

    def expected(self, users: set[int] | None = None) -> int:
        # Two updates per user in every scenario: /start and /new, or /start and /help.
        return 2 * len(users if users is not None else self.users) * len(self.runs)

    def answered(self, users: set[int] | None = None, kind: str | None = None) -> int:
        return len(self._values(users, kind))

    def stats(self, users: set[int] | None = None, kind: str | None = None) -> Stats:
        return Stats.of(self._values(users, kind))

    @property
    def wrong(self) -> int:
        return sum(run.wrong for run in self.runs)

    def _values(self, users: set[int] | None, kind: str | None) -> list[float]:
        return [
            seconds
            for run in self.runs
            for (user, what), seconds in run.latency.items()
            if (users is None or user in users) and (kind is None or what == kind)
        ]


def profile_path(
    args: argparse.Namespace, scenario: Scenario, contender: Contender, number: int
) -> Path | None:
    if args.profile is None:
        return None
    args.profile.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"\W+", "-", f"{scenario.name}-{contender.label}-{number + 1}").strip("-")
    return (args.profile / f"{name}.prof").resolve()


def key_of(user_id: int) -> str:
    return f"{KEY_PREFIX}{user_id}"


async def seed_poll_links(sandbox: Any, base_url: str, data_dir: Path, links: int) -> int:
    """``links`` sandbox links over 50 owners, stored in the bot's database as due now."""
    from bot.config import load_settings
    from bot.services import open_services

    settings = load_settings(
        _env_file=None,
        telegram_bot_token=TOKEN,
        telegram_api_base_url=base_url,
        dgs_api_base_url=sandbox.api_base_url,
        bot_data_dir=data_dir,
    )
    owners = 50
    stored = 0
    async with open_services(settings, sandbox_mode=True) as services:
        for index in range(owners):
            owner = POLL_OWNER + index
            key = key_of(owner)
            sandbox.seed_links(key, links // owners, title=f"Stall {index}")
            await services.repo.save_credential(owner, key)
            found = [link async for link in services.dgs.iter_links(key)]
            fingerprint = services.repo.key_fingerprint(key)
            async with services.db.transaction() as conn:
                for link in found:
                    await services.repo.upsert_link(
                        link,
                        owner_user_id=owner,
                        api_key_fingerprint=fingerprint,
                        chat_id=owner,
                        conn=conn,
                    )
            stored += len(found)
    return stored


async def link_gets(sandbox: Any) -> int:
    """Single-link GETs the sandbox received: only the poller makes them in this benchmark."""
    return sum(
        1 for r in await sandbox.requests() if r["method"] == "GET" and LINK_GET.search(r["path"])
    )


async def until(condition: Any, timeout: float, child: ChildBot, what: str) -> None:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        if not child.alive():
            raise RuntimeError(f"the bot died while {what}:\n{child.log_tail()}")
        if loop.time() > deadline:
            raise RuntimeError(f"timed out {what}:\n{child.log_tail()}")
        await asyncio.sleep(0.05)


def answered_chats(tg: FakeTelegram) -> set[int]:
    """Chats that have had both a text and a photo from the bot (one pass over the log)."""
    texts, photos = set(), set()
    for record in tg.requests:
        if record.method == "sendMessage" and record.ok:
            texts.add(int(record.chat_id))
        elif record.method == "sendPhoto" and record.ok:
            photos.add(int(record.chat_id))
    return texts & photos


def replies(tg: FakeTelegram, chat_id: int) -> tuple[list[Any], list[Any]]:
    """The bot's successful text and photo sends to ``chat_id``, in arrival order."""
    texts, photos = [], []
    for record in tg.requests:
        if record.status is None or str(record.chat_id) != str(chat_id):
            continue
        if record.method == "sendMessage":
            texts.append(record)
        elif record.method == "sendPhoto":
            photos.append(record)
    return texts, photos


async def measure(
    contender: Contender,
    scenario: Scenario,
    users: list[int],
    args: argparse.Namespace,
    number: int,
) -> Run:
    run = Run()
    with tempfile.TemporaryDirectory(prefix="paylinks-load-") as tmp:
        workdir = Path(tmp)
        data_dir = workdir / "data"
        from bot.devtools.sandbox import Sandbox

        async with FakeTelegram(token=TOKEN) as tg, Sandbox(test_mode=False) as sandbox:
            for user in users[::2] if scenario.slow_seconds else []:
                await sandbox.set_key_delay(key_of(user), scenario.slow_seconds)
            seeded = 0
            if scenario.poll_links and contender.poll_links:
                seeded = await seed_poll_links(sandbox, tg.base_url, data_dir, scenario.poll_links)
            env = {
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_API_BASE_URL": tg.base_url,
                "DGS_API_BASE_URL": sandbox.api_base_url,
                "BOT_DATA_DIR": str(data_dir),
                "LOG_LEVEL": "WARNING",
                "BENCH_VARIANT": contender.variant,
                "BENCH_STUB_SNIFFIO": "1" if args.stub_sniffio else "",
            }
            profile = profile_path(args, scenario, contender, number)
            if profile is not None:
                env["BENCH_PROFILE"] = str(profile)
            argv = [str(SCRIPT), "--serve", contender.serve]
            async with ChildBot(argv, env, workdir / "bot.log", cwd=workdir) as child:

                async def polling() -> bool:
                    return bool(tg.calls("getUpdates"))

                await until(polling, 60, child, "starting")
                warm = tg.user(WARM_USER, "Warm")
                await tg.send_text(warm, "/start")
                await tg.send_text(warm, "/new 5000 Warm up")

                async def warmed() -> bool:
                    texts, photos = replies(tg, WARM_USER)
                    return bool(texts and photos)

                await until(warmed, 60, child, "warming up")
                if seeded:

                    async def poller_busy() -> bool:
                        return await link_gets(sandbox) >= 100

                    await until(poller_busy, 60, child, "waiting for the poller")
                polls_before = await link_gets(sandbox) if seeded else 0
                run.ready = child.memory()

                people = {user: tg.user(user, f"Vendor {user}") for user in users}
                queued: dict[tuple[int, str], float] = {}
                for user in users:
                    await tg.send_text(people[user], "/start")
                    queued[user, START] = time.time()
                    await tg.send_text(people[user], f"/new 5000 Item {user}")
                    queued[user, NEW] = time.time()
                began = time.monotonic()
                bot_cpu, driver_cpu = child.cpu(), cpu_seconds(os.getpid())

                everyone = set(users)

                async def everyone_answered() -> bool:
                    return answered_chats(tg) >= everyone

                try:
                    await until(everyone_answered, args.timeout, child, "waiting for replies")
                except RuntimeError as exc:
                    run.notes.append(str(exc).splitlines()[0])
                window = time.monotonic() - began
                run.window = window
                run.bot_cpu = child.cpu() - bot_cpu
                run.driver_cpu = cpu_seconds(os.getpid()) - driver_cpu
                run.end = child.memory()
                if seeded:
                    polls = await link_gets(sandbox) - polls_before
                    run.notes.append(
                        f"{seeded} stored links; {polls_before} polled before the users came, "
                        f"{polls} while they were answered ({window:.1f} s, "
                        f"{polls / window:.0f} polls/s)"
                    )
            for user in users:
                texts, photos = replies(tg, user)
                good_texts = [r for r in texts if r.ok]
                if good_texts:
                    run.latency[user, START] = good_texts[0].time - queued[user, START]
                good_photos = [r for r in photos if r.ok]
                if good_photos:
                    run.latency[user, NEW] = good_photos[0].time - queued[user, NEW]
                run.wrong += len(texts) + len(photos) - len(good_texts[:1] + good_photos[:1])
            if child.returncode not in (0, None):
                run.notes.append(f"the bot exited with {child.returncode}")
    return run


async def read_counts(child: ChildBot, path: Path) -> tuple[int, int, int]:
    """(write transactions, group commits, updates in hand) from a PayLinks child."""
    path.unlink(missing_ok=True)  # noqa: ASYNC240 - a tiny local file
    os.kill(child.pid, signal.SIGUSR1)

    async def reported() -> bool:
        return path.exists()  # noqa: ASYNC240 - a tiny local file

    await until(reported, 10, child, "reading the write count")
    text = path.read_text()  # noqa: ASYNC240 - a tiny local file
    writes, flushes, busy = (int(part) for part in text.split())
    return writes, flushes, busy


async def settled_counts(child: ChildBot, path: Path) -> tuple[int, int]:
    """The counts once every update the bot took has finished its turn (persistence too)."""
    while True:
        writes, flushes, busy = await read_counts(child, path)
        if not busy:
            return writes, flushes
        await asyncio.sleep(0.02)


async def measure_plain(
    contender: Contender, users: list[int], args: argparse.Namespace, number: int
) -> Run:
    """The plain scenario: /start from everyone at once, then /help from everyone at once."""
    run = Run()
    ours = contender.serve == "ours"
    with tempfile.TemporaryDirectory(prefix="paylinks-load-") as tmp:
        workdir = Path(tmp)
        counts = workdir / "counts"
        from bot.devtools.sandbox import Sandbox

        async with FakeTelegram(token=TOKEN) as tg, Sandbox(test_mode=False) as sandbox:
            env = {
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_API_BASE_URL": tg.base_url,
                "DGS_API_BASE_URL": sandbox.api_base_url,
                "BOT_DATA_DIR": str(workdir / "data"),
                "LOG_LEVEL": "WARNING",
                "BENCH_VARIANT": contender.variant,
                "BENCH_STUB_SNIFFIO": "1" if args.stub_sniffio else "",
                "BENCH_COUNTS": str(counts),
            }
            profile = profile_path(args, SCENARIOS["plain"], contender, number)
            if profile is not None:
                env["BENCH_PROFILE"] = str(profile)
            argv = [str(SCRIPT), "--serve", contender.serve]
            async with ChildBot(argv, env, workdir / "bot.log", cwd=workdir) as child:

                async def polling() -> bool:
                    return bool(tg.calls("getUpdates"))

                await until(polling, 60, child, "starting")
                warm = tg.user(WARM_USER, "Warm")
                await tg.send_text(warm, "/start")
                await tg.send_text(warm, "/help")

                async def warmed() -> bool:
                    return len(replies(tg, WARM_USER)[0]) >= 2

                await until(warmed, 60, child, "warming up")
                run.ready = child.memory()
                people = {user: tg.user(user, f"Vendor {user}") for user in users}
                queued: dict[tuple[int, str], float] = {}
                began = time.monotonic()
                bot_cpu, driver_cpu = child.cpu(), cpu_seconds(os.getpid())
                for kind, text in ((START, "/start"), (HELP, "/help")):
                    before = await settled_counts(child, counts) if ours else (0, 0)
                    sent = {user: len(replies(tg, user)[0]) for user in users}
                    for user in users:
                        await tg.send_text(people[user], text)
                        queued[user, kind] = time.time()

                    async def burst_answered(sent: dict[int, int] = sent) -> bool:
                        return all(len(replies(tg, u)[0]) > sent[u] for u in users)

                    try:
                        await until(burst_answered, args.timeout, child, f"answering {text}")
                    except RuntimeError as exc:
                        run.notes.append(str(exc).splitlines()[0])
                    for user in users:
                        texts = [r for r in replies(tg, user)[0] if r.ok]
                        if len(texts) > sent[user]:
                            run.latency[user, kind] = texts[sent[user]].time - queued[user, kind]
                    if ours:
                        after = await settled_counts(child, counts)
                        run.writes[text] = (after[0] - before[0], after[1] - before[1])
                run.window = time.monotonic() - began
                run.bot_cpu = child.cpu() - bot_cpu
                run.driver_cpu = cpu_seconds(os.getpid()) - driver_cpu
                run.end = child.memory()
            for user in users:
                texts, photos = replies(tg, user)
                run.wrong += sum(1 for r in texts + photos if not r.ok)
            if child.returncode not in (0, None):
                run.notes.append(f"the bot exited with {child.returncode}")
    return run


def print_writes(outcomes: Sequence[Outcome], users: int) -> None:
    print(
        "  SQLite write transactions per 100 updates (all, at the bot's database boundary;"
        " of them group commits)"
    )
    for outcome in outcomes:
        for number, run in enumerate(outcome.runs, 1):
            if not run.writes:
                continue
            parts = [
                f"{what} {total * 100 / users:.0f} ({flushes * 100 / users:.0f})"
                for what, (total, flushes) in run.writes.items()
            ]
            worst = max(total * 100 / users for total, _ in run.writes.values())
            verdict_text = "yes" if worst <= PLAIN_MAX_WRITES else "NO"
            print(
                f"    {outcome.label:<38} run {number}: {', '.join(parts)};"
                f" ≤ {PLAIN_MAX_WRITES}: {verdict_text}"
            )


# --------------------------------------------------------------------------- reporting


def _ms(seconds: float) -> str:
    return "—" if math.isnan(seconds) else f"{seconds * 1000:8.0f} ms"


def _x(value: float) -> str:
    return "   —  " if math.isnan(value) else f"{value:5.2f}×"


def print_table(
    outcomes: Sequence[Outcome],
    baseline: Outcome,
    users: set[int] | None,
    heading: str,
    kinds: Sequence[str] = (START, NEW),
) -> None:
    print(f"  {heading}")
    print(
        f"    {'':<38} {'answered':>9} {'median':>11} {'p95':>11} {'max':>11}"
        f"   {'median×':>7} {'p95×':>7}"
    )
    base = baseline.stats(users)
    for outcome in outcomes:
        stats = outcome.stats(users)
        answered = f"{outcome.answered(users)}/{outcome.expected(users)}"
        print(
            f"    {outcome.label:<38} {answered:>9} "
            f"{_ms(stats.median):>11} {_ms(stats.p95):>11} {_ms(stats.max):>11}"
            f"   {_x(ratio(stats.median, base.median)):>7} {_x(ratio(stats.p95, base.p95)):>7}"
        )
        for kind in kinds:
            name = KIND_NAMES[kind]
            part = outcome.stats(users, kind)
            print(
                f"      {name:<36} {part.count:>9} {_ms(part.median):>11} {_ms(part.p95):>11}"
                f" {_ms(part.max):>11}"
            )


def print_resources(outcomes: Sequence[Outcome]) -> None:
    print("  the bot process: RSS in MiB (peak = the kernel's VmHWM), CPU while answering")
    for outcome in outcomes:
        runs = [run for run in outcome.runs if run.ready is not None and run.end is not None]
        if not runs:
            continue
        ready = max(run.ready.rss for run in runs if run.ready is not None)
        peak = max(run.end.peak for run in runs if run.end is not None)
        bot_cpu = sum(run.bot_cpu for run in runs)
        driver_cpu = sum(run.driver_cpu for run in runs)
        window = sum(run.window for run in runs)
        print(
            f"    {outcome.label:<38} RSS after warm-up {ready:6.1f}, peak {peak:6.1f};"
            f" CPU: bot {bot_cpu / window:4.0%}, fake+sandbox {driver_cpu / window:4.0%}"
            f" of {window / len(runs):4.1f} s"
        )
    for outcome in outcomes:
        for number, run in enumerate(outcome.runs, 1):
            for note in run.notes:
                print(f"  note ({outcome.label}, run {number}): {note}")
        if outcome.wrong:
            print(f"  note ({outcome.label}): {outcome.wrong} unexpected or failed replies")


def verdict(
    outcome: Outcome, baseline: Outcome, users: set[int] | None, target: float = TARGET
) -> str:
    mine, base = outcome.stats(users), baseline.stats(users)
    checks = [
        (
            "every update answered",
            outcome.answered(users) == outcome.expected(users) and not outcome.wrong,
        ),
        (f"median ≤ {target}×", ratio(mine.median, base.median) <= target),
        (f"p95 ≤ {target}×", ratio(mine.p95, base.p95) <= target),
    ]
    return ", ".join(f"{name}: {'yes' if ok else 'NO'}" for name, ok in checks)


def print_profile(outcome_label: str, path: Path, lines: int = 18) -> None:
    if not path.exists():
        return
    out = io.StringIO()
    pstats.Stats(str(path), stream=out).sort_stats("tottime").print_stats(lines)
    print(f"  cProfile of {outcome_label} (by own time; full file: {path}):")
    body = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(body) if "ncalls" in line), 0)
    for line in body[start : start + lines + 1]:
        print(f"    {line[:150]}")


# --------------------------------------------------------------------------- main


SCENARIOS = {
    "base": Scenario("base", "all users at once"),
    "slow": Scenario("slow", "the provider holds every call of half the users for {slow} s"),
    "poll": Scenario("poll", "PayLinks while its poller works through {links} due links"),
    "plain": Scenario(
        "plain", "plain replies: everyone sends /start at once, then /help at once", plain=True
    ),
    "shared": Scenario("shared", "one operator key: everyone sends one quick create at once"),
    "shared429": Scenario(
        "shared429", "one operator key, the provider answers 429 above {limit:g} requests/s"
    ),
}


async def run_scenario(scenario: Scenario, args: argparse.Namespace) -> None:
    users = list(range(FIRST_USER, FIRST_USER + args.users))
    variants = ["", *args.variant]
    ours = [Contender(f"PayLinks{f' [{v}]' if v else ''}", "ours", v) for v in variants]
    # Pairs to compare: (subject, baseline, the users judged, what they are).
    pairs: list[tuple[Contender, Contender]] = []
    if scenario.poll_links:
        contenders = []
        for contender in ours:
            without = Contender(f"{contender.label}, no stored links", "ours", contender.variant)
            with_links = Contender(
                f"{contender.label}, {scenario.poll_links} links due",
                "ours",
                contender.variant,
                poll_links=True,
            )
            contenders += [without, with_links]
            pairs.append((with_links, without))
    else:
        bare = [Contender("bare PTB (baseline)", "bare")]
        if args.threaded_baseline:
            bare.append(Contender("bare PTB, QR in a thread", "bare", "threaded"))
        contenders = [*bare, *ours]
        pairs = [(subject, base) for subject in ours for base in bare]
    outcomes = {c: Outcome(c.label, users) for c in contenders}
    for number in range(args.rounds):
        # Alternate the order, so a slow patch of the machine does not always hit one side.
        for contender in contenders if number % 2 == 0 else contenders[::-1]:
            if scenario.plain:
                run = await measure_plain(contender, users, args, number)
            else:
                run = await measure(contender, scenario, users, args, number)
            outcomes[contender].runs.append(run)

    listed = [outcomes[c] for c in contenders]
    groups: list[tuple[set[int] | None, str]] = [(None, "all updates")]
    if scenario.slow_seconds:
        fast = set(users[1::2])
        groups = [
            (fast, "users the provider answers at once (fast half)"),
            (set(users) - fast, f"users it holds {scenario.slow_seconds:g} s (slow half)"),
        ]
    kinds = (START, HELP) if scenario.plain else (START, NEW)
    for judged, heading in groups:
        print_table(listed, listed[0], judged, heading, kinds)
    judged, what = groups[0]
    target = PLAIN_TARGET if scenario.plain else TARGET
    for subject, base in pairs:
        print(
            f"  {subject.label} vs {base.label}, {what}: "
            f"{verdict(outcomes[subject], outcomes[base], judged, target)}"
        )
        if scenario.poll_links:
            mine, theirs = outcomes[subject].stats(), outcomes[base].stats()
            print(
                f"    added by the poller: median {(mine.median - theirs.median) * 1000:+.0f} ms,"
                f" p95 {(mine.p95 - theirs.p95) * 1000:+.0f} ms per update"
            )
    if scenario.plain:
        print_writes(listed, len(users))
    print_resources(listed)
    for contender in contenders:
        for number in range(args.rounds):
            profile = profile_path(args, scenario, contender, number)
            if profile is not None:
                print_profile(f"{contender.label}, run {number + 1}", profile)


async def main(args: argparse.Namespace) -> None:
    print(
        f"{args.users} users, each sending /start and /new 5000 Item N at the same moment; "
        f"{args.rounds} run(s) per bot, pooled. Bots run as child processes; the fake Bot API"
        f" and the sandbox run in this one ({os.cpu_count()} CPUs)."
    )
    print("Latency: update queued at the fake Bot API → the bot's reply arriving there.")
    for name in args.scenarios:
        template = SCENARIOS[name]
        scenario = Scenario(
            template.name,
            template.title.format(slow=args.slow_seconds, links=args.poll_links, limit=args.limit),
            slow_seconds=args.slow_seconds if name == "slow" else 0.0,
            poll_links=args.poll_links if name == "poll" else 0,
            plain=template.plain,
        )
        print(f"\n== {scenario.name}: {scenario.title}")
        if name in ("shared", "shared429"):
            users = list(range(FIRST_USER, FIRST_USER + args.users))
            await run_shared(args, users, limited=name == "shared429")
            continue
        await run_scenario(scenario, args)


def _parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument(
        "--scenarios",
        type=lambda text: [part for part in text.split(",") if part],
        default=["base", "slow", "poll"],
        help="comma-separated: base, slow, poll, plain, shared, shared429"
        " (default: base, slow, poll)",
    )
    parser.add_argument("--slow-seconds", type=float, default=2.0)
    parser.add_argument(
        "--limit", type=float, default=20.0, help="shared429: the sandbox's requests/s per key"
    )
    parser.add_argument("--poll-links", type=int, default=5000)
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="also run PayLinks with a diagnostic change: uncapped, wide-dgs (join with +)",
    )
    parser.add_argument(
        "--threaded-baseline",
        action="store_true",
        help="also run the bare bot with its QR made in a worker thread (a stricter baseline)",
    )
    parser.add_argument(
        "--stub-sniffio",
        action="store_true",
        help="make `import sniffio` succeed in every bot, as installing it would",
    )
    parser.add_argument("--rounds", type=int, default=1, help="runs per bot, pooled")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per run")
    parser.add_argument("--profile", type=Path, help="write a cProfile of each PayLinks run")
    parser.add_argument("--serve", choices=["ours", "bare"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    return args


if __name__ == "__main__":
    arguments = _parse()
    if arguments.serve:
        _serve(arguments.serve)
    else:
        asyncio.run(main(arguments))
