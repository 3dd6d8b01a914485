"""A group became a supergroup: move everything we keep under its old id to the new one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telegram.ext import Application

    from bot.store.repo import Repo


async def move_chat(
    app: Application[Any, Any, Any, Any, Any, Any], repo: Repo, old_id: int, new_id: int
) -> None:
    """Move the stored rows and the Application's chat_data from ``old_id`` to ``new_id``.

    Telegram tells of a move twice: the migrate service message and a ChatMigrated answer to
    a send. Whichever comes second must not undo the first: the update it arrives in makes
    PTB re-create an empty ``chat_data[old_id]``, and moving that would overwrite what the
    first move put under the new id.
    """
    await repo.migrate_chat(old_id, new_id)
    if app.chat_data.get(old_id):
        app.migrate_chat_data(old_chat_id=old_id, new_chat_id=new_id)
    elif old_id in app.chat_data:
        app.drop_chat_data(old_id)
