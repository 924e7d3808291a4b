"""Monthly estimates: quota hours times prices plus add-ons, line by line, in Decimal money."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from costs.choices import PriceUnit
from costs.prices import PriceBook, PriceMissing
from costs.selectors import price_book
from environments.estimates import EstimateError, estimates_by_size, monthly_estimate
from regions.choices import Provider, ResourceKind
from tests.environments.factories import price, template

K = ResourceKind
DAY = date(2026, 7, 1)


def book(*rows: object, region_code: str = "eu-west-1") -> PriceBook:
    return PriceBook(rows, provider=Provider.AWS, region_code=region_code, at=DAY)  # type: ignore[arg-type]


COMPUTE = [price(K.CPU, "0.0336", save=False), price(K.MEMORY, "0.0042", save=False)]


def test_cpu_and_memory_requests_of_every_namespace_are_billed_for_730_hours() -> None:
    # Two namespaces, each requesting 2 vCPU and 4 GiB at small (x1).
    estimate = monthly_estimate(template(), size="S", prices=book(*COMPUTE))

    cpu, memory = estimate.lines
    assert (cpu.label, cpu.quantity, cpu.unit, cpu.unit_price, cpu.amount) == (
        "CPU",
        Decimal(2920),  # 2 vCPU x 2 namespaces x 730 h
        PriceUnit.VCPU_HOUR,
        Decimal("0.0336"),
        Decimal("98.11"),  # 98.112
    )
    assert (memory.quantity, memory.amount) == (Decimal(5840), Decimal("24.53"))  # 24.528
    assert estimate.total == Decimal("122.64")
    assert estimate.currency == "USD"
    assert cpu.detail.replace("\N{MULTIPLICATION SIGN}", "x") == "2 vCPU requested x 2 namespaces x 1 (small) x 730 h"


def test_a_larger_size_multiplies_the_quota_and_the_total_is_the_sum_of_rounded_lines() -> None:
    estimate = monthly_estimate(template(), size="M", prices=book(*COMPUTE))

    assert [line.amount for line in estimate.lines] == [Decimal("196.22"), Decimal("49.06")]  # 196.224, 49.056
    assert estimate.total == Decimal("245.28")


def test_gpus_storage_and_add_ons_each_get_a_line() -> None:
    full = template(
        quota_gpus=1,
        quota_storage="10Gi",
        postgresql_size="small",
        redis_size="medium",
        bucket_size_gb=100,
    )
    prices = book(
        *COMPUTE,
        price(K.GPU, "1.006", save=False),
        price(K.STORAGE, "0.08", save=False),
        price(K.POSTGRESQL, "0.072", size="small", save=False),
        price(K.REDIS, "100", size="medium", unit=PriceUnit.MONTH, save=False),
        price(K.BUCKET, "0.023", save=False),
    )

    estimate = monthly_estimate(full, size="S", prices=prices)

    assert [(line.label, line.quantity, line.amount) for line in estimate.lines] == [
        ("CPU", Decimal(2920), Decimal("98.11")),
        ("Memory", Decimal(5840), Decimal("24.53")),
        ("GPU", Decimal(1460), Decimal("1468.76")),  # 1 GPU x 2 namespaces x 730 h
        ("Block storage", Decimal(20), Decimal("1.60")),  # 10 GiB x 2 namespaces, per month
        ("Managed PostgreSQL (small)", Decimal(730), Decimal("52.56")),  # priced per hour
        ("Managed Redis (medium)", Decimal(1), Decimal("100.00")),  # priced per month
        ("Object storage (bucket)", Decimal(100), Decimal("2.30")),
    ]
    assert estimate.total == Decimal("1747.86")


def test_add_ons_keep_their_own_size_whatever_the_environments_size() -> None:
    with_database = template(postgresql_size="small")
    prices = book(*COMPUTE, price(K.POSTGRESQL, "0.072", size="small", save=False))

    comparison = estimates_by_size(with_database, prices=prices)

    assert [estimate.lines[-1].amount for estimate in comparison.sizes] == [Decimal("52.56")] * 3
    assert [estimate.total for estimate in comparison.sizes] == [
        Decimal("175.20"),  # 122.64 + 52.56
        Decimal("297.84"),  # 245.28 + 52.56
        Decimal("543.12"),  # 490.56 + 52.56
    ]


def test_every_missing_price_is_named_at_once_and_nothing_is_priced_at_zero() -> None:
    with_database = template(postgresql_size="small")

    with pytest.raises(PriceMissing) as missing:
        monthly_estimate(with_database, size="S", prices=book(price(K.CPU, "0.0336", save=False)))

    assert str(missing.value) == (
        "The price table has no price on 2026-07-01 for Memory on AWS in eu-west-1; "
        "Managed PostgreSQL (small) on AWS in eu-west-1. "
        "Add the missing price (for the region or for any region of the provider) to the price table."
    )


def test_prices_in_different_currencies_are_not_added_up() -> None:
    prices = book(price(K.CPU, "0.03", save=False), price(K.MEMORY, "0.004", currency="EUR", save=False))

    with pytest.raises(EstimateError, match=r"different currencies \(CPU in USD; Memory in EUR\)"):
        monthly_estimate(template(), size="S", prices=prices)


@pytest.mark.django_db
def test_the_estimate_uses_the_regional_price_from_the_price_table() -> None:
    price(K.CPU, "0.0336")
    price(K.CPU, "0.0420", region_code="ap-southeast-2")
    price(K.MEMORY, "0.0042")

    sydney = monthly_estimate(
        template(), size="S", prices=price_book(provider=Provider.AWS, region="ap-southeast-2", at=DAY)
    )

    assert sydney.lines[0].unit_price == Decimal("0.0420")
    assert sydney.lines[0].amount == Decimal("122.64")  # 2920 x 0.042
