"""Every task with a hub dataset parses local files written in that dataset's hub schema."""

import pytest

from xstilts.data.loading import load_examples

CASES = [
    # task, split, language, number of examples, (field, value) of the first example
    ("mnli", "validation", "en", 3, ("label", 2)),
    ("anli", "train", "en", 2, ("id", "r1-0001")),
    ("qqp", "validation", "en", 2, ("text_pair", "What is the way to boil an egg?")),
    ("sst2", "train", "en", 2, ("text_pair", None)),
    ("xnli", "validation", "de", 3, ("label", 1)),
    ("pawsx", "validation", "fr", 2, ("label", 1)),
    ("commonsenseqa", "validation", "en", 1, ("label", 1)),
    ("cosmosqa", "validation", "en", 1, ("choices", ["I stayed dry.", "I got wet.", "I flew home.", "None of the above choices."])),
    ("hellaswag", "validation", "en", 1, ("choices", ["he puts it on the stove.", "he throws it at the wall.",
                                                       "he paints it purple.", "he sings to the kettle loudly."])),
    ("siqa", "validation", "en", 1, ("label", 0)),
    ("copa", "train", "en", 2, ("question", "What was the effect?")),
    ("xcopa", "validation", "sw", 1, ("choices", ["Kilivunjika.", "Kiliimba."])),
    ("squad", "validation", "en", 1, ("answers", {"text": ["1887", "in 1887"], "answer_start": [49, 46]})),
    ("xquad", "validation", "es", 1, ("answers", {"text": ["1887"], "answer_start": [41]})),
    ("mlqa", "test", "de", 1, ("id", "mlqa-de-1")),
    ("tydiqa", "validation", "fi", 1, ("id", "finnish-123456789-0")),
    ("udpos", "train", "en", 2, ("tags", [5, 7, 15, 12])),
    ("panx", "validation", "de", 2, ("tags", [1, 2, 0, 5, 0])),
]


@pytest.mark.parametrize("task,split,language,count,check", CASES, ids=[c[0] for c in CASES])
def test_hub_schema_file(hub_fixtures, task, split, language, count, check):
    examples = load_examples(task, split, language, data_dir=hub_fixtures)
    assert len(examples) == count
    field, value = check
    assert examples[0][field] == value
    assert len({e["id"] for e in examples}) == count


def test_bucc_gold_pairs_become_queries_and_english_candidates(hub_fixtures):
    examples = load_examples("bucc2018", "validation", "de", data_dir=hub_fixtures)
    queries = {e["id"]: e for e in examples if e["side"] == "query"}
    candidates = {e["id"]: e for e in examples if e["side"] == "candidate"}
    assert queries["de-000000001"]["gold"] == ["en-000000004"]
    assert candidates["en-000000004"]["text"] == "The dog is sleeping."


def test_tatoeba_lines_are_aligned_by_index_and_stripped(hub_fixtures):
    examples = load_examples("tatoeba", "test", "fr", data_dir=hub_fixtures)
    assert examples[0] == {"id": "fr-0", "text": "Je lis un livre.", "side": "query", "gold": ["en-0"]}
    assert {"id": "en-1", "text": "It is cold.", "side": "candidate", "gold": []} in examples
