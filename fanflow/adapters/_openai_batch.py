"""`OpenAIBatchAdapter`: chat completions through OpenAI's Batch API, at half the price.

Each `generate` call adds its request (the body `OpenAIAdapter` would POST) to a pending
batch and awaits a future; a batch leaves when it holds `max_batch_size` requests or
`max_wait` seconds after its first request came. A batch is a JSONL file uploaded to
`/v1/files`, submitted to `/v1/batches`, polled every `poll_interval` seconds, and its
output and error files are mapped back to the futures by `custom_id`.

HTTP goes through httpx, imported on first use, not `FastTransport`: the Batch API needs
multipart uploads and GETs, and a batch of thousands of requests costs a handful of
HTTP calls, so the CPU per request is the batch's bookkeeping, not the HTTP client.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from fanflow._exceptions import AdapterError, ConfigurationError, FanflowError, ProviderError
from fanflow._redact import get_logger, redact, shown_url
from fanflow.adapters._openai import (
    OpenAIAdapter,
    _decode,
    _excerpt,
    _Headers,
    _payload,
    _provider_message_from_text,
    _take_secrets,
)
from fanflow.adapters._transport import HTTPResponse
from fanflow.adapters._types import AdapterBase, Generation, GenerationRequest
from fanflow.adapters._urls import check_base_url

if TYPE_CHECKING:
    import httpx

__all__ = ["BatchLog", "OpenAIBatchAdapter"]

logger = get_logger("fanflow.adapters")

_ENDPOINT = "/v1/chat/completions"
_POLL_FAILURES = 10
_DONE = frozenset({"completed", "failed", "expired", "cancelled"})


@dataclass(slots=True)
class _Line:
    """One request waiting for its batch: its body, its future, how often it was sent."""

    custom_id: str
    body: dict[str, Any]
    request: GenerationRequest
    model: str
    answer: asyncio.Future[Generation]
    submissions: int = 0
    key: str = ""  # the request's content key, when a batch log is kept
    started: float = field(default_factory=time.perf_counter)


class BatchLog(Protocol):
    """Where submitted batch lines are kept until answered (`store.SubmittedBatches`)."""

    def record(self, endpoint: str, batch_id: str, lines: Sequence[tuple[str, str]]) -> None: ...

    def find(self, endpoint: str, key: str) -> list[tuple[str, str]]: ...

    def answered(self, batch_id: str, custom_ids: Sequence[str]) -> None: ...


class OpenAIBatchAdapter(AdapterBase):
    """Send `GenerationRequest`s through an OpenAI-compatible server's Batch API.

    `max_batch_size` requests at most go in one batch (OpenAI allows 50,000); a batch
    that is not full leaves `max_wait` seconds after its first request. Batches are polled
    every `poll_interval` seconds. A line the server answers with an error fails only its
    task (a `ProviderError`); a batch that ends failed, expired or cancelled has its
    unanswered requests sent again in a later batch, at most `max_resubmits` times.
    `http_client` is a caller's `httpx.AsyncClient` (never closed here); `timeout`
    bounds each HTTP call of a client the adapter creates.

    `batch_log` (a `fanflow.store.SubmittedBatches`) records every submitted line until
    its answer reaches its task: a process killed while batches run, started again with
    the same log, collects those batches' answers for the same requests instead of
    submitting (and paying for) them again. It costs one SQLite lookup per request.

    A pipeline's `task_timeout` (600 s by default) also bounds the wait for a batch:
    set `PipelineConfig(task_timeout=None)` for batches that take hours.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        model: str | None = None,
        *,
        max_batch_size: int = 1000,
        max_wait: float = 5.0,
        poll_interval: float = 30.0,
        max_resubmits: int = 2,
        completion_window: str = "24h",
        timeout: float | None = 600.0,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        batch_log: BatchLog | None = None,
    ) -> None:
        self.base_url, self.model = "", model
        if not isinstance(base_url, str):
            del api_key, headers  # error reporters capture every frame's locals
            check_base_url(base_url, "OpenAIBatchAdapter")
        url, secret_headers = _take_secrets(base_url, api_key, headers)
        self.base_url = shown_url(base_url).rstrip("/")
        del base_url, api_key, headers
        check_base_url(self.base_url, "OpenAIBatchAdapter")
        _check_limits(max_batch_size, max_wait, poll_interval, max_resubmits)
        self._url = url.rstrip("/")
        # httpx sets Content-Type itself (multipart for uploads, JSON for the rest).
        self._headers = _Headers((k, v) for k, v in secret_headers.items() if k != "Content-Type")
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait
        self.poll_interval = poll_interval
        self.max_resubmits = max_resubmits
        self.completion_window = completion_window
        self._timeout = timeout
        self._client = http_client
        self._owns_client = http_client is None
        # Parses each output line's body exactly as a direct answer would be parsed.
        self._parser = OpenAIAdapter(self.base_url, model=model, transport=_NoTransport())
        self._pending: list[_Line] = []
        self._timer: asyncio.TimerHandle | None = None
        self._batches: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._log = batch_log
        self._claimed: set[tuple[str, str]] = set()  # logged lines this process collects
        self._adopted: dict[str, dict[str, _Line]] = {}  # batch id -> custom_id -> line
        self._collected: dict[str, list[bytes]] = {}  # batch id -> its answer files

    def __repr__(self) -> str:
        return f"OpenAIBatchAdapter(base_url={self.base_url!r}, model={self.model!r})"

    def __reduce__(self) -> Any:
        raise TypeError(
            "OpenAIBatchAdapter cannot be pickled (it holds the API key and batches in "
            "flight); create one adapter in each process."
        )

    def check_model(self, model: str | None) -> None:
        """`ConfigurationError` if a request for `model` would have no model."""
        self._parser.check_model(model)

    async def generate(self, request: GenerationRequest) -> Generation:
        """Queue the request for the next batch and wait for its line of the output."""
        model = request.model or self.model
        if model is None:
            raise ConfigurationError(
                f"No model for the request to {self.base_url}: pass model= to "
                "OpenAIBatchAdapter or set GenerationRequest.model."
            )
        line = _Line(
            f"fanflow-{next(self._ids)}",
            _payload(request, model),
            request,
            model,
            asyncio.get_running_loop().create_future(),
        )
        if self._log is not None:
            line.key = _content_key(self._url, line.body)
            if self._adopt(line):
                return await line.answer
        self._enqueue(line)
        return await line.answer

    async def aclose(self) -> None:
        """Stop waiting for batches in flight (their tasks fail) and close the client."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        closed = ProviderError(
            f"OpenAIBatchAdapter for {self.base_url} was closed before the batch answered.",
            endpoint=self.base_url,
        )
        _fail(self._pending, closed)
        self._pending = []
        for task in list(self._batches):
            task.cancel()
        if self._batches:
            await asyncio.wait(self._batches)
        if self._owns_client and self._client is not None:
            await self._client.aclose()
        self._client = None

    def _enqueue(self, line: _Line) -> None:
        self._pending.append(line)
        if len(self._pending) >= self.max_batch_size:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.max_wait, self._flush)

    def _flush(self) -> None:
        """Send every pending request, in batches of at most `max_batch_size`."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, []
        size = self.max_batch_size
        for start in range(0, len(pending), size):
            task = asyncio.get_running_loop().create_task(self._run(pending[start : start + size]))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    async def _run(self, lines: list[_Line]) -> None:
        """One batch from upload to answers; any error fails exactly its lines' tasks."""
        try:
            for line in lines:
                line.submissions += 1
            batch = await self._submit(lines)
            if self._log is not None:
                self._log.record(
                    self.base_url, batch["id"], [(ln.custom_id, ln.key) for ln in lines]
                )
            batch = await self._wait(batch)
            waiting = {line.custom_id: line for line in lines if not line.answer.done()}
            for content in await self._answer_files(batch):
                self._map_back(content, waiting)
            self._settle_unanswered(batch["id"], batch["status"], list(waiting.values()))
            if self._log is not None:
                self._log.answered(batch["id"], [line.custom_id for line in lines])
        except asyncio.CancelledError:
            _fail(lines, ProviderError("the batch was cancelled", endpoint=self.base_url))
            raise
        except AdapterError as exc:
            _fail(lines, exc)
        except Exception as exc:  # never lose a task's answer: fail it with the reason
            error = ProviderError(
                f"Batch request to {self.base_url} failed: {type(exc).__name__}: {exc}",
                endpoint=self.base_url,
            )
            _fail(lines, error)

    async def _submit(self, lines: list[_Line]) -> dict[str, Any]:
        jsonl = b"".join(
            orjson.dumps(
                {"custom_id": line.custom_id, "method": "POST", "url": _ENDPOINT, "body": line.body}
            )
            + b"\n"
            for line in lines
        )
        uploaded = await self._call(
            "POST", "/files", files={"file": ("batch.jsonl", jsonl)}, data={"purpose": "batch"}
        )
        batch = await self._call(
            "POST",
            "/batches",
            json={
                "input_file_id": uploaded["id"],
                "endpoint": _ENDPOINT,
                "completion_window": self.completion_window,
            },
        )
        logger.info(
            "submitted batch %s of %d requests to %s", batch["id"], len(lines), self.base_url
        )
        return batch

    async def _wait(self, batch: dict[str, Any]) -> dict[str, Any]:
        while batch.get("status") not in _DONE:
            await asyncio.sleep(self.poll_interval)
            batch = await self._poll(batch)
        return batch

    async def _answer_files(self, batch: dict[str, Any]) -> list[bytes]:
        """The output file and the error file of a finished batch, those it has."""
        return [
            await self._get(f"/files/{batch[key]}/content")
            for key in ("output_file_id", "error_file_id")
            if batch.get(key)
        ]

    def _adopt(self, line: _Line) -> bool:
        """Attach `line` to an unanswered logged line of an earlier process, if any."""
        assert self._log is not None
        for batch_id, custom_id in self._log.find(self.base_url, line.key):
            if (batch_id, custom_id) in self._claimed:
                continue
            self._claimed.add((batch_id, custom_id))
            line.custom_id = custom_id
            self._adopted.setdefault(batch_id, {})[custom_id] = line
            if batch_id in self._collected:
                self._deliver(batch_id)
            elif len(self._adopted[batch_id]) == 1:
                task = asyncio.get_running_loop().create_task(self._collect(batch_id))
                self._batches.add(task)
                task.add_done_callback(self._batches.discard)
            return True
        return False

    async def _collect(self, batch_id: str) -> None:
        """Wait for a batch an earlier process submitted, then answer the lines adopted."""
        try:
            batch = await self._wait({"id": batch_id, "status": "unknown"})
            self._collected[batch_id] = await self._answer_files(batch)
            logger.info("collected batch %s at %s, submitted earlier", batch_id, self.base_url)
        except asyncio.CancelledError:
            _fail(
                list(self._adopted.pop(batch_id, {}).values()),
                ProviderError("the batch was cancelled", endpoint=self.base_url),
            )
            raise
        except Exception as exc:  # cannot collect it: submit the requests anew
            logger.warning(
                "cannot collect batch %s at %s (%s); submitting its requests again",
                batch_id,
                self.base_url,
                exc,
            )
            self._collected[batch_id] = []
        self._deliver(batch_id)

    def _deliver(self, batch_id: str) -> None:
        """Answer the adopted lines of a collected batch; submit those it lacks anew."""
        waiting = self._adopted.pop(batch_id, {})
        answered = list(waiting)
        for content in self._collected[batch_id]:
            self._map_back(content, waiting)
        for line in waiting.values():
            line.custom_id = f"fanflow-{next(self._ids)}"  # unique in its new batch
            self._enqueue(line)
        assert self._log is not None
        self._log.answered(batch_id, answered)

    async def _poll(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The batch's state now; a failed poll keeps the last state (the batch is paid
        for, so one lost GET must not lose it) unless polls fail `_POLL_FAILURES` times."""
        try:
            polled = await self._call("GET", f"/batches/{batch['id']}")
        except ProviderError as exc:
            failures = batch.get("_poll_failures", 0) + 1
            if failures >= _POLL_FAILURES or exc.status_code in (401, 403, 404):
                raise
            logger.warning("polling batch %s failed (%s); polling again", batch["id"], exc)
            return {**batch, "_poll_failures": failures}
        return polled

    def _map_back(self, content: bytes, waiting: dict[str, _Line]) -> None:
        for raw in content.splitlines():
            if not raw.strip():
                continue
            try:
                item = orjson.loads(raw)
                line = waiting.pop(item.get("custom_id"), None)
            except (orjson.JSONDecodeError, AttributeError, TypeError):
                # One garbled line must not cost the others; its task fails as unanswered.
                logger.warning("skipped a batch result line that is not a JSON object")
                continue
            if line is None or line.answer.done():
                continue
            try:
                line.answer.set_result(self._answer_of(item, line))
            except AdapterError as exc:
                line.answer.set_exception(exc)

    def _answer_of(self, item: dict[str, Any], line: _Line) -> Generation:
        response = item.get("response") or {}
        status = response.get("status_code") or 500
        body = orjson.dumps(response.get("body") or item.get("error") or {})
        reply = HTTPResponse(status, {}, body)
        if not 200 <= status < 300 or item.get("error"):
            raise ProviderError(
                f"Batch line {line.custom_id} at {self.base_url} answered {status}: {_said(body)}",
                endpoint=self.base_url,
                status_code=status,
                body=redact(body.decode("utf-8", "replace"))[:4000],
            )
        latency = time.perf_counter() - line.started
        return self._parser._parse(reply, line.model, latency, line.request)

    def _settle_unanswered(self, batch_id: str, status: str, lines: list[_Line]) -> None:
        """Lines the batch did not answer: sent again if it ended early, else failed."""
        if not lines:
            return
        if status == "completed":
            _fail(
                lines,
                ProviderError(
                    f"Batch {batch_id} at {self.base_url} completed without a line for these "
                    "requests; the server dropped them.",
                    endpoint=self.base_url,
                ),
            )
            return
        again = [line for line in lines if line.submissions <= self.max_resubmits]
        given_up = [line for line in lines if line.submissions > self.max_resubmits]
        logger.warning(
            "batch %s at %s ended %s: %d requests sent again, %d given up",
            batch_id,
            self.base_url,
            status,
            len(again),
            len(given_up),
        )
        _fail(
            given_up,
            ProviderError(
                f"Batch {batch_id} at {self.base_url} ended {status!r}, and the request was "
                f"already sent {self.max_resubmits + 1} times; raise max_resubmits or check the "
                "server's batch limits.",
                endpoint=self.base_url,
            ),
        )
        for line in again:
            if not line.answer.done():
                self._enqueue(line)

    async def _get(self, path: str) -> bytes:
        response = await self._send("GET", path)
        return response.content

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._send(method, path, **kwargs)
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict) or "id" not in data:
            raise ProviderError(
                f"{method} {self.base_url}{path} answered without an id: "
                f"{redact(response.text[:500])!r}. Check that the server offers the Batch API.",
                endpoint=self.base_url,
            )
        return data

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        import httpx  # only batch users pay for importing httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self._timeout))
        try:
            response = await self._client.request(
                method, self._url + path, headers=self._headers, **kwargs
            )
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"{method} {self.base_url}{path} failed: {type(exc).__name__}: {exc}",
                endpoint=self.base_url,
            ) from exc
        if not 200 <= response.status_code < 300:
            raise ProviderError(
                f"{method} {self.base_url}{path} answered {response.status_code}: "
                f"{_said(response.content)} Check api_key, base_url and that the server "
                "offers the Batch API.",
                endpoint=self.base_url,
                status_code=response.status_code,
            )
        return response


class _NoTransport:
    """The parser `OpenAIAdapter` sends nothing; this transport says so if it tried."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HTTPResponse:
        raise RuntimeError("OpenAIBatchAdapter's parser never sends requests")

    async def aclose(self) -> None:
        return None


