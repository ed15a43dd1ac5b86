"""FACM: correct a classifier's output with classifiers on its middle-layer features.

Paper: Yang, Lin, Zhang, Yang, Zhao, "Adversarial Robustness via Feature-Aided Correction Module"
(FACM; arXiv 2206.00924). Only the abstract is public; what it states: middle feature layers keep
true-class features under attack; FA heads (fully connected classifiers on intermediate features)
and a CMPD module (a conditional auto-encoder conditioned on intermediate features, trained with a KL
loss to the clean prediction distribution) correct the output; a decision module combines them;
built by fine-tuning with the backbone frozen; FA alone (no CMPD) for adversarially trained backbones.

Our reading (every point our choice, each a flag of ``lt defend facm``):
- taps: outputs of the modules named by ``--feature-layers`` (paths inside the backbone network, read by
  forward hooks); defaults per family: smallcnn ``features.3,features.7``, CIFAR ResNets
  ``layer1,layer2``, torchvision ResNets ``layer2,layer3``, mlp ``body.2``.
- FA head: global average pool -> Linear(hidden 256) -> ReLU -> Linear(classes), trained by CE.
- CMPD: encoder [backbone logits, c] -> latent (``--latent-dim`` 32) -> decoder [z, c] -> logits, c = LayerNorm of the
  concatenated pooled tap features; trained to minimise KL(p_backbone(clean) || softmax(decoder)).
- decision ``mean``: log of the average of the members' probabilities (backbone, FA heads, CMPD);
  ``vote``: majority of the members' predictions, ties broken by the backbone's probability.
- trained on clean + adversarial examples made against the backbone (``--adv-attack``, ``--eps``).

Command: ``lt defend facm --backbone runs/ce --dataset digits --feature-layers features.3,features.7``
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..engine.errors import LtError, check
from ..engine.loop import Objective
from .options import DECISIONS, FACMOptions
from .taps import _backbone_of, available_layers, default_layers, resolve_layer


def pool(t: torch.Tensor) -> torch.Tensor:
    """(N, C, ...) -> (N, C) by averaging every dim after the channels; (N, D) unchanged."""
    return t.flatten(2).mean(2) if t.dim() > 2 else t


class CMPD(nn.Module):
    """Conditional auto-encoder over the backbone's logits, conditioned on pooled middle features."""

    def __init__(self, num_classes: int, cond_dim: int, latent: int = 32, hidden: int = 256):
        super().__init__()
        self.norm = nn.LayerNorm(cond_dim)
        self.enc = nn.Sequential(nn.Linear(num_classes + cond_dim, hidden), nn.ReLU(), nn.Linear(hidden, latent))
        self.dec = nn.Sequential(nn.Linear(latent + cond_dim, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, logits: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        c = self.norm(cond)
        z = self.enc(torch.cat([logits, c], 1))
        return self.dec(torch.cat([z, c], 1))


def decide(member_logits: list[torch.Tensor], rule: str) -> torch.Tensor:
    """Combine members (backbone first) into one output.

    ``mean``: log of the mean of the members' softmax probabilities (differentiable; argmax is the
    averaged prediction). ``vote``: vote counts + 0.5 * backbone probability (argmax = the majority
    class; among tied classes the one the backbone rates highest).
    """
    check(rule in DECISIONS, f"unknown --decision '{rule}'; valid: {', '.join(DECISIONS)}")
    probs = torch.stack([m.float().softmax(1) for m in member_logits])
    if rule == "mean":
        return probs.mean(0).clamp_min(1e-12).log()
    votes = F.one_hot(probs.argmax(2), probs.shape[2]).sum(0).float()
    return votes + 0.5 * probs[0]


class FACM(nn.Module):
    """Backbone + FA heads on hooked middle layers + optional CMPD + decision module.

    ``forward`` returns the decision's output (``mean``: log-probabilities; ``vote``: vote scores);
    ``surrogate`` the differentiable ``mean`` output used by adaptive attacks; ``members`` every
    member's logits. With ``freeze`` the backbone has no gradients and stays in eval mode.
    """

    arch = "facm"

    def __init__(self, backbone: nn.Module, layers: list[str], feat_dims: list[int], num_classes: int, *,
                 fa_hidden: int = 256, cmpd: bool = True, latent: int = 32, cmpd_hidden: int = 256,
                 decision: str = "mean", freeze: bool = True, backbone_spec: dict | None = None,
                 input_shape: tuple | list = (3, 32, 32)):
        super().__init__()
        check(decision in DECISIONS, f"unknown --decision '{decision}'; valid: {', '.join(DECISIONS)}")
        check(len(layers) >= 1, "--feature-layers needs at least one layer")
        self.backbone, self.layers, self.decision, self.freeze = backbone, list(layers), decision, freeze
        self.fa = nn.ModuleList(nn.Sequential(nn.Linear(d, fa_hidden), nn.ReLU(), nn.Linear(fa_hidden, num_classes))
                                for d in feat_dims)
        self.cmpd = CMPD(num_classes, sum(feat_dims), latent, cmpd_hidden) if cmpd else None
        self._feats: dict[str, torch.Tensor] = {}
        for name in self.layers:
            resolve_layer(backbone, name).register_forward_hook(self._hook(name))
        if freeze:
            for p in backbone.parameters():
                p.requires_grad_(False)
        self.model_args = {"name": "facm", "num_classes": num_classes, "layers": self.layers,
                           "feat_dims": list(feat_dims), "fa_hidden": fa_hidden, "cmpd": cmpd, "latent": latent,
                           "cmpd_hidden": cmpd_hidden, "decision": decision, "freeze": freeze,
                           "input_shape": list(input_shape), "backbone": dict(backbone_spec or {})}

    def _hook(self, name: str) -> Callable:
        def hook(module: nn.Module, args, output) -> None:
            self._feats[name] = pool(output[0] if isinstance(output, (tuple, list)) else output)
        return hook

    def train(self, mode: bool = True) -> "FACM":
        super().train(mode)
        if self.freeze:
            self.backbone.eval()
        return self

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(backbone logits, pooled tap features in ``layers`` order) for input ``x`` in [0,1]."""
        self._feats = {}
        logits = self.backbone(x)
        feats = [self._feats[n] for n in self.layers]
        self._feats = {}
        return logits, feats

    def members(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Logits of [backbone, FA heads..., CMPD] (CMPD last, when present)."""
        logits, feats = self.features(x)
        out = [logits] + [head(f) for head, f in zip(self.fa, feats, strict=True)]
        if self.cmpd is not None:
            out.append(self.cmpd(logits, torch.cat(feats, 1)))
        return out

    def surrogate(self, x: torch.Tensor) -> torch.Tensor:
        return decide(self.members(x), "mean")

    def forward(self, x: torch.Tensor, members: bool = False) -> torch.Tensor | list[torch.Tensor]:
        """The decision's output; with ``members`` every member's logits (training goes through here, so
        that a DDP-wrapped pipeline synchronises its gradients)."""
        return self.members(x) if members else decide(self.members(x), self.decision)


def build_facm(backbone: nn.Module, layers: list[str] | None, num_classes: int, input_shape, *,
               backbone_spec: dict | None = None, **kwargs) -> FACM:
    """A fresh FACM around ``backbone`` (tap feature sizes found with one dummy forward)."""
    layers = list(layers) if layers else default_layers(backbone)
    dims: dict[str, int] = {}
    hooks = [resolve_layer(backbone, n).register_forward_hook(
        lambda m, a, o, n=n: dims.__setitem__(n, pool(o[0] if isinstance(o, (tuple, list)) else o).shape[1]))
        for n in layers]
    was = backbone.training
    backbone.eval()
    with torch.no_grad():
        p = next(backbone.parameters(), None)
        backbone(torch.zeros(2, *input_shape, device=p.device if p is not None else "cpu"))
    backbone.train(was)
    for h in hooks:
        h.remove()
    return FACM(backbone, layers, [dims[n] for n in layers], num_classes, backbone_spec=backbone_spec,
                input_shape=input_shape, **kwargs)


def backbone_spec_of(ckpt: dict) -> dict:
    return {"arch": ckpt.get("arch"), "model_args": dict(ckpt.get("model_args") or {})}


def _rebuild_backbone(spec: dict) -> nn.Module:
    from ..models import COMPOSITE_MODELS, get_model

    args = dict(spec.get("model_args") or {})
    name = args.pop("name", spec.get("arch"))
    args.pop("weights", None)
    if spec.get("arch") in COMPOSITE_MODELS:
        raise LtError(f"a FACM backbone cannot itself be a composite '{spec.get('arch')}' model")
    return get_model(name, **args)


def facm_from_checkpoint(ckpt: dict) -> FACM:
    """Rebuild the (untrained) FACM a checkpoint describes (``toolkit.models.COMPOSITE_MODELS``);
    the caller loads the weights."""
    a = dict(ckpt.get("model_args") or {})
    backbone = _rebuild_backbone(a["backbone"])
    return FACM(backbone, a["layers"], a["feat_dims"], a["num_classes"], fa_hidden=a["fa_hidden"], cmpd=a["cmpd"],
                latent=a["latent"], cmpd_hidden=a["cmpd_hidden"], decision=a["decision"], freeze=a["freeze"],
                backbone_spec=a["backbone"], input_shape=a["input_shape"])


class FACMObjective(Objective):
    """Fine-tuning loss: CE of every FA head + KL(p_backbone(clean) || CMPD) on clean and adversarial
    inputs (+ the backbone's CE when it is not frozen). ``adversary(backbone, x, y)`` makes the
    adversarial half against the backbone (None: clean only)."""

    def __init__(self, adversary: Callable | None = None, kl_weight: float = 1.0):
        check(kl_weight >= 0, f"--kl-weight must be >= 0 (got {kl_weight})")
        self.adversary, self.kl_weight = adversary, kl_weight

    def loss(self, model: nn.Module, batch, epoch: int):
        from ..engine.distributed import unwrap

        x, y = batch
        facm = unwrap(model)
        if self.adversary is not None:
            x_adv = self.adversary(facm.backbone, x, y)
            x, y_all = torch.cat([x, x_adv]), torch.cat([y, y])
        else:
            y_all = y
        members = model(x, members=True)
        loss = sum(F.cross_entropy(m, y_all) for m in members[1:1 + len(facm.fa)]) / len(facm.fa)
        if facm.cmpd is not None:
            n = y.shape[0]
            target = members[0][:n].detach().softmax(1).repeat(y_all.shape[0] // n, 1)
            loss = loss + self.kl_weight * F.kl_div(members[-1].log_softmax(1), target, reduction="batchmean")
        if not facm.freeze:
            loss = loss + F.cross_entropy(members[0], y_all)
        return loss, decide([m.detach() for m in members], facm.decision), y_all


def member_names(model: FACM) -> list[str]:
    return ["backbone"] + [f"fa:{n}" for n in model.layers] + (["cmpd"] if model.cmpd is not None else [])


@torch.no_grad()
def _member_accuracy(model: FACM, loader, device, adversary: Callable | None) -> dict[str, float]:
    """Accuracy (fraction) of every member and of the decision, on clean inputs or on
    ``adversary(backbone, x, y)``; counted over every rank's shard under torchrun."""
    from ..engine import distributed as D
    from ..engine.loop import to_device

    model.eval()
    names = member_names(model) + ["facm"]
    correct = torch.zeros(len(names) + 1, dtype=torch.float64, device=device)  # ..., examples
    for x, y in loader:
        x, y = to_device((x, y), device)
        if adversary is not None:
            with torch.enable_grad():
                x = adversary(model.backbone, x, y)
        ms = model.members(x)
        outs = ms + [decide(ms, model.decision)]
        correct += torch.stack([(o.argmax(1) == y).sum().double() for o in outs]
                               + [torch.tensor(float(y.numel()), dtype=torch.float64, device=device)])
    *hits, n = D.all_reduce_sum(correct).tolist()
    return {k: c / max(1.0, n) for k, c in zip(names, hits, strict=True)}


def train_facm(opts: FACMOptions | None = None, **values):
    """Fine-tune FA heads (+ CMPD unless ``fa_only``) on a saved backbone; save one FACM checkpoint:
    ``lt defend facm``.

    ``opts`` (:class:`~toolkit.defense.options.FACMOptions`, or its fields as keywords) is validated first:
    ``backbone`` a checkpoint file or run dir; ``feature_layers`` module paths to tap (default: the
    family's, see the module docstring, resolved and recorded); ``latent_dim`` the CMPD latent size (32;
    refused with ``fa_only``); ``adv_attack`` none|fgsm|pgd with ``eps`` (8/255), ``alpha`` (2.5·eps/steps,
    pgd) and ``steps`` (10, pgd). Optimiser defaults (Adam, lr 1e-3, cosine, 10 epochs) are our choice;
    every engine option (TrainOptions) reaches the loop. Reports every member's clean accuracy (a fraction)
    and its accuracy under ``adv_attack`` made against the backbone (the paper's protocol; ``lt defend
    eval`` adds the end-to-end adaptive attack). Writes best.pt/last.pt, config.json, metrics.csv,
    metrics.json under ``out``; ``best.pt`` loads anywhere a model is accepted. Runs under torchrun;
    ``resume`` continues the run in ``out`` exactly.

        lt defend facm --backbone runs/ce --dataset digits --feature-layers features.3,features.7 --out runs/facm
    """
    from ..data import get_dataset
    from ..data.selection import selection_split
    from ..engine.lifecycle import start_run
    from ..engine.loop import TrainConfig, fit, load_best_into
    from .common import make_adversary

    opts = FACMOptions.of(opts, **values).validate()
    adversary = make_adversary(opts.adv_attack, opts.eps, opts.alpha, opts.steps)
    cfg = TrainConfig.of_options(opts, seed=opts.seed, deterministic=opts.deterministic)
    ckpt, net, layers = _backbone_of(opts.backbone, opts.feature_layers)
    run = start_run(("defend", "facm"), opts)
    bundle = get_dataset(opts.dataset, root=opts.data_root, download=opts.download,
                         **({"image_size": opts.image_size} if opts.image_size is not None else {}))
    classes = (ckpt.get("model_args") or {}).get("num_classes")
    check(classes is None or classes == bundle.num_classes,
          f"checkpoint '{opts.backbone}' predicts {classes} classes but the data has {bundle.num_classes}")
    bundle, eval_set, selected_on = selection_split(bundle, opts.select_on, opts.val_fraction)
    run.update_info(num_classes=bundle.num_classes, input_shape=list(bundle.input_shape), dataset_info=bundle.info)
    run.reseed()  # identical FA heads and CMPD on every rank
    model = build_facm(net.to(run.device), layers, bundle.num_classes, bundle.input_shape,
                       backbone_spec=backbone_spec_of(ckpt), fa_hidden=opts.fa_hidden, cmpd=not opts.fa_only,
                       latent=opts.latent_dim or 32, decision=opts.decision, freeze=opts.freeze).to(run.device)
    objective = FACMObjective(adversary, opts.kl_weight if opts.kl_weight is not None else 1.0)
    res = fit(model, bundle.train, eval_set, cfg=cfg, device=run.device, objective=objective,
              out_dir=run.out_dir, resume=run.resume_from(), run_config=run.config)
    load_best_into(model, run.out_dir)
    return _facm_report(run, model, bundle, res, adversary, cfg, selected_on)


def _facm_report(run, model: FACM, bundle, res, adversary: Callable | None, cfg, selected_on: str = "val"):
    """Every member's clean (and attacked-backbone) accuracy; metrics.json; the Report."""
    from ..data.selection import selection_notes
    from ..engine.loop import make_loader
    from ..engine.report import Report

    r = run.resolved
    loader = make_loader(bundle.test, cfg.batch_size, train=False, workers=cfg.workers)
    clean = _member_accuracy(model, loader, run.device, None)
    adv = _member_accuracy(model, loader, run.device, adversary) if adversary is not None else {}
    key = f"{r['adv_attack']}_on_backbone_acc"
    rows = [{"member": k, "clean_acc": v, **({key: adv[k]} if adv else {})} for k, v in clean.items()]
    summary = {"dataset": r["dataset"], "layers": ",".join(model.layers), "decision": r["decision"],
               "modules": "FA" if r["fa_only"] else "FA+CMPD", "backbone_frozen": r["freeze"],
               "clean_acc": clean["facm"], "backbone_clean_acc": clean["backbone"], "best_epoch": res.best_epoch,
               "selected_on": selected_on,
               "out": str(run.out_dir / "best.pt")}
    if adv:
        summary[key] = adv["facm"]
    run.finish({**summary, "members": rows, "history": res.history})
    notes = [f"{key}: the paper's protocol (the attack sees the backbone only, eps={r['eps']:.4g}); "
             "run `lt defend eval` for the end-to-end adaptive attack"] if adv else []
    notes += selection_notes(selected_on)
    return Report(title=f"FACM on {r['dataset']}", rows=rows, summary=summary, notes=notes)


__all__ = ["DECISIONS", "FACM", "CMPD", "FACMObjective", "build_facm", "decide", "default_layers", "pool",
           "facm_from_checkpoint", "resolve_layer", "available_layers", "member_names", "train_facm"]
