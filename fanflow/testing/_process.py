"""`MockServerProcess`: the mock server in a child process, for benchmarks.

A benchmark that measures the client's CPU must not also pay for the server's, so the
server runs as ``python -m fanflow.testing`` and reports its port on stdout.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from fanflow.testing._faults import Faults

__all__ = ["MockServerProcess"]

_LISTENING = re.compile(rb"^listening (http://127\.0\.0\.1:(\d+)/v1)\s*$")
_PACKAGE_ROOT = str(Path(os.path.abspath(__file__)).parents[2])  # the directory holding `fanflow/`


class MockServerProcess:
    """Run the mock server in a child process for the duration of a ``with`` block.

    `handler` is an import string ``"module:function"`` (the child imports it); the
    child gets this `fanflow` on its ``PYTHONPATH`` so it runs the same code as the
    parent. `faults` go to the child as ``--faults JSON``; its arrivals stay in the child.
    `__enter__` returns once the child accepts connections.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        handler: str | None = None,
        port: int = 0,
        startup_timeout: float = 30.0,
        stop_grace: float = 5.0,
        faults: Faults | None = None,
    ) -> None:
        if not latency >= 0:
            raise ValueError(f"MockServerProcess latency must be >= 0 seconds, got {latency!r}")
        if faults is not None and not isinstance(faults, Faults):
            raise TypeError(f"MockServerProcess faults must be a Faults or None, got {faults!r}")
        self.latency = latency
        self.handler = handler
        self.faults = faults
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self._requested_port = port
        self._port: int | None = None
        self._base_url: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._drain: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI ``base_url`` of the child, e.g. ``http://127.0.0.1:PORT/v1``."""
        if self._base_url is None:
            raise RuntimeError("MockServerProcess is not running: use it as `with ... as server:`")
        return self._base_url

    @property
    def port(self) -> int:
        """The TCP port the child listens on."""
        if self._port is None:
            raise RuntimeError("MockServerProcess is not running: use it as `with ... as server:`")
        return self._port

    @property
    def pid(self) -> int:
        """The child's process id (to read its CPU time from /proc, for instance)."""
        if self._proc is None:
            raise RuntimeError("MockServerProcess was never started")
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        """The child's exit status once it has exited, else None."""
        return None if self._proc is None else self._proc.poll()

    def command(self) -> list[str]:
        """The child's command line."""
        cmd = [sys.executable, "-m", "fanflow.testing", "--port", str(self._requested_port)]
        cmd += ["--latency", repr(float(self.latency))]
        if self.handler is not None:
            cmd += ["--handler", self.handler]
        if self.faults is not None:
            cmd += ["--faults", self.faults.to_json()]
        return cmd

    def __enter__(self) -> MockServerProcess:
        if self._proc is not None:
            raise RuntimeError("MockServerProcess is already started; it cannot be entered twice")
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=_child_env(),
            bufsize=0,
        )
        try:
            deadline = time.monotonic() + self.startup_timeout
            self._base_url, self._port = self._read_listening_line(deadline)
            self._wait_until_accepting(deadline)
        except BaseException:
            self._shutdown()
            raise
        self._drain = threading.Thread(target=_discard, args=(self._proc.stdout,), daemon=True)
        self._drain.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._shutdown()

    def _read_listening_line(self, deadline: float) -> tuple[str, int]:
        """Read the child's first stdout line, which names the port it bound."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        line = b""
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in line:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._failure(f"did not print its port within {self.startup_timeout}s")
                if not selector.select(remaining):
                    continue
                chunk = os.read(fd, 4096)
                if not chunk:
                    self._proc.wait(timeout=self.stop_grace)
                    raise self._failure("exited before listening")
                line += chunk
        match = _LISTENING.match(line.split(b"\n", 1)[0])
        if match is None:
            raise self._failure(f"printed {line!r} instead of 'listening http://127.0.0.1:PORT/v1'")
        return match.group(1).decode(), int(match.group(2))

    def _wait_until_accepting(self, deadline: float) -> None:
        """Connect once; the child prints after binding, so this normally succeeds at once."""
        assert self._proc is not None and self._port is not None
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self._port), timeout=1.0):
                    return
            except OSError as exc:
                if self._proc.poll() is not None:
                    raise self._failure("exited before accepting connections") from exc
                if time.monotonic() > deadline:
                    raise self._failure(f"refuses connections on port {self._port}") from exc
                time.sleep(0.01)

    def _failure(self, what: str) -> RuntimeError:
        """A RuntimeError carrying the child's command, exit status and stderr tail."""
        status = self.returncode
        stderr = b""
        if self._stderr is not None:
            self._stderr.seek(0)
            stderr = self._stderr.read()[-4000:]
        return RuntimeError(
            f"mock server child {what} (exit status {status}).\n"
            f"command: {' '.join(self.command())}\n"
            f"stderr:\n{stderr.decode(errors='replace') or '(empty)'}"
        )

    def _shutdown(self) -> None:
        """SIGTERM, wait `stop_grace` seconds, then SIGKILL; release pipes and files."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=self.stop_grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._drain is not None:
            self._drain.join(timeout=self.stop_grace)
            self._drain = None
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._base_url = None
        self._port = None


def _child_env() -> dict[str, str]:
    """The parent's environment, with this `fanflow` first on the child's import path."""
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([_PACKAGE_ROOT, *paths])
    return env


def _discard(stream: IO[bytes] | None) -> None:
    """Drain the child's later stdout so a chatty handler can never block on a full pipe."""
    if stream is None:
        return
    while stream.read(65536):
        pass
