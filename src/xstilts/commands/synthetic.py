"""`xstilts synthetic`: build the offline benchmark and pretrain its tiny models."""

from __future__ import annotations

import argparse
import json
import shutil


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("synthetic", help="build the synthetic benchmark, pretrain its tiny encoder and decoder")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("info", help="show the benchmark's fingerprint, cache folder and what is built")
    sub.add_parser("build", help="generate every task's data, the pretraining corpus and the tokenizer")
    pre = sub.add_parser("pretrain", help="pretrain the tiny models (cached; shipped copies are used when they match)")
    pre.add_argument("--family", choices=["encoder", "decoder", "both"], default="both")
    pre.add_argument(
        "--model", action="append", metavar="NAME",
        help="pretrain this model instead (encoder, encoder-1, decoder-2, ...: a family's variants differ in pretraining seed); repeatable",
    )
    pre.add_argument("--ship", action="store_true", help="copy the results into the package (xstilts/synthetic/pretrained/) for the demo")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from xstilts.synthetic.files import SyntheticBenchmark
    from xstilts.synthetic.pretrain import SHIPPED_DIR, ensure_pretrained
    from xstilts.synthetic.spec import MODEL_NAMES
    from xstilts.synthetic.tasks import GENERATORS

    bench = SyntheticBenchmark()
    if args.action == "info":
        info = {
            "fingerprint": bench.spec.fingerprint, "pretraining": bench.spec.pretraining_fingerprint, "data": bench.spec.data_fingerprint, "data_cache": str(bench.data_root),
            "cache": str(bench.root),
            "tasks_built": [t for t in GENERATORS if (bench.data_dir(t) / "DONE").exists()],
            "tokenizer": (bench.root / "tokenizer" / "DONE").exists(),
            "pretrained": {m: (bench.model_dir(m) / "DONE").exists() for m in MODEL_NAMES},
            "shipped": {m: (SHIPPED_DIR / bench.spec.pretraining_fingerprint / m / "DONE").exists() for m in MODEL_NAMES},
        }
        print(json.dumps(info, indent=1))
        return 0
    if args.action == "build":
        for task in GENERATORS:
            bench.ensure_task_data(task)
        print(f"synthetic benchmark {bench.spec.fingerprint}: data, corpus and tokenizer in {bench.root} (tokenizer: {bench.tokenizer_dir()})")
        return 0
    names = args.model or (["encoder", "decoder"] if args.family == "both" else [args.family])
    for name in names:
        path = ensure_pretrained(name)
        line = f"synthetic {name}: {path}"
        if args.ship:
            target = SHIPPED_DIR / bench.spec.pretraining_fingerprint / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(path, target)
            line += f" (shipped to {target})"
        print(line)
    return 0
