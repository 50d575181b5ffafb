"""Training stages with several processes (`training.processes`): DDP, or FSDP with `training.fsdp`.

The worker that claimed the stage stays the only process that touches the results store: it starts
`torchrun --standalone --nproc_per_node N -m xstilts.experiments.distributed ...` on this machine
(one process per GPU it was given; gloo processes on the CPU), waits, and records the outcome the
main process wrote. Each process trains on its share of every global batch (`batch_size` stays the
global batch, so a stage's result does not depend on how many processes trained it); the main
process evaluates, writes checkpoints and copies the best one into the stage folder.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

from xstilts.config import to_dict
from xstilts.errors import XStiltsError
from xstilts.experiments.plan import Stage, plan
from xstilts.experiments.processes import is_main_process, worker_pythonpath, world_size
from xstilts.experiments.spec import ExperimentSpec, spec_from_dict
from xstilts.io import atomic_write_json, read_json, write_text_once

log = logging.getLogger(__name__)

TRAINING_KINDS = ("intermediate", "target")


def launched_here(stage_kind: str, processes: int) -> bool:
    """Whether a stage should be started as a multi-process launch from this (single) process."""
    return stage_kind in TRAINING_KINDS and processes > 1 and world_size() == 1


def launch(stage: Stage, root: Path, spec: ExperimentSpec, work_dir: Path) -> dict:
    """Run a training stage in `spec.training.processes` processes; returns its outcome."""
    processes = spec.training.processes
    folder = work_dir / "launch"
    folder.mkdir(parents=True, exist_ok=True)
    spec_file, outcome_file, error_file = folder / "spec.json", folder / "outcome.json", folder / "error.txt"
    outcome_file.unlink(missing_ok=True)
    error_file.unlink(missing_ok=True)
    atomic_write_json(spec_file, to_dict(spec))
    threads = int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or os.cpu_count() or 1
    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, threads // processes)), PYTHONPATH=worker_pythonpath())
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
        "-m", "xstilts.experiments.distributed", "--spec-json", str(spec_file), "--root", str(root),
        "--stage", stage.id, "--outcome", str(outcome_file), "--error", str(error_file),
    ]
    log.info("%s: training with %d processes%s", stage.label, processes, " (fsdp)" if spec.training.fsdp else " (ddp)")
    process = subprocess.Popen(command, env=env)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)  # torchrun passes it on; the stage resumes from its last checkpoint
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        raise
    if code != 0 or not outcome_file.exists():
        reason = error_file.read_text().strip() if error_file.exists() else f"{processes} training processes exited with code {code} (their output is above)"
        raise XStiltsError(f"{stage.label}: {reason}")
    return read_json(outcome_file)


def main(argv: list[str] | None = None) -> int:
    """One process of a multi-process training stage (started by `launch` through torchrun)."""
    parser = argparse.ArgumentParser(prog="python -m xstilts.experiments.distributed")
    parser.add_argument("--spec-json", type=Path, required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--stage", required=True)
    parser.add_argument("--outcome", type=Path, required=True)
    parser.add_argument("--error", type=Path, required=True)
    args = parser.parse_args(argv)
    if not faulthandler.is_enabled():
        faulthandler.enable()  # a rank that aborts in native code (gloo, NCCL) prints its Python stacks to stderr
    logging.basicConfig(level=logging.INFO if is_main_process() else logging.WARNING, format=f"[rank {os.environ.get('RANK', '0')}] %(message)s", stream=sys.stderr)
    for noisy in ("transformers", "datasets", "accelerate", "urllib3", "filelock", "httpx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    from xstilts.experiments.stages import StageContext, choose_device, run_intermediate, run_target  # loads torch

    try:
        spec = spec_from_dict(read_json(args.spec_json), str(args.spec_json))
        stage = next((s for s in plan(spec) if s.id == args.stage), None)
        if stage is None or stage.kind not in TRAINING_KINDS:
            raise XStiltsError(f"--stage {args.stage}: not a training stage of {args.spec_json}")
        ctx = StageContext(spec=spec, root=args.root, device=choose_device(spec))
        outcome = run_intermediate(stage, ctx) if stage.kind == "intermediate" else run_target(stage, ctx)
    except KeyboardInterrupt:
        return 130
    except XStiltsError as err:
        # Every rank, the first to fail winning: torchrun stops the others as soon as one exits, and
        # the main process, stopped before it wrote, would leave the stage's error unsaid.
        write_text_once(args.error, str(err).splitlines()[0])
        log.error("error: %s", err)
        return 1
    close_process_group()  # after the last collective of every rank; not on errors, where a peer may still wait in one
    if is_main_process():
        atomic_write_json(args.outcome, outcome | {"processes": world_size()})
    return 0


def close_process_group() -> None:
    """Tear down this process's process group once training is over. Left to the interpreter's exit, a
    gloo group's threads were seen to abort a rank that had finished ("terminate called without
    an active exception", exit -6, once in a full test run under load), which fails the stage."""
    import torch.distributed as dist  # lazy: loads torch

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def end_process(code: int) -> NoReturn:
    """End a training process with `code`, skipping the interpreter's teardown.

    destroy_process_group() drops the registry's reference to the gloo group, but a DDP or FSDP
    wrapper keeps its own, so the group's threads outlive it into the interpreter's finalisation,
    where releasing their tensors can abort the process (pytorch/pytorch#179291). Ranks aborted
    (SIGABRT) twice in full test runs under load: once after finishing, before the group was
    destroyed explicitly, and once since, at a point its output did not show. Everything a rank
    writes is written and closed before this point, so the teardown has nothing left to do but
    flush the streams."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed, or a broken pipe: nothing left to save
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    end_process(main())
