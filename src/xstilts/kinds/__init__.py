"""The five task kinds; `handler_for(task)` gives the object that owns a kind's behaviour."""

from xstilts.kinds.base import FeaturizeOptions, KindHandler, pool
from xstilts.kinds.classification import ClassificationHandler
from xstilts.kinds.multiple_choice import MultipleChoiceHandler
from xstilts.kinds.retrieval import RetrievalHandler
from xstilts.kinds.span_extraction import SpanExtractionHandler
from xstilts.kinds.tagging import TaggingHandler
from xstilts.tasks.base import Task, TaskKind

HANDLERS: dict[TaskKind, KindHandler] = {
    h.kind: h
    for h in (ClassificationHandler(), MultipleChoiceHandler(), SpanExtractionHandler(), TaggingHandler(), RetrievalHandler())
}


def handler_for(task: Task) -> KindHandler:
    return HANDLERS[task.kind]


__all__ = ["FeaturizeOptions", "HANDLERS", "KindHandler", "handler_for", "pool"]
