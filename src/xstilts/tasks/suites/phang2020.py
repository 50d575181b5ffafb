"""The English intermediate tasks of Phang et al. 2020 (not a scored suite): their names, dataset
sizes and the fine-tuning defaults of the paper's runs."""

from __future__ import annotations

from xstilts.tasks.base import Hyperparameters
from xstilts.tasks.suites.base import DatasetFacts

PAPER = "phang2020"  # the benchmark name the paper's intermediate tasks carry

# Each of the nine tasks with its sizes (token counts approximate).
SIZES: dict[str, DatasetFacts] = {
    "anli": DatasetFacts(162_865, 3_200, 3_200, 100, approximate=True),  # R1+R2+R3 train 16,946 + 45,460 + 100,459
    "ccg": DatasetFacts(39_604, 1_913, 1_913, 35, approximate=True),  # CCGbank sections 02-21 / 00
    "commonsenseqa": DatasetFacts(9_741, 1_221, 1_221, 110, approximate=True),  # 5 choices
    "cosmosqa": DatasetFacts(25_262, 2_985, 2_985, 480, approximate=True),  # 4 choices
    "hellaswag": DatasetFacts(39_905, 10_042, 10_042, 320, approximate=True),  # 4 choices
    "mnli": DatasetFacts(392_702, 9_815, 9_815, 45, approximate=True),
    "qqp": DatasetFacts(363_846, 40_430, 40_430, 30, approximate=True),
    "squad": DatasetFacts(87_599, 10_570, 10_570, 200, approximate=True),  # SQuAD v1.1
    "sst2": DatasetFacts(67_349, 872, 872, 15, approximate=True),
}
INTERMEDIATE_TASKS: tuple[str, ...] = tuple(SIZES)


# Intermediate phase: jiant's simple runscript (guides/projects/xstilts.md) with the guide's
# batch size 4; its defaults are lr 1e-5, 3 epochs, max_seq_length 256 (384 for SQuAD, as cached
# in jiant's XTREME scripts). The paper's exact per-task settings are not in the sources read.
def jiant_intermediate(max_length: int = 256) -> Hyperparameters:
    return Hyperparameters(learning_rate=1e-5, batch_size=4, epochs=3.0, max_length=max_length)
