"""A drive's card in its group: caption (title, bar, raised / goal, donors, time left) and
its buttons. Shared by the handler that posts it and the notifier that keeps it current."""

from __future__ import annotations

from datetime import datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.dates import format_relative
from bot.dgs.models import KIGALI, LinkDetails
from bot.drive import DriveProgress
from bot.i18n import Translator, escape
from bot.money import format_amount
from bot.store.drives import Drive
from bot.urls import url_button_allowed


def drive_progress(details: LinkDetails, drive: Drive) -> DriveProgress:
    return DriveProgress(
        raised=details.stats.total_collected,
        goal=drive.goal,
        donors=details.stats.successful_charges,
    )


def drive_caption(
    details: LinkDetails, drive: Drive, tr: Translator, now: datetime | None = None
) -> str:
    """Title, bar, raised / goal, donors, time left, suggested amounts, URL (HTML)."""
    link = details.link
    progress = drive_progress(details, drive)
    currency = link.currency
    language = tr.language
    lines = [
        f"<b>{escape(link.title)}</b>",
        f"<code>{progress.bar}</code>",
        tr(
            "drive-raised",
            raised=format_amount(progress.raised, currency, language),
            goal=format_amount(progress.goal, currency, language),
        ),
        tr.plural("drive-donors", progress.donors),
    ]
    if link.expires_at is not None:
        now = now or datetime.now(KIGALI)
        if link.expires_at > now:
            lines.append(
                tr("drive-ends", relative=format_relative(link.expires_at, now, language))
            )
        else:
            lines.append(tr("drive-ended"))
    if progress.percent >= 100:
        lines.append(tr("drive-goal-reached"))
    if drive.suggested:
        amounts = " · ".join(format_amount(a, currency, language) for a in drive.suggested)
        lines.append(tr("drive-suggested", amounts=amounts))
    if link.url:
        lines.append(escape(link.url))
    return "\n".join(lines)


def drive_keyboard(
    details: LinkDetails, tr: Translator, *, demo_mode: bool
) -> InlineKeyboardMarkup:
    link = details.link
    row = []
    if url_button_allowed(link.url, demo_mode=demo_mode):
        row.append(InlineKeyboardButton(tr("drive-open-to-give"), url=link.url))
    row.append(
        InlineKeyboardButton(tr("button-share"), switch_inline_query=link.slug or link.title)
    )
    return InlineKeyboardMarkup([row])
