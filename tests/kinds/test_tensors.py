"""Padding helpers of the kinds."""

from __future__ import annotations

import pytest
import torch

from xstilts.kinds.tensors import pad_ids, widths_rounded_to


def test_rows_are_padded_to_the_longest_unless_a_multiple_is_asked():
    rows = [[5, 6, 7], [8]]
    ids, mask = pad_ids(rows, 0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    with widths_rounded_to(4):
        ids, mask = pad_ids(rows, -1)
        assert ids.tolist() == [[5, 6, 7, -1], [8, -1, -1, -1]] and mask.sum(-1).tolist() == [3, 1]
        assert pad_ids([[1, 2, 3, 4]], 0)[0].shape == (1, 4)  # already a multiple
    assert pad_ids(rows, 0)[0].shape == (2, 3)  # the setting ends with the block
    with widths_rounded_to(None):
        assert pad_ids(rows, 0)[0].shape == (2, 3)


def test_a_multiple_below_one_is_refused():
    with pytest.raises(ValueError, match="pad_to_multiple_of must be 1 or more, got 0"), widths_rounded_to(0):
        pass
    assert torch.equal(pad_ids([[1]], 0)[1], torch.ones(1, 1, dtype=torch.long))
