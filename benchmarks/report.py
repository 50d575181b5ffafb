"""Tables of a benchmark run: plain text for the terminal, Markdown for benchmarks/results/."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

RETRIEVAL_TARGET_SECONDS = 300.0


def _fmt(value: object, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def _by(results: list[dict], task: str, recipe: str, seed: int | None = 0) -> list[dict]:
    return [r for r in results if r["case"]["task"] == task and r["case"]["recipe"] == recipe and (seed is None or r["case"]["seed"] == seed)]


def _one(results: list[dict], task: str, recipe: str) -> dict | None:
    found = _by(results, task, recipe)
    return found[0] if found else None


RECIPE_ORDER = ("xstilts", "xstilts-fp32", "xstilts-packed", "hf-grouped", "hf-dynamic", "hf-padded")
BASELINE = "hf-grouped"  # the headline baseline: the Trainer with dynamic padding and length grouping


def _recipes(results: list[dict]) -> list[str]:
    seen = dict.fromkeys(r["case"]["recipe"] for r in results)
    return [r for r in RECIPE_ORDER if r in seen] + [r for r in seen if r not in RECIPE_ORDER]


def spread(values: Sequence[float]) -> tuple[float, float, float] | None:
    """(median, min, max), or None for no values."""
    return (statistics.median(values), min(values), max(values)) if values else None


def _rate_values(results: list[dict], task: str, recipe: str, key: str) -> list[float]:
    return [r["rates"][key] for r in _by(results, task, recipe, seed=None) if r["rates"].get(key) is not None]


def _spread_text(values: Sequence[float], digits: int = 0) -> str:
    s = spread(values)
    if s is None:
        return "-"
    med, lo, hi = s
    return _fmt(med, digits) if len(values) == 1 else f"{_fmt(med, digits)} ({_fmt(lo, digits)}–{_fmt(hi, digits)})"


def training_rows(results: list[dict]) -> tuple[list[str], list[list[str]]]:
    header = ["task", "recipe", "runs", "train tok/s median (min–max)", "train ex/s", "padding", "train MiB", "eval tok/s median (min–max)",
              "MFU train", "MFU steady", "dev score", "load before→after", "steps x batch"]
    rows = []
    for task in dict.fromkeys(r["case"]["task"] for r in results):
        for recipe in _recipes(results):
            runs = _by(results, task, recipe, seed=None)
            if not runs:
                continue
            mfu = _rate_values(results, task, recipe, "train_mfu")
            steady = _rate_values(results, task, recipe, "train_mfu_steady")
            pad = _rate_values(results, task, recipe, "train_padding")
            loads = [(r.get("load_before"), r.get("load_after")) for r in runs]
            rows.append([
                task, recipe, str(len(runs)), _spread_text(_rate_values(results, task, recipe, "train_tokens_per_s")),
                _fmt(statistics.median(_rate_values(results, task, recipe, "train_examples_per_s")), 1),
                f"{statistics.median(pad):.0%}" if pad else "-",
                _fmt(max(r["train_peak_mib"] or 0 for r in runs)), _spread_text(_rate_values(results, task, recipe, "eval_tokens_per_s")),
                f"{statistics.median(mfu):.1%}" if mfu else "-", f"{statistics.median(steady):.1%}" if steady else "-", _mean_sd(_scores(results, task, recipe)),
                ", ".join(f"{a}→{b}" if b is not None else f"{a}" for a, b in loads), f"{runs[0]['case']['steps']} x {runs[0]['case']['batch_size']}",
            ])
    return header, rows


def _median_rate(results: list[dict], task: str, recipe: str, key: str) -> float | None:
    values = _rate_values(results, task, recipe, key)
    return statistics.median(values) if values else None


def ratio_rows(results: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Every recipe's median rate over the baseline's median rate (hf-grouped; min–max of the
    per-repeat ratios, repeat r of a recipe against repeat r of the baseline, run next to it)."""
    header = ["task", "recipe", f"train vs {BASELINE}", "(CPU time)", f"eval vs {BASELINE}", "train vs hf-padded", f"train memory vs {BASELINE}"]
    rows = []
    for task in dict.fromkeys(r["case"]["task"] for r in results):
        base = _by(results, task, BASELINE, seed=None)
        for recipe in _recipes(results):
            if recipe == BASELINE or not _by(results, task, recipe, seed=None):
                continue

            def ratio(key: str, against: str = BASELINE, task: str = task, recipe: str = recipe) -> str:
                a, b = _median_rate(results, task, recipe, key), _median_rate(results, task, against, key)
                if not a or not b:
                    return "-"
                pairs = [(x["rates"][key], y["rates"][key]) for x in _by(results, task, recipe, seed=None)
                         for y in _by(results, task, against, seed=None) if x["case"]["seed"] == y["case"]["seed"]]
                per = [x / y for x, y in pairs if x and y]
                return f"{a / b:.2f}x" + (f" ({min(per):.2f}–{max(per):.2f})" if len(per) > 1 else "")

            ours_mib = max((r["train_peak_mib"] or 0) for r in _by(results, task, recipe, seed=None))
            base_mib = max((r["train_peak_mib"] or 0) for r in base) if base else 0
            rows.append([task, recipe, ratio("train_tokens_per_s"), ratio("train_tokens_per_cpu_s"), ratio("eval_tokens_per_s"),
                         ratio("train_tokens_per_s", "hf-padded"), _ratio(ours_mib, base_mib)])
    return header, rows


