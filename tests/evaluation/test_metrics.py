"""The registered metrics: hand-computed cases of the official behaviour, and the options API."""

from __future__ import annotations

import pytest

from xstilts.errors import ConfigError, DataError
from xstilts.evaluation.metrics import METRICS, get_metric


def test_every_xtreme_metric_is_registered_with_its_headline() -> None:
    expected = {
        "accuracy": "accuracy",
        "f1_seqeval": "f1",
        "f1_pos": "f1",
        "squad": "f1",
        "mlqa": "f1",
        "bucc_f1": "f1",
        "tatoeba_accuracy": "accuracy",
        "retrieval_accuracy": "accuracy",
        "map_at_20": "map@20",
    }
    for name, primary in expected.items():
        assert get_metric(name).primary == primary
    assert set(expected) <= set(METRICS.names())


# --- accuracy -------------------------------------------------------------------------------


def test_accuracy() -> None:
    assert get_metric("accuracy")([1, 0, 2, 2], [1, 1, 2, 0]) == {"accuracy": 50.0}


def test_accuracy_refuses_misaligned_or_empty_input() -> None:
    with pytest.raises(DataError, match="3 predictions for 2 gold"):
        get_metric("accuracy")([1, 0, 1], [1, 0])
    with pytest.raises(DataError, match="no examples"):
        get_metric("accuracy")([], [])


# --- tagging --------------------------------------------------------------------------------


