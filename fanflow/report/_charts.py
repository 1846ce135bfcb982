"""The report's charts, drawn with matplotlib and embedded as inline SVG.

matplotlib is imported here only (the `report` extra). Figures are made with
`matplotlib.figure.Figure` and an SVG canvas of their own, never pyplot, so the user's
backend and open figures are untouched; the few rc settings the SVG needs (text as text,
stable ids) are set for the time of one `savefig` only (`rc_context` restores them).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from fanflow._exceptions import ConfigurationError
from fanflow.report._stats import StepFigures

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["latency_histogram", "requests_over_time"]

SIZE = (7.5, 3.0)  # inches
BINS = 30
_SVG_SETTINGS: dict[str, Any] = {"svg.fonttype": "none", "svg.hashsalt": "fanflow"}


def requests_over_time(steps: Sequence[StepFigures]) -> str | None:
    """Requests sent per time bucket since the run's first task, one line per step; None
    when no task was timed."""
    timed = [step for step in steps if step.request_times]
    if not timed:
        return None
    start = min(step.first_queued or min(t for t, _ in step.request_times) for step in timed)
    end = max(t for step in timed for t, _ in step.request_times)
    span = max(end - start, 1e-3)
    figure, axes = _figure()
    edges = [start + span * i / BINS for i in range(BINS + 1)]
    for step in timed:
        counts, _ = _histogram([t for t, _ in step.request_times], edges,
                               [n for _, n in step.request_times])  # fmt: skip
        middles = [(a + b) / 2 - start for a, b in pairwise(edges)]
        axes.plot(middles, counts, marker=".", label=step.name)
    axes.set_xlabel("seconds since the run started")
    axes.set_ylabel(f"requests per {span / BINS:.3g} s")
    axes.legend(loc="upper right", fontsize=8)
    return _svg(figure)


def latency_histogram(groups: dict[str, list[float]], what: str) -> str | None:
    """One histogram of request latency per group (step or model); None without data."""
    groups = {name: values for name, values in groups.items() if values}
    if not groups:
        return None
    low = min(min(values) for values in groups.values())
    high = max(max(values) for values in groups.values())
    high = max(high, low + 1e-3)
    shared = [low + (high - low) * i / BINS for i in range(BINS + 1)]  # one scale for all
    figure, axes = _figure()
    for name, values in groups.items():
        axes.hist(values, bins=shared, alpha=0.55, label=f"{what} {name}")
    axes.set_xlabel("request latency (s)")
    axes.set_ylabel("requests")
    axes.legend(loc="upper right", fontsize=8)
    return _svg(figure)


def _histogram(
    values: list[float], edges: list[float], weights: list[int]
) -> tuple[list[float], list[float]]:
    import numpy as np  # matplotlib's own dependency

    counts, bins = np.histogram(values, bins=edges, weights=weights)
    return [float(c) for c in counts], [float(b) for b in bins]


def _figure() -> tuple[Figure, Any]:
    try:
        from matplotlib.backends.backend_svg import FigureCanvasSVG
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ConfigurationError(
            "the run report draws its charts with matplotlib, which is not installed; "
            "install it with `pip install 'fanflow[report]'`"
        ) from exc
    figure = Figure(figsize=SIZE, layout="constrained")
    FigureCanvasSVG(figure)  # this figure's own canvas: no global backend involved
    return figure, figure.add_subplot()


def _svg(figure: Figure) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context(_SVG_SETTINGS):  # type: ignore[arg-type]
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    # inline in HTML: no XML declaration or DOCTYPE (whose URL a page need not carry)
    return re.sub(r"^.*?(?=<svg)", "", text, count=1, flags=re.DOTALL)
