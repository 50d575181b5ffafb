"""`xstilts export --xtreme-submission`: a finished grid cell's predictions in the official layout,
scored back by `xstilts evaluate` to the numbers the results store holds.

Two grids: one with every XTREME / XTREME-R target, whose evaluate stages are fabricated (random
predictions written by the pipeline's own writer, scored by the task's metric as the stage does),
and one run for real on the synthetic tasks with a tiny random-weight encoder (slow)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from xstilts.cli import main
from xstilts.errors import ConfigError, DataError
from xstilts.evaluation.metrics import get_metric
from xstilts.evaluation.per_example import per_example_scores
from xstilts.evaluation.predict import Evaluation
from xstilts.experiments.export import MANIFEST, export_cell, select_cell
from xstilts.experiments.plan import plan
from xstilts.experiments.spec import spec_from_dict
from xstilts.experiments.stages import _prediction_rows
from xstilts.experiments.store import ResultsStore
from xstilts.io import write_jsonl
from xstilts.tasks import get_task
from xstilts.tasks.base import Task, TaskKind

XTREME_TARGETS = [
    "xnli", "pawsx", "xcopa", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba", "mewslix", "lareqa",
]
ANSWERS = ["the cat", "Cat", "a dog", "New York", "1969", "(the) end.", "北京", "长江，黄河", "「红楼梦」", "der Hund", "„Berlin“"]


# --- fabricated predictions in each metric's format -----------------------------------------


def _maybe(rng: random.Random, right, choices):
    return right if rng.random() < 0.6 else rng.choice(choices)


def fabricate(task: Task, language: str, rng: random.Random) -> tuple[object, object]:
    """(predictions, references) as the task's kind decodes them, with awkward cases."""
    n = rng.randint(3, 7)
    if task.kind in (TaskKind.CLASSIFICATION, TaskKind.MULTIPLE_CHOICE):
        k = task.num_labels or task.num_choices or 2
        gold = [rng.randrange(k) for _ in range(n)]
        return [_maybe(rng, g, range(k)) for g in gold], gold
    if task.kind is TaskKind.TAGGING:
        gold = [[rng.choice(task.labels) for _ in range(rng.randint(1, 6))] for _ in range(n)]
        return [[_maybe(rng, t, task.labels) for t in sentence] for sentence in gold], gold
    if task.kind is TaskKind.SPAN_EXTRACTION:
        gold = {f"{language}-q{i}": rng.sample(ANSWERS, rng.randint(1, 3)) for i in range(n)}
        predictions = {qid: _maybe(rng, answers[0], ANSWERS) for qid, answers in gold.items()}
        if task.name == "xquad" and language == "de":
            del predictions[f"{language}-q0"]  # an unanswered question: 0, as the official script
        return predictions, gold
    if task.metric == "bucc_f1":
        gold = {f"{language}-{i:06d}": ([f"en-{i:06d}"] if i % 3 else []) for i in range(n)}
        predictions = {src: [_maybe(rng, f"en-{i:06d}", [f"en-{j:06d}" for j in range(n + 2)])] if rng.random() < 0.8 else []
                       for i, src in enumerate(gold)}
        return predictions, gold
    if task.metric == "tatoeba_accuracy":  # keyed by the English sentence, as the pipeline decodes it
        gold = {f"en-{i}": [f"{language}-{i}"] for i in range(n)}
        return {f"en-{i}": [f"{language}-{_maybe(rng, i, range(n))}"] for i in range(n)}, gold
    # map_at_20: Mewsli-X one gold entity, LAReQA several gold sentences; rankings up to 25 with repeats
    pool = [f"c{j}" for j in range(30)]
    gold = {f"{language}-m{i}": rng.sample(pool, 1 if task.name == "mewslix" else rng.randint(1, 4)) for i in range(n)}
    predictions = {qid: [rng.choice(pool) for _ in range(rng.randint(0, 25))] + g[:1] for qid, g in gold.items()}
    return predictions, gold


