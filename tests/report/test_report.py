"""`result.report(path)`: one self-contained HTML file about a run (graph, step tables,
charts, failures, config), from a run in memory or from the store (`fanflow.load_run`)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import fanflow
from fanflow import PipelineResult, StepResults, Store, TaskResult, TaskStatus, TaskTiming, Usage
from tests.report.demo import run_demo


def edge_counts(html: str) -> dict[tuple[str, str], int]:
    """The task count the graph shows on each edge, by (from, to) step name."""
    found = re.findall(
        r'<g class="edge" data-from="([^"]*)" data-to="([^"]*)" data-tasks="(\d+)"', html
    )
    return {(source, target): int(count) for source, target, count in found}


def step_row(html: str, step: str) -> list[str]:
    """The cells of a step's row in the step table."""
    row = re.search(rf'<tr class="step" data-step="{step}">(.*?)</tr>', html, re.DOTALL)
    assert row, f"no row for step {step}"
    return [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row[1])]


async def test_report_is_one_self_contained_html_file(tmp_path: Path) -> None:
    result = await run_demo(tmp_path / "store.db")
    written = result.report(tmp_path / "run.html")

    assert written == tmp_path / "run.html"
    html = written.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    links = re.findall(r"""(?:src|href)\s*=\s*["']?\s*([^"'\s>]*)""", html, re.IGNORECASE)
    assert not [link for link in links if re.match(r"(https?:)?//", link)], links
    assert "<script src" not in html and "@import" not in html and "url(http" not in html
    assert "<link" not in html  # no stylesheet or font fetched from anywhere


async def test_report_graph_has_steps_as_text_and_task_counts_on_edges(tmp_path: Path) -> None:
    result = await run_demo(tmp_path / "store.db")
    html = result.report(tmp_path / "run.html").read_text(encoding="utf-8")

    graph = re.search(r'<svg class="graph".*?</svg>', html, re.DOTALL)
    assert graph, "no pipeline graph"
    names = re.findall(r"<text[^>]*class=\"step-name\"[^>]*>([^<]*)</text>", graph[0])
    assert set(names) == {"input", "questions", "llama", "qwen", "judge"}
    assert edge_counts(html) == {
        ("input", "questions"): 3,
        ("questions", "llama"): 9,
        ("questions", "qwen"): 9,
        ("llama", "judge"): 9,
        ("qwen", "judge"): 6,
    }
    assert "scatter" in graph[0]  # the callback that feeds the branches


async def test_report_step_table_counts_tasks_tokens_and_attempts(tmp_path: Path) -> None:
    result = await run_demo(tmp_path / "store.db")
    html = result.report(tmp_path / "run.html").read_text(encoding="utf-8")

    # ok, failed, timed out, skipped, from cache
    assert step_row(html, "questions")[1:6] == ["3", "0", "0", "0", "0"]
    assert step_row(html, "qwen")[1:6] == ["6", "3", "0", "0", "0"]
    assert step_row(html, "judge")[1:6] == ["6", "0", "0", "3", "0"]
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", html)
    for header in ("tokens in", "tokens out", "cost", "latency p50", "latency p95",
                   "latency max", "attempts", "most attempts"):  # fmt: skip
        assert header in headers


async def test_report_groups_failures_by_kind_with_ids_and_numbers_masked(
    tmp_path: Path,
) -> None:
    result = await run_demo(tmp_path / "store.db")
    html = result.report(tmp_path / "run.html").read_text(encoding="utf-8")

    groups = re.findall(r'<tr class="failure-kind" data-count="(\d+)">(.*?)</tr>', html, re.DOTALL)
    by_kind = {re.sub(r"<[^>]+>|\s+", " ", text).strip(): int(count) for count, text in groups}
    down = [kind for kind in by_kind if kind.startswith("failed") and "qwen is down" in kind]
    assert len(down) == 1, by_kind  # three errors differing in ids and numbers: one kind
    assert by_kind[down[0]] == 3
    assert "RuntimeError" in down[0] and "3fa85f64" not in down[0]
    assert "qwen/1." in html  # an example's task id (the FAIL topic is row 1)
    skipped = [kind for kind in by_kind if kind.startswith("skipped")]
    assert skipped and by_kind[skipped[0]] == 3


async def test_report_escapes_user_text(tmp_path: Path) -> None:
    result = await run_demo(tmp_path / "store.db")
    html = result.report(tmp_path / "run.html").read_text(encoding="utf-8")

    assert "<script>alert" not in html
    assert "&lt;script&gt;alert" in html  # the input shown, escaped (a failure example)


async def test_report_has_charts_drawn_as_inline_svg(tmp_path: Path) -> None:
    result = await run_demo(tmp_path / "store.db")
    html = result.report(tmp_path / "run.html").read_text(encoding="utf-8")

    for section in ("requests-over-time", "latency-by-step", "latency-by-model"):
        assert f'id="{section}"' in html
    assert all(r.timing is not None for r in result.steps["llama"].results)
    charts = re.findall(r'<div class="chart">\s*<svg', html)
    assert len(charts) >= 3


async def test_report_latency_columns_filled_from_recorded_timings(tmp_path: Path) -> None:
    result = await run_demo(tmp_path / "store.db")
    assert all(r.timing is not None for r in result.steps["llama"].results)
    html = result.report(tmp_path / "run.html").read_text(encoding="utf-8")

    cells = step_row(html, "llama")
    assert "\u2013" not in cells[9:12]  # p50, p95, max
    assert cells[12] == "9"  # attempts in total, one per task


def timed(step: str, index: int, latency: float, attempts: int) -> TaskResult:
    timing = TaskTiming(1000.0 + index, 1000.5 + index, 1001.0 + index + latency, latency, attempts)
    usage = Usage(prompt_tokens=10, completion_tokens=5)
    return TaskResult(step, (index,), {"x": index}, {}, TaskStatus.OK, "r", usage=usage,
                      model="m1", requests=attempts, cost=0.25, timing=timing)  # fmt: skip


