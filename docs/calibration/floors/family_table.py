"""Zero-shot floor per family: for each family, target and language, the mean primary score of the
`none` condition over its models, with a 95% t-interval over the models' means (each model's mean
over its fine-tuning seeds; models are the sampling unit, so pretraining-seed variation is in the
interval). `graded`: clo > scr > ord on the means; `above`: every non-English interval lies above
chance (empty where the task records no chance level: POS, QA).

    python docs/calibration/floors/family_table.py EXPORT.csv [EXPORT.csv ...] [--exclude MODEL,MODEL]

`--exclude` leaves models out by name (the controls grid's rank-1 LoRA fine-tunes are another recipe).
"""

import csv
import statistics
import sys
from collections import defaultdict

from scipy.stats import t as student_t

LANGUAGES = ("en", "clo", "scr", "ord")
TARGETS = ("syn-para", "syn-copa", "syn-pos", "syn-qa", "syn-tatoeba")


def read(paths: list[str], exclude: set[str]) -> tuple[dict, dict]:
    runs: dict[tuple[str, str, str, str], list[float]] = defaultdict(list)  # family, target, language, model -> seeds
    chance: dict[str, float | None] = {}
    for path in paths:
        for row in csv.DictReader(open(path, encoding="utf-8")):
            if row["is_primary"] == "1" and row["condition"] == "none" and row["split"] == "validation" and row["model"] not in exclude:
                runs[(row["family"], row["target"], row["language"], row["model"])].append(float(row["value"]))
                chance[row["target"]] = float(row["chance"]) if row["chance"] else None
    return runs, chance


def interval(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, float("nan")
    return mean, student_t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5


def main(paths: list[str], exclude: set[str]) -> None:
    runs, chance = read(paths, exclude)
    for family in sorted({key[0] for key in runs}):
        models = sorted({key[3] for key in runs if key[0] == family})
        seeds = sorted({len(v) for key, v in runs.items() if key[0] == family})
        print(f"\n{family}: {len(models)} models ({', '.join(models)}), {'/'.join(map(str, seeds))} seeds each; mean ± 95% t-half-width over models")
        print(f"{'task':12s} {'chance':>6s} " + " ".join(f"{lang:>13s}" for lang in LANGUAGES) + "  graded above-chance")
        for target in TARGETS:
            cells, means, lows = [], {}, {}
            for lang in LANGUAGES:
                per_model = [statistics.fmean(runs[(family, target, lang, m)]) for m in models if runs.get((family, target, lang, m))]
                if not per_model:
                    cells.append(f"{'-':>13s}")
                    continue
                mean, half = interval(per_model)
                means[lang], lows[lang] = mean, mean - half
                cells.append(f"{mean:6.1f} ± {half:4.1f}")
            graded = all(lang in means for lang in LANGUAGES[1:]) and means["clo"] > means["scr"] > means["ord"]
            level = chance.get(target)
            above = None if level is None else all(lows[lang] > level for lang in LANGUAGES[1:] if lang in lows)
            print(f"{target:12s} {'-' if level is None else f'{level:.1f}':>6s} " + " ".join(cells) + f"  {graded!s:6s} {above}")

    print_per_model(runs, chance)


def print_per_model(runs: dict, chance: dict) -> None:
    """Each model on its own: the mean over its fine-tuning seeds with a 95% t-interval over those
    seeds (the issue's criterion: above chance by more than the interval over at least 5 seeds)."""
    print("\nper model: mean ± 95% t-half-width over its seeds; '*' = the interval lies above chance")
    print(f"{'model':16s} {'task':12s} " + " ".join(f"{lang:>14s}" for lang in LANGUAGES[1:]))
    for family, target, model in sorted({(k[0], k[1], k[3]) for k in runs}, key=lambda k: (k[0], TARGETS.index(k[1]), k[2])):
        level = chance.get(target)
        cells = []
        for lang in LANGUAGES[1:]:
            values = runs.get((family, target, lang, model))
            if not values:
                cells.append(f"{'-':>14s}")
                continue
            mean, half = interval(values)
            mark = "" if level is None else ("*" if mean - half > level else " ")
            cells.append(f"{mean:6.1f} ± {half:4.1f}{mark:>2s}")
        print(f"{model:16s} {target:12s} " + " ".join(cells))


if __name__ == "__main__":
    args = sys.argv[1:]
    excluded: set[str] = set()
    if "--exclude" in args:
        at = args.index("--exclude")
        excluded = set(args[at + 1].split(","))
        args = args[:at] + args[at + 2:]
    main(args, excluded)
