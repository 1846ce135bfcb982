"""A small local stand-in for the Hugging Face Hub's HTTP API, for offline tests.

It answers just the requests `datasets.Dataset.push_to_hub` and `huggingface_hub`'s card
and file APIs make for a dataset repository (repo info and creation, preupload, LFS batch
and upload, commits, tree and paths-info listings, file downloads, YAML validation), so a
test runs the real upload code with `HF_ENDPOINT` pointed here. Xet uploads are not spoken:
tests set `HF_HUB_DISABLE_XET=1`. Every request is recorded (`requests`), and every commit
with the files it added (`commits`), so a test can check what was uploaded.

```python
with HubServer() as hub:
    with hub.patched():  # HF_ENDPOINT and the constants read from it at import
        result.push_to_hub("me/data", token="hf_test")
    hub.files("me/data")["README.md"]
```
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["HubCommit", "HubRequest", "HubServer"]

_REPO = r"(?P<repo>[^/]+/[^/]+?)"


@dataclass(frozen=True, slots=True)
class HubRequest:
    """One request as the double saw it (the Authorization header kept apart)."""

    method: str
    path: str
    body: bytes
    authorization: str | None


@dataclass(frozen=True, slots=True)
class HubCommit:
    """One commit: its message and the files it added (by path) and deleted."""

    repo: str
    summary: str
    added: dict[str, bytes]
    deleted: list[str]


@dataclass(slots=True)
class _Repo:
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    revision: int = 0

    @property
    def sha(self) -> str:
        return hashlib.sha1(str(self.revision).encode()).hexdigest()


class HubServer:
    """The Hub double on 127.0.0.1 (a thread); a context manager that stops it."""

    def __init__(self) -> None:
        self.requests: list[HubRequest] = []
        self.commits: list[HubCommit] = []
        self.repos: dict[str, _Repo] = {}
        self._lfs: dict[str, bytes] = {}
        self._refusals: list[tuple[str, int, str, bool]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def refuse(self, path: str, status: int, message: str, echo_token: bool = False) -> None:
        """Answer requests whose path matches the regex `path` with `status` and `message`;
        `echo_token`: append the Authorization header received, as a careless server might."""
        self._refusals.append((path, status, message, echo_token))

    def files(self, repo: str) -> dict[str, bytes]:
        """The repository's files now, by path."""
        return dict(self.repos[repo].files)

    @contextmanager
    def patched(self) -> Iterator[None]:
        """Point huggingface_hub and datasets here (both read HF_ENDPOINT at import) and
        turn Xet off; everything is put back on leaving."""
        import datasets.config
        import huggingface_hub.constants as hub

        saved: list[tuple[Any, str, Any]] = []

        def put(module: Any, name: str, value: Any) -> None:
            saved.append((module, name, getattr(module, name)))
            setattr(module, name, value)

        put(hub, "ENDPOINT", self.url)
        put(
            hub,
            "HUGGINGFACE_CO_URL_TEMPLATE",
            self.url + "/{repo_id}/resolve/{revision}/{filename}",
        )
        put(hub, "HF_HUB_DISABLE_XET", True)
        put(hub, "HF_HUB_OFFLINE", False)
        put(datasets.config, "HF_ENDPOINT", self.url)
        put(
            datasets.config,
            "HUB_DATASETS_URL",
            self.url + "/datasets/{repo_id}/resolve/{revision}/{path}",
        )
        try:
            yield
        finally:
            for module, name, value in reversed(saved):
                setattr(module, name, value)

    # What each endpoint answers: (status, JSON or bytes, extra headers).

    def answer(self, request: HubRequest, query: dict[str, list[str]]) -> _Reply:
        method, path, body = request.method, unquote(request.path), request.body
        with self._lock:
            for pattern, status, message, echo in self._refusals:
                if re.fullmatch(pattern, path):
                    said = f"{message} (got {request.authorization})" if echo else message
                    return status, {"error": said}, {}
            for pattern, verb, action in _ROUTES:
                match = re.fullmatch(pattern, path)
                if match and verb == method:
                    reply: _Reply = action(self, match.groupdict(), query, body)
                    return reply
        return 404, {"error": f"the Hub double has no {method} {path}"}, {}

    def _repo_info(self, args: dict[str, str], *_: Any) -> _Reply:
        repo = self.repos.get(args["repo"])
        if repo is None:
            return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
        siblings = [{"rfilename": path} for path in sorted(repo.files)]
        info = {"id": args["repo"], "sha": repo.sha, "private": repo.private}
        return 200, {**info, "siblings": siblings}, {}

    def _create(self, _: dict[str, str], __: Any, body: bytes) -> _Reply:
        payload = json.loads(body)
        name = f"{payload.get('organization')}/{payload['name']}"
        if payload.get("type") != "dataset":
            return 400, {"error": "the Hub double keeps dataset repositories only"}, {}
        private = payload.get("visibility") == "private" or payload.get("private") is True
        self.repos.setdefault(name, _Repo(private=private))
        return 200, {"url": f"{self.url}/datasets/{name}", "name": name}, {}

    def _preupload(self, args: dict[str, str], _: Any, body: bytes) -> _Reply:
        if args["repo"] not in self.repos:
            return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
        files = json.loads(body)["files"]
        modes = [
            {
                "path": f["path"],
                "uploadMode": "lfs" if f["path"].endswith(".parquet") else "regular",
            }
            | {"shouldIgnore": False}
            for f in files
        ]
        return 200, {"files": modes}, {}

    def _lfs_batch(self, _: dict[str, str], __: Any, body: bytes) -> _Reply:
        objects = [
            {"oid": o["oid"], "size": o["size"], "authenticated": True}
            | {"actions": {"upload": {"href": f"{self.url}/lfs-upload/{o['oid']}"}}}
            for o in json.loads(body)["objects"]
        ]
        return 200, {"transfer": "basic", "objects": objects}, {}

    def _lfs_upload(self, args: dict[str, str], _: Any, body: bytes) -> _Reply:
        if hashlib.sha256(body).hexdigest() != args["oid"]:
            return 400, {"error": "the upload does not match its oid"}, {}
        self._lfs[args["oid"]] = body
        return 200, b"", {}

    def _commit(self, args: dict[str, str], _: Any, body: bytes) -> _Reply:
        repo = self.repos.get(args["repo"])
        if repo is None:
            return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
        summary, added, deleted = "", {}, []
        for line in body.splitlines():
            item = json.loads(line)
            value = item["value"]
            if item["key"] == "header":
                summary = value["summary"]
            elif item["key"] == "file":
                added[value["path"]] = base64.b64decode(value["content"])
            elif item["key"] == "lfsFile":
                added[value["path"]] = self._lfs[value["oid"]]
            elif item["key"] in ("deletedFile", "deletedFolder"):
                deleted.append(value["path"])
        for path in deleted:
            repo.files = {
                p: d for p, d in repo.files.items() if p != path and not p.startswith(path + "/")
            }
        repo.files.update(added)
        repo.revision += 1
        self.commits.append(HubCommit(args["repo"], summary, added, deleted))
        url = f"{self.url}/datasets/{args['repo']}/commit/{repo.sha}"
        return 200, {"commitUrl": url, "commitOid": repo.sha, "pullRequestUrl": None}, {}

    def _tree(self, args: dict[str, str], query: dict[str, list[str]], _: bytes) -> _Reply:
        repo = self.repos.get(args["repo"])
        if repo is None:
            return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
        folder = (args.get("path") or "").strip("/")
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        if folder and not any(p.startswith(folder + "/") for p in repo.files):
            return 404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"}
        return 200, _listing(repo.files, folder, recursive), {}

    def _paths_info(self, args: dict[str, str], _: Any, body: bytes) -> _Reply:
        repo = self.repos.get(args["repo"])
        if repo is None:
            return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
        form = parse_qs(body.decode())
        wanted = form.get("paths", [])
        if not wanted and body.startswith(b"{"):
            wanted = json.loads(body).get("paths", [])
        entries = []
        for path in wanted:
            path = path.strip("/")
            if path in repo.files:
                entries.append(_file_entry(path, repo.files[path]))
            elif any(p.startswith(path + "/") for p in repo.files):
                entries.append({"type": "directory", "path": path, "oid": "0" * 40, "size": 0})
        return 200, entries, {}

    def _resolve(self, args: dict[str, str], *_: Any) -> _Reply:
        repo = self.repos.get(args["repo"])
        if repo is None:
            return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
        data = repo.files.get(unquote(args["path"]))
        if data is None:
            return 404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"}
        etag = f'"{hashlib.sha1(data).hexdigest()}"'
        return 200, data, {"X-Repo-Commit": repo.sha, "ETag": etag}

    def _validate_yaml(self, *_: Any) -> _Reply:
        return 200, {"errors": [], "warnings": []}, {}


