"""`xstilts select`: rank candidate intermediate tasks for a target before training, and check
such rankings against a finished grid.

  xstilts select --model M --target T [--languages a,b] [--candidates a,b,c] [--samples N]
                 [--checkpoints RESULTS | --checkpoints NAME=DIR,...] [--json OUT]
  xstilts select --validate RESULTS [--ranking JSON ...] [--with-checkpoints] [--json OUT]

The estimates and which of them depend on the candidate are described in
`xstilts.selection.pipeline`; validation and the cost comparison in `xstilts.selection.grid`.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

DESCRIPTION = """\
Rank candidate English intermediate tasks for a target task and a model from cheap
transferability estimates on small samples (--samples examples per task), instead of training
every candidate.

Estimates (higher is better; * = candidate-dependent and used in the default rank average):
  similarity*      pretrained model only: similarity of the feature directions that carry the
                   candidate's labels and the target's English labels (task embeddings in one
                   whitened space; cosine of the between-class signal, in [0, 1]).
  logme*           with --checkpoints: LogME of the target's English labels on each candidate's
                   intermediate checkpoint; hscore (shrinkage H-score) and ncc (nearest-centre
                   accuracy) are shown beside it, not ranked.
  alignment_gain*  with --checkpoints and parallel inputs: change of debiased CKA between
                   English and each target language (mean over languages) from the pretrained
                   model to the checkpoint; retrieval_gain (1-NN accuracy change) is shown.
Cross-lingual alignment of the pretrained model, per language, is printed too: it is the same
for every candidate (how much of an English gain can reach a language) and does not change the
ranking. Parallel inputs: the synthetic targets, XNLI, PAWS-X, XQuAD, Tatoeba, BUCC; other
targets have none and alignment is reported unavailable.

Labels per kind: classification = the class of the pooled input; multiple choice = pooled
(context, choice) sequences, correct vs not; tagging = first-sub-word token features with their
tags; span QA = the answer's start token vs another context token; retrieval target = parallel
sentences labelled by meaning. Pooling follows the model's heads (first token for encoders,
last token for decoders; --pooling mean to average), on the last layer (retrieval targets: the
retrieval layer, mean pooling).

Default candidates: the paper's nine (anli ccg commonsenseqa cosmosqa hellaswag mnli qqp squad
sst2); for a synthetic target syn-nli, syn-mc, syn-topic (with --checkpoints: those with a
checkpoint). Each estimate's cost in seconds is printed.

--validate RESULTS compares rankings (computed now for every model and target of the grid, or
read from --ranking files written by --json) with the gains the grid measured (condition minus
'none', mean over languages and seeds): Spearman/Kendall, top-1/top-3 hit rate against chance,
regret; per target, per model family and overall, with the cost of selection against the
grid's recorded stage seconds.
"""


def _csv(value: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "select",
        help="rank candidate intermediate tasks for a target from cheap estimates; --validate against a grid",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", help="model: hub id, local folder, or synthetic:encoder / synthetic:decoder")
    p.add_argument("--target", help="target task (see `xstilts tasks --role target`)")
    p.add_argument("--languages", type=_csv, help="target languages for alignment, comma-separated (default: all but English)")
    p.add_argument("--candidates", type=_csv, help="candidate intermediate tasks, comma-separated (default: see above)")
    p.add_argument("--samples", type=int, default=256, help="examples per task sample (default: 256)")
    p.add_argument(
        "--checkpoints",
        help="intermediate checkpoints: a results store or output folder (its finished intermediate stages of --model), "
        "or NAME=DIR pairs, comma-separated",
    )
    p.add_argument(
        "--method", default="rank_average",
        help="rank_average (default) or one estimate alone: similarity, logme, hscore, ncc, alignment_gain, retrieval_gain",
    )
    p.add_argument("--pooling", default="model", choices=["model", "first", "last", "mean"], help="pooling of sequence features (default: model's)")
    p.add_argument("--layer", type=int, help="hidden_states index to read (default: last layer; retrieval targets: the retrieval layer)")
    p.add_argument("--max-length", type=int, default=256, help="cap on each task's sequence length (default: 256)")
    p.add_argument("--batch-size", type=int, default=32, help="forward-pass batch size (default: 32)")
    p.add_argument("--dims", type=int, help="whitened dimensions of the similarity space (default: min(width, samples/8))")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    p.add_argument("--family", default="auto", choices=["auto", "encoder", "decoder"], help="model family (default: detect)")
    p.add_argument(
        "--attn-implementation", default="auto", choices=["auto", "sdpa", "eager", "flash_attention_2"],
        help="attention implementation (default: auto, sdpa where the model supports it, else eager; flash-attention on a GPU in half precision)",
    )
    p.add_argument(
        "--sdpa-backends", default="auto",
        help="kernels sdpa attention may use: auto (default: on CUDA flash, efficient and math, leaving out cuDNN), torch, or e.g. flash,math",
    )
    p.add_argument(
        "--data-dir", type=Path, help="root of local task data, one sub-folder per task (<dir>/<task>/); a task without one falls "
        "through to XSTILTS_DATA_<TASK>, $XSTILTS_DATA_DIR/<task>/, the datasets cache, the hub (README: Where data comes from)",
    )
    p.add_argument("--validate", type=Path, metavar="RESULTS", help="validate against this grid (results.sqlite or output folder)")
    p.add_argument("--ranking", type=Path, action="append", metavar="JSON", help="with --validate: a ranking written by --json (repeatable)")
    p.add_argument("--with-checkpoints", action="store_true", help="with --validate: also use the grid's own intermediate checkpoints")
    p.add_argument("--spec", help="with --validate: the spec's grid to use (default: the only one in the store)")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the ranking (or the validation) as JSON to OUT")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from xstilts.errors import ConfigError

    if args.validate is not None:
        if args.checkpoints:
            raise ConfigError("--checkpoints is for ranking; with --validate use --with-checkpoints (the grid's own checkpoints)")
        return _run_validate(args)
    if args.ranking or args.with_checkpoints or args.spec:
        raise ConfigError("--ranking, --with-checkpoints and --spec go with --validate RESULTS")
    if not args.model or not args.target:
        raise ConfigError("select needs --model and --target (or --validate RESULTS)")
    return _run_select(args)


def _settings(args: argparse.Namespace):
    from xstilts.selection.pipeline import SelectionSettings

    return SelectionSettings(
        samples=args.samples, seed=args.seed, max_length=args.max_length, batch_size=args.batch_size, pooling=args.pooling,
        layer=args.layer, dims=args.dims, method=args.method, family=args.family,
        attn_implementation=args.attn_implementation, sdpa_backends=args.sdpa_backends,
    )


def _run_select(args: argparse.Namespace) -> int:
    from xstilts.selection.grid import parse_checkpoints
    from xstilts.selection.pipeline import select_intermediate

    checkpoints = parse_checkpoints(args.checkpoints, args.model) if args.checkpoints else None
    result = select_intermediate(
        args.model, args.target, candidates=args.candidates, languages=args.languages, checkpoints=checkpoints,
        settings=_settings(args), data_dir=args.data_dir,
    )
    print_selection(result.to_dict())
    if args.json:
        _write_json(args.json, result.to_dict())
        print(f"ranking written to {args.json}")
    return 0


def _run_validate(args: argparse.Namespace) -> int:
    from xstilts.selection.grid import validation_table

    validation = validation_table(
        args.validate,
        args.ranking,
        spec=args.spec,
        models=[args.model] if args.model else None,
        targets=[args.target] if args.target else None,
        candidates=args.candidates,
        use_checkpoints=args.with_checkpoints,
        settings=_settings(args),
    )
    print_validation(validation)
    if args.json:
        _write_json(args.json, validation.to_dict())
        print(f"validation written to {args.json}")
    return 0


# -- output ------------------------------------------------------------------------------------------
def _clean(value: Any) -> Any:
    """Strict JSON: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _write_json(path: Path, payload: dict) -> None:
    from xstilts.io import atomic_write_json

    atomic_write_json(path, _clean(payload))


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def _console():
    from rich.console import Console

    return Console(width=160)


def print_selection(payload: dict) -> None:
    from rich.table import Table

    console = _console()
    estimators = payload["estimators"]
    title = (
        f"intermediate tasks for {payload['target']} — {payload['model']} ({payload['family']}); "
        f"{payload['representation']}; {payload['settings']['samples']} examples per task; {payload['method']}"
    )
    table = Table(title=title, title_justify="left")
    for col in ("#", "candidate", "score"):
        table.add_column(col, justify="right" if col != "candidate" else "left")
    for name, info in estimators.items():
        table.add_column(f"{name}{'*' if info['in_ranking'] else ''}\nvalue (s)", justify="right")
    table.add_column("cost (s)", justify="right")
    candidate_seconds = payload["costs"]["candidate_seconds"]
    for row in payload["ranking"]:
        cells = [f"{e['value']:.4g} ({e['seconds']:.2f})" for e in row["estimates"].values()]
        cost = candidate_seconds.get(row["intermediate"], math.nan)
        table.add_row(str(row["rank"]), row["intermediate"], _num(row["score"], 2), *cells, _num(cost, 2))
    console.print(table)
    console.print(
        "* in the ranking. Every estimate shown depends on the candidate. (s) = what that estimate costs alone for that "
        "candidate (its features, checkpoint load, computation); cost = the candidate's work, each part counted once."
    )
    if payload["reference_values"]:
        ref = ", ".join(f"{k} {v:.4g}" for k, v in payload["reference_values"].items())
        console.print(f"pretrained model on the same target sample: {ref}")
    _print_alignment(console, payload)
    costs = payload["costs"]
    shared = ", ".join(f"{k} {v:.2f}" for k, v in costs["shared_seconds"].items())
    console.print(f"shared costs (s): {shared}")
    console.print(f"selection took {costs['wall_seconds']:.1f} s (wall)")
    for note in payload["notes"]:
        console.print(f"note: {note}")


