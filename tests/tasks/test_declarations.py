from xstilts.data.loading import all_languages, english_training
from xstilts.languages import LANGUAGES
from xstilts.tasks import Role, TaskKind, all_tasks, get_task
from xstilts.tasks.suites import xtreme
from xstilts.tasks.suites.phang2020 import INTERMEDIATE_TASKS as PAPER_INTERMEDIATE_TASKS

XTREME, XTREME_R = xtreme.XTREME.name, xtreme.XTREME_R.name
XTREME_TASKS, XTREME_R_TASKS = xtreme.XTREME.tasks, xtreme.XTREME_R.tasks

METRICS = {"accuracy", "token_accuracy", "f1_seqeval", "f1_pos", "squad", "mlqa", "bucc_f1", "tatoeba_accuracy", "map_at_20"}


def test_every_benchmark_and_paper_task_is_declared():
    names = {t.name for t in all_tasks()}
    assert set(PAPER_INTERMEDIATE_TASKS) | set(XTREME_TASKS) | set(XTREME_R_TASKS) | {"siqa", "copa"} <= names


def test_paper_intermediate_tasks_are_english_intermediate_tasks():
    assert len(PAPER_INTERMEDIATE_TASKS) == 9
    for name in PAPER_INTERMEDIATE_TASKS:
        task = get_task(name)
        assert task.role is Role.INTERMEDIATE and task.languages == ("en",)


def test_benchmark_membership_matches_xtreme_evaluate_py():
    assert {t.name for t in all_tasks() if XTREME in t.benchmarks and t.role is Role.TARGET} == set(XTREME_TASKS)
    assert {t.name for t in all_tasks() if XTREME_R in t.benchmarks and t.role is Role.TARGET} == set(XTREME_R_TASKS)


def test_language_counts_per_benchmark():
    counts = {
        XTREME: {"xnli": 15, "pawsx": 7, "udpos": 33, "panx": 40, "xquad": 11, "mlqa": 7, "tydiqa": 9,
                 "bucc2018": 4, "tatoeba": 36},
        XTREME_R: {"xnli": 15, "xcopa": 11, "udpos": 38, "panx": 48, "xquad": 12, "mlqa": 7, "tydiqa": 9,
                   "tatoeba": 41, "mewslix": 11, "lareqa": 11},
    }
    for benchmark, expected in counts.items():
        for name, count in expected.items():
            assert len(get_task(name).languages_for(benchmark)) == count, (benchmark, name)
    all_codes = {
        code for t in all_tasks() if t.role is not Role.INTERMEDIATE and "synthetic" not in t.benchmarks
        for code in all_languages(t)
    }
    assert len(all_codes) == 50  # XTREME-R's 50 languages, XTREME's 40 among them


def test_every_language_has_metadata_and_metric_is_known():
    for task in all_tasks():
        assert task.metric in METRICS, task.name
        for code in all_languages(task):
            assert code in LANGUAGES, (task.name, code)


def test_kind_specific_fields():
    for task in all_tasks():
        if task.kind is TaskKind.CLASSIFICATION:
            assert task.num_labels >= 2, task.name
        if task.kind is TaskKind.MULTIPLE_CHOICE:
            assert task.num_choices, task.name
        if task.kind is TaskKind.TAGGING and task.name != "ccg":  # CCG's tag set comes from the data
            assert task.num_labels > 2, task.name


def test_english_training_stages():
    assert [(s.task.name, s.train_split, s.dev_split) for s in english_training("xnli")] == [("mnli", "train", "validation")]
    assert [s.task.name for s in english_training("xcopa")] == ["siqa", "copa"]
    assert [s.task.name for s in english_training("xquad")] == ["squad"]
    assert [s.task.name for s in english_training("panx")] == ["panx"]
    assert english_training("tatoeba") == []
    for task in all_tasks():
        for stage in english_training(task):
            assert stage.train_split in stage.task.source.split_names("en"), task.name


def test_eval_splits_exist_for_every_language():
    for task in all_tasks():
        for language in all_languages(task):
            assert task.eval_split_for(language) in task.source.split_names(language), (task.name, language)
    assert get_task("udpos").eval_split_for("th") == "test"
    assert get_task("udpos").eval_split_for("de") == "validation"


def test_xnli_shares_mnli_label_order():
    assert get_task("xnli").labels == get_task("mnli").labels
