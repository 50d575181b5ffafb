"""Evaluation that agrees with google-research/xtreme's official scripts.

Modules:
  metrics                the metric registry (`get_metric`) and every XTREME / XTREME-R metric
  answer_normalization   SQuAD and MLQA answer normalisation
  retrieval              chunked nearest neighbours (torch, CPU/GPU), BUCC margin mining and
                         threshold, Tatoeba predictions, rankings for mAP@k
  qa                     start/end logits over strided windows -> answer strings
  aggregate              language averages, the XTREME and XTREME-R scores, transfer gaps
  benchmarks             task lists, languages and groups of both benchmarks
  submission             reading, scoring and writing `<task>/test-<lang>.<ext>` folders
  stage_predictions      the pipeline's own `<stage>/predictions/<lang>.jsonl` files: reading, scoring
  export                 a grid cell's stage predictions -> submission (and gold) folders
  predict                running a model over a task's examples, decoding, scoring
Only the metric registry is imported here, so that `import xstilts.evaluation` stays light.
"""

from xstilts.evaluation.metrics import METRICS, Metric, get_metric, register

__all__ = ["METRICS", "Metric", "get_metric", "register"]
