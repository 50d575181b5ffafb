"""What a grid's results lack, in words: languages evaluate stages could not score, and training
stages that did not learn. Read from the results store's `gaps` and `flags` tables
(`ResultsStore.gaps_frame`, `flags_frame`); shown by `xstilts results` and the report."""

from __future__ import annotations

from typing import Any

from xstilts.evaluation.aggregate import coverage_line

NOT_LEARNED = "not_learned"


def with_present_languages(gaps: Any, scores: Any) -> Any:
    """`gaps` with a `present` column: the languages its stage did score (from `scores`, a
    `scores_frame` with stage_id, task and language)."""
    present: dict[tuple[str, str], list[str]] = {}
    for (stage_id, task), part in scores.groupby(["stage_id", "task"], sort=False):
        present[(stage_id, task)] = list(dict.fromkeys(part["language"]))
    gaps = gaps.copy()
    gaps["present"] = [present.get((r.stage_id, r.task), []) for r in gaps.itertuples()]
    return gaps


def gap_lines(gaps: Any) -> list[str]:
    """One line per target and pattern of missing languages: 'xnli: 14/15 languages; missing:
    sw (data file not found: ...); 3 runs: m/none/seed0, ...'. `gaps` needs a `present` column."""
    by_stage: dict[str, dict] = {}
    for r in gaps.itertuples():
        entry = by_stage.setdefault(r.stage_id, {"target": r.target if _given(r.target) else r.task, "present": tuple(r.present), "missing": {}, "run": f"{r.model}/{r.condition}/seed{r.seed}"})
        entry["missing"][r.language] = r.reason
    patterns: dict[tuple, list[str]] = {}
    for entry in by_stage.values():
        key = (entry["target"], entry["present"], tuple(entry["missing"].items()))
        patterns.setdefault(key, []).append(entry["run"])
    lines = []
    for (target, present, missing), runs in patterns.items():
        shown = ", ".join(runs[:4]) + (f" and {len(runs) - 4} more" if len(runs) > 4 else "")
        lines.append(f"{coverage_line(target, present, dict(missing))}; {len(runs)} run{'s' if len(runs) > 1 else ''}: {shown}")
    return lines


def flag_lines(flags: Any) -> list[str]:
    """One line per stage that did not learn: stage, English dev score, chance / majority level, hint."""
    lines = []
    for r in flags.itertuples():
        if r.flag != NOT_LEARNED:
            continue
        stage = "/".join(str(x) for x in (r.kind, r.model, r.condition, r.target) if _given(x)) + f"/seed{r.seed}"
        levels = "; ".join(
            f"{t['task']} {t.get('metric', 'score')} {t['dev']:.1f}"
            + "".join(f", {k} {t[k]:.1f}" for k in ("chance", "majority") if t.get(k) is not None)
            for t in r.detail.get("tasks", [])
        )
        lines.append(f"{stage} did not learn: English dev at chance or majority-class level ({levels}); {r.detail.get('hint', '')}".rstrip("; "))
    return lines


def _given(value: Any) -> bool:
    return value is not None and value == value and value != ""  # None, NaN and "" are absent labels
