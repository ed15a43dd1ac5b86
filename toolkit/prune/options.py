"""The options of ``lt prune`` (``run``), ``lt prune curves`` and ``lt prune additivity``, defined once.

Pure Python (no torch): the CLI builds the commands from these classes at startup. See
``toolkit/engine/options.py`` for how a field becomes a flag, a ``config.json`` key and a rule.

- :class:`CalibOptions`: the model and its calibration data (every prune command).
- :class:`CurveOptions`: how rd's curves are measured and cached (``lt prune curves``; ``lt prune run``
  takes them for ``--method rd`` only: there they default to None, "not given", resolved for rd and
  refused, named by their flag, with a baseline method).
- :class:`PruneOptions` (``lt prune run``), :class:`CurvesOptions` (``lt prune curves``),
  :class:`AdditivityOptions` (``lt prune additivity``).

``--dataset`` left None means "the run's" for a run dir or checkpoint MODEL (filled by the entry point
from its ``config.json``, ``CalibOptions.run_data``) and ``noise`` for a model name.
"""

from __future__ import annotations

from pathlib import Path

from ..engine.errors import LtError
from ..engine.options import (
    BatchOptions,
    DataOptions,
    Default,
    Options,
    OutputOptions,
    RunData,
    option,
    options,
    refuse,
)

NOISE = "noise"  # --dataset noise: zero-data calibration
METHOD_NAMES = ("rd", "lamp", "global", "uniform", "uniform-plus", "erk")  # toolkit.prune.METHODS
DEFAULT_CACHE_DIR = "$LT_CACHE_DIR/prune"  # resolved at use (toolkit.engine.cache.resolve_path)
RD_ONLY = ("grid", "buckets", "allow_empty", "fx_split", "cache_dir", "curves", "sketch_draws",
           "sketch_anchors")
CURVE_MODES = ("measured", "sketch")  # toolkit.prune.cache.get_curves
DEFAULT_CURVES = "sketch"  # chosen from benchmarks/README.md ("Curves at the cost floor")
SKETCH_DEFAULTS = {"sketch_draws": 1, "sketch_anchors": 0}  # toolkit.prune.sketch.DEFAULT_DRAWS/_ANCHORS


def is_noise(dataset: str | None) -> bool:
    """True for noise calibration (``--dataset noise``, or no dataset at all)."""
    return dataset in (None, "", NOISE)


def check_image_size(dataset: str | None, image_size: int | None) -> None:
    """The one rule for ``--image-size``: it sizes noise images only; a dataset fixes its own
    (used by :class:`CalibOptions` and :func:`toolkit.prune.calib.build_calibration`)."""
    if image_size is not None and not is_noise(dataset):
        raise LtError("--image-size applies to noise calibration only; the dataset fixes the image size")


@options(dataset=Default(None, "a run dir MODEL's own dataset, else noise",
                         help="Dataset: a registered name (see `lt datasets`). Here: the calibration data (a seeded "
                              "subset of its training split, test-time transforms; its test split gives top-1), or "
                              "noise: N(0,1) images, no data."),
         batch_size=Default(64, help="Samples per batch (per process under torchrun). Here: calibration and "
                                     "fine-tuning batch."))
