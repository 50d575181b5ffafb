"""What would make a grid fail, found before any training: `xstilts plan` and `xstilts run` list
every problem at once, each with a fix.

Checks, offline-safe and cheap (file names, config files, the datasets cache; the Hub is asked once,
through `xstilts.hub.hub_reachable`, and only when something is neither local nor cached):
  - every model resolves, its config loads and its family supports the kinds the spec asks for
    (`xstilts.models.preflight.check_model`), and packs the tasks it trains with `packing` on
    (`xstilts.models.packing.packing_problem`);
  - every split the grid reads has data: each intermediate task's English train and dev splits
    (and its translated training data), each target's English training stages, and every target
    language's evaluation split (and calibration split, for BUCC), by the resolution order of
    `xstilts.tasks.sources`.
`deep=True` also loads each tokenizer and featurises a few examples of every task with it.

A target language without evaluation data is a *missing language*: with `allow_missing` the run
goes on and evaluation records the language as missing; every other problem stops the run.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from xstilts.data.formatting import InputFormat
from xstilts.data.loading import english_training, load_examples, locate_examples, locate_translated_train
from xstilts.errors import Problem, XStiltsError
from xstilts.experiments.catalog import model_facts
from xstilts.experiments.plan import plan
from xstilts.experiments.spec import ExperimentSpec
from xstilts.hub import hub_reachable
from xstilts.kinds import FeaturizeOptions, handler_for
from xstilts.models.backbone import detect_family, load_config, load_tokenizer, resolve_model_path
from xstilts.models.packing import packing_problem
from xstilts.models.preflight import check_model
from xstilts.tasks import get_task
from xstilts.tasks.base import Task

log = logging.getLogger(__name__)

DEEP_EXAMPLES = 4  # examples featurised per task and model by a deep check


@dataclass(frozen=True)
class DataNeed:
    """One split of one language that a stage of the grid reads."""

    task: str
    split: str
    language: str
    purpose: str  # "train", "dev", "evaluate", "calibrate", "translated"

    @property
    def subject(self) -> str:
        return f"data {self.task}/{self.language}/{self.split}"

    @property
    def skippable(self) -> bool:
        """A target language's evaluation data: the other languages are scored without it."""
        return self.purpose in ("evaluate", "calibrate")


@dataclass
class PreflightReport:
    problems: list[Problem] = field(default_factory=list)  # would stop the run
    missing_languages: list[Problem] = field(default_factory=list)  # evaluation data absent: skippable
    checked: int = 0  # data needs checked

    def blocking(self, allow_missing: bool) -> list[Problem]:
        return self.problems if allow_missing else self.problems + self.missing_languages


class PreflightError(XStiltsError):
    """The preflight found problems; the table has been printed."""


# -- what the grid reads -------------------------------------------------------------------------------
def data_needs(spec: ExperimentSpec) -> list[DataNeed]:
    """Every split and language the grid's stages read, each once, in grid order."""
    needs: dict[tuple[str, str, str, str], DataNeed] = {}

    def add(need: DataNeed) -> None:
        needs.setdefault((need.task, need.split, need.language, need.purpose), need)

    for condition in spec.conditions():
        for name in condition.tasks:
            task = get_task(name)
            add(DataNeed(name, task.train_split, "en", "train"))
            add(DataNeed(name, task.dev_split, "en", "dev"))
            for language in condition.translated or []:
                add(DataNeed(name, "translate-train", language, "translated"))
    for target in spec.target_names():
        task = get_task(target)
        for stage in english_training(task):
            add(DataNeed(stage.task.name, stage.train_split, "en", "train"))
            add(DataNeed(stage.task.name, stage.dev_split, "en", "dev"))
        languages = [lang for lang in (spec.evaluation.languages or task.languages) if lang in task.languages]
        calibration = _calibration_split(task)
        for language in languages:
            add(DataNeed(target, spec.evaluation.split or task.eval_split_for(language), language, "evaluate"))
            if calibration:
                add(DataNeed(target, calibration, language, "calibrate"))
    return list(needs.values())


def _calibration_split(task: Task) -> str | None:
    """The dev split a retrieval target also reads (BUCC tunes its mining threshold on it). Taken as
    the task's dev split wherever it differs from the evaluated one, without importing the kinds
    (torch): today exactly BUCC, the one calibrated procedure (`kinds.retrieval.PROCEDURES`)."""
    if task.trainable or task.dev_split == task.eval_split:
        return None
    return task.dev_split


def model_kinds(spec: ExperimentSpec) -> list[str]:
    """The task kinds the grid trains or evaluates (what each model must support)."""
    names = {name for c in spec.conditions() for name in c.tasks} | set(spec.target_names())
    return sorted({get_task(name).kind.value for name in names})


