"""The mock server's OpenAI Batch API: `/v1/files` and `/v1/batches`.

A batch is answered line by line by the server's normal chat-completions handler, in a
background task started when the batch is created (after `delay` seconds), so a client
polling `GET /v1/batches/{id}` sees ``in_progress`` and then ``completed``. Lines the
handler answers with a 200 go to the output file, the others to the error file, as
OpenAI does. `hold = True` keeps new batches in progress until `release()`;
`fail_next` / `expire_next` make the next batches end ``failed`` /
``expired`` without answering any line, to test a client's resubmission.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import time
from typing import TYPE_CHECKING, Any

import orjson

from fanflow._redact import get_logger
from fanflow.testing._responses import Decision, Reply, Request, error_reply

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["BatchWire"]

logger = get_logger("fanflow.testing")

_FILES = b"/v1/files"
_BATCHES = b"/v1/batches"


class BatchWire:
    """The files and batches one `MockServer` holds; `chat` answers one request body."""

    def __init__(self, chat: Callable[[bytes], Decision], *, delay: float = 0.0) -> None:
        self._chat = chat
        self.delay = delay
        self.hold = False
        self._released = asyncio.Event()
        self.fail_next = 0
        self.expire_next = 0
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    @staticmethod
    def serves(path: bytes) -> bool:
        return path.startswith((_FILES, _BATCHES))

    def decide(self, request: Request) -> Decision:
        """Route one request under `/v1/files` or `/v1/batches`."""
        path, method = request.path.rstrip(b"/"), request.method
        parts = path.decode("latin-1").split("/")[3:]  # after "", "v1", "files|batches"
        if path.startswith(_FILES):
            if method == b"POST" and not parts:
                return self._upload(request.body)
            if method == b"GET" and len(parts) == 2 and parts[1] == "content":
                return self._content(parts[0])
        elif method == b"POST" and not parts:
            return self._create(request.body)
        elif method == b"GET" and len(parts) == 1:
            batch = self.batches.get(parts[0])
            if batch is not None:
                return Reply(200, orjson.dumps(batch))
        return error_reply(404, f"No such batch API route: {method!r} {path!r}", "not_found")

    def release(self) -> None:
        """Let batches held by `hold = True` be answered (a test's "the job finished")."""
        self.hold = False
        self._released.set()

    def cancel_all(self) -> None:
        """Stop batches still being answered (the server is stopping)."""
        for task in self._tasks:
            task.cancel()

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-mock-{next(self._ids)}"

    def _upload(self, body: bytes) -> Reply:
        fields = _multipart_fields(body)
        content = fields.get("file")
        if content is None or fields.get("purpose") != b"batch":
            return error_reply(
                400, "POST /v1/files needs multipart fields `file` and purpose=batch", "invalid"
            )
        return Reply(200, orjson.dumps(self._store("batch", content)))

    def _store(self, purpose: str, content: bytes) -> dict[str, Any]:
        file_id = self._new_id("file")
        self.files[file_id] = content
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": f"{file_id}.jsonl",
            "purpose": purpose,
            "status": "processed",
        }

    def _content(self, file_id: str) -> Reply:
        content = self.files.get(file_id)
        if content is None:
            return error_reply(404, f"No such file: {file_id}", "not_found")
        return Reply(200, content)

    def _create(self, raw: bytes) -> Reply:
        try:
            body = orjson.loads(raw)
            input_file_id = body["input_file_id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return error_reply(400, "POST /v1/batches needs a JSON input_file_id", "invalid")
        if input_file_id not in self.files:
            return error_reply(404, f"No such file: {input_file_id}", "not_found")
        if body.get("endpoint") != "/v1/chat/completions":
            return error_reply(400, "endpoint must be /v1/chat/completions", "invalid")
        batch = _batch_object(self._new_id("batch"), input_file_id, body)
        self.batches[batch["id"]] = batch
        task = asyncio.get_running_loop().create_task(self._answer(batch))
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return Reply(200, orjson.dumps(batch))

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("mock batch failed", exc_info=exc)

    async def _answer(self, batch: dict[str, Any]) -> None:
        batch["status"] = "in_progress"
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.hold:
            await self._released.wait()
        if self.fail_next or self.expire_next:
            failing = self.fail_next > 0
            self.fail_next -= failing
            self.expire_next -= not failing
            batch["status"] = "failed" if failing else "expired"
            return
        output: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for line in self.files[batch["input_file_id"]].splitlines():
            if line.strip():
                answered = await self._answer_line(line)
                (output if answered["response"]["status_code"] == 200 else errors).append(answered)
        if output:
            batch["output_file_id"] = self._store("batch_output", _jsonl(output))["id"]
        if errors:
            batch["error_file_id"] = self._store("batch_output", _jsonl(errors))["id"]
        batch["request_counts"] = {
            "total": len(output) + len(errors),
            "completed": len(output),
            "failed": len(errors),
        }
        batch["completed_at"] = int(time.time())
        batch["status"] = "completed"

    async def _answer_line(self, line: bytes) -> dict[str, Any]:
        item = orjson.loads(line)
        decision = self._chat(orjson.dumps(item["body"]))
        reply = await decision if inspect.isawaitable(decision) else decision
        return {
            "id": self._new_id("batch_req"),
            "custom_id": item["custom_id"],
            "response": {
                "status_code": reply.status,
                "request_id": self._new_id("req"),
                "body": orjson.loads(reply.body),
            },
            "error": None,
        }


def _batch_object(batch_id: str, input_file_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": batch_id,
        "object": "batch",
        "endpoint": body["endpoint"],
        "errors": None,
        "input_file_id": input_file_id,
        "completion_window": body.get("completion_window", "24h"),
        "status": "validating",
        "output_file_id": None,
        "error_file_id": None,
        "created_at": int(time.time()),
        "request_counts": {"total": 0, "completed": 0, "failed": 0},
        "metadata": body.get("metadata"),
    }


def _jsonl(items: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(item) + b"\n" for item in items)


def _multipart_fields(body: bytes) -> dict[str, bytes]:
    """Field name -> value of a multipart/form-data body; the boundary is its first line."""
    boundary, _, _ = body.partition(b"\r\n")
    fields = {}
    for part in body.split(boundary)[1:]:
        head, sep, value = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        marker = b'name="'
        start = head.find(marker)
        if start < 0:
            continue
        name = head[start + len(marker) : head.index(b'"', start + len(marker))]
        fields[name.decode("latin-1")] = value.removesuffix(b"\r\n")
    return fields
