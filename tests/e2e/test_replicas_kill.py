"""The proof of replicas (issue 16, point 5): three bot processes on one PostgreSQL, one killed.

Three ``python -m bot`` processes in webhook mode share one PostgreSQL database; the local Bot
API posts each update to the next replica in turn (``webhook_round_robin``, as a load balancer
would). Vendors run forms, quick creates and ``/links``; payments land. Once the first
payments are told, the forms go on and one replica is killed with SIGKILL while it holds
updates (frozen with SIGSTOP while the test reads what it holds, so that it still holds it
when it dies); another is started and takes its place behind the balancer. Afterwards every update
was answered, every update handled once apart from those the killed replica had in hand (each
at most twice), every form that replica touched was finished by another, every payment told
exactly once, and no link made twice.

The first payments are all told before the kill, so no alert is in flight at it: a dead
replica's alert in flight waits out ``OUTBOX_LEASE_SECONDS`` (5 minutes) before another sends
it, which this test would spend waiting (``tests/e2e/test_replicas_alerts.py`` covers a row in
flight among replicas). The updates the killed replica held wait out ``UPDATE_LEASE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import asyncpg

from bot.devtools.sandbox import Sandbox
from tests.conftest import eventually
from tests.e2e.test_process import OPERATOR_KEY, bot_env
from tests.e2e.test_webhook import HOOK_PATH, SECRET, free_port
from tests.fakes.telegram import FakeMessage, FakeTelegram, FakeUser

# The 200 users: about 65 s on a 2-core machine. PAYLINKS_REPLICA_KILL_USERS sets
# another number (a quick local run).
USERS = int(os.environ.get("PAYLINKS_REPLICA_KILL_USERS", "200"))
FIRST_USER = 20_000
PAID = "Payment received"
# A step's answer may wait for the killed replica's lease on the chat (30 s) to run out.
STEP_TIMEOUT = 90.0


class Replica:
    """``python -m bot`` in webhook mode on its own port; its log goes to a file (a pipe
    nobody reads would fill up and stop the process)."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        folder.mkdir(parents=True)
        self.port = free_port()
        self.hook = f"http://127.0.0.1:{self.port}{HOOK_PATH}"
        self.env = {
            **env,
            "BOT_DATA_DIR": str(folder),
            "HOME": str(folder),
            "WEBHOOK_URL": self.hook,
            "PORT": str(self.port),
        }
        self.log = folder / "stderr.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, tg: FakeTelegram) -> None:
        calls = len(tg.calls("setWebhook"))
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                env=self.env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
            )

        async def webhook_set() -> bool:
            assert self.proc is not None and self.proc.returncode is None, self.logs
            return len(tg.calls("setWebhook")) > calls

        await eventually(webhook_set, timeout=60)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    @property
    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Crowd:
    """The vendors, each walking through its steps as a person would: one at a time, each
    step once the answer to the last has come."""

    def __init__(self, tg: FakeTelegram, sandbox: Sandbox) -> None:
        self.tg, self.sandbox = tg, sandbox
        self.midway = asyncio.Event()  # forms wait here after their third step

    async def say(
        self, user: FakeUser, text: str, answer: Callable[[FakeMessage], bool]
    ) -> FakeMessage:
        mark = self.tg.mark()
        await self.tg.send_text(user, text)
        return await self.tg.wait_for_message(user.id, answer, STEP_TIMEOUT, since=mark)

    async def tap(
        self, user: FakeUser, on: FakeMessage, label: str, answer: Callable[[FakeMessage], bool]
    ) -> FakeMessage:
        mark = self.tg.mark()
        await self.tg.press(user, on, text=label)
        return await self.tg.wait_for_message(user.id, answer, STEP_TIMEOUT, since=mark)

    async def form(self, user: FakeUser, title: str) -> None:
        kind = await self.say(user, "/new", lambda m: "Fixed amount" in m.button_texts)
        await self.tap(user, kind, "Fixed amount", lambda m: "payment for" in m.content)
        currency = await self.say(user, title, lambda m: "Which currency" in m.content)
        await self.midway.wait()
        await self.tap(user, currency, "RWF", lambda m: "How much" in m.content)
        summary = await self.say(user, "1,000", lambda m: "Check your link" in m.content)
        card = await self.tap(user, summary, "✅ Create link", lambda m: m.photo is not None)
        assert title in card.content
        await self.say(user, "/links", lambda m: "Your active links" in m.content)

    async def quick(self, user: FakeUser, title: str) -> None:
        card = await self.say(user, f"/new 1000 {title}", lambda m: m.photo is not None)
        assert title in card.content
        await self.pay(title)
        await self.say(user, "/links", lambda m: "Your active links" in m.content)

    async def pay(self, title: str) -> None:
        (link,) = [x for x in self.links() if x.title == title]
        await self.sandbox.add_charge(OPERATOR_KEY, link.id, 1000, payer_name="Aline Uwase")

    def links(self) -> list[object]:
        return list(self.sandbox.store.list_links(OPERATOR_KEY, limit=10 * USERS, offset=0))


def told(tg: FakeTelegram, user: FakeUser) -> int:
    return sum(1 for m in tg.sent_to(user) if PAID in m.content)


