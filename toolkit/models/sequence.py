"""Sequence models for multimodal feature sequences (MuSe 2022): ``lstm``, ``gru-sa``, ``temma``.

All take ``forward(x, mask=None)`` with ``x`` (B, T, sum(input_dims)) — the modalities' features
concatenated in ``input_dims`` order — and ``mask`` (B, T) bool (True = real step; None = all real).
``n_to_1=True`` gives one output per sequence (B, num_classes), else one per step (B, T, num_classes).
Outputs are raw (pre-activation); the task applies sigmoid/tanh. Any sequence length works.

- ``lstm``: the official MuSe 2022 baseline (Christ et al., arXiv 2207.05691; EIHW/MuSe2022):
  linear projection (no bias) -> bi-LSTM -> last hidden state (n-to-1) or every step -> FC-ReLU-FC.
  Defaults d_model 64, FC 64, dropout 0.2 (RNN) / 0.5 (FC) are the baseline's; 2 layers is ours.
- ``gru-sa``: Li et al., "Hybrid Multimodal Feature Extraction, Mining and Fusion for Sentiment
  Analysis", MuSe 2022 (arXiv 2208.03051): per-modality projection, concatenation, bi-GRU,
  multi-head self-attention over time (4 heads), masked mean pooling (n-to-1) or per step.
  Projection width d_model/2 per modality and 1 GRU layer are our choices.
- ``temma``: Chen, Jiang & Sahli, "Transformer Encoder with Multi-modal Multi-head Attention for
  Continuous Affect Recognition", IEEE TMM 2020: per-modality temporal embedding (TCN, d=128) +
  sinusoidal positions; N=4 blocks of [multi-modal attention across the M modalities at each time
  step (4 heads, dropout 0.5) -> per-modality temporal self-attention (4 heads) -> per-modality FFN
  (d_ff 256)], pre-norm residuals, dropout 0.2; head pools over time (no fixed length) -> MLP.

Built by ``toolkit.muse.train`` (``lt train muse --model lstm|gru-sa|temma``); registered in the
model registry with pass-through normalisation, so ``get_model(name, num_classes, input_dims=[...])``
also works for unmasked input.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from . import register_model

SEQUENCE_MODELS = ("lstm", "gru-sa", "temma")


def _full_mask(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) if mask is None else mask.bool()


def masked_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of h (B, T, d) over the real steps of each sequence."""
    m = mask.to(h.dtype).unsqueeze(-1)
    return (h * m).sum(1) / m.sum(1).clamp_min(1.0)


class _Head(nn.Sequential):
    def __init__(self, d_in: int, d_hidden: int, d_out: int, dropout: float):
        super().__init__(nn.Linear(d_in, d_hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d_hidden, d_out))


class LstmNet(nn.Module):
    def __init__(self, input_dims: Sequence[int], num_classes: int = 1, n_to_1: bool = True, d_model: int = 64,
                 layers: int = 2, bidirectional: bool = True, dropout: float = 0.2, fc_dropout: float = 0.5):
        super().__init__()
        self.n_to_1, self.layers, self.dirs = n_to_1, layers, 2 if bidirectional else 1
        self.inp = nn.Linear(sum(input_dims), d_model, bias=False)
        self.rnn = nn.LSTM(d_model, d_model, num_layers=layers, bidirectional=bidirectional, batch_first=True,
                           dropout=dropout if layers > 1 else 0.0)
        self.head = _Head(d_model * self.dirs, 64, num_classes, fc_dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = _full_mask(x, mask)
        lengths = mask.sum(1).clamp_min(1).cpu()
        packed = pack_padded_sequence(self.inp(x), lengths, batch_first=True, enforce_sorted=False)
        out, (h_n, _) = self.rnn(packed)
        if self.n_to_1:
            last = h_n.view(self.layers, self.dirs, x.shape[0], -1)[-1]  # (dirs, B, d)
            return self.head(last.permute(1, 0, 2).reshape(x.shape[0], -1))
        out = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]
        return self.head(out)


class _Split(nn.Module):
    """Per-modality linear projections of the concatenated input."""

    def __init__(self, input_dims: Sequence[int], d_out: int):
        super().__init__()
        self.dims = list(input_dims)
        self.proj = nn.ModuleList(nn.Linear(d, d_out) for d in self.dims)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [p(c) for p, c in zip(self.proj, torch.split(x, self.dims, dim=-1), strict=True)]


