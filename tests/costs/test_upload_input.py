"""Malformed FOCUS uploads are refused with the line at fault (never a 500), nothing is loaded and the figures
stored before stay; big files are read a chunk at a time under limits on decompressed size and rows."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from access.models import User
from costs.focus import CHUNK_BYTES, InputLimits, open_focus
from costs.models import CostLineItem, CostLoad, CostSource
from costs.sources import services as source_services
from portal.demo import Persona
from tests.costs.focus_files import focus_csv, focus_row

pytestmark = pytest.mark.shared_demo

NOVEMBER = date(2026, 11, 1)
# The columns FOCUS requires of a row here, for the big files (short rows keep them quick to write).
SHORT_COLUMNS = (
    "BilledCost",
    "EffectiveCost",
    "BillingCurrency",
    "BillingPeriodStart",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
)


def good_rows(count: int = 3) -> list[dict[str, str]]:
    return [focus_row(f"2026-11-{day % 28 + 1:02d}", "1.00") for day in range(count)]


def post(client: Client, content: bytes, source: CostSource, name: str = "bill.csv") -> Any:
    return client.post(reverse("costs:upload"), {"source": source.pk, "file": SimpleUploadedFile(name, content)})


@pytest.fixture
def manager(client_for: Callable[[Persona | None], Client]) -> Client:
    return client_for(Persona.MANAGER)


@pytest.fixture
def loaded(manager: Client) -> CostSource:
    """An upload source holding November's figures from a good file, which a bad file must leave as they are."""
    response = manager.post(
        reverse("costs:upload"),
        {"new_source": "finance-upload", "file": SimpleUploadedFile("good.csv", focus_csv(good_rows()).encode())},
    )
    assert response.status_code == 302
    return CostSource.objects.get(name="finance-upload")


def stray_quote_file() -> bytes:
    """3,000 rows; row 1,500 (line 1,501) opens a quoted field it never closes, which swallows the rest."""
    lines = focus_csv([focus_row("2026-11-02", "5.00") for _ in range(3000)]).splitlines(keepends=True)
    lines[1500] = lines[1500].replace(",Amazon Elastic Compute Cloud,", ',"Amazon Elastic Compute Cloud,')
    return "".join(lines).encode()


def with_bytes(replacement: bytes) -> bytes:
    """Two good rows, the second's ResourceId replaced by raw bytes."""
    return (
        focus_csv([focus_row("2026-11-02"), focus_row("2026-11-03", ResourceId="MARK")])
        .encode()
        .replace(b"MARK", replacement)
    )


MALFORMED = {
    "stray quote": (stray_quote_file(), 1501, "double quote"),
    "field over 128 KiB": (focus_csv([focus_row(ResourceId="x" * 140_000)]).encode(), 2, "longer than 128 KiB"),
    "NUL in a column": (with_bytes(b"i-0\x00abc"), 3, "NUL character"),
    "NUL escaped in the tags": (
        focus_csv([focus_row(), focus_row(Tags='{"team": "a\\u0000b"}')]).encode(),
        3,
        "no NUL",
    ),
    "not UTF-8": (with_bytes(b"caf\xe9"), 3, "not UTF-8"),
    "an offset instead of Z": (
        focus_csv([focus_row(), focus_row(ChargePeriodStart="2025-03-31T22:00:00-05:00")]).encode(),
        3,
        "time zone or offset instead of Z",
    ),
    "a UTC suffix": (
        focus_csv([focus_row(ChargePeriodStart="2026-11-01T00:00:00 UTC")]).encode(),
        2,
        "time zone or offset instead of Z",
    ),
    "hour 30": (
        focus_csv([focus_row(ChargePeriodStart="2026-11-01T30:00:00Z")]).encode(),
        2,
        "not a real date and time",
    ),
    "a billing period out of range": (
        focus_csv([focus_row(BillingPeriodStart="1970-01-01T00:00:00Z")]).encode(),
        2,
        "1970-01-01 is outside the dates accepted",
    ),
    "a charge period to the end of time": (
        focus_csv([focus_row(ChargePeriodEnd="9999-12-31T23:59:59Z")]).encode(),
        2,
        "charge period is longer than",
    ),
    "a year out of range": (
        focus_csv([focus_row(ChargePeriodStart="0001-01-01T00:00:00Z")]).encode(),
        2,
        "outside the dates accepted",
    ),
    "a duplicated column": (
        focus_csv([focus_row()]).replace("ServiceName,", "ServiceName,ServiceName,", 1).encode(),
        1,
        "names ServiceName more than once",
    ),
    "damaged gzip": (gzip.compress(focus_csv(good_rows(50)).encode())[:-40], 1, "gzip data is damaged"),
    "an amount no column holds": (focus_csv([focus_row(cost="1e20")]).encode(), 2, "larger than any bill"),
}


