"""`xstilts plan SPEC.yaml`: the grid's stages, what is left to run, an estimate of its cost, and
every problem that would make it fail (the preflight), each with a fix.

Works offline and downloads nothing: it validates the spec, expands it into stages, reads the
results store if the output folder has one, estimates device-hours from known dataset sizes and a
throughput table, and checks models and data (`xstilts.experiments.preflight`). Exit code 2 when
anything would fail.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("plan", help="validate a spec and show its stages: to run, reused, and estimated GPU-hours")
    p.add_argument("spec", type=Path, help="experiment spec (YAML)")
    p.add_argument("--output-dir", type=Path, help="override the spec's output_dir (where the results store is read)")
    p.add_argument("--gpu", help="device type of the estimate (default: the spec's executor.gpu, else h100; cpu for synthetic models)")
    p.add_argument("--throughput", type=Path, help="a measured throughput table (JSON, same layout as the shipped one)")
    p.add_argument("--list", action="store_true", help="list every stage with its status and estimate")
    p.add_argument("--deep", action="store_true", help="also load each tokenizer and featurise a few examples of every task (slower)")
    add_allow_missing(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from xstilts.experiments.estimate import estimate_plan
    from xstilts.experiments.plan import models_to_make, plan
    from xstilts.experiments.runner import STORE_NAME, classify, gaps_line
    from xstilts.experiments.spec import STAGE_KINDS, load_spec
    from xstilts.experiments.store import ResultsStore
    from xstilts.experiments.throughput import THROUGHPUT_FILE

    spec = load_spec(args.spec)
    if args.output_dir:
        spec = replace(spec, output_dir=str(args.output_dir))
    stages = plan(spec)
    store_path = spec.output_path() / STORE_NAME
    statuses: dict = {}
    with_gaps: list[str] = []
    if store_path.exists():
        with ResultsStore.open_readonly(store_path) as store:
            statuses = store.statuses()
            with_gaps = store.stages_with_gaps(s.id for s in stages)
    state = classify(stages, statuses, "", 0.0, spec.executor.lease_seconds)
    estimate = estimate_plan(stages, spec, args.gpu, args.throughput)
    hours = {s.stage_id: s.hours for s in estimate.stages}

    def bucket(stage_id: str) -> str:
        status = statuses.get(stage_id, ("pending",))[0]
        if status == "done":
            return "reused"
        if state[stage_id] == "held":
            return "running"
        return "failed" if status == "failed" else "to run"

    buckets = {s.id: bucket(s.id) for s in stages}
    conditions, targets = spec.conditions(), spec.target_names()
    print(
        f"{spec.name}: {len(spec.models)} model(s) x {len(conditions)} intermediate condition(s) x "
        f"{len(targets)} target(s) x {len(spec.seeds)} seed(s) -> {len(stages)} stages"
    )
    print(f"output: {spec.output_path()} ({'results store found' if store_path.exists() else 'no results store yet'})")
    columns = ["to run", "reused", "running", "failed"]
    print(f"{'':14}{'stages':>8}" + "".join(f"{c:>9}" for c in columns) + f"   {estimate.device} time to run")
    for kind in STAGE_KINDS:
        of_kind = [s for s in stages if s.kind == kind]
        counts = [sum(1 for s in of_kind if buckets[s.id] == c) for c in columns]
        cost = sum(hours[s.id] or 0.0 for s in of_kind if buckets[s.id] in ("to run", "failed"))
        print(f"{kind:14}{len(of_kind):>8}" + "".join(f"{n:>9}" for n in counts) + f"   {duration(cost)}")
    todo = {s.id for s in stages if buckets[s.id] in ("to run", "failed")}
    total = estimate.hours(todo)
    print(f"{'total':14}{len(stages):>8}" + "".join(f"{sum(1 for b in buckets.values() if b == c):>9}" for c in columns) + f"   {duration(total)}")

    intermediates = [s for s in stages if s.kind == "intermediate"]
    if intermediates:
        children = sum(1 for s in stages if s.parent in {i.id for i in intermediates})
        print(f"each intermediate checkpoint is trained once and shared: {len(intermediates)} serve {children} target/evaluate stages")
    table = args.throughput or THROUGHPUT_FILE
    print(
        f"estimate: {duration(total)} of {estimate.device} time for {len(todo)} stages (throughput table {table}, "
        "uncalibrated unless measured; training counts every epoch, early stopping only shortens it)"
    )
    made = models_to_make(s for s in stages if s.id in todo)
    if made:
        known = [m.minutes for m in made if m.minutes is not None]
        making = f"; making them takes about {duration(sum(known) / 60)} of one CPU core, not in the estimate" if known else ""
        print(f"first made (pretrained) before their stages, {len(made)} built-in model(s) without a copy: "
              f"{', '.join(m.path for m in made)}{making}")
    missing = estimate.missing(todo)
    if missing:
        reasons = sorted({m.missing or "" for m in missing})
        print(f"no estimate for {len(missing)} stage(s): {'; '.join(reasons)}")
    if with_gaps:
        print(gaps_line(len(with_gaps), args.spec))
    if args.list:
        by_id = {s.id: s for s in stages}
        for s in stages:
            h = hours[s.id]
            print(f"  {s.id}  {buckets[s.id]:7}  {'-' if h is None else duration(h):>10}  {s.label}" + (f"  <- {s.parent}" if s.parent in by_id else ""))
    check_before_running(spec, args.allow_missing_languages, deep=args.deep)
    return 0


def add_allow_missing(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-missing-languages", action="store_true",
        help="go on when some target languages have no evaluation data: they are skipped and recorded as missing",
    )


def check_before_running(spec, allow_missing: bool, deep: bool = False) -> None:
    """Print the preflight's table of problems; raise (exit 2) when any would fail the run."""
    from xstilts.experiments.preflight import PreflightError, preflight, print_problems, summary_line

    report = preflight(spec, deep=deep)
    print_problems(report, allow_missing)
    line = summary_line(report, allow_missing)
    if report.blocking(allow_missing):
        raise PreflightError(line)
    print(line)


def duration(hours: float) -> str:
    if hours < 1:
        return f"{hours * 60:.1f} min"
    return f"{hours:,.1f} h"
