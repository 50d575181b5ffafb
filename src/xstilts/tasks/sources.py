"""Where task examples come from: Hugging Face hub datasets and local files.

Every task's `source` is a `DatasetSource`: a declaration of the hub dataset (id, config, revision,
split names), the local file layouts it accepts, and one converter from the dataset's own rows to
the canonical example schema of the task's kind (`xstilts.tasks.base`).

Resolution order (one order, used when loading and by `xstilts plan`'s preflight):
  1. `<data_dir>/<task>/` (the spec's `data_dir`, or `data_dir=` of `load_examples`; the task's
     sub-folder, or one named as in google-research/xtreme's `download/` tree);
  2. the folder named by `XSTILTS_DATA_<TASK>` (e.g. `XSTILTS_DATA_CCG`);
  3. `$XSTILTS_DATA_DIR/<task>/` (searched like `data_dir`);
  4. the Hugging Face datasets cache;
  5. the Hub, when it is reachable (`xstilts.hub.hub_reachable`).
A root without the task's sub-folder falls through to the next step. The first task folder found
is the task's: a split or language missing from it is an error, never a silent switch to the hub.
In the task folder, a dataset's original files are read by its `readers`; otherwise files in the
hub schema (same column names and nesting as the hub dataset) named `<split>-<lang>.<ext>`,
`<lang>/<split>.<ext>` or, for English-only tasks, `<split>.<ext>`, with ext jsonl, json (a list
of records), parquet or tsv (with a header row).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xstilts.errors import DataError
from xstilts.hub import hub_reachable
from xstilts.tasks.base import Example, Task

logger = logging.getLogger(__name__)

Row = dict[str, Any]  # one record in a dataset's own (hub) schema

STANDARD_SPLITS: Mapping[str, tuple[str, ...]] = {
    "train": ("train",), "validation": ("validation",), "test": ("test",),
}
HUB_SCHEMA_EXTENSIONS = ("jsonl", "json", "parquet", "tsv")
DATA_ROOT_ENV = "XSTILTS_DATA_DIR"


class RowError(ValueError):
    """A converter's complaint about one field of one row."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field_name = field_name


@dataclass(frozen=True)
class ConvertContext:
    """What a converter may need besides the rows."""

    task: Task
    split: str
    language: str
    origin: str
    lenient: bool = False  # machine-translated data: drop rows whose answer cannot be located


Convert = Callable[[Sequence[Row], ConvertContext], list[Example]]


@dataclass(frozen=True)
class Rows:
    """Rows read from one place; `convert` overrides the source's converter when the reader
    already produced another schema (e.g. canonical retrieval examples)."""

    rows: list[Row]
    origin: str
    convert: Convert | None = None


# A reader of a dataset's original files: (task folder, split, language) -> rows, or None when
# its files are not in that folder.
Reader = Callable[[Path, str, str], Rows | None]
# A reader of XTREME's released translate-train files: (folder, language) -> rows or None.
TranslationReader = Callable[[Path, str], Rows | None]


@dataclass(frozen=True)
class Hub:
    """One dataset on the Hugging Face hub, loaded with `datasets.load_dataset`.

    `revision` pins a branch or commit: `refs/convert/parquet` for repositories whose main branch
    still holds a loading script (datasets >= 4 refuses them). That branch keeps each config in a
    folder (`copa/train/0000.parquet`), so `data_files` names the files of one split: a pattern
    with `{split}` (and `{lang}`), e.g. "copa/{split}/*.parquet"; `config` is then unused.
    """

    path: str
    config: str | None = None  # may contain "{lang}"
    revision: str | None = None
    language_of: Callable[[Row], str] | None = None  # rows of several languages in one config
    data_files: str | None = None

    def config_for(self, language: str) -> str | None:
        return self.config.format(lang=language) if self.config else None

    def files_for(self, hub_split: str, language: str) -> str | None:
        return self.data_files.format(split=hub_split, lang=language) if self.data_files else None

    def describe(self) -> str:
        where = f"hub {self.path}" + (f" ({self.config})" if self.config else "")
        if self.data_files:
            where += f" ({self.data_files.replace('/{split}/*.parquet', '')})"
        return where + (f" @{self.revision}" if self.revision else "")


