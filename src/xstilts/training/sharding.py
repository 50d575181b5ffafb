"""Fully sharded data parallel training (torch's FSDP2, `fully_shard`).

accelerate enables FSDP on GPUs only; calling torch's `fully_shard` directly gives the same sharding
on GPUs (NCCL) and on CPU processes (gloo), so this path is tested without a GPU. Each transformer
block (the classes a Hugging Face model lists in `_no_split_modules`) is its own unit; embeddings,
final norms, heads and any LM head share the root unit. Weights and optimizer states are gathered
into full (unsharded) state dicts for checkpoints, so a sharded run's checkpoints load anywhere.
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar, cast

import torch
from torch import nn

from xstilts.errors import ConfigError

_M = TypeVar("_M", bound=nn.Module)


def block_classes(model: nn.Module) -> set[str]:
    """Names of the transformer-block classes declared by the Hugging Face models inside `model`."""
    names: set[str] = set()
    for module in model.modules():
        names |= set(getattr(module, "_no_split_modules", None) or [])
    return names


def shard_copy(model: _M, device: torch.device, where: str = "") -> _M:
    """A sharded copy of `model` on `device`: this process keeps 1/world of every parameter.

    The copy keeps `model` whole on the CPU (restarts and checkpoint writing use it); the device
    only ever holds one block's full weights at a time while sharding."""
    from torch.distributed.device_mesh import init_device_mesh  # lazy: loads torch
    from torch.distributed.fsdp import fully_shard  # lazy: loads torch

    if hasattr(getattr(model, "body", None), "peft_config"):
        raise ConfigError(f"{where}training.fsdp: LoRA and FSDP together are not supported (LoRA models are small enough for DDP)")
    names = block_classes(model)
    blocks = [m for m in model.modules() if type(m).__name__ in names]
    if not blocks:
        raise ConfigError(f"{where}training.fsdp: the model declares no transformer-block classes (_no_split_modules) to shard by")
    sharded = copy.deepcopy(model)
    mesh = init_device_mesh(device.type, (torch.distributed.get_world_size(),))
    for block in (m for m in sharded.modules() if type(m).__name__ in names):
        fully_shard(block, mesh=mesh)
    fully_shard(sharded, mesh=mesh)
    return sharded


def full_model_state(sharded: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer, whole, on the CPU (a collective: every process must call it)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict  # lazy: loads torch

    return cast(dict[str, torch.Tensor], get_model_state_dict(sharded, options=StateDictOptions(full_state_dict=True, cpu_offload=True)))


def full_optimizer_state(sharded: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer state keyed by parameter name, whole, on the CPU (a collective)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict  # lazy: loads torch

    return get_optimizer_state_dict(sharded, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_full_state(sharded: nn.Module, optimizer: torch.optim.Optimizer, weights: dict[str, torch.Tensor], optimizer_state: dict[str, Any]) -> None:
    """Scatter full weights and optimizer state (as saved by the two functions above) into the shards."""
    # lazy: loads torch
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict, set_optimizer_state_dict

    options = StateDictOptions(full_state_dict=True, strict=False)
    set_model_state_dict(sharded, weights, options=options)  # type: ignore[arg-type]  # torch wants dict[str, ValueType] (invariant); a tensor dict is one
    set_optimizer_state_dict(sharded, optimizer, optimizer_state, options=options)


def unwrap_optimizer(optimizer: Any) -> torch.optim.Optimizer:
    """The torch optimizer inside accelerate's AcceleratedOptimizer (itself when not wrapped)."""
    return getattr(optimizer, "optimizer", optimizer)