async def test_three_replicas_one_killed_lose_nothing_and_repeat_nothing(
    tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path, postgres_url: str
) -> None:
    users = [tg.user(FIRST_USER + i, f"Vendor {i}") for i in range(USERS)]
    forms = users[0::2]
    quicks = users[1::2]
    title = {u.id: f"{'Form' if u in forms else 'Quick'} {u.id}" for u in users}
    env = bot_env(
        tg,
        tmp_path,
        DGS_API_BASE_URL=sandbox.api_base_url,
        DGS_API_KEY=OPERATOR_KEY,
        DGS_ALLOWED_USERS=",".join(str(u.id) for u in users),
        DATABASE_URL=postgres_url,
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_LISTEN="127.0.0.1",
        LOG_LEVEL="WARNING",
    )
    fleet = [Replica(env, tmp_path / name) for name in ("a", "b", "c", "d")]
    a, b, c, d = fleet
    db = await asyncpg.connect(postgres_url)
    try:
        for replica in (a, b, c):
            await replica.start(tg)
        tg.webhook_round_robin = [a.hook, b.hook, c.hook]
        # Replica ids, in the order they started (each wrote its heartbeat before its webhook).
        started = await db.fetch("SELECT replica_id FROM replicas ORDER BY started_at")
        assert len(started) == 3
        victim = started[2]["replica_id"]

        crowd = Crowd(tg, sandbox)
        walks = [
            asyncio.create_task(
                crowd.form(u, title[u.id]) if u in forms else crowd.quick(u, title[u.id])
            )
            for u in users
        ]
        quick_walks = [w for w, u in zip(walks, users, strict=True) if u in quicks]

        async def first_payments_told() -> bool:
            for walk in walks:  # a failed step fails the test now, with its reason
                if walk.done():
                    walk.result()
            if not all(w.done() for w in quick_walks):
                return False
            if not all(told(tg, u) >= 1 for u in quicks):
                return False
            unsent = await db.fetchval("SELECT COUNT(*) FROM outbox WHERE state <> 'sent'")
            return bool(unsent == 0)

        await eventually(first_payments_told, timeout=240)

        # The forms go on; C is killed while it holds some of their updates.
        crowd.midway.set()

        async def victim_frozen_holding_updates() -> bool:
            # Frozen (SIGSTOP) while the inbox is read, so what it holds cannot finish between
            # the look and the kill; let go again when it holds nothing.
            c.signal(signal.SIGSTOP)
            held = await db.fetchval(
                "SELECT COUNT(*) FROM inbox WHERE leased_by = $1 AND done_at IS NULL", victim
            )
            if not held:
                c.signal(signal.SIGCONT)
            return bool(held)

        await eventually(victim_frozen_holding_updates, timeout=60)
        in_hand = {
            r["update_id"]: r["chat_key"]
            for r in await db.fetch(
                "SELECT update_id, chat_key FROM inbox WHERE leased_by = $1 AND done_at IS NULL",
                victim,
            )
        }
        await c.kill()
        assert in_hand
        touched_by_victim = {
            r["chat_key"]
            for r in await db.fetch("SELECT chat_key FROM inbox WHERE leased_by = $1", victim)
        }
        await d.start(tg)
        tg.webhook_round_robin = [a.hook, b.hook, d.hook]

        await asyncio.gather(*walks)
        # The forms' payments land after the kill.
        for user in forms:
            await crowd.pay(title[user.id])

        async def everything_settled() -> bool:
            if not all(told(tg, u) >= 1 for u in users):
                return False
            waiting = await db.fetchval("SELECT COUNT(*) FROM inbox WHERE done_at IS NULL")
            unsent = await db.fetchval("SELECT COUNT(*) FROM outbox WHERE state <> 'sent'")
            return bool(waiting == 0 and unsent == 0)

        await eventually(everything_settled, timeout=240)

        # Every update handled once, apart from those in hand at the kill (at most twice).
        rows = await db.fetch("SELECT update_id, chat_key, leased_by, attempts FROM inbox")
        assert len(rows) == 7 * len(forms) + 2 * len(quicks)  # each update kept once
        repeated = {r["update_id"] for r in rows if r["attempts"] > 1}
        assert repeated <= set(in_hand)
        assert all(r["attempts"] <= 2 for r in rows)
        # What the victim held was finished by another replica.
        assert all(r["leased_by"] != victim for r in rows if r["update_id"] in in_hand)

        # Every form the victim took part in was finished on another replica.
        form_ids = {u.id for u in forms}
        touched_forms = touched_by_victim & form_ids
        assert touched_forms
        last_step = {
            r["chat_key"]: r["leased_by"]
            for r in sorted(rows, key=lambda r: r["update_id"])
            if r["chat_key"] in touched_forms
        }
        assert victim not in last_step.values()

        # Every payment told exactly once; each user's answers counted: once each, a repeat
        # only in a chat whose update was in hand at the kill.
        assert all(told(tg, u) == 1 for u in users)
        repeat_chats = {in_hand[i] for i in repeated}
        counts: dict[str, list[int]] = {"form": [], "quick": []}
        for user in users:
            sent = len(tg.sent_to(user))
            if user.id not in repeat_chats:
                counts["form" if user in forms else "quick"].append(sent)
        for kind, seen in counts.items():
            assert len(set(seen)) == 1, (kind, sorted(set(seen)))
        for user in users:
            if user.id in repeat_chats:
                usual = counts["form" if user in forms else "quick"][0]
                assert usual <= len(tg.sent_to(user)) <= usual + 1

        # No link made twice: one POST, one link, per create.
        posts = [
            r
            for r in await sandbox.requests()
            if r["method"] == "POST" and r["path"].rstrip("/").endswith("/payment-links")
        ]
        assert len(posts) == USERS
        made = [x.title for x in crowd.links()]  # type: ignore[attr-defined]
        assert sorted(made) == sorted(title.values())

        for replica in (a, b, d):
            assert "Traceback" not in replica.logs, replica.logs[-3000:]
    finally:
        await db.close()
        for replica in fleet:
            await replica.kill()
