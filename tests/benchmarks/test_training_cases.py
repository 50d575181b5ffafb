"""Benchmark cases run end to end on a micro model: every recipe trains the same number of
examples, counts tokens the same way, and is scored by the same code."""

from __future__ import annotations

import pytest

from benchmarks import shapes
from benchmarks.shapes import Shape
from benchmarks.training import Case, CaseResult, prepare, run_case

MICRO = Shape("micro", "encoder", 1, 32, 2, 64)
MICRO_BIG_PATH = Shape("micro-vocab", "decoder", 1, 32, 2, 64, vocab=700, kv_heads=1)  # built in memory, as the GPU shapes are


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    shapes.SHAPES.update({MICRO.name: MICRO, MICRO_BIG_PATH.name: MICRO_BIG_PATH})
    root = tmp_path_factory.mktemp("bench")
    prepare(root, "micro", ["classification", "qa", "tagging"], n_train=24, n_dev=10)
    yield root
    for name in (MICRO.name, MICRO_BIG_PATH.name):
        shapes.SHAPES.pop(name, None)


def case(work, task: str, recipe: str, shape: str = "micro", steps: int = 3) -> CaseResult:
    return run_case(Case(task=task, recipe=recipe, shape=shape, device="cpu", work_dir=str(work), steps=steps,
                         n_train=24, n_dev=10, learning_rate=1e-3, batch_size=4, eval_batch_size=4))


@pytest.mark.parametrize("task", ["classification", "qa", "tagging"])
def test_recipes_train_the_same_examples_and_pad_as_they_should(work, task):
    results = {r: case(work, task, r) for r in ("xstilts", "hf-padded", "hf-dynamic", "hf-grouped")}
    max_length = {"classification": 128, "qa": 384, "tagging": 128}[task]
    for name, r in results.items():
        # The timing window runs from the first batch's collation to the end of step 3: all 3 steps.
        assert r.window_steps == 3 and r.train_examples == 3 * 4, name
        assert r.train_seconds > 0 and r.eval_seconds > 0
        assert 0 <= r.dev_score <= 100
        assert r.eval_examples == r.lengths["features"] or r.eval_examples >= 10
        assert r.train_peak_mib and r.train_peak_mib > 0
        assert r.steady_seconds and 0 < r.steady_seconds < r.train_seconds, name  # steps 2..3
        assert 0 < r.steady_tokens < r.train_tokens and r.steady_flops and 0 < r.steady_flops < r.train_flops, name
    padded, dynamic = results["hf-padded"], results["hf-dynamic"]
    # The Trainer's sampler sees the same seed: the same batches, only padded differently.
    assert padded.train_tokens == dynamic.train_tokens
    assert padded.train_positions == 12 * max_length
    assert dynamic.train_positions < padded.train_positions
    assert padded.train_flops == dynamic.train_flops  # model FLOPs count real tokens only
    assert results["xstilts"].rates()["train_padding"] < padded.rates()["train_padding"]
    assert {r.head_init for r in results.values()} == {"xstilts"}


def test_the_transformers_model_starts_from_the_head_xstilts_starts_from(work):
    import torch

    from xstilts.kinds import handler_for
    from xstilts.tasks import get_task

    from benchmarks.data import TASKS
    from benchmarks.training import copy_initial_head, hf_model

    for key in ("classification", "tagging", "qa"):
        task = get_task(TASKS[key].task_name)
        model = hf_model(work, MICRO, task)
        assert copy_initial_head(model, task, seed=7) == "xstilts"
        torch.manual_seed(7)
        ours = handler_for(task).make_head(32, task, "first")
        theirs = {"classification": lambda m: m.classifier.out_proj, "tagging": lambda m: m.classifier, "qa": lambda m: m.qa_outputs}[key](model)
        assert torch.equal(theirs.weight, ours.out.weight) and torch.equal(theirs.bias, ours.out.bias)


def test_models_built_in_memory_run_both_recipes(work):
    prepare(work, "micro-vocab", ["classification"], n_train=24, n_dev=10)
    ours, theirs = case(work, "classification", "xstilts", "micro-vocab", 2), case(work, "classification", "hf-padded", "micro-vocab", 2)
    assert ours.train_examples == theirs.train_examples == 8  # steps 1 and 2
    assert ours.rates()["train_mfu"] is None  # no peak on the CPU
    assert theirs.head_init == "transformers"  # a decoder's classification head is one layer, ours two


