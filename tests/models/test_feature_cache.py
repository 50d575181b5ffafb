import random

import pytest

from xstilts.kinds import FeaturizeOptions, handler_for
from xstilts.models.backbone import BackboneOptions
from xstilts.models.features import cached_features
from xstilts.models.model import load_pretrained
from xstilts.synthetic.tasks import GENERATORS
from xstilts.synthetic.world import World
from xstilts.tasks import get_task


@pytest.mark.parametrize("task_name", ["syn-para", "syn-qa", "syn-pos", "syn-mc"])
def test_second_call_reads_the_cache_without_tokenising(tiny_models, tmp_path, monkeypatch, task_name):
    model = load_pretrained(str(tiny_models["decoder"]), BackboneOptions())
    task = get_task(task_name)
    examples = GENERATORS[task_name](World(0), random.Random(0), 6, ("en",))["en"]
    first = cached_features(model, task, examples, FeaturizeOptions(max_length=32), tmp_path)
    handler = type(handler_for(task))

    def refuse(*args, **kwargs):
        raise AssertionError("tokenised again")

    monkeypatch.setattr(handler, "featurize", refuse)
    second = cached_features(model, task, examples, FeaturizeOptions(max_length=32), tmp_path)
    assert second == first
    with pytest.raises(AssertionError, match="tokenised again"):  # other options are another key
        cached_features(model, task, examples, FeaturizeOptions(max_length=40), tmp_path)
