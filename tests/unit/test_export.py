"""The CSV exports: English columns, plain decimal amounts, ISO 8601 times with their offset,
text that a spreadsheet reads as text; and the merge of the charges the bot knows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.dashboard import collected_total, known_charges
from bot.dgs.models import KIGALI, Charge, Link, LinkDetails, Stats
from bot.export import CHARGE_COLUMNS, LINK_COLUMNS, charges_csv, links_csv, safe_text
from bot.store.models import StoredCharge

CREATED = datetime(2026, 4, 3, 10, 0, tzinfo=KIGALI)


def read(document: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(document.decode("utf-8"), newline="")))


def details(**link: object) -> LinkDetails:
    base: dict[str, object] = {
        "id": "l1",
        "slug": "invoice-123",
        "url": "https://pay.example.rw/generation/pay/invoice-123",
        "title": "Invoice #123",
        "amount_type": "fixed",
        "amount": Decimal(50000),
        "currency": "RWF",
        "created_at": CREATED,
    }
    base.update(link)
    stats = Stats(
        total_charges=4,
        successful_charges=1,
        pending_charges=0,
        failed_charges=3,
        total_collected=Decimal(50000),
        currency="RWF",
    )
    return LinkDetails(link=Link.model_validate(base), stats=stats)


def test_links_csv_columns_and_values() -> None:
    usd = details(
        id="l2",
        title="Design work",
        currency="USD",
        amount=Decimal("25.5"),
        max_uses=10,
        use_count=2,
        expires_at=datetime(2026, 12, 31, 23, 59, 59, tzinfo=KIGALI),
    )
    [rwf, dollars] = read(links_csv([details(), usd]))
    assert list(rwf) == list(LINK_COLUMNS)
    assert rwf["amount"] == "50000" and rwf["total_collected"] == "50000"
    assert dollars["amount"] == "25.50"  # the currency's two digits, never 25.5 or 2.55E+1
    assert rwf["created_at"] == "2026-04-03T10:00:00+02:00"
    assert dollars["expires_at"] == "2026-12-31T23:59:59+02:00"
    assert rwf["expires_at"] == "" and rwf["max_uses"] == "" and dollars["max_uses"] == "10"
    assert (rwf["total_charges"], rwf["successful_charges"], rwf["failed_charges"]) == (
        "4",
        "1",
        "3",
    )


def test_times_from_another_zone_are_written_in_kigali_time() -> None:
    [row] = read(links_csv([details(created_at=datetime(2026, 4, 3, 8, 0, tzinfo=UTC))]))
    assert row["created_at"] == "2026-04-03T10:00:00+02:00"


def test_awkward_titles_survive_the_round_trip_and_formulas_are_defused() -> None:
    titles = ['Rent, "March"\nshop 4', "Ikimina cy'abacuruzi 🍌", '=HYPERLINK("x")', "+250", "@me"]
    rows = read(links_csv([details(id=str(n), title=t) for n, t in enumerate(titles)]))
    assert [row["title"] for row in rows] == [
        'Rent, "March"\nshop 4',
        "Ikimina cy'abacuruzi 🍌",
        '\'=HYPERLINK("x")',
        "'+250",
        "'@me",
    ]
    assert safe_text("-5") == "'-5" and safe_text("Jean") == "Jean" and safe_text(None) == ""


def test_charges_csv_totals_the_successful_charges() -> None:
    charges = [
        Charge(
            id="c1",
            amount=Decimal("25.50"),
            currency="USD",
            status="success",
            created_at=CREATED,
            payer_name="Aline",
            payment_type="card",
        ),
        Charge(id="c2", amount=Decimal("25.5"), currency="USD", status="success"),
        Charge(id="c3", amount=Decimal(10), currency="USD", status="failed", payer_name="=1+1"),
    ]
    rows = read(charges_csv(charges))
    assert list(rows[0]) == list(CHARGE_COLUMNS)
    assert [row["amount"] for row in rows] == ["25.50", "25.50", "10.00"]
    assert sum(Decimal(r["amount"]) for r in rows if r["status"] == "success") == Decimal("51")
    assert collected_total(charges) == Decimal("51.00")
    assert rows[0]["created_at"] == "2026-04-03T10:00:00+02:00" and rows[1]["created_at"] == ""
    assert rows[2]["payer_name"] == "'=1+1"


def test_known_charges_adds_older_ones_and_prefers_the_providers_status() -> None:
    seen_at = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)

    def stored(charge_id: str, status: str, hours: int) -> StoredCharge:
        moment = seen_at + timedelta(hours=hours)
        return StoredCharge(
            link_id="l1",
            charge_id=charge_id,
            amount=Decimal(1000),
            currency="RWF",
            status=status,
            payer_name=None,
            payment_type=None,
            created_at=moment,
            first_seen_at=moment,
            status_changed_at=moment,
            pending_noted=False,
        )

    recent = [
        Charge(
            id="b",
            amount=Decimal(1000),
            currency="RWF",
            status="success",
            created_at=(seen_at + timedelta(hours=5)).astimezone(KIGALI),
        )
    ]
    merged = known_charges(recent, [stored("a", "success", 0), stored("b", "pending", 5)])
    assert [(c.id, c.status) for c in merged] == [("b", "success"), ("a", "success")]
    assert merged[1].created_at is not None and merged[1].created_at.utcoffset() == timedelta(
        hours=2
    )
