"""Spectrogram classifiers for SSBPR (``lt audio ssbpr train --model cnn|crnn|resnet18``).

Input: log-mel spectrograms as (N, 1, n_mels, frames) in [0, 1] (dB/80 + 1); the ``Normalized``
wrapper maps them with mean 0.5, std 0.25 (our choice). All three are our small designs for short
snore clips (the SSBPR paper, arXiv 2307.13346, benchmarks AST):

* ``audio-cnn``: four conv3x3-BN-ReLU blocks (16-32-64-128 channels, 2x2 max-pool after the first
  three), global average pool, dropout 0.3, linear head.
* ``audio-crnn``: the first three blocks, mean over frequency, a bidirectional GRU (hidden 64) over
  time, mean over time, linear head.
* ``audio-resnet18``: torchvision's ResNet-18 with a 1-channel stem (random init; no download).
"""

from __future__ import annotations

import torch
from torch import nn

from . import register_model

AUDIO_MEAN, AUDIO_STD = (0.5,), (0.25,)


def _block(cin: int, cout: int, pool: bool) -> list[nn.Module]:
    layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return layers + ([nn.MaxPool2d(2)] if pool else [])


class AudioCNN(nn.Module):
    def __init__(self, num_classes: int = 6, width: int = 16, dropout: float = 0.3):
        super().__init__()
        w = width
        self.features = nn.Sequential(*_block(1, w, True), *_block(w, 2 * w, True), *_block(2 * w, 4 * w, True),
                                      *_block(4 * w, 8 * w, False), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(8 * w, num_classes)
        self.feature_dim = 8 * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(x)))


class AudioCRNN(nn.Module):
    def __init__(self, num_classes: int = 6, width: int = 16, hidden: int = 64, dropout: float = 0.3):
        super().__init__()
        w = width
        self.conv = nn.Sequential(*_block(1, w, True), *_block(w, 2 * w, True), *_block(2 * w, 4 * w, False))
        self.rnn = nn.GRU(4 * w, hidden, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * hidden, num_classes)
        self.feature_dim = 2 * hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x).mean(dim=2).transpose(1, 2)  # (N, frames, channels)
        out, _ = self.rnn(h)
        return self.fc(self.dropout(out.mean(dim=1)))


def audio_cnn(num_classes: int = 6, **kw) -> AudioCNN:
    return AudioCNN(num_classes, **kw)


def audio_crnn(num_classes: int = 6, **kw) -> AudioCRNN:
    return AudioCRNN(num_classes, **kw)


def audio_resnet18(num_classes: int = 6) -> nn.Module:
    from torchvision.models import resnet18

    net = resnet18(weights=None, num_classes=num_classes)
    net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return net


for _fn in (audio_cnn, audio_crnn, audio_resnet18):
    _fn.default_mean, _fn.default_std = AUDIO_MEAN, AUDIO_STD
register_model("audio-cnn")(audio_cnn)
register_model("audio-crnn")(audio_crnn)
register_model("audio-resnet18")(audio_resnet18)
