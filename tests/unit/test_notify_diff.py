"""diff.py: what a poll found, turned into events (pure; no clock, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from bot.dgs.models import LinkDetails
from bot.notify.diff import Alert, Event, EventKind, LinkFacts, diff, for_level
from bot.store.db import decode_json, encode_json
from bot.store.models import ChargeChange, NotifyLevel, StoredCharge

NOW = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
FIFTEEN = timedelta(minutes=15)


def details(
    *,
    status: str = "active",
    successful: int = 0,
    failed: int = 0,
    pending: int = 0,
    collected: str = "0",
    use_count: int | None = None,
    charges: list[dict[str, Any]] | None = None,
) -> LinkDetails:
    return LinkDetails.model_validate(
        {
            "link": {
                "id": "lnk-1",
                "title": "Church roof",
                "currency": "RWF",
                "status": status,
                "use_count": successful if use_count is None else use_count,
                "max_uses": 10,
            },
            "stats": {
                "total_charges": successful + failed + pending,
                "successful_charges": successful,
                "pending_charges": pending,
                "failed_charges": failed,
                "total_collected": collected,
                "currency": "RWF",
            },
            "recent_charges": charges or [],
        }
    )


def stored(
    charge_id: str,
    status: str,
    amount: str = "5000",
    *,
    seen: datetime = NOW,
    created: datetime | None = None,
    noted: bool = False,
    payer: str | None = None,
    method: str | None = None,
) -> StoredCharge:
    return StoredCharge(
        link_id="lnk-1",
        charge_id=charge_id,
        amount=Decimal(amount),
        currency="RWF",
        status=status,
        payer_name=payer,
        payment_type=method,
        created_at=created,
        first_seen_at=seen,
        status_changed_at=seen,
        pending_noted=noted,
    )


def change(charge: StoredCharge, previous: str | None = None) -> ChargeChange:
    return ChargeChange(charge=charge, previous_status=previous)


def run(
    old: LinkDetails | None,
    new: LinkDetails,
    changes: list[ChargeChange] | None = None,
    pending: list[StoredCharge] | None = None,
    *,
    known_status: str = "active",
    now: datetime = NOW,
) -> Any:
    return diff(
        old,
        new,
        changes or [],
        pending or [],
        known_status=known_status,
        now=now,
        pending_after=FIFTEEN,
    )


def kinds(events: tuple[Event, ...]) -> list[EventKind]:
    return [event.kind for event in events]


def test_a_new_successful_charge_is_a_payment_with_its_details() -> None:
    charge = stored("c1", "success", "5000", payer="Aline", method="mobile_money")
    result = run(details(), details(successful=1, collected="5000"), [change(charge)])
    assert result.events == (
        Event(
            kind=EventKind.PAYMENT,
            charge_id="c1",
            amount=Decimal(5000),
            currency="RWF",
            payer_name="Aline",
            payment_type="mobile_money",
        ),
    )
    assert result.activity and not result.anomalies


def test_a_new_pending_charge_says_nothing_until_it_settles() -> None:
    pending = stored("c1", "pending")
    first = run(details(), details(pending=1), [change(pending)], [pending])
    assert first.events == () and first.activity
    settled = stored("c1", "success")
    second = run(
        details(pending=1), details(successful=1, collected="5000"), [change(settled, "pending")]
    )
    assert kinds(second.events) == [EventKind.PAYMENT]
    assert second.events[0].charge_id == "c1"


@pytest.mark.parametrize("previous", [None, "pending"])
def test_a_failed_attempt_is_reported(previous: str | None) -> None:
    failed = stored("c9", "failed", "2000")
    result = run(details(), details(failed=1), [change(failed, previous)])
    assert kinds(result.events) == [EventKind.FAILED]
    assert result.events[0].amount == Decimal(2000)


def test_a_success_that_turns_failed_is_logged_not_alerted() -> None:
    result = run(
        details(successful=1), details(failed=1), [change(stored("c1", "failed"), "success")]
    )
    assert result.events == ()
    assert any("from success to failed" in line for line in result.anomalies)


def test_unknown_statuses_are_anomalies_not_crashes() -> None:
    odd = stored("c1", "refunded")
    result = run(details(), details(status="suspended"), [change(odd)])
    assert result.events == ()
    assert len(result.anomalies) == 2
    assert "refunded" in result.anomalies[0] and "suspended" in result.anomalies[1]


def test_changes_come_newest_first_and_events_oldest_first() -> None:
    newest, older = stored("new", "success", "300"), stored("old", "success", "100")
    result = run(
        details(), details(successful=2, collected="400"), [change(newest), change(older)]
    )
    assert [event.charge_id for event in result.events] == ["old", "new"]


def test_counters_report_payments_the_recent_list_no_longer_shows() -> None:
    seen = stored("c12", "success", "1000")
    old = details(successful=2, collected="2000")
    new = details(successful=5, collected="5500")  # three more, one of them among the recent
    result = run(old, new, [change(seen)])
    assert kinds(result.events) == [EventKind.PAYMENT, EventKind.MORE_PAYMENTS]
    more = result.events[1]
    assert more.count == 2 and more.amount == Decimal(2500) and more.currency == "RWF"


def test_counters_report_failed_attempts_as_a_count() -> None:
    result = run(details(failed=1), details(failed=4))
    assert kinds(result.events) == [EventKind.MORE_FAILED]
    assert result.events[0].count == 3 and result.activity


def test_counters_going_down_are_logged_and_say_nothing() -> None:
    result = run(details(successful=3, collected="900"), details(successful=1, collected="300"))
    assert result.events == ()
    assert any("successful_charges went down from 3 to 1" in line for line in result.anomalies)


def test_a_first_poll_has_no_counters_to_compare() -> None:
    result = run(None, details(successful=7, collected="7000"))
    assert result.events == () and not result.activity


@pytest.mark.parametrize("final", ["expired", "completed", "archived"])
def test_a_link_that_stops_taking_payments_is_an_event(final: str) -> None:
    result = run(details(), details(status=final))
    assert result.events == (Event(kind=EventKind.STATUS, status=final),)
    assert result.status_changed


def test_a_final_status_the_bot_already_recorded_is_not_announced() -> None:
    result = run(details(), details(status="archived"), known_status="archived")
    assert result.events == () and result.status_changed


def test_reopening_is_not_an_event() -> None:
    result = run(details(status="completed"), details(status="active"), known_status="completed")
    assert result.events == ()


def test_a_first_poll_compares_the_status_with_the_recorded_one() -> None:
    assert run(None, details(status="expired")).events == (
        Event(kind=EventKind.STATUS, status="expired"),
    )
    assert run(None, details(status="active")).events == ()


def test_pending_longer_than_the_threshold_gets_one_note() -> None:
    waiting = stored("c1", "pending", "7000", seen=NOW - timedelta(minutes=16), payer="Jo")
    result = run(details(pending=1), details(pending=1), [], [waiting])
    assert kinds(result.events) == [EventKind.PENDING]
    assert result.events[0].minutes == 16 and result.events[0].payer_name == "Jo"
    assert result.noted_pending == ("c1",)
    assert not result.activity


def test_pending_under_the_threshold_or_already_noted_says_nothing() -> None:
    young = stored("c1", "pending", seen=NOW - timedelta(minutes=14, seconds=59))
    noted = stored("c2", "pending", seen=NOW - timedelta(hours=2), noted=True)
    result = run(details(pending=2), details(pending=2), [], [young, noted])
    assert result.events == () and result.noted_pending == ()


def test_pending_counts_from_the_payment_when_the_bot_saw_it_late() -> None:
    late = stored("c1", "pending", seen=NOW, created=NOW - timedelta(minutes=20))
    result = run(details(pending=1), details(pending=1), [], [late])
    assert result.noted_pending == ("c1",) and result.events[0].minutes == 20


def test_events_filtered_by_the_owners_choice() -> None:
    events = (
        Event(kind=EventKind.PAYMENT, amount=Decimal(1)),
        Event(kind=EventKind.MORE_PAYMENTS, count=2),
        Event(kind=EventKind.FAILED),
        Event(kind=EventKind.PENDING, minutes=15),
        Event(kind=EventKind.STATUS, status="expired"),
    )
    assert for_level(events, NotifyLevel.ALL, muted=False) == events
    assert kinds(for_level(events, NotifyLevel.PAYMENTS, muted=False)) == [
        EventKind.PAYMENT,
        EventKind.MORE_PAYMENTS,
    ]
    assert for_level(events, NotifyLevel.OFF, muted=False) == ()
    assert for_level(events, NotifyLevel.ALL, muted=True) == ()


def test_an_alert_survives_the_outbox_json_exactly() -> None:
    new = details(successful=2, collected="5000.50")
    alert = Alert(
        LinkFacts.of(new),
        (
            Event(
                kind=EventKind.PAYMENT,
                charge_id="c1",
                amount=Decimal("0.10"),
                currency="RWF",
                payer_name="Élise <Co>",
                payment_type="card",
            ),
            Event(kind=EventKind.MORE_FAILED, count=3, currency="RWF"),
            Event(kind=EventKind.PENDING, charge_id="c2", amount=Decimal(9), minutes=17),
            Event(kind=EventKind.STATUS, status="completed"),
        ),
    )
    back = Alert.from_payload(decode_json(encode_json(alert.to_payload())))
    assert back == alert
    assert back.link.total_collected == Decimal("5000.50")
    assert back.charge_ids == ["c1", "c2"]
