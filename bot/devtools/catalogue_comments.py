"""Carry the English catalogue's translator notes (``#.`` lines) into the other catalogues.

    python -m bot.devtools.catalogue_comments            # fr, rw and sw, in place
    python -m bot.devtools.catalogue_comments --check    # exit 1 when one is out of step

``locales/en/LC_MESSAGES/bot.po`` is the source: each message's ``#.`` lines say who reads it,
where, its budget and what each placeholder holds. Every other catalogue gets exactly the same
``#.`` lines above the same msgid (stale ones replaced, notes of a msgid English lacks dropped).

Why not Babel's ``read_po``/``write_po``: it does not give these files back byte for byte. It
rewraps the hand-wrapped ``msgstr`` lines, moves the section comments (``# Issue 14, …``) and
drops the blank lines around them, so a round trip would rewrite hundreds of lines of a file
other people edit. Here only the ``#.`` lines change; translators' ``#`` notes, section
comments and every ``msgid``/``msgstr`` line stay byte for byte. Babel still reads the result
(``Message.auto_comments``), which is what the catalogue tests check.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from bot.config import LANGUAGES
from bot.i18n import SOURCE_LANGUAGE, locales_dir

NOTE = "#."
# What may come after the notes in an entry's comment block (PO order: translator comments,
# extracted notes, references, flags, previous msgid).
_AFTER_NOTES = ("#:", "#,", "#|")


def _is_comment(line: str) -> bool:
    return line.startswith("#") and not line.startswith("#~")


def _msgid(line: str) -> str | None:
    """The key of a ``msgid "key"`` line (our keys are one line, never escaped)."""
    if not line.startswith('msgid "'):
        return None
    return line.rstrip("\r\n")[len('msgid "') : -1]


def notes(text: str) -> dict[str, list[str]]:
    """Each msgid's ``#.`` lines (line ends included), in order; the header has none."""
    found: dict[str, list[str]] = {}
    block: list[str] = []
    for line in text.splitlines(keepends=True):
        key = _msgid(line)
        if key:
            found[key] = [c for c in block if c.startswith(NOTE)]
        block = [*block, line] if _is_comment(line) else []
    return found


def with_notes(text: str, source: Mapping[str, Sequence[str]]) -> str:
    """``text`` whose entries carry the ``#.`` lines of ``source`` and no others."""
    out: list[str] = []
    block: list[str] = []
    for line in text.splitlines(keepends=True):
        if _is_comment(line):
            block.append(line)
            continue
        key = _msgid(line)
        if key:
            block = _placed(block, source.get(key, ()), _newline(line))
        out += block
        out.append(line)
        block = []
    return "".join(out + block)


def _newline(line: str) -> str:
    return "\r\n" if line.endswith("\r\n") else "\n"


def _placed(block: list[str], wanted: Sequence[str], newline: str) -> list[str]:
    kept = [line for line in block if not line.startswith(NOTE)]
    at = next((i for i, line in enumerate(kept) if line.startswith(_AFTER_NOTES)), len(kept))
    new = [line.rstrip("\r\n") + newline for line in wanted]
    return kept[:at] + new + kept[at:]


def catalogue(root: Path, language: str) -> Path:
    return root / language / "LC_MESSAGES" / "bot.po"


def carry(root: Path, languages: Sequence[str], *, write: bool = True) -> list[Path]:
    """Copies English's notes into each language's catalogue; the files that changed (or,
    with ``write=False``, would change)."""
    source = notes(catalogue(root, SOURCE_LANGUAGE).read_text(encoding="utf-8"))
    changed = []
    for language in languages:
        path = catalogue(root, language)
        # Read right before writing: others may be editing msgstr lines of the same file.
        before = path.read_bytes().decode("utf-8")
        after = with_notes(before, source)
        if after != before:
            changed.append(path)
            if write:
                path.write_bytes(after.encode("utf-8"))
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.devtools.catalogue_comments",
        description="Copy the English catalogue's #. translator notes into the others.",
    )
    others = [language for language in LANGUAGES if language != SOURCE_LANGUAGE]
    parser.add_argument(
        "languages", nargs="*", default=others, help=f"default: {' '.join(others)}"
    )
    parser.add_argument("--locales", type=Path, default=None, help="default: locales/")
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a catalogue is behind"
    )
    args = parser.parse_args(argv)
    root = args.locales or locales_dir()
    changed = carry(root, args.languages, write=not args.check)
    for path in changed:
        print(f"{'out of step' if args.check else 'updated'}: {path}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
