"""Numbers written the Dutch way, for reports that go back to sources."""

from __future__ import annotations


def thousands(number: int) -> str:
    """1234567 -> "1.234.567"."""
    return f"{number:,}".replace(",", ".")


def percent(share: float) -> str:
    """0.0512 -> "5,12%", 0.05 -> "5%": at most two decimals, no trailing zeros."""
    text = f"{100 * share:.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") + "%"
