"""DGSClient over real HTTP against the embedded sandbox (``bot.devtools.sandbox``).

Faults come from the sandbox's own fault controls (statuses, Retry-After, HTML bodies, hung
and dropped connections, with or without doing the work first). Backoff and pacing waits run
on a fake clock; network timeouts are real but short.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from bot.devtools.sandbox import Sandbox
from bot.dgs import (
    CLIENT_REF_KEY,
    ArchivedError,
    AuthError,
    BadRequestError,
    CreateOutcomeUnknownError,
    DGSClient,
    DGSError,
    ForbiddenError,
    NotFoundError,
    ProviderUnavailableError,
    RateLimitedError,
    SlugTakenError,
    ValidationFailedError,
)
from bot.dgs.models import AmountType, LinkCreate, LinkUpdate, PaymentType

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEY = "sk_test_client_contract_9191"
OTHER_KEY = "sk_test_client_contract_other_8282"
READONLY_KEY = "sk_test_readonly_client_7373"
LINKS = "/generation/v2/payment-links"


class FakeTime:
    """Sleeps that return at once and move a clock; overlapping sleeps overlap."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        wake = self.now + seconds
        await asyncio.sleep(0)
        self.now = max(self.now, wake)


MakeClient = Callable[..., DGSClient]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox_for_client() -> AsyncIterator[Sandbox]:
    async with Sandbox(test_mode=True) as sandbox:
        yield sandbox


