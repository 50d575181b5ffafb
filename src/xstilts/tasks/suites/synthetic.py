"""The synthetic suite (see `xstilts.synthetic`): its tasks are the registered tasks that name it,
under their xstilts names, grouped by task kind; their submission files are laid out like the
official task of their kind and metric (`xstilts.evaluation.submission.file_format`).
"""

from __future__ import annotations

from xstilts.tasks import all_tasks
from xstilts.tasks.base import Role
from xstilts.tasks.suites.base import DatasetFacts, Suite

NAME = "synthetic"

# The synthetic tasks as the stages featurise them: split -> (examples, per language for
# validation; featurised tokens per example, all choices / QA windows / retrieval sentences
# together, validation averaged over languages). Measured with `xstilts.synthetic.sizes.measure`
# (both families featurise to the same lengths); tests/experiments/test_catalog.py checks them
# against the generated data. Re-measure when the generators, SyntheticSpec.sizes or the
# synthetic tokenizer (vocab_size, the world's words) change.
MEASURED_SIZES: dict[str, dict[str, tuple[int, float]]] = {
    "syn-nli": {"train": (6000, 19.9), "validation": (300, 19.9)},
    "syn-mc": {"train": (3000, 78.7), "validation": (300, 78.3)},
    "syn-squad": {"train": (5000, 40.7), "validation": (300, 39.8)},
    "syn-topic": {"train": (6000, 9.8), "validation": (300, 9.7)},
    "syn-para": {"train": (400, 22.5), "validation": (300, 22.0)},
    "syn-copa": {"train": (300, 39.9), "validation": (300, 37.9)},
    "syn-pos": {"train": (200, 10.5), "validation": (300, 10.0)},
    "syn-qa": {"train": (400, 31.4), "validation": (300, 30.7)},
    "syn-tatoeba": {"validation": (600, 9.5)},  # both sides of 300 pairs per language
}


def _facts(sizes: dict[str, tuple[int, float]]) -> DatasetFacts:
    train, train_tokens = sizes.get("train", (0, 0.0))
    dev, dev_tokens = sizes["validation"]
    return DatasetFacts(train, dev, dev, train_tokens or dev_tokens, eval_tokens=dev_tokens)


SIZES: dict[str, DatasetFacts] = {task: _facts(sizes) for task, sizes in MEASURED_SIZES.items()}


def synthetic_suite() -> Suite:
    """The suite as the task registry declares it (the registry is read when it is asked for)."""
    targets = [t for t in all_tasks() if NAME in t.benchmarks and t.role is Role.TARGET]
    groups: dict[str, tuple[str, ...]] = {}
    for task in targets:
        groups[task.kind.value] = (*groups.get(task.kind.value, ()), task.name)
    return Suite(NAME, {t.name: t.languages_for(NAME) for t in targets}, groups, sizes=SIZES)
