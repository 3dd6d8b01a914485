"""The bot's runtime path never reaches the tools (``bot/devtools``: sandbox, local Bot API, demo).

Two views of the same rule: what a fresh interpreter holds after importing the composition root,
and every import statement the runtime modules contain, those inside functions too (a lazy
import runs only on the path that needs it, so the first view alone would miss it).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = "bot.devtools"
RUNTIME_ROOTS = ("bot.app", "handlers")
PROJECT_PACKAGES = ("bot", "handlers")


def _source(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(module: str, path: Path) -> set[str]:
    """Project modules named by any import statement of ``module``, wherever it stands."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{node.module}" if node.module else anchor
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {
        name
        for name in names
        if name.split(".")[0] in PROJECT_PACKAGES and _source(name) is not None
    }


def _runtime_closure() -> dict[str, str]:
    """Every project module the runtime roots import, directly or not: module → importer."""
    importer: dict[str, str] = dict.fromkeys(RUNTIME_ROOTS, "(root)")
    todo = list(RUNTIME_ROOTS)
    while todo:
        module = todo.pop()
        path = _source(module)
        assert path is not None, module
        for name in sorted(_imported(module, path)):
            # A submodule import runs its packages' __init__ first.
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):
                prefix = ".".join(parts[:depth])
                if prefix not in importer and _source(prefix) is not None:
                    importer[prefix] = module
                    todo.append(prefix)
    return importer


def test_no_runtime_module_imports_the_tools_even_lazily() -> None:
    closure = _runtime_closure()
    assert "handlers.commands" in closure  # the walk does reach the handlers
    assert "bot.store.db" in closure
    offending = {
        name: importer
        for name, importer in closure.items()
        if name == TOOLS or name.startswith(TOOLS + ".")
    }
    assert offending == {}, f"runtime modules import the tools (module: importer): {offending}"


def test_importing_the_composition_root_loads_no_tool() -> None:
    code = (
        "import sys, bot.app, handlers;"
        "print('\\n'.join(sorted(m for m in sys.modules "
        "if m.startswith('bot.devtools') or m.split('.')[0] in ('uvicorn', 'starlette'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []
