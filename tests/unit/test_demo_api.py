"""The demo's JSON API (what the web chat uses) and its refusal to listen beyond loopback.

A whole demo runs in-process on a free port (sandbox, local Bot API, the real bot, the page);
the tests talk to it over HTTP as the page does, and to its Bot API as the bot does.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.__main__ import main
from bot.config import LANGUAGES
from bot.devtools.accept_language import pick_language
from bot.devtools.demo import MEMBER, OWNER, Demo, DemoError, check_host, is_loopback, run_demo
from bot.devtools.demo.texts import PAGE_KEYS, terminal_language
from bot.devtools.demo.world import DEMO_TOKEN, internal_origin
from bot.i18n import Catalogues

JSON = dict[str, Any]


@pytest.fixture(scope="module")
def catalogues() -> Catalogues:
    return Catalogues.load()


@pytest.fixture
async def demo(tmp_path: Path, catalogues: Catalogues) -> AsyncIterator[Demo]:
    running = Demo(
        data_dir=tmp_path / "demo",
        port=0,
        catalogues=catalogues,
        settings_overrides={"log_level": "WARNING"},
    )
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def page(demo: Demo) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=demo.url, timeout=10) as client:
        yield client


class Chat:
    """The page's side: send as a person, press, and poll for what changed."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.revision = 0
        self.messages: dict[tuple[int, int], JSON] = {}

    async def send(self, text: str, chat_id: int = OWNER.id, user_id: int = OWNER.id) -> JSON:
        response = await self.client.post(
            "/api/send", json={"chat_id": chat_id, "user_id": user_id, "text": text}
        )
        assert response.status_code == 200, response.text
        message: JSON = response.json()["message"]
        return message

    async def poll(self) -> list[JSON]:
        response = await self.client.get("/api/messages", params={"since": self.revision})
        assert response.status_code == 200
        body = response.json()
        self.revision = body["revision"]
        for message in body["messages"]:
            self.messages[(message["chat_id"], message["id"])] = message
        changed: list[JSON] = body["messages"]
        return changed

    async def wait_for(self, found: Callable[[JSON], bool], seconds: float = 10) -> JSON:
        """The first message, as the polls report it from now on, for which ``found`` holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            for message in await self.poll():
                if found(message):
                    return message
            await asyncio.sleep(0.05)
        raise AssertionError(f"no such message within {seconds}s: {list(self.messages.values())}")


def from_bot(message: JSON) -> bool:
    return bool(message["from"]["is_bot"]) and not message["deleted"]


def button(message: JSON, starts: str) -> JSON:
    for row in message["buttons"]:
        for candidate in row:
            if candidate["text"].startswith(starts):
                return dict(candidate)
    raise AssertionError(f"no button {starts!r} in {message['buttons']}")


async def bot_api(demo: Demo, method: str, **params: Any) -> JSON:
    """Call the demo's Bot API as the bot does (to send what the bot may send one day)."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(f"{demo.api.base_url}{DEMO_TOKEN}/{method}", json=params)
    body: JSON = response.json()
    assert body["ok"], body
    return body


