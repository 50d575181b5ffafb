"""Bad data files, found by `xstilts run` on a grid whose `data_dir` holds them: exit code 2 and one
stderr line naming the file and the column, row or field, without a traceback.

Each grid is the tiny random-weight encoder with one real target read from local files in the hub
schema (or XTREME's original layout). The bad file is the first one the grid reads (the English
training file of the target), so the run stops before any training step.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xstilts.experiments.store import ResultsStore

from reliability_helpers import assert_user_error, cli, write_spec


def jsonl(rows: list) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def pairs(n: int = 8) -> list[dict]:
    return [{"sentence1": f"the cat sees the dog {i}", "sentence2": f"a dog is seen {i}", "label": i % 2} for i in range(n)]


def squad_rows(n: int = 6) -> list[dict]:
    return [
        {"id": f"q{i}", "title": "t", "context": f"The lighthouse was built in 18{i}7 on the cape.", "question": "When?",
         "answers": {"text": [f"18{i}7"], "answer_start": [28]}}
        for i in range(n)
    ]


def pos_rows(n: int = 6) -> list[dict]:
    return [{"tokens": ["The", "cat", "sleeps", "."], "pos_tags": [5, 7, 15, 12]} for _ in range(n)]


def copa_rows(n: int = 6) -> list[dict]:
    return [{"premise": "The glass fell.", "choice1": "It broke.", "choice2": "It sang.", "question": "effect", "idx": i, "label": i % 2} for i in range(n)]


def siqa_rows(n: int = 6) -> list[dict]:
    return [{"context": "Sam helped.", "question": "How would Sam feel?", "answerA": "good", "answerB": "bad", "answerC": "odd", "label": "1"} for _ in range(n)]


def nli_rows(n: int = 6) -> list[dict]:
    return [{"premise": "a cat sleeps", "hypothesis": "an animal sleeps", "label": i % 3, "idx": i} for i in range(n)]


GOOD = {
    "pawsx": {"pawsx/train-en.jsonl": jsonl(pairs()), "pawsx/validation-en.jsonl": jsonl(pairs()), "pawsx/validation-fr.jsonl": jsonl(pairs())},
    "xquad": {"squad/train.jsonl": jsonl(squad_rows()), "squad/validation.jsonl": jsonl(squad_rows())},
    "udpos": {"udpos/train-en.jsonl": jsonl(pos_rows()), "udpos/validation-en.jsonl": jsonl(pos_rows())},
    "xcopa": {"siqa/train.jsonl": jsonl(siqa_rows()), "siqa/validation.jsonl": jsonl(siqa_rows()),
              "copa/train.jsonl": jsonl(copa_rows()), "copa/validation.jsonl": jsonl(copa_rows())},
    "tatoeba": {},
    "xnli": {"mnli/train.jsonl": jsonl(nli_rows()), "mnli/validation.jsonl": jsonl(nli_rows())},
}
EVAL_LANGUAGE = {"pawsx": "fr", "xquad": "de", "udpos": "de", "xcopa": "sw", "tatoeba": "fr", "xnli": "de"}


def run_grid(tmp_path: Path, model: Path, target: str, files: dict[str, str | bytes | None], intermediate: list | None = None):
    """`xstilts run` on a grid reading GOOD[target] with `files` replacing (None: removing) some."""
    data = tmp_path / "data"
    for name, content in {**GOOD[target], **files}.items():
        if content is None:
            continue
        path = data / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    raw = {
        "name": "bad-data",
        "output_dir": str(tmp_path / "out"),
        "data_dir": str(data),
        "models": [{"name": "m", "path": str(model)}],
        "intermediate": intermediate or ["none"],
        "targets": [target],
        "device": "cpu",
        "training": {"max_restarts": 0, "intermediate": {"max_steps": 2}, "target": {"max_steps": 2, "max_length": 32}},
        "evaluation": {"max_examples": 8, "languages": [EVAL_LANGUAGE[target]]},
    }
    # Target languages without data are skipped, so that the run reaches the bad file.
    return cli("-q", "run", write_spec(tmp_path / "spec.yaml", raw), "--no-report", "--allow-missing-languages"), tmp_path / "out"


def assert_preflight_refusal(result, *needles: str) -> None:
    """Refused before any training: exit code 2, one stderr line, the problems (with every needle) in
    the preflight's table on stdout, nothing run."""
    lines = result.err_lines()
    assert result.code == 2 and len(lines) == 1 and lines[0].startswith("xstilts: error: preflight:"), result.err
    for needle in needles:
        assert needle in result.out, f"{needle!r} not in {result.out!r}"


