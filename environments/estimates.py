"""The monthly cost estimate of an environment: a template at a size, with one provider and region.

Pure: it reads the template's fields and a :class:`costs.prices.PriceBook`
(prices already read for the provider, region and date), and touches no
database, so the request form, the template page and tests all compute it
the same way.

What is billed, per month (730 hours):

- the quota's CPU and memory *requests* of every namespace, times the size's
  multiplier: what the environment may reserve on the cluster's nodes (limits
  are bursts above that, not capacity set aside);
- its GPUs (whole GPUs, rounded up after the multiplier) and persistent
  storage, likewise;
- the managed add-ons at their own size (PostgreSQL, Redis) and the bucket's
  expected GiB; add-ons do not scale with the environment's size.

The ingress goes through the cluster's shared NGINX controller, so no load
balancer is billed per environment. Every line is rounded to the cent; the
total is the sum of the lines. A missing price raises
:class:`costs.prices.PriceMissing` naming every price that is missing, never
a silent zero; prices in several currencies raise :class:`EstimateError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from costs.choices import HOURLY_UNITS, HOURS_PER_MONTH, PriceUnit
from costs.models import PriceItem
from costs.prices import PriceBook, PriceKey, PriceMissing
from environments.choices import Size
from environments.models import GIB, EnvironmentTemplate, cpu_quantity, memory_quantity
from portal import numbers
from regions.choices import ResourceKind

CENT = Decimal("0.01")
TIMES = "\N{MULTIPLICATION SIGN}"


class EstimateError(ValueError):
    """The estimate cannot be computed (other than a missing price); the message says why."""


@dataclass(frozen=True)
class EstimateLine:
    """One line of the breakdown: what, how much of it in the price's unit, at what unit price."""

    kind: str
    label: str
    detail: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal

    @property
    def unit_label(self) -> str:
        return PriceUnit(self.unit).label

    @property
    def quantity_text(self) -> str:
        return number_text(self.quantity)

    @property
    def unit_price_text(self) -> str:
        return number_text(self.unit_price)


@dataclass(frozen=True)
class Estimate:
    """The monthly estimate, line by line, with its total in one currency."""

    template: str
    size: str
    provider: str
    region_code: str
    lines: tuple[EstimateLine, ...]
    total: Decimal
    currency: str


@dataclass(frozen=True)
class _Need:
    """A resource to bill: the price to look up and how much of it a month holds, before the unit."""

    kind: str
    size: str
    count: Decimal
    detail: str


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def number_text(value: Decimal) -> str:
    """A quantity or unit price for people: no trailing zeros or exponent, grouped in the locale (0.043, 2,920)."""
    return numbers.number(value.normalize())


def needs(template: EnvironmentTemplate, size: str) -> list[_Need]:
    """What an environment from ``template`` at ``size`` uses in a month, before prices."""
    factor = template.multiplier(size)
    spaces = len(template.namespaces)
    per = f"{_plural(spaces, 'namespace')} {TIMES} {number_text(factor)} ({Size(size).label.lower()})"
    cores = cpu_quantity(template.quota_requests_cpu)
    memory = memory_quantity(template.quota_requests_memory) / GIB
    result = [
        _Need(ResourceKind.CPU, "", cores * factor * spaces, f"{number_text(cores)} vCPU requested {TIMES} {per}"),
        _Need(ResourceKind.MEMORY, "", memory * factor * spaces, f"{number_text(memory)} GiB requested {TIMES} {per}"),
    ]
    if template.quota_gpus:
        gpus = template.gpus_for(size)
        result.append(
            _Need(
                ResourceKind.GPU,
                "",
                Decimal(gpus * spaces),
                f"{_plural(gpus, 'GPU')} {TIMES} {_plural(spaces, 'namespace')}",
            )
        )
    if template.quota_storage:
        storage = memory_quantity(template.quota_storage) / GIB
        result.append(
            _Need(ResourceKind.STORAGE, "", storage * factor * spaces, f"{number_text(storage)} GiB {TIMES} {per}")
        )
    if template.postgresql_size:
        result.append(_Need(ResourceKind.POSTGRESQL, template.postgresql_size, Decimal(1), "one database"))
    if template.redis_size:
        result.append(_Need(ResourceKind.REDIS, template.redis_size, Decimal(1), "one cache"))
    if template.bucket_size_gb:
        result.append(
            _Need(ResourceKind.BUCKET, "", Decimal(template.bucket_size_gb), f"{template.bucket_size_gb} GiB expected")
        )
    return result


def _line(need: _Need, price: PriceItem) -> EstimateLine:
    hourly = price.unit in HOURLY_UNITS
    quantity = need.count * HOURS_PER_MONTH if hourly else need.count
    detail = f"{need.detail} {TIMES} {HOURS_PER_MONTH} h" if hourly else need.detail
    return EstimateLine(
        kind=need.kind,
        label=price.label,
        detail=detail,
        quantity=quantity,
        unit=price.unit,
        unit_price=price.price,
        amount=(quantity * price.price).quantize(CENT, rounding=ROUND_HALF_UP),
    )


def monthly_estimate(template: EnvironmentTemplate, *, size: str, prices: PriceBook) -> Estimate:
    """The monthly estimate of ``template`` at ``size`` with the prices of one provider and region."""
    found: list[tuple[_Need, PriceItem]] = []
    missing: list[PriceKey] = []
    for need in needs(template, size):
        price = prices.find(need.kind, need.size)
        if price is None:
            missing.append(prices.key(need.kind, need.size))
        else:
            found.append((need, price))
    if missing:
        raise PriceMissing(missing, prices.at)
    currencies = sorted({price.currency for _, price in found})
    if len(currencies) > 1:
        listed = "; ".join(f"{price.label} in {price.currency}" for _, price in found)
        raise EstimateError(
            f"The prices for this estimate are in different currencies ({listed}); "
            "give them in one currency to add them up."
        )
    lines = tuple(_line(need, price) for need, price in found)
    return Estimate(
        template=template.name,
        size=size,
        provider=prices.provider,
        region_code=prices.region_code,
        lines=lines,
        total=sum((line.amount for line in lines), Decimal("0.00")),
        currency=currencies[0],
    )


@dataclass(frozen=True)
class SizeComparison:
    """A template's estimate at every size, for one provider and region, lined up by kind."""

    sizes: tuple[Estimate, ...]

    @property
    def currency(self) -> str:
        return self.sizes[0].currency

    @property
    def rows(self) -> list[tuple[str, list[EstimateLine]]]:
        """(label, the line at each size) for every line of the estimate."""
        return [
            (line.label, [estimate.lines[index] for estimate in self.sizes])
            for index, line in enumerate(self.sizes[0].lines)
        ]


def estimates_by_size(template: EnvironmentTemplate, *, prices: PriceBook) -> SizeComparison:
    """The estimate at small, medium and large; every size needs the same prices, so they fail together."""
    return SizeComparison(tuple(monthly_estimate(template, size=size, prices=prices) for size in Size.values))
