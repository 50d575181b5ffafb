"""Which kernels `torch.nn.functional.scaled_dot_product_attention` may use (the "sdpa"
attention implementation).

On an H200 with torch 2.11, torch picks cuDNN attention for padded batches, and cuDNN builds an
execution graph for each new batch shape: with dynamic padding nearly every training batch is a
new shape, and the host time of those builds dominated the step (about 115 ms of CPU a step against
~1 ms of attention kernels at the XLM-R Large shape). Held to flash, memory-efficient and math
attention, the same training ran 1.6-3x faster (benchmarks/README.md, "GPU results"). So `auto`
leaves cuDNN attention out on CUDA devices and keeps torch's choice elsewhere.

The choice changes which kernel computes attention, so scores move within floating-point rounding
only, as they do across devices: it is not part of a stage's identity.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

# option names -> torch.nn.attention.SDPBackend members
SDPA_BACKENDS = {"flash": "FLASH_ATTENTION", "efficient": "EFFICIENT_ATTENTION", "cudnn": "CUDNN_ATTENTION", "math": "MATH"}
AUTO_ON_CUDA = ("flash", "efficient", "math")
SDPA_CHOICES_HELP = "auto (on CUDA: flash, efficient, math; elsewhere torch's choice), torch (torch's choice), or a comma-separated subset of " + ", ".join(SDPA_BACKENDS)


def parse_sdpa_backends(text: str) -> str | tuple[str, ...]:
    """`auto`, `torch`, or the backends of a comma-separated list; ValueError naming what is wrong."""
    text = text.strip()
    if text in ("auto", "torch"):
        return text
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = sorted(set(names) - set(SDPA_BACKENDS))
    if unknown or not names:
        raise ValueError(f"unknown backend {', '.join(unknown) or repr(text)}; choose {SDPA_CHOICES_HELP}")
    return names


# Kernels that take the padding mask every padded batch needs, per device (torch 2.11-2.13): on
# CUDA, flash attention takes none; on the CPU, efficient and cuDNN attention do not exist.
TAKE_A_PADDING_MASK = {"cpu": {"flash", "math"}, "cuda": {"efficient", "cudnn", "math"}}


def sdpa_problem(choice: str | tuple[str, ...], device: str) -> str | None:
    """Why `choice` cannot run padded batches on `device` (cpu, cuda, or auto: either), or None."""
    if isinstance(choice, str):
        return None
    for where in ("cpu", "cuda") if device == "auto" else (device,):
        if not TAKE_A_PADDING_MASK[where] & set(choice):
            usable = ", ".join(sorted(TAKE_A_PADDING_MASK[where]))
            place = "CPU" if where == "cpu" else "CUDA"
            return f"{', '.join(choice)} cannot attend over padded batches on {place}; add one of {usable} (math runs everywhere)"
    return None


def checked_sdpa_backends(text: str, device: str) -> str | tuple[str, ...]:
    """The parsed choice; ValueError naming an unknown kernel, or kernels that cannot attend over
    padded batches on `device` (cpu, cuda, or auto: either)."""
    choice = parse_sdpa_backends(text)
    problem = sdpa_problem(choice, device)
    if problem:
        raise ValueError(f"{problem} (device: {device})")
    return choice


def backends_for(choice: str | tuple[str, ...], device_type: str) -> tuple[str, ...] | None:
    """The backends a forward pass on `device_type` is held to; None: torch's own choice."""
    if choice == "torch":
        return None
    if choice == "auto":
        return AUTO_ON_CUDA if device_type == "cuda" else None
    assert isinstance(choice, tuple)
    return choice


@contextlib.contextmanager
def sdpa_backends(choice: str | tuple[str, ...], device_type: str) -> Iterator[None]:
    """Hold the attention of the forward passes inside to `choice`; their backward passes run the
    kernels the forward chose."""
    names = backends_for(choice, device_type)
    if names is None:
        yield
        return
    from torch.nn.attention import SDPBackend, sdpa_kernel  # lazy: loads torch

    with sdpa_kernel([getattr(SDPBackend, SDPA_BACKENDS[n]) for n in names]):
        yield
