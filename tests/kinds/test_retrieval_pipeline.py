"""Retrieval through the pipeline with a tiny random-weight encoder: BUCC's evaluate stage embeds
the dev split of the spec's data_dir and mines the test split with the dev threshold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from xstilts.data.loading import load_examples
from xstilts.evaluation.metrics import bucc_f1
from xstilts.evaluation.predict import evaluate, featurize, model_outputs
from xstilts.kinds import FeaturizeOptions
from xstilts.kinds.retrieval_search import BuccSplit, bucc_evaluate
from xstilts.tasks import get_task

WORDS = "alpha beta gamma delta river stone cloud green small house walks sees the a of".split()


def sentences(seed: int, n: int) -> list[str]:
    rng = torch.Generator().manual_seed(seed)
    return [" ".join(WORDS[int(i)] for i in torch.randint(len(WORDS), (int(torch.randint(3, 7, (1,), generator=rng)),), generator=rng)) for _ in range(n)]


def write_bucc(root: Path) -> None:
    """BUCC's original files for de: 'sample' (dev) and 'training' (test), each with gold pairs."""
    folder = root / "bucc2018"
    folder.mkdir(parents=True)
    for part, seed in (("sample", 1), ("training", 2)):
        de, en = sentences(seed, 9), sentences(seed + 10, 10)
        en[:5] = de[:5]  # five translations: identical text, the same embedding
        (folder / f"de-en.{part}.de").write_text("".join(f"de-{part}-{i}\t{t}\n" for i, t in enumerate(de)), encoding="utf-8")
        (folder / f"de-en.{part}.en").write_text("".join(f"en-{part}-{i}\t{t}\n" for i, t in enumerate(en)), encoding="utf-8")
        (folder / f"de-en.{part}.gold").write_text("".join(f"de-{part}-{i}\ten-{part}-{i}\n" for i in range(5)), encoding="utf-8")


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoModel, AutoTokenizer

    from xstilts.synthetic.pretrain import model_config
    from xstilts.synthetic.spec import ModelShape
    from xstilts.synthetic.tokenizer import train_tokenizer

    root = tmp_path_factory.mktemp("tiny")
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(sentences(0, 200)) + "\n", encoding="utf-8")
    train_tokenizer(corpus, 120, root / "tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(str(root / "tokenizer"))
    torch.manual_seed(0)
    body = AutoModel.from_config(model_config("encoder", ModelShape(layers=2, hidden=32, heads=2, intermediate=64), tokenizer))
    body.save_pretrained(str(root / "model"))
    tokenizer.save_pretrained(str(root / "model"))
    return root / "model"


def embed_split(model, task, examples) -> BuccSplit:
    features = featurize(model, task, examples, FeaturizeOptions(max_length=task.hyperparameters.max_length))
    vectors = torch.stack(model_outputs(model, task, features, batch_size=4))
    q = [i for i, e in enumerate(examples) if e["side"] == "query"]
    c = [i for i, e in enumerate(examples) if e["side"] == "candidate"]
    return BuccSplit(
        [examples[i]["id"] for i in q], [examples[i]["text"] for i in q], vectors[q],
        [examples[i]["id"] for i in c], [examples[i]["text"] for i in c], vectors[c],
        {examples[i]["id"]: examples[i]["gold"] for i in q},
    )


def test_evaluate_mines_bucc_test_with_the_dev_threshold(tiny_encoder: Path, tmp_path: Path) -> None:
    from xstilts.models.backbone import BackboneOptions
    from xstilts.models.model import load_pretrained

    write_bucc(tmp_path)
    task = get_task("bucc2018")
    model = load_pretrained(str(tiny_encoder), BackboneOptions())
    test = load_examples(task, "test", "de", tmp_path)
    result = evaluate(model, task, test, batch_size=4, language="de", data_dir=tmp_path)

    dev_split = embed_split(model, task, load_examples(task, "validation", "de", tmp_path))
    test_split = embed_split(model, task, test)
    expected = bucc_evaluate(dev_split, test_split)
    predicted = sorted((s, t) for s, targets in result.predictions.items() for t in targets)
    assert predicted == sorted(expected.test_pairs)
    assert ("de-training-0", "en-training-0") in predicted  # identical sentences are mined
    assert result.scores == bucc_f1(expected.test_pairs, test_split.gold)
    assert result.scores == expected.test_scores
    assert result.n_examples == 9  # every source sentence, paired or not


def test_the_evaluate_stage_reads_the_dev_split_from_the_spec_data_dir(tiny_encoder: Path, tmp_path: Path) -> None:
    from xstilts.experiments.runner import run_spec
    from xstilts.experiments.spec import spec_from_dict
    from xstilts.experiments.store import ResultsStore

    data = tmp_path / "data"
    write_bucc(data)
    spec = spec_from_dict({
        "name": "bucc-tiny", "models": [{"name": "tiny", "path": str(tiny_encoder)}], "targets": ["bucc2018"],
        "intermediate": ["none"], "data_dir": str(data), "output_dir": str(tmp_path / "out"), "device": "cpu",
        "evaluation": {"languages": ["de"], "batch_size": 4},
    })
    summary = run_spec(spec)
    assert not summary.failed and len(summary.ran) == 1
    store = ResultsStore(summary.store)
    scores = store.scores_frame("bucc-tiny")
    store.close()
    assert set(scores["split"]) == {"test"}
    rows = [json.loads(line) for line in (tmp_path / "out" / "stages" / summary.ran[0] / "predictions" / "de.jsonl").read_text().splitlines()]
    predicted = [(r["id"], t) for r in rows for t in r["prediction"]]
    gold = [(r["id"], t) for r in rows for t in r["gold"]]
    f1 = scores.set_index("metric")["value"]["f1"]
    assert f1 == pytest.approx(bucc_f1(predicted, gold)["f1"])
    assert ("de-training-0", "en-training-0") in predicted