@dataclass(frozen=True)
class DatasetSource:
    """A task's data: hub dataset and/or local files, and the converter to canonical examples.

    `splits` maps xstilts split names to the hub's split names (several are concatenated, as
    ANLI's three rounds). `splits_by_language` lists the splits of languages that lack some.
    `hub_by_language` sends some languages to another hub dataset, or to none (local files only).
    """

    convert: Convert
    hub: Hub | None = None
    hub_by_language: Mapping[str, Hub | None] = field(default_factory=dict)
    splits: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(STANDARD_SPLITS))
    splits_by_language: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    readers: tuple[Reader, ...] = ()
    folder_names: tuple[str, ...] = ()  # sub-folders of a data root, beside the task's own name
    local_formats: str = ""  # one line naming the original files understood, for messages
    obtain: str = ""  # how to get the files when there is no hub dataset
    translations: TranslationReader | None = None
    translation_files: str = ""  # the released translate-train file names, for messages
    data_labels: Callable[[Path], tuple[str, ...]] | None = None  # label set read from the data

    # --- Source protocol -------------------------------------------------------------------
    def describe(self) -> str:
        parts = []
        if self.hub:
            parts.append(self.hub.describe())
        others = sorted({h.path for h in self.hub_by_language.values() if h and h.path != getattr(self.hub, "path", None)})
        parts.extend(f"hub {p} (some languages)" for p in others)
        if self.local_formats:
            parts.append(f"local {self.local_formats}")
        return "; ".join(parts) if parts else "local files"

    def load(self, task: Task, split: str, language: str, data_dir: Path | None) -> list[Example]:
        rows = self.read_rows(task, split, language, data_dir)
        context = ConvertContext(task=task, split=split, language=language, origin=rows.origin)
        return (rows.convert or self.convert)(rows.rows, context)

    # --- splits ------------------------------------------------------------------------------
    def split_names(self, language: str | None = None) -> tuple[str, ...]:
        if language is not None and language in self.splits_by_language:
            return self.splits_by_language[language]
        return tuple(self.splits)

    def all_split_names(self) -> tuple[str, ...]:
        return tuple(self.splits)

    # --- reading -----------------------------------------------------------------------------
    def read_rows(self, task: Task, split: str, language: str, data_dir: Path | None) -> Rows:
        folder = task_folder(task, self, data_dir)
        if folder is not None:
            rows = self._read_local(task, folder, split, language)
            _check_row_languages(task, self.hub_by_language.get(language, self.hub), rows, language)
            return rows
        hub = self.hub_by_language.get(language, self.hub)
        if hub is None:
            raise DataError(f"{task.name}: no local files found for {split}/{language}; {self.local_hint(task)}")
        return read_hub(hub, self.splits[split], language, task, self.local_hint(task))

    def locate(self, task: Task, split: str, language: str, data_dir: Path | None) -> DataLocation:
        """Where `read_rows` would read this split and language from, found without reading it:
        file names, the datasets cache's listing, and whether the Hub is reachable."""
        # Problems and fixes name no language, so that a table can give one row to many languages.
        found = locate_task_folder(task, self, data_dir)
        if found is not None:
            path = self.probe_local(task, found.path, split, language)
            if path is not None:
                return DataLocation(True, f"local {path}")
            named = language if task.languages == ("en",) else "<lang>"
            return DataLocation(
                False, str(found.path),
                f"no {split} file in the task folder {found.path} (found through {found.via})",
                f"add {_expected_names(self, split, named)} there",
            )
        hub = self.hub_by_language.get(language, self.hub)
        if hub is None:
            return DataLocation(False, "", "no local files, and the language is not on the hub", self.local_hint(task))
        what = _hub_what(hub, language)
        if Path(hub.path).is_dir():  # a local copy of a hub repository
            return DataLocation(True, f"local repository {what}")
        if hub_cached(hub, language, self.splits[split]):
            return DataLocation(True, f"hub cache {what}")

        if hub_reachable():
            return DataLocation(True, f"hub {what}")
        repository = hub.path + (f"@{hub.revision}" if hub.revision else "")
        return DataLocation(
            False, f"hub {what}",
            f"no local files; not in the datasets cache ({repository}) and the Hub is unreachable (offline)",
            f"{self.local_hint(task)}; or load it once with the Hub reachable",
        )

    def probe_local(self, task: Task, folder: Path, split: str, language: str) -> str | None:
        """The file the readers would read for this split and language in `folder`, or None;
        nothing is read (see `opening`). A layout the readers refuse raises their DataError."""
        return probe(lambda: self._find_local(task, folder, split, language))

    def _read_local(self, task: Task, folder: Path, split: str, language: str) -> Rows:
        found = self._find_local(task, folder, split, language)
        if found is not None:
            return found
        raise DataError(
            f"{task.name}: no {split} file for language {language!r} in {folder}; expected "
            f"{_expected_names(self, split, language)}"
        )

    def _find_local(self, task: Task, folder: Path, split: str, language: str) -> Rows | None:
        try:
            for reader in self.readers:
                found = reader(folder, split, language)
                if found is not None:
                    return found
            return read_hub_schema_files(folder, split, language, english_only=task.languages == ("en",))
        except UnicodeDecodeError as err:  # a reader that opened a file itself; the shared helpers name theirs
            raise DataError(f"{folder}: a {task.name} {split}/{language} file is not UTF-8 text (byte {err.start})") from None

    def local_hint(self, task: Task) -> str:
        env = task_env_var(task)
        where = f"put its files in <data_dir>/{task.name}/ (spec data_dir), or set {env}=<folder> or {DATA_ROOT_ENV}=<root holding {task.name}/>"
        how = f" ({self.obtain})" if self.obtain else ""
        return f"{where}{how}"


