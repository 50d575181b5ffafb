"""One worker process of a local pool: `python -m xstilts.experiments.worker --spec-json FILE --root DIR`.

`xstilts run SPEC --workers N` starts N of these; each claims and runs stages until the grid is
finished or blocked. Exit status: 0 when no stage failed in this run, 1 otherwise, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from xstilts.errors import XStiltsError
from xstilts.experiments.plan import plan
from xstilts.experiments.runner import WorkerOptions, resolve_runner, stop_signal_interrupts, work
from xstilts.experiments.spec import spec_from_dict
from xstilts.io import read_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xstilts.experiments.worker")
    parser.add_argument("--spec-json", type=Path, required=True, help="the spec as JSON (written by the parent)")
    parser.add_argument("--root", type=Path, required=True, help="the experiment's output folder")
    parser.add_argument("--stage-runner", default=None, help="module:function running one stage")
    parser.add_argument("--options", default="{}", help="WorkerOptions as JSON")
    parser.add_argument("--label", default="", help="shown in log lines")
    args = parser.parse_args(argv)
    label = f"[{args.label or os.getpid()}] "
    logging.basicConfig(level=logging.INFO, format=f"{label}%(message)s", stream=sys.stderr)
    for noisy in ("transformers", "datasets", "accelerate", "urllib3", "filelock", "httpx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


    log = logging.getLogger("xstilts.worker")

    def notify(stage, event: str) -> None:
        if event != "reused":
            log.info("%s %s: %s", stage.label, stage.id, event)

    try:
        spec = spec_from_dict(read_json(args.spec_json), str(args.spec_json))
        options = WorkerOptions.from_json(json.loads(args.options))
        with stop_signal_interrupts():  # how the pool asks this worker to give its stage back
            summary = work(spec, plan(spec), args.root, resolve_runner(args.stage_runner), options, notify=notify)
    except KeyboardInterrupt:
        return 130
    except XStiltsError as err:
        log.error("error: %s", err)
        return 1
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
