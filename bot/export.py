"""CSV exports: the user's links with their stats, and one link's charges.

The header row is in the vendor's language (the caller passes it, one name per column, in the
order of ``LINK_COLUMNS`` / ``CHARGE_COLUMNS``; the column names themselves when none is
given). Amounts are plain decimals in the currency's digits (``50000``,
``25.50``), times ISO 8601 with their offset (``2026-04-03T10:00:00+02:00``, Kigali time).
Text that a spreadsheet would run as a formula (``=…``, ``+…``, ``-…``, ``@…``) is prefixed
with ``'``: payer names are typed by strangers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

from bot.dgs.models import KIGALI, Charge, LinkDetails
from bot.money import format_plain

LINK_COLUMNS: tuple[str, ...] = (
    "id",
    "title",
    "slug",
    "url",
    "status",
    "amount_type",
    "currency",
    "amount",
    "min_amount",
    "max_amount",
    "use_count",
    "max_uses",
    "expires_at",
    "created_at",
    "total_charges",
    "successful_charges",
    "pending_charges",
    "failed_charges",
    "total_collected",
)

CHARGE_COLUMNS: tuple[str, ...] = (
    "id",
    "created_at",
    "amount",
    "currency",
    "status",
    "payment_type",
    "payer_name",
    "payer_phone",
)

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def iso_time(moment: datetime | None) -> str:
    """ISO 8601 with the offset, in Kigali time; empty when unknown."""
    if moment is None:
        return ""
    return moment.astimezone(KIGALI).isoformat()


def plain_amount(amount: Decimal | None, currency: str) -> str:
    if amount is None:
        return ""
    return format_plain(amount, currency) if currency else f"{amount:f}"


def safe_text(value: str | None) -> str:
    """Text a spreadsheet shows as text, never runs as a formula."""
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _write(
    columns: tuple[str, ...], headers: Sequence[str] | None, rows: Iterable[list[str]]
) -> bytes:
    if headers is not None and len(headers) != len(columns):
        raise ValueError(f"{len(headers)} headers for {len(columns)} columns")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns if headers is None else [safe_text(h) for h in headers])
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def links_csv(links: Iterable[LinkDetails], headers: Sequence[str] | None = None) -> bytes:
    """One row per link: its fields and the provider's totals (not each payment)."""
    rows = []
    for details in links:
        link, stats = details.link, details.stats
        currency = link.currency
        rows.append(
            [
                link.id,
                safe_text(link.title),
                link.slug or "",
                link.url or "",
                link.status,
                link.amount_type,
                currency,
                plain_amount(link.amount, currency),
                plain_amount(link.min_amount, currency),
                plain_amount(link.max_amount, currency),
                str(link.use_count),
                "" if link.max_uses is None else str(link.max_uses),
                iso_time(link.expires_at),
                iso_time(link.created_at),
                str(stats.total_charges),
                str(stats.successful_charges),
                str(stats.pending_charges),
                str(stats.failed_charges),
                plain_amount(stats.total_collected, stats.currency or currency),
            ]
        )
    return _write(LINK_COLUMNS, headers, rows)


def charges_csv(charges: Iterable[Charge], headers: Sequence[str] | None = None) -> bytes:
    """One row per charge, in the order given."""
    rows = [
        [
            charge.id,
            iso_time(charge.created_at),
            plain_amount(charge.amount, charge.currency),
            charge.currency,
            charge.status,
            charge.payment_type or "",
            safe_text(charge.payer_name),
            safe_text(charge.payer_phone),
        ]
        for charge in charges
    ]
    return _write(CHARGE_COLUMNS, headers, rows)
