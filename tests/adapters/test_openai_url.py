"""`OpenAIAdapter` refuses a base URL it could never send to, when it is constructed."""

from __future__ import annotations

import pytest

from fanflow import ConfigurationError, OpenAIAdapter


@pytest.mark.parametrize(
    ("base_url", "problem"),
    [
        ("http://127.0.0.1:8000/v1 ", "space"),
        (" http://127.0.0.1:8000/v1", "space"),
        ("http://127.0.0.1:8000/v 1", "space"),
        ("http://127.0.0.1:8000/v1\n", "space"),
        ("http://127.0.0.1:99999/v1", "port"),
        ("http://127.0.0.1:0/v1", "port"),
        ("http://127.0.0.1:http/v1", "port"),
        ("http:///v1", "host"),
        ("ftp://127.0.0.1/v1", "http"),
    ],
)
def test_a_base_url_that_cannot_work_is_refused_at_construction(
    base_url: str, problem: str
) -> None:
    with pytest.raises(ConfigurationError, match=f"OpenAIAdapter.*{problem}"):
        OpenAIAdapter(base_url, model="m")


def test_a_refused_url_does_not_echo_its_password() -> None:
    with pytest.raises(ConfigurationError) as caught:
        OpenAIAdapter("http://user:hunter2@127.0.0.1:99999/v1", model="m")

    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8000/v1",
        "http://127.0.0.1:8000/v1/",
        "https://api.example.com/v1",
        "http://[::1]:8000/v1",
        "http://localhost:65535/v1",
    ],
)
def test_good_base_urls_are_taken(base_url: str) -> None:
    assert OpenAIAdapter(base_url, model="m").base_url == base_url.rstrip("/")
