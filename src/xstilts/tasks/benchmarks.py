"""Benchmark membership, official language lists and shared fine-tuning defaults.

Language lists are those of google-research/xtreme `evaluate.py` (XTREME_TASK2LANGS and
XTREME_R_TASK2LANGS) and `scripts/download_data.sh`; LAReQA's (empty in evaluate.py, which does
not score it) are XQuAD-R's eleven languages.
"""

from __future__ import annotations

from xstilts.tasks.base import Hyperparameters

XTREME = "xtreme"
XTREME_R = "xtreme-r"
PAPER = "phang2020"  # the intermediate tasks of Phang et al. 2020

# The nine English intermediate tasks of Phang et al. 2020; "multitask" trains on all of them.
PAPER_INTERMEDIATE_TASKS: tuple[str, ...] = (
    "anli", "ccg", "commonsenseqa", "cosmosqa", "hellaswag", "mnli", "qqp", "squad", "sst2",
)
MULTITASK = "multitask"

XTREME_TASKS: tuple[str, ...] = ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba")
XTREME_R_TASKS: tuple[str, ...] = (
    "xnli", "xcopa", "udpos", "panx", "xquad", "mlqa", "tydiqa", "tatoeba", "mewslix", "lareqa",
)


def _codes(text: str) -> tuple[str, ...]:
    return tuple(sorted(text.split()))


XNLI_LANGUAGES = _codes("ar bg de el en es fr hi ru sw th tr ur vi zh")
PAWSX_LANGUAGES = _codes("de en es fr ja ko zh")
UDPOS_XTREME = _codes("af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te th tl tr ur vi yo zh")
UDPOS_XTREME_R = tuple(sorted(UDPOS_XTREME + _codes("lt pl uk wo ro")))
PANX_XTREME = _codes(
    "ar he vi id jv ms tl eu ml ta te af nl en de el bn hi mr ur fa fr it pt es bg ru ja ka ko th sw yo my zh kk tr et fi hu"
)
PANX_XTREME_R = tuple(sorted(PANX_XTREME + _codes("qu pl uk az lt pa gu ro")))
XQUAD_XTREME = _codes("en es de el ru tr ar vi th zh hi")
XQUAD_XTREME_R = tuple(sorted(XQUAD_XTREME + ("ro",)))
MLQA_LANGUAGES = _codes("en es de ar hi vi zh")
TYDIQA_LANGUAGES = _codes("en ar bn fi id ko ru sw te")
BUCC_LANGUAGES = _codes("de fr ru zh")
TATOEBA_XTREME = _codes(
    "ar he vi id jv tl eu ml ta te af nl de el bn hi mr ur fa fr it pt es bg ru ja ka ko th sw zh kk tr et fi hu"
)
TATOEBA_XTREME_R = tuple(sorted(TATOEBA_XTREME + _codes("az lt pl uk ro")))
XCOPA_LANGUAGES = _codes("et ht id it qu sw ta th tr vi zh")
MEWSLIX_LANGUAGES = _codes("ar de en es fa ja pl ro ta tr uk")
LAREQA_LANGUAGES = _codes("ar de el en es hi ru th tr vi zh")


# Target-phase settings of jiant's XTREME scripts (jiant/scripts/benchmarks/xtreme): lr 1e-5,
# per-step batch 4 with gradient accumulation 8 (classification, tagging) or 4 (QA), evaluate
# every 1000 steps, stop after 30 evaluations without improvement; max_seq_length 256
# (classification, tagging) and 384 (QA) as in its tokenize-and-cache step.
def jiant_target(epochs: float, qa: bool = False) -> Hyperparameters:
    return Hyperparameters(
        learning_rate=1e-5, batch_size=4, gradient_accumulation=4 if qa else 8, epochs=epochs,
        max_length=384 if qa else 256, eval_every=1000, patience=30,
    )


# Intermediate phase: jiant's simple runscript (guides/projects/xstilts.md) with the guide's
# batch size 4; its defaults are lr 1e-5, 3 epochs, max_seq_length 256 (384 for SQuAD, as cached
# in jiant's XTREME scripts). The paper's exact per-task settings are not in the sources read.
def jiant_intermediate(max_length: int = 256) -> Hyperparameters:
    return Hyperparameters(learning_rate=1e-5, batch_size=4, epochs=3.0, max_length=max_length)
