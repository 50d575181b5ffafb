"""The shipped pretrained synthetic models: they match the spec, and their word embeddings carry
the graded cross-lingual alignment that zero-shot transfer rests on."""

from __future__ import annotations

import pytest

from xstilts.synthetic.benchmark import SyntheticSpec
from xstilts.synthetic.pretrain import SHIPPED_DIR
from xstilts.synthetic.world import LANGUAGES, World, _all_lemmas

FAMILIES = ("encoder", "decoder")


def _shipped(family: str):
    folder = SHIPPED_DIR / SyntheticSpec().pretraining_fingerprint / family
    assert (folder / "DONE").exists(), f"no shipped {family} for the current spec: run `xstilts synthetic pretrain --ship`"
    return folder


def _word_forms(world: World) -> dict[str, dict[str, str]]:
    return {lang: {lemma: world.lexicons[lang][lemma] for lemma in dict.fromkeys(_all_lemmas())} for lang in LANGUAGES}


@pytest.mark.parametrize("family", FAMILIES)
def test_every_word_form_is_one_token(family: str) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(_shipped(family)))
    for lang, forms in _word_forms(World(SyntheticSpec().seed)).items():
        split = [w for w in forms.values() if len(tokenizer.tokenize(w)) != 1]
        assert not split, (lang, split)


@pytest.mark.parametrize("family", FAMILIES)
def test_word_embeddings_align_translations_graded_by_distance(family: str) -> None:
    """Nearest English word (cosine, input embeddings) of each word's translation: right far above
    chance in every language, and more often the closer the language."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = _shipped(family)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    embeddings = AutoModel.from_pretrained(str(folder)).get_input_embeddings().weight.detach()
    forms = _word_forms(World(SyntheticSpec().seed))

    def vectors(lang: str) -> torch.Tensor:
        ids = [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(w)[0]) for w in forms[lang].values()]
        return torch.nn.functional.normalize(embeddings[ids], dim=-1)

    english = vectors("en")
    gold = torch.arange(len(english))
    accuracy = {lang: ((vectors(lang) @ english.T).argmax(1) == gold).float().mean().item() for lang in LANGUAGES[1:]}
    chance = 1 / len(english)
    assert min(accuracy.values()) > 10 * chance, accuracy
    assert accuracy["clo"] > accuracy["scr"] > accuracy["ord"], accuracy
