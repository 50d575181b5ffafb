"""Fit `xstilts plan`'s throughput table to measured stage times, and say how far its estimates
were from them.

    python -m benchmarks.calibrate SPEC --store OUTPUT_DIR [--device cpu] [--out table.json]

Reads the finished stages of a grid's results store (their stored wall-clock seconds), the
stages' token counts from the planner's estimator, and fits for the device, by non-negative least
squares over the stages,

    seconds = overhead of the stage's kind (training or evaluate)
              + training tokens / train rate + inference tokens / inference rate

(the rates multiplied, as the planner does, by each stage's fp32 / LoRA / checkpointing factors).
It prints every stage kind's measured time against the estimate of the table it started from and
of the fitted table (in-sample, and leave-one-out: each stage estimated by a fit without it), and
writes the fitted table (the starting table with the device's row replaced at the grid's model
size) for `xstilts plan SPEC --throughput table.json`.

Stage times measured with several workers on a shared machine include its load: the fit is for
that machine as it was; the table records where it came from.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

TOLERANCE = 0.30  # the goal: estimates within 30% of measured times
LONG_STAGE_SECONDS = 5.0  # stages shorter than this are mostly fixed cost: reported apart


@dataclass(frozen=True)
class Observation:
    stage_id: str
    kind: str
    label: str  # kind/model/condition/target/seed, for the per-stage table
    seconds: float  # measured
    train: float  # training tokens / the stage's train speed factor
    inference: float  # inference tokens / its inference speed factor
    parameters: float
    estimated: float  # seconds, by the starting table


def observations(spec_path: Path, store_dir: Path | None, device: str, table: Path | None, model: str | None = None) -> list[Observation]:
    from xstilts.experiments.estimate import estimate_plan
    from xstilts.experiments.plan import plan
    from xstilts.experiments.runner import STORE_NAME
    from xstilts.experiments.spec import load_spec
    from xstilts.experiments.store import ResultsStore

    spec = load_spec(spec_path)
    if store_dir is not None:
        spec = replace(spec, output_dir=str(store_dir))
    store_path = Path(spec.output_dir) / STORE_NAME
    if not store_path.exists():
        raise SystemExit(f"{store_path}: no results store (run the grid first)")
    stages = [s for s in plan(spec) if model is None or s.model.name == model]
    if not stages:
        raise SystemExit(f"{spec_path}: no model named {model!r} (models: {', '.join(m.name for m in spec.models)})")
    estimates = {e.stage_id: e for e in estimate_plan(stages, spec, device, table).stages}
    rows = {r.id: r for r in ResultsStore(store_path).stages() if r.status == "done" and r.seconds}
    out = []
    for stage in stages:
        row, est = rows.get(stage.id), estimates[stage.id]
        if row is None or est.hours is None or est.parameters is None:
            continue
        out.append(Observation(stage.id, stage.kind, stage.label, float(row.seconds), est.train_tokens / est.train_speed,
                               est.inference_tokens / est.inference_speed, est.parameters, est.hours * 3600))
    if not out:
        raise SystemExit(f"{store_path}: no finished stage of {spec_path} with stored seconds and an estimate")
    return out


@dataclass(frozen=True)
class Fit:
    overhead: float  # seconds per training stage
    train_rate: float  # tokens/s
    inference_rate: float
    evaluate_overhead: float | None = None  # seconds per evaluate stage; None: `overhead`

    def overhead_of(self, kind: str) -> float:
        return self.evaluate_overhead if kind == "evaluate" and self.evaluate_overhead is not None else self.overhead

    def seconds(self, o: Observation) -> float:
        return self.overhead_of(o.kind) + o.train / self.train_rate + o.inference / self.inference_rate


def fit(obs: list[Observation]) -> Fit:
    """Non-negative least squares on the seconds themselves: seconds ~ c_kind + train x (1/a) +
    inference x (1/b), with one fixed cost for training stages and one for evaluate stages (an
    evaluate stage builds no optimizer and writes no checkpoint). Long stages weigh most, which is
    what a grid's total needs (fitting relative errors instead under-predicts when stages of equal
    token counts scatter in time: an estimate can be at most 100% too low but any amount too high)."""
    import numpy as np
    from scipy.optimize import nnls

    evaluates = [o.kind == "evaluate" for o in obs]
    both = any(evaluates) and not all(evaluates)  # else one fixed cost: the other is not observed
    y = np.array([o.seconds for o in obs])
    design = np.array([[float(not e or not both), float(e and both), o.train, o.inference] for o, e in zip(obs, evaluates)])
    scale = design.max(0)
    scale[scale == 0] = 1.0
    coef, _ = nnls(design / scale, y)
    c, c_evaluate, inv_a, inv_b = coef / scale
    # A rate the data cannot pin down (no tokens of that kind, or a zero coefficient) is infinite:
    # report it as a very large rate rather than divide by zero.
    return Fit(float(c), 1.0 / inv_a if inv_a > 0 else 1e12, 1.0 / inv_b if inv_b > 0 else 1e12, float(c_evaluate) if both else None)


def leave_one_out(obs: list[Observation]) -> list[float]:
    return [fit(obs[:i] + obs[i + 1 :]).seconds(o) if len(obs) > 3 else float("nan") for i, o in enumerate(obs)]


def summary(obs: list[Observation], predicted: list[float]) -> dict:
    ratios = [p / o.seconds for p, o in zip(predicted, obs)]
    within = [abs(r - 1) <= TOLERANCE for r in ratios]
    long = [w for w, o in zip(within, obs) if o.seconds >= LONG_STAGE_SECONDS]
    by_kind = {}
    for kind in dict.fromkeys(o.kind for o in obs):
        pairs = [(p, o) for p, o in zip(predicted, obs) if o.kind == kind]
        measured, estimated = sum(o.seconds for _, o in pairs), sum(p for p, _ in pairs)
        by_kind[kind] = {"stages": len(pairs), "measured_s": round(measured, 1), "estimated_s": round(estimated, 1), "ratio": round(estimated / measured, 3)}
    total_m, total_e = sum(o.seconds for o in obs), sum(predicted)
    return {
        "by_kind": by_kind,
        "total": {"stages": len(obs), "measured_s": round(total_m, 1), "estimated_s": round(total_e, 1), "ratio": round(total_e / total_m, 3)},
        "stage_ratio_median": round(statistics.median(ratios), 3),
        "stages_within_30pct": round(sum(within) / len(ratios), 3),
        # the share of the grid's measured time spent in stages estimated within 30%
        "time_within_30pct": round(sum(o.seconds for o, w in zip(obs, within) if w) / total_m, 3),
        f"stages_of_{LONG_STAGE_SECONDS:g}s_or_more": len(long),
        f"stages_of_{LONG_STAGE_SECONDS:g}s_or_more_within_30pct": round(sum(long) / len(long), 3) if long else None,
    }


def calibrated_table(base: dict, device: str, parameters: float, result: Fit, note: str) -> dict:
    """`base` with the device's row holding the fitted rates at the grid's model size (other sizes
    of the row scaled by the same factor, so the row keeps its shape) and the fitted overhead."""
    from xstilts.experiments.throughput import Throughput

    table = json.loads(json.dumps(base))
    row = table["devices"].setdefault(device, {"train": {}, "inference": {}, "fp32_factor": 1.0})
    sizes = {k: float(v) for k, v in table["sizes"].items()}
    label = next((k for k, v in sizes.items() if abs(v - parameters) / parameters < 0.05), None)
    if label is None:
        label = f"{parameters / 1e6:.3g}M"
        table["sizes"][label] = parameters
        sizes[label] = parameters
    for mode, rate in (("train", result.train_rate), ("inference", result.inference_rate)):
        old = row.get(mode) or {}
        if old:
            current = Throughput(device, sizes, old, old, 1.0).tokens_per_second(parameters, "train")
            row[mode] = {k: round(v * rate / current, 1) for k, v in old.items()}
        row[mode][label] = round(rate, 1)
    row["stage_overhead_seconds"] = round(result.overhead, 2)
    if result.evaluate_overhead is not None:
        row["evaluate_overhead_seconds"] = round(result.evaluate_overhead, 2)
    row["calibrated"] = note
    return table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.calibrate", description=__doc__.split("\n\n")[0])
    p.add_argument("spec", type=Path)
    p.add_argument("--store", type=Path, default=None, help="the grid's output directory (default: the spec's output_dir)")
    p.add_argument("--device", default="cpu", help="row of the throughput table to fit (default cpu)")
    p.add_argument("--table", type=Path, default=None, help="starting table (default: the one shipped with xstilts)")
    p.add_argument("--model", default=None, help="fit the stages of this model of the spec only (default: all)")
    p.add_argument("--out", type=Path, default=None, help="write the fitted table here")
    p.add_argument("--json", type=Path, default=None, help="write the comparison here")
    args = p.parse_args(argv)

    from xstilts.experiments.throughput import THROUGHPUT_FILE

    obs = observations(args.spec, args.store, args.device, args.table, args.model)
    sizes = {o.parameters for o in obs}
    if max(sizes) > 1.05 * min(sizes):  # the synthetic encoder and decoder differ by 0.5%: one size
        raise SystemExit(f"{args.spec}: the grid has models of {len(sizes)} sizes; calibrate one model size at a time")
    result = fit(obs)
    loo = leave_one_out(obs)
    report = {
        "spec": str(args.spec), "model": args.model, "store": str(args.store), "device": args.device, "load": os.getloadavg(),
        "fit": {"stage_overhead_seconds": round(result.overhead, 2),
                "evaluate_overhead_seconds": None if result.evaluate_overhead is None else round(result.evaluate_overhead, 2),
                "train_tokens_per_s": round(result.train_rate, 1),
                "inference_tokens_per_s": round(result.inference_rate, 1)},
        "before": summary(obs, [o.estimated for o in obs]),
        "after_in_sample": summary(obs, [result.seconds(o) for o in obs]),
        "after_leave_one_out": summary(obs, loo),
        "stages": [
            {"stage": o.label, "measured_s": round(o.seconds, 1), "ratio_before": round(o.estimated / o.seconds, 3),
             "ratio_after": round(result.seconds(o) / o.seconds, 3), "ratio_leave_one_out": round(p / o.seconds, 3)}
            for o, p in zip(obs, loo)
        ],
    }
    print(json.dumps({k: v for k, v in report.items() if k != "stages"}, indent=1))
    for row in report["stages"]:
        print(f"{row['stage']:55s} {row['measured_s']:8.1f}s  estimate/measured: before {row['ratio_before']:6.3f}"
              f"  fitted {row['ratio_after']:5.2f}  leave-one-out {row['ratio_leave_one_out']:5.2f}")
    if args.out:
        base = json.loads((args.table or THROUGHPUT_FILE).read_text())
        note = (f"fitted by benchmarks/calibrate.py to {len(obs)} stages of {args.spec} ({args.store}), "
                f"{dt.datetime.now(dt.UTC):%Y-%m-%d}, load {os.getloadavg()[0]:.1f} at fitting time")
        args.out.write_text(json.dumps(calibrated_table(base, args.device, statistics.median(o.parameters for o in obs), result, note), indent=1))
        print(f"written: {args.out} (use: xstilts plan {args.spec} --throughput {args.out})")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
