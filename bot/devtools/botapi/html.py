"""Telegram's HTML parse mode: plain text and entities, or the error Telegram would give."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.devtools.botapi.builders import JSON, utf16_len

_TAG_RE = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)"
    r"((?:\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?)*)"
    r"\s*>"
)
_ATTR_RE = re.compile(
    r"([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'=<>`]+)))?"
)
_ENTITY_RE = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6}));")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}


class HTMLParseError(ValueError):
    """Text Telegram would refuse with "can't parse entities"."""


@dataclass
class _OpenTag:
    name: str
    start: int
    entity: JSON | None


def _unescape_attr(value: str) -> str:
    return _ENTITY_RE.sub(_decode_entity, value)


def _decode_entity(match: re.Match[str]) -> str:
    named, decimal, hexadecimal = match.groups()
    if named:
        return _NAMED_ENTITIES[named]
    code = int(decimal) if decimal else int(hexadecimal, 16)
    return chr(code) if 0 < code <= 0x10FFFF else "\ufffd"


def parse_html(source: str) -> tuple[str, list[JSON]]:
    """Plain text and entities of ``source`` as Telegram parses ``parse_mode=HTML``.

    Raises ``HTMLParseError`` for unknown or unbalanced tags and for a bare ``<`` or ``&``.
    """
    out: list[str] = []
    offset = 0  # in UTF-16 units
    stack: list[_OpenTag] = []
    entities: list[JSON] = []
    i = 0

    def byte_offset() -> int:
        return len(source[:i].encode())

    while i < len(source):
        char = source[i]
        if char == "<":
            tag = _TAG_RE.match(source, i)
            if tag is None:
                raise HTMLParseError(
                    f'Unexpected "<" at byte offset {byte_offset()}: '
                    "escape it as &lt; or close the tag"
                )
            closing, name, attr_text = tag.group(1) == "/", tag.group(2).lower(), tag.group(3)
            if closing:
                if not stack:
                    raise HTMLParseError(
                        f'Unexpected end tag "{name}" at byte offset {byte_offset()}'
                    )
                top = stack.pop()
                if top.name != name:
                    raise HTMLParseError(
                        f"Unmatched end tag at byte offset {byte_offset()}, "
                        f'expected "</{top.name}>", found "</{name}>"'
                    )
                if top.entity is not None and offset > top.start:
                    entities.append(
                        {**top.entity, "offset": top.start, "length": offset - top.start}
                    )
            else:
                if name not in _TAG_ENTITY:
                    raise HTMLParseError(
                        f'Unsupported start tag "{name}" at byte offset {byte_offset()}'
                    )
                attrs = {
                    m.group(1).lower(): _unescape_attr(
                        m.group(2) or m.group(3) or m.group(4) or ""
                    )
                    for m in _ATTR_RE.finditer(attr_text)
                }
                stack.append(
                    _OpenTag(name, offset, _tag_entity(name, attrs, stack, byte_offset()))
                )
            i = tag.end()
            continue
        if char == "&":
            entity = _ENTITY_RE.match(source, i)
            if entity is None:
                raise HTMLParseError(
                    f'Unescaped "&" at byte offset {byte_offset()}: escape it as &amp;'
                )
            decoded = _decode_entity(entity)
            i = entity.end()
        else:
            decoded = char
            i += 1
        out.append(decoded)
        offset += utf16_len(decoded)
    if stack:
        raise HTMLParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _tag_entity(name: str, attrs: dict[str, str], stack: list[_OpenTag], at: int) -> JSON | None:
    kind = _TAG_ENTITY[name]
    if name == "span":
        if attrs.get("class") != "tg-spoiler":
            raise HTMLParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {at}')
        return {"type": kind}
    if name == "a":
        href = attrs.get("href")
        return {"type": kind, "url": href} if href else None
    if name == "tg-emoji":
        emoji_id = attrs.get("emoji-id")
        if not emoji_id:
            raise HTMLParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {at}'
            )
        return {"type": kind, "custom_emoji_id": emoji_id}
    if name == "blockquote" and "expandable" in attrs:
        return {"type": "expandable_blockquote"}
    if name == "code" and stack and stack[-1].name == "pre":
        # <pre><code class="language-x"> is one pre entity with a language, not two entities.
        language = attrs.get("class", "")
        pre = stack[-1].entity
        if pre is not None and language.startswith("language-"):
            pre["language"] = language.removeprefix("language-")
        return None
    return {"type": kind}
