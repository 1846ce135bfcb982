"""fanflow: an asyncio-native workflow engine for generating datasets with LLMs at scale.

Public names are re-exported here; everything in a `_module.py` is private. fanflow says
what it does through `logging.getLogger("fanflow")` and its children, never `print`.
"""

from __future__ import annotations

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
    ChatMessage,
    Endpoint,
    EndpointPool,
    Generation,
    GenerationRequest,
    LLMAdapter,
    MockAdapter,
    OpenAIAdapter,
    RateLimiter,
    RetryingAdapter,
    RetryPolicy,
    ToolCall,
    Usage,
)
from fanflow.callbacks import Aggregate, Broadcast, Callback, Scatter
from fanflow.engine import (
    Pipeline,
    PipelineBuilder,
    PipelineConfig,
    PipelineResult,
    RunRecord,
    RunStats,
    StepResults,
    Store,
    WorkflowResult,
    load_run,
    run_workflow,
    runs,
)
from fanflow.steps import (
    ConditionBuilder,
    Config,
    Edge,
    Expression,
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
    Workflow,
    WorkflowBuilder,
    Write,
)

__version__ = "0.1.0"

__all__ = [
    "AdapterError",
    "Aggregate",
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
    "Generation",
    "GenerationRequest",
    "GetAll",
    "Insert",
    "LLMAdapter",
    "MockAdapter",
    "OpenAIAdapter",
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
    "Read",
    "RetryPolicy",
    "RetryingAdapter",
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
    "ToolCall",
    "TransportError",
    "Usage",
    "Workflow",
    "WorkflowBuilder",
    "WorkflowResult",
    "WorkflowTimeout",
    "Write",
    "load_run",
    "run_workflow",
    "runs",
]


# Public classes and functions report `fanflow` as their module, as httpx's do, so a
# traceback reads `fanflow.ConfigurationError` and pickles find them here.
for _name in __all__:
    _public = globals()[_name]
    if isinstance(_public, type) or callable(_public):
        _public.__module__ = "fanflow"
del _name, _public
