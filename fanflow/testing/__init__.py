"""Test helpers: a fast mock OpenAI-compatible server, in-process or in a child process.

```python
async with MockServer(lambda body: "hi", latency=0.05) as server:
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused")
```
"""

from __future__ import annotations

from fanflow.testing._process import MockServerProcess
from fanflow.testing._responses import Handler, HandlerResult
from fanflow.testing._server import MockServer

__all__ = ["Handler", "HandlerResult", "MockServer", "MockServerProcess"]
