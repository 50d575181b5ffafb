"""Fixtures of the experiment tests: small specs, worker environments, a tiny random-weight encoder."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from experiment_helpers import SRC  # noqa: E402 - importable once HERE is on sys.path


@pytest.fixture
def worker_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Environment for worker processes: this checkout's code and the fake stage runners."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(SRC), str(HERE)]))
    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("FAKE_STAGE_SECONDS", "0.2")
    return dict(os.environ)


def _build_tiny_encoder(root: Path) -> Path:
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from xstilts.synthetic.pretrain import model_config
    from xstilts.synthetic.spec import ModelShape
    from xstilts.synthetic.tokenizer import train_tokenizer
    from xstilts.synthetic.world import LANGUAGES, World

    world, rng = World(0), random.Random(0)
    lines = [world.realise(world.random_proposition(rng), lang).text for _ in range(300) for lang in LANGUAGES]
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(lines))
    train_tokenizer(corpus, 400, root / "tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(str(root / "tokenizer"))
    shape = ModelShape(layers=2, hidden=32, heads=2, intermediate=64, max_positions=130)
    torch.manual_seed(0)
    model = AutoModelForMaskedLM.from_config(model_config("encoder", shape, tokenizer))
    model.save_pretrained(str(root / "encoder"), safe_serialization=True)
    tokenizer.save_pretrained(str(root / "encoder"))
    return root / "encoder"


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight XLM-R-style encoder with a tokenizer trained on the synthetic world."""
    return _build_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory):
    """A real single-node Slurm with accounting (see slurm_cluster.py), for this test session.
    Skipped with the reason where it cannot start; XSTILTS_REQUIRE_SLURM=1 (CI) makes that a failure."""
    from slurm_cluster import SlurmCluster, SlurmUnavailable, unavailable_reason

    required = os.environ.get("XSTILTS_REQUIRE_SLURM") == "1"
    reason = unavailable_reason()
    if reason:
        (pytest.fail if required else pytest.skip)(f"no Slurm cluster: {reason}")
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except SlurmUnavailable as err:
        (pytest.fail if required else pytest.skip)(f"Slurm did not start: {err}")
    saved = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)  # sbatch/sacct called by the executor in this process
    try:
        yield cluster
    finally:
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved
        cluster.stop()