def test_seqeval_counts_an_i_tag_without_b_as_the_start_of_a_chunk() -> None:
    f1 = get_metric("f1_seqeval")
    assert f1([["I-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]])["f1"] == 100.0
    assert f1([["O", "I-LOC", "B-LOC", "I-LOC"]], [["O", "B-LOC", "B-LOC", "I-LOC"]])["f1"] == 100.0


def test_seqeval_splits_a_chunk_whose_type_changes() -> None:
    scores = get_metric("f1_seqeval")([["B-PER", "I-ORG", "O"]], [["B-PER", "I-PER", "O"]])
    assert scores == {"f1": 0.0, "precision": 0.0, "recall": 0.0}


def test_seqeval_precision_and_recall() -> None:
    # gold chunks: PER(0-1), LOC(3); predicted: PER(0-1), ORG(3), LOC(4) -> 1 of 3 right, 1 of 2 found
    scores = get_metric("f1_seqeval")([["B-PER", "I-PER", "O", "B-ORG", "B-LOC"]], [["B-PER", "I-PER", "O", "B-LOC", "O"]])
    assert scores["precision"] == pytest.approx(100 / 3)
    assert scores["recall"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(40.0)


def test_pos_is_scored_as_chunks_of_bare_upos_tags_not_token_accuracy() -> None:
    f1_pos = get_metric("f1_pos")
    # Token accuracy would be 2/3. seqeval reads NOUN as prefix 'N' + type 'OUN', so the gold
    # NOUN NOUN is one chunk and the predicted NOUN alone is another: nothing matches.
    assert f1_pos([["NOUN", "VERB", "VERB"]], [["NOUN", "NOUN", "VERB"]])["f1"] == 0.0
    # 'SYM' starts with S (a single-token chunk): two chunks, both right.
    assert f1_pos([["SYM", "SYM"]], [["SYM", "SYM"]])["f1"] == 100.0
    # ADJ and NOUN differ in type: 3 chunks on each side, 2 right.
    assert f1_pos([["ADJ", "NOUN"], ["DET"]], [["ADJ", "NOUN"], ["NOUN"]])["f1"] == pytest.approx(200 / 3)


def test_tagging_refuses_sentences_of_different_length() -> None:
    with pytest.raises(DataError, match="sentence 1 has 1 predicted tags for 2 gold tags"):
        get_metric("f1_pos")([["NOUN"], ["NOUN"]], [["NOUN"], ["NOUN", "VERB"]])
    with pytest.raises(DataError, match="not a string"):
        get_metric("f1_seqeval")([[0, 1]], [["O", "B-PER"]])


# --- QA -------------------------------------------------------------------------------------


def test_squad_takes_the_best_gold_answer() -> None:
    scores = get_metric("squad")({"q": "the cat"}, {"q": ["a dog", "Cat"]})
    assert scores == {"exact_match": 100.0, "f1": 100.0}


def test_squad_partial_overlap() -> None:
    scores = get_metric("squad")({"q": "cat sat"}, {"q": ["the cat"]})
    assert scores["exact_match"] == 0.0
    assert scores["f1"] == pytest.approx(200 / 3)


def test_squad_missing_prediction_scores_zero_and_counts() -> None:
    scores = get_metric("squad")({"a": "Paris", "extra": "ignored"}, {"a": ["Paris"], "b": ["Rome"]})
    assert scores == {"exact_match": 50.0, "f1": 50.0}


def test_empty_prediction_matches_a_gold_answer_that_normalises_to_nothing() -> None:
    # Official quirk: "" == normalize("the") gives exact match, but F1 is 0 (no shared token).
    assert get_metric("squad")({"q": ""}, {"q": ["The"]}) == {"exact_match": 100.0, "f1": 0.0}
    assert get_metric("squad")({"q": ""}, {"q": ["Rome"]}) == {"exact_match": 0.0, "f1": 0.0}


def test_qa_refuses_bad_input() -> None:
    with pytest.raises(DataError, match="no gold answers"):
        get_metric("squad")({"q": "x"}, {"q": []})
    with pytest.raises(DataError, match="should be a string"):
        get_metric("squad")({"q": ["x"]}, {"q": ["x"]})
    with pytest.raises(DataError, match="no examples"):
        get_metric("squad")({}, {})


def test_mlqa_needs_its_language() -> None:
    mlqa = get_metric("mlqa")
    with pytest.raises(ConfigError, match="needs the option 'language'"):
        mlqa({"q": "x"}, {"q": ["x"]})
    # Chinese is compared per character: 2 of 4 characters found.
    zh = mlqa({"q": "长江"}, {"q": ["长江，黄河"]}, language="zh")
    assert zh["f1"] == pytest.approx(200 / 3)
    # The SQuAD normalisation sees one token on each side and no overlap.
    assert get_metric("squad")({"q": "长江"}, {"q": ["长江，黄河"]})["f1"] == 0.0


def test_mlqa_uses_the_language_articles() -> None:
    mlqa = get_metric("mlqa")
    assert mlqa({"q": "el gato"}, {"q": ["gato"]}, language="es")["exact_match"] == 100.0
    assert mlqa({"q": "el gato"}, {"q": ["gato"]}, language="de")["exact_match"] == 0.0


def test_options_are_ignored_by_metrics_that_do_not_use_them_and_can_be_bound() -> None:
    assert get_metric("accuracy")([1], [1], language="de") == {"accuracy": 100.0}
    mlqa_de = get_metric("mlqa").bind(language="de")
    assert mlqa_de.required == ()
    assert mlqa_de({"q": "der Hund"}, {"q": ["Hund"]})["exact_match"] == 100.0
    with pytest.raises(ConfigError, match="no option 'k'"):
        get_metric("mlqa").bind(k=3)


# --- retrieval ------------------------------------------------------------------------------


def test_bucc_f1_with_pairs_outside_gold_and_repeats() -> None:
    gold = {"a": ["x"], "b": ["y"], "c": ["z"]}
    predicted = [("a", "x"), ("b", "q"), ("a", "x"), ("d", "w")]  # the repeated pair counts once
    scores = get_metric("bucc_f1")(predicted, gold)
    assert scores["precision"] == pytest.approx(100 / 3)
    assert scores["recall"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 / 3)


def test_bucc_f1_is_zero_without_correct_pairs() -> None:
    assert get_metric("bucc_f1")([], [("a", "x")]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    assert get_metric("bucc_f1")({"a": ["y"]}, {"a": ["x"]})["f1"] == 0.0


def test_tatoeba_accuracy_uses_the_top_candidate() -> None:
    predictions = {"0": ["3", "0"], "1": ["1"], "2": []}
    gold = {"0": ["0"], "1": ["1"], "2": ["2"]}
    assert get_metric("tatoeba_accuracy")(predictions, gold)["accuracy"] == pytest.approx(100 / 3)
    with pytest.raises(DataError, match="no prediction for query '2'"):
        get_metric("tatoeba_accuracy")({"0": ["0"], "1": ["1"]}, gold)


def test_map_at_20_counts_ranks_up_to_20_only() -> None:
    ranked = [f"c{i}" for i in range(30)]
    map20 = get_metric("map_at_20")
    assert map20({"q": ranked}, {"q": ["c19"]}) == {"map@20": pytest.approx(100 / 20)}
    assert map20({"q": ranked}, {"q": ["c20"]}) == {"map@20": 0.0}


def test_map_at_20_counts_a_repeated_candidate_once() -> None:
    assert get_metric("map_at_20")({"q": ["x", "x", "g"]}, {"q": ["g"]})["map@20"] == pytest.approx(100 / 3)


def test_map_at_20_with_several_gold_candidates() -> None:
    # hits at ranks 1 and 3: (1/1 + 2/3) / min(2, 20)
    assert get_metric("map_at_20")({"q": ["a", "x", "b"]}, {"q": ["a", "b"]})["map@20"] == pytest.approx(250 / 3)


def test_map_at_20_scores_missing_queries_zero() -> None:
    scores = get_metric("map_at_20")({"q1": ["g"]}, {"q1": ["g"], "q2": ["h"]})
    assert scores["map@20"] == 50.0
    with pytest.raises(DataError, match="list of ids"):
        get_metric("map_at_20")({"q1": "g"}, {"q1": ["g"]})
