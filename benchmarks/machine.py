"""The machine a benchmark ran on, its load, and peak memory measurement."""

from __future__ import annotations

import os
import platform
import resource
import sys
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine_info(device: str = "cpu") -> dict:
    import torch
    import transformers

    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }
    if device == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


class PeakMemory:
    """Peak resident memory (CPU) or peak allocated GPU memory of a block, in MiB.

    On Linux the process's RSS high-water mark is reset on entry (/proc/self/clear_refs), so the
    figure is this block's peak, including what was already resident (interpreter, torch, model).
    Elsewhere it falls back to the process's lifetime peak (getrusage).
    """

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.mib: float | None = None
        self.method = ""

    def __enter__(self) -> PeakMemory:
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            _reset_rss_peak()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()
            self.mib, self.method = torch.cuda.max_memory_allocated() / 2**20, "torch.cuda.max_memory_allocated"
        else:
            self.mib, self.method = rss_peak_mib()


def _reset_rss_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def rss_peak_mib() -> tuple[float, str]:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024, "VmHWM (reset per block)"
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (peak / 2**20 if sys.platform == "darwin" else peak / 1024), "ru_maxrss (process lifetime)"
