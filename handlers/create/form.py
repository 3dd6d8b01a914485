"""The create form as kept in ``user_data["form"]`` (persisted), its buttons, and the gate
every step goes through.

The form holds an id, the ``LinkDraft`` as JSON, the stack of steps (for **Back**) and the last
activity time. Buttons carry the form id, so a button of an old or finished form answers
"this form is closed" instead of acting.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from telegram import InlineKeyboardButton, Update

from bot import callbacks
from bot.context import BotContext
from bot.links import LinkDraft
from handlers import press
from handlers.create.states import END, IDLE_LIMIT_SECONDS, KIND


@dataclass
class Form:
    """The form as kept in ``user_data["form"]``."""

    id: str
    draft: LinkDraft
    steps: list[str] = field(default_factory=list)
    touched: float = field(default_factory=time.time)
    group_chat_id: int | None = None  # the group the link is made for (deep link)
    drive: bool = False  # a donation drive: flexible, with a goal and suggested amounts
    suggested: list[str] = field(default_factory=list)  # decimal strings
    prompt_id: int | None = None  # the message showing the current step: its keyboard is live

    @property
    def step(self) -> str:
        return self.steps[-1] if self.steps else KIND

    def save(self, user_data: dict[str, Any]) -> None:
        self.touched = time.time()
        user_data["form"] = {
            "id": self.id,
            "draft": self.draft.model_dump(mode="json"),
            "steps": list(self.steps),
            "touched": self.touched,
            "group_chat_id": self.group_chat_id,
            "drive": self.drive,
            "suggested": list(self.suggested),
            "prompt_id": self.prompt_id,
        }

    @classmethod
    def load(cls, user_data: dict[str, Any]) -> Form | None:
        raw = user_data.get("form")
        if not isinstance(raw, dict):
            return None
        return cls(
            id=str(raw["id"]),
            draft=LinkDraft.model_validate(raw["draft"]),
            steps=list(raw.get("steps", [])),
            touched=float(raw.get("touched", 0)),
            group_chat_id=raw.get("group_chat_id"),
            drive=bool(raw.get("drive", False)),
            suggested=[str(value) for value in raw.get("suggested", [])],
            prompt_id=raw.get("prompt_id"),
        )

    @classmethod
    def new(cls, draft: LinkDraft | None = None) -> Form:
        return cls(id=uuid.uuid4().hex[:8], draft=draft or LinkDraft())


def button(form: Form, label: str, action: str, arg: str = "") -> InlineKeyboardButton:
    data = f"{callbacks.FORM}{form.id}:{action}:{arg}"
    return InlineKeyboardButton(label, callback_data=data)


def parse_data(data: str) -> tuple[str, str, str]:
    """``f:<form id>:<action>:<arg>`` → (form id, action, arg)."""
    _, form_id, action, arg = [*data.split(":", 3), "", ""][:4]
    return form_id, action, arg


# --- the gate every step goes through --------------------------------------------------------

Step = Callable[[Update, BotContext, Form], Awaitable[str | int]]


def form_step(
    handler: Step,
) -> Callable[[Update, BotContext], Coroutine[Any, Any, str | int | None]]:
    """Loads the form; ends it quietly after 24 h idle; answers buttons of another form
    "closed" (nothing happens); acknowledges the button press before the step runs."""

    @wraps(handler)
    async def run(update: Update, context: BotContext) -> str | int | None:
        form = Form.load(context.user_data)  # type: ignore[arg-type]
        query = update.callback_query
        if form is None or time.time() - form.touched > IDLE_LIMIT_SECONDS:
            context.user_data.pop("form", None)  # type: ignore[union-attr]
            if query is not None:
                await query.answer(context.tr("form-closed"), show_alert=True)
            return END
        if query is not None:
            form_id, _, _ = parse_data(query.data or "")
            if form_id != form.id:
                await query.answer(context.tr("form-closed"), show_alert=True)
                return None
            # Answered already when the press is handled again (a replica died holding it,
            # bot/replicas.py): Telegram refuses a second answer, and the step must still run.
            await press.answer(query)
        return await handler(update, context, form)

    return run


def button_arg(update: Update) -> str:
    query = update.callback_query
    return parse_data(query.data or "")[2] if query else ""


def typed_text(update: Update) -> str:
    message = update.effective_message
    return (message.text or "") if message else ""
