"""Handler registration, in the order PTB tries them.

Group -1 runs before everything else for every update (gates that never answer); group 0
holds the flows, where the first matching handler wins, so conversations come before the
plain commands they share words with.
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, TypeHandler

from handlers import errors, gates, start


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    # Gates: remember the user and pick the update's language.
    app.add_handler(TypeHandler(Update, gates.track_user), group=-1)

    # Welcome and help.
    app.add_handler(CommandHandler("start", start.start))
    app.add_handler(CommandHandler("help", start.help_command))
    app.add_handler(CallbackQueryHandler(start.help_button, pattern=f"^{start.HELP}$"))

    app.add_error_handler(errors.on_error)