# -- checks ---------------------------------------------------------------------------------------------
def check_data(spec: ExperimentSpec) -> tuple[list[Problem], list[Problem], int]:
    """(problems, missing languages, number of checks): each need located by the resolution order."""

    problems: list[Problem] = []
    missing: list[Problem] = []
    data_dir = spec.data_dir
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        problems.append(Problem(
            "data_dir", f"the spec's data folder {data_dir} does not exist (every load would fail)",
            "create it with one sub-folder per task (e.g. xnli/), or remove data_dir to use XSTILTS_DATA_* and the Hub",
        ))
        data_dir = None  # the rows below show where each split would come from without it
    count = 0
    for need in data_needs(spec):
        count += 1
        try:
            if need.purpose == "translated":
                where = locate_translated_train(need.task, need.language, data_dir)
            else:
                where = locate_examples(need.task, need.split, need.language, data_dir)
        except XStiltsError as err:
            problems.append(Problem(need.subject, str(err), "fix the data folder or its variable named in the problem"))
            continue
        if where.found:
            log.debug("%s: %s", need.subject, where.where)
            continue
        (missing if need.skippable else problems).append(Problem(need.subject, where.problem, where.fix))
    return _merge_languages(problems), _merge_languages(missing), count


def _merge_languages(problems: list[Problem]) -> list[Problem]:
    """One row for the languages of a task and split that share one problem and fix (an offline
    hub config holding them all): `data xnli/de,fr/validation`."""
    merged: dict[tuple[str, str, str, str], list[str]] = {}
    for p in problems:
        path = p.subject.split(" ", 1)[-1]
        if path.count("/") != 2:  # not a data row (data_dir)
            merged.setdefault((p.subject, "", p.problem, p.fix), [])
            continue
        task, language, split = path.split("/", 2)
        merged.setdefault((task, split, p.problem, p.fix), []).append(language)
    return [
        Problem(f"data {task}/{','.join(dict.fromkeys(langs))}/{split}" if langs else task, problem, fix)
        for (task, split, problem, fix), langs in merged.items()
    ]


def check_models(spec: ExperimentSpec, deep: bool = False) -> list[Problem]:

    kinds = model_kinds(spec)
    problems: list[Problem] = []
    for model in spec.models:
        problems.extend(check_model(model.name, model.path, model.backbone_options(), kinds, deep=deep))
    return problems


def featurise_samples(spec: ExperimentSpec, skip_models: set[str]) -> list[Problem]:
    """Deep check: each model's tokenizer featurises a few examples of every task of the grid."""

    samples: dict[str, list] = {}
    smallest_first = {"dev": 0, "evaluate": 1, "calibrate": 2, "train": 3}  # a dev split loads fastest
    for need in sorted(data_needs(spec), key=lambda n: smallest_first.get(n.purpose, 4)):
        if need.purpose == "translated" or need.task in samples:
            continue
        try:
            samples[need.task] = load_examples(need.task, need.split, need.language, spec.data_dir)[:DEEP_EXAMPLES]
        except XStiltsError:
            continue  # reported by the data check
    problems = []
    for model in spec.models:
        if model.name in skip_models:
            continue
        options = model.backbone_options()
        try:
            path = resolve_model_path(model.path)
            family = detect_family(load_config(path, options), options.family, where=f"model {model.path}: ")
            tokenizer = load_tokenizer(path, family, options)
        except Exception as err:  # noqa: BLE001 - transformers and tokenizers raise many types
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            problems.append(Problem(f"model {model.name}", f"its tokenizer does not load ({reason})", "restore the tokenizer files from the model's release"))
            continue
        fmt = InputFormat.for_tokenizer(tokenizer, family)
        for name, examples in samples.items():
            task = get_task(name)
            try:
                features = handler_for(task).featurize(examples, tokenizer, fmt, task, FeaturizeOptions(max_length=task.hyperparameters.max_length))
            except Exception as err:  # noqa: BLE001 - any failure here would fail the stage
                problems.append(Problem(f"model {model.name} x {name}", f"featurising {name} failed ({type(err).__name__}: {err})", "check the tokenizer against the task's kind"))
                continue
            if examples and not features:
                problems.append(Problem(f"model {model.name} x {name}", f"{len(examples)} {name} examples gave no features", "check max_length and the tokenizer"))
    return problems


