from xstilts.data.loading import load_translated_train


def test_xtreme_xnli_translate_train(original_fixtures):
    examples = load_translated_train("xnli", "de", data_dir=original_fixtures)
    assert [(e["text"], e["label"]) for e in examples] == [("Ein Mann spielt Geige.", 0), ("Der Laden ist zu.", 2)]


def test_xtreme_pawsx_translate_train_five_columns(original_fixtures):
    examples = load_translated_train("pawsx", "fr", data_dir=original_fixtures)
    assert examples[0]["text"] == "Le chat dort sur le canapé." and examples[0]["label"] == 1


def test_squad_translate_train_drops_unlocatable_answers(original_fixtures):
    examples = load_translated_train("xquad", "de", data_dir=original_fixtures)
    assert [e["id"] for e in examples] == ["tt-1"]
    assert examples[0]["answers"] == {"text": ["1887"], "answer_start": [32]}


def test_user_supplied_translations(original_fixtures):
    examples = load_translated_train("sst2", "fr", data_dir=original_fixtures)
    assert examples == [{"id": "fr-0", "text": "un film chaleureux", "text_pair": None, "label": 1, "language": "fr"}]