def _check_row_languages(task: Task, hub: Hub | None, rows: Rows, language: str) -> None:
    """Rows of one file that say they are another language of the task (a hub config holding every
    language, saved to the wrong file) are refused: they would be scored as `language`."""
    if hub is None or hub.language_of is None or rows.convert is not None:
        return
    known = set(task.languages) | {lang for langs in task.benchmark_languages.values() for lang in langs}
    for index, row in enumerate(rows.rows):
        try:
            found = hub.language_of(row)
        except (KeyError, TypeError, AttributeError):
            continue  # no language column: nothing to check
        if isinstance(found, str) and found in known and found != language:
            raise DataError(f"{rows.origin} [{task.name}]: row {index} is language {found!r} (its language field), but the file is read as {language!r}")


def _expected_names(source: DatasetSource, split: str, language: str) -> str:
    generic = f"{split}-{language}.jsonl|json|parquet|tsv in the hub schema"
    return f"{source.local_formats} or {generic}" if source.local_formats else generic


# --- where the local files are ---------------------------------------------------------------

@dataclass(frozen=True)
class DataLocation:
    """Where one split of one language of a task would be read from (`DatasetSource.locate`).
    When `found` is False, `problem` says what is missing and `fix` what to do about it."""

    found: bool
    where: str
    problem: str = ""
    fix: str = ""


@dataclass(frozen=True)
class TaskFolder:
    path: Path
    via: str  # which step of the resolution order found it


def task_env_var(task: Task) -> str:
    return "XSTILTS_DATA_" + re.sub(r"[^A-Za-z0-9]", "_", task.name).upper()


def locate_task_folder(task: Task, source: DatasetSource, data_dir: Path | str | None) -> TaskFolder | None:
    """The task's local folder by the resolution order (module docstring), or None for the hub.
    A root without the task's sub-folder falls through; a folder named explicitly must exist."""
    if data_dir is not None:
        folder = _folder_under_root(Path(data_dir).expanduser(), task, source)
        if folder is not None:
            return TaskFolder(folder, f"data_dir {data_dir}")
    variable = task_env_var(task)
    per_task = os.environ.get(variable)
    if per_task:
        path = Path(per_task).expanduser()
        if not path.is_dir():
            raise DataError(f"{task.name}: {variable}={per_task} is not a folder")
        return TaskFolder(path, variable)
    root = os.environ.get(DATA_ROOT_ENV)
    if root:
        folder = _folder_under_root(Path(root).expanduser(), task, source)
        if folder is not None:
            return TaskFolder(folder, f"{DATA_ROOT_ENV}={root}")
    return None


def task_folder(task: Task, source: DatasetSource, data_dir: Path | str | None) -> Path | None:
    """The folder holding the task's local files, or None to use the hub."""
    found = locate_task_folder(task, source, data_dir)
    return found.path if found is not None else None


def _folder_under_root(root: Path, task: Task, source: DatasetSource) -> Path | None:
    if not root.is_dir():
        raise DataError(f"{task.name}: data folder {root} does not exist")
    for name in (task.name, *source.folder_names):
        if (root / name).is_dir():
            return root / name
    return None


# --- reading without reading: presence probes ----------------------------------------------------

_PROBING: ContextVar[bool] = ContextVar("xstilts_data_probing", default=False)


class _FileFound(Exception):
    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path


def probe(read: Callable[[], Rows | None]) -> str | None:
    """Run a reader as a presence probe: the file it would read first, or None when it finds none."""
    token = _PROBING.set(True)
    try:
        found = read()
    except _FileFound as hit:
        return str(hit.path)
    finally:
        _PROBING.reset(token)
    return found.origin if found is not None else None


def opening(path: Path) -> None:
    """Every reader calls this just before it reads `path`. During a presence probe
    (`DatasetSource.probe_local`) it stops the reader there, so that the probe finds exactly the
    file the reader would read, by the reader's own rules, without reading it."""
    if _PROBING.get():
        raise _FileFound(path)


