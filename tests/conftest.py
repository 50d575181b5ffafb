"""Shared fixtures: tiny random-weight models of both families with a locally trained tokenizer."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FIXTURES = Path(__file__).resolve().parent / "fixtures"  # tiny files in each dataset's real schema


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Local-data environment variables of the developer's shell must not change the tests."""
    for name in list(os.environ):
        if name.startswith("XSTILTS_DATA"):
            monkeypatch.delenv(name)


@pytest.fixture
def hub_fixtures() -> Path:
    return FIXTURES / "hub"


@pytest.fixture
def original_fixtures() -> Path:
    return FIXTURES / "original"


def _build_tiny(root: Path) -> dict[str, Path]:
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    from xstilts.synthetic.pretrain import model_config
    from xstilts.synthetic.spec import ModelShape
    from xstilts.synthetic.tokenizer import train_tokenizer
    from xstilts.synthetic.world import LANGUAGES, World

    world, rng = World(0), random.Random(0)
    lines = [world.realise(world.random_proposition(rng), lang).text for _ in range(600) for lang in LANGUAGES]
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(lines))
    train_tokenizer(corpus, 400, root / "tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(str(root / "tokenizer"))
    shape = ModelShape(layers=2, hidden=32, heads=2, intermediate=64, max_positions=130)
    paths = {}
    for family, cls in (("encoder", AutoModelForMaskedLM), ("decoder", AutoModelForCausalLM)):
        torch.manual_seed(0)
        model = cls.from_config(model_config(family, shape, tokenizer))
        model.save_pretrained(str(root / family), safe_serialization=True)
        tokenizer.save_pretrained(str(root / family))
        paths[family] = root / family
    return paths


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Synthetic data and feature caches go to a temporary folder, never the user's ~/.cache."""
    if "XSTILTS_CACHE" not in os.environ:
        os.environ["XSTILTS_CACHE"] = str(tmp_path_factory.mktemp("xstilts-cache"))


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Paths of a tiny random-weight encoder (XLM-R config) and decoder (Llama config)."""
    return _build_tiny(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(params=["encoder", "decoder"])
def family(request: pytest.FixtureRequest) -> str:
    return request.param
