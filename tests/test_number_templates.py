"""Every number a person reads on a page goes through the locale with its thousands grouped, in the next template too.

Grouping is asked for per value (``floatformat:"2g"``, ``number``, ``money``), never switched on for the whole site,
so the rule lives in the templates: a ``floatformat`` without ``g`` or an ``intcomma`` writes numbers another way, and
a count printed bare reads 1234 beside a grouped 1,234. Numbers inside a tag's attributes are for code (``data-*``,
``value=`` of a ``<progress>``) and stay raw, so only the text between tags is held to the rule.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

from tests.test_table_templates import templates

FLOATFORMAT = re.compile(r"\|\s*floatformat(?:\s*:\s*(\"[^\"]*\"|'[^']*'|[^\s|}]+))?")
OUTPUT = re.compile(r"\{\{(.*?)\}\}", re.S)
TEMPLATE_TAG = re.compile(r"\{%.*?%\}|\{#.*?#\}", re.S)
# Expressions that hold a count: ``page.paginator.count``, ``region.cluster_count``, ``results.total``, ``x|length``.
COUNT = re.compile(r"(\.count|_count|\.total|_total|num_pages)$")
# Filters that write a number for people, or turn a count into words ("s" of pluralize) rather than print it.
READABLE = {"number", "money", "floatformat", "pluralize", "yesno"}


def _masked(text: str) -> str:
    """The text with template tags and comments blanked out (same length), so their ``<`` and ``>`` do not count."""
    return TEMPLATE_TAG.sub(lambda match: " " * len(match.group()), text)


def _in_a_tag(masked: str, at: int) -> bool:
    """Whether position ``at`` is inside an HTML tag (in an attribute), not in the text between tags."""
    return masked.rfind("<", 0, at) > masked.rfind(">", 0, at)


def _line(text: str, at: int) -> int:
    return text.count("\n", 0, at) + 1


def problems(text: str) -> list[tuple[int, str]]:
    """(line, what) of each number in ``text`` that is not written the one way."""
    masked = _masked(text)
    found: list[tuple[int, str]] = []
    for match in FLOATFORMAT.finditer(text):
        argument = (match.group(1) or "").strip("\"'")
        if argument.endswith("g") and "u" not in argument:
            continue
        if argument.endswith("u") and "g" not in argument and _in_a_tag(masked, match.start()):
            continue  # an unlocalised number for code, in an attribute
        found.append((_line(text, match.start()), f"{match.group().lstrip('| ')} without the g of grouping"))
    found += [(_line(text, match.start()), "intcomma") for match in re.finditer(r"\bintcomma\b", text)]
    for match in OUTPUT.finditer(text):
        if _in_a_tag(masked, match.start()):
            continue
        variable, *filters = [part.strip() for part in match.group(1).split("|")]
        names = [name.split(":")[0].strip() for name in filters]
        if READABLE & set(names):
            continue
        if (COUNT.search(variable) and not names) or (names and names[-1] == "length"):
            found.append((_line(text, match.start()), f"{match.group()} printed bare"))
    return found


def test_every_number_of_every_template_is_written_through_the_locale_with_grouping() -> None:
    root = Path(settings.BASE_DIR)
    checked = 0
    found = []
    for path in templates():
        text = path.read_text()
        checked += len(FLOATFORMAT.findall(text)) + len(re.findall(r"\|\s*(?:number|money)\b", text))
        found += [f"{path.relative_to(root)}:{line}: {what}" for line, what in problems(text)]

    assert checked > 100, "the scan finds the templates' numbers"
    assert found == []


def test_the_check_tells_grouped_numbers_from_ungrouped_ones() -> None:
    assert problems('<td>{{ amount|floatformat:"2g" }} {{ hours|floatformat:"-2g" }}</td>') == []
    assert problems("<td>{{ amount|floatformat:2 }}</td>") == [(1, "floatformat:2 without the g of grouping")]
    assert problems("<td>\n{{ amount|floatformat }}</td>") == [(2, "floatformat without the g of grouping")]
    assert problems('<td>{{ amount|floatformat:"2gu" }}</td>') == [(1, 'floatformat:"2gu" without the g of grouping')]
    assert problems("{% load humanize %}<p>{{ events|intcomma }}</p>") == [(1, "intcomma")]


def test_the_check_leaves_raw_numbers_for_code_in_attributes() -> None:
    meter = '<progress max="100" value="{{ share|floatformat:\'0u\' }}">{{ share|floatformat:"0g" }} %</progress>'
    counted = '<td data-count="{{ cell.count }}">{% if cell.count > 1 %}{{ cell.count|number }}{% endif %}</td>'

    assert problems(meter) == []
    assert problems(counted) == []
    assert problems("<p>{{ share|floatformat:'0u' }} %</p>") == [(1, "floatformat:'0u' without the g of grouping")]


def test_the_check_finds_counts_printed_bare() -> None:
    assert problems("<caption>{{ page.paginator.count }} grants</caption>") == [
        (1, "{{ page.paginator.count }} printed bare")
    ]
    assert problems("<p>{{ rules|length }} rule{{ rules|length|pluralize }}</p>") == [
        (1, "{{ rules|length }} printed bare")
    ]
    assert problems("<p>{{ rules|length|number }} rule{{ rules|length|pluralize }}</p>") == []
    assert problems("<td>{{ region.cluster_count|number }}</td><td>{{ region.code }}</td>") == []
