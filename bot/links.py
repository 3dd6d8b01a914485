"""The link draft: the form's answers, validated field by field, turned into API bodies.

Shared by the create form, quick create, edit and duplicate. Each answer is cleaned by
``bot.cleaners``; every refusal is a ``DraftError(field, code, **params)`` whose ``code`` is an
i18n message key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from bot.cleaners import (
    CLIENT_REF_KEY,
    DEFAULT_COLLECT,
    MAX_USES_MAX,
    DraftError,
    check_amounts,
    check_metadata,
    clean_currency,
    clean_description,
    clean_https_url,
    clean_payment_types,
    clean_slug,
    clean_title,
)
from bot.dgs.models import (
    ALL_PAYMENT_TYPES,
    KIGALI,
    Amount,
    AmountType,
    Link,
    LinkCreate,
    LinkUpdate,
    PaymentType,
)
from bot.fields import FIELDS, patch_for

# --- the draft -----------------------------------------------------------------------------


def _all_payment_types() -> list[PaymentType]:
    return list(ALL_PAYMENT_TYPES)


class LinkDraft(BaseModel):
    """The form's answers so far. Every field is optional so a half-filled form can be kept;
    ``model_dump(mode="json")`` is plain JSON (amounts as decimal strings) and
    ``model_validate`` reads it back unchanged."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    kind: AmountType | None = None
    title: str | None = None
    currency: str | None = None
    amount: Amount | None = None
    min_amount: Amount | None = None
    max_amount: Amount | None = None
    goal: Amount | None = None
    payment_types: list[PaymentType] = Field(default_factory=_all_payment_types)
    max_uses: int | None = None
    expires_at: AwareDatetime | None = None
    description: str | None = None
    slug: str | None = None
    redirect_url: str | None = None
    logo_url: str | None = None
    collect_phone: bool = True
    collect_name: bool = True
    collect_address: bool = False
    metadata: dict[str, Any] | None = None
    client_ref: str | None = None

    @field_validator("expires_at")
    @classmethod
    def _in_kigali(cls, value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(KIGALI)

    def validate_complete(self, *, now: datetime | None = None) -> None:
        """Raise ``DraftError`` for the first problem, in the form's order."""
        self._cleaned(now=now, client_ref_key=CLIENT_REF_KEY)

    def to_create(
        self, client_ref_key: str = CLIENT_REF_KEY, *, now: datetime | None = None
    ) -> LinkCreate:
        """The create body, validated; holds only what differs from the provider's defaults.

        The user's metadata goes as it is: the DGS client adds its own reference under
        ``client_ref_key``, which the user may therefore not use.
        """
        return LinkCreate(**self._cleaned(now=now, client_ref_key=client_ref_key))

    def _cleaned(self, *, now: datetime | None, client_ref_key: str) -> dict[str, Any]:
        """Validate in form order; return the create fields worth sending."""
        body: dict[str, Any] = {"title": clean_title(self.title or "")}
        if self.kind is None:
            raise DraftError("kind", "draft-kind-missing")
        body["amount_type"] = self.kind
        if not self.currency:
            raise DraftError("currency", "draft-currency-missing")
        body["currency"] = clean_currency(self.currency)
        body.update(check_amounts(self))
        payment_types = clean_payment_types(self.payment_types)
        if len(payment_types) != len(ALL_PAYMENT_TYPES):
            body["payment_types"] = payment_types
        if self.max_uses is not None:
            if not 1 <= self.max_uses <= MAX_USES_MAX:
                raise DraftError("max_uses", "draft-max-uses-invalid", max=MAX_USES_MAX)
            body["max_uses"] = self.max_uses
        if self.expires_at is not None:
            if self.expires_at <= (now or datetime.now(KIGALI)):
                raise DraftError("expires_at", "draft-expiry-past")
            body["expires_at"] = self.expires_at
        if self.description is not None:
            body["description"] = clean_description(self.description)
        if self.slug is not None:
            body["slug"] = clean_slug(self.slug)
        for field in ("redirect_url", "logo_url"):
            url = getattr(self, field)
            if url is not None:
                body[field] = clean_https_url(url, field)
        for field, default in DEFAULT_COLLECT.items():
            if getattr(self, field) != default:
                body[field] = getattr(self, field)
        if self.metadata:
            check_metadata(self.metadata, client_ref_key)
            body["metadata"] = dict(self.metadata)
        return body

    @classmethod
    def from_link(
        cls,
        link: Link,
        *,
        now: datetime | None = None,
        client_ref_key: str = CLIENT_REF_KEY,
    ) -> LinkDraft:
        """A draft for Duplicate: everything but the slug and the client reference; an expiry
        already past is dropped."""
        draft = cls._copy_of(link, client_ref_key)
        if draft.expires_at is not None and draft.expires_at <= (now or datetime.now(KIGALI)):
            draft.expires_at = None
        return draft

    @classmethod
    def for_edit(cls, link: Link, *, client_ref_key: str = CLIENT_REF_KEY) -> LinkDraft:
        """A draft for Edit: the link as it is, slug and client reference kept, so that
        ``update_for("metadata", …)`` sends the reference back with the vendor's metadata."""
        draft = cls._copy_of(link, client_ref_key)
        draft.slug = link.slug
        ref = (link.metadata or {}).get(client_ref_key)
        draft.client_ref = None if ref is None else str(ref)
        return draft

    @classmethod
    def _copy_of(cls, link: Link, client_ref_key: str) -> LinkDraft:
        """Every field's answer as the registry copies it (``FieldSpec.copied``)."""
        return cls(**{spec.attr: spec.copied(link, client_ref_key) for spec in FIELDS.values()})


def update_for(
    field: str,
    draft: LinkDraft,
    *,
    now: datetime | None = None,
    client_ref_key: str = CLIENT_REF_KEY,
) -> LinkUpdate:
    """The PATCH body that changes one answer of an existing link to the draft's value
    (each field's PATCH is its spec's in ``bot.fields``).

    ``amount``, ``min_amount``, ``max_amount`` and ``range`` all send the kind's amounts
    (a flexible link's range goes as a pair). A cleared ``max_uses``, ``expires_at``,
    ``description`` or URL goes as ``null``. ``metadata`` carries the draft's client
    reference back so the edit does not lose it. Unknown field names are a programming error
    (``ValueError``).
    """
    return LinkUpdate(**patch_for(field, draft, now=now, client_ref_key=client_ref_key))
