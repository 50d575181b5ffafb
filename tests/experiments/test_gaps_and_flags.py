"""Evaluation keeps the languages it can score (the others are recorded as gaps), and training
stages that stay at chance or majority level are flagged: in the log, the store, results, report."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from xstilts.errors import DataError
from xstilts.experiments import stages as pipeline
from xstilts.experiments.runner import run_spec
from xstilts.experiments.spec import spec_from_dict
from xstilts.experiments.store import ResultsStore
from xstilts.tasks import get_task
from xstilts.training.loop import TaskData, TrainSettings


def retrieval_spec(tmp_path, model_path) -> dict:
    """One evaluate stage and no training: a retrieval target without intermediate training."""
    return {
        "name": "gaps",
        "output_dir": str(tmp_path / "out"),
        "models": [{"name": "m", "path": str(model_path)}],
        "intermediate": ["none"],
        "targets": ["syn-tatoeba"],
        "evaluation": {"max_examples": 12},
    }


def _failing_for(language: str, error: Exception, monkeypatch: pytest.MonkeyPatch) -> None:
    real = pipeline.load_examples

    def load(task, split, lang, data_dir=None):
        if lang == language:
            raise error
        return real(task, split, lang, data_dir)

    monkeypatch.setattr(pipeline, "load_examples", load)


def test_an_absent_language_is_recorded_and_the_other_scores_are_kept(tiny_models, tmp_path, monkeypatch, caplog):
    _failing_for("scr", DataError("syn-tatoeba: data file not found: /data/scr.jsonl"), monkeypatch)
    with caplog.at_level(logging.WARNING, logger="xstilts.experiments.stages"):
        summary = run_spec(spec_from_dict(retrieval_spec(tmp_path, tiny_models["encoder"])))
    assert not summary.failed and len(summary.ran) == 1
    with ResultsStore(summary.store) as store:
        stage = store.stages()[0]
        assert stage.status == "done" and stage.outcome["languages"] == ["clo", "ord"]
        assert set(store.scores_frame("gaps")["language"]) == {"clo", "ord"}
        gaps = store.gaps_frame("gaps")
    assert gaps[["language", "split", "reason"]].values.tolist() == [["scr", "validation", "syn-tatoeba: data file not found: /data/scr.jsonl"]]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "2/3 languages" in warned[0] and "scr (syn-tatoeba: data file not found" in warned[0]


def test_a_bug_while_evaluating_one_language_still_fails_the_stage(tiny_models, tmp_path, monkeypatch):
    _failing_for("scr", RuntimeError("a bug"), monkeypatch)
    summary = run_spec(spec_from_dict(retrieval_spec(tmp_path, tiny_models["encoder"])), stop_on_error=False)
    assert len(summary.failed) == 1
    with ResultsStore(summary.store) as store:
        assert "RuntimeError: a bug" in store.stages()[0].error
        assert store.scores_frame().empty and store.gaps_frame().empty


def test_a_stage_with_no_language_to_evaluate_fails(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "load_examples", lambda task, split, lang, data_dir=None: (_ for _ in ()).throw(DataError(f"no {lang} data")))
    summary = run_spec(spec_from_dict(retrieval_spec(tmp_path, tiny_models["encoder"])), stop_on_error=False)
    assert len(summary.failed) == 1
    with ResultsStore(summary.store) as store:
        assert "no language could be evaluated: clo: no clo data; scr: no scr data; ord: no ord data" in store.stages()[0].error


# -- stages that did not learn ------------------------------------------------------------------------
def _flag_of(dev_score: float, labels: list[int]):
    task = get_task("syn-para")
    dev = [{"id": str(i), "sentence1": "a", "sentence2": "b", "label": label} for i, label in enumerate(labels)]
    outcome = SimpleNamespace(best_score=dev_score, best_step=4, steps=4, history=[{"step": 4, "dev": {"syn-para": dev_score}}])
    stage = SimpleNamespace(label="target/m/none/syn-para/seed0", kind="target")
    return pipeline._not_learned_flag(stage, [TaskData(task, [], dev, [])], outcome, TrainSettings(learning_rate=2e-5), "")


def test_a_stage_at_the_majority_class_level_is_flagged_though_above_chance(caplog):
    labels = [1] * 8 + [0] * 2  # majority 80, chance 50
    with caplog.at_level(logging.WARNING, logger="xstilts.experiments.stages"):
        flag = _flag_of(80.0, labels)
    task = flag["not_learned"]["tasks"][0]
    assert task == {"task": "syn-para", "metric": "accuracy", "dev": 80.0, "chance": 50.0, "majority": 80.0}
    (line,) = [r.getMessage() for r in caplog.records]
    assert "target/m/none/syn-para/seed0 did not learn" in line and "accuracy 80.0, chance 50.0, majority 80.0" in line
    assert "learning rate 2e-05 and 4 steps" in line
    assert _flag_of(51.0, [1, 0] * 5)["not_learned"]["tasks"][0]["chance"] == 50.0  # balanced: at chance
    assert _flag_of(90.0, labels) == {} and _flag_of(60.0, [1, 0] * 5) == {}  # learned


@pytest.mark.slow
def test_a_target_stage_that_did_not_learn_is_flagged_in_the_store_results_and_report(tiny_models, tmp_path, monkeypatch, caplog, capsys):
    from xstilts.analysis.report import ReportOptions, write_report
    from xstilts.cli import main

    spec = {
        "name": "flat",
        "output_dir": str(tmp_path / "out"),
        "models": [{"name": "m", "path": str(tiny_models["encoder"])}],
        "intermediate": ["none"],
        "targets": ["syn-para"],
        "training": {
            "target": {"max_steps": 4, "eval_every": 4, "max_train_examples": 32, "max_dev_examples": 24, "learning_rate": 1e-12},
            "max_restarts": 0,
        },
        "evaluation": {"max_examples": 12},
    }
    _failing_for("ord", DataError("syn-para: data file not found: /data/ord.jsonl"), monkeypatch)
    with caplog.at_level(logging.WARNING, logger="xstilts.experiments.stages"):
        summary = run_spec(spec_from_dict(spec))
    assert not summary.failed
    assert any("did not learn" in r.getMessage() and "majority" in r.getMessage() for r in caplog.records)
    with ResultsStore(summary.store) as store:
        flags = store.flags_frame("flat")
    assert flags["flag"].tolist() == ["not_learned"] and flags["kind"].tolist() == ["target"]
    detail = flags["detail"][0]["tasks"][0]
    assert detail["dev"] <= max(detail["chance"], detail["majority"]) + 2.0

    assert main(["results", str(summary.output_dir)]) == 0
    out = capsys.readouterr().out
    assert "did not learn" in out and "syn-para: 3/4 languages; missing: ord (syn-para: data file not found" in out

    md = write_report(summary.store, tmp_path / "report", options=ReportOptions(n_boot=50, n_permutations=99, figures=False)).markdown.read_text()
    assert "did not learn" in md and "syn-para: 3/4 languages; missing: ord" in md


def test_results_of_a_spec_list_missing_languages_and_flags(tmp_path, monkeypatch, capsys):
    import yaml

    from xstilts.cli import main

    from fake_stages import gappy

    monkeypatch.setenv("FAKE_STAGE_SECONDS", "0")
    monkeypatch.setenv("FAKE_MISSING_LANGUAGE", "clo")
    monkeypatch.setenv("FAKE_FLAT_TASK", "syn-para")
    data = {
        "name": "grid", "models": [{"name": "m", "path": "synthetic:encoder"}], "intermediate": ["none", "syn-nli"],
        "targets": ["syn-para"], "seeds": [0], "output_dir": str(tmp_path / "out"),
    }
    summary = run_spec(spec_from_dict(data), run_stage=gappy)
    assert not summary.failed
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["results", str(path)]) == 0
    out = capsys.readouterr().out
    assert "syn-para: 1/2 languages; missing: clo (syn-para: data file not found: /data/clo.jsonl); 2 runs: m/none/seed0, m/syn-nli/seed0" in out
    assert "target/m/none/syn-para/seed0 did not learn: English dev at chance or majority-class level (syn-para accuracy 50.0, chance 50.0, majority 50.0)" in out
    assert "target/m/syn-nli/syn-para/seed0 did not learn" in out


def test_a_multi_task_intermediate_stage_flags_the_tasks_left_at_their_floor():
    nli, topic = get_task("syn-nli"), get_task("syn-topic")
    dev_nli = [{"id": str(i), "premise": "a", "hypothesis": "b", "label": i % 3} for i in range(9)]  # chance = majority = 33.3
    dev_topic = [{"id": str(i), "text": "a", "label": i % 5} for i in range(10)]  # chance = majority = 20
    history = [{"step": 2, "dev": {"syn-nli": 80.0, "syn-topic": 20.0}}, {"step": 4, "dev": {"syn-nli": 90.0, "syn-topic": 21.0}}]
    outcome = SimpleNamespace(best_score=55.5, best_step=4, steps=4, history=history)
    stage = SimpleNamespace(label="intermediate/m/multi/seed0", kind="intermediate")
    data = [TaskData(nli, [], dev_nli, []), TaskData(topic, [], dev_topic, [])]
    flag = pipeline._not_learned_flag(stage, data, outcome, TrainSettings(learning_rate=2e-5), "")
    assert [t["task"] for t in flag["not_learned"]["tasks"]] == ["syn-topic"]  # the score at the chosen step, per task
    assert "(training.intermediate)" in flag["not_learned"]["hint"]


# -- filling gaps later ----------------------------------------------------------------------------------
def _primary_scores(store: ResultsStore) -> dict[str, float]:
    frame = store.scores_frame("gaps")
    frame = frame[frame["is_primary"] == 1]
    return dict(zip(frame["language"], frame["value"], strict=True))


def test_retrying_gaps_scores_the_added_language_and_keeps_the_others(tiny_models, tmp_path, monkeypatch):
    from xstilts.experiments.runner import reopen_gaps

    spec = spec_from_dict(retrieval_spec(tmp_path, tiny_models["encoder"]))
    real = pipeline.load_examples
    _failing_for("scr", DataError("syn-tatoeba: data file not found: /data/scr.jsonl"), monkeypatch)
    summary = run_spec(spec)
    with ResultsStore(summary.store) as store:
        before = _primary_scores(store)
        (stage_id,) = store.stages_with_gaps()
    assert set(before) == {"clo", "ord"}
    assert run_spec(spec).ran == []  # without --retry-gaps the stage stays finished

    monkeypatch.setattr(pipeline, "load_examples", real)  # the data of scr was added
    assert reopen_gaps(spec) == [stage_id]
    summary = run_spec(spec)
    assert summary.ran == [stage_id] and not summary.failed
    with ResultsStore(summary.store) as store:
        after = _primary_scores(store)
        assert store.gaps_frame().empty and store.stages_with_gaps() == []
        assert store.stage(stage_id).status == "done" and store.stage(stage_id).outcome["languages"] == ["clo", "scr", "ord"]
    assert set(after) == {"clo", "ord", "scr"} and {k: after[k] for k in before} == before
    predictions = summary.output_dir / "stages" / stage_id / "predictions"
    assert sorted(p.name for p in predictions.iterdir()) == ["clo.jsonl", "ord.jsonl", "scr.jsonl"]
    assert not list((summary.output_dir / "stages").glob("*.previous"))


def test_a_retry_that_fails_keeps_the_old_scores_gap_and_predictions(tiny_models, tmp_path, monkeypatch):
    from xstilts.experiments.runner import reopen_gaps

    spec = spec_from_dict(retrieval_spec(tmp_path, tiny_models["encoder"]))
    _failing_for("scr", DataError("syn-tatoeba: data file not found: /data/scr.jsonl"), monkeypatch)
    summary = run_spec(spec)
    with ResultsStore(summary.store) as store:
        before, gaps_before = _primary_scores(store), store.gaps_frame().values.tolist()
        (stage_id,) = store.stages_with_gaps()
    predictions = summary.output_dir / "stages" / stage_id / "predictions"
    files_before = {p.name: p.read_bytes() for p in predictions.iterdir()}

    monkeypatch.setattr(pipeline, "load_examples", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("a bug")))
    assert reopen_gaps(spec) == [stage_id]
    summary = run_spec(spec, stop_on_error=False)
    with ResultsStore(summary.store) as store:
        stage = store.stage(stage_id)
        assert stage.status == "done" and stage.outcome["languages"] == ["clo", "ord"]
        assert _primary_scores(store) == before and store.gaps_frame().values.tolist() == gaps_before
        assert store.stages_with_gaps() == [stage_id]  # still there to retry
        assert [a["status"] for a in store.attempts(stage_id)] == ["done", "failed"]
        assert "RuntimeError: a bug" in store.attempts(stage_id)[-1]["error"]
    assert {p.name: p.read_bytes() for p in predictions.iterdir()} == files_before


def test_run_and_plan_say_how_to_retry_gaps_and_retry_gaps_fills_them(tmp_path, monkeypatch, capsys):
    import yaml

    from xstilts.cli import main

    monkeypatch.setenv("FAKE_STAGE_SECONDS", "0")
    monkeypatch.setenv("FAKE_MISSING_LANGUAGE", "clo")
    data = {
        "name": "grid", "models": [{"name": "m", "path": "synthetic:encoder"}], "intermediate": ["none"],
        "targets": ["syn-para"], "seeds": [0], "output_dir": str(tmp_path / "out"),
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(data))
    run = ["run", str(path), "--no-report", "--stage-runner", "fake_stages:gappy"]
    hint = f"1 evaluate stage finished with missing languages (gaps); once their data exists, `xstilts run {path} --retry-gaps` evaluates them again"
    assert main(run) == 0
    assert hint in capsys.readouterr().out.splitlines()
    assert main(["plan", str(path)]) == 0
    assert hint in capsys.readouterr().out.splitlines()

    monkeypatch.delenv("FAKE_MISSING_LANGUAGE")  # the data of clo was added
    assert main(run) == 0
    out = capsys.readouterr().out
    assert "0 stages run" in out and hint in out.splitlines()  # a plain run does not evaluate again
    assert main([*run, "--retry-gaps"]) == 0
    out = capsys.readouterr().out
    assert "1 stages run" in out and "gaps" not in out.replace("--retry-gaps: 1 evaluate stage(s) with gaps", "")
    with ResultsStore(tmp_path / "out" / "results.sqlite") as store:
        assert store.gaps_frame().empty and "clo" in set(store.scores_frame()["language"])
