"""Run by test_distributed.py under torchrun: a few DDP training steps, then a weight checksum per rank."""

import json
import random
import sys
from pathlib import Path

from xstilts.evaluation.predict import featurize
from xstilts.kinds import FeaturizeOptions
from xstilts.models.backbone import BackboneOptions
from xstilts.models.model import load_pretrained
from xstilts.synthetic.tasks import GENERATORS
from xstilts.synthetic.world import World
from xstilts.tasks import get_task
from xstilts.training.loop import TaskData, Trainer, TrainSettings

model_dir, work, results = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
model = load_pretrained(str(model_dir), BackboneOptions())
task = get_task("syn-para")
train = GENERATORS["syn-para"](World(0), random.Random(1), 48, ("en",))["en"]
dev = GENERATORS["syn-para"](World(0), random.Random(2), 16, ("en",))["en"]
options = FeaturizeOptions(max_length=40)
data = TaskData(task, featurize(model, task, train, options), dev, featurize(model, task, dev, options))
trainer = Trainer(model, [data], TrainSettings(learning_rate=2e-3, batch_size=4, max_steps=6, eval_every=3, seed=1), work)
outcome = trainer.train()
checksum = sum(float(v.double().sum()) for v in model.state_dict().values())
rank = trainer.accelerator.process_index
# One file per rank: the ranks share stdout, where their lines can interleave.
(results / f"rank{rank}.json").write_text(
    json.dumps({"rank": rank, "processes": trainer.processes, "steps": outcome.steps, "checksum": checksum})
)
