"""`WrappingAdapter`: the base of adapters that add behaviour around one other adapter."""

from __future__ import annotations

from fanflow.adapters._types import AdapterBase, LLMAdapter

__all__ = ["WrappingAdapter", "note_cut_off"]


class WrappingAdapter(AdapterBase):
    """An adapter that wraps another, `wrapped`, as retries and rate limits do.

    A subclass implements `generate()` around `self.wrapped.generate()`. The default
    model is the wrapped adapter's (read-only here: set it on the wrapped adapter), and
    `aclose()` closes the wrapped adapter. `adapter` is an older name for `wrapped`.
    """

    def __init__(self, wrapped: LLMAdapter) -> None:
        self.wrapped = wrapped

    # AdapterBase's `model` is a plain attribute; a wrapper only reports the wrapped one's.
    @property
    def model(self) -> str | None:  # type: ignore[override]
        """The wrapped adapter's default model."""
        model = getattr(self.wrapped, "model", None)  # adapters older than `model` lack it
        return model if isinstance(model, str) else None

    def check_model(self, model: str | None) -> None:
        """What the wrapped adapter says about a request for `model` (see `check_model`
        of `OpenAIAdapter`); nothing if it cannot tell."""
        check = getattr(self.wrapped, "check_model", None)
        if check is not None:
            check(model)

    @property
    def adapter(self) -> LLMAdapter:
        """The wrapped adapter (the name it had before `wrapped`)."""
        return self.wrapped

    async def aclose(self) -> None:
        """Close the wrapped adapter."""
        await self.wrapped.aclose()


def note_cut_off(cancellation: BaseException, sent: int) -> None:
    """Record on a cancellation (a task timeout) how many requests the cut-off call sent.

    Callers count `attempts` of what a call raised (1 when absent), so that a request
    on the wire when its task timed out is counted, and one still waiting in a queue is
    not. Errors (`Exception`s) carry their own `attempts` and are left alone.
    """
    if not isinstance(cancellation, Exception):
        cancellation.attempts = sent  # type: ignore[attr-defined]
