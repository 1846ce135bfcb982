"""Checking an adapter's base URL once, when the adapter is made, not on every request."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fanflow._exceptions import ConfigurationError

__all__ = ["check_base_url"]

_USERINFO = re.compile(r"//[^/@]*@")
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def check_base_url(base_url: str, owner: str) -> None:
    """`ConfigurationError` (from `owner`, e.g. "OpenAIAdapter") if `base_url` is not an
    http(s) URL with a host, a port from 1 to 65535 and no spaces or control characters.
    """
    if not isinstance(base_url, str):
        raise ConfigurationError(
            f"{owner}(base_url=...) takes a str, not {type(base_url).__name__}"
        )
    if _SPACE_OR_CONTROL.search(base_url):
        raise _refused(base_url, owner, "it holds a space or control character (strip it)")
    parts = urlsplit(base_url)
    if parts.scheme.lower() not in ("http", "https"):
        raise _refused(base_url, owner, "it needs http:// or https://")
    try:
        port = parts.port
    except ValueError:  # out of range or not a number
        port = 0
    if port == 0 or (port is None and parts.netloc.rsplit("]", 1)[-1].endswith(":")):
        raise _refused(base_url, owner, "its port is not a number from 1 to 65535")
    if not parts.hostname:
        raise _refused(base_url, owner, "it names no host")


def _refused(base_url: str, owner: str, why: str) -> ConfigurationError:
    shown = _USERINFO.sub("//***@", base_url)  # never echo a user:password@
    return ConfigurationError(
        f"{owner}(base_url={shown!r}) cannot be used: {why}. Give the API root, "
        "e.g. 'http://127.0.0.1:8000/v1'."
    )
