"""The request that fetches updates, telling the log redactor about key pastes first.

python-telegram-bot logs every getUpdates answer at DEBUG as soon as it arrives, before any
handler runs: a key pasted after /connect would be in that line whatever the handler does with
it later, and a key of an unknown shape matches no pattern. So this request reads the answer
before PTB does, and registers with ``bot.logs.SECRETS`` the text of every private message
(or edit) from someone a key is awaited from (``awaits_key``, wired by ``bot/app.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from telegram.request import HTTPXRequest

from bot.logs import SECRETS, SecretRegistry


def _nobody(user_id: int) -> bool:
    return False


class UpdatesRequest(HTTPXRequest):
    def __init__(self, *args: Any, registry: SecretRegistry = SECRETS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.registry = registry
        self.awaits_key: Callable[[int], bool] = _nobody

    def parse_json_payload(self, payload: bytes) -> dict[str, Any]:  # type: ignore[override]
        data = super().parse_json_payload(payload)
        updates = data.get("result")
        if isinstance(updates, list):
            for update in updates:
                note_key_paste(update, self.awaits_key, self.registry)
        return data


def note_key_paste(
    update: object, awaits_key: Callable[[int], bool], registry: SecretRegistry = SECRETS
) -> None:
    """Register the text of ``update`` (a Bot API dict) if it may be a pasted key. The webhook
    (bot/webhook.py) calls it too, before the update reaches PTB's queue and its log line."""
    if not isinstance(update, dict):
        return
    message = update.get("message") or update.get("edited_message")
    if not isinstance(message, dict):
        return
    chat, sender = message.get("chat") or {}, message.get("from") or {}
    text = message.get("text") or message.get("caption")
    if chat.get("type") != "private" or not isinstance(text, str):
        return
    user_id = sender.get("id")
    if isinstance(user_id, int) and awaits_key(user_id):
        registry.add_text(text)
