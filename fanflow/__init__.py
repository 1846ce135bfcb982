"""fanflow: an asyncio-native workflow engine for generating datasets with LLMs at scale.

Public names are re-exported here; everything in a `_module.py` is private.
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
    Generation,
    GenerationRequest,
    LLMAdapter,
    MockAdapter,
    OpenAIAdapter,
    ToolCall,
    Usage,
)
from fanflow.engine import WorkflowResult, run_workflow
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
    Push,
    Read,
    Size,
    String,
    Workflow,
    WorkflowBuilder,
    Write,
)

__version__ = "0.1.0"

__all__ = [
    "AdapterError",
    "ChatMessage",
    "ConditionBuilder",
    "Config",
    "ConfigurationError",
    "Edge",
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
    "Pop",
    "ProviderError",
    "Push",
    "RateLimited",
    "Read",
    "Size",
    "StepFailed",
    "String",
    "ToolCall",
    "TransportError",
    "Usage",
    "Workflow",
    "WorkflowBuilder",
    "WorkflowResult",
    "WorkflowTimeout",
    "Write",
    "run_workflow",
]