class GruSA(nn.Module):
    def __init__(self, input_dims: Sequence[int], num_classes: int = 1, n_to_1: bool = True, d_model: int = 64,
                 layers: int = 1, heads: int = 4, dropout: float = 0.2):
        super().__init__()
        self.n_to_1 = n_to_1
        d_proj = max(4, d_model // 2)
        self.split = _Split(input_dims, d_proj)
        self.gru = nn.GRU(d_proj * len(input_dims), d_model, num_layers=layers, bidirectional=True, batch_first=True,
                          dropout=dropout if layers > 1 else 0.0)
        self.attn = nn.MultiheadAttention(2 * d_model, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(2 * d_model)
        self.drop = nn.Dropout(dropout)
        self.head = _Head(2 * d_model, d_model, num_classes, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = _full_mask(x, mask)
        h = torch.relu(torch.cat(self.split(x), -1))
        lengths = mask.sum(1).clamp_min(1).cpu()
        packed = pack_padded_sequence(h, lengths, batch_first=True, enforce_sorted=False)
        h = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=x.shape[1])[0]
        a, _ = self.attn(h, h, h, key_padding_mask=~mask, need_weights=False)
        h = self.norm(h + self.drop(a))
        return self.head(masked_mean(h, mask)) if self.n_to_1 else self.head(h)


def sinusoid(t: int, d: int, device: torch.device) -> torch.Tensor:
    """The Transformer's sinusoidal position table (t, d)."""
    pos = torch.arange(t, device=device, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(t, d, device=device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : d // 2]
    return pe


class _TemmaBlock(nn.Module):
    def __init__(self, d: int, heads: int, d_ff: int, dropout: float, mm_dropout: float):
        super().__init__()
        self.n1, self.n2, self.n3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.mm = nn.MultiheadAttention(d, heads, dropout=mm_dropout, batch_first=True)
        self.ta = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(d, d_ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d_ff, d))
        self.d_mm, self.drop = nn.Dropout(mm_dropout), nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, m, t, d = h.shape  # (B, M, T, d)
        z = self.n1(h).permute(0, 2, 1, 3).reshape(b * t, m, d)  # every time step: attend over modalities
        a = self.mm(z, z, z, need_weights=False)[0].reshape(b, t, m, d).permute(0, 2, 1, 3)
        h = h + self.d_mm(a)
        z = self.n2(h).reshape(b * m, t, d)  # every modality: attend over time
        kpm = (~mask).repeat_interleave(m, dim=0)
        a = self.ta(z, z, z, key_padding_mask=kpm, need_weights=False)[0].reshape(b, m, t, d)
        h = h + self.drop(a)
        return h + self.drop(self.ffn(self.n3(h)))


class _Tcn(nn.Module):
    """Two 1-D convolutions over time; padded steps are zeroed after each, so padding never leaks."""

    def __init__(self, d_in: int, d: int, kernel: int, dropout: float):
        super().__init__()
        self.c1 = nn.Conv1d(d_in, d, kernel, padding=kernel // 2)
        self.c2 = nn.Conv1d(d, d, kernel, padding=kernel // 2)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        h = self.drop(torch.relu(self.c1(x.transpose(1, 2)).transpose(1, 2))) * keep
        return self.c2(h.transpose(1, 2)).transpose(1, 2) * keep


class Temma(nn.Module):
    def __init__(self, input_dims: Sequence[int], num_classes: int = 1, n_to_1: bool = True, d_model: int = 128,
                 layers: int = 4, heads: int = 4, d_ff: int = 256, dropout: float = 0.2, mm_dropout: float = 0.5,
                 kernel: int = 3):
        super().__init__()
        self.dims, self.n_to_1, self.d = list(input_dims), n_to_1, d_model
        self.tcn = nn.ModuleList(_Tcn(dm, d_model, kernel, dropout) for dm in self.dims)
        self.blocks = nn.ModuleList(_TemmaBlock(d_model, heads, d_ff, dropout, mm_dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = _Head(d_model, d_model, num_classes, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = _full_mask(x, mask)
        keep = mask.to(x.dtype).unsqueeze(-1)
        pe = sinusoid(x.shape[1], self.d, x.device)
        chunks = torch.split(x * keep, self.dims, dim=-1)
        h = torch.stack([tcn(c, keep) + pe for tcn, c in zip(self.tcn, chunks, strict=True)], 1)
        for blk in self.blocks:
            h = blk(h, mask)
        h = self.norm(h).mean(1)  # (B, T, d): fuse the modalities' streams
        return self.head(masked_mean(h, mask)) if self.n_to_1 else self.head(h)


def _register(name: str, cls: type) -> None:
    def build(num_classes: int = 1, input_dims: Sequence[int] = (1,), n_to_1: bool = True, **kwargs) -> nn.Module:
        return cls(list(input_dims), num_classes=num_classes, n_to_1=n_to_1, **kwargs)

    build.default_mean, build.default_std = (), ()  # feature sequences: no image normalisation
    build.__doc__ = f"Build ``{name}`` ({cls.__name__}); see :mod:`toolkit.models.sequence`."
    register_model(name)(build)


for _name, _cls in (("lstm", LstmNet), ("gru-sa", GruSA), ("temma", Temma)):
    _register(_name, _cls)


def build_sequence_model(name: str, input_dims: Sequence[int], num_classes: int, n_to_1: bool, **kwargs) -> nn.Module:
    """The bare (mask-taking) model ``name`` with ``arch``/``model_args`` set for checkpoints."""
    from ..engine.errors import LtError
    from ..engine.registry import unknown_name_message
    from . import MODELS

    if name not in SEQUENCE_MODELS:
        raise LtError(unknown_name_message("sequence model", name, SEQUENCE_MODELS))
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    net = MODELS.get(name)(num_classes=num_classes, input_dims=list(input_dims), n_to_1=n_to_1, **kwargs)
    net.arch = name
    net.model_args = {"name": name, "num_classes": num_classes, "input_dims": list(input_dims), "n_to_1": n_to_1,
                      **kwargs}
    return net


def sequence_defaults(name: str) -> dict[str, int]:
    """``{"d_model": ..., "layers": ...}``: the width and depth ``name`` gets when not given
    (lstm 64/2, gru-sa 64/1, temma 128/4), read from its class so the two never disagree."""
    import inspect

    cls = {"lstm": LstmNet, "gru-sa": GruSA, "temma": Temma}[name]
    params = inspect.signature(cls).parameters
    return {"d_model": params["d_model"].default, "layers": params["layers"].default}
