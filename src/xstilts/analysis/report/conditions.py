"""Conditions: plain English intermediate training and its baseline variants (LM mixing, translated data)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from xstilts.analysis.scores import BASELINE

ConditionKind = str  # "baseline" | "english" | "lm_mix" | "translated"
_VARIANT_NAME = re.compile(
    r"^(?P<kind>(?:m|c)?lm[-_]?mix|translated|translate[-_]?train|mt)[:/](?P<base>.+)$", re.IGNORECASE
)


@dataclass(frozen=True)
class Condition:
    name: str
    kind: ConditionKind
    tasks: tuple[str, ...] = ()
    base: str | None = None  # variants: the plain English condition they are compared with
    detail: str = ""


def classify_conditions(names: Sequence[str], specs: dict[str, dict] | None = None) -> dict[str, Condition]:
    """Condition name -> Condition, from the condition specs where known, else from the name."""
    specs = specs or {}
    out: dict[str, Condition] = {}
    for name in names:
        spec = specs.get(name)
        if name == BASELINE or (spec is not None and not spec.get("tasks")):
            out[name] = Condition(name, "baseline")
            continue
        if spec is not None:
            tasks = tuple(spec.get("tasks") or ())
            if spec.get("lm_mix"):
                mix = spec["lm_mix"]
                out[name] = Condition(
                    name,
                    "lm_mix",
                    tasks,
                    detail=f"LM steps {mix.get('ratio', '?')} of training, corpus {mix.get('corpus', '?')}",
                )
            elif spec.get("translated"):
                out[name] = Condition(
                    name, "translated", tasks, detail="translated into " + ", ".join(spec["translated"])
                )
            else:
                out[name] = Condition(name, "english", tasks)
            continue
        match = _VARIANT_NAME.match(name)
        if match:
            kind = "lm_mix" if "mix" in match["kind"].lower() else "translated"
            out[name] = Condition(
                name, kind, (match["base"],), base=match["base"], detail="(from the condition's name)"
            )
        else:
            out[name] = Condition(name, "english", (name,))
    plain = {frozenset(c.tasks): c.name for c in out.values() if c.kind == "english"}
    for name, c in out.items():
        if c.kind in ("lm_mix", "translated"):
            base = plain.get(frozenset(c.tasks)) or (
                c.base if c.base in out and out[c.base].kind == "english" else None
            )
            out[name] = Condition(c.name, c.kind, c.tasks, base, c.detail)
    return out


KIND_LABEL = {
    "baseline": "no intermediate task",
    "english": "English intermediate task",
    "lm_mix": "with LM mixing",
    "translated": "translated data",
}
