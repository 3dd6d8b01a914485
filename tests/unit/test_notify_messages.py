"""messages.py: what a vendor reads for each alert, in each of the four languages."""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from bot import callbacks
from bot.config import LANGUAGES
from bot.i18n import Catalogues, Translator, placeholders
from bot.notify.diff import Alert, Event, EventKind, LinkFacts
from bot.notify.messages import (
    KIND_ALERT,
    KIND_KEY_INVALID,
    Rendered,
    merge,
    render_alert,
    render_row,
)

NBSP = "\xa0"
LINK_ID = "25a5643d-31de-490d-808d-82af72fdd097"


@pytest.fixture(scope="module")
def catalogues() -> Catalogues:
    return Catalogues.load()


@pytest.fixture
def en(catalogues: Catalogues) -> Translator:
    return catalogues.translator("en")


def facts(title: str = "Church roof", **changes: Any) -> LinkFacts:
    base = LinkFacts(
        link_id=LINK_ID,
        title=title,
        currency="RWF",
        status="active",
        use_count=3,
        max_uses=10,
        total_collected=Decimal(15000),
    )
    return replace(base, **changes)


def payment(amount: int, payer: str | None = None, method: str | None = None) -> Event:
    return Event(
        kind=EventKind.PAYMENT,
        charge_id=f"c{amount}",
        amount=Decimal(amount),
        currency="RWF",
        payer_name=payer,
        payment_type=method,
    )


def labels(rendered: Rendered) -> list[list[tuple[str, str]]]:
    return [[(b.text, b.data) for b in row] for row in rendered.buttons]


CARD = callbacks.data(callbacks.LINK_CARD, LINK_ID)


def test_one_payment_says_amount_title_payer_method_uses_and_total(en: Translator) -> None:
    rendered = render_alert(Alert(facts(), (payment(5000, "Aline Uwase", "mobile_money"),)), en)
    assert rendered.text == (
        f"💰 Payment received: <b>RWF{NBSP}5,000</b> for <b>Church roof</b>\n"
        "Aline Uwase · mobile money\n"
        f"3 / 10 payments · Total: RWF{NBSP}15,000"
    )
    assert labels(rendered) == [
        [("📇 Link card", CARD), ("🔕 Mute", callbacks.data(callbacks.MUTE, LINK_ID))],
        [("🧾 Receipt", f"{callbacks.RECEIPT}{LINK_ID}:c5000")],  # issue 17, point 6
    ]


def test_a_burst_has_a_receipt_button_per_payment_named_by_its_amount(en: Translator) -> None:
    long_id = "9f1c2d3e-4a5b-4c6d-8e7f-001122334455"
    paid = (payment(1000), payment(2000), Event(EventKind.PAYMENT, long_id, Decimal(3000), "RWF"))
    rendered = render_alert(Alert(facts(), paid), en)
    receipts = [row for row in labels(rendered) if row[0][1].startswith(callbacks.RECEIPT)]
    cut_id = long_id[: 64 - len(f"{callbacks.RECEIPT}{LINK_ID}:")]
    assert receipts == [
        [(f"🧾 Receipt: RWF{NBSP}1,000", f"{callbacks.RECEIPT}{LINK_ID}:c1000")],
        [(f"🧾 Receipt: RWF{NBSP}2,000", f"{callbacks.RECEIPT}{LINK_ID}:c2000")],
        [(f"🧾 Receipt: RWF{NBSP}3,000", f"{callbacks.RECEIPT}{LINK_ID}:{cut_id}")],
    ]
    assert all(len(data.encode()) <= 64 for row in receipts for _, data in row)


def test_unlimited_links_count_payments_without_a_maximum(en: Translator) -> None:
    rendered = render_alert(Alert(facts(max_uses=None, use_count=1), (payment(700),)), en)
    assert rendered.text.endswith(f"1 payment · Total: RWF{NBSP}15,000")
    assert "\n\n" not in rendered.text  # no empty details line


