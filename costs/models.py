"""The portal's one price table.

Environment estimates read it now; region plans and on-prem rate cards will
read the same rows (issue 5). Prices are list prices, kept per provider,
optionally per region, with the date from which each applies, so a change is
a new row and old estimates can be explained.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from access.scoping import scoped
from costs.choices import SIZED_KINDS, UNITS_BY_KIND, AddonSize, PriceUnit, ResourceKind
from regions import catalogue
from regions.choices import Provider

currency_code = RegexValidator(r"^[A-Z]{3}$", "Use a three-letter ISO 4217 currency code such as USD or EUR.")
region_code = RegexValidator(
    r"^[a-z0-9]([-a-z0-9]{0,62}[a-z0-9])?$",
    "Use the provider's region code, e.g. eu-west-1 or westeurope (lower-case letters, digits and hyphens).",
)


@scoped("costs")
class PriceItem(models.Model):
    """One price: what a provider charges for a kind of resource, from a date on.

    ``region_code`` empty means "any region of this provider"; a row for a
    region wins over it (see :func:`costs.selectors.price_book`). Prices are
    Decimal money in ``currency``, never floats.
    """

    provider = models.CharField(max_length=16, choices=Provider.choices)
    region_code = models.CharField(
        "region",
        max_length=64,
        blank=True,
        validators=[region_code],
        help_text="The provider's region code; leave empty for the price in every region of this provider.",
    )
    kind = models.CharField(max_length=16, choices=ResourceKind.choices)
    size = models.CharField(
        max_length=8,
        choices=AddonSize.choices,
        blank=True,
        help_text="Managed PostgreSQL and Redis are priced per size; other kinds have none.",
    )
    unit = models.CharField(max_length=16, choices=PriceUnit.choices)
    price = models.DecimalField(max_digits=14, decimal_places=6, validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, default="USD", validators=[currency_code])
    effective_from = models.DateField(default=timezone.localdate, help_text="The first day this price applies.")
    note = models.CharField(max_length=200, blank=True, help_text="Where the price comes from, e.g. the list price.")

    class Meta:
        ordering = ["provider", "kind", "size", "region_code", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "region_code", "kind", "size", "effective_from"],
                name="unique_price_per_start_date",
                violation_error_message="There is already a price for this provider, region, kind and size "
                "from that date; change that row or pick another date.",
            ),
            models.CheckConstraint(
                condition=models.Q(price__gte=0), name="price_not_negative", violation_error_message="A price is ≥ 0."
            ),
        ]

    def __str__(self) -> str:
        where = self.region_code or "any region"
        size = f" ({self.get_size_display().lower()})" if self.size else ""
        return f"{self.get_provider_display()} {where}: {self.get_kind_display()}{size}"

    @property
    def label(self) -> str:
        """The kind and size in words, e.g. "Managed PostgreSQL (medium)"."""
        return self.get_kind_display() + (f" ({self.get_size_display().lower()})" if self.size else "")

    @property
    def price_text(self) -> str:
        """The price without trailing zeros or exponent (0.043, 100)."""
        return f"{self.price.normalize():f}" if self.price is not None else ""

    def clean(self) -> None:
        errors: dict[str, str] = {}
        # clean() also runs after clean_fields() found an unknown choice, hence .get().
        units = UNITS_BY_KIND.get(self.kind)
        if units is not None and self.unit and self.unit not in units:
            allowed = " or ".join(sorted(PriceUnit(unit).label for unit in units))
            errors["unit"] = f"{self.get_kind_display()} is priced {allowed}."
        if self.kind in SIZED_KINDS and not self.size:
            errors["size"] = f"{self.get_kind_display()} is priced per size: choose small, medium or large."
        elif self.kind and self.kind not in SIZED_KINDS and self.size:
            errors["size"] = f"{self.get_kind_display()} has no sizes; leave the size empty."
        if (
            self.region_code
            and self.provider in (Provider.AWS, Provider.AZURE)
            and catalogue.residency_zone_of(self.provider, self.region_code) is None
        ):
            errors["region_code"] = (
                f"{self.region_code!r} is not a {self.get_provider_display()} region the portal knows."
            )
        if errors:
            raise ValidationError(errors)
