"""Benchmark tables (ratios, noise verdicts) and the grid's naive stage count."""

from __future__ import annotations

from pathlib import Path

from benchmarks.grid import grid_spec, naive_stage_count
from benchmarks.report import (
    accuracy_rows,
    mean_difference,
    ratio_rows,
    render_markdown,
    render_table,
    retrieval_rows,
    spread,
    training_rows,
)


def result(task: str, recipe: str, seed: int, tokens_per_s: float, dev: float) -> dict:
    return {
        "case": {"task": task, "recipe": recipe, "seed": seed, "steps": 10, "batch_size": 4},
        "rates": {"train_tokens_per_s": tokens_per_s, "train_tokens_per_cpu_s": tokens_per_s * 2, "train_examples_per_s": 1.0,
                  "train_padding": 0.5, "eval_tokens_per_s": tokens_per_s / 2, "eval_tokens_per_cpu_s": 1.0, "train_mfu": None},
        "train_peak_mib": 100.0, "eval_peak_mib": 90.0, "dev_score": dev, "dev_metric": "accuracy.accuracy",
        "lengths": {"features": 8, "mean": 3.0, "p50": 3, "p95": 5, "max": 6, "max_length": 16},
    }


TRAINING = [
    result("classification", "xstilts", 0, 300.0, 50.0),
    result("classification", "hf-grouped", 0, 200.0, 40.0),
    result("classification", "hf-padded", 0, 100.0, 49.0),
    result("classification", "xstilts", 1, 290.0, 52.0),
    result("classification", "hf-grouped", 1, 100.0, 40.0),
    result("classification", "xstilts", 2, 310.0, 48.0),
    result("classification", "hf-grouped", 2, 150.0, 40.0),
]


def test_ratios_are_medians_over_the_grouped_baseline_with_the_per_repeat_range():
    header, rows = ratio_rows(TRAINING)
    row = dict(zip(header, rows[0]))
    assert row["recipe"] == "xstilts"
    # medians 300 / 150; repeat by repeat: 300/200, 290/100, 310/150
    assert row["train vs hf-grouped"] == "2.00x (1.50–2.90)"
    assert row["train vs hf-padded"] == "3.00x"
    assert row["train memory vs hf-grouped"] == "1.00x"
    assert [r[1] for r in rows] == ["xstilts", "hf-padded"]  # every recipe but the baseline


def test_training_rows_give_median_min_and_max_and_the_load():
    header, rows = training_rows([r | {"load_before": 4.0, "load_after": 5.0} for r in TRAINING])
    row = dict(zip(header, rows[0]))
    assert row["recipe"] == "xstilts" and row["runs"] == "3"
    assert row["train tok/s median (min–max)"] == "300 (290–310)"
    assert row["load before→after"] == "4.0→5.0, 4.0→5.0, 4.0→5.0"
    assert spread([3.0, 1.0, 2.0]) == (2.0, 1.0, 3.0) and spread([]) is None


def test_dev_scores_compare_means_over_seeds_with_a_welch_interval():
    header, rows = accuracy_rows(TRAINING[:3])
    row = dict(zip(header, rows[0]))
    assert row["xstilts"] == "50.0" and row["hf-grouped"] == "40.0" and row["within noise"] == "-"  # one seed a side: no interval
    header, rows = accuracy_rows(TRAINING)
    row = dict(zip(header, rows[0]))
    assert row["xstilts"] == "50.0 ± 2.0 (n=3)"
    more = [r for r in TRAINING if r["case"]["recipe"] != "hf-grouped"] + [result("classification", "hf-grouped", s, 150.0, v) for s, v in ((0, 40.0), (1, 42.0), (2, 38.0))]
    row = dict(zip(header, accuracy_rows(more)[1][0]))
    # difference 10, standard error sqrt(4/3 + 4/3), Welch df = 4: t = 2.776
    assert row["xstilts - hf-grouped (95% CI)"] == "+10.0 ± 4.5"
    assert row["within noise"] == "no: xstilts better"
    close = [r for r in TRAINING if r["case"]["recipe"] != "hf-grouped"] + [result("classification", "hf-grouped", s, 150.0, v) for s, v in ((0, 49.0), (1, 51.0), (2, 47.0))]
    assert accuracy_rows(close)[1][0][-1] == "yes"


def test_mean_difference_without_spread():
    assert mean_difference([1.0, 1.0], [1.0, 1.0]) == (0.0, 0.0)
    assert mean_difference([2.0], [1.0, 3.0]) == (0.0, None)


def test_retrieval_rows_check_the_five_minute_target():
    r = {"queries": 10, "candidates": 20, "dim": 8, "tatoeba": {"seconds": 1.0, "cpu_seconds": 1.0, "accuracy": 1.0, "peak_mib": 5.0},
         "bucc": {"seconds": 301.0, "cpu_seconds": 300.0, "recall": 0.5, "peak_mib": 6.0}}
    header, rows = retrieval_rows([r])
    row = dict(zip(header, rows[0]))
    assert row["under 300 s"] == "no" and row["BUCC as two kNN searches s"] == "-" and row["vs brute force"] == "-"
    checked = r | {"vectors": "anisotropic", "isotropy": {"mean_cosine": 0.6, "top10_variance_share": 0.5},
                   "brute_force": {"mined_pairs_identical": False, "mined_pairs_recall_of_brute_force": 0.99,
                                   "forward_neighbours_equal": 1.0, "backward_neighbours_equal": 0.98}}
    row = dict(zip(header, retrieval_rows([checked])[1][0]))
    assert row["vectors (mean cosine, top-10 variance)"] == "anisotropic (0.60, 0.50)"
    assert row["vs brute force"] == "pair recall 0.9900; neighbours equal 1.0000 / 0.9800"


