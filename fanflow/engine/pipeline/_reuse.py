"""Results taken from the store, made visible: how many, from which runs, on which network.

The cache key leaves out the server (so a run resumes after its server moved), which
means a pipeline pointed at another server gets the first server's answers. So every
run counts what it took from the store by the run that answered it (`stats.from_store`,
`stats.from_runs`, the closing log line), and says once, as a warning, when the network
it runs on differs from the network of a run whose answers it reuses. A run's network is
recorded in its run record as `describe_network` gives it: adapter types and URLs, never
credentials.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from fanflow._exceptions import ConfigurationError
from fanflow._redact import get_logger
from fanflow.store import RunRecord, Store

__all__ = ["Reuse", "describe_network"]

logger = get_logger("fanflow.run")

_USERINFO = re.compile(r"//[^/@]*@")


def describe_network(adapter: Any) -> str:
    """The adapter behind any wrappers, as `"OpenAIAdapter http://host/v1"`: type and
    URLs (without user, password or query), pool members, or a mock's handler name."""
    while getattr(adapter, "wrapped", None) is not None:
        adapter = adapter.wrapped
    parts = [type(adapter).__name__]
    base_url = getattr(adapter, "base_url", None)
    if isinstance(base_url, str):
        parts.append(_without_secrets(base_url))
    names = getattr(adapter, "names", None)  # an EndpointPool's members
    if isinstance(names, list):
        parts.append(",".join(_without_secrets(str(name)) for name in names))
    handler = getattr(adapter, "handler", None)  # a MockAdapter's
    if callable(handler):
        parts.append(getattr(handler, "__qualname__", type(handler).__name__))
    return " ".join(parts)


def _without_secrets(url: str) -> str:
    return _USERINFO.sub("//", url).split("?", 1)[0].split("#", 1)[0]


class Reuse:
    """What one run took from the store, by origin run id; warns once on another network."""

    def __init__(self, store: Store, run_name: str, network: str | None) -> None:
        self.store, self.run_name, self.network = store, run_name, network
        self.by_origin: Counter[str] = Counter()
        self._warned = False

    def add(self, origin: str) -> None:
        """One more result taken from the store, answered by run `origin`."""
        if origin not in self.by_origin:
            self._check_network(origin)
        self.by_origin[origin] += 1

    @property
    def total(self) -> int:
        return sum(self.by_origin.values())

    def by_run_name(self) -> dict[str, int]:
        """The counts by the origin runs' names (their ids where a record is gone)."""
        return {self._name(origin): count for origin, count in self.by_origin.items()}

    def _check_network(self, origin: str) -> None:
        if self._warned or self.network is None:
            return
        record = self._record(origin)
        theirs = None if record is None else record.config.get("network")
        if theirs is None or theirs == self.network:
            return
        self._warned = True
        logger.warning(
            "run %r takes results from the store that run %r got from another network "
            "(%s; this run uses %s): cached answers are found by model, not by server. "
            "Run with execute(use_cache=False), or `fanflow cache clear`, to ask this "
            "network again.",
            self.run_name,
            record.name if record is not None else origin,
            theirs,
            self.network,
        )

    def _name(self, origin: str) -> str:
        record = self._record(origin)
        return origin if record is None else record.name

    def _record(self, origin: str) -> RunRecord | None:
        try:
            return self.store.find_run(origin)
        except ConfigurationError:
            return None
