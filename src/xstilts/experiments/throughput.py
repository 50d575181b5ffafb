"""Throughput tables: tokens per second of training and inference, per device and model size.

`throughput.json` ships with xstilts (its GPU rows are derived from peak FLOP/s, not measured);
`python -m benchmarks.calibrate` writes measured tables of the same layout for
`xstilts plan --throughput FILE`. Read by the spec's validation (the known device names) and by
the estimate (`xstilts.experiments.estimate`).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from xstilts.errors import ConfigError, unknown_name

THROUGHPUT_FILE = Path(__file__).with_name("throughput.json")


@dataclass(frozen=True)
class Throughput:
    device: str
    sizes: dict[str, float]
    train: dict[str, float]
    inference: dict[str, float]
    fp32_factor: float
    stage_overhead_seconds: float = 0.0
    bf16: bool = True  # precision "auto" trains in bf16 here at the table's rates (else float32)
    # Evaluate stages only load a checkpoint and score: no optimizer, accelerator or checkpoint
    # writes, so their fixed cost differs from a training stage's. None: stage_overhead_seconds.
    evaluate_overhead_seconds: float | None = None

    def overhead_seconds(self, stage_kind: str) -> float:
        """The fixed seconds the table adds to a stage of this kind (intermediate, target, evaluate)."""
        if stage_kind == "evaluate" and self.evaluate_overhead_seconds is not None:
            return self.evaluate_overhead_seconds
        return self.stage_overhead_seconds

    def precision_factor(self, precision: str) -> float:
        """Multiplier of the table's rates for float32 weights run with `precision` (a resolved
        training precision; "no" for evaluation): auto resolves to bf16 where the device has it."""
        if precision in ("bf16", "fp16") or (precision == "auto" and self.bf16):
            return 1.0
        return self.fp32_factor

    def tokens_per_second(self, parameters: float, mode: str) -> float:
        table = self.train if mode == "train" else self.inference
        points = sorted((self.sizes[label], value) for label, value in table.items())
        if parameters <= points[0][0]:
            return points[0][1]  # smaller models are overhead-bound: no faster than the smallest row
        for (n0, v0), (n1, v1) in itertools.pairwise(points):
            if parameters <= n1:
                t = (math.log(parameters) - math.log(n0)) / (math.log(n1) - math.log(n0))
                return math.exp(math.log(v0) + t * (math.log(v1) - math.log(v0)))
        n, v = points[-1]
        return v * n / parameters  # cost grows with the parameter count beyond the table


@lru_cache(maxsize=8)
def _read_table(path: str) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: throughput table not found") from None
    except ValueError as err:
        raise ConfigError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or "sizes" not in data or "devices" not in data:
        raise ConfigError(f"{path}: a throughput table needs 'sizes' and 'devices' (see {THROUGHPUT_FILE.name} shipped with xstilts)")
    return data


def gpu_names(path: Path | None = None) -> list[str]:
    return sorted(_read_table(str(path or THROUGHPUT_FILE))["devices"])


def load_throughput(device: str, path: Path | None = None) -> Throughput:
    table_path = str(path or THROUGHPUT_FILE)
    data = _read_table(table_path)
    if device not in data["devices"]:
        raise unknown_name("device in the throughput table", device, data["devices"], where=table_path)
    row = data["devices"][device]
    sizes = {label: float(n) for label, n in data["sizes"].items()}
    for mode in ("train", "inference"):
        for label in row.get(mode, {}):
            if label not in sizes:
                raise ConfigError(f"{table_path}: devices.{device}.{mode}: size {label!r} is not listed under 'sizes'")
    overhead = _seconds(row, "stage_overhead_seconds", 0.0, f"{table_path}: devices.{device}") or 0.0
    evaluate_overhead = _seconds(row, "evaluate_overhead_seconds", None, f"{table_path}: devices.{device}")
    bf16 = row.get("bf16", True)
    if not isinstance(bf16, bool):
        raise ConfigError(f"{table_path}: devices.{device}.bf16: expected true or false, got {bf16!r}")
    return Throughput(device, sizes, row["train"], row["inference"], float(row.get("fp32_factor", 1.0)), overhead, bf16, evaluate_overhead)


def _seconds(row: dict, key: str, default: float | None, where: str) -> float | None:
    value = row.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"{where}.{key}: expected a number of seconds >= 0, got {value!r}")
    return float(value)
