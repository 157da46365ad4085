"""Who may import whom: pure blocks/, services that do not reach into presentation for their
rules, and the product apart from its listeners."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The domains' own modules: plain dataclasses and pure functions, no I/O, no services.
DOMAIN = {"bot.approval", "bot.plans.plan", "bot.plans.summary"}


def imported(folder: str) -> dict[str, set[str]]:
    """Every module under ``folder`` (relative to the repository) and what it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
        found[path.relative_to(ROOT).as_posix()] = names
    return found


def test_blocks_import_nothing_of_the_bot_but_the_domain():
    reaching = {
        module: sorted(name for name in names if name.split(".")[0] == "bot" and name not in DOMAIN)
        for module, names in imported("blocks").items()
    }
    assert {module: names for module, names in reaching.items() if names} == {}


def test_the_services_below_the_surface_import_no_presentation():
    """Identity, events, forest, state and runtime hold rules and I/O; what people read is
    worded in blocks/ and chosen in handlers/."""
    reaching = {}
    for folder in ("bot/identity", "bot/events", "bot/forest", "bot/state", "bot/runtime"):
        for module, names in imported(folder).items():
            presentation = sorted(n for n in names if n.split(".")[0] in ("blocks", "handlers"))
            if presentation:
                reaching[module] = presentation
    assert reaching == {}


def test_only_the_wiring_knows_the_listeners():
    knowing = [
        module
        for module, names in imported("bot").items()
        if not module.startswith("bot/local/")
        and module != "bot/wiring.py"
        and any(name.split(".")[0] == "handlers" for name in names)
    ]
    assert knowing == []
