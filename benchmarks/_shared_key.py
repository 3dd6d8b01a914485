"""The shared operator key scenarios of ``load.py`` (issue 15).

- ``shared``: every user is allowed on one operator key (``DGS_API_KEY``) and sends one quick
  create (``/new 1000 Perf N``) at the same moment. The baseline, in the same run, is the bare
  python-telegram-bot bot making the same single POST to the same sandbox with the same key
  and replying with a plain ``qrcode`` photo. Target: median and p95 ≤ 1.3× the baseline.
- ``shared429``: the same burst while the sandbox answers 429 (with Retry-After) above
  ``--limit`` requests a second per key (20 by default); PayLinks runs once with the limit and
  once without. Targets: every create answered with its card, each link made by exactly one
  accepted POST (none twice), and the limited run's p95 ≤ 2× the unlimited run's.

Latency runs from the moment the update is queued at the fake Bot API to the moment the photo
reaches it. PayLinks runs with its default pacing (``DGS_REQUESTS_PER_SECOND`` unset).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import ChildBot, Stats, ratio

OPERATOR_KEY = "sk_test_operator_market_day_15"
SHARED_TARGET = 1.3
LIMITED_TARGET = 2.0


@dataclass
class SharedRun:
    label: str
    latency: dict[int, float] = field(default_factory=dict)
    wrong: int = 0
    posts_made: Counter[str] = field(default_factory=Counter)  # title -> POSTs answered 201
    refused: int = 0  # POSTs answered 429
    notes: list[str] = field(default_factory=list)

    @property
    def stats(self) -> Stats:
        return Stats.of(list(self.latency.values()))


async def measure_shared(
    label: str, serve: str, users: list[int], args: argparse.Namespace, limit: float | None
) -> SharedRun:
    import load

    from bot.devtools.sandbox import Sandbox
    from tests.fakes.telegram import FakeTelegram

    run = SharedRun(label)
    with tempfile.TemporaryDirectory(prefix="paylinks-shared-") as tmp:
        workdir = Path(tmp)
        async with FakeTelegram(token=load.TOKEN) as tg, Sandbox(test_mode=False) as sandbox:
            env = {
                "TELEGRAM_BOT_TOKEN": load.TOKEN,
                "TELEGRAM_API_BASE_URL": tg.base_url,
                "DGS_API_BASE_URL": sandbox.api_base_url,
                "DGS_API_KEY": OPERATOR_KEY,
                "DGS_ALLOWED_USERS": ",".join(str(u) for u in [load.WARM_USER, *users]),
                "BOT_DATA_DIR": str(workdir / "data"),
                "LOG_LEVEL": "WARNING",
                "BENCH_SHARED_KEY": OPERATOR_KEY,
                "BENCH_VARIANT": "",
            }
            env.pop("DGS_REQUESTS_PER_SECOND", None)
            if args.profile is not None:
                args.profile.mkdir(parents=True, exist_ok=True)
                slug = "".join(ch if ch.isalnum() else "-" for ch in label.lower())
                env["BENCH_PROFILE"] = str(args.profile / f"shared-{serve}-{slug}.prof")
            argv = [str(load.SCRIPT), "--serve", serve]
            async with ChildBot(argv, env, workdir / "bot.log", cwd=workdir) as child:

                async def polling() -> bool:
                    return bool(tg.calls("getUpdates"))

                await load.until(polling, 60, child, "starting")
                await tg.send_text(tg.user(load.WARM_USER, "Warm"), "/new 1000 Warm up")

                async def warmed() -> bool:
                    return bool(load.replies(tg, load.WARM_USER)[1])

                await load.until(warmed, 60, child, "warming up")
                await sandbox.clear_requests()
                sandbox.set_rate_limit(limit)
                people = {user: tg.user(user, f"Vendor {user}") for user in users}
                queued: dict[int, float] = {}
                for user in users:
                    await tg.send_text(people[user], f"/new 1000 Perf {user}")
                    queued[user] = time.time()

                async def everyone() -> bool:
                    return all(load.replies(tg, user)[1] for user in users)

                try:
                    await load.until(everyone, args.timeout, child, "waiting for the cards")
                except RuntimeError as exc:
                    run.notes.append(str(exc).splitlines()[0])
            for user in users:
                texts, photos = load.replies(tg, user)
                good = [r for r in photos if r.ok]
                if good:
                    run.latency[user] = good[0].time - queued[user]
                run.wrong += len(texts) + len(photos) - len(good[:1])
            for entry in await sandbox.requests():
                if entry["method"] != "POST" or not isinstance(entry["body"], dict):
                    continue
                if entry["status"] == 201:
                    run.posts_made[str(entry["body"].get("title"))] += 1
                elif entry["status"] == 429:
                    run.refused += 1
    return run


def _ms(seconds: float) -> str:
    return "—" if math.isnan(seconds) else f"{seconds * 1000:6.0f} ms"


def _print(runs: list[SharedRun], baseline: SharedRun, users: int) -> None:
    base = baseline.stats
    print(
        f"    {'':<34} {'answered':>9} {'median':>9} {'p95':>9} {'max':>9}  {'median×':>7}"
        f" {'p95×':>6}  POSTs 201/429"
    )
    for run in runs:
        stats = run.stats
        print(
            f"    {run.label:<34} {stats.count:>4}/{users:<4} {_ms(stats.median):>9}"
            f" {_ms(stats.p95):>9} {_ms(stats.max):>9}  {ratio(stats.median, base.median):6.2f}×"
            f" {ratio(stats.p95, base.p95):5.2f}×  {sum(run.posts_made.values())}/{run.refused}"
        )
        for note in run.notes:
            print(f"      note: {note}")


def _once_each(run: SharedRun, users: list[int]) -> bool:
    return run.posts_made == Counter(f"Perf {user}" for user in users)


async def run_shared(args: argparse.Namespace, users: list[int], limited: bool) -> None:
    if not limited:
        bare = await measure_shared("bare PTB + one POST (baseline)", "bare", users, args, None)
        ours = await measure_shared("PayLinks", "ours", users, args, None)
        _print([bare, ours], bare, len(users))
        mine, theirs = ours.stats, bare.stats
        checks = {
            "every card": mine.count == len(users) and not ours.wrong,
            "each link once": _once_each(ours, users),
            f"median ≤ {SHARED_TARGET}×": ratio(mine.median, theirs.median) <= SHARED_TARGET,
            f"p95 ≤ {SHARED_TARGET}×": ratio(mine.p95, theirs.p95) <= SHARED_TARGET,
        }
    else:
        free = await measure_shared("PayLinks, no limit", "ours", users, args, None)
        capped = await measure_shared(
            f"PayLinks, 429 above {args.limit:g}/s", "ours", users, args, args.limit
        )
        _print([free, capped], free, len(users))
        mine = capped.stats
        checks = {
            "every create succeeded": mine.count == len(users) and not capped.wrong,
            "none twice": _once_each(capped, users),
            f"p95 ≤ {LIMITED_TARGET}× the unlimited run": ratio(mine.p95, free.stats.p95)
            <= LIMITED_TARGET,
        }
    print("  " + ", ".join(f"{name}: {'yes' if ok else 'NO'}" for name, ok in checks.items()))


async def bare_post(title: str, amount: str) -> None:
    """The baseline's provider call: the same single POST PayLinks makes for a quick create."""
    global _BARE_HTTP
    import httpx

    if _BARE_HTTP is None:
        _BARE_HTTP = httpx.AsyncClient(
            base_url=os.environ["DGS_API_BASE_URL"],
            headers={"X-DGS-API-Key": os.environ["BENCH_SHARED_KEY"]},
            timeout=30,
        )
    body: dict[str, Any] = {
        "title": title,
        "amount_type": "fixed",
        "amount": int(amount) if amount.isdigit() else 0,
        "currency": "RWF",
    }
    response = await _BARE_HTTP.post("/payment-links", json=body)
    response.raise_for_status()


_BARE_HTTP: Any = None
