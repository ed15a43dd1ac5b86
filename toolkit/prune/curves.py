"""Rate-distortion curves d_l(a_k): the output distortion of pruning one layer alone.

Xu et al., "Efficient Joint Optimization of Layer-Adaptive Weight Pruning in Deep Neural Networks",
ICCV 2023, arXiv 2308.10438, step 1: for each prunable layer l and grid point a_k = k/K (K = 100 in
the authors' code, so 101 points), zero the floor(a_k n_l) smallest-|w| weights of layer l only
(other layers at their current masks), run the calibration set and record
d_l(k) = mean over images and logits of (y - y_hat)^2; ``worst_case`` takes the max over images of
the per-image mean instead.

:func:`plain_curves` is that loop verbatim (L (K+1) full passes). :func:`fast_curves` gives the same
numbers faster (our implementation): the network is split with ``torch.fx`` at the layer; the
unchanged prefix runs once per calibration batch, and only the layer and the rest of the network run
per grid point, with several grid points stacked into one batch (the other live prefix values are
repeated), at most one ``--batch-size`` of images per pass, so peak memory is set by the batch and the
model, never by the grid. Grid points that zero no more weights than the layer already has are exactly 0
and are not run; repeated zero counts (small layers) are run once. Models that fx cannot trace fall back to
the plain loop with a warning. Cost: sum over layers of (distinct grid points) x ceil(N / B) suffix passes
of B images (N calibration images, B = ``--batch-size``); the plain loop L (K+1) ceil(N / B) full passes.

``--curves sketch`` (our extension, :mod:`toolkit.prune.sketch`) estimates the same curves from gradients.
"""

from __future__ import annotations

import math
import operator
import time
from collections import Counter
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..engine.report import _clock, log, progress, warn
from .masks import Layer, MagnitudeOrder


class _Acc:
    """Running mean (or max) over images of the per-image mean squared logit change, for G variants."""

    def __init__(self, g: int, worst_case: bool):
        self.worst = worst_case
        self.sum = torch.zeros(g, dtype=torch.float64)
        self.max = torch.zeros(g, dtype=torch.float64)
        self.n = 0

    def add(self, out: torch.Tensor, ref: torch.Tensor) -> None:
        g = out.shape[0] // ref.shape[0]
        diff = out.double().view(g, *ref.shape) - ref.double().unsqueeze(0)
        per = diff.pow(2).flatten(2).mean(2).cpu()  # (G, N)
        self.sum += per.sum(1)
        self.max = torch.maximum(self.max, per.max(1).values)
        self.n += ref.shape[0]

    def value(self) -> np.ndarray:
        return (self.max if self.worst else self.sum / max(1, self.n)).numpy()