# Listening: loopback only, unless told -----------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.3", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("10.0.0.5", False),
        ("example.org", False),
    ],
)
def test_only_loopback_addresses_count_as_local(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    if loopback:
        check_host(host, allow_remote=False)
    else:
        with pytest.raises(DemoError) as refused:
            check_host(host, allow_remote=False)
        assert refused.value.key == "demo-cli-remote-refused"
    check_host(host, allow_remote=True)  # told otherwise: any address


async def test_the_demo_refuses_a_public_address_before_starting_anything(
    tmp_path: Path, catalogues: Catalogues
) -> None:
    lines: list[str] = []
    with pytest.raises(DemoError) as refused:
        await run_demo(host="0.0.0.0", port=0, data_dir=tmp_path, out=lines.append)
    text = refused.value.text(catalogues.translator("en"))
    assert "0.0.0.0" in text and "--allow-remote" in text
    assert lines == []
    assert not (tmp_path / "sandbox.sqlite3").exists()


def test_the_command_line_refuses_a_public_address_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    assert main(["demo", "--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("paylinks-bot: ") and "\n" not in err
    assert "--allow-remote" in err and "ordinateur" in err  # the terminal's language, French


def test_the_command_line_says_when_the_port_is_taken(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["demo", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"Port {port} is already in use" in err


def test_the_bot_reaches_a_server_on_every_interface_through_loopback() -> None:
    assert internal_origin("0.0.0.0", 8080) == "http://127.0.0.1:8080"
    assert internal_origin("127.0.0.1", 81) == "http://127.0.0.1:81"
    assert internal_origin("::", 8080) == "http://[::1]:8080"
    assert internal_origin("192.168.1.20", 8080) == "http://192.168.1.20:8080"


async def test_requests_naming_another_host_are_refused(
    demo: Demo, page: httpx.AsyncClient
) -> None:
    # A page elsewhere whose name was rebound to 127.0.0.1 sends its own name as Host.
    response = await page.get("/api/state", headers={"Host": f"evil.example:{demo.port}"})
    assert response.status_code == 400
    assert (await page.get("/api/state", headers={"Host": f"localhost:{demo.port}"})).is_success
    assert (await page.get("/api/state", headers={"Host": f"[::1]:{demo.port}"})).is_success
    assert (await page.get("/api/state", headers={"Host": "[::1"})).status_code == 400


# The page ---------------------------------------------------------------------------------


async def test_the_page_is_served_with_a_same_origin_policy_and_no_outside_address(
    page: httpx.AsyncClient,
) -> None:
    index = await page.get("/")
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    policy = index.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    for name in ("chat.js", "chat.css", "icon.svg"):
        asset = await page.get(f"/static/{name}")
        assert asset.status_code == 200, name
    assert (await page.get("/static/../web.py")).status_code == 404
    static = resources.files("bot.devtools.demo").joinpath("static")
    for item in static.iterdir():
        text = item.read_text(encoding="utf-8")
        outside = [u for u in re.findall(r"https?://[^\s\"')]+", text) if "w3.org" not in u]
        assert not outside, f"{item.name} refers to {outside}"


@pytest.mark.parametrize("language", LANGUAGES)
async def test_every_page_text_is_in_every_language(
    page: httpx.AsyncClient, catalogues: Catalogues, language: str
) -> None:
    state = (await page.get("/api/state", params={"lang": language})).json()
    assert state["lang"] == language
    texts = state["texts"]
    assert set(texts) == set(PAGE_KEYS)
    missing = [key for key, text in texts.items() if not text or text == key]
    assert not missing, f"{language}: no text for {missing}"
    if language != "en":
        english = (await page.get("/api/state", params={"lang": "en"})).json()["texts"]
        same = [k for k in PAGE_KEYS if texts[k] == english[k] and len(english[k]) > 12]
        assert not same, f"{language}: left in English: {same}"


def test_the_command_line_texts_are_in_every_language(catalogues: Catalogues) -> None:
    keys = [
        "demo-cli-ready",
        "demo-cli-stop",
        "demo-cli-stopped",
        "demo-cli-remote-refused",
        "demo-cli-remote-warning",
        "demo-cli-port-busy",
        "demo-cli-bot-failed",
        "demo-group-title",
    ]
    for language in LANGUAGES:
        for key in keys:
            text = catalogues.translator(language)(key, url="U", host="H", port=1)
            assert text and text != key, (language, key)


async def test_the_page_language_follows_the_browser_unless_chosen(
    page: httpx.AsyncClient,
) -> None:
    state = await page.get("/api/state", headers={"Accept-Language": "de-DE,sw;q=0.8,fr;q=0.9"})
    assert state.json()["lang"] == "fr"
    chosen = await page.get(
        "/api/state", params={"lang": "rw"}, headers={"Accept-Language": "fr-FR"}
    )
    assert chosen.json()["lang"] == "rw"
    assert pick_language(None, "de, ja;q=0.5", "sw") == "sw"
    assert pick_language("xx", "en-GB;q=0, fr;q=0.1", "en") == "fr"
    assert terminal_language("en", {"LANG": "C.UTF-8", "LANGUAGE": "sw_KE:en"}) == "sw"
    assert terminal_language("rw", {"LANG": "C.UTF-8"}) == "rw"


async def test_the_payer_page_and_the_chat_read_the_browser_alike(
    page: httpx.AsyncClient,
) -> None:
    # One Accept-Language parser for both pages (parameter names are case-insensitive).
    expected = {
        "fr;Q=0, sw": "sw",
        "fr ; q=0.5, rw;q=0.7": "rw",
        "de, ja;q=0.5": "en",
        "en-GB;q=0, fr;q=0.1": "fr",
        "sw;q=abc, fr-CA": "fr",
    }
    for header, language in expected.items():
        headers = {"Accept-Language": header}
        chat = (await page.get("/api/state", headers=headers)).json()["lang"]
        payer = await page.get("/generation/pay/no-such-link", headers=headers)
        assert payer.status_code == 404
        shown = re.search(r'<html lang="(\w+)"', payer.text)
        assert shown is not None, payer.text
        assert (chat, shown.group(1)) == (language, language), header


async def test_state_names_the_people_and_the_group_with_their_roles(
    demo: Demo, page: httpx.AsyncClient
) -> None:
    state = (await page.get("/api/state")).json()
    roles = {person["id"]: person["group_status"] for person in state["people"]}
    assert roles == {OWNER.id: "creator", MEMBER.id: "member"}
    assert state["group"]["id"] == demo.group.id
    assert state["bot"]["username"] == demo.api.bot_username


# Chatting ---------------------------------------------------------------------------------


async def test_a_person_writes_and_the_bots_html_arrives_as_text_and_entities(
    page: httpx.AsyncClient,
) -> None:
    chat = Chat(page)
    sent = await chat.send("/start")
    assert sent["text"] == "/start" and sent["from"]["id"] == OWNER.id
    assert sent["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    welcome = await chat.wait_for(lambda m: from_bot(m) and m["chat_id"] == OWNER.id)
    assert "Aline" in welcome["text"]
    help_button = button(welcome, "❓")
    assert help_button["kind"] == "callback"

    pressed = await page.post(
        "/api/press",
        json={
            "chat_id": OWNER.id,
            "message_id": welcome["id"],
            "user_id": OWNER.id,
            "data": help_button["data"],
        },
    )
    assert pressed.status_code == 200 and "answer" in pressed.json()
    helped = await chat.wait_for(lambda m: from_bot(m) and "/new" in m["text"])
    # The bot's <b>…</b> is an entity over plain text, never markup in the text.
    assert "<b>" not in helped["text"] and "</" not in helped["text"]
    bold = [e for e in helped["entities"] if e["type"] == "bold"]
    assert bold, helped
    first = bold[0]
    assert helped["text"][first["offset"] : first["offset"] + first["length"]].strip()

    # Nothing newer: the next poll is empty.
    assert await chat.poll() == []


async def test_what_people_type_stays_text_even_when_it_looks_like_html(
    page: httpx.AsyncClient,
) -> None:
    chat = Chat(page)
    typed = '<img src=x onerror="alert(1)"> & <b>bold?</b>'
    sent = await chat.send(typed)
    assert sent["text"] == typed and sent["entities"] == []


async def test_the_group_has_both_people_and_checks_who_writes_where(
    demo: Demo, page: httpx.AsyncClient
) -> None:
    chat = Chat(page)
    joined = await chat.wait_for(lambda m: m["chat_id"] == demo.group.id and "service" in m)
    assert joined["service"] == {"kind": "added", "actor": "Aline", "names": ["PayLinks"]}
    said = await chat.send("Hello", chat_id=demo.group.id, user_id=MEMBER.id)
    assert said["from"] == {"id": MEMBER.id, "name": "Jean", "is_bot": False}
    # Someone else's private chat is not one a person can write in.
    other = await page.post(
        "/api/send", json={"chat_id": OWNER.id, "user_id": MEMBER.id, "text": "hi"}
    )
    assert other.status_code == 404 and other.json() == {"error": "no-chat"}
    stranger = await page.post(
        "/api/send", json={"chat_id": 424242, "user_id": 424242, "text": "hi"}
    )
    assert stranger.status_code == 404 and stranger.json() == {"error": "no-person"}


async def test_a_reply_carries_the_message_it_answers(demo: Demo, page: httpx.AsyncClient) -> None:
    chat = Chat(page)
    first = await chat.send("first", chat_id=demo.group.id)
    response = await page.post(
        "/api/send",
        json={
            "chat_id": demo.group.id,
            "user_id": MEMBER.id,
            "text": "answer",
            "reply_to": first["id"],
        },
    )
    reply = response.json()["message"]
    assert reply["reply_to"] == {"id": first["id"], "name": "Aline", "text": "first"}


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"chat_id": OWNER.id, "user_id": OWNER.id, "text": "   "}, 400, "bad-text"),
        ({"chat_id": OWNER.id, "user_id": OWNER.id, "text": "x" * 4097}, 400, "bad-text"),
        ({"chat_id": "me", "user_id": OWNER.id, "text": "hi"}, 400, "bad-chat-id"),
        ({"chat_id": OWNER.id, "user_id": True, "text": "hi"}, 400, "bad-user-id"),
    ],
)
async def test_bad_sends_are_refused_with_a_code_the_page_knows(
    page: httpx.AsyncClient, body: JSON, status: int, error: str
) -> None:
    response = await page.post("/api/send", json=body)
    assert (response.status_code, response.json()) == (status, {"error": error})


async def test_posts_must_be_json_so_other_sites_cannot_post_forms(
    page: httpx.AsyncClient,
) -> None:
    response = await page.post(
        "/api/send", data={"chat_id": str(OWNER.id), "user_id": str(OWNER.id), "text": "hi"}
    )
    assert response.status_code == 415
    assert all(m.get("text") != "hi" for m in await Chat(page).poll())


async def test_pressing_a_button_that_is_not_there_answers_button_gone(
    page: httpx.AsyncClient,
) -> None:
    chat = Chat(page)
    await chat.send("/start")
    welcome = await chat.wait_for(lambda m: from_bot(m) and bool(m["buttons"]))
    body = {"chat_id": OWNER.id, "message_id": welcome["id"], "user_id": OWNER.id}
    response = await page.post("/api/press", json={**body, "data": "no:such:button"})
    assert (response.status_code, response.json()) == (409, {"error": "button-gone"})
    response = await page.post("/api/press", json={**body, "message_id": 9999, "data": "x"})
    assert response.status_code == 409


# Cards, payer pages, files ------------------------------------------------------------------


async def test_the_qr_card_opens_the_local_payer_page_from_its_open_button(
    demo: Demo, page: httpx.AsyncClient
) -> None:
    chat = Chat(page)
    await chat.send("/new 5000 Rent")
    card = await chat.wait_for(lambda m: from_bot(m) and "photo" in m, seconds=15)
    opened = button(card, "🔗")
    # demo_mode: the local Bot API accepts the localhost URL, and the page gets a path.
    assert opened["kind"] == "url" and opened["url"].startswith("/generation/pay/")
    payer = await page.get(opened["url"])
    assert payer.status_code == 200 and "Rent" in payer.text
    assert any(b["kind"] == "inline" for row in card["buttons"] for b in row)  # Share
    photo = await page.get(card["photo"]["url"])
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/png"
    assert photo.content.startswith(b"\x89PNG")


async def test_documents_download_with_their_name_and_buttons_are_classified(
    demo: Demo, page: httpx.AsyncClient
) -> None:
    chat = Chat(page)
    await chat.send("/start")
    await chat.wait_for(from_bot)
    async with httpx.AsyncClient(timeout=10) as client:
        sent = await client.post(
            f"{demo.api.base_url}{DEMO_TOKEN}/sendDocument",
            data={"chat_id": str(OWNER.id), "caption": "Payments"},
            files={"document": ('pay"ments.csv', b"id,amount\n1,500\n", "text/csv")},
        )
    assert sent.json()["ok"], sent.text
    document = await chat.wait_for(lambda m: from_bot(m) and "document" in m)
    assert document["document"]["name"] == 'pay"ments.csv'
    download = await page.get(document["document"]["url"])
    assert download.content == b"id,amount\n1,500\n"
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment;") and "pay_ments.csv" in disposition

    bot = demo.api.bot_username
    keyboard = [
        [{"text": "Start", "url": f"https://t.me/{bot}?start=drive-42"}],
        [{"text": "Other bot", "url": "https://t.me/SomeOtherBot?start=x"}],
        [{"text": "Share", "switch_inline_query": "rent"}],
        [{"text": "Site", "url": f"{demo.internal_url}/generation/pay/x"}],
        [{"text": "Far", "url": "https://example.org/a"}],
    ]
    await bot_api(
        demo,
        "sendMessage",
        chat_id=OWNER.id,
        text="Buttons",
        reply_markup={"inline_keyboard": keyboard},
    )
    message = await chat.wait_for(lambda m: from_bot(m) and m["text"] == "Buttons")
    kinds = [row[0] for row in message["buttons"]]
    assert kinds == [
        {"text": "Start", "kind": "start", "payload": "drive-42"},
        {"text": "Other bot", "kind": "telegram"},
        {"text": "Share", "kind": "inline"},
        {"text": "Site", "kind": "url", "url": "/generation/pay/x"},
        {"text": "Far", "kind": "url", "url": "https://example.org/a"},
    ]


async def test_edits_and_deletes_reach_the_page_as_changes(
    demo: Demo, page: httpx.AsyncClient
) -> None:
    chat = Chat(page)
    await chat.send("/start")
    await chat.wait_for(from_bot)
    sent = await bot_api(demo, "sendMessage", chat_id=OWNER.id, text="one")
    message_id = sent["result"]["message_id"]
    await chat.wait_for(lambda m: m["id"] == message_id)
    await bot_api(
        demo,
        "editMessageText",
        chat_id=OWNER.id,
        message_id=message_id,
        text="<i>two</i>",
        parse_mode="HTML",
    )
    edited = await chat.wait_for(lambda m: m["id"] == message_id)
    assert edited["text"] == "two" and edited["edited"]
    assert edited["entities"] == [{"type": "italic", "offset": 0, "length": 3}]
    await bot_api(demo, "deleteMessage", chat_id=OWNER.id, message_id=message_id)
    deleted = await chat.wait_for(lambda m: m["id"] == message_id)
    assert deleted["deleted"] and "text" not in deleted


async def test_the_command_menu_is_the_bots_own_in_the_asked_language(
    demo: Demo, page: httpx.AsyncClient
) -> None:
    params = {"chat_id": OWNER.id, "user_id": OWNER.id}
    english = (await page.get("/api/commands", params={**params, "lang": "en"})).json()
    french = (await page.get("/api/commands", params={**params, "lang": "fr"})).json()
    names = [c["command"] for c in english["commands"]]
    assert "new" in names and "help" in names
    assert [c["command"] for c in french["commands"]] == names
    assert english["commands"] != french["commands"]
    group = await page.get(
        "/api/commands", params={"chat_id": demo.group.id, "user_id": MEMBER.id}
    )
    assert [c["command"] for c in group.json()["commands"]] == names
