"""Device selection: ``--device auto|cpu|cuda|cuda:N|mps``. Nothing else calls ``.cuda()``."""

from __future__ import annotations

import re

import torch

from .errors import DeviceError, LtError

DEVICE_CHOICES = "auto|cpu|cuda|cuda:N|mps"


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """Turn a ``--device`` string into a :class:`torch.device`, or raise a clear :class:`DeviceError`.

    ``auto`` picks CUDA (the local rank's GPU under torchrun) when present, then MPS, else CPU.
    """
    if isinstance(spec, torch.device):
        return spec
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            from .distributed import local_rank

            return torch.device("cuda", local_rank() % torch.cuda.device_count())
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    m = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if m:
        if not torch.cuda.is_available():
            raise DeviceError("--device cuda was asked for, but CUDA is not available on this machine "
                              "(use --device cpu or --device auto)")
        index = int(m.group(1) or 0)
        if index >= torch.cuda.device_count():
            raise DeviceError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) present")
        return torch.device("cuda", index)
    if spec == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise DeviceError("--device mps was asked for, but MPS is not available on this machine")
        return torch.device("mps")
    raise LtError(f"unknown device '{spec}'; valid: {DEVICE_CHOICES}")