def mean_difference(a: Sequence[float], b: Sequence[float]) -> tuple[float, float | None]:
    """mean(a) - mean(b) and the half-width of its 95% Welch interval (None without two scores a side)."""
    diff = statistics.mean(a) - statistics.mean(b)
    if len(a) < 2 or len(b) < 2:
        return diff, None
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va + vb == 0:
        return diff, 0.0
    from scipy.stats import t

    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return diff, float(t.ppf(0.975, df)) * (va + vb) ** 0.5


def _scores(results: list[dict], task: str, recipe: str) -> list[float]:
    return [r["dev_score"] for r in _by(results, task, recipe, seed=None)]


def _mean_sd(scores: list[float]) -> str:
    if not scores:
        return "-"
    if len(scores) == 1:
        return f"{scores[0]:.1f}"
    return f"{statistics.mean(scores):.1f} ± {statistics.stdev(scores):.1f} (n={len(scores)})"


def accuracy_rows(results: list[dict]) -> tuple[list[str], list[list[str]]]:
    recipes = _recipes(results)
    header = ["task", "metric", *recipes, f"xstilts - {BASELINE} (95% CI)", "within noise"]
    rows = []
    for task in dict.fromkeys(r["case"]["task"] for r in results):
        scores = {r: _scores(results, task, r) for r in recipes}
        ours, base = scores.get("xstilts", []), scores.get(BASELINE, [])
        diff_text, verdict = "-", "-"
        if ours and base:
            diff, half = mean_difference(ours, base)
            diff_text = f"{diff:+.1f}" + (f" ± {half:.1f}" if half is not None else "")
            if half is not None:
                verdict = "yes" if abs(diff) <= half else ("no: xstilts better" if diff > 0 else "no: xstilts worse")
        any_run = next(r for r in results if r["case"]["task"] == task)
        rows.append([task, any_run["dev_metric"], *(_mean_sd(scores[r]) for r in recipes), diff_text, verdict])
    return header, rows


def length_rows(results: list[dict]) -> tuple[list[str], list[list[str]]]:
    header = ["task", "training features", "mean tokens", "p50", "p95", "max", "padded to (HF)"]
    rows = []
    for task in dict.fromkeys(r["case"]["task"] for r in results):
        r = _by(results, task, results[0]["case"]["recipe"], seed=None)[0] if _by(results, task, results[0]["case"]["recipe"], seed=None) else None
        if r is None:
            continue
        s = r["lengths"]
        rows.append([task, str(s["features"]), _fmt(s["mean"], 1), str(s["p50"]), str(s["p95"]), str(s["max"]), str(s["max_length"])])
    return header, rows


