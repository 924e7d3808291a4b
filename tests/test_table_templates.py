"""Every table in the templates scrolls inside its own box, so that no table makes a page wider than the screen."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

WRAPPER = '<div class="table-responsive">'
TABLE = re.compile(r"<table\b")


def templates() -> list[Path]:
    root = Path(settings.BASE_DIR)
    found = [path for path in root.glob("*/templates/**/*.html") if ".venv" not in path.parts]
    return found + list(root.glob("templates/**/*.html"))


def unwrapped_tables(text: str) -> list[int]:
    """The line of each <table> that is not the first thing in a .table-responsive box.

    A table inside another table's cell scrolls with the table around it.
    """
    return [
        text.count("\n", 0, match.start()) + 1
        for match in TABLE.finditer(text)
        if not _nested(text, match.start()) and not text[: match.start()].rstrip().endswith(WRAPPER)
    ]


def _nested(text: str, start: int) -> bool:
    before = text[:start]
    return len(TABLE.findall(before)) > before.count("</table>")


def test_every_table_of_every_template_is_in_a_scrolling_box() -> None:
    root = Path(settings.BASE_DIR)
    tables = 0
    unwrapped = []
    for path in templates():
        text = path.read_text()
        tables += len(TABLE.findall(text))
        unwrapped += [f"{path.relative_to(root)}:{line}" for line in unwrapped_tables(text)]

    assert tables > 50, "the scan finds the templates' tables"
    assert unwrapped == []


def test_the_check_tells_a_wrapped_table_from_a_bare_one() -> None:
    wrapped = '<h2>Costs</h2>\n<div class="table-responsive"><table class="table">\n<tr><td>1</td></tr></table></div>'
    bare = '<h2>Costs</h2>\n<table class="table"><tr><td>1</td></tr></table>'

    nested = '<div class="table-responsive"><table><tr><td><table><tr><td>1</td></tr></table></td></tr></table></div>'

    assert unwrapped_tables(wrapped) == []
    assert unwrapped_tables(bare) == [2]
    assert unwrapped_tables(nested) == []
    assert unwrapped_tables(bare + "\n" + nested) == [2]
