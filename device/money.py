"""Money is an integer of token base units; this only formats it for people."""

from __future__ import annotations


def money(base_units: int, decimals: int = 6) -> str:
    """Base units as a decimal string with cents (integer arithmetic, no float)."""
    sign = "-" if base_units < 0 else ""
    whole, frac = divmod(abs(base_units), 10**decimals)
    cents = frac // 10 ** (decimals - 2) if decimals >= 2 else frac * 10 ** (2 - decimals)
    return f"{sign}{whole}.{cents:02d}"


def parse_money(text: str, decimals: int = 6) -> int:
    """``"12.5"`` (a decimal amount of the token) as base units; exact, or ValueError."""
    from decimal import Decimal, InvalidOperation

    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount") from None
    base = amount.scaleb(decimals)
    if not amount.is_finite() or amount < 0 or base != base.to_integral_value():
        raise ValueError(f"{text!r} is not an amount of at most {decimals} decimals")
    return int(base)