_Reply = tuple[int, Any, dict[str, str]]

_ROUTES: list[tuple[str, str, Any]] = [
    (rf"/api/datasets/{_REPO}(?:/revision/[^/]+)?", "GET", HubServer._repo_info),
    (r"/api/repos/create", "POST", HubServer._create),
    (rf"/api/datasets/{_REPO}/preupload/[^/]+", "POST", HubServer._preupload),
    (rf"/datasets/{_REPO}\.git/info/lfs/objects/batch", "POST", HubServer._lfs_batch),
    (r"/lfs-upload/(?P<oid>[0-9a-f]+)", "PUT", HubServer._lfs_upload),
    (rf"/api/datasets/{_REPO}/commit/[^/]+", "POST", HubServer._commit),
    (rf"/api/datasets/{_REPO}/tree/[^/]+(?:/(?P<path>.*))?", "GET", HubServer._tree),
    (rf"/api/datasets/{_REPO}/paths-info/[^/]+", "POST", HubServer._paths_info),
    (rf"/datasets/{_REPO}/resolve/[^/]+/(?P<path>.+)", "GET", HubServer._resolve),
    (rf"/datasets/{_REPO}/resolve/[^/]+/(?P<path>.+)", "HEAD", HubServer._resolve),
    (r"/api/validate-yaml", "POST", HubServer._validate_yaml),
]


