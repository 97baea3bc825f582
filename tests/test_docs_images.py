"""Every picture README.md and docs/ show exists, and scripts/screenshots makes each one, where the docs take it."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "screenshots"
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def _shown() -> dict[Path, list[str]]:
    """Each picture a page shows (Markdown ``![alt](path)`` or ``<img src>``), with the pages that show it."""
    shown: dict[Path, list[str]] = {}
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"!\[[^\]]*\]\(\s*([^)\s]+)", text) + re.findall(r"<img[^>]*\ssrc=\"([^\"]+)\"", text):
            if "://" not in target:
                shown.setdefault((page.parent / target).resolve(), []).append(str(page.relative_to(REPO)))
    return shown


def _made() -> set[Path]:
    """The pictures scripts/screenshots writes: the file each ``shot`` names, with the script's folders filled in."""
    script = SCRIPT.read_text(encoding="utf-8")
    folders = {"$OUT": re.search(r'^OUT="([^"]+)"', script, flags=re.M).group(1), "$REPO": str(REPO)}
    made = set()
    for target in re.findall(r'^\s*shot\s+"[^"]*"\s+"([^"]+)"', script, flags=re.M):
        for name, folder in folders.items():
            target = target.replace(name, folder)
        made.add(Path(target).resolve())
    return made


def _named(paths: object) -> list[str]:
    return sorted(str(path.relative_to(REPO)) for path in paths)


def test_every_picture_the_docs_show_exists() -> None:
    missing = {str(path.relative_to(REPO)): pages for path, pages in _shown().items() if not path.is_file()}
    assert not missing, f"pictures shown but not in the repository (shown by): {missing}"


def test_scripts_screenshots_makes_every_picture_the_docs_show_and_no_other() -> None:
    shown, made = set(_shown()), _made()
    assert made, "scripts/screenshots names no picture it makes: its shot lines changed shape"
    assert _named(shown - made) == [], "pictures the docs show that scripts/screenshots does not make"
    assert _named(made - shown) == [], "pictures scripts/screenshots makes that no page shows"


def test_every_picture_under_docs_is_shown() -> None:
    pictures = {path.resolve() for path in (REPO / "docs").rglob("*") if path.suffix in {".png", ".jpg", ".gif", ".svg"}}
    assert _named(pictures - set(_shown())) == [], "pictures in docs/ that no page shows: remove them or show them"
