"""Test-wide guards: no network except loopback, so a test can never reach a real endpoint."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

_LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check_address(sock: socket.socket, address: Any) -> None:
    if sock.family == getattr(socket, "AF_UNIX", None):
        return
    host = address[0] if isinstance(address, tuple) else address
    if host not in _LOOPBACK_HOSTS and not str(host).startswith("127."):
        raise RuntimeError(f"tests may only connect to loopback, not {host!r}")


def _guarded_connect(sock: socket.socket, address: Any) -> None:
    _check_address(sock, address)
    _real_connect(sock, address)


def _guarded_connect_ex(sock: socket.socket, address: Any) -> int:
    _check_address(sock, address)
    return _real_connect_ex(sock, address)


@pytest.fixture(autouse=True)
def _store_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Each test's pipelines keep their results in a fresh store, never in the checkout."""
    monkeypatch.setenv("FANFLOW_STORE", str(tmp_path / "fanflow.db"))


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    yield
