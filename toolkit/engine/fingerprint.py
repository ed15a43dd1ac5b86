"""Stable content keys for caches: of JSON-able parameters and of a model's weights.

Every on-disk cache (pruning curves, UKD teacher logits, audio features, synthetic data sets) keys
its files with these, so a change of weights or parameters is never served a stale entry.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import torch


def params_key(obj: Any, length: int | None = None) -> str:
    """sha256 of ``obj`` as canonical JSON (sorted keys; non-JSON values by ``str``), hex, cut to ``length``."""
    digest = hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
    return digest[:length] if length else digest


def state_fingerprint(state_dict: dict[str, Any]) -> str:
    """sha256 over every (name, dtype, shape, bytes) of a state dict, in name order (non-tensors by repr)."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name]
        if not isinstance(t, torch.Tensor):
            h.update(f"{name}={t!r}".encode())
            continue
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
