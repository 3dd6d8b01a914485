"""The create form's states and which field each asks (``bot.fields``).

States are strings, so a persisted conversation reads plainly in the database; a field's step
is the one its spec names, so the form and the registry cannot disagree.
"""

from __future__ import annotations

import re
from typing import Final

from telegram.ext import ConversationHandler

from bot.fields import FIELDS, FieldSpec


def _asks(name: str) -> str:
    step = FIELDS[name].step
    assert step is not None, name
    return step


KIND: Final = _asks("amount_type")
TITLE: Final = _asks("title")
CURRENCY: Final = _asks("currency")
CURRENCY_OTHER: Final = "form:currency_other"
AMOUNT: Final = _asks("amount")
MIN: Final = _asks("min_amount")
MAX: Final = _asks("max_amount")
SUMMARY: Final = "form:summary"
OPTIONS: Final = "form:options"
METHODS: Final = _asks("payment_types")
MAX_USES: Final = _asks("max_uses")
EXPIRY: Final = _asks("expires_at")
SLUG: Final = _asks("slug")
FAILED: Final = "form:failed"
GOAL: Final = "form:goal"  # drives only
SUGGESTED: Final = "form:suggested"  # drives only

END: Final = ConversationHandler.END
IDLE_LIMIT_SECONDS: Final = 24 * 3600
GROUP_FORM_START: Final = r"^/start (new|drive)_-\d+$"
SUGGESTED_SEPARATORS: Final = re.compile(r"\s*;\s*|,\s+|\s{2,}|\n")
COMMON_CURRENCIES: Final = ("RWF", "USD", "EUR", "KES", "UGX", "TZS")
EXPIRY_DAYS: Final = (1, 7, 30)
MAX_USES_CHOICES: Final = (1, 10, 100)

# Which step asks for a field the provider (or the draft check) refused.
FIELD_STEPS: Final = {spec.attr: spec.step for spec in FIELDS.values() if spec.step}
# The vendor's own words, asked under More options: typed, checked, or removed.
TYPED_OPTIONS: Final[dict[str, FieldSpec]] = {
    spec.step: spec
    for spec in FIELDS.values()
    if spec.step and spec.option and spec.free_text and spec.parse
}
TEXT_STEPS: Final = frozenset(
    {spec.step for spec in FIELDS.values() if spec.step and spec.form_input == "text"}
    | {CURRENCY_OTHER, GOAL, SUGGESTED}
)
# More options' buttons: a field's step, or a toggle of what the payer is asked.
OPTION_STEPS: Final = {
    spec.option: spec.step for spec in FIELDS.values() if spec.option and spec.step
}
COLLECT_FIELDS: Final = {spec.option: spec.name for spec in FIELDS.values() if spec.toggle}
