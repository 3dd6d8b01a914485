"""One registry of callback prefixes (``bot/callbacks.py``): no prefix starts another, and every
button handler of the real Application listens on a registered prefix."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseHandler,
    CallbackQueryHandler,
    ConversationHandler,
    DictPersistence,
)

from bot import callbacks
from bot.context import CONTEXT_TYPES
from handlers import register


def _flatten(handler: BaseHandler[Any, Any, Any]) -> Iterator[BaseHandler[Any, Any, Any]]:
    if isinstance(handler, ConversationHandler):
        inner = [*handler.entry_points, *handler.fallbacks]
        for state in handler.states.values():
            inner.extend(state)
        for each in inner:
            yield from _flatten(each)
    else:
        yield handler


def _patterns(app: Application[Any, Any, Any, Any, Any, Any]) -> list[str]:
    found = []
    for group in app.handlers.values():
        for handler in group:
            for each in _flatten(handler):
                if isinstance(each, CallbackQueryHandler):
                    pattern = each.pattern
                    assert isinstance(pattern, re.Pattern), f"{each.callback}: no regex pattern"
                    found.append(pattern.pattern)
    return found


@pytest.fixture(scope="module")
def patterns() -> list[str]:
    app = (
        ApplicationBuilder()
        .token("123:test")
        .context_types(CONTEXT_TYPES)
        .persistence(DictPersistence())
        .build()
    )
    register(app)
    return _patterns(app)


def _prefix_of(pattern: str) -> str | None:
    """The registered prefix a handler's pattern is anchored on, if any."""
    for prefix in callbacks.PREFIXES:
        if pattern.startswith(("^" + prefix, "^" + re.escape(prefix))):
            return prefix
    return None


def test_no_prefix_starts_another() -> None:
    prefixes = list(callbacks.PREFIXES)
    clashes = [(a, b) for a in prefixes for b in prefixes if a != b and b.startswith(a)]
    assert clashes == []


def test_every_button_handler_listens_on_a_registered_prefix(patterns: list[str]) -> None:
    assert patterns  # the Application has button handlers at all
    assert [pattern for pattern in patterns if _prefix_of(pattern) is None] == []


def test_every_registered_prefix_has_a_handler(patterns: list[str]) -> None:
    handled = {_prefix_of(pattern) for pattern in patterns}
    assert [prefix for prefix in callbacks.PREFIXES if prefix not in handled] == []


def test_a_prefix_registered_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        callbacks._prefix(callbacks.LINK_CARD, "again")
