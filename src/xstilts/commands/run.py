"""`xstilts run SPEC.yaml`: run (or resume) an experiment grid and write its report.

Stages already finished are reused; several `xstilts run` processes (or machines sharing the
output folder) can work on one grid at once: each stage is claimed with a lease in the results
store, so none runs twice.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from xstilts.commands.plan import add_allow_missing, check_before_running

log = logging.getLogger(__name__)

EXECUTOR_CHOICES = ["local", "slurm", "submitit-local", "ray"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="run or resume the grid of an experiment spec, then write its report")
    p.add_argument("spec", type=Path, help="experiment spec (YAML)")
    p.add_argument("--output-dir", type=Path, help="override the spec's output_dir")
    p.add_argument("--workers", type=int, help="local worker processes (each with cores/N threads and, with GPUs, one GPU); default: the spec's executor.workers")
    p.add_argument("--executor", choices=EXECUTOR_CHOICES, help="where stages run (default: the spec's executor.kind, local)")
    p.add_argument("--no-wait", action="store_true", help="slurm: submit the job arrays and return (follow with `xstilts results`)")
    p.add_argument("--keep-going", action="store_true", help="continue with other stages when one fails")
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    p.add_argument("--stage-runner", metavar="MODULE:FUNCTION", help="advanced: run stages with this function instead of the built-in pipeline (skips the preflight)")
    p.add_argument("--retry-gaps", action="store_true", help="evaluate again the finished evaluate stages that have missing languages (gaps), e.g. after adding their data; their earlier scores stay until the new ones are recorded")
    add_allow_missing(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from xstilts.errors import ConfigError
    from xstilts.experiments.spec import load_spec

    spec = load_spec(args.spec)
    if args.output_dir:
        spec = replace(spec, output_dir=str(args.output_dir))
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers: must be 1 or more, got {args.workers}")
    if args.stage_runner is None:  # the preflight checks what the built-in pipeline reads
        check_before_running(spec, args.allow_missing_languages)
    if args.retry_gaps:
        from xstilts.experiments.runner import reopen_gaps

        print(f"--retry-gaps: {len(reopen_gaps(spec))} evaluate stage(s) with gaps will be evaluated again")
    return execute(
        spec, keep_going=args.keep_going, report=not args.no_report, executor=args.executor, workers=args.workers,
        run_stage=args.stage_runner, wait=not args.no_wait, spec_file=args.spec,
    )


def execute(
    spec, keep_going: bool = False, report: bool = True, executor: str | None = None, workers: int | None = None,
    run_stage: str | None = None, wait: bool = True, spec_file: Path | str = "SPEC",
) -> int:
    from xstilts.analysis.report import write_report
    from xstilts.errors import XStiltsError
    from xstilts.experiments.executors import run_grid

    def on_stage(stage, event: str) -> None:
        if event in ("running", "done"):
            log.info("stage %s: %s", stage.label, event)
        elif event != "reused":
            log.error("stage %s: %s", stage.label, event)

    summary = run_grid(spec, executor=executor, workers=workers, run_stage=run_stage, stop_on_error=not keep_going, wait=wait, notify=on_stage)
    line = (
        f"{len(summary.ran)} stages run, {len(summary.reused)} reused, {len(summary.failed)} failed, "
        f"{len(summary.blocked)} blocked, {len(summary.waiting)} waiting, in {summary.seconds:.0f}s; results: {summary.store}"
    )
    if not wait and summary.waiting:
        line += "; jobs submitted: follow them with `xstilts results SPEC`"
    finished = not summary.waiting and not summary.blocked and not summary.failed
    if report and (finished or summary.ran or summary.reused):
        try:
            paths = write_report(summary.store, summary.output_dir / "report", spec=spec.name)
            line += f"; report: {paths.html}"
        except XStiltsError as err:  # e.g. no scores yet: the grid's state is what this command reports
            log.error("report not written: %s", err)
    print(line)
    with_gaps = evaluations_with_gaps(spec, summary.store)
    if with_gaps:
        from xstilts.experiments.runner import gaps_line

        print(gaps_line(with_gaps, spec_file))
    return 1 if summary.failed else 0


def evaluations_with_gaps(spec, store_path: Path) -> int:
    """How many of the spec's finished evaluate stages have gaps (0 without a store)."""
    from xstilts.experiments.plan import plan
    from xstilts.experiments.store import ResultsStore

    if not Path(store_path).exists():
        return 0
    with ResultsStore.open_readonly(store_path) as store:
        return len(store.stages_with_gaps(s.id for s in plan(spec)))
