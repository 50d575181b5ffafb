"""xstilts benchmarks: fine-tuning and evaluation throughput against the plain Hugging Face
recipe, retrieval at Tatoeba/BUCC scale, peak memory, and what a grid saves by sharing stages.

    python benchmarks/run.py --quick    # CPU, tiny models, few steps, 3 interleaved repeats
    python benchmarks/run.py            # more steps, 3 interleaved repeats (seeds 0-2) of every recipe
    python benchmarks/run.py --full     # and retrieval over 100k x 100k x 1024: ~5 minutes more
    python benchmarks/run.py --device cuda --shape xlmr-large   # or decoder-1b: real shapes, random weights

Every case runs in its own process (clean peak memory, no state shared between recipes).
Results are printed and written to benchmarks/results/<name>.json and .md with the command.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.report import render_markdown, render_table  # noqa: E402

# Steps per task: enough for the dev scores to move off chance on CPU (tiny models from random
# weights); on GPU, enough for a steady rate after warm-up.
STEPS = {
    ("cpu", False): {"classification": 100, "qa": 24, "tagging": 40},
    ("cpu", True): {"classification": 16, "qa": 8, "tagging": 16},
    ("cuda", False): {"classification": 100, "qa": 60, "tagging": 100},
    ("cuda", True): {"classification": 30, "qa": 20, "tagging": 30},
}


SEPARATE_LIMIT = 20000 * 20000
CHECK_LIMIT = 20000 * 20000  # brute-force check of the mined pairs up to this size
DEFAULT_RETRIEVAL = "20000x20000x1024,100000x100000x128,100000x100000x128:anisotropic,20000x20000x1024:anisotropic,10000x10000x128:encoder"
QUICK_RETRIEVAL = "20000x20000x128,20000x20000x128:anisotropic,5000x5000x128:encoder"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer steps, smaller retrieval sets (a few minutes on 2 CPU cores)")
    p.add_argument("--full", action="store_true", help="also retrieval over 100k x 100k sentences of 1024 dimensions (~5 more minutes on one CPU core)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--shape", default=None, help="tiny | tiny-decoder | xlmr-large | decoder-1b (default: tiny on cpu, xlmr-large on cuda)")
    p.add_argument("--sections", default="training,retrieval,grid", help="comma-separated: training, retrieval, grid")
    p.add_argument("--tasks", default="classification,qa,tagging")
    p.add_argument("--recipes", default=None, help="default xstilts,hf-grouped,hf-dynamic,hf-padded on cpu; xstilts,xstilts-fp32,hf-grouped on cuda")
    p.add_argument("--repeats", type=int, default=None, help="runs of every recipe, interleaved (A B C A B C ...), repeat r with seed r: throughput median/min/max and dev-score noise (default 3; 2 on cuda)")
    p.add_argument("--steps-scale", type=float, default=1.0, help="multiply every task's training steps")
    p.add_argument("--max-length", type=int, default=None, help="featurisation max_length of every task (default: the task's: 128, QA 384)")
    p.add_argument("--batch-size", type=int, default=None, help="training batch size of every task (default: the task's: 32, QA 16)")
    p.add_argument("--learning-rate", type=float, default=None, help="default 2e-3 for tiny shapes, 1e-5 for real ones")
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS") or 1), help="torch threads per case (default: OMP_NUM_THREADS or 1)")
    p.add_argument("--retrieval", default=None, help="QUERIESxCANDIDATESxDIM[:VECTORS],... with VECTORS isotropic (default), anisotropic or encoder (the tiny encoder's outputs; DIM is its width) (default: " + DEFAULT_RETRIEVAL + "; --full or cuda add 100000x100000x1024; --quick: " + QUICK_RETRIEVAL + ")")
    p.add_argument("--no-warmup-case", action="store_true", help="on cuda, skip the discarded warm-up case run before the timed ones")
    p.add_argument("--pad-to-multiple-of", type=int, default=None, help="both recipes pad batches to a multiple of N positions (default: to the longest row)")
    p.add_argument("--sdpa-backends", default=None, help="attention kernels of every recipe: auto (default; xstilts' choice, no cuDNN attention on CUDA), torch (torch's choice) or a list, e.g. flash,efficient,math")
    p.add_argument("--peak-tflops", type=float, default=None, help="peak bf16 TFLOP/s of a GPU missing from the table")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--no-markdown", action="store_true", help="write only the .json (its .md later with --render)")
    p.add_argument("--name", default=None, help="results file name (default: <device>-<shape>[-quick]-<date>)")
    p.add_argument("--work-dir", default=None, help="scratch folder (default: a temporary one)")
    p.add_argument("--render", default=None, metavar="RESULT.json", help="only print a results file's tables and rewrite its .md")
    return p.parse_args(argv)


def child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="false",
               HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_VERBOSITY="error", PYTHONUNBUFFERED="1")
    env.setdefault("XSTILTS_QUIET", "1")
    return env


def run_child(module: str, args: list[str], threads: int, log: Path) -> None:
    with log.open("a") as out:
        out.write(f"\n$ python -m {module} {' '.join(args)}\n")
        out.flush()
        done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=child_env(threads), stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = log.read_text().splitlines()[-15:]
        raise SystemExit(f"benchmark case failed ({module} {' '.join(args)}); last lines of {log}:\n" + "\n".join(tail))


def training_section(args: argparse.Namespace, work: Path, log: Path, shape: str,
                     on_case: Callable[[list[dict]], None] = lambda done: None) -> list[dict]:
    """Every (task, recipe, repeat) case in its own process; `on_case` gets the results so far
    after each one."""
    from benchmarks.data import TASKS
    from benchmarks.shapes import SHAPES
    from benchmarks.training import RECIPES, Case, prepare

    tasks = [t for t in args.tasks.split(",") if t]
    default = "xstilts,xstilts-fp32,hf-grouped" if args.device == "cuda" else "xstilts,hf-grouped,hf-dynamic,hf-padded"
    recipes = [r for r in (args.recipes or default).split(",") if r]
    unknown = sorted(set(recipes) - set(RECIPES))
    if unknown:
        raise SystemExit(f"--recipes: unknown {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    n_train, n_dev = (512, 256) if args.quick else (2048, 512)
    prepare(work, shape, tasks, n_train, n_dev)
    tiny = SHAPES[shape].vocab is None
    lr = args.learning_rate or (2e-3 if tiny else 1e-5)
    repeats = args.repeats or (2 if args.device == "cuda" else 3)
    results = []
    # Interleaved: repeat 0 of every (task, recipe), then repeat 1, ...: a change of machine load
    # falls on every recipe alike. Repeat r uses seed r (dev-score noise comes with it).
    plan = [(task, recipe, seed) for seed in range(repeats) for task in tasks for recipe in recipes]

    def make_case(task: str, recipe: str, seed: int, steps: int) -> Case:
        return Case(task=task, recipe=recipe, shape=shape, device=args.device, work_dir=str(work), steps=steps,
                    n_train=n_train, n_dev=n_dev, learning_rate=lr, seed=seed, threads=args.threads,
                    batch_size=args.batch_size or TASKS[task].batch_size, peak_tflops=args.peak_tflops, max_length=args.max_length,
                    sdpa_backends=args.sdpa_backends, pad_to_multiple_of=args.pad_to_multiple_of)

    if args.device == "cuda" and plan and not args.no_warmup_case:
        # On a fresh H200 the first case of a run (always xstilts) took 29 s where its repeat took
        # 19, slower past its first steps too: a first-process cost (cold libraries and caches).
        task, recipe, _ = plan[0]
        warm_file = work / "case-warmup.json"
        warm_file.write_text(json.dumps(asdict(make_case(task, recipe, 0, 10))))
        run_child("benchmarks.training", [str(warm_file), str(work / "result-warmup.json")], args.threads, log)
        print(f"  warm-up case ({task}, {recipe}, 10 steps): discarded", flush=True)
    for task, recipe, seed in plan:
        steps = max(2, round(STEPS[(args.device, args.quick)][task] * args.steps_scale))
        case = make_case(task, recipe, seed, steps)
        case_file = work / f"case-{task}-{recipe}-{seed}.json"
        result_file = work / f"result-{task}-{recipe}-{seed}.json"
        case_file.write_text(json.dumps(asdict(case)))
        load = os.getloadavg()[0]
        started = time.time()
        run_child("benchmarks.training", [str(case_file), str(result_file)], args.threads, log)
        result = json.loads(result_file.read_text())
        result["load_before"] = round(load, 2)
        result["load_after"] = round(os.getloadavg()[0], 2)
        results.append(result)
        on_case(results)
        rates = result["rates"]
        print(f"  {task:<14} {recipe:<10} seed {seed}: {rates['train_tokens_per_s']:9.0f} train tok/s, "
              f"{rates['eval_tokens_per_s']:9.0f} eval tok/s, dev {result['dev_score']:.1f} ({time.time() - started:.0f} s, load {load:.1f})", flush=True)
    return results


def retrieval_section(args: argparse.Namespace, work: Path, log: Path) -> list[dict]:
    from benchmarks.retrieval_bench import VECTORS

    spec = args.retrieval or (
        QUICK_RETRIEVAL if args.quick
        else DEFAULT_RETRIEVAL + (",100000x100000x1024" if args.full or args.device == "cuda" else "")
    )
    results = []
    for item in spec.split(","):
        size, _, vectors = item.lower().partition(":")
        vectors = vectors or "isotropic"
        if vectors not in VECTORS:
            raise SystemExit(f"--retrieval {item}: vectors must be one of {', '.join(VECTORS)}")
        nq, nc, dim = (int(v) for v in size.split("x"))
        if vectors == "encoder":
            from benchmarks.training import prepare

            prepare(work, "tiny", [], 0, 0)
        out = work / f"retrieval-{nq}-{nc}-{dim}-{vectors}.json"
        load = os.getloadavg()[0]
        # Margin mining as two separate searches (its cost before sharing blocks), where affordable;
        # the mined pairs against brute force, where affordable.
        extra = (["--separate"] if nq * nc <= SEPARATE_LIMIT and vectors == "isotropic" else []) + (["--check"] if nq * nc <= CHECK_LIMIT else [])
        extra += [f"--vectors={vectors}", f"--work={work}"]
        run_child("benchmarks.retrieval_bench", [str(nq), str(nc), str(dim), str(args.threads), args.device, str(out), *extra], args.threads, log)
        result = json.loads(out.read_text()) | {"load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2)}
        results.append(result)
        two = f" (as two searches {result['bucc_two_searches']['seconds']:.1f} s)" if "bucc_two_searches" in result else ""
        enc = sum(t["seconds"] for t in result.get("encoding", {}).values())
        check = result.get("brute_force")
        print(f"  retrieval {nq}x{nc}x{result['dim']} {vectors}: " + (f"encoding {enc:.1f} s, " if enc else "")
              + f"tatoeba {result['tatoeba']['seconds']:.1f} s, bucc {result['bucc']['seconds']:.1f} s{two}"
              + (f", same pairs as brute force: {check['mined_pairs_identical']}" if check else "") + f", load {load:.1f}", flush=True)
    return results


def grid_section(args: argparse.Namespace, work: Path, log: Path) -> dict:
    from benchmarks.training import prepare

    prepare(work, "tiny", [], 0, 0)
    out = work / "grid.json"
    run_child("benchmarks.grid", [str(work), str(out)] + (["--quick"] if args.quick else []), args.threads, log)
    result = json.loads(out.read_text())
    runs = result["runs"]
    print(f"  grid: cold {runs['cold']['seconds']:.1f} s, warm cache {runs['warm']['seconds']:.1f} s, rerun {runs['rerun']['seconds']:.1f} s "
          f"({runs['rerun']['reused']} stages reused)", flush=True)
    return result


def code_version() -> dict:
    """The commit the benchmark ran from, and whether files differed from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "modified": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "modified": None}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        path = Path(args.render)
        results = json.loads(path.read_text())
        print(render_table(results))
        path.with_suffix(".md").write_text(render_markdown(results))
        return 0
    from benchmarks.machine import load_average, machine_info

    shape = args.shape or ("tiny" if args.device == "cpu" else "xlmr-large")
    sections = [s for s in args.sections.split(",") if s]
    unknown = sorted(set(sections) - {"training", "retrieval", "grid"})
    if unknown:
        raise SystemExit(f"--sections: unknown {', '.join(unknown)}; choose from training, retrieval, grid")
    command = "python benchmarks/run.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    started = dt.datetime.now(dt.UTC)
    info = machine_info(args.device) | {"threads_per_case": args.threads}
    print(f"xstilts benchmarks: {command}\n  {info['cpu']} ({info['cores']} cores), torch {info['torch']}, "
          f"{args.threads} thread(s) per case, load {load_average()}" + (f", GPU {info.get('gpu')}" if "gpu" in info else ""), flush=True)
    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="xstilts-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "cases.log"
    print(f"  scratch {work} (case logs in {log.name})", flush=True)
    results: dict = {
        "command": command, "started": started.isoformat(timespec="seconds"), "machine": info, "device": args.device,
        "shape": shape, "quick": args.quick, "full": args.full, "code": code_version(), "load_start": load_average(),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mode = "-quick" if args.quick else "-full" if args.full else ""
    name = args.name or f"{args.device}-{shape}{mode}-{started:%Y%m%d-%H%M}"

    def save_partial(done: list[dict]) -> None:
        # A run stopped part-way (a borrowed GPU's time limit) keeps its finished cases.
        (out / f"{name}.json").write_text(json.dumps(results | {"training": done, "partial": True}, indent=1))

    runners = {
        "training": lambda: training_section(args, work, log, shape, on_case=save_partial),
        "retrieval": lambda: retrieval_section(args, work, log),
        "grid": lambda: grid_section(args, work, log) if args.device == "cpu" else None,
    }
    for section in sections:
        try:
            results[section] = runners[section]()
        except SystemExit as failure:  # a failed case: keep the other sections' results
            print(failure, file=sys.stderr)
            results.setdefault("errors", {})[section] = str(failure).splitlines()[0]
    results["load_end"] = load_average()
    results["seconds"] = round((dt.datetime.now(dt.UTC) - started).total_seconds(), 1)
    table = render_table(results)
    print("\n" + table)
    (out / f"{name}.json").write_text(json.dumps(results, indent=1))
    if not args.no_markdown:
        (out / f"{name}.md").write_text(render_markdown(results))
    print(f"\nwritten: {out / name}.json" + ("" if args.no_markdown else " and .md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
