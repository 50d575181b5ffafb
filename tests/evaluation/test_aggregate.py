"""Language averages, task headlines, group and overall scores, transfer gaps."""

from __future__ import annotations

import pytest

from xstilts.errors import DataError, UnknownNameError
from xstilts.evaluation.aggregate import benchmark_score, headline, language_means, score_task, task_means
from xstilts.tasks.suites import canonical_task, get_suite


def constant_scores(benchmark: str, per_task: dict[str, dict[str, float]]) -> dict:
    """Every language of each task gets the same metric values."""
    languages = get_suite(benchmark).languages
    return {task: {lang: dict(values) for lang in languages[task]} for task, values in per_task.items()}


XTREME_VALUES = {
    "pawsx": {"accuracy": 80.0},
    "xnli": {"accuracy": 70.0},
    "udpos": {"f1": 75.0, "precision": 1.0, "recall": 2.0},
    "panx": {"f1": 60.0, "precision": 1.0, "recall": 2.0},
    "xquad": {"exact_match": 60.0, "f1": 80.0},
    "mlqa": {"exact_match": 50.0, "f1": 70.0},
    "tydiqa": {"exact_match": 40.0, "f1": 50.0},
    "bucc2018": {"f1": 66.0, "precision": 1.0, "recall": 2.0},
    "tatoeba": {"accuracy": 54.0},
}


def test_language_means_average_every_metric() -> None:
    means = language_means({"en": {"f1": 80.0, "exact_match": 70.0}, "de": {"f1": 60.0, "exact_match": 40.0}})
    assert means == {"f1": 70.0, "exact_match": 55.0}
    assert task_means({"t": {"en": {"accuracy": 1.0}, "de": {"accuracy": 3.0}}}) == {"t": {"accuracy": 2.0}}


def test_headline_rules_of_evaluate_py() -> None:
    assert headline("xquad", {"exact_match": 60.0, "f1": 80.0}) == 70.0
    assert headline("TyDiQA-GoldP", {"exact_match": 60.0, "f1": 80.0}) == 70.0
    assert headline("xquad", {"exact_match": 60.0, "f1": 80.0}, qa_headline="f1") == 80.0
    assert headline("bucc2018", {"f1": 50.0, "precision": 1.0}) == 50.0
    assert headline("tatoeba", {"accuracy": 40.0}) == 40.0
    assert headline("mewslix", {"map@20": 30.0}) == 30.0
    assert headline("my_task", {"accuracy": 10.0, "f1": 20.0}) == 20.0  # f1 wins, as in the script
    with pytest.raises(DataError, match="no headline metric"):
        headline("my_task", {"loss": 1.0})
    with pytest.raises(DataError, match="'exact_match' is missing"):
        headline("mlqa", {"f1": 1.0})


def test_xtreme_score_by_hand() -> None:
    result = benchmark_score(constant_scores("xtreme", XTREME_VALUES), "xtreme")
    assert result.groups == {
        "classification": pytest.approx(75.0),
        "tagging": pytest.approx(67.5),
        "qa": pytest.approx((70.0 + 60.0 + 45.0) / 3),
        "retrieval": pytest.approx(60.0),
    }
    assert result.overall == pytest.approx((80 + 70 + 75 + 60 + 70 + 60 + 45 + 66 + 54) / 9)
    assert result.missing_tasks == ()
    official = result.official()
    assert list(official)[:5] == ["all_task", "classification", "tagging", "qa", "retrieval"]
    assert official["xquad"]["avg_metric"] == 70.0
    assert official["xquad"]["avg_f1"] == 80.0
    assert official["xquad"]["f1"]["zh"] == 80.0


def test_groups_and_overall_need_all_their_tasks() -> None:
    values = {k: v for k, v in XTREME_VALUES.items() if k != "tatoeba"}
    result = benchmark_score(constant_scores("xtreme", values), "xtreme")
    assert "retrieval" not in result.groups and "qa" in result.groups
    assert result.overall is None
    assert result.missing_tasks == ("tatoeba",)
    assert "all_task" not in result.official()