@pytest.mark.parametrize("task", ["tagging", "qa"])
def test_the_window_counts_the_grouped_trainers_first_batch_its_longest(work, task):
    """LengthGroupedSampler puts the batch holding the longest feature first: the costliest step.
    The window must hold step 1, as it holds xstilts' longest batch wherever that falls."""
    r = case(work, task, "hf-grouped", steps=1)
    assert r.window_steps == 1 and r.train_examples == 4
    assert r.train_positions == 4 * r.lengths["max"]


def test_step_window_opens_at_the_first_collation_and_counts_every_step():
    import time

    from benchmarks.training import StepWindow

    window = StepWindow("cpu")
    with pytest.raises(RuntimeError):
        window.measured()
    before = time.perf_counter()
    window.begin()
    window.add_batch(torch_ones(2, 5))
    window._step_end()
    window.begin()  # later batches leave the start where it is
    window.add_batch(torch_ones(2, 3))
    window._step_end()
    window.add_batch(torch_ones(2, 4))  # collated ahead, never stepped
    m = window.measured()
    assert window.start is not None and window.start[0] >= before and m["train_seconds"] == window.ends[-1][0] - window.start[0]
    assert m["window_steps"] == 2 and m["train_examples"] == 4 and m["train_tokens"] == 16 and m["train_positions"] == 16
    assert m["steady_seconds"] == window.ends[1][0] - window.ends[0][0] and m["steady_tokens"] == 6  # step 2 alone


def test_the_steady_window_starts_after_the_first_tenth_of_steps():
    from benchmarks.training import StepWindow

    window = StepWindow("cpu")
    for step in range(25):
        window.begin()
        window.add_batch(torch_ones(2, step + 1))
        window._step_end()
    m = window.measured()
    assert window.warm_steps == 2
    assert m["steady_seconds"] == window.ends[-1][0] - window.ends[1][0]  # steps 3..25
    assert m["steady_tokens"] == 2 * sum(range(3, 26)) and m["steady_tokens"] < m["train_tokens"]


def test_one_step_has_no_steady_window():
    from benchmarks.training import StepWindow

    window = StepWindow("cpu")
    window.begin()
    window.add_batch(torch_ones(2, 5))
    window._step_end()
    m = window.measured()
    assert m["steady_seconds"] is None and m["steady_tokens"] == 0 and window.steady_lengths() == []


def torch_ones(rows: int, width: int):
    import torch

    return torch.ones(rows, width, dtype=torch.long)


def test_result_rates():
    r = CaseResult(
        case={}, train_seconds=2.0, train_cpu_seconds=1.0, train_examples=10, train_tokens=100, train_positions=400, train_flops=8e12,
        train_peak_mib=1.0, eval_seconds=1.0, eval_cpu_seconds=1.0, eval_examples=5, eval_tokens=50, eval_flops=1e12, eval_peak_mib=1.0,
        dev_score=0.0, dev_metric="m", memory_method="x", parameters=1, matmul_parameters=1, device_name="gpu", peak_flops=1e13,
    )
    rates = r.rates()
    assert rates["train_tokens_per_s"] == 50 and rates["train_tokens_per_cpu_s"] == 100
    assert rates["train_padding"] == 0.75
    assert rates["train_mfu"] == pytest.approx(0.4) and rates["eval_mfu"] == pytest.approx(0.1)
    assert rates["train_mfu_steady"] is None and rates["train_tokens_per_s_steady"] is None  # no steady window recorded
    steady = CaseResult(**{**r.__dict__, "steady_seconds": 1.0, "steady_tokens": 60, "steady_flops": 5e12}).rates()
    assert steady["train_mfu_steady"] == pytest.approx(0.5) and steady["train_tokens_per_s_steady"] == 60


