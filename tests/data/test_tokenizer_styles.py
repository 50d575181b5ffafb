"""The same tasks with the tokenizer conventions of XLM-R, BERT, GPT-2, Llama and BLOOM."""

from __future__ import annotations

import random

import pytest
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from xstilts.data.formatting import InputFormat
from xstilts.kinds import FeaturizeOptions, handler_for
from xstilts.models.backbone import Family
from xstilts.synthetic.tasks import GENERATORS
from xstilts.synthetic.world import LANGUAGES, World
from xstilts.tasks import get_task


def _corpus() -> list[str]:
    world, rng = World(0), random.Random(0)
    return [world.realise(world.random_proposition(rng), lang).text for _ in range(300) for lang in LANGUAGES]


def _wrap(tok: Tokenizer, **special: str) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(tokenizer_object=tok, **special)


def gpt2_style() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(_corpus(), trainers.BpeTrainer(vocab_size=500, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    return _wrap(tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>")  # no pad token, like GPT-2


def llama_style() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    # SentencePiece never merges across words: train on pre-split words, then apply as Llama does
    # (no pre-tokenizer, spaces normalised to "▁").
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="always")
    tok.train_from_iterator(_corpus(), trainers.BpeTrainer(vocab_size=500, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False))
    tok.pre_tokenizer = None
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)])
    return _wrap(tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def bloom_style() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(_corpus(), trainers.BpeTrainer(vocab_size=500, special_tokens=["<unk>", "<s>", "</s>", "<pad>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    return _wrap(tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>")


def bert_style() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(_corpus(), trainers.WordPieceTrainer(vocab_size=500, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], show_progress=False))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return _wrap(tok, cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]", mask_token="[MASK]")


def xlmr_style() -> PreTrainedTokenizerFast:
    import tempfile
    from pathlib import Path

    from transformers import AutoTokenizer

    from xstilts.synthetic.tokenizer import train_tokenizer

    root = Path(tempfile.mkdtemp())
    (root / "corpus.txt").write_text("\n".join(_corpus()))
    train_tokenizer(root / "corpus.txt", 500, root / "tok")
    return AutoTokenizer.from_pretrained(str(root / "tok"))


STYLES = {
    "xlmr": (xlmr_style, Family.ENCODER),
    "bert": (bert_style, Family.ENCODER),
    "gpt2": (gpt2_style, Family.DECODER),
    "llama": (llama_style, Family.DECODER),
    "bloom": (bloom_style, Family.DECODER),
}


@pytest.fixture(scope="module", params=list(STYLES))
def styled(request):
    build, family = STYLES[request.param]
    tok = build()
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token  # what models.backbone.load_tokenizer does for decoders
    return request.param, tok, family, InputFormat.for_tokenizer(tok, family)


def test_framing_has_each_special_token_once_in_the_right_place(styled):
    _name, tok, family, fmt = styled
    a = tok("Anna sees the cat .", add_special_tokens=False)["input_ids"]
    b = tok("the cat is seen .", add_special_tokens=False)["input_ids"]
    pair, b_start = fmt.pair(a, b)
    assert pair[b_start : b_start + len(b)] == b
    if family is Family.DECODER:
        assert pair[-1] == tok.eos_token_id  # last-token pooling reads the final EOS
        bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
        assert pair == bos + a + [tok.eos_token_id] + b + [tok.eos_token_id]
    else:
        assert pair == tok("Anna sees the cat .", "the cat is seen .")["input_ids"]
        assert fmt.single(a) == tok("Anna sees the cat .")["input_ids"]


def test_qa_answer_positions_decode_to_the_answer(styled):
    _name, tok, _family, fmt = styled
    task = get_task("syn-qa")
    examples = GENERATORS["syn-qa"](World(0), random.Random(3), 12, ("en", "scr"))
    for lang in ("en", "scr"):
        features = handler_for(task).featurize(examples[lang], tok, fmt, task, FeaturizeOptions(max_length=64, stride=16))
        found = set()
        for f in features:
            if f["start"] == 0 and f["end"] == 0:
                continue
            ex = examples[lang][f["example_index"]]
            s, e = f["offset_mapping"][f["start"]], f["offset_mapping"][f["end"]]
            assert ex["context"][s[0] : e[1]] == ex["answers"]["text"][0]
            found.add(f["example_index"])
        assert len(found) == len(examples[lang])


def test_tagging_labels_sit_on_first_subwords(styled):
    _name, tok, _family, fmt = styled
    task = get_task("syn-pos")
    examples = GENERATORS["syn-pos"](World(0), random.Random(4), 10, ("clo",))["clo"]
    features = handler_for(task).featurize(examples, tok, fmt, task, FeaturizeOptions(max_length=64))
    for f in features:
        ex = examples[f["example_index"]]
        labelled = [l for l in f["labels"] if l != -100]
        assert labelled == ex["tags"][f["first_word"] : f["first_word"] + len(labelled)]
        for k, pos in enumerate(f["word_positions"]):
            word = ex["tokens"][f["first_word"] + k]
            piece = tok.decode([f["input_ids"][pos]]).strip()
            assert word.startswith(piece) or piece in ("", "<unk>", "[UNK]"), (word, piece)
