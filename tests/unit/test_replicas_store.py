"""The store's side of N replicas on one PostgreSQL (issue 16, point 3): the inbox of updates,
leases on polls and outbox rows, once-only jobs, the persistence reloaded per update.

A replica here is what one process holds: its own ``Database`` (its own pool) and ``Repo`` on
the same server. The races run for real: claims of two replicas at the same moment, on
separate connections, with a pause inside the claiming transaction to make them overlap.
Tests marked "both engines" run on SQLite too (one process: the same rules, no race).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram.ext import ConversationHandler
from telegram.ext._utils.trackingdict import TrackingDict

from bot.dgs.models import LinkDetails
from bot.store import Database, KeyVault, Repo
from bot.store.inbox import INBOX_CHANNEL
from bot.store.outbox import OUTBOX_LEASE_SECONDS
from bot.store.persistence import SQLitePersistence
from tests.unit import test_store
from tests.unit.test_store import T0, Clock, make_link

# The store tests' fixtures: a clock, a vault, the database on each engine, its Repo.
clock, vault, db, repo = test_store.clock, test_store.vault, test_store.db, test_store.repo

LEASE = 30.0


@pytest.fixture
async def replicas(
    postgres_url: str, vault: KeyVault, clock: Clock
) -> AsyncIterator[tuple[Repo, Repo]]:
    """Two replicas' stores on one PostgreSQL database (one clock: the same wall time)."""
    first = await Database.open(postgres_url)
    second = await Database.open(postgres_url)
    try:
        yield Repo(first, vault, clock=clock), Repo(second, vault, clock=clock)
    finally:
        await first.close()
        await second.close()


def body(update_id: int, chat_id: int) -> str:
    return json.dumps({"update_id": update_id, "chat": chat_id})


# --- the inbox ------------------------------------------------------------------------------


async def test_an_update_posted_twice_is_kept_once(repo: Repo) -> None:  # both engines
    assert await repo.add_update(7, 100, body(7, 100)) is True
    assert await repo.add_update(7, 100, body(7, 100)) is False  # Telegram's repeat
    claimed = await repo.claim_update("a", LEASE)
    assert claimed is not None and claimed.update_id == 7
    assert await repo.finish_update(7, "a")
    # Handled, and posted again later: still recognised, never handled a second time.
    assert await repo.add_update(7, 100, body(7, 100)) is False
    assert await repo.claim_update("a", LEASE) is None
    assert await repo.waiting_updates() == 0


async def test_a_chat_is_held_by_one_claim_at_a_time_in_update_order(repo: Repo) -> None:
    # both engines
    for update_id, chat in [(1, 100), (2, 100), (3, 200), (4, 100)]:
        await repo.add_update(update_id, chat, body(update_id, chat))
    first = await repo.claim_update("a", LEASE)
    second = await repo.claim_update("b", LEASE)
    assert (first and first.update_id, second and second.update_id) == (1, 3)
    # Chat 100's next update waits for its first; chat 200 has nothing more.
    assert await repo.claim_update("b", LEASE) is None
    assert await repo.finish_update(1, "a")
    nxt = await repo.claim_update("b", LEASE)
    assert nxt is not None and nxt.update_id == 2
    assert await repo.finish_update(2, "b")
    last = await repo.claim_update("a", LEASE)
    assert last is not None and last.update_id == 4


async def test_an_expired_lease_is_taken_over(repo: Repo, clock: Clock) -> None:
    # both engines
    await repo.add_update(1, 100, body(1, 100))
    await repo.add_update(2, 100, body(2, 100))
    held = await repo.claim_update("dead", LEASE)
    assert held is not None and held.update_id == 1
    clock.advance(LEASE - 1)
    assert await repo.claim_update("alive", LEASE) is None  # still held
    clock.advance(2)  # the dead replica never renewed
    taken = await repo.claim_update("alive", LEASE)
    assert taken is not None and (taken.update_id, taken.attempts) == (1, 2)
    # The dead replica, back from a freeze, can no longer finish or renew it.
    assert not await repo.finish_update(1, "dead")
    assert not await repo.renew_update_lease(1, "dead", LEASE)
    assert await repo.finish_update(1, "alive")
    after = await repo.claim_update("alive", LEASE)
    assert after is not None and after.update_id == 2


