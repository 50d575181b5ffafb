"""XTREME and XTREME-R as google-research/xtreme defines them: every fact about their tasks.

Task names are the official folder names of a submission (`pawsx`, `panx`, `bucc2018`, ...).
Languages are those of `evaluate.py` (XTREME_TASK2LANGS and XTREME_R_TASK2LANGS) and
`scripts/download_data.sh`, in the official order; task declarations list them sorted.

Two facts of the official script worth knowing:
* Groups: XTREME-R puts XCOPA in both "classification" and "multi_choice", and LAReQA in no
  group at all (its retrieval group is Tatoeba and Mewsli-X); the overall score is the mean over
  all tasks, so it is only defined once every task, LAReQA included, has a score.
* evaluate.py lists no languages and no file reader for LAReQA, so it cannot score it. Here
  LAReQA is scored like Mewsli-X: one `lareqa/test-<lang>.json` per XQuAD-R question language
  (its eleven languages), mapping question ids to ranked candidate ids, scored by mAP@20 against
  all correct candidates.

Submission files (as evaluate.py reads them): `<folder>/<task>/test-<lang>.<suffix>`, the same
for predictions and gold labels; `xstilts.evaluation.submission` describes each layout.

Dataset sizes: train/dev are the English training task's (XNLI: MNLI, ...), evaluation sets
per language typical values unless noted.
"""

from __future__ import annotations

from xstilts.tasks.base import Hyperparameters
from xstilts.tasks.suites.base import BenchmarkTask, DatasetFacts, Submission, Suite


def _langs(spec: str) -> tuple[str, ...]:
    return tuple(spec.split(","))


# Labels and tags a submission file holds (XNLI: the label names; PAWS-X: 0 / 1).
XNLI_LABELS = ("contradiction", "entailment", "neutral")
PAWSX_LABELS = ("0", "1")
PANX_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")  # google/xtreme PAN-X ClassLabel order
UPOS_TAGS = (
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT", "SCONJ",
    "SYM", "VERB", "X",
)  # google/xtreme udpos ClassLabel order

TASKS: dict[str, BenchmarkTask] = {
    task.name: task
    for task in (
        BenchmarkTask(
            "pawsx", "accuracy", Submission("tsv", PAWSX_LABELS, label_values=PAWSX_LABELS),
            DatasetFacts(49_401, 2_000, 2_000, 60, approximate=True),
        ),
        BenchmarkTask(
            "xnli", "accuracy", Submission("tsv", XNLI_LABELS),
            DatasetFacts(392_702, 9_815, 2_490, 45),  # XNLI validation: 2,490 per language
        ),
        BenchmarkTask(
            "xcopa", "accuracy", Submission("jsonl", choices=2),
            DatasetFacts(400, 100, 100, 40, approximate=True),  # after SIQa; 100 validation per language
        ),
        BenchmarkTask(
            "panx", "f1_seqeval", Submission("tsv", PANX_TAGS),
            DatasetFacts(20_000, 10_000, 5_000, 15, approximate=True),
            aliases=("wikiann", "wikiannner", "panxner", "ner"),
        ),
        BenchmarkTask(
            "udpos", "f1_pos", Submission("tsv", UPOS_TAGS),
            DatasetFacts(21_253, 3_974, 1_500, 30, approximate=True), aliases=("pos",),
        ),
        BenchmarkTask(
            "bucc2018", "bucc_f1", Submission("tsv"),
            DatasetFacts(0, 0, 800_000, 30, approximate=True),  # both sides of the test corpora
            aliases=("bucc", "bucc18"),
        ),
        BenchmarkTask(
            "tatoeba", "tatoeba_accuracy", Submission("tsv"),
            DatasetFacts(0, 0, 2_000, 15, approximate=True),  # 1,000 pairs per language
        ),
        BenchmarkTask(
            "mewslix", "map_at_20", Submission("json"),
            DatasetFacts(0, 0, 2_000, 64, approximate=True, eval_shared=1_000_000),  # ~1M candidate entities dominate
            aliases=("mewsli",),
        ),
        BenchmarkTask(
            "lareqa", "map_at_20", Submission("json"),
            # XQuAD-R questions; the sentences of all languages
            DatasetFacts(0, 0, 1_190, 30, approximate=True, eval_shared=13_400),
            aliases=("xquadr",),
        ),
        BenchmarkTask(
            "xquad", "squad", Submission("json"),
            DatasetFacts(87_599, 10_570, 1_190, 250, approximate=True),  # 1,190 per language (exact)
            mean_em_f1_headline=True,
        ),
        BenchmarkTask(
            "mlqa", "mlqa", Submission("json"), DatasetFacts(87_599, 10_570, 600, 250, approximate=True),
            mean_em_f1_headline=True,
        ),
        BenchmarkTask(
            "tydiqa", "squad", Submission("json"), DatasetFacts(3_696, 440, 560, 450, approximate=True),
            aliases=("tydiqagoldp", "tydiqagold"), mean_em_f1_headline=True,
        ),
    )
}

