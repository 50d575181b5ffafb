"""The LM-mixing baseline's loss on its own: the model's standard loss (logits for every position
over the whole vocabulary, kept for the backward pass) against xstilts' chunked loss
(`xstilts.training.lm.ChunkedLMLoss`: only labelled positions projected, a chunk at a time,
recomputed in the backward pass), on a tiny body with XLM-R's 250,002-word vocabulary.

    python benchmarks/lm_loss.py                    # CPU: masked LM and causal LM, 3 interleaved repeats
    python benchmarks/lm_loss.py --device cuda --dtype bf16 --hidden 1024 --layers 4 --batch 32 --length 256

A step is one forward and backward pass of the LM loss on a fresh batch (no optimizer update: it
is the same for both losses). Every (case, loss, repeat) runs in its own process: a warm-up step
first (for the chunked loss it holds the one-off comparison with the standard loss), then the peak
memory of the timed steps (CPU: the RSS high-water mark, reset after warm-up, minus the RSS at
that moment; CUDA: torch.cuda.max_memory_allocated minus what was allocated then).
Results: benchmarks/results/lm-loss-<device>-<time>.json (written after every run, `complete`
once all ran) and .md (`--out` for another folder).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.machine import PeakMemory, load_average, machine_info  # noqa: E402

XLMR_VOCAB = 250_002
CASES = ("masked", "causal")  # masked LM on an XLM-R body, causal LM on a Llama body
LOSSES = ("standard", "chunked")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/lm_loss.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--losses", default=",".join(LOSSES), help="standard, chunked, chunked-<N> (chunks of N labelled positions)")
    p.add_argument("--vocab", type=int, default=XLMR_VOCAB)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--mask-rate", type=float, default=0.15)
    p.add_argument("--steps", type=int, default=3, help="timed steps per run, after one warm-up step")
    p.add_argument("--repeats", type=int, default=3, help="runs of every (case, loss), interleaved")
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS") or 1))
    p.add_argument("--name", default=None)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="folder for the results (default: benchmarks/results)")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: "<case>:<loss>:<repeat>:<out.json>"
    return p.parse_args(argv)


def _model(case: str, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    import transformers as T

    shape = dict(vocab_size=args.vocab, hidden_size=args.hidden, num_hidden_layers=args.layers, num_attention_heads=max(1, args.hidden // 64),
                 intermediate_size=4 * args.hidden)
    if case == "masked":
        return T.XLMRobertaForMaskedLM(T.XLMRobertaConfig(**shape, max_position_embeddings=args.length + 2, type_vocab_size=1))
    return T.LlamaForCausalLM(T.LlamaConfig(**shape, num_key_value_heads=max(1, args.hidden // 64), max_position_embeddings=args.length))


def _batch(case: str, args: argparse.Namespace, step: int, device: str) -> dict:
    import torch

    g = torch.Generator().manual_seed(step)
    ids = torch.randint(5, args.vocab, (args.batch, args.length), generator=g)
    mask = torch.ones_like(ids)
    if case == "masked":
        chosen = torch.rand(ids.shape, generator=g) < args.mask_rate
        labels = ids.masked_fill(~chosen, -100)
        ids = ids.masked_fill(chosen, 4)
    else:
        labels = ids.clone()
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


def _resident_mib(device: str) -> float:
    if device == "cuda":
        import torch

        return torch.cuda.memory_allocated() / 2**20
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_one(case: str, loss: str, args: argparse.Namespace) -> dict:
    """One process's measurement: a warm-up step, then `args.steps` timed steps."""
    import torch

    from xstilts.training.lm import LM_LOSS_CHUNK, ChunkedLMLoss

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    lm = _model(case, args).to(device=args.device, dtype=dtype).train()
    objective = None if loss == "standard" else ChunkedLMLoss(case == "causal", int(loss.split("-")[1]) if "-" in loss else LM_LOSS_CHUNK)

    def step(i: int) -> float:
        batch = _batch(case, args, i, args.device)
        value = lm(**batch).loss if objective is None else objective(lm, batch)
        value.backward()
        lm.zero_grad(set_to_none=False)  # gradients stay allocated between steps, as in training
        return float(value.detach())

    warm = step(0)
    if objective is not None and not objective.chunked:
        raise SystemExit(f"{case}: the chunked loss fell back to the standard one")
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    sync()
    resident = _resident_mib(args.device)
    losses = []
    with PeakMemory(args.device) as peak:
        start = time.perf_counter()
        for i in range(1, args.steps + 1):
            losses.append(step(i))
        sync()
        seconds = time.perf_counter() - start
    labelled = [int((b["labels"][:, 1:] if case == "causal" else b["labels"]).ne(-100).sum()) for b in (_batch(case, args, i, "cpu") for i in range(1, args.steps + 1))]
    return {
        "case": case, "loss": loss, "s_per_step": seconds / args.steps, "peak_mib": peak.mib, "resident_mib": resident,
        "step_peak_mib": (peak.mib or 0.0) - resident, "memory_method": peak.method, "warmup_loss": warm, "losses": losses,
        "labelled_per_batch": statistics.mean(labelled), "parameters": sum(p.numel() for p in lm.parameters()),
    }


def child_env(threads: int) -> dict[str, str]:
    return os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false",
                         "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}