@pytest_asyncio.fixture(loop_scope="module")
async def sb(sandbox_for_client: Sandbox) -> Sandbox:
    await sandbox_for_client.reset()
    return sandbox_for_client


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest_asyncio.fixture(loop_scope="module")
async def make_client(sb: Sandbox, fake_time: FakeTime) -> AsyncIterator[MakeClient]:
    made: list[DGSClient] = []

    def make(**overrides: Any) -> DGSClient:
        options: dict[str, Any] = {
            "timeout": 2.0,
            "sleep": fake_time.sleep,
            "clock": fake_time.clock,
            "backoff_base": 0.01,
            "requests_per_second_per_key": 1000.0,
        }
        options.update(overrides)
        base_url = options.pop("base_url", sb.api_base_url)
        client = DGSClient(base_url, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@pytest_asyncio.fixture(loop_scope="module")
async def client(make_client: MakeClient) -> DGSClient:
    return make_client()


def fixed_link(**fields: Any) -> LinkCreate:
    values: dict[str, Any] = {
        "title": "Invoice #123",
        "amount_type": AmountType.FIXED,
        "amount": Decimal(50000),
        "currency": "RWF",
        "payment_types": [PaymentType.CARD, PaymentType.MOBILE_MONEY],
    }
    values.update(fields)
    return LinkCreate(**values)


async def logged(sb: Sandbox, method: str, path: str | None = None) -> list[dict[str, Any]]:
    return [
        entry
        for entry in await sb.requests()
        if entry["method"] == method and (path is None or entry["path"] == path)
    ]


async def all_links(client: DGSClient, key: str = KEY) -> list[str]:
    return [link.id async for link in client.iter_links(key)]


# ----------------------------------------------------------------- endpoints


async def test_round_trip_of_every_endpoint(client: DGSClient, sb: Sandbox) -> None:
    made = await client.create_link(KEY, fixed_link(max_uses=3, description="Keep me"))
    assert made.amount == Decimal(50000)
    assert made.status == "active"

    details = await client.get_link(KEY, made.id)
    assert details.link.id == made.id
    assert details.stats.total_charges == 0

    updated = await client.update_link(KEY, made.id, LinkUpdate(title="Invoice #124"))
    assert updated.title == "Invoice #124"
    assert updated.description == "Keep me"  # only the title was sent
    assert updated.max_uses == 3
    patch = (await logged(sb, "PATCH"))[0]
    assert patch["body"] == {"title": "Invoice #124"}

    unlimited = await client.update_link(KEY, made.id, LinkUpdate(max_uses=None))
    assert unlimited.max_uses is None

    page = await client.list_links(KEY, per_page=10)
    assert [link.id for link in page.links] == [made.id]
    assert page.pagination.total == 1

    await client.archive_link(KEY, made.id)
    assert (await client.get_link(KEY, made.id)).link.status == "archived"
    with pytest.raises(ArchivedError):
        await client.archive_link(KEY, made.id)
    with pytest.raises(ArchivedError):
        await client.update_link(KEY, made.id, LinkUpdate(title="Too late"))
    assert {entry["key"] for entry in await sb.requests()} == {KEY[-4:]}


async def test_amounts_stay_exact(client: DGSClient, sb: Sandbox) -> None:
    made = await client.create_link(
        KEY, fixed_link(currency="USD", amount=Decimal("50000.10"), title="Exact")
    )
    assert made.amount == Decimal("50000.10")
    await sb.add_charge(KEY, made.id, "500.50", status="success")
    await sb.add_charge(KEY, made.id, "0.10", status="success")
    await sb.add_charge(KEY, made.id, "0.20", status="success")
    details = await client.get_link(KEY, made.id)
    # 500.50 + 0.10 + 0.20 through binary floats would not come out as 500.80 exactly.
    assert details.stats.total_collected == Decimal("500.80")
    assert {str(charge.amount) for charge in details.recent_charges} == {
        "500.50",
        "0.10",
        "0.20",
    }
    assert all(isinstance(charge.amount, Decimal) for charge in details.recent_charges)


async def test_iter_links_walks_all_pages(client: DGSClient, sb: Sandbox) -> None:
    seeded = sb.seed_links(KEY, 230)
    ids = await all_links(client)
    assert sorted(ids) == sorted(seeded)
    assert len(await logged(sb, "GET", LINKS)) == 3


async def test_link_id_is_quoted(client: DGSClient, sb: Sandbox) -> None:
    with pytest.raises(NotFoundError):
        await client.get_link(KEY, "../payment-links")
    entry = (await sb.requests())[-1]
    assert entry["path"] == f"{LINKS}/../payment-links"  # one segment, not a walk upwards


# ----------------------------------------------------------------- errors


async def test_provider_errors_map_to_exceptions(client: DGSClient, sb: Sandbox) -> None:
    made = await client.create_link(KEY, fixed_link(slug="taken-slug"))

    with pytest.raises(AuthError) as auth:
        await client.list_links("sk_live_not_a_test_key_1234")
    assert auth.value.status_code == 401

    with pytest.raises(ForbiddenError):
        await client.create_link(READONLY_KEY, fixed_link())

    with pytest.raises(NotFoundError):
        await client.get_link(KEY, "no-such-link")
    with pytest.raises(NotFoundError):
        await client.get_link(OTHER_KEY, made.id)  # another key's link

    with pytest.raises(SlugTakenError):
        await client.create_link(KEY, fixed_link(slug="taken-slug"))

    with pytest.raises(ValidationFailedError) as invalid:
        await client.create_link(KEY, fixed_link(title="x" * 101, amount=Decimal(-5)))
    assert set(invalid.value.field_errors) == {"title", "amount"}
    assert all(invalid.value.field_errors.values())

    await sb.inject(method="GET", status=400)
    with pytest.raises(BadRequestError):
        await client.list_links(KEY)

    await client.archive_link(KEY, made.id)
    with pytest.raises(ArchivedError):
        await client.update_link(KEY, made.id, LinkUpdate(title="x"))

    # None of these were retried, and no failed create was looked up.
    assert len(await logged(sb, "POST")) == 4
    assert len(await logged(sb, "GET")) == 4


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retried_a_bounded_number_of_times(
    make_client: MakeClient, sb: Sandbox, status: int
) -> None:
    client = make_client(max_retries=3)
    await sb.inject(method="GET", status=status, times=0)
    with pytest.raises(ProviderUnavailableError) as info:
        await client.list_links(KEY)
    assert info.value.status_code == status
    assert len(await logged(sb, "GET")) == 4


async def test_rate_limit_with_and_without_retry_after(
    client: DGSClient, sb: Sandbox, fake_time: FakeTime
) -> None:
    await sb.inject(method="GET", retry_after=3, times=1)
    await client.list_links(KEY)
    assert fake_time.sleeps[0] >= 3.0  # Retry-After honoured
    assert len(await logged(sb, "GET")) == 2

    await sb.inject(method="GET", status=429, times=0)
    with pytest.raises(RateLimitedError) as info:
        await client.list_links(KEY)
    assert info.value.retry_after is None
    await sb.clear_faults()

    await sb.inject(method="GET", retry_after=120, times=0)
    before = len(await logged(sb, "GET"))
    with pytest.raises(RateLimitedError) as late:
        await client.list_links(KEY)
    assert late.value.retry_after == 120
    assert len(await logged(sb, "GET")) == before + 1  # beyond the budget: no retry


@pytest.mark.parametrize("body", ["<html><body>Bad gateway</body></html>", "[1, 2]"])
async def test_bodies_that_are_not_the_api_are_provider_unavailable(
    client: DGSClient, sb: Sandbox, body: str
) -> None:
    await sb.inject(method="GET", status=200, body=body)
    with pytest.raises(ProviderUnavailableError):
        await client.list_links(KEY)


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503},
        {"drop": True},
        {"hang": True},
    ],
    ids=["503", "drop", "hang"],
)
async def test_reads_and_writes_are_retried(
    make_client: MakeClient, sb: Sandbox, fault: dict[str, Any]
) -> None:
    client = make_client(timeout=0.3)
    made = await client.create_link(KEY, fixed_link())
    for method in ("GET", "PATCH", "DELETE"):
        await sb.inject(method=method, times=1, **fault)
    await client.get_link(KEY, made.id)
    await client.update_link(KEY, made.id, LinkUpdate(title="Changed"))
    await client.archive_link(KEY, made.id)
    assert (await client.get_link(KEY, made.id)).link.status == "archived"
    for method in ("PATCH", "DELETE"):
        assert len(await logged(sb, method)) == 2


