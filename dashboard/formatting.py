"""Money and time as owners read them: integer base units to decimal text, unix to UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def money(amount: int, decimals: int = 6, places: int = 2) -> str:
    """``1234567`` (6 decimals) -> ``"1.23"``; exact integer arithmetic, rounds half away."""
    sign = "-" if amount < 0 else ""
    value = abs(amount)
    places = min(places, decimals)
    step = 10 ** (decimals - places)
    rounded = (value + step // 2) // step if step > 1 else value
    whole, frac = divmod(rounded, 10**places)
    text = f"{whole:,}" if places == 0 else f"{whole:,}.{frac:0{places}d}"
    return sign + text


def utc(ts: int | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def short_hex(value: str | None, keep: int = 6) -> str:
    if not value:
        return "—"
    return value if len(value) <= 2 + 2 * keep else f"{value[: 2 + keep]}…{value[-keep:]}"