def _argv_without_run_options(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--one", "--name"):
            skip = True
        elif not a.startswith(("--one=", "--name=")):
            out.append(a)
    return out


def summarise(rows: list[dict], cases: list[str], losses: list[str]) -> list[dict]:
    table = []
    for case in cases:
        base = [r for r in rows if r["case"] == case and r["loss"] == "standard"]
        for loss in losses:
            mine = sorted((r for r in rows if r["case"] == case and r["loss"] == loss), key=lambda r: r["repeat"])
            if not mine:
                continue
            s = [r["s_per_step"] for r in mine]
            m = [r["step_peak_mib"] for r in mine]
            row = {"case": case, "loss": loss, "labelled_per_batch": mine[0]["labelled_per_batch"], "s_median": statistics.median(s), "s_min": min(s),
                   "s_max": max(s), "step_peak_mib_median": statistics.median(m), "peak_mib_median": statistics.median(r["peak_mib"] for r in mine),
                   "first_loss": mine[0]["losses"][0]}
            if base:
                bs, bm = statistics.median(r["s_per_step"] for r in base), statistics.median(r["step_peak_mib"] for r in base)
                row["time_ratio"] = row["s_median"] / bs
                row["memory_ratio"] = row["step_peak_mib_median"] / bm if bm > 0 else None
            table.append(row)
    return table


def render(result: dict) -> str:
    a = result["settings"]
    lines = [
        f"# LM-mixing loss: standard vs chunked ({result['name']})", "",
        f"`{result['command']}`", "",
        f"Body: {a['layers']} layers, hidden {a['hidden']}, vocabulary {a['vocab']:,}; batch {a['batch']} x {a['length']} tokens, "
        f"{a['dtype']} on {a['device']}, {a['threads']} thread(s); {a['steps']} timed steps (forward + backward) after a warm-up, "
        f"{a['repeats']} interleaved repeats, each in its own process.", "",
        "| case | loss | labelled/batch | s/step median (min-max) | x standard | step peak MiB (above resident) | x standard | peak MiB (total) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["table"]:
        ratio = f"{r['time_ratio']:.2f}" if "time_ratio" in r else ""
        mem_ratio = f"{r['memory_ratio']:.2f}" if r.get("memory_ratio") else ""
        lines.append(f"| {r['case']} | {r['loss']} | {r['labelled_per_batch']:.0f} | {r['s_median']:.3f} ({r['s_min']:.3f}-{r['s_max']:.3f}) | {ratio} | "
                     f"{r['step_peak_mib_median']:.0f} | {mem_ratio} | {r['peak_mib_median']:.0f} |")
    loads = ", ".join(f"{r['load_before']}/{r['load_after']}" for r in result["runs"])
    lines += ["", f"Load average (1 min) before/after each run, in run order: {loads}",
              f"Machine: {json.dumps(result['machine'])}", f"Commit: {result.get('commit', '')}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.one:
        case, loss, repeat, out = args.one.split(":", 3)
        Path(out).write_text(json.dumps(run_one(case, loss, args) | {"repeat": int(repeat)}))
        return
    cases, losses = args.cases.split(","), args.losses.split(",")
    name = args.name or f"lm-loss-{args.device}-{dt.datetime.now().strftime('%Y%m%d-%H%M')}"
    results = Path(args.out)
    results.mkdir(parents=True, exist_ok=True)
    runs: list[dict] = []
    commit = _commit()

    def result(complete: bool) -> dict:
        # The machine is described once, at the end: on a GPU that initialises CUDA in this process,
        # which should not happen while the runs measure.
        machine = {"machine": machine_info(args.device) | {"load_at_end": load_average()}} if complete else {}
        return {
            "name": name, "command": "python benchmarks/lm_loss.py " + shlex.join(argv), "commit": commit, "complete": complete,
            "settings": {k: v for k, v in vars(args).items() if k != "one"}, **machine,
            "table": summarise(runs, cases, losses), "runs": runs,
        }

    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for case in cases:
                for loss in losses:
                    out = Path(tmp) / f"{case}-{loss}-{repeat}.json"
                    before = os.getloadavg()[0]
                    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), *_argv_without_run_options(argv), "--one", f"{case}:{loss}:{repeat}:{out}"],
                                          cwd=ROOT, env=child_env(args.threads), capture_output=True, text=True)
                    if done.returncode != 0:
                        raise SystemExit(f"{case}/{loss} repeat {repeat} failed:\n{done.stderr[-3000:]}")
                    row = json.loads(out.read_text()) | {"load_before": round(before, 2), "load_after": round(os.getloadavg()[0], 2)}
                    print(f"{case:7s} {loss:10s} r{repeat}: {row['s_per_step']:.3f} s/step, step peak {row['step_peak_mib']:.0f} MiB "
                          f"(load {row['load_before']}/{row['load_after']})", flush=True)
                    runs.append(row)
                    # Saved after every run, so a run stopped early (a GPU lease's limit) keeps what it measured.
                    (results / f"{name}.json").write_text(json.dumps(result(complete=False), indent=1))
    final = result(complete=True)
    (results / f"{name}.json").write_text(json.dumps(final, indent=1))
    (results / f"{name}.md").write_text(render(final))
    print(render(final))


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


if __name__ == "__main__":
    main()