async def test_archive_whose_answer_was_lost_succeeds(client: DGSClient, sb: Sandbox) -> None:
    made = await client.create_link(KEY, fixed_link())
    await sb.inject(method="DELETE", drop=True, after=True)
    await client.archive_link(KEY, made.id)  # the retry meets 410: already archived
    assert [entry["status"] for entry in await logged(sb, "DELETE")] == [None, 410]
    assert (await client.get_link(KEY, made.id)).link.status == "archived"


async def test_requests_of_other_keys_or_links_do_not_wait_behind_a_slow_one(
    make_client: MakeClient, sb: Sandbox
) -> None:
    client = make_client(requests_per_second_per_key=10.0, sleep=asyncio.sleep)
    await sb.set_key_delay(OTHER_KEY, 0.5)
    finished: list[str] = []

    async def run(name: str, key: str) -> None:
        await client.list_links(key)
        finished.append(name)

    await asyncio.gather(run("slow", OTHER_KEY), run("fast", KEY))
    assert finished == ["fast", "slow"]


async def test_errors_never_show_the_key(make_client: MakeClient, sb: Sandbox) -> None:
    client = make_client(timeout=0.2, max_retries=1)
    secret = "sk_live_very_secret_0000"
    errors: list[DGSError] = []
    with pytest.raises(AuthError) as auth:
        await client.list_links(secret)
    errors.append(auth.value)
    await sb.inject(hang=True, times=0)
    with pytest.raises(ProviderUnavailableError) as hung:
        await client.list_links(KEY)
    errors.append(hung.value)
    for error in errors:
        assert "sk_" not in str(error)
        assert "sk_" not in repr(error)