_XNLI = _langs("ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh")
_PANX = _langs(
    "ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,my,zh,"
    "kk,tr,et,fi,hu"
)
_UDPOS = _langs("af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh")
_TATOEBA = _langs(
    "ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,et,fi,hu"
)
_XQUAD = _langs("en,es,de,el,ru,tr,ar,vi,th,zh,hi")
_MLQA = _langs("en,es,de,ar,hi,vi,zh")
_TYDIQA = _langs("en,ar,bn,fi,id,ko,ru,sw,te")


def _suite(
    name: str,
    languages: dict[str, tuple[str, ...]],
    groups: dict[str, tuple[str, ...]],
    listing_order: tuple[str, ...],
    sizes: dict[str, DatasetFacts] | None = None,
) -> Suite:
    official = {task: TASKS[task] for task in languages}
    return Suite(name, languages, groups, official, sizes or {}, listing_order)


XTREME = _suite(
    "xtreme",
    {
        "pawsx": _langs("de,en,es,fr,ja,ko,zh"),
        "xnli": _XNLI,
        "panx": _PANX,
        "udpos": _UDPOS,
        "bucc2018": _langs("de,fr,ru,zh"),
        "tatoeba": _TATOEBA,
        "xquad": _XQUAD,
        "mlqa": _MLQA,
        "tydiqa": _TYDIQA,
    },
    groups={
        "classification": ("pawsx", "xnli"),
        "tagging": ("udpos", "panx"),
        "qa": ("xquad", "mlqa", "tydiqa"),
        "retrieval": ("bucc2018", "tatoeba"),
    },
    listing_order=("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"),
)

XTREME_R = _suite(
    "xtreme-r",
    {
        "xnli": _XNLI,
        "panx": _PANX + _langs("qu,pl,uk,az,lt,pa,gu,ro"),
        "udpos": _UDPOS + _langs("lt,pl,uk,wo,ro"),
        "tatoeba": _TATOEBA + _langs("az,lt,pl,uk,ro"),
        "xcopa": _langs("et,ht,id,it,qu,sw,ta,th,tr,vi,zh"),
        "lareqa": _langs("ar,de,el,en,es,hi,ru,th,tr,vi,zh"),  # XQuAD-R; evaluate.py lists none
        "mewslix": _langs("ar,de,en,es,fa,ja,pl,ro,ta,tr,uk"),
        "xquad": _XQUAD + ("ro",),
        "mlqa": _MLQA,
        "tydiqa": _TYDIQA,
    },
    groups={
        "classification": ("xnli", "xcopa"),
        "tagging": ("udpos", "panx"),
        "qa": ("xquad", "mlqa", "tydiqa"),
        "retrieval": ("tatoeba", "mewslix"),
        "multi_choice": ("xcopa",),
    },
    # English tasks trained only as a stage of XCOPA's training.
    sizes={
        "siqa": DatasetFacts(33_410, 1_954, 1_954, 105, approximate=True),  # 3 choices
        "copa": DatasetFacts(400, 100, 100, 40, approximate=True),  # 2 choices
    },
    listing_order=("xnli", "xcopa", "udpos", "panx", "xquad", "mlqa", "tydiqa", "tatoeba", "mewslix", "lareqa"),
)

SUITES = (XTREME, XTREME_R)


def suites_of(task: str) -> tuple[str, ...]:
    """The names of the suites that score a task (a task declaration's `benchmarks`)."""
    return tuple(suite.name for suite in SUITES if task in suite.languages)


def languages_by_suite(task: str) -> dict[str, tuple[str, ...]]:
    """suite name -> the task's languages in it, sorted (a task declaration's `benchmark_languages`)."""
    return {suite.name: suite.sorted_languages(task) for suite in SUITES if task in suite.languages}


def all_languages(task: str) -> tuple[str, ...]:
    """A task's languages in any of the two suites, sorted (a task declaration's `languages`)."""
    return tuple(sorted({lang for suite in SUITES for lang in suite.languages.get(task, ())}))


# Target-phase settings of jiant's XTREME scripts (jiant/scripts/benchmarks/xtreme): lr 1e-5,
# per-step batch 4 with gradient accumulation 8 (classification, tagging) or 4 (QA), evaluate
# every 1000 steps, stop after 30 evaluations without improvement; max_seq_length 256
# (classification, tagging) and 384 (QA) as in its tokenize-and-cache step.
def jiant_target(epochs: float, qa: bool = False) -> Hyperparameters:
    return Hyperparameters(
        learning_rate=1e-5, batch_size=4, gradient_accumulation=4 if qa else 8, epochs=epochs,
        max_length=384 if qa else 256, eval_every=1000, patience=30,
    )
