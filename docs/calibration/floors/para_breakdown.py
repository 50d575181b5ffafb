"""Para accuracy by pair type (paraphrase / role swap / negation flip) per language and stage.

    python para_breakdown.py RUN CACHE [EXPORT.csv]

With an export (`xstilts results RUN --export`), only its syn-para evaluations, named by model and
seed; without, every stage of RUN with predictions (a probe run of syn-para alone)."""
import csv, glob, json, sys
from collections import Counter
run, cache = sys.argv[1], sys.argv[2]
data = glob.glob(f"{cache}/synthetic/data-*/syn-para/validation.en.jsonl")[0]
en = [json.loads(l) for l in open(data)]
kind = []
for ex in en:
    if ex["label"] == 1: kind.append("para")
    elif ex["text"].split().count("not") != ex["text_pair"].split().count("not"): kind.append("neg")
    else: kind.append("swap")
if len(sys.argv) > 3:
    rows = [r for r in csv.DictReader(open(sys.argv[3])) if r["target"] == "syn-para" and r["is_primary"] == "1"]
    stages = sorted({(f"{r['model']} seed {r['seed']}", f"{run}/stages/{r['stage_id']}/predictions") for r in rows})
else:
    stages = [(path.split("/")[-2], path) for path in sorted(glob.glob(f"{run}/stages/*/predictions"))]
for name, stage in stages:
    out = {}
    for lang in ("en", "clo", "scr", "ord"):
        preds = [json.loads(l) for l in open(f"{stage}/{lang}.jsonl")]
        c, n, p1 = Counter(), Counter(), 0
        for p in preds:
            k = kind[p["index"]]; n[k] += 1; c[k] += p["prediction"] == p["gold"]; p1 += p["prediction"] == 1
        out[lang] = {k: round(100 * c[k] / n[k]) for k in n} | {"pred1%": round(100 * p1 / len(preds))}
    print(name, out)