# ----------------------------------------------------------------- create reconciliation


@pytest.mark.parametrize("fault", [{"drop": True}, {"hang": True}], ids=["drop", "hang"])
async def test_create_whose_answer_was_lost_is_found(
    make_client: MakeClient, sb: Sandbox, fault: dict[str, Any]
) -> None:
    client = make_client(timeout=0.3)
    await sb.inject(method="POST", after=True, **fault)
    made = await client.create_link(KEY, fixed_link())
    assert await all_links(client) == [made.id]
    assert len(await logged(sb, "POST")) == 1


async def test_create_not_made_is_sent_once_more_with_the_same_ref(
    client: DGSClient, sb: Sandbox
) -> None:
    await sb.inject(method="POST", drop=True, after=False)
    made = await client.create_link(KEY, fixed_link())
    posts = await logged(sb, "POST")
    assert len(posts) == 2
    assert posts[0]["body"]["metadata"] == posts[1]["body"]["metadata"]
    assert await all_links(client) == [made.id]


async def test_create_lookup_failure_then_try_again_makes_one_link(
    client: DGSClient, sb: Sandbox
) -> None:
    await sb.inject(method="POST", drop=True, after=True)
    await sb.inject(method="GET", status=503, times=0)
    with pytest.raises(CreateOutcomeUnknownError) as info:
        await client.create_link(KEY, fixed_link())
    ref = info.value.client_ref
    assert (await logged(sb, "POST"))[0]["body"]["metadata"][CLIENT_REF_KEY] == ref

    await sb.clear_faults()
    again = await client.create_link(KEY, fixed_link(), client_ref=ref)
    assert await all_links(client) == [again.id]
    assert len(await logged(sb, "POST")) == 1


async def test_create_refused_connection_is_raised_without_lookup(
    make_client: MakeClient,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(base_url=f"http://127.0.0.1:{port}/generation/v2")
    with pytest.raises(ProviderUnavailableError) as info:
        await client.create_link(KEY, fixed_link())
    assert not isinstance(info.value, CreateOutcomeUnknownError)


async def test_create_keeps_caller_metadata(client: DGSClient, sb: Sandbox) -> None:
    made = await client.create_link(
        KEY, fixed_link(metadata={"order": "A-17"}), client_ref="draft-7"
    )
    expected = {"order": "A-17", CLIENT_REF_KEY: "draft-7"}
    assert made.metadata == expected
    assert (await client.get_link(KEY, made.id)).link.metadata == expected
    found = await client.find_by_client_ref(KEY, "draft-7")
    assert found is not None
    assert found.id == made.id


async def test_create_4xx_is_not_retried(client: DGSClient, sb: Sandbox) -> None:
    await sb.inject(method="POST", status=429, times=0)
    with pytest.raises(RateLimitedError):
        await client.create_link(KEY, fixed_link())
    assert len(await logged(sb, "POST")) == 1
    assert await logged(sb, "GET") == []


# ----------------------------------------------------------------- pacing


async def test_pacing_per_key(make_client: MakeClient, sb: Sandbox, fake_time: FakeTime) -> None:
    # A rate set explicitly is a ceiling too; with no burst, that is a strict spacing.
    client = make_client(
        requests_per_second_per_key=10.0, max_requests_per_second_per_key=10.0, burst_per_key=1
    )
    await asyncio.gather(*(client.list_links(KEY) for _ in range(30)))
    one_key = fake_time.now
    assert one_key >= 2.0  # 30 requests at 10 per second

    fake_time.now += 60.0
    start = fake_time.now
    await asyncio.gather(*(client.list_links(key) for key in (KEY, OTHER_KEY) for _ in range(30)))
    assert fake_time.now - start <= one_key + 0.01  # two keys did not pace each other
    assert len(await logged(sb, "GET")) == 90
