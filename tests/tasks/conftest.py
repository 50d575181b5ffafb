"""Tests of data loading run offline: the hub is unreachable, fixtures stand in for datasets."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch):
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