def finish_evaluate_stage(store: ResultsStore, root: Path, stage, rng: random.Random) -> None:
    """What run_evaluate leaves behind: predictions/<lang>.jsonl and the stage's scores."""
    task = get_task(stage.task)
    metric = get_metric(task.metric)
    scores = []
    for language in task.languages:
        predictions, references = fabricate(task, language, rng)
        values = metric(predictions, references, language=language)
        result = Evaluation(task.name, values, metric.primary, predictions, references, len(references),
                            per_example=per_example_scores(metric, predictions, references, language))
        write_jsonl(root / "stages" / stage.id / "predictions" / f"{language}.jsonl", _prediction_rows(result))
        scores += [
            {"task": task.name, "language": language, "split": task.eval_split_for(language), "metric": name,
             "value": float(value), "primary": name == metric.primary, "n_examples": len(references), "chance": None}
            for name, value in values.items()
        ]
    assert store.claim(stage.id, "fabricated", lease_seconds=600)  # only the holder of a stage may finish it
    assert store.finish(stage.id, "fabricated", {"family": "encoder"}, {}, scores)


@pytest.fixture(scope="module")
def xtreme_grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A grid of every XTREME / XTREME-R target: 1 model x {none, mnli} x seeds {0, 1}; only the
    evaluate stages of cell (xlmr, mnli, seed 1) are finished."""
    root = tmp_path_factory.mktemp("grid")
    spec = spec_from_dict({
        "name": "fabricated", "models": [{"name": "xlmr", "path": "/nonexistent/xlm-roberta-large"}],
        "targets": XTREME_TARGETS, "intermediate": ["none", "mnli"], "seeds": [0, 1], "output_dir": str(root),
    })
    stages = plan(spec)
    store = ResultsStore(root / "results.sqlite")
    store.register(spec.name, stages)
    rng = random.Random(0)
    for stage in stages:
        if stage.kind == "evaluate" and stage.condition.name == "mnli" and stage.seed == 1:
            finish_evaluate_stage(store, root, stage, rng)
    store.close()
    return root


def stored_scores(results: Path, cell: dict) -> dict[str, dict[str, dict[str, float]]]:
    """task -> language -> metric -> value, from the store, for one cell."""
    store = ResultsStore(results / "results.sqlite")
    frame = store.scores_frame()
    store.close()
    for column, value in cell.items():
        frame = frame[frame[column] == value]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for row in frame.itertuples():
        out.setdefault(row.task, {}).setdefault(row.language, {})[row.metric] = row.value
    return out


def assert_scores_equal(mine: dict, stored: dict) -> None:
    assert set(mine) == set(stored)
    for key, value in stored.items():
        if isinstance(value, dict):
            assert_scores_equal(mine[key], value)
        else:
            assert mine[key] == pytest.approx(value, abs=1e-9), key


# --- XTREME task names -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(xtreme_grid: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("export")
    predictions, labels = out / "submission", out / "labels"
    assert main([
        "export", str(xtreme_grid), "--xtreme-submission", str(predictions), "--labels", str(labels),
        "--condition", "mnli", "--seed", "1",
    ]) == 0
    return predictions, labels


def test_export_prints_what_to_know(xtreme_grid: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([
        "export", str(xtreme_grid), "--xtreme-submission", str(tmp_path / "p"), "--labels", str(tmp_path / "g"),
        "--condition", "mnli", "--seed", "1",
    ]) == 0
    printed = capsys.readouterr().out
    assert "exported xlmr / mnli / seed 1 of spec fabricated: 12 tasks" in printed
    assert "predictions on the test, validation split(s)" in printed
    assert "cannot score lareqa/" in printed
    assert f"--labels {tmp_path / 'g'} --benchmark xtreme-r" in printed


@pytest.mark.parametrize("benchmark", ["xtreme", "xtreme-r"])
def test_exported_cell_scores_as_stored(xtreme_grid: Path, exported: tuple[Path, Path], tmp_path: Path, benchmark: str) -> None:
    predictions, labels = exported
    out = tmp_path / "scores.json"
    assert main([
        "evaluate", "--predictions", str(predictions), "--labels", str(labels), "--benchmark", benchmark,
        "--allow-missing", "--json", str(out),
    ]) == 0
    payload = json.loads(out.read_text())
    assert payload["skipped_tasks"] == {} and payload["missing_tasks"] == []
    stored = stored_scores(xtreme_grid, {"condition": "mnli", "seed": 1})
    from xstilts.tasks.suites import get_suite

    bench = get_suite(benchmark)
    for task, languages in bench.languages.items():
        mine = payload["tasks"][task]["languages"]
        assert_scores_equal(mine, {lang: stored[task][lang] for lang in languages})


def test_exported_files_are_in_the_official_formats(exported: tuple[Path, Path], xtreme_grid: Path) -> None:
    predictions, labels = exported
    manifest = json.loads((predictions / MANIFEST).read_text())
    assert (manifest["model"], manifest["condition"], manifest["seed"]) == ("xlmr", "mnli", 1)
    assert sorted(manifest["tasks"]) == sorted(XTREME_TARGETS)
    assert manifest["score_with"] == ["xtreme-r", "xtreme"]  # 10 and 9 of the exported tasks, every language
    assert manifest["tasks"]["xnli"]["languages"]["de"]["split"] == "validation"

    def stage_rows(task: str, lang: str) -> list[dict]:
        stage = manifest["tasks"][task]["stage_id"]
        text = (xtreme_grid / "stages" / stage / "predictions" / f"{lang}.jsonl").read_text()
        return [json.loads(line) for line in text.splitlines()]

    xnli = get_task("xnli").labels
    assert (predictions / "xnli" / "test-de.tsv").read_text().split() == [xnli[r["prediction"]] for r in stage_rows("xnli", "de")]
    assert (labels / "xnli" / "test-de.tsv").read_text().split() == [xnli[r["gold"]] for r in stage_rows("xnli", "de")]
    assert (predictions / "pawsx" / "test-ja.tsv").read_text().split() == [str(r["prediction"]) for r in stage_rows("pawsx", "ja")]
    tatoeba = stage_rows("tatoeba", "kk")
    line_of = {r["gold"][0]: i for i, r in enumerate(tatoeba)}
    assert (predictions / "tatoeba" / "test-kk.tsv").read_text().split() == [str(line_of[r["prediction"][0]]) for r in tatoeba]
    assert (labels / "tatoeba" / "test-kk.tsv").read_text().split() == [str(i) for i in range(len(tatoeba))]
    bucc = stage_rows("bucc2018", "fr")
    assert (predictions / "bucc2018" / "test-fr.tsv").read_text().splitlines() == [f"{r['id']}\t{t}" for r in bucc for t in r["prediction"]]
    xcopa = [json.loads(line) for line in (predictions / "xcopa" / "test-qu.jsonl").read_text().splitlines()]
    assert [row["label"] for row in xcopa] == [r["prediction"] for r in stage_rows("xcopa", "qu")]
    squad_gold = json.loads((labels / "tydiqa" / "test-fi.json").read_text())
    assert [qa["id"] for p in squad_gold["data"][0]["paragraphs"] for qa in p["qas"]] == [r["id"] for r in stage_rows("tydiqa", "fi")]
    assert json.loads((predictions / "mewslix" / "test-ja.json").read_text()) == {r["id"]: r["prediction"] for r in stage_rows("mewslix", "ja")}


def test_the_cell_must_be_named_when_ambiguous_and_finished(xtreme_grid: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ConfigError, match=r"several conditions \(mnli, none\); choose one with --condition"):
        select_cell(xtreme_grid)
    with pytest.raises(ConfigError, match=r"several seeds \(0, 1\); choose one with --seed"):
        select_cell(xtreme_grid, condition="mnli")
    with pytest.raises(DataError, match=r"evaluation \(stage \w+\) of cell xlmr / none / seed 0 is pending; 12 of 12"):
        select_cell(xtreme_grid, condition="none", seed=0)
    with pytest.raises(ConfigError, match=r"unknown condition 'mlni'.*closest: mnli"):
        select_cell(xtreme_grid, condition="mlni", seed=1)
    with pytest.raises(ConfigError, match="unknown spec 'other'"):
        select_cell(xtreme_grid, spec="other", condition="mnli", seed=1)
    with pytest.raises(DataError, match="no results store"):
        select_cell(tmp_path)
    assert main(["export", str(xtreme_grid), "--xtreme-submission", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xstilts: error: ") and "\n" not in err and "--condition" in err
    assert not (tmp_path / "s").exists()


# --- refusals: one line, naming the file ----------------------------------------------------------


@pytest.fixture()
def small_grid(tmp_path: Path) -> Path:
    root = tmp_path / "grid"
    spec = spec_from_dict({
        "name": "small", "models": [{"name": "m", "path": "/nonexistent/m"}], "targets": ["xnli", "tatoeba"], "output_dir": str(root),
    })
    stages = plan(spec)
    store = ResultsStore(root / "results.sqlite")
    store.register(spec.name, stages)
    for stage in stages:
        finish_evaluate_stage(store, root, stage, random.Random(1))
    store.close()
    return root


def prediction_file(grid: Path, task: str, language: str) -> Path:
    cell = select_cell(grid)
    stage = next(s for s in cell.stages if s.target == task)
    return grid / "stages" / stage.stage_id / "predictions" / f"{language}.jsonl"


def test_small_grid_exports_without_choices(small_grid: Path, tmp_path: Path) -> None:
    result = export_cell(small_grid, tmp_path / "p", tmp_path / "g")
    assert sorted(result.files) == ["tatoeba", "xnli"]
    assert result.splits == ("test", "validation")
    assert (tmp_path / "p" / "tatoeba" / "test-az.tsv").is_file()
    with pytest.raises(DataError, match=r"/p: already exists and is not empty"):
        export_cell(small_grid, tmp_path / "p")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: f.unlink(), r"predictions/de\.jsonl: file not found \(stage \w+ stored xnli scores in 'de'\)"),
        (lambda f: f.write_text(f.read_text() + f.read_text().splitlines()[0] + "\n"), r"de\.jsonl: .* occurs twice|de\.jsonl line \d+: \"index\""),
        (lambda f: f.write_text(f.read_text() + '{"index": 99, "prediction": 0,\n'), r"predictions/de\.jsonl line \d+: malformed JSON"),
        (lambda f: f.write_text("\n".join(f.read_text().splitlines()[:-1]) + "\n"), r"predictions/de\.jsonl: \d+ rows but the results store counts \d+ xnli examples in 'de'"),
        (lambda f: (f.parent / "xx.jsonl").write_text(f.read_text()), r"predictions/xx\.jsonl: unknown language 'xx' for xnli"),
        (lambda f: (f.parent / "ja.jsonl").write_text(f.read_text()), r"predictions/ja\.jsonl: unknown language 'ja' for xnli"),
        (lambda f: f.write_text(f.read_text().replace('"prediction": 0', '"prediction": 7')), r"de\.jsonl: xnli prediction \d+: label index 7 outside 0\.\.2"),
    ],
)
def test_damaged_predictions_fail_in_one_line_naming_the_file(small_grid: Path, tmp_path: Path, capsys: pytest.CaptureFixture, damage, message: str) -> None:
    damage(prediction_file(small_grid, "xnli", "de"))
    with pytest.raises(DataError, match=message):
        export_cell(small_grid, tmp_path / "p", tmp_path / "g")
    assert not (tmp_path / "p").exists() and not (tmp_path / "g").exists()  # nothing half-written
    assert main(["export", str(small_grid), "--xtreme-submission", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and ".jsonl" in err


def test_language_without_stored_scores_is_refused(small_grid: Path, tmp_path: Path) -> None:
    source = prediction_file(small_grid, "xnli", "de")
    source.with_name("zz.jsonl").write_text(source.read_text())
    with pytest.raises(DataError, match=r"zz\.jsonl: unknown language 'zz'"):
        export_cell(small_grid, tmp_path / "p")


def test_tatoeba_prediction_outside_the_sentences_is_refused(small_grid: Path, tmp_path: Path) -> None:
    path = prediction_file(small_grid, "tatoeba", "de")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[1]["prediction"] = ["de-999"]
    write_jsonl(path, rows)
    with pytest.raises(DataError, match=r"predictions/de\.jsonl line 2: predicted id 'de-999' is not the gold of any row"):
        export_cell(small_grid, tmp_path / "p")


# --- the synthetic tasks, run for real ---------------------------------------------------------


@pytest.mark.slow
def test_synthetic_cell_exported_and_scored_as_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from xstilts.experiments.runner import run_spec
    from xstilts.synthetic.files import SyntheticBenchmark
    from xstilts.synthetic.pretrain import model_config
    from xstilts.synthetic.spec import ModelShape
    from xstilts.synthetic.tokenizer import train_tokenizer
    from xstilts.synthetic.world import LANGUAGES

    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    world, rng = SyntheticBenchmark().world, random.Random(0)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(world.realise(world.random_proposition(rng), lang).text for lang in LANGUAGES for _ in range(300)) + "\n")
    train_tokenizer(corpus, 300, tmp_path / "tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path / "tokenizer"))
    torch.manual_seed(0)
    body = AutoModel.from_config(model_config("encoder", ModelShape(layers=2, hidden=32, heads=2, intermediate=64), tokenizer))
    body.save_pretrained(str(tmp_path / "model"))
    tokenizer.save_pretrained(str(tmp_path / "model"))
    short = {"max_steps": 2, "max_train_examples": 32, "max_dev_examples": 16, "batch_size": 8}
    spec = spec_from_dict({
        "name": "tiny", "models": [{"name": "enc", "path": str(tmp_path / "model")}], "intermediate": ["none", "syn-nli"],
        "targets": ["syn-para", "syn-pos", "syn-qa", "syn-tatoeba"], "seeds": [0], "output_dir": str(tmp_path / "out"),
        "device": "cpu", "training": {"max_restarts": 0, "intermediate": short, "target": short},
    })
    summary = run_spec(spec)
    assert not summary.failed

    submission, labels, out = tmp_path / "submission", tmp_path / "labels", tmp_path / "scores.json"
    assert main(["export", str(tmp_path / "out"), "--xtreme-submission", str(submission), "--labels", str(labels), "--condition", "syn-nli"]) == 0
    printed = capsys.readouterr().out
    assert "validation split" in printed and "--benchmark synthetic" in printed
    assert main(["evaluate", "--predictions", str(submission), "--labels", str(labels), "--benchmark", "synthetic", "--json", str(out)]) == 0
    mine = {task: s["languages"] for task, s in json.loads(out.read_text())["tasks"].items()}
    stored = stored_scores(tmp_path / "out", {"condition": "syn-nli"})
    assert_scores_equal(mine, stored)
    assert set(stored) == {"syn-para", "syn-pos", "syn-qa", "syn-tatoeba"}

    # the stage's own prediction file scores the same with `evaluate --task`
    stage = json.loads((submission / MANIFEST).read_text())["tasks"]["syn-tatoeba"]["stage_id"]
    assert main(["evaluate", "--task", "syn-tatoeba", "--predictions", str(tmp_path / "out" / "stages" / stage / "predictions" / "scr.jsonl"), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["scores"] == pytest.approx(stored["syn-tatoeba"]["scr"])
    first = json.loads((tmp_path / "out" / "stages" / stage / "predictions" / "scr.jsonl").read_text().splitlines()[0])
    assert first["id"] == "en-0" and first["gold"] == ["scr-0"]  # searched from English, as XTREME
