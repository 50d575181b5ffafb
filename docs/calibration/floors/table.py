"""Zero-shot floor table: for each model, target and language, the mean primary score over the
fine-tuning seeds of the `none` condition, with its 95% t-interval; `graded` says clo > scr > ord
on the means, `above` says every non-English language's interval lies above chance.

    python docs/calibration/floors/table.py docs/calibration/floors/after-world2.csv
"""

import csv
import statistics
import sys
from collections import defaultdict

from scipy.stats import t as student_t

LANGUAGES = ("en", "clo", "scr", "ord")
TARGETS = ("syn-para", "syn-copa", "syn-pos", "syn-qa", "syn-tatoeba")


def main(path: str) -> None:
    values: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    chance: dict[str, float | None] = {}
    for row in csv.DictReader(open(path, encoding="utf-8")):
        if row["is_primary"] == "1" and row["condition"] == "none" and row["split"] == "validation":
            values[(row["model"], row["target"], row["language"])].append(float(row["value"]))
            chance[row["target"]] = float(row["chance"]) if row["chance"] else None
    for model in sorted({key[0] for key in values}):
        print(f"\n{model}")
        print(f"{'task':12s} {'chance':>6s} " + " ".join(f"{lang:>14s}" for lang in LANGUAGES) + "  graded above-chance")
        for target in TARGETS:
            cells, means, lows = [], {}, {}
            for lang in LANGUAGES:
                xs = values.get((model, target, lang))
                if not xs:
                    cells.append(f"{'-':>14s}")
                    continue
                half = student_t.ppf(0.975, len(xs) - 1) * statistics.stdev(xs) / len(xs) ** 0.5 if len(xs) > 1 else float("nan")
                means[lang], lows[lang] = statistics.mean(xs), statistics.mean(xs) - half
                cells.append(f"{means[lang]:6.1f} ±{half:5.1f}({len(xs)})")
            floor = chance.get(target)
            graded = means["clo"] > means["scr"] > means["ord"]
            above = all(lows[lang] > floor for lang in ("clo", "scr", "ord")) if floor is not None else None
            shown = f"{floor:.1f}" if floor is not None else "-"
            print(f"{target:12s} {shown:>6s} " + " ".join(cells) + f"  {graded} {above}")


if __name__ == "__main__":
    main(sys.argv[1])