def zero_counts(n: int, grid: int) -> list[int]:
    """floor(k n / K) for k = 0..K."""
    return [(k * n) // grid for k in range(grid + 1)]


def _todo(n: int, grid: int, current: int, only: set[int] | None = None) -> tuple[list[int], list[int]]:
    """Grid points to run (distinct zero counts above the current one; those in ``only`` when given)
    and the zero count of each point."""
    z = zero_counts(n, grid)
    if only is not None:
        return sorted(k for k in only if z[k] > current), z
    todo = [k for k in range(grid + 1) if z[k] > current and (k == 0 or z[k] != z[k - 1])]
    return todo, z


def _fill(row: np.ndarray, z: list[int], current: int, measured: dict[int, float]) -> None:
    """Points at or below the current zero count are exactly 0; repeated counts copy their first point."""
    by_count = {}
    for k, c in enumerate(z):
        if c <= current:
            row[k] = 0.0
        elif k in measured:
            row[k] = by_count[c] = measured[k]
        else:
            row[k] = by_count[c]


@torch.no_grad()
def reference_outputs(model: nn.Module, xs: list[torch.Tensor], description: str | None = None) -> list[torch.Tensor]:
    """The model's logits on every batch of ``xs`` (under a progress bar / heartbeat when ``description``)."""
    model.eval()
    return [model(x).float() for x in (progress(xs, description=description) if description else xs)]


@torch.no_grad()
def plain_curves(model: nn.Module, layers: list[Layer], xs: list[torch.Tensor], grid: int,
                 worst_case: bool = False, refs: list[torch.Tensor] | None = None) -> np.ndarray:
    """The plain loop: for every layer and grid point, prune that layer alone and run the whole net."""
    refs = reference_outputs(model, xs) if refs is None else refs
    out = np.zeros((len(layers), grid + 1))
    steps = (None for l, ly in enumerate(layers) for _ in _plain_layer(model, ly, xs, refs, grid, worst_case, out[l]))
    _drain(steps, len(layers) * (grid + 1), "curves (plain loop)")
    return out


def _drain(steps: Iterator, total: int, description: str, plan: str | None = None, hint=None) -> None:
    """Run ``steps`` (one per unit of work) under a progress bar, or a time-based heartbeat off a terminal.

    ``plan`` (a line) is said first; after the first step, the ETA of all ``total`` steps; after the
    second, a revised ETA when the first was mostly warm-up (one-time kernel set-up), and then
    ``hint(eta_seconds)`` (a line) when the better ETA exceeds :data:`LONG_S`."""
    if plan:
        log(plan)
    t0 = last = time.perf_counter()
    eta = 0.0
    for i, _ in enumerate(progress(steps, total=total, description=description)):
        now = time.perf_counter()
        if plan and i == 0:
            eta = (now - t0) * total
            log(f"{description}: first pass {now - t0:.3g} s; ETA {_clock(eta)} for all {total} passes")
        elif plan and i == 1 and 2 * (now - last) < last - t0:  # the first pass was mostly warm-up
            eta = (now - last) * (total - 2)
            log(f"{description}: second pass {now - last:.3g} s (the first included warm-up); ETA {_clock(eta)}")
        if plan and hint is not None and i == min(1, total - 1) and eta > LONG_S:
            log(hint(eta))
        last = now


LONG_S = 15 * 60  # an ETA above this gets a one-line hint of cheaper settings


@torch.no_grad()
def _plain_layer(model: nn.Module, ly: Layer, xs, refs, grid: int, worst_case: bool, row: np.ndarray,
                 only: set[int] | None = None) -> Iterator[None]:
    """Fill ``row`` with layer ``ly``'s curve by the plain loop (grid points ``only``, default all),
    yielding after each grid point; the layer's weights are restored whatever happens."""
    w0 = ly.weight.detach().clone()
    order = MagnitudeOrder(w0)
    try:
        for k, c in enumerate(zero_counts(ly.size, grid)):
            if only is not None and k not in only:
                continue
            ly.weight.copy_(w0 * order.mask(c).to(w0.dtype))
            acc = _Acc(1, worst_case)
            for x, r in zip(xs, refs, strict=True):
                acc.add(model(x).float(), r)
            row[k] = acc.value()[0]
            yield
    finally:
        ly.weight.copy_(w0)


class _NoBatch(Exception):
    """A live prefix value depends on the batch but is not a tensor (e.g. a traced ``x.size(0)``)."""


class SplitNet:
    """``torch.fx`` graph of the (inner) network, runnable from any single-use Conv/Linear node on."""

    def __init__(self, model: nn.Module):
        inner = getattr(model, "net", None)
        self.wrapper = model if inner is not None and hasattr(model, "normalize") else None
        self.prefix = "net." if self.wrapper is not None else ""
        self.gm = torch.fx.symbolic_trace(inner if self.wrapper is not None else model)
        self.nodes = list(self.gm.graph.nodes)
        pos = {n: i for i, n in enumerate(self.nodes)}
        calls = Counter(n.target for n in self.nodes if n.op == "call_module")
        self.index = {self.prefix + n.target: i for i, n in enumerate(self.nodes)
                      if n.op == "call_module" and calls[n.target] == 1}
        self.last_use = {n: max((pos[u] for u in n.users), default=-1) for n in self.nodes}
        self.batched: set = set()
        for n in self.nodes:
            if n.op == "placeholder" or any(a in self.batched for a in n.all_input_nodes):
                self.batched.add(n)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return self.wrapper.normalize(x) if self.wrapper is not None else x

    def _step(self, n, env: dict):
        args = torch.fx.node.map_arg(n.args, lambda a: env[a])
        kwargs = torch.fx.node.map_arg(n.kwargs, lambda a: env[a])
        if n.op == "call_module":
            return self.gm.get_submodule(n.target)(*args, **kwargs)
        if n.op == "call_function":
            return n.target(*args, **kwargs)
        if n.op == "call_method":
            return getattr(args[0], n.target)(*args[1:], **kwargs)
        if n.op == "get_attr":
            return operator.attrgetter(n.target)(self.gm)
        raise RuntimeError(f"unexpected fx node {n.op}")

    def run_prefix(self, x: torch.Tensor, stop: int) -> dict:
        """Values computed before node ``stop`` that node ``stop`` or later nodes still use."""
        env = {}
        for i, n in enumerate(self.nodes[:stop]):
            env[n] = x if n.op == "placeholder" else self._step(n, env)
            for a in n.all_input_nodes:
                if self.last_use[a] <= i:
                    env.pop(a, None)
        return {n: v for n, v in env.items() if self.last_use[n] >= stop}

    def run_suffix(self, live: dict, start: int, layer_out: torch.Tensor, g: int) -> torch.Tensor:
        """Run nodes after ``start`` with node ``start`` = ``layer_out`` (g stacked variants)."""
        env = {}
        for n, v in live.items():
            if n in self.batched:
                if not isinstance(v, torch.Tensor):
                    raise _NoBatch(n.name)
                v = v.repeat(g, *([1] * (v.dim() - 1))) if g > 1 else v.clone()
            env[n] = v
        env[self.nodes[start]] = layer_out
        for i in range(start + 1, len(self.nodes)):
            n = self.nodes[i]
            if n.op == "output":
                return torch.fx.node.map_arg(n.args[0], lambda a: env[a])
            env[n] = self._step(n, env)
            for a in n.all_input_nodes:
                if self.last_use[a] <= i and a in env:
                    del env[a]
        raise RuntimeError("fx graph has no output node")


def _layer_forward(module: nn.Module, x: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
    if isinstance(module, nn.Linear):
        return torch.cat([F.linear(x, w, module.bias) for w in weights])
    return torch.cat([module._conv_forward(x, w, module.bias) for w in weights])


def _groups(x: torch.Tensor, group_images: int) -> int:
    """Grid points stacked into one suffix pass for a batch like ``x``."""
    return max(1, group_images // x.shape[0])


PASS_PIXELS = 3 * 224 * 224  # one pass carries at most --batch-size x this many input values
PASS_IMAGES = 512  # and at most this many images (small inputs: grid points stacked up to it)


def pass_images(xs: list[torch.Tensor]) -> int:
    """Images one suffix pass carries: grid points are stacked while the pass holds no more input values
    than one ``--batch-size`` of 3x224x224 images (and at most 512 images); at least one batch.
    At 224 px that is exactly one batch: memory O(batch x the model's activations), whatever the grid."""
    batch, per_image = max(x.shape[0] for x in xs), xs[0][0].numel()
    return max(batch, min(PASS_IMAGES, batch * PASS_PIXELS // max(1, per_image)))


def _fast_units(ly: Layer, grid: int, current: int, xs, group_images: int, only: set[int] | None = None) -> int:
    """Suffix passes :func:`_fast_layer` makes for ``ly`` (its progress units)."""
    todo, _ = _todo(ly.size, grid, current, only)
    return sum(math.ceil(len(todo) / _groups(x, group_images)) for x in xs) if todo else 0


@torch.no_grad()
def _fast_layer(split: SplitNet, ly: Layer, node: int, xs_norm, refs, grid: int, worst_case: bool,
                group_images: int, current: int, row: np.ndarray, only: set[int] | None = None) -> Iterator[None]:
    """Fill ``row`` with layer ``ly``'s curve through the split network (grid points ``only``, default
    all), yielding after each suffix pass."""
    todo, z = _todo(ly.size, grid, current, only)
    w0 = ly.weight.detach()
    order = MagnitudeOrder(w0)
    accs = {k: _Acc(1, worst_case) for k in todo}
    for x, r in zip(xs_norm, refs, strict=True) if todo else ():
        live = split.run_prefix(x, node)
        x_in = live[split.nodes[node].args[0]]
        g = _groups(x, group_images)
        for s in range(0, len(todo), g):
            chunk = todo[s:s + g]
            ws = [w0 * order.mask(z[k]).to(w0.dtype) for k in chunk]
            try:
                out = split.run_suffix(live, node, _layer_forward(ly.module, x_in, ws), len(chunk))
            except _NoBatch:
                out = torch.cat([split.run_suffix(live, node, _layer_forward(ly.module, x_in, [w]), 1) for w in ws])
            acc = _Acc(len(chunk), worst_case)
            acc.add(out.float(), r)
            for j, k in enumerate(chunk):
                a = accs[k]
                a.sum += acc.sum[j:j + 1]
                a.max = torch.maximum(a.max, acc.max[j:j + 1])
                a.n += acc.n
            yield
    measured = {k: float(a.value()[0]) for k, a in accs.items()}
    if only is None:
        _fill(row, z, current, measured)
    else:
        for k in only:
            row[k] = measured.get(k, 0.0) if z[k] > current else 0.0


def fast_curves(model: nn.Module, layers: list[Layer], xs: list[torch.Tensor], grid: int,
                worst_case: bool = False, group_images: int | None = None, **kw) -> np.ndarray:
    """Same curves as :func:`plain_curves` (within float tolerance): :func:`measure_curves` with the fx split."""
    return measure_curves(model, layers, xs, grid, worst_case, group_images=group_images, **kw)


@torch.no_grad()
def measure_curves(model: nn.Module, layers: list[Layer], xs: list[torch.Tensor], grid: int,
                   worst_case: bool = False, *, refs: list[torch.Tensor] | None = None,
                   points: list[set[int]] | None = None, fx_split: bool = True, group_images: int | None = None,
                   plan: str | None = None, hint=None, description: str = "curves") -> np.ndarray:
    """The measured curves (``--curves measured``): prefix run once per batch and layer on the fx split.

    Args:
        refs: the model's logits on ``xs`` (computed here when None).
        points: per layer, the grid indices to measure (``--sketch-anchors``); None = all. Points not
            measured are NaN.
        fx_split: False = the plain loop (same numbers, slower); also used when fx cannot trace the model.
        group_images: images (grid points x batch) one suffix pass carries; None = :func:`pass_images`,
            so peak memory is set by the batch and the model, not by the grid.
        plan, hint: said before the first pass / after it when the ETA is long (see :func:`_drain`).
    Progress (a bar, or a time-based heartbeat off a terminal) advances once per suffix pass.
    """
    model.eval()
    group_images = group_images or pass_images(xs)
    split = _split_or_none(model) if fx_split else None
    refs = reference_outputs(model, xs) if refs is None else refs
    out = np.full((len(layers), grid + 1), np.nan) if points is not None else np.zeros((len(layers), grid + 1))
    current = [int((ly.weight.detach() == 0).sum()) for ly in layers]
    only = points if points is not None else [None] * len(layers)
    xs_norm = [split.normalize(x) for x in xs] if split is not None else None

    def steps() -> Iterator[None]:
        for l, ly in enumerate(layers):
            if split is not None and ly.name in split.index:
                yield from _fast_layer(split, ly, split.index[ly.name], xs_norm, refs, grid, worst_case,
                                       group_images, current[l], out[l], only[l])
            else:  # no fx split, or a module called more than once: the plain loop for this layer
                yield from _plain_layer(model, ly, xs, refs, grid, worst_case, out[l], only[l])

    total = sum(_fast_units(ly, grid, c, xs, group_images, o) if split is not None and ly.name in split.index
                else (grid + 1 if o is None else len(o)) for ly, c, o in zip(layers, current, only, strict=True))
    _drain(steps(), total, description, plan, hint)
    return out


def _split_or_none(model: nn.Module) -> SplitNet | None:
    try:
        return SplitNet(model)
    except Exception as e:  # noqa: BLE001 - any tracing failure means "use the plain loop"
        warn(f"torch.fx cannot trace this model ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
             f"measuring curves with the plain loop")
        return None
