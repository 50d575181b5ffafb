"""The planner: content-addressed stages, shared intermediate checkpoints, and the plan command
with its offline estimate on the shipped example specs."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from xstilts.cli import main
from xstilts.experiments.estimate import estimate_plan
from xstilts.experiments.plan import plan
from xstilts.experiments.spec import load_spec, spec_from_dict
from xstilts.experiments.throughput import Throughput, load_throughput
from xstilts.tasks import get_task

from experiment_helpers import grid

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _spec(tmp_path: Path, **overrides: object):
    return spec_from_dict(grid(tmp_path / "out", **overrides))


def test_every_intermediate_checkpoint_is_trained_once_and_shared(tmp_path: Path) -> None:
    spec = _spec(tmp_path, targets=["syn-para", "syn-pos", "syn-tatoeba"], seeds=[0, 1])
    stages = plan(spec)
    intermediates = [s for s in stages if s.kind == "intermediate"]
    assert len(intermediates) == 2  # syn-nli per seed; `none` trains nothing
    for i in intermediates:
        children = [s for s in stages if s.parent == i.id]
        # two trainable targets train from it; the retrieval target evaluates it directly
        assert sorted((c.kind, c.task) for c in children) == [("evaluate", "syn-tatoeba"), ("target", "syn-para"), ("target", "syn-pos")]
    assert len({s.id for s in stages}) == len(stages)
    position = {s.id: n for n, s in enumerate(stages)}
    assert all(position[s.parent] < position[s.id] for s in stages if s.parent)


def test_retrieval_targets_have_no_training_stage(tmp_path: Path) -> None:
    stages = plan(_spec(tmp_path, targets=["syn-tatoeba"], intermediate=["none"]))
    assert [(s.kind, s.parent) for s in stages] == [("evaluate", None)]


def test_ids_depend_on_content_not_on_labels(tmp_path: Path) -> None:
    base = {s.id for s in plan(_spec(tmp_path))}
    renamed = _spec(tmp_path, name="other", models=[{"name": "renamed", "path": "synthetic:encoder"}], output_dir=str(tmp_path / "x"))
    assert {s.id for s in plan(renamed)} == base
    # writing a task's default explicitly resolves to the same settings, hence the same stages
    explicit = _spec(tmp_path, training={"tasks": {"syn-nli": {"learning_rate": 5e-4, "max_steps": 300}}})
    assert {s.id for s in plan(explicit)} == base
    how = _spec(tmp_path, evaluation={"batch_size": 7}, training={"intermediate": {"checkpoint_every": 3}}, executor={"workers": 3})
    assert {s.id for s in plan(how)} == base
    changed = _spec(tmp_path, training={"tasks": {"syn-nli": {"learning_rate": 1e-4}}})
    changed_ids = {s.id: s for s in plan(changed)}
    moved = {s.id for s in plan(_spec(tmp_path))} - set(changed_ids)
    # the intermediate stage and everything downstream of it change; the baseline's stages do not
    assert len(moved) == 4 and all(changed_ids[i].condition.name == "none" for i in set(changed_ids) & base)


def _ids(tmp_path: Path, **overrides: object) -> dict[tuple[str, str | None], str]:
    """Stage ids of the one-seed grid by (kind, condition/target); intermediate stages under (kind, None)."""
    return {(s.kind, s.task if s.kind != "intermediate" else None) + (s.condition.name,): s.id for s in plan(_spec(tmp_path, **overrides))}  # type: ignore[misc]


def _changed(a: dict, b: dict) -> set:
    return {k for k in a if a[k] != b[k]}


def test_precision_auto_and_no_train_differently_on_a_gpu_hence_different_ids(tmp_path: Path) -> None:
    default = _ids(tmp_path)
    no = {"intermediate": {"precision": "no"}, "target": {"precision": "no"}}
    # on a GPU "auto" trains in bf16 where supported, "no" in float32: every training stage and what follows it differ
    assert _changed(default, _ids(tmp_path, training=no)) == set(default) - {("evaluate", "syn-tatoeba", "none")}
    auto = {"intermediate": {"precision": "auto"}, "target": {"precision": "auto"}}
    assert _ids(tmp_path, training=auto) == default  # the default written out
    # on the CPU auto resolves to float32: the same run as "no", the same ids
    assert _ids(tmp_path, device="cpu", training=no) == _ids(tmp_path, device="cpu")
    assert _ids(tmp_path, device="cpu") != default  # resolved to "no", not "auto"


def test_the_specs_epochs_over_a_tasks_default_max_steps_change_the_id(tmp_path: Path) -> None:
    hp = get_task("syn-para").hyperparameters
    assert hp.max_steps is not None  # trains hp.max_steps steps unless the spec sets epochs
    default = _ids(tmp_path)
    # the task's own default epochs, written out, replace its max_steps: a different run
    epochs = _ids(tmp_path, training={"tasks": {"syn-para": {"epochs": hp.epochs}}})
    assert _changed(default, epochs) == {("target", "syn-para", c) for c in ("none", "syn-nli")} | {("evaluate", "syn-para", c) for c in ("none", "syn-nli")}
    assert _ids(tmp_path, training={"tasks": {"syn-para": {"max_steps": hp.max_steps}}}) == default


def test_a_retrieval_targets_sequence_length_is_in_its_evaluate_stages_id(tmp_path: Path) -> None:
    # a retrieval target is evaluated at training.target.max_length (it has no training stage)
    default = _ids(tmp_path, targets=["syn-tatoeba"])
    hp = get_task("syn-tatoeba").hyperparameters
    shorter = _ids(tmp_path, targets=["syn-tatoeba"], training={"target": {"max_length": hp.max_length // 2}})
    assert _changed(default, shorter) == {("evaluate", "syn-tatoeba", c) for c in ("none", "syn-nli")}
    assert _ids(tmp_path, targets=["syn-tatoeba"], training={"target": {"max_length": hp.max_length}}) == default
    # evaluation languages are a set: their order in the spec does not matter
    languages = get_task("syn-para").languages
    assert _ids(tmp_path, evaluation={"languages": list(reversed(languages))}) == _ids(tmp_path, evaluation={"languages": list(languages)})


def test_seeds_multiply_stages(tmp_path: Path) -> None:
    assert len(plan(_spec(tmp_path, seeds=[0, 1, 2]))) == 3 * len(plan(_spec(tmp_path)))


def test_stage_descriptions_carry_the_condition(tmp_path: Path) -> None:
    stage = next(s for s in plan(_spec(tmp_path)) if s.kind == "intermediate")
    d = stage.describe()
    assert d["condition_spec"]["tasks"] == ["syn-nli"] and d["model_path"] == "synthetic:encoder"


def test_throughput_interpolates_between_sizes() -> None:
    t = Throughput("x", {"a": 1e8, "b": 1e9}, {"a": 1000.0, "b": 100.0}, {"a": 1000.0, "b": 100.0}, 1.0)
    assert t.tokens_per_second(1e8, "train") == pytest.approx(1000)
    assert t.tokens_per_second(10**8.5, "train") == pytest.approx(10**2.5)
    assert t.tokens_per_second(1e7, "train") == pytest.approx(1000)  # no faster than the smallest row
    assert t.tokens_per_second(2e9, "train") == pytest.approx(50)


def test_estimate_grows_with_model_size_and_counts_all_stage_kinds() -> None:
    spec = load_spec(EXAMPLES / "encoder_vs_decoder_xtremer.yaml")
    stages = plan(spec)
    estimate = estimate_plan(stages, spec, "h100")
    assert not estimate.missing()
    by_model = {}
    for s, e in zip(stages, estimate.stages):
        by_model[s.model.name] = by_model.get(s.model.name, 0.0) + e.hours
    assert by_model["xlm-r-base"] < by_model["xlm-r-large"] < by_model["qwen2.5-1.5b"]
    assert all(estimate.hours(kind=k) > 0 for k in ("intermediate", "target", "evaluate"))


def test_estimate_reports_models_of_unknown_size(tmp_path: Path) -> None:
    spec = _spec(tmp_path, models=[{"name": "m", "path": "someone/unknown-model", "family": "encoder"}])
    estimate = estimate_plan(plan(spec), spec, "h100")
    assert estimate.missing() and all("unknown offline" in (m.missing or "") for m in estimate.missing())


def test_a_tables_stage_overheads_are_added_to_every_stage_and_checked(tmp_path: Path) -> None:
    import json

    from xstilts.errors import ConfigError
    from xstilts.experiments.throughput import THROUGHPUT_FILE

    spec = load_spec(EXAMPLES / "encoder_vs_decoder_xtremer.yaml")
    stages = plan(spec)
    table = json.loads(THROUGHPUT_FILE.read_text())
    table["devices"]["h100"]["stage_overhead_seconds"] = 360
    path = tmp_path / "t.json"
    path.write_text(json.dumps(table))
    plain, with_overhead = estimate_plan(stages, spec, "h100"), estimate_plan(stages, spec, "h100", path)
    for a, b in zip(plain.stages, with_overhead.stages):
        assert b.hours == pytest.approx(a.hours + 0.1)
        assert b.train_speed > 0 and b.parameters
    table["devices"]["h100"]["evaluate_overhead_seconds"] = 36
    path = tmp_path / "t2.json"  # tables are cached by path
    path.write_text(json.dumps(table))
    for a, b, stage in zip(plain.stages, estimate_plan(stages, spec, "h100", path).stages, stages):
        assert b.hours == pytest.approx(a.hours + (0.01 if stage.kind == "evaluate" else 0.1))
    table["devices"]["h100"]["evaluate_overhead_seconds"] = "fast"
    bad_evaluate = tmp_path / "bad_evaluate.json"
    bad_evaluate.write_text(json.dumps(table))
    with pytest.raises(ConfigError, match=r"bad_evaluate.json: devices.h100.evaluate_overhead_seconds: expected a number of seconds >= 0, got 'fast'"):
        load_throughput("h100", bad_evaluate)
    table["devices"]["h100"].pop("evaluate_overhead_seconds")
    table["devices"]["h100"]["stage_overhead_seconds"] = -1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(table))
    with pytest.raises(ConfigError, match=r"bad.json: devices.h100.stage_overhead_seconds: expected a number of seconds >= 0"):
        load_throughput("h100", bad)
    table["devices"]["h100"].update(stage_overhead_seconds=0, bf16="yes")
    bad_bf16 = tmp_path / "bad_bf16.json"  # tables are cached by path
    bad_bf16.write_text(json.dumps(table))
    with pytest.raises(ConfigError, match=r"bad_bf16.json: devices.h100.bf16: expected true or false, got 'yes'"):
        load_throughput("h100", bad_bf16)


def test_paper_grid_evaluation_is_mostly_bucc_full_corpus_encoding() -> None:
    """The paper grid's evaluate stages embed BUCC's whole comparable corpora (~800k sentences a
    language pair) in float32: that, not dev-set evaluation, is most of their estimate."""
    spec = load_spec(EXAMPLES / "phang2020.yaml")
    stages = plan(spec)
    estimate = estimate_plan(stages, spec, "a100-80gb")
    evaluation = {s.id: s.task for s in stages if s.kind == "evaluate"}
    bucc = estimate.hours({i for i, t in evaluation.items() if t == "bucc2018"})
    assert bucc > 0.8 * estimate.hours(kind="evaluate")


def test_xnli_evaluation_is_estimated_as_its_dev_sets_forward_in_float32() -> None:
    """By hand: an XNLI evaluate stage reads the validation set of XNLI's 15 languages (2,490
    examples each, ~45 tokens: 1,680,750 tokens), forward only, in float32 (evaluation has no
    autocast). XLM-R Large (560M parameters) on an a100-80gb infers 83,782 tokens/s at the table's
    rates (log-log between 300M: 160,000 and 600M: 78,000), x fp32_factor 0.062 = 5,194.5 tokens/s:
    323.6 s = 0.0899 hours a checkpoint, one per condition (16)."""
    spec = load_spec(EXAMPLES / "phang2020.yaml")
    stages = [s for s in plan(spec) if s.kind == "evaluate" and s.task == "xnli"]
    assert len(stages) == 16
    estimate = estimate_plan(stages, spec, "a100-80gb")
    assert {(e.train_tokens, e.inference_tokens, e.inference_speed) for e in estimate.stages} == {(0.0, 15 * 2490 * 45, 0.062)}
    assert estimate.stages[0].hours == pytest.approx(0.08988, rel=1e-3)


def test_the_estimate_prices_the_precision_a_stage_resolves_to(tmp_path: Path) -> None:
    model = [{"name": "m", "path": "FacebookAI/xlm-roberta-base"}]

    def speeds(device: str, precision: str | None = None) -> tuple[float, float]:
        training = {"target": {"precision": precision}} if precision else {}
        spec = _spec(tmp_path, models=model, intermediate=["none"], targets=["syn-para"], training=training)
        by_kind = {s.kind: e for s, e in zip(plan(spec), estimate_plan(plan(spec), spec, device).stages)}
        return by_kind["target"].train_speed, by_kind["evaluate"].inference_speed

    h100, v100 = load_throughput("h100").fp32_factor, load_throughput("v100").fp32_factor
    assert speeds("h100") == speeds("h100", "auto") == speeds("h100", "bf16") == (1.0, h100)  # auto: bf16 on an h100
    assert speeds("h100", "no") == (h100, h100)  # ~15x slower
    assert speeds("v100") == (v100, v100)  # no bf16 tensor cores: auto runs at float32 speed
    assert speeds("v100", "fp16") == (1.0, v100)


def test_unknown_device_in_throughput_table() -> None:
    with pytest.raises(Exception, match="unknown device in the throughput table 'h10'; closest: h100"):
        load_throughput("h10")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the planner tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("name", ["phang2020", "encoder_vs_decoder_xtremer", "synthetic_demo"])
def test_plan_command_works_offline_on_the_examples(name: str, tmp_path: Path, capsys: pytest.CaptureFixture, no_network: None, empty_hub_cache: None) -> None:
    code = main(["plan", str(EXAMPLES / f"{name}.yaml"), "--output-dir", str(tmp_path / "out")])
    captured = capsys.readouterr()
    out = captured.out
    assert "no results store yet" in out and "estimate:" in out and "no estimate for" not in out
    assert not (tmp_path / "out").exists()  # planning creates nothing
    if name == "synthetic_demo":  # generated data and built-in models: nothing is missing
        assert code == 0 and "preflight: ok" in out
    else:  # offline, with an empty datasets cache, the hub datasets are found missing, each with a fix
        assert code == 2 and "would fail the run" in captured.err
        assert "unreachable" in out and "XSTILTS_DATA_" in out


@pytest.fixture
def empty_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets-cache")


def _planted(tmp_path: Path, tiny: Path) -> Path:
    """A spec with several problems: a missing model folder, a corrupt config, an empty model folder,
    a target language without data, an intermediate task without data, a missing LM corpus."""
    import json
    import shutil

    import yaml

    corrupt = tmp_path / "corrupt"
    shutil.copytree(tiny, corrupt)
    (corrupt / "config.json").write_text('{"model_type": "xlm-roberta",', encoding="utf-8")
    (tmp_path / "empty").mkdir()
    data = tmp_path / "data"
    (data / "pawsx").mkdir(parents=True)
    for name in ("train-en.tsv", "dev-en.tsv", "dev-de.tsv"):
        (data / "pawsx" / name).write_text("one\ttwo\t1\n", encoding="utf-8")
    spec = {
        "name": "planted", "output_dir": str(tmp_path / "out"), "data_dir": str(data), "device": "cpu",
        "models": [
            {"name": "fine", "path": str(tiny)}, {"name": "gone", "path": str(tmp_path / "no-such-model")},
            {"name": "broken", "path": str(corrupt)}, {"name": "hollow", "path": str(tmp_path / "empty")},
        ],
        "intermediate": ["none", "sst2", {"name": "sst2+lm", "tasks": ["sst2"], "lm_mix": {"corpus": str(tmp_path / "no-corpus.txt")}}],
        "targets": ["pawsx"], "evaluation": {"languages": ["en", "de", "fr"]},
        "training": {"target": {"max_steps": 2}},
    }
    path = tmp_path / "planted.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    json.dumps(spec)
    return path


def _rows(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("│ ") and ("error" in line[:12] or "missing" in line[:12] or "skipped" in line[:12])]


def test_plan_lists_every_planted_problem_in_one_run(tmp_path: Path, tiny_encoder_dir: Path, capsys: pytest.CaptureFixture, empty_hub_cache: None) -> None:
    spec = _planted(tmp_path, tiny_encoder_dir)
    assert main(["plan", str(spec)]) == 2
    captured = capsys.readouterr()
    rows = _rows(captured.out)
    subjects = " ".join(rows)
    for planted in ("model gone", "model broken", "model hollow", "data sst2/en/train", "data sst2/en/validation", "data pawsx/fr/validation", "lm_mix corpus"):
        assert planted in subjects, (planted, captured.out)
    assert "model fine" not in subjects and "pawsx/de" not in subjects and "pawsx/en" not in subjects
    assert "would fail the run" in captured.err and captured.err.count("\n") == 1


def test_allow_missing_languages_lets_plan_and_run_go_on(tmp_path: Path, tiny_encoder_dir: Path, capsys: pytest.CaptureFixture, empty_hub_cache: None) -> None:
    import yaml

    spec = _planted(tmp_path, tiny_encoder_dir)
    data = yaml.safe_load(spec.read_text())
    data["models"], data["intermediate"] = data["models"][:1], ["none"]
    spec.write_text(yaml.safe_dump(data))
    assert main(["plan", str(spec)]) == 2  # pawsx/fr has no data
    assert main(["plan", str(spec), "--allow-missing-languages"]) == 0
    out = capsys.readouterr().out
    skipped = [row for row in _rows(out) if "skipped" in row]
    assert skipped and "pawsx/fr/validation" in skipped[-1]
    assert "1 missing language split(s) will be skipped and recorded" in out


def test_run_refuses_before_any_training(tmp_path: Path, tiny_encoder_dir: Path, capsys: pytest.CaptureFixture, empty_hub_cache: None) -> None:
    spec = _planted(tmp_path, tiny_encoder_dir)
    assert main(["run", str(spec)]) == 2
    captured = capsys.readouterr()
    assert "model gone" in captured.out and "would fail the run" in captured.err
    assert not (tmp_path / "out").exists()  # nothing started


def test_plan_command_counts_reused_stages(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import yaml

    from xstilts.experiments.runner import run_spec

    from fake_stages import sleepy

    data = grid(tmp_path / "out", targets=["syn-tatoeba"])
    spec = spec_from_dict(data)
    run_spec(spec, run_stage=sleepy)  # 2 stages: the baseline's and syn-nli's evaluations, 1 intermediate
    data["seeds"] = [0, 1]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["plan", str(path), "--list"]) == 0
    out = capsys.readouterr().out
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert total.split()[1:5] == ["6", "3", "3", "0"]  # stages, to run, reused, running
    listed = [line.split() for line in out.splitlines() if re.match(r"  [0-9a-f]{16}  ", line)]
    assert len(listed) == 6 and sum(1 for row in listed if row[1] == "reused") == 3


@pytest.mark.parametrize("name", ["phang2020", "encoder_vs_decoder_xtremer"])
def test_results_command_on_the_examples_before_anything_ran(name: str, tmp_path: Path, capsys: pytest.CaptureFixture, no_network: None) -> None:
    assert main(["results", str(EXAMPLES / f"{name}.yaml"), "--output-dir", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    total = len(plan(load_spec(EXAMPLES / f"{name}.yaml")))
    assert f"{total} stages" in out and "not created yet" in out and f"pending {total}, running 0, done 0, failed 0" in out
    assert not (tmp_path / "out").exists()


def test_deep_plan_featurises_with_each_tokenizer(tmp_path: Path, tiny_encoder_dir: Path, capsys: pytest.CaptureFixture, empty_hub_cache: None) -> None:
    import shutil

    import yaml

    spec = _planted(tmp_path, tiny_encoder_dir)
    data = yaml.safe_load(spec.read_text())
    garbled = tmp_path / "garbled"
    shutil.copytree(tiny_encoder_dir, garbled)
    (garbled / "tokenizer.json").write_text("{ not a tokenizer", encoding="utf-8")
    data["models"] = [data["models"][0], {"name": "garbled", "path": str(garbled)}]
    data["intermediate"], data["evaluation"] = ["none"], {"languages": ["en", "de"]}
    spec.write_text(yaml.safe_dump(data))
    assert main(["plan", str(spec), "--deep"]) == 2
    rows = _rows(capsys.readouterr().out)
    assert len(rows) == 1 and "model garbled" in rows[0] and "tokenizer does not load" in rows[0]
    data["models"] = data["models"][:1]
    spec.write_text(yaml.safe_dump(data))
    assert main(["plan", str(spec), "--deep"]) == 0
    assert "preflight: ok" in capsys.readouterr().out


def test_deep_plan_reports_a_task_its_tokenizer_cannot_featurise(tmp_path: Path, tiny_encoder_dir: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, empty_hub_cache: None) -> None:
    import yaml

    from xstilts.kinds import handler_for
    from xstilts.tasks import get_task

    def refuse(*args: object, **kwargs: object) -> list:
        raise ValueError("sequence too long for any window")

    spec = _planted(tmp_path, tiny_encoder_dir)
    data = yaml.safe_load(spec.read_text())
    data["models"], data["intermediate"], data["evaluation"] = data["models"][:1], ["none"], {"languages": ["en"]}
    spec.write_text(yaml.safe_dump(data))
    monkeypatch.setattr(type(handler_for(get_task("pawsx"))), "featurize", refuse)
    assert main(["plan", str(spec)]) == 0  # featurising is the deep check's
    assert main(["plan", str(spec), "--deep"]) == 2
    rows = _rows(capsys.readouterr().out)
    assert len(rows) == 1 and "model fine x pawsx" in rows[0] and "sequence too long" in rows[0]


def test_synthetic_qa_stages_are_priced_higher_than_pos_stages() -> None:
    """Per example, QA (contexts of two or three sentences) costs about three times POS (one
    sentence): the same steps and batch size must not be estimated at the same tokens."""
    spec = load_spec(Path(__file__).resolve().parents[2] / "src/xstilts/synthetic/demo.yaml")
    stages = plan(spec)
    estimate = {e.stage_id: e for e in estimate_plan(stages, spec, "cpu").stages}
    by_task: dict[tuple[str, str], float] = {}
    for s in stages:  # every stage of a kind and task has the same tokens: keep any
        by_task[(s.kind, s.task or "")] = estimate[s.id].train_tokens + estimate[s.id].inference_tokens
    assert by_task[("target", "syn-qa")] > 2.5 * by_task[("target", "syn-pos")]
    assert by_task[("evaluate", "syn-qa")] > 2.5 * by_task[("evaluate", "syn-pos")]


def test_dev_evaluations_are_counted_as_the_training_loop_runs_them(tmp_path: Path) -> None:
    """150 steps evaluated every 50: 3 dev evaluations (steps 50, 100, 150), not 4."""
    from xstilts.experiments.catalog import dataset_facts

    spec = _spec(tmp_path, targets=["syn-pos"], intermediate=["none"])
    target = next(s for s in plan(spec) if s.kind == "target")
    e = estimate_plan([target], spec, "cpu").stages[0]
    facts = dataset_facts("syn-pos")
    assert e.inference_tokens == pytest.approx(3 * facts.dev * facts.eval_tokens)
    assert e.train_tokens == pytest.approx(150 * 32 * facts.tokens)


# The stage ids of the shipped specs, pinned: a new setting left at its default must not move them
# (every stored result would otherwise be orphaned). Update only with a deliberate change of what
# stages compute: a PIPELINE_VERSION bump, or (as for the synthetic specs' six retrieval evaluations
# per model when the synthetic models got their held-out retrieval layer) a change of some stages' results.
# The calibration grid moved to max_restarts 0 deliberately, to share its stages with the controls grid.
# The synthetic specs' syn-tatoeba evaluations moved to retrieval_centering, and the decoders' retrieval layer
# to the one chosen under it, deliberately (issue 19's floors). Every synthetic stage moved with world 3
# (WORLD_VERSION 3: new task data and pretrained models), deliberately.
PINNED_IDS = {
    "examples/encoder_vs_decoder_xtremer.yaml": (5319, "b565a4067398eaa45b8a405e1b93a20a344fc3f0c0a9b651548ec1e2fbf30845"),
    "examples/phang2020.yaml": (271, "83165f0b5fdf1669e1f0fc8e4901ba07900edba33d8a156d5add109efc308002"),
    "examples/synthetic_calibration.yaml": (1170, "cd04f060e0c8465af65e39674018d0455f78ddb182608bfb03dbae8928f9a805"),
    "examples/synthetic_demo.yaml": (58, "f0dcb7c2539e083d4db79cd44a9ce9ff4e8460e304e1e1acf587aac40cfd530b"),
    "src/xstilts/synthetic/demo.yaml": (58, "f0dcb7c2539e083d4db79cd44a9ce9ff4e8460e304e1e1acf587aac40cfd530b"),
}


@pytest.mark.parametrize("path", sorted(PINNED_IDS))
def test_the_stage_ids_of_the_shipped_specs_are_pinned(path: str) -> None:
    import hashlib

    ids = [s.id for s in plan(load_spec(EXAMPLES.parent / path))]
    assert (len(ids), hashlib.sha256("\n".join(ids).encode()).hexdigest()) == PINNED_IDS[path]


def test_packing_is_in_the_ids_only_when_on(tmp_path: Path) -> None:
    default = _ids(tmp_path)
    assert _ids(tmp_path, training={"intermediate": {"packing": False}, "target": {"packing": False}}) == default
    packed = _ids(tmp_path, training={"tasks": {"syn-para": {"packing": True}}})
    assert _changed(default, packed) == {("target", "syn-para", c) for c in ("none", "syn-nli")} | {("evaluate", "syn-para", c) for c in ("none", "syn-nli")}


def test_attention_kernels_are_not_in_the_ids_or_the_spec_fingerprint(tmp_path: Path) -> None:
    default = _spec(tmp_path)
    for choice in ("torch", "flash,efficient,math", "math"):
        held = _spec(tmp_path, models=[{"name": "m", "path": "synthetic:encoder", "sdpa_backends": choice}])
        assert [s.id for s in plan(held)] == [s.id for s in plan(default)]
        assert held.fingerprint() == default.fingerprint()
        assert held.models[0].backbone_options().sdpa_backends == choice


def test_plan_refuses_packing_where_a_kind_cannot_pack(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import yaml

    packed = {"intermediate": {"packing": True}, "target": {"packing": True}}
    data = grid(tmp_path / "out", intermediate=["none", "syn-mc", "syn-nli"], targets=["syn-para", "syn-pos"], training=packed)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["plan", str(path)]) == 2
    rows = [line for line in _rows(capsys.readouterr().out) if "packing" in line]
    assert len(rows) == 1 and "model m" in rows[0] and "multiple_choice tasks cannot be packed" in rows[0], rows
    assert "syn-mc" in rows[0] and "syn-nli" not in rows[0].split("packed")[1], rows  # names the task that cannot pack, only it
    data["intermediate"] = ["none", "syn-nli"]
    path.write_text(yaml.safe_dump(data))
    assert main(["plan", str(path)]) == 0


def test_the_plan_names_the_built_in_models_a_run_would_pretrain_first(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: made\nmodels:\n  - {name: a, path: synthetic:encoder}\n  - {name: b, path: synthetic:encoder-5}\n"
        "  - {name: c, path: synthetic:decoder-5}\nintermediate: [none]\ntargets: [syn-tatoeba]\n"
    )
    assert main(["plan", str(spec), "--output-dir", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    # the shipped encoder has a copy; the two fifth variants would be pretrained, 21 minutes each
    assert "2 built-in model(s) without a copy: synthetic:decoder-5, synthetic:encoder-5" in out
    assert "about 42.0 min of one CPU core" in out
    assert not list((tmp_path / "cache").rglob("encoder-5*"))  # planning pretrains nothing


def test_retrieval_centering_is_in_the_ids_of_retrieval_evaluations_only_when_on(tmp_path: Path) -> None:
    default = _ids(tmp_path)
    assert _ids(tmp_path, evaluation={"retrieval_centering": False}) == default
    centred = _ids(tmp_path, evaluation={"retrieval_centering": True})
    assert _changed(default, centred) == {("evaluate", "syn-tatoeba", c) for c in ("none", "syn-nli")}
