"""Money is an integer of token base units; this only formats it for people."""

from __future__ import annotations


def money(base_units: int, decimals: int = 6, *, exact: bool = False) -> str:
    """Base units as a decimal string with cents (integer arithmetic, no float); ``exact``
    keeps the digits beyond the cents that an amount to be paid has."""
    sign = "-" if base_units < 0 else ""
    whole, frac = divmod(abs(base_units), 10**decimals)
    if exact and decimals > 2 and frac % 10 ** (decimals - 2):
        return f"{sign}{whole}.{f'{frac:0{decimals}d}'.rstrip('0')}"
    cents = frac // 10 ** (decimals - 2) if decimals >= 2 else frac * 10 ** (2 - decimals)
    return f"{sign}{whole}.{cents:02d}"


MAX_UINT256 = 2**256 - 1


def parse_money(text: str, decimals: int = 6) -> int:
    """``"12.5"`` (a decimal amount of the token) as base units; exact, or ValueError.

    Only ASCII digits with an optional fraction: no exponents, signs, underscores or
    other scripts' digits, and nothing a uint256 cannot hold.
    """
    import re

    stripped = text.strip()
    match = re.fullmatch(r"([0-9]+)(?:\.([0-9]+))?", stripped)
    if match is None:
        raise ValueError(f"{text!r} is not an amount (digits, optionally a decimal point)")
    whole: str = match.group(1)
    frac: str = (match.group(2) or "").rstrip("0")
    if len(frac) > decimals:
        raise ValueError(f"{text!r} is not an amount of at most {decimals} decimals")
    base: int = int(whole) * 10**decimals + (int(frac.ljust(decimals, "0")) if frac else 0)
    if base > MAX_UINT256:
        raise ValueError(f"{text!r} is more than a token amount can hold")
    return base
