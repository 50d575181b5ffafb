"""Training the synthetic benchmark's tokenizer (SentencePiece-style BPE, as XLM-R's)."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from xstilts.synthetic.spec import SPECIAL_TOKENS


def train_tokenizer(corpus: Path, vocab_size: int, out_dir: Path) -> None:
    """Train BPE on `corpus` and save it as a Hugging Face tokenizer folder in `out_dir`.

    Encoder-style templates (`<s> A </s></s> B </s>`) are attached; decoder inputs are assembled
    by xstilts itself, so the same tokenizer serves both model families (a fair comparison).
    """
    from transformers import PreTrainedTokenizerFast  # lazy: loads transformers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    # Split on whitespace first so that token offsets exclude the spaces (answer spans map exactly).
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(prepend_scheme="always")]
    )
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False)
    tok.train([str(corpus)], trainer)
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        cls_token="<s>",
        sep_token="</s>",
        model_max_length=128,
    )
    fast.save_pretrained(str(out_dir))
