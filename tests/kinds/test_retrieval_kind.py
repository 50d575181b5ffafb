"""The retrieval kind decodes as each task's metric needs: Tatoeba's direction, rankings for
mAP@20, BUCC's margin mining with the dev split's threshold. Embeddings are given by hand."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from xstilts.data.loading import load_examples
from xstilts.errors import ConfigError, DataError
from xstilts.evaluation.metrics import get_metric
from xstilts.kinds import handler_for
from xstilts.kinds.retrieval import Embedded
from xstilts.kinds.retrieval_search import BuccSplit, bucc_evaluate, tatoeba_predictions
from xstilts.tasks import get_task

HANDLER = handler_for(get_task("tatoeba"))


def at(degrees: float, norm: float = 1.0) -> list[float]:
    """A 2-D vector at an angle: cosine similarities are cosines of angle differences."""
    return [norm * math.cos(math.radians(degrees)), norm * math.sin(math.radians(degrees))]


def query(id_: str, gold: list[str], text: str | None = None) -> dict:
    return {"id": id_, "text": text or id_, "side": "query", "gold": gold}


def candidate(id_: str, text: str | None = None) -> dict:
    return {"id": id_, "text": text or id_, "side": "candidate", "gold": []}


def decode(task_name: str, examples: list[dict], vectors: list[list[float]], calibration: Embedded | None = None, **task_changes):
    task = dataclasses.replace(get_task(task_name), **task_changes) if task_changes else get_task(task_name)
    features = [{"input_ids": [0], "example_index": i} for i in range(len(examples))]
    logits = [torch.tensor(v) for v in vectors]
    predictions = HANDLER.decode(logits, features, examples, task, calibration=calibration)
    return predictions, HANDLER.references(examples, task), task


# --- Tatoeba: every English sentence searches the other language (XTREME's direction) -----------


def tatoeba_case() -> tuple[list[dict], list[list[float]]]:
    # English e0 at 0 degrees (3x longer: cosine, not dot product), e1 at 40; Polish p0 at -50, p1 at 30.
    # English -> Polish: e0 -> p1 (30 < 50 degrees away, wrong), e1 -> p1 (right): 50%.
    # Polish -> English (the loader's query side) would be p0 -> e0, p1 -> e1: 100%.
    examples = [query("pl-0", ["en-0"]), query("pl-1", ["en-1"]), candidate("en-0"), candidate("en-1")]
    return examples, [at(-50), at(30), at(0, norm=3.0), at(40)]


def test_tatoeba_searches_from_english_as_xtreme() -> None:
    examples, vectors = tatoeba_case()
    predictions, references, task = decode("tatoeba", examples, vectors)
    assert predictions == {"en-0": ["pl-1"], "en-1": ["pl-1"]}
    assert references == {"en-0": ["pl-0"], "en-1": ["pl-1"]}
    assert get_metric(task.metric)(predictions, references) == {"accuracy": 50.0}
    # the same as the evaluation package's XTREME procedure (source = Polish, queries = English)
    nearest = tatoeba_predictions(torch.tensor(vectors[:2]), torch.tensor(vectors[2:]))
    assert [predictions[f"en-{i}"] == [f"pl-{j}"] for i, j in enumerate(nearest)] == [True, True]
    assert HANDLER.chance(examples, task) == 50.0


def test_tatoeba_through_the_loader(tmp_path: Path) -> None:
    folder = tmp_path / "tatoeba"
    folder.mkdir()
    (folder / "tatoeba.pol-eng.pol").write_text("Czytam.\nJest zimno.\nPada.\n", encoding="utf-8")
    (folder / "tatoeba.pol-eng.eng").write_text("I read.\nIt is cold.\nIt rains.\n", encoding="utf-8")
    examples = load_examples("tatoeba", "test", "pl", tmp_path)
    assert [(e["id"], e["side"], e["gold"]) for e in examples] == [
        ("pl-0", "query", ["en-0"]), ("pl-1", "query", ["en-1"]), ("pl-2", "query", ["en-2"]),
        ("en-0", "candidate", []), ("en-1", "candidate", []), ("en-2", "candidate", []),
    ]
    # Polish at 0, 60, 120 degrees; English at 10 (-> pl-0), 100 (-> pl-2: 20 vs 40 degrees), 125 (-> pl-2)
    vectors = [at(0), at(60), at(120), at(10), at(100), at(125)]
    predictions, references, task = decode("tatoeba", examples, vectors)
    assert predictions == {"en-0": ["pl-0"], "en-1": ["pl-2"], "en-2": ["pl-2"]}
    assert get_metric(task.metric)(predictions, references)["accuracy"] == pytest.approx(200 / 3)


# --- LAReQA / Mewsli-X: each query ranks the candidates, 20 kept ---------------------------------


def test_map_at_20_ranks_candidates_by_cosine_and_keeps_20() -> None:
    # candidate c<k> lies k degrees from the query; c25 is far longer (first by dot product) but furthest
    examples = [query("q", ["c3", "c21"])] + [candidate(f"c{k}") for k in range(1, 26)]
    vectors = [at(0)] + [at(k, norm=100.0 if k == 25 else 1.0) for k in range(1, 26)]
    for task_name in ("lareqa", "mewslix"):
        predictions, references, task = decode(task_name, examples, vectors)
        assert predictions == {"q": [f"c{k}" for k in range(1, 21)]}
        assert references == {"q": ["c3", "c21"]}
        # c3 at rank 3, c21 beyond 20: AP@20 = (1/3) / 2
        assert get_metric(task.metric)(predictions, references)["map@20"] == pytest.approx(100 / 6)


def test_ranking_ties_keep_candidate_order() -> None:
    examples = [query("q", ["b"]), candidate("a"), candidate("b"), candidate("c")]
    predictions, _, _ = decode("mewslix", examples, [at(0), at(10), at(20), at(10)])
    assert predictions == {"q": ["a", "c", "b"]}


# --- BUCC: margin mining, threshold from the dev split's gold pairs ---------------------------


def bucc_split(prefix: str, gold_b: bool) -> list[dict]:
    """Sources a (0 deg), b (90 deg); English A (0 deg), B (60 deg). With neighbourhoods of all
    (k = 4 > 2), the ratio margins are a-A = 1 / 0.625 = 1.6 and b-B = (sqrt(3)/2) / 0.558 = 1.552,
    a-B = 0.698, b-A = 0; "max" mining pairs a-A (1.6) and b-B (1.552)."""
    return [
        query(f"{prefix}-a", [f"{prefix}-A"], text=f"{prefix} source a"),
        query(f"{prefix}-b", [f"{prefix}-B"] if gold_b else [], text=f"{prefix} source b"),
        candidate(f"{prefix}-A", text=f"{prefix} english A"),
        candidate(f"{prefix}-B", text=f"{prefix} english B"),
    ]


BUCC_VECTORS = [at(0), at(90), at(0), at(60)]


def test_bucc_threshold_comes_from_the_dev_gold_not_the_test_gold() -> None:
    test = bucc_split("test", gold_b=True)
    # dev gold has both pairs: best F1 keeps both, threshold = 1.552 -> both test pairs predicted
    both = Embedded(bucc_split("dev", gold_b=True), torch.tensor(BUCC_VECTORS))
    predictions, references, task = decode("bucc2018", test, BUCC_VECTORS, calibration=both)
    assert predictions == {"test-a": ["test-A"], "test-b": ["test-B"]}
    assert references == {"test-a": ["test-A"], "test-b": ["test-B"]}
    assert get_metric(task.metric)(predictions, references)["f1"] == 100.0
    # dev gold has only a-A: threshold between 1.6 and 1.552 -> test keeps a-A only, although the
    # test gold has b-B too
    only_a = Embedded(bucc_split("dev", gold_b=False), torch.tensor(BUCC_VECTORS))
    predictions, references, task = decode("bucc2018", test, BUCC_VECTORS, calibration=only_a)
    assert predictions == {"test-a": ["test-A"], "test-b": []}
    assert get_metric(task.metric)(predictions, references)["recall"] == 50.0
    assert HANDLER.chance(test, task) is None


def noisy_bucc_split(prefix: str, generator: torch.Generator) -> tuple[list[dict], torch.Tensor]:
    """Ten sources, eleven English sentences, pairs i-i for i < 5 (close vectors), the rest unpaired."""
    examples = [query(f"{prefix}-s{i}", [f"{prefix}-t{i}"] if i < 5 else [], text=f"{prefix} s{i}") for i in range(10)]
    examples += [candidate(f"{prefix}-t{i}", text=f"{prefix} t{i}") for i in range(11)]
    vectors = torch.randn(21, 8, generator=generator)
    for i in range(5):
        vectors[10 + i] = vectors[i] + 0.4 * i * vectors[10 + i]  # pair i: noisier as i grows
    return examples, vectors


def test_bucc_decode_is_bucc_evaluate() -> None:
    generator = torch.Generator().manual_seed(0)
    dev, dev_vectors = noisy_bucc_split("dev", generator)
    test, test_vectors = noisy_bucc_split("test", generator)
    predictions, _, _ = decode("bucc2018", test, test_vectors.tolist(), calibration=Embedded(dev, dev_vectors))

    def split_of(examples: list[dict], vectors: torch.Tensor, gold: bool) -> BuccSplit:
        q = [i for i, e in enumerate(examples) if e["side"] == "query"]
        c = [i for i, e in enumerate(examples) if e["side"] == "candidate"]
        return BuccSplit(
            [examples[i]["id"] for i in q], [examples[i]["text"] for i in q], vectors[q],
            [examples[i]["id"] for i in c], [examples[i]["text"] for i in c], vectors[c],
            {examples[i]["id"]: examples[i]["gold"] for i in q} if gold else None,
        )

    expected = bucc_evaluate(split_of(dev, dev_vectors, True), split_of(test, test_vectors, False)).test_pairs
    assert sorted((s, t) for s, targets in predictions.items() for t in targets) == sorted(expected)
    assert set(predictions) == {e["id"] for e in test if e["side"] == "query"}
    assert ("test-s0", "test-t0") in expected and len(expected) < 10  # a threshold was applied


def test_bucc_needs_the_dev_split() -> None:
    test = bucc_split("test", gold_b=True)
    assert HANDLER.calibration_split(get_task("bucc2018")) == "validation"
    assert HANDLER.calibration_split(get_task("tatoeba")) is None
    with pytest.raises(ConfigError, match="bucc2018: bucc_f1 mines with a threshold chosen on the 'validation' split"):
        decode("bucc2018", test, BUCC_VECTORS)
    no_gold = [dict(e, gold=[]) for e in bucc_split("dev", gold_b=True)]
    with pytest.raises(DataError, match="'validation' split has no gold pairs"):
        decode("bucc2018", test, BUCC_VECTORS, calibration=Embedded(no_gold, torch.tensor(BUCC_VECTORS)))


def test_the_procedure_follows_the_metric_not_the_task_name() -> None:
    examples, vectors = tatoeba_case()
    # a task named "tatoeba" scored by mAP@20 ranks from the queries
    predictions, references, _ = decode("tatoeba", examples, vectors, metric="map_at_20")
    assert predictions == {"pl-0": ["en-0", "en-1"], "pl-1": ["en-1", "en-0"]}
    assert references == {"pl-0": ["en-0"], "pl-1": ["en-1"]}
    with pytest.raises(ConfigError, match="no retrieval procedure for metric 'accuracy'"):
        decode("tatoeba", examples, vectors, metric="accuracy")


@pytest.mark.parametrize("family", ["encoder", "decoder"])
def test_lareqa_candidates_are_encoded_with_their_paragraph_as_xtreme_does(tiny_models, family) -> None:
    from xstilts.kinds import FeaturizeOptions
    from xstilts.models.backbone import BackboneOptions
    from xstilts.models.model import load_pretrained

    model = load_pretrained(str(tiny_models[family]), BackboneOptions())
    tok, fmt = model.tokenizer, model.input_format
    sentence, paragraph = "the answer is here", "before it. the answer is here. and after it, a long tail of words"
    examples = [
        {"id": "q", "text": "where is the answer", "side": "query", "gold": ["c"], "context": "ignored for queries"},
        {"id": "c", "text": sentence, "side": "candidate", "gold": [], "context": paragraph},
        {"id": "d", "text": sentence, "side": "candidate", "gold": []},
    ]
    features = handler_for(get_task("lareqa")).featurize(examples, tok, fmt, get_task("lareqa"), FeaturizeOptions(max_length=512))
    ids = lambda text: tok(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    assert features[0]["input_ids"] == fmt.single(ids("where is the answer"))
    assert features[1]["input_ids"] == fmt.pair(ids(sentence), ids(paragraph))[0]
    assert features[2]["input_ids"] == fmt.single(ids(sentence))
    n = len(ids(sentence))
    assert len(ids(paragraph)) > n + 2
    budget = 2 * n + 2 + fmt.pair_overhead  # longest first: only the paragraph is cut, to n + 2 tokens
    short = handler_for(get_task("lareqa")).featurize(examples[1:2], tok, fmt, get_task("lareqa"), FeaturizeOptions(max_length=budget))
    assert short[0]["input_ids"] == fmt.pair(ids(sentence), ids(paragraph)[: n + 2])[0]


# --- centering: each side less its mean (evaluation.retrieval_centering) -----------------------------


def test_centering_removes_what_a_side_shares() -> None:
    """Each language's sentences share a large offset (their language) and differ by a small
    pair signal: raw cosines see mostly the offsets, centred ones the pairs."""
    from xstilts.kinds.retrieval import centered_by_side

    angles = [0, 70, 140, 210, 280]
    examples = [query(f"pl-{i}", [f"en-{i}"]) for i in range(5)] + [candidate(f"en-{i}") for i in range(5)]
    polish, english = [20.0, 0.0], [0.0, 20.0]
    vectors = [[polish[0] + x, polish[1] + y] for x, y in (at(a) for a in angles)]
    vectors += [[english[0] + x, english[1] + y] for x, y in (at(a + 10) for a in angles)]
    features = [{"input_ids": [0], "example_index": i} for i in range(len(examples))]
    raw, references, task = decode("tatoeba", examples, vectors)
    assert get_metric(task.metric)(raw, references)["accuracy"] < 100
    centred = centered_by_side([torch.tensor(v) for v in vectors], features, examples)
    assert torch.stack(centred[:5]).mean(0).abs().max() < 1e-5 and torch.stack(centred[5:]).mean(0).abs().max() < 1e-5
    predictions, _, _ = decode("tatoeba", examples, [c.tolist() for c in centred])
    assert get_metric(task.metric)(predictions, references)["accuracy"] == 100.0
