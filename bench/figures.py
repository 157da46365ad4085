"""Latency summaries and the printed table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Latency:
    """Latencies in milliseconds, by nearest rank."""

    count: int
    p50: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        if not seconds:
            return cls(0, math.nan, math.nan, math.nan)
        ordered = sorted(s * 1000 for s in seconds)
        return cls(len(ordered), _rank(ordered, 0.50), _rank(ordered, 0.99), ordered[-1])


def _rank(ordered: list[float], quantile: float) -> float:
    index = max(math.ceil(quantile * len(ordered)) - 1, 0)
    return ordered[index]


@dataclass(frozen=True)
class Row:
    figure: str
    bot: str
    floor: str = ""
    target: str = ""
    verdict: str = ""  # "met", "missed" or "" when there is no target


def ms(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def ratio(bot: float, floor: float) -> str:
    if math.isnan(bot) or math.isnan(floor) or floor <= 0:
        return "n/a"
    return f"{bot / floor:.1f}x"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def markdown_table(rows: Sequence[Row]) -> str:
    lines = [
        "| figure | bot | floor (same run) | target | |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines.extend(f"| {r.figure} | {r.bot} | {r.floor} | {r.target} | {r.verdict} |" for r in rows)
    return "\n".join(lines)
