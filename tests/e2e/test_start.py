"""The bot answers /start and /help over real HTTP, in the user's language."""

from __future__ import annotations

import asyncio
import time

from tests.conftest import World


async def test_start_greets_by_name_and_offers_buttons(world: World) -> None:
    alice = world.user(111, "Alice")
    reply = await world.say(alice, "/start")
    assert "Alice" in reply.text
    assert "Test mode" in reply.text  # the world auto-connects users to the sandbox
    assert reply.button_texts[:1] == ["➕ New link"]


async def test_start_escapes_the_users_name(world: World) -> None:
    mallory = world.user(112, "<b>Mal & Co</b>")
    reply = await world.say(mallory, "/start")
    # The fake Bot API rejects malformed HTML, so a reply at all means it was escaped.
    assert "<b>Mal & Co</b>" in reply.text


async def test_language_follows_telegram_language_code(world: World) -> None:
    for code, expected in (("fr-FR", "Bonjour"), ("rw", "Muraho"), ("sw", "Habari")):
        user = world.user(200 + len(code) * 7 + ord(code[0]), "Jo", language=code)
        reply = await world.say(user, "/start")
        assert reply.text.startswith(expected), reply.text


async def test_help_lists_commands(world: World) -> None:
    reply = await world.say(world.user(113), "/help")
    assert "/new" in reply.text and "/links" in reply.text


async def test_language_choice_sticks_and_beats_telegrams_code(world: World) -> None:
    user = world.user(114, "Jean", language="en")
    ask = await world.say(user, "/language")
    assert ask.button_texts == ["Ikinyarwanda", "English", "Français", "Kiswahili"]
    done = await world.press(user, ask, "lang:fr")
    assert done.text.startswith("C'est fait")
    reply = await world.say(user, "/start")
    assert reply.text.startswith("Bonjour Jean")


async def test_command_menu_is_published_in_each_language(world: World) -> None:
    menus = {
        r.params.get("language_code"): r.params["commands"]
        for r in world.tg.calls("setMyCommands")
    }
    assert set(menus) == {"rw", "en", "fr", "sw", None}
    descriptions = {
        lang: {c["command"]: c["description"] for c in cmds} for lang, cmds in menus.items()
    }
    assert descriptions["en"]["new"] == "Make a payment link"
    assert descriptions["fr"]["new"] == "Créer un lien de paiement"
    assert len({d["new"] for d in descriptions.values()}) == 4  # default = en


async def test_heartbeat_makes_the_health_check_pass(world: World) -> None:
    from bot.health import is_alive

    for _ in range(100):  # the first beat is written as the bot starts
        if is_alive(world.settings.bot_data_dir):
            break
        await asyncio.sleep(0.05)
    assert is_alive(world.settings.bot_data_dir)
    assert not is_alive(world.settings.bot_data_dir, now=time.time() + 3600)
