"""What to do: the declarative workflow language (Dria-compatible) and its builder."""

from __future__ import annotations

from fanflow.steps._builder import ConditionBuilder, WorkflowBuilder
from fanflow.steps._enums import Expression, InputValueType, Operator, OutputType, PostProcessType
from fanflow.steps._memory_ops import GetAll, Insert, Peek, Pop, Push, Read, Size, String, Write
from fanflow.steps._template import FlowSpec, StepTemplate
from fanflow.steps._values import Lineage, StepOutput, TaskInput, TaskResult, TaskStatus
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
    "FlowSpec",
    "GetAll",
    "Input",
    "InputValue",
    "InputValueType",
    "Insert",
    "Lineage",
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
    "StepOutput",
    "StepTemplate",
    "String",
    "Task",
    "TaskInput",
    "TaskPostProcess",
    "TaskResult",
    "TaskStatus",
    "Workflow",
    "WorkflowBuilder",
    "Write",
]
