"""Every relative link in README.md and docs/*.md leads somewhere: to a file of the repository and, when it
names one, to a heading of that file (as GitHub makes a heading's anchor)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# The CLI reference is written beside this documentation and arrives with the command-line client; until both
# are in the repository, the index may link it.
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)
LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)


def prose(markdown: str) -> str:
    """The text links are read from: fenced code blocks and code spans left out."""
    return CODE_SPAN.sub("", FENCE.sub("", markdown))


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        base = anchor(heading)
        name, count = base, 0
        while name in found:
            count += 1
            name = f"{base}-{count}"
        found.add(name)
    return found


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def broken_links(document: Path) -> list[str]:
    broken = []
    for target in LINK.findall(prose(document.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: … leave the repository
            continue
        file_part, _, fragment = target.partition("#")
        path = (document.parent / file_part).resolve() if file_part else document
        if not path.exists():
            broken.append(f"{target}: no file {shown(path)}")
        elif fragment and path.suffix == ".md" and fragment not in anchors(path):
            broken.append(f"{target}: no heading with the anchor #{fragment} in {shown(path)}")
    return broken


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(document: Path) -> None:
    broken = broken_links(document)

    assert not broken, f"{document.relative_to(ROOT)} has links that lead nowhere:\n  " + "\n  ".join(broken)


def test_the_check_finds_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## Sign-in and SSO\n\n## Deployments: a workload's `panel`\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        "[ok](other.md#sign-in-and-sso) [ok too](other.md#deployments-a-workloads-panel) [here](#page)\n"
        "[gone](missing.md) [no heading](other.md#nothing-here) [web](https://example.com/#x)\n"
        "`[in code](missing-too.md)`\n\n```text\n[in a block](missing-three.md)\n```\n"
    )

    assert [line.split(":")[0] for line in broken_links(page)] == ["missing.md", "other.md#nothing-here"]


def test_the_readme_gives_the_two_commands_of_the_quick_start() -> None:
    readme = (ROOT / "README.md").read_text()

    assert re.search(r"```sh\nmake run +#.*\nmake test +#.*\n```", readme), "the quick start's block of two commands"
