"""The price table: which price applies (region over generic, latest start date), and what a row may say."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from costs.choices import PriceUnit
from costs.prices import PriceBook, PriceMissing
from costs.selectors import price_book, price_for
from regions.choices import Provider, ResourceKind
from tests.environments.factories import price

pytestmark = pytest.mark.django_db

CPU = ResourceKind.CPU


def test_a_regional_price_wins_over_the_providers_price_for_any_region() -> None:
    price(CPU, "0.0336")
    price(CPU, "0.0420", region_code="ap-southeast-2")

    assert price_for(Provider.AWS, "ap-southeast-2", CPU).price == Decimal("0.0420")
    assert price_for(Provider.AWS, "eu-west-1", CPU).price == Decimal("0.0336")


def test_the_latest_price_in_force_on_the_day_applies_and_a_future_one_does_not_yet() -> None:
    price(CPU, "0.03", effective_from=date(2026, 1, 1))
    price(CPU, "0.04", effective_from=date(2026, 6, 1))
    price(CPU, "0.05", effective_from=date(2027, 1, 1))

    assert price_for(Provider.AWS, "eu-west-1", CPU, at=date(2026, 3, 1)).price == Decimal("0.03")
    assert price_for(Provider.AWS, "eu-west-1", CPU, at=date(2026, 6, 1)).price == Decimal("0.04")
    assert price_for(Provider.AWS, "eu-west-1", CPU, at=date(2026, 12, 31)).price == Decimal("0.04")


def test_a_regional_price_wins_even_over_a_newer_generic_one() -> None:
    price(CPU, "0.042", region_code="ap-southeast-2", effective_from=date(2026, 1, 1))
    price(CPU, "0.030", effective_from=date(2026, 6, 1))

    assert price_for(Provider.AWS, "ap-southeast-2", CPU, at=date(2026, 7, 1)).price == Decimal("0.042")


def test_a_regional_price_not_yet_in_force_leaves_the_generic_one() -> None:
    price(CPU, "0.030")
    price(CPU, "0.042", region_code="ap-southeast-2", effective_from=date(2027, 1, 1))

    assert price_for(Provider.AWS, "ap-southeast-2", CPU, at=date(2026, 7, 1)).price == Decimal("0.030")


def test_a_moment_is_read_as_its_day_in_the_portals_time_zone() -> None:
    price(CPU, "0.03", effective_from=date(2026, 1, 1))
    price(CPU, "0.04", effective_from=date(2026, 6, 1))
    late_on_the_last_day = datetime(2026, 5, 31, 21, 0, tzinfo=ZoneInfo("UTC"))

    assert price_for(Provider.AWS, "eu-west-1", CPU, at=late_on_the_last_day).price == Decimal("0.03")


def test_prices_of_another_provider_never_apply() -> None:
    price(CPU, "0.035", provider=Provider.AZURE)

    with pytest.raises(PriceMissing) as missing:
        price_for(Provider.AWS, "eu-west-1", CPU, at=date(2026, 7, 1))

    assert str(missing.value) == (
        "The price table has no price on 2026-07-01 for CPU on AWS in eu-west-1. "
        "Add the missing price (for the region or for any region of the provider) to the price table."
    )


def test_a_missing_sized_price_names_its_size() -> None:
    price(ResourceKind.POSTGRESQL, "0.07", size="small")

    with pytest.raises(PriceMissing, match=r"Managed PostgreSQL \(large\) on AWS in eu-west-1"):
        price_for(Provider.AWS, "eu-west-1", ResourceKind.POSTGRESQL, size="large", at=date(2026, 7, 1))


def test_the_price_book_reads_every_price_of_a_region_in_one_query(
    django_assert_num_queries: object,
) -> None:
    price(CPU, "0.03")
    price(ResourceKind.MEMORY, "0.004")

    with django_assert_num_queries(1):  # type: ignore[operator]
        book = price_book(provider=Provider.AWS, region="eu-west-1", at=date(2026, 7, 1))
        assert book.get(CPU).price == Decimal("0.03")
        assert book.get(ResourceKind.MEMORY).price == Decimal("0.004")


def test_the_rules_need_no_database() -> None:
    rows = [
        price(CPU, "1", save=False),
        price(CPU, "2", region_code="eu-west-1", save=False),
        price(CPU, "3", region_code="eu-central-1", save=False),
    ]

    book = PriceBook(rows, provider=Provider.AWS, region_code="eu-central-1", at=date(2026, 2, 1))

    assert book.get(CPU).price == Decimal(3)


# --- what a row may say ----------------------------------------------------------------


def errors_of(item: object) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as invalid:
        item.full_clean()  # type: ignore[attr-defined]
    return invalid.value.message_dict


def test_a_price_must_be_in_its_kinds_unit() -> None:
    errors = errors_of(price(CPU, "0.03", unit=PriceUnit.GIB_MONTH, save=False))

    assert errors["unit"] == ["CPU is priced per vCPU-hour."]


def test_a_database_is_priced_per_size() -> None:
    errors = errors_of(price(ResourceKind.POSTGRESQL, "0.07", save=False))

    assert errors["size"] == ["Managed PostgreSQL is priced per size: choose small, medium or large."]


def test_cpu_has_no_sizes() -> None:
    errors = errors_of(price(CPU, "0.03", size="small", save=False))

    assert errors["size"] == ["CPU has no sizes; leave the size empty."]


def test_a_cloud_region_must_be_one_the_portal_knows() -> None:
    errors = errors_of(price(CPU, "0.03", region_code="eu-nowhere-9", save=False))

    assert errors["region_code"] == ["The portal knows no AWS region called 'eu-nowhere-9'."]


def test_a_price_cannot_be_negative() -> None:
    errors = errors_of(price(CPU, "-0.01", save=False))

    assert errors["price"] == ["Ensure this value is greater than or equal to 0."]


def test_a_currency_is_an_iso_code() -> None:
    errors = errors_of(price(CPU, "0.03", currency="usd", save=False))

    assert errors["currency"] == ["Use a three-letter ISO 4217 currency code such as USD or EUR."]


def test_two_prices_for_the_same_thing_from_the_same_day_are_refused() -> None:
    price(CPU, "0.03")

    errors = errors_of(price(CPU, "0.04", save=False))

    assert errors["__all__"] == [
        "There is already a price for this provider, region, kind and size from that date; "
        "change that row or pick another date."
    ]
