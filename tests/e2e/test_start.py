"""The bot answers /start and /help over real HTTP, in the user's language."""

from __future__ import annotations

from tests.conftest import World


async def test_start_greets_by_name_and_offers_buttons(world: World) -> None:
    alice = world.user(111, "Alice")
    reply = await world.say(alice, "/start")
    assert "Alice" in reply.text
    assert "sandbox" in reply.text  # the world auto-connects users to the sandbox
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
