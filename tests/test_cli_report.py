"""`fanflow runs report NAME [-o report.html]`: the run report, from the store alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fanflow.cli import app
from tests.report.demo import run_demo

runner = CliRunner()


async def test_runs_report_writes_report_run_name_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store.db"
    await run_demo(store, name="nightly")
    monkeypatch.chdir(tmp_path)

    outcome = runner.invoke(app, ["--store", str(store), "runs", "report", "nightly"])

    assert outcome.exit_code == 0, outcome.output
    written = tmp_path / "report-nightly.html"
    assert "report-nightly.html" in outcome.output
    html = written.read_text(encoding="utf-8")
    assert '<svg class="graph"' in html and 'data-step="qwen"' in html


async def test_runs_report_writes_where_o_says(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    await run_demo(store, name="demo")
    out = tmp_path / "out" / "r.html"

    outcome = runner.invoke(app, ["--store", str(store), "runs", "report", "demo", "-o", str(out)])

    assert outcome.exit_code == 0, outcome.output
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


async def test_runs_report_of_an_unknown_run_says_so(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    await run_demo(store, name="demo")

    outcome = runner.invoke(app, ["--store", str(store), "runs", "report", "nope"])

    assert outcome.exit_code == 1
    assert "nope" in outcome.output
