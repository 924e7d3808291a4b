"""Commitment utilisation and coverage on the savings page and in its CSV, from the FOCUS specification's own
commitment examples (tests/costs/focus_spec_commitments/, see its README), checked against DuckDB over the same
files."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from portal.demo import Persona
from tests.costs.focus_files import focus_csv, focus_row

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

SPEC_FILES = Path(__file__).parent / "focus_spec_commitments"
PLACEHOLDER = re.compile(r"<(my-[a-z-]+-id)>")


def app_rows() -> list[dict[str, str]]:
    """Every example's rows as a FOCUS file the portal accepts: each example's placeholder ids made its own (the
    examples all call their commitment <my-commitment-discount-id>), "null" empty, and a currency and account."""
    rows = []
    for path in sorted(SPEC_FILES.glob("*.csv")):
        for record in csv.DictReader(io.StringIO(path.read_text())):
            values = {
                key: PLACEHOLDER.sub(lambda found, stem=path.stem: f"{stem}/{found.group(1)}", value)
                for key, value in record.items()
                if value != "null"
            }
            rows.append(
                focus_row(
                    values["ChargePeriodStart"][:10],
                    values["BilledCost"],
                    **{
                        column: values.get(column, "")
                        for column in (
                            "BillingPeriodStart",
                            "ChargePeriodStart",
                            "ChargePeriodEnd",
                            "ChargeCategory",
                            "PricingCategory",
                            "ResourceId",
                            "EffectiveCost",
                            "CommitmentDiscountId",
                            "CommitmentDiscountStatus",
                        )
                    },
                    ListCost=values.get("ListCost", values["BilledCost"]),
                    BillingAccountId="focus-spec",
                )
            )
    return rows


def duckdb_expected() -> dict[str, tuple[str, str]]:
    """Per example, utilisation and coverage in percent to one decimal ('' when there is none), by DuckDB from
    the spec's files as they are: used over used plus unused (effective cost), and used over used plus the
    on-demand usage of the resources the commitment was used by."""
    query = """
        WITH rows AS (
            SELECT parse_filename(filename, true) AS example, *
            FROM read_csv($files, union_by_name = true, filename = true, nullstr = 'null',
                          all_varchar = true)
            WHERE ChargePeriodStart IS NOT NULL
        ),
        commitment AS (
            SELECT example,
                   SUM(CAST(EffectiveCost AS DECIMAL(18, 6))) FILTER (WHERE CommitmentDiscountStatus = 'Used') AS used,
                   SUM(CAST(EffectiveCost AS DECIMAL(18, 6))) FILTER (WHERE CommitmentDiscountStatus = 'Unused')
                       AS unused
            FROM rows WHERE CommitmentDiscountId IS NOT NULL GROUP BY example
        ),
        on_demand AS (
            SELECT example, SUM(CAST(EffectiveCost AS DECIMAL(18, 6))) AS amount
            FROM rows r
            WHERE CommitmentDiscountId IS NULL AND ChargeCategory = 'Usage'
              AND ResourceId IN (SELECT ResourceId FROM rows u WHERE u.example = r.example
                                 AND u.CommitmentDiscountStatus = 'Used')
            GROUP BY example
        )
        SELECT c.example,
               ROUND(100 * COALESCE(c.used, 0) / (COALESCE(c.used, 0) + COALESCE(c.unused, 0)), 1),
               CASE WHEN COALESCE(c.used, 0) > 0
                    THEN ROUND(100 * c.used / (c.used + COALESCE(o.amount, 0)), 1) END
        FROM commitment c LEFT JOIN on_demand o USING (example)
    """
    return {
        example: (
            f"{Decimal(str(utilisation)).quantize(Decimal('0.1'))}",
            "" if coverage is None else f"{Decimal(str(coverage)).quantize(Decimal('0.1'))}",
        )
        for example, utilisation, coverage in duckdb.execute(query, {"files": f"{SPEC_FILES}/*.csv"}).fetchall()
    }


def load_examples(client: Client) -> None:
    upload = SimpleUploadedFile("focus-spec.csv", focus_csv(app_rows()).encode(), content_type="text/csv")
    response = client.post(reverse("costs:upload"), {"new_source": "focus-spec", "file": upload})
    assert response.status_code == 302, response.content.decode()


def shown(page: str) -> dict[str, tuple[str, str]]:
    found = re.findall(
        r'data-commitment="([^"]+)/my-commitment-discount-id">.*?data-utilisation="([^"]*)".*?data-coverage="([^"]*)"',
        page,
        re.DOTALL,
    )
    return {example: (utilisation, coverage) for example, utilisation, coverage in found}


def test_the_savings_page_shows_each_commitments_utilisation_and_coverage_as_duckdb_computes_them(
    client_for: Callable[[Persona | None], Client],
) -> None:
    manager = client_for(Persona.MANAGER)
    load_examples(manager)

    page = manager.get(reverse("costs:savings"), {"commitments_month": "2023-01"}).content.decode()

    expected = duckdb_expected()
    assert len(expected) == 8
    assert shown(page) == expected
    # What the examples' names and the spec's appendix say of them.
    assert expected["commitment_discount_usage_scenario_3"] == ("75.0", "100.0")
    assert expected["zero_percent_utilization_without_commitment_discount_flexibility"] == ("0.0", "")
    assert expected["commitment_discount_usage_scenario_4"] == ("100.0", "66.7")


def test_the_savings_csv_lists_the_commitments_of_the_month(
    client_for: Callable[[Persona | None], Client],
) -> None:
    manager = client_for(Persona.MANAGER)
    load_examples(manager)

    response = manager.get(reverse("costs:savings_export"), {"part": "commitments", "commitments_month": "2023-01"})

    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    by_example = {
        row["commitment_discount_id"].split("/")[0]: (row["utilisation_percent"], row["coverage_percent"])
        for row in rows
    }
    assert by_example == duckdb_expected()
    scenario_3 = next(
        row for row in rows if row["commitment_discount_id"].startswith("commitment_discount_usage_scenario_3")
    )
    assert (Decimal(scenario_3["used"]), Decimal(scenario_3["purchased"])) == (Decimal("0.75"), Decimal(1))


def test_a_month_that_is_not_one_is_explained_and_other_months_show_no_commitment(
    client_for: Callable[[Persona | None], Client],
) -> None:
    manager = client_for(Persona.MANAGER)
    load_examples(manager)

    bad = manager.get(reverse("costs:savings"), {"commitments_month": "January"})
    other = manager.get(reverse("costs:savings"), {"commitments_month": "2023-02"}).content.decode()
    bad_csv = manager.get(reverse("costs:savings_export"), {"part": "commitments", "commitments_month": "13/2023"})

    assert bad.status_code == 200
    assert "Give a month such as 2026-06." in bad.content.decode()
    assert "No commitment discount in the bill of February 2023." in other
    assert bad_csv.status_code == 400
    assert "Give a month such as 2026-06." in bad_csv.content.decode()


def test_people_limited_to_a_team_see_no_commitment_of_the_organisation(
    client_for: Callable[[Persona | None], Client],
) -> None:
    load_examples(client_for(Persona.MANAGER))
    developer = client_for(Persona.DEVELOPER)

    page = developer.get(reverse("costs:savings"), {"commitments_month": "2023-01"}).content.decode()
    export = developer.get(reverse("costs:savings_export"), {"part": "commitments", "commitments_month": "2023-01"})

    assert 'data-section="commitments"' not in page
    assert "my-commitment-discount-id" not in page
    assert export.status_code == 403
