"""MDL: mask-guided divergence loss — two dropout sub-networks pushed apart on wrong classes.

Paper: Yang, Lin, Zhang, Yang, Zhao, "Mask-guided Divergence Loss Improves the Generalization and
Robustness of Deep Neural Network" (arXiv 2206.00913; v2 retitled "confidence threshold
reduction"). Only the abstract is public; the construction below is our reading of it:

    L = 1/2 [CE(o1, y) + CE(o2, y)] + lambda * mean_batch cos^2(M * p1, M * p2),   p = softmax(o)

o1, o2: two forward passes with independent dropout masks (the abstract's "orthogonal term" between
two dropout sub-networks). Every choice below is ours (the paper is silent) and is a flag:

- ``lam`` (``--lambda``, default 1.0): weight of the orthogonal term.
- ``mask`` (``--mask``): ``label`` removes the true-class entry (as in ADP, Pang et al. 2019), so the
  diversity acts on the wrong-class distribution and never fights CE; ``random`` also drops each
  wrong class with probability 1 - ``mask_keep`` (``--mask-keep``, default 0.5), a fresh mask per step
  shared by both passes.
- ``dropout`` (``--dropout``, default 0.5): dropout on the classifier head's input.
- adversarial variant (``--adversarial fgsm|pgd``): the same loss on adversarial examples made
  against the model in eval mode (``--eps``, ``--alpha``, ``--steps``; paper settings: eps 8/255, step
  2/255, 10 steps on CIFAR; eps 0.3 on MNIST).

Command: ``lt train mdl --dataset digits --model smallcnn --lambda 1 --mask label --dropout 0.5``
"""

from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..engine.errors import check
from ..engine.loop import Objective
from .options import MASKS, MDLOptions


def class_mask(targets: torch.Tensor, num_classes: int, kind: str = "label", keep: float = 0.5,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """(N, C) float mask: 0 at the true class; ``random`` also zeroes wrong classes w.p. 1 - keep.

    A row whose wrong classes all dropped keeps them all (the term needs a non-zero vector).
    """
    check(kind in MASKS, f"unknown --mask '{kind}'; valid: {', '.join(MASKS)}")
    m = torch.ones(targets.shape[0], num_classes, device=targets.device)
    if kind == "random":
        r = torch.rand(m.shape, generator=generator, device="cpu" if generator is not None else targets.device)
        m = (r.to(targets.device) < keep).float()
    m.scatter_(1, targets[:, None], 0.0)
    empty = m.sum(1) == 0
    if empty.any():
        m[empty] = 1.0
        m[empty] = m[empty].scatter(1, targets[empty][:, None], 0.0)
    return m


def divergence_term(p1: torch.Tensor, p2: torch.Tensor, mask: torch.Tensor | None = None,
                    eps: float = 1e-12) -> torch.Tensor:
    """Per-example cos^2(M*p1, M*p2): symmetric, in [0, 1] for non-negative p, scale-invariant."""
    if mask is not None:
        p1, p2 = p1 * mask, p2 * mask
    return (F.normalize(p1, dim=1, eps=eps) * F.normalize(p2, dim=1, eps=eps)).sum(1) ** 2


def mdl_loss(o1: torch.Tensor, o2: torch.Tensor, targets: torch.Tensor, lam: float = 1.0,
             mask: torch.Tensor | None = None) -> torch.Tensor:
    """1/2 [CE(o1,y) + CE(o2,y)] + lam * mean cos^2(M*softmax(o1), M*softmax(o2))."""
    ce = 0.5 * (F.cross_entropy(o1, targets) + F.cross_entropy(o2, targets))
    if lam == 0:
        return ce
    return ce + lam * divergence_term(o1.softmax(1), o2.softmax(1), mask).mean()


class MDLObjective(Objective):
    """The engine ``Objective`` for MDL: two dropout passes per step inside :meth:`loss`.

    Args:
        lam: weight of the divergence term (our default 1.0).
        mask: ``label`` | ``random`` (our choice, see module docstring).
        keep: keep-probability of a wrong class under ``random`` (our choice, 0.5).
        adversary: ``adv(model, x, y) -> x_adv`` or None (standard training).
    """

    def __init__(self, lam: float = 1.0, mask: str = "label", keep: float = 0.5,
                 adversary: Callable | None = None):
        check(lam >= 0, f"--lambda must be >= 0 (got {lam})")
        check(mask in MASKS, f"unknown --mask '{mask}'; valid: {', '.join(MASKS)}")
        check(0.0 < keep <= 1.0, f"--mask-keep must be in (0, 1] (got {keep})")
        self.lam, self.mask, self.keep, self.adversary = float(lam), mask, float(keep), adversary

    def loss(self, model: nn.Module, batch, epoch: int):
        x, y = batch
        if self.adversary is not None:
            x = self.adversary(model, x, y)
        o1, o2 = model(x), model(x)
        m = class_mask(y, o1.shape[1], self.mask, self.keep)
        return mdl_loss(o1, o2, y, self.lam, m), 0.5 * (o1.detach() + o2.detach()), y


@torch.no_grad()
def pass_diversity(model: nn.Module, head: nn.Module, loader, device: torch.device) -> float:
    """Mean cosine between two dropout passes' wrong-class distributions (BN in eval, dropout on);
    summed over every rank's shard under torchrun."""
    from ..engine import distributed as D
    from ..engine.loop import to_device

    was = model.training
    model.eval()
    head.train(True)
    sums = torch.zeros(2, dtype=torch.float64, device=device)  # cosine total, examples
    for x, y in loader:
        x, y = to_device((x, y), device)
        p1, p2 = model(x).softmax(1), model(x).softmax(1)
        m = class_mask(y, p1.shape[1], "label")
        sums += torch.stack([divergence_term(p1, p2, m).sqrt().sum().double(), torch.tensor(float(y.numel()),
                                                                                          device=device)])
    head.train(False)
    model.train(was)
    total, n = D.all_reduce_sum(sums).tolist()
    return total / max(1.0, n)


def step_time(model: nn.Module, objective: Objective, batch, device: torch.device, repeats: int = 5) -> float:
    """Seconds per optimisation step (forward + backward) of ``objective`` on ``batch`` (for benchmarks)."""
    from ..engine.loop import to_device

    model.train()
    batch = to_device(batch, device)
    out = objective.loss(model, batch, 0)
    (out[0] if isinstance(out, tuple) else out).backward()
    t0 = time.perf_counter()
    for _ in range(repeats):
        out = objective.loss(model, batch, 0)
        (out[0] if isinstance(out, tuple) else out).backward()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - t0) / repeats


