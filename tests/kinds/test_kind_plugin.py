"""A kind is one plug-in: a sixth kind, declared and registered here, runs through the schema
check, the model's head, training loss, decoding, scoring and the floor without any other change."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

from xstilts.data.formatting import InputFormat
from xstilts.data.loading import load_examples
from xstilts.data.schema import validate_examples
from xstilts.errors import DataError
from xstilts.evaluation.floors import majority_score
from xstilts.evaluation.predict import evaluate
from xstilts.kinds import KINDS, FeaturizeOptions, KindHandler, ProbeRows, handler_for, register_kind
from xstilts.kinds.base import Batch, Feature, Fields
from xstilts.models.backbone import BackboneOptions
from xstilts.models.model import load_pretrained
from xstilts.tasks import Task, TaskKind
from xstilts.tasks.base import Example, Role

LENGTH = TaskKind("toy_length")
WORDS = "the a river stone cloud green small house walks sees".split()


class LengthHandler(KindHandler):
    """A toy kind: is the sentence short or long? Examples {"id", "text", "words": int}; the
    prediction is a label name ("short" / "long"), decided at `task.labels`' boundary of 4 words."""

    kind = LENGTH
    pooled = True
    fields: ClassVar[Fields] = {"id": str, "text": str, "words": int}

    def example_problem(self, task: Task, example: Example) -> str | None:
        n = len(example["text"].split())
        return None if n == example["words"] else f"field 'words' is {example['words']}, but the text has {n}"

    def featurize(self, examples: Sequence[Example], tokenizer: Any, fmt: InputFormat, task: Task, options: FeaturizeOptions) -> list[Feature]:
        ids = tokenizer([ex["text"] for ex in examples], add_special_tokens=False)["input_ids"]
        return [
            {"input_ids": fmt.single(row[: options.max_length - fmt.single_overhead]), "label": int(ex["words"] > 4), "example_index": i}
            for i, (row, ex) in enumerate(zip(ids, examples))
        ]

    def collate(self, features: Sequence[Feature], pad_id: int) -> Batch:
        from xstilts.kinds.tensors import pad_ids

        ids, mask = pad_ids([f["input_ids"] for f in features], pad_id)
        return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([f["label"] for f in features])}

    def make_head(self, hidden_size: int, task: Task, pooling: str) -> torch.nn.Module:
        from xstilts.kinds.tensors import PooledHead

        return PooledHead(hidden_size, 2, pooling)

    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(logits.float(), batch["labels"])

    def decode(self, logits: list[torch.Tensor], features: Sequence[Feature], examples: Sequence[Example], task: Task, calibration: Any = None) -> list[str]:
        return [task.labels[int(row.argmax())] for row in logits]

    def references(self, examples: Sequence[Example], task: Task) -> list[str]:
        return [task.labels[int(ex["words"] > 4)] for ex in examples]

    def trivial_predictions(self, examples: Sequence[Example], task: Task) -> list[Any]:
        references = self.references(examples, task)
        return [[Counter(references).most_common(1)[0][0]] * len(references)]

    def probe_rows(self, features: Sequence[Feature], task: Task, rng: random.Random) -> ProbeRows:
        return ProbeRows([f["label"] for f in features])


def sentences(n: int) -> list[Example]:
    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 7))) for _ in range(n)]
    return [{"id": str(i), "text": t, "words": len(t.split())} for i, t in enumerate(texts)]


class Generated:
    def describe(self) -> str:
        return "generated toy sentences"

    def load(self, task: Task, split: str, language: str, data_dir: Path | None) -> list[Example]:
        return sentences(12)


TASK = Task(name="toy-length", kind=LENGTH, role=Role.TARGET, languages=("en",), metric="accuracy", source=Generated(), labels=("short", "long"))


@pytest.fixture(scope="module", autouse=True)
def _registered() -> None:
    if LENGTH not in KINDS:  # the registry lives for the process; register once
        register_kind(LengthHandler)


def test_the_kind_is_registered_and_found_by_name():
    assert isinstance(handler_for(TASK), LengthHandler)
    assert TASK.trainable and LENGTH.value == "toy_length"
    assert "toy_length" in KINDS.names()


def test_its_schema_checks_run_when_examples_load():
    assert load_examples(TASK, "validation", "en") == sentences(12)
    bad = [*sentences(2), {"id": "x", "text": "one two", "words": 3}]
    with pytest.raises(DataError, match=r"example 2 field 'words' is 3, but the text has 2"):
        validate_examples(TASK, bad, "memory", "validation", "en")
    with pytest.raises(DataError, match=r"example 0 has no field 'words'"):
        validate_examples(TASK, [{"id": "x", "text": "a"}], "memory", "validation", "en")


def test_its_head_trains_and_its_predictions_decode_and_score(tiny_models):
    torch.manual_seed(0)
    model = load_pretrained(str(tiny_models["encoder"]), BackboneOptions())
    model.add_head(TASK)
    assert model.head_info[TASK.name].kind == "toy_length" and model.head_info[TASK.name].outputs == 2
    handler = handler_for(TASK)
    data = sentences(12)
    features = handler.featurize(data, model.tokenizer, model.input_format, TASK, FeaturizeOptions(max_length=32))
    batch = handler.collate(features, model.input_format.pad_id)
    logits = model(TASK.name, batch)
    assert logits.shape == (12, 2)
    handler.loss(logits, batch).backward()
    result = evaluate(model, TASK, data, batch_size=4)
    assert len(result.predictions) == 12 and set(result.predictions) <= {"short", "long"}
    assert result.references == handler.references(data, TASK)
    assert 0.0 <= result.score <= 100.0
    assert majority_score(TASK, data) == 100.0 * max(Counter(result.references).values()) / 12
