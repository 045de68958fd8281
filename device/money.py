"""Money is an integer of token base units; this only formats it for people."""

from __future__ import annotations


def money(base_units: int, decimals: int = 6) -> str:
    """Base units as a decimal string with cents (integer arithmetic, no float)."""
    sign = "-" if base_units < 0 else ""
    whole, frac = divmod(abs(base_units), 10**decimals)
    cents = frac // 10 ** (decimals - 2) if decimals >= 2 else frac * 10 ** (2 - decimals)
    return f"{sign}{whole}.{cents:02d}"
