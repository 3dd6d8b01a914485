"""DGSClient against an in-memory provider behind ``httpx.MockTransport``.

Faults are injected at the HTTP boundary (responses and transport exceptions of the fake
provider); time runs on a fake clock so backoff and pacing cost no real waiting.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bot.dgs import (
    API_KEY_HEADER,
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
    key_hint,
)
from bot.dgs.models import AmountType, LinkCreate, LinkUpdate, PaymentType

KEY = "sk_test_unit_secret_key_4242"
OTHER_KEY = "sk_test_other_secret_key_7777"
BASE = "https://dgs.test/generation/v2"
PREFIX = "/generation/v2"


# ----------------------------------------------------------------- fake time


class FakeTime:
    """A clock that moves only when someone sleeps.

    Concurrent sleepers each wake at their own deadline, and the clock ends at the latest
    one, as it would in real time (sleeps overlap; they do not add up).
    """

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


# ----------------------------------------------------------------- fake provider


@dataclass
class Seen:
    method: str
    path: str  # raw (still percent-encoded) path after the API prefix
    params: dict[str, str]
    body: Any
    key: str | None
    at: float


Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@dataclass
class Fault:
    method: str | None
    path: str | None
    reply: Reply
    after: bool
    times: int


def error_body(message: str, errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "error", "message": message}
    if errors is not None:
        body["errors"] = errors
    return body


@dataclass
class FakeDGS:
    """Enough of the provider to hold links, plus one-shot faults."""

    time: FakeTime
    links: list[dict[str, Any]] = field(default_factory=list)  # creation order
    seen: list[Seen] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def inject(
        self,
        reply: Reply,
        *,
        method: str | None = None,
        path: str | None = None,
        after: bool = False,
        times: int = 1,
    ) -> None:
        """Answer matching requests with ``reply`` (after doing the real work if ``after``)."""
        self.faults.append(Fault(method, path, reply, after, times))

    def calls(self, method: str, path: str | None = None) -> list[Seen]:
        return [s for s in self.seen if s.method == method and (path is None or s.path == path)]

    def add_link(self, **fields: Any) -> dict[str, Any]:
        link_id = str(uuid.uuid4())
        link: dict[str, Any] = {
            "id": link_id,
            "slug": fields.pop("slug", link_id[:8]),
            "url": f"https://pay.test/{link_id[:8]}",
            "title": "Invoice",
            "amount_type": "fixed",
            "amount": 5000,
            "currency": "RWF",
            "payment_types": ["card", "mobile_money"],
            "use_count": 0,
            "max_uses": None,
            "status": "active",
            "created_at": "2026-04-03 10:00:00",
        }
        link.update(fields)
        self.links.append(link)
        return link

    async def handler(self, request: httpx.Request) -> httpx.Response:
        raw = request.url.raw_path.decode().split("?")[0]
        path = raw.removeprefix(PREFIX)
        body = json.loads(request.content) if request.content else None
        self.seen.append(
            Seen(
                request.method,
                path,
                dict(request.url.params),
                body,
                request.headers.get(API_KEY_HEADER),
                self.time.now,
            )
        )
        await asyncio.sleep(0)
        fault = self._take_fault(request.method, path)
        if fault is not None and not fault.after:
            return self._apply(fault.reply, request)
        response = self._route(request.method, path, request, body)
        if fault is not None:
            return self._apply(fault.reply, request)
        return response

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.times <= 0:
                continue
            if fault.method not in (None, method):
                continue
            if fault.path is not None and fault.path != path:
                continue
            fault.times -= 1
            return fault
        return None

    @staticmethod
    def _apply(reply: Reply, request: httpx.Request) -> httpx.Response:
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx.Response):
            return reply
        return reply(request)

    def _route(self, method: str, path: str, request: httpx.Request, body: Any) -> httpx.Response:
        if not (request.headers.get(API_KEY_HEADER) or "").startswith("sk_test_"):
            return httpx.Response(401, json=error_body("Invalid API key"))
        if path == "/payment-links" and method == "POST":
            if any(link["slug"] == body.get("slug") for link in self.links):
                return httpx.Response(409, json=error_body("Slug already taken"))
            made = self.add_link(**body)
            return httpx.Response(
                201, json={"status": "success", "message": "Payment link created", "link": made}
            )
        if path == "/payment-links" and method == "GET":
            page = int(request.url.params.get("page", 1))
            per_page = int(request.url.params.get("per_page", 20))
            newest_first = list(reversed(self.links))
            chunk = newest_first[(page - 1) * per_page : page * per_page]
            total = len(self.links)
            return httpx.Response(
                200,
                json={
                    "status": "success",
                    "links": chunk,
                    "pagination": {
                        "page": page,
                        "per_page": per_page,
                        "total": total,
                        "total_pages": -(-total // per_page),
                    },
                },
            )
        link_id = path.removeprefix("/payment-links/")
        link = next((item for item in self.links if item["id"] == link_id), None)
        if link is None:
            return httpx.Response(404, json=error_body("Payment link not found"))
        if method == "GET":
            return httpx.Response(
                200, json={"status": "success", "link": link, "stats": {}, "recent_charges": []}
            )
        if link["status"] == "archived":
            return httpx.Response(410, json=error_body("Payment link archived"))
        if method == "PATCH":
            link.update(body)
            return httpx.Response(
                200, json={"status": "success", "message": "Payment link updated", "link": link}
            )
        link["status"] = "archived"
        return httpx.Response(200, json={"status": "success", "message": "Payment link archived"})


# ----------------------------------------------------------------- fixtures

MakeClient = Callable[..., DGSClient]


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def dgs(fake_time: FakeTime) -> FakeDGS:
    return FakeDGS(fake_time)


@pytest.fixture
async def make_client(fake_time: FakeTime, dgs: FakeDGS) -> AsyncIterator[MakeClient]:
    made: list[DGSClient] = []

    def make(**overrides: Any) -> DGSClient:
        options: dict[str, Any] = {
            "transport": httpx.MockTransport(dgs.handler),
            "sleep": fake_time.sleep,
            "clock": fake_time.clock,
            "backoff_base": 0.01,
            "requests_per_second_per_key": 1000.0,
        }
        options.update(overrides)
        client = DGSClient(BASE, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
def client(make_client: MakeClient) -> DGSClient:
    return make_client()


def new_link() -> LinkCreate:
    return LinkCreate(
        title="Invoice #123",
        amount_type=AmountType.FIXED,
        amount=Decimal(50000),
        currency="RWF",
        payment_types=[PaymentType.CARD, PaymentType.MOBILE_MONEY],
    )


def json_reply(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


def raw_reply(status: int, text: str, content_type: str = "application/json") -> httpx.Response:
    return httpx.Response(status, content=text.encode(), headers={"Content-Type": content_type})


def read_timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out waiting for the answer", request=request)


def dropped(request: httpx.Request) -> httpx.Response:
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


# ----------------------------------------------------------------- happy paths


async def test_endpoints_round_trip(client: DGSClient, dgs: FakeDGS) -> None:
    link = await client.create_link(KEY, new_link())
    assert link.amount == Decimal(50000)
    assert link.title == "Invoice #123"

    details = await client.get_link(KEY, link.id)
    assert details.link.id == link.id

    updated = await client.update_link(KEY, link.id, LinkUpdate(title="Invoice #124"))
    assert updated.title == "Invoice #124"

    page = await client.list_links(KEY, page=1, per_page=10)
    assert [item.id for item in page.links] == [link.id]

    await client.archive_link(KEY, link.id)
    assert dgs.links[0]["status"] == "archived"
    assert {s.key for s in dgs.seen} == {KEY}


async def test_update_sends_only_given_fields(client: DGSClient, dgs: FakeDGS) -> None:
    link = dgs.add_link(max_uses=3, title="Keep me")
    await client.update_link(KEY, link["id"], LinkUpdate(max_uses=None))
    assert dgs.calls("PATCH")[0].body == {"max_uses": None}
    assert dgs.links[0]["title"] == "Keep me"


async def test_link_id_is_quoted_into_the_path(client: DGSClient, dgs: FakeDGS) -> None:
    with pytest.raises(NotFoundError):
        await client.get_link(KEY, "a/b c?d")
    assert dgs.seen[0].path == "/payment-links/a%2Fb%20c%3Fd"


@pytest.mark.parametrize("link_id", ["", ".", ".."])
async def test_ids_that_are_not_path_segments_are_refused(
    client: DGSClient, dgs: FakeDGS, link_id: str
) -> None:
    with pytest.raises(ValueError, match="link_id"):
        await client.get_link(KEY, link_id)
    assert dgs.seen == []


async def test_iter_links_walks_every_page(client: DGSClient, dgs: FakeDGS) -> None:
    made = [dgs.add_link()["id"] for _ in range(250)]
    ids = [link.id async for link in client.iter_links(KEY, per_page=100)]
    assert sorted(ids) == sorted(made)
    assert len(ids) == len(set(ids)) == 250
    assert [s.params["page"] for s in dgs.calls("GET")] == ["1", "2", "3"]


async def test_iter_links_skips_a_link_pushed_onto_the_next_page(
    client: DGSClient, dgs: FakeDGS
) -> None:
    before = [dgs.add_link()["id"] for _ in range(4)]
    seen: list[str] = []
    async for link in client.iter_links(KEY, per_page=2):
        seen.append(link.id)
        if len(seen) == 1:
            dgs.add_link()  # newest first: page 2 now starts with page 1's last link
    assert sorted(seen) == sorted(before)


# ----------------------------------------------------------------- status mapping


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, BadRequestError),
        (401, AuthError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (409, SlugTakenError),
        (410, ArchivedError),
        (418, BadRequestError),
    ],
)
async def test_client_errors_map_to_their_exception_without_retry(
    client: DGSClient, dgs: FakeDGS, status: int, error_type: type[DGSError]
) -> None:
    dgs.inject(json_reply(status, error_body("nope")), times=10)
    with pytest.raises(error_type) as info:
        await client.get_link(KEY, "some-id")
    assert type(info.value) is error_type
    assert info.value.status_code == status
    assert "nope" in str(info.value)
    assert len(dgs.seen) == 1


async def test_422_carries_field_errors(client: DGSClient, dgs: FakeDGS) -> None:
    errors = {"amount": ["must be positive"], "slug": ["too short", "bad characters"]}
    dgs.inject(json_reply(422, error_body("Validation failed", errors)))
    with pytest.raises(ValidationFailedError) as info:
        await client.create_link(KEY, new_link())
    assert info.value.field_errors == errors
    assert info.value.status_code == 422
    assert len(dgs.seen) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retried_then_raised(
    make_client: MakeClient, dgs: FakeDGS, status: int
) -> None:
    client = make_client(max_retries=3)
    dgs.inject(json_reply(status, error_body("down")), times=100)
    with pytest.raises(ProviderUnavailableError) as info:
        await client.get_link(KEY, "some-id")
    assert info.value.status_code == status
    assert len(dgs.seen) == 4  # one try and three retries


async def test_429_without_retry_after_backs_off_and_raises(
    make_client: MakeClient, dgs: FakeDGS, fake_time: FakeTime
) -> None:
    client = make_client(max_retries=2, backoff_base=1.0, backoff_max=100.0)
    dgs.inject(json_reply(429, error_body("slow down")), times=100)
    with pytest.raises(RateLimitedError) as info:
        await client.get_link(KEY, "some-id")
    assert info.value.retry_after is None
    assert info.value.status_code == 429
    assert len(dgs.seen) == 3
    # Full jitter: each wait is somewhere in [0, base * 2**attempt].
    assert len(fake_time.sleeps) == 2
    assert 0 <= fake_time.sleeps[0] <= 1.0
    assert 0 <= fake_time.sleeps[1] <= 2.0


async def test_retry_after_is_honoured(client: DGSClient, dgs: FakeDGS) -> None:
    link = dgs.add_link()
    dgs.inject(json_reply(429, error_body("slow down"), {"Retry-After": "7"}))
    details = await client.get_link(KEY, link["id"])
    assert details.link.id == link["id"]
    assert [s.at for s in dgs.seen] == [0.0, pytest.approx(7.0, abs=0.01)]


async def test_retry_after_as_http_date_is_understood(
    client: DGSClient, dgs: FakeDGS, fake_time: FakeTime
) -> None:
    link = dgs.add_link()
    in_the_past = {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
    dgs.inject(json_reply(429, error_body("slow down"), in_the_past))
    await client.get_link(KEY, link["id"])
    assert len(dgs.seen) == 2
    assert fake_time.sleeps[0] == 0.0


async def test_retry_after_beyond_the_budget_raises_at_once(
    make_client: MakeClient, dgs: FakeDGS, fake_time: FakeTime
) -> None:
    client = make_client(retry_budget=30.0)
    dgs.inject(json_reply(429, error_body("slow down"), {"Retry-After": "60"}), times=10)
    with pytest.raises(RateLimitedError) as info:
        await client.get_link(KEY, "some-id")
    assert info.value.retry_after == 60.0
    assert len(dgs.seen) == 1
    assert fake_time.sleeps == []


async def test_retries_stop_when_the_time_budget_is_spent(
    make_client: MakeClient, dgs: FakeDGS, fake_time: FakeTime
) -> None:
    client = make_client(retry_budget=25.0, max_retries=10)
    dgs.inject(json_reply(429, error_body("slow down"), {"Retry-After": "10"}), times=100)
    with pytest.raises(RateLimitedError):
        await client.get_link(KEY, "some-id")
    # Waits of 10 s fit twice into 25 s: the first try plus two retries.
    assert [s.at for s in dgs.seen] == [0.0, 10.0, 20.0]
    assert fake_time.now <= 25.0


async def test_429_slows_down_the_key_for_its_other_requests(
    make_client: MakeClient, dgs: FakeDGS
) -> None:
    client = make_client(max_retries=0)
    dgs.inject(json_reply(429, error_body("slow down"), {"Retry-After": "5"}))
    with pytest.raises(RateLimitedError):
        await client.get_link(KEY, "x")
    await client.list_links(OTHER_KEY)
    await client.list_links(KEY)
    times = {s.key: s.at for s in dgs.calls("GET", "/payment-links")}
    assert times[OTHER_KEY] == 0.0  # the other key did not queue behind it
    assert times[KEY] >= 5.0


@pytest.mark.parametrize(
    ("method", "call"),
    [
        ("GET", lambda c, link_id: c.get_link(KEY, link_id)),
        ("PATCH", lambda c, link_id: c.update_link(KEY, link_id, LinkUpdate(title="New"))),
        ("DELETE", lambda c, link_id: c.archive_link(KEY, link_id)),
    ],
)
@pytest.mark.parametrize(
    "fault",
    [
        json_reply(503, error_body("maintenance")),
        raw_reply(502, "<html><body>Bad gateway</body></html>", "text/html"),
        read_timeout,
        refused,
        dropped,
    ],
    ids=["503", "502-html", "read-timeout", "connect-error", "dropped"],
)
async def test_idempotent_calls_are_retried(
    client: DGSClient,
    dgs: FakeDGS,
    method: str,
    call: Callable[[DGSClient, str], Awaitable[Any]],
    fault: Reply,
) -> None:
    link = dgs.add_link()
    dgs.inject(fault, method=method, times=2)
    await call(client, link["id"])
    assert len(dgs.calls(method)) == 3


async def test_retried_archive_that_meets_its_own_success_is_success(
    client: DGSClient, dgs: FakeDGS
) -> None:
    link = dgs.add_link()
    dgs.inject(read_timeout, method="DELETE", after=True)  # archived, answer lost
    await client.archive_link(KEY, link["id"])  # no ArchivedError
    assert dgs.links[0]["status"] == "archived"
    assert len(dgs.calls("DELETE")) == 2


async def test_archiving_an_archived_link_is_an_error(client: DGSClient, dgs: FakeDGS) -> None:
    link = dgs.add_link(status="archived")
    with pytest.raises(ArchivedError):
        await client.archive_link(KEY, link["id"])


@pytest.mark.parametrize("status", [401, 409, 422, 429])
async def test_create_is_not_retried_on_client_errors(
    client: DGSClient, dgs: FakeDGS, status: int
) -> None:
    dgs.inject(json_reply(status, error_body("no")), method="POST", times=10)
    with pytest.raises(DGSError) as info:
        await client.create_link(KEY, new_link())
    assert info.value.status_code == status
    assert not isinstance(info.value, ProviderUnavailableError)
    assert len(dgs.calls("POST")) == 1
    assert dgs.calls("GET") == []  # nothing to reconcile: the error proves no link was made
    assert dgs.links == []


# ----------------------------------------------------------------- bodies


async def test_html_error_page_is_provider_unavailable(client: DGSClient, dgs: FakeDGS) -> None:
    dgs.inject(raw_reply(200, "<!doctype html><h1>Maintenance</h1>", "text/html"))
    with pytest.raises(ProviderUnavailableError) as info:
        await client.list_links(KEY)
    assert info.value.status_code == 200


async def test_html_404_from_a_proxy_does_not_claim_the_link_is_gone(
    client: DGSClient, dgs: FakeDGS
) -> None:
    dgs.inject(raw_reply(404, "<html>Not Found</html>", "text/html"))
    with pytest.raises(ProviderUnavailableError) as info:
        await client.get_link(KEY, "x")
    assert not isinstance(info.value, NotFoundError)


@pytest.mark.parametrize("text", ["[1, 2]", '"success"', "null", "", '{"status": "succ'])
async def test_json_that_is_not_an_object_is_provider_unavailable(
    client: DGSClient, dgs: FakeDGS, text: str
) -> None:
    dgs.inject(raw_reply(200, text))
    with pytest.raises(ProviderUnavailableError):
        await client.list_links(KEY)


async def test_body_not_matching_the_model_is_provider_unavailable(
    client: DGSClient, dgs: FakeDGS
) -> None:
    dgs.inject(json_reply(200, {"status": "success", "link": {"title": "no id"}}))
    with pytest.raises(ProviderUnavailableError, match="link"):
        await client.get_link(KEY, "x")


async def test_amounts_are_read_exactly_and_extras_ignored(
    client: DGSClient, dgs: FakeDGS
) -> None:
    text = """{
      "status": "success",
      "link": {"id": "L1", "title": "T", "amount_type": "fixed", "currency": "RWF",
               "amount": 50000.10, "status": "active", "brand_new_field": {"x": 1}},
      "stats": {"total_charges": 2, "successful_charges": 2,
                "total_collected": 12345678901234567.89, "currency": "RWF"},
      "recent_charges": [
        {"id": "C1", "amount": "500.00", "currency": "RWF", "status": "success",
         "created_at": "2026-03-09 15:56:32", "surprise": true}
      ],
      "also_new": [1, 2, 3]
    }"""
    dgs.inject(raw_reply(200, text))
    details = await client.get_link(KEY, "L1")
    assert str(details.link.amount) == "50000.10"
    # A binary float would have rounded this to ...568.
    assert details.stats.total_collected == Decimal("12345678901234567.89")
    charge = details.recent_charges[0]
    assert isinstance(charge.amount, Decimal)
    assert str(charge.amount) == "500.00"
    # Optional fields absent from the body come out as None, not as errors.
    assert details.link.max_uses is None
    assert details.link.expires_at is None
    assert details.link.metadata is None


# ----------------------------------------------------------------- create reconciliation


async def test_create_timeout_after_send_finds_the_link(client: DGSClient, dgs: FakeDGS) -> None:
    dgs.inject(read_timeout, method="POST", after=True)
    link = await client.create_link(KEY, new_link())
    assert len(dgs.links) == 1
    assert link.id == dgs.links[0]["id"]
    assert len(dgs.calls("POST")) == 1


@pytest.mark.parametrize(
    "fault",
    [
        dropped,
        lambda request: raw_reply(200, "<html>ok?</html>", "text/html"),
        lambda request: json_reply(500, error_body("oops")),
    ],
    ids=["dropped", "html-2xx", "500"],
)
async def test_create_with_lost_answer_is_reconciled(
    client: DGSClient, dgs: FakeDGS, fault: Reply
) -> None:
    dgs.inject(fault, method="POST", after=True)
    link = await client.create_link(KEY, new_link())
    assert [item["id"] for item in dgs.links] == [link.id]


async def test_create_not_made_is_sent_once_more_with_the_same_ref(
    client: DGSClient, dgs: FakeDGS
) -> None:
    dgs.inject(dropped, method="POST")  # dropped before the provider did anything
    link = await client.create_link(KEY, new_link())
    posts = dgs.calls("POST")
    assert len(posts) == 2
    refs = {post.body["metadata"][CLIENT_REF_KEY] for post in posts}
    assert len(refs) == 1
    assert len(dgs.links) == 1
    assert link.metadata is not None
    assert link.metadata[CLIENT_REF_KEY] in refs


async def test_create_unreadable_2xx_is_never_resent(client: DGSClient, dgs: FakeDGS) -> None:
    # A 2xx most likely made the link; even when the lookup misses it, sending again could
    # make a second one.
    dgs.inject(raw_reply(201, "<html>Created</html>", "text/html"), method="POST")
    with pytest.raises(CreateOutcomeUnknownError):
        await client.create_link(KEY, new_link())
    assert len(dgs.calls("POST")) == 1


async def test_resent_create_meeting_its_own_slug_returns_the_link(
    client: DGSClient, dgs: FakeDGS
) -> None:
    dgs.inject(dropped, method="POST")  # the first POST is lost before any work
    # The resend's answer is a 409 although it made the link: a late twin's slug clash.
    dgs.inject(json_reply(409, error_body("Slug already taken")), method="POST", after=True)
    link = await client.create_link(KEY, new_link().model_copy(update={"slug": "my-slug"}))
    assert [item["id"] for item in dgs.links] == [link.id]
    assert link.slug == "my-slug"


async def test_create_twice_unknown_gives_up_after_one_resend(
    client: DGSClient, dgs: FakeDGS
) -> None:
    dgs.inject(dropped, method="POST", times=5)
    with pytest.raises(CreateOutcomeUnknownError) as info:
        await client.create_link(KEY, new_link())
    assert len(dgs.calls("POST")) == 2
    assert info.value.client_ref == dgs.calls("POST")[0].body["metadata"][CLIENT_REF_KEY]


async def test_create_lookup_failure_raises_outcome_unknown_then_try_again_is_safe(
    client: DGSClient, dgs: FakeDGS
) -> None:
    dgs.inject(read_timeout, method="POST", after=True)
    dgs.inject(json_reply(503, error_body("down")), method="GET", times=1000)
    with pytest.raises(CreateOutcomeUnknownError) as info:
        await client.create_link(KEY, new_link())
    assert info.value.client_ref == dgs.calls("POST")[0].body["metadata"][CLIENT_REF_KEY]
    assert len(dgs.calls("POST")) == 1  # never re-sent while the lookup could not answer
    assert isinstance(info.value, ProviderUnavailableError)

    dgs.faults.clear()
    link = await client.create_link(KEY, new_link(), client_ref=info.value.client_ref)
    assert len(dgs.links) == 1
    assert link.id == dgs.links[0]["id"]
    assert len(dgs.calls("POST")) == 1  # found, not created again


async def test_try_again_while_the_lookup_fails_sends_nothing(
    client: DGSClient, dgs: FakeDGS
) -> None:
    dgs.inject(json_reply(503, error_body("down")), method="GET", times=1000)
    with pytest.raises(CreateOutcomeUnknownError) as info:
        await client.create_link(KEY, new_link(), client_ref="draft-42")
    assert info.value.client_ref == "draft-42"
    assert dgs.calls("POST") == []


async def test_create_try_again_after_the_provider_recovers_makes_the_link(
    client: DGSClient, dgs: FakeDGS
) -> None:
    dgs.inject(json_reply(503, error_body("down")), times=1000)
    with pytest.raises(CreateOutcomeUnknownError) as info:
        await client.create_link(KEY, new_link())
    assert dgs.links == []
    dgs.faults.clear()
    link = await client.create_link(KEY, new_link(), client_ref=info.value.client_ref)
    assert len(dgs.links) == 1
    assert link.metadata is not None
    assert link.metadata[CLIENT_REF_KEY] == info.value.client_ref


async def test_create_connect_error_is_raised_without_lookup(
    client: DGSClient, dgs: FakeDGS
) -> None:
    dgs.inject(refused, method="POST")
    with pytest.raises(ProviderUnavailableError) as info:
        await client.create_link(KEY, new_link())
    assert not isinstance(info.value, CreateOutcomeUnknownError)
    assert dgs.calls("GET") == []
    assert dgs.links == []


async def test_create_keeps_caller_metadata_beside_the_ref(
    client: DGSClient, dgs: FakeDGS
) -> None:
    body = LinkCreate(
        title="Invoice",
        amount_type=AmountType.FIXED,
        amount=Decimal(100),
        currency="RWF",
        metadata={"order": "A-17", "n": 3},
    )
    link = await client.create_link(KEY, body, client_ref="ref-1")
    sent = dgs.calls("POST")[0].body
    assert sent["metadata"] == {"order": "A-17", "n": 3, CLIENT_REF_KEY: "ref-1"}
    assert link.metadata == sent["metadata"]
    assert body.metadata == {"order": "A-17", "n": 3}  # the caller's object is untouched


async def test_find_by_client_ref_sees_beyond_the_first_page(
    client: DGSClient, dgs: FakeDGS
) -> None:
    wanted = dgs.add_link(metadata={CLIENT_REF_KEY: "old-ref"})
    for _ in range(150):
        dgs.add_link()
    found = await client.find_by_client_ref(KEY, "old-ref")
    assert found is not None
    assert found.id == wanted["id"]
    assert await client.find_by_client_ref(KEY, "missing") is None


# ----------------------------------------------------------------- pacing

# A rate set explicitly is a ceiling too; with no burst, that is a strict spacing.
STRICT_10_PER_SECOND: dict[str, Any] = {
    "requests_per_second_per_key": 10.0,
    "max_requests_per_second_per_key": 10.0,
    "burst_per_key": 1,
}


async def test_one_key_is_paced_and_two_keys_are_not_paced_together(
    make_client: MakeClient, dgs: FakeDGS
) -> None:
    client = make_client(**STRICT_10_PER_SECOND)
    for _ in range(30):
        await client.list_links(KEY)
        await client.list_links(OTHER_KEY)
    mine = [s.at for s in dgs.seen if s.key == KEY]
    theirs = [s.at for s in dgs.seen if s.key == OTHER_KEY]
    assert mine[-1] - mine[0] >= 2.0  # 30 requests at 10/s need at least 2.9 s
    assert all(b - a >= 0.1 - 1e-9 for a, b in itertools.pairwise(mine))
    # Had the keys shared one pace, 60 requests would have needed 5.9 s.
    assert theirs[-1] <= 3.0


async def test_concurrent_requests_of_one_key_are_spaced(
    make_client: MakeClient, dgs: FakeDGS, fake_time: FakeTime
) -> None:
    client = make_client(**STRICT_10_PER_SECOND)
    await asyncio.gather(*(client.list_links(KEY) for _ in range(30)))
    one_key = fake_time.now
    assert one_key >= 2.0

    fake_time.now += 60.0  # let both keys' pacing go idle
    start = fake_time.now
    await asyncio.gather(*(client.list_links(key) for key in (KEY, OTHER_KEY) for _ in range(30)))
    assert fake_time.now - start <= one_key + 0.01


async def test_slow_down_delays_only_that_key(
    make_client: MakeClient, dgs: FakeDGS, fake_time: FakeTime
) -> None:
    client = make_client(requests_per_second_per_key=10.0)
    client.slow_down(KEY, 4.0)
    await client.list_links(OTHER_KEY)
    await client.list_links(KEY)
    at = {s.key: s.at for s in dgs.seen}
    assert at[OTHER_KEY] == 0.0
    assert at[KEY] >= 4.0


async def test_in_flight_requests_are_bounded(fake_time: FakeTime) -> None:
    in_flight = 0
    peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001)
        in_flight -= 1
        return json_reply(200, {"status": "success", "links": []})

    async with DGSClient(
        BASE,
        transport=httpx.MockTransport(slow),
        max_concurrency=3,
        requests_per_second_per_key=1e6,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
    ) as client:
        await asyncio.gather(*(client.list_links(f"sk_test_k{i:04d}") for i in range(20)))
    assert peak == 3


# ----------------------------------------------------------------- secrets


async def test_the_key_never_appears_in_errors_or_logs(
    client: DGSClient, dgs: FakeDGS, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.dgs")
    echo = f"key {KEY} is not valid"
    dgs.inject(json_reply(401, error_body(echo)))
    dgs.inject(json_reply(422, error_body(echo, {"title": [echo]})))
    dgs.inject(json_reply(503, error_body(echo)), times=4)

    def refused_with_key(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused for {KEY}", request=request)

    dgs.inject(refused_with_key, times=4)

    errors: list[DGSError] = []
    calls = [
        lambda: client.get_link(KEY, "x"),
        lambda: client.create_link(KEY, new_link()),
        lambda: client.get_link(KEY, "x"),
        lambda: client.get_link(KEY, "x"),
    ]
    for call in calls:
        with pytest.raises(DGSError) as info:
            await call()
        errors.append(info.value)
    assert [type(e) for e in errors] == [
        AuthError,
        ValidationFailedError,
        ProviderUnavailableError,
        ProviderUnavailableError,
    ]
    for error in errors:
        assert KEY not in str(error)
        assert KEY not in repr(error)
        assert KEY not in repr(vars(error))
        assert key_hint(KEY) in str(error) or isinstance(error.__cause__, httpx.HTTPError)
    assert caplog.records
    for record in caplog.records:
        assert KEY not in record.getMessage()
    assert any(key_hint(KEY) in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("bad_key", ["", "sk_test_with space", "sk_test_\r\nX-Evil: 1"])
async def test_malformed_key_is_refused_before_sending(
    client: DGSClient, dgs: FakeDGS, bad_key: str
) -> None:
    with pytest.raises(AuthError) as info:
        await client.list_links(bad_key)
    assert dgs.seen == []
    if bad_key:
        assert bad_key not in str(info.value)


def test_key_hint_shows_at_most_the_last_four_characters() -> None:
    assert key_hint(KEY) == "…4242"
    assert "sk_t" not in key_hint("sk_test_abc")


# ----------------------------------------------------------------- unreadable links (issue 12)

UNREADABLE_LINKS: list[dict[str, Any]] = [
    {"amount": ""},
    {"amount": "abc"},
    {"amount": 1e30},
    {"amount": "1e999999999"},
    {"amount": "0.0000000000000000000000000000001"},
    {"id": None},
    {"title": None},
    {"expires_at": "0001-01-01 00:00:00"},
]


async def test_iter_links_skips_unreadable_links_and_logs_each_id_once(
    client: DGSClient, dgs: FakeDGS, caplog: pytest.LogCaptureFixture
) -> None:
    good = []
    bad = []
    for fields in UNREADABLE_LINKS:
        good.append(dgs.add_link()["id"])
        bad.append(dgs.add_link(**fields))
    good.append(dgs.add_link()["id"])
    caplog.set_level(logging.DEBUG, logger="bot.dgs")

    ids = [link.id async for link in client.iter_links(KEY, per_page=3)]
    assert sorted(ids) == sorted(good)

    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == len(bad)
    named = [link["id"] for link in bad if isinstance(link.get("id"), str)]
    for link_id in named:
        assert sum(link_id in message for message in warnings) == 1
    assert sum("without an id" in message for message in warnings) == 1
    # The id and nothing of the data (an id may hold "abc" itself: take the ids out first).
    rest = " ".join(warnings)
    for link_id in named:
        rest = rest.replace(link_id, "")
    assert "abc" not in rest and "e+30" not in rest and "0001" not in rest

    caplog.clear()
    again = [link.id async for link in client.iter_links(KEY, per_page=3)]
    assert sorted(again) == sorted(good)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize("fields", UNREADABLE_LINKS[:5] + UNREADABLE_LINKS[6:])
async def test_get_link_of_an_unreadable_link_is_an_unexpected_response(
    client: DGSClient, dgs: FakeDGS, fields: dict[str, Any]
) -> None:
    link = dgs.add_link(**fields)
    with pytest.raises(ProviderUnavailableError) as info:
        await client.get_link(KEY, link["id"])
    # What the poller reads as "this link's data", not the key's health.
    assert info.value.status_code is None and "unexpected response" in info.value.message


async def test_an_unreadable_link_may_be_our_create_so_try_again_sends_nothing(
    client: DGSClient, dgs: FakeDGS
) -> None:
    dgs.add_link(amount="abc", metadata={CLIENT_REF_KEY: "ref-9"})
    dgs.add_link(amount="abc", metadata={CLIENT_REF_KEY: "someone-else"})
    dgs.add_link()
    with pytest.raises(CreateOutcomeUnknownError):
        await client.create_link(KEY, new_link(), client_ref="ref-9")
    assert dgs.calls("POST") == []
    # An unreadable link of another create is not a reason to doubt: this one goes ahead.
    made = await client.create_link(KEY, new_link(), client_ref="ref-10")
    assert made.metadata == {CLIENT_REF_KEY: "ref-10"}


# ----------------------------------------------------------------- Retry-After is capped


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("86400", 300.0),
        ("1e400", 300.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 300.0),
        ("120", 120.0),
        ("-5", 0.0),
        ("nan", None),
        ("soon", None),
        ("Mon, 99 Foo 2026 99:99:99 GMT", None),
    ],
)
async def test_retry_after_is_capped_at_five_minutes(
    make_client: MakeClient, dgs: FakeDGS, header: str, expected: float | None
) -> None:
    client = make_client(max_retries=0)
    dgs.inject(json_reply(429, error_body("slow down"), {"Retry-After": header}))
    with pytest.raises(RateLimitedError) as info:
        await client.get_link(KEY, "x")
    assert info.value.retry_after == expected


async def test_a_huge_retry_after_slows_the_key_for_five_minutes_not_a_day(
    make_client: MakeClient, dgs: FakeDGS, fake_time: FakeTime
) -> None:
    client = make_client(max_retries=0, retry_budget=1000.0)
    dgs.inject(json_reply(429, error_body("slow down"), {"Retry-After": "86400"}))
    with pytest.raises(RateLimitedError):
        await client.list_links(KEY)
    await client.list_links(KEY)
    assert [s.at for s in dgs.calls("GET")] == [0.0, pytest.approx(300.0, abs=0.01)]
    client.slow_down(KEY, 86400.0)  # the poller's own call, with what it was told
    await client.list_links(KEY)
    assert dgs.calls("GET")[-1].at == pytest.approx(600.0, abs=0.01)
