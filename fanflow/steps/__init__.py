"""What to do: the declarative workflow language (Dria-compatible) and its builder."""

from __future__ import annotations

from fanflow.steps._builder import ConditionBuilder, WorkflowBuilder
from fanflow.steps._enums import Expression, InputValueType, Operator, OutputType, PostProcessType
from fanflow.steps._memory_ops import GetAll, Insert, Peek, Pop, Push, Read, Size, String, Write
from fanflow.steps._workflow import (
    Condition,
    Config,
    Edge,
    Input,
    InputValue,
    Message,
    Output,
    ReturnValue,
    Task,
    TaskPostProcess,
    Workflow,
)

__all__ = [
    "Condition",
    "ConditionBuilder",
    "Config",
    "Edge",
    "Expression",
    "GetAll",
    "Input",
    "InputValue",
    "InputValueType",
    "Insert",
    "Message",
    "Operator",
    "Output",
    "OutputType",
    "Peek",
    "Pop",
    "PostProcessType",
    "Push",
    "Read",
    "ReturnValue",
    "Size",
    "String",
    "Task",
    "TaskPostProcess",
    "Workflow",
    "WorkflowBuilder",
    "Write",
]
