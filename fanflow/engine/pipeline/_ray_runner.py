"""`RayRunner`: a pipeline run as shards on Ray (`execute(runner=...)`, or as a default
in `PipelineConfig(runner=...)`).

A plain value (shards, the cluster's address, CPUs and `ray.init` keywords), so a config
holding one is recorded with its run and written to pipeline files like any other setting.
It holds no secret: keys reach the workers through their environment, never through Ray
(see `_ray_run`). Ray itself is imported only when a run uses it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fanflow.engine.pipeline._config_errors import config_error
from fanflow.engine.pipeline._results import PipelineResult

__all__ = ["RayRunner", "ray_launcher", "use_launcher"]


class RayRunner(BaseModel):
    """Run the pipeline in `shards` Ray tasks; `pip install 'fanflow[ray]'`.

    Input rows go to shards by a stable hash of the row; each shard runs the pipeline on
    its rows, with its own store file, and the driver merges them into one result.
    `address`: a running Ray cluster (`"auto"`, `"ray://host:10001"`); None starts a local
    Ray (unless this process already started one) and stops it at the end. `num_cpus`: for
    that local Ray. Other keywords go to `ray.init` (e.g. `runtime_env={"working_dir":
    "."}` or `{"py_modules": [...]}` to ship your step code; never put an API key there:
    Ray writes `runtime_env` to its logs). `max_retries`: how often Ray runs a shard again
    when its worker dies (the retry resumes from the shard's store file).
    `read_inputs`: "driver" (the default) reads the input and sends each shard its rows;
    "workers" has each shard read the input files itself and keep its own rows, so the
    driver never holds or ships the input (for inputs of many millions of rows). Then
    every input must be named by path (a file, glob or `hf://` address) that every node
    reads at the same path (a shared filesystem, or the Hub).
    """

    # Built on first use: building a schema at import loads pydantic's plugins (~12 ms).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    shards: int = Field(ge=1)
    address: str | None = None
    num_cpus: float | None = Field(default=None, gt=0)
    max_retries: int = Field(default=3, ge=0)
    read_inputs: Literal["driver", "workers"] = "driver"
    init_kwargs: dict[str, Any] = Field(default_factory=dict)

    def __init__(
        self,
        shards: int,
        address: str | None = None,
        num_cpus: float | None = None,
        max_retries: int = 3,
        init_kwargs: dict[str, Any] | None = None,
        read_inputs: str = "driver",
        **ray_init_kwargs: Any,
    ) -> None:
        given = {**(init_kwargs or {}), **ray_init_kwargs}
        try:
            super().__init__(
                shards=shards,
                address=address,
                num_cpus=num_cpus,
                max_retries=max_retries,
                read_inputs=read_inputs,
                init_kwargs=given,
            )
        except ValidationError as exc:
            raise config_error(exc, "RayRunner") from exc


Launcher = Callable[[Any, RayRunner, bool], Awaitable["PipelineResult"]]
_launchers: list[Launcher] = []


def use_launcher(launcher: Launcher) -> None:
    """Set what runs a pipeline on Ray (`_ray_run.run_on_ray`, set by the package's
    `__init__`): it loads pipelines from documents, which import `Pipeline`, so `Pipeline`
    reaches it through here rather than by an import that would make a cycle."""
    _launchers[:] = [launcher]


def ray_launcher() -> Launcher:
    return _launchers[0]
