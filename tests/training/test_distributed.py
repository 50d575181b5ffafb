"""Two CPU processes (gloo) under torchrun: DDP and FSDP training, interrupted and resumed."""

import json
import math
import os
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from xstilts.errors import CheckpointError
from xstilts.models.backbone import BackboneOptions
from xstilts.models.model import load_checkpoint
from xstilts.tasks import get_task

WORKER = Path(__file__).with_name("fsdp_worker.py")
T = TypeVar("T")

# One xdist worker runs every torchrun launch (`make test` uses --dist loadgroup): the module's
# fixture then runs once, and concurrent launches cannot race for a rendezvous port. Its eight
# launches count against the first test's timeout: 270 s on two busy cores (load 7), so the
# suite's 600 s would fail a slower machine; each launch keeps its own 300 s bound.
pytestmark = [pytest.mark.xdist_group("torchrun"), pytest.mark.timeout(1800)]


class LaunchFailed(Exception):
    """A launch that did not end as its scenario expects; carries what it printed."""

    def __init__(self, stderr: str):
        super().__init__(stderr)
        self.stderr = stderr


def _launch(model: Path, folder: Path, mode: str, stop_at: int | None = None) -> list[dict]:
    """One torchrun launch of the worker; the rows its ranks wrote. A launch with `stop_at` must end
    as the interruption ends it: rank 0 exits 3 after its evaluation at that step, with the
    checkpoint of the step before it written."""
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun is not installed beside this Python")
    folder.mkdir(parents=True, exist_ok=True)
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [torchrun, "--standalone", "--nproc_per_node", "2", str(WORKER), str(model), str(folder / "work"), str(folder), mode]
    out = subprocess.run([*command, *([str(stop_at)] if stop_at else [])], capture_output=True, text=True, timeout=300, env=env)
    rows = [json.loads(path.read_text()) for path in sorted(folder.glob("rank*.json"))]
    if stop_at is None and out.returncode != 0:
        raise LaunchFailed(out.stderr)
    if stop_at is not None:
        latest = folder / "work" / "LATEST"
        interrupted = re.search(r"rank\s*: 0 \(local_rank: 0\)\s*\n\s*exitcode\s*: 3 ", out.stderr) is not None
        if out.returncode == 0 or rows or not interrupted or not latest.exists() or latest.read_text().strip() != f"checkpoint-{stop_at - 2:07d}":
            raise LaunchFailed(out.stderr)
    return rows


def _scenario(name: str, folder: Path, launches: Callable[[Path], T]) -> T:
    """`launches` in `folder`, and once more in a fresh folder if a launch ends otherwise than it
    should. Two CI runs in a row each had one such launch among this module's eight: a rank
    aborted (SIGABRT), and an interrupted launch ended before its first checkpoint; neither
    recurred here in 106 launches, alone or three at once. The repeat keeps such a launch from
    failing what this module tests (two in a row still fail it), and its warning prints the
    ranks' own error lines, an aborted rank's faulthandler stacks among them, for the next look."""
    try:
        return launches(folder)
    except LaunchFailed as first:
        warnings.warn(f"{name}: a torchrun launch failed and the scenario was repeated once:\n{_own_lines(first.stderr)}", stacklevel=1)
    try:
        return launches(folder.with_name(folder.name + "-again"))
    except LaunchFailed as second:
        pytest.fail(f"{name}: a torchrun launch failed twice in a row:\n{_failure(second.stderr)}")


def _own_lines(stderr: str) -> str:
    """The ranks' error lines, with faulthandler's stacks of an aborted rank; the frames of the
    Python tracebacks torch prefixes with the rank (a peer's "connection closed") are left out."""
    marks = ("terminate", "Error", "Traceback", "abort", "Abort", "Fatal", "Thread 0x", "Current thread", "File \"", "exitcode", "Signal")
    own = [line for line in stderr.splitlines() if any(m in line for m in marks) and "error_file" not in line and not re.match(r"\s*\[rank\d+\]:\s+File ", line)]
    return "\n".join(own[-60:])


def _failure(stderr: str) -> str:
    """What a failed launch printed, ending with its ranks' own error lines: torchrun's summary is
    long enough to push them out of a plain tail, and a CI log shows only the end."""
    return stderr[-3000:] + "\n--- the ranks' own error lines:\n" + _own_lines(stderr)


