"""Intermediate-task selection: cheap transferability estimates and their validation.

Layout:
- pure functions of numpy arrays / pandas frames (no model, no torch):
  `estimators` (LogME, H-score, nearest-centre accuracy), `task_similarity` (task embeddings),
  `crosslingual` (CKA, retrieval alignment), `ranking` (timed estimates -> `Ranking`),
  `validation` (`validate_ranking`: rank correlation, top-k, regret);
- `grid` (pandas + the results store, no torch): a finished grid's gains and stage costs, its
  intermediate checkpoints, and `validation_table(store_path, rankings=None)`;
- model-facing (torch): `features` (labelled feature rows per task kind), `parallel` (parallel
  English / target-language inputs), `pipeline` (`select_intermediate`, what `xstilts select` runs).

How `xstilts select --model M --target T` uses it, for candidates I_1..I_k (see `pipeline`):

1. Before any training (base model M only):
   - reference = fit_reference(f_M(T), f_M(I_1), ..., f_M(I_k)) on equal-sized samples;
   - task_similarity(task_embedding(f_M(I_j), y_Ij, reference), task_embedding(f_M(T), y_T, reference))
     per candidate: does I_j carry its labels in the same feature directions as T?
   - crosslingual_alignment(f_M(english), f_M(language)) per language on parallel sentences: how
     much of an English gain can reach that language (the same for every candidate).
2. After the intermediate phase only (checkpoints M∘I_j, shared by all targets, so the
   expensive target phase x languages x seeds is what selection saves):
   - logme / shrinkage_h_score / nearest_centre_accuracy of T's English labels on f_{M∘I_j}(T),
     the use LogME was designed for (ranking pre-trained checkpoints for a target);
   - crosslingual_alignment on f_{M∘I_j}, minus the base model's, per language.
3. Time each with `measure`, pass {candidate: [Estimate, ...]} to `rank_candidates`
   (rank average by default), and `Ranking.to_frame(model=M, target=T)` to `validate_ranking`
   against a finished grid's gains (`grid.validation_table` does this from a results store).
"""

from xstilts.selection.crosslingual import AlignmentResult, crosslingual_alignment, linear_cka
from xstilts.selection.estimators import (
    HScoreResult,
    LogMEResult,
    NearestCentreResult,
    h_score,
    log_evidence,
    logme,
    nearest_centre_accuracy,
    shrinkage_h_score,
)
from xstilts.selection.grid import SelectionValidation, measured_gains, stage_costs, validation_table
from xstilts.selection.ranking import Estimate, Ranking, measure, rank_candidates
from xstilts.selection.task_similarity import (
    FeatureReference,
    TaskEmbedding,
    TaskSimilarity,
    fit_reference,
    task_embedding,
    task_similarity,
)
from xstilts.selection.validation import ValidationReport, validate_ranking

__all__ = [
    "AlignmentResult",
    "Estimate",
    "FeatureReference",
    "HScoreResult",
    "LogMEResult",
    "NearestCentreResult",
    "Ranking",
    "SelectionValidation",
    "TaskEmbedding",
    "TaskSimilarity",
    "ValidationReport",
    "crosslingual_alignment",
    "fit_reference",
    "h_score",
    "linear_cka",
    "log_evidence",
    "logme",
    "measured_gains",
    "measure",
    "nearest_centre_accuracy",
    "rank_candidates",
    "shrinkage_h_score",
    "stage_costs",
    "task_embedding",
    "task_similarity",
    "validate_ranking",
    "validation_table",
]
