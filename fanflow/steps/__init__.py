"""What to do: the declarative workflow language (Dria-compatible), its builder, and steps.

- `_parts`, `_workflow`, `_enums`, `_validation`: the `Workflow` document, its parts
  (tasks, messages, memory reads and writes, edges) and its checks.
- `_builder`, `_memory_ops`: `WorkflowBuilder`, `ConditionBuilder`, `Read`/`Write`/...
- `_template`: `StepTemplate`, what users subclass; its fluent methods pick a callback.
- `_prompt`: `Prompt`, a one-prompt step without a subclass; `Workflow.from_prompt`.
- `_function`: `step` / `FunctionStep`, a plain Python function as a step (no request).
- `_generation`, `_tools`: a step's generation parameters and tools (`set_generation`,
  `set_tools`), and the tools a workflow offers (Dria's custom tools included).
- `_fields_json`: a workflow's JSON as content keys hash it, with the parts that a
  `Prompt`'s tasks share written once.

Task values (`TaskInput`, `TaskResult`, ...) live in `fanflow/_values.py` and are
re-exported here; `steps` imports `callbacks` (for the fluent methods), never `engine`.
"""

from __future__ import annotations

from fanflow._values import Lineage, StepOutput, TaskInput, TaskResult, TaskStatus, TaskTiming
from fanflow.steps._builder import ConditionBuilder, WorkflowBuilder
from fanflow.steps._enums import Expression, InputValueType, Operator, OutputType, PostProcessType
from fanflow.steps._function import FunctionStep, step
from fanflow.steps._generation import SamplingParams
from fanflow.steps._memory_ops import GetAll, Insert, Peek, Pop, Push, Read, Size, String, Write
from fanflow.steps._parts import (
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
)
from fanflow.steps._prompt import Prompt
from fanflow.steps._template import StepTemplate
from fanflow.steps._tools import is_http_tool, offered_name, offered_tool, with_tools
from fanflow.steps._workflow import Workflow

__all__ = [
    "Condition",
    "ConditionBuilder",
    "Config",
    "Edge",
    "Expression",
    "FunctionStep",
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
    "Prompt",
    "Push",
    "Read",
    "ReturnValue",
    "SamplingParams",
    "Size",
    "StepOutput",
    "StepTemplate",
    "String",
    "Task",
    "TaskInput",
    "TaskPostProcess",
    "TaskResult",
    "TaskStatus",
    "TaskTiming",
    "Workflow",
    "WorkflowBuilder",
    "Write",
    "is_http_tool",
    "offered_name",
    "offered_tool",
    "step",
    "with_tools",
]
