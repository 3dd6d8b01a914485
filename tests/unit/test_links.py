"""bot.links and bot.cleaners: the form's answers, field by field, and the API bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from bot.cleaners import (
    DRAFT_ERROR_CODES,
    METADATA_USER_MAX_BYTES,
    DraftError,
    check_amounts,
    clean_amount,
    clean_currency,
    clean_description,
    clean_https_url,
    clean_payment_types,
    clean_slug,
    clean_title,
    parse_expiry,
    parse_max_uses,
    parse_metadata,
    suggest_slug,
)
from bot.dgs.models import KIGALI, Link, LinkCreate, PaymentType, metadata_size
from bot.links import LinkDraft, update_for

D = Decimal
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=KIGALI)


def refused(call: Any, *args: Any, **kwargs: Any) -> DraftError:
    """Run ``call`` expecting a DraftError and return it."""
    with pytest.raises(DraftError) as caught:
        call(*args, **kwargs)
    return caught.value


def fixed(**changes: Any) -> LinkDraft:
    base: dict[str, Any] = {"kind": "fixed", "title": "Invoice #123", "currency": "RWF"}
    base["amount"] = D(50000)
    base.update(changes)
    return LinkDraft(**base)


def flexible(**changes: Any) -> LinkDraft:
    base: dict[str, Any] = {"kind": "flexible", "title": "Donations", "currency": "USD"}
    base.update(changes)
    return LinkDraft(**base)


# --- title, currency, amounts, description ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("Invoice #123", "Invoice #123"),
        ("  Invoice   #123 \n", "Invoice #123"),
        ("Line one\nline two", "Line one line two"),
        ("Église Saint-Michel", "Église Saint-Michel"),
        ("E\u0301glise", "Église"),  # decomposed accent counts as one character
        ("x" * 100, "x" * 100),
        ("Café 🙂", "Café 🙂"),
    ],
)
def test_clean_title(text: str, title: str) -> None:
    assert clean_title(text) == title


@pytest.mark.parametrize(
    ("text", "code", "params"),
    [
        ("", "draft-title-empty", {}),
        ("   \n\t", "draft-title-empty", {}),
        ("x" * 101, "draft-title-too-long", {"max": 100, "length": 101}),
        ("é" * 150, "draft-title-too-long", {"max": 100, "length": 150}),
    ],
)
def test_clean_title_refuses(text: str, code: str, params: dict[str, Any]) -> None:
    error = refused(clean_title, text)
    assert (error.field, error.code, error.params) == ("title", code, params)


@pytest.mark.parametrize(
    ("text", "code"),
    [("RWF", "RWF"), ("rwf", "RWF"), (" usd ", "USD"), ("Frw", "RWF"), ("$", "USD")],
)
def test_clean_currency(text: str, code: str) -> None:
    assert clean_currency(text) == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "draft-currency-missing"),
        ("ABC", "draft-currency-unknown"),
        ("FRF", "draft-currency-unknown"),
    ],
)
def test_clean_currency_refuses(text: str, code: str) -> None:
    assert refused(clean_currency, text).code == code


def test_clean_amount_reports_the_field_and_the_amount_code() -> None:
    assert clean_amount("50.000", "RWF", "fr") == D(50000)
    error = refused(clean_amount, "500.5", "RWF", "en", field="min_amount")
    assert (error.field, error.code, error.params) == (
        "min_amount",
        "amount-too-precise",
        {"currency": "RWF", "digits": 0},
    )


def test_clean_payment_types() -> None:
    assert clean_payment_types(["ussd", "card", "card"]) == [PaymentType.CARD, PaymentType.USSD]
    assert refused(clean_payment_types, []).code == "draft-payment-types-empty"
    error = refused(clean_payment_types, ["cash"])
    assert (error.code, error.params) == ("draft-payment-type-unknown", {"value": "cash"})


def test_clean_description() -> None:
    assert clean_description("  Roof repair\nphase 2  ") == "Roof repair\nphase 2"
    assert refused(clean_description, "  ").code == "draft-description-empty"
    error = refused(clean_description, "x" * 1001)
    assert (error.code, error.params) == (
        "draft-description-too-long",
        {"max": 1000, "length": 1001},
    )
    assert clean_description("x" * 1000) == "x" * 1000


# --- slug and URLs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Église Saint-Michel — toiture", "eglise-saint-michel-toiture"),
        ("Invoice #123", "invoice-123"),
        ("Cœur & Âme", "coeur-ame"),
        ("Straße", "strasse"),
        ("  --Hello--  ", "hello"),
        ("Ubwisungane bw'abana", "ubwisungane-bw-abana"),
        ("A", "a-link"),
        ("", "link"),
        ("🙂🙂", "link"),
        ("Αθήνα", "link"),  # no Latin letters at all
    ],
)
def test_suggest_slug(title: str, slug: str) -> None:
    assert suggest_slug(title) == slug


def test_suggest_slug_long_title_ends_on_a_word() -> None:
    title = "School fees for the second term of the academic year twenty twenty six"
    slug = suggest_slug(title)
    assert len(slug) <= 64
    assert slug == "school-fees-for-the-second-term-of-the-academic-year-twenty"
    assert suggest_slug("x" * 100) == "x" * 64


@pytest.mark.parametrize(
    "title",
    ["Église", "#1", "a b", "x" * 300, "—", "Ça va?", "2026", "a-" * 40, "ÆØÅ", "ab"],
)
def test_suggested_slugs_are_always_valid(title: str) -> None:
    slug = suggest_slug(title)
    assert clean_slug(slug) == slug


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("invoice-123", "invoice-123"),
        ("  Invoice-123 ", "invoice-123"),
        ("abc", "abc"),
        ("a" * 64, "a" * 64),
    ],
)
def test_clean_slug(text: str, slug: str) -> None:
    assert clean_slug(text) == slug


@pytest.mark.parametrize("text", ["ab", "a" * 65, "my slug", "école", "a_b", "a/b", ""])
def test_clean_slug_refuses(text: str) -> None:
    error = refused(clean_slug, text)
    assert (error.code, error.params) == ("draft-slug-invalid", {"min": 3, "max": 64})


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com",
        "https://shop.example.rw/thanks?order=1#top",
        "HTTPS://Example.com/a",
        "https://example.com:8443/x",
        "https://école.example.fr/merci",
    ],
)
def test_clean_https_url(url: str) -> None:
    assert clean_https_url(url) == url


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("http://example.com", "draft-url-not-https"),
        ("example.com/pay", "draft-url-not-https"),
        ("ftp://example.com/logo.png", "draft-url-not-https"),
        ("javascript:alert(1)", "draft-url-not-https"),
        ("", "draft-url-invalid"),
        ("https://", "draft-url-invalid"),
        ("https://localhost/x", "draft-url-invalid"),
        ("https://exa mple.com", "draft-url-invalid"),
        ("not a url", "draft-url-invalid"),
        ("hello", "draft-url-invalid"),
        ("https://example.com:99999/", "draft-url-invalid"),
        ("https://-bad-.com", "draft-url-invalid"),
        ("https://example.com/" + "x" * 2100, "draft-url-invalid"),
    ],
)
def test_clean_https_url_refuses(text: str, code: str) -> None:
    error = refused(clean_https_url, text, "logo_url")
    assert (error.field, error.code) == ("logo_url", code)


# --- max uses, expiry, metadata -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", 1), ("100", 100), (" 25 ", 25), ("1 000", 1000), ("1,000", 1000), ("+3", 3), ("５", 5)],
)
def test_parse_max_uses(text: str, value: int) -> None:
    assert parse_max_uses(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "abc", "1.5", "", "10000000000", "1,00", "∞"])
def test_parse_max_uses_refuses(text: str) -> None:
    assert refused(parse_max_uses, text).code == "draft-max-uses-invalid"


END_OF_2026 = datetime(2026, 12, 31, 23, 59, 59, tzinfo=KIGALI)
SIX_PM = datetime(2026, 12, 31, 18, 0, tzinfo=KIGALI)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-31", END_OF_2026),
        ("2026-12-31 18:00", SIX_PM),
        ("2026-12-31T18:00", SIX_PM),
        ("2026-12-31 18:00:30", SIX_PM.replace(second=30)),
        ("31/12/2026 18:00", SIX_PM),
        ("31/12/2026", END_OF_2026),
        ("31.12.2026", END_OF_2026),
        ("31-12-2026", END_OF_2026),
        ("31.12.2026 18h", SIX_PM),
        ("31/12/2026 18h30", SIX_PM.replace(minute=30)),
        ("1/7/2026", datetime(2026, 7, 1, 23, 59, 59, tzinfo=KIGALI)),
        ("  2026-12-31   18:00 ", SIX_PM),
        ("2026-06-01", datetime(2026, 6, 1, 23, 59, 59, tzinfo=KIGALI)),  # end of today
    ],
)
def test_parse_expiry(text: str, expected: datetime) -> None:
    parsed = parse_expiry(text, NOW)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("tomorrow", "draft-expiry-unparsed"),
        ("31/02/2026", "draft-expiry-unparsed"),
        ("2026-13-01", "draft-expiry-unparsed"),
        ("2026-12-31 25:00", "draft-expiry-unparsed"),
        ("2026-12-31 18:61", "draft-expiry-unparsed"),
        ("12/31", "draft-expiry-unparsed"),
        ("", "draft-expiry-unparsed"),
        ("2026-01-01", "draft-expiry-past"),
        ("2026-06-01 12:00", "draft-expiry-past"),  # exactly now is not in the future
        ("2026-06-01 11:59", "draft-expiry-past"),
    ],
)
def test_parse_expiry_refuses(text: str, code: str) -> None:
    error = refused(parse_expiry, text, NOW)
    assert (error.field, error.code) == ("expires_at", code)


def test_parse_expiry_reads_kigali_time_whatever_zone_now_is_in() -> None:
    now_utc = datetime(2026, 6, 1, 10, 30, tzinfo=UTC)  # 12:30 in Kigali
    assert refused(parse_expiry, "2026-06-01 12:15", now_utc).code == "draft-expiry-past"
    assert parse_expiry("2026-06-01 12:45", now_utc) == datetime(2026, 6, 1, 12, 45, tzinfo=KIGALI)


@pytest.mark.parametrize(
    ("text", "metadata"),
    [
        ('{"order": 42, "tags": ["a"], "price": 1.5}', {"order": 42, "tags": ["a"], "price": 1.5}),
        ("order=42\nbranch = Kigali", {"order": "42", "branch": "Kigali"}),
        ("a=b=c", {"a": "b=c"}),
        ("\n\nkey=\n\n", {"key": ""}),
        ("{}", {}),
    ],
)
def test_parse_metadata(text: str, metadata: dict[str, Any]) -> None:
    assert parse_metadata(text) == metadata


@pytest.mark.parametrize(
    ("text", "code", "params"),
    [
        ("", "draft-metadata-invalid", {}),
        ("[1, 2]", "draft-metadata-invalid", {}),
        ('"text"', "draft-metadata-invalid", {}),
        ('{"a": 1', "draft-metadata-invalid", {"line": 1}),
        ('{"a": NaN}', "draft-metadata-invalid", {}),
        ("a=1\nno equals sign", "draft-metadata-invalid", {"line": 2}),
        ("=v", "draft-metadata-invalid", {"line": 1}),
        ('{"": 1}', "draft-metadata-invalid", {}),
        ("a=1\na=2", "draft-metadata-duplicate-key", {"key": "a"}),
        ('{"a": 1, "a": 2}', "draft-metadata-duplicate-key", {"key": "a"}),
        ("paylinks_ref=x", "draft-metadata-reserved-key", {"key": "paylinks_ref"}),
    ],
)
def test_parse_metadata_refuses(text: str, code: str, params: dict[str, Any]) -> None:
    error = refused(parse_metadata, text)
    assert (error.field, error.code, error.params) == ("metadata", code, params)


def test_parse_metadata_size_leaves_room_for_the_client_reference() -> None:
    fits = {"note": "x" * (METADATA_USER_MAX_BYTES - len('{"note":""}'))}
    assert metadata_size(fits) == METADATA_USER_MAX_BYTES
    assert parse_metadata(json.dumps(fits)) == fits
    error = refused(parse_metadata, "note=" + "é" * 2000)  # two bytes each
    assert error.code == "draft-metadata-too-large"
    assert error.params == {"max": METADATA_USER_MAX_BYTES, "size": len('{"note":""}') + 4000}
    # With the client's reference added the body still fits the provider's 4 KiB.
    assert metadata_size({**fits, "paylinks_ref": "0" * 36}) <= 4096


# --- amounts and kinds ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("draft", "field", "code"),
    [
        (fixed(kind=None), "kind", "draft-kind-missing"),
        (fixed(currency=None), "currency", "draft-currency-missing"),
        (fixed(currency="ABC"), "currency", "draft-currency-unknown"),
        (fixed(amount=None), "amount", "draft-amount-missing"),
        (fixed(min_amount=D(1)), "min_amount", "draft-range-not-allowed"),
        (fixed(max_amount=D(1)), "max_amount", "draft-range-not-allowed"),
        (fixed(amount=D(0)), "amount", "amount-not-positive"),
        (fixed(amount=D("500.5")), "amount", "amount-too-precise"),
        (fixed(amount=D(10) ** 13), "amount", "amount-too-large"),
        (fixed(goal=D("0.5")), "goal", "amount-too-precise"),
        (flexible(amount=D(5)), "amount", "draft-amount-not-allowed"),
        (flexible(min_amount=D(10), max_amount=D(5)), "max_amount", "draft-min-over-max"),
        (flexible(min_amount=D("0.001")), "min_amount", "amount-too-precise"),
        (flexible(max_amount=D(-5)), "max_amount", "amount-not-positive"),
    ],
)
def test_check_amounts_refuses(draft: LinkDraft, field: str, code: str) -> None:
    error = refused(check_amounts, draft)
    assert (error.field, error.code) == (field, code)


def test_min_over_max_names_both_bounds() -> None:
    error = refused(check_amounts, flexible(min_amount=D("10.50"), max_amount=D(5)))
    assert error.params == {"min": D("10.5"), "max": D(5)}


@pytest.mark.parametrize(
    ("draft", "amounts"),
    [
        (fixed(), {"amount": D(50000)}),
        (fixed(amount=D("500.00")), {"amount": D(500)}),
        (flexible(), {}),
        (flexible(min_amount=D(5)), {"min_amount": D(5)}),
        (flexible(max_amount=D("99.99")), {"max_amount": D("99.99")}),
        (flexible(min_amount=D(5), max_amount=D(5)), {"min_amount": D(5), "max_amount": D(5)}),
    ],
)
def test_check_amounts_accepts(draft: LinkDraft, amounts: dict[str, Decimal]) -> None:
    assert check_amounts(draft) == amounts


# --- the draft as stored and as sent --------------------------------------------------------


def full_draft() -> LinkDraft:
    return LinkDraft(
        kind="flexible",
        title="Église — toiture",
        currency="USD",
        min_amount=D("5.00"),
        max_amount=D("250.50"),
        goal=D("10000.25"),
        payment_types=["mobile_money", "card"],
        max_uses=10,
        expires_at=datetime(2026, 12, 31, 18, 0, tzinfo=KIGALI),
        description="Roof\nrepair",
        slug="eglise-toiture",
        redirect_url="https://example.com/merci",
        logo_url="https://example.com/logo.png",
        collect_phone=False,
        collect_name=True,
        collect_address=True,
        metadata={"branch": "Kigali", "n": 3, "ratio": 0.25, "nested": {"a": [1, None]}},
        client_ref="3f6c",
    )


@pytest.mark.parametrize(
    "draft", [full_draft(), LinkDraft(), LinkDraft(title="Half", kind="fixed")]
)
def test_draft_survives_json(draft: LinkDraft) -> None:
    stored = json.dumps(draft.model_dump(mode="json"))
    loaded = LinkDraft.model_validate(json.loads(stored))
    assert loaded == draft
    assert loaded.model_dump(mode="json") == draft.model_dump(mode="json")


def test_draft_json_keeps_decimals_exact_as_strings() -> None:
    dumped = full_draft().model_dump(mode="json")
    assert dumped["min_amount"] == "5.00"
    assert dumped["goal"] == "10000.25"
    assert LinkDraft.model_validate(dumped).goal == D("10000.25")
    assert str(LinkDraft.model_validate(dumped).min_amount) == "5.00"


def test_draft_reads_a_newer_or_older_shape() -> None:
    draft = LinkDraft.model_validate({"title": "x", "someday": 1, "amount": "12"})
    assert draft.title == "x"
    assert draft.amount == D(12)
    assert draft.payment_types == list(PaymentType)


def test_draft_refuses_a_naive_expiry() -> None:
    with pytest.raises(ValueError, match="timezone"):
        LinkDraft(expires_at=datetime(2026, 12, 31))  # noqa: DTZ001


def test_minimal_fixed_draft_sends_only_the_required_fields() -> None:
    body = fixed().to_create(now=NOW).to_json()
    assert body == {
        "title": "Invoice #123",
        "amount_type": "fixed",
        "currency": "RWF",
        "amount": 50000,
    }


def test_minimal_flexible_draft_sends_only_the_required_fields() -> None:
    assert flexible().to_create(now=NOW).to_json() == {
        "title": "Donations",
        "amount_type": "flexible",
        "currency": "USD",
    }
    assert flexible(min_amount=D("2.50")).to_create(now=NOW).to_json() == {
        "title": "Donations",
        "amount_type": "flexible",
        "currency": "USD",
        "min_amount": 2.5,
    }


def test_full_draft_sends_everything_set_and_nothing_of_ours() -> None:
    body = full_draft().to_create(now=NOW).to_json()
    assert body == {
        "title": "Église — toiture",
        "amount_type": "flexible",
        "currency": "USD",
        "min_amount": 5,
        "max_amount": 250.5,
        "payment_types": ["card", "mobile_money"],
        "max_uses": 10,
        "expires_at": "2026-12-31 18:00:00",
        "description": "Roof\nrepair",
        "slug": "eglise-toiture",
        "redirect_url": "https://example.com/merci",
        "logo_url": "https://example.com/logo.png",
        "collect_phone": False,
        "collect_address": True,
        "metadata": {"branch": "Kigali", "n": 3, "ratio": 0.25, "nested": {"a": [1, None]}},
    }
    # goal and client_ref are the bot's, not the provider's
    assert "goal" not in body
    assert "client_ref" not in json.dumps(body)


def test_to_create_sends_cleaned_values() -> None:
    draft = fixed(title="  Invoice \n #9 ", currency="frw", slug=" My-Slug ", amount=D("1000.00"))
    body = draft.to_create(now=NOW).to_json()
    assert body["title"] == "Invoice #9"
    assert body["currency"] == "RWF"
    assert body["slug"] == "my-slug"
    assert body["amount"] == 1000
    assert isinstance(body["amount"], int)


def test_to_create_returns_the_api_model() -> None:
    assert isinstance(fixed().to_create(now=NOW), LinkCreate)


def test_all_payment_types_in_any_order_are_the_default() -> None:
    draft = fixed(payment_types=["ussd", "bank_transfer", "card", "mobile_money"])
    assert "payment_types" not in draft.to_create(now=NOW).to_json()


def test_validate_complete_reports_problems_in_form_order() -> None:
    draft = LinkDraft(
        title=" ",
        kind=None,
        currency=None,
        payment_types=[],
        max_uses=0,
        expires_at=NOW - timedelta(days=1),
        description=" ",
        slug="x",
        redirect_url="http://example.com",
        logo_url="ftp://x.com/a.png",
        metadata={"paylinks_ref": "mine"},
    )
    fixes: list[tuple[str, str, dict[str, Any]]] = [
        ("title", "draft-title-empty", {"title": "Ok"}),
        ("kind", "draft-kind-missing", {"kind": "fixed"}),
        ("currency", "draft-currency-missing", {"currency": "RWF"}),
        ("amount", "draft-amount-missing", {"amount": D(100)}),
        ("payment_types", "draft-payment-types-empty", {"payment_types": ["card"]}),
        ("max_uses", "draft-max-uses-invalid", {"max_uses": 1}),
        ("expires_at", "draft-expiry-past", {"expires_at": NOW + timedelta(days=1)}),
        ("description", "draft-description-empty", {"description": "d"}),
        ("slug", "draft-slug-invalid", {"slug": "xyz"}),
        ("redirect_url", "draft-url-not-https", {"redirect_url": "https://example.com"}),
        ("logo_url", "draft-url-not-https", {"logo_url": "https://x.com/a.png"}),
        ("metadata", "draft-metadata-reserved-key", {"metadata": {"k": "v"}}),
    ]
    for field, code, fix in fixes:
        error = refused(draft.validate_complete, now=NOW)
        assert (error.field, error.code) == (field, code)
        for name, value in fix.items():
            setattr(draft, name, value)
    draft.validate_complete(now=NOW)
    assert draft.to_create(now=NOW).to_json()["metadata"] == {"k": "v"}


def test_to_create_refuses_metadata_over_the_vendor_share() -> None:
    draft = fixed(metadata={"note": "x" * METADATA_USER_MAX_BYTES})
    assert refused(draft.to_create, now=NOW).code == "draft-metadata-too-large"


def test_to_create_checks_the_given_client_ref_key() -> None:
    draft = fixed(metadata={"ref": "mine"})
    assert refused(draft.to_create, "ref", now=NOW).code == "draft-metadata-reserved-key"
    assert draft.to_create(now=NOW).to_json()["metadata"] == {"ref": "mine"}


# --- duplicate and edit ---------------------------------------------------------------------


def provider_link(**changes: Any) -> Link:
    data: dict[str, Any] = {
        "id": "25a5643d-31de-490d-808d-82af72fdd097",
        "slug": "invoice-123",
        "url": "https://pay.example.rw/pay/invoice-123",
        "title": "Invoice #123",
        "amount_type": "fixed",
        "amount": "50000.00",
        "currency": "RWF",
        "payment_types": ["card", "mobile_money"],
        "use_count": 1,
        "max_uses": 5,
        "status": "active",
        "expires_at": "2026-12-31 23:59:59",
        "created_at": "2026-04-03 10:00:00",
        "description": "Roof",
        "redirect_url": "https://example.com/thanks",
        "collect_phone": False,
        "collect_address": True,
        "logo_url": "https://example.com/logo.png",
        "metadata": {"paylinks_ref": "ref-1", "branch": "Huye"},
    }
    data.update(changes)
    return Link.model_validate(data)


def test_from_link_copies_all_but_identity() -> None:
    draft = LinkDraft.from_link(provider_link(), now=NOW)
    assert draft.slug is None
    assert draft.client_ref is None
    assert draft.metadata == {"branch": "Huye"}
    assert draft.collect_name is True  # not in the link: the page default
    assert draft.expires_at == END_OF_2026
    assert draft.to_create(now=NOW).to_json() == {
        "title": "Invoice #123",
        "amount_type": "fixed",
        "currency": "RWF",
        "amount": 50000,
        "payment_types": ["card", "mobile_money"],
        "max_uses": 5,
        "expires_at": "2026-12-31 23:59:59",
        "description": "Roof",
        "redirect_url": "https://example.com/thanks",
        "logo_url": "https://example.com/logo.png",
        "collect_phone": False,
        "collect_address": True,
        "metadata": {"branch": "Huye"},
    }


def test_from_link_drops_a_past_expiry_and_an_emptied_metadata() -> None:
    link = provider_link(expires_at="2026-01-01 00:00:00", metadata={"paylinks_ref": "r"})
    draft = LinkDraft.from_link(link, now=NOW)
    assert draft.expires_at is None
    assert draft.metadata is None


def test_from_link_flexible_and_odd_values() -> None:
    link = provider_link(
        amount_type="flexible",
        amount=None,
        min_amount="5.00",
        max_amount=100,
        currency="USD",
        payment_types=["card", "crypto"],
        collect_phone=None,
    )
    draft = LinkDraft.from_link(link, now=NOW)
    assert (draft.kind, draft.amount, draft.min_amount, draft.max_amount) == (
        "flexible",
        None,
        D("5.00"),
        D(100),
    )
    assert draft.payment_types == [PaymentType.CARD]
    assert draft.collect_phone is True
    assert LinkDraft.from_link(provider_link(payment_types=[]), now=NOW).payment_types == list(
        PaymentType
    )
    odd = LinkDraft.from_link(provider_link(amount_type="tiered"), now=NOW)
    assert odd.kind == "fixed"


def test_for_edit_keeps_slug_client_ref_and_expiry() -> None:
    link = provider_link(expires_at="2026-01-01 00:00:00")
    draft = LinkDraft.for_edit(link)
    assert draft.slug == "invoice-123"
    assert draft.client_ref == "ref-1"
    assert draft.metadata == {"branch": "Huye"}
    assert draft.expires_at == datetime(2026, 1, 1, tzinfo=KIGALI)


@pytest.mark.parametrize(
    ("field", "changes", "body"),
    [
        ("title", {"title": " New  title "}, {"title": "New title"}),
        ("amount", {"amount": D("75000.00")}, {"amount": 75000}),
        ("currency", {"currency": "frw"}, {"currency": "RWF"}),
        (
            "payment_types",
            {"payment_types": ["ussd", "card"]},
            {"payment_types": ["card", "ussd"]},
        ),
        ("max_uses", {"max_uses": 3}, {"max_uses": 3}),
        ("max_uses", {"max_uses": None}, {"max_uses": None}),
        ("expires_at", {"expires_at": SIX_PM}, {"expires_at": "2026-12-31 18:00:00"}),
        ("expires_at", {"expires_at": None}, {"expires_at": None}),
        ("description", {"description": None}, {"description": None}),
        ("description", {"description": " New "}, {"description": "New"}),
        (
            "redirect_url",
            {"redirect_url": "https://a.example/x"},
            {"redirect_url": "https://a.example/x"},
        ),
        ("logo_url", {"logo_url": None}, {"logo_url": None}),
        ("slug", {"slug": "New-Slug"}, {"slug": "new-slug"}),
        ("collect_phone", {"collect_phone": True}, {"collect_phone": True}),
        ("collect_name", {"collect_name": False}, {"collect_name": False}),
        ("collect_address", {"collect_address": False}, {"collect_address": False}),
        ("metadata", {"metadata": {"a": "1"}}, {"metadata": {"a": "1", "paylinks_ref": "ref-1"}}),
        ("metadata", {"metadata": None}, {"metadata": {"paylinks_ref": "ref-1"}}),
        ("metadata", {"metadata": None, "client_ref": None}, {"metadata": None}),
    ],
)
def test_update_for_sends_one_field(
    field: str, changes: dict[str, Any], body: dict[str, Any]
) -> None:
    draft = LinkDraft.for_edit(provider_link())
    for name, value in changes.items():
        setattr(draft, name, value)
    assert update_for(field, draft, now=NOW).to_json() == body


@pytest.mark.parametrize("field", ["range", "min_amount", "max_amount", "amount"])
def test_update_for_flexible_range_sends_both_bounds(field: str) -> None:
    draft = flexible(min_amount=D("5.50"), max_amount=None)
    assert update_for(field, draft, now=NOW).to_json() == {"min_amount": 5.5, "max_amount": None}


@pytest.mark.parametrize(
    ("field", "changes", "code"),
    [
        ("title", {"title": ""}, "draft-title-empty"),
        ("amount", {"amount": D("0.5")}, "amount-too-precise"),
        ("currency", {"currency": "USD", "amount": D("0.001")}, "amount-too-precise"),
        ("payment_types", {"payment_types": []}, "draft-payment-types-empty"),
        ("max_uses", {"max_uses": 0}, "draft-max-uses-invalid"),
        ("expires_at", {"expires_at": NOW}, "draft-expiry-past"),
        ("slug", {"slug": None}, "draft-slug-invalid"),
        ("logo_url", {"logo_url": "http://x.com/l.png"}, "draft-url-not-https"),
        ("description", {"description": "x" * 1001}, "draft-description-too-long"),
        ("metadata", {"metadata": {"paylinks_ref": "forged"}}, "draft-metadata-reserved-key"),
    ],
)
def test_update_for_validates_the_field(field: str, changes: dict[str, Any], code: str) -> None:
    draft = LinkDraft.for_edit(provider_link())
    for name, value in changes.items():
        setattr(draft, name, value)
    assert refused(update_for, field, draft, now=NOW).code == code


def test_update_for_unknown_field_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="not an editable field"):
        update_for("kind", fixed())


ONE_EXAMPLE_PER_CODE: list[tuple[str, Any]] = [
    ("draft-title-empty", lambda: clean_title("")),
    ("draft-title-too-long", lambda: clean_title("x" * 101)),
    ("draft-kind-missing", lambda: check_amounts(fixed(kind=None))),
    ("draft-currency-missing", lambda: clean_currency(" ")),
    ("draft-currency-unknown", lambda: clean_currency("ABC")),
    ("draft-amount-missing", lambda: check_amounts(fixed(amount=None))),
    ("draft-amount-not-allowed", lambda: check_amounts(flexible(amount=D(1)))),
    ("draft-range-not-allowed", lambda: check_amounts(fixed(min_amount=D(1)))),
    ("draft-min-over-max", lambda: check_amounts(flexible(min_amount=D(2), max_amount=D(1)))),
    ("draft-payment-types-empty", lambda: clean_payment_types([])),
    ("draft-payment-type-unknown", lambda: clean_payment_types(["cash"])),
    ("draft-max-uses-invalid", lambda: parse_max_uses("0")),
    ("draft-expiry-unparsed", lambda: parse_expiry("soon", NOW)),
    ("draft-expiry-past", lambda: parse_expiry("2020-01-01", NOW)),
    ("draft-description-empty", lambda: clean_description("")),
    ("draft-description-too-long", lambda: clean_description("x" * 1001)),
    ("draft-slug-invalid", lambda: clean_slug("a")),
    ("draft-url-not-https", lambda: clean_https_url("http://example.com")),
    ("draft-url-invalid", lambda: clean_https_url("nope")),
    ("draft-metadata-invalid", lambda: parse_metadata("[]")),
    ("draft-metadata-duplicate-key", lambda: parse_metadata("a=1\na=2")),
    ("draft-metadata-reserved-key", lambda: parse_metadata("paylinks_ref=1")),
    ("draft-metadata-too-large", lambda: parse_metadata("a=" + "x" * 5000)),
    ("draft-url-credentials", lambda: clean_https_url("https://user:pw@example.com")),
    ("draft-metadata-too-deep", lambda: parse_metadata('{"a":' * 9 + "1" + "}" * 9)),
]


@pytest.mark.parametrize(("code", "call"), ONE_EXAMPLE_PER_CODE)
def test_each_draft_code_is_reachable(code: str, call: Any) -> None:
    assert refused(call).code == code


def test_the_code_list_is_complete() -> None:
    assert [code for code, _ in ONE_EXAMPLE_PER_CODE] == list(DRAFT_ERROR_CODES)


# --- issue 12: deep metadata, addresses with credentials -------------------------------------


@pytest.mark.parametrize("depth", [9, 50, 2000, 100_000])
def test_metadata_nested_too_deep_is_refused_before_parsing(depth: int) -> None:
    for text in ('{"a":' * depth + "1" + "}" * depth, '{"a":' + "[" * (depth - 1) + "]" * depth):
        error = refused(parse_metadata, text)
        assert (error.code, error.params) == ("draft-metadata-too-deep", {"max": 8})


def test_metadata_eight_levels_deep_is_taken_and_brackets_in_strings_do_not_count() -> None:
    eight = parse_metadata('{"a":' * 8 + '"{[{[ \\" {{{{{{{{{{"' + "}" * 8)
    depth, node = 0, eight
    while isinstance(node, dict):
        depth, node = depth + 1, node["a"]
    assert depth == 8 and node == '{[{[ " {{{{{{{{{{'
    assert parse_metadata('{"note": "[[[[[[[[[[[[", "n": [1, [2, [3]]]}') == {
        "note": "[[[[[[[[[[[[",
        "n": [1, [2, [3]]],
    }


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pw@example.com/thanks",
        "https://user@example.com",
        "https://:pw@example.com",
        "https://@example.com",
        "HTTPS://a:b@shop.example.rw:8443/x",
    ],
)
@pytest.mark.parametrize("field", ["redirect_url", "logo_url"])
def test_addresses_with_a_user_or_password_are_refused(url: str, field: str) -> None:
    error = refused(clean_https_url, url, field)
    assert (error.field, error.code) == (field, "draft-url-credentials")


def test_an_at_sign_in_the_path_is_not_a_credential() -> None:
    assert clean_https_url("https://example.com/@shop?from=a@b") == (
        "https://example.com/@shop?from=a@b"
    )