def test_titles_and_names_from_outside_are_escaped(en: Translator) -> None:
    alert = Alert(facts(title="<Toit> & Co"), (payment(100, "Jo <script>"),))
    text = render_alert(alert, en).text
    assert "<b>&lt;Toit&gt; &amp; Co</b>" in text
    assert "Jo &lt;script&gt;" in text and "<script>" not in text


def test_a_burst_is_one_message_listing_each_payment(en: Translator) -> None:
    alert = Alert(
        facts(),
        (payment(1000, "Aline", "card"), payment(2000), payment(3000, None, "ussd")),
    )
    lines = render_alert(alert, en).text.split("\n")
    assert lines == [
        "💰 3 new payments for <b>Church roof</b>:",
        f"• RWF{NBSP}1,000 — Aline · card",
        f"• RWF{NBSP}2,000",
        f"• RWF{NBSP}3,000 — USSD",
        f"3 / 10 payments · Total: RWF{NBSP}15,000",
    ]


def test_payments_only_the_counters_saw_are_counted_in(en: Translator) -> None:
    more = Event(kind=EventKind.MORE_PAYMENTS, count=2, amount=Decimal(4000), currency="RWF")
    text = render_alert(Alert(facts(), (payment(1000), more)), en).text
    assert text.startswith("💰 3 new payments for <b>Church roof</b>:")
    assert f"+ 2 more payments (RWF{NBSP}4,000)" in text
    unknown = Event(kind=EventKind.MORE_PAYMENTS, count=1, currency="RWF")
    assert "+ 1 more payment\n" in render_alert(Alert(facts(), (unknown,)), en).text


def test_a_failed_attempt_says_no_money_moved(en: Translator) -> None:
    failed = Event(kind=EventKind.FAILED, amount=Decimal(2500), currency="RWF")
    text = render_alert(Alert(facts(), (failed,)), en).text
    assert text == f"⚠️ A payment of RWF{NBSP}2,500 for <b>Church roof</b> failed. No money moved."
    many = (failed, Event(kind=EventKind.MORE_FAILED, count=2, currency="RWF"))
    text = render_alert(Alert(facts(), many), en).text
    assert text.startswith("⚠️ 3 payment attempts failed for <b>Church roof</b>.")
    assert text.endswith("+ 2 more failed attempts")


def test_a_long_pending_payment_says_how_long(en: Translator) -> None:
    event = Event(kind=EventKind.PENDING, amount=Decimal(7000), currency="RWF", minutes=16)
    text = render_alert(Alert(facts(), (event,)), en).text
    assert text.startswith(
        f"⏳ RWF{NBSP}7,000 for <b>Church roof</b> is still pending after 16 minutes."
    )


@pytest.mark.parametrize(
    ("status", "opening", "actions"),
    [
        (
            "expired",
            "⌛",
            [("📅 Extend", callbacks.EXTEND), ("📄 Duplicate", callbacks.DUPLICATE)],
        ),
        (
            "completed",
            "✅",
            [("🔄 Reopen", callbacks.REOPEN), ("📄 Duplicate", callbacks.DUPLICATE)],
        ),
        ("archived", "🗄", [("📄 Duplicate", callbacks.DUPLICATE)]),
    ],
)
def test_a_closed_link_offers_what_can_be_done(
    en: Translator, status: str, opening: str, actions: list[tuple[str, str]]
) -> None:
    alert = Alert(facts(status=status), (Event(kind=EventKind.STATUS, status=status),))
    rendered = render_alert(alert, en)
    assert rendered.text.startswith(f"{opening} <b>Church roof</b>")
    assert "no longer takes payments" in rendered.text
    assert labels(rendered) == [
        [("📇 Link card", CARD)],
        [(text, callbacks.data(prefix, LINK_ID)) for text, prefix in actions],
    ]


def test_merged_alerts_name_each_link_on_its_card_button(en: Translator) -> None:
    first = render_row(KIND_ALERT, Alert(facts(), (payment(100),)).to_payload(), en, named=True)
    other = facts(title="A very long title for the school fees of term two", link_id="x" * 36)
    second = render_row(KIND_ALERT, Alert(other, (payment(200),)).to_payload(), en, named=True)
    merged = merge([first, second])
    assert merged.text == first.text + "\n\n" + second.text
    # Each link's card beside its Mute, then its payment's Receipt (issue 17).
    rows = [[button.text for button in row] for row in merged.buttons]
    assert rows == [
        ["📇 Church roof", "🔕 Mute"],  # half a row: beside Mute
        ["🧾 Receipt"],
        ["📇 A very long…", "🔕 Mute"],
        ["🧾 Receipt"],
    ]


