"""Atomic file and directory writes, JSONL, checksums, and where the cache lives.

Outputs are written to a temporary sibling and renamed into place, so a reader never sees a
partial file and a killed writer leaves only a temporary that is ignored and later cleaned up.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from xstilts.errors import DataError, XStiltsError

TMP_MARK = ".tmp-"


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_parent(path: Path) -> None:
    """Create the folder `path` is to be written in, or a one-line XStiltsError naming `path` and
    saying why not (a file in the way, no permission)."""
    make_dir(Path(path).parent, Path(path))


def make_dir(folder: Path, for_path: Path | None = None) -> None:
    """`mkdir -p folder`, or a one-line XStiltsError naming what is in the way."""
    folder = Path(folder)
    where = f"{for_path}: cannot create its folder {folder}" if for_path else f"{folder}: cannot create this folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        raise XStiltsError(f"{where}: {blocker} is a file, not a folder") from None
    except OSError as err:
        raise XStiltsError(f"{where} ({err.strerror or err})") from err


def atomic_write_bytes(path: Path, data: bytes) -> None:
    _write_atomically(path, data, replace=True)


def write_text_once(path: Path, text: str) -> bool:
    """Write `path` atomically unless it exists; True if this call wrote it. Of several processes
    racing to write it, exactly one wins and the others leave it as the winner wrote it."""
    return _write_atomically(path, text.encode("utf-8"), replace=False)


def _write_atomically(path: Path, data: bytes, *, replace: bool) -> bool:
    path = Path(path)
    make_parent(path)
    if path.is_dir():
        raise XStiltsError(f"{path}: is a folder; give a file name")
    try:
        fd, tmp = tempfile.mkstemp(prefix=path.name + TMP_MARK, dir=path.parent)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if `path` exists, unlike a rename
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
    except OSError as err:
        with contextlib.suppress(UnboundLocalError, OSError):
            os.unlink(tmp)
        raise XStiltsError(f"{path}: cannot write ({err.strerror or err})") from err
    _fsync_dir(path.parent)
    return True


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Build a directory in a temporary sibling; move it to `target` only if the block succeeds.

    If `target` already exists when the block ends (another worker finished first), the new copy
    is discarded and the existing one kept: finished outputs are never overwritten.
    """
    target = Path(target)
    make_parent(target)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=target.name + TMP_MARK, dir=target.parent))
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700; others on a shared cluster read results
    except OSError as err:
        raise XStiltsError(f"{target.parent}: cannot create output directory ({err.strerror or err})") from err
    try:
        yield tmp
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
        _fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_utf8(path: Path) -> str:
    """A text file's contents (a leading byte-order mark dropped, newlines as text mode reads them),
    or a one-line DataError naming it: missing, a folder, unreadable, not UTF-8."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected a file") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None


class DuplicateKey(ValueError):
    """A JSON object names one key twice (json.loads would silently keep the last)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise DuplicateKey(key)
        obj[key] = value
    return obj


def loads_unique(text: str) -> Any:
    """`json.loads`, refusing an object with a repeated key (raises `DuplicateKey`); nesting too
    deep for the parser is a JSONDecodeError like any other malformed JSON."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None


def duplicate_key_error(where: str, err: DuplicateKey) -> DataError:
    return DataError(f"{where}: {err.key!r} occurs twice in one JSON object (each id or key must be unique)")


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(read_utf8(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = loads_unique(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: line {n} is not valid JSON ({err.msg})") from None
        except DuplicateKey as err:
            raise duplicate_key_error(f"{path}: line {n}", err) from None
        if not isinstance(row, dict):
            raise DataError(f"{path}: line {n} should be a JSON object")
        rows.append(row)
    return rows


def read_json(path: Path) -> Any:
    text = read_utf8(path)
    try:
        return loads_unique(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err})") from None
    except DuplicateKey as err:
        raise duplicate_key_error(str(path), err) from None


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def clean_stale_temporaries(directory: Path, prefix: str = "") -> int:
    """Remove temporaries left by killed writers in `directory` (only those whose name starts with
    `prefix`, if given); returns how many were removed. The caller must know that no live writer
    is building them (e.g. it holds the lease of the stage they belong to)."""
    removed = 0
    if not Path(directory).is_dir():
        return 0
    for entry in Path(directory).iterdir():
        if TMP_MARK in entry.name and entry.name.startswith(prefix):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
    return removed


def cache_root() -> Path:
    """xstilts' cache folder: $XSTILTS_CACHE, else ~/.cache/xstilts."""
    return Path(os.environ.get("XSTILTS_CACHE", Path.home() / ".cache" / "xstilts")).expanduser()
