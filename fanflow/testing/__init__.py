"""Test helpers: a fast mock OpenAI-compatible server, in-process or in a child process.

```python
async with MockServer(lambda body: "hi", latency=0.05) as server:
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused")

async with MockServer(faults=Faults(script=["server_error", "rate_limit"])) as server:
    ...  # the first chat request gets a 5xx, the second a 429, the rest normal answers
    assert server.early_retries() == []  # nobody came back before Retry-After elapsed
```
"""

from __future__ import annotations

from fanflow.testing._faults import Faults
from fanflow.testing._hub_server import HubCommit, HubRequest, HubServer
from fanflow.testing._process import MockServerProcess
from fanflow.testing._responses import Arrival, Handler, HandlerResult
from fanflow.testing._server import MockServer

__all__ = [
    "Arrival",
    "Faults",
    "Handler",
    "HandlerResult",
    "HubCommit",
    "HubRequest",
    "HubServer",
    "MockServer",
    "MockServerProcess",
]
