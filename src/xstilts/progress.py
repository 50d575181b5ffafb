"""Progress bars with ETA for long work; silent under `--quiet` or when disabled."""

from __future__ import annotations

import os
import sys

from tqdm import tqdm


class ProgressBar:
    def __init__(self, total: int, description: str, enabled: bool = True) -> None:
        show = enabled and not os.environ.get("XSTILTS_QUIET")
        self._bar = tqdm(total=total, desc=description, disable=not show, leave=False, dynamic_ncols=True, file=sys.stderr)

    def update(self, n: int = 1, **metrics: float) -> None:
        if metrics:
            self._bar.set_postfix({k: f"{v:.3g}" for k, v in metrics.items()}, refresh=False)
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()


def progress_bar(total: int, description: str, enabled: bool = True) -> ProgressBar:
    return ProgressBar(total, description, enabled)