def train_mdl(opts: MDLOptions | None = None, **values):
    """Train ``opts.model`` with MDL on ``opts.dataset``: ``lt train mdl``. Returns a Report (per-epoch rows;
    test accuracy as a fraction, pass diversity, run dir).

    ``opts`` (:class:`~toolkit.defense.options.MDLOptions`, or its fields as keywords) is validated first:
    ``lam`` is ``--lambda``; ``eps``/``alpha``/``steps`` drive ``--adversarial`` (resolved: eps 8/255, and
    for pgd 10 steps of 2.5·eps/steps; refused where the attack does not use them), ``mask_keep`` applies
    to ``mask="random"`` only. Every engine option (TrainOptions) reaches the loop. Writes config.json,
    metrics.csv, metrics.json, best.pt/last.pt under ``out``; runs under torchrun; ``resume`` continues
    the run in ``out`` exactly.

        lt train mdl --dataset digits --model smallcnn --lambda 1 --dropout 0.5 --epochs 10 --out runs/mdl
    """
    from ..data import get_dataset
    from ..data.selection import selection_split
    from ..engine.lifecycle import start_run
    from ..engine.loop import TrainConfig, fit, load_best_into
    from .common import add_head_dropout, build_model, make_adversary

    opts = MDLOptions.of(opts, **values).validate()
    adversary = make_adversary(opts.adversarial, opts.eps, opts.alpha, opts.steps)
    objective = MDLObjective(opts.lam, opts.mask, opts.mask_keep if opts.mask_keep is not None else 0.5, adversary)
    cfg = TrainConfig.of_options(opts, seed=opts.seed, deterministic=opts.deterministic)
    run = start_run(("train", "mdl"), opts)
    bundle = get_dataset(opts.dataset, root=opts.data_root, download=opts.download,
                         **({"image_size": opts.image_size} if opts.image_size is not None else {}))
    bundle, eval_set, selected_on = selection_split(bundle, opts.select_on, opts.val_fraction)
    run.update_info(num_classes=bundle.num_classes, input_shape=list(bundle.input_shape), dataset_info=bundle.info)
    run.reseed()  # identical initial weights on every rank
    net = build_model(opts.model, bundle)
    head = add_head_dropout(net, opts.dropout)
    res = fit(net, bundle.train, eval_set, cfg=cfg, device=run.device, objective=objective, out_dir=run.out_dir,
              resume=run.resume_from(), run_config=run.config)
    load_best_into(net, run.out_dir)
    return _mdl_report(run, net, head, bundle, res, cfg, selected_on)


def _mdl_report(run, net: nn.Module, head: nn.Module, bundle, res, cfg, selected_on: str):
    """Test accuracy of the best checkpoint and the pass diversity; metrics.json; the Report."""
    from ..data.selection import selection_notes
    from ..engine.loop import evaluate, make_loader
    from ..engine.metrics import classification_metrics
    from ..engine.report import Report

    r = run.resolved
    logits, targets = evaluate(net, make_loader(bundle.test, cfg.batch_size, train=False, workers=cfg.workers),
                               run.device, amp=cfg.amp)
    test = classification_metrics(logits, targets)
    diversity = pass_diversity(net, head, make_loader(bundle.test, cfg.batch_size, train=False, workers=cfg.workers),
                               run.device)
    summary = {"dataset": r["dataset"], "model": r["model"], "lambda": r["lam"], "mask": r["mask"],
               "dropout": r["dropout"], "adversarial": r["adversarial"], "epochs": r["epochs"],
               "best_epoch": res.best_epoch, "selected_on": selected_on,
               "test_top1": test["top1"], "test_top5": test["top5"], "pass_cosine": diversity,
               "out": str(run.out_dir)}
    run.finish({**summary, "history": res.history, "per_class": test["per_class"]})
    notes = ["pass_cosine: mean cosine between two dropout passes' wrong-class distributions on the test set "
             "(lower = more diverse sub-networks, the quantity MDL pushes down)", *selection_notes(selected_on)]
    rows = [dict(r) for r in res.history]
    return Report(title=f"MDL training on {r['dataset']}", rows=rows, summary=summary, notes=notes)


__all__ = ["MASKS", "class_mask", "divergence_term", "mdl_loss", "MDLObjective", "pass_diversity", "train_mdl",
           "step_time"]
