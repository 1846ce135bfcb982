"""fanflow: an asyncio-native workflow engine for generating datasets with LLMs at scale.

Public names are re-exported here; everything in a `_module.py` is private. fanflow says
what it does through `logging.getLogger("fanflow")` and its children, never `print`.
"""

from __future__ import annotations

import typing as _typing

from fanflow._exceptions import (
    AdapterError,
    ConfigurationError,
    ExecutionError,
    FanflowError,
    ParseError,
    ProviderError,
    RateLimited,
    StepFailed,
    TransportError,
    WorkflowTimeout,
)
from fanflow.adapters import (
    AnthropicAdapter,
    ChatMessage,
    Generation,
    GenerationRequest,
    LLMAdapter,
    MockAdapter,
    OllamaAdapter,
    OpenAIAdapter,
    RateLimiter,
    RetryingAdapter,
    RetryPolicy,
    ToolCall,
    Usage,
)
from fanflow.callbacks import Aggregate, Broadcast, Callback, Scatter
from fanflow.engine import (
    Mix,
    Pipeline,
    PipelineBuilder,
    PipelineConfig,
    PipelineResult,
    RayRunner,
    Route,
    RunRecord,
    RunStats,
    StepResults,
    Store,
    WorkflowResult,
    load_pipeline,
    load_run,
    run_workflow,
    runs,
)
from fanflow.steps import (
    ConditionBuilder,
    Config,
    Edge,
    Expression,
    FunctionStep,
    GetAll,
    Insert,
    Operator,
    Peek,
    Pop,
    Prompt,
    Push,
    Read,
    Size,
    StepOutput,
    StepTemplate,
    String,
    TaskInput,
    TaskResult,
    TaskStatus,
    TaskTiming,
    Workflow,
    WorkflowBuilder,
    Write,
    step,
)

if _typing.TYPE_CHECKING:
    from fanflow.adapters import Endpoint, EndpointPool, OpenAIBatchAdapter

__version__ = "0.1.0"

__all__ = [
    "AdapterError",
    "Aggregate",
    "AnthropicAdapter",
    "Broadcast",
    "Callback",
    "ChatMessage",
    "ConditionBuilder",
    "Config",
    "ConfigurationError",
    "Edge",
    "Endpoint",
    "EndpointPool",
    "ExecutionError",
    "Expression",
    "FanflowError",
    "FunctionStep",
    "Generation",
    "GenerationRequest",
    "GetAll",
    "Insert",
    "LLMAdapter",
    "Mix",
    "MockAdapter",
    "OllamaAdapter",
    "OpenAIAdapter",
    "OpenAIBatchAdapter",
    "Operator",
    "ParseError",
    "Peek",
    "Pipeline",
    "PipelineBuilder",
    "PipelineConfig",
    "PipelineResult",
    "Pop",
    "Prompt",
    "ProviderError",
    "Push",
    "RateLimited",
    "RateLimiter",
    "RayRunner",
    "Read",
    "RetryPolicy",
    "RetryingAdapter",
    "Route",
    "RunRecord",
    "RunStats",
    "Scatter",
    "Size",
    "StepFailed",
    "StepOutput",
    "StepResults",
    "StepTemplate",
    "Store",
    "String",
    "TaskInput",
    "TaskResult",
    "TaskStatus",
    "TaskTiming",
    "ToolCall",
    "TransportError",
    "Usage",
    "Workflow",
    "WorkflowBuilder",
    "WorkflowResult",
    "WorkflowTimeout",
    "Write",
    "load_pipeline",
    "load_run",
    "run_workflow",
    "runs",
    "step",
]


# Public classes and functions report `fanflow` as their module, as httpx's do, so a
# traceback reads `fanflow.ConfigurationError` and pickles find them here.
def _as_fanflows(value: _typing.Any) -> _typing.Any:
    if isinstance(value, type) or callable(value):
        value.__module__ = "fanflow"
    return value


_LAZY = {"Endpoint", "EndpointPool", "OpenAIBatchAdapter"}  # with `fanflow.adapters`'s lazy names


def __getattr__(name: str) -> _typing.Any:
    """Names whose modules most runs never use, imported when first asked for."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from fanflow import adapters

    value = globals()[name] = _as_fanflows(getattr(adapters, name))
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


for _name in set(__all__) - _LAZY:
    _as_fanflows(globals()[_name])
del _name
