"""The command line: conventions, help, one-line errors with exit code 2."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from xstilts import __version__
from xstilts.cli import COMMANDS, main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xstilts", *args], capture_output=True, text=True, timeout=120)


def test_version():
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"xstilts {__version__}"


BUILT = [c for c in COMMANDS if importlib.util.find_spec(f"xstilts.commands.{c}") is not None]


@pytest.mark.parametrize("command", BUILT)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: xstilts" in capsys.readouterr().out


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2


def test_tasks_json_lists_synthetic_and_real_tasks(capsys):
    assert main(["tasks", "--json"]) == 0
    names = {row["name"] for row in json.loads(capsys.readouterr().out)}
    assert {"xnli", "tatoeba", "mnli", "syn-para"} <= names


def _spec(tmp_path, body: str):
    path = tmp_path / "spec.yaml"
    path.write_text(body)
    return path


def test_unknown_target_is_one_line_with_closest_names_and_exit_2(tmp_path):
    spec = _spec(tmp_path, "name: x\nmodels: [{name: m, path: synthetic:encoder}]\ntargets: [xnlii]\n")
    out = run_cli("run", str(spec))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert "unknown target 'xnlii'" in lines[0] and "'xnli'" in lines[0] and str(spec) in lines[0]


def test_unknown_model_is_one_line_with_closest_names(tmp_path):
    spec = _spec(tmp_path, "name: x\nmodels: [{name: m, path: 'synthetic:encodr'}]\ntargets: [syn-para]\n")
    out = run_cli("run", str(spec))
    assert out.returncode == 2
    assert "unknown synthetic model 'synthetic:encodr'" in out.stderr and "'synthetic:encoder'" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_unknown_key_suggests_the_right_one(tmp_path):
    spec = _spec(tmp_path, "name: x\nmodels: [{name: m, path: synthetic:encoder}]\ntarget: [syn-para]\n")
    out = run_cli("run", str(spec))
    assert out.returncode == 2 and "unknown key 'target'; did you mean 'targets'" in out.stderr


def test_debug_shows_the_traceback(tmp_path):
    spec = _spec(tmp_path, "name: x\nmodels: [{name: m, path: synthetic:encoder}]\ntargets: [nope]\n")
    out = run_cli("--debug", "run", str(spec))
    assert out.returncode != 0 and "Traceback" in out.stderr


def test_a_closed_stdout_pipe_ends_quietly(tmp_path):
    """`xstilts results spec.yaml | head`: the reader closes early; no BrokenPipeError traceback."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: x\nmodels: [{{name: m, path: synthetic:encoder}}]\ntargets: [syn-para]\noutput_dir: {tmp_path / 'out'}\n")
    reader = subprocess.Popen(
        [sys.executable, "-m", "xstilts", "results", str(spec)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    reader.stdout.close()  # the reader is gone before the first line is written
    err = reader.stderr.read()
    assert reader.wait(timeout=120) == 1
    assert err == "", err
