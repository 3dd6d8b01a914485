"""The sandbox against the provider's page and CONTRACT.md, over real HTTP on 127.0.0.1.

Expected values come from the page and the contract (and, where both are silent, from the
choices documented in ``bot/devtools/sandbox/app.py``), never from the sandbox's own helpers.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from bot.devtools.sandbox import ControlError, Sandbox

from .conftest import (
    JSON_HEADERS,
    KEY,
    OTHER_KEY,
    READONLY_KEY,
    MakeLink,
    api_client,
    decode,
    encode,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

KIGALI = ZoneInfo("Africa/Kigali")
TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
PAGE_LINK_FIELDS = {
    "id",
    "slug",
    "url",
    "title",
    "amount_type",
    "amount",
    "currency",
    "payment_types",
    "use_count",
    "max_uses",
    "status",
    "expires_at",
    "created_at",
}
ALL_TYPES = ["card", "mobile_money", "ussd", "bank_transfer"]
FIXED = {"title": "Invoice", "amount_type": "fixed", "amount": 5000, "currency": "RWF"}
FLEXIBLE = {"title": "Donation", "amount_type": "flexible", "currency": "RWF"}


def kigali_time(text: str) -> datetime:
    assert TIME_RE.fullmatch(text), text
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=KIGALI)


def in_future(seconds: int) -> str:
    moment = datetime.now(KIGALI) + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


async def post_link(client: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await client.post("/payment-links", content=encode(body), headers=JSON_HEADERS)


async def patch_link(client: httpx.AsyncClient, link_id: str, body: Any) -> httpx.Response:
    return await client.patch(
        f"/payment-links/{link_id}", content=encode(body), headers=JSON_HEADERS
    )


async def details(client: httpx.AsyncClient, link_id: str) -> dict[str, Any]:
    response = await client.get(f"/payment-links/{link_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = decode(response)
    return body


async def list_total(client: httpx.AsyncClient) -> int:
    response = await client.get("/payment-links")
    assert response.status_code == 200
    total: int = response.json()["pagination"]["total"]
    return total


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["status"] == "error"
    assert isinstance(body["message"], str)
    assert body["message"]
    if status != 422:
        assert "errors" not in body
    return body


# Create


async def test_create_answers_201_with_the_pages_link(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    expires = in_future(3600)
    page_request = {
        "title": "Invoice #123",
        "amount_type": "fixed",
        "amount": 50000,
        "currency": "RWF",
        "payment_types": ["card", "mobile_money"],
        "max_uses": 1,
        "expires_at": expires,
    }
    before = datetime.now(KIGALI).replace(microsecond=0)
    response = await post_link(client, page_request)

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "success"
    assert body["message"] == "Payment link created"
    link = body["link"]
    assert set(link) >= PAGE_LINK_FIELDS
    assert uuid.UUID(link["id"]).version == 4
    assert link["slug"] == "invoice-123"
    assert link["url"] == f"{sandbox.url}/generation/pay/invoice-123"
    assert link["title"] == "Invoice #123"
    assert link["amount_type"] == "fixed"
    assert link["amount"] == 50000
    assert type(link["amount"]) is int
    assert link["currency"] == "RWF"
    assert link["payment_types"] == ["card", "mobile_money"]
    assert link["use_count"] == 0
    assert link["max_uses"] == 1
    assert link["status"] == "active"
    assert link["expires_at"] == expires
    created = kigali_time(link["created_at"])
    assert before <= created <= datetime.now(KIGALI) + timedelta(seconds=1)


async def test_create_applies_the_pages_defaults(client: httpx.AsyncClient) -> None:
    response = await post_link(client, FIXED)

    link = response.json()["link"]
    assert link["payment_types"] == ALL_TYPES
    assert link["collect_phone"] is True
    assert link["collect_name"] is True
    assert link["collect_address"] is False
    assert link["max_uses"] is None
    assert link["expires_at"] is None
    for unset in ("min_amount", "max_amount", "description", "redirect_url", "logo_url"):
        assert unset not in link
    assert "metadata" not in link


async def test_null_optional_fields_on_create_mean_defaults(client: httpx.AsyncClient) -> None:
    body = {**FIXED, "payment_types": None, "max_uses": None, "collect_name": None, "slug": None}
    response = await post_link(client, body)

    assert response.status_code == 201, response.text
    link = response.json()["link"]
    assert link["payment_types"] == ALL_TYPES
    assert link["collect_name"] is True
    assert link["slug"] == "invoice"


async def test_create_echoes_every_optional_field_exactly(client: httpx.AsyncClient) -> None:
    body = {
        "title": "Concert",
        "amount_type": "flexible",
        "currency": "USD",
        "min_amount": Decimal("10.5"),
        "max_amount": Decimal("99.99"),
        "payment_types": ["ussd"],
        "slug": "concert-2030",
        "description": "Front row\nBring ID",
        "redirect_url": "https://shop.example/thanks?x=1",
        "max_uses": 50,
        "collect_phone": False,
        "collect_name": False,
        "collect_address": True,
        "logo_url": "https://cdn.example/logo.png",
        "metadata": {"order": 17, "ratio": Decimal("0.125"), "tags": ["a", "b"]},
    }
    response = await post_link(client, body)

    assert response.status_code == 201, response.text
    link = decode(response)["link"]
    for name, value in body.items():
        assert link[name] == value, name
    assert link["amount"] is None
    assert '"min_amount": 10.5' in response.text
    assert '"max_amount": 99.99' in response.text


async def test_auto_slugs_come_from_the_title_and_are_unique(make_link: MakeLink) -> None:
    first = await make_link(title="Café — Ticket!!")
    second = await make_link(title="Café — Ticket!!")
    short = await make_link(title="#")

    assert first["slug"] == "cafe-ticket"
    assert second["slug"] != first["slug"]
    assert second["slug"].startswith("cafe-ticket-")
    for slug in (first["slug"], second["slug"], short["slug"]):
        assert re.fullmatch(r"[a-z0-9-]{3,64}", slug), slug


async def test_slug_taken_by_any_key_is_409(sandbox: Sandbox, make_link: MakeLink) -> None:
    await make_link(slug="my-shop")
    other = await make_link(slug="other-shop")
    async with api_client(sandbox, OTHER_KEY) as stranger:
        response = await post_link(stranger, {**FIXED, "slug": "my-shop"})
        assert_error(response, 409)
        assert await list_total(stranger) == 0

    async with api_client(sandbox, KEY) as owner:
        assert_error(await patch_link(owner, other["id"], {"slug": "my-shop"}), 409)
        same = await patch_link(owner, other["id"], {"slug": "other-shop"})
        assert same.status_code == 200


# Validation


INVALID_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("title missing", {"amount_type": "fixed", "amount": 5, "currency": "RWF"}, "title"),
    ("title empty", {**FIXED, "title": ""}, "title"),
    ("title blank", {**FIXED, "title": "   "}, "title"),
    ("title 101 chars", {**FIXED, "title": "x" * 101}, "title"),
    ("title not a string", {**FIXED, "title": 123}, "title"),
    ("title null", {**FIXED, "title": None}, "title"),
    ("amount_type missing", {"title": "t", "amount": 5, "currency": "RWF"}, "amount_type"),
    ("amount_type unknown", {**FIXED, "amount_type": "variable"}, "amount_type"),
    ("currency missing", {"title": "t", "amount_type": "fixed", "amount": 5}, "currency"),
    ("currency unknown", {**FIXED, "currency": "XYZ"}, "currency"),
    ("currency lower case", {**FIXED, "currency": "rwf"}, "currency"),
    ("fixed without amount", {"title": "t", "amount_type": "fixed", "currency": "RWF"}, "amount"),
    ("amount zero", {**FIXED, "amount": 0}, "amount"),
    ("amount negative", {**FIXED, "amount": -5}, "amount"),
    ("amount as string", {**FIXED, "amount": "5000"}, "amount"),
    ("amount boolean", {**FIXED, "amount": True}, "amount"),
    ("RWF with decimals", {**FIXED, "amount": Decimal("500.5")}, "amount"),
    ("USD with 3 decimals", {**FIXED, "currency": "USD", "amount": Decimal("1.005")}, "amount"),
    ("fixed with min_amount", {**FIXED, "min_amount": 100}, "min_amount"),
    ("fixed with max_amount", {**FIXED, "max_amount": 100}, "max_amount"),
    ("flexible with amount", {**FLEXIBLE, "amount": 100}, "amount"),
    ("flexible min > max", {**FLEXIBLE, "min_amount": 200, "max_amount": 100}, "min_amount"),
    ("min_amount negative", {**FLEXIBLE, "min_amount": -1}, "min_amount"),
    ("max_amount RWF decimals", {**FLEXIBLE, "max_amount": Decimal("9.99")}, "max_amount"),
    ("payment_types empty", {**FIXED, "payment_types": []}, "payment_types"),
    ("payment_types unknown", {**FIXED, "payment_types": ["card", "cash"]}, "payment_types"),
    ("payment_types a string", {**FIXED, "payment_types": "card"}, "payment_types"),
    ("payment_types repeated", {**FIXED, "payment_types": ["card", "card"]}, "payment_types"),
    ("slug too short", {**FIXED, "slug": "ab"}, "slug"),
    ("slug too long", {**FIXED, "slug": "a" * 65}, "slug"),
    ("slug upper case", {**FIXED, "slug": "My-Shop"}, "slug"),
    ("slug underscore", {**FIXED, "slug": "my_shop"}, "slug"),
    ("redirect_url http", {**FIXED, "redirect_url": "http://shop.example/"}, "redirect_url"),
    ("redirect_url relative", {**FIXED, "redirect_url": "/thanks"}, "redirect_url"),
    ("redirect_url no host", {**FIXED, "redirect_url": "https:///x"}, "redirect_url"),
    ("logo_url ftp", {**FIXED, "logo_url": "ftp://cdn.example/logo.png"}, "logo_url"),
    ("max_uses zero", {**FIXED, "max_uses": 0}, "max_uses"),
    ("max_uses fraction", {**FIXED, "max_uses": Decimal("1.5")}, "max_uses"),
    ("max_uses string", {**FIXED, "max_uses": "3"}, "max_uses"),
    ("max_uses boolean", {**FIXED, "max_uses": True}, "max_uses"),
    ("expires_at past", {**FIXED, "expires_at": "2020-01-01 00:00:00"}, "expires_at"),
    ("expires_at ISO T", {**FIXED, "expires_at": "2099-12-31T23:59:59"}, "expires_at"),
    ("expires_at no date", {**FIXED, "expires_at": "2099-02-30 10:00:00"}, "expires_at"),
    ("expires_at date only", {**FIXED, "expires_at": "2099-12-31"}, "expires_at"),
    ("metadata a list", {**FIXED, "metadata": [1, 2]}, "metadata"),
    ("metadata a string", {**FIXED, "metadata": "x"}, "metadata"),
    ("metadata over 4 KiB", {**FIXED, "metadata": {"k": "x" * 4090}}, "metadata"),
    ("collect_phone a string", {**FIXED, "collect_phone": "yes"}, "collect_phone"),
    ("description a number", {**FIXED, "description": 5}, "description"),
    ("unknown field", {**FIXED, "colour": "red"}, "colour"),
]


@pytest.mark.parametrize(
    ("body", "field"),
    [pytest.param(body, field, id=name) for name, body, field in INVALID_BODIES],
)
async def test_invalid_create_is_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await post_link(client, body)

    error = assert_error(response, 422)
    messages = error["errors"][field]
    assert messages
    assert all(isinstance(message, str) and message for message in messages)
    assert await list_total(client) == 0


async def test_422_lists_every_bad_field(client: httpx.AsyncClient) -> None:
    body = {"title": "", "amount_type": "fixed", "currency": "XXY", "max_uses": 0}

    errors = assert_error(await post_link(client, body), 422)["errors"]

    assert {"title", "currency", "max_uses"} <= set(errors)


VALID_EDGES: list[tuple[str, dict[str, Any]]] = [
    ("title of 100 characters", {**FIXED, "title": "x" * 100}),
    ("title of 1 character", {**FIXED, "title": "x"}),
    ("slug of 3 characters", {**FIXED, "slug": "a-1"}),
    ("slug of 64 characters", {**FIXED, "slug": "a" * 64}),
    ("RWF amount written 500.00", {**FIXED, "amount": Decimal("500.00")}),
    ("USD cents", {**FIXED, "currency": "USD", "amount": Decimal("0.01")}),
    ("BHD has three decimals", {**FIXED, "currency": "BHD", "amount": Decimal("1.234")}),
    ("flexible min equals max", {**FLEXIBLE, "min_amount": 100, "max_amount": 100}),
    ("flexible without bounds", FLEXIBLE),
    ("max_uses null", {**FIXED, "max_uses": None}),
    ("expires ten minutes ahead", {**FIXED, "expires_at": in_future(600)}),
    ("metadata exactly 4 KiB", {**FIXED, "metadata": {"k": "x" * (4096 - len('{"k":""}'))}}),
    ("one payment type", {**FIXED, "payment_types": ["bank_transfer"]}),
]


@pytest.mark.parametrize("body", [pytest.param(body, id=name) for name, body in VALID_EDGES])
async def test_edge_values_are_accepted(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await post_link(client, body)

    assert response.status_code == 201, response.text


async def test_amounts_are_exact_json_numbers(client: httpx.AsyncClient) -> None:
    body = {**FIXED, "currency": "USD", "amount": Decimal("1234567.89")}

    response = await post_link(client, body)

    assert '"amount": 1234567.89' in response.text
    assert decode(response)["link"]["amount"] == Decimal("1234567.89")


# 400 / 401 / 403 / 404 / 405


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        pytest.param(b'{"title": "x",', JSON_HEADERS, id="truncated JSON"),
        pytest.param(b"[1, 2]", JSON_HEADERS, id="array body"),
        pytest.param(b'"text"', JSON_HEADERS, id="string body"),
        pytest.param(b"", JSON_HEADERS, id="empty body"),
        pytest.param(b'{"title": NaN}', JSON_HEADERS, id="NaN"),
        pytest.param(b"\xff\xfe{}", JSON_HEADERS, id="not UTF-8"),
        pytest.param(encode(FIXED), {"Content-Type": "text/plain"}, id="not JSON content type"),
        pytest.param(encode(FIXED), {}, id="no content type"),
    ],
)
async def test_malformed_create_is_400(
    client: httpx.AsyncClient, content: bytes, headers: dict[str, str]
) -> None:
    response = await client.post("/payment-links", content=content, headers=headers)

    assert_error(response, 400)
    assert await list_total(client) == 0


async def test_malformed_patch_is_400(client: httpx.AsyncClient, make_link: MakeLink) -> None:
    link = await make_link()

    response = await client.patch(
        f"/payment-links/{link['id']}", content=b"{oops", headers=JSON_HEADERS
    )

    assert_error(response, 400)


@pytest.mark.parametrize(
    "key", [None, "", "sk_live_abc", "pk_test_abc", "sk_test_", "SK_TEST_abc"]
)
async def test_missing_or_bad_key_is_401_everywhere(
    sandbox: Sandbox, make_link: MakeLink, key: str | None
) -> None:
    link = await make_link()
    async with api_client(sandbox, key) as http:
        calls = [
            http.get("/payment-links"),
            http.get(f"/payment-links/{link['id']}"),
            http.post("/payment-links", content=encode(FIXED), headers=JSON_HEADERS),
            http.patch(
                f"/payment-links/{link['id']}", content=b'{"title":"x"}', headers=JSON_HEADERS
            ),
            http.delete(f"/payment-links/{link['id']}"),
        ]
        for call in calls:
            assert_error(await call, 401)


async def test_error_never_echoes_the_key(sandbox: Sandbox) -> None:
    async with api_client(sandbox, "sk_live_SECRET_VALUE") as http:
        response = await http.get("/payment-links")

    assert_error(response, 401)
    assert "SECRET_VALUE" not in response.text


async def test_read_only_key_reads_but_may_not_write(sandbox: Sandbox) -> None:
    [link_id] = sandbox.seed_links(READONLY_KEY, 1)
    async with api_client(sandbox, READONLY_KEY) as http:
        listed = await http.get("/payment-links")
        assert listed.status_code == 200
        assert [link["id"] for link in listed.json()["links"]] == [link_id]
        assert (await http.get(f"/payment-links/{link_id}")).status_code == 200

        assert_error(await post_link(http, FIXED), 403)
        assert_error(await patch_link(http, link_id, {"title": "x"}), 403)
        assert_error(await http.delete(f"/payment-links/{link_id}"), 403)
        after = await http.get(f"/payment-links/{link_id}")
    assert after.json()["link"]["status"] == "active"
    assert after.json()["link"]["title"] != "x"


async def test_unknown_link_is_404(client: httpx.AsyncClient) -> None:
    missing = str(uuid.uuid4())

    assert_error(await client.get(f"/payment-links/{missing}"), 404)
    assert_error(await client.get("/payment-links/not-a-uuid"), 404)
    assert_error(await patch_link(client, missing, {"title": "x"}), 404)
    assert_error(await client.delete(f"/payment-links/{missing}"), 404)


async def test_other_keys_link_is_404_and_untouched(sandbox: Sandbox, make_link: MakeLink) -> None:
    mine = await make_link(title="Mine")
    async with api_client(sandbox, OTHER_KEY) as stranger:
        assert_error(await stranger.get(f"/payment-links/{mine['id']}"), 404)
        assert_error(await patch_link(stranger, mine["id"], {"title": "Theirs"}), 404)
        assert_error(await stranger.delete(f"/payment-links/{mine['id']}"), 404)
        assert await list_total(stranger) == 0
    async with api_client(sandbox, KEY) as owner:
        link = (await details(owner, mine["id"]))["link"]
    assert link["title"] == "Mine"
    assert link["status"] == "active"


async def test_unknown_api_route_is_a_json_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/payment-linkz"), 404)
    assert_error(await client.put("/payment-links"), 405)


# PATCH and DELETE


async def test_patch_changes_only_what_it_sends(
    sandbox: Sandbox, client: httpx.AsyncClient, make_link: MakeLink
) -> None:
    link = await make_link(description="Old", max_uses=5, payment_types=["card"])

    response = await patch_link(client, link["id"], {"title": "New title"})

    assert response.status_code == 200, response.text
    body = decode(response)
    assert body["status"] == "success"
    assert isinstance(body["message"], str)
    expected = {**link, "title": "New title"}
    assert body["link"] == expected
    assert (await details(client, link["id"]))["link"] == expected
    [logged] = [entry for entry in await sandbox.requests() if entry["method"] == "PATCH"]
    assert logged["body"] == {"title": "New title"}


async def test_patch_null_clears_optional_fields(
    client: httpx.AsyncClient, make_link: MakeLink
) -> None:
    link = await make_link(
        max_uses=3,
        expires_at=in_future(3600),
        description="x",
        metadata={"a": 1},
        payment_types=["card"],
    )
    body = {
        "max_uses": None,
        "expires_at": None,
        "description": None,
        "metadata": None,
        "payment_types": None,
    }

    updated = decode(await patch_link(client, link["id"], body))["link"]

    assert updated["max_uses"] is None
    assert updated["expires_at"] is None
    assert "description" not in updated
    assert "metadata" not in updated
    assert updated["payment_types"] == ALL_TYPES


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"title": None}, "title", id="title null"),
        pytest.param({"slug": None}, "slug", id="slug null"),
        pytest.param({"amount": 0}, "amount", id="amount zero"),
        pytest.param({"amount": None}, "amount", id="fixed loses its amount"),
        pytest.param({"amount_type": "flexible"}, "amount", id="flexible keeps amount"),
        pytest.param({"currency": "USD", "amount": Decimal("1.001")}, "amount", id="precision"),
        pytest.param({"expires_at": "2020-01-01 00:00:00"}, "expires_at", id="past expiry"),
        pytest.param({"bogus": 1}, "bogus", id="unknown field"),
    ],
)
async def test_invalid_patch_is_422_and_changes_nothing(
    client: httpx.AsyncClient, make_link: MakeLink, body: dict[str, Any], field: str
) -> None:
    link = await make_link()

    error = assert_error(await patch_link(client, link["id"], body), 422)

    assert error["errors"][field]
    assert (await details(client, link["id"]))["link"] == link


async def test_patch_validates_the_link_as_it_would_become(
    client: httpx.AsyncClient, make_link: MakeLink
) -> None:
    link = await make_link(amount=Decimal("1500"))

    rwf_decimals = await patch_link(client, link["id"], {"currency": "USD", "amount": 12})
    to_flexible = await patch_link(
        client,
        link["id"],
        {"amount_type": "flexible", "amount": None, "min_amount": 5, "max_amount": 50},
    )

    assert rwf_decimals.status_code == 200
    assert to_flexible.status_code == 200, to_flexible.text
    updated = decode(to_flexible)["link"]
    assert updated["amount_type"] == "flexible"
    assert updated["amount"] is None
    assert (updated["min_amount"], updated["max_amount"], updated["currency"]) == (5, 50, "USD")
    back_to_rwf = await patch_link(client, link["id"], {"min_amount": Decimal("5.5")})
    assert back_to_rwf.status_code == 200
    assert_error(await patch_link(client, link["id"], {"currency": "RWF"}), 422)


async def test_empty_patch_changes_nothing(client: httpx.AsyncClient, make_link: MakeLink) -> None:
    link = await make_link()

    response = await patch_link(client, link["id"], {})

    assert response.status_code == 200
    assert decode(response)["link"] == link


async def test_delete_archives_for_good(client: httpx.AsyncClient, make_link: MakeLink) -> None:
    link = await make_link()

    response = await client.delete(f"/payment-links/{link['id']}")

    assert response.status_code == 200
    assert response.json() == {"status": "success", "message": "Payment link archived"}
    assert (await details(client, link["id"]))["link"]["status"] == "archived"
    listed = (await client.get("/payment-links")).json()["links"]
    assert [(item["id"], item["status"]) for item in listed] == [(link["id"], "archived")]
    assert_error(await patch_link(client, link["id"], {"max_uses": 10}), 410)
    assert_error(await patch_link(client, link["id"], {"title": "Revived?"}), 410)
    assert_error(await client.delete(f"/payment-links/{link['id']}"), 410)
    assert (await details(client, link["id"]))["link"]["title"] == link["title"]


# Listing


async def test_pages_are_newest_first_with_the_right_sizes(
    client: httpx.AsyncClient, make_link: MakeLink
) -> None:
    created = [(await make_link(title=f"Link {number}"))["id"] for number in range(25)]
    newest_first = created[::-1]

    pages = []
    for page in (1, 2, 3, 4):
        response = await client.get("/payment-links", params={"page": page, "per_page": 10})
        assert response.status_code == 200
        pages.append(response.json())

    assert [[link["id"] for link in page["links"]] for page in pages] == [
        newest_first[0:10],
        newest_first[10:20],
        newest_first[20:25],
        [],
    ]
    for number, page in enumerate(pages, start=1):
        assert page["status"] == "success"
        assert page["pagination"] == {
            "page": number,
            "per_page": 10,
            "total": 25,
            "total_pages": 3,
        }


async def test_list_defaults_to_20_per_page(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    sandbox.seed_links(KEY, 150)

    first = (await client.get("/payment-links")).json()
    widest = (await client.get("/payment-links", params={"page": 2, "per_page": 100})).json()

    assert len(first["links"]) == 20
    assert first["pagination"] == {"page": 1, "per_page": 20, "total": 150, "total_pages": 8}
    assert len(widest["links"]) == 50
    assert widest["pagination"]["total_pages"] == 2
    assert set(first["links"][0]) >= PAGE_LINK_FIELDS


async def test_empty_list(client: httpx.AsyncClient) -> None:
    response = await client.get("/payment-links")

    assert response.json() == {
        "status": "success",
        "links": [],
        "pagination": {"page": 1, "per_page": 20, "total": 0, "total_pages": 0},
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"per_page": 101}, "per_page", id="per_page over 100"),
        pytest.param({"per_page": 0}, "per_page", id="per_page zero"),
        pytest.param({"per_page": "ten"}, "per_page", id="per_page text"),
        pytest.param({"page": 0}, "page", id="page zero"),
        pytest.param({"page": -1}, "page", id="page negative"),
        pytest.param({"page": "1.5"}, "page", id="page fraction"),
    ],
)
async def test_bad_paging_is_422(
    client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    error = assert_error(await client.get("/payment-links", params=params), 422)

    assert error["errors"][field]


async def test_keys_see_only_their_own_links(sandbox: Sandbox, make_link: MakeLink) -> None:
    mine = {(await make_link(title=f"Mine {number}"))["id"] for number in range(3)}
    async with api_client(sandbox, OTHER_KEY) as other:
        theirs = {decode(await post_link(other, FIXED))["link"]["id"]}
        other_page = (await other.get("/payment-links")).json()
    async with api_client(sandbox, KEY) as owner:
        my_page = (await owner.get("/payment-links")).json()

    assert {link["id"] for link in my_page["links"]} == mine
    assert my_page["pagination"]["total"] == 3
    assert {link["id"] for link in other_page["links"]} == theirs
    assert other_page["pagination"]["total"] == 1


# Status, stats and charges


async def test_link_completes_when_successful_charges_reach_max_uses(
    sandbox: Sandbox, client: httpx.AsyncClient, make_link: MakeLink
) -> None:
    link = await make_link(max_uses=2)
    await sandbox.add_charge(KEY, link["id"], 5000, status="pending")
    await sandbox.add_charge(KEY, link["id"], 5000, status="failed")
    await sandbox.add_charge(KEY, link["id"], 5000)
    halfway = (await details(client, link["id"]))["link"]
    await sandbox.add_charge(KEY, link["id"], 5000)

    done = (await details(client, link["id"]))["link"]
    listed = (await client.get("/payment-links")).json()["links"][0]
    reopened = decode(await patch_link(client, link["id"], {"max_uses": 3}))["link"]
    await patch_link(client, link["id"], {"max_uses": 2})
    unlimited = decode(await patch_link(client, link["id"], {"max_uses": None}))["link"]

    assert (halfway["use_count"], halfway["status"]) == (1, "active")
    assert (done["use_count"], done["status"]) == (2, "completed")
    assert (listed["use_count"], listed["status"]) == (2, "completed")
    assert (reopened["use_count"], reopened["status"]) == (2, "active")
    assert unlimited["status"] == "active"


async def test_link_expires_when_the_clock_passes_expires_at(
    sandbox: Sandbox, client: httpx.AsyncClient, make_link: MakeLink
) -> None:
    link = await make_link(expires_at=in_future(120))
    assert link["status"] == "active"

    now = await sandbox.advance_clock(121)

    expired = (await details(client, link["id"]))["link"]
    assert expired["status"] == "expired"
    listed = (await client.get("/payment-links")).json()["links"][0]
    assert listed["status"] == "expired"
    assert_error(await patch_link(client, link["id"], {"expires_at": now}), 422)
    later = (kigali_time(now) + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    extended = decode(await patch_link(client, link["id"], {"expires_at": later}))["link"]
    assert extended["status"] == "active"


async def test_archived_stays_archived_whatever_else_happens(
    sandbox: Sandbox, client: httpx.AsyncClient, make_link: MakeLink
) -> None:
    link = await make_link(max_uses=1, expires_at=in_future(60))
    await client.delete(f"/payment-links/{link['id']}")
    await sandbox.add_charge(KEY, link["id"], 5000)
    await sandbox.advance_clock(3600)

    assert (await details(client, link["id"]))["link"]["status"] == "archived"


async def test_stats_and_recent_charges(
    sandbox: Sandbox, client: httpx.AsyncClient, make_link: MakeLink
) -> None:
    link = await make_link(amount_type="flexible", amount=None, currency="RWF")
    plan = [
        ("success", 500),
        ("failed", 700),
        ("success", 1200),
        ("pending", 300),
        ("success", 250),
        ("failed", 100),
        ("success", 4000),
        ("pending", 900),
        ("success", 10),
        ("success", 75),
        ("failed", 60),
        ("success", 2000),
    ]
    charges = [
        await sandbox.add_charge(
            KEY, link["id"], amount, status=status, payment_type="mobile_money"
        )
        for status, amount in plan
    ]

    body = await details(client, link["id"])

    assert body["status"] == "success"
    assert body["stats"] == {
        "total_charges": 12,
        "successful_charges": 7,
        "pending_charges": 2,
        "failed_charges": 3,
        "total_collected": 500 + 1200 + 250 + 4000 + 10 + 75 + 2000,
        "currency": "RWF",
    }
    recent = body["recent_charges"]
    assert [charge["id"] for charge in recent] == [charge["id"] for charge in charges[::-1][:10]]
    newest = recent[0]
    assert newest["amount"] == "2000.00"
    assert newest["currency"] == "RWF"
    assert newest["status"] == "success"
    assert newest["payment_type"] == "mobile_money"
    assert TIME_RE.fullmatch(newest["created_at"])
    assert [charge["amount"] for charge in recent] == [
        f"{amount}.00" for _, amount in plan[::-1][:10]
    ]
    assert [charge["status"] for charge in recent] == [status for status, _ in plan[::-1][:10]]
    assert body["link"]["use_count"] == 7


async def test_pending_charge_settles_in_place(
    sandbox: Sandbox, client: httpx.AsyncClient, make_link: MakeLink
) -> None:
    link = await make_link(currency="USD", amount=Decimal("12.5"), max_uses=1)
    pending = await sandbox.add_charge(
        KEY, link["id"], Decimal("12.5"), status="pending", payer_name="Aline", payer_phone="0788"
    )
    before = await details(client, link["id"])

    settled = await sandbox.settle(pending["id"], "success")

    after = await details(client, link["id"])
    assert before["recent_charges"] == [pending]
    assert pending["amount"] == "12.50"
    assert (pending["payer_name"], pending["payer_phone"]) == ("Aline", "0788")
    assert "payment_type" not in pending
    assert (before["stats"]["pending_charges"], before["stats"]["successful_charges"]) == (1, 0)
    assert before["link"]["status"] == "active"
    assert settled == {**pending, "status": "success"}
    assert after["recent_charges"] == [settled]
    assert (after["stats"]["pending_charges"], after["stats"]["successful_charges"]) == (0, 1)
    assert after["stats"]["total_collected"] == Decimal("12.5")
    assert after["link"]["status"] == "completed"
    with pytest.raises(ControlError):
        await sandbox.settle(pending["id"], "failed")


async def test_charges_of_other_keys_links_are_refused(
    sandbox: Sandbox, make_link: MakeLink
) -> None:
    link = await make_link()

    with pytest.raises(ControlError) as refused:
        await sandbox.add_charge(OTHER_KEY, link["id"], 5000)

    assert refused.value.status == 404


# The payer page


async def test_payer_page_escapes_user_text(sandbox: Sandbox, make_link: MakeLink) -> None:
    link = await make_link(
        title="<script>alert(1)</script>",
        description='"><img src=x onerror=alert(2)>',
        payment_types=["card", "mobile_money"],
        collect_name=False,
        collect_address=True,
    )
    async with httpx.AsyncClient() as browser:
        response = await browser.get(link["url"])

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    assert "<img src=x" not in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert 'name="viewport"' in page
    assert "5,000" in page
    assert re.findall(r'name="payment_type" value="([a-z_]+)"', page) == ["card", "mobile_money"]
    assert 'name="payer_phone"' in page
    assert 'name="payer_name"' not in page
    assert 'name="payer_address"' in page
    assert re.findall(r'name="outcome" value="([a-z]+)"', page) == ["success", "pending", "failed"]


@pytest.mark.parametrize("outcome", ["success", "pending", "failed"])
async def test_paying_on_the_payer_page_creates_a_charge(
    client: httpx.AsyncClient, make_link: MakeLink, outcome: str
) -> None:
    link = await make_link(payment_types=["card", "ussd"], redirect_url="https://shop.example/ok")
    form = {
        "payment_type": "ussd",
        "payer_name": "Jean <b>",
        "payer_phone": "+250788000000",
        "outcome": outcome,
    }
    async with httpx.AsyncClient() as browser:
        response = await browser.post(link["url"], data=form)

    assert response.status_code == 200
    assert "Jean <b>" not in response.text
    assert ("https://shop.example/ok" in response.text) is (outcome == "success")
    body = await details(client, link["id"])
    [charge] = body["recent_charges"]
    assert charge["status"] == outcome
    assert charge["amount"] == "5000.00"
    assert charge["payment_type"] == "ussd"
    assert charge["payer_name"] == "Jean <b>"
    assert charge["payer_phone"] == "+250788000000"
    assert charge["id"] in response.text
    assert body["link"]["use_count"] == (1 if outcome == "success" else 0)


async def test_flexible_payment_checks_the_payers_amount(
    client: httpx.AsyncClient, make_link: MakeLink
) -> None:
    link = await make_link(
        amount_type="flexible", amount=None, currency="USD", min_amount=5, max_amount=50
    )
    async with httpx.AsyncClient() as browser:
        page = (await browser.get(link["url"])).text.replace("\xa0", " ")
        refused = [
            await browser.post(
                link["url"], data={"amount": amount, "payment_type": "card", "outcome": "success"}
            )
            for amount in ("4.99", "50.01", "abc", "", "1.005", "-6")
        ]
        paid = await browser.post(
            link["url"], data={"amount": "12.30", "payment_type": "card", "outcome": "success"}
        )
        wrong_method = await browser.post(
            link["url"], data={"amount": "10", "payment_type": "cash", "outcome": "success"}
        )

    assert 'name="amount"' in page
    # No language asked for: the page is English, amounts as English writes them.
    assert "$5.00" in page
    assert "$50.00" in page
    assert [response.status_code for response in refused] == [422] * 6
    assert wrong_method.status_code == 422
    assert paid.status_code == 200
    body = await details(client, link["id"])
    assert [charge["amount"] for charge in body["recent_charges"]] == ["12.30"]
    assert body["stats"]["total_collected"] == Decimal("12.3")


async def test_closed_links_do_not_take_payments(
    sandbox: Sandbox, client: httpx.AsyncClient, make_link: MakeLink
) -> None:
    archived = await make_link(title="Archived")
    await client.delete(f"/payment-links/{archived['id']}")
    completed = await make_link(title="Completed", max_uses=1)
    await sandbox.add_charge(KEY, completed["id"], 5000)
    expired = await make_link(title="Expired", expires_at=in_future(30))
    await sandbox.advance_clock(31)

    async with httpx.AsyncClient() as browser:
        for link in (archived, completed, expired):
            shown = await browser.get(link["url"])
            paid = await browser.post(
                link["url"], data={"payment_type": "card", "outcome": "success"}
            )
            assert shown.status_code == 410
            assert "Not accepting payments" in shown.text
            assert 'name="outcome"' not in shown.text
            assert paid.status_code == 410
        missing = await browser.get(f"{sandbox.url}/generation/pay/no-such-link")

    assert missing.status_code == 404
    for link in (archived, expired):
        assert (await details(client, link["id"]))["stats"]["total_charges"] == 0
    assert (await details(client, completed["id"]))["stats"]["total_charges"] == 1


# Faults


async def test_status_fault_answers_once_then_clears(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    await sandbox.inject(status=503)

    first = await client.get("/payment-links")
    second = await client.get("/payment-links")

    assert_error(first, 503)
    assert second.status_code == 200


async def test_rate_limit_fault_sends_retry_after(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    await sandbox.inject(status=429, retry_after=2, times=2)

    responses = [await client.get("/payment-links") for _ in range(3)]

    assert [response.status_code for response in responses] == [429, 429, 200]
    assert responses[0].headers["retry-after"] == "2"
    assert_error(responses[0], 429)


async def test_faults_match_method_path_and_key(
    sandbox: Sandbox, client: httpx.AsyncClient, make_link: MakeLink
) -> None:
    link = await make_link()
    await sandbox.inject(method="PATCH", status=500, times=0)
    await sandbox.inject(path=r"/payment-links/[0-9a-f-]+$", method="GET", status=502, times=0)
    await sandbox.inject(key=OTHER_KEY, status=500, times=0)

    listed = await client.get("/payment-links")
    one = await client.get(f"/payment-links/{link['id']}")
    patched = await patch_link(client, link["id"], {"title": "x"})
    async with api_client(sandbox, OTHER_KEY) as other:
        others = await other.get("/payment-links")

    assert listed.status_code == 200
    assert one.status_code == 502
    assert patched.status_code == 500
    assert others.status_code == 500
    await sandbox.clear_faults()
    assert (await client.get(f"/payment-links/{link['id']}")).status_code == 200


@pytest.mark.parametrize(
    ("status", "raw", "content_type"),
    [
        (502, "<html><body>Bad gateway</body></html>", "text/html"),
        (200, "[1,2]", "application/json"),
        (200, "not json at all", "text/html"),
    ],
)
async def test_raw_body_fault(
    sandbox: Sandbox, client: httpx.AsyncClient, status: int, raw: str, content_type: str
) -> None:
    await sandbox.inject(status=status, body=raw)

    response = await client.get("/payment-links")

    assert response.status_code == status
    assert response.text == raw
    assert response.headers["content-type"].startswith(content_type)


async def test_delay_fault_still_performs_the_operation(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    await sandbox.inject(method="POST", delay=0.6)

    with pytest.raises(httpx.ReadTimeout):
        await client.post(
            "/payment-links", content=encode(FIXED), headers=JSON_HEADERS, timeout=0.15
        )

    assert await list_total(client) == 0
    for _ in range(100):
        if await list_total(client) == 1:
            break
        await asyncio.sleep(0.02)
    assert await list_total(client) == 1


async def test_hang_fault_never_answers(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    await sandbox.inject(method="POST", hang=True)

    with pytest.raises(httpx.ReadTimeout):
        await client.post(
            "/payment-links", content=encode(FIXED), headers=JSON_HEADERS, timeout=0.2
        )

    assert await list_total(client) == 0
    assert (await post_link(client, FIXED)).status_code == 201


async def test_drop_fault_loses_the_response_of_a_done_create(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    await sandbox.inject(method="POST", drop=True)

    with pytest.raises(httpx.RemoteProtocolError):
        await post_link(client, {**FIXED, "title": "Lost response"})

    links = (await client.get("/payment-links")).json()["links"]
    assert [link["title"] for link in links] == ["Lost response"]
    [logged] = [entry for entry in await sandbox.requests() if entry["method"] == "POST"]
    assert logged["status"] is None


async def test_drop_before_the_operation_creates_nothing(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    await sandbox.inject(method="POST", drop=True, after=False)

    with pytest.raises(httpx.RemoteProtocolError):
        await post_link(client, FIXED)

    assert await list_total(client) == 0


async def test_fault_after_the_operation(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    await sandbox.inject(method="POST", status=500, after=True)
    await sandbox.inject(method="POST", status=504, after=False)

    done = await post_link(client, {**FIXED, "title": "Done"})
    not_done = await post_link(client, {**FIXED, "title": "Not done"})

    assert_error(done, 500)
    assert_error(not_done, 504)
    links = (await client.get("/payment-links")).json()["links"]
    assert [link["title"] for link in links] == ["Done"]


async def test_delay_after_the_operation(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    await sandbox.inject(method="POST", delay=2, after=True)

    with pytest.raises(httpx.ReadTimeout):
        await client.post(
            "/payment-links", content=encode(FIXED), headers=JSON_HEADERS, timeout=0.3
        )

    assert await list_total(client) == 1


async def test_key_delay_slows_one_key_only(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    await sandbox.set_key_delay(OTHER_KEY, 2)

    async with api_client(sandbox, OTHER_KEY, timeout=0.2) as slow:
        with pytest.raises(httpx.ReadTimeout):
            await slow.get("/payment-links")
        assert (await client.get("/payment-links", timeout=0.2)).status_code == 200
        await sandbox.set_key_delay(OTHER_KEY, 0)
        assert (await slow.get("/payment-links")).status_code == 200


async def test_bad_fault_specs_are_refused(sandbox: Sandbox) -> None:
    for spec in ({"hang": True, "drop": True}, {"colour": "red"}, {}, {"status": 42}):
        with pytest.raises(ControlError):
            await sandbox.inject(**spec)


# The request log and the HTTP test controls


async def test_request_log_shows_what_the_client_sent(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    await client.get("/payment-links", params={"page": 2, "per_page": 5})
    await post_link(client, {**FIXED, "amount": Decimal("7000")})

    async with httpx.AsyncClient(base_url=sandbox.url) as control:
        response = await control.get("/_sandbox/requests")

    assert response.status_code == 200
    assert KEY not in response.text
    listed, created = decode(response)["requests"]
    assert listed["method"] == "GET"
    assert listed["path"] == "/generation/v2/payment-links"
    assert listed["query"] == {"page": "2", "per_page": "5"}
    assert listed["key"] == KEY[-4:]
    assert listed["status"] == 200
    assert created["method"] == "POST"
    assert created["body"] == {**FIXED, "amount": 7000}
    assert created["content_type"] == "application/json"
    assert created["status"] == 201


async def test_http_controls(sandbox: Sandbox, make_link: MakeLink) -> None:
    link = await make_link(currency="USD", amount=Decimal("12.5"))
    async with httpx.AsyncClient(base_url=sandbox.url) as control:
        added = await control.post(
            "/_sandbox/charges",
            json={"link_id": link["id"], "amount": "12.5", "status": "pending"},
        )
        charge = added.json()
        settled = await control.post(
            f"/_sandbox/charges/{charge['id']}", json={"status": "failed"}
        )
        unknown_link = await control.post(
            "/_sandbox/charges", json={"link_id": str(uuid.uuid4()), "amount": 1}
        )
        fault = await control.post("/_sandbox/faults", json={"status": 500, "times": 0})
        clock = await control.post("/_sandbox/clock", json={"advance_seconds": 86400})
        delay = await control.post(f"/_sandbox/keys/{OTHER_KEY}/delay", json={"seconds": 0})
        async with api_client(sandbox, KEY) as http:
            faulted = await http.get("/payment-links")
            cleared = await control.delete("/_sandbox/faults")
            healthy = await http.get(f"/payment-links/{link['id']}")
            reset = await control.post("/_sandbox/reset")
            gone = await http.get(f"/payment-links/{link['id']}")

    assert added.status_code == 201
    assert uuid.UUID(charge["id"]).version == 4
    assert (charge["amount"], charge["currency"], charge["status"]) == ("12.50", "USD", "pending")
    assert settled.status_code == 200
    assert settled.json() == {**charge, "status": "failed"}
    assert unknown_link.status_code == 404
    assert fault.status_code == 201
    assert clock.status_code == 200
    now = kigali_time(clock.json()["now"])
    assert now > datetime.now(KIGALI) + timedelta(hours=23)
    assert delay.status_code == 200
    assert faulted.status_code == 500
    assert cleared.status_code == 200
    assert healthy.status_code == 200
    assert healthy.json()["recent_charges"] == [{**charge, "status": "failed"}]
    assert reset.status_code == 200
    assert gone.status_code == 404


async def test_controls_do_not_exist_outside_test_mode() -> None:
    async with (
        Sandbox(test_mode=False, public_base_url="https://pay.example.test/") as sandbox,
        httpx.AsyncClient(base_url=sandbox.url) as http,
    ):
        controls = [
            await http.post("/_sandbox/charges", json={}),
            await http.post("/_sandbox/charges/abc", json={"status": "success"}),
            await http.post("/_sandbox/faults", json={"status": 500}),
            await http.delete("/_sandbox/faults"),
            await http.post("/_sandbox/clock", json={"advance_seconds": 1}),
            await http.post("/_sandbox/reset"),
            await http.get("/_sandbox/requests"),
            await http.post("/_sandbox/keys/sk_test_x/delay", json={"seconds": 1}),
        ]
        created = await http.post(
            "/generation/v2/payment-links",
            content=encode(FIXED),
            headers={**JSON_HEADERS, "X-DGS-API-Key": KEY},
        )

    assert [response.status_code for response in controls] == [404] * len(controls)
    assert created.status_code == 201
    assert created.json()["link"]["url"] == "https://pay.example.test/generation/pay/invoice"


async def test_stopping_the_sandbox_releases_hung_requests() -> None:
    async with Sandbox() as sandbox, api_client(sandbox, KEY, timeout=10) as http:
        await sandbox.inject(hang=True)
        hung = asyncio.ensure_future(http.get("/payment-links"))
        for _ in range(200):
            if await sandbox.requests():
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert not hung.done()

        await sandbox.stop()  # stopping twice (here and on exit) is harmless

        response = await hung

    assert_error(response, 503)
