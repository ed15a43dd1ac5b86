"""Input-transform defenses as the authors' harness defines them: bit-depth, R&P, Cohen's RS, FD JPEG."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from toolkit.attacks.input_defenses import (
    DEFENSE_OPTIONS,
    bit_depth,
    check_defense_options,
    cohen_predict,
    fd_jpeg,
    resize_pad,
    wrap_defense,
)
from toolkit.engine.errors import LtError


class Record(nn.Module):
    """A victim that remembers its input and returns fixed logits."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.classes, self.seen = classes, None

    def forward(self, x):
        self.seen = x
        return torch.zeros(x.shape[0], self.classes)


def test_bit_depth_floors_to_2_pow_bits_levels():
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    x[0, 0, 0, :3] = torch.tensor([0.0, 1.0, 15.99 / 16])
    for bits in (1, 3, 4):
        out = bit_depth(x, bits)
        ref = np.floor(x.numpy() * 2 ** bits) / 2 ** bits
        assert np.abs(out.numpy() - ref).max() < 1e-6
        inner = out[out < 1]  # below 1.0 there are exactly the 2^bits levels k/2^bits
        assert set((inner * 2 ** bits).round().unique().tolist()) <= set(range(2 ** bits))
    assert bit_depth(x, 4)[0, 0, 0, 2] == 15 / 16 and bit_depth(x, 4)[0, 0, 0, 1] == 1.0


def test_rp_shrinks_and_pads_back_to_the_input_size():
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)) + 0.1
    out = resize_pad(x, 0.1, 1.0, 0.0)  # 32 -> 28, padded right-aligned horizontally, top-aligned
    assert out.shape == x.shape
    assert (out[..., :, :4] == 0).all() and (out[..., 28:, :] == 0).all()
    assert (out[..., :28, 4:].abs() > 0).all()
    victim = Record()
    wrap_defense(victim, "rp", seed=0)(x)
    assert victim.seen.shape == x.shape  # a fixed-size victim keeps working


def test_cohen_predict_abstains_as_the_binomial_test_says():
    from scipy.stats import binomtest

    votes = torch.tensor([[60.0, 40, 0], [99, 1, 0], [0, 3, 97], [50, 50, 0]])
    pred = cohen_predict(votes, alpha=0.001)
    expected = [int(v.argmax()) if binomtest(int(v.sort().values[-1]), int(v.sort().values[-2:].sum()), 0.5).pvalue
                <= 0.001 else -1 for v in votes]
    assert pred.tolist() == expected == [-1, 0, 2, -1]


def test_rs_victim_counts_votes_and_decides():
    class Fixed(nn.Module):
        def forward(self, x):
            return torch.tensor([[0.0, 5.0, 0.0]]).expand(x.shape[0], 3)

    rs = wrap_defense(Fixed(), "rs", rs_samples=100)
    votes = rs(torch.rand(2, 3, 4, 4))
    assert votes.tolist() == [[0, 100, 0], [0, 100, 0]] and rs.decide(votes).tolist() == [1, 1]


def _fd_reference(x: np.ndarray) -> np.ndarray:
    """The harness' FD restated with scipy's DCT, block by block."""
    from scipy.fftpack import dct, idct

    q = np.full((8, 8), 30.0)
    q[:4, :4] = 25.0
    out = np.zeros_like(x, dtype=np.float64)
    for n, c in np.ndindex(*x.shape[:2]):
        for i in range(0, x.shape[2], 8):
            for j in range(0, x.shape[3], 8):
                b = x[n, c, i:i + 8, j:j + 8] * 255.0
                coef = dct(dct(b.T, norm="ortho").T, norm="ortho")
                rec = idct(idct((np.round(coef / q) * q).T, norm="ortho").T, norm="ortho")
                out[n, c, i:i + 8, j:j + 8] = rec
    return np.clip(np.float32(out / 255), 0.0, 1.0)


def test_fd_jpeg_equals_scipy_restatement():
    x = torch.rand(2, 3, 16, 24, generator=torch.Generator().manual_seed(2))
    out = fd_jpeg(x)
    assert out.shape == x.shape
    assert np.abs(out.numpy() - _fd_reference(x.numpy())).max() < 1e-6
    assert (out - x).abs().max() > 1 / 255  # it does something
    assert fd_jpeg(torch.rand(1, 3, 12, 12)).shape == (1, 3, 12, 12)  # padded and cropped back


def test_every_defense_option_belongs_to_one_defense():
    assert check_defense_options("rs", rs_sigma=0.5, bits=None) == {"rs_sigma": 0.5}
    with pytest.raises(LtError, match=r"--defense jpeg does not use --bits \(--defense bitdepth\)"):
        check_defense_options("jpeg", bits=3)
    with pytest.raises(LtError, match="--defense none does not use --rs-samples"):
        wrap_defense(Record(), "none", rs_samples=3)
    with pytest.raises(LtError, match="valid: .*fd"):
        check_defense_options("nrp")
    assert set(DEFENSE_OPTIONS) == {"none", "jpeg", "bitdepth", "rp", "rs", "fd"}
