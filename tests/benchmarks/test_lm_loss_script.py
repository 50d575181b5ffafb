"""benchmarks/lm_loss.py saves after every run, so a run cut short (a GPU lease's limit) keeps its figures."""

from __future__ import annotations

import json
import subprocess

import pytest

from benchmarks import lm_loss

TINY = ["--hidden", "16", "--layers", "1", "--vocab", "300", "--batch", "2", "--length", "16", "--steps", "1", "--repeats", "1",
        "--cases", "masked", "--losses", "standard,chunked", "--threads", "1", "--name", "tiny"]


def test_a_full_run_is_marked_complete(tmp_path):
    lm_loss.main([*TINY, "--out", str(tmp_path)])
    result = json.loads((tmp_path / "tiny.json").read_text())
    assert result["complete"] and [(r["case"], r["loss"]) for r in result["runs"]] == [("masked", "standard"), ("masked", "chunked")]
    assert {r["loss"] for r in result["table"]} == {"standard", "chunked"} and (tmp_path / "tiny.md").exists()


def test_a_run_cut_short_keeps_what_it_measured(tmp_path, monkeypatch):
    real = subprocess.run
    children = []

    def second_child_dies(cmd, *args, **kwargs):
        if "--one" in cmd:
            children.append(cmd)
            if len(children) == 2:
                return subprocess.CompletedProcess(cmd, 137, "", "killed")
        return real(cmd, *args, **kwargs)

    monkeypatch.setattr(lm_loss.subprocess, "run", second_child_dies)
    with pytest.raises(SystemExit, match="masked/chunked repeat 0 failed"):
        lm_loss.main([*TINY, "--out", str(tmp_path)])
    result = json.loads((tmp_path / "tiny.json").read_text())
    assert not result["complete"] and [r["loss"] for r in result["runs"]] == ["standard"]
    assert "machine" not in result  # described at the end only (CUDA is not initialised while runs measure)
    assert not (tmp_path / "tiny.md").exists()
