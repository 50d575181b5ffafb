"""Each dataset's original file format, as released or as google-research/xtreme's download leaves it."""

import pytest

from xstilts.data.loading import load_examples, resolve_task
from xstilts.tasks import get_task


def test_xtreme_xnli_tsv_and_mnli_train_file(original_fixtures, monkeypatch):
    dev = load_examples("xnli", "validation", "de", data_dir=original_fixtures)
    assert [e["label"] for e in dev] == [1, 2]
    # download/xnli/train-en.tsv is MNLI's training set; "contradictory" is XNLI-MT's spelling.
    monkeypatch.setenv("XSTILTS_DATA_MNLI", str(original_fixtures / "xnli"))
    train = load_examples("mnli", "train", "en")
    assert [e["label"] for e in train] == [0, 2]


def test_glue_mnli_tsv(original_fixtures):
    examples = load_examples("mnli", "validation", "en", data_dir=original_fixtures)
    assert examples[1]["text"] == "The river is frozen." and examples[1]["label"] == 2 and examples[1]["id"] == "12c"


def test_pawsx_tsv(original_fixtures):
    assert [e["label"] for e in load_examples("pawsx", "validation", "es", data_dir=original_fixtures)] == [1, 0]


def test_squad_family_json(original_fixtures):
    squad = load_examples("squad", "validation", "en", data_dir=original_fixtures)
    assert squad[1]["answers"] == {"text": ["white"], "answer_start": [66]}
    ro = load_examples("xquad", "validation", "ro", data_dir=original_fixtures)
    assert ro[0]["context"][ro[0]["answers"]["answer_start"][0]:].startswith("1887")
    assert load_examples("mlqa", "validation", "de", data_dir=original_fixtures)[0]["id"] == "mlqa-de-1"
    assert load_examples("tydiqa", "validation", "sw", data_dir=original_fixtures)[0]["id"] == "swahili-987-0"


def test_xtreme_tagging_files(original_fixtures):
    lt = load_examples("udpos", "validation", "lt", data_dir=original_fixtures)
    upos = get_task("udpos").labels
    assert [[upos[t] for t in e["tags"]] for e in lt] == [["NOUN", "VERB", "PUNCT"], ["NOUN", "VERB"]]
    assert load_examples("udpos", "test", "th", data_dir=original_fixtures)[0]["tokens"] == ["แมว", "นอน"]
    qu = load_examples("panx", "validation", "qu", data_dir=original_fixtures)
    assert qu[1]["tags"] == [1, 2]
    raw = load_examples("panx", "validation", "pl", data_dir=original_fixtures)
    assert raw[0]["tokens"] == ["Jan", "Kowalski", "mieszka", "w", "Krakowie"] and raw[0]["tags"] == [1, 2, 0, 0, 5]


def test_ccg_auto_files_and_tag_set_from_data(original_fixtures):
    task = resolve_task("ccg", original_fixtures)
    assert task.labels[:2] == ("N", ".")  # most frequent in the training sections first
    assert "(S\\NP)\\(S\\NP)" in task.labels  # seen only in the test section
    train = load_examples("ccg", "train", "en", data_dir=original_fixtures)
    assert [e["tokens"] for e in train] == [["Cats", "sleep", "."], ["Dogs", "chase", "cats", "."]]
    assert train[0]["id"] == "wsj_0201.1"
    test = load_examples("ccg", "test", "en", data_dir=original_fixtures)
    assert [task.labels[t] for t in test[0]["tags"]] == ["N", "S[dcl]\\NP", "(S\\NP)\\(S\\NP)"]


def test_ccg_simple_format(original_fixtures, monkeypatch):
    monkeypatch.setenv("XSTILTS_DATA_CCG", str(original_fixtures / "ccg_simple"))
    examples = load_examples("ccg", "validation", "en")
    assert examples[0]["tokens"] == ["Birds", "sing"] and len(examples[0]["tags"]) == 2


def test_bucc_original_corpora_keep_unpaired_sentences(original_fixtures):
    examples = load_examples("bucc2018", "validation", "de", data_dir=original_fixtures)
    queries = {e["id"]: e["gold"] for e in examples if e["side"] == "query"}
    assert queries == {"de-000000001": ["en-000000004"], "de-000000002": ["en-000000001"], "de-000000003": []}
    assert sum(e["side"] == "candidate" for e in examples) == 3


def test_tatoeba_laser_files(original_fixtures):
    examples = load_examples("tatoeba", "test", "pl", data_dir=original_fixtures)
    assert examples[1] == {"id": "pl-1", "text": "Jest zimno.", "side": "query", "gold": ["en-1"]}


def test_lareqa_pool_spans_all_languages(original_fixtures):
    examples = load_examples("lareqa", "test", "de", data_dir=original_fixtures)
    queries = [e for e in examples if e["side"] == "query"]
    candidates = {e["id"]: e for e in examples if e["side"] == "candidate"}
    assert [q["id"] for q in queries] == ["q-built_de", "q-colour_de"]
    assert len(candidates) == 22  # 11 languages x 2 sentences
    assert len(queries[0]["gold"]) == 11 and "zh_1_0" in queries[0]["gold"] and "zh_1_1" in queries[1]["gold"]
    assert candidates["de_1_1"]["text"] == " [de] It is painted white."
    assert candidates["de_1_1"]["context"].startswith("[de] The lighthouse")


def test_mewslix_mentions_and_entities(original_fixtures):
    examples = load_examples("mewslix", "validation", "de", data_dir=original_fixtures)
    query = examples[0]
    assert query["gold"] == ["Q567"]
    assert query["text"] == "Angela Merkel: Heute besuchte { Angela Merkel } die Stadt."
    entities = {e["id"]: e for e in examples if e["side"] == "candidate"}
    assert entities["Q567"]["text"] == "Angela Merkel is a German politician. She was chancellor."


def test_xcopa_siqa_hellaswag_originals(original_fixtures):
    assert load_examples("xcopa", "validation", "sw", data_dir=original_fixtures)[0]["label"] == 0
    assert load_examples("copa", "train", "en", data_dir=original_fixtures)[0]["choices"] == ["It broke.", "It sang."]
    assert load_examples("siqa", "validation", "en", data_dir=original_fixtures)[0]["label"] == 0
    hella = load_examples("hellaswag", "validation", "en", data_dir=original_fixtures)[0]
    assert hella["label"] == 2 and hella["choices"][2] == "she whisks it in a bowl."


@pytest.mark.parametrize("variable", ["XSTILTS_DATA_DIR", "XSTILTS_DATA_PAWSX"])
def test_environment_variables_point_at_local_files(original_fixtures, monkeypatch, variable):
    monkeypatch.setenv(variable, str(original_fixtures if variable == "XSTILTS_DATA_DIR" else original_fixtures / "pawsx"))
    assert len(load_examples("pawsx", "validation", "es")) == 2


def test_xnli_folder_is_not_read_as_mnli_dev(original_fixtures, monkeypatch):
    from xstilts.errors import DataError

    monkeypatch.setenv("XSTILTS_DATA_MNLI", str(original_fixtures / "xnli"))
    with pytest.raises(DataError, match="no validation file"):
        load_examples("mnli", "validation", "en")
