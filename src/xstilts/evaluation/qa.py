"""QA post-processing: best answer span per example over all its windows (n-best search)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def postprocess_qa(examples: Sequence[dict], features: Sequence[dict], start_logits: Sequence[np.ndarray], end_logits: Sequence[np.ndarray], n_best: int = 20, max_answer_length: int = 30) -> dict[str, str]:
    best: dict[str, tuple[float, str]] = {}
    for f, s_log, e_log in zip(features, start_logits, end_logits):
        ex = examples[f["example_index"]]
        offsets = f["offset_mapping"]
        starts = np.argsort(s_log)[::-1][:n_best]
        ends = np.argsort(e_log)[::-1][:n_best]
        for s in starts:
            if s >= len(offsets) or offsets[s] is None:
                continue
            for e in ends:
                if e >= len(offsets) or offsets[e] is None or e < s or e - s + 1 > max_answer_length:
                    continue
                score = float(s_log[s] + e_log[e])
                if ex["id"] not in best or score > best[ex["id"]][0]:
                    best[ex["id"]] = (score, ex["context"][offsets[s][0] : offsets[e][1]])
    return {ex["id"]: best.get(ex["id"], (0.0, ""))[1] for ex in examples}
