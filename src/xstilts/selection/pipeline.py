"""Ranking candidate intermediate tasks for one target and one model, before (most) training.

`select_intermediate(model, target, ...)` computes, from small samples (`samples` examples per
task, a few hundred rows of features each):

Always (pretrained model only; no training):
- `similarity` (candidate-dependent, ranked): the task-embedding similarity
  (`task_similarity(...).signal`) between the candidate's labelled English sample and the target's
  English training sample, in one whitened space fitted on all of them: do the candidate's labels
  live in the same feature directions as the target's? Intermediate training sharpens the
  directions its labels use, so a target reading its labels off those directions should gain.
  For a retrieval target (no labels) the target's rows are parallel sentences labelled by meaning
  (see `features.meaning_identity_features`).
- per-language alignment of the pretrained model (debiased linear CKA, 1-NN retrieval accuracy,
  cosines) on parallel English / target-language inputs where the target has them (see
  `parallel`). It is the same for every candidate: it says how much of an English gain can reach
  each language, and does not change the ranking.

Only with intermediate checkpoints (`checkpoints`, e.g. the intermediate stages of a finished or
partial grid): the intermediate phase is shared by all targets, so what selection then saves is
the target phase (target x languages x seeds).
- `logme` (candidate-dependent, ranked): LogME of the target's English labels on the checkpoint's
  features of the same target sample, the use LogME was designed for; `logme_base` in the
  output is the pretrained model's value for comparison. Not for retrieval targets.
- `hscore` (shrinkage H-score) and `ncc` (nearest-centre accuracy, 5-fold): the same question,
  shown for comparison, not ranked (they would count the same evidence three times).
- `alignment_gain` (candidate-dependent, ranked): mean over languages of the checkpoint's debiased
  CKA minus the pretrained model's; `retrieval_gain` the same for retrieval accuracy (shown, not
  ranked). Needs parallel inputs.

The ranking is the rank average of the ranked estimates (`ranking.rank_candidates`), or one
estimate alone (`method`). Every estimate carries its cost in seconds: the feature extraction it
needs for that candidate (and the checkpoint load, for checkpoint estimates) plus its own
computation, i.e. what it would cost alone; `candidate_seconds` is each candidate's work with
every part counted once; costs shared by all candidates (loading the model, the target's
features, the pretrained model's parallel embeddings, the whitening) are listed separately, and
`wall_seconds` is the whole run.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xstilts.data.loading import all_languages, english_training, load_examples
from xstilts.errors import ConfigError, DataError, unknown_name
from xstilts.models.backbone import BackboneOptions
from xstilts.models.sdpa import checked_sdpa_backends, parse_sdpa_backends
from xstilts.selection.crosslingual import AlignmentResult, crosslingual_alignment
from xstilts.selection.estimators import logme, nearest_centre_accuracy, shrinkage_h_score
from xstilts.selection.ranking import Estimate, Ranking, rank_candidates
from xstilts.selection.task_similarity import fit_reference, task_embedding, task_similarity
from xstilts.tasks import get_task
from xstilts.tasks.base import Task, TaskKind
from xstilts.tasks.suites.phang2020 import INTERMEDIATE_TASKS as PAPER_INTERMEDIATE_TASKS

log = logging.getLogger(__name__)

SYNTHETIC_BENCHMARK = "synthetic"
SYNTHETIC_CANDIDATES: tuple[str, ...] = ("syn-nli", "syn-mc", "syn-topic")
FORMAT = "xstilts-selection"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class EstimatorInfo:
    candidate_dependent: bool
    ranked: bool
    needs: str
    description: str


ESTIMATORS: dict[str, EstimatorInfo] = {
    "similarity": EstimatorInfo(
        True, True, "pretrained model",
        "task-embedding similarity of the candidate's and the target's labels (whitened between-class signal, cosine in [0, 1])",
    ),
    "logme": EstimatorInfo(True, True, "intermediate checkpoint", "LogME of the target's English labels on the checkpoint's features"),
    "hscore": EstimatorInfo(True, False, "intermediate checkpoint", "shrinkage H-score of the target's English labels on the checkpoint's features"),
    "ncc": EstimatorInfo(True, False, "intermediate checkpoint", "5-fold nearest-centre accuracy of the target's English labels on the checkpoint's features"),
    "alignment_gain": EstimatorInfo(
        True, True, "intermediate checkpoint + parallel inputs",
        "mean over languages of debiased CKA(English, language) on the checkpoint minus on the pretrained model",
    ),
    "retrieval_gain": EstimatorInfo(
        True, False, "intermediate checkpoint + parallel inputs",
        "mean over languages of 1-NN retrieval accuracy on the checkpoint minus on the pretrained model",
    ),
}


@dataclass(frozen=True)
class SelectionSettings:
    samples: int = 256  # examples per task sample (and rows per feature set, at most)
    seed: int = 0
    max_length: int = 256  # cap on each task's own max_length
    batch_size: int = 32
    pooling: str = "model"  # model (first for encoders, last for decoders) | first | last | mean
    layer: int | None = None  # hidden_states index; default last layer (retrieval: retrieval layer)
    dims: int | None = None  # whitened dimensions of the similarity space; default min(d, samples // 8)
    method: str = "rank_average"
    family: str = "auto"
    dtype: str = "float32"
    attn_implementation: str = "auto"  # auto | sdpa | eager | flash_attention_2
    sdpa_backends: str = "auto"  # kernels sdpa may use (xstilts.models.sdpa)

    def check(self) -> None:
        if self.samples < 8:
            raise ConfigError(f"samples must be at least 8, got {self.samples}")
        if self.max_length < 16:
            raise ConfigError(f"max_length must be at least 16, got {self.max_length}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.dims is not None and self.dims < 1:
            raise ConfigError(f"dims must be at least 1, got {self.dims}")
        try:
            if self.attn_implementation == "eager":
                parse_sdpa_backends(self.sdpa_backends)
            else:  # selection runs where load_pretrained leaves the model: on the CPU
                checked_sdpa_backends(self.sdpa_backends, "cpu")
        except ValueError as err:
            raise ConfigError(f"sdpa_backends: {err}") from None


@dataclass
class SelectionResult:
    model: str
    family: str
    target: str
    target_training_task: str | None
    languages: list[str]
    representation: str
    ranking: Ranking
    settings: SelectionSettings
    checkpoints: dict[str, str]
    alignment_base: dict[str, dict[str, float]]
    alignment_checkpoints: dict[str, dict[str, dict[str, float]]]
    alignment_note: str | None
    reference_values: dict[str, float]  # pretrained-model values of checkpoint estimates (logme_base, ...)
    shared_seconds: dict[str, float]
    candidate_seconds: dict[str, float]  # each candidate's own work (features, checkpoint, estimates)
    wall_seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def estimates(self) -> list[str]:
        return list(self.ranking.values.columns)

    @property
    def uses_checkpoints(self) -> bool:
        return bool(self.checkpoints)

    def to_dict(self) -> dict[str, Any]:
        r = self.ranking
        rows = []
        for position, candidate in enumerate(r.candidates, start=1):
            rows.append({
                "rank": position,
                "intermediate": candidate,
                "score": r.combined[candidate],
                "estimates": {
                    e: {"value": float(r.values.at[candidate, e]), "rank": float(r.ranks.at[candidate, e]), "seconds": float(r.seconds.at[candidate, e])}
                    for e in r.values.columns
                },
            })
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": self.model,
            "family": self.family,
            "target": self.target,
            "target_training_task": self.target_training_task,
            "languages": self.languages,
            "representation": self.representation,
            "method": r.method,
            "ranking": rows,
            "estimators": {
                e: asdict(ESTIMATORS[e]) | {"in_ranking": _weight(e, r.method) > 0} for e in r.values.columns
            },
            "reference_values": self.reference_values,
            "alignment": {
                "note": self.alignment_note,
                "pretrained": self.alignment_base,
                "checkpoints": self.alignment_checkpoints,
            },
            "checkpoints": self.checkpoints,
            "costs": {
                "shared_seconds": self.shared_seconds,
                "candidate_seconds": self.candidate_seconds,
                "per_estimate_seconds": {e: float(v) for e, v in r.seconds_per_estimator.items()},
                "wall_seconds": self.wall_seconds,
            },
            "settings": asdict(self.settings),
            "notes": self.notes,
        }


def _weight(estimator: str, method: str) -> float:
    if method == "rank_average":
        return 1.0 if ESTIMATORS[estimator].ranked else 0.0
    return 1.0 if estimator == method else 0.0


def default_candidates(target: Task) -> tuple[str, ...]:
    """The paper's nine English intermediate tasks; the synthetic ones for a synthetic target."""

    return SYNTHETIC_CANDIDATES if SYNTHETIC_BENCHMARK in target.benchmarks else PAPER_INTERMEDIATE_TASKS


