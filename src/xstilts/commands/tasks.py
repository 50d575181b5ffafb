"""`xstilts tasks`: the table of every known task; `--validate` checks the task and suite declarations."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("tasks", help="list every task: kind, languages, metric, data source")
    p.add_argument("--role", choices=["intermediate", "target"], help="only tasks of this role")
    p.add_argument("--benchmark", help="only tasks of this benchmark (xtreme, xtreme-r, synthetic)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--validate", action="store_true",
        help="check every registered task and suite declaration; print one line per problem, exit 1 if any",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.validate:
        return validate()
    from rich.console import Console
    from rich.table import Table

    from xstilts.tasks import all_tasks

    tasks = all_tasks()
    if args.role:
        tasks = [t for t in tasks if t.role.value == args.role]
    if args.benchmark:
        tasks = [t for t in tasks if args.benchmark in t.benchmarks]
    rows: list[dict[str, Any]] = [
        {
            "name": t.name,
            "role": t.role.value,
            "kind": t.kind.value,
            "languages": list(t.languages_for(args.benchmark)),
            "metric": t.metric,
            "source": t.source.describe(),
            "benchmarks": list(t.benchmarks),
        }
        for t in tasks
    ]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    table = Table(title=f"{len(rows)} tasks")
    for col in ("name", "role", "kind", "langs", "metric", "source"):
        table.add_column(col, overflow="fold")
    for r in rows:
        langs = r["languages"]
        shown = " ".join(langs) if len(langs) <= 8 else " ".join(langs[:8]) + " …"
        table.add_row(r["name"], r["role"], r["kind"], f"{len(langs)}: {shown}", r["metric"], r["source"])
    Console(width=160).print(table)
    return 0


def validate() -> int:
    """Print every inconsistency of the task registry with the suite declarations; 1 if any."""
    from xstilts.evaluation.metrics import METRICS
    from xstilts.evaluation.submission import file_format
    from xstilts.tasks.suites.check import problems

    found = problems(METRICS.names(), file_format)
    for line in found:
        print(line)
    if not found:
        print("every task and suite declaration is consistent")
    return 1 if found else 0