async def test_two_replicas_never_hold_one_chat_at_once_and_keep_its_order(
    replicas: tuple[Repo, Repo],
) -> None:
    chats = [100, 200, 300]
    update_id = 0
    for _ in range(8):
        for chat in chats:
            update_id += 1
            await replicas[0].add_update(update_id, chat, body(update_id, chat))
    held: dict[int, str] = {}
    handled: dict[int, list[int]] = {chat: [] for chat in chats}
    overlaps: list[tuple[int, int]] = []
    violations: list[str] = []

    async def worker(name: str, repo: Repo) -> None:
        idle = 0
        while idle < 20:
            claimed = await repo.claim_update(name, LEASE)
            if claimed is None:
                idle += 1
                await asyncio.sleep(0.01)
                continue
            idle = 0
            chat = claimed.chat_key
            if chat in held:
                violations.append(f"{name} took chat {chat} held by {held[chat]}")
            held[chat] = name
            if len(held) > 1:
                overlaps.append(tuple(sorted(held)))  # type: ignore[arg-type]
            await asyncio.sleep(0.02)  # handling it
            handled[chat].append(claimed.update_id)
            del held[chat]
            assert await repo.finish_update(claimed.update_id, name)

    await asyncio.gather(
        *(worker(f"{side}{n}", replicas[side]) for side in (0, 1) for n in range(3))
    )
    assert violations == []
    for chat in chats:
        ids = handled[chat]
        assert ids == sorted(ids) and len(ids) == 8  # each once, in order
    assert overlaps, "different chats never ran at the same time"


async def test_an_update_kept_by_one_replica_wakes_the_others_at_once(
    replicas: tuple[Repo, Repo],
) -> None:
    woke = asyncio.Event()
    async with replicas[1]._db.listening(INBOX_CHANNEL, woke.set):  # type: ignore[attr-defined]
        await replicas[0].add_update(1, 100, body(1, 100))
        await asyncio.wait_for(woke.wait(), timeout=5)
        woke.clear()
        await replicas[0].add_update(1, 100, body(1, 100))  # a repeat: kept once, no wake-up
        await asyncio.sleep(0.3)
        assert not woke.is_set()


async def test_the_replica_posted_to_takes_a_free_chats_update_itself(repo: Repo) -> None:
    # both engines
    added, mine = await repo.add_and_claim(1, 100, body(1, 100), "a", LEASE)
    assert added and mine is not None and (mine.update_id, mine.attempts) == (1, 1)
    assert await repo.claim_update("b", LEASE) is None  # held: nobody else takes it
    # The chat's next update waits for the first: not taken by the replica posted to.
    added, second = await repo.add_and_claim(2, 100, body(2, 100), "b", LEASE)
    assert added and second is None
    assert await repo.claim_update("b", LEASE) is None
    # A repeat of one already kept: neither kept nor taken.
    assert await repo.add_and_claim(1, 100, body(1, 100), "b", LEASE) == (False, None)
    assert await repo.finish_update(1, "a")
    nxt = await repo.claim_update("b", LEASE)
    assert nxt is not None and nxt.update_id == 2


async def test_an_update_posted_late_waits_for_the_chats_held_one(repo: Repo) -> None:
    # both engines: Telegram posted 2 before 1; 2 is in hand when 1 comes.
    _, two = await repo.add_and_claim(2, 100, body(2, 100), "a", LEASE)
    assert two is not None
    _, one = await repo.add_and_claim(1, 100, body(1, 100), "b", LEASE)
    assert one is None
    assert await repo.claim_update("b", LEASE) is None  # the chat is held
    assert await repo.finish_update(2, "a")
    late = await repo.claim_update("b", LEASE)
    assert late is not None and late.update_id == 1


async def test_two_replicas_posted_one_chats_updates_at_once_take_one(
    replicas: tuple[Repo, Repo],
) -> None:
    for round_ in range(10):
        first, second = 2 * round_ + 1, 2 * round_ + 2
        chat = 1000 + round_
        results = await asyncio.gather(
            replicas[0].add_and_claim(first, chat, body(first, chat), "a", LEASE),
            replicas[1].add_and_claim(second, chat, body(second, chat), "b", LEASE),
        )
        assert [added for added, _ in results] == [True, True]
        taken = [claimed for _, claimed in results if claimed is not None]
        assert len(taken) == 1, f"round {round_}: {len(taken)} replicas hold chat {chat}"


async def test_the_replica_finishing_a_chats_update_takes_its_next(repo: Repo) -> None:
    # both engines
    _, first = await repo.add_and_claim(1, 100, body(1, 100), "a", LEASE)
    assert first is not None
    await repo.add_and_claim(2, 100, body(2, 100), "b", LEASE)  # waits: the chat is held
    await repo.add_and_claim(3, 200, body(3, 200), "b", LEASE)  # another chat: b's own
    finished, following = await repo.finish_and_take_next(1, 100, "a", LEASE)
    assert finished and following is not None and following.update_id == 2
    assert await repo.claim_update("b", LEASE) is None  # both chats are held
    assert await repo.finish_and_take_next(2, 100, "a", LEASE) == (True, None)
    # Finished already (or taken over by another): nothing finished, nothing taken.
    assert await repo.finish_and_take_next(1, 100, "a", LEASE) == (False, None)


