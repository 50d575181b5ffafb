"""Shared checks for the analysis tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps


def _assert_no_silent_nan(frame: pd.DataFrame) -> None:
    """Every row with a NaN number must say why in its `note`."""
    numeric = frame.select_dtypes(include=[np.number])
    has_nan = numeric.isna().any(axis=1)
    silent = frame.loc[has_nan & (frame["note"].fillna("").str.len() == 0)]
    assert silent.empty, f"rows with NaN and no note:\n{silent}"


@pytest.fixture
def assert_no_silent_nan():
    return _assert_no_silent_nan


def _assert_rate_near(hits: int, trials: int, rate: float, confidence: float = 0.999) -> None:
    """hits/trials lies in the central `confidence` binomial range around `rate`."""
    lo, hi = sps.binom.interval(confidence, trials, rate)
    assert lo <= hits <= hi, f"{hits}/{trials} = {hits / trials:.3f}, expected {rate} (accept {lo:.0f}..{hi:.0f})"


@pytest.fixture
def assert_rate_near():
    return _assert_rate_near
