"""Every moment a person reads on a page is written one way, in the next template too: a date and time with its time
zone ("7 Dec 2026 15:31 UTC"), a day ("7 Dec 2026"), or how long ago. A datetime printed bare reads in Django's own
format beside them, so the rule lives in the templates; moments inside a tag's attributes are for code
(``datetime=``) and stay as they are."""

from __future__ import annotations

import re

from tests.test_number_templates import OUTPUT, _in_a_tag, _line, _masked
from tests.test_table_templates import templates

# What a page shows a moment as: the ``date`` filter's formats people read, and ISO days and months (for code in
# attributes, and chart keys).
FORMATS = {
    "j M Y H:i T",
    "j M Y H:i:s T",
    "j M Y",
    "D j M Y",
    "j M",
    "D j M",
    "M Y",
    "F Y",
    "F",
}
FOR_CODE = {"c", "Y-m-d", "Y-m", "Ym"}
MOMENT = re.compile(r"(_at|_until|_since)$")
IN_WORDS = {"date", "timesince", "timeuntil", "naturaltime", "naturalday"}
DATE_FILTER = re.compile(r"\|\s*date\s*:\s*(\"[^\"]*\"|'[^']*')")


def problems(text: str) -> list[tuple[int, str]]:
    masked = _masked(text)
    found: list[tuple[int, str]] = []
    for match in DATE_FILTER.finditer(text):
        style = match.group(1).strip("\"'")
        if style in FORMATS | FOR_CODE:
            continue
        found.append((_line(text, match.start()), f"date:{match.group(1)} is not one of the portal's date styles"))
    for match in OUTPUT.finditer(text):
        if _in_a_tag(masked, match.start()):
            continue
        variable, *filters = [part.strip() for part in match.group(1).split("|")]
        names = {name.split(":")[0].strip() for name in filters}
        if MOMENT.search(variable) and not names & IN_WORDS:
            found.append((_line(text, match.start()), f"{match.group()} printed bare"))
    return found


def test_every_moment_of_every_template_is_written_in_the_portals_style() -> None:
    found = []
    checked = 0
    for path in templates():
        text = path.read_text()
        checked += len(DATE_FILTER.findall(text))
        found += [f"{path.name}:{line}: {what}" for line, what in problems(text)]

    assert checked > 100, "the scan finds the templates' dates"
    assert found == []


def test_the_check_tells_a_bare_moment_from_a_formatted_one() -> None:
    assert problems('<td>{{ event.occurred_at|date:"j M Y H:i T" }}</td>') == []
    assert problems("<td>{{ run.started_at|timesince }} ago</td>") == []
    assert problems("<time datetime=\"{{ event.occurred_at|date:'c' }}\">x</time>") == []
    assert problems("<td>{{ event.occurred_at }}</td>") == [(1, "{{ event.occurred_at }} printed bare")]
    assert problems('<td>{{ event.occurred_at|date:"DATETIME_FORMAT" }}</td>') == [
        (1, 'date:"DATETIME_FORMAT" is not one of the portal\'s date styles')
    ]
