"""FOCUS exports read from S3 (moto) are streamed off the bucket a chunk at a time, under the uploads' limits on
decompressed size and rows, and refused with the line at fault; a refused import leaves the stored figures."""

from __future__ import annotations

import gzip
from datetime import date
from typing import IO, Any

import pytest

from costs.focus import CHUNK_BYTES
from costs.models import CostLoad
from costs.sources.load import ImportFailed, import_period
from tests.costs.focus_files import focus_csv, focus_row
from tests.costs.test_sources_import import aws_account, export_source, s3_bucket
from tests.providers.conftest_cloud import aws_harness, moto_endpoint

__all__ = ["moto_endpoint"]  # the session fixture, imported so pytest finds it

pytestmark = pytest.mark.django_db

NOVEMBER = date(2026, 11, 1)
MID_NOVEMBER = date(2026, 11, 20)
DATA = "exports/focus/data/BILLING_PERIOD=2026-11"


class Reads:
    """Wraps the streams a driver opens, noting the size of every read asked of them."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    def wrap(self, stream: IO[bytes]) -> Any:
        reads = self

        class Noted:
            def read(self, size: int = -1) -> bytes:
                reads.asked.append(size)
                return stream.read(size)

            def close(self) -> None:
                stream.close()

        return Noted()


def test_an_export_is_read_off_the_bucket_a_chunk_at_a_time_and_refused_past_the_decompressed_limit(
    moto_endpoint: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = aws_harness(moto_endpoint)
    s3_bucket(harness, "focus-exports")
    harness.put_object("focus-exports", f"{DATA}/part-1.csv.gz", gzip.compress(focus_csv([focus_row()]).encode()))
    source = export_source(aws_account())
    first = import_period(source, NOVEMBER, today=MID_NOVEMBER, driver=harness.driver)
    assert first is not None
    header, row = focus_csv([focus_row("2026-11-04", "0.01")]).splitlines(keepends=True)
    harness.put_object("focus-exports", f"{DATA}/part-1.csv.gz", gzip.compress((header + row * 40_000).encode()))
    settings.COSTS_EXPORT_MAX_DECOMPRESSED_BYTES = 2 * 1024 * 1024
    reads = Reads()
    opened = harness.driver.open_object
    monkeypatch.setattr(harness.driver, "open_object", lambda bucket, key: reads.wrap(opened(bucket, key)))

    with pytest.raises(ImportFailed) as refused:
        import_period(source, NOVEMBER, today=MID_NOVEMBER, driver=harness.driver)

    assert "larger than 2.0\xa0MB once decompressed" in str(refused.value)
    assert reads.asked
    assert max(reads.asked) <= CHUNK_BYTES
    assert all(size > 0 for size in reads.asked)  # never "the rest of it"
    load = CostLoad.objects.get(source=source, billing_period_start=NOVEMBER)
    assert load.totals == first.totals
    assert load.loads == 1


def test_an_export_with_a_timestamp_not_in_utc_is_refused_naming_the_file_and_line(moto_endpoint: str) -> None:
    harness = aws_harness(moto_endpoint)
    s3_bucket(harness, "focus-exports")
    rows = [focus_row(), focus_row(ChargePeriodStart="2026-11-03T00:00:00+01:00")]
    harness.put_object("focus-exports", f"{DATA}/part-1.csv.gz", gzip.compress(focus_csv(rows).encode()))
    source = export_source(aws_account())

    with pytest.raises(ImportFailed) as refused:
        import_period(source, NOVEMBER, today=MID_NOVEMBER, driver=harness.driver)

    assert "line 3, ChargePeriodStart: part-1.csv.gz: " in str(refused.value)
    assert "time zone or offset instead of Z" in str(refused.value)
    assert not CostLoad.objects.filter(source=source).exists()