def test_grouped_predictions_come_back_in_dataset_order(work):
    """With length grouping the Trainer's predict visits the dev set grouped by length; put back
    in dataset order, its logits are those of a sequential predict of the same model."""
    import numpy as np
    from transformers import DataCollatorForTokenClassification, TrainingArguments

    from xstilts.tasks import get_task

    from benchmarks.training import _ordered_trainer, hf_model, in_dataset_order

    task = get_task("syn-pos")
    model = hf_model(work, MICRO, task)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(work / "tokenizer"))
    rng = np.random.default_rng(0)
    rows = [{"input_ids": rng.integers(5, 100, size=n).tolist(), "labels": [0] * n} for n in rng.integers(3, 40, size=20)]
    rows = [r | {"attention_mask": [1] * len(r["input_ids"])} for r in rows]
    preds = {}
    for strategy in ("random", "group_by_length"):
        args = TrainingArguments(output_dir=str(work / "p"), per_device_eval_batch_size=4, report_to="none", use_cpu=True,
                                 train_sampling_strategy=strategy, disable_tqdm=True)
        trainer = _ordered_trainer()(model=model, args=args, data_collator=DataCollatorForTokenClassification(tokenizer))
        out = trainer.predict(rows).predictions
        preds[strategy] = (out, trainer.eval_order)
    sequential, order = preds["random"]
    assert order == list(range(20))
    grouped, grouped_order = preds["group_by_length"]
    assert grouped_order != order and sorted(grouped_order) == order  # the grouped sampler reorders
    restored = in_dataset_order(grouped, grouped_order)
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        np.testing.assert_allclose(restored[i, :n], sequential[i, :n], atol=1e-5)
    assert not all(np.allclose(grouped[i, : len(r["input_ids"])], sequential[i, : len(r["input_ids"])], atol=1e-5)
                   for i, r in enumerate(rows) if grouped.shape[1] >= len(r["input_ids"]))


def test_max_length_override_shortens_every_feature(work):
    r = run_case(Case(task="tagging", recipe="hf-grouped", shape="micro", device="cpu", work_dir=str(work), steps=2,
                      n_train=24, n_dev=10, learning_rate=1e-3, batch_size=4, eval_batch_size=4, max_length=12))
    assert r.lengths["max_length"] == 12 and r.lengths["max"] <= 12


def test_a_case_can_be_held_to_some_attention_backends(work):
    r = run_case(Case(task="classification", recipe="xstilts", shape="micro", device="cpu", work_dir=str(work), steps=2,
                      n_train=24, n_dev=10, learning_rate=1e-3, batch_size=4, eval_batch_size=4, sdpa_backends="math"))
    assert r.window_steps == 2
    with pytest.raises(RuntimeError, match="No viable backend for scaled_dot_product_attention"):  # the CPU has no cuDNN attention: the choice is applied
        run_case(Case(task="classification", recipe="xstilts", shape="micro", device="cpu", work_dir=str(work), steps=2,
                      n_train=24, n_dev=10, learning_rate=1e-3, batch_size=4, eval_batch_size=4, sdpa_backends="cudnn"))
    with pytest.raises(RuntimeError, match="No viable backend for scaled_dot_product_attention"):  # the Trainer recipes get the same choice
        run_case(Case(task="classification", recipe="hf-grouped", shape="micro", device="cpu", work_dir=str(work), steps=2,
                      n_train=24, n_dev=10, learning_rate=1e-3, batch_size=4, eval_batch_size=4, sdpa_backends="cudnn"))
    with pytest.raises(ValueError, match="sdpa_backends: unknown backend fast"):
        run_case(Case(task="classification", recipe="xstilts", shape="micro", device="cpu", work_dir=str(work), steps=2,
                      n_train=24, n_dev=10, learning_rate=1e-3, sdpa_backends="math,fast"))


@pytest.mark.parametrize("recipe", ["xstilts", "hf-grouped"])
def test_both_recipes_can_pad_to_a_multiple(work, recipe):
    r = run_case(Case(task="tagging", recipe=recipe, shape="micro", device="cpu", work_dir=str(work), steps=3,
                      n_train=24, n_dev=10, learning_rate=1e-3, batch_size=4, eval_batch_size=4, pad_to_multiple_of=64))
    assert r.train_positions == 3 * 4 * 64  # every tagging batch of this data is under 64 wide
    assert r.train_tokens < r.train_positions
