"""Every field a vendor sets on a link, described once.

One ``FieldSpec`` per field of the provider's create body (``../shared/dgs-api/CONTRACT.md``;
``tests/unit/test_fields.py`` holds the two together): how it is named in a chat, how a typed
answer is read, how its value reads, whether it can be cleared, which step of the create form
asks it, and the PATCH that changes it. The create form (its steps, summary and options), the
editor (its menu, prompts and PATCH), the 422 lines and ``bot.links.update_for`` all loop over
``FIELDS``; adding a field means a spec here, its messages in the catalogues, and a test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Literal

from bot import money
from bot.cards import amount_line, expiry_line, methods_line, uses_line
from bot.cleaners import (
    CLIENT_REF_KEY,
    DEFAULT_COLLECT,
    DESCRIPTION_MAX,
    MAX_USES_MAX,
    TITLE_MAX,
    DraftError,
    check_amounts,
    check_metadata,
    clean_amount,
    clean_currency,
    clean_description,
    clean_https_url,
    clean_payment_types,
    clean_slug,
    clean_title,
    parse_expiry,
    parse_max_uses,
    parse_metadata,
)
from bot.dates import format_when
from bot.dgs.models import ALL_PAYMENT_TYPES, KIGALI, AmountType, Link, PaymentType
from bot.drive import GOAL_KEY, SUGGESTED_KEY
from bot.i18n import Translator, escape

if TYPE_CHECKING:
    from bot.links import LinkDraft


@dataclass(frozen=True)
class Typed:
    """What reading a typed answer depends on besides the text."""

    currency: str
    language: str
    now: datetime


Parser = Callable[[str, Typed], Any]
Shower = Callable[[Any, str, Translator], str]
Patcher = Callable[["LinkDraft", "datetime | None", str], dict[str, Any]]
Copier = Callable[["Link", str], Any]  # (the link, the client reference key) -> draft value
CardLine = Callable[["Link", Translator, "datetime | None"], "str | None"]  # HTML, or nothing
FormInput = Literal["buttons", "text", "toggle"]


def _as_text(value: Any, currency: str, tr: Translator) -> str:
    return str(value)


@dataclass(frozen=True)
class FieldSpec:
    name: str  # the provider's field id
    label: str | None = None  # catalogue key naming it: the editor, "saved", a 422 line
    refusal_label: str | None = None  # how a 422 line names it (None: the id as sent)
    summary: str | None = None  # its line in the form's summary and the editor's menu
    parse: Parser | None = None  # typed text -> value; DraftError when refused
    show: Shower = _as_text  # a set value in words (plain text), as the editor shows it
    brief: Shower | None = None  # as the form's summary and options show it (else ``show``)
    empty: str = "value-none"  # the word for no value
    free_text: bool = False  # the vendor's own words: shortened and whitespace folded
    clearable: bool = False  # the editor offers Remove (sent as null)
    clear_label: str = "button-remove"
    draft: str = ""  # the ``LinkDraft`` attribute holding it (default: ``name``)
    step: str | None = None  # the create form's state that asks it
    form_input: FormInput = "text"  # how that step is answered
    prompt: str | None = None  # the form's question, for an optional typed answer
    limits: Mapping[str, Any] = field(default_factory=dict)  # parameters of its questions
    option: str | None = None  # its button on the form's More options (callback argument)
    option_label: str | None = None  # that button's catalogue key
    option_empty: str | None = None  # the word on that button for no value (else ``empty``)
    menu: int | None = None  # its place in the editor's menu (None: not editable there)
    patch: Patcher | None = None  # the PATCH body that changes it to the draft's value
    default: Any = None  # the provider's value when it is not sent
    required: bool = False  # the provider refuses a link without it
    copy: Copier | None = None  # the draft's value in a copy of a link (else the link's own)
    card: CardLine | None = None  # its line on the link card (HTML)
    card_order: int = 0  # where that line goes among the card's field lines

    @property
    def attr(self) -> str:
        return self.draft or self.name

    @property
    def toggle(self) -> bool:
        return self.form_input == "toggle"

    @property
    def ask(self) -> str:
        """The editor's question for a typed value."""
        return f"edit-ask-{self.name.replace('_', '-')}"

    def is_set(self, value: Any) -> bool:
        """Whether the vendor gave it a value (the summary shows a line for it)."""
        if self.name == "metadata":
            return bool(own_metadata(value))
        return value not in (None, "", {})

    def copied(self, link: Link, client_ref_key: str) -> Any:
        """This field's answer in a draft made from ``link`` (Duplicate, Edit)."""
        if self.copy is not None:
            return self.copy(link, client_ref_key)
        return getattr(link, self.name)

    def words(self, value: Any, currency: str, tr: Translator, *, brief: bool = False) -> str:
        """The value in words, or the field's word for nothing."""
        if value is None or value in ("", {}):
            return tr(self.empty)
        shower = (self.brief or self.show) if brief else self.show
        return shower(value, currency, tr)