# --- hub ---------------------------------------------------------------------------------------

SCRIPT_REFUSED = "Dataset scripts are no longer supported"
PARQUET_REVISION = "refs/convert/parquet"


def _hub_what(hub: Hub, language: str) -> str:
    config = hub.config_for(language)
    what = hub.path + (f"/{config}" if config and not hub.data_files else "")
    return what + (f"@{hub.revision}" if hub.revision else "")


def read_hub(hub: Hub, hub_splits: Sequence[str], language: str, task: Task, local_hint: str) -> Rows:

    online = hub_reachable()  # decided once; offline, the libraries read their caches and fail at once
    import datasets  # heavy import, only when the hub is used

    config = hub.config_for(language)
    rows: list[Row] = []
    for hub_split in hub_splits:
        files = hub.files_for(hub_split, language)
        try:
            if files:
                dataset = datasets.load_dataset(hub.path, data_files={hub_split: files}, split=hub_split, revision=hub.revision)
            else:
                dataset = datasets.load_dataset(hub.path, config, split=hub_split, revision=hub.revision)
        except Exception as err:  # datasets raises many types (offline, missing, scripts, auth)
            raise _hub_load_error(err, hub, config, hub_split, task, local_hint, online) from None
        rows.extend(dataset.to_list())
    if hub.language_of is not None:
        rows = [r for r in rows if hub.language_of(r) == language]
    where = f"hub {_hub_what(hub, language)} [{'+'.join(hub_splits)}]"
    return Rows(rows, where)


def _hub_load_error(err: Exception, hub: Hub, config: str | None, hub_split: str, task: Task, local_hint: str, online: bool) -> DataError:
    what = f"{hub.path}" + (f" config {config}" if config else "") + f" split {hub_split}"
    text = str(err).strip()
    if SCRIPT_REFUSED in text:
        if hub.revision == PARQUET_REVISION:
            pointer = f"its {PARQUET_REVISION} revision holds a script too"
        else:
            pointer = f"declare its parquet conversion (revision {PARQUET_REVISION}) if the Hub has one"
        return DataError(
            f"{task.name}: hub dataset {hub.path} is a loading script, which the installed datasets refuses; "
            f"{pointer}, or give local files: {local_hint}"
        )
    if not online and not Path(hub.path).is_dir():
        return DataError(
            f"{task.name}: hub dataset {what} is not in the datasets cache and the Hub is unreachable (offline); "
            f"{local_hint}, or load it once with the Hub reachable"
        )
    reason = text.splitlines()[0] if text else type(err).__name__
    return DataError(f"{task.name}: could not load hub dataset {what} ({reason}); {local_hint}")


def hub_cached(hub: Hub, language: str, hub_splits: Sequence[str]) -> bool:
    """Whether the datasets cache holds every one of `hub_splits` of this config (read from the
    cache folders' dataset_info.json; nothing is loaded)."""
    parts = hub.path.split("/")
    parts[-1] = _snake_case(parts[-1])
    base = _datasets_cache() / "___".join(parts)
    config = hub.config_for(language) if not hub.data_files else None
    # A config loaded with data_files is cached under "<config>-<hash of the files>".
    pattern = f"{config}/*/*/dataset_info.json" if config else "default*/*/*/dataset_info.json"
    for info in base.glob(pattern):
        try:
            splits = json.loads(info.read_text(encoding="utf-8")).get("splits") or {}
        except (OSError, ValueError, AttributeError):
            continue
        if all(name in splits for name in hub_splits):
            return True
    return False