def _resolve_candidates(target: Task, candidates: Sequence[str] | None, checkpoints: Mapping[str, Path]) -> list[Task]:

    if candidates is None:
        names = [c for c in default_candidates(target) if c in checkpoints] if checkpoints else list(default_candidates(target))
        if not names:
            raise DataError(
                f"none of the default candidates ({', '.join(default_candidates(target))}) has a checkpoint in --checkpoints "
                f"(it has {', '.join(sorted(checkpoints)) or 'none'}); pass --candidates"
            )
    else:
        names = list(dict.fromkeys(candidates))
    if len(names) < 2:
        raise ConfigError(f"selection needs at least 2 candidate intermediate tasks, got {names}")
    tasks = [get_task(n, where="candidates") for n in names]
    for t in tasks:
        if t.kind is TaskKind.RETRIEVAL:
            raise ConfigError(f"candidates: {t.name} is a retrieval task; it has no training data and cannot be an intermediate task")
    missing = [n for n in names if checkpoints and n not in checkpoints]
    if missing:
        raise DataError(f"--checkpoints has no intermediate checkpoint for {', '.join(missing)}; it has {', '.join(sorted(checkpoints))}")
    return tasks


def _resolve_languages(target: Task, languages: Sequence[str] | None) -> list[str]:

    known = all_languages(target)
    if languages is None:
        return [lang for lang in target.languages if lang != "en"]
    for lang in languages:
        if lang not in known:
            raise unknown_name("language", lang, known, where=target.name)
    return [lang for lang in dict.fromkeys(languages) if lang != "en"]


class _Clock:
    """Named wall-time accumulators."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds


def _timed(fn, *args, **kwargs) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def _alignment_dict(result: AlignmentResult) -> dict[str, float]:
    return {
        "cka": result.cka,
        "cka_biased": result.cka_biased,
        "retrieval_accuracy": result.retrieval_accuracy,
        "aligned_cosine": result.aligned_cosine,
        "cosine_gap": result.cosine_gap,
        "n": float(result.n),
    }


@dataclass
class _Run:
    """What the steps of one selection run share."""

    model: Any  # XStiltsModel, the pretrained model
    rep: Any  # features.Representation
    settings: SelectionSettings
    target: Task
    data_dir: Path | str | None
    shared: _Clock = field(default_factory=_Clock)
    per_candidate: _Clock = field(default_factory=_Clock)  # each candidate's own work, every part counted once
    notes: list[str] = field(default_factory=list)

    def max_length(self, task: Task) -> int:
        return min(task.hyperparameters.max_length, self.settings.max_length)

    def features(self, model: Any, task: Task, examples: list) -> Any:
        from xstilts.selection.features import labelled_features  # lazy: loads torch

        s = self.settings
        return labelled_features(
            model, task, examples, self.rep, max_length=self.max_length(task), max_rows=s.samples, batch_size=s.batch_size, seed=s.seed
        )

    def embed_pairs(self, model: Any, pairs: dict[str, tuple[list[str], list[str]]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        from xstilts.selection.features import sentence_embeddings  # lazy: loads torch

        def embed(texts: list[str]) -> np.ndarray:
            return sentence_embeddings(model, texts, self.rep, max_length=self.max_length(self.target), batch_size=self.settings.batch_size)

        return {lang: (embed(en), embed(xx)) for lang, (en, xx) in pairs.items()}


def select_intermediate(
    model: str,
    target: str | Task,
    *,
    candidates: Sequence[str] | None = None,
    languages: Sequence[str] | None = None,
    checkpoints: Mapping[str, Path | str] | None = None,
    settings: SelectionSettings = SelectionSettings(),
    data_dir: Path | str | None = None,
) -> SelectionResult:
    """Rank candidate intermediate tasks for `target` on `model` (see module doc)."""
    from xstilts.models.model import load_pretrained  # lazy: loads torch
    from xstilts.selection.features import representation_for  # lazy: loads torch

    settings.check()
    wall_start = time.perf_counter()
    target_task = get_task(target, where="target") if isinstance(target, str) else target
    ckpts = {name: Path(p) for name, p in (checkpoints or {}).items()}
    cand_tasks = _resolve_candidates(target_task, candidates, ckpts)
    langs = _resolve_languages(target_task, languages)
    if settings.method != "rank_average" and settings.method not in ESTIMATORS:
        raise ConfigError(f"method must be rank_average or one of {', '.join(ESTIMATORS)}, got {settings.method!r}")
    options = BackboneOptions(
        family=settings.family, dtype=settings.dtype, attn_implementation=settings.attn_implementation, sdpa_backends=settings.sdpa_backends,
    )
    base, seconds = _timed(load_pretrained, model, options)
    run = _Run(base, representation_for(base, target_task, settings.pooling, settings.layer), settings, target_task, data_dir)
    run.shared.add("load pretrained model", seconds)
    log.info(
        "selection for %s on %s (%s): %s; candidates %s",
        target_task.name, model, base.family.value, run.rep.describe(), ", ".join(t.name for t in cand_tasks),
    )

    pairs, alignment_note = _parallel_inputs(run, langs)
    base_embeddings, seconds = _timed(run.embed_pairs, base, pairs)
    run.shared.add("pretrained parallel embeddings", seconds)
    alignment_base, seconds = _timed(_alignments, base_embeddings)
    run.shared.add("pretrained alignment", seconds)
    training_task, target_examples, target_feats = _target_sample(run, pairs, alignment_note)
    estimates = _similarity_estimates(run, cand_tasks, target_feats)

    reference_values: dict[str, float] = {}
    alignment_ckpt: dict[str, dict[str, dict[str, float]]] = {}
    if ckpts:
        if training_task is not None:
            scores, seconds = _timed(_label_scores, target_feats.features, target_feats.labels)
            run.shared.add("pretrained label scores", seconds)
            reference_values = {"logme_base": scores["logme"], "hscore_base": scores["hscore"], "ncc_base": scores["ncc"]}
        for task in cand_tasks:
            alignment = _checkpoint_estimates(
                run, task, ckpts[task.name], options, training_task, target_examples, pairs, alignment_base, estimates[task.name]
            )
            if alignment:
                alignment_ckpt[task.name] = alignment

    ranking = _rank(estimates, settings.method, run.notes)
    if alignment_note:
        run.notes.append(f"cross-lingual alignment: {alignment_note}")
    if not ckpts:
        run.notes.append(
            "only the pretrained model was used: the ranking rests on task similarity alone; "
            "--checkpoints adds LogME and alignment change of each candidate's intermediate checkpoint"
        )
    return SelectionResult(
        model=model,
        family=base.family.value,
        target=target_task.name,
        target_training_task=training_task.name if training_task else None,
        languages=langs,
        representation=run.rep.describe(),
        ranking=ranking,
        settings=settings,
        checkpoints={t.name: str(ckpts[t.name]) for t in cand_tasks if t.name in ckpts},
        alignment_base=alignment_base,
        alignment_checkpoints=alignment_ckpt,
        alignment_note=alignment_note,
        reference_values=reference_values,
        shared_seconds=run.shared.seconds,
        candidate_seconds=run.per_candidate.seconds,
        wall_seconds=time.perf_counter() - wall_start,
        notes=run.notes,
    )


def _parallel_inputs(run: _Run, languages: list[str]) -> tuple[dict[str, tuple[list[str], list[str]]], str | None]:
    """{language: (English texts, translations)}, and why alignment is unavailable (None if it is)."""
    from xstilts.selection.parallel import parallel_sentences, unavailable_reason  # lazy: loads torch

    if not languages:
        return {}, "no target languages other than English"
    reason = unavailable_reason(run.target)
    if reason:
        return {}, reason
    pairs = {}
    try:
        for lang in languages:
            text, seconds = _timed(
                parallel_sentences, run.target, lang, run.settings.samples, seed=run.settings.seed, data_dir=run.data_dir
            )
            run.shared.add("load parallel inputs", seconds)
            pairs[lang] = (text.english, text.target)
    except DataError as err:  # the evaluation data may be absent where the English training data is not
        return {}, f"parallel inputs could not be loaded ({err})"
    return pairs, None


def _alignments(embeddings: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, dict[str, float]]:
    return {lang: _alignment_dict(crosslingual_alignment(x, y)) for lang, (x, y) in embeddings.items()}


def _target_sample(run: _Run, pairs: dict, alignment_note: str | None) -> tuple[Task | None, list, Any]:
    """The target's English training task (None for retrieval), its sampled examples, and their
    labelled features under the pretrained model."""
    from xstilts.selection.features import meaning_identity_features, sample_examples  # lazy: loads torch

    s = run.settings
    if run.target.kind is TaskKind.RETRIEVAL:
        if not pairs:
            raise DataError(f"{run.target.name}: a retrieval target needs parallel inputs for selection ({alignment_note})")
        feats = meaning_identity_features(
            run.model, pairs, run.rep, max_length=run.max_length(run.target), rows=s.samples, batch_size=s.batch_size, seed=s.seed
        )
        run.notes.append(
            f"{run.target.name} is a retrieval task without labels: its rows are parallel sentences labelled by meaning "
            "(English and every language), and LogME / H-score / nearest-centre accuracy are not computed."
        )
        run.shared.add("target features (pretrained)", feats.seconds)
        return None, [], feats
    training_task = english_training(run.target)[-1].task
    examples, seconds = _timed(load_examples, training_task, training_task.train_split, "en", run.data_dir)
    run.shared.add("load target sample", seconds)
    sample = sample_examples(examples, s.samples, f"{s.seed}/{training_task.name}/target")
    feats = run.features(run.model, training_task, sample)
    run.shared.add("target features (pretrained)", feats.seconds)
    return training_task, sample, feats


def _similarity_estimates(run: _Run, candidates: list[Task], target_feats: Any) -> dict[str, list[Estimate]]:
    """Each candidate's task-embedding similarity to the target, in one whitened space."""
    from xstilts.selection.features import sample_examples  # lazy: loads torch

    s = run.settings
    cand_feats = {}
    for task in candidates:
        examples, seconds = _timed(load_examples, task, task.train_split, "en", run.data_dir)
        feats = run.features(run.model, task, sample_examples(examples, s.samples, f"{s.seed}/{task.name}/candidate"))
        cand_feats[task.name] = feats
        run.per_candidate.add(task.name, seconds + feats.seconds)
        log.info("features of %s: %d rows in %.1fs", task.name, feats.rows, feats.seconds)

    dims = s.dims or max(2, min(target_feats.features.shape[1], s.samples // 8))
    reference, seconds = _timed(fit_reference, target_feats.features, *(f.features for f in cand_feats.values()), dims=dims)
    run.shared.add("whitening reference", seconds)
    target_embedding, seconds = _timed(task_embedding, target_feats.features, target_feats.labels, reference)
    run.shared.add("target task embedding", seconds)
    if target_embedding.noise_fraction > 0.5:
        run.notes.append(
            f"the target sample's label signal is {100 * target_embedding.noise_fraction:.0f}% sampling noise under this model: "
            "similarities are unreliable (more --samples may help)"
        )
    estimates: dict[str, list[Estimate]] = {}
    for task in candidates:
        feats = cand_feats[task.name]
        start = time.perf_counter()
        embedding = task_embedding(feats.features, feats.labels, reference)
        similarity = task_similarity(embedding, target_embedding)
        seconds = time.perf_counter() - start
        run.per_candidate.add(task.name, seconds)
        total = run.per_candidate.seconds[task.name]  # its features and this computation
        estimates[task.name] = [Estimate("similarity", similarity.signal, total, similarity)]
        if embedding.noise_fraction > 0.5:
            run.notes.append(f"{task.name}: its label signal is {100 * embedding.noise_fraction:.0f}% sampling noise under this model")
    return estimates


def _checkpoint_estimates(
    run: _Run,
    task: Task,
    folder: Path,
    options: Any,
    training_task: Task | None,
    target_examples: list,
    pairs: dict,
    alignment_base: dict[str, dict[str, float]],
    out: list[Estimate],
) -> dict[str, dict[str, float]]:
    """Append the checkpoint estimates of one candidate to `out`; return its per-language alignment."""
    from xstilts.models.model import load_checkpoint  # lazy: loads torch

    ckpt, load_s = _timed(load_checkpoint, folder, options, expect_family=run.model.family, keep_heads=False)
    log.info("checkpoint of %s loaded from %s in %.1fs", task.name, folder, load_s)
    run.per_candidate.add(task.name, load_s)
    if training_task is not None:
        feats = run.features(ckpt, training_task, target_examples)
        run.per_candidate.add(task.name, feats.seconds)
        for name, fn in (("logme", logme), ("hscore", shrinkage_h_score), ("ncc", nearest_centre_accuracy)):
            result, seconds = _timed(fn, feats.features, feats.labels)
            run.per_candidate.add(task.name, seconds)
            out.append(Estimate(name, float(result.score), load_s + feats.seconds + seconds, result))
    alignment: dict[str, dict[str, float]] = {}
    if pairs:
        start = time.perf_counter()
        alignment = _alignments(run.embed_pairs(ckpt, pairs))
        seconds = time.perf_counter() - start
        run.per_candidate.add(task.name, seconds)
        cka_gain = float(np.mean([alignment[lang]["cka"] - alignment_base[lang]["cka"] for lang in alignment]))
        retrieval_gain = float(np.mean([
            alignment[lang]["retrieval_accuracy"] - alignment_base[lang]["retrieval_accuracy"] for lang in alignment
        ]))
        out.append(Estimate("alignment_gain", cka_gain, load_s + seconds))
        out.append(Estimate("retrieval_gain", retrieval_gain, load_s + seconds))
    del ckpt
    gc.collect()
    return alignment


def _rank(estimates: dict[str, list[Estimate]], method: str, notes: list[str]) -> Ranking:
    estimates = _drop_non_finite(estimates, notes)
    present = {e.name for items in estimates.values() for e in items}
    if method != "rank_average" and method not in present:
        raise ConfigError(
            f"method {method!r} was not computed for this run (computed: {', '.join(sorted(present))}); "
            "checkpoint estimates need --checkpoints"
        )
    return rank_candidates(estimates, method=method, weights={e: _weight(e, method) for e in present})


def _drop_non_finite(estimates: dict[str, list[Estimate]], notes: list[str]) -> dict[str, list[Estimate]]:
    """Leave out an estimate that is not finite for some candidate (e.g. CKA of a constant
    representation), so the others still rank every candidate; say so in the notes."""
    bad = sorted({e.name for items in estimates.values() for e in items if not np.isfinite(e.value)})
    for name in bad:
        notes.append(f"{name} is not finite for some candidate and was left out of the ranking")
    return {c: [e for e in items if e.name not in bad] for c, items in estimates.items()}


def _label_scores(features: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    return {
        "logme": float(logme(features, labels).score),
        "hscore": float(shrinkage_h_score(features, labels).score),
        "ncc": float(nearest_centre_accuracy(features, labels).score),
    }
