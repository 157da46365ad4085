"""docs/architecture.md is the map of the code: it names every folder, and every file it names
exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()


def test_the_map_names_every_folder_of_the_bot():
    folders = sorted(
        path.parent.relative_to(ROOT).as_posix() + "/" for path in ROOT.glob("bot/*/__init__.py")
    )
    assert folders, "no packages under bot/?"
    assert [folder for folder in folders if f"`{folder}`" not in ARCHITECTURE] == []
    for folder in ("handlers/", "blocks/", "proto/", "tests/"):
        assert f"`{folder}`" in ARCHITECTURE


def test_every_file_the_map_names_exists():
    named = set(re.findall(r"\b((?:bot|handlers|blocks|proto|bench)/[\w/]+\.py)\b", ARCHITECTURE))
    assert named, "the map names no files?"
    assert sorted(path for path in named if not (ROOT / path).exists()) == []