# --- parsers, formatters, PATCH bodies and copies shared by several fields ----------------


def _card_amount(link: Link, tr: Translator, now: datetime | None) -> str:
    return escape(amount_line(link, tr))  # the range of a flexible link too


def _card_uses(link: Link, tr: Translator, now: datetime | None) -> str:
    return uses_line(link, tr)


def _card_methods(link: Link, tr: Translator, now: datetime | None) -> str:
    return tr("accepts", methods=methods_line(link.payment_types, tr))


def _kind_of(link: Link, ref_key: str) -> AmountType:
    try:
        return AmountType(link.amount_type)
    except ValueError:
        return AmountType.FIXED if link.amount is not None else AmountType.FLEXIBLE


def _copy_amount(name: str) -> Copier:
    """A fixed link copies its amount, a flexible one its limits; never both."""
    fixed_field = name == "amount"

    def copy(link: Link, ref_key: str) -> Any:
        fixed = _kind_of(link, ref_key) is AmountType.FIXED
        return getattr(link, name) if fixed == fixed_field else None

    return copy


def _copy_methods(link: Link, ref_key: str) -> list[PaymentType]:
    known = [PaymentType(value) for value in link.payment_types if value in _METHOD_VALUES]
    return known or list(ALL_PAYMENT_TYPES)


def _copy_toggle(name: str) -> Copier:
    def copy(link: Link, ref_key: str) -> bool:
        value = getattr(link, name)
        return DEFAULT_COLLECT[name] if value is None else bool(value)

    return copy


def _copy_metadata(link: Link, ref_key: str) -> dict[str, Any] | None:
    """The vendor's own entries: the bot's retry reference is the original's, not the copy's."""
    own = {key: value for key, value in (link.metadata or {}).items() if key != ref_key}
    return own or None


_METHOD_VALUES: Final = frozenset(kind.value for kind in PaymentType)


def _amount(name: str) -> Parser:
    return lambda text, typed: clean_amount(text, typed.currency, typed.language, field=name)


def _url(name: str) -> Parser:
    return lambda text, typed: clean_https_url(text, name)


def _money(value: Any, currency: str, tr: Translator) -> str:
    return money.format_amount(value, currency, tr.language)


def _methods(value: Any, currency: str, tr: Translator) -> str:
    return methods_line([getattr(kind, "value", kind) for kind in value], tr)


def _methods_brief(value: Any, currency: str, tr: Translator) -> str:
    if len(value) == len(ALL_PAYMENT_TYPES):
        return tr("value-all-methods")
    return _methods(value, currency, tr)


def _when(value: Any, currency: str, tr: Translator) -> str:
    return format_when(value, tr.language)


def _on_off(value: Any, currency: str, tr: Translator) -> str:
    return tr("value-on") if value else tr("value-off")


def _metadata_json(value: Any, currency: str, tr: Translator) -> str:
    shown = own_metadata(value)
    return json.dumps(shown, ensure_ascii=False) if shown else tr("value-none")


def own_metadata(value: Any) -> dict[str, Any]:
    """The vendor's own reference lines: not the bot's (the retry reference, a drive's goal
    and suggested amounts, which the summary shows in their own words)."""
    ours = (CLIENT_REF_KEY, GOAL_KEY, SUGGESTED_KEY)
    return {k: v for k, v in (value or {}).items() if k not in ours}


def _metadata_count(value: Any, currency: str, tr: Translator) -> str:
    return tr.plural("value-keys", len(own_metadata(value)))


def _patch_title(draft: LinkDraft, now: datetime | None, ref_key: str) -> dict[str, Any]:
    return {"title": clean_title(draft.title or "")}


def _patch_currency(draft: LinkDraft, now: datetime | None, ref_key: str) -> dict[str, Any]:
    currency = clean_currency(draft.currency or "")
    check_amounts(draft)
    return {"currency": currency}


def _patch_amounts(draft: LinkDraft, now: datetime | None, ref_key: str) -> dict[str, Any]:
    amounts: dict[str, Decimal | None] = dict(check_amounts(draft))
    if draft.kind is AmountType.FLEXIBLE:
        # Both bounds together, a cleared one as null, so the range is exactly the draft's.
        amounts = {name: amounts.get(name) for name in ("min_amount", "max_amount")}
    return amounts


def _patch_methods(draft: LinkDraft, now: datetime | None, ref_key: str) -> dict[str, Any]:
    return {"payment_types": clean_payment_types(draft.payment_types)}


def _patch_slug(draft: LinkDraft, now: datetime | None, ref_key: str) -> dict[str, Any]:
    return {"slug": clean_slug(draft.slug or "")}


