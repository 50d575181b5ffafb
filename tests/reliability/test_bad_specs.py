"""Bad experiment specs and bad command lines: `xstilts plan` / `xstilts run` exit with code 2 and
one stderr line naming the file and the key, without a traceback (`--debug` shows it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reliability_helpers import assert_user_error, cli, cli_subprocess

VALID = "name: x\nmodels: [{name: m, path: synthetic:encoder}]\ntargets: [syn-para]\n"


def spec_text(extra: str = "", replace: dict[str, str] | None = None) -> str:
    text = VALID
    for old, new in (replace or {}).items():
        assert old in text
        text = text.replace(old, new)
    return text + extra


# (case, spec file text or bytes, substrings the error line must hold besides the file name)
BAD_SPECS = [
    ("unclosed-bracket", spec_text(replace={"encoder}]": "encoder}"}), ["malformed YAML (line"]),
    ("tab-indentation", "name: x\nmodels:\n\t- {name: m, path: synthetic:encoder}\n", ["malformed YAML (line 3"]),
    ("duplicate-key", spec_text("seeds: [0]\nseeds: [1]\n"), ["duplicate key 'seeds'", "line 5", "first on line 4"]),
    ("two-documents", spec_text("---\nname: y\n"), ["malformed YAML"]),
    ("not-utf8", spec_text().encode() + b"# caf\xe9\n", ["not UTF-8"]),
    ("empty-file", "", ["expected a mapping, got nothing"]),
    ("top-level-list", "- name: x\n", ["expected a mapping, got a list"]),
    ("top-level-scalar", "just words\n", ["expected a mapping, got a string"]),
    ("unknown-top-level-key", spec_text("target: [syn-pos]\n"), ["unknown key 'target'", "'targets'"]),
    ("unknown-nested-key", spec_text("training:\n  target:\n    lerning_rate: 0.1\n"), ["training.target", "unknown key 'lerning_rate'", "'learning_rate'"]),
    ("missing-required-key", "name: x\nmodels: [{name: m}]\ntargets: [syn-para]\n", ["models[0]", "missing required key 'path'"]),
    ("list-given-a-string", spec_text("seeds: '0'\n"), ["seeds", "expected a list"]),
    ("bool-given-a-word", spec_text(replace={"encoder}]": "encoder, gradient_checkpointing: sometimes}]"}), ["models[0].gradient_checkpointing", "expected true or false"]),
    ("int-given-a-fraction", spec_text("training: {target: {max_steps: 1.5}}\n"), ["training.target.max_steps", "expected an integer"]),
    ("float-given-a-word", spec_text("training: {target: {learning_rate: fast}}\n"), ["training.target.learning_rate", "expected a number"]),
    ("mapping-given-null", spec_text("training: null\n"), ["training", "expected a mapping"]),
    ("nan-learning-rate", spec_text("training: {target: {learning_rate: .nan}}\n"), ["training.target.learning_rate", "expected a finite number"]),
    ("overflowing-number", spec_text("training: {target: {warmup_ratio: 1e400}}\n"), ["training.target.warmup_ratio", "expected a finite number"]),
    ("value-not-allowed", spec_text(replace={"encoder}]": "encoder, dtype: float64}]"}), ["models[0].dtype", "'float64' is not one of"]),
    ("negative-learning-rate", spec_text("training: {target: {learning_rate: -0.001}}\n"), ["training.target.learning_rate", "must be positive"]),
    ("unknown-target", spec_text(replace={"syn-para": "syn-parra"}), ["targets[0]", "unknown target 'syn-parra'", "'syn-para'"]),
    ("unknown-intermediate", spec_text("intermediate: [syn-nly]\n"), ["intermediate[0]", "unknown intermediate task 'syn-nly'"]),
    ("unknown-evaluation-language", spec_text("evaluation: {languages: [en, fr]}\n"), ["evaluation.languages[1]", "unknown language", "'fr'"]),
    ("unknown-translation-language", spec_text("intermediate: [{name: t, tasks: [syn-nli], translated: [xx]}]\n"), ["intermediate[0].translated[0]", "unknown language 'xx'"]),
    ("name-with-a-path", spec_text(replace={"name: x": "name: ../../escape"}), ["name", "'../../escape' must be letters"]),
    ("lease-shorter-than-heartbeats", spec_text("executor: {lease_seconds: 1, heartbeat_seconds: 1}\n"), ["executor.lease_seconds", "less than two heartbeats"]),
    ("no-models", spec_text(replace={"models: [{name: m, path: synthetic:encoder}]": "models: []"}), ["models", "at least one model"]),
    ("seed-too-big-for-sqlite", spec_text("seeds: [0, 1180591620717411303424]\n"), ["seeds[1]", "must be at most 2147483647"]),
    ("seed-just-too-big", spec_text(f"seeds: [{2**31}]\n"), ["seeds[0]", "must be at most 2147483647"]),
]


@pytest.mark.parametrize("case,content,needles", BAD_SPECS, ids=[c[0] for c in BAD_SPECS])
def test_bad_spec_is_one_line_naming_file_and_key(tmp_path: Path, case: str, content: str | bytes, needles: list[str]) -> None:
    spec = tmp_path / f"{case}.yaml"
    if isinstance(content, bytes):
        spec.write_bytes(content)
    else:
        spec.write_text(content, encoding="utf-8")
    assert_user_error(cli("plan", spec), str(spec), *needles)


def test_the_valid_base_spec_plans(tmp_path: Path) -> None:
    spec = tmp_path / "ok.yaml"
    spec.write_text(spec_text(), encoding="utf-8")
    result = cli("plan", spec)
    assert result.code == 0 and "2 stages" in result.out


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    spec = tmp_path / "merge.yaml"
    spec.write_text("name: x\nmodels: [{<<: {name: m, path: synthetic:decoder}, path: synthetic:encoder}]\ntargets: [syn-para]\n")
    assert cli("plan", spec).code == 0


def test_the_largest_seed_plans_and_run_refuses_a_larger_one_before_storing_anything(tmp_path: Path) -> None:
    spec = tmp_path / "ok.yaml"
    spec.write_text(spec_text(f"seeds: [{2**31 - 1}]\n"), encoding="utf-8")
    assert cli("plan", spec).code == 0
    big = tmp_path / "big.yaml"
    big.write_text(spec_text(f"seeds: [{2**70}]\noutput_dir: {tmp_path / 'out'}\n"), encoding="utf-8")
    assert_user_error(cli("run", big), str(big), "seeds[0]", "must be at most")
    assert not (tmp_path / "out").exists()


def test_spec_path_is_a_folder(tmp_path: Path) -> None:
    assert_user_error(cli("plan", tmp_path), str(tmp_path), "is a directory")


def test_spec_file_missing(tmp_path: Path) -> None:
    assert_user_error(cli("run", tmp_path / "nope.yaml"), "nope.yaml", "file not found")


def test_zero_workers(tmp_path: Path) -> None:
    spec = tmp_path / "ok.yaml"
    spec.write_text(spec_text(), encoding="utf-8")
    assert_user_error(cli("run", spec, "--workers", "0"), "--workers", "must be 1 or more")


def test_unimportable_stage_runner(tmp_path: Path) -> None:
    spec = tmp_path / "ok.yaml"
    spec.write_text(spec_text(f"output_dir: {tmp_path / 'out'}\n"), encoding="utf-8")
    assert_user_error(cli("run", spec, "--stage-runner", "no_such_module:run"), "stage runner 'no_such_module:run'", "cannot import")


def test_in_a_fresh_process_and_with_debug(tmp_path: Path) -> None:
    """The real entry point: one line without --debug, the traceback with it."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text("seeds: [0]\nseeds: [1]\n"), encoding="utf-8")
    assert_user_error(cli_subprocess("plan", spec, timeout=120), str(spec), "duplicate key 'seeds'")
    debug = cli_subprocess("--debug", "plan", spec, timeout=120)
    assert debug.code != 0 and "Traceback" in debug.err and "ConfigError" in debug.err
