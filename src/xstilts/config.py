"""Strict loading of dataclass configurations from YAML / dicts.

Unknown keys, wrong types and bad values are `ConfigError`s naming the file, the dotted key path
and, for unknown keys, the closest valid keys.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from xstilts.errors import ConfigError, closest

T = TypeVar("T")


class _UniqueKeySafeLoader(yaml.SafeLoader):
    """The safe loader, refusing a key given twice in one mapping (PyYAML keeps the last silently)."""


def _mapping_with_unique_keys(loader: _UniqueKeySafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    first_line: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *base` merges may override keys on purpose
        key = loader.construct_object(key_node, deep=True)
        try:
            if key in first_line:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {first_line[key]})", key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line + 1
        except TypeError:  # an unhashable key: construct_mapping reports it
            continue
    return loader.construct_mapping(node, deep=deep)


_UniqueKeySafeLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_unique_keys)


def load_yaml(path: Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a YAML file") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeySafeLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}: malformed YAML{where}: {problem}") from None
    return data


def from_dict(cls: type[T], data: Any, where: str) -> T:
    """Build dataclass `cls` from `data`, checking keys and types; `where` prefixes errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {_type_name(data)}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    for key in data:
        if not isinstance(key, str) or key not in fields:
            near = closest(str(key), fields)
            hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else f"; valid keys: {', '.join(fields)}"
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")
    kwargs = {}
    for name, field in fields.items():
        if name in data:
            kwargs[name] = convert(hints[name], data[name], f"{where}.{name}")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: missing required key {name!r}")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{where}: {err}") from None


def convert(hint: Any, value: Any, where: str) -> Any:
    origin = get_origin(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        errors: list[ConfigError] = []
        tried: list[Any] = []
        for option in options:
            if option is type(None):
                continue
            try:
                return convert(option, value, where)
            except ConfigError as err:
                errors.append(err)
                tried.append(option)
        # The one option that fits the value's shape explains the problem best (an unknown key
        # inside an optional section, not "expected X or null").
        if len(tried) == 1:
            raise errors[0]
        structured = [e for o, e in zip(tried, errors) if isinstance(value, dict) and dataclasses.is_dataclass(o)]
        if len(structured) == 1:
            raise structured[0]
        expected = " or ".join(_hint_name(o) for o in options)
        raise ConfigError(f"{where}: expected {expected}, got {_type_name(value)} {value!r}"[:300])
    if origin is typing.Literal:
        allowed = get_args(hint)
        if value not in allowed:
            near = closest(str(value), [str(a) for a in allowed])
            hint_text = f"; did you mean {near[0]!r}?" if near else ""
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(str, allowed))}{hint_text}")
        return value
    if origin in (list, tuple):
        if isinstance(value, (str, dict)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {_type_name(value)}")
        args = get_args(hint)
        item = args[0] if args else Any
        items = [convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {_type_name(value)}")
        key_t, val_t = get_args(hint) or (Any, Any)
        return {convert(key_t, k, where): convert(val_t, v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {_type_name(value)} {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {_type_name(value)} {value!r}")
        return value
    if hint is float:
        number = None
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                number = float(value)  # YAML reads "1e-5" as a string
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            with contextlib.suppress(OverflowError):
                number = float(value)
        if number is None:
            raise ConfigError(f"{where}: expected a number, got {_type_name(value)} {value!r}"[:300])
        if not math.isfinite(number):  # .nan / .inf / 1e400 would pass every range check
            raise ConfigError(f"{where}: expected a finite number, got {value!r}"[:300])
        return number
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {_type_name(value)} {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint!r} at {where}")


def to_dict(obj: Any) -> Any:
    """A plain (JSON/YAML-ready) copy of a config dataclass."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", int: "an integer", float: "a number", bool: "a boolean", type(None): "nothing"}.get(type(value), type(value).__name__)


def _hint_name(hint: Any) -> str:
    if hint is type(None):
        return "null"
    if get_origin(hint) in (list, tuple):
        return "a list"
    if dataclasses.is_dataclass(hint):
        return "a mapping"
    return getattr(hint, "__name__", str(hint))
