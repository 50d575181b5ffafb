"""benchmarks/profile_step.py profiles the middle steps of a real benchmark case."""

from __future__ import annotations

import json

import pytest

from benchmarks import shapes
from benchmarks.profile_step import main
from benchmarks.shapes import Shape


@pytest.fixture
def micro():
    shapes.SHAPES["micro-profile"] = Shape("micro-profile", "encoder", 1, 32, 2, 64)
    yield "micro-profile"
    shapes.SHAPES.pop("micro-profile", None)


def test_profiles_the_chosen_steps_of_a_recipe(micro, tmp_path, capsys):
    out = tmp_path / "profile.json"
    assert main(["--shape", micro, "--steps", "6", "--skip", "2", "--active", "3", "--batch-size", "4", "--max-length", "32",
                 "--recipes", "hf-grouped", "--sdpa-backends", "math", "--json", str(out)]) == 0
    [case] = json.loads(out.read_text())["cases"]
    assert case["recipe"] == "hf-grouped" and case["profiled_steps"] == 3 and case["wall_ms_per_step"] > 0 and case["train_tokens_per_s"] > 0
    assert case["device_busy_share"] is None and case["top_device"] == []  # no GPU: no kernels
    assert 1 <= case["distinct_widths"] <= 6 and 0 <= case["new_widths_in_profiled_steps"] <= 3
    assert any("mm" in key for key, _, _ in case["top_cpu"])  # the model's matrix products were recorded
    assert "== hf-grouped:" in capsys.readouterr().out


def test_each_recipe_is_profiled_in_a_process_of_its_own(tmp_path, capfd):
    out = tmp_path / "profile.json"
    assert main(["--shape", "tiny", "--steps", "3", "--skip", "1", "--active", "2", "--batch-size", "4", "--max-length", "32",
                 "--recipes", "xstilts,hf-grouped", "--json", str(out)]) == 0
    assert [c["recipe"] for c in json.loads(out.read_text())["cases"]] == ["xstilts", "hf-grouped"]
    printed = capfd.readouterr().out
    assert "== xstilts:" in printed and "== hf-grouped:" in printed


def test_refuses_a_window_outside_the_run(micro):
    with pytest.raises(SystemExit, match="--skip"):
        main(["--shape", micro, "--steps", "4", "--skip", "3", "--active", "2"])


def test_device_time_sums_kernels_not_the_annotations_around_them():
    from types import SimpleNamespace

    from benchmarks.profile_step import device_kernels

    cuda, cpu = "cuda", "cpu"
    events = [
        SimpleNamespace(key="ProfilerStep*", device_type=cuda, is_user_annotation=False),  # as torch 2.11 gave it on an H200
        SimpleNamespace(key="Optimizer.step#AdamW.step", device_type=cuda, is_user_annotation=False),
        SimpleNamespace(key="my-region", device_type=cuda, is_user_annotation=True),
        SimpleNamespace(key="nvjet_sm90_tst_256x128", device_type=cuda, is_user_annotation=False),
        SimpleNamespace(key="aten::mm", device_type=cpu, is_user_annotation=False),
    ]
    assert [e.key for e in device_kernels(events, cuda)] == ["nvjet_sm90_tst_256x128"]
