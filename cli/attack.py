"""``lt attack``: transfer attacks (one command per attack), ``eval`` of saved images, ``list``.

    lt attack dta --surrogate resnet50 --victims vgg16,resnet152,inception_v3,mobilenet_v2 \
        --dataset DIR --eps 16/255 --out adv/
    lt attack mifgsm --ftm --kappa 1.0 --kappa-wrong 0.9 --tau 1.5 --surrogate runs/a --victims runs/b \
        --dataset digits-lt
    lt attack dta --diversity-prob 0.5 --ti --surrogate resnet50,vgg16 --victims inception_v3 --dataset DIR
    lt attack eval --adv-dir adv/ --victims vgg16 --defense jpeg

Each attack command lists only the options that attack takes: its signature is built from the
torch-free table ``toolkit.attacks.options`` (attack -> option names and plain defaults) and the flag
declarations below (each declared once, :data:`ATTACK_FLAGS`). Rates are fractions in [0, 1].
"""

from __future__ import annotations

import inspect
from enum import Enum
from typing import Annotated, Any, Optional

import typer

# Pure Python (no torch): the commands' signatures are built from it when this module is imported.
from toolkit.attacks.options import ATTACK_NAMES, defaults_of, options_of

from .common import (
    ConfigOpt,
    DataRootOpt,
    DeviceOpt,
    ForceOpt,
    FormatOpt,
    LtTyper,
    OutOpt,
    PrintConfigOpt,
    QuietOpt,
    SeedOpt,
    opt,
    parse_fraction,
    resolve,
    run,
    split_list,
)

app = LtTyper(help="Transfer attacks (FGSM family, DTA/VDTA, NP, FTM) and transfer evaluation.",
              no_args_is_help=True)

SUMMARIES = {
    "fgsm": "FGSM: one step of size eps (Goodfellow et al., ICLR 2015).",
    "ifgsm": "I-FGSM / BIM: iterative sign steps (Kurakin et al., 2017).",
    "pgd": "PGD: I-FGSM from a random start (Madry et al., ICLR 2018).",
    "mifgsm": "MI-FGSM: momentum iterative attack (Dong et al., CVPR 2018).",
    "nifgsm": "NI-FGSM: Nesterov momentum (Lin et al., ICLR 2020).",
    "vmifgsm": "VMI-FGSM: variance-tuned MI-FGSM (Wang & He, CVPR 2021).",
    "vnifgsm": "VNI-FGSM: variance-tuned NI-FGSM (Wang & He, CVPR 2021).",
    "difgsm": "DI-FGSM: input diversity (Xie et al., CVPR 2019).",
    "tifgsm": "TI-FGSM: translation-invariant smoothing + DI (Dong et al., CVPR 2019).",
    "sifgsm": "SI-FGSM: scale-invariant copies with momentum (Lin et al., ICLR 2020).",
    "sinifgsm": "SI-NI-FGSM: scale-invariant copies at the Nesterov look-ahead (Lin et al., ICLR 2020).",
    "dta": "DTA: direction-tuning attack (Yang et al., Inf. Sci. 2023, arXiv 2303.15109).",
    "vdta": "VDTA: variance-tuned DTA (Yang et al., Inf. Sci. 2023).",
}


class Loss(str, Enum):
    ce = "ce"
    margin = "margin"
    dlr = "dlr"


class Defense(str, Enum):
    none = "none"
    jpeg = "jpeg"
    bitdepth = "bitdepth"
    rp = "rp"
    rs = "rs"
    fd = "fd"


class TargetMode(str, Enum):
    random = "random"
    least_likely = "least-likely"


class Score(str, Enum):
    png = "png"
    float = "float"


def _own(flag: str, text: str) -> Any:
    return typer.Option(flag, help=text)


