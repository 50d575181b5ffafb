"""Fine-tuning and evaluation throughput of one (task, recipe) case, run in a child process.

Recipes, all on the same model weights, features (xstilts' featurisation: the same windows and
labels), hyper-parameters and number of steps:
  xstilts     `xstilts.training.loop.Trainer` with its defaults (dynamic padding, length-grouped
              batches, ...); evaluation with `xstilts.evaluation.predict.model_outputs`.
  hf-padded   the transformers examples' recipe (run_xnli / run_qa / run_ner with
              pad_to_max_length): every feature padded to max_length, `AutoModelFor<Task>` and
              `transformers.Trainer` with default `TrainingArguments` except the shared
              hyper-parameters; evaluation with `Trainer.predict`.
  hf-dynamic  the same Trainer, padding each batch to its longest feature
              (DataCollatorWithPadding / DataCollatorForTokenClassification).
  hf-grouped  hf-dynamic with the Trainer's length grouping (`train_sampling_strategy=
              "group_by_length"`, transformers 5's name for `group_by_length=True`): the strongest
              recipe a careful Trainer user gets by flags, and the headline baseline. With it the
              Trainer also groups its *evaluation* batches by length (LengthGroupedSampler in
              `_get_eval_sampler`), so `predict` returns rows out of dataset order; the recipe
              records the order the sampler gave and puts the predictions back before scoring.
  xstilts-fp32  xstilts with precision "no": on a GPU, separates what bf16 autocast (the default
              there) brings from the rest; on the CPU it is the same as xstilts.
  xstilts-packed  xstilts with padding-free packing (`training.packing`, xstilts.models.packing):
              each batch's features share rows of up to the task's longest feature, each attending
              only to itself (a block-diagonal mask under sdpa); the same examples per step.
Every recipe's dev predictions are decoded and scored by the same xstilts code.

Timing window, the same for every recipe: from the start of the collation of the first training
batch to the end of the last optimizer step (a post-step hook on the torch optimizer; on the
Trainer's side registered by a TrainerCallback), so it holds all N steps with their data loading,
collation, logging and all other per-step overhead; tokens and examples are those of the batches
of steps 1..N. Step 1 must be inside: the Trainer's LengthGroupedSampler always puts the batch
holding the longest feature first (the costliest step: on the tiny tagging task ~5x a typical
one), so a window that starts after step 1 leaves that batch out for the Trainer only.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RECIPES = ("xstilts", "xstilts-fp32", "xstilts-packed", "hf-grouped", "hf-dynamic", "hf-padded")
HF_RECIPES = ("hf-padded", "hf-dynamic", "hf-grouped")


@dataclass(frozen=True)
class Case:
    task: str  # key of benchmarks.data.TASKS
    recipe: str
    shape: str
    device: str
    work_dir: str
    steps: int
    n_train: int
    n_dev: int
    learning_rate: float
    seed: int = 0
    batch_size: int | None = None  # None: the task's
    eval_batch_size: int = 64
    threads: int = 1
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    peak_tflops: float | None = None
    max_length: int | None = None  # None: the task's (benchmarks.data.TASKS)
    # Scaled-dot-product-attention backends of every recipe (xstilts.models.sdpa): None or "auto",
    # xstilts' default (no cuDNN attention on CUDA, whose graph is built again for every new batch
    # shape: benchmarks/README.md, GPU results), which the Trainer recipes get too; "torch", torch's
    # own choice; or a list, "flash,efficient,math".
    sdpa_backends: str | None = None
    # Batches padded to a multiple of this many positions, by both recipes (xstilts' Trainer
    # setting; the Trainer's collator's pad_to_multiple_of); None: to the longest row.
    pad_to_multiple_of: int | None = None

    def effective_max_length(self) -> int:
        from benchmarks.data import TASKS

        return self.max_length or TASKS[self.task].max_length


@dataclass
class CaseResult:
    case: dict
    train_seconds: float  # the window: start of the first training batch's collation to the end of the last optimizer step
    train_cpu_seconds: float  # process CPU time: less sensitive than wall time to other processes' load
    train_examples: int
    train_tokens: int  # non-padding tokens
    train_positions: int  # tokens computed, padding included
    train_flops: float  # model FLOPs of the real tokens
    train_peak_mib: float | None
    eval_seconds: float
    eval_cpu_seconds: float
    eval_examples: int
    eval_tokens: int
    eval_flops: float
    eval_peak_mib: float | None
    dev_score: float
    dev_metric: str
    memory_method: str
    parameters: int
    matmul_parameters: int
    device_name: str
    peak_flops: float | None
    lengths: dict = field(default_factory=dict)
    window_steps: int = 0  # optimizer steps inside the timing window (all of them; steps - 1 in results before 2026-12-04 04:00)
    # The steady window: the same run from the end of its first tenth of steps (at least step 1) to
    # the end, leaving out start-up costs (on a GPU: library handles, allocator growth, kernel
    # selection). For MFU only: it drops the first batch, the Trainer's longest (see the module's
    # docstring), so recipes are compared on the whole window.
    steady_seconds: float | None = None
    steady_tokens: int = 0
    steady_flops: float | None = None
    final_loss: float | None = None  # xstilts: mean of the last 20 steps; transformers: mean of the run
    baseline_rss_mib: float | None = None
    head_init: str = ""  # whose initial head weights: "xstilts" (both recipes start the same) or "transformers"

    def rates(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {
            "train_examples_per_s": self.train_examples / self.train_seconds,
            "train_tokens_per_s": self.train_tokens / self.train_seconds,
            "train_tokens_per_cpu_s": self.train_tokens / self.train_cpu_seconds,
            "train_padding": 1 - self.train_tokens / self.train_positions if self.train_positions else None,
            "eval_examples_per_s": self.eval_examples / self.eval_seconds,
            "eval_tokens_per_s": self.eval_tokens / self.eval_seconds,
            "eval_tokens_per_cpu_s": self.eval_tokens / self.eval_cpu_seconds,
        }
        out["train_mfu"] = self.train_flops / self.train_seconds / self.peak_flops if self.peak_flops else None
        out["train_tokens_per_s_steady"] = self.steady_tokens / self.steady_seconds if self.steady_seconds else None
        out["train_mfu_steady"] = (self.steady_flops / self.steady_seconds / self.peak_flops
                                   if self.steady_seconds and self.steady_flops and self.peak_flops else None)
        out["eval_mfu"] = self.eval_flops / self.eval_seconds / self.peak_flops if self.peak_flops else None
        return out


# -- preparation (parent process) -------------------------------------------------------------------
def prepare(work_dir: Path, shape_name: str, task_keys: list[str], n_train: int, n_dev: int, seed: int = 0) -> None:
    """Tokenizer, random-weight tiny model (tiny shapes only: big ones are built in memory), and
    examples, written once under `work_dir` and read by every case."""
    from xstilts.io import write_jsonl

    from benchmarks.data import data_file, make_examples, tokenizer_corpus
    from benchmarks.shapes import SHAPES, model_config

    work_dir.mkdir(parents=True, exist_ok=True)
    tok_dir = work_dir / "tokenizer"
    if not (tok_dir / "tokenizer.json").exists():
        from xstilts.synthetic.tokenizer import train_tokenizer

        corpus = work_dir / "corpus.txt"
        corpus.write_text("\n".join(tokenizer_corpus()))
        train_tokenizer(corpus, 640, tok_dir)
    shape = SHAPES[shape_name]
    model_dir = work_dir / f"model-{shape_name}"
    if shape.vocab is None and not (model_dir / "config.json").exists():
        import torch
        from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
        torch.manual_seed(seed)
        cls = AutoModelForMaskedLM if shape.family == "encoder" else AutoModelForCausalLM
        model = cls.from_config(model_config(shape, tokenizer))
        model.save_pretrained(str(model_dir), safe_serialization=True)
        tokenizer.save_pretrained(str(model_dir))
    for key in task_keys:
        for split, n in (("train", n_train), ("dev", n_dev)):
            path = work_dir / "data" / data_file(key, split, n)
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                write_jsonl(path, make_examples(key, split, n, seed))


# -- one case (child process) -----------------------------------------------------------------------
def run_case(case: Case) -> CaseResult:
    from xstilts.models.sdpa import parse_sdpa_backends, sdpa_backends

    try:
        choice = parse_sdpa_backends(case.sdpa_backends or "auto")
    except ValueError as err:
        raise ValueError(f"sdpa_backends: {err}") from None
    # The Trainer recipes run inside this; xstilts' model applies the same choice to its own passes.
    with sdpa_backends(choice, case.device):
        return _run_case(case, choice)


def _run_case(case: Case, attention: str | tuple[str, ...]) -> CaseResult:
    import torch

    from xstilts.data.formatting import InputFormat
    from xstilts.io import read_jsonl
    from xstilts.kinds import FeaturizeOptions, handler_for
    from xstilts.models.backbone import BackboneOptions, Family, load_tokenizer
    from xstilts.tasks import get_task

    from benchmarks.data import TASKS, data_file
    from benchmarks.machine import rss_peak_mib
    from benchmarks.shapes import SHAPES, peak_flops

    if case.steps < 1:
        raise ValueError(f"steps: the timing window needs at least 1 optimizer step, got {case.steps}")
    torch.set_num_threads(case.threads)
    work = Path(case.work_dir)
    bench = TASKS[case.task]
    task = get_task(bench.task_name)
    shape = SHAPES[case.shape]
    family = Family(shape.family)
    tokenizer = load_tokenizer(str(work / "tokenizer"), family, BackboneOptions())
    fmt = InputFormat.for_tokenizer(tokenizer, family)
    max_length = case.effective_max_length()
    options = FeaturizeOptions(max_length=max_length, stride=min(bench.stride, max_length // 2))
    handler = handler_for(task)
    train_examples = read_jsonl(work / "data" / data_file(case.task, "train", case.n_train))
    dev_examples = read_jsonl(work / "data" / data_file(case.task, "dev", case.n_dev))
    train = handler.featurize(train_examples, tokenizer, fmt, task, options)
    dev = handler.featurize(dev_examples, tokenizer, fmt, task, options)
    device_name = torch.cuda.get_device_name(0) if case.device == "cuda" else "cpu"
    peak = case.peak_tflops * 1e12 if case.peak_tflops else (peak_flops(device_name) if case.device == "cuda" else None)
    baseline_rss = rss_peak_mib()[0]
    if case.recipe in ("xstilts", "xstilts-fp32", "xstilts-packed"):
        model = xstilts_model(work, shape, case.device)
        model.sdpa_backends = attention
        precision = "no" if case.recipe == "xstilts-fp32" else "auto"
        result = _run_xstilts(case, model, task, train, dev, dev_examples, precision=precision, packing=case.recipe == "xstilts-packed")
    elif case.recipe in HF_RECIPES:
        result = _run_hf(case, work, shape, task, train, dev, dev_examples)
    else:
        raise ValueError(f"unknown recipe {case.recipe!r}")
    result.update(device_name=device_name, peak_flops=peak, baseline_rss_mib=baseline_rss, lengths=_length_stats(train, max_length))
    return CaseResult(case=asdict(case), **result)


def xstilts_model(work: Path, shape: Any, device: str = "cpu") -> Any:
    from xstilts.models.backbone import BackboneOptions, Family, load_tokenizer
    from xstilts.models.model import XStiltsModel, load_pretrained

    if shape.vocab is None:
        return load_pretrained(str(work / f"model-{shape.name}"), BackboneOptions())
    import torch
    from transformers import AutoModel

    from benchmarks.shapes import model_config

    family = Family(shape.family)
    tokenizer = load_tokenizer(str(work / "tokenizer"), family, BackboneOptions())
    torch.manual_seed(0)
    with torch.device(device):  # initialising a large model on the GPU takes seconds, not minutes
        body = AutoModel.from_config(model_config(shape, tokenizer), attn_implementation="sdpa")
    if getattr(body, "pooler", None) is not None:
        body.pooler = None
    return XStiltsModel(body, family, tokenizer, base_model=f"random:{shape.name}")


def _length_stats(features: list[dict], max_length: int) -> dict:
    import numpy as np

    lengths = np.array([len(f["input_ids"]) for f in features])
    return {
        "features": len(lengths), "mean": round(float(lengths.mean()), 1), "p50": int(np.percentile(lengths, 50)),
        "p95": int(np.percentile(lengths, 95)), "max": int(lengths.max()), "max_length": max_length,
    }


def _flops(model: Any, lengths: list[int], training: bool) -> tuple[float, int]:
    from benchmarks.shapes import inference_flops, matmul_parameters, training_flops

    n = matmul_parameters(model)
    config = model.body.config if hasattr(model, "body") else model.config
    f = training_flops if training else inference_flops
    return f(n, int(config.num_hidden_layers), int(config.hidden_size), lengths), n


def _timed_flops(model: Any, window: StepWindow) -> tuple[dict, int]:
    """The window's measures with the model FLOPs of its steps and of its steady steps, and the
    parameters in matrix products."""
    timed = window.measured()
    timed["train_flops"], n_matmul = _flops(model, [n for b, _ in window.trained() for n in b], training=True)
    timed["steady_flops"] = _flops(model, window.steady_lengths(), training=True)[0] if timed["steady_seconds"] else None
    return timed, n_matmul


class StepWindow:
    """Wall-clock and CPU time at the start of the first training batch's collation and at the end
    of every optimizer step (a post-step hook on the torch optimizer), and the tokens, positions and
    examples of every batch collated for training, in order. The window runs from that start to the
    end of the last step; it covers the batches of steps 1..N (one batch a step: no gradient
    accumulation in the benchmark)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.start: tuple[float, float] | None = None
        self.ends: list[tuple[float, float]] = []
        self.batches: list[tuple[list[int], int]] = []  # (real lengths, positions) per batch

    def attach(self, optimizer: Any) -> None:
        inner = getattr(optimizer, "optimizer", optimizer)  # accelerate's wrapper steps the torch optimizer
        inner.register_step_post_hook(lambda *_: self._step_end())

    def begin(self) -> None:
        """Called before collating a training batch: the first call opens the window."""
        if self.start is None:
            _sync(self.device)
            self.start = (time.perf_counter(), time.process_time())

    def _step_end(self) -> None:
        _sync(self.device)
        self.ends.append((time.perf_counter(), time.process_time()))

    def add_batch(self, attention_mask: Any, packed_ids: Any = None) -> None:
        """A batch's real lengths, and the positions the backbone computes: its padded rows, or
        the packed rows of a packed batch."""
        mask = attention_mask.reshape(-1, attention_mask.shape[-1])
        positions = mask.numel() if packed_ids is None else packed_ids.numel()
        self.batches.append((mask.sum(-1).tolist(), int(positions)))

    @property
    def steps(self) -> int:
        return len(self.ends)

    def trained(self) -> list[tuple[list[int], int]]:
        """The batches optimizer steps consumed (a loader may collate one ahead of the last step)."""
        return self.batches[: self.steps]

    def measured(self) -> dict:
        if self.start is None or self.steps < 1:
            raise RuntimeError(f"timing window: {self.steps} optimizer step(s) seen{'' if self.start else ', no batch collated'}")
        inside = self.trained()
        lengths = [n for b, _ in inside for n in b]
        (w0, c0), (w1, c1) = self.start, self.ends[-1]
        steady = self.steady_lengths()
        return dict(train_seconds=w1 - w0, train_cpu_seconds=c1 - c0, train_examples=len(lengths), train_tokens=int(sum(lengths)),
                    train_positions=sum(p for _, p in inside), window_steps=self.steps,
                    steady_seconds=w1 - self.ends[self.warm_steps - 1][0] if steady else None, steady_tokens=int(sum(steady)))

    @property
    def warm_steps(self) -> int:
        """Steps before the steady window: the first tenth, at least one."""
        return max(1, self.steps // 10)

    def steady_lengths(self) -> list[int]:
        """Real lengths of the steady window's batches (none with fewer than 2 steps)."""
        if self.steps < 2:
            return []
        return [n for b, _ in self.trained()[self.warm_steps:] for n in b]


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


# -- xstilts --------------------------------------------------------------------------------------
def _run_xstilts(case: Case, model: Any, task: Any, train: list, dev: list, dev_examples: list, precision: str, packing: bool = False) -> dict:
    import torch

    from xstilts.evaluation.metrics import get_metric
    from xstilts.evaluation.predict import model_outputs
    from xstilts.kinds import handler_for
    from xstilts.kinds.tensors import widths_rounded_to
    from xstilts.training.loop import TaskData, Trainer, TrainSettings

    from benchmarks.data import TASKS
    from benchmarks.machine import PeakMemory

    class BenchTrainer(Trainer):
        """The real loop, counting what it computes; no dev evaluation or checkpoint writing
        (the baseline does neither; evaluation is measured separately)."""

        def _collate(self, t: int, idx: list[int]) -> dict:
            window.begin()
            batch = super()._collate(t, idx)
            window.add_batch(batch["attention_mask"], batch.get("packed_input_ids"))
            return batch

        def evaluate_dev(self) -> dict[str, float]:
            return {d.task.name: 0.0 for d in self.data}

        def _save_checkpoint(self, step: int, state: dict) -> None:
            pass

        def _save_best(self, step: int, score: float) -> None:
            pass

    window = StepWindow(case.device)
    bench = TASKS[case.task]
    settings = TrainSettings(
        learning_rate=case.learning_rate, batch_size=case.batch_size or bench.batch_size, max_steps=case.steps,
        warmup_ratio=case.warmup_ratio, weight_decay=case.weight_decay, max_grad_norm=case.max_grad_norm,
        eval_every=case.steps, seed=case.seed, eval_batch_size=case.eval_batch_size, precision=precision, packing=packing,
        pad_to_multiple_of=case.pad_to_multiple_of,
    )
    trainer = BenchTrainer(model, [TaskData(task, train, dev_examples, dev)], settings, Path(case.work_dir) / "runs" / f"{case.task}-{case.recipe}-{os.getpid()}", device=torch.device(case.device))
    window.attach(trainer.optimizer)
    with PeakMemory(case.device) as train_mem:
        outcome = trainer.train()
    timed, n_matmul = _timed_flops(model, window)
    handler = handler_for(task)
    with PeakMemory(case.device) as eval_mem:
        _sync(case.device)
        started, cpu_started = time.perf_counter(), time.process_time()
        with widths_rounded_to(case.pad_to_multiple_of):  # as the Trainer's collator pads its predict batches
            outputs = model_outputs(model, task, dev, case.eval_batch_size)
        _sync(case.device)
        eval_seconds, eval_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    predictions = handler.decode(outputs, dev, dev_examples, task)
    metric = get_metric(task.metric)
    scores = metric(predictions, handler.references(dev_examples, task), language="en")
    dev_lengths = [len(f["input_ids"]) for f in dev]
    return dict(
        **timed, train_peak_mib=train_mem.mib,
        eval_seconds=eval_seconds, eval_cpu_seconds=eval_cpu, eval_examples=len(dev), eval_tokens=sum(dev_lengths),
        eval_flops=_flops(model, dev_lengths, training=False)[0], eval_peak_mib=eval_mem.mib,
        dev_score=scores[metric.primary], dev_metric=f"{task.metric}.{metric.primary}", memory_method=train_mem.method,
        parameters=sum(p.numel() for p in model.parameters()), matmul_parameters=n_matmul,
        final_loss=outcome.history[-1]["loss"] if outcome.history else None, head_init="xstilts",
    )


# -- the Hugging Face recipe ------------------------------------------------------------------------
def hf_model(work: Path, shape: Any, task: Any, device: str = "cpu") -> Any:
    import torch
    from transformers import (
        AutoConfig,
        AutoModelForQuestionAnswering,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        AutoTokenizer,
    )

    from benchmarks.shapes import model_config

    kind = task.kind.value
    cls = {
        "classification": AutoModelForSequenceClassification,
        "span_extraction": AutoModelForQuestionAnswering,
        "tagging": AutoModelForTokenClassification,
    }[kind]
    extra = {} if kind == "span_extraction" else {"num_labels": len(task.labels)}
    if shape.vocab is None:
        path = str(work / f"model-{shape.name}")
        config = AutoConfig.from_pretrained(path, **extra)
        return cls.from_pretrained(path, config=config)
    tokenizer = AutoTokenizer.from_pretrained(str(work / "tokenizer"))
    config = model_config(shape, tokenizer)
    for k, v in extra.items():
        setattr(config, k, v)
    torch.manual_seed(0)
    with torch.device(device):
        return cls.from_config(config, attn_implementation="sdpa")


def copy_initial_head(model: Any, task: Any, seed: int) -> str:
    """Give the transformers model the head weights xstilts' Trainer starts from (it seeds torch
    with the run's seed, then creates the head), so both recipes start from the same model.
    Returns "xstilts", or "transformers" where the heads differ in shape (a decoder's sequence
    classification head is one linear layer, xstilts' pooled head two)."""
    import torch

    from xstilts.kinds import handler_for

    hidden = int(model.config.hidden_size)
    torch.manual_seed(seed)
    ours = handler_for(task).make_head(hidden, task, "first")
    pairs: list[tuple[Any, Any]] = []
    classifier = getattr(model, "classifier", None)
    if task.kind.value == "classification" and classifier is not None and hasattr(classifier, "out_proj"):
        pairs = [(classifier.dense, ours.dense), (classifier.out_proj, ours.out)]
    elif task.kind.value == "tagging":
        target = classifier if isinstance(classifier, torch.nn.Linear) else getattr(model, "score", None)
        pairs = [(target, ours.out)] if isinstance(target, torch.nn.Linear) else []
    elif task.kind.value == "span_extraction":
        pairs = [(model.qa_outputs, ours.out)]
    if not pairs or any(theirs.weight.shape != mine.weight.shape or (theirs.bias is None) != (mine.bias is None) for theirs, mine in pairs):
        return "transformers"
    with torch.no_grad():
        for theirs, mine in pairs:
            theirs.weight.copy_(mine.weight)
            if mine.bias is not None:
                theirs.bias.copy_(mine.bias)
    return "xstilts"


def hf_features(features: list[dict], kind: str, pad_id: int, max_length: int | None) -> list[dict]:
    """The model inputs the HF recipe trains on: the same features, padded to `max_length` (or
    not padded at all, for a padding collator)."""
    out = []
    for f in features:
        ids = list(f["input_ids"])
        n = len(ids)
        width = max_length or n
        row: dict[str, Any] = {"input_ids": ids + [pad_id] * (width - n), "attention_mask": [1] * n + [0] * (width - n)}
        if kind == "classification":
            row["labels"] = f["label"]
        elif kind == "tagging":
            row["labels"] = list(f["labels"]) + [-100] * (width - n)
        else:
            row["start_positions"], row["end_positions"] = f["start"], f["end"]
        out.append(row)
    return out


def _run_hf(case: Case, work: Path, shape: Any, task: Any, train: list, dev: list, dev_examples: list) -> dict:
    import torch
    from transformers import (
        AutoTokenizer,
        DataCollatorForTokenClassification,
        DataCollatorWithPadding,
        TrainerCallback,
        TrainingArguments,
        default_data_collator,
    )

    from xstilts.evaluation.metrics import get_metric
    from xstilts.kinds import handler_for

    from benchmarks.data import TASKS
    from benchmarks.machine import PeakMemory

    bench = TASKS[case.task]
    kind = task.kind.value
    tokenizer = AutoTokenizer.from_pretrained(str(work / "tokenizer"))
    padded = case.recipe == "hf-padded"
    max_length = case.effective_max_length() if padded else None
    if padded:
        inner = default_data_collator
    elif kind == "tagging":
        inner = DataCollatorForTokenClassification(tokenizer, pad_to_multiple_of=case.pad_to_multiple_of)
    else:
        inner = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=case.pad_to_multiple_of)
    window = StepWindow(case.device)
    collecting = [True]

    def collate(rows: list[dict]) -> dict:
        if collecting[0]:
            window.begin()
        batch = inner(rows)
        if collecting[0]:
            window.add_batch(batch["attention_mask"], batch.get("packed_input_ids"))
        return batch

    class Timer(TrainerCallback):
        def on_train_begin(self, args, state, control, optimizer=None, **kw):
            window.attach(optimizer)

    OrderedTrainer = _ordered_trainer()
    model = hf_model(work, shape, task, case.device)
    head_init = copy_initial_head(model, task, case.seed)
    args = TrainingArguments(
        output_dir=str(Path(case.work_dir) / "runs" / f"{case.task}-{case.recipe}-{os.getpid()}"),
        per_device_train_batch_size=case.batch_size or bench.batch_size,
        per_device_eval_batch_size=case.eval_batch_size,
        learning_rate=case.learning_rate,
        max_steps=case.steps,
        warmup_steps=case.warmup_ratio,
        weight_decay=case.weight_decay,
        max_grad_norm=case.max_grad_norm,
        seed=case.seed,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=case.device == "cpu",
        train_sampling_strategy="group_by_length" if case.recipe == "hf-grouped" else "random",
        # bf16 mixed precision where xstilts' precision "auto" uses it: a careful user turns it on.
        bf16=case.device == "cuda" and torch.cuda.is_bf16_supported(),
    )
    trainer = OrderedTrainer(
        model=model, args=args, data_collator=collate,
        train_dataset=hf_features(train, kind, tokenizer.pad_token_id, max_length),
        callbacks=[Timer()],
    )
    with PeakMemory(case.device) as train_mem:
        output = trainer.train()
    collecting[0] = False
    if window.steps != trainer.state.global_step:
        raise RuntimeError(f"timing window: {window.steps} optimizer steps seen, the Trainer took {trainer.state.global_step}")
    timed, n_matmul = _timed_flops(model, window)
    eval_rows = hf_features(dev, kind, tokenizer.pad_token_id, max_length)
    with PeakMemory(case.device) as eval_mem:
        _sync(case.device)
        started, cpu_started = time.perf_counter(), time.process_time()
        prediction = trainer.predict(eval_rows)
        _sync(case.device)
        eval_seconds, eval_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    outputs = _per_feature_logits(in_dataset_order(prediction.predictions, trainer.eval_order), dev, kind)
    handler = handler_for(task)
    predictions = handler.decode(outputs, dev, dev_examples, task)
    metric = get_metric(task.metric)
    scores = metric(predictions, handler.references(dev_examples, task), language="en")
    dev_lengths = [len(f["input_ids"]) for f in dev]
    return dict(
        **timed, train_peak_mib=train_mem.mib,
        eval_seconds=eval_seconds, eval_cpu_seconds=eval_cpu, eval_examples=len(dev), eval_tokens=sum(dev_lengths),
        eval_flops=_flops(model, dev_lengths, training=False)[0], eval_peak_mib=eval_mem.mib,
        dev_score=scores[metric.primary], dev_metric=f"{task.metric}.{metric.primary}", memory_method=train_mem.method,
        parameters=sum(p.numel() for p in model.parameters()), matmul_parameters=n_matmul,
        final_loss=output.training_loss, head_init=head_init,
    )


