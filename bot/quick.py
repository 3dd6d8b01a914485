"""Quick create: ``/new 50000 Invoice #123`` → a link draft, in one message.

    /new <amount> [<currency>] <title>          fixed
    /new <min>-<max> [<currency>] <title>       flexible, with a range
    /new any [<currency>] <title>               flexible, any amount
    /new <title> <amount> [<currency>]          the title first (``/new Samosa 5000``)

Amounts take the form's formats (``50000``, ``50,000``, ``50 000``, ``50k``, ``1.5m``,
``$25.50``); the currency defaults to the user's default.
"""

from __future__ import annotations

import re

from bot import money
from bot.cleaners import DraftError, check_amounts, clean_amount, clean_title
from bot.dgs.models import AmountType
from bot.links import LinkDraft

# A number as vendors type it: digits with thousands spaces ("50 000"), or digits with dots
# and commas, an optional k/m multiplier, an optional currency symbol in front.
_NUMBER = r"[$€£]?\s?(?:\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:[.,]\d+)?|\d[\d.,]*)\s?[kKmM]?"
# "any amount" as a vendor types it: each language's word (the help shows it), and the English
# one in every language, since older help texts and other people's examples use it.
ANY_WORDS = frozenset({"any", "libre", "yose", "chochote"})
_ANY = "|".join(sorted(ANY_WORDS))
_QUICK = re.compile(
    rf"^(?P<amount>{_ANY}|{_NUMBER}(?:\s*[-–]\s*{_NUMBER})?)"
    r"(?:\s+(?P<currency>[A-Za-z]{3}))?"
    r"\s+(?P<title>\S.*)$",
    re.IGNORECASE | re.DOTALL,
)
# The title first (``/new Samosa 5000``, ``/new Samosa 5000 RWF``): the amount ends the line.
_QUICK_TITLE_FIRST = re.compile(
    rf"^(?P<title>\S.*?)\s+(?P<amount>{_NUMBER}(?:\s*[-–]\s*{_NUMBER})?)"
    r"(?:\s+(?P<currency>[A-Za-z]{3}))?$",
    re.IGNORECASE | re.DOTALL,
)
# Three-letter words that are also ISO codes (ALL, CUP, MOP…) would eat a title's first word;
# a lower-case code is only taken as a currency when it is one vendors here use.
_COMMON_CURRENCIES = frozenset({"RWF", "FRW", "USD", "EUR", "KES", "UGX", "TZS", "BIF", "CDF"})


class QuickUsageError(ValueError):
    """The arguments do not have the quick-create shape: show the usage line."""


def parse_quick(arguments: str, default_currency: str, language: str) -> LinkDraft:
    """The draft of ``/new <arguments>``; ``QuickUsageError`` or ``DraftError`` when wrong."""
    match = _QUICK.match(arguments.strip()) or _QUICK_TITLE_FIRST.match(arguments.strip())
    if match is None:
        raise QuickUsageError(arguments)
    currency = default_currency
    title = match["title"]
    given = match["currency"]
    if given is not None:
        if given.isupper() or given.upper() in _COMMON_CURRENCIES:
            currency = money.normalize_currency(given) if money.is_known_currency(given) else ""
            if not currency and given.upper() == "FRW":
                currency = "RWF"
            if not currency:
                raise DraftError("currency", "draft-currency-unknown", value=given)
        elif match.re is _QUICK_TITLE_FIRST:
            title = f"{title} {given}"
        else:
            title = f"{given} {title}"
    draft = LinkDraft(title=clean_title(title), currency=currency)
    amount_text = match["amount"].strip()
    if amount_text.lower() in ANY_WORDS:
        draft.kind = AmountType.FLEXIBLE
    elif _is_range(amount_text):
        low, high = re.split(r"\s*[-–]\s*", amount_text, maxsplit=1)
        draft.kind = AmountType.FLEXIBLE
        draft.min_amount = clean_amount(low, currency, language, field="min_amount")
        draft.max_amount = clean_amount(high, currency, language, field="max_amount")
    else:
        draft.kind = AmountType.FIXED
        draft.amount = clean_amount(amount_text, currency, language)
    check_amounts(draft)
    return draft


def _is_range(text: str) -> bool:
    return bool(re.search(r"\d\s*[kKmM]?\s*[-–]\s*[$€£]?\s?\d", text))