class CalibOptions(DataOptions, BatchOptions, OutputOptions):
    """A model to prune and its calibration set (every ``lt prune`` command)."""

    run_data = RunData("model", {"dataset": ("dataset", "--dataset"), "data_root": ("data_root", "--data-root"),
                                 "image_size": ("image_size", "--image-size")})

    model: str = option(help="Model to prune: an architecture name (see `lt models`; random init unless --weights), "
                             "a checkpoint file or a run dir.", argument=True)
    weights: str | None = option(None, "Initial weights: a torchvision weights name (read from the hub cache, never "
                                       "downloaded) or a file. For a MODEL name only (a checkpoint or run dir carries "
                                       "its own).", default_text="random init")
    calib_size: int = option(256, "Calibration images.", min=1)
    image_size: int | None = option(None, "Image side in pixels. Here: of the noise images. A dataset fixes its own.",
                                    min=1, default_text="the model's: 32 lt nets, 224 torchvision, 299 Inception")
    worst_case: bool = option(False, "Distortion: max over images instead of mean.",
                              flag="--worst-case/--no-worst-case")

    def _resolve(self):
        """No dataset given or recorded: zero-data calibration on noise images of the model's own side."""
        if self.dataset is not None and not is_noise(self.dataset):
            return self
        size = self.image_size
        if size is None and not (self.weights and Path(self.model).exists()):  # else refused by the rules
            from ..models import input_side, load_model  # builds the model (torch): only when resolved

            size = input_side(load_model(self.model))
        return self.replace(dataset=NOISE, image_size=size)

    def _rules(self) -> None:
        if self.weights and Path(self.model).exists():
            raise LtError("--weights applies to model names only; a checkpoint or run dir carries its own weights")
        check_image_size(self.dataset, self.image_size)
        if self.calib_size < self.batch_size:  # refused before the model loads (ResNet-50: 40 s)
            raise LtError(f"--calib-size {self.calib_size} is fewer than one batch (--batch-size {self.batch_size}); "
                          f"raise --calib-size or lower --batch-size")


RD_DEFAULT = " (lt prune run: with --method rd only)"


@options
class CurveOptions(Options):
    """How rd's rate-distortion curves are measured and cached (one help text for ``curves`` and ``run``)."""

    grid: int = option(100, "Grid steps per layer K (K+1 points a_k = k/K); at least 2.", min=2,
                       default_text="100" + RD_DEFAULT)
    fx_split: bool = option(True, "Measure curves on the torch.fx-split network (faster, same numbers) or with the "
                                  "plain loop.", flag="--fx-split/--no-fx-split", default_text="on" + RD_DEFAULT)
    cache_dir: str = option(DEFAULT_CACHE_DIR, "Cache folder (LT_CACHE_DIR defaults to ~/.cache/lt). Here: the curves "
                                               "cache ('' = none).", run_control=True,
                            default_text=DEFAULT_CACHE_DIR + RD_DEFAULT)
    curves: str = option(DEFAULT_CURVES, "How the curves are obtained: measured = the paper's (prune each layer to "
                                         "each grid point and run the calibration set; L x (K+1) passes), sketch = "
                                         "our extension (linearised distortion from N x draws gradients, "
                                         "independent of layers and grid; see docs/prune.md).",
                         choices=CURVE_MODES, default_text=DEFAULT_CURVES + RD_DEFAULT)
    sketch_draws: int | None = option(None, "Random output vectors per calibration image (one backward each) for "
                                            "--curves sketch.", min=1, metavar="N",
                                      default_text=f"{SKETCH_DEFAULTS['sketch_draws']} with --curves sketch")
    sketch_anchors: int | None = option(None, "Measured grid points per layer that rescale the sketch (each costs "
                                              "L x ceil(images / batch) suffix passes); at most --grid - 1.", min=0,
                                        metavar="M",
                                        default_text=f"{SKETCH_DEFAULTS['sketch_anchors']} with --curves sketch")

    def _resolve(self):
        if getattr(self, "method", "rd") != "rd":
            return self  # lt prune run with a baseline: rd's options stay "not given" (and are refused if typed)
        return self.replace(**sketch_defaults(self))

    def _rules(self) -> None:
        if self.curves == "measured":
            refuse(self, ["sketch_draws", "sketch_anchors"], "with --curves measured (they shape --curves sketch)")
        if self.curves != "sketch":
            return
        if getattr(self, "worst_case", False):
            raise LtError("--worst-case: not used with --curves sketch (the sketch estimates the mean over images); "
                          "use --curves measured")
        if isinstance(self.grid, int) and self.sketch_anchors is not None and self.sketch_anchors > self.grid - 1:
            raise LtError(f"--sketch-anchors {self.sketch_anchors} is larger than the grid: --grid {self.grid} has "
                          f"{self.grid - 1} interior points (1..K-1) to anchor at")


def sketch_defaults(opts) -> dict:
    """The sketch's defaults left None, for ``--curves sketch`` (nothing for measured)."""
    if opts.curves != "sketch":
        return {}
    return {k: v for k, v in SKETCH_DEFAULTS.items() if getattr(opts, k) is None}


