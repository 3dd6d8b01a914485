"""What changed on a link between two polls, as events. Pure: no I/O, no clock.

Inputs are the stored snapshot, the provider's new answer, what the charges table said about
the new answer's charges (``Repo.upsert_charges``: new ids and status moves, each reported
once ever, which is what makes an alert happen once), the charges still pending, and the time.
The stats counters catch what fell out of the ten recent charges between two polls and are
reported as a count. Odd data (counters going down, unknown statuses) becomes an anomaly line
for the log, never an exception.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from bot.dgs.models import ChargeStatus, LinkDetails, LinkStatus
from bot.store.models import ChargeChange, NotifyLevel, StoredCharge

FINAL_STATUSES = frozenset({LinkStatus.EXPIRED, LinkStatus.COMPLETED, LinkStatus.ARCHIVED})
_CHARGE_STATUSES = frozenset(ChargeStatus)
_LINK_STATUSES = frozenset(LinkStatus)
PAYLOAD_VERSION = 1


class EventKind(StrEnum):
    PAYMENT = "payment"  # a charge succeeded: new, or settled from pending
    FAILED = "failed"  # a payment attempt failed
    PENDING = "pending"  # a charge is still pending after the threshold
    MORE_PAYMENTS = "more_payments"  # counted by the stats, not among the recent charges
    MORE_FAILED = "more_failed"
    STATUS = "status"  # the link stopped taking payments: expired, completed, archived


PAYMENT_KINDS = frozenset({EventKind.PAYMENT, EventKind.MORE_PAYMENTS})


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    charge_id: str | None = None
    amount: Decimal | None = None
    currency: str = ""
    payer_name: str | None = None
    payment_type: str | None = None
    count: int = 1  # MORE_* events: how many
    minutes: int | None = None  # PENDING: how long it has been pending
    status: str | None = None  # STATUS: the new status

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind.value}
        for name in ("charge_id", "amount", "payer_name", "payment_type", "minutes", "status"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.currency:
            data["currency"] = self.currency
        if self.count != 1:
            data["count"] = self.count
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        return cls(
            kind=EventKind(data["kind"]),
            charge_id=data.get("charge_id"),
            amount=_decimal_or_none(data.get("amount")),
            currency=str(data.get("currency") or ""),
            payer_name=data.get("payer_name"),
            payment_type=data.get("payment_type"),
            count=int(data.get("count", 1)),
            minutes=data.get("minutes"),
            status=data.get("status"),
        )


@dataclass(frozen=True, slots=True)
class LinkFacts:
    """The link as the alert shows it (as of the poll that made the alert)."""

    link_id: str
    title: str
    currency: str
    status: str
    use_count: int
    max_uses: int | None
    total_collected: Decimal

    @classmethod
    def of(cls, details: LinkDetails) -> LinkFacts:
        link = details.link
        return cls(
            link_id=link.id,
            title=link.title,
            currency=link.currency or details.stats.currency,
            status=link.status,
            use_count=link.use_count,
            max_uses=link.max_uses,
            total_collected=details.stats.total_collected,
        )


@dataclass(frozen=True, slots=True)
class Alert:
    """One outbox row of kind ``alert``: a link and what happened to it in one poll."""

    link: LinkFacts
    events: tuple[Event, ...]

    def to_payload(self) -> dict[str, Any]:
        link = self.link
        return {
            "v": PAYLOAD_VERSION,
            "link_id": link.link_id,
            "title": link.title,
            "currency": link.currency,
            "status": link.status,
            "use_count": link.use_count,
            "max_uses": link.max_uses,
            "total_collected": link.total_collected,
            "events": [event.to_json() for event in self.events],
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Alert:
        link = LinkFacts(
            link_id=str(payload["link_id"]),
            title=str(payload.get("title") or ""),
            currency=str(payload.get("currency") or ""),
            status=str(payload.get("status") or ""),
            use_count=int(payload.get("use_count") or 0),
            max_uses=payload.get("max_uses"),
            total_collected=_decimal_or_none(payload.get("total_collected")) or Decimal(0),
        )
        return cls(link, tuple(Event.from_json(item) for item in payload.get("events", ())))

    @property
    def charge_ids(self) -> list[str]:
        return [event.charge_id for event in self.events if event.charge_id]


@dataclass(frozen=True, slots=True)
class LinkDiff:
    events: tuple[Event, ...]
    noted_pending: tuple[str, ...]  # charge ids whose "still pending" note is now given
    anomalies: tuple[str, ...]  # for the log
    activity: bool  # a charge appeared or moved: the link is busy
    status_changed: bool = False


def diff(
    old: LinkDetails | None,
    new: LinkDetails,
    changes: Sequence[ChargeChange],
    pending: Sequence[StoredCharge],
    *,
    known_status: str,
    now: datetime,
    pending_after: timedelta,
) -> LinkDiff:
    """The events between ``old`` (None: the first poll) and ``new``.

    ``known_status`` is the status the bot had recorded for the link: a final status the bot
    already knew (it archived the link itself) is not announced again.
    """
    anomalies: list[str] = []
    payments: list[Event] = []
    failures: list[Event] = []
    # Charges that reached a status in this poll, said out loud or not (for the counters).
    arrived: Counter[str] = Counter(change.charge.status for change in changes)
    # The provider lists charges newest first; people read them oldest first.
    for change in reversed(changes):
        charge = change.charge
        status = charge.status
        if status not in _CHARGE_STATUSES:
            anomalies.append(f"charge {charge.charge_id}: unknown status {status!r}")
            continue
        previous = change.previous_status
        if previous is not None and previous not in _CHARGE_STATUSES:
            anomalies.append(f"charge {charge.charge_id}: unknown status {previous!r} before")
        if previous == ChargeStatus.SUCCESS:
            # A success does not go back; the provider changed its mind: say so in the log only.
            anomalies.append(f"charge {charge.charge_id}: moved from success to {status}")
            continue
        event_kind = {
            ChargeStatus.SUCCESS: EventKind.PAYMENT,
            ChargeStatus.FAILED: EventKind.FAILED,
        }.get(ChargeStatus(status))
        if event_kind is None:
            continue  # newly pending: nothing to say yet
        event = Event(
            kind=event_kind,
            charge_id=charge.charge_id,
            amount=charge.amount,
            currency=charge.currency,
            payer_name=charge.payer_name or None,
            payment_type=charge.payment_type or None,
        )
        (payments if event_kind is EventKind.PAYMENT else failures).append(event)

    events: list[Event] = list(payments)
    more_payments, more_failed = _unseen(old, new, payments, arrived, anomalies)
    if more_payments is not None:
        events.append(more_payments)
    events.extend(failures)
    if more_failed is not None:
        events.append(more_failed)

    noted: list[str] = []
    for charge in pending:
        if charge.status != ChargeStatus.PENDING or charge.pending_noted:
            continue
        since = charge.first_seen_at
        if charge.created_at is not None and charge.created_at < since:
            since = charge.created_at  # seen late (the bot was down): count from the payment
        age = now - since
        if age >= pending_after:
            noted.append(charge.charge_id)
            events.append(
                Event(
                    kind=EventKind.PENDING,
                    charge_id=charge.charge_id,
                    amount=charge.amount,
                    currency=charge.currency,
                    payer_name=charge.payer_name or None,
                    payment_type=charge.payment_type or None,
                    minutes=int(age.total_seconds() // 60),
                )
            )

    new_status = new.link.status
    old_status = old.link.status if old is not None else known_status
    status_changed = new_status != old_status
    if new_status not in _LINK_STATUSES:
        anomalies.append(f"link {new.link.id}: unknown status {new_status!r}")
    elif status_changed and new_status in FINAL_STATUSES and new_status != known_status:
        events.append(Event(kind=EventKind.STATUS, status=new_status))

    activity = bool(changes) or more_payments is not None or more_failed is not None
    return LinkDiff(
        events=tuple(events),
        noted_pending=tuple(noted),
        anomalies=tuple(anomalies),
        activity=activity,
        status_changed=status_changed,
    )


def _unseen(
    old: LinkDetails | None,
    new: LinkDetails,
    payments: Sequence[Event],
    arrived: Counter[str],
    anomalies: list[str],
) -> tuple[Event | None, Event | None]:
    """Charges the counters saw but the ten recent charges did not show us."""
    if old is None:
        return None, None  # a first poll has nothing to compare the counters with
    before, after = old.stats, new.stats
    for name in ("total_charges", "successful_charges", "failed_charges"):
        if getattr(after, name) < getattr(before, name):
            anomalies.append(
                f"link {new.link.id}: {name} went down from {getattr(before, name)} "
                f"to {getattr(after, name)}"
            )
    currency = new.stats.currency or new.link.currency
    more_payments = None
    extra = after.successful_charges - before.successful_charges - arrived[ChargeStatus.SUCCESS]
    if extra > 0:
        seen_amount = sum((event.amount or Decimal(0) for event in payments), Decimal(0))
        unseen_amount = after.total_collected - before.total_collected - seen_amount
        more_payments = Event(
            kind=EventKind.MORE_PAYMENTS,
            count=extra,
            amount=unseen_amount if unseen_amount > 0 else None,
            currency=currency,
        )
    more_failed = None
    extra_failed = after.failed_charges - before.failed_charges - arrived[ChargeStatus.FAILED]
    if extra_failed > 0:
        more_failed = Event(kind=EventKind.MORE_FAILED, count=extra_failed, currency=currency)
    return more_payments, more_failed


def for_level(events: Iterable[Event], level: NotifyLevel, *, muted: bool) -> tuple[Event, ...]:
    """The events the owner asked to hear about."""
    if muted or level is NotifyLevel.OFF:
        return ()
    if level is NotifyLevel.PAYMENTS:
        return tuple(event for event in events if event.kind in PAYMENT_KINDS)
    return tuple(events)


def _decimal_or_none(value: Any) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None
