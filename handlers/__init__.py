"""Handler registration, in the order PTB tries them.

Groups -3 to -1 run before everything else for every update (gates that never answer); group
0 holds the flows, where the first matching handler wins, so conversations come before the
plain commands they share words with (its head: the group key guard, then the gate that stops
edited messages); group 1 runs after every update.
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import callbacks
from handlers import (
    connect,
    create,
    drive,
    edits,
    errors,
    gates,
    groups,
    language,
    settings,
    staff,
    start,
)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    # Gates: any other command or a button ends a pending /connect (in a group of its own, as
    # the first matching handler of a group is the only one to run there; before the editor's
    # gate in -2); remember the user and pick the update's language.
    app.add_handler(TypeHandler(Update, connect.end_key_wait), group=-3)
    app.add_handler(TypeHandler(Update, gates.track_user), group=-1)

    # A key pasted in a group is deleted wherever we can see it, even in an edited message.
    app.add_handler(MessageHandler(connect.GROUP_KEY_FILTER, connect.key_in_group))
    # Nothing else acts on an edited message (a private edited command gets one line).
    app.add_handler(edits.edit_gate())

    # Accounts: /connect waits for a key (the next private text, taken before any flow sees
    # it); /disconnect is a conversation waiting for a yes.
    for handler in connect.connect_handlers(app):
        app.add_handler(handler)
    app.add_handler(connect.disconnect_conversation())

    # The create form (/new, /newlink, New link, Duplicate) and quick create (/new 5000 Rent).
    # Buttons of a form nobody is filling any more answer "this form is closed".
    app.add_handler(create.create_conversation())
    app.add_handler(create.closed_form_handler())

    # Staff (issue 17): the invite's deep link (/start staff_…, before the plain /start),
    # /staff and its buttons; what a cashier may not do is stopped in gates.track_user.
    staff.register(app)

    # Welcome and help.
    app.add_handler(CommandHandler("start", start.start))
    app.add_handler(CommandHandler("help", start.help_command))
    app.add_handler(CallbackQueryHandler(start.help_button, pattern=f"^{callbacks.HELP}$"))

    # Settings: /language (each language named in itself), /notifications.
    app.add_handler(CommandHandler("language", gates.admins_only(language.language)))
    app.add_handler(
        CallbackQueryHandler(gates.admins_only(language.chosen), pattern=f"^{callbacks.LANGUAGE}")
    )
    app.add_handler(settings.notifications_command())
    app.add_handler(CallbackQueryHandler(settings.choose_level, pattern=settings.CHOOSE_PATTERN))

    # Dashboard: /links, the link card, edit, archive, share, export.
    from handlers import archive, edit, export, links, print_receipt, share

    edit.register(app)  # before the list and card: its conversation owns the Edit buttons
    links.register(app)
    archive.register(app)
    export.register(app)
    share.register(app)
    # Issue 17: Print (a link's A5 poster, from its card or QR card) and Receipt (under a
    # payment alert); both through the dashboard's one gate (handlers/press.py).
    print_receipt.register(app)
    # Issue 17: an unpaid invoice's reminder (its card) and the daily totals' setting.
    from handlers import reminders

    reminders.register(app)

    # Issue 17, points 2 and 3: /items (saved items, one tap makes a link) and /till (a typed
    # amount or a tapped item answers with a large QR, marked paid in place). One conversation
    # for both, so a typed text has one meaning at a time; after the create form and the
    # editor (their answers come first) and before the fallback (which would offer an amount
    # as a link). Private chats only.
    from handlers import till

    app.add_handler(till.shop_conversation())

    # Groups: joining and leaving, supergroup migration, /progress of the group's drives, and
    # the admin's switch that hides payers' names in the group's payment lines.
    # (/new and /drive in a group are entry points of the create form, behind admins_only.)
    app.add_handler(ChatMemberHandler(groups.bot_membership, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, groups.migrated))
    app.add_handler(CommandHandler("progress", drive.progress, filters.ChatType.GROUPS))
    app.add_handler(CallbackQueryHandler(groups.toggle_names, pattern=f"^{callbacks.GROUP_NAMES}"))

    # Last of group 0: what no flow took (a stray text, an amount, a photo) still gets an
    # answer; a form's answers, the editor's value and /connect's key never reach it.
    from handlers import fallback

    for handler in fallback.fallback_handlers():
        app.add_handler(handler)

    # After every update: write conversation state and user data now, so a crash (kill -9)
    # right after a reply does not lose the step the user just answered.
    app.add_handler(TypeHandler(Update, gates.persist_now), group=1)

    app.add_error_handler(errors.on_error)
