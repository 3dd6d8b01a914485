"""Fitting HTML text into Telegram's limits: split a message, or shorten it.

Telegram counts the limits (4096 for a message, 1024 for a caption) on the text *after* the
HTML is parsed, in UTF-16 code units. Cutting raw HTML blindly would break a tag or an entity
and make Telegram refuse the whole message, so the text is read as a sequence of atoms (a tag,
one character, one ``&entity;``), cut between atoms, and every tag still open at a cut is
closed there and opened again in the next part. Cuts prefer the end of a line.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_ANSWER_LIMIT = 200
ELLIPSIS = "…"

_TOKEN = re.compile(
    r"<(?P<close>/?)(?P<name>[a-zA-Z][a-zA-Z0-9-]*)(?P<rest>[^<>]*)>"
    r"|(?P<entity>&(?:#\d+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*);)"
    r"|(?P<text>[^<&]+)"
    r"|(?P<stray>[<&])"
)


def utf16_units(text: str) -> int:
    """Length as Telegram counts it (characters outside the BMP count twice)."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True, slots=True)
class _Atom:
    raw: str  # as it appears in the HTML
    units: int  # visible UTF-16 units
    open_tag: str | None = None  # tag name, for an opening tag
    close_tag: str | None = None  # tag name, for a closing tag
    newline: bool = False


def _atoms(source: str) -> list[_Atom]:
    atoms: list[_Atom] = []
    for match in _TOKEN.finditer(source):
        if match["name"]:
            name = match["name"].lower()
            if match["close"]:
                atoms.append(_Atom(match.group(0), 0, close_tag=name))
            else:
                atoms.append(_Atom(match.group(0), 0, open_tag=name))
        elif match["entity"]:
            atoms.append(_Atom(match["entity"], utf16_units(html.unescape(match["entity"]))))
        else:
            text = match["text"] or match["stray"] or ""
            atoms.extend(_Atom(ch, utf16_units(ch), newline=ch == "\n") for ch in text)
    return atoms


def visible_length(source: str) -> int:
    """UTF-16 units of the text Telegram would show for this HTML."""
    return sum(atom.units for atom in _atoms(source))


def _apply(stack: list[tuple[str, str]], atom: _Atom) -> None:
    if atom.open_tag is not None:
        stack.append((atom.open_tag, atom.raw))
    elif atom.close_tag is not None:
        for index in range(len(stack) - 1, -1, -1):
            if stack[index][0] == atom.close_tag:
                del stack[index]
                break


def _closing(stack: list[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def _opening(stack: list[tuple[str, str]]) -> str:
    return "".join(raw for _, raw in stack)


@dataclass
class _Cut:
    end: int  # atoms[start:end] go in the part
    resume: int  # the next part starts here
    stack: list[tuple[str, str]]  # tags open at the cut
    at_newline: bool


def _find_cut(
    atoms: list[_Atom], start: int, stack: list[tuple[str, str]], budget: int
) -> _Cut | None:
    """Where to end a part that starts at ``start``; None when the rest fits."""
    used = 0
    current = list(stack)
    line_cut: _Cut | None = None
    index = start
    while index < len(atoms):
        atom = atoms[index]
        if used + atom.units > budget:
            if line_cut is not None:
                return line_cut
            return _Cut(index, index, current, at_newline=False)
        used += atom.units
        _apply(current, atom)
        if atom.newline and index > start:
            # Cut before the newline; the next part skips it.
            line_cut = _Cut(index, index + 1, list(current), at_newline=True)
        index += 1
    return None


def split(source: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """The HTML in parts of at most ``limit`` visible units each, cut at line ends if possible."""
    if limit < 2:
        raise ValueError("limit too small")
    atoms = _atoms(source)
    parts: list[str] = []
    start = 0
    stack: list[tuple[str, str]] = []
    while start < len(atoms):
        cut = _find_cut(atoms, start, stack, limit)
        end = len(atoms) if cut is None else cut.end
        body = "".join(atom.raw for atom in atoms[start:end])
        if cut is None:
            closing_stack = list(stack)
            for atom in atoms[start:end]:
                _apply(closing_stack, atom)
        else:
            closing_stack = cut.stack
        part = _opening(stack) + body + _closing(closing_stack)
        if html.unescape(re.sub(r"<[^<>]*>", "", part)).strip():
            parts.append(part)
        if cut is None:
            break
        stack, start = cut.stack, cut.resume
    return parts or [source]


def shorten(source: str, limit: int = MESSAGE_LIMIT, *, ellipsis: str = ELLIPSIS) -> str:
    """The HTML cut to ``limit`` visible units with ``ellipsis`` at the end when it was longer.

    Whole lines are kept when the cut can fall at a line end in the second half of the text.
    """
    atoms = _atoms(source)
    if sum(atom.units for atom in atoms) <= limit:
        return source
    budget = limit - utf16_units(ellipsis) - 1  # room for "\n" + ellipsis
    if budget < 1:
        raise ValueError("limit too small")
    cut = _find_cut(atoms, 0, [], budget)
    assert cut is not None  # the whole text is over the limit
    if cut.at_newline and sum(a.units for a in atoms[: cut.end]) < budget // 2:
        # The only line end is early: better a cut mid-line than losing most of the text.
        cut = _hard_cut(atoms, budget)
    body = "".join(atom.raw for atom in atoms[: cut.end])
    joiner = "\n" if cut.at_newline else ""
    return body + _closing(cut.stack) + joiner + html.escape(ellipsis, quote=False)


def _hard_cut(atoms: list[_Atom], budget: int) -> _Cut:
    used = 0
    stack: list[tuple[str, str]] = []
    for index, atom in enumerate(atoms):
        if used + atom.units > budget:
            return _Cut(index, index, stack, at_newline=False)
        used += atom.units
        _apply(stack, atom)
    return _Cut(len(atoms), len(atoms), stack, at_newline=False)


def shorten_plain(text: str, limit: int, *, ellipsis: str = ELLIPSIS) -> str:
    """Plain text (a button label, an alert) cut to ``limit`` UTF-16 units."""
    if utf16_units(text) <= limit:
        return text
    budget = limit - utf16_units(ellipsis)
    kept: list[str] = []
    used = 0
    for ch in text:
        size = utf16_units(ch)
        if used + size > budget:
            break
        kept.append(ch)
        used += size
    return "".join(kept).rstrip() + ellipsis
