"""Usage, cost and budgets: what a run spent, per step and per model, and when to stop.

What one task spent is metered by the workflow executor (`engine/workflow/_meter.py`).
Cost comes from an optional price table in
US dollars per million tokens: `{"gpt-4o-mini": (0.15, 0.60)}` (input, output).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from fanflow.adapters import Usage

__all__ = ["Budget", "Prices", "UsageTotals", "cost_of", "dollars"]

Prices = Mapping[str, tuple[float, float]]
_PER_MILLION = 1_000_000


def cost_of(usage: Usage, model: str | None, prices: Prices | None) -> float:
    """Dollars for `usage` on `model`; 0.0 when the model has no price."""
    if not prices or model is None or model not in prices:
        return 0.0
    per_input, per_output = prices[model]
    return (usage.prompt_tokens * per_input + usage.completion_tokens * per_output) / _PER_MILLION


def dollars(amount: float) -> str:
    """`amount` in plain decimals with two significant digits at least: a run that spent
    $0.000033 must not read "$0.0000"; cents stay cents ("1.50")."""
    if amount <= 0 or not math.isfinite(amount):
        return f"{amount:.2f}"
    decimals = max(2, 1 - math.floor(math.log10(amount)))
    return f"{amount:.{decimals}f}".rstrip("0").rstrip(".") if decimals > 2 else f"{amount:.2f}"


@dataclass(slots=True)
class UsageTotals:
    """Summed usage of a group of tasks (a step, a model, or the run).

    `estimated` counts the tasks whose tokens were (partly) estimated because their
    endpoint did not report them all.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    cost: float = 0.0
    estimated: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, usage: Usage, requests: int, cost: float) -> None:
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.requests += requests
        self.cost += cost
        if usage.estimated:
            self.estimated += 1


@dataclass(slots=True)
class Budget:
    """Stops dispatching once the run's cost or tokens reach a limit."""

    max_cost: float | None = None
    max_tokens_total: int | None = None
    spent: UsageTotals = field(default_factory=UsageTotals)

    def charge(self, usage: Usage, requests: int, cost: float) -> str | None:
        """Add one task's spending; the reason to stop, if a limit is now reached."""
        self.spent.add(usage, requests, cost)
        if self.max_cost is not None and self.spent.cost >= self.max_cost:
            return f"max_cost ${dollars(self.max_cost)} reached (spent ${dollars(self.spent.cost)})"
        total = self.spent.total_tokens
        if self.max_tokens_total is not None and total >= self.max_tokens_total:
            return f"max_tokens_total {self.max_tokens_total} reached (spent {total} tokens)"
        return None
