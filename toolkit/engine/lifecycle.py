"""One run lifecycle for every command that writes a run dir.

Every ``lt`` command that trains or writes results goes through :func:`start_run`, which does, in order:

1. resolve the device (``--device``) and, under ``torchrun``, initialise the process group;
2. seed every RNG (``seed + rank`` for data order; the caller re-seeds with ``seed`` before building
   a model so that every rank starts from the same weights);
3. on rank 0, prepare ``--out`` (refuse a non-empty dir unless ``--force``; ``--resume`` needs a
   resumable ``last.pt`` and a ``config.json`` whose options agree with the ones given now) and
   broadcast its path to the other ranks;
4. write ``config.json`` in the one schema every command shares (:data:`CONFIG_KEYS`):

   ``command``          e.g. ``["train", "lcreg"]``
   ``argv``             the command line as typed
   ``toolkit_version``, ``torch_version``
   ``resolved``         every option with the value actually used (recipe values included), keyed by
                        the option's name (= its flag's), so ``--config FILE`` replays it
   ``created``          ISO-8601 UTC time
   ``info``             what the command learned while starting (dataset sizes, class counts, ...)

:meth:`Run.finish` writes ``metrics.json`` (rank 0) and tears the process group down. ``--print-config``
is the CLI's: it prints :func:`build_config` of the validated options and never calls the run.

Resume: ``--resume`` continues the run in ``--out``; :meth:`Run.resume_from` gives the ``last.pt`` to
continue (of the run, or of one of its sub-runs such as a MuSe seed or an SSBPR fold), ``None`` where
that part has not started yet. Every model a run trains is fitted with ``run_config=run.config``, so its
checkpoints carry the same config as ``config.json``.

A run dir this call created and that still holds nothing but ``config.json`` when the command fails
is removed again (:func:`discard_failed_run`, called by the CLI), so a mistyped model name does not
leave a folder that the corrected command would refuse to write into.

Typical use (the toolkit side of ``lt train mdl``)::

    opts = MDLOptions.of(opts, **values).validate()  # out, force, resume, device, seed, ... and the rest
    run = start_run(("train", "mdl"), opts)        # resolved = opts.to_dict()
    bundle = get_dataset(...)
    run.update_info(num_classes=bundle.num_classes)
    run.reseed()                                   # the same initial weights on every rank
    res = fit(model, ..., cfg=TrainConfig.of_options(opts), device=run.device, out_dir=run.out_dir,
              resume=run.resume_from(), run_config=run.config)
    run.finish({"top1": ...})

A command passes its validated options group (``start_run(command, opts)``); the engine reads no
ambient CLI state.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import LtError

CONFIG_KEYS = ("command", "argv", "toolkit_version", "torch_version", "resolved", "created", "info")
# The CLI's own output and replay options: never replayed by --config, never compared on --resume; with the
# option fields marked run_control (device, workers, force, resume, caches): :func:`run_control`.
RUN_CONTROL = frozenset({"config", "print_config", "quiet", "fmt", "format"})


def run_control() -> frozenset[str]:
    """Everything that says how to run, not what the run is: :data:`RUN_CONTROL` and every option field
    declared ``run_control=True`` (``toolkit.engine.options.run_control_names``)."""
    from .options import run_control_names

    return RUN_CONTROL | run_control_names()
# Recorded in ``resolved`` by start_run for every run, whether or not the command has the flag.
ALWAYS_RECORDED = ("device", "seed", "deterministic")


_CURRENT: contextvars.ContextVar["Run | None"] = contextvars.ContextVar("lt_current_run", default=None)


def plain(value: Any) -> Any:
    """A JSON-ready copy: enums by value, paths as strings, tuples as lists, tensors as lists."""
    if hasattr(value, "value") and value.__class__.__module__ != "builtins" and hasattr(value.__class__, "__members__"):
        return value.value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def toolkit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lt-toolkit")
    except PackageNotFoundError:
        return "unknown"


def build_config(command: tuple[str, ...], resolved: dict[str, Any], info: dict[str, Any] | None = None) -> dict:
    """The config of one run: ``resolved`` is every option with the value used (the options group's
    :meth:`~toolkit.engine.options.Options.to_dict`); ``--print-config`` prints this before a run starts."""
    import torch

    merged = dict(resolved)
    return {"command": list(command), "argv": list(sys.argv), "toolkit_version": toolkit_version(),
            "torch_version": str(torch.__version__), "resolved": plain(merged),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "info": plain(info or {})}


def first_difference(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, Any, Any] | None:
    """The first option (in ``new``'s order) whose value differs, ignoring :func:`run_control` options."""
    ignore = run_control()
    for key, value in new.items():
        if key in ignore or key == "out":
            continue
        if key in old and plain(old[key]) != plain(value):
            return key, old[key], value
    return None


def check_resume_agrees(out_dir: Path, config: dict) -> None:
    """``--resume`` into ``out_dir``: refuse when the run's config.json disagrees with the options given."""
    from .runs import read_json

    path = out_dir / "config.json"
    if not path.is_file():
        raise LtError(f"--resume: '{out_dir}' holds no config.json to check the options against")
    old = read_json(path)
    if list(old.get("command") or []) != config["command"]:
        raise LtError(f"--resume: '{out_dir}' is a run of 'lt {' '.join(old.get('command') or ['?'])}', "
                      f"not of 'lt {' '.join(config['command'])}'")
    diff = first_difference(old.get("resolved") or {}, config["resolved"])
    if diff is not None:
        key, was, now = diff
        raise LtError(f"--resume: option '{key}' is {was!r} in '{path}' but {now!r} now; give the run's "
                      f"options again (or --config {path})")


@dataclass
class Run:
    """A started run: where it writes, on which device, with which config (the same on every rank)."""

    command: tuple[str, ...]
    out_dir: Path | None
    device: Any
    config: dict
    resume: bool = False
    seed: int = 0
    deterministic: bool = False
    fresh: bool = False  # the run dir held nothing before this run
    made: tuple[Path, ...] = ()  # folders this run created, deepest first (removed again by discard_failed_run)

    def reseed(self, offset: int = 0) -> None:
        """Seed every RNG with ``seed + offset`` on every rank (before building a model: same initial weights)."""
        from .seed import seed_everything

        seed_everything(self.seed + offset, self.deterministic)

    def resume_from(self, sub: str | os.PathLike | None = None) -> Path | None:
        """The ``last.pt`` to continue (``out_dir/sub/last.pt`` for a sub-run), or None: not resuming, or
        that part had not saved a checkpoint yet (it starts from scratch, as the uninterrupted run did)."""
        from .checkpoint import LAST

        if not self.resume or self.out_dir is None:
            return None
        path = self.out_dir / sub / LAST if sub is not None else self.out_dir / LAST
        return path if path.is_file() else None

    def sub_run(self, sub: str | None, offset: int = 0) -> tuple[Path | None, Path | None]:
        """Start one model of a run that fits several (a MuSe seed, an SSBPR fold): re-seed with
        ``seed + offset`` on every rank, and return its dir (``out_dir/sub``; the run dir for None) and the
        ``last.pt`` to continue it from (:meth:`resume_from`)."""
        self.reseed(offset)
        if self.out_dir is None:
            return None, None
        return (self.out_dir / sub if sub else self.out_dir), self.resume_from(sub)

    @property
    def is_main(self) -> bool:
        from . import distributed as D

        return D.is_main()

    @property
    def resolved(self) -> dict:
        return self.config["resolved"]

    def write_json(self, name: str, obj: Any) -> None:
        """Write ``out_dir/name`` (rank 0 only, atomically)."""
        from .runs import write_json

        if self.out_dir is not None and self.is_main:
            write_json(self.out_dir / name, obj)

    def update_info(self, **info: Any) -> None:
        """Add to ``config.json``'s ``info`` (what was learned after starting) and rewrite it."""
        self.config["info"].update(plain(info))
        self.write_json("config.json", self.config)

    def finish(self, metrics: dict | None = None) -> None:
        """Write ``metrics.json`` (when given) and leave the process group."""
        from . import distributed as D

        if metrics is not None:
            self.write_json("metrics.json", plain(metrics))
        if _CURRENT.get() is self:
            _CURRENT.set(None)
        D.cleanup()


def start_run(command: tuple[str, ...] | list[str], opts: Any = None, *, out: str | os.PathLike | None = None,
              force: bool = False, resume: bool = False, device: Any = "auto", seed: int = 0,
              deterministic: bool = False, resolved: dict[str, Any] | None = None, info: dict[str, Any] | None = None,
              writes: bool = True) -> Run:
    """Start a run (see the module docstring); ``writes=False`` for a command with no run dir.

    ``opts``: the command's validated options (a :class:`toolkit.engine.options.Options` holding the
    :class:`~toolkit.engine.options.RunOptions` fields): where to write and how to start are read from it, and
    ``resolved`` is its :meth:`~toolkit.engine.options.Options.to_dict` (``resolved`` given here adds to it).
    """
    if opts is not None:
        out, force, resume, device = opts.out, opts.force, getattr(opts, "resume", False), opts.device
        seed, deterministic = opts.seed, opts.deterministic
        resolved = {**opts.to_dict(), **dict(resolved or {})}
    from . import distributed as D
    from .device import resolve_device
    from .runs import prepare_out_dir
    from .seed import seed_everything

    command = tuple(command)
    config = build_config(command, {**dict(resolved or {}), "device": str(device), "seed": seed,
                                    "deterministic": deterministic}, info)  # ALWAYS_RECORDED
    if resume and not out:
        raise LtError("--resume needs --out DIR (the run to continue)")
    dev = resolve_device(device)
    D.init_distributed(dev)
    seed_everything(seed + D.rank(), deterministic)
    out_dir, fresh, made = None, False, ()
    if writes:
        out_dir, fresh, made = _prepare_on_rank0(out, command, force, resume, config, prepare_out_dir)
    run = Run(command, out_dir, dev, config, resume=resume, seed=seed, deterministic=deterministic, fresh=fresh,
              made=made)
    if resume:
        from .report import log

        log(f"resuming the run in {out_dir}")
    else:
        run.write_json("config.json", config)
    _CURRENT.set(run)
    return run


def _prepare_on_rank0(out, command, force, resume, config, prepare_out_dir) -> tuple[Path, bool, tuple[Path, ...]]:
    """Rank 0 prepares (and checks) the run dir; every rank learns its path, or rank 0's error.

    Also returns whether the dir held nothing before, and the folders this call created, deepest first
    (the run dir and any missing parents): what :func:`discard_failed_run` may remove again.
    """
    import torch

    from . import distributed as D

    path, error, fresh, made = None, None, False, ()
    if D.is_main():
        try:
            from .runs import default_out

            target = Path(out) if out else default_out(command[0], "-".join(command[1:]) or "run")
            missing = tuple(p for p in (target, *target.parents) if not p.exists())
            empty_before = target.is_dir() and not any(target.iterdir())
            path = prepare_out_dir(target, command[0], "-".join(command[1:]) or "run", force=force, resume=resume)
            if resume:
                check_resume_agrees(path, config)
            else:
                fresh, made = bool(missing) or empty_before, missing
        except LtError as e:
            error = str(e)
    if D.is_distributed():
        box = [str(path) if path else None, error]
        torch.distributed.broadcast_object_list(box, src=0)
        path, error = (Path(box[0]) if box[0] else None), box[1]
    if error is not None:
        raise LtError(error)
    return Path(path), fresh, made


def discard_failed_run() -> None:
    """After a failed command: remove the run dir it created if that holds nothing but ``config.json``.

    Also removes the parent folders the run created (``runs/`` of a default ``--out``) when they are
    empty. Rank 0 only; a dir that held anything before, or that got a checkpoint, a log or an output,
    stays.
    """
    import shutil

    from . import distributed as D

    run = _CURRENT.get()
    _CURRENT.set(None)
    if run is None or not run.fresh or run.out_dir is None or not D.is_main():
        return
    try:
        names = {p.name for p in run.out_dir.iterdir()}
    except OSError:
        return
    if not names <= {"config.json"}:
        return
    if not run.made:  # the user's own empty dir: it stays, empty again
        (run.out_dir / "config.json").unlink(missing_ok=True)
        return
    shutil.rmtree(run.out_dir, ignore_errors=True)
    for folder in run.made[1:]:  # parents this run created (runs/ of the default --out), if now empty
        with contextlib.suppress(OSError):
            folder.rmdir()


__all__ = ["ALWAYS_RECORDED", "CONFIG_KEYS", "RUN_CONTROL", "Run", "build_config", "run_control",
           "check_resume_agrees", "discard_failed_run", "first_difference", "plain",
           "start_run"]
