"""The payer page: a link's form, in the payer's language, that records a simulated charge.

Plain text of the page comes from the bot's catalogues (keys ``payer-…``), in the language the
payer asked for (``?lang=``), else their browser's, else English.
"""

from __future__ import annotations

import functools
import html
import string
from decimal import Decimal
from importlib import resources
from urllib.parse import parse_qsl

from babel.numbers import format_decimal
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from bot.config import LANGUAGES
from bot.devtools.accept_language import pick_language
from bot.devtools.sandbox.protocol import CHARGE_STATUSES, MAX_AMOUNT, PAY_PATH
from bot.devtools.sandbox.state import SandboxState
from bot.devtools.sandbox.store import ALL_PAYMENT_TYPES, LinkRecord
from bot.i18n import LANGUAGE_NAMES, Catalogues, Translator
from bot.money import AmountError, babel_locale, format_amount, parse_amount

_PAGE = string.Template(
    resources.files("bot.devtools.sandbox").joinpath("payer.html").read_text(encoding="utf-8")
)
_HTML_HEADERS = {
    # The page holds user text: even if escaping ever failed, no script may run.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src https:; form-action 'self'"
    ),
    "Cache-Control": "no-store",
}


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


PAYER_LANGUAGE_PARAM = "lang"
_OUTCOME_TEXTS = {
    "success": ("payer-button-success", "payer-result-success"),
    "pending": ("payer-button-pending", "payer-result-pending"),
    "failed": ("payer-button-failed", "payer-result-failed"),
}
_CLOSED_REASONS = {
    "expired": "payer-closed-expired",
    "completed": "payer-closed-completed",
    "archived": "payer-closed-archived",
}
_COLLECTED_FIELDS = (
    # (link flag, form field, input type, autocomplete, label key)
    ("collect_name", "payer_name", "text", "name", "payer-name"),
    ("collect_phone", "payer_phone", "tel", "tel", "payer-phone"),
    ("collect_address", "payer_address", "text", "street-address", "payer-address"),
)


@functools.lru_cache(maxsize=1)
def _catalogues() -> Catalogues:
    # Compiled once per process: every sandbox (tests start many) shares them.
    return Catalogues.load()


def payer_language(request: Request) -> str:
    """``?lang=`` when it names one of our languages, else the browser's choice, else English."""
    return pick_language(
        request.query_params.get(PAYER_LANGUAGE_PARAM), request.headers.get("accept-language")
    )


class _Page:
    """One payer page in one language: its texts (values HTML-escaped) and amounts."""

    def __init__(self, request: Request) -> None:
        self.language = payer_language(request)
        self.tr: Translator = _catalogues().translator(self.language)

    def money(self, amount: Decimal, currency: str) -> str:
        return format_amount(amount, currency, self.language)

    def method(self, method: str) -> str:
        label = self.tr(f"method-{method}") if method in ALL_PAYMENT_TYPES else _esc(method)
        return label[:1].upper() + label[1:]

    def switcher(self) -> str:
        """Links to the page in the other languages, each named in itself."""
        items = []
        for code in LANGUAGES:
            name = _esc(LANGUAGE_NAMES[code])
            if code == self.language:
                items.append(f'<strong aria-current="true" lang="{code}">{name}</strong>')
            else:
                items.append(
                    f'<a href="?{PAYER_LANGUAGE_PARAM}={code}" lang="{code}" hreflang="{code}">'
                    f"{name}</a>"
                )
        label = self.tr("payer-language")
        return f'<nav class="languages" aria-label="{_esc(label)}">{" · ".join(items)}</nav>'

    def response(self, status: int, title: str, content: str) -> HTMLResponse:
        page = _PAGE.substitute(
            lang=self.language,
            page_title=title,
            languages=self.switcher(),
            content=content,
            footer=self.tr("payer-footer"),
        )
        return HTMLResponse(page, status_code=status, headers=_HTML_HEADERS)


