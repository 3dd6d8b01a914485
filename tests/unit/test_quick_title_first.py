"""Quick create reads the title first too (issue 14, point 10): ``/new Samosa 5000``."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.dgs.models import AmountType
from bot.quick import parse_quick


@pytest.mark.parametrize(
    ("arguments", "title", "currency", "amount"),
    [
        ("Samosa 5000", "Samosa", "RWF", Decimal(5000)),
        ("Big samosa 5k", "Big samosa", "RWF", Decimal(5000)),
        ("Samosa 25.50 USD", "Samosa", "USD", Decimal("25.5")),
        ("Invoice 12 50 000", "Invoice 12", "RWF", Decimal(50000)),
        ("5000 Samosa", "Samosa", "RWF", Decimal(5000)),  # the amount first, as before
    ],
)
def test_the_title_may_come_first(
    arguments: str, title: str, currency: str, amount: Decimal
) -> None:
    draft = parse_quick(arguments, "RWF", "en")
    assert (draft.title, draft.currency, draft.amount, draft.kind) == (
        title,
        currency,
        amount,
        AmountType.FIXED,
    )


def test_a_range_after_the_title_is_a_flexible_link() -> None:
    draft = parse_quick("Church roof 500-100000", "RWF", "en")
    assert draft.kind == AmountType.FLEXIBLE and draft.title == "Church roof"
    assert (draft.min_amount, draft.max_amount) == (Decimal(500), Decimal(100000))