@pytest.mark.parametrize(("content", "line", "message"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_file_is_a_400_naming_its_line_and_leaves_the_stored_figures(
    manager: Client, loaded: CostSource, content: bytes, line: int, message: str
) -> None:
    before = CostLoad.objects.get(source=loaded, billing_period_start=NOVEMBER)

    response = post(manager, content, loaded)

    assert response.status_code == 400
    errors = response.context["errors"]
    assert any(error.line == line and message in error.message for error in errors), [str(e) for e in errors]
    assert "Nothing was loaded." in response.content.decode()
    after = CostLoad.objects.get(source=loaded, billing_period_start=NOVEMBER)
    assert (after.totals, after.line_items, after.loads) == (before.totals, before.line_items, before.loads)
    assert CostLineItem.objects.filter(load__source=loaded).count() == 3


def test_every_bad_row_is_counted_though_only_the_first_200_are_listed(manager: Client, loaded: CostSource) -> None:
    rows = [focus_row("2026-11-02", "ten") for _ in range(1000)]

    response = post(manager, focus_csv(rows).encode(), loaded)

    assert response.status_code == 400
    assert len(response.context["errors"]) == 200
    page = response.content.decode()
    assert "1,000 of 1,000 rows are bad; the first 200 are listed. Nothing was loaded." in page
    assert "200 bad rows" not in page


def test_bad_rows_among_good_ones_are_counted_against_every_row(manager: Client, loaded: CostSource) -> None:
    rows = [*good_rows(7), focus_row("2026-11-02", "ten"), focus_row("2026-11-02", ChargePeriodStart="2026-11-02")]

    response = post(manager, focus_csv(rows).encode(), loaded)

    assert "2 of 9 rows are bad. Nothing was loaded." in response.content.decode()


def test_a_file_with_a_header_and_no_rows_says_so(manager: Client, loaded: CostSource) -> None:
    response = post(manager, focus_csv([]).encode(), loaded)

    assert response.status_code == 400
    assert "Line 2: the file has a header but no rows. Nothing was loaded." in response.content.decode()


def test_the_stray_quote_is_reported_where_the_row_starts_with_the_rows_read_before_it(
    manager: Client, loaded: CostSource
) -> None:
    response = post(manager, stray_quote_file(), loaded)

    assert "The file was not read past line 1,501. Nothing was loaded." in response.content.decode()


# --------------------------------------------------------------------------- big files


class ReadLog(io.BytesIO):
    """A file that remembers the size of every read asked of it and how many bytes it gave."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.asked: list[int] = []
        self.given = 0

    def read(self, size: int | None = -1) -> bytes:
        self.asked.append(-1 if size is None else size)
        chunk = super().read(size)
        self.given += len(chunk)
        return chunk


@pytest.fixture(scope="module")
def two_million_rows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A .csv.gz of 2,000,000 rows (about 150 MB of text), written a block at a time; about 1 MB compressed."""
    path = tmp_path_factory.mktemp("focus") / "big.csv.gz"
    header, row = focus_csv([focus_row("2026-11-02", "0.01")], columns=SHORT_COLUMNS).splitlines(keepends=True)
    block = row * 10_000
    with gzip.open(path, "wb", compresslevel=6) as out:
        out.write(header.encode())
        for _ in range(200):
            out.write(block.encode())
    return path


def test_a_big_gzip_file_is_parsed_a_chunk_at_a_time(two_million_rows: Path) -> None:
    data = two_million_rows.read_bytes()
    assert len(data) > 8 * CHUNK_BYTES  # several chunks compressed, some 2,400 chunks of text
    stream = ReadLog(data)
    reader = iter(open_focus(stream, limits=InputLimits(max_bytes=10**12, max_rows=10**9)))

    first = next(reader)
    read_for_the_first_row = stream.given
    for _ in range(99_999):
        next(reader)

    assert first.charge_date == date(2026, 11, 2)
    assert read_for_the_first_row <= 2 * CHUNK_BYTES  # a row comes out before the file is read
    assert max(stream.asked) <= CHUNK_BYTES  # never the whole file at once
    assert -1 not in stream.asked
    assert stream.given < len(data) / 5  # 100,000 rows in, most of the file is still unread


def test_an_upload_over_the_row_limit_is_refused_having_read_only_up_to_the_limit(
    two_million_rows: Path, settings: Any, persona: Callable[[Persona], User]
) -> None:
    settings.COSTS_UPLOAD_MAX_ROWS = 20_000
    data = two_million_rows.read_bytes()
    stream = ReadLog(data)

    result = source_services.upload_focus(actor=persona(Persona.MANAGER), data=stream, new_source="finance-upload")

    assert not result.ok
    assert result.errors[-1].message == "the file has more than 20,000 rows; files of up to 20,000 are accepted"
    assert result.errors[-1].line == 20_002
    assert max(stream.asked) <= CHUNK_BYTES
    assert -1 not in stream.asked
    # One pass reads the file whole to check it is the file sent before (its SHA-256), a chunk at a time. The bulk
    # pass reads ahead a few blocks of 8 MiB of text (of this file, compressed 270 to 1, that is all of it) and
    # stops at the first block past the limit; the row-by-row pass that names the line stops at the limit.
    assert stream.given < 3 * len(data)
    assert not CostSource.objects.filter(name="finance-upload").exists()
    assert not CostLineItem.objects.exists()


def test_a_small_gzip_that_expands_past_the_limit_is_refused_on_the_page(
    two_million_rows: Path, settings: Any, manager: Client, loaded: CostSource
) -> None:
    settings.COSTS_UPLOAD_MAX_DECOMPRESSED_BYTES = 5 * 1024 * 1024
    content = two_million_rows.read_bytes()

    response = post(manager, content, loaded, name="big.csv.gz")

    assert response.status_code == 400
    page = response.content.decode()
    assert "larger than 5.0\xa0MB once decompressed; files up to 5.0\xa0MB (uncompressed) are accepted" in page
    assert CostLineItem.objects.filter(load__source=loaded).count() == 3


def test_a_gzip_file_within_the_limits_loads_in_full(manager: Client, loaded: CostSource) -> None:
    rows = [focus_row(f"2026-11-{day % 28 + 1:02d}", "0.50") for day in range(5000)]

    response = post(manager, gzip.compress(focus_csv(rows).encode()), loaded, name="bill.csv.gz")

    assert response.status_code == 302
    load = CostLoad.objects.get(source=loaded, billing_period_start=NOVEMBER)
    assert load.line_items == 5000
    assert load.totals["USD"]["billed"] == "2500.0000000000"
