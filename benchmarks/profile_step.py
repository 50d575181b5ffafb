"""Where a training step's time goes, per recipe: torch.profiler over steps in the middle of one
benchmark case (the same case `benchmarks/run.py` times), the device's busy time against the wall
time of those steps, kernel launches and synchronisations, and the top operators.

    python benchmarks/profile_step.py --device cuda --shape xlmr-large --task classification
    python benchmarks/profile_step.py --shape tiny --steps 12 --active 4      # CPU, to try it

A step the device spends mostly idle is bound by the host (Python, kernel launches, waits), not by
the model's arithmetic: more tokens per step, fewer launches (fused optimizers, graphs) or fewer
synchronisations move it, a faster kernel does not.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT / "src", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/profile_step.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--shape", default="tiny")
    p.add_argument("--task", default="classification")
    p.add_argument("--recipes", default="xstilts,hf-grouped")
    p.add_argument("--steps", type=int, default=30, help="training steps of each case")
    p.add_argument("--skip", type=int, default=8, help="steps before the profiled ones (start-up)")
    p.add_argument("--active", type=int, default=10, help="profiled steps")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS") or 1))
    p.add_argument("--top", type=int, default=15, help="operators listed per table")
    p.add_argument("--sdpa-backends", default=None, help="attention kernels of every recipe: auto (default; xstilts' choice, no cuDNN attention on CUDA), torch (torch's choice) or a list, e.g. flash,efficient,math")
    p.add_argument("--json", default=None, help="write the summary here")
    return p.parse_args(argv)


def _device_us(event: object) -> float:
    return float(getattr(event, "self_device_time_total", None) or getattr(event, "self_cuda_time_total", 0) or 0)


def device_kernels(events: list, cuda: object) -> list:
    """The kernels among profiler events. Operators carry the device time of the kernels under
    them, and so do annotations, which on CUDA come back as device events too (ProfilerStep*,
    Optimizer.step#AdamW.step: the step's annotation spans its whole wall time): summing anything
    but kernels counts time twice or more."""
    return [
        e for e in events
        if e.device_type == cuda and not getattr(e, "is_user_annotation", False) and not e.key.startswith(ANNOTATIONS)
    ]


ANNOTATIONS = ("ProfilerStep", "Optimizer.")  # where torch does not mark them as user annotations


def profile_case(args: argparse.Namespace, recipe: str, work: Path) -> dict:
    import torch
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile, schedule

    import benchmarks.training as training

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device == "cuda" else [])
    step_ends: list[float] = []
    widths: list[int] = []  # padded width of each step's batch (positions per feature: unpacked recipes)
    original = training.StepWindow._step_end
    with profile(activities=activities, schedule=schedule(skip_first=args.skip - 1, wait=0, warmup=1, active=args.active, repeat=1)) as prof:
        def step_end(window: training.StepWindow) -> None:
            original(window)
            step_ends.append(window.ends[-1][0])
            lengths, positions = window.batches[len(step_ends) - 1]
            widths.append(positions // max(1, len(lengths)))
            prof.step()

        training.StepWindow._step_end = step_end  # type: ignore[method-assign]
        try:
            result = training.run_case(training.Case(
                task=args.task, recipe=recipe, shape=args.shape, device=args.device, work_dir=str(work), steps=args.steps,
                n_train=512, n_dev=64, learning_rate=1e-5, batch_size=args.batch_size, threads=args.threads, max_length=args.max_length,
                sdpa_backends=args.sdpa_backends))
        finally:
            training.StepWindow._step_end = original  # type: ignore[method-assign]
    events = prof.key_averages()
    kernels = device_kernels(events, DeviceType.CUDA)
    wall_s = step_ends[args.skip + args.active - 1] - step_ends[args.skip - 1]  # the profiled steps, end to end
    device_s = sum(_device_us(e) for e in kernels) / 1e6

    def total(names: tuple[str, ...]) -> tuple[int, float]:
        found = [e for e in events if e.key in names]
        return sum(e.count for e in found), sum(e.self_cpu_time_total for e in found) / 1e3

    launches, launch_ms = total(("cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx"))
    syncs, sync_ms = total(("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize"))
    copies, copy_ms = total(("cudaMemcpyAsync",))
    by_cpu = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[: args.top]
    by_device = sorted(kernels, key=_device_us, reverse=True)[: args.top]
    return {
        "recipe": recipe, "profiled_steps": args.active,
        # Shapes first seen in the profiled steps: kernels planned per shape (cuDNN attention) are planned again for each.
        "new_widths_in_profiled_steps": len(set(widths[args.skip:args.skip + args.active]) - set(widths[: args.skip])),
        "distinct_widths": len(set(widths)), "wall_ms_per_step": 1e3 * wall_s / args.active,
        "device_busy_ms_per_step": 1e3 * device_s / args.active, "device_busy_share": device_s / wall_s if args.device == "cuda" else None,
        "kernel_launches_per_step": launches / args.active, "launch_cpu_ms_per_step": launch_ms / args.active,
        "syncs_per_step": syncs / args.active, "sync_ms_per_step": sync_ms / args.active,
        "memcpy_per_step": copies / args.active, "memcpy_cpu_ms_per_step": copy_ms / args.active,
        "train_tokens_per_s": result.train_tokens / result.train_seconds, "torch": torch.__version__,
        "top_cpu": [(e.key, e.count / args.active, e.self_cpu_time_total / 1e3 / args.active) for e in by_cpu],
        "top_device": [(e.key, e.count / args.active, _device_us(e) / 1e3 / args.active) for e in by_device],
    }


def print_summary(s: dict) -> None:
    share = f"{s['device_busy_share']:.0%}" if s["device_busy_share"] is not None else "-"
    print(f"\n== {s['recipe']}: {s['wall_ms_per_step']:.1f} ms a step over {s['profiled_steps']} profiled steps; device busy "
          f"{s['device_busy_ms_per_step']:.1f} ms ({share}); {s['kernel_launches_per_step']:.0f} launches ({s['launch_cpu_ms_per_step']:.1f} ms CPU), "
          f"{s['syncs_per_step']:.0f} syncs ({s['sync_ms_per_step']:.1f} ms), {s['memcpy_per_step']:.0f} memcpy ({s['memcpy_cpu_ms_per_step']:.1f} ms) a step; "
          f"{s['train_tokens_per_s']:.0f} tok/s over the case; {s['new_widths_in_profiled_steps']} batch widths first seen in the "
          f"profiled steps, {s['distinct_widths']} in all", flush=True)
    for title, rows in (("self CPU", s["top_cpu"]), ("kernel", s["top_device"])):
        if rows:
            print(f"   top by {title} time, per step:")
            for key, count, ms in rows:
                print(f"     {ms:8.2f} ms  {count:7.1f}x  {key[:90]}")


def main(argv: list[str] | None = None) -> int:
    from benchmarks.training import prepare

    args = parse_args(argv)
    if args.skip < 1 or args.active < 1 or args.skip + args.active > args.steps:
        raise SystemExit(f"need 1 <= --skip, 1 <= --active and --skip + --active <= --steps; got {args.skip}, {args.active}, {args.steps}")
    recipes = [r for r in args.recipes.split(",") if r]
    work = Path(tempfile.mkdtemp(prefix="xstilts-profile-"))
    if len(recipes) == 1:
        prepare(work, args.shape, [args.task], 512, 64)
        summaries = [profile_case(args, recipes[0], work)]
        print_summary(summaries[0])
    else:
        # One process per recipe, as in benchmarks/run.py: caches a first recipe warms (cuDNN's
        # attention graphs, the allocator) must not speed up the next.
        summaries = []
        for recipe in recipes:
            out = work / f"{recipe}.json"
            subprocess.run([sys.executable, __file__, *_child_args(args, recipe, out)], check=True)
            summaries += json.loads(out.read_text())["cases"]
    if args.json:
        Path(args.json).write_text(json.dumps({"command": "python benchmarks/profile_step.py " + " ".join(argv or sys.argv[1:]), "cases": summaries}, indent=1))
    return 0


def _child_args(args: argparse.Namespace, recipe: str, out: Path) -> list[str]:
    given = {"--device": args.device, "--shape": args.shape, "--task": args.task, "--steps": args.steps, "--skip": args.skip,
             "--active": args.active, "--batch-size": args.batch_size, "--max-length": args.max_length, "--threads": args.threads,
             "--top": args.top, "--sdpa-backends": args.sdpa_backends, "--recipes": recipe, "--json": out}
    return [str(x) for flag, value in given.items() if value is not None for x in (flag, value)]


if __name__ == "__main__":
    sys.exit(main())
