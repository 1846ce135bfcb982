"""A mock-server handler (for `MockServerProcess(handler=...)`) that logs every prompt.

The server child appends each request's last message to the file named by
`FANFLOW_TEST_REQUEST_LOG` as it arrives, so a test sees what a server received across
runs and processes; the answer comes back after the server's latency.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

LOG_VARIABLE = "FANFLOW_TEST_REQUEST_LOG"


def answer(body: dict[str, Any]) -> str:
    prompt = str(body["messages"][-1]["content"])
    with open(os.environ[LOG_VARIABLE], "a", encoding="utf-8") as log:
        log.write(prompt + "\n")
    return f"said: {prompt}"


def logged(path: Path) -> list[str]:
    """The prompts received so far, in arrival order."""
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []
