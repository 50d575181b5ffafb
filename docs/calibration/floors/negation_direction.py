"""Does a pretrained model represent negation in `scr`/`ord` the way it does in English? For 300
propositions, each sentence is embedded plain and negated; per language, the negation shift is the
difference of the two embeddings. Printed per model and layer: the cosine between English's mean
shift and each language's (`mean`), and the mean cosine of the per-proposition shifts (`each`).
Decoders embed with the last token of the sentence followed by </s> (their classification pooling),
encoders with the first token (theirs) and, for both, mean pooling too.

`--pairs`: the same for sentence pairs framed as syn-para frames them (<s> a </s> b </s> for
decoders), the shift being (plain, negated) less (plain, plain), and `sep`: how far a language's
negated pairs sit from its identical pairs along English's mean shift, in pooled standard
deviations (d'). A classifier trained on English reads that direction; d' near 0 in a language
means the pretrained model gives it nothing there to read.

    XSTILTS_CACHE=... python docs/calibration/floors/negation_direction.py [--pairs] [MODEL | NAME=FOLDER ...]
"""
import dataclasses
import random
import sys
from pathlib import Path

import torch
import transformers
from transformers import AutoModel, AutoTokenizer

from xstilts.data.formatting import Family, InputFormat
from xstilts.models.backbone import detect_family
from xstilts.synthetic.files import SyntheticBenchmark
from xstilts.synthetic.pretrain import ensure_pretrained

transformers.logging.set_verbosity_error()
torch.set_num_threads(1)
LANGS = ("en", "clo", "scr", "ord")


def frame(tok, fmt, text, pair_with=None):
    """The ids syn-para's input format `fmt` gives a sentence or a pair (xstilts.data.formatting)."""
    a = tok(text, add_special_tokens=False)["input_ids"]
    if pair_with is None:
        return fmt.single(a)
    return fmt.pair(a, tok(pair_with, add_special_tokens=False)["input_ids"])[0]


def embed(model, tok, texts, pooling, pairs=None):
    fmt = InputFormat.for_tokenizer(tok, detect_family(model.config))
    ids = [frame(tok, fmt, t, None if pairs is None else b) for t, b in zip(texts, pairs or texts)]
    width = max(map(len, ids))
    batch = torch.full((len(ids), width), tok.pad_token_id)
    mask = torch.zeros_like(batch)
    for k, i in enumerate(ids):
        batch[k, : len(i)] = torch.tensor(i)
        mask[k, : len(i)] = 1
    with torch.no_grad():
        states = model(input_ids=batch, attention_mask=mask, output_hidden_states=True).hidden_states
    last = mask.sum(1) - 1
    out = []
    for h in states:
        if pooling == "mean":
            out.append((h * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True))
        elif pooling == "last":
            out.append(h[torch.arange(len(ids)), last])
        else:
            out.append(h[:, 0])
    return out


def main(names, pair_mode=False):
    bench = SyntheticBenchmark()
    world, rng = bench.world, random.Random(4321)
    props = [world.random_proposition(rng, negation_rate=0.0) for _ in range(300)]
    texts = {lang: ([world.realise(p, lang).text for p in props], [world.realise(dataclasses.replace(p, negated=True), lang).text for p in props]) for lang in LANGS}
    for name in names:
        folder = Path(name) if Path(name).is_dir() else ensure_pretrained(name)
        tok, model = AutoTokenizer.from_pretrained(str(folder)), AutoModel.from_pretrained(str(folder)).eval()
        name = names[name] if isinstance(names, dict) else name
        for pooling in (("last", "mean") if detect_family(model.config) is Family.DECODER else ("first", "mean")):
            shifts, bases = {}, {}
            for lang in LANGS:
                plain_texts, negated_texts = texts[lang]
                if pair_mode:
                    plain = embed(model, tok, plain_texts, pooling, pairs=plain_texts)
                    negated = embed(model, tok, plain_texts, pooling, pairs=negated_texts)
                else:
                    plain, negated = embed(model, tok, plain_texts, pooling), embed(model, tok, negated_texts, pooling)
                shifts[lang] = [n - p for p, n in zip(plain, negated)]
                bases[lang] = (plain, negated)
            for layer in range(len(shifts["en"])):
                en = shifts["en"][layer]
                direction = torch.nn.functional.normalize(en.mean(0), dim=0)
                row = []
                for lang in LANGS if pair_mode else LANGS[1:]:
                    d = shifts[lang][layer]
                    mean = torch.nn.functional.cosine_similarity(en.mean(0), d.mean(0), dim=0).item()
                    each = torch.nn.functional.cosine_similarity(en, d, dim=1).mean().item()
                    cell = f"{lang} {mean:+.2f} {each:+.2f}"
                    if pair_mode:
                        same, neg = (x[layer] @ direction for x in bases[lang])
                        spread = ((same.var() + neg.var()) / 2).sqrt().item()
                        cell += f" sep {(neg.mean() - same.mean()).item() / max(spread, 1e-9):+.1f}"
                    row.append(cell)
                print(f"{name:10s} {pooling:5s} layer {layer}  " + "   ".join(row), flush=True)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--pairs"]
    # A MODEL is a shipped model's name or a model folder (a fine-tuned checkpoint's `body/`), shown as NAME=FOLDER.
    models = dict(a.split("=", 1)[::-1] if "=" in a else (a, a) for a in args)
    main(models or {m: m for m in ("encoder", "encoder-1", "encoder-2", "decoder", "decoder-1", "decoder-2")}, pair_mode="--pairs" in sys.argv)
