"""The pipeline as a graph: what `<<`, lists, `Route` and `connect` declare.

Representation. Steps are nodes, numbered in a topological order (the order they were
added, moved only where `connect` demands it), so a step's index is above its parents'
and the dispatcher's "deeper steps first" (highest index first) still finishes rows
early. Edges go parent -> child. A step with one parent is an ordinary step: its tasks'
lineage is its parent task's lineage plus the index of the input the parent's callback
made. A step with several parents is a *join*: one task per *upstream task*, i.e. per
input made by the join's *fork* (the nearest step that every parent descends from, or is),
keyed by that input's lineage, which is also the join task's lineage. The steps between
the fork and the join (the *region*) must give one input per result, so each of them
reaches the join at most once per key; a region task that fails, gives nothing or is
routed away tells the join that this parent will not come (`_joins.py` keeps the state).
A step with no children is a *leaf*; several leaves make `result.subsets`.

A straight chain is the graph where every step has the next one as its only child: its
plans say so in `StepPlan.next`, and the dispatcher's hot path is unchanged for it.

`Route([B, C], pick=1, seed=0)` (or `by=fn`) in a chain is a set of branches where each
input goes to some of them only: the choice depends on the seed and the input's lineage,
so a resumed run routes the same way.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fanflow._exceptions import ConfigurationError
from fanflow._values import Lineage, TaskResult
from fanflow.steps import StepTemplate

__all__ = ["Route", "StepGraph", "Topology"]

Chooser = Callable[[TaskResult], "str | Sequence[str]"]


class Route:
    """Branches of which each input goes to some only: `Route([B(), C()], pick=1, seed=0)`
    picks `pick` of them at random, reproducibly (seed and the input's lineage);
    `Route(steps, by=fn)` calls `fn(result)`, which names one branch or a list of them."""

    def __init__(
        self,
        steps: Sequence[StepTemplate],
        pick: int | None = None,
        seed: int = 0,
        by: Chooser | None = None,
    ) -> None:
        self.steps = list(steps)
        if not self.steps or not all(isinstance(s, StepTemplate) for s in self.steps):
            raise ConfigurationError("Route([...]) needs a list of StepTemplate instances")
        if (pick is None) == (by is None):
            raise ConfigurationError("Route needs pick=N (random, seeded) or by=fn, not both")
        if pick is not None and not (
            isinstance(pick, int) and not isinstance(pick, bool) and 1 <= pick <= len(self.steps)
        ):
            raise ConfigurationError(
                f"Route(pick={pick!r}): pick must be a whole number from 1 to {len(self.steps)}"
            )
        if by is not None and not callable(by):
            raise ConfigurationError(f"Route(by=...) must be a function, got {type(by).__name__}")
        self.pick, self.seed, self.by = pick, seed, by
        self.names = [s.name for s in self.steps]

    def choose(self, result: TaskResult, lineage: Lineage) -> set[str]:
        """The names of the branches this input goes to."""
        if self.by is None:
            assert self.pick is not None
            rng = random.Random(f"{self.seed}:{'.'.join(map(str, lineage))}")
            return set(rng.sample(self.names, self.pick))
        chosen = self.by(result)
        names = {chosen} if isinstance(chosen, str) else set(chosen)
        unknown = names - set(self.names)
        if unknown:
            raise ConfigurationError(
                f"Route(by=...) chose {sorted(unknown)}, which is not a branch; the branches "
                f"are {self.names}"
            )
        return names

    def __repr__(self) -> str:
        how = f"pick={self.pick}, seed={self.seed}" if self.by is None else f"by={self.by!r}"
        return f"Route({self.names}, {how})"


@dataclass(slots=True)
class Topology:
    """The graph in plan order: each step's parents, and each routing step's `Route`."""

    templates: list[StepTemplate]
    parents: list[tuple[int, ...]]
    routes: dict[int, Route] = field(default_factory=dict)


class StepGraph:
    """What `PipelineBuilder` collects: steps as added, edges, and where `<<` goes on."""

    def __init__(self) -> None:
        self.steps: list[StepTemplate] = []
        self.edges: list[tuple[int, int]] = []
        self.routes: dict[int, Route] = {}  # by the routing (fork) step's node
        self._tails: list[int] = []

    def add(self, item: Any) -> None:
        """`<< step`, `<< [steps]` or `<< Route(...)`: after every step of the last link."""
        route = item if isinstance(item, Route) else None
        steps = route.steps if route else item if isinstance(item, list) else [item]
        if not steps:
            raise ConfigurationError("`<< []`: a set of branches needs at least one step")
        for step in steps:
            if not isinstance(step, StepTemplate):
                raise ConfigurationError(
                    f"pipeline steps are StepTemplate instances (or a list of them, or a "
                    f"Route), got {type(step).__name__}"
                )
        if not self._tails and (route is not None or len(steps) > 1):
            raise ConfigurationError(
                "a pipeline starts with one step: put a step before the branches, e.g. "
                "`builder << Prompt('question', ...) << [A(), B()]`"
            )
        if route is not None:
            if len(self._tails) != 1:
                raise ConfigurationError("a Route must follow one step, not a set of branches")
            self.routes[self._tails[0]] = route
        nodes = [self._node(step) for step in steps]
        self.edges += [(tail, node) for tail in self._tails for node in nodes]
        self._tails = nodes

    def connect(self, upstream: StepTemplate, downstream: StepTemplate | Route) -> None:
        """An edge; a `downstream` step not in the pipeline yet joins it here (off the
        `<<` chain, whose next `<<` still follows the last link). A `Route` as
        `downstream`: an edge to each of its steps, and `upstream` routes its inputs."""
        up = self._find(upstream)
        if isinstance(downstream, Route):
            if up in self.routes:
                raise ConfigurationError(f"step {upstream.name!r} already has a Route")
            self.routes[up] = downstream
            for step in downstream.steps:
                self.connect(upstream, step)
            return
        if not isinstance(downstream, StepTemplate):
            raise ConfigurationError(
                f"connect() takes steps (StepTemplate instances), got {type(downstream).__name__}"
            )
        known = any(downstream is step for step in self.steps)
        self.edges.append((up, self._find(downstream) if known else self._node(downstream)))

    def topology(self) -> Topology:
        """The steps in a topological order; `ConfigurationError` for a cycle or a step
        that no path from the first step reaches."""
        order = self._ordered()
        position = {node: i for i, node in enumerate(order)}
        parents: list[list[int]] = [[] for _ in order]
        for up, down in dict.fromkeys(self.edges):
            parents[position[down]].append(position[up])
        for i, found in enumerate(parents[1:], start=1):
            if not found:
                raise ConfigurationError(
                    f"step {self.steps[order[i]].name!r} is not reachable from the first step "
                    f"{self.steps[order[0]].name!r}; connect it with builder.connect(upstream, "
                    "step) or put it in the `<<` chain"
                )
        routes = {position[node]: route for node, route in self.routes.items()}
        self._check_routes()
        return Topology([self.steps[n] for n in order], [tuple(p) for p in parents], routes)

    def _check_routes(self) -> None:
        """A routing step's children are exactly its Route's steps."""
        for node, route in self.routes.items():
            children = {down for up, down in self.edges if up == node}
            if children != {self._find(step) for step in route.steps}:
                others = sorted(self.steps[c].name for c in children) or "none"
                raise ConfigurationError(
                    f"step {self.steps[node].name!r} routes to {route.names} but leads to "
                    f"{others}; a routing step leads only to its Route's steps"
                )

    def _node(self, step: StepTemplate) -> int:
        if any(step is known for known in self.steps):
            raise ConfigurationError(
                f"step {step.name!r} is already in the pipeline; use builder.connect(upstream, "
                "step) for another edge to it"
            )
        self.steps.append(step)
        return len(self.steps) - 1

    def _find(self, step: StepTemplate) -> int:
        for node, known in enumerate(self.steps):
            if known is step:
                return node
        raise ConfigurationError(
            f"connect(): step {getattr(step, 'name', step)!r} is not in this pipeline; add it "
            "with `builder << step` first (connect takes the step objects themselves)"
        )

    def _ordered(self) -> list[int]:
        """Kahn's algorithm, taking the earliest-added ready step first (stable)."""
        children: list[list[int]] = [[] for _ in self.steps]
        waiting = [0] * len(self.steps)
        for up, down in dict.fromkeys(self.edges):
            children[up].append(down)
            waiting[down] += 1
        ready = [n for n in range(len(self.steps)) if waiting[n] == 0]
        order: list[int] = []
        while ready:
            node = min(ready)
            ready.remove(node)
            order.append(node)
            for child in children[node]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(child)
        if len(order) < len(self.steps):
            stuck = sorted(self.steps[n].name for n in range(len(self.steps)) if waiting[n])
            raise ConfigurationError(
                f"the pipeline's steps form a cycle through {stuck}; a step's results cannot "
                "flow back to an earlier step: remove the connect() that closes it"
            )
        return order
