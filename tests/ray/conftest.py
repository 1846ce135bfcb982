"""One local Ray of 2 CPUs for every Ray test (starting Ray costs seconds)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

RAY_KEY = "sk-raytest-0123456789abcdefghij"
"""The API key the Ray workers find in their environment (never sent through Ray)."""


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    import ray  # in the dev extra: a missing Ray fails the Ray tests, never skips them

    # Workers inherit the environment of the processes that start them, as on a cluster
    # node whose environment holds the key; the test process itself keeps none.
    before = os.environ.get("FANFLOW_API_KEY")
    os.environ["FANFLOW_API_KEY"] = RAY_KEY
    try:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
            configure_logging=False,
        )
    finally:
        if before is None:
            del os.environ["FANFLOW_API_KEY"]
        else:
            os.environ["FANFLOW_API_KEY"] = before
    yield ray
    ray.shutdown()
