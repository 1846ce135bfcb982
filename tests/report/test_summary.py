"""In Jupyter a `PipelineResult` shows as a compact HTML summary (`_repr_html_`): the
step table, totals of tasks by status, requests, tokens, cost and wall time, and the
first 5 rows, everything escaped."""

from __future__ import annotations

import re
from pathlib import Path

import fanflow
from fanflow import MockAdapter, PipelineBuilder, PipelineConfig, Prompt
from tests.report.demo import run_demo


def cells_of(html: str, css_class: str) -> list[list[str]]:
    rows = re.findall(rf'<tr class="{css_class}"[^>]*>(.*?)</tr>', html, re.DOTALL)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL) for row in rows]


async def test_summary_has_step_table_totals_and_first_five_rows() -> None:
    config = PipelineConfig(progress=False, store=False, run_name="eight")
    builder = PipelineBuilder(config, MockAdapter(lambda request: "an <b>answer</b>"))
    builder.input([{"topic": f"t{n}"} for n in range(8)])
    builder << Prompt("answer", "Say {{topic}}")
    result = await builder.build().execute()

    html = result._repr_html_()

    assert html.startswith('<div class="fanflow-summary">')
    assert "eight" in html
    steps = cells_of(html, "step")
    assert steps == [["answer", "8", "0", "0", "0", "0", "8", *steps[0][7:]]]
    assert "8 ok, 0 failed, 0 timed out, 0 skipped" in html
    assert "8 requests" in html and "cost $" in html and "wall time" in html
    rows = cells_of(html, "row")
    assert len(rows) == 5
    assert "first 5 of 8 rows" in html
    assert "<b>answer</b>" not in html and "&lt;b&gt;answer&lt;/b&gt;" in html


async def test_summary_of_a_branching_run_from_the_store(tmp_path: Path) -> None:
    await run_demo(tmp_path / "store.db", name="demo")
    html = fanflow.load_run("demo", store=tmp_path / "store.db")._repr_html_()

    by_step = {cells[0]: cells[1:6] for cells in cells_of(html, "step")}
    assert by_step["qwen"] == ["6", "3", "0", "0", "0"]
    assert by_step["judge"] == ["6", "0", "0", "3", "0"]
    assert len(cells_of(html, "row")) == 5
    assert "<script>alert" not in html
