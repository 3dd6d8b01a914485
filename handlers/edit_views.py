"""What the editor shows: the field menu, a field's prompt, the methods menu, and the PATCH a
field's answer makes (``build_update``). Pure: a link and a translator in, text and buttons out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import callbacks
from bot.button_labels import toggle
from bot.cards import amount_line
from bot.dgs.models import (
    ALL_PAYMENT_TYPES,
    KIGALI,
    Link,
    LinkUpdate,
    PaymentType,
)
from bot.fields import FieldSpec, Typed, editor_fields, summary_groups
from bot.i18n import Markup, Translator, escape
from bot.links import LinkDraft, update_for
from bot.telegram_text import MESSAGE_LIMIT, shorten, shorten_plain
from handlers.link_card import EDIT
from handlers.press import (
    View,
    data,
)

FIELD: Final = callbacks.EDIT_FIELD
METHODS: Final = callbacks.EDIT_METHODS
SAVE_METHODS: Final = callbacks.EDIT_SAVE_METHODS
CLEAR: Final = callbacks.EDIT_CLEAR
EDIT_PREFIXES: Final = (EDIT, FIELD, METHODS, SAVE_METHODS, CLEAR)

# The editor's fields (``bot.fields``): toggles are saved at once, methods have their own
# menu, the others are typed.
_MENU: Final = editor_fields()
TOGGLES: Final = tuple(spec.name for spec in _MENU if spec.toggle)
TEXT_FIELDS: Final = tuple(spec.name for spec in _MENU if spec.parse is not None)
CLEARABLE: Final = frozenset(spec.name for spec in _MENU if spec.clearable)
FIELDS: Final = frozenset(spec.name for spec in _MENU)
FIELD_SPECS: Final = {spec.name: spec for spec in _MENU}
VALUE_PREVIEW = 80


# --- what the user sees ----------------------------------------------------------------------


def _value(link: Link, field: str, tr: Translator, *, preview: int = VALUE_PREVIEW) -> str:
    """The field's current value in words (plain text)."""
    spec = FIELD_SPECS[field]
    value = _current(link, spec)
    if value is None or value == "":
        return tr(spec.empty)
    shown = spec.words(value, link.currency, tr)
    return shorten_plain(" ".join(shown.split()), preview) if spec.free_text else shown


def _current(link: Link, spec: FieldSpec) -> Any:
    value = getattr(link, spec.name, None)
    # A toggle the provider did not send has its default.
    return spec.default if value is None and spec.toggle else value


def menu_view(link: Link, view: View, tr: Translator) -> tuple[str, InlineKeyboardMarkup]:
    """The field menu: every editable field with its value, one button each (the toggles
    together at the end)."""
    lines = [tr("edit-menu", title=shorten_plain(link.title, 100)), ""]
    for key, specs in summary_groups(_MENU):
        if key == "summary-amount":
            value = amount_line(link, tr)
        elif specs[0].toggle:
            asked = [tr(spec.label or spec.name) for spec in specs if _current(link, spec)]
            value = ", ".join(asked) or tr("value-nothing")
        else:
            value = _value(link, specs[0].name, tr)
        lines.append(tr(key, value=value))
    v = view.code
    other_kind = ("min_amount", "max_amount") if link.is_fixed else ("amount",)
    shown = [spec for spec in _MENU if spec.name not in other_kind]

    def field_button(spec: FieldSpec) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            _label(spec, link, tr), callback_data=data(FIELD, link.id, spec.name, v)
        )

    # The fields two a row; the switches after them, one a row, showing their state.
    buttons = [field_button(spec) for spec in shown if not spec.toggle]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows += [[field_button(spec)] for spec in shown if spec.toggle]
    rows.append([_back_to_card(link.id, v, tr)])
    return shorten("\n".join(lines), MESSAGE_LIMIT), InlineKeyboardMarkup(rows)


def _label(spec: FieldSpec, link: Link, tr: Translator) -> str:
    if spec.toggle and spec.option_label is not None:
        return toggle(tr, spec.option_label, bool(_current(link, spec)))
    return tr(spec.label or spec.name)


def _back_to_card(link_id: str, view_code: str, tr: Translator) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        tr("button-back"), callback_data=data(callbacks.LINK_CARD, link_id, view_code)
    )


def prompt_view(
    link: Link, field: str, view: View, tr: Translator
) -> tuple[str, InlineKeyboardMarkup]:
    """The question for a typed value, with the value now and Remove / Back."""
    spec = FIELD_SPECS[field]
    asks = [tr(spec.ask, currency=link.currency, **spec.limits)]
    text = tr(
        "edit-prompt",
        field=tr(spec.label or field),
        title=shorten_plain(link.title, 100),
        value=_value(link, field, tr, preview=1000),
        # Our own messages, already escaped: not to be escaped twice.
        ask=Markup("\n".join(asks)),
    )
    row = []
    # Metadata always holds the bot's own reference: only the vendor's keys count as a value.
    empty = _value(link, field, tr) == tr("value-none") if field == "metadata" else False
    if field in CLEARABLE and getattr(link, field, None) is not None and not empty:
        label = tr(spec.clear_label)
        row.append(
            InlineKeyboardButton(label, callback_data=data(CLEAR, link.id, field, view.code))
        )
    row.append(
        InlineKeyboardButton(tr("button-back"), callback_data=data(EDIT, link.id, view.code))
    )
    return shorten(text, MESSAGE_LIMIT), InlineKeyboardMarkup([row])


def mask_of(kinds: list[str]) -> int:
    chosen = set(kinds) or {kind.value for kind in ALL_PAYMENT_TYPES}
    return sum(1 << i for i, kind in enumerate(ALL_PAYMENT_TYPES) if kind.value in chosen)


def kinds_of(mask: int) -> list[PaymentType]:
    return [kind for i, kind in enumerate(ALL_PAYMENT_TYPES) if mask & (1 << i)]


def methods_view(
    link_id: str, title: str, mask: int, view: View, tr: Translator
) -> tuple[str, InlineKeyboardMarkup]:
    """Ticks for each method, **Done** to save them."""
    v = view.code
    rows = [
        [
            InlineKeyboardButton(
                ("✅ " if mask & (1 << i) else "⬜ ") + tr(f"method-{kind.value}"),
                callback_data=data(METHODS, link_id, f"{mask ^ (1 << i):x}", v),
            )
        ]
        for i, kind in enumerate(ALL_PAYMENT_TYPES)
    ]
    rows.append(
        [
            InlineKeyboardButton(tr("button-back"), callback_data=data(EDIT, link_id, v)),
            InlineKeyboardButton(
                tr("button-done"), callback_data=data(SAVE_METHODS, link_id, f"{mask:x}", v)
            ),
        ]
    )
    heading = escape(shorten_plain(title, 100))
    return f"<b>{heading}</b>\n{tr('form-methods')}", InlineKeyboardMarkup(rows)


# --- building the PATCH ----------------------------------------------------------------------


def build_update(
    field: str, text: str, link: Link, language: str, now: datetime | None = None
) -> LinkUpdate:
    """The PATCH body for a typed value; ``DraftError`` when the value is refused."""
    now = now or datetime.now(KIGALI)
    spec = FIELD_SPECS.get(field)
    if spec is None or spec.parse is None:
        raise ValueError(f"not a typed field: {field}")
    draft = LinkDraft.for_edit(link)
    setattr(draft, spec.attr, spec.parse(text, Typed(link.currency, language, now)))
    return update_for(field, draft, now=now)


# --- the staleness of a prompt ---------------------------------------------------------------