def retrieval_rows(results: list[dict]) -> tuple[list[str], list[list[str]]]:
    header = ["queries x candidates x dim", "vectors (mean cosine, top-10 variance)", "encoding s", "Tatoeba 1-NN s", "BUCC margin mining s",
              "BUCC as two kNN searches s", "peak MiB", "1-NN accuracy / mining recall", "vs brute force", f"under {RETRIEVAL_TARGET_SECONDS:.0f} s", "load"]
    rows = []
    for r in results:
        slowest = max(r["tatoeba"]["seconds"], r["bucc"]["seconds"])
        peak = max(x.get("peak_mib") or 0 for x in (r["tatoeba"], r["bucc"]))
        iso = r.get("isotropy")
        encoding = r.get("encoding")
        check = r.get("brute_force")
        if check:
            same = "identical pairs" if check["mined_pairs_identical"] else f"pair recall {check['mined_pairs_recall_of_brute_force']:.4f}"
            check_text = f"{same}; neighbours equal {check['forward_neighbours_equal']:.4f} / {check['backward_neighbours_equal']:.4f}"
        else:
            check_text = "-"
        rows.append([
            f"{r['queries']:,} x {r['candidates']:,} x {r['dim']}",
            f"{r.get('vectors', 'isotropic')}" + (f" ({iso['mean_cosine']:.2f}, {iso['top10_variance_share']:.2f})" if iso else ""),
            " + ".join(f"{t['seconds']:.1f}" for t in encoding.values()) if encoding else "-",
            f"{r['tatoeba']['seconds']:.1f} (CPU {r['tatoeba']['cpu_seconds']:.1f})",
            f"{r['bucc']['seconds']:.1f} (CPU {r['bucc']['cpu_seconds']:.1f})",
            f"{r['bucc_two_searches']['seconds']:.1f}" if "bucc_two_searches" in r else "-",
            _fmt(peak), f"{r['tatoeba']['accuracy']:.3f} / {r['bucc']['recall']:.3f}", check_text,
            "yes" if slowest < RETRIEVAL_TARGET_SECONDS else "no",
            f"{r.get('load_before', '-')}→{r.get('load_after', '-')}",
        ])
    return header, rows


def grid_rows(g: dict) -> tuple[list[str], list[list[str]]]:
    header = ["what", "value"]
    p, n, runs = g["stages_planned"], g["stages_naive"], g["runs"]
    rows = [
        ["training stages run (intermediate + target)", f"{p['intermediate'] + p['target']} (naive grid: {n['intermediate'] + n['target']})"],
        ["intermediate stages", f"{p['intermediate']} trained once, shared by every target (naive: {n['intermediate']})"],
        ["cold run (empty feature cache)", f"{runs['cold']['seconds']:.1f} s, {runs['cold']['ran']} stages"],
        ["naive grid, estimated", f"{g['estimated_naive_seconds']:.1f} s (sharing saves {g['sharing_saves']:.0%})" if g.get("sharing_saves") is not None else "-"],
        ["fresh run, warm feature cache", f"{runs['warm']['seconds']:.1f} s (cold minus warm: {g['feature_cache_saves_seconds']:+.1f} s)"],
        ["rerun of a finished grid", f"{runs['rerun']['seconds']:.2f} s, {runs['rerun']['reused']} stages reused, {runs['rerun']['ran']} run"],
    ]
    for name, t in g["feature_cache"].items():
        rows.append([f"feature cache, {name} train ({t['examples']} examples)", f"tokenise {t['tokenise_s']:.2f} s, read from cache {t['cached_read_s']:.2f} s"])
    return header, rows


