"""syn-qa F1 of the no-intermediate runs by the role the question asks (subject: English 'who ...',
object: 'what ...'), per family and language, mean over every model and seed of the grid.

    python docs/calibration/grid/qa_roles.py STORE DATA_DIR [--spec synthetic-calibration]

STORE: the grid's output folder; DATA_DIR: the synthetic benchmark's syn-qa folder
(`$XSTILTS_CACHE/synthetic/data-<hash>/syn-qa`, the one the runs evaluated). Predictions come
from `xstilts export`, scores from xstilts' own SQuAD metric, as in the report.
"""

import collections
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from xstilts.evaluation.metrics import get_metric

LANGUAGES = ("en", "clo", "scr", "ord")


def main(store: str, data: Path, spec: str) -> None:
    roles = {}
    for line in open(data / "validation.en.jsonl", encoding="utf-8"):
        example = json.loads(line)
        roles[example["id"]] = "subject" if example["question"].startswith("who") else "object"
    gold = {
        lang: {e["id"]: e["answers"]["text"] for e in map(json.loads, open(data / f"validation.{lang}.jsonl", encoding="utf-8"))}
        for lang in LANGUAGES
    }
    scores: dict[tuple[str, str, str], list[float]] = collections.defaultdict(list)
    models = ("tiny-encoder", "tiny-encoder-1", "tiny-encoder-2", "tiny-decoder", "tiny-decoder-1", "tiny-decoder-2")
    squad = get_metric("squad")
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            for seed in range(5):
                out = Path(tmp) / f"{model}-{seed}"
                subprocess.run(["xstilts", "export", store, "--spec", spec, "--model", model, "--condition", "none", "--seed", str(seed),
                                "--xtreme-submission", str(out)], check=True, capture_output=True)
                for lang in LANGUAGES:
                    predictions = json.loads((out / "syn-qa" / f"test-{lang}.json").read_text(encoding="utf-8"))
                    for role in ("subject", "object"):
                        ids = [i for i in predictions if roles[i] == role]
                        f1 = squad({i: predictions[i] for i in ids}, {i: gold[lang][i] for i in ids}, language=lang)["f1"]
                        scores[(model.split("-")[1], role, lang)].append(f1)
    print(f"questions: {dict(collections.Counter(roles.values()))}; F1, mean over 3 models x 5 seeds")
    print(f"{'family':8s} {'asks':8s} " + " ".join(f"{lang:>6s}" for lang in LANGUAGES))
    for family in ("encoder", "decoder"):
        for role in ("subject", "object"):
            values = [sum(v) / len(v) for v in (scores[(family, role, lang)] for lang in LANGUAGES)]
            print(f"{family:8s} {role:8s} " + " ".join(f"{v:6.1f}" for v in values))


if __name__ == "__main__":
    args = sys.argv[1:]
    chosen = "synthetic-calibration"
    if "--spec" in args:
        at = args.index("--spec")
        chosen = args[at + 1]
        args = args[:at] + args[at + 2:]
    main(args[0], Path(args[1]), chosen)