# ------------------------------------------------------------------------------------------------
# Every attack option's flag, declared once (key = the library option = the CLI parameter name). The
# default of each command's parameter is its attack's (toolkit.attacks.options.defaults_of); None where
# the default depends on other options, as the help says.
ATTACK_FLAGS: dict[str, Any] = {
    "eps": Annotated[str, opt("--eps", "The default is the DTA paper's.")],
    "alpha": Annotated[Optional[str], opt("--alpha", "Default eps/steps (pgd: 2.5*eps/steps).")],
    "steps": Annotated[Optional[int], opt("--steps", "The outer iterations T.")],
    "multistep_alpha": Annotated[Optional[str], _own(
        "--multistep-alpha", "Per-step alpha factors, one per step, e.g. 1,1,0.5 "
                             "(the DTA authors' schedule; default 1 at every step).")],
    "targeted": Annotated[bool, _own("--targeted/--untargeted", "Aim at the data's target classes (images.csv "
                                                                "TargetClass, labels.csv target).")],
    "target_mode": Annotated[Optional[TargetMode], _own(
        "--target-mode", "Targeted, targets drawn from the surrogate: random | least-likely (data without targets).")],
    "random_start": Annotated[bool, _own("--random-start/--no-random-start", "Start from a uniform "
                                                                             "point in the eps-ball.")],
    "loss": Annotated[Loss, opt("--loss", "Attack loss: ce | margin (CW) | dlr.")],
    "ftm": Annotated[bool, _own("--ftm/--no-ftm", "FTM fuzziness-tuned logits on every gradient (any attack); --kappa, "
                                                  "--kappa-wrong, --tau not given: the authors' 1.0, 0.9, 1.5.")],
    "kappa": Annotated[Optional[float], _own("--kappa", "FTM true-class logit scale (needs --ftm; default 1.0).")],
    "kappa_wrong": Annotated[Optional[float], _own("--kappa-wrong", "FTM top-wrong-class logit scale "
                                                                    "(needs --ftm; default 0.9).")],
    "tau": Annotated[Optional[float], opt("--tau", "FTM temperature (needs --ftm; default 1.5).")],
    "np_rate": Annotated[Optional[float], _own("--np-rate", "NP: prune this fraction gamma in [0, 1) "
                                                            "of the surrogate's penultimate features "
                                                            "per gradient (default: NP off).")],
    "fast": Annotated[bool, _own("--fast/--no-fast", "bf16 autocast + channels_last (CUDA only; no effect on CPU).")],
    "decay": Annotated[Optional[float], _own("--decay", "Momentum mu1: weight of the accumulated gradient.")],
    "inner_steps": Annotated[Optional[int], _own("--inner-steps", "DTA inner steps K per outer step.")],
    "inner_decay": Annotated[Optional[float], _own("--inner-decay", "DTA inner momentum mu2.")],
    "n_samples": Annotated[Optional[int], _own("--n-samples", "Variance tuning: neighbours N per gradient.")],
    "beta": Annotated[Optional[float], _own("--beta", "Variance tuning: neighbourhood radius beta*eps.")],
    "resize_rate": Annotated[Optional[float], _own("--resize-rate", "DI: resize to [rate*W, W) then pad back "
                                                                    "(dta/vdta: giving it turns DI on; default 0.9).")],
    "diversity_prob": Annotated[Optional[float], _own(
        "--diversity-prob", "DI: probability of the resize-and-pad (dta/vdta: giving it turns DI on; default 0.5).")],
    "ti": Annotated[bool, _own("--ti/--no-ti", "TI: smooth every gradient with a kernel "
                                               "(--kernel-name, --len-kernel, --nsig).")],
    "kernel_name": Annotated[Optional[str], _own("--kernel-name", "TI kernel: gaussian | linear | uniform "
                                                                  "(dta/vdta: needs --ti; default gaussian).")],
    "len_kernel": Annotated[Optional[int], _own("--len-kernel", "TI kernel side, odd (dta/vdta: "
                                                                "needs --ti; default 15).")],
    "nsig": Annotated[Optional[float], _own("--nsig", "TI Gaussian range in sigmas "
                                                      "(dta/vdta: needs --ti; default 3).")],
    "n_scales": Annotated[Optional[int], _own("--n-scales", "SI: mean gradient over the copies "
                                                            "x/2^i, i < m (1 = SI off).")],
}
# Defaults of the CLI that differ from the library's (get_attack's eps is 8/255).
CLI_DEFAULTS = {"eps": "16/255"}