def _datasets_cache() -> Path:
    """datasets' cache folder, without importing datasets (seconds) when it is not loaded yet."""

    loaded = sys.modules.get("datasets.config")
    if loaded is not None:
        return Path(loaded.HF_DATASETS_CACHE)
    if os.environ.get("HF_DATASETS_CACHE"):
        return Path(os.environ["HF_DATASETS_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(home).expanduser() / "datasets"


def _snake_case(name: str) -> str:
    """datasets.naming.camelcase_to_snakecase: how the cache names a dataset's folder."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z\d])([A-Z])", r"\1_\2", name).lower()


# --- local files in the hub schema -------------------------------------------------------------

def read_hub_schema_files(folder: Path, split: str, language: str, english_only: bool = False) -> Rows | None:
    stems = [f"{split}-{language}", f"{language}/{split}"]
    if english_only:
        stems.append(split)
    for stem in stems:
        for ext in HUB_SCHEMA_EXTENSIONS:
            path = folder / f"{stem}.{ext}"
            if path.is_file():
                return Rows(read_records(path), str(path))
    return None


def read_records(path: Path) -> list[Row]:
    """Records of a JSONL, JSON (list of records), parquet or header-TSV file."""
    opening(path)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return read_jsonl(path)
    if suffix == ".json":
        data = read_json(path)
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON list of records")
        return data
    if suffix == ".parquet":
        import pyarrow.parquet as pq  # lazy: loads pyarrow

        try:
            return pq.read_table(path).to_pylist()
        except Exception as err:
            raise DataError(f"{path}: unreadable parquet file ({err})") from None
    if suffix == ".tsv":
        try:
            with path.open(encoding="utf-8", newline="") as f:
                return [dict(r) for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
        except UnicodeDecodeError as err:
            raise _not_utf8(path, err) from None
    raise DataError(f"{path}: unsupported file type {suffix!r}; use jsonl, json, parquet or tsv")


def _not_utf8(path: Path, err: UnicodeDecodeError) -> DataError:
    return DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})")


def read_jsonl(path: Path) -> list[Row]:
    opening(path)
    rows = []
    try:
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise DataError(f"{path}:{number}: invalid JSON ({err.msg})") from None
    except UnicodeDecodeError as err:
        raise _not_utf8(path, err) from None
    return rows


def read_json(path: Path) -> Any:
    opening(path)
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: invalid JSON ({err.msg} at line {err.lineno})") from None
    except UnicodeDecodeError as err:
        raise _not_utf8(path, err) from None


def read_tsv_rows(path: Path) -> list[list[str]]:
    """Rows of a header-less TSV file, cells unquoted (XTREME writes with csv's default quoting)."""
    opening(path)
    try:
        with path.open(encoding="utf-8", newline="") as f:
            return [row for row in csv.reader(f, delimiter="\t") if row]
    except UnicodeDecodeError as err:
        raise _not_utf8(path, err) from None


def first_file(folder: Path, names: Iterable[str]) -> Path | None:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None


# --- converters --------------------------------------------------------------------------------

def rowwise(convert_row: Callable[[Row, int, ConvertContext], Example | None]) -> Convert:
    """A converter applying `convert_row` to each row; a row it returns None for is dropped."""

    def convert(rows: Sequence[Row], context: ConvertContext) -> list[Example]:
        examples = []
        dropped = 0
        for index, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise DataError(f"{_where(context)}: row {index} is not a record (a JSON object or header-TSV row), got {type(row).__name__}")
            try:
                example = convert_row(row, index, context)
            except KeyError as err:
                raise DataError(f"{_where(context)}: row {index} has no column {err.args[0]!r}") from None
            except RowError as err:
                raise DataError(f"{_where(context)}: row {index} column {err.field_name!r}: {err}") from None
            except (TypeError, ValueError, AttributeError, IndexError) as err:
                # A column of the wrong shape (a number where a list belongs, ...): name the row and the values.
                shape = ", ".join(f"{k}: {type(v).__name__}" for k, v in row.items())
                raise DataError(f"{_where(context)}: row {index} is malformed ({type(err).__name__}: {err}; columns {shape})") from None
            if example is None:
                dropped += 1
            else:
                examples.append(example)
        if dropped:
            logger.warning("%s: dropped %d of %d rows whose answer is not in the context", _where(context), dropped, len(rows))
        return examples

    return convert


def _where(context: ConvertContext) -> str:
    return f"{context.origin} [{context.task.name} {context.split}/{context.language}]"


def example_id(row: Row, key: str | None, index: int, context: ConvertContext) -> str:
    """The row's own id when it has one, else one built from task, split, language and index."""
    if key and row.get(key) not in (None, ""):
        return str(row[key])
    return f"{context.task.name}-{context.split}-{context.language}-{index}"


def label_index(value: Any, labels: Sequence[str], field_name: str = "label") -> int:
    """A label given as its index (int or numeric string) or as its name."""
    if isinstance(value, bool):
        raise RowError(field_name, f"label {value!r} is not a label")
    if isinstance(value, int):
        index = value
    elif isinstance(value, str) and value.strip() in labels:
        return labels.index(value.strip())
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        index = int(value.strip())
    else:
        shown = "empty" if value in ("", None) else repr(value)
        raise RowError(field_name, f"label {shown} is not one of {', '.join(labels)} (unlabelled split?)")
    if not 0 <= index < len(labels):
        raise RowError(field_name, f"label {value!r} is out of range (unlabelled split?); labels: {', '.join(labels)}")
    return index


def text(row: Row, key: str) -> str:
    value = row[key]
    if not isinstance(value, str):
        raise RowError(key, f"expected a string, got {type(value).__name__}")
    return value
