"""The one training loop (:func:`fit`) and the one evaluation pass (:func:`evaluate`).

Methods never copy this loop: they pass an :class:`Objective` (the loss for a batch, optional
per-epoch hooks and state) and a ``metrics_fn`` (outputs, targets -> dict). The loop owns the
optimizer, the schedule (linear warm-up then multistep or cosine, stepped per iteration), AMP on
CUDA, gradient clipping, channels_last, DDP, per-epoch ``metrics.csv``, ``best.pt``/``last.pt``,
exact ``--resume`` (optimizer, scheduler, scaler, epoch, RNG and objective state) and Ctrl-C (saves a
resumable ``last.pt`` and exits with code 130).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from . import distributed as D
from .checkpoint import BEST, LAST, load_checkpoint, load_state_into, save_checkpoint
from .errors import CheckpointError, LtError
from .options import TrainOptions, option, options
from .report import log, progress
from .runs import write_csv
from .seed import rng_state, seed_everything, set_rng_state


class Interrupted(LtError):
    """Ctrl-C during training: a resumable checkpoint was saved."""

    exit_code = 130


class NonFiniteLoss(LtError):
    """The loss (or the weights after a step) became NaN/inf; the run stops at the last good epoch."""


@options
class TrainConfig(TrainOptions):
    """Everything the loop needs to know: the user's :class:`~toolkit.engine.options.TrainOptions` (every trainer's
    flags, inherited field by field) plus what the method sets (stored in checkpoints as ``config``).

    ``milestones`` are epochs; ``lr_factors`` the cumulative lr multipliers from each milestone on
    (default ``gamma**k``). ``amp``: ``auto`` = bf16/fp16 autocast on CUDA only. ``early_stop``: stop
    when ``monitor`` has not improved for that many epochs (resumable: it counts from ``best_epoch``).
    """

    nesterov: bool = option(False, "Nesterov momentum (SGD).", cli=False)
    gamma: float = option(0.1, "Multistep factor per milestone when --lr-factors is not given.", cli=False, gt=0)
    seed: int = option(0, "Seed of the data order.", cli=False)
    deterministic: bool = option(False, "Deterministic kernels.", cli=False)
    eval_every: int = option(1, "Evaluate every N epochs.", cli=False, min=1)
    monitor: str = option("top1", "The selection metric.", cli=False)
    monitor_mode: str = option("max", "Whether the selection metric is better high or low.", cli=False,
                               choices=("max", "min"))
    drop_last: bool = option(False, "Drop the last incomplete training batch.", cli=False)

    def _rules(self) -> None:
        if self.compile and getattr(torch, "compile", None) is None:
            raise LtError(f"--compile needs torch.compile (torch >= 2.0; this is torch {torch.__version__}): "
                          f"drop --compile")

    @classmethod
    def of_options(cls, opts: TrainOptions, **method: Any) -> "TrainConfig":
        """The loop's config: every engine option of ``opts`` plus the method's own settings."""
        return cls(**opts.train_fields(), **method).validate()


class Objective:
    """The training loss for a batch. Override :meth:`loss`; the other hooks are optional.

    ``loss`` returns the scalar loss, or ``(loss, logits, targets)`` so the loop can track
    training accuracy. State that must survive ``--resume`` (e.g. running covariances) goes
    through :meth:`state_dict` / :meth:`load_state_dict` (tensors and plain types only).
    """

    def loss(self, model: nn.Module, batch: Any, epoch: int) -> Any:
        x, y = batch
        logits = model(x)
        return nn.functional.cross_entropy(logits, y), logits, y

    def on_epoch_start(self, epoch: int, model: nn.Module) -> None:
        """Called before each epoch (0-based)."""

    def to(self, device: torch.device) -> "Objective":
        """Move any tensors the objective holds to ``device``."""
        return self

    def parameters(self) -> list[nn.Parameter]:
        """Extra learnable parameters optimised with the model (none by default)."""
        return []

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        return None


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)
    best_metric: float | None = None
    best_epoch: int | None = None
    final: dict = field(default_factory=dict)
    selected_on: str = "test"
    out_dir: Path | None = None


def to_device(batch: Any, device: torch.device, channels_last: bool = False) -> Any:
    """Move a (nested) batch of tensors to ``device``; ``channels_last``: the model's input (the batch's
    first floating-point tensor) must be 4-D images, put in channels_last memory format."""
    if isinstance(batch, torch.Tensor):
        batch = batch.to(device, non_blocking=True)
        if channels_last and batch.is_floating_point():
            if batch.dim() != 4:
                raise LtError(f"--channels-last needs 4-D image inputs (N, C, H, W); this model's input is "
                              f"{batch.dim()}-D {tuple(batch.shape)}: drop --channels-last")
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch
    if channels_last and isinstance(batch, (list, tuple)) and batch:
        return type(batch)([to_device(batch[0], device, True), *(to_device(b, device) for b in batch[1:])])
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device, channels_last) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device, channels_last) for k, v in batch.items()}
    return batch


def autocast(device: torch.device, amp: str):
    """The autocast context for ``--amp`` (bf16 where supported, else fp16; CUDA only for auto)."""
    enabled = amp == "on" or (amp == "auto" and device.type == "cuda")
    dtype = torch.bfloat16
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        dtype = torch.float16
    return torch.autocast(device.type, dtype=dtype, enabled=enabled)


class _ShardSampler(Sampler):
    """Evaluation shards without padding: rank r sees indices r, r+W, ... (outputs are gathered)."""

    def __init__(self, n: int):
        self.idx = list(range(D.rank(), n, D.world_size()))

    def __iter__(self):
        return iter(self.idx)

    def __len__(self) -> int:
        return len(self.idx)


def make_loader(ds: Dataset, batch_size: int, *, train: bool, seed: int = 0, workers: int = 0,
                drop_last: bool = False, collate_fn: Callable | None = None,
                sampler: Sampler | None = None) -> DataLoader:
    """The one DataLoader recipe: a seeded generator (re-seeded per epoch by :func:`fit`),
    DistributedSampler under DDP, unpadded shards for evaluation."""
    g = torch.Generator()
    g.manual_seed(seed)
    if sampler is None:
        if D.is_distributed():
            sampler = (DistributedSampler(ds, shuffle=train, seed=seed, drop_last=drop_last) if train
                       else _ShardSampler(len(ds)))
    shuffle = train and sampler is None
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, sampler=sampler, num_workers=workers,
                      drop_last=drop_last and train, collate_fn=collate_fn, generator=g,
                      pin_memory=torch.cuda.is_available(), persistent_workers=False)


def first_non_finite(model: nn.Module) -> str | None:
    """The name of the first parameter or floating buffer (BatchNorm ``running_var`` too) holding a NaN or inf."""
    for name, t in model.state_dict().items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return name
    return None


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, *,
             forward: Callable[[nn.Module, Any], tuple[torch.Tensor, torch.Tensor]] | None = None,
             amp: str = "auto", description: str = "eval") -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``model`` in eval mode over ``loader``; return (outputs, targets) on CPU, gathered over ranks.

    ``forward(model, batch) -> (outputs, targets)`` overrides the default ``model(x), y``.
    The model's train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    outs, tgts = [], []
    for batch in progress(loader, description=description):
        batch = to_device(batch, device)
        with autocast(device, amp):
            out, tgt = forward(model, batch) if forward else (model(batch[0]), batch[1])
        outs.append(out.float())
        tgts.append(tgt)
    model.train(was_training)
    out = torch.cat(outs) if outs else torch.empty(0)
    tgt = torch.cat(tgts) if tgts else torch.empty(0, dtype=torch.long)
    return D.gather_cat(out).cpu(), D.gather_cat(tgt).cpu()


def build_optimizer(params: list, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                               nesterov=cfg.nesterov and cfg.momentum > 0)
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


class LrSchedule:
    """lr multiplier per iteration: linear warm-up, then cosine to 0 or multistep factors."""

    def __init__(self, cfg: TrainConfig, steps_per_epoch: int):
        self.kind = cfg.scheduler
        self.spe = max(1, steps_per_epoch)
        self.total = cfg.epochs * self.spe
        self.warmup = cfg.warmup_epochs * self.spe
        self.milestones = [int(m) * self.spe for m in cfg.milestones]
        self.factors = list(cfg.lr_factors) or [cfg.gamma ** (k + 1) for k in range(len(self.milestones))]
        if len(self.factors) != len(self.milestones):
            raise LtError("--lr-factors must give one factor per milestone")

    def __call__(self, step: int) -> float:
        if self.warmup and step < self.warmup:
            return (step + 1) / self.warmup
        if self.kind == "cosine":
            t = (step - self.warmup) / max(1, self.total - self.warmup)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
        if self.kind == "multistep":
            f = 1.0
            for m, factor in zip(self.milestones, self.factors, strict=True):
                if step >= m:
                    f = factor
            return f
        return 1.0


def _better(value: float, best: float | None, mode: str) -> bool:
    return best is None or (value > best if mode == "max" else value < best)


class Trainer:
    """State of one :func:`fit` run; split into small steps so each stays readable."""

    def __init__(self, model: nn.Module, train_set: Dataset, eval_set: Dataset | None, *, objective: Objective,
                 metrics_fn: Callable[[torch.Tensor, torch.Tensor], dict], cfg: TrainConfig, device: torch.device,
                 out_dir: Path | None, eval_forward: Callable | None, collate_fn: Callable | None,
                 train_sampler: Sampler | None, run_config: dict | None):
        cfg = self.cfg = cfg.validate()
        self.device, self.out_dir = device, out_dir
        self.objective, self.metrics_fn, self.eval_forward = objective.to(device), metrics_fn, eval_forward
        self.run_config = run_config or {}
        self.bare = model.to(device)
        if cfg.channels_last:
            self.bare = channels_last(self.bare)
        self.model = self.bare
        if D.is_distributed():
            self.model = nn.parallel.DistributedDataParallel(
                self.bare, device_ids=[device.index] if device.type == "cuda" else None)
        if cfg.compile:
            self.model = compiled(self.model)
        self.train_loader = make_loader(train_set, cfg.batch_size, train=True, seed=cfg.seed,
                                        workers=cfg.workers, drop_last=cfg.drop_last, collate_fn=collate_fn,
                                        sampler=train_sampler)
        self.eval_loader = None if eval_set is None else make_loader(
            eval_set, cfg.batch_size, train=False, workers=cfg.workers, collate_fn=collate_fn)
        params = [p for p in self.bare.parameters() if p.requires_grad] + list(objective.parameters())
        self.optimizer = build_optimizer(params, cfg)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, LrSchedule(cfg, len(self.train_loader)))
        self.use_scaler = device.type == "cuda" and cfg.amp != "off" and not torch.cuda.is_bf16_supported()
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.use_scaler)
        self.start_epoch, self.best, self.best_epoch, self.history = 0, None, None, []

    # -- checkpoints -------------------------------------------------------------------------
    def payload(self, epoch: int) -> dict:
        return {"arch": getattr(self.bare, "arch", type(self.bare).__name__),
                "model_args": getattr(self.bare, "model_args", {}),
                "state_dict": self.bare.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(), "epoch": epoch,
                "best_metric": self.best, "best_epoch": self.best_epoch,
                "config": {**self.run_config, "train": asdict(self.cfg)}, "rng": rng_state(),
                "objective": self.objective.state_dict(), "history": self.history}

    def save(self, name: str, epoch: int) -> None:
        if self.out_dir is not None and D.is_main():
            save_checkpoint(self.out_dir / name, self.payload(epoch))

    def resume(self, spec: str | Path) -> None:
        ckpt = load_checkpoint(spec, map_location=self.device)
        if "optimizer" not in ckpt or "rng" not in ckpt:
            raise CheckpointError(f"'{ckpt['path']}' is not a resumable training checkpoint")
        if ckpt.get("arch") != getattr(self.bare, "arch", None):
            raise CheckpointError(f"--resume: checkpoint arch '{ckpt.get('arch')}' "
                                  f"!= model '{getattr(self.bare, 'arch', None)}'")
        load_state_into(self.bare, ckpt["state_dict"], source=f"--resume '{ckpt['path']}'")
        try:
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.scheduler.load_state_dict(ckpt["scheduler"])
            # The schedule follows this run's config (equal to the saved one on an exact resume;
            # a longer --epochs extends it) rather than the pickled multiplier of the old run.
            self.scheduler.lr_lambdas = [LrSchedule(self.cfg, len(self.train_loader))]
        except (ValueError, KeyError, RuntimeError) as e:
            raise CheckpointError(f"--resume: optimizer/scheduler state does not fit this run: {e}") from e
        self.scaler.load_state_dict(ckpt["scaler"])
        self.objective.load_state_dict(ckpt.get("objective") or {})
        self.start_epoch, self.best, self.best_epoch = int(ckpt["epoch"]), ckpt["best_metric"], ckpt.get("best_epoch")
        self.history = list(ckpt.get("history") or [])
        set_rng_state(ckpt["rng"])
        log(f"resumed from {ckpt['path']} at epoch {self.start_epoch}")

    # -- one epoch -----------------------------------------------------------------------------
    def train_epoch(self, epoch: int) -> dict:
        self.model.train()
        self.train_loader.generator.manual_seed(self.cfg.seed * 1_000_003 + epoch)
        if isinstance(self.train_loader.sampler, DistributedSampler):
            self.train_loader.sampler.set_epoch(epoch)
        self.objective.on_epoch_start(epoch, self.bare)
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        stats = torch.zeros(3, device=self.device, dtype=torch.float64)  # samples, correct, batches
        for batch in progress(self.train_loader, description=f"epoch {epoch + 1}/{self.cfg.epochs}"):
            batch = to_device(batch, self.device, self.cfg.channels_last)
            with autocast(self.device, self.cfg.amp):
                out = self.objective.loss(self.model, batch, epoch)
            loss, logits, target = (out, None, None) if isinstance(out, torch.Tensor) else out
            if not torch.isfinite(loss):
                raise NonFiniteLoss(f"loss became {loss.item()} at epoch {epoch + 1}")
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if self.cfg.grad_clip > 0:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.bare.parameters(), self.cfg.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            loss_sum += loss.detach().double()
            stats[2] += 1
            if logits is not None and target is not None and logits.dim() == 2 and target.dim() == 1:
                stats[0] += target.numel()
                stats[1] += (logits.detach().argmax(1) == target).sum()
        stats = D.all_reduce_sum(torch.cat([stats, loss_sum.view(1)]))
        row = {"train_loss": float(stats[3] / max(1, stats[2]))}
        if stats[0] > 0:
            row["train_acc"] = float(stats[1] / stats[0])
        return row

    def eval_metrics(self) -> dict:
        out, tgt = evaluate(self.bare, self.eval_loader, self.device, forward=self.eval_forward, amp=self.cfg.amp)
        return self.metrics_fn(out, tgt)

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> FitResult:
        epoch = self.start_epoch
        try:
            for epoch in range(self.start_epoch, self.cfg.epochs):
                if self.stale(epoch):
                    log(f"early stop after epoch {epoch}: {self.cfg.monitor} has not improved for "
                        f"{self.cfg.early_stop} epoch(s) since epoch {self.best_epoch}")
                    break
                t0 = time.perf_counter()
                row = {"epoch": epoch + 1, "lr": self.optimizer.param_groups[0]["lr"], **self.train_epoch(epoch)}
                bad = first_non_finite(self.bare)
                if bad is not None:
                    raise NonFiniteLoss(f"{bad} became non-finite at epoch {epoch + 1}")
                if self.eval_loader is not None and ((epoch + 1) % self.cfg.eval_every == 0
                                                     or epoch + 1 == self.cfg.epochs):
                    metrics = self.eval_metrics()
                    row.update({k: v for k, v in metrics.items() if isinstance(v, (int, float))})
                    value = metrics.get(self.cfg.monitor)
                    if value is not None and _better(value, self.best, self.cfg.monitor_mode):
                        self.best, self.best_epoch = float(value), epoch + 1
                        self.save(BEST, epoch + 1)
                row["seconds"] = round(time.perf_counter() - t0, 3)
                self.history.append(row)
                self.save(LAST, epoch + 1)
                if self.out_dir is not None and D.is_main():
                    write_csv(self.out_dir / "metrics.csv", self.history)
                log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
        except NonFiniteLoss as e:
            raise NonFiniteLoss(f"{e}; {self._last_good()}; lower --lr or check the data") from None
        except Exception as e:
            if self.cfg.compile and _compiler_error(e):  # torch.compile compiles lazily, at the first step
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise LtError(f"--compile: torch.compile failed here ({first}); drop --compile") from None
            raise
        except KeyboardInterrupt:
            done = len(self.history)
            where = self.out_dir / LAST if self.out_dir is not None else None
            if where is not None and done > 0:
                raise Interrupted(f"interrupted after {done} epoch(s); resumable checkpoint at {where} "
                                  f"(run the same command with --resume)") from None
            raise Interrupted("interrupted before the first epoch finished; nothing was saved") from None
        return FitResult(history=self.history, best_metric=self.best, best_epoch=self.best_epoch, out_dir=self.out_dir)

    def stale(self, epoch: int) -> bool:
        """``--early-stop``: the selection metric has not improved for that many epochs (counted from the
        best epoch, which checkpoints keep, so a resumed run stops where the uninterrupted one did)."""
        if self.cfg.early_stop <= 0 or self.eval_loader is None:
            return False
        return epoch - (self.best_epoch or 0) >= self.cfg.early_stop

    def _last_good(self) -> str:
        """Where the last finite epoch's checkpoint is (``last.pt`` is only written after a finite epoch)."""
        if self.out_dir is None:
            return "nothing was saved (no output dir)"
        if not self.history:
            return "no epoch finished, nothing was saved"
        return f"the last good checkpoint is {self.out_dir / LAST} (epoch {self.history[-1]['epoch']})"


