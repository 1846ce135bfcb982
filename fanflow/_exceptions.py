"""fanflow's exceptions: one tree, each class also subclassing the nearest builtin.

```
FanflowError(Exception)
├── ConfigurationError(ValueError)        build time: bad workflow, unknown edge target, ...
└── ExecutionError(RuntimeError)          run time
    ├── AdapterError                      an LLM endpoint could not give an answer
    │   ├── TransportError(ConnectionError)   connect/read failure, timeout, reset
    │   ├── RateLimited                       HTTP 429; `.retry_after` seconds or None
    │   └── ProviderError                     any other non-2xx or unusable body;
    │                                         `.status_code`, `.body`, `.retry_after`
    ├── ParseError(ValueError)            an answer that does not parse; `.raw` text
    ├── WorkflowTimeout(TimeoutError)     a workflow ran past its `max_time`
    └── StepFailed                        a task failed and had no fallback
```

Every exception pickles (they cross process and thread boundaries in the engine), and
every message says what failed, where, and what to do about it. No message or text
attribute holds a secret fanflow knows (`fanflow._redact`): a server that echoes the API
key back gets ``<redacted>`` into the error instead.
"""

from __future__ import annotations

from typing import Any

from fanflow._redact import has_secrets, redact

__all__ = [
    "AdapterError",
    "ConfigurationError",
    "ExecutionError",
    "FanflowError",
    "ParseError",
    "ProviderError",
    "RateLimited",
    "StepFailed",
    "TransportError",
    "WorkflowTimeout",
]


class FanflowError(Exception):
    """Base class of every error fanflow raises."""

    def __init__(self, message: str, **attributes: Any) -> None:
        if has_secrets():  # a server may echo the API key: no error carries a known secret
            message = redact(message)
            attributes = {k: _redacted(v) for k, v in attributes.items()}
        super().__init__(message)
        self.message = message
        self._attributes = attributes
        for name, value in attributes.items():
            setattr(self, name, value)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword attributes are not in `args`, so the default reduce would drop them.
        return (_rebuild, (type(self), self.message, self._attributes))

    def __str__(self) -> str:
        return self.message

    def with_context(self, prefix: str, **attributes: Any) -> FanflowError:
        """A copy of this error, same class and attributes, its message led by `prefix`.

        Keyword `attributes` are added to (or replace) the copy's, so a wrapper can say
        more about a failure (how many attempts it took) without losing what was known.
        """
        merged = {**self._attributes, **attributes} if attributes else self._attributes
        return _rebuild(type(self), f"{prefix}{self.message}", merged)


def _redacted(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


def _rebuild(cls: type[FanflowError], message: str, attributes: dict[str, Any]) -> FanflowError:
    return cls(message, **attributes)


class ConfigurationError(FanflowError, ValueError):
    """Something is wrong with what was built: fix the workflow or pipeline and build again."""


class ExecutionError(FanflowError, RuntimeError):
    """Something went wrong while running."""


class AdapterError(ExecutionError):
    """An adapter could not obtain an answer from its endpoint."""

    endpoint: str | None

    def __init__(self, message: str, *, endpoint: str | None = None, **attributes: Any) -> None:
        super().__init__(message, endpoint=endpoint, **attributes)

    @property
    def retryable(self) -> bool:
        """Whether sending the same request again may succeed; False unless a subclass knows."""
        return False


class TransportError(AdapterError, ConnectionError):
    """The request did not complete: connection refused or reset, or a timeout."""

    @property
    def retryable(self) -> bool:
        return True


class RateLimited(AdapterError):
    """The endpoint answered 429; `retry_after` is the seconds it asked to wait, if any."""

    retry_after: float | None

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        retry_after: float | None = None,
        **attributes: Any,
    ) -> None:
        super().__init__(message, endpoint=endpoint, retry_after=retry_after, **attributes)

    @property
    def retryable(self) -> bool:
        return True


class ProviderError(AdapterError):
    """The endpoint answered an error status or an unusable body; `retry_after` if it set one."""

    status_code: int | None
    body: str
    retry_after: float | None

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status_code: int | None = None,
        body: str = "",
        retry_after: float | None = None,
        **attributes: Any,
    ) -> None:
        super().__init__(
            message,
            endpoint=endpoint,
            status_code=status_code,
            body=body,
            retry_after=retry_after,
            **attributes,
        )

    @property
    def retryable(self) -> bool:
        """True where the official OpenAI SDK retries (408, 409, 429, 5xx), for no status,
        and for a 2xx with an unusable body.

        A malformed 2xx body is usually a proxy or an overloaded server cutting an answer
        short, so a second try tends to work; any other 4xx will fail the same way again.
        """
        status = self.status_code
        return status is None or status >= 500 or status in _RETRIED_4XX or 200 <= status < 300


_RETRIED_4XX = frozenset({408, 409, 429})  # timeout, lock conflict, rate limit: as the SDK


class ParseError(ExecutionError, ValueError):
    """An answer could not be parsed into what was asked for; `raw` holds the text."""

    raw: str

    def __init__(self, message: str, *, raw: str = "") -> None:
        super().__init__(message, raw=raw)


class WorkflowTimeout(ExecutionError, TimeoutError):
    """A workflow ran longer than its `config.max_time`."""


class StepFailed(ExecutionError):
    """A task of a workflow failed and the workflow had no fallback for it."""

    task_id: str | None

    def __init__(self, message: str, *, task_id: str | None = None) -> None:
        super().__init__(message, task_id=task_id)
