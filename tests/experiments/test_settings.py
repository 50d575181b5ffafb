"""The settings chain: the planner resolves every stage's settings once (task hyper-parameters and
trainer defaults < training.<phase> < training.tasks.<name>), and the stage carries them."""

from __future__ import annotations

from pathlib import Path

from xstilts.experiments.plan import Stage, plan
from xstilts.experiments.spec import spec_from_dict
from xstilts.tasks import get_task
from xstilts.training.settings import TRAINER_DEFAULTS

from experiment_helpers import grid


def _stages(tmp_path: Path, **overrides: object) -> dict[tuple[str, str | None], Stage]:
    """The stages of a one-seed grid by (kind, target task; None for intermediate stages)."""
    return {(s.kind, s.task): s for s in plan(spec_from_dict(grid(tmp_path / "out", **overrides)))}


def test_defaults_are_the_tasks_hyperparameters_and_the_trainers(tmp_path: Path) -> None:
    stages = _stages(tmp_path)
    resolved = stages["intermediate", None].training.tasks["syn-nli"]  # type: ignore[union-attr]
    hp = get_task("syn-nli").hyperparameters
    assert (resolved.learning_rate, resolved.batch_size, resolved.max_steps, resolved.max_length) == (hp.learning_rate, hp.batch_size, hp.max_steps, hp.max_length)
    assert (resolved.max_grad_norm, resolved.precision) == (TRAINER_DEFAULTS.max_grad_norm, TRAINER_DEFAULTS.precision)
    assert stages["intermediate", None].evaluation is None and stages["evaluate", "syn-para"].training is None


def test_precision_auto_is_resolved_where_the_spec_fixes_the_device(tmp_path: Path) -> None:
    def precision(**overrides: object) -> str:
        return _stages(tmp_path, **overrides)["target", "syn-para"].training.tasks["syn-para"].precision  # type: ignore[union-attr]

    assert precision() == precision(device="cuda") == "auto"  # decided by the GPU the stage runs on
    assert precision(device="cpu") == "no"  # float32, as the trainer runs "auto" on the CPU
    assert precision(device="cpu", training={"target": {"precision": "bf16"}}) == "bf16"


def test_task_entries_beat_the_phase_which_beats_the_task_defaults(tmp_path: Path) -> None:
    stages = _stages(tmp_path, training={
        "intermediate": {"learning_rate": 1e-4, "batch_size": 8},
        "target": {"learning_rate": 2e-4, "max_grad_norm": 0.5},
        "tasks": {"syn-nli": {"batch_size": 4}, "syn-para": {"precision": "no", "max_length": 40}},
    })
    nli = stages["intermediate", None].training.tasks["syn-nli"]  # type: ignore[union-attr]
    assert (nli.learning_rate, nli.batch_size, nli.max_grad_norm) == (1e-4, 4, TRAINER_DEFAULTS.max_grad_norm)
    para = stages["target", "syn-para"].training.tasks["syn-para"]  # type: ignore[union-attr]
    assert (para.learning_rate, para.max_grad_norm, para.precision, para.max_length) == (2e-4, 0.5, "no", 40)
    # the evaluation of a target uses the sequence length it trained with
    assert stages["evaluate", "syn-para"].evaluation.max_length == 40  # type: ignore[union-attr]


def test_the_specs_epochs_win_over_a_tasks_default_max_steps(tmp_path: Path) -> None:
    assert get_task("syn-para").hyperparameters.max_steps is not None
    para = _stages(tmp_path, training={"target": {"epochs": 2}})["target", "syn-para"].training.tasks["syn-para"]  # type: ignore[union-attr]
    assert para.max_steps is None and para.steps(320) == 2 * para.steps_per_epoch(320) == 20
    capped = _stages(tmp_path, training={"target": {"epochs": 2, "max_steps": 7}})["target", "syn-para"].training.tasks["syn-para"]  # type: ignore[union-attr]
    assert capped.steps(100) == 7


def test_train_settings_are_the_resolved_settings_on_a_training_set(tmp_path: Path) -> None:
    stages = _stages(tmp_path, models=[{"name": "m", "path": "synthetic:encoder", "freeze_embeddings": True}], training={"target": {"epochs": 1, "batch_size": 10}})
    resolved = stages["target", "syn-para"].training.tasks["syn-para"]  # type: ignore[union-attr]
    settings = resolved.train_settings(95, seed=3, freeze_embeddings=True)
    assert (settings.max_steps, settings.eval_every, settings.seed, settings.freeze_embeddings) == (10, min(resolved.eval_every or 10, 10), 3, True)


def test_a_stages_max_steps_is_the_specs_only(tmp_path: Path) -> None:
    multi = {"name": "mt", "tasks": ["syn-nli", "syn-topic"]}
    stages = _stages(tmp_path, intermediate=[multi])
    assert stages["intermediate", None].training.max_steps is None  # type: ignore[union-attr]  # the sum of the tasks' steps
    stages = _stages(tmp_path, intermediate=[multi], training={"intermediate": {"max_steps": 50}})
    assert stages["intermediate", None].training.max_steps == 50  # type: ignore[union-attr]


def test_evaluation_settings_resolve_languages_and_sweep_only_retrieval_targets(tmp_path: Path) -> None:
    stages = _stages(tmp_path, evaluation={"languages": ["en", "scr"], "retrieval_layers": [1, 2], "max_examples": 5})
    para, tatoeba = stages["evaluate", "syn-para"].evaluation, stages["evaluate", "syn-tatoeba"].evaluation
    assert para is not None and tatoeba is not None
    assert para.languages == ("en", "scr") and tatoeba.languages == ("scr",)  # the task's languages only
    assert para.retrieval_layers == () and tatoeba.retrieval_layers == (1, 2)
    assert para.max_examples == tatoeba.max_examples == 5


def test_packing_reaches_the_trainer_settings_of_the_tasks_it_is_set_for(tmp_path: Path) -> None:
    stages = _stages(tmp_path, training={"tasks": {"syn-para": {"packing": True}}})
    target = stages["target", "syn-para"].training.tasks["syn-para"]  # type: ignore[union-attr]
    intermediate = stages["intermediate", None].training.tasks["syn-nli"]  # type: ignore[union-attr]
    assert target.train_settings(100, 0, False).packing and not intermediate.train_settings(100, 0, False).packing
    assert not TRAINER_DEFAULTS.packing