def _patch_metadata(draft: LinkDraft, now: datetime | None, ref_key: str) -> dict[str, Any]:
    # The client's reference goes back with the vendor's metadata, so the edit keeps it.
    metadata = dict(draft.metadata or {})
    check_metadata(metadata, ref_key)
    if draft.client_ref is not None:
        metadata[ref_key] = draft.client_ref
    return {"metadata": metadata or None}


def _patch_as_is(name: str) -> Patcher:
    return lambda draft, now, ref_key: {name: getattr(draft, name)}


def _patch_nullable(name: str, check: Callable[[Any, datetime], Any]) -> Patcher:
    """A field that may be cleared: null when the draft has none, else its checked value."""

    def patch(draft: LinkDraft, now: datetime | None, ref_key: str) -> dict[str, Any]:
        value = getattr(draft, name)
        return {name: None if value is None else check(value, now or datetime.now(KIGALI))}

    return patch


def _check_max_uses(value: int, now: datetime) -> int:
    if not 1 <= value <= MAX_USES_MAX:
        raise DraftError("max_uses", "draft-max-uses-invalid", max=MAX_USES_MAX)
    return value


def _check_expiry(value: datetime, now: datetime) -> datetime:
    if value <= now:
        raise DraftError("expires_at", "draft-expiry-past")
    return value


def _amount_spec(name: str, label: str, step: str, menu: int) -> FieldSpec:
    return FieldSpec(
        name,
        label=label,
        refusal_label=label,
        summary="summary-amount",
        parse=_amount(name),
        show=_money,
        clearable=name != "amount",
        step=step,
        menu=menu,
        patch=_patch_amounts,
        copy=_copy_amount(name),
        card=_card_amount if name == "amount" else None,
        card_order=1,
    )


def _toggle_spec(name: str, word: str) -> FieldSpec:
    return FieldSpec(
        name,
        label=f"ask-{word}",
        summary="summary-ask",
        show=_on_off,
        form_input="toggle",
        option=word,
        option_label=f"opt-{word}",
        menu=11,  # the three together, in this order
        patch=_patch_as_is(name),
        default=DEFAULT_COLLECT[name],
        copy=_copy_toggle(name),
    )


# --- the registry, in the create form's order ----------------------------------------------

