"""cookbook/preference_pairs.py: three models as branches, a judge as their join."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

COOKBOOK = Path(__file__).resolve().parent.parent / "cookbook"
pytestmark = pytest.mark.timeout(60)


async def test_preference_pairs_end_to_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(COOKBOOK))
    recipe = importlib.import_module("preference_pairs")
    models = ["m-llama", "m-qwen", "m-mistral"]
    result, pairs = await recipe.run(None, models, ["sql", "dns"], progress=False, store=False)

    assert not result.failures
    assert result.stats.steps["judge"]["ok"] == 10
    assert len(pairs) == 10
    for pair in pairs:
        assert set(pair) >= {"prompt", "chosen", "rejected"}
        assert pair["chosen"] != pair["rejected"]
        assert pair["chosen"].startswith(f"(m-{pair['chosen_model']})")
        assert pair["prompt"] in pair["chosen"]


def test_preference_pairs_script_runs_offline(tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    script = [sys.executable, str(COOKBOOK / "preference_pairs.py"), "--out", str(out)]
    done = subprocess.run(script, capture_output=True, text=True, timeout=60, check=False,
                          cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert len(rows) == 10 and all(row["chosen"] != row["rejected"] for row in rows)