async def test_an_update_taken_by_its_replica_wakes_nobody(
    replicas: tuple[Repo, Repo], clock: Clock
) -> None:
    woke = asyncio.Event()
    async with replicas[1]._db.listening(INBOX_CHANNEL, woke.set):  # type: ignore[attr-defined]
        _, mine = await replicas[0].add_and_claim(1, 100, body(1, 100), "a", LEASE)
        assert mine is not None
        await asyncio.sleep(0.3)
        assert not woke.is_set()
        _, waiting = await replicas[0].add_and_claim(2, 100, body(2, 100), "a", LEASE)
        assert waiting is None  # the chat's holder takes it as it finishes: nobody is woken
        await asyncio.sleep(0.3)
        assert not woke.is_set()
    # Its holder dead (the lease ran out), the chat's next update wakes every replica.
    woke.clear()
    async with replicas[1]._db.listening(INBOX_CHANNEL, woke.set):  # type: ignore[attr-defined]
        clock.advance(LEASE + 1)
        _, third = await replicas[0].add_and_claim(3, 100, body(3, 100), "a", LEASE)
        assert third is None
        await asyncio.wait_for(woke.wait(), timeout=5)


# --- polls ----------------------------------------------------------------------------------


async def due_links(repo: Repo, fingerprint: str, count: int) -> None:
    await repo.save_credential(1, "key-1")
    for n in range(count):
        await repo.upsert_link(
            make_link(f"l{n:03}"),
            owner_user_id=1,
            api_key_fingerprint=fingerprint,
            next_poll_at=T0,
        )


async def claim_links(repo: Repo, now: float, pause: float = 0.0) -> list[str]:
    """What one replica's poller takes in one pull: the claim and the reschedule (the next
    poll a minute on, if nothing is new), in one transaction as ``Poller._pull`` does, held
    ``pause`` s to overlap with the other replica's."""
    async with repo._db.transaction() as conn:
        targets = await repo.claim_for_poll(now, limit=40, per_key=40, conn=conn)
        await asyncio.sleep(pause)
        await repo.reschedule_polls([(t.link_id, now + 60, 0) for t in targets], conn=conn)
    return [t.link_id for t in targets]


async def test_two_pollers_never_claim_the_same_due_link(replicas: tuple[Repo, Repo]) -> None:
    await due_links(replicas[0], replicas[0].key_fingerprint("key-1"), 60)
    everything = {f"l{n:03}" for n in range(60)}
    # Both claim at once, each holding its claim open a moment: one takes its 40, the other
    # passes over what that one holds instead of waiting for it or taking it too.
    got = await asyncio.gather(
        claim_links(replicas[0], T0 + 5, 0.3), claim_links(replicas[1], T0 + 5, 0.3)
    )
    assert set(got[0]).isdisjoint(got[1])
    assert sorted(map(len, got)) == [0, 40]
    holder = 0 if len(got[0]) == 40 else 1
    owner, other, a = replicas[holder], replicas[1 - holder], got[holder]
    # Once that claim committed, the other takes the rest, and only the rest.
    rest = await claim_links(other, T0 + 5)
    assert set(rest) == everything - set(a)
    # The sweep sees payments on two of the owner's links: due now. The owner is polling them
    # still, so the other leaves them; once the owner saved one's result, it is free.
    await other.poll_soon(a[:2], T0 + 6)
    assert await claim_links(other, T0 + 7) == []
    details = LinkDetails.model_validate({"link": make_link(a[0]).model_dump()})
    await owner.save_snapshot(
        None, a[0], details, next_poll_at=T0 + 6, quiet_steps=0, final_polled=False
    )
    assert await claim_links(other, T0 + 8) == [a[0]]
    # The owner died polling the rest: at their scheduled poll, they come back to the other.
    back = await claim_links(other, T0 + 66) + await claim_links(other, T0 + 66)
    assert sorted(back) == sorted(set(a[1:]) | set(rest))


async def test_alone_on_sqlite_a_claim_is_todays_due_list(repo: Repo, db: Database) -> None:
    if db.dialect != "sqlite":
        pytest.skip("the SQLite path only")
    await due_links(repo, repo.key_fingerprint("key-1"), 3)
    assert await claim_links(repo, T0 + 5) == ["l000", "l001", "l002"]
    # No lease: a link due again is due at once (a stop put it back to now).
    await repo.reschedule_polls([("l000", T0 + 5, 0)])
    assert await claim_links(repo, T0 + 5) == ["l000"]


# --- the outbox -----------------------------------------------------------------------------


