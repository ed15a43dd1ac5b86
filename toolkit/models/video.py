"""Video models: ``tiny3d`` (a small 3D CNN for tests and demos) and the builder used by video commands.

Torchvision's video models (``r3d_18``, ``mc3_18``, ``r2plus1d_18``, ``s3d``, ``mvit_v1_b``, ...) are
reachable by name through :func:`toolkit.models.get_model`; :func:`build_video_model` passes them
the Kinetics-400 mean/std they were trained with (Tran et al., "A Closer Look at Spatiotemporal
Convolutions for Action Recognition", CVPR 2018, arXiv 1711.11248). Inputs are clips (N, C, T, H, W)
in [0, 1].
"""

from __future__ import annotations

import torch
from torch import nn

from . import get_model, register_model

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
FLOW_MEAN = (0.5, 0.5, 0.0)
FLOW_STD = (0.25, 0.25, 0.25)


class Tiny3D(nn.Module):
    """conv3d(w, stride 1x2x2)-BN-ReLU, conv3d(2w)-BN-ReLU-pool(2), conv3d(4w)-BN-ReLU, global pool, fc.

    Our choice of a network small enough to train on CPU in seconds (``width=8``: about 20k parameters).
    """

    def __init__(self, num_classes: int = 11, in_channels: int = 3, width: int = 8, dropout: float = 0.0):
        super().__init__()
        w = width

        def block(cin: int, cout: int, stride=1) -> list[nn.Module]:
            return [nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm3d(cout),
                    nn.ReLU(inplace=True)]

        self.features = nn.Sequential(*block(in_channels, w, (1, 2, 2)), *block(w, 2 * w),
                                      nn.MaxPool3d(2, ceil_mode=True), *block(2 * w, 4 * w),
                                      nn.AdaptiveAvgPool3d(1), nn.Flatten())
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(4 * w, num_classes)
        self.feature_dim = 4 * w

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.forward_features(x)))


@register_model("tiny3d")
def tiny3d(num_classes: int = 11, **kw) -> Tiny3D:
    """``lt train video --dataset synthetic-dark --model tiny3d``"""
    return Tiny3D(num_classes, **kw)


tiny3d.default_mean = KINETICS_MEAN
tiny3d.default_std = KINETICS_STD


@register_model("s3d")
def s3d(num_classes: int = 400, **kw) -> nn.Module:
    """torchvision's S3D built with ``num_classes`` directly (random init, never a download).

    S3D's classifier is a 1x1x1 convolution, which the generic linear-head replacement of
    :func:`toolkit.models.get_model` cannot swap; this registry entry takes precedence over the
    torchvision name. Our change: the fixed (2, 7, 7) average pool becomes a global one, identical
    for the paper's 16x224x224 clips and usable for smaller ones (no parameters change). Xie et al.,
    "Rethinking Spatiotemporal Feature Learning", ECCV 2018, arXiv 1712.04851.
    """
    from torchvision.models.video import s3d as tv_s3d

    net = tv_s3d(weights=None, num_classes=num_classes, **kw)
    net.avgpool = nn.AdaptiveAvgPool3d(1)
    return net


s3d.default_mean = KINETICS_MEAN
s3d.default_std = KINETICS_STD


def build_video_model(name: str, num_classes: int, stream: str = "rgb", **kwargs) -> nn.Module:
    """A [0,1]-input video model: Kinetics mean/std for RGB/gamma clips, a centred scale for flow."""
    mean, std = (FLOW_MEAN, FLOW_STD) if stream == "flow" else (KINETICS_MEAN, KINETICS_STD)
    return get_model(name, num_classes=num_classes, mean=mean, std=std, **kwargs)


__all__ = ["Tiny3D", "tiny3d", "s3d", "build_video_model", "KINETICS_MEAN", "KINETICS_STD"]
