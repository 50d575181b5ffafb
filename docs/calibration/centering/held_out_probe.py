"""Held-out syn-tatoeba retrieval of the shipped synthetic models, per layer, pooling and centering.

The sentences are `xstilts.synthetic.retrieval.held_out_parallel` (300 per language, none of them
in syn-tatoeba's evaluation split), scored by xstilts' own evaluation (`evaluate`, the task's
metric). Poolings: mean, last token, and SGPT's position-weighted mean (Muennighoff 2022: weights
1..n over the real tokens, for causal models), patched in here only. Centering: each side's mean
embedding subtracted before the search (`retrieval_centering`).

    python docs/calibration/centering/held_out_probe.py encoder encoder-1 encoder-2 decoder decoder-1 decoder-2
"""

from __future__ import annotations

import sys

import xstilts.models.model as model_module
from xstilts.evaluation.predict import evaluate
from xstilts.kinds.tensors import pool as xstilts_pool
from xstilts.models.backbone import BackboneOptions
from xstilts.models.model import load_pretrained
from xstilts.synthetic.files import SyntheticBenchmark
from xstilts.synthetic.retrieval import TASK, held_out_parallel
from xstilts.tasks import get_task


def pool(hidden, mask, how):
    if how == "weighted_mean":
        m = mask.to(hidden.dtype)
        w = (m.cumsum(-1) * m).unsqueeze(-1)
        return (hidden * w).sum(1) / w.sum(1).clamp(min=1.0)
    return xstilts_pool(hidden, mask, how)


def main(names: list[str]) -> None:
    model_module.pool = pool  # type: ignore[assignment]
    data = held_out_parallel(SyntheticBenchmark(), 300)
    task = get_task(TASK)
    print("model pooling centering layer " + " ".join(data))
    for name in names:
        model = load_pretrained(f"synthetic:{name}", BackboneOptions())
        for how in ("mean", "last", "weighted_mean"):
            for centering in (False, True):
                for layer in range(model.num_layers + 1):
                    scores = [
                        evaluate(model, task, examples, retrieval_layer=layer, retrieval_pooling=how, language=lang, retrieval_centering=centering).score
                        for lang, examples in data.items()
                    ]
                    print(name, how, "on" if centering else "off", layer, " ".join(f"{v:.1f}" for v in scores), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