def _text(header: Sequence[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _md(header: Sequence[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)])


def _sections(results: dict) -> list[tuple[str, tuple[list[str], list[list[str]]]]]:
    out = []
    if results.get("training"):
        t = results["training"]
        out += [
            ("Fine-tuning and evaluation throughput (tokens = non-padding tokens)", training_rows(t)),
            (f"Ratio to {BASELINE} (median over median; min–max of repeat r against repeat r)", ratio_rows(t)),
            ("Dev scores (same steps, data and hyper-parameters; mean ± sd over the repeats' seeds)", accuracy_rows(t)),
            ("Training lengths (benchmark data)", length_rows(t)),
        ]
    if results.get("retrieval"):
        out.append(("Retrieval (planted pairs; encoding timed apart from mining; mined pairs checked against brute force up to 20k x 20k)", retrieval_rows(results["retrieval"])))
    if results.get("grid"):
        out.append(("Grid cost (tiny synthetic grid)", grid_rows(results["grid"])))
    return out


def _machine_line(results: dict) -> str:
    m = results["machine"]
    gpu = f", GPU {m['gpu']} (CUDA {m.get('cuda')})" if m.get("gpu") else ""
    return (
        f"{m['cpu']}, {m['cores']} cores{gpu}; torch {m['torch']}, transformers {m['transformers']}, Python {m['python']}; "
        f"{m['threads_per_case']} torch thread(s) per case (OMP_NUM_THREADS={m['OMP_NUM_THREADS']}); "
        + (f"load average {results['load_start']} at start; stopped part-way, after {len(results.get('training') or [])} training case(s)"
           if results.get("partial") else
           f"load average {results['load_start']} at start, {results['load_end']} at end; {results['seconds']:.0f} s in all")
    )


def _errors(results: dict) -> list[str]:
    return [f"{section} failed: {message}" for section, message in results.get("errors", {}).items()]


def _code(results: dict) -> str:
    code = results.get("code") or {}
    if not code.get("commit"):
        return "of unknown version"
    return code["commit"][:10] + (" with uncommitted changes" if code.get("modified") else "")


def render_table(results: dict) -> str:
    parts = [f"machine: {_machine_line(results)}", f"command: {results['command']} (code {_code(results)})", *_errors(results)]
    for title, (header, rows) in _sections(results):
        parts += ["", title, _text(header, rows)]
    return "\n".join(parts)


NOTES = """Notes
- Recipes: `xstilts` is `xstilts.training.loop.Trainer` with its defaults; `hf-grouped` (the
  headline baseline) is `transformers.Trainer` with a padding collator and length grouping
  (`train_sampling_strategy="group_by_length"`, transformers 5's `group_by_length=True`);
  `hf-dynamic` is the same without length grouping; `hf-padded` is the transformers examples'
  recipe (run_xnli / run_qa / run_ner with pad_to_max_length). All train the same model weights
  (the transformers model gets the initial head weights xstilts starts from, where the heads have
  the same shape) on the same features (xstilts' featurisation) for the same steps, batch size,
  learning rate, warm-up, weight decay and clipping, default `TrainingArguments` otherwise;
  evaluation batch size is the same for all. Dev predictions of all recipes are decoded and
  scored by the same xstilts code; the grouped Trainer's predict visits the dev set grouped by
  length, and its rows are put back in dataset order before scoring.
- Timing: the same wall-clock window for every recipe, from the start of the first training
  batch's collation to the end of the last optimizer step (a post-step hook on the torch
  optimizer; a TrainerCallback registers it on the Trainer's side): all N steps with their data
  loading, collation and per-step overhead; tokens = the non-padding tokens of those steps'
  batches. (Step 1 is in: the grouped Trainer always puts its longest batch first.) Repeats run interleaved (every
  recipe's repeat 0, then every recipe's repeat 1, ...), repeat r with seed r; rates are the
  median with min–max. "load before→after" is the 1-minute load average around each run.
- Data: synthetic tasks stretched to realistic lengths (benchmarks/data.py): classification =
  topic-labelled sentence pairs with MNLI-like lengths, QA = syn-squad with SQuAD-like paragraph
  lengths (max_length 384, stride 128), tagging = syn-pos sentences joined to English-EWT-like
  lengths.
- Models: random weights built from a config; tiny = the synthetic benchmark's shape (4 layers,
  hidden 128), trained from scratch here (QA scores stay low in so few steps); the scores serve
  to compare recipes. "within noise" when the 95% Welch interval of the difference of means
  contains 0.
- Throughput is wall-clock; "(CPU time)" divides by process CPU time instead, which other
  processes' load disturbs less. Peak memory is the resident set high-water mark of the case's
  process during that phase (interpreter and libraries included), or
  torch.cuda.max_memory_allocated on a GPU.
- MFU = model FLOPs of the real (unpadded) tokens per second ÷ the GPU's dense bf16 peak; model
  FLOPs = 6·N·tokens + 12·layers·hidden·length per token (N = parameters in matrix products).
  "MFU steady" is the same over the steps after the first tenth (at least after step 1), leaving
  out start-up costs; it drops the Trainer's first batch, its longest, so ratios between recipes
  use the whole window.
"""


def render_markdown(results: dict) -> str:
    parts = [
        f"# xstilts benchmarks: {results['device']}, {results['shape']}{' (quick)' if results.get('quick') else ' (full)' if results.get('full') else ''}",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Started {results['started']}, code {_code(results)}. Machine: {_machine_line(results)}.",
    ]
    parts += [f"\n**{e}**" for e in _errors(results)]
    for title, (header, rows) in _sections(results):
        parts += ["", f"## {title}", "", _md(header, rows)]
    parts += ["", NOTES]
    return "\n".join(parts)
