"""The HTTP adapters of a pipeline file: OpenAI-compatible, Ollama, Anthropic, Batch API.

Each is written as its class name, base URL (without credentials), model and the settings
its constructor takes, never a key or a header that carries one. When loaded, the key
comes from the environment: the variable the entry names (`api_key_env`), else the
provider's usual variable (`ANTHROPIC_API_KEY` for Anthropic), else `FANFLOW_API_KEY`,
else `OPENAI_API_KEY`; an Ollama server usually needs none.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fanflow._redact import is_secret_header
from fanflow.adapters import (
    AnthropicAdapter,
    FastTransport,
    LLMAdapter,
    OllamaAdapter,
    OpenAIAdapter,
)
from fanflow.engine.pipeline._file_format import FileError

__all__ = ["HTTP_KEYS", "KEY_VARIABLES", "http_adapter", "http_entry"]

KEY_VARIABLES = ("FANFLOW_API_KEY", "OPENAI_API_KEY")
_CONNECTION = ("headers", "timeout", "connect_timeout", "max_connections", "api_key_env")
_BATCH_SETTINGS = ("max_batch_size", "max_wait", "poll_interval", "max_resubmits",
                   "completion_window")  # fmt: skip
HTTP_KEYS: dict[str, tuple[str, ...]] = {
    "OpenAIAdapter": ("adapter", "base_url", "model", *_CONNECTION),
    "OllamaAdapter": ("adapter", "base_url", "model", "options", "keep_alive", *_CONNECTION),
    "AnthropicAdapter": ("adapter", "base_url", "model", "max_tokens", *_CONNECTION),
    "OpenAIBatchAdapter": ("adapter", "base_url", "model", "headers", "timeout",
                           "api_key_env", *_BATCH_SETTINGS),
}  # fmt: skip
# Headers each adapter sets itself: written back, they would be sent twice.
_OWN_HEADERS = {"content-type", "accept", "anthropic-version"}
# Where a provider's key is usually found, before fanflow's own variables.
_PROVIDER_KEY = {"AnthropicAdapter": "ANTHROPIC_API_KEY"}


def http_entry(adapter: Any) -> dict[str, Any] | None:
    """`adapter` as data if it is one of the HTTP adapters (exact types), else None."""
    kind = type(adapter).__name__
    if type(adapter) in (OpenAIAdapter, OllamaAdapter, AnthropicAdapter):
        entry = {"adapter": kind, **_connection(adapter)}
        if isinstance(adapter, OllamaAdapter):
            entry.update(options=dict(adapter._options), keep_alive=adapter._keep_alive)
        if isinstance(adapter, AnthropicAdapter):
            entry["max_tokens"] = adapter._max_tokens
        return entry
    if kind == "OpenAIBatchAdapter" and type(adapter).__module__.startswith("fanflow"):
        entry = {"adapter": kind, **_connection(adapter)}
        entry.update({name: getattr(adapter, name) for name in _BATCH_SETTINGS})
        return entry
    return None


def _connection(adapter: Any) -> dict[str, Any]:
    parts = urlsplit(adapter.base_url)  # `base_url` already hides a user:password@
    url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    entry: dict[str, Any] = {"base_url": url, "model": adapter.model}
    headers = {
        name: str(value)
        for name, value in adapter._headers.items()
        if name.lower() not in _OWN_HEADERS and not is_secret_header(name)
    }
    if headers:
        entry["headers"] = headers
    transport = getattr(adapter, "_transport", None)
    if isinstance(transport, FastTransport):  # a caller's own client keeps its settings
        entry["timeout"] = transport._timeout
        entry["connect_timeout"] = transport._connect_timeout
        entry["max_connections"] = transport._max_connections
    elif "_timeout" in vars(adapter):  # the Batch adapter's own client
        entry["timeout"] = adapter._timeout
    return entry


def http_adapter(
    kind: str, settings: dict[str, Any], error: FileError, path: list[Any]
) -> LLMAdapter:
    """The HTTP adapter an entry describes, its key read from the environment."""
    variable = settings.pop("api_key_env", None)
    if "base_url" not in settings and kind in ("OpenAIAdapter", "OpenAIBatchAdapter"):
        raise error([*path, "base_url"], f"an {kind} needs base_url")
    key = _api_key(kind, variable, error, path)
    return _MAKERS[kind](key, settings)


def _api_key(kind: str, variable: Any, error: FileError, path: list[Any]) -> str | None:
    if variable is None:
        names = (*([_PROVIDER_KEY[kind]] if kind in _PROVIDER_KEY else []), *KEY_VARIABLES)
        return next((os.environ[v] for v in names if os.environ.get(v)), None)
    if not isinstance(variable, str) or not os.environ.get(variable):
        raise error(
            [*path, "api_key_env"],
            f"the API key is to come from the environment variable {variable!r}, which is "
            "not set; set it (the key is never kept in the file)",
        )
    return os.environ[variable]


def _batch(key: str | None, settings: Mapping[str, Any]) -> LLMAdapter:
    from fanflow.adapters import OpenAIBatchAdapter

    return OpenAIBatchAdapter(api_key=key, **settings)


_MAKERS: dict[str, Callable[[str | None, dict[str, Any]], LLMAdapter]] = {
    "OpenAIAdapter": lambda key, settings: OpenAIAdapter(api_key=key, **settings),
    "OllamaAdapter": lambda key, settings: OllamaAdapter(api_key=key, **settings),
    "AnthropicAdapter": lambda key, settings: AnthropicAdapter(api_key=key, **settings),
    "OpenAIBatchAdapter": _batch,
}
