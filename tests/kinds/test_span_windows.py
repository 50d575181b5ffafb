import random

from xstilts.kinds import FeaturizeOptions, handler_for
from xstilts.models.backbone import BackboneOptions
from xstilts.models.model import load_pretrained
from xstilts.synthetic.tasks import GENERATORS
from xstilts.synthetic.world import World
from xstilts.tasks import get_task


def test_long_contexts_are_cut_into_overlapping_windows_that_keep_the_answer(tiny_models):
    model = load_pretrained(str(tiny_models["encoder"]), BackboneOptions())
    task = get_task("syn-qa")
    ex = GENERATORS["syn-squad"](World(0), random.Random(0), 1, ("en",))["en"][0]
    filler = "Anna sees the cat . " * 12
    ex = dict(ex, context=filler + ex["context"], answers={"text": ex["answers"]["text"], "answer_start": [ex["answers"]["answer_start"][0] + len(filler)]})
    features = handler_for(task).featurize([ex], model.tokenizer, model.input_format, task, FeaturizeOptions(max_length=32, stride=8))
    assert len(features) > 3
    covered = [f for f in features if f["start"] or f["end"]]
    assert covered, "no window holds the answer"
    for f in covered:
        s, e = f["offset_mapping"][f["start"]], f["offset_mapping"][f["end"]]
        assert ex["context"][s[0] : e[1]] == ex["answers"]["text"][0]
    # consecutive windows overlap by `stride` context tokens
    first = [o for o in features[0]["offset_mapping"] if o is not None]
    second = [o for o in features[1]["offset_mapping"] if o is not None]
    assert first[-8:] == second[:8]
