"""Running a model over a task's examples and scoring the predictions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from xstilts.data.loading import load_examples
from xstilts.evaluation.metrics import get_metric
from xstilts.evaluation.per_example import per_example_scores
from xstilts.kinds import FeaturizeOptions, handler_for
from xstilts.kinds.base import Feature
from xstilts.kinds.retrieval import centered_by_side
from xstilts.models.model import XStiltsModel
from xstilts.tasks.base import Example, Task


@dataclass
class Evaluation:
    task: str
    scores: dict[str, float]
    primary: str
    predictions: Any
    references: Any
    n_examples: int
    chance: float | None = None
    per_example: list | None = None

    @property
    def score(self) -> float:
        return self.scores[self.primary]


def featurize(model: XStiltsModel, task: Task, examples: Sequence[Example], options: FeaturizeOptions) -> list[Feature]:
    return handler_for(task).featurize(examples, model.tokenizer, model.input_format, task, options)


@torch.no_grad()
def model_outputs(model: XStiltsModel, task: Task, features: Sequence[Feature], batch_size: int, device: torch.device | None = None, retrieval_layer: int | None = None, retrieval_pooling: str = "mean") -> list[torch.Tensor]:
    """Per-feature outputs (logits; sentence embeddings for kinds without a head: retrieval), in feature order.

    Features are batched in order of length so that padding is minimal.
    """
    handler = handler_for(task)
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    order = sorted(range(len(features)), key=lambda i: _length(features[i]))
    outputs: list[torch.Tensor | None] = [None] * len(features)
    pad = model.input_format.pad_id
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        cpu_batch = handler.collate([features[i] for i in idx], pad)
        batch = {k: v.to(device) for k, v in cpu_batch.items()}
        if not handler.trainable:
            out = model.embed(batch, layer=retrieval_layer, pooling=retrieval_pooling)
        else:
            out = model(task.name, batch)
        # One device-to-host copy per batch, not one per feature.
        for i, o in zip(idx, handler.unpad(out.float().cpu(), cpu_batch)):
            outputs[i] = o
    model.train(was_training)
    return outputs  # type: ignore[return-value]


def _calibration(
    model: XStiltsModel,
    task: Task,
    language: str,
    options: FeaturizeOptions,
    batch_size: int,
    retrieval_layer: int | None,
    retrieval_pooling: str,
    data_dir: str | Path | None,
    examples: Sequence[Example] | None,
    retrieval_centering: bool = False,
) -> Any:
    handler = handler_for(task)
    split = handler.calibration_split(task)
    if split is None:
        return None
    if examples is None:

        examples = load_examples(task, split, language, data_dir)
    features = featurize(model, task, examples, options)
    outputs = model_outputs(model, task, features, batch_size, retrieval_layer=retrieval_layer, retrieval_pooling=retrieval_pooling)
    if retrieval_centering:
        outputs = centered_by_side(outputs, features, examples)
    return handler.calibration(outputs, features, examples)


def _length(feature: Feature) -> int:
    ids = feature["input_ids"]
    return max(len(r) for r in ids) if ids and isinstance(ids[0], list) else len(ids)


def evaluate(
    model: XStiltsModel,
    task: Task,
    examples: Sequence[Example],
    features: Sequence[Feature] | None = None,
    batch_size: int = 64,
    options: FeaturizeOptions | None = None,
    retrieval_layer: int | None = None,
    retrieval_pooling: str = "mean",
    language: str = "en",
    *,
    data_dir: str | Path | None = None,
    calibration_examples: Sequence[Example] | None = None,
    retrieval_centering: bool = False,
) -> Evaluation:
    """Predict, decode and score one task in one language.

    Retrieval metrics that tune a decision rule on another split (BUCC's mining threshold, on
    the dev split's gold pairs) get that split embedded by the same model, layer and pooling:
    `calibration_examples` if given, else the task's split loaded for `language` from `data_dir`.
    """
    handler = handler_for(task)
    options = options or FeaturizeOptions(max_length=task.hyperparameters.max_length)
    if features is None:
        features = featurize(model, task, examples, options)
    outputs = model_outputs(model, task, features, batch_size, retrieval_layer=retrieval_layer, retrieval_pooling=retrieval_pooling)
    centering = retrieval_centering and not handler.trainable
    if centering:
        outputs = centered_by_side(outputs, features, examples)
    calibration = _calibration(model, task, language, options, batch_size, retrieval_layer, retrieval_pooling, data_dir, calibration_examples, centering)
    predictions = handler.decode(outputs, features, examples, task, calibration=calibration)
    references = handler.references(examples, task)
    metric = get_metric(task.metric)
    scores = metric(predictions, references, language=language)
    return Evaluation(
        task=task.name,
        scores=scores,
        primary=metric.primary,
        predictions=predictions,
        references=references,
        n_examples=len(references),
        chance=handler.chance(examples, task),
        per_example=per_example_scores(metric, predictions, references, language),
    )