VictimsOpt = Annotated[str, _own("--victims", "Comma-separated victims (model names, checkpoints, run dirs).")]
WeightsOpt = Annotated[Optional[str], opt("--weights", "For named models (--surrogate, --victims), e.g. DEFAULT.")]
NumClassesOpt = Annotated[Optional[int], opt("--num-classes", "Default: the dataset's, else the model's.")]
BatchOpt = Annotated[int, opt("--batch-size", "Images per batch.")]
_P = inspect.Parameter
# (name, annotation, default) of the flags every attack command takes around the attack's own.
RUN_FLAGS_FIRST = (
    ("surrogate", Annotated[str, opt("--surrogate", "a,b,c = an ensemble (logits averaged).")], _P.empty),
    ("victims", VictimsOpt, _P.empty),
    ("dataset", Annotated[Optional[str], opt("--dataset", "Or a folder: NIPS-2017 dir, TransferAttack dir, "
                                                          "ImageFolder; a name attacks its test split. "
                                                          "Default: the --surrogate run's dataset.")], None),
)
RUN_FLAGS_LAST = (
    ("score", Annotated[Score, _own("--score", "Score the saved PNGs (png, ours) or the float "
                                               "tensors (float, authors' harness).")], Score.png),
    ("weights", WeightsOpt, None), ("num_classes", NumClassesOpt, None),
    ("image_size", Annotated[Optional[int], opt("--image-size", "Resize every image to this square side "
                                                                "before the attack (default: as read; all "
                                                                "images must share one size).")], None),
    ("batch_size", BatchOpt, 16),
    ("limit", Annotated[Optional[int], opt("--limit", "Attack only the first N images.")], None),
    ("data_root", DataRootOpt, None), ("out", OutOpt, None), ("force", ForceOpt, False),
    ("config", ConfigOpt, None), ("print_config", PrintConfigOpt, False), ("device", DeviceOpt, None),
    ("seed", Annotated[Optional[int], opt("--seed", "Batch b is attacked with seed + b.")], None),
    ("fmt", FormatOpt, None), ("quiet", QuietOpt, False),
)


def attack_flags(name: str) -> list[str]:
    """The attack option parameters of ``lt attack NAME``: the attack's options (``seed`` is the run's), and
    ``ftm`` (the switch of FTM's kappa, kappa_wrong, tau)."""
    names = [o for o in options_of(name) if o != "seed"]
    return names[:names.index("kappa")] + ["ftm"] + names[names.index("kappa"):]


def _default(name: str, option: str) -> Any:
    value = {**defaults_of(name), **CLI_DEFAULTS}.get(option, False if option == "ftm" else None)
    enum = {"loss": Loss, "target_mode": TargetMode}.get(option)
    return enum(value) if enum is not None and value is not None else value


def signature(name: str) -> inspect.Signature:
    """``lt attack NAME``'s parameters: the run flags around the flags of the options NAME takes."""
    kw = _P.KEYWORD_ONLY
    params = [_P("ctx", kw, annotation=typer.Context)]
    params += [_P(n, kw, annotation=a, default=d) for n, a, d in RUN_FLAGS_FIRST]
    params += [_P(o, kw, annotation=ATTACK_FLAGS[o], default=_default(name, o)) for o in attack_flags(name)]
    params += [_P(n, kw, annotation=a, default=d) for n, a, d in RUN_FLAGS_LAST]
    return inspect.Signature(params)