def _ordered_trainer() -> type:
    from transformers import Trainer

    class OrderedTrainer(Trainer):
        """The Trainer, recording the order its evaluation sampler visits the dataset in (with
        length grouping that is not the dataset's order, and predict returns rows in it)."""

        eval_order: list[int] | None = None

        def _get_eval_sampler(self, eval_dataset: Any) -> Any:
            sampler = super()._get_eval_sampler(eval_dataset)
            self.eval_order = list(sampler) if sampler is not None else list(range(len(eval_dataset)))
            return self.eval_order  # the same order, once: a list is a valid sampler

    return OrderedTrainer


def in_dataset_order(predictions: Any, order: list[int] | None) -> Any:
    """Rows of `predictions` (an array, or a tuple of arrays) put back in dataset order, where row
    j belongs to dataset item order[j]."""
    import numpy as np

    if order is None or order == sorted(order):
        return predictions
    if isinstance(predictions, tuple):
        return tuple(in_dataset_order(p, order) for p in predictions)
    out = np.empty_like(predictions)
    out[np.asarray(order)] = predictions
    return out


def _per_feature_logits(predictions: Any, features: list[dict], kind: str) -> list:
    import numpy as np
    import torch

    if kind == "span_extraction":
        start, end = predictions
        stacked = np.stack([start, end], axis=-1)
        return [torch.from_numpy(stacked[i, : len(f["input_ids"])]).float() for i, f in enumerate(features)]
    if kind == "tagging":
        return [torch.from_numpy(predictions[i, : len(f["input_ids"])]).float() for i, f in enumerate(features)]
    return [torch.from_numpy(row).float() for row in predictions]


def main(argv: list[str]) -> int:
    """`python -m benchmarks.training CASE.json RESULT.json`: run one case in this process."""
    case = Case(**json.loads(Path(argv[0]).read_text()))
    result = run_case(case)
    Path(argv[1]).write_text(json.dumps(asdict(result) | {"rates": result.rates()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
