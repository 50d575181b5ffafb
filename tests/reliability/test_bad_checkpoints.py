"""Damaged, foreign or mismatched checkpoints under a grid's output folder: the stage that loads
them fails with a one-line CheckpointError naming the file (exit code 2), never trains or scores them.

A finished grid (target syn-para, evaluated in English) is copied for each test and its target
checkpoint damaged; the spec then asks for one more evaluation language, a new evaluate stage
that loads the damaged checkpoint.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from safetensors.torch import save_file

from xstilts.experiments.plan import plan
from xstilts.experiments.runner import run_spec
from xstilts.experiments.spec import spec_from_dict
from xstilts.io import sha256_file

from reliability_helpers import assert_user_error, cli, stage_statuses, tiny_spec, write_spec

pytestmark = pytest.mark.slow


@dataclass
class Grid:
    out: Path
    raw: dict
    target: str


def finished(tmp: Path, model: Path) -> Grid:
    raw = tiny_spec(tmp / "out", model, evaluation={"max_examples": 8, "languages": ["en"]})
    raw["training"]["target"]["max_steps"] = 2
    assert not run_spec(spec_from_dict(raw)).failed
    target = next(s.id for s in plan(spec_from_dict(raw)) if s.kind == "target")
    return Grid(tmp / "out", raw, target)


@pytest.fixture(scope="module")
def encoder_grid(tiny_models, tmp_path_factory) -> Grid:
    return finished(tmp_path_factory.mktemp("encoder-grid"), tiny_models["encoder"])


@pytest.fixture(scope="module")
def decoder_grid(tiny_models, tmp_path_factory) -> Grid:
    return finished(tmp_path_factory.mktemp("decoder-grid"), tiny_models["decoder"])


@pytest.fixture
def copy(encoder_grid: Grid, tmp_path: Path) -> Grid:
    out = tmp_path / "out"
    shutil.copytree(encoder_grid.out, out)
    return Grid(out, encoder_grid.raw | {"output_dir": str(out)}, encoder_grid.target)


def evaluate_again(grid: Grid, tmp_path: Path):
    """Run the grid with one more evaluation language: only the new evaluate stage runs."""
    raw = json.loads(json.dumps(grid.raw))
    raw["evaluation"]["languages"] = ["clo"]
    return cli("-q", "run", write_spec(tmp_path / "spec.yaml", raw), "--no-report")


def checkpoint(grid: Grid) -> Path:
    return grid.out / "stages" / grid.target / "checkpoint"


def edit_manifest(grid: Grid, change) -> None:
    path = checkpoint(grid) / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def test_the_undamaged_copy_evaluates(copy: Grid, tmp_path: Path) -> None:
    result = evaluate_again(copy, tmp_path)
    assert result.code == 0, result.err
    assert set(stage_statuses(copy.out).values()) == {"done"}


def test_checkpoint_of_the_other_family(copy: Grid, decoder_grid: Grid, tmp_path: Path) -> None:
    shutil.rmtree(checkpoint(copy))
    shutil.copytree(checkpoint(decoder_grid), checkpoint(copy))
    line = assert_user_error(evaluate_again(copy, tmp_path), str(checkpoint(copy)), "(decoder)", "another model's checkpoint")
    assert copy.raw["models"][0]["path"] in line


def test_head_of_another_kind(copy: Grid, tmp_path: Path) -> None:
    edit_manifest(copy, lambda m: m["heads"][0].update(kind="tagging"))
    assert_user_error(evaluate_again(copy, tmp_path), str(checkpoint(copy)), "head 'syn-para' is a tagging head, but the task is classification")


def test_head_missing(copy: Grid, tmp_path: Path) -> None:
    edit_manifest(copy, lambda m: m.update(heads=[]))
    assert_user_error(evaluate_again(copy, tmp_path), str(checkpoint(copy)), "has no syn-para head")


def test_head_weights_of_another_shape(copy: Grid, tmp_path: Path) -> None:
    import torch

    heads = checkpoint(copy) / "heads.safetensors"
    save_file({"syn-para.out_proj.weight": torch.zeros(7, 3)}, str(heads))
    edit_manifest(copy, lambda m: m["checksums"].update({"heads.safetensors": sha256_file(heads)}))
    assert_user_error(evaluate_again(copy, tmp_path), str(checkpoint(copy)), "head 'syn-para' does not fit the task")


@pytest.mark.parametrize("name", ["body/model.safetensors", "heads.safetensors"])
def test_truncated_weights(copy: Grid, tmp_path: Path, name: str) -> None:
    path = checkpoint(copy) / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert_user_error(evaluate_again(copy, tmp_path), str(path), "checksum mismatch")


def test_weights_file_missing(copy: Grid, tmp_path: Path) -> None:
    (checkpoint(copy) / "body" / "model.safetensors").unlink()
    assert_user_error(evaluate_again(copy, tmp_path), "model.safetensors", "missing from checkpoint")


def test_corrupt_manifest(copy: Grid, tmp_path: Path) -> None:
    path = checkpoint(copy) / "manifest.json"
    path.write_text(path.read_text()[:40])
    assert_user_error(evaluate_again(copy, tmp_path), str(path), "corrupt manifest")


def test_manifest_of_an_unknown_format(copy: Grid, tmp_path: Path) -> None:
    edit_manifest(copy, lambda m: m.update(format_version=99))
    assert_user_error(evaluate_again(copy, tmp_path), "manifest.json", "checkpoint format 99 is not 1")


def test_checkpoint_deleted_after_its_stage_finished(copy: Grid, tmp_path: Path) -> None:
    shutil.rmtree(checkpoint(copy))
    assert_user_error(evaluate_again(copy, tmp_path), str(checkpoint(copy)), f"checkpoint of stage {copy.target} is missing")
