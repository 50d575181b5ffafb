import pytest
import torch

from xstilts.kinds.tensors import pool


def _padded(lengths: list[int], width: int, side: str, hidden: int = 3) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Batches whose real tokens hold distinct values, padded on `side`; also the real tokens."""
    torch.manual_seed(0)
    real = [torch.randn(n, hidden) for n in lengths]
    h = torch.full((len(lengths), width, hidden), 99.0)
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for i, r in enumerate(real):
        n = len(r)
        sl = slice(0, n) if side == "right" else slice(width - n, width)
        h[i, sl], mask[i, sl] = r, 1
    return h, mask, real


@pytest.mark.parametrize("side", ["left", "right"])
def test_pooled_positions_are_right_for_both_padding_sides(side):
    h, mask, real = _padded([2, 5, 3], width=6, side=side)
    assert torch.equal(pool(h, mask, "last"), torch.stack([r[-1] for r in real]))
    assert torch.equal(pool(h, mask, "first"), torch.stack([r[0] for r in real]))
    assert torch.allclose(pool(h, mask, "mean"), torch.stack([r.mean(0) for r in real]))


def test_unknown_pooling_is_refused():
    h, mask, _ = _padded([2], width=3, side="right")
    with pytest.raises(ValueError):
        pool(h, mask, "max")
