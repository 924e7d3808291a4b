"""Numbers as people read them: in the portal's locale, thousands grouped, the same on every page.

``settings.LANGUAGE_CODE`` (``PORTAL_LANGUAGE_CODE``) picks the separators: 1,234,567.89 in en-gb, 1.234.567,89 in de.
Grouping is asked for per value rather than switched on for the whole site (``USE_THOUSAND_SEPARATOR``), which would
also group the ids in links, the years and the ports. Machines get raw numbers: JSON, CSV and the API never come here.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils import formats

# What a page shows for a number it does not have.
NONE = "-"
CENT = Decimal("0.01")


def number(value: object, places: int | None = None) -> str:
    """``value`` grouped in the portal's locale, with ``places`` decimals when given (rounded half up, as floatformat).

    Without ``places`` an integer stays whole and a decimal keeps the digits it carries (12.5 stays 12.5, 100.0 stays
    100.0). None is a dash; text that is no number comes back as it is.
    """
    if value is None:
        return NONE
    amount = _decimal(value)
    if amount is None:
        return str(value)
    if places is not None:
        amount = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return _grouped(amount, places)


def money(value: object) -> str:
    """An amount to the cent, rounded half to even as the cost store's sums are, grouped in the portal's locale.

    None is a dash; an amount that rounds to nothing is "0.00", never "-0.00".
    """
    if value is None:
        return NONE
    amount = _decimal(value)
    if amount is None:
        return str(value)
    return _grouped(amount.quantize(CENT, rounding=ROUND_HALF_EVEN), 2)


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    try:
        found = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return found if found.is_finite() else None


def _grouped(amount: Decimal, places: int | None) -> str:
    if not amount:
        amount = abs(amount)  # no "-0.00"
    return formats.number_format(amount, decimal_pos=places, use_l10n=True, force_grouping=True)
