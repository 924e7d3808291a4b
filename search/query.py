"""What a person typed into the search box, read once for the page and the API alike.

The text is stripped and its runs of spaces, tabs and line breaks become one
space; then it is searchable when it has 2 to 100 characters and no control
character (PostgreSQL refuses a null byte in text, so one never reaches it).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

MIN_LENGTH = 2
MAX_LENGTH = 100


@dataclass(frozen=True)
class SearchQuery:
    """The text to search for, or why there is nothing to search: a problem (refused) or a hint (too short)."""

    text: str
    problem: str = ""
    hint: str = ""

    @property
    def searchable(self) -> bool:
        return bool(self.text) and not self.problem and not self.hint


def read_query(raw: str | None) -> SearchQuery:
    text = " ".join((raw or "").split())
    if any(unicodedata.category(character) == "Cc" for character in text):
        # Shown without the text: it would carry the control characters back into the page.
        return SearchQuery(
            "", problem="A search cannot contain control characters such as a null byte: remove them and search again."
        )
    if len(text) > MAX_LENGTH:
        return SearchQuery(
            text,
            problem=f"A search is at most {MAX_LENGTH} characters; this one has {len(text)}. "
            "Shorten it and search again.",
        )
    if len(text) < MIN_LENGTH:
        return SearchQuery(text, hint=f"Type at least {MIN_LENGTH} characters to search.")
    return SearchQuery(text)
