import pytest

from xstilts.errors import UnknownNameError
from xstilts.languages import LANGUAGES, Language, get_language, register_language, relation_to_english


def test_metadata_fields():
    assert get_language("sw").family == "Niger-Congo"
    assert get_language("ja").script == "Jpan"
    assert get_language("en").joshi_class == 5
    assert all(lang.joshi_class in (None, 0, 1, 2, 3, 4, 5) for lang in LANGUAGES.values())


def test_relation_to_english():
    assert relation_to_english("de") == {"same_family": True, "same_genus": True, "same_script": True}
    assert relation_to_english("zh")["same_family"] is False


def test_unknown_language_names_close_ones():
    with pytest.raises(UnknownNameError, match="unknown language 'dee'"):
        get_language("dee")


def test_register_language_rejects_conflicting_metadata():
    synthetic = Language("xx-test", "Test", "qtt", "Synthetic", "Synthetic", "Latn", None, synthetic=True)
    assert register_language(synthetic) is synthetic
    assert register_language(synthetic) is synthetic
    with pytest.raises(ValueError):
        register_language(Language("xx-test", "Other", "qtt", "Synthetic", "Synthetic", "Latn"))
    del LANGUAGES["xx-test"]
