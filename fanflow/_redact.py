"""Secrets fanflow knows, and `redact(text)` to take them out of text it keeps or raises.

Adapters register what they are given (API keys, the values of secret-named headers,
passwords in URLs) when they are constructed. Text becomes safe at the few places where
errors turn into text: fanflow's exceptions (`FanflowError` redacts its message and text
attributes), the dispatcher's error description stored with a failed task, and log records
of fanflow's loggers (`RedactingFilter`). A server that echoes the key in its error body
("Incorrect API key provided: sk-...") thus never gets it into the store, the CLI or a log.

Nothing here runs on a request that succeeds: redaction is work for error paths only.

Values shorter than `MIN_SECRET_LENGTH` are not secrets: they are placeholders such as
"EMPTY" or "ollama" that local servers accept, and redacting them would garble messages.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = [
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "RedactingFilter",
    "SecretStr",
    "get_logger",
    "has_secrets",
    "hide_secret_headers",
    "is_secret_header",
    "redact",
    "redacted_headers",
    "register_secret",
    "register_url",
    "shown_url",
]

REDACTED = "<redacted>"
MIN_SECRET_LENGTH = 8

# Header names that carry credentials: Authorization, Azure's api-key, x-api-key,
# x-goog-api-key, Ocp-Apim-Subscription-Key, *token*, *secret*, cookies, passwords.
_SECRET_HEADER = re.compile(
    r"auth|key|token|secret|cookie|passw|session|credential|signature", re.IGNORECASE
)

_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None  # None: nothing registered, redact is a no-op
_lock = threading.Lock()


class SecretStr(str):
    """A string whose `repr` hides it: a header value as tracebacks and debuggers show it.

    It is still a `str` with its real content for everything else (formatting, encoding,
    comparison), so HTTP libraries send it as they would any header value.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(REDACTED)


def register_secret(value: str | None) -> None:
    """Redact `value` (and its percent-decoded form) from all text from now on."""
    if not value:
        return
    # A secret inside the marker itself would make each redaction grow the text again.
    candidates = (value, unquote(value))
    new = {v for v in candidates if len(v) >= MIN_SECRET_LENGTH and v not in REDACTED}
    new -= _secrets
    if not new:
        return
    global _pattern
    with _lock:
        _secrets.update(new)
        # Longest first, so a secret containing another is replaced whole.
        alternatives = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(map(re.escape, alternatives)))


def register_url(url: str) -> None:
    """Register the userinfo (user:password@) of `url` as secrets."""
    parts = urlsplit(url)
    if parts.password is not None:
        register_secret(parts.password)
    userinfo = parts.netloc.rpartition("@")[0]
    if userinfo:
        register_secret(userinfo)  # the user name alone may be the key, as some APIs use it


def has_secrets() -> bool:
    """Whether anything is registered (when not, there is nothing to redact)."""
    return _pattern is not None


def redact(text: str) -> str:
    """`text` with every registered secret replaced by ``<redacted>``."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(REDACTED, text)


def shown_url(url: str) -> str:
    """`url` as it may be shown: any user:password@ replaced by ``<redacted>@``."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{REDACTED}@{host}"))


def is_secret_header(name: str) -> bool:
    """Whether a header of this name carries a credential (Authorization, api-key, ...)."""
    return _SECRET_HEADER.search(name) is not None


def hide_secret_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The headers with secret values as `SecretStr` (and registered for `redact`)."""
    hidden: dict[str, str] = {}
    for name, value in headers:
        if is_secret_header(name) and isinstance(value, str):
            register_secret(value.removeprefix("Bearer ").removeprefix("Basic "))
            register_secret(value)
            value = SecretStr(value)
        hidden[name] = value
    return hidden


def redacted_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy for display: secret-named headers' values replaced by ``<redacted>``."""
    return {k: (REDACTED if is_secret_header(k) else v) for k, v in headers.items()}


class RedactingFilter(logging.Filter):
    """A logging filter that takes known secrets out of a record's message and exception.

    Attached to fanflow's loggers (logger filters do not apply to child loggers, so each
    logger gets its own: `get_logger`). It formats the message early, only when a secret
    is registered, and only for records that pass the logger's level.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if _pattern is None:
            return True
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = redact("".join(logging.Formatter().formatException(record.exc_info)))
        return True


def get_logger(name: str) -> logging.Logger:
    """`logging.getLogger(name)` with a `RedactingFilter` attached (once)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger
