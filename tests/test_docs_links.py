"""Every relative link in README.md and docs/*.md points at a file that exists and,
with a `#anchor`, at a heading of that file, as GitHub makes anchors from headings.

Links inside code (fenced blocks, `inline code`) are not links and are skipped, as
are links with a scheme (https:, mailto:).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.S | re.M)
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
LINK = re.compile(r"(?<!!)\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def prose(text: str) -> str:
    """The text without its code, where a `[x](y)` is no link."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: its text without markup, lower case, punctuation
    dropped, spaces made hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor the page's headings make; a repeated one gets -1, -2..."""
    seen: dict[str, int] = {}
    out = set()
    for m in HEADING.finditer(FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def broken_links(page: Path) -> list[str]:
    out = []
    for target in LINK.findall(prose(page.read_text(encoding="utf-8"))):
        if not target or SCHEME.match(target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            shown = dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest
            out.append(f"{target}: no such file {shown}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            out.append(f"{target}: no heading makes #{anchor} in {dest.name}")
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_the_readme_links_the_contract_pages() -> None:
    readme = prose((ROOT / "README.md").read_text(encoding="utf-8"))
    targets = set(LINK.findall(readme))
    assert {"docs/module-api.md", "docs/repro-format.md"} <= targets
    assert "shared/spec" not in readme


def test_the_checker_sees_what_is_broken(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Top heading\n\n## Second: `code` here\n")
    page = tmp_path / "b.md"
    page.write_text("[ok](a.md) [ok](a.md#second-code-here) [ok](#local) [web](https://x.org/y)\n"
                    "`[code](nowhere.md)`\n\n```\n[fenced](nowhere.md)\n```\n\n## Local\n"
                    "[bad](missing.md) [bad](a.md#nope) [bad](#gone)\n")
    assert [b.split(":")[0] for b in broken_links(page)] == ["missing.md", "a.md#nope", "#gone"]
