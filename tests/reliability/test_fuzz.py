"""Fuzzing the spec loader and the data loaders (hypothesis): whatever the input, the result is a
valid object or an XStiltsError with a one-line message; never another exception.

Bounded so that the file runs in seconds: a fixed number of examples, derandomised (the same
examples on every run, so CI is reproducible). XSTILTS_FUZZ_EXAMPLES=N and XSTILTS_FUZZ_RANDOM=1
explore further.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xstilts.data.loading import load_examples
from xstilts.errors import XStiltsError
from xstilts.experiments.plan import plan
from xstilts.experiments.spec import load_spec, spec_from_dict

EXAMPLES = int(os.environ.get("XSTILTS_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, database=None, derandomize=not os.environ.get("XSTILTS_FUZZ_RANDOM"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = (
    st.none() | st.booleans() | st.integers() | st.integers(-3, 300)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
    | st.sampled_from(["", "en", "de", "none", "syn-para", "syn-nli", "synthetic:encoder", "1e-5", "../x", "nan", "-1"])
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
# Mostly values a field could take, so that many specs get past validation to the planner.
plausible = st.one_of(st.integers(1, 40), st.floats(0.001, 0.9), st.booleans(), values)


def one_line_error(err: XStiltsError) -> None:
    message = str(err)
    assert message and "\n" not in message, repr(message)


# -- the spec loader ---------------------------------------------------------------------------------
BASE = {"name": "fz", "models": [{"name": "m", "path": "synthetic:encoder"}], "targets": ["syn-para"]}
TOP = ["name", "models", "targets", "intermediate", "seeds", "output_dir", "data_dir", "training", "evaluation",
       "keep_target_checkpoints", "device", "executor", "bogus"]
MODEL = ["name", "path", "family", "dtype", "attn_implementation", "gradient_checkpointing", "trust_remote_code",
         "revision", "pooling", "retrieval_layer", "retrieval_pooling", "lora", "freeze_embeddings", "bogus"]
PHASE = ["learning_rate", "batch_size", "epochs", "max_steps", "warmup_ratio", "weight_decay", "gradient_accumulation",
         "max_grad_norm", "eval_every", "patience", "precision", "max_length", "max_train_examples", "max_dev_examples",
         "checkpoint_every", "packing", "bogus"]
EVALUATION = ["split", "languages", "batch_size", "max_examples", "retrieval_layers", "bogus"]
EXECUTOR = ["kind", "workers", "lease_seconds", "heartbeat_seconds", "poll_seconds", "max_attempts", "gpu", "store_journal", "bogus"]
NAMES = st.sampled_from(["none", "multitask", "phang2020", "syn-nli", "syn-mc", "syn-para", "syn-pos", "syn-tatoeba",
                         "xnli", "mnli", "tatoeba", "synthetic", "xtreme", "nope", ""])
LANGUAGES = st.sampled_from(["en", "clo", "scr", "ord", "de", "xx", ""])


def section(keys: list[str], value_for: dict | None = None) -> st.SearchStrategy:
    value_for = value_for or {}
    return st.dictionaries(st.sampled_from(keys), plausible, max_size=3).flatmap(
        lambda d: st.fixed_dictionaries({k: value_for.get(k, st.just(v)) for k, v in d.items()})
    )


conditions = st.lists(NAMES | st.fixed_dictionaries(
    {"name": st.text(max_size=8)}, optional={"tasks": st.lists(NAMES, max_size=3), "translated": st.lists(LANGUAGES, max_size=2),
                                             "sampling": st.sampled_from(["uniform", "x"]), "temperature": values}), max_size=3)
specs = st.fixed_dictionaries({}, optional={
    "models": st.lists(section(MODEL, {"path": st.sampled_from(["synthetic:encoder", "synthetic:decoder", "synthetic:x", " ", "org/model"])}), max_size=2),
    "targets": st.lists(NAMES, min_size=1, max_size=3) | values,
    "intermediate": conditions | values,
    "seeds": st.lists(st.integers(-2, 3), max_size=3, unique=True) | values,
    "training": st.fixed_dictionaries({}, optional={"target": section(PHASE), "intermediate": section(PHASE), "max_restarts": values,
                                                    "tasks": st.dictionaries(NAMES, section(PHASE), max_size=2)}),
    "evaluation": section(EVALUATION, {"languages": st.lists(LANGUAGES, max_size=3)}),
    "executor": section(EXECUTOR),
}).flatmap(lambda override: st.one_of(st.just({}), section(TOP)).map(lambda top: {**BASE, **top, **override}))


# Valid specs of many shapes (what the planner must handle), then each perhaps with one wild section.
valid_phase = st.fixed_dictionaries({}, optional={
    "learning_rate": st.floats(1e-6, 1e-2), "batch_size": st.integers(1, 64), "max_steps": st.integers(1, 500),
    "epochs": st.floats(0.1, 5), "warmup_ratio": st.floats(0, 0.5), "eval_every": st.integers(1, 100),
    "patience": st.integers(1, 5), "max_length": st.integers(8, 512), "checkpoint_every": st.integers(1, 50),
})
valid_specs = st.fixed_dictionaries({
    "name": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,10}", fullmatch=True),
    "models": st.lists(st.fixed_dictionaries(
        {"name": st.sampled_from(["a", "b", "c"]), "path": st.sampled_from(["synthetic:encoder", "synthetic:decoder"])},
        optional={"dtype": st.sampled_from(["float32", "bfloat16"]), "pooling": st.sampled_from(["last", "mean"]),
                  "retrieval_layer": st.integers(0, 2), "lora": st.fixed_dictionaries({}, optional={"r": st.integers(1, 16)})},
    ), min_size=1, max_size=2, unique_by=lambda m: m["name"]),
    "targets": st.lists(st.sampled_from(["syn-para", "syn-pos", "syn-tatoeba", "syn-qa", "synthetic"]), min_size=1, max_size=3, unique=True),
    "intermediate": st.lists(st.sampled_from(["none", "syn-nli", "syn-mc", "syn-squad"]), min_size=1, max_size=3, unique=True),
    "seeds": st.lists(st.integers(0, 5), min_size=1, max_size=3, unique=True),
}, optional={
    "training": st.fixed_dictionaries({}, optional={"target": valid_phase, "intermediate": valid_phase, "max_restarts": st.integers(0, 3)}),
    "evaluation": st.fixed_dictionaries({}, optional={"languages": st.lists(st.sampled_from(["en", "clo", "scr", "ord"]), min_size=1, max_size=3, unique=True),
                                                      "max_examples": st.integers(1, 100), "retrieval_layers": st.lists(st.integers(0, 2), max_size=2)}),
})
perturbed = valid_specs.flatmap(lambda spec: st.one_of(
    st.just(spec), section(TOP).map(lambda wild: {**spec, **wild}), specs.map(lambda wild: {**spec, **{k: wild[k] for k in list(wild)[:1]}}),
))


@FUZZ
@given(specs | perturbed)
def test_spec_loader_gives_a_spec_or_a_one_line_config_error(data: dict) -> None:
    try:
        spec = spec_from_dict(data, "fuzz.yaml")
    except XStiltsError as err:
        one_line_error(err)
        return
    try:
        stages = plan(spec)
    except XStiltsError as err:
        one_line_error(err)
        return
    assert stages and len({s.id for s in stages}) == len(stages)
    assert len(spec.fingerprint()) == 16


@FUZZ
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200) | specs.map(lambda d: yaml.safe_dump(d, allow_unicode=True)).map(lambda t: t[: len(t) // 2]))
def test_spec_files_of_any_text(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "spec.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_spec(path)
        except XStiltsError as err:
            one_line_error(err)
            assert str(path) in str(err)


@FUZZ
@given(st.binary(max_size=200))
def test_spec_files_of_any_bytes(blob: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "spec.yaml"
        path.write_bytes(blob)
        try:
            load_spec(path)
        except XStiltsError as err:
            one_line_error(err)


# -- the data loaders ----------------------------------------------------------------------------------
# task -> (split, language, file name, columns, strategies for the columns' plausible values)
text = st.text(max_size=12)
label = st.integers(-2, 20) | st.sampled_from(["0", "1", "2", "7", "", "entailment", "paraphrase", "x"]) | st.none() | st.booleans()
CASES = {
    "pawsx": ("train", "en", "train-en", {"sentence1": text, "sentence2": text, "label": label}),
    "xnli": ("validation", "de", "validation-de", {"sentence1": text, "sentence2": text, "gold_label": label, "language": LANGUAGES}),
    "udpos": ("train", "en", "train-en", {"tokens": st.lists(text, max_size=4), "pos_tags": st.lists(label, max_size=4)}),
    "squad": ("train", "en", "train", {
        "id": text, "title": text, "context": st.just("The lighthouse was built in 1887."), "question": text,
        "answers": st.fixed_dictionaries({"text": st.lists(st.sampled_from(["1887", "zzz", ""]), max_size=2),
                                          "answer_start": st.lists(st.integers(-1, 40), max_size=2)}) | values,
    }),
    "siqa": ("train", "en", "train", {"context": text, "question": text, "answerA": text, "answerB": text, "answerC": text, "label": label}),
    "tatoeba": ("test", "fr", "test-fr", {"source_sentence": text, "target_sentence": text}),
}


def rows_for(columns: dict) -> st.SearchStrategy:
    """Rows holding some of the columns, with plausible or arbitrary values, sometimes not a record."""
    names = list(columns)
    row = st.lists(st.sampled_from(names + ["extra"]), unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({k: (columns.get(k, values) | values) if k != "extra" else values for k in keys})
    )
    return st.lists(row | values, min_size=0, max_size=5)


def write(folder: Path, stem: str, fmt: str, rows: list) -> None:
    if fmt == "jsonl":
        (folder / f"{stem}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif fmt == "json":
        (folder / f"{stem}.json").write_text(json.dumps(rows), encoding="utf-8")
    else:  # header TSV of the rows' keys (hub schema) or, for tasks with an original reader, its layout
        keys = sorted({k for r in rows if isinstance(r, dict) for k in r})
        lines = ["\t".join(keys)] + ["\t".join(str(r.get(k, "")) if isinstance(r, dict) else str(r) for k in keys) for r in rows]
        (folder / f"{stem}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def load(task: str, folder: Path) -> None:
    split, language = CASES[task][:2]
    try:
        examples = load_examples(task, split, language, data_dir=folder)
    except XStiltsError as err:
        one_line_error(err)
        return
    assert examples


@pytest.mark.parametrize("task", list(CASES))
def test_data_files_give_examples_or_a_one_line_data_error(task: str) -> None:
    _split, _language, stem, columns = CASES[task]

    @FUZZ
    @given(rows_for(columns), st.sampled_from(["jsonl", "json", "tsv"]))
    def check(rows: list, fmt: str) -> None:
        with tempfile.TemporaryDirectory() as folder:
            write(Path(folder), stem, fmt, rows)
            load(task, Path(folder))

    check()


@pytest.mark.parametrize("suffix", ["jsonl", "json", "tsv", "parquet"])
def test_data_files_of_any_bytes(suffix: str) -> None:
    @FUZZ
    @given(st.binary(max_size=120) | st.sampled_from([b"\xef\xbb\xbf{}\n", b"PAR1\x00\x00PAR1", b'{"sentence1": "a"']))
    def check(blob: bytes) -> None:
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / f"train-en.{suffix}").write_bytes(blob)
            load("pawsx", Path(folder))

    check()
