"""The adapter protocol and the value types that cross it.

Plain slotted dataclasses rather than pydantic models: one of each is built per LLM call
(CPU per call: bench/README.md), those built per call with `fast_init`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Protocol, runtime_checkable

from typing_extensions import Self

from fanflow._frozen import fast_init

__all__ = [
    "AdapterBase",
    "ChatMessage",
    "Generation",
    "GenerationRequest",
    "LLMAdapter",
    "RateLimitInfo",
    "ToolCall",
    "Usage",
]


@fast_init
@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One chat message: `role` is "system", "user", "assistant" or "tool"."""

    role: str
    content: str


@fast_init
@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model asked for; `arguments` is the JSON text it produced."""

    name: str
    arguments: str
    id: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts reported by the endpoint (zero where it reported none).

    `estimated` is True when the endpoint did not report them all and the counts are
    (partly) estimated from the text: see `OpenAIAdapter`.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.estimated or other.estimated,
        )


@fast_init
@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """What to ask a model.

    `model` None means the adapter's default model. `json_schema`, when set, asks for
    structured output matching that JSON schema. `tools` are OpenAI-style tool
    definitions. `extra` holds further sampling parameters (`top_p`, `seed`, `stop`, ...)
    passed through to the endpoint as they are.
    """

    messages: tuple[ChatMessage, ...]
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    json_schema: dict[str, Any] | None = None
    tools: tuple[dict[str, Any], ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """An endpoint's own account of its rate limits, from `x-ratelimit-*` response headers.

    Limits and remaining counts are per the provider's window (per minute for OpenAI);
    `reset_*_s` are the seconds until that count is back to its limit. None where the
    endpoint did not say.
    """

    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests_s: float | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens_s: float | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class Generation:
    """What a model answered, and who answered it how fast.

    `attempts` counts the requests sent for this answer, retries included (a retrying
    wrapper sets it); `rate_limits` is what the endpoint said about its limits, if anything.
    """

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    usage: Usage = Usage()
    model: str | None = None
    latency_s: float = 0.0
    endpoint: str | None = None
    attempts: int = 1
    rate_limits: RateLimitInfo | None = None


@runtime_checkable
class LLMAdapter(Protocol):
    """Anything that can answer a `GenerationRequest`: one method plus `aclose()`.

    `model` is the model name used when a request names none (None if the adapter has
    no default). It is declared read-only, so a plain attribute satisfies it as well as
    a property; `AdapterBase` gives None.
    """

    @property
    def model(self) -> str | None: ...

    async def generate(self, request: GenerationRequest) -> Generation: ...

    async def aclose(self) -> None: ...


class AdapterBase:
    """Optional base class: `async with` support, a no-op `aclose()`, `model = None`.

    `retrying` and `pacing` declare what an adapter already does, so that code adding
    default wrappers (`with_defaults`) does not add them twice: `retrying` if it retries
    failed requests itself, `pacing` if it paces an endpoint after 429s. Code reading
    them uses `getattr(adapter, name, False)`, so adapters that do not subclass this
    class count as doing neither.
    """

    model: str | None = None
    retrying: ClassVar[bool] = False
    pacing: ClassVar[bool] = False

    async def aclose(self) -> None:
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
