"""``paylinks-bot review-page rw -o review-rw.html``: every message of one language as a vendor
or a payer sees it, on one self-contained HTML page, for native reviewers (issue 18).

A ``.po`` file shows ``{amount}`` and ``<b>``; a reviewer must judge "💰 Wakiriye **RF 5.000**".
So each message is filled through the bot's own ``Translator`` (values escaped as the bot
escapes them) with sample values formatted by the bot's money and date code, and drawn the way
its surface shows it: a chat bubble (Telegram HTML: exactly ``<b> <i> <code> <a>``), a button
at a phone's width with its budget, a line of the payer page. The 30 key strings of
``locales/REVIEW.md`` come first; the page needs no network.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from bot.button_labels import ONE_IN_ROW, TWO_IN_ROW, width
from bot.cards import methods_line
from bot.cleaners import (
    DESCRIPTION_MAX,
    MAX_USES_MAX,
    METADATA_MAX_DEPTH,
    METADATA_USER_MAX_BYTES,
    SLUG_MAX,
    SLUG_MIN,
    TITLE_MAX,
)
from bot.dashboard import status_label
from bot.dates import format_relative, format_when
from bot.dgs.models import KIGALI
from bot.i18n import LANGUAGE_NAMES, SOURCE_LANGUAGE, Catalogues, Markup, Translator, locales_dir
from bot.money import MAX_AMOUNT, babel_locale, describe_separators, format_amount
from bot.notify.digest import format_day

PLURAL_COUNTS: tuple[int, ...] = (0, 1, 2, 1_000_000)
KEY_STRINGS_HEADING = "## The 30 strings that matter most"
# A fixed "now", so the page is the same each time it is made: 3 December 2026, 10:00 Kigali.
SAMPLE_NOW = datetime(2026, 12, 3, 10, 0, tzinfo=KIGALI)
CURRENCY = "RWF"

# Where each message is shown. A button is known by its translator comment ("half-row
# button, ≤ 16 characters"); these prefixes are the fallback for a message without one.
_BUTTON_PREFIXES = ("button-", "alert-button-", "dash-filter-", "notify-level-", "opt-")
# Plural messages whose {total} is the very number the plural form follows.
_COUNTED_TOTALS = frozenset({"export-progress"})
_BUDGET = re.compile(r"≤\s*(\d+)")
# The translator comment names a Telegram button by its room ("half-row button, ≤ 16…").
_SAYS_BUTTON = re.compile(r"\b(?:half-row|full-width)(?: switch)? button\b")


def surface(key: str, comments: Sequence[str] = ()) -> str:
    """``button``, ``payer`` (the payment page, the QR card), ``file`` (CSV), ``tool`` (the
    demo and the command line), ``menu`` (Telegram's command menu) or ``chat``."""
    said = any(_SAYS_BUTTON.search(comment) for comment in comments)
    if said or (not comments and key.startswith(_BUTTON_PREFIXES)):
        return "button"
    if key.startswith("payer-") or key == "qr-scan-to-pay":
        return "payer"
    if key.startswith("csv-"):
        return "file"
    if key.startswith("demo-"):
        return "tool"
    if key.startswith("cmd-"):
        return "menu"
    return "chat"


@dataclass(frozen=True)
class Entry:
    """One message: its key, the English beside it, the translator's comment."""

    key: str
    english: tuple[str, ...]
    comments: tuple[str, ...]
    plural: bool


def key_strings(review: Path | None = None) -> list[tuple[str, str]]:
    """(msgid, why) of the table under "The 30 strings that matter most" in ``REVIEW.md``."""
    path = review or locales_dir() / "REVIEW.md"
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    if KEY_STRINGS_HEADING not in text:
        return []
    section = text.split(KEY_STRINGS_HEADING, 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\|\s*\d+\s*\|\s*`([^`]+)`\s*\|[^|\n]*\|([^|\n]*)\|", section, re.M)
    return [(key, why.strip()) for key, why in rows]


def _read(path: Path, language: str) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=language, domain="bot")


def _key(message: Any) -> str:
    return str(message.id if isinstance(message.id, str) else message.id[0])


def _strings(message: Any) -> tuple[str, ...]:
    value = message.string
    return tuple(value) if isinstance(value, tuple | list) else (str(value),)


def entries(language: str, root: Path) -> list[Entry]:
    """Every message of ``language``'s catalogue in its order, with the English text and the
    ``#.`` comments (the language's own, else those of the English catalogue)."""
    english = {
        _key(m): m for m in _read(root / SOURCE_LANGUAGE / "LC_MESSAGES/bot.po", "en") if m.id
    }
    found: list[Entry] = []
    for message in _read(root / language / "LC_MESSAGES" / "bot.po", language):
        if not message.id:
            continue
        key = _key(message)
        source = english.get(key)
        comments = tuple(message.auto_comments) or tuple(source.auto_comments if source else ())
        found.append(
            Entry(
                key=key,
                english=_strings(source) if source else (),
                comments=comments,
                plural=isinstance(message.id, tuple | list),
            )
        )
    return found


def sample_values(tr: Translator, now: datetime = SAMPLE_NOW) -> dict[str, Any]:
    """A realistic value for every placeholder name, written as the bot writes it in
    ``tr.language``: a vendor's words as plain ``str`` (escaped by the ``Translator``), what
    the bot builds from other messages as ``Markup``."""
    lang = tr.language

    def money(value: int) -> str:
        return format_amount(Decimal(value), CURRENCY, lang)

    expiry = datetime(2026, 12, 31, 18, 0, tzinfo=KIGALI)
    group, decimal = describe_separators(lang)
    typed_group = group.replace("\u202f", " ").replace("\xa0", " ")

    def sign(value: str) -> str:
        return tr("separator-space") if not value.strip() else tr("separator-sign", sign=value)

    return {
        "name": "Aline",
        "actor": "Jean",
        "owner": "Jean",  # issue 17: the shop owner a cashier works for
        "title": "Samosa & chai",
        "group": "Ikimina cya Kimironko",
        "amount": money(5000),
        "amounts": ", ".join(money(n) for n in (2000, 5000, 10000)),
        "total": money(125000),
        "raised": money(350000),
        "goal": money(500000),
        "low": money(1000),
        "high": money(50000),
        "min": money(1000),
        "max": money(50000),
        "currency": CURRENCY,
        "expected": CURRENCY,
        "given": "USD",
        # As the form writes it: the language's own separator, never ", " (it means two things).
        "example": " / ".join(["50000", f"50{typed_group}000", "50k"]),
        "digits": 2,
        "count": 3,
        "used": 3,
        "uses": Markup(tr.plural("uses-count", 3)),
        "done": 12,
        "page": 2,
        "pages": 5,
        "percent": 70,
        "length": 132,
        "size": 2048,
        "last4": "7f3a",
        "id": "ch_8Kq2Lm4N",
        "slug": "samosa-kimironko",
        "url": "https://pay.dgs.example/p/samosa-kimironko",
        "reference": "25a5643d-31de-490d-808d-82af72fdd097",  # a charge id (receipts)
        "host": "192.168.1.20",
        "port": 8080,
        "key": "order",
        "when": format_when(expiry, lang),
        # Issue 17's daily totals: the day told, the time chosen, the mode now.
        "day": format_day("2026-12-04", lang),
        "hour": "20:00",
        "mode": Markup(tr("daily-mode-auto")),
        "relative": format_relative(expiry, now, lang),
        "status": Markup(status_label("active", tr)),
        "level": Markup(tr("notify-level-payments")),
        "field": Markup(tr("edit-field-title")),
        "ask": Markup(tr("edit-ask-title", max=TITLE_MAX)),
        "methods": Markup(methods_line(["mobile_money", "card"], tr)),
        "messages": "must not be empty",
        "language": LANGUAGE_NAMES[lang],
        "decimal": Markup(sign(decimal)),
        "sign": ",",
        "problem": Markup(tr("draft-title-empty")),
        "value": "Samosa & chai",
        # Issue 17, points 2 and 3: saved items and the till.
        "limit": 50,
        "item": f"Samosa · {money(500)}",
        "time": format_when(expiry, lang),
    }


def _overrides(tr: Translator) -> dict[str, dict[str, Any]]:
    """Keys whose placeholder holds something else than the name usually does."""
    lang = tr.language
    group, _ = describe_separators(lang)
    base = sample_values(tr)
    summary = [
        tr("summary-title", value="Samosa & chai"),
        tr("summary-amount", value=base["amount"]),
        tr("summary-methods", value=base["methods"]),
        tr("summary-expiry", value=base["when"]),
    ]
    refused = tr("form-provider-refused-field", field=base["field"], messages="too long")
    title, description = {"max": TITLE_MAX}, {"max": DESCRIPTION_MAX}
    return {
        "form-amount-rule": {
            "group": Markup(
                tr("separator-space") if not group.strip() else tr("separator-sign", sign=group)
            )
        },
        "form-summary": {"details": Markup("\n".join(summary))},
        "form-provider-refused": {"errors": Markup(refused)},
        # The form's summary line and its More options button show the same value.
        **{
            f"{where}-{name}": {"value": value}
            for name, value in {
                "amount": base["amount"],
                "max-uses": "10",
                "methods": base["methods"],
                "expiry": base["when"],
                "slug": base["slug"],
                "redirect": "https://shop.example/thanks",
                "logo": "https://shop.example/logo.png",
            }.items()
            for where in ("summary", "opt")
        },
        "summary-ask": {"value": tr("ask-phone")},
        "summary-metadata": {"value": "order=123"},
        "opt-metadata": {"value": tr.plural("value-keys", 2)},
        "summary-goal": {"value": base["goal"]},
        "summary-suggested": {"value": base["amounts"]},
        "button-keep": {"value": base["amount"]},
        "edit-prompt": {"value": "Samosa & chai"},
        "draft-currency-unknown": {"value": "RWX"},
        "draft-payment-type-unknown": {"value": "crypto"},
        "form-title": title,
        "edit-ask-title": title,
        "draft-title-too-long": {**title, "length": TITLE_MAX + 32},
        "form-description": description,
        "edit-ask-description": description,
        "draft-description-too-long": {**description, "length": DESCRIPTION_MAX + 112},
        "draft-slug-invalid": {"min": SLUG_MIN, "max": SLUG_MAX},
        "draft-max-uses-invalid": {"max": MAX_USES_MAX},
        "draft-metadata-too-deep": {"max": METADATA_MAX_DEPTH},
        "draft-metadata-too-large": {"max": METADATA_USER_MAX_BYTES},
        "amount-too-large": {"max": format_amount(MAX_AMOUNT, CURRENCY, lang)},
        "payer-error-amount-invalid": {"example": "1500"},
        "form-suggested": {"example": "5000, 10000, 20000"},
        "amount-too-precise": {"currency": "USD"},
        "demo-cli-ready": {"url": "http://127.0.0.1:8080"},
    }


def render_page(
    language: str,
    *,
    root: Path | None = None,
    samples: Mapping[str, Any] | None = None,
    now: datetime = SAMPLE_NOW,
) -> str:
    """The review page of ``language``; ``samples`` replaces sample values by name."""
    root = root or locales_dir()
    tr = Catalogues.load(root).translator(language)
    values = {**sample_values(tr, now), **(samples or {})}
    overrides = _overrides(tr)
    keys = [key for key, _ in key_strings(root / "REVIEW.md")]
    why = dict(key_strings(root / "REVIEW.md"))
    listed = entries(language, root)
    by_key = {entry.key: entry for entry in listed}
    first = [by_key[key] for key in keys if key in by_key]
    rest = [entry for entry in listed if entry.key not in why]
    sections = [
        _section(entry, tr, {**values, **_user_kept(overrides.get(entry.key, {}), samples)}, why)
        for entry in [*first, *rest]
    ]
    return _PAGE.format(
        lang=html.escape(language),
        style=_STYLE,
        title=html.escape(f"PayLinks — {LANGUAGE_NAMES.get(language, language)}"),
        count=len(sections),
        keys=len(first),
        body="\n".join(sections),
    )


def _user_kept(override: Mapping[str, Any], chosen: Mapping[str, Any] | None) -> dict[str, Any]:
    """A per-message value gives way to one the caller chose by name."""
    return {name: value for name, value in override.items() if not chosen or name not in chosen}


def _section(
    entry: Entry, tr: Translator, values: Mapping[str, Any], why: Mapping[str, str]
) -> str:
    kind = surface(entry.key, entry.comments)
    key_class = " key" if entry.key in why else ""
    counts: Sequence[int | None] = PLURAL_COUNTS if entry.plural else (None,)
    shown = "\n".join(_rendered(entry, tr, kind, values, count) for count in counts)
    english = "<br>".join(html.escape(text) for text in entry.english)
    notes = "".join(f"<p class=comment>{html.escape(c)}</p>" for c in entry.comments)
    reason = f"<p class=why>★ {html.escape(why[entry.key])}</p>" if entry.key in why else ""
    return (
        f'<section class="msg {kind}{key_class}" data-msgid="{html.escape(entry.key)}">'
        f"<header><code class=msgid>{html.escape(entry.key)}</code>"
        f"<span class=kind>{kind}</span></header>{reason}{notes}"
        f'<div class=english lang="en">{english}</div>'
        f"<div class=shown>{shown}</div></section>"
    )


def _rendered(
    entry: Entry, tr: Translator, kind: str, values: Mapping[str, Any], count: int | None
) -> str:
    params = dict(values)
    attr = ""
    if count is not None:
        params.pop("count", None)
        attr = f' data-count="{count}"'
        if entry.key in _COUNTED_TOTALS:  # the count is the total shown: "12 / 40 links"
            params.update(total=_number(count, tr), done=_number(count // 2, tr))
    if kind == "chat":
        text = (
            tr.plural(entry.key, count, **params) if count is not None else tr(entry.key, **params)
        )
        inner = telegram_html(text)
    else:
        plain = {k: str(v) if isinstance(v, Markup) else v for k, v in params.items()}
        text = (
            tr.plain(entry.key, **plain)
            if count is None
            else _plain_plural(tr, entry.key, count, plain)
        )
        inner = html.escape(text, quote=False)
    label = (
        f"<span class=n>n = {count:,}</span>".replace(",", "\u202f") if count is not None else ""
    )
    if kind == "button":
        return f"<div class=row>{label}{_button(inner, text, entry.comments, attr)}</div>"
    room = _budget_of(entry.comments)
    size = "" if room is None else _size(len(html.unescape(_TAG.sub("", text))), room)
    return f'<div class=row>{label}<div class="rendered {kind}"{attr}>{inner}</div>{size}</div>'


def _budget_of(comments: Sequence[str]) -> int | None:
    """The room the translator comment gives ("≤ 16 characters"), if it gives one."""
    return next((int(m[1]) for c in comments if (m := _BUDGET.search(c))), None)


def _size(used: int, room: int) -> str:
    over = " over" if used > room else ""
    return f"<span class='budget{over}'>{used} / {room}</span>"


def _number(value: int, tr: Translator) -> str:
    """A count written as the export's progress line writes it (``1,000,000``)."""
    return str(format_decimal(value, locale=babel_locale(tr.language)))


def _plain_plural(tr: Translator, key: str, count: int, params: Mapping[str, Any]) -> str:
    """``tr.plural`` without escaping: a label is plain text, as ``Translator.plain`` gives."""
    return html.unescape(tr.plural(key, count, **params))


def _button(inner: str, label: str, comments: Sequence[str], attr: str) -> str:
    """The label drawn at the width its budget gives on a 360 px phone; red when Telegram
    would cut it. Without a budget in the translator comment, alone and half a row."""
    said = _budget_of(comments)
    budgets = (said,) if said else (ONE_IN_ROW, TWO_IN_ROW)
    size = width(label)
    drawn = []
    for index, budget in enumerate(budgets):
        over = " over" if size > budget else ""
        half = " half" if budget <= TWO_IN_ROW else ""
        cls = f"rendered btn{half}{over}" if index == 0 else f"btn{half}{over}"
        mark = attr if index == 0 else ""
        drawn.append(
            f'<div class="{cls}"{mark}>{inner}</div><span class=budget>{size} / {budget}</span>'
        )
    return "".join(f"<div class=btnrow>{one}</div>" for one in drawn)


# Telegram's own tags as the bot writes them; everything else is shown as text.
_TAG = re.compile(r'<(/?)(b|i|code|a)(?:\s+href="([^"<>]*)")?\s*>')
_SAFE_HREF = re.compile(r"^(https?://|tg://)", re.IGNORECASE)


def telegram_html(text: str) -> str:
    """Telegram HTML → page HTML: ``<b> <i> <code> <a href>`` kept, anything else shown as the
    characters Telegram would show, escaped once for the page."""
    out: list[str] = []
    position = 0
    for match in _TAG.finditer(text):
        out.append(_text(text[position : match.start()]))
        closing, tag, href = match.groups()
        if closing:
            out.append(f"</{tag}>")
        elif tag == "a":
            safe = href if href and _SAFE_HREF.match(html.unescape(href)) else "#"
            out.append(f'<a href="{html.escape(html.unescape(safe))}">')
        else:
            out.append(f"<{tag}>")
        position = match.end()
    out.append(_text(text[position:]))
    return "".join(out)


def _text(chunk: str) -> str:
    return html.escape(html.unescape(chunk), quote=False)


def write_page(language: str, output: Path) -> Path:
    output.write_text(render_page(language), encoding="utf-8")
    return output


_PAGE = """<!DOCTYPE html>
<html lang="{lang}">
<head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style></head>
<body><main>
<h1>{title}</h1>
<p class=intro>{count} messages; the {keys} key strings first (★). Each shows its msgid, the
English, the translator comment and the text as it appears, with sample values. Plural messages
at 0, 1, 2 and 1&#8239;000&#8239;000; buttons at a 360&nbsp;px phone's width, with their width
against their budget (red: Telegram cuts the label). Corrections: see locales/REVIEW.md.</p>
{body}
</main></body></html>
"""

_STYLE = """
body{margin:0;background:#dfe6ec;color:#111;
font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:360px;margin:0 auto;padding:8px}
h1{font-size:18px}.intro{font-size:13px;color:#333}
.msg{background:#fff;border-radius:10px;margin:10px 0;padding:8px 10px;box-shadow:0 1px 2px #0002}
.msg.key{border-left:4px solid #e0a100}
header{display:flex;justify-content:space-between;gap:6px}
.msgid{font-weight:600;font-size:13px;word-break:break-all}
.kind{font-size:11px;color:#667;text-transform:uppercase}
.why{font-size:13px;color:#8a5a00;margin:4px 0}
.comment{font-size:12px;color:#555;font-style:italic;margin:4px 0}
.english{font-size:12px;color:#555;border-left:2px solid #ccd;padding-left:6px;margin:4px 0;
white-space:pre-wrap}
.row{margin:6px 0}.n{display:block;font-size:11px;color:#667}
.rendered{white-space:pre-wrap;overflow-wrap:anywhere}
.rendered.chat{background:#effdde;border-radius:10px;padding:6px 9px;max-width:300px}
.rendered.payer{background:#f5f7ff;border:1px solid #ccd;padding:6px 9px;border-radius:6px}
.rendered.file{font-family:monospace;border:1px solid #bbb;padding:3px 6px;display:inline-block}
.rendered.tool,.rendered.menu{border:1px dashed #999;padding:4px 8px;border-radius:4px}
.btnrow{display:flex;align-items:center;gap:6px;margin:4px 0}
.btn{box-sizing:border-box;width:100%;max-width:320px;background:#5b8ec2;color:#fff;
border-radius:6px;padding:7px 6px;text-align:center;white-space:nowrap;overflow:hidden;
text-overflow:ellipsis}
.btn.half{max-width:157px}
.btn.over{background:#c0392b}
.budget{font-size:12px;color:#333;white-space:nowrap}
.budget.over{color:#c0392b;font-weight:600}
a{color:#1a5fb4}
"""