def test_whole_report_renders_with_machine_and_command():
    results = {
        "command": "python benchmarks/run.py --quick", "started": "2026-01-01T00:00:00+00:00", "device": "cpu", "shape": "tiny",
        "quick": True, "machine": {"cpu": "AMD EPYC", "cores": 2, "torch": "2", "transformers": "5", "python": "3.11",
                                   "threads_per_case": 1, "OMP_NUM_THREADS": "1"},
        "load_start": [1.0], "load_end": [2.0], "seconds": 10.0, "training": TRAINING,
    }
    text, markdown = render_table(results), render_markdown(results)
    for out in (text, markdown):
        assert "AMD EPYC" in out and "python benchmarks/run.py --quick" in out and "3.00x" in out and "load average" in out


def test_naive_grid_trains_an_intermediate_stage_per_cell():
    from xstilts.experiments.plan import plan
    from xstilts.experiments.spec import spec_from_dict

    spec = spec_from_dict(grid_spec(Path("/nonexistent/model"), Path("/tmp/out"), quick=True))
    stages = plan(spec)
    naive = naive_stage_count(stages)
    planned = sum(1 for s in stages if s.kind == "intermediate")
    # 2 intermediate conditions x 3 targets cells, against 2 shared stages.
    assert (planned, naive["intermediate"], naive["evaluate"]) == (2, 6, 9)


def test_render_rewrites_a_results_files_markdown(tmp_path, capsys):
    import json

    from benchmarks.run import main

    results = {
        "command": "python benchmarks/run.py", "started": "2026-01-01T00:00:00+00:00", "device": "cpu", "shape": "tiny",
        "machine": {"cpu": "CPU", "cores": 2, "torch": "2", "transformers": "5", "python": "3", "threads_per_case": 1, "OMP_NUM_THREADS": "1"},
        "load_start": [1.0], "load_end": [1.0], "seconds": 1.0, "training": TRAINING, "code": {"commit": "abcdef0123456", "modified": True},
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(results))
    assert main(["--render", str(path)]) == 0
    markdown = (tmp_path / "r.md").read_text()
    assert "code abcdef0123 with uncommitted changes" in markdown and "3.00x" in capsys.readouterr().out


def test_a_run_stopped_part_way_keeps_its_finished_cases(tmp_path, monkeypatch):
    """On a borrowed GPU the time limit can kill a run mid-way: every finished case is on disk."""
    import json

    import pytest

    import benchmarks.run as run
    import benchmarks.training

    calls = []

    def child(module: str, args: list[str], threads: int, log: Path) -> None:
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed while the second case runs
        Path(args[1]).write_text(json.dumps(TRAINING[0]))

    monkeypatch.setattr(run, "run_child", child)
    monkeypatch.setattr(benchmarks.training, "prepare", lambda *a, **k: None)
    with pytest.raises(KeyboardInterrupt):
        run.main(["--sections", "training", "--tasks", "classification", "--recipes", "xstilts,hf-grouped", "--repeats", "1",
                  "--out", str(tmp_path), "--name", "stopped", "--work-dir", str(tmp_path / "work")])
    saved = json.loads((tmp_path / "stopped.json").read_text())
    assert saved["partial"] is True and len(saved["training"]) == 1
    assert saved["training"][0]["case"]["recipe"] == "xstilts" and saved["command"].startswith("python benchmarks/run.py")
    assert run.main(["--render", str(tmp_path / "stopped.json")]) == 0  # a partial file renders like a whole one
    assert "stopped part-way, after 1 training case(s)" in (tmp_path / "stopped.md").read_text()


def test_on_a_gpu_a_discarded_warm_up_case_runs_first(tmp_path, monkeypatch):
    """The first GPU case of a run loads the CUDA libraries inside its timing window: a warm-up
    case takes that cost, and its result is not among the timed ones."""
    import json

    import benchmarks.run as run
    import benchmarks.training

    ran = []

    def child(module: str, args: list[str], threads: int, log: Path) -> None:
        ran.append(json.loads(Path(args[0]).read_text()))
        Path(args[1]).write_text(json.dumps(TRAINING[0]))

    monkeypatch.setattr(run, "run_child", child)
    monkeypatch.setattr(benchmarks.training, "prepare", lambda *a, **k: None)
    argv = ["--device", "cuda", "--shape", "tiny", "--tasks", "classification", "--recipes", "xstilts,hf-grouped", "--repeats", "1"]
    results = run.training_section(run.parse_args(argv), tmp_path, tmp_path / "log", "tiny")
    assert [(c["recipe"], c["steps"]) for c in ran] == [("xstilts", 10), ("xstilts", 100), ("hf-grouped", 100)]
    assert len(results) == 2
    ran.clear()
    run.training_section(run.parse_args([*argv, "--no-warmup-case"]), tmp_path, tmp_path / "log", "tiny")
    assert [c["recipe"] for c in ran] == ["xstilts", "hf-grouped"]
    ran.clear()
    run.training_section(run.parse_args(argv[2:]), tmp_path, tmp_path / "log", "tiny")  # the CPU: no warm-up case
    assert [c["recipe"] for c in ran] == ["xstilts", "hf-grouped"]