async def test_a_row_in_flight_at_a_live_replica_is_left_alone_until_its_lease_runs_out(
    replicas: tuple[Repo, Repo], clock: Clock
) -> None:
    first, second = replicas
    await first.enqueue(None, 500, "alert", {"n": 1})
    (row,) = await first.claim_due(T0, 10)
    # Another replica starts (recovering rows "left in flight by a dead process") and sends:
    # the first replica is alive and sending, so neither touches its row.
    assert await second.recover_in_flight(replicated=True) == 0
    assert await second.claim_due(T0 + 1, 10) == []
    # The first never heard back from Telegram and died: the row is due again, to anyone.
    later = T0 + OUTBOX_LEASE_SECONDS + 1
    (again,) = await second.claim_due(later, 10)
    assert (again.id, again.attempts) == (row.id, 2)
    assert await second.mark_sent(again.id)


async def test_two_senders_racing_never_claim_one_row(replicas: tuple[Repo, Repo]) -> None:
    first, second = replicas
    for chat in range(40):
        await first.enqueue(None, 1000 + chat, "alert", {"n": chat})
    got = await asyncio.gather(*(r.claim_due(T0, 10) for r in (first, second) * 3))
    ids = [row.id for rows in got for row in rows]
    assert len(ids) == len(set(ids))
    assert len(ids) == 40


# --- once-only jobs -------------------------------------------------------------------------


async def test_a_once_only_job_runs_on_one_replica_per_round(
    replicas: tuple[Repo, Repo], clock: Clock
) -> None:
    first, second = replicas
    every = 600.0
    won = await asyncio.gather(
        *(repo.take_job("sweep", name, every) for name, repo in [("a", first), ("b", second)] * 4)
    )
    assert sum(won) == 1
    clock.advance(every / 2)
    assert not await second.take_job("sweep", "b", every)
    clock.advance(every / 2)  # the next round: one of them again
    assert await second.take_job("sweep", "b", every)
    assert not await first.take_job("sweep", "a", every)


async def test_live_replicas_are_counted_from_their_heartbeats(repo: Repo, clock: Clock) -> None:
    # both engines
    await repo.replica_beat("a")
    await repo.replica_beat("b")
    assert await repo.live_replicas(15) == 2
    clock.advance(10)
    await repo.replica_beat("a")
    clock.advance(10)
    assert await repo.live_replicas(15) == 1  # b stopped beating
    await repo.replica_gone("a")
    assert await repo.live_replicas(15) == 1  # the caller itself, at least


# --- the persistence, reloaded per update ---------------------------------------------------


def app_dicts() -> tuple[Any, Any, dict[str, TrackingDict[Any, object]]]:
    from collections import defaultdict

    return defaultdict(dict), defaultdict(dict), {"create": TrackingDict()}


async def test_a_step_taken_on_another_replica_is_what_this_one_sees_next(
    replicas: tuple[Repo, Repo],
) -> None:
    one = SQLitePersistence(replicas[0]._db)
    two = SQLitePersistence(replicas[1]._db)
    # Both loaded at start (PTB's initialize): the vendor had the form at its title step.
    await one.update_user_data(42, {"form": {"step": "title"}})
    await one.update_conversation("create", (42, 42), "title")
    users_two, chats_two, convs_two = app_dicts()
    users_two.update(await two.get_user_data())
    convs_two["create"].update_no_track(await two.get_conversations("create"))
    # Replica one takes the next step.
    await one.update_user_data(42, {"form": {"step": "amount", "title": "Tea"}})
    await one.update_conversation("create", (42, 42), "amount")
    kept = users_two[42]

    await two.reload_for(users_two, chats_two, convs_two, user_id=42, chat_id=42)
    assert users_two[42] == {"form": {"step": "amount", "title": "Tea"}}
    assert users_two[42] is kept  # refilled in place: a handler holding it sees it
    assert convs_two["create"][(42, 42)] == "amount"
    assert convs_two["create"].pop_accessed_keys() == set()  # nothing to write back
    # The vendor presses Back on replica two: the title step again. Replica two loaded that
    # very data at start; it is written all the same (what it remembers is the database's).
    await two.update_user_data(42, {"form": {"step": "title"}})
    await two.update_conversation("create", (42, 42), "title")
    fresh = SQLitePersistence(replicas[0]._db)
    assert (await fresh.get_user_data())[42] == {"form": {"step": "title"}}
    assert (await fresh.get_conversations("create"))[(42, 42)] == "title"
    # The form ends on replica one; replica two hears it at the next update.
    await one.reload_for(*app_dicts()[:2], {"create": TrackingDict()}, user_id=42, chat_id=42)
    await one.update_conversation("create", (42, 42), ConversationHandler.END)
    await one.update_user_data(42, {})
    await two.reload_for(users_two, chats_two, convs_two, user_id=42, chat_id=42)
    assert (42, 42) not in convs_two["create"] and users_two[42] == {}