PAWSX_TRAIN = "pawsx/train-en.jsonl"
BAD_FILES = [
    # (case, target, files, substrings of the error besides the file name)
    ("missing-column", "pawsx", {PAWSX_TRAIN: jsonl([{"sentence1": "a", "label": 0}])}, ["row 0 has no column 'sentence2'"]),
    ("label-out-of-range", "pawsx", {PAWSX_TRAIN: jsonl(pairs(3) + [{"sentence1": "a", "sentence2": "b", "label": "7"}])}, ["row 3 column 'label'", "out of range"]),
    ("label-unknown-name", "pawsx", {PAWSX_TRAIN: jsonl([{"sentence1": "a", "sentence2": "b", "label": "maybe"}])}, ["column 'label'", "'maybe' is not one of"]),
    ("label-missing-value", "pawsx", {PAWSX_TRAIN: jsonl([{"sentence1": "a", "sentence2": "b", "label": ""}])}, ["column 'label'", "unlabelled split"]),
    ("label-boolean", "pawsx", {PAWSX_TRAIN: jsonl([{"sentence1": "a", "sentence2": "b", "label": True}])}, ["column 'label'", "True is not a label"]),
    ("text-not-a-string", "pawsx", {PAWSX_TRAIN: jsonl([{"sentence1": 5, "sentence2": "b", "label": 0}])}, ["column 'sentence1'", "expected a string, got int"]),
    ("latin1-encoding", "pawsx", {PAWSX_TRAIN: '{"sentence1": "café", "sentence2": "b", "label": 0}\n'.encode("latin-1")}, ["not UTF-8"]),
    ("utf16-encoding", "pawsx", {PAWSX_TRAIN: jsonl(pairs(2)).encode("utf-16")}, ["not UTF-8"]),
    ("half-written-jsonl", "pawsx", {PAWSX_TRAIN: jsonl(pairs(2)) + '{"sentence1": "a", "sente'}, [":3: invalid JSON"]),
    ("row-not-an-object", "pawsx", {PAWSX_TRAIN: jsonl(pairs(1)) + '["a", "b", 0]\n'}, ["row 1", "not a record"]),
    ("empty-split", "pawsx", {PAWSX_TRAIN: ""}, ["[pawsx train/en]", "split is empty"]),
    ("json-not-a-list", "pawsx", {PAWSX_TRAIN: None, "pawsx/train-en.json": json.dumps({"rows": pairs(2)})}, ["train-en.json", "expected a JSON list of records"]),
    ("corrupt-parquet", "pawsx", {PAWSX_TRAIN: None, "pawsx/train-en.parquet": b"PAR1 this is not parquet"}, ["train-en.parquet", "unreadable parquet file"]),
    ("original-tsv-label-column-missing", "pawsx", {PAWSX_TRAIN: None, "pawsx/train-en.tsv": "the cat\ta cat\n"}, ["train-en.tsv", "column 'label'", "unlabelled split"]),
    ("original-tsv-bad-encoding", "pawsx", {PAWSX_TRAIN: None, "pawsx/train-en.tsv": "caf\xe9\tb\t1\n".encode("latin-1")}, ["train-en.tsv", "not UTF-8"]),
    ("answer-not-in-context", "xquad", {"squad/train.jsonl": jsonl([{**squad_rows(1)[0], "answers": {"text": ["zzz"], "answer_start": [0]}}])}, ["squad/train.jsonl", "'zzz' does not occur in the context"]),
    ("answers-wrong-shape", "xquad", {"squad/train.jsonl": jsonl([{**squad_rows(1)[0], "answers": "1887"}])}, ["squad/train.jsonl", "row 0", "answers"]),
    ("tags-tokens-length-mismatch", "udpos", {"udpos/train-en.jsonl": jsonl([{"tokens": ["a", "b", "c"], "pos_tags": [1, 2]}])}, ["column 'pos_tags'", "2 tags for 3 tokens"]),
    ("tag-out-of-range", "udpos", {"udpos/train-en.jsonl": jsonl([{"tokens": ["a"], "pos_tags": [99]}])}, ["column 'pos_tags'", "out of range"]),
    ("tokens-not-a-list", "udpos", {"udpos/train-en.jsonl": jsonl([{"tokens": 7, "pos_tags": [1]}])}, ["row 0", "tokens"]),
    ("choice-label-out-of-range", "xcopa", {"siqa/train.jsonl": jsonl([{**siqa_rows(1)[0], "label": "5"}])}, ["siqa/train.jsonl", "row 0 column 'label'"]),
    ("retrieval-missing-column", "tatoeba", {"tatoeba/test-fr.jsonl": jsonl([{"source_sentence": "Je lis.", "target_language": "eng"}])}, ["test-fr.jsonl", "no column 'target_sentence'"]),
]