def _make_command(name: str):
    def command(ctx: typer.Context, **params: Any) -> None:
        from toolkit.attacks.transfer import run_attack
        from toolkit.engine.runs import with_run_data

        opts = resolve(ctx, params.pop("device"), params.pop("seed"), params.pop("fmt"), params.pop("quiet"))
        for key in ("config", "print_config"):
            params.pop(key)
        params = {k: v.value if isinstance(v, Enum) else v for k, v in params.items()}
        params["eps"] = parse_fraction(params["eps"], "--eps")
        if params.get("alpha") is not None:
            params["alpha"] = parse_fraction(params["alpha"], "--alpha")
        if params.get("multistep_alpha"):
            params["multistep_alpha"] = [parse_fraction(v, "--multistep-alpha")
                                         for v in split_list(params["multistep_alpha"])]
        params["victims"] = split_list(params["victims"])
        fields = {"dataset": ("dataset", "--dataset"), "data_root": ("data_root", "--data-root"),
                  "image_size": ("image_size", "--image-size"), "num_classes": ("num_classes", "--num-classes")}
        run(ctx, with_run_data(run_attack, "surrogate", fields, required="dataset"), opts, attack=name,
            device=opts["device"], seed=opts["seed"], **params)

    command.__name__ = f"attack_{name}"
    command.__signature__ = signature(name)  # typer reads the parameters from here
    command.__doc__ = (f"{SUMMARIES[name]} Save rounded PNGs, print transfer ASR per victim (fractions in [0, 1]).\n\n"
                       f"Example: lt attack {name} --surrogate resnet50 --victims vgg16,inception_v3 "
                       f"--dataset DIR --eps 16/255 --out adv/")
    return command


for _name in ATTACK_NAMES:
    app.command(_name)(_make_command(_name))


@app.command("eval")
def eval_(ctx: typer.Context,
          adv_dir: Annotated[str, _own("--adv-dir", "Output dir of `lt attack <name>` (images/ + labels.csv).")],
          victims: VictimsOpt,
          dataset: Annotated[Optional[str], opt("--dataset", "Or a folder; its clean images (default: the "
                                                             "one recorded in DIR/config.json).")] = None,
          defense: Annotated[Defense, _own("--defense", "Input-transform defense around every victim.")] = Defense.none,
          jpeg_quality: Annotated[Optional[int], _own("--jpeg-quality", "JPEG quality (jpeg; default 75).")] = None,
          bits: Annotated[Optional[int], _own("--bits", "Bits per channel, 2^bits levels "
                                                        "(bitdepth; default 4).")] = None,
          rs_sigma: Annotated[Optional[float], _own("--rs-sigma", "Noise std (rs; default 0.25).")] = None,
          rs_samples: Annotated[Optional[int], _own("--rs-samples", "Noisy copies n per image "
                                                                    "(rs; default 100).")] = None,
          rs_alpha: Annotated[Optional[float], _own("--rs-alpha", "Abstention test level (rs; default 0.001).")] = None,
          weights: WeightsOpt = None, num_classes: NumClassesOpt = None, batch_size: BatchOpt = 16,
          data_root: DataRootOpt = None, device: DeviceOpt = None, seed: SeedOpt = None, fmt: FormatOpt = None,
          quiet: QuietOpt = False) -> None:
    """Re-evaluate saved adversarial PNGs on victims, optionally behind JPEG/bit-depth/R&P/RS/FD (rates in [0, 1]).

    Example: lt attack eval --adv-dir adv/ --victims mobilenet_v2 --defense rs --rs-sigma 0.25
    """
    from toolkit.attacks.transfer import eval_adv_dir

    opts = resolve(ctx, device, seed, fmt, quiet)
    run(ctx, eval_adv_dir, opts, adv_dir=adv_dir, victims=split_list(victims), dataset=dataset,
        defense=defense.value, weights=weights, num_classes=num_classes, batch_size=batch_size,
        jpeg_quality=jpeg_quality, bits=bits, rs_sigma=rs_sigma, rs_samples=rs_samples, rs_alpha=rs_alpha,
        data_root=data_root, device=opts["device"], seed=opts["seed"])


@app.command("list")
def list_(ctx: typer.Context, fmt: FormatOpt = None) -> None:
    """List the attacks and the options each one takes.

    Example: lt attack list --format json
    """
    from toolkit.attacks import attack_table

    run(ctx, attack_table, resolve(ctx, None, None, fmt, False))
