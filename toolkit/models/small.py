"""Small nets for tests, demos and tiny data: ``smallcnn`` (images, any size) and ``mlp``."""

from __future__ import annotations

import torch
from torch import nn

from . import register_model


class SmallCNN(nn.Module):
    """conv(32)-BN-ReLU-pool, conv(64)-BN-ReLU-pool, conv(128)-BN-ReLU, global pool, dropout, fc."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 32, dropout: float = 0.0):
        super().__init__()
        w = width

        def block(cin: int, cout: int, pool: bool) -> list[nn.Module]:
            layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            return layers + ([nn.MaxPool2d(2)] if pool else [])

        self.features = nn.Sequential(*block(in_channels, w, True), *block(w, 2 * w, True), *block(2 * w, 4 * w, False),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(4 * w, num_classes)
        self.feature_dim = 4 * w

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.forward_features(x)))


class MLP(nn.Module):
    """Flatten, two hidden ReLU layers, linear head."""

    def __init__(self, num_classes: int = 10, in_features: int = 3 * 32 * 32, hidden: int = 256, dropout: float = 0.0):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.fc = nn.Linear(hidden, num_classes)
        self.feature_dim = hidden

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


def smallcnn(num_classes: int = 10, **kw) -> SmallCNN:
    return SmallCNN(num_classes, **kw)


def mlp(num_classes: int = 10, **kw) -> MLP:
    return MLP(num_classes, **kw)


smallcnn.default_mean = mlp.default_mean = (0.5, 0.5, 0.5)
smallcnn.default_std = mlp.default_std = (0.5, 0.5, 0.5)
register_model("smallcnn")(smallcnn)
register_model("mlp")(mlp)
