"""`xstilts select` end to end on tiny random-weight models of both families."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from xstilts.cli import main
from xstilts.models.backbone import BackboneOptions
from xstilts.models.model import load_pretrained
from xstilts.selection.pipeline import SelectionSettings, select_intermediate

ESTIMATES_WITH_CHECKPOINTS = {"similarity", "logme", "hscore", "ncc", "alignment_gain", "retrieval_gain"}


def _checkpoint(backbone: Path, out: Path, noise: float) -> Path:
    """An xstilts checkpoint of the backbone, its weights moved by Gaussian noise of this size."""
    model = load_pretrained(str(backbone), BackboneOptions())
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.body.parameters():
            p.add_(noise * torch.randn(p.shape, generator=generator))
    model.save(out)
    return out


def test_default_ranking_prints_a_table_and_writes_json(synthetic_cache, tiny_backbones, family, tmp_path, capsys) -> None:
    out = tmp_path / "ranking.json"
    rc = main([
        "select", "--model", str(tiny_backbones[family]), "--target", "syn-para", "--samples", "24", "--json", str(out),
    ])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "intermediate tasks for syn-para" in printed and "syn-topic" in printed and "cross-lingual alignment" in printed
    payload = json.loads(out.read_text())
    assert payload["family"] == family
    assert payload["representation"] == f"last layer, {'first' if family == 'encoder' else 'last'} pooling"
    assert sorted(r["intermediate"] for r in payload["ranking"]) == ["syn-mc", "syn-nli", "syn-topic"]  # synthetic defaults
    assert [r["rank"] for r in payload["ranking"]] == [1, 2, 3]
    scores = [r["score"] for r in payload["ranking"]]
    assert scores == sorted(scores, reverse=True)
    for row in payload["ranking"]:
        assert set(row["estimates"]) == {"similarity"}
        assert 0.0 <= row["estimates"]["similarity"]["value"] <= 1.0 and row["estimates"]["similarity"]["seconds"] > 0
    assert payload["estimators"]["similarity"]["candidate_dependent"] and payload["estimators"]["similarity"]["in_ranking"]
    assert sorted(payload["alignment"]["pretrained"]) == ["clo", "ord", "scr"]
    assert payload["costs"]["wall_seconds"] > 0 and payload["costs"]["shared_seconds"]["load pretrained model"] > 0
    assert any("similarity alone" in note for note in payload["notes"])


def test_checkpoint_estimates_and_their_known_answers(synthetic_cache, tiny_backbones, family, tmp_path) -> None:
    backbone = tiny_backbones[family]
    same = _checkpoint(backbone, tmp_path / "same", noise=0.0)
    moved = _checkpoint(backbone, tmp_path / "moved", noise=0.05)
    result = select_intermediate(
        str(backbone), "syn-para", candidates=["syn-nli", "syn-mc"], languages=["clo", "scr"],
        checkpoints={"syn-nli": same, "syn-mc": moved}, settings=SelectionSettings(samples=24),
    )
    values = result.ranking.values
    assert set(values.columns) == ESTIMATES_WITH_CHECKPOINTS
    # A checkpoint equal to the pretrained model changes nothing: zero alignment change and the
    # pretrained model's LogME on the same target sample.
    assert values.at["syn-nli", "alignment_gain"] == pytest.approx(0.0, abs=1e-9)
    assert values.at["syn-nli", "retrieval_gain"] == pytest.approx(0.0, abs=1e-9)
    assert values.at["syn-nli", "logme"] == pytest.approx(result.reference_values["logme_base"], abs=1e-9)
    assert values.at["syn-mc", "alignment_gain"] != pytest.approx(0.0, abs=1e-6)
    assert result.ranking.method == "rank_average"
    payload = result.to_dict()
    ranked = {e for e, info in payload["estimators"].items() if info["in_ranking"]}
    assert ranked == {"similarity", "logme", "alignment_gain"}
    assert sorted(payload["alignment"]["checkpoints"]["syn-mc"]) == ["clo", "scr"]
    # combined score = minus the mean rank over the ranked estimates
    for c in ("syn-nli", "syn-mc"):
        mean_rank = result.ranking.ranks.loc[c, sorted(ranked)].mean()
        assert result.ranking.combined[c] == pytest.approx(-mean_rank)


@pytest.mark.parametrize("target", ["syn-pos", "syn-qa", "syn-tatoeba"])
def test_other_target_kinds(synthetic_cache, tiny_backbones, target) -> None:
    result = select_intermediate(
        str(tiny_backbones["encoder"]), target, candidates=["syn-nli", "syn-mc", "syn-topic"], languages=["ord"],
        settings=SelectionSettings(samples=16),
    )
    assert len(result.ranking.candidates) == 3
    assert result.alignment_note is None and list(result.alignment_base) == ["ord"]
    if target == "syn-tatoeba":
        assert result.target_training_task is None
        assert any("retrieval task without labels" in n for n in result.notes)
        assert result.representation.endswith("mean pooling")
    else:
        assert result.target_training_task == target


def test_single_estimate_method_and_unavailable_alignment(synthetic_cache, tiny_backbones, tmp_path, capsys) -> None:
    ckpt = _checkpoint(tiny_backbones["decoder"], tmp_path / "c", noise=0.01)
    out = tmp_path / "r.json"
    rc = main([
        "select", "--model", str(tiny_backbones["decoder"]), "--target", "syn-para", "--samples", "16", "--method", "logme",
        "--checkpoints", f"syn-nli={ckpt},syn-topic={ckpt}", "--languages", "en", "--json", str(out),
    ])
    assert rc == 0, capsys.readouterr().err
    payload = json.loads(out.read_text())
    assert payload["method"] == "logme"
    assert [e for e, info in payload["estimators"].items() if info["in_ranking"]] == ["logme"]
    assert payload["alignment"]["note"] == "no target languages other than English"
    first, second = payload["ranking"]
    assert first["estimates"]["logme"]["value"] >= second["estimates"]["logme"]["value"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "syn-para"], "needs --model and --target"),
        (["--model", "M", "--target", "syn-para", "--candidates", "syn-nly,syn-mc"], "unknown task 'syn-nly'"),
        (["--model", "M", "--target", "syn-para", "--candidates", "syn-nli"], "at least 2 candidate"),
        (["--model", "M", "--target", "syn-para", "--candidates", "syn-nli,syn-tatoeba"], "retrieval task"),
        (["--model", "M", "--target", "syn-para", "--checkpoints", "syn-nli=/x,syn-mc=/y", "--candidates", "syn-nli,syn-topic"], "no intermediate checkpoint for syn-topic"),
        (["--model", "M", "--target", "syn-para", "--checkpoints", "syn-nli"], "no results store"),
        (["--validate", "x", "--checkpoints", "a=b"], "--with-checkpoints"),
        (["--model", "M", "--target", "syn-para", "--ranking", "r.json"], "go with --validate"),
        (["--model", "M", "--target", "syn-para", "--languages", "xx"], "unknown language 'xx'"),
        (["--model", "M", "--target", "syn-para", "--sdpa-backends", "flash,fast"], "sdpa_backends: unknown backend fast"),
        (["--model", "M", "--target", "syn-para", "--sdpa-backends", "efficient"], "sdpa_backends: efficient cannot attend over padded batches on CPU"),
    ],
)
def test_user_errors_are_one_line(synthetic_cache, tiny_backbones, args, message, capsys) -> None:
    args = [str(tiny_backbones["encoder"]) if a == "M" else a for a in args]
    assert main(["select", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xstilts: error: ") and message in err and "\n" not in err


def test_an_estimate_that_is_not_finite_leaves_the_ranking_with_a_note() -> None:
    from xstilts.selection.pipeline import _drop_non_finite
    from xstilts.selection.ranking import Estimate

    notes: list[str] = []
    kept = _drop_non_finite(
        {"a": [Estimate("similarity", 0.5), Estimate("alignment_gain", float("nan"))], "b": [Estimate("similarity", 0.2), Estimate("alignment_gain", 0.1)]},
        notes,
    )
    assert {c: [e.name for e in items] for c, items in kept.items()} == {"a": ["similarity"], "b": ["similarity"]}
    assert notes == ["alignment_gain is not finite for some candidate and was left out of the ranking"]


def test_missing_parallel_data_makes_alignment_unavailable_not_fatal(synthetic_cache, tiny_backbones, monkeypatch) -> None:
    from xstilts.errors import DataError
    from xstilts.selection import parallel

    def absent(task, language, n, **kwargs):
        raise DataError(f"{task.name}: no {language} evaluation files here")

    monkeypatch.setattr(parallel, "parallel_sentences", absent)
    result = select_intermediate(
        str(tiny_backbones["encoder"]), "syn-para", candidates=["syn-nli", "syn-topic"], settings=SelectionSettings(samples=16)
    )
    assert result.alignment_note == "parallel inputs could not be loaded (syn-para: no clo evaluation files here)"
    assert result.alignment_base == {} and len(result.ranking.candidates) == 2
    with pytest.raises(DataError, match="a retrieval target needs parallel inputs"):
        select_intermediate(str(tiny_backbones["encoder"]), "syn-tatoeba", candidates=["syn-nli", "syn-topic"], settings=SelectionSettings(samples=16))


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")


def test_data_dir_is_a_root_of_task_folders_resolved_as_everywhere(tiny_backbones, tmp_path, monkeypatch, capsys) -> None:
    """--data-dir holds one sub-folder per task; a task without one falls through to XSTILTS_DATA_DIR."""
    words = ["cat", "dog", "river", "stone", "bright", "quiet", "market", "window", "garden", "paper", "music", "winter"]
    text = [" ".join(words[(i * k) % len(words)] for k in range(1, 6 + i % 4)) for i in range(24)]
    root, env_root = tmp_path / "data", tmp_path / "env-data"
    _jsonl(root / "pawsx" / "train-en.jsonl", [{"sentence1": t, "sentence2": t[::-1], "label": i % 2} for i, t in enumerate(text)])
    _jsonl(root / "qqp" / "train.jsonl", [{"question1": t, "question2": t.upper(), "label": i % 2, "idx": i} for i, t in enumerate(text)])
    _jsonl(env_root / "mnli" / "train.jsonl", [{"premise": t, "hypothesis": t[:9], "label": i % 3} for i, t in enumerate(text)])
    monkeypatch.setenv("XSTILTS_DATA_DIR", str(env_root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "ranking.json"
    rc = main([
        "select", "--model", str(tiny_backbones["encoder"]), "--target", "pawsx", "--candidates", "qqp,mnli", "--languages", "es",
        "--samples", "24", "--method", "similarity", "--data-dir", str(root), "--json", str(out),
    ])
    assert rc == 0, capsys.readouterr().err
    assert sorted(r["intermediate"] for r in json.loads(out.read_text())["ranking"]) == ["mnli", "qqp"]
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["select", "--help"])
    assert "one sub-folder per task" in " ".join(capsys.readouterr().out.split())