def _closed_page(page: _Page, link: LinkRecord, status: str) -> HTMLResponse:
    title = page.tr("payer-closed-title")
    reason = page.tr(_CLOSED_REASONS.get(status, "payer-closed-other"))
    content = (
        f"<h1>{_esc(link.title)}</h1>\n"
        f'<p class="error" role="alert"><strong>{title}</strong><br>{reason}</p>'
    )
    return page.response(410, title, content)


def _not_found_page(page: _Page) -> HTMLResponse:
    title = page.tr("payer-notfound-title")
    content = f"<h1>{title}</h1>\n<p>{page.tr('payer-notfound-body')}</p>"
    return page.response(404, title, content)


def _pay_form(page: _Page, link: LinkRecord, form: dict[str, str], error: str | None) -> str:
    parts = []
    if link.logo_url:
        parts.append(f'<img class="logo" src="{_esc(link.logo_url)}" alt="">')
    parts.append(f"<h1>{_esc(link.title)}</h1>")
    if link.description:
        parts.append(f'<p class="description">{_esc(link.description)}</p>')
    if error:
        parts.append(f'<p class="error" role="alert">{error}</p>')
    parts.append('<form method="post">')
    if link.amount_type == "fixed" and link.amount is not None:
        parts.append(
            f'<p class="hint">{page.tr("payer-amount")}</p>'
            f'<p class="amount">{_esc(page.money(link.amount, link.currency))}</p>'
        )
    else:
        label = page.tr("payer-amount-flexible", currency=link.currency)
        parts.append(
            f'<div class="field"><label for="amount">{label}</label>'
            '<input type="text" id="amount" name="amount" inputmode="decimal" '
            f'autocomplete="off" required value="{_esc(form.get("amount", ""))}">'
        )
        low, high = link.min_amount, link.max_amount
        if low is not None and high is not None:
            hint = page.tr(
                "payer-range-between",
                min=page.money(low, link.currency),
                max=page.money(high, link.currency),
            )
        elif low is not None:
            hint = page.tr("payer-range-min", min=page.money(low, link.currency))
        elif high is not None:
            hint = page.tr("payer-range-max", max=page.money(high, link.currency))
        else:
            hint = ""
        if hint:
            parts.append(f'<p class="hint">{hint}</p>')
        parts.append("</div>")
    chosen = form.get("payment_type") or link.payment_types[0]
    parts.append(f"<fieldset><legend>{page.tr('payer-methods')}</legend>")
    for method in link.payment_types:
        checked = " checked" if method == chosen else ""
        parts.append(
            f'<label class="method"><input type="radio" name="payment_type" '
            f'value="{_esc(method)}"{checked} required> {page.method(method)}</label>'
        )
    parts.append("</fieldset>")
    for flag, name, kind, autocomplete, label_key in _COLLECTED_FIELDS:
        if getattr(link, flag):
            parts.append(
                f'<div class="field"><label for="{name}">{page.tr(label_key)}</label>'
                f'<input type="{kind}" id="{name}" name="{name}" '
                f'autocomplete="{autocomplete}" maxlength="200" '
                f'value="{_esc(form.get(name, ""))}"></div>'
            )
    parts.append(f'<div class="buttons"><p>{page.tr("payer-simulate")}</p>')
    for outcome in CHARGE_STATUSES:
        parts.append(
            f'<button type="submit" class="{outcome}" name="outcome" value="{outcome}">'
            f"{page.tr(_OUTCOME_TEXTS[outcome][0])}</button>"
        )
    parts.append("</div></form>")
    return "\n".join(parts)


def _payer_amount(page: _Page, link: LinkRecord, raw: str) -> Decimal | str:
    """The amount the payer chose, read with the page language's separators (``12,30`` is
    twelve thirty in French), or the HTML of the reason it is refused."""
    if link.amount_type == "fixed" and link.amount is not None:
        return link.amount
    if not raw.strip():
        return page.tr("payer-error-amount-required")
    try:
        amount = parse_amount(raw, link.currency, page.language)
    except AmountError as refused:
        return _amount_refusal(page, refused)
    if amount >= MAX_AMOUNT:
        return page.tr("payer-error-amount-invalid", example="1500")
    if link.min_amount is not None and amount < link.min_amount:
        return page.tr("payer-error-amount-min", min=page.money(link.min_amount, link.currency))
    if link.max_amount is not None and amount > link.max_amount:
        return page.tr("payer-error-amount-max", max=page.money(link.max_amount, link.currency))
    return amount


