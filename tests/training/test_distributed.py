"""Two CPU processes (gloo) under torchrun: DDP and FSDP training, interrupted and resumed."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from xstilts.errors import CheckpointError
from xstilts.models.backbone import BackboneOptions
from xstilts.models.model import load_checkpoint
from xstilts.tasks import get_task

WORKER = Path(__file__).with_name("fsdp_worker.py")

# One xdist worker runs every torchrun launch (`make test` uses --dist loadgroup): the module's
# fixture then runs once, and concurrent launches cannot race for a rendezvous port. Its eight
# launches count against the first test's timeout: 270 s on two busy cores (load 7), so the
# suite's 600 s would fail a slower machine; each launch keeps its own 300 s bound.
pytestmark = [pytest.mark.xdist_group("torchrun"), pytest.mark.timeout(1800)]


def _launch(model: Path, folder: Path, mode: str, stop_at: int | None = None) -> tuple[int, list[dict], str]:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun is not installed beside this Python")
    folder.mkdir(parents=True, exist_ok=True)
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [torchrun, "--standalone", "--nproc_per_node", "2", str(WORKER), str(model), str(folder / "work"), str(folder), mode]
    out = subprocess.run([*command, *([str(stop_at)] if stop_at else [])], capture_output=True, text=True, timeout=300, env=env)
    if stop_at is None:
        assert out.returncode == 0, _failure(out.stderr)
    rows = [json.loads(path.read_text()) for path in sorted(folder.glob("rank*.json"))]
    return out.returncode, rows, out.stderr


def _failure(stderr: str) -> str:
    """What a failed launch printed, ending with its ranks' own error lines: torchrun's summary is
    long enough to push them out of a plain tail, and a CI log shows only the end."""
    marks = ("terminate", "Error", "Traceback", "abort", "Abort")
    own = [line for line in stderr.splitlines() if any(m in line for m in marks) and "error_file" not in line]
    return stderr[-3000:] + "\n--- the ranks' own error lines:\n" + "\n".join(own[-40:])


@pytest.fixture(scope="module")
def runs(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[dict]]]:
    root = tmp_path_factory.mktemp("distributed")
    model = tiny_models["encoder"]
    result = {}
    for mode in ("ddp", "fsdp"):
        result[mode] = (root / mode, _launch(model, root / mode, mode)[1])
        code, rows, stderr = _launch(model, root / f"{mode}-resumed", mode, stop_at=4)
        assert code != 0 and not rows, stderr[-3000:]  # interrupted after the evaluation at step 4 (checkpoint at step 2)
        result[f"{mode}-resumed"] = (root / f"{mode}-resumed", _launch(model, root / f"{mode}-resumed", mode)[1])
        # Two objectives (a task head and the LM-mixing baseline's LM head), on the decoder.
        result[f"{mode}-lm"] = (root / f"{mode}-lm", _launch(tiny_models["decoder"], root / f"{mode}-lm", f"{mode}-lm")[1])
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
