import json
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def run_tasks(*args: str) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "xstilts", "tasks", "--json", *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_tasks_json_lists_every_task_with_kind_languages_metric_source():
    rows = {row["name"]: row for row in run_tasks()}
    assert {"mnli", "xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba", "xcopa",
            "lareqa", "mewslix", "ccg", "squad"} <= set(rows)
    panx = rows["panx"]
    assert panx["kind"] == "tagging" and panx["metric"] == "f1_seqeval" and len(panx["languages"]) == 48
    assert "google/xtreme" in panx["source"]
    assert rows["lareqa"]["source"].startswith("local")


def test_tasks_json_benchmark_filter_uses_benchmark_languages():
    rows = {row["name"]: row for row in run_tasks("--benchmark", "xtreme")}
    assert "xcopa" not in rows and len(rows["panx"]["languages"]) == 40 and len(rows["tatoeba"]["languages"]) == 36