@pytest.fixture(scope="module")
def runs(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[dict]]]:
    root = tmp_path_factory.mktemp("distributed")
    result = {}

    def plain(model: Path, mode: str) -> Callable[[Path], tuple[Path, list[dict]]]:
        return lambda folder: (folder, _launch(model, folder, mode))

    def interrupted_and_resumed(mode: str) -> Callable[[Path], tuple[Path, list[dict]]]:
        def launches(folder: Path) -> tuple[Path, list[dict]]:
            _launch(tiny_models["encoder"], folder, mode, stop_at=4)  # after the evaluation at step 4 (checkpoint at step 2)
            return folder, _launch(tiny_models["encoder"], folder, mode)

        return launches

    for mode in ("ddp", "fsdp"):
        result[mode] = _scenario(mode, root / mode, plain(tiny_models["encoder"], mode))
        result[f"{mode}-resumed"] = _scenario(f"{mode}-resumed", root / f"{mode}-resumed", interrupted_and_resumed(mode))
        # Two objectives (a task head and the LM-mixing baseline's LM head), on the decoder.
        result[f"{mode}-lm"] = _scenario(f"{mode}-lm", root / f"{mode}-lm", plain(tiny_models["decoder"], f"{mode}-lm"))
    return result


@pytest.mark.slow
def test_ddp_keeps_replicas_identical(runs):
    folder, rows = runs["ddp"]
    assert [r["rank"] for r in rows] == [0, 1]
    assert all(r["processes"] == 2 and r["steps"] == 8 and not r["sharded"] for r in rows)
    assert rows[0]["checksum"] == rows[1]["checksum"]  # gradients were averaged across processes
    assert (folder / "work" / "BEST").exists()  # the main process evaluated and saved


@pytest.mark.slow
def test_fsdp_trains_the_same_model_as_ddp(runs):
    ddp, fsdp = runs["ddp"][1][0], runs["fsdp"][1][0]
    assert fsdp["sharded"] and fsdp["steps"] == 8
    assert fsdp["best_step"] == ddp["best_step"]
    # Same arithmetic up to the order of floating-point reductions.
    assert math.isclose(fsdp["checksum"], ddp["checksum"], rel_tol=1e-7)


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
@pytest.mark.slow
def test_an_interrupted_multi_process_run_resumes_exactly(runs, mode):
    uninterrupted, resumed = runs[mode][1], runs[f"{mode}-resumed"][1]
    assert [r["resumed_from"] for r in resumed] == [2, 2]
    # Bit for bit; the whole model is gathered on the main process only when the run is sharded.
    ranks = 1 if mode == "fsdp" else 2
    assert [r["checksum"] for r in resumed[:ranks]] == [r["checksum"] for r in uninterrupted[:ranks]]


@pytest.mark.slow
def test_a_sharded_runs_checkpoints_are_whole_and_load_anywhere(runs):
    work = runs["fsdp"][0] / "work"
    best = work / (work / "BEST").read_text().strip()
    model = load_checkpoint(best, BackboneOptions(), tasks={"syn-para": get_task("syn-para")})
    assert model.has_head("syn-para")
    assert not any(type(p).__name__ == "DTensor" for p in model.parameters())


@pytest.mark.slow
def test_a_sharded_checkpoint_is_refused_by_an_unsharded_resume(runs, tiny_models, tmp_path):
    import random

    from xstilts.evaluation.predict import featurize
    from xstilts.kinds import FeaturizeOptions
    from xstilts.models.model import load_pretrained
    from xstilts.synthetic.tasks import GENERATORS
    from xstilts.synthetic.world import World
    from xstilts.training.loop import TaskData, Trainer, TrainSettings

    work = tmp_path / "work"
    shutil.copytree(runs["fsdp"][0] / "work", work)
    model = load_pretrained(str(tiny_models["encoder"]), BackboneOptions())
    task = get_task("syn-para")
    examples = GENERATORS["syn-para"](World(0), random.Random(1), 8, ("en",))["en"]
    features = featurize(model, task, examples, FeaturizeOptions(max_length=40))
    trainer = Trainer(model, [TaskData(task, features, examples, features)], TrainSettings(batch_size=4, max_steps=16, eval_every=2), work)
    with pytest.raises(CheckpointError, match=r"sharded \(fsdp\) run; resume it with training.fsdp on"):
        trainer.train()


@pytest.mark.slow
def test_steps_that_leave_a_head_unused_train_under_ddp_and_fsdp(runs):
    """Each step trains one objective, so the other head has no gradient: DDP must expect that."""
    ddp, fsdp = runs["ddp-lm"][1], runs["fsdp-lm"][1]
    assert ddp[0]["task_steps"] == fsdp[0]["task_steps"] == {"syn-para": 4, "__lm__": 4}
    assert ddp[0]["checksum"] == ddp[1]["checksum"]
    assert math.isclose(fsdp[0]["checksum"], ddp[0]["checksum"], rel_tol=1e-7)