@options(out=Default(None, help="Run dir (default runs/<group>-<method>-<time>). lt prune curves writes one only when "
                                "given (the curves go to the cache either way).", default_text="none"))
class CurvesOptions(CurveOptions, CalibOptions):
    """``lt prune curves``: measure (or re-use) and cache the curves of a model."""


# not given: resolved for --method rd, refused with the others
@options(grid=None, fx_split=None, cache_dir=None, curves=None)
class PruneOptions(CurveOptions, CalibOptions):
    """``lt prune run`` (``lt prune --ratio T MODEL``): prune a model to a fraction of zero weights."""

    ratio: float = option(help="Target fraction of zero weights, in (0, 1) (a fraction such as 16/25 is accepted).",
                          kind="fraction", gt=0, lt=1)
    method: str = option("rd", "Layer allocation.", choices=METHOD_NAMES)
    iterations: int = option(1, "Prune steps (1 = one-shot).", min=1)
    finetune_epochs: int | None = option(None, "Epochs of masked SGD fine-tuning after each step (needs --dataset "
                                               "DATASET).", min=0, default_text="1 if --iterations > 1, else 0")
    finetune_lr: float | None = option(None, "SGD lr for fine-tuning (cosine).", gt=0,
                                       default_text="0.01 when fine-tuning")
    buckets: int | None = option(None, "DP budget buckets (exact at >= survivors).", min=1,
                                 default_text="10000 with --method rd")
    allow_empty: bool | None = option(None, "Let the DP prune a whole layer (the paper: never).",
                                      flag="--allow-empty/--no-allow-empty", default_text="off with --method rd")

    def _resolve(self):
        values = {}
        if self.finetune_epochs is None and isinstance(self.iterations, int):
            values["finetune_epochs"] = 1 if self.iterations > 1 else 0
        epochs = values.get("finetune_epochs", self.finetune_epochs)
        if isinstance(epochs, int) and epochs > 0 and self.finetune_lr is None:
            values["finetune_lr"] = 0.01  # the authors' ImageNet recipe
        if self.method == "rd":  # only rd measures curves and runs the DP
            rd = {"grid": 100, "buckets": 10_000, "allow_empty": False, "fx_split": True,
                  "cache_dir": DEFAULT_CACHE_DIR, "curves": DEFAULT_CURVES}
            values.update({k: v for k, v in rd.items() if getattr(self, k) is None})
            values.update(sketch_defaults(self.replace(curves=values.get("curves", self.curves))))
        return self.replace(**values)

    def _rules(self) -> None:
        if self.method != "rd":
            refuse(self, RD_ONLY, f"with --method {self.method} (they shape rd's curves and DP)")
        if self.finetune_epochs == 0:
            refuse(self, ["finetune_lr"], "without fine-tuning (give --finetune-epochs > 0, or --iterations > 1)")
        elif self.dataset is not None and is_noise(self.dataset):
            raise LtError("fine-tuning (--finetune-epochs > 0, or --iterations > 1) needs --dataset DATASET")


@options(out=Default(None, cli=False), force=Default(False, cli=False))
class AdditivityOptions(CalibOptions):
    """``lt prune additivity``: joint / (d_i + d_j) over random layer pairs (writes no files)."""

    sparsities: tuple[float, ...] = option((0.2, 0.5, 0.8), "Comma list of per-layer sparsities, each in (0, 1).",
                                           gt=0, lt=1)
    pairs: int = option(30, "Random layer pairs (seeded).", min=1)

    def _rules(self) -> None:
        if not self.sparsities:
            raise LtError("--sparsities needs at least one value")
        refuse(self, ["out", "force"], "with lt prune additivity (it writes no run dir)")


__all__ = ["CURVE_MODES", "DEFAULT_CURVES", "SKETCH_DEFAULTS", "AdditivityOptions", "CalibOptions", "CurveOptions",
           "CurvesOptions", "DEFAULT_CACHE_DIR", "METHOD_NAMES", "NOISE", "PruneOptions", "RD_ONLY",
           "check_image_size", "is_noise", "sketch_defaults"]
