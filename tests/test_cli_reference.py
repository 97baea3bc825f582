"""docs/cli.md is what scripts/cli_reference.py makes from the parser of 'tdprov', and its links lead somewhere."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "cli_reference.py"
PAGE = REPO / "docs" / "cli.md"


def _check(page: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--check", "--page", str(page)], capture_output=True, text=True)


def test_the_cli_reference_is_the_parsers_and_names_the_command_that_refreshes_it(tmp_path: Path) -> None:
    done = _check(PAGE)
    assert done.returncode == 0, done.stderr  # '... is out of date: run 'python scripts/cli_reference.py' ...'
    stale = tmp_path / "cli.md"
    stale.write_text(PAGE.read_text(encoding="utf-8").replace("--record RECORD", "--row ROW"), encoding="utf-8")
    done = _check(stale)
    assert (done.returncode, done.stderr) == (
        1, f"{stale} is out of date: run 'python scripts/cli_reference.py' to make it again from the parser\n")


def _anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a page."""
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.*)$", markdown, flags=re.MULTILINE)}


def test_every_verb_is_on_the_page_and_every_link_of_it_leads_to_a_heading() -> None:
    page = PAGE.read_text(encoding="utf-8")
    for verb in ("audit", "contains", "store seal", "source add", "verify"):
        assert f"\n## `tdprov {verb}`\n" in page and f"](#tdprov-{verb.replace(' ', '-')})" in page, verb
    assert "| `DATASET\\|DIGEST` |" in page  # a '|' in an argument does not end its table cell
    links = re.findall(r"\]\(([^)#]*)#([^)]+)\)", page)
    assert len(links) > 30
    for target, anchor in links:
        text = (PAGE.parent / target).read_text(encoding="utf-8") if target else page
        assert anchor in _anchors(text), f"docs/cli.md links to {target or 'itself'}#{anchor}, which is no heading"


def test_a_json_fields_entry_of_no_verb_with_json_is_refused(monkeypatch) -> None:
    """JSON_FIELDS naming a verb that has no --json (renamed, removed) was skipped without a word: the page lost the
    link; making the page now stops, naming the entry."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import cli_reference
    finally:
        sys.path.remove(str(SCRIPT.parent))
    monkeypatch.setitem(cli_reference.JSON_FIELDS, "keygen", "bundles.md#verifying")
    with pytest.raises(SystemExit, match="names keygen, which no verb with --json is"):
        cli_reference.render()
