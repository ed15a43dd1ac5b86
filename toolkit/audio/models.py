"""The SSBPR model table: CLI names -> feature kind and builder; fit one fold; probabilities.

``cnn``/``crnn``/``resnet18`` are ``audio-cnn``/``audio-crnn``/``audio-resnet18`` from
:mod:`toolkit.models.audio` on log-mel input, trained by the one engine loop
(:func:`toolkit.engine.loop.fit`) with SpecAugment-style masking; ``svm``/``logreg`` are the
scikit-learn baselines of :mod:`toolkit.audio.classical` on MFCC statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..data.ssbpr_prepare import SpectrogramSet, to_unit  # noqa: F401 (the models' input set)
from ..engine.loop import Objective
from ..engine.registry import Registry
from .options import AUDIO_MODEL_SPECS

AUDIO_MODELS = Registry("audio model")


@dataclass(frozen=True)
class ModelSpec:
    arch: str  # registry name (torch) or classical kind
    feature: str  # feature kind it consumes
    torch: bool


for _name, (_arch, _feature, _torch) in AUDIO_MODEL_SPECS.items():
    AUDIO_MODELS.register(_name, ModelSpec(_arch, _feature, _torch))


def list_audio_models() -> list[str]:
    return AUDIO_MODELS.names()


def get_audio_model(name: str) -> ModelSpec:
    return AUDIO_MODELS.get(name)


class SpecAugment(Objective):
    """Cross-entropy on spectrograms with frequency and time masking (training only).

    Park et al., "SpecAugment: A Simple Data Augmentation Method for Automatic Speech Recognition",
    INTERSPEECH 2019, arXiv 1904.08779. Masks set bands to the example's mean. Our defaults for
    64 mels x 63 frames: 2 frequency masks of width <= 8 bins, 2 time masks of width <= 8 frames
    (the paper's LibriSpeech policies use 1-2 masks of F=27 of 80 bins, T=40-100 frames).
    """

    def __init__(self, freq_masks: int = 2, freq_width: int = 8, time_masks: int = 2, time_width: int = 8):
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.time_masks, self.time_width = time_masks, time_width

    @staticmethod
    def _mask(x: torch.Tensor, dim: int, count: int, width: int) -> torch.Tensor:
        n, size = x.shape[0], x.shape[dim]
        pos = torch.arange(size, device=x.device)
        keep = torch.ones(n, size, dtype=torch.bool, device=x.device)
        for _ in range(count):
            w = torch.randint(0, min(width, size) + 1, (n, 1), device=x.device)
            start = (torch.rand(n, 1, device=x.device) * (size - w + 1)).floor().long()
            keep &= ~((pos >= start) & (pos < start + w))
        shape = [n, 1, 1, 1]
        shape[dim] = size
        return keep.view(shape)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        keep = self._mask(x, 2, self.freq_masks, self.freq_width) & self._mask(x, 3, self.time_masks, self.time_width)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return torch.where(keep, x, mean)

    def loss(self, model: torch.nn.Module, batch: Any, epoch: int) -> Any:
        x, y = batch
        logits = model(self.augment(x))
        return torch.nn.functional.cross_entropy(logits, y), logits, y


def balanced_sampler(labels: Sequence[int], seed: int) -> torch.utils.data.Sampler:
    """Draw classes equally often (weights 1 / class count), with replacement, one epoch = N draws."""
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    w = (1.0 / torch.bincount(y).double())[y]
    g = torch.Generator()
    g.manual_seed(seed)
    return torch.utils.data.WeightedRandomSampler(w, num_samples=len(y), replacement=True, generator=g)


@torch.no_grad()
def torch_probs(model: torch.nn.Module, feats: Sequence[np.ndarray], device: torch.device,
                batch_size: int = 64) -> np.ndarray:
    """Softmax probabilities of a spectrogram model for log-mel features, in ``feats`` order.

    Under DDP every rank scores every clip (sequential sampler) and the gathered copies are cut back
    to rank 0's, so the rows line up with ``feats`` (the unpadded eval shards would interleave them).
    """
    from ..engine.loop import evaluate, make_loader

    ds = SpectrogramSet(feats, np.zeros(len(feats), dtype=np.int64))
    loader = make_loader(ds, batch_size, train=False, sampler=torch.utils.data.SequentialSampler(ds))
    out, _ = evaluate(model, loader, device, description="predict")
    return torch.softmax(out[:len(feats)].float(), dim=1).numpy()


def stack_stats(feats: Sequence[np.ndarray]) -> np.ndarray:
    return np.stack(feats).astype(np.float64)


def fit_torch(spec: ModelSpec, train: SpectrogramSet, num_classes: int, *, cfg: Any, device: torch.device,
              out_dir: Path | None, balanced: bool, run_config: dict, resume: Path | None = None) -> torch.nn.Module:
    """Train one spectrogram model with the engine loop (no selection on held-out data: last epoch).

    Seed first (``Run.reseed``: the same initial weights on every rank). ``resume``: a ``last.pt`` to
    continue (a finished one trains no further epoch).
    """
    from ..engine.loop import fit
    from ..models import get_model

    model = get_model(spec.arch, num_classes=num_classes)
    sampler = balanced_sampler(train.targets, cfg.seed) if balanced else None
    fit(model, train, None, cfg=cfg, device=device, objective=SpecAugment(), out_dir=out_dir,
        train_sampler=sampler, resume=resume, run_config=run_config)
    return model
