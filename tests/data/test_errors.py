"""Bad data and bad requests fail early with one-line errors naming the file or dataset and field."""

import json

import pytest

from xstilts.data.loading import load_examples, load_translated_train
from xstilts.errors import DataError, UnknownNameError


def write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_missing_column_names_file_and_column(tmp_path):
    write_jsonl(tmp_path / "xnli" / "validation-de.jsonl", [{"sentence1": "a", "language": "de", "gold_label": "neutral"}])
    with pytest.raises(DataError) as err:
        load_examples("xnli", "validation", "de", data_dir=tmp_path)
    message = one_line(err)
    assert "validation-de.jsonl" in message and "'sentence2'" in message and "row 0" in message


def test_bad_label_is_named(tmp_path):
    write_jsonl(tmp_path / "pawsx" / "validation-fr.jsonl", [{"sentence1": "a", "sentence2": "b", "label": "7"}])
    with pytest.raises(DataError, match=r"row 0 column 'label'.*out of range"):
        load_examples("pawsx", "validation", "fr", data_dir=tmp_path)


def test_unlabelled_split_is_reported(tmp_path):
    write_jsonl(tmp_path / "sst2" / "test.jsonl", [{"sentence": "fine", "label": -1, "idx": 0}])
    with pytest.raises(DataError, match=r"sst2/test.jsonl \[sst2 test/en\]: row 0 column 'label'.*unlabelled split"):
        load_examples("sst2", "test", "en", data_dir=tmp_path)


def test_empty_split(tmp_path):
    (tmp_path / "xnli").mkdir()
    (tmp_path / "xnli" / "validation-de.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(DataError, match=r"validation-de.jsonl \[xnli validation/de\]: split is empty"):
        load_examples("xnli", "validation", "de", data_dir=tmp_path)


def test_unknown_language_names_valid_ones():
    with pytest.raises(UnknownNameError) as err:
        load_examples("xnli", "validation", "xx")
    assert one_line(err).startswith("xnli: unknown language 'xx'")


def test_unknown_split_names_valid_ones():
    with pytest.raises(UnknownNameError, match="xnli: unknown split 'dev'; valid: test, validation"):
        load_examples("xnli", "dev", "de")


def test_split_missing_for_one_language():
    with pytest.raises(DataError, match="udpos: language 'th' has no 'validation' split; it has: test"):
        load_examples("udpos", "validation", "th")


def test_unreachable_hub_says_which_dataset_and_how_to_use_local_files():
    with pytest.raises(DataError) as err:
        load_examples("panx", "validation", "de")
    message = one_line(err)
    assert "google/xtreme config PAN-X.de split validation" in message
    assert "XSTILTS_DATA_PANX" in message and "data_dir" in message


def test_local_only_task_says_how_to_get_the_data():
    with pytest.raises(DataError, match=r"mewslix: no local files.*download_mewslix"):
        load_examples("mewslix", "validation", "de")


def test_missing_local_file_lists_expected_names(tmp_path):
    (tmp_path / "xquad").mkdir()
    with pytest.raises(DataError, match=r"no validation file for language 'ro'.*xquad.<lang>.json"):
        load_examples("xquad", "validation", "ro", data_dir=tmp_path)


def test_stripped_labels_are_refused(original_fixtures):
    with pytest.raises(DataError, match="column 'gold_label'"):
        load_examples("xnli", "test", "de", data_dir=original_fixtures)
    with pytest.raises(DataError, match="empty answer text"):
        load_examples("tydiqa", "validation", "te", data_dir=original_fixtures)
    with pytest.raises(DataError, match="tags for 2 tokens"):
        load_examples("panx", "test", "qu", data_dir=original_fixtures)
    with pytest.raises(DataError, match="no gold entity"):
        load_examples("mewslix", "test", "de", data_dir=original_fixtures)


def test_answer_not_in_context(tmp_path):
    write_jsonl(tmp_path / "squad" / "validation.jsonl", [
        {"id": "1", "title": "", "context": "abc", "question": "q", "answers": {"text": ["zzz"], "answer_start": [0]}},
    ])
    with pytest.raises(DataError, match="'zzz' does not occur in the context"):
        load_examples("squad", "validation", "en", data_dir=tmp_path)


def test_answer_offset_is_moved_to_nearest_occurrence(tmp_path):
    write_jsonl(tmp_path / "squad" / "validation.jsonl", [
        {"id": "1", "title": "", "context": "x 1887 y 1887", "question": "q", "answers": {"text": ["1887"], "answer_start": [8]}},
    ])
    assert load_examples("squad", "validation", "en", data_dir=tmp_path)[0]["answers"]["answer_start"] == [9]


def test_wrong_number_of_choices(tmp_path):
    write_jsonl(tmp_path / "commonsenseqa" / "validation.jsonl", [{
        "id": "x", "question": "q", "question_concept": "c",
        "choices": {"label": ["A", "B"], "text": ["a", "b"]}, "answerKey": "A",
    }])
    with pytest.raises(DataError, match="has 2 choices, expected 5"):
        load_examples("commonsenseqa", "validation", "en", data_dir=tmp_path)


def test_ccg_without_local_data_explains_the_licence():
    with pytest.raises(DataError, match=r"ccg: its label set comes from the data.*LDC"):
        load_examples("ccg", "train", "en")


def test_translated_user_file_with_wrong_language(original_fixtures):
    with pytest.raises(DataError, match=r"de.jsonl: example 0 field 'language' is 'fr', expected 'de'"):
        load_translated_train("sst2", "de", data_dir=original_fixtures)


def test_missing_translations_name_the_expected_files(original_fixtures):
    with pytest.raises(DataError, match=r"translate-train/ja.jsonl or XTREME's en-<lang>-translated.tsv"):
        load_translated_train("xnli", "ja", data_dir=original_fixtures)
