"""Which hidden layer the synthetic models embed sentences with for retrieval (syn-tatoeba),
chosen on held-out parallel sentences, never on the evaluation split.

The general default, `num_layers // 2 + 2`, is the layer the paper uses for XLM-R Large (14 of
24) and mBERT (8 of 12). For the 4-layer synthetic models it is the top layer, where retrieval
is near chance. As for a real model, the layer is picked per family once, on the pretrained model,
from parallel data held out of the benchmark: `retrieval_by_layer` scores every layer on
`held_out_parallel` (its own random stream, with every sentence of the evaluation split removed),
and `choose_layer` takes the transformer layer (not the embeddings, index 0) with the best mean
over languages. The scores are made as the synthetic specs score syn-tatoeba: with language-specific
centering (`evaluation.retrieval_centering`), without which the decoders retrieve `scr` and `ord`
at chance from every layer (docs/calibration/centering/). The embeddings are left out because intermediate training hardly moves them: a
retrieval target read from them could not show the effect of any intermediate task. `xstilts.synthetic.spec.RETRIEVAL_LAYERS`
declares the result; a test recomputes it so the two cannot drift.
"""

from __future__ import annotations

from xstilts.evaluation.predict import evaluate
from xstilts.models.backbone import BackboneOptions
from xstilts.models.model import load_pretrained
from xstilts.synthetic.files import SyntheticBenchmark
from xstilts.synthetic.tasks import Example, gen_tatoeba, split_rng
from xstilts.tasks import get_task

TASK = "syn-tatoeba"
HELD_OUT_SPLIT = "held-out-layer-choice"


def held_out_parallel(bench: SyntheticBenchmark, n: int = 300) -> dict[str, list[Example]]:
    """`n` parallel sentences per language in the syn-tatoeba schema (queries in the language,
    English candidates), drawn from a stream of their own; none is a sentence of the evaluation split."""
    languages = tuple(get_task(TASK).languages)
    evaluated = {ex["text"] for ex in bench.load(TASK, "validation", languages[0]) if ex["side"] == "candidate"}
    drawn = gen_tatoeba(bench.world, split_rng(bench.spec.seed, TASK, HELD_OUT_SPLIT), 2 * n + len(evaluated), languages)
    first = drawn[languages[0]]
    kept = {ex["id"] for ex in first if ex["side"] == "candidate" and ex["text"] not in evaluated}
    kept = set(sorted(kept, key=lambda i: int(i.split("-")[1]))[:n])
    if len(kept) < n:
        raise ValueError(f"only {len(kept)} held-out sentences are not in {TASK}'s evaluation split; ask for fewer")
    return {
        lang: [ex for ex in examples if (ex["id"] if ex["side"] == "candidate" else ex["gold"][0]) in kept]
        for lang, examples in drawn.items()
    }


def retrieval_by_layer(model_path: str, n: int = 300, bench: SyntheticBenchmark | None = None, centering: bool = True) -> dict[int, dict[str, float]]:
    """Retrieval accuracy (the task's metric, mean pooling, `centering` as the synthetic specs
    have it) of every hidden layer of a pretrained model, per language, on the held-out parallel
    sentences. Layer 0 is the embeddings."""
    bench = bench or SyntheticBenchmark()
    task = get_task(TASK)
    model = load_pretrained(model_path, BackboneOptions())
    data = held_out_parallel(bench, n)
    return {
        layer: {
            lang: evaluate(model, task, examples, retrieval_layer=layer, language=lang, retrieval_centering=centering).score
            for lang, examples in data.items()
        }
        for layer in range(model.num_layers + 1)
    }


def choose_layer(scores: dict[int, dict[str, float]], lowest: int = 1) -> int:
    """The layer from `lowest` up with the best mean score over languages; the lower layer on a tie."""
    layers = [layer for layer in sorted(scores) if layer >= lowest]
    return max(layers, key=lambda layer: (sum(scores[layer].values()) / len(scores[layer]), -layer))