def check_lm_corpora(spec: ExperimentSpec) -> list[Problem]:
    """The LM-mixing baseline's corpus: synthetic, a local text file, or a hub dataset (streamed, so
    it needs the Hub)."""
    problems = []
    for corpus in sorted({c.lm_mix.corpus for c in spec.conditions() if c.lm_mix is not None} - {"synthetic"}):
        if Path(corpus).expanduser().is_file():
            continue
        looks_like_hub_id = corpus.count("/") == 1 and not corpus.startswith((".", "/", "~"))
        if looks_like_hub_id:

            if hub_reachable():
                continue
            problem = "a hub dataset, streamed during training, and the Hub is unreachable (offline)"
        else:
            problem = "neither a local file nor a hub dataset id"
        problems.append(Problem(f"lm_mix corpus {corpus}", problem, "give a local text file with one document per line"))
    return problems


def packed_tasks(spec: ExperimentSpec) -> dict[str, dict[str, str]]:
    """By model name: the tasks its stages train with packing on, each with its kind."""
    settings = [spec.training.intermediate, spec.training.target, *spec.training.tasks.values()]
    if not any(s.packing for s in settings):
        return {}
    tasks: dict[str, dict[str, str]] = {}
    for stage in plan(spec):
        for name, training in (stage.training.tasks.items() if stage.training else ()):
            if training.packing:
                tasks.setdefault(stage.model.name, {})[name] = get_task(name).kind.value
    return tasks


def check_packing(spec: ExperimentSpec) -> list[Problem]:
    """Packing asked for where a model's family or a task's kind cannot pack: one line per model."""
    problems = []
    wanted = packed_tasks(spec)
    for model in spec.models:
        if model.name not in wanted:
            continue
        facts = model_facts(model.path)
        model_type = facts.model_type if facts else None
        if model_type is None:
            try:
                model_type = str(load_config(resolve_model_path(model.path), model.backbone_options()).model_type)
            except XStiltsError:
                continue  # check_models reports a model whose config does not load
        tasks = wanted[model.name]
        problem = packing_problem(model_type, list(tasks.values()))
        if problem:
            unpackable = [t for t, kind in tasks.items() if packing_problem(model_type, [kind])]
            problems.append(Problem(
                f"model {model.name}", f"{problem}: {', '.join(unpackable)}",
                f"set packing: false for {', '.join(unpackable)} (training.tasks.<task>.packing), or use a model that packs",
            ))
    return problems


def preflight(spec: ExperimentSpec, deep: bool = False) -> PreflightReport:
    """Every problem the grid would run into, found before any training."""
    report = PreflightReport()
    model_problems = check_models(spec, deep=deep)
    report.problems.extend(model_problems)
    report.problems.extend(check_lm_corpora(spec))
    report.problems.extend(check_packing(spec))
    data_problems, missing, report.checked = check_data(spec)
    report.problems.extend(data_problems)
    report.missing_languages.extend(missing)
    if deep:
        broken = {p.subject.removeprefix("model ") for p in model_problems}
        report.problems.extend(featurise_samples(spec, broken))
    return report


# -- output ---------------------------------------------------------------------------------------------
def print_problems(report: PreflightReport, allow_missing: bool, file=None) -> None:
    """One table of every problem with its fix; missing languages marked as skipped when allowed."""

    from rich.console import Console  # lazy: loads rich
    from rich.table import Table  # lazy: loads rich
    from rich.text import Text  # lazy: loads rich

    out = file or sys.stdout
    # Not a terminal (a log, a pipe): one line per row, whole paths greppable. COLUMNS is ignored there:
    # test runners and job schedulers set it to 80 for outputs no one reads in a terminal.
    width = None if out.isatty() else 10_000
    console = Console(file=out, width=width, soft_wrap=False, highlight=False)
    rows = [(p, "skipped" if allow_missing else "missing") for p in report.missing_languages]
    rows = [(p, "error") for p in report.problems] + rows
    if not rows:
        return
    counts = [f"{len(report.problems)} problem(s)"] if report.problems else []
    if report.missing_languages:
        counts.append(f"{len(report.missing_languages)} target language split(s) without data" + (" (skipped)" if allow_missing else ""))
    table = Table(title=f"preflight: {', '.join(counts)}", title_justify="left", show_lines=False)
    for column in ("", "subject", "problem", "fix"):
        table.add_column(column, overflow="fold")
    for problem, status in rows:  # Text: brackets in paths and messages are not rich markup
        table.add_row(Text(status), Text(problem.subject), Text(problem.problem), Text(problem.fix))
    console.print(table)


def summary_line(report: PreflightReport, allow_missing: bool) -> str:
    blocking = report.blocking(allow_missing)
    skipped = len(report.missing_languages) if allow_missing else 0
    if not blocking:
        return f"preflight: ok ({report.checked} data splits checked" + (f"; {skipped} missing language split(s) will be skipped and recorded)" if skipped else ")")
    hint = " (or --allow-missing-languages to skip target languages without data)" if report.missing_languages and not allow_missing else ""
    return f"preflight: {len(blocking)} problem(s) would fail the run; fix them first{hint}"
