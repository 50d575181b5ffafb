"""The experiment spec: the shipped examples load, and every class of mistake is one clear error
naming the file, the line, the key and a suggestion, before anything runs."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from xstilts.cli import main
from xstilts.config import to_dict
from xstilts.errors import ConfigError, UnknownNameError
from xstilts.experiments.spec import ConditionSpec, load_spec, spec_from_dict

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

BASE = {
    "name": "t",
    "models": [{"name": "xlmr", "path": "FacebookAI/xlm-roberta-large"}],
    "intermediate": ["none", "mnli"],
    "targets": ["xnli"],
}


def _load(tmp_path: Path, data: dict | str) -> object:
    path = tmp_path / "spec.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return load_spec(path)


def _with(**changes: object) -> dict:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def _model(**options: object) -> list[dict]:
    return [{"name": "xlmr", "path": "FacebookAI/xlm-roberta-large", **options}]


@pytest.mark.parametrize("name", ["phang2020", "encoder_vs_decoder_xtremer", "synthetic_demo"])
def test_examples_load_and_round_trip(name: str) -> None:
    spec = load_spec(EXAMPLES / f"{name}.yaml")
    assert spec_from_dict(to_dict(spec)) == spec


def test_synthetic_demo_example_is_the_shipped_demo() -> None:
    shipped = ROOT / "src" / "xstilts" / "synthetic" / "demo.yaml"
    assert (EXAMPLES / "synthetic_demo.yaml").read_text() == shipped.read_text()


def test_phang2020_example_has_the_paper_grid() -> None:
    spec = load_spec(EXAMPLES / "phang2020.yaml")
    names = [c.name for c in spec.conditions()]
    paper = ["anli", "ccg", "commonsenseqa", "cosmosqa", "hellaswag", "mnli", "qqp", "squad", "sst2"]
    assert names[:11] == ["none", *paper, "multitask"]
    assert sorted(next(c for c in spec.conditions() if c.name == "multitask").tasks) == paper
    assert any(c.lm_mix for c in spec.conditions()) and any(c.translated for c in spec.conditions())
    assert spec.target_names() == ["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"]
    assert [m.path for m in spec.models] == ["FacebookAI/xlm-roberta-large"]


def test_encoder_vs_decoder_example_pairs_families() -> None:
    from xstilts.experiments.catalog import model_facts

    spec = load_spec(EXAMPLES / "encoder_vs_decoder_xtremer.yaml")
    families = {m.name: model_facts(m.path).family for m in spec.models}
    assert {"encoder", "decoder"} == set(families.values())
    assert set(spec.target_names()) == {"xnli", "xcopa", "udpos", "panx", "xquad", "mlqa", "tydiqa", "tatoeba", "mewslix", "lareqa"}


def test_intermediate_names_expand() -> None:
    spec = spec_from_dict(_with(intermediate=["none", "phang2020", "multitask", {"name": "mix", "tasks": ["mnli", "squad"]}]))
    conditions = spec.conditions()
    assert len(conditions) == 12
    assert conditions[0].is_baseline and conditions[-1] == ConditionSpec(name="mix", tasks=["mnli", "squad"])


def test_fingerprint_ignores_how_and_where_the_grid_runs() -> None:
    a = spec_from_dict(_with())
    b = spec_from_dict(_with(output_dir="elsewhere", executor={"workers": 4, "kind": "slurm"}))
    c = spec_from_dict(_with(seeds=[1]))
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


# (case, spec data or YAML text, substrings the one-line error must contain)
ERRORS = [
    # structure: unknown keys, types, values, missing keys
    ("unknown top-level key", _with(taregts=["xnli"]), ["unknown key 'taregts'", "did you mean 'targets'"]),
    ("unknown model key", _with(models=[{"name": "x", "pth": "a"}]), ["models[0]: unknown key 'pth'", "'path'"]),
    ("unknown key in optional section", _with(models=_model(lora={"rank": 4})), ["models[0].lora: unknown key 'rank'", "'r'"]),
    ("unknown key in a condition", _with(intermediate=[{"name": "x", "taks": ["mnli"]}]), ["intermediate[0]: unknown key 'taks'", "'tasks'"]),
    ("bad choice", _with(models=_model(family="encodr")), ["models[0].family: 'encodr' is not one of", "did you mean 'encoder'"]),
    ("wrong type", _with(seeds="0"), ["seeds: expected a list"]),
    ("wrong number", _with(training={"target": {"batch_size": "four"}}), ["training.target.batch_size: expected an integer"]),
    ("non-positive value", _with(training={"target": {"learning_rate": 0}}), ["training.target.learning_rate: must be positive"]),
    ("ratio out of range", _with(training={"intermediate": {"warmup_ratio": 1.5}}), ["warmup_ratio: must be in [0, 1)"]),
    ("missing key", {"name": "t", "models": BASE["models"]}, ["missing required key 'targets'"]),
    ("malformed yaml", "name: t\nmodels: [\n", ["malformed YAML (line"]),
    ("bad name", _with(name="my grid"), ["name: 'my grid' must be letters"]),
    ("empty seeds", _with(seeds=[]), ["seeds: at least one seed"]),
    ("duplicate seed", _with(seeds=[1, 1]), ["seeds[1]: seed 1 appears twice"]),
    # names of tasks and benchmarks
    ("unknown target", _with(targets=["xnlli"]), ["targets[0]: unknown target 'xnlli'", "did you mean 'xnli'"]),
    ("intermediate task as target", _with(targets=["mnli"]), ["targets[0]: 'mnli' is an intermediate task, not a target", "did you mean 'xnli'"]),
    ("paper set as target", _with(targets=["phang2020"]), ["names intermediate tasks; list it under `intermediate`"]),
    ("unknown intermediate", _with(intermediate=["none", "hellaswagg"]), ["intermediate[1]: unknown intermediate task 'hellaswagg'", "'hellaswag'"]),
    ("retrieval as intermediate", _with(intermediate=["tatoeba"]), ["intermediate[0]: 'tatoeba' is a retrieval task"]),
    ("target trained on another task", _with(intermediate=["xnli"]), ["intermediate[0]: 'xnli' is a target whose English training data is mnli's", "use 'mnli'"]),
    ("unknown evaluation language", _with(evaluation={"languages": ["xx"]}), ["evaluation.languages[0]: unknown language (for these targets) 'xx'"]),
    ("unknown translation language", _with(intermediate=[{"name": "t", "tasks": ["mnli"], "translated": ["dee"]}]), ["intermediate[0].translated[0]: unknown language 'dee'", "'de'"]),
    # impossible combinations
    ("retrieval target with a training phase", _with(targets=["tatoeba"], training={"tasks": {"tatoeba": {"epochs": 2}}}), ["training.tasks.tatoeba: tatoeba is a retrieval target: it has no training phase"]),
    ("settings for a task not in the grid", _with(training={"tasks": {"pawsx": {"epochs": 2}}}), ["training.tasks.pawsx: pawsx is neither an intermediate task nor a target"]),
    ("decoder modules on an encoder", _with(models=_model(lora={"target_modules": ["q_proj", "v_proj"]})), ["models[0].lora.target_modules[0]: 'q_proj' is not a module of FacebookAI/xlm-roberta-large", "query, key, value, dense"]),
    ("first-token pooling on a decoder", _with(models=[{"name": "b", "path": "bigscience/bloom-560m", "pooling": "first"}]), ["models[0].pooling: 'first' on a decoder", "use last or mean"]),
    ("family contradicts the model", _with(models=_model(family="decoder")), ["models[0].family: FacebookAI/xlm-roberta-large is an encoder", "set it to encoder"]),
    ("flash attention in float32", _with(models=_model(attn_implementation="flash_attention_2")), ["flash_attention_2 needs dtype bfloat16 or float16"]),
    ("attention kernels that take no padding mask on a GPU", _with(device="cuda", models=_model(sdpa_backends="flash")), ["models[0].sdpa_backends: flash cannot attend over padded batches on CUDA", "math"]),
    ("attention kernels the CPU lacks", _with(models=_model(sdpa_backends="efficient")), ["models[0].sdpa_backends: efficient cannot attend over padded batches on CPU", "(device: auto)"]),
    ("unknown attention kernel", _with(models=_model(sdpa_backends="flash,fast")), ["models[0].sdpa_backends: unknown backend fast", "auto", "cudnn"]),
    ("centering without a retrieval target", _with(evaluation={"retrieval_centering": True}), ["evaluation.retrieval_centering: no target of this grid is a retrieval task"]),
    ("retrieval layer beyond the model", _with(models=_model(retrieval_layer=30)), ["models[0].retrieval_layer: 30 is outside 0..24"]),
    ("fp16 on cpu", _with(device="cpu", training={"target": {"precision": "fp16"}}), ["training.target.precision: fp16 mixed precision needs a GPU"]),
    ("baseline with LM mixing", _with(intermediate=[{"name": "none", "lm_mix": {"ratio": 0.2}}]), ["intermediate[0]: the no-intermediate baseline cannot mix in LM"]),
    ("unnamed baseline", _with(intermediate=[{"name": "nothing"}]), ["intermediate[0].tasks: condition 'nothing' has no tasks"]),
    ("LM ratio out of range", _with(intermediate=[{"name": "x", "tasks": ["mnli"], "lm_mix": {"ratio": 1.5}}]), ["intermediate[0].lm_mix.ratio: must be between 0 and 1"]),
    ("English as a translation", _with(intermediate=[{"name": "x", "tasks": ["mnli"], "translated": ["en"]}]), ["translated[0]: 'en' is the original data"]),
    # duplicates
    ("duplicate model name", _with(models=[{"name": "a", "path": "FacebookAI/xlm-roberta-base"}, {"name": "a", "path": "FacebookAI/xlm-roberta-large"}]), ["models[1].name: 'a' is also the name of models[0]"]),
    ("same model twice", _with(models=[{"name": "a", "path": "FacebookAI/xlm-roberta-base"}, {"name": "b", "path": "FacebookAI/xlm-roberta-base"}]), ["models[1]: same model and options as models[0]"]),
    ("same model but its attention kernels", _with(models=[{"name": "a", "path": "FacebookAI/xlm-roberta-base"}, {"name": "b", "path": "FacebookAI/xlm-roberta-base", "sdpa_backends": "torch"}]), ["models[1]: same model and options as models[0]", "sdpa_backends aside"]),
    ("duplicate condition", _with(intermediate=["none", "mnli", "phang2020"]), ["condition name 'mnli' appears twice"]),
    ("identical conditions", _with(intermediate=["mnli", {"name": "nli", "tasks": ["mnli"]}]), ["condition 'nli' trains exactly like 'mnli'"]),
    ("duplicate target", _with(targets=["xtreme", "xnli"]), ["'xnli' appears twice"]),
    # executor
    ("lease shorter than heartbeats", _with(executor={"lease_seconds": 10, "heartbeat_seconds": 30}), ["executor.lease_seconds: 10.0 is less than two heartbeats"]),
    ("unknown GPU type", _with(executor={"gpu": "h1000"}), ["executor.gpu: unknown GPU type 'h1000'", "'h100'"]),
    ("unknown stage kind", _with(executor={"resources": {"train": {"gpus": 1}}}), ["executor.resources: unknown key 'train'", "valid keys: intermediate, target, evaluate"]),
    ("unknown executor", _with(executor={"kind": "kubernetes"}), ["executor.kind: 'kubernetes' is not one of local, slurm, submitit-local, ray"]),
]


@pytest.mark.parametrize("case,data,expected", ERRORS, ids=[e[0] for e in ERRORS])
def test_spec_errors_name_file_key_and_fix(tmp_path: Path, case: str, data: dict | str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, data)
    message = str(info.value)
    assert message.startswith(str(tmp_path / "spec.yaml")), message
    assert "\n" not in message and "\x00" not in message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_errors_point_at_the_line_of_the_key(tmp_path: Path) -> None:
    text = "name: t\nmodels:\n  - name: x\n    path: FacebookAI/xlm-roberta-base\n    pth: oops\ntargets: [xnli]\n"
    with pytest.raises(ConfigError, match=r"spec\.yaml:5: models\[0\]: unknown key 'pth'; did you mean 'path'\?"):
        _load(tmp_path, text)
    text = "name: t\nmodels: [{name: x, path: FacebookAI/xlm-roberta-base}]\ntargets:\n  - xnli\n  - tatoebaa\n"
    with pytest.raises(ConfigError, match=r"spec\.yaml:5: targets\[1\]: unknown target 'tatoebaa'"):
        _load(tmp_path, text)


def test_unknown_names_are_unknown_name_errors(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError):
        _load(tmp_path, _with(targets=["xnlli"]))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_spec(tmp_path / "nope.yaml")


def test_errors_from_dicts_name_their_source() -> None:
    with pytest.raises(ConfigError, match=r"^grid: models\[0\]: unknown key 'pth'"):
        spec_from_dict(_with(models=[{"name": "x", "pth": "a"}]), "grid")


def test_lora_modules_of_a_local_model_are_read_from_its_weights(tmp_path: Path) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    folder = tmp_path / "decoder"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama", "hidden_size": 8, "num_hidden_layers": 1, "vocab_size": 10}')
    save_file({"model.layers.0.self_attn.q_proj.weight": np.zeros((8, 8), dtype=np.float32)}, str(folder / "model.safetensors"))
    ok = _with(models=[{"name": "d", "path": str(folder), "lora": {"target_modules": ["q_proj"]}}])
    assert spec_from_dict(ok).models[0].lora.target_modules == ["q_proj"]
    bad = _with(models=[{"name": "d", "path": str(folder), "lora": {"target_modules": ["query"]}}])
    with pytest.raises(ConfigError, match=r"models\[0\]\.lora\.target_modules\[0\]: 'query' is not a module of .*q_proj"):
        spec_from_dict(bad)


def test_lora_modules_of_a_built_in_model_with_a_copy_are_read_from_its_weights() -> None:
    """The shipped synthetic encoder: its embeddings are a LoRA target (peft supports them), not
    only the linear layers the table lists for its model type."""
    ok = _with(models=[{"name": "e", "path": "synthetic:encoder", "lora": {"target_modules": ["word_embeddings"]}}])
    assert spec_from_dict(ok).models[0].lora.target_modules == ["word_embeddings"]
    bad = _with(models=[{"name": "e", "path": "synthetic:encoder", "lora": {"target_modules": ["q_proj"]}}])
    with pytest.raises(ConfigError, match=r"models\[0\]\.lora\.target_modules\[0\]: 'q_proj' is not a module of synthetic:encoder"):
        spec_from_dict(bad)


def test_cli_reports_a_bad_spec_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(_with(targets=["xnlli"])))
    assert main(["plan", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xstilts: error: ") and "did you mean 'xnli'" in err and "\n" not in err


def test_the_documented_executor_section_is_valid() -> None:
    import re

    text = (EXAMPLES / "README.md").read_text()
    block = yaml.safe_load(re.search(r"```yaml\n(executor:.*?)```", text, re.S).group(1))
    spec = spec_from_dict({**_with(), **block})
    assert spec.executor.slurm.partition == "gpu" and spec.executor.resources.evaluate.memory_gb == 32