def _file_entry(path: str, data: bytes) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "file", "path": path, "size": len(data)}
    entry["oid"] = hashlib.sha1(data).hexdigest()
    if path.endswith(".parquet"):
        entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}
    return entry


def _listing(files: dict[str, bytes], folder: str, recursive: bool) -> list[dict[str, Any]]:
    prefix = f"{folder}/" if folder else ""
    entries: dict[str, dict[str, Any]] = {}
    for path, data in sorted(files.items()):
        if not path.startswith(prefix):
            continue
        parts = path[len(prefix) :].split("/")
        for depth in range(1, len(parts)):  # the folders on the way
            if depth > 1 and not recursive:
                break
            sub = prefix + "/".join(parts[:depth])
            entries.setdefault(sub, {"type": "directory", "path": sub, "oid": "0" * 40, "size": 0})
        if recursive or len(parts) == 1:
            entries[path] = _file_entry(path, data)
    return list(entries.values())


def _handler_for(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            body = self._body()
            auth = self.headers.get("Authorization")
            request = HubRequest(self.command, parts.path, body, auth)
            hub.requests.append(request)
            status, payload, headers = hub.answer(request, parse_qs(parts.query))
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            kind = "application/octet-stream" if isinstance(payload, bytes) else "application/json"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        do_GET = do_POST = do_PUT = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # requests are in hub.requests; stderr stays quiet

    return Handler
