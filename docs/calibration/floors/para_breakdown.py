"""Para accuracy by pair type (paraphrase / role swap / negation flip) per language and stage."""
import glob, json, sys
from collections import Counter
run, cache = sys.argv[1], sys.argv[2]
data = glob.glob(f"{cache}/synthetic/data-*/syn-para/validation.en.jsonl")[0]
en = [json.loads(l) for l in open(data)]
kind = []
for ex in en:
    if ex["label"] == 1: kind.append("para")
    elif ex["text"].split().count("not") != ex["text_pair"].split().count("not"): kind.append("neg")
    else: kind.append("swap")
for stage in sorted(glob.glob(f"{run}/stages/*/predictions")):
    out = {}
    for lang in ("en", "clo", "scr", "ord"):
        preds = [json.loads(l) for l in open(f"{stage}/{lang}.jsonl")]
        c, n, p1 = Counter(), Counter(), 0
        for p in preds:
            k = kind[p["index"]]; n[k] += 1; c[k] += p["prediction"] == p["gold"]; p1 += p["prediction"] == 1
        out[lang] = {k: round(100 * c[k] / n[k]) for k in n} | {"pred1%": round(100 * p1 / len(preds))}
    print(stage.split("/")[-2], out)