def test_xtreme_r_groups_as_the_official_script() -> None:
    values = {
        "xnli": {"accuracy": 70.0},
        "xcopa": {"accuracy": 60.0},
        "udpos": {"f1": 75.0},
        "panx": {"f1": 65.0},
        "xquad": {"exact_match": 60.0, "f1": 80.0},
        "mlqa": {"exact_match": 50.0, "f1": 70.0},
        "tydiqa": {"exact_match": 40.0, "f1": 50.0},
        "tatoeba": {"accuracy": 50.0},
        "mewslix": {"map@20": 40.0},
        "lareqa": {"map@20": 30.0},
    }
    result = benchmark_score(constant_scores("xtreme-r", values), "xtreme-r")
    assert result.groups["classification"] == pytest.approx(65.0)
    assert result.groups["multi_choice"] == pytest.approx(60.0)  # XCOPA counts in two groups
    assert result.groups["retrieval"] == pytest.approx(45.0)  # LAReQA is in no group ...
    headlines = [70, 60, 75, 65, 70, 60, 45, 50, 40, 30]
    assert result.overall == pytest.approx(sum(headlines) / 10)  # ... but counts overall


def test_english_zero_shot_and_gap() -> None:
    per_language = {"en": {"exact_match": 80.0, "f1": 90.0}, "de": {"exact_match": 60.0, "f1": 70.0}, "zh": {"exact_match": 40.0, "f1": 50.0}}
    task = score_task("mlqa", per_language)
    assert task.english == 85.0
    assert task.zero_shot == 55.0
    assert task.gap == 30.0
    no_english = score_task("bucc2018", {"de": {"f1": 1.0}, "fr": {"f1": 3.0}})
    assert no_english.english is None and no_english.gap is None and no_english.zero_shot == 2.0


def test_task_names_are_accepted_in_common_spellings() -> None:
    scores = constant_scores("xtreme", XTREME_VALUES)
    spelled = {"pawsx": "PAWS-X", "tydiqa": "TyDiQA-GoldP", "bucc2018": "BUCC", "panx": "wikiann"}
    renamed = {spelled.get(k, k): v for k, v in scores.items()}
    assert benchmark_score(renamed, "xtreme").overall == benchmark_score(scores, "xtreme").overall
    assert canonical_task("WikiANN") == "panx"
    assert canonical_task("Mewsli-X") == "mewslix"
    with pytest.raises(UnknownNameError, match="unknown XTREME task 'xnly'"):
        canonical_task("xnly")


def test_missing_languages_fail_unless_allowed() -> None:
    scores = constant_scores("xtreme", XTREME_VALUES)
    del scores["xnli"]["sw"]
    with pytest.raises(DataError, match="xnli: no scores for language"):
        benchmark_score(scores, "xtreme")
    lenient = benchmark_score(scores, "xtreme", require_all_languages=False)
    assert lenient.tasks["xnli"].missing_languages == ("sw",)
    assert len(lenient.tasks["xnli"].languages) == 14


def test_tasks_and_languages_outside_the_benchmark_are_ignored() -> None:
    scores = constant_scores("xtreme", XTREME_VALUES)
    scores["xnli"]["xx"] = {"accuracy": 0.0}
    scores["xcopa"] = {"et": {"accuracy": 0.0}}
    result = benchmark_score(scores, "xtreme")
    assert result.tasks["xnli"].averages["accuracy"] == 70.0
    assert set(result.ignored) == {"xnli/xx", "xcopa"}


def test_aggregates_over_fewer_languages_are_marked_partial() -> None:
    from xstilts.evaluation.aggregate import coverage_line

    scores = constant_scores("xtreme", XTREME_VALUES)
    complete = benchmark_score(scores, "xtreme")
    assert complete.partial_tasks == () and complete.partial_groups == () and not complete.overall_partial
    del scores["xnli"]["sw"]
    with pytest.raises(DataError, match="sw"):
        benchmark_score(scores, "xtreme")
    partial = benchmark_score(scores, "xtreme", require_all_languages=False)
    xnli = partial.tasks["xnli"]
    assert xnli.partial and xnli.coverage == "14/15" and xnli.missing_languages == ("sw",)
    assert not partial.tasks["pawsx"].partial and partial.tasks["pawsx"].coverage == "7/7"
    assert partial.partial_tasks == ("xnli",)
    assert partial.partial_groups == ("classification",)  # the groups without xnli are complete
    assert partial.overall_partial
    as_dict = partial.to_dict()
    assert as_dict["partial_tasks"] == ["xnli"] and as_dict["overall_partial"] is True
    assert as_dict["tasks"]["xnli"]["coverage"] == "14/15"
    present = [lang for lang in get_suite("xtreme").languages["xnli"] if lang != "sw"]
    line = coverage_line("xnli", present, {"sw": "data file not found: /data/xnli/sw.tsv"})
    assert line == "xnli: 14/15 languages; missing: sw (data file not found: /data/xnli/sw.tsv)"
    assert coverage_line("xnli", ["en"], {}) == "xnli: 1/1 languages"