@pytest.mark.parametrize("case,target,files,needles", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_data_file_is_one_line_naming_file_and_field(tiny_models, tmp_path, case, target, files, needles) -> None:
    result, out = run_grid(tmp_path, tiny_models["encoder"], target, files)
    name = next(name for name, content in files.items() if content is not None)
    assert_user_error(result, str(tmp_path / "data"), name.split("/")[-1], *needles)
    with ResultsStore(out / "results.sqlite") as store:
        failed = [s for s in store.stages() if s.status == "failed"]
        assert len(failed) == 1 and needles[0] in failed[0].error  # the store keeps the same line
        assert [a["status"] for a in store.attempts(failed[0].id)] == ["failed"]
    assert not list((out / "stages").glob("*/checkpoint")) if (out / "stages").exists() else True


def test_the_good_files_train_and_evaluate(tiny_models, tmp_path) -> None:
    """The base data of the table above is valid: every failure comes from the one bad file."""
    result, out = run_grid(tmp_path, tiny_models["encoder"], "pawsx", {})
    assert result.code == 0, result.err
    with ResultsStore(out / "results.sqlite") as store:
        assert {s.status for s in store.stages()} == {"done"}


def test_data_folder_missing(tiny_models, tmp_path) -> None:
    raw_data = tmp_path / "no-such-folder"
    raw = {
        "name": "bad-data", "output_dir": str(tmp_path / "out"), "data_dir": str(raw_data), "device": "cpu",
        "models": [{"name": "m", "path": str(tiny_models["encoder"])}], "targets": ["pawsx"],
    }
    result = cli("-q", "run", write_spec(tmp_path / "spec.yaml", raw), "--no-report")
    assert_preflight_refusal(result, str(raw_data), "does not exist")


def test_model_folder_missing(tmp_path) -> None:
    raw = {
        "name": "bad-model", "output_dir": str(tmp_path / "out"), "device": "cpu",
        "models": [{"name": "m", "path": str(tmp_path / "no-model")}], "targets": ["syn-para"],
    }
    result = cli("-q", "run", write_spec(tmp_path / "spec.yaml", raw), "--no-report")
    assert_preflight_refusal(result, str(tmp_path / "no-model"))


def test_translated_rows_in_another_language(tiny_models, tmp_path) -> None:
    """translate-train/de.jsonl whose rows say they are French."""
    rows = [{"premise": "Le chat.", "hypothesis": "Un chat.", "label": 0, "language": "fr"}]
    mnli = jsonl([{"premise": "a", "hypothesis": "b", "label": 0, "idx": 0}])
    files = {"mnli/train.jsonl": mnli, "mnli/validation.jsonl": mnli, "mnli/translate-train/de.jsonl": jsonl(rows)}
    condition = {"name": "mnli-de", "tasks": ["mnli"], "translated": ["de"]}
    result, _ = run_grid(tmp_path, tiny_models["encoder"], "pawsx", files, intermediate=[condition])
    assert_user_error(result, "translate-train/de.jsonl", "example 0 field 'language' is 'fr', expected 'de'")


def test_translated_file_missing(tiny_models, tmp_path) -> None:
    files = {"mnli/train.jsonl": jsonl([{"premise": "a", "hypothesis": "b", "label": 0, "idx": 0}])}
    condition = {"name": "mnli-de", "tasks": ["mnli"], "translated": ["de"]}
    result, _ = run_grid(tmp_path, tiny_models["encoder"], "pawsx", files, intermediate=[condition])
    assert_preflight_refusal(result, str(tmp_path / "data" / "mnli"), "no translated training data for 'de'", "translate-train/de.jsonl")


def test_rows_of_another_language_in_a_language_file(tiny_models, tmp_path) -> None:
    """XNLI's hub config holds every language in one table: rows saved to validation-de.jsonl that say
    they are French would be scored as German. Found when the evaluate stage reads them."""
    xnli = [{"sentence1": "Le chat dort.", "sentence2": "Un animal dort.", "gold_label": "entailment", "language": "fr"}]
    xnli += [{**xnli[0], "language": "de"}]
    result, out = run_grid(tmp_path, tiny_models["encoder"], "xnli", {"xnli/validation-de.jsonl": jsonl(xnli[::-1] + xnli[:1])})
    assert_user_error(result, "xnli/validation-de.jsonl", "row 1 is language 'fr'", "read as 'de'")
    with ResultsStore(out / "results.sqlite") as store:
        assert {s.kind: s.status for s in store.stages()} == {"target": "done", "evaluate": "failed"}
        assert store.scores_frame().empty
