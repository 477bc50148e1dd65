"""The README is the user's page (title first, the two commands, one table of headline figures
with their commands) and the figures' pages in docs/ say how, where and when they were measured.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
#: pages holding measured figures: each says its command(s), machine and date
FIGURE_PAGES = ["benchmarks.md", "evaluation.md", "executor-performance.md", "model.md"]
COMMAND = re.compile(r"`(\.venv/bin/)?(driftline|make|python|pytest|time)\b[^`]*`")
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]+)?\)")


def _code_blocks(text: str) -> list[list[str]]:
    blocks, current = [], None
    for line in text.splitlines():
        if line.startswith("```"):
            if current is None:
                current = []
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def _make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))


def _anchor(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_title_first_and_short() -> None:
    lines = README.read_text().splitlines()
    assert lines[0] == "# driftline"
    assert len(lines) <= 200


def test_the_two_commands_come_first_and_exist() -> None:
    text = README.read_text()
    first = _code_blocks(text)[0]
    commands = [line.split("#")[0].strip() for line in first]
    assert commands == ["make demo", "make test"]
    assert {"demo", "test"} <= _make_targets()
    assert text.index("make demo") < text.index("\n## ", text.index("## Two commands") + 1)


def test_headline_figures_are_one_table_each_row_with_its_command() -> None:
    text = README.read_text()
    section = text.split("## Headline figures", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header, rule, *body = rows
    assert header.split("|")[1:-1] == [" figure ", " value ", " command "]
    assert set(rule) <= set("|-: ")
    assert len(body) >= 8
    for row in body:
        command = row.rstrip(" |").rsplit("|", 1)[1]
        assert re.search(r"`[^`]+`", command), f"no command for: {row}"
    assert sum(1 for line in text.splitlines() if line.startswith("| figure |")) == 1


@pytest.mark.parametrize("page", FIGURE_PAGES)
def test_figure_pages_say_command_machine_and_date(page: str) -> None:
    text = (ROOT / "docs" / page).read_text()
    assert "**Machine**" in text
    assert re.search(r"\*\*Date\*\*: 20\d\d-\d\d-\d\d", text)
    intro, *sections = text.split("\n## ")
    if "**Command" in intro:  # one command for the whole page
        assert COMMAND.search(intro)
        return
    for section in sections:
        if "|---" in section:
            assert COMMAND.search(section), f"{page}: no command for ## {section.splitlines()[0]}"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    for target, anchor in LINK.findall(page.read_text()):
        if "://" in target:
            continue
        path = (page.parent / target).resolve()
        assert path.exists(), f"{page.name} links to missing {target}"
        if anchor and path.suffix == ".md":
            headings = [_anchor(h) for h in re.findall(r"^#+ (.+)$", path.read_text(),
                                                       re.MULTILINE)]
            assert anchor[1:] in headings, f"{page.name} links to missing {target}{anchor}"