_SPECS: Final = (
    FieldSpec(
        "amount_type",
        draft="kind",
        step="form:kind",
        form_input="buttons",
        required=True,
        copy=_kind_of,
    ),
    FieldSpec(
        "title",
        label="edit-field-title",
        refusal_label="edit-field-title",
        summary="summary-title",
        parse=lambda text, typed: clean_title(text),
        free_text=True,
        step="form:title",
        limits={"max": TITLE_MAX},
        menu=1,
        patch=_patch_title,
        required=True,
        copy=lambda link, ref_key: link.title or None,
    ),
    FieldSpec(
        "currency",
        parse=lambda text, typed: clean_currency(text),
        step="form:currency",
        form_input="buttons",
        patch=_patch_currency,
        required=True,
        copy=lambda link, ref_key: link.currency or None,
    ),
    _amount_spec("amount", "edit-field-amount", "form:amount", 3),
    _amount_spec("min_amount", "edit-field-min", "form:min", 4),
    _amount_spec("max_amount", "edit-field-max", "form:max", 5),
    FieldSpec(
        "payment_types",
        label="edit-field-methods",
        refusal_label="edit-field-methods",
        summary="summary-methods",
        show=_methods,
        brief=_methods_brief,
        step="form:methods",
        form_input="buttons",
        option="methods",
        option_label="opt-methods",
        menu=6,
        patch=_patch_methods,
        copy=_copy_methods,
        card=_card_methods,
        card_order=4,
    ),
    FieldSpec(
        "max_uses",
        label="edit-field-max-uses",
        refusal_label="edit-field-max-uses",
        summary="summary-max-uses",
        parse=lambda text, typed: parse_max_uses(text),
        empty="value-unlimited",
        clearable=True,
        clear_label="button-unlimited",
        step="form:max_uses",
        option="max_uses",
        option_label="opt-max-uses",
        menu=7,
        patch=_patch_nullable("max_uses", _check_max_uses),
        card=_card_uses,
        card_order=2,
    ),
    FieldSpec(
        "expires_at",
        label="edit-field-expiry",
        refusal_label="edit-field-expiry",
        summary="summary-expiry",
        parse=lambda text, typed: parse_expiry(text, typed.now),
        show=_when,
        empty="value-never",
        clearable=True,
        clear_label="button-no-expiry",
        step="form:expiry",
        option="expiry",
        option_label="opt-expiry",
        menu=8,
        patch=_patch_nullable("expires_at", _check_expiry),
        card=expiry_line,
        card_order=3,
    ),
    FieldSpec(
        "description",
        label="edit-field-description",
        refusal_label="edit-field-description",
        summary="summary-description",
        parse=lambda text, typed: clean_description(text),
        free_text=True,
        clearable=True,
        step="form:description",
        prompt="form-description",
        limits={"max": DESCRIPTION_MAX},
        option="description",
        option_label="opt-description",
        menu=2,
        patch=_patch_nullable("description", lambda value, now: clean_description(value)),
    ),
    FieldSpec(
        "slug",
        label="edit-field-slug",
        refusal_label="edit-field-slug",
        summary="summary-slug",
        parse=lambda text, typed: clean_slug(text),
        free_text=True,
        step="form:slug",
        prompt="form-slug",
        option="slug",
        option_label="opt-slug",
        option_empty="value-automatic",
        menu=12,
        patch=_patch_slug,
        copy=lambda link, ref_key: None,  # a copy gets its own address (Edit keeps it)
    ),
    FieldSpec(
        "redirect_url",
        label="edit-field-redirect",
        refusal_label="edit-field-redirect",
        summary="summary-redirect",
        parse=_url("redirect_url"),
        free_text=True,
        clearable=True,
        step="form:redirect_url",
        prompt="form-redirect",
        option="redirect",
        option_label="opt-redirect",
        menu=9,
        patch=_patch_nullable("redirect_url", lambda v, now: clean_https_url(v, "redirect_url")),
    ),
    FieldSpec(
        "logo_url",
        label="edit-field-logo",
        refusal_label="edit-field-logo",
        summary="summary-logo",
        parse=_url("logo_url"),
        free_text=True,
        clearable=True,
        step="form:logo_url",
        prompt="form-logo",
        option="logo",
        option_label="opt-logo",
        menu=10,
        patch=_patch_nullable("logo_url", lambda v, now: clean_https_url(v, "logo_url")),
    ),
    _toggle_spec("collect_phone", "phone"),
    _toggle_spec("collect_name", "name"),
    _toggle_spec("collect_address", "address"),
    FieldSpec(
        "metadata",
        label="edit-field-metadata",
        refusal_label="edit-field-metadata",
        summary="summary-metadata",
        parse=lambda text, typed: parse_metadata(text),
        show=_metadata_json,
        brief=_metadata_count,
        free_text=True,
        clearable=True,
        step="form:metadata",
        prompt="form-metadata",
        option="metadata",
        option_label="opt-metadata",
        menu=13,
        patch=_patch_metadata,
        copy=_copy_metadata,
    ),
)

FIELDS: Final[Mapping[str, FieldSpec]] = {spec.name: spec for spec in _SPECS}

# A flexible link's range is one PATCH of both bounds, whichever bound is named.
_ALIASES: Final = {"range": "amount"}


def step_for(draft_field: str) -> str | None:
    """The create form's step for a refused answer (named as ``DraftError.field`` names it)."""
    return next((spec.step for spec in _SPECS if spec.attr == draft_field), None)


def refusal_label(name: str, tr: Translator) -> str:
    """A field named in a 422 line: our label, else the provider's id as sent."""
    spec = FIELDS.get(name)
    key = spec.refusal_label if spec is not None else None
    return tr(key) if key is not None else name


def card_fields() -> list[FieldSpec]:
    """The fields with a line on the link card, in the card's order."""
    return sorted((spec for spec in _SPECS if spec.card is not None), key=lambda s: s.card_order)


def editor_fields() -> list[FieldSpec]:
    """The editor's menu, in its order."""
    return sorted((spec for spec in _SPECS if spec.menu is not None), key=lambda s: s.menu or 0)


def summary_groups(specs: list[FieldSpec] | None = None) -> list[tuple[str, list[FieldSpec]]]:
    """The summary's lines (the form's, or the editor's menu): neighbours sharing a line
    (the amounts, the payer's details) come as one."""
    groups: list[tuple[str, list[FieldSpec]]] = []
    for spec in _SPECS if specs is None else specs:
        if spec.summary is None:
            continue
        if groups and groups[-1][0] == spec.summary:
            groups[-1][1].append(spec)
        else:
            groups.append((spec.summary, [spec]))
    return groups


def patch_for(
    name: str, draft: LinkDraft, *, now: datetime | None, client_ref_key: str = CLIENT_REF_KEY
) -> dict[str, Any]:
    """The PATCH fields that change ``name`` of a link to the draft's value; ``ValueError``
    for a field the editor cannot change (a programming error)."""
    spec = FIELDS.get(_ALIASES.get(name, name))
    if spec is None or spec.patch is None:
        raise ValueError(f"not an editable field: {name}")
    return spec.patch(draft, now, client_ref_key)
