"""Does zero-shot syn-para fail because each language's pooled features sit elsewhere (a shifted
mean), or because nothing transfers? Accuracy of the calibration grid's syn-para checkpoints (no
intermediate training, seeds 0-2) with the head's input as is, and shifted so that each language's
mean equals English's (test-time mean alignment), on each language's validation split; in brackets
the share of pairs called paraphrases (label 1).

    python docs/calibration/floors/mean_shift.py runs/synthetic-controls/results.sqlite synthetic-calibration syn-para
"""
from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import torch

from xstilts.data.loading import load_examples

from xstilts.kinds import FeaturizeOptions, handler_for
from xstilts.kinds.tensors import pool
from xstilts.models.backbone import BackboneOptions
from xstilts.models.model import load_checkpoint
from xstilts.tasks import get_task

store, spec, target = sys.argv[1], sys.argv[2], sys.argv[3]
task = get_task(target)
handler = handler_for(task)
c = sqlite3.connect(store)
rows = c.execute("select ce.model, ce.seed, st.outcome from stages st join cells ce on ce.stage_id = st.id "
                 "where ce.spec = ? and ce.kind = 'target' and ce.target = ? and ce.condition = 'none' and ce.seed < 3 order by ce.model, ce.seed", (spec, target)).fetchall()
langs = ["en", "clo", "scr", "ord"]
data = {lang: load_examples(task, "validation", lang) for lang in langs}
print("model seed " + " ".join(f"{lang}:raw/shift(pred1%)" for lang in langs))
for model_name, seed, outcome in rows:
    model = load_checkpoint(Path(json.loads(outcome)["checkpoint"]), BackboneOptions(), tasks={task.name: task}).eval()
    head = model.heads[model._key(task.name)]
    pooled, labels = {}, {}
    for lang, examples in data.items():
        feats = handler.featurize(examples, model.tokenizer, model.input_format, task, FeaturizeOptions(max_length=task.hyperparameters.max_length))
        out = []
        for i in range(0, len(feats), 64):
            b = handler.collate(feats[i:i + 64], model.input_format.pad_id)
            with torch.no_grad():
                h = model.body(input_ids=b["input_ids"], attention_mask=b["attention_mask"], **model._segments(b["input_ids"], b["attention_mask"])).last_hidden_state
                out.append(pool(h, b["attention_mask"], head.pooling))
        pooled[lang] = torch.cat(out)
        labels[lang] = torch.tensor([int(ex["label"]) for ex in examples])
    en_mean = pooled["en"].mean(0)
    cells = []
    for lang in langs:
        for shifted in (False, True):
            x = pooled[lang] - pooled[lang].mean(0) + en_mean if shifted else pooled[lang]
            with torch.no_grad():
                logits = head.out(torch.tanh(head.dense(x)))
            pred = logits.argmax(-1)
            acc = 100 * (pred == labels[lang]).float().mean().item()
            cells.append(f"{acc:.1f}({100 * pred.float().mean().item():.0f})")
    print(model_name, seed, " ".join(f"{cells[2*i]}/{cells[2*i+1]}" for i in range(len(langs))), flush=True)
