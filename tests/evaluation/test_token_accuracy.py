import pytest

from xstilts.errors import DataError
from xstilts.evaluation.metrics import get_metric


def test_token_accuracy_counts_words_not_sentences():
    metric = get_metric("token_accuracy")
    assert metric([["N", "V"], ["N"]], [["N", "N"], ["N"]])["accuracy"] == pytest.approx(200 / 3)


def test_token_accuracy_refuses_misaligned_sentences():
    with pytest.raises(DataError, match="sentence 0 has 1 predicted tags for 2 gold tags"):
        get_metric("token_accuracy")([["N"]], [["N", "V"]])
