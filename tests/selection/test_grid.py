"""Reading a finished grid (gains, stage costs, checkpoints) and validating rankings against it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xstilts.cli import main
from xstilts.errors import ConfigError, DataError
from xstilts.selection.grid import (
    RankingRecord,
    intermediate_checkpoints,
    measured_gains,
    parse_checkpoints,
    stage_costs,
    validation_table,
)

from .conftest import write_grid

PATHS = {"enc": "path/enc", "dec": "path/dec"}
FAMILIES = {"enc": "encoder", "dec": "decoder"}
SECONDS = {"intermediate": 100.0, "target": 10.0, "evaluate": 1.0}

# (model, condition, target, seed) -> {language: score}; gains of enc on t1: a +6, b +2, c -1.
SCORES = {
    ("enc", "none", "t1", 0): {"en": 50.0, "xx": 40.0},
    ("enc", "none", "t1", 1): {"en": 52.0, "xx": 38.0},  # baseline mean 45
    ("enc", "a", "t1", 0): {"en": 56.0, "xx": 46.0},  # 51
    ("enc", "a", "t1", 1): {"en": 58.0, "xx": 44.0},  # 51 -> gain 6
    ("enc", "b", "t1", 0): {"en": 50.0, "xx": 44.0},  # 47 -> gain 2
    ("enc", "c", "t1", 0): {"en": 46.0, "xx": 42.0},  # 44 -> gain -1
    ("dec", "none", "t1", 0): {"en": 30.0, "xx": 20.0},  # 25
    ("dec", "a", "t1", 0): {"en": 30.0, "xx": 22.0},  # gain 1
    ("dec", "b", "t1", 0): {"en": 34.0, "xx": 26.0},  # gain 5
    ("dec", "c", "t1", 0): {"en": 31.0, "xx": 23.0},  # gain 2
}


@pytest.fixture
def grid(tmp_path: Path) -> Path:
    return write_grid(tmp_path / "out" / "results.sqlite", SCORES, model_paths=PATHS, families=FAMILIES, seconds=SECONDS)


def _ranking(
    model: str, target: str, scores: dict[str, float], seconds: float = 2.0, checkpoints: bool = False, estimates: dict | None = None
) -> dict:
    estimates = estimates or {}
    return {
        "format": "xstilts-selection",
        "model": model,
        "target": target,
        "ranking": [
            {"intermediate": c, "score": s, "estimates": {e: {"value": v[c]} for e, v in estimates.items()}} for c, s in scores.items()
        ],
        "costs": {"wall_seconds": seconds},
        "checkpoints": {c: f"/ckpt/{c}" for c in scores} if checkpoints else {},
    }


def test_gains_are_language_then_seed_means_minus_the_baseline(grid: Path) -> None:
    gains = measured_gains(grid.parent).set_index(["model", "intermediate"])
    assert gains.at[("enc", "a"), "gain"] == pytest.approx(6.0)
    assert gains.at[("enc", "b"), "gain"] == pytest.approx(2.0)
    assert gains.at[("enc", "c"), "gain"] == pytest.approx(-1.0)
    assert gains.at[("dec", "b"), "gain"] == pytest.approx(5.0)
    assert gains.at[("enc", "a"), "n_seeds"] == 2 and gains.at[("enc", "a"), "n_languages"] == 2
    assert gains.at[("dec", "a"), "family"] == "decoder"
    assert "none" not in set(gains.index.get_level_values("intermediate"))


def test_stage_costs_read_the_recorded_wall_seconds(grid: Path) -> None:
    costs = stage_costs(grid)
    assert costs.groupby("kind")["seconds"].sum().to_dict() == {"evaluate": 10.0, "intermediate": 600.0, "target": 100.0}


def test_perfect_and_reversed_rankings(grid: Path) -> None:
    perfect = _ranking("enc", "t1", {"a": 3.0, "b": 2.0, "c": 1.0})
    reversed_ = _ranking("path/dec", "t1", {"a": 3.0, "b": 1.0, "c": 2.0})  # matched to 'dec' by its path
    v = validation_table(grid, [perfect, reversed_], permutations=200)
    rows = v.report.per_group.set_index("model")
    assert rows.at["enc", "spearman"] == pytest.approx(1.0) and rows.at["enc", "regret"] == 0.0
    assert rows.at["enc", "top1"] == 1.0
    assert rows.at["dec", "spearman"] == pytest.approx(-1.0)
    assert rows.at["dec", "regret"] == pytest.approx(4.0)  # chose a (gain 1), best b (gain 5)
    assert rows.at["dec", "family"] == "decoder"
    by_family = v.report.by_family.set_index("family")
    assert by_family.at["encoder", "spearman"] == pytest.approx(1.0)
    assert v.report.overall["spearman"].iloc[0] == pytest.approx(0.0)
    assert any("single fine-tuning seed" in n for n in v.notes)  # b, c and dec ran one seed


def test_each_estimate_alone(grid: Path) -> None:
    estimates = {"right": {"a": 0.9, "b": 0.5, "c": 0.1}, "wrong": {"a": 0.1, "b": 0.5, "c": 0.9}}
    dec_estimates = {"right": {"a": 0.0, "b": 1.0, "c": 0.5}, "wrong": {"a": 1.0, "b": 0.0, "c": 0.5}}
    rankings = [
        _ranking("enc", "t1", {"a": 1.0, "b": 2.0, "c": 3.0}, estimates=estimates),
        _ranking("dec", "t1", {"a": 1.0, "b": 2.0, "c": 3.0}, estimates=dec_estimates),
    ]
    table = validation_table(grid, rankings, permutations=0).by_estimator.set_index(["estimator", "family"])
    assert sorted(table.index.get_level_values("family").unique()) == ["all", "decoder", "encoder"]
    assert table.at[("right", "all"), "spearman"] == pytest.approx(1.0)
    assert table.at[("right", "all"), "regret"] == 0.0
    assert table.at[("wrong", "encoder"), "spearman"] == pytest.approx(-1.0)
    assert table.at[("wrong", "decoder"), "regret"] == pytest.approx(4.0)


def test_costs_count_shared_intermediate_stages_once(grid: Path) -> None:
    rankings = [_ranking("enc", "t1", {"a": 3.0, "b": 2.0, "c": 1.0}, seconds=5.0), _ranking("dec", "t1", {"a": 1.0, "b": 2.0}, seconds=7.0)]
    v = validation_table(grid, rankings, permutations=0)
    costs = v.costs.set_index("model")
    # enc: target + evaluate stages of a (2 seeds), b, c = 4 x 11 s; intermediate a, b, c = 300 s
    assert costs.at["enc", "target_stage_seconds"] == pytest.approx(44.0)
    assert costs.at["enc", "intermediate_stage_seconds"] == pytest.approx(300.0)
    assert costs.at["dec", "grid_seconds"] == pytest.approx(22.0 + 200.0)
    assert v.totals["selection_seconds"] == pytest.approx(12.0)
    assert v.totals["replaced_grid_seconds"] == pytest.approx(44.0 + 300.0 + 22.0 + 200.0)
    assert v.totals["grid_seconds"] == pytest.approx(710.0) and v.totals["grid_stages_unfinished"] == 0
    with_checkpoints = validation_table(grid, [_ranking("enc", "t1", {"a": 1.0, "b": 2.0}, checkpoints=True)], permutations=0)
    assert with_checkpoints.totals["replaced_grid_seconds"] == pytest.approx(33.0)  # the intermediate phase is still needed


def test_unfinished_stages_are_counted_not_summed(grid: Path) -> None:
    from types import SimpleNamespace

    from xstilts.experiments.store import ResultsStore

    from .conftest import FakeStage

    store = ResultsStore(grid)
    model = SimpleNamespace(name="enc", path="path/enc")
    store.register("grid", [FakeStage("pending-target", "target", model, SimpleNamespace(name="d"), "t1", 0)])
    store.close()
    totals = validation_table(grid, [_ranking("enc", "t1", {"a": 1.0, "b": 2.0})], permutations=0).totals
    assert totals["grid_seconds"] == pytest.approx(710.0) and totals["grid_stages_unfinished"] == 1


def test_unmatched_and_malformed_rankings(grid: Path, tmp_path: Path) -> None:
    v = validation_table(grid, [_ranking("enc", "t1", {"a": 1.0, "b": 2.0}), _ranking("other", "t1", {"a": 1.0, "b": 0.0})], permutations=0)
    assert len(v.report.per_group) == 1 and any("'other' is not in the grid" in n for n in v.notes)
    with pytest.raises(DataError, match="no ranking matches"):
        validation_table(grid, [_ranking("enc", "t9", {"a": 1.0, "b": 2.0})])
    with pytest.raises(DataError, match="two rankings"):
        validation_table(grid, [_ranking("enc", "t1", {"a": 1.0, "b": 2.0}), _ranking("path/enc", "t1", {"a": 1.0, "b": 2.0})])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(DataError, match="not a ranking written by"):
        validation_table(grid, [bad])
    with pytest.raises(DataError, match="malformed ranking"):
        RankingRecord.from_dict({"format": "xstilts-selection", "model": "enc"}, "x.json")


def test_specs_and_missing_stores(grid: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no results store"):
        measured_gains(tmp_path / "nowhere")
    write_grid(grid, {("enc", "none", "t2", 0): {"en": 1.0}}, model_paths=PATHS, families=FAMILIES, spec="second")
    with pytest.raises(ConfigError, match="several specs"):
        measured_gains(grid)
    assert set(measured_gains(grid, spec="grid")["target"]) == {"t1"}


def test_intermediate_checkpoints_prefer_the_recorded_folder(tmp_path: Path) -> None:
    recorded = tmp_path / "elsewhere" / "checkpoint"
    recorded.mkdir(parents=True)
    store = write_grid(
        tmp_path / "out" / "results.sqlite", SCORES, model_paths=PATHS, families=FAMILIES,
        checkpoints={("enc", "a"): str(recorded), ("enc", "b"): "/gone/checkpoint"},
    )
    found = intermediate_checkpoints(store, "path/enc")
    assert found["a"] == recorded
    assert found["b"] == store.parent / "stages" / "i-enc-b" / "checkpoint"  # the recorded folder moved away
    assert sorted(found) == ["a", "b", "c"]
    assert parse_checkpoints(str(store.parent), "enc") == found
    assert parse_checkpoints("a=/x, b=/y", "enc") == {"a": Path("/x"), "b": Path("/y")}
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        intermediate_checkpoints(store, "nope")


def test_validate_command_with_ranking_files(grid: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    first = tmp_path / "enc.json"
    first.write_text(json.dumps(_ranking("enc", "t1", {"a": 3.0, "b": 2.0, "c": 1.0})))
    second = tmp_path / "dec.json"
    second.write_text(json.dumps(_ranking("dec", "t1", {"a": 3.0, "b": 1.0, "c": 2.0})))
    out = tmp_path / "validation.json"
    rc = main(["select", "--validate", str(grid.parent), "--ranking", str(first), "--ranking", str(second), "--json", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "selection vs measured gains" in printed and "family encoder" in printed and "cost: selection 4.0 s" in printed
    payload = json.loads(out.read_text())
    assert {r["model"] for r in payload["per_group"]} == {"enc", "dec"}
    assert payload["overall"][0]["n_groups"] == 2
    assert payload["totals"]["grid_seconds"] == pytest.approx(710.0)
    assert len(payload["rankings"]) == 2


def test_validate_computes_rankings_on_tiny_models(synthetic_cache, tiny_backbones, tmp_path: Path) -> None:
    """No --ranking: rankings are computed now for each (model, target) over the measured candidates."""
    scores = {
        ("tiny", cond, "syn-para", 0): {"en": 50.0 + gain, "clo": 40.0 + gain}
        for cond, gain in (("none", 0.0), ("syn-nli", 3.0), ("syn-mc", 1.0), ("syn-topic", -2.0))
    }
    store = write_grid(
        tmp_path / "results.sqlite", scores, model_paths={"tiny": str(tiny_backbones["decoder"])}, families={"tiny": "decoder"}
    )
    from xstilts.selection.pipeline import SelectionSettings

    v = validation_table(store, settings=SelectionSettings(samples=16), permutations=0)
    row = v.report.per_group.iloc[0]
    assert (row["model"], row["family"], row["target"], row["n_candidates"]) == ("tiny", "decoder", "syn-para", 3)
    assert row["best"] == "syn-nli" and row["best_gain"] == pytest.approx(3.0)
    assert v.rankings[0]["family"] == "decoder" and len(v.rankings[0]["ranking"]) == 3
    assert v.totals["selection_seconds"] == pytest.approx(v.rankings[0]["costs"]["wall_seconds"])
