"""The provider pacer (issue 15): people ahead of background work, bursts allowed, the rate
learned from 429s and never above an explicit ceiling. Time is a fake clock; the client-level
tests go through ``DGSClient`` with the provider at the HTTP boundary (``httpx.MockTransport``).
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from bot.dgs.client import DGSClient
from bot.dgs.pacing import DEFAULT_BURST, ProviderPacer, mark_background

KEY = "sk_test_pacing_key_0001"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def drain(pacer: ProviderPacer, tokens: int) -> None:
    for _ in range(tokens):
        assert pacer.reserve(KEY) == 0.0


# ----------------------------------------------------------------- bursts and priority


def test_a_burst_goes_at_once_then_the_rate_spaces_calls(clock: Clock) -> None:
    pacer = ProviderPacer(10.0, burst=20, clock=clock)
    waits = [pacer.reserve(KEY) for _ in range(25)]
    assert waits[:20] == [0.0] * 20
    assert waits[20:] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])


def test_background_work_never_takes_the_tokens_people_need(clock: Clock) -> None:
    pacer = ProviderPacer(10.0, burst=20, clock=clock)
    taken = 0
    while pacer.take_spare(KEY) == 0.0:
        taken += 1
    assert 0 < taken < 20  # it stopped while tokens remained
    # Half the burst is still there for people, at once.
    assert [pacer.reserve(KEY) for _ in range(10)] == [0.0] * 10


def test_a_person_goes_ahead_of_background_work_already_waiting(clock: Clock) -> None:
    pacer = ProviderPacer(10.0, burst=4, clock=clock)
    drain(pacer, 4)
    background_wait = pacer.take_spare(KEY)  # a poll finds no spare token: it waits
    assert background_wait > 0
    person_wait = pacer.reserve(KEY)  # a person arriving later takes the next token
    assert person_wait == pytest.approx(0.1)
    clock.now = background_wait
    # When the poll asks again, the person's token is spent and it must wait once more.
    assert pacer.take_spare(KEY) > 0


async def test_interactive_calls_are_sent_before_queued_polls() -> None:
    sent: list[int] = []

    async def provider(request: httpx.Request) -> httpx.Response:
        sent.append(int(request.url.params["page"]))
        return httpx.Response(
            200, json={"status": "success", "links": [], "pagination": {"total_pages": 0}}
        )

    # Real time at 100 calls a second: a few tenths of a second in all.
    async with DGSClient(
        "https://dgs.test/v2",
        transport=httpx.MockTransport(provider),
        requests_per_second_per_key=100.0,
        burst_per_key=4,
    ) as client:
        await asyncio.gather(*(client.list_links(KEY, page=page) for page in (1, 2, 3, 4)))

        async def poll(page: int) -> None:
            mark_background()
            await client.list_links(KEY, page=page)

        polls = [asyncio.create_task(poll(page)) for page in range(10, 16)]
        await asyncio.sleep(0)  # the polls wait for spare tokens
        await asyncio.gather(*(client.list_links(KEY, page=page) for page in range(5, 10)))
        await asyncio.gather(*polls)
    assert sent[:4] == [1, 2, 3, 4]
    assert sorted(sent[4:9]) == [5, 6, 7, 8, 9]  # people who came after the polls went first
    assert sorted(sent[9:]) == list(range(10, 16))


# ----------------------------------------------------------------- learning from 429


def test_a_429_lowers_the_rate_and_honours_retry_after(clock: Clock) -> None:
    pacer = ProviderPacer(10.0, burst=20, clock=clock)
    for _ in range(15):
        pacer.reserve(KEY)
        pacer.answered(KEY)
    before = pacer.rate(KEY)
    pacer.reserve(KEY)
    pacer.refused(KEY, 2.0, sent_at=clock.now)
    assert pacer.rate(KEY) < before
    assert pacer.reserve(KEY) == pytest.approx(2.0)  # nothing before the Retry-After


def test_the_first_429_measures_what_the_provider_accepted(clock: Clock) -> None:
    # 20 accepted out of a burst of 100 that went at once: the limit is about 20 a second,
    # well below the half of a guess of 100, and what is learned allows no larger burst.
    pacer = ProviderPacer(100.0, burst=100, clock=clock)
    for _ in range(20):
        pacer.answered(KEY)
    pacer.refused(KEY, 1.0, sent_at=clock.now)
    assert pacer.rate(KEY) == pytest.approx(20.0, abs=0.5)
    waits = [pacer.reserve(KEY) for _ in range(25)]
    assert waits[0] == pytest.approx(1.0)
    assert sum(1 for wait in waits if wait == pytest.approx(1.0)) <= 20


def test_429s_to_calls_sent_before_the_drop_lower_the_rate_once(clock: Clock) -> None:
    pacer = ProviderPacer(10.0, burst=20, clock=clock)
    sent_at = clock.now
    clock.now = 0.1
    pacer.refused(KEY, 1.0, sent_at=sent_at)
    once = pacer.rate(KEY)
    for _ in range(5):
        pacer.refused(KEY, 1.0, sent_at=sent_at)  # the rest of the same burst
    assert pacer.rate(KEY) == once
    clock.now = 2.0
    pacer.refused(KEY, 1.0, sent_at=1.5)  # sent after the drop: news
    assert pacer.rate(KEY) < once


def test_a_429_voids_the_tickets_taken_before_it(clock: Clock) -> None:
    pacer = ProviderPacer(10.0, burst=1, clock=clock)
    pacer.reserve(KEY)
    assert pacer.reserve(KEY) == pytest.approx(0.1)
    ticket = pacer.ticket(KEY)
    assert pacer.still_valid(KEY, ticket)
    pacer.refused(KEY, 3.0, sent_at=0.0)
    assert not pacer.still_valid(KEY, ticket)  # its holder queues again, after the pause
    assert pacer.reserve(KEY) == pytest.approx(3.0)


def test_success_raises_the_rate_slowly(clock: Clock) -> None:
    pacer = ProviderPacer(10.0, burst=20, clock=clock)
    pacer.refused(KEY, None, sent_at=0.0)
    low = pacer.rate(KEY)
    for _ in range(int(low)):  # about a second's worth of answered calls
        pacer.answered(KEY)
    assert low < pacer.rate(KEY) <= low + 1.5


def test_the_ceiling_holds(clock: Clock) -> None:
    pacer = ProviderPacer(10.0, burst=20, ceiling=10.0, clock=clock)
    for _ in range(1000):
        pacer.answered(KEY)
    assert pacer.rate(KEY) == 10.0
    # 120 calls at once: the burst, then no faster than 10 a second.
    waits = [pacer.reserve(KEY) for _ in range(120)]
    assert waits[-1] >= (120 - 20) / 10.0 - 1e-9
    unbounded = ProviderPacer(10.0, burst=20, clock=clock)
    for _ in range(1000):
        unbounded.answered(KEY)
    assert unbounded.rate(KEY) > 10.0  # without a ceiling, the start is only a start


def test_the_start_rate_never_exceeds_the_ceiling(clock: Clock) -> None:
    assert ProviderPacer(50.0, ceiling=5.0, clock=clock).rate(KEY) == 5.0
    assert ProviderPacer(10.0, clock=clock).burst == DEFAULT_BURST


async def test_a_create_refused_with_retry_after_is_sent_again_once_made(clock: Clock) -> None:
    posts: list[float] = []

    async def provider(request: httpx.Request) -> httpx.Response:
        posts.append(clock.now)
        if len(posts) == 1:
            body = json.dumps({"status": "error", "message": "Too Many Requests"})
            return httpx.Response(429, content=body.encode(), headers={"Retry-After": "2"})
        link = json.loads(request.content)
        link.update(
            id="l-1",
            slug="s",
            status="active",
            created_at="2026-01-01 10:00:00",
            use_count=0,
            url="https://pay.example/s",
        )
        return httpx.Response(201, json={"status": "success", "link": link})

    async def sleep(seconds: float) -> None:
        await asyncio.sleep(0)
        clock.now += seconds

    from bot.dgs.models import AmountType, LinkCreate, PaymentType

    async with DGSClient(
        "https://dgs.test/v2", transport=httpx.MockTransport(provider), sleep=sleep, clock=clock
    ) as client:
        body = LinkCreate(
            title="Perf",
            amount_type=AmountType.FIXED,
            amount=1000,
            currency="RWF",
            payment_types=[PaymentType.MOBILE_MONEY],
        )
        made = await client.create_link(KEY, body)
    assert made.id == "l-1"
    assert posts == [0.0, pytest.approx(2.0)]


def test_the_setting_is_a_ceiling_only_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.config import load_settings

    monkeypatch.delenv("DGS_REQUESTS_PER_SECOND", raising=False)
    assert load_settings(_env_file=None).dgs_rate_ceiling is None
    monkeypatch.setenv("DGS_REQUESTS_PER_SECOND", "7")
    settings = load_settings(_env_file=None)
    assert settings.dgs_requests_per_second == 7.0
    assert settings.dgs_rate_ceiling == 7.0
