"""Probe a synthetic world variant: pretrain one family into a scratch folder, then measure
nearest-English-word matching (input embeddings, by word class), sentence retrieval by mean-pooled
hidden states per layer, and syn-para zero-shot via `xstilts run` (2 seeds).

    PYTHONPATH=src OMP_NUM_THREADS=1 python docs/calibration/floors/probe_world.py NAME encoder ['{"spec field": value}']

$PROBE_VARIANT (default 0) picks the pretraining seed's variant (ModelVariant.variant): the model
goes to models/NAME/FAMILY-VARIANT and its run to runs/NAME-FAMILY-VARIANT when it is not 0.
Everything goes under $PROBE_WORK (default ./probe-work): the corpus and task data (cache-NAME),
the model (models/NAME/FAMILY), the fine-tuning run and its scores (runs/NAME-FAMILY).
`para_breakdown.py runs/NAME-FAMILY cache-NAME` splits the scores by pair type."""
import json, os, random, subprocess, sys, time
from pathlib import Path
import torch
from transformers import AutoModel, AutoTokenizer
from xstilts.synthetic.files import SyntheticBenchmark
from xstilts.synthetic.spec import ModelVariant, SyntheticSpec
from xstilts.synthetic import world as W

WORK = os.environ.get("PROBE_WORK", "probe-work")

def wordprobe(model_dir, world):
    tok = AutoTokenizer.from_pretrained(model_dir)
    E = AutoModel.from_pretrained(model_dir).get_input_embeddings().weight.detach()
    lemmas = list(dict.fromkeys(W._all_lemmas()))
    def vec(word):
        ids = tok(word, add_special_tokens=False)["input_ids"]
        return torch.nn.functional.normalize(E[ids].mean(0), dim=-1)
    en = torch.stack([vec(l) for l in lemmas]); en = en - en.mean(0)
    out = {}
    for lang in ("clo", "scr", "ord"):
        lex = world.lexicons[lang]
        o = torch.stack([vec(lex[l]) for l in lemmas]); o = o - o.mean(0)
        hit = ((o @ en.T).argmax(1) == torch.arange(len(lemmas))).tolist()
        cls = {"loan": [], "content": [], "function": []}
        content = set(W.NOUNS + W.ADJECTIVES + W.VERBS + W.PLACES)
        for l, h in zip(lemmas, hit):
            k = "function" if l not in content else ("loan" if lex[l] == l else "content")
            cls[k].append(h)
        out[lang] = {"all": round(100 * sum(hit) / len(hit), 1)} | {k: f"{sum(v)}/{len(v)}" for k, v in cls.items()}
    return out

def sentprobe(model_dir, world, n=300):
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    rng = random.Random(12345)
    props, seen = [], set()
    while len(props) < n:
        p = world.random_proposition(rng)
        if p not in seen:
            seen.add(p); props.append(p)
    def emb(lang):
        b = tok([world.realise(p, lang).text for p in props], padding=True, return_tensors="pt")
        with torch.no_grad():
            hs = model(**b, output_hidden_states=True).hidden_states
        m = b["attention_mask"].unsqueeze(-1).float()
        return [torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1) for h in hs]
    en = emb("en")
    return {lang: [round(100 * ((e @ o.T).argmax(1) == torch.arange(n)).float().mean().item(), 1) for e, o in zip(en, emb(lang))] for lang in ("clo", "scr", "ord")}

PARA = """name: probe-{name}
models:
  - name: m
    path: {path}
intermediate: [none]
targets: [{targets}]
seeds: [{seeds}]
training:
  max_restarts: 1
"""

def para(name, model_dir, cache, seeds="0, 1", targets="syn-para"):
    out = Path(f"{WORK}/runs/{name}")
    spec = Path(f"{WORK}/{name}.yaml")
    spec.write_text(PARA.format(name=name, path=model_dir, seeds=seeds, targets=targets))
    env = dict(os.environ, XSTILTS_CACHE=str(cache))
    py = sys.executable
    subprocess.run([py, "-m", "xstilts", "run", str(spec), "--output-dir", str(out), "--workers", "1", "--no-report"], env=env, check=True, capture_output=True)
    subprocess.run([py, "-m", "xstilts", "results", str(out), "--export", str(out / "scores.csv")], env=env, check=True, capture_output=True)
    import csv, glob
    rows = [{k: r[k] for k in ("seed", "language", "value")} for r in csv.DictReader(open(out / "scores.csv")) if r["metric"] == "accuracy"]
    return rows

if __name__ == "__main__":
    torch.set_num_threads(1)
    name, family = sys.argv[1], sys.argv[2]
    overrides = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    pre = overrides.pop("pretrain", {})
    from dataclasses import replace
    spec = SyntheticSpec()
    spec = replace(spec, **overrides, pretrain=replace(spec.pretrain, **pre))
    cache = Path(f"{WORK}/cache-{name}")
    bench = SyntheticBenchmark(spec, root=cache)
    variant = ModelVariant(family, int(os.environ.get("PROBE_VARIANT", "0")))
    out = Path(f"{WORK}/models/{name}/{variant.name}")
    if not (out / "DONE").exists():
        t = time.time()
        tokdir = bench.tokenizer_dir()
        print("tokenizer", round(time.time() - t, 1), "s", flush=True)
        out.mkdir(parents=True, exist_ok=True)
        from xstilts.synthetic.pretrain import pretrain
        summary = pretrain(bench, variant, tokdir, out, progress=False)
        (out / "DONE").write_text("x")
        print(name, family, summary, flush=True)
    print(name, family, "word", wordprobe(str(out), bench.world), flush=True)
    print(name, family, "sent", sentprobe(str(out), bench.world), flush=True)
    t = time.time()
    rows = para(f"{name}-{variant.name}", str(out), cache)
    print("para seconds", round(time.time() - t), flush=True)
    for r in rows:
        print(name, family, {k: v for k, v in r.items() if v}, flush=True)