def _content_key(url: str, body: dict[str, Any]) -> str:
    """What makes two batch requests the same: the endpoint and the body."""
    digest = hashlib.blake2b(url.encode(), digest_size=16)
    digest.update(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


def _said(body: bytes) -> str:
    """What an error body says, short and with secrets redacted."""
    text = _decode(body)
    return _provider_message_from_text(text) or _excerpt(text) or "(empty body)"


def _fail(lines: list[_Line], error: BaseException) -> None:
    for line in lines:
        if not line.answer.done():
            # A copy each: the engine adds context to a task's error, and must not
            # change the message every other task of the batch shows.
            own = error.with_context("") if isinstance(error, FanflowError) else error
            line.answer.set_exception(own)


def _check_limits(size: int, wait: float, poll: float, resubmits: int) -> None:
    if not isinstance(size, int) or size < 1:
        raise ConfigurationError(f"OpenAIBatchAdapter max_batch_size must be >= 1, got {size!r}")
    if not wait >= 0 or not poll > 0:
        raise ConfigurationError(
            f"OpenAIBatchAdapter needs max_wait >= 0 and poll_interval > 0 (seconds), got "
            f"max_wait={wait!r}, poll_interval={poll!r}"
        )
    if not isinstance(resubmits, int) or resubmits < 0:
        raise ConfigurationError(
            f"OpenAIBatchAdapter max_resubmits must be >= 0, got {resubmits!r}"
        )