def test_report_latency_percentiles_and_attempts_from_task_timings(tmp_path: Path) -> None:
    tasks = [timed("s", index, latency=float(index + 1), attempts=1) for index in range(20)]
    tasks.append(timed("s", 20, latency=100.0, attempts=4))
    result = PipelineResult([StepResults("s", tasks)], wall_time_s=30.0)
    html = result.report(tmp_path / "r.html").read_text(encoding="utf-8")

    cells = step_row(html, "s")
    assert cells[1] == "21"
    assert cells[6:9] == ["210", "105", "$5.2500"]  # tokens in, out, cost
    # per request: the last task took 100 s over 4 requests
    assert cells[9:12] == ["11.00 s", "20.00 s", "25.00 s"]  # p50, p95, max latency
    assert cells[12:14] == ["24", "4"]  # attempts in total, most for one task
    assert len(re.findall(r'<div class="chart">\s*<svg', html)) >= 3
    assert "font-family" in html and "<text" in html  # chart text is text, not outlines


def test_report_without_timings_shows_a_dash(tmp_path: Path) -> None:
    task = TaskResult("s", (0,), {"x": 1}, {}, TaskStatus.OK, "r", requests=1)
    result = PipelineResult([StepResults("s", [task])], wall_time_s=1.0)
    html = result.report(tmp_path / "r.html").read_text(encoding="utf-8")

    assert step_row(html, "s")[9:12] == ["\u2013"] * 3
    assert "no request timings were recorded" in html


async def test_load_run_report_defaults_to_report_run_name_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await run_demo(tmp_path / "store.db", name="nightly")
    monkeypatch.chdir(tmp_path)

    written = fanflow.load_run("nightly", store=tmp_path / "store.db").report()

    assert written == tmp_path / "report-nightly.html"
    html = written.read_text(encoding="utf-8")
    assert edge_counts(html)[("qwen", "judge")] == 6  # the graph, from the stored record
    assert "scatter" in html
    assert step_row(html, "qwen")[1:3] == ["6", "3"]


async def test_report_in_memory_run_without_a_store(tmp_path: Path) -> None:
    result = await run_demo(False)
    html = result.report(tmp_path / "r.html").read_text(encoding="utf-8")
    assert edge_counts(html)[("questions", "qwen")] == 9


def test_report_config_hides_secrets(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = Store(path)
    config = {
        "concurrency": 8,
        "max_tokens_total": 5000,
        "api_key": "sk-live-abcdefgh12345678",
        "network": {"headers": {"Authorization": "Bearer tok-98765432109876"}},
        "access_token": "ya29.secret-value-0000",
        "base_url": "http://user:hunter2pass@127.0.0.1:8000/v1",
    }
    store.start_run("r1", "secretive", "fp", config, ["s"])
    store.finish_run("r1", "ok", {})
    store.close()

    html = fanflow.load_run("secretive", store=path).report(tmp_path / "r.html").read_text()

    for secret in ("sk-live-abcdefgh12345678", "tok-98765432109876", "ya29.secret", "hunter2"):
        assert secret not in html
    assert "max_tokens_total" in html and "5000" in html and "concurrency" in html
    assert "api_key" in html  # the field is listed, its value masked


def test_report_charts_leave_matplotlib_global_state_alone(tmp_path: Path) -> None:
    import matplotlib

    tasks = [timed("s", index, latency=0.5, attempts=1) for index in range(5)]
    result = PipelineResult([StepResults("s", tasks)], wall_time_s=5.0)
    backend, settings = matplotlib.get_backend(), dict(matplotlib.rcParams)
    had_pyplot = "matplotlib.pyplot" in sys.modules

    result.report(tmp_path / "r.html")

    assert matplotlib.get_backend() == backend
    assert dict(matplotlib.rcParams) == settings
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot


def test_report_without_matplotlib_says_which_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = [timed("s", index, latency=0.5, attempts=1) for index in range(3)]
    result = PipelineResult([StepResults("s", tasks)], wall_time_s=5.0)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_svg", None)

    with pytest.raises(fanflow.ConfigurationError, match=r"fanflow\[report\]"):
        result.report(tmp_path / "r.html")


async def test_report_graph_names_the_callbacks_on_their_edges(tmp_path: Path) -> None:
    config = fanflow.PipelineConfig(progress=False, store=False)
    builder = fanflow.PipelineBuilder(config, fanflow.MockAdapter(lambda request: "text"))
    builder.input(topic="t")
    builder << fanflow.Prompt("ideas", "Ideas on {{topic}}").broadcast(2)
    builder << fanflow.Prompt("drafts", "Draft {{ideas}}").aggregate()
    builder << fanflow.Prompt("summary", "Sum up {{drafts}}")
    result = await builder.build().execute()

    html = result.report(tmp_path / "r.html").read_text(encoding="utf-8")

    assert edge_counts(html) == {
        ("input", "ideas"): 1,
        ("ideas", "drafts"): 2,
        ("drafts", "summary"): 1,
    }
    flows = re.findall(r'<text class="edge-flow"[^>]*>([^<]*)</text>', html)
    assert flows == ["broadcast(2)", "aggregate"]


async def test_report_of_a_subset_draws_the_whole_pipeline(tmp_path: Path) -> None:
    await run_demo(tmp_path / "store.db")
    subset = fanflow.load_run("demo", store=tmp_path / "store.db").subsets["judge"]

    html = subset.report(tmp_path / "r.html").read_text(encoding="utf-8")

    assert edge_counts(html)[("qwen", "judge")] == 6