def channels_last(model: nn.Module) -> nn.Module:
    """``--channels-last``: the model in channels_last memory format (its 4-D weights: 2-D convolutions)."""
    shapes = {p.dim() for p in model.parameters()}
    if 5 in shapes:
        raise LtError("--channels-last needs 4-D image inputs (N, C, H, W) and 2-D convolutions; this model has "
                      "3-D convolutions (5-D weights, video clips): drop --channels-last")
    return model.to(memory_format=torch.channels_last)


def _compiler_error(e: BaseException) -> bool:
    """An exception raised by torch.compile's machinery (dynamo, inductor), e.g. no working C++ compiler."""
    return any(c.__module__.startswith(("torch._dynamo", "torch._inductor")) for c in type(e).__mro__)


def compiled(model: nn.Module) -> nn.Module:
    """``--compile``: ``torch.compile(model)`` (its availability is checked by :class:`TrainConfig`)."""
    try:
        return torch.compile(model)
    except (RuntimeError, ImportError) as e:
        raise LtError(f"--compile: torch.compile could not start here ({e}): drop --compile") from None


def fit(model: nn.Module, train_set: Dataset, eval_set: Dataset | None = None, *, cfg: TrainConfig,
        device: torch.device, objective: Objective | None = None,
        metrics_fn: Callable[[torch.Tensor, torch.Tensor], dict] | None = None, out_dir: Path | None = None,
        resume: str | Path | None = None, eval_forward: Callable | None = None, collate_fn: Callable | None = None,
        train_sampler: Sampler | None = None, run_config: dict | None = None) -> FitResult:
    """Train ``model`` on ``train_set``; evaluate on ``eval_set`` every ``cfg.eval_every`` epochs.

    Writes (rank 0, when ``out_dir`` is given) ``last.pt`` every epoch, ``best.pt`` on improvement of
    ``cfg.monitor`` and ``metrics.csv``. ``resume``: a ``last.pt`` (or run dir) to continue exactly.
    Call :func:`toolkit.engine.seed.seed_everything` before building the model for reproducibility.
    """
    from .metrics import classification_metrics

    trainer = Trainer(model, train_set, eval_set, objective=objective or Objective(),
                      metrics_fn=metrics_fn or classification_metrics, cfg=cfg, device=device, out_dir=out_dir,
                      eval_forward=eval_forward, collate_fn=collate_fn, train_sampler=train_sampler,
                      run_config=run_config)
    if resume is not None:
        trainer.resume(Path(resume) / LAST if Path(resume).is_dir() else resume)
    return trainer.run()


def load_best_into(model: nn.Module, out_dir: Path) -> bool:
    """Load ``out_dir/best.pt`` weights into ``model`` (returns False when there is none)."""
    path = out_dir / BEST
    D.barrier()
    if not path.is_file():
        return False
    load_state_into(D.unwrap(model), load_checkpoint(path)["state_dict"], source=str(path))
    return True


__all__ = ["TrainConfig", "Objective", "FitResult", "fit", "evaluate", "make_loader", "to_device", "autocast",
           "Interrupted", "load_best_into", "seed_everything"]