def _print_alignment(console, payload: dict) -> None:
    from rich.table import Table

    alignment = payload["alignment"]
    if not alignment["pretrained"]:
        return
    table = Table(title="cross-lingual alignment with English (same for every candidate unless a checkpoint column)", title_justify="left")
    table.add_column("language")
    for col in ("CKA", "retrieval acc", "cosine gap"):
        table.add_column(col, justify="right")
    checkpoints = alignment["checkpoints"]
    for name in checkpoints:
        table.add_column(f"Δ CKA {name}", justify="right")
    for lang, values in alignment["pretrained"].items():
        deltas = [_num(checkpoints[c][lang]["cka"] - values["cka"]) for c in checkpoints]
        table.add_row(lang, _num(values["cka"]), _num(values["retrieval_accuracy"]), _num(values["cosine_gap"]), *deltas)
    console.print(table)


def print_validation(validation) -> None:
    from rich.table import Table

    console = _console()
    ks = validation.report.ks
    per_group = validation.report.per_group
    table = Table(title="selection vs measured gains, per (model, target)", title_justify="left")
    columns = ["model", "family", "target", "n", "spearman", "kendall", *(f"top{k} (chance)" for k in ks), "regret", "random regret", "chosen", "best"]
    for col in columns:
        table.add_column(col, justify="left" if col in ("model", "family", "target", "chosen", "best") else "right")
    for r in per_group.to_dict("records"):
        table.add_row(
            str(r["model"]), str(r.get("family", "")), str(r["target"]), str(r["n_candidates"]), _num(r["spearman"], 2),
            _num(r["kendall"], 2), *(f"{_num(r[f'top{k}'], 2)} ({_num(r[f'top{k}_chance'], 2)})" for k in ks),
            _num(r["regret"], 2), _num(r["random_regret"], 2), str(r["chosen"]), str(r["best"]),
        )
    console.print(table)
    summary = Table(title="aggregates (unweighted means over groups; p = permutation p-value of mean Spearman)", title_justify="left")
    for col in ("over", "groups", "spearman", "p", *(f"top{k} (chance)" for k in ks), "regret", "random regret"):
        summary.add_column(col, justify="left" if col == "over" else "right")
    blocks = [("family", validation.report.by_family), ("target", validation.report.by_target), (None, validation.report.overall)]
    for column, frame in blocks:
        for r in frame.to_dict("records"):
            label = f"{column} {r[column]}" if column else "overall"
            summary.add_row(
                label, str(r["n_groups"]), _num(r["spearman"], 2), _num(r["spearman_p"], 3),
                *(f"{_num(r[f'top{k}'], 2)} ({_num(r[f'top{k}_chance'], 2)})" for k in ks),
                _num(r["regret"], 2), _num(r["random_regret"], 2),
            )
    console.print(summary)
    if len(validation.by_estimator):
        alone = Table(title="each estimate alone as the ranking", title_justify="left")
        for col in ("estimate", "family", "groups", "spearman", "p", "top1 (chance)", "regret", "random regret"):
            alone.add_column(col, justify="left" if col in ("estimate", "family") else "right")
        for r in validation.by_estimator.to_dict("records"):
            alone.add_row(
                r["estimator"], str(r["family"]), str(int(r["n_groups"])), _num(r["spearman"], 2), _num(r["spearman_p"], 3),
                f"{_num(r['top1'], 2)} ({_num(r['top1_chance'], 2)})", _num(r["regret"], 2), _num(r["random_regret"], 2),
            )
        console.print(alone)
    t = validation.totals
    console.print(
        f"cost: selection {t['selection_seconds']:.1f} s vs {t['replaced_grid_seconds']:.1f} s of grid stages it stands in for "
        f"({_num(t['replaced_over_selection'], 1)}x); finished grid stages {t['grid_seconds']:.1f} s"
        + (f"; {t['grid_stages_unfinished']} stages not finished" if t["grid_stages_unfinished"] else "")
        + (f"; {t['grid_stages_without_seconds']} finished stages without recorded seconds" if t["grid_stages_without_seconds"] else "")
    )
    for note in validation.notes:
        console.print(f"note: {note}")
