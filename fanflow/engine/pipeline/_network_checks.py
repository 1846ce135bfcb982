"""What `PipelineBuilder` checks of its network before any request is sent."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fanflow._exceptions import ConfigurationError
from fanflow.engine.pipeline._plan import StepPlan

__all__ = ["check_network", "check_step_models"]


def check_network(network: Any) -> None:
    """`ConfigurationError` unless `network` is an adapter (has `generate`) or None."""
    if network is None or (
        not isinstance(network, type) and callable(getattr(network, "generate", None))
    ):
        return
    kind = (
        f"the class {network.__name__}"
        if isinstance(network, type)
        else "a " + (type(network).__name__)
    )
    raise ConfigurationError(
        # The value is not echoed: a string given here may well be an API key.
        f"the pipeline's network is {kind}, not an adapter object; "
        "pass one, e.g. PipelineBuilder(config, network=OpenAIAdapter(base_url, "
        "model=...)) or an EndpointPool"
    )


def check_step_models(plans: Iterable[StepPlan], network: Any) -> None:
    """`ConfigurationError` naming the step whose models (or the network's default, for a
    step without `set_models`) the network cannot serve. A network without `check_model`
    (a duck-typed adapter) is trusted."""
    check = getattr(network, "check_model", None)
    if check is None:
        return
    for plan in plans:
        if plan.function is not None:  # a function step asks no model
            continue
        models: list[str | None] = [*plan.template.models] if plan.template.models else [None]
        for model in dict.fromkeys(models):
            try:
                check(model)
            except ConfigurationError as exc:
                raise exc.with_context(f"step {plan.name!r}: ") from None
