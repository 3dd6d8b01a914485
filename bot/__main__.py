"""``paylinks-bot`` / ``python -m bot``: run the bot, the bot with the sandbox, or the sandbox.

paylinks-bot                 the bot, long polling (a webhook if WEBHOOK_URL is set), against
                             DGS_API_BASE_URL
paylinks-bot --sandbox       the bot and the embedded sandbox provider, the bot pointed at it
paylinks-bot sandbox         the sandbox provider alone
paylinks-bot demo            everything on this machine, offline: a web chat at 127.0.0.1:8080
paylinks-bot review-page rw  every message of a language on one HTML page, for its reviewers

The sandbox and the demo are tools (``bot/devtools``): started here, never by ``bot/app.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from bot.config import LANGUAGES, Settings, SettingsError, load_settings
from bot.logs import configure_logging

if TYPE_CHECKING:
    from bot.app import ProviderServer

log = logging.getLogger("bot")

DEFAULT_SANDBOX_PORT = 8765
DEFAULT_DEMO_PORT = 8080


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paylinks-bot", description="PayLinks: DGS payment links from Telegram."
    )
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="run the embedded sandbox provider too and point the bot at it",
    )
    parser.add_argument(
        "--sandbox-port",
        type=int,
        default=DEFAULT_SANDBOX_PORT,
        help=f"port of the sandbox on 127.0.0.1 (default {DEFAULT_SANDBOX_PORT}; 0 = any free)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_DEMO_PORT,
        help=f"demo: port of the web chat (default {DEFAULT_DEMO_PORT}; 0 = any free)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="demo: address to listen on (default 127.0.0.1; others need --allow-remote)",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="demo: allow listening on a non-loopback address such as 0.0.0.0 (in a container)",
    )
    parser.add_argument(
        "command",
        nargs="?",
        choices=["run", "sandbox", "health", "demo", "review-page"],
        default="run",
        help="run (default): the bot; sandbox: the sandbox provider alone; "
        "health: exit 0 when a running bot wrote its heartbeat recently; "
        "demo: the bot, the sandbox and a local Telegram with a web chat, offline; "
        "review-page LANGUAGE: every message of LANGUAGE on one HTML page, for reviewers",
    )
    parser.add_argument(
        "language", nargs="?", choices=LANGUAGES, help="review-page: the language to show"
    )
    parser.add_argument(
        "-o",
        "--output",
        help="review-page: the HTML file to write (default review-LANGUAGE.html)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "review-page":
        if args.language is None:
            parser.error(f"review-page needs a language: {', '.join(LANGUAGES)}")
        return _review_page(args.language, args.output)
    if args.language is not None or args.output is not None:
        parser.error("a language and -o go with review-page only")
    try:
        settings = load_settings()
        if args.command == "health":
            from bot.health import is_alive

            return 0 if is_alive(settings.bot_data_dir) else 1
        if args.command == "run":
            settings.token()  # fail now, with the BotFather hint, not deep inside PTB
    except SettingsError as exc:
        print(f"paylinks-bot: {exc}", file=sys.stderr)
        return 2
    secrets = [
        secret.get_secret_value()
        for secret in (
            settings.telegram_bot_token,
            settings.dgs_api_key,
            settings.bot_encryption_key,
            settings.webhook_secret,
        )
        if secret is not None
    ]
    configure_logging(settings.log_level, secrets)
    if args.command == "demo":
        return _demo(settings, args)
    try:
        if args.command == "sandbox":
            asyncio.run(_serve_sandbox(settings, args.sandbox_port))
        else:
            asyncio.run(_run_bot(settings, with_sandbox=args.sandbox, port=args.sandbox_port))
    except KeyboardInterrupt:
        return 0
    except _StartupError as exc:
        print(f"paylinks-bot: {exc}", file=sys.stderr)
        return 2
    return 0


class _StartupError(Exception):
    """A problem found while starting that the operator must fix; shown as one line."""


async def _run_bot(settings: Settings, *, with_sandbox: bool, port: int) -> None:
    from telegram.error import InvalidToken, NetworkError

    from bot.app import run_bot
    from bot.store.datadir import DataDirBusyError
    from bot.store.db import DatabaseError
    from bot.store.secrets import EncryptionKeyError

    try:
        if with_sandbox:
            await run_bot(settings, provider=_sandbox_for_bot(port), auto_connect=True)
        else:
            await run_bot(settings)
    except (EncryptionKeyError, DataDirBusyError, DatabaseError, SettingsError) as exc:
        # One line, whatever SQLite or a migration put in the message.
        raise _StartupError(" ".join(str(exc).split())) from None
    except OSError as exc:
        # Almost always BOT_DATA_DIR: not a directory, not writable, or the disk is full.
        raise _StartupError(
            f"BOT_DATA_DIR ({settings.bot_data_dir}) is not usable: {exc.strerror or exc}"
        ) from None
    except InvalidToken:
        raise _StartupError(
            "Telegram refused TELEGRAM_BOT_TOKEN; check it with @BotFather"
        ) from None
    except NetworkError as exc:
        raise _StartupError(
            f"cannot reach the Bot API at TELEGRAM_API_BASE_URL ({type(exc).__name__})"
        ) from None


def _sandbox_for_bot(port: int) -> ProviderServer:
    """``--sandbox``: the sandbox beside the bot, which talks to it and gives everyone a key."""

    @contextlib.asynccontextmanager
    async def provider(settings: Settings) -> AsyncIterator[str]:
        from bot.devtools.sandbox import in_data_dir

        async with in_data_dir(settings.bot_data_dir, port) as sandbox:
            log.info(
                "sandbox provider at %s (payer pages at %s/generation/pay/…)",
                sandbox.url,
                sandbox.url,
            )
            yield sandbox.api_base_url

    return provider


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from bot.devtools.demo import DemoError, run_demo
    from bot.devtools.demo.texts import terminal_language
    from bot.i18n import Catalogues

    catalogues = Catalogues.load()
    language = terminal_language(settings.bot_default_language)
    try:
        asyncio.run(
            run_demo(
                host=args.host,
                port=args.port,
                allow_remote=args.allow_remote,
                language=language,
                catalogues=catalogues,
                # .env is read here, not by the demo's own settings: take what applies to it.
                settings_overrides={
                    "log_level": settings.log_level,
                    "bot_default_language": settings.bot_default_language,
                },
            )
        )
    except KeyboardInterrupt:
        return 0
    except DemoError as exc:
        print(f"paylinks-bot: {exc.text(catalogues.translator(language))}", file=sys.stderr)
        return 2
    return 0


def _review_page(language: str, output: str | None) -> int:
    """Needs no settings: a reviewer has no bot token, and none is read."""
    from pathlib import Path

    from bot.devtools.review_page import write_page

    target = Path(output or f"review-{language}.html")
    try:
        write_page(language, target)
    except OSError as exc:
        print(f"paylinks-bot: cannot write {target}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"Review page for {language}: {target.resolve()}", flush=True)
    return 0


async def _serve_sandbox(settings: Settings, port: int) -> None:
    from bot.devtools.sandbox import in_data_dir

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with in_data_dir(settings.bot_data_dir, port) as sandbox:
        log.info(
            "sandbox provider: API %s — any key starting sk_test_ works", sandbox.api_base_url
        )
        print(f"Sandbox API: {sandbox.api_base_url}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    sys.exit(main())
