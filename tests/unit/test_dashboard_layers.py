"""The dashboard's handlers reach the provider and the store only through the services of
``bot/`` (``LinkService``, ``LinkLister``, ``Accounts``): never ``services.dgs`` or
``services.repo`` themselves (issue 13, part 2)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_HANDLERS = (
    "handlers/press.py",
    "handlers/link_card.py",
    "handlers/links.py",
    "handlers/edit.py",
    "handlers/archive.py",
    "handlers/export.py",
    "handlers/share.py",
    "handlers/cards.py",
)
LOW_LEVEL = ("dgs", "repo")


def _direct_calls(path: Path) -> list[str]:
    """``<…>.services.dgs`` / ``services.repo`` (and the like) in the module, with lines."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Attribute) or node.attr not in LOW_LEVEL:
            continue
        owner = node.value
        name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
        if name == "services":
            found.append(f"{path.name}:{node.lineno}: services.{node.attr}")
    return found


@pytest.mark.parametrize("module", DASHBOARD_HANDLERS)
def test_dashboard_handler_calls_no_provider_or_store_directly(module: str) -> None:
    path = ROOT / module
    assert path.is_file(), f"{module} is missing"
    assert _direct_calls(path) == []


def test_the_dashboard_opening_is_written_once() -> None:
    """Reading a press, the owner check and "need-connect" live in ``handlers/press.py``
    alone: no dashboard handler repeats them."""
    for module in DASHBOARD_HANDLERS:
        if module == "handlers/press.py":
            continue
        source = (ROOT / module).read_text(encoding="utf-8")
        # The editor's typed value is a message, not a press: it is answered by a reply.
        if module != "handlers/edit.py":
            assert '"need-connect"' not in source, module
        assert "owned_link(" not in source, module
        assert "removeprefix(" not in source, module
