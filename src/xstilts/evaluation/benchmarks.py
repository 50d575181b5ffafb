"""The two benchmarks as google-research/xtreme's `evaluate.py` defines them.

Task names are the official folder names of a submission (`pawsx`, `panx`, `bucc2018`, ...);
`canonical_task` maps common spellings (PAWS-X, WikiANN, TyDiQA-GoldP, Mewsli-X, ...) to them.
Languages are listed in the official order.

Two facts of the official script worth knowing:
* Groups: XTREME-R puts XCOPA in both "classification" and "multi_choice", and LAReQA in no
  group at all (its retrieval group is Tatoeba and Mewsli-X); the overall score is the mean over
  all tasks, so it is only defined once every task, LAReQA included, has a score.
* evaluate.py lists no languages and no file reader for LAReQA, so it cannot score it. Here
  LAReQA is scored like Mewsli-X: one `lareqa/test-<lang>.json` per XQuAD-R question language,
  mapping question ids to ranked candidate ids, scored by mAP@20 against all correct candidates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from xstilts.errors import unknown_name


def _langs(spec: str) -> tuple[str, ...]:
    return tuple(spec.split(","))


_XNLI = _langs("ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh")
_PANX_XTREME = _langs(
    "ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,my,zh,"
    "kk,tr,et,fi,hu"
)
_UDPOS_XTREME = _langs(
    "af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh"
)
_TATOEBA_XTREME = _langs(
    "ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,et,fi,hu"
)
_XQUAD = _langs("en,es,de,el,ru,tr,ar,vi,th,zh,hi")
_MLQA = _langs("en,es,de,ar,hi,vi,zh")
_TYDIQA = _langs("en,ar,bn,fi,id,ko,ru,sw,te")

XTREME_LANGUAGES: dict[str, tuple[str, ...]] = {
    "pawsx": _langs("de,en,es,fr,ja,ko,zh"),
    "xnli": _XNLI,
    "panx": _PANX_XTREME,
    "udpos": _UDPOS_XTREME,
    "bucc2018": _langs("de,fr,ru,zh"),
    "tatoeba": _TATOEBA_XTREME,
    "xquad": _XQUAD,
    "mlqa": _MLQA,
    "tydiqa": _TYDIQA,
}

XTREME_R_LANGUAGES: dict[str, tuple[str, ...]] = {
    "xnli": _XNLI,
    "panx": _PANX_XTREME + _langs("qu,pl,uk,az,lt,pa,gu,ro"),
    "udpos": _UDPOS_XTREME + _langs("lt,pl,uk,wo,ro"),
    "tatoeba": _TATOEBA_XTREME + _langs("az,lt,pl,uk,ro"),
    "xcopa": _langs("et,ht,id,it,qu,sw,ta,th,tr,vi,zh"),
    "lareqa": _langs("ar,de,el,en,es,hi,ru,th,tr,vi,zh"),  # XQuAD-R; evaluate.py lists none
    "mewslix": _langs("ar,de,en,es,fa,ja,pl,ro,ta,tr,uk"),
    "xquad": _XQUAD + ("ro",),
    "mlqa": _MLQA,
    "tydiqa": _TYDIQA,
}

XTREME_GROUPS: dict[str, tuple[str, ...]] = {
    "classification": ("pawsx", "xnli"),
    "tagging": ("udpos", "panx"),
    "qa": ("xquad", "mlqa", "tydiqa"),
    "retrieval": ("bucc2018", "tatoeba"),
}

XTREME_R_GROUPS: dict[str, tuple[str, ...]] = {
    "classification": ("xnli", "xcopa"),
    "tagging": ("udpos", "panx"),
    "qa": ("xquad", "mlqa", "tydiqa"),
    "retrieval": ("tatoeba", "mewslix"),
    "multi_choice": ("xcopa",),
}

QA_TASKS = frozenset({"xquad", "mlqa", "tydiqa"})

# The metric (see xstilts.evaluation.metrics) that scores each task.
TASK_METRICS: dict[str, str] = {
    "pawsx": "accuracy",
    "xnli": "accuracy",
    "xcopa": "accuracy",
    "panx": "f1_seqeval",
    "udpos": "f1_pos",
    "xquad": "squad",
    "tydiqa": "squad",
    "mlqa": "mlqa",
    "bucc2018": "bucc_f1",
    "tatoeba": "tatoeba_accuracy",
    "mewslix": "map_at_20",
    "lareqa": "map_at_20",
}


@dataclass(frozen=True)
class Benchmark:
    name: str
    languages: Mapping[str, tuple[str, ...]]  # task -> languages, in the official order
    groups: Mapping[str, tuple[str, ...]]  # group -> tasks

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.languages)


BENCHMARKS: dict[str, Benchmark] = {
    "xtreme": Benchmark("xtreme", XTREME_LANGUAGES, XTREME_GROUPS),
    "xtreme-r": Benchmark("xtreme-r", XTREME_R_LANGUAGES, XTREME_R_GROUPS),
}


# Benchmarks of xstilts tasks that are not XTREME's (the synthetic one), built from the task
# registry: their target tasks under the xstilts task names, grouped by task kind.
TASK_REGISTRY_BENCHMARKS = ("synthetic",)


def benchmark_names() -> tuple[str, ...]:
    return (*BENCHMARKS, *TASK_REGISTRY_BENCHMARKS)


def get_benchmark(name: str) -> Benchmark:
    key = name.lower().replace("_", "-")
    if key in BENCHMARKS:
        return BENCHMARKS[key]
    if key in TASK_REGISTRY_BENCHMARKS:
        return _registry_benchmark(key)
    raise unknown_name("benchmark", name, benchmark_names())


def _registry_benchmark(name: str) -> Benchmark:
    from xstilts.tasks import all_tasks
    from xstilts.tasks.base import Role

    targets = [t for t in all_tasks() if name in t.benchmarks and t.role is Role.TARGET]
    groups: dict[str, tuple[str, ...]] = {}
    for task in targets:
        groups[task.kind.value] = (*groups.get(task.kind.value, ()), task.name)
    return Benchmark(name, {t.name: t.languages_for(name) for t in targets}, groups)


_ALIASES: dict[str, str] = {
    "pawsx": "pawsx",
    "xnli": "xnli",
    "xcopa": "xcopa",
    "panx": "panx",
    "wikiann": "panx",
    "wikiannner": "panx",
    "panxner": "panx",
    "ner": "panx",
    "udpos": "udpos",
    "pos": "udpos",
    "xquad": "xquad",
    "mlqa": "mlqa",
    "tydiqa": "tydiqa",
    "tydiqagoldp": "tydiqa",
    "tydiqagold": "tydiqa",
    "bucc": "bucc2018",
    "bucc18": "bucc2018",
    "bucc2018": "bucc2018",
    "tatoeba": "tatoeba",
    "mewslix": "mewslix",
    "mewsli": "mewslix",
    "lareqa": "lareqa",
    "xquadr": "lareqa",
}


def canonical_task(name: str) -> str:
    """The official folder name of a task, accepting common spellings ('PAWS-X', 'wikiann')."""
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    if key not in _ALIASES:
        raise unknown_name("XTREME task", name, sorted(set(_ALIASES.values())))
    return _ALIASES[key]


def task_languages(task: str) -> tuple[str, ...]:
    """Every language a task has in either benchmark (XTREME's order, then XTREME-R's additions)."""
    task = canonical_task(task)
    langs: list[str] = []
    for benchmark in BENCHMARKS.values():
        for lang in benchmark.languages.get(task, ()):
            if lang not in langs:
                langs.append(lang)
    return tuple(langs)
