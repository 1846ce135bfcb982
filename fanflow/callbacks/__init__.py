"""How one step's results become the next step's inputs (Scatter, Broadcast, Aggregate)."""

from __future__ import annotations

__all__: list[str] = []
