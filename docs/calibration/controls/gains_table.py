"""Gain over `none` per target, intermediate task and half of a planted split: for each (model,
seed) run, the primary score after the intermediate task less the same model and seed's score
without one, averaged over the target's languages; then the mean and sd over the half's runs.

    python docs/calibration/controls/gains_table.py scores.csv 'A1,A2,A3|B1,B2,B3'
"""

import csv
import statistics
import sys
from collections import defaultdict

TARGETS = ("syn-qa", "syn-tatoeba", "syn-pos", "syn-para", "syn-copa")


def main(path: str, split: str) -> None:
    halves = [half.split(",") for half in split.split("|")]
    score: dict[tuple[str, str, str, str, str], float] = {}  # model, condition, target, seed, language
    with open(path, encoding="utf-8") as file:
        for row in csv.DictReader(file):
            if row["is_primary"] == "1":
                score[(row["model"], row["condition"], row["target"], row["seed"], row["language"])] = float(row["value"])
    conditions = sorted({key[1] for key in score} - {"none"})
    header = [f"{name}: {condition}" for name in ("A", "B") for condition in conditions]
    print("| target | " + " | ".join(header) + " |")
    print("|---" * (len(header) + 1) + "|")
    for target in TARGETS:
        cells = []
        for models in halves:
            for condition in conditions:
                runs = defaultdict(list)
                for (model, cond, tgt, seed, language), value in score.items():
                    if model in models and cond == condition and tgt == target:
                        runs[(model, seed)].append(value - score[(model, "none", tgt, seed, language)])
                gains = [statistics.fmean(v) for v in runs.values()]
                cells.append(f"{statistics.fmean(gains):+.1f} ({statistics.stdev(gains):.1f}), n={len(gains)}")
        print(f"| {target} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
