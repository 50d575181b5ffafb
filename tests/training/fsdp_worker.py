"""Run by test_distributed.py under torchrun: DDP or FSDP training of a tiny model, optionally
interrupted after an evaluation and resumed; each rank writes its final weight checksum."""

import faulthandler
import json
import random
import sys
from pathlib import Path

from xstilts.evaluation.predict import featurize
from xstilts.experiments.distributed import close_process_group, end_process
from xstilts.kinds import FeaturizeOptions
from xstilts.models.backbone import BackboneOptions
from xstilts.models.model import load_pretrained
from xstilts.synthetic.tasks import GENERATORS
from xstilts.synthetic.world import World
from xstilts.tasks import get_task
from xstilts.training.lm import LMData, attach_lm_head, lm_features
from xstilts.training.loop import TaskData, Trainer, TrainSettings

faulthandler.enable()  # a rank that aborts prints its Python stacks (as the stage entry point does)
model_dir, work, results, mode = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
stop_at = int(sys.argv[5]) if len(sys.argv) > 5 else None
task = get_task("syn-para")
train = GENERATORS["syn-para"](World(0), random.Random(1), 48, ("en",))["en"]
dev = GENERATORS["syn-para"](World(0), random.Random(2), 16, ("en",))["en"]
options = FeaturizeOptions(max_length=40)


class Interrupted(Exception):
    pass


def stop(entry: dict) -> None:
    if stop_at is not None and entry["step"] >= stop_at:
        raise Interrupted


def trainer() -> Trainer:
    model = load_pretrained(str(model_dir), BackboneOptions())
    data = TaskData(task, featurize(model, task, train, options), dev, featurize(model, task, dev, options))
    lm = None
    if mode.endswith("-lm"):  # the LM-mixing baseline: the LM head shares the body (and, tied, the embeddings)
        attach_lm_head(model, str(model_dir))
        docs = [World(0).realise(World(0).random_proposition(random.Random(i)), "clo").text for i in range(64)]
        lm = LMData(lm_features(model, docs, 32), ratio=0.4)
    settings = TrainSettings(learning_rate=2e-3, batch_size=4, max_steps=8, eval_every=2, checkpoint_every=2, seed=1, fsdp=mode.startswith("fsdp"))
    return Trainer(model, [data], settings, work, on_event=stop, lm=lm)


try:
    run = trainer()
    outcome = run.train()
except Interrupted:  # on every rank: the main process raises in on_event, the others at the next collective
    end_process(3)
run._sync_whole_model()  # sharded: the main process's whole model gets the trained weights
checksum = sum(float(v.double().sum()) for v in run.model.state_dict().values())
rank = run.accelerator.process_index
close_process_group()  # as the stage entry point does before exit
# One file per rank: the ranks share stdout, where their lines can interleave.
(results / f"rank{rank}.json").write_text(json.dumps({
    "rank": rank, "processes": run.processes, "sharded": run.sharded, "steps": outcome.steps, "task_steps": outcome.task_steps,
    "resumed_from": outcome.resumed_from, "best_step": outcome.best_step, "checksum": checksum,
}))
end_process(0)  # as the stage entry point ends
