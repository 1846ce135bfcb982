"""The run's config as the report shows it: with every secret masked.

fanflow never records a key (`engine/pipeline/_reuse.describe_network`), but a record may
come from elsewhere or from an older version: whatever looks like a credential, by its
field name or by its value, is masked here again before it reaches a page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fanflow._redact import redact

__all__ = ["MASK", "masked_config"]

MASK = "•••"

# Field names that hold credentials; "max_tokens" and "tokens_per_minute" are no secrets,
# so only a field *named* token(s) or ending in _token counts.
_SECRET_FIELD = re.compile(
    r"api[_-]?key|secret|passw|authori[sz]ation|^auth$|bearer|credential|cookie|session"
    r"|signature|(?:^|[_-])token$|^x-api-key$",
    re.IGNORECASE,
)
_SECRET_VALUE = [
    re.compile(r"\b(?:sk|pk|rk|xai|gsk|hf|ghp|gho|github_pat)[-_][\w-]{8,}"),  # common key shapes
    re.compile(r"\b(Bearer|Basic|Token)\s+[\w.~+/=-]{6,}", re.IGNORECASE),
    re.compile(r"(?<=://)[^/@\s:]+:[^/@\s]+(?=@)"),  # user:password in a URL
]


def masked_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `config` with secret fields' values and secret-looking text masked."""
    return {str(key): _masked(str(key), value) for key, value in config.items()}


def _masked(key: str, value: Any) -> Any:
    if _SECRET_FIELD.search(key) and value not in (None, "", False):
        return MASK
    if isinstance(value, Mapping):
        return masked_config(value)
    if isinstance(value, (list, tuple)):
        return [_masked("", item) for item in value]
    if isinstance(value, str):
        return _masked_text(value)
    return value


def _masked_text(text: str) -> str:
    text = redact(text)  # secrets this process knows (adapters register theirs)
    for pattern in _SECRET_VALUE:
        text = pattern.sub(lambda found: _keep_scheme(found[0]), text)
    return text


def _keep_scheme(secret: str) -> str:
    """`Bearer abc...` -> `Bearer •••`; anything else -> `•••`."""
    scheme, _, rest = secret.partition(" ")
    return f"{scheme} {MASK}" if rest and scheme.lower() in ("bearer", "basic", "token") else MASK