def test_the_key_refused_note(en: Translator) -> None:
    rendered = render_row(KIND_KEY_INVALID, {"last4": "9f3a"}, en)
    assert "<code>9f3a</code>" in rendered.text and "/connect" in rendered.text
    assert rendered.buttons == ()
    with pytest.raises(ValueError, match="unknown outbox kind"):
        render_row("postcard", {}, en)


EVERYTHING = (
    payment(1000, "Aline", "mobile_money"),
    payment(2000),
    Event(kind=EventKind.MORE_PAYMENTS, count=2, amount=Decimal(300), currency="RWF"),
    Event(kind=EventKind.FAILED, amount=Decimal(500), currency="RWF"),
    Event(kind=EventKind.FAILED, amount=Decimal(600), currency="RWF", payer_name="Jo"),
    Event(kind=EventKind.MORE_FAILED, count=1, currency="RWF"),
    Event(kind=EventKind.PENDING, amount=Decimal(700), currency="RWF", minutes=1),
    Event(kind=EventKind.STATUS, status="completed"),
)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_renders_every_event_without_leftovers(
    catalogues: Catalogues, language: str
) -> None:
    tr = catalogues.translator(language)
    singles = [render_alert(Alert(facts(), (event,)), tr) for event in EVERYTHING]
    for rendered in [render_alert(Alert(facts(), EVERYTHING), tr), *singles]:
        assert rendered.text
        # No message key shown raw, no placeholder left unfilled.
        assert not re.search(r"\b(alert|notify|uses|method)-[a-z]", rendered.text), rendered.text
        assert "{" not in rendered.text and "}" not in rendered.text
        for row in rendered.buttons:
            for button in row:
                assert button.text and not button.text.startswith("alert-")
    key_note = render_row(KIND_KEY_INVALID, {"last4": "abcd"}, tr)
    assert "abcd" in key_note.text and "notify-" not in key_note.text


@pytest.mark.parametrize("language", [code for code in LANGUAGES if code != "en"])
def test_other_languages_translate_and_keep_the_placeholders(
    catalogues: Catalogues, language: str
) -> None:
    english = catalogues.by_language["en"]
    other = catalogues.by_language[language]
    keys = [
        "alert-payment",
        "alert-totals",
        "alert-failed",
        "alert-expired",
        "alert-completed",
        "alert-archived",
        "alert-button-card",
        "notify-key-invalid",
        "notify-prompt",
        "notify-level-all",
        "notify-level-payments",
        "notify-level-off",
        "notify-saved",
    ]
    plural_keys = [
        "alert-payments",
        "alert-more-payments",
        "alert-more-payments-no-amount",
        "alert-failed-many",
        "alert-more-failed",
        "alert-pending",
    ]
    for key in keys:
        source, text = english.gettext(key), other.gettext(key)
        assert text != key and text != source, (language, key)
        assert placeholders(text) == placeholders(source), (language, key)
    for key in plural_keys:
        for n in (1, 2, 5):
            source, text = english.ngettext(key, key, n), other.ngettext(key, key, n)
            assert text != key and text != source, (language, key, n)
            assert placeholders(text) == placeholders(source), (language, key, n)


def test_the_alert_pace_is_telegrams_broadcast_limit() -> None:
    from bot.dgs.pacing import KeyPacer
    from bot.notify.sender import SenderConfig

    rate = SenderConfig().messages_per_second
    assert 0 < rate <= 30
    clock = [0.0]
    pacer = KeyPacer(rate, burst=5, clock=lambda: clock[0])
    waits = [pacer.reserve("alerts") for _ in range(100)]
    # 100 alerts at once: the last one leaves after about (100 - 5) / rate seconds.
    assert abs(waits[-1] - (100 - 5) / rate) < 0.05