def _amount_refusal(page: _Page, refused: AmountError) -> str:
    params = refused.params
    if refused.code == "amount-too-precise":
        digits = int(params.get("digits", 0))
        if digits == 0:
            return page.tr("amount-too-precise-none", currency=params.get("currency", ""))
        return page.tr.plural("amount-too-precise", digits, **params)
    if refused.code == "amount-too-large":
        limit = format_decimal(params["max"], locale=babel_locale(page.language))
        return page.tr("amount-too-large", max=limit)
    if refused.code in ("amount-not-positive", "amount-currency-mismatch"):
        return page.tr(refused.code, **params)
    return page.tr("payer-error-amount-invalid", example="1500")


def not_found_page(request: Request) -> HTMLResponse:
    """The page of a slug that names no link, in the payer's language."""
    return _not_found_page(_Page(request))


class PayerPage:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def _open_link(self, page: _Page, slug: str) -> LinkRecord | HTMLResponse:
        link = self.state.store.get_link_by_slug(slug)
        if link is None:
            return _not_found_page(page)
        status = self.state.link_status(link)
        if status != "active":
            return _closed_page(page, link, status)
        return link

    async def show(self, request: Request) -> Response:
        page = _Page(request)
        link = self._open_link(page, request.path_params["slug"])
        if isinstance(link, Response):
            return link
        title = page.tr("payer-page-title", title=link.title)
        return page.response(200, title, _pay_form(page, link, {}, None))

    async def pay(self, request: Request) -> Response:
        page = _Page(request)
        link = self._open_link(page, request.path_params["slug"])
        if isinstance(link, Response):
            return link
        raw = (await request.body()).decode("utf-8", "replace")
        form = dict(parse_qsl(raw, keep_blank_values=True))
        amount = _payer_amount(page, link, form.get("amount", ""))
        method = form.get("payment_type")
        outcome = form.get("outcome")
        error = None
        if isinstance(amount, str):
            error = amount
        elif method not in link.payment_types:
            error = page.tr("payer-error-method")
        elif outcome not in CHARGE_STATUSES:
            error = page.tr("payer-error-outcome")
        if error is not None or isinstance(amount, str) or outcome is None:
            title = page.tr("payer-page-title", title=link.title)
            return page.response(422, title, _pay_form(page, link, form, error))

        def payer_field(name: str, wanted: bool) -> str | None:
            value = form.get(name, "").strip()[:200]
            return value if wanted and value else None

        charge = self.state.create_charge(
            link,
            amount,
            outcome,
            payment_type=method,
            payer_name=payer_field("payer_name", link.collect_name),
            payer_phone=payer_field("payer_phone", link.collect_phone),
            payer_address=payer_field("payer_address", link.collect_address),
        )
        heading = page.tr(_OUTCOME_TEXTS[outcome][1])
        parts = [
            f"<h1>{heading}</h1>",
            f"<p>{_esc(link.title)}</p>",
            f'<p class="amount">{_esc(page.money(amount, link.currency))}</p>',
            f'<p class="reference">{page.tr("payer-reference", id=charge.id)}</p>',
        ]
        if outcome == "success" and link.redirect_url:
            parts.append(
                f'<a class="button success" href="{_esc(link.redirect_url)}">'
                f"{page.tr('payer-continue')}</a>"
            )
        else:
            back = f"{PAY_PATH}/{link.slug}?{PAYER_LANGUAGE_PARAM}={page.language}"
            parts.append(
                f'<a class="button neutral" href="{_esc(back)}">{page.tr("payer-back")}</a>'
            )
        return page.response(200, heading, "\n".join(parts))
