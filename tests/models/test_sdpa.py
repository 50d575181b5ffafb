"""The attention kernels a model's sdpa attention may use (xstilts.models.sdpa)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from xstilts.models.backbone import BackboneOptions
from xstilts.models.model import LM_TASK, load_checkpoint, load_pretrained
from xstilts.models.sdpa import AUTO_ON_CUDA, backends_for, parse_sdpa_backends, sdpa_backends
from xstilts.tasks import get_task

NO_BACKEND = "No viable backend for scaled_dot_product_attention"


def test_choices_parse_and_unknown_names_are_named() -> None:
    assert parse_sdpa_backends("auto") == "auto" and parse_sdpa_backends(" torch ") == "torch"
    assert parse_sdpa_backends("flash, efficient,math") == ("flash", "efficient", "math")
    for bad, named in (("flash,fast", "fast"), ("", "''"), ("cudnn,xformers,fast", "fast, xformers")):
        with pytest.raises(ValueError, match=f"unknown backend {named}"):
            parse_sdpa_backends(bad)


def test_auto_leaves_cudnn_out_on_cuda_only() -> None:
    assert backends_for("auto", "cuda") == AUTO_ON_CUDA and "cudnn" not in AUTO_ON_CUDA
    assert backends_for("auto", "cpu") is None and backends_for("torch", "cuda") is None
    assert backends_for(("math",), "cpu") == ("math",)


def test_auto_on_cuda_sets_torch_s_flags_and_restores_them() -> None:
    before = (torch.backends.cuda.cudnn_sdp_enabled(), torch.backends.cuda.flash_sdp_enabled(), torch.backends.cuda.mem_efficient_sdp_enabled())
    with sdpa_backends("auto", "cuda"):  # only flags: no device is needed to set them
        assert not torch.backends.cuda.cudnn_sdp_enabled()
        assert torch.backends.cuda.flash_sdp_enabled() and torch.backends.cuda.mem_efficient_sdp_enabled() and torch.backends.cuda.math_sdp_enabled()
    assert (torch.backends.cuda.cudnn_sdp_enabled(), torch.backends.cuda.flash_sdp_enabled(), torch.backends.cuda.mem_efficient_sdp_enabled()) == before


def _batch(model) -> dict[str, torch.Tensor]:
    enc = model.tokenizer(["a short one", "and a much longer sentence than that"], padding=True, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def test_a_loaded_model_holds_every_pass_to_its_choice(tiny_models: dict[str, Path], family: str, tmp_path: Path) -> None:
    """The choice reaches the head's forward, the retrieval embedding and the LM loss, from a
    pretrained model and from a checkpoint. The CPU has no cuDNN attention, so a model held to it
    fails: the choice is applied, not only stored."""
    task = get_task("syn-para")
    default = load_pretrained(str(tiny_models[family]), BackboneOptions())
    assert default.sdpa_backends == "auto"
    default.add_head(task)
    batch = _batch(default)
    expected = default.eval()(task.name, batch)
    default.save(tmp_path / "ckpt")
    held = load_checkpoint(tmp_path / "ckpt", BackboneOptions(sdpa_backends="math"), tasks={task.name: task})
    assert held.sdpa_backends == ("math",)
    torch.testing.assert_close(held.eval()(task.name, batch), expected)
    cudnn = load_checkpoint(tmp_path / "ckpt", BackboneOptions(sdpa_backends="cudnn"), tasks={task.name: task})
    with pytest.raises(RuntimeError, match=NO_BACKEND):
        cudnn(task.name, batch)
    with pytest.raises(RuntimeError, match=NO_BACKEND):
        cudnn.embed(batch)
    from xstilts.training.lm import attach_lm_head, lm_batch, lm_features

    attach_lm_head(cudnn, str(tiny_models[family]))
    lm = lm_batch(cudnn, lm_features(cudnn, ["a short one", "and a much longer sentence than that"], 16), mask_rate=0.5)
    with pytest.raises(RuntimeError, match=NO_BACKEND):
        cudnn(LM_TASK, lm)


def test_provenance_records_the_kernels_attention_was_held_to(tiny_models: dict[str, Path]) -> None:
    from xstilts.experiments.stages import model_provenance

    model = load_pretrained(str(tiny_models["encoder"]), BackboneOptions())
    assert model_provenance(model)["sdpa_backends"] == "torch's choice"  # auto on the CPU
    model.sdpa_backends = ("efficient", "math")
    assert model_provenance(model) | {"dtype": None} == {"attn_implementation": "sdpa", "dtype": None, "sdpa_backends": "efficient,math"}
    eager = load_pretrained(str(tiny_models["encoder"]), BackboneOptions(attn_implementation="eager"))
    assert model_provenance(eager)["sdpa_backends"] is None


def test_the_cpu_row_of_the_padding_mask_table_is_what_torch_does() -> None:
    from xstilts.models.sdpa import SDPA_BACKENDS, TAKE_A_PADDING_MASK, sdpa_problem

    q = torch.randn(2, 4, 8, 16)
    mask = torch.ones(2, 1, 8, 8, dtype=torch.bool)
    mask[0, :, :, 5:] = False
    for name in SDPA_BACKENDS:
        try:
            with sdpa_backends((name,), "cpu"):
                torch.nn.functional.scaled_dot_product_attention(q, q, q, attn_mask=mask)
            ran = True
        except RuntimeError:
            ran = False
        assert ran == (name in TAKE_A_PADDING_MASK["cpu"]), name
    assert sdpa_problem(("efficient", "cudnn"), "cpu") and not sdpa_problem(("efficient", "cudnn"), "cuda")
    assert sdpa_problem(("flash",), "cuda") and sdpa_problem(("flash",), "auto") and not sdpa_problem(("flash", "efficient"), "auto")
    assert sdpa_problem("auto", "cuda") is None and sdpa_problem("torch", "cpu") is None
