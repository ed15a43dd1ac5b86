"""``lt attack``: transfer attacks (one command per attack), ``eval`` of saved images, ``list``.

    lt attack dta --surrogate resnet50 --victims vgg16,resnet152,inception_v3,mobilenet_v2 \
        --data DIR --eps 16/255 --out adv/
    lt attack mifgsm --ftm --kappa 1.0 --kappa-wrong 0.9 --tau 1.5 --surrogate runs/a --victims runs/b --data digits-lt
    lt attack dta --diversity-prob 0.5 --ti --surrogate resnet50,vgg16 --victims inception_v3 --data DIR
    lt attack eval --adv-dir adv/ --victims vgg16 --defense jpeg
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from .common import (DataRootOpt, DeviceOpt, ForceOpt, FormatOpt, OutOpt, QuietOpt, SeedOpt, fail,
                     parse_fraction, resolve, run, split_list)

app = typer.Typer(help="Transfer attacks (FGSM family, DTA/VDTA, NP, FTM) and transfer evaluation.",
                  no_args_is_help=True)

# Kept equal to toolkit.attacks.list_attacks() (a test checks it); listed here so `lt --help` needs no torch.
ATTACK_NAMES = ("fgsm", "ifgsm", "pgd", "mifgsm", "nifgsm", "vmifgsm", "vnifgsm", "difgsm", "tifgsm",
                "sifgsm", "sinifgsm", "dta", "vdta")
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


SurrogateOpt = Annotated[str, typer.Option("--surrogate", help="Model attacked: torchvision name, lt model name, checkpoint or run dir; a,b,c = ensemble (logits averaged).")]
VictimsOpt = Annotated[str, typer.Option("--victims", help="Comma-separated victims (names, checkpoints, run dirs).")]
DataOpt = Annotated[Optional[str], typer.Option("--data", help="NIPS-2017 dir, TransferAttack dir, ImageFolder, or a dataset name (its test split); default: the --surrogate run's dataset.")]
WeightsOpt = Annotated[Optional[str], typer.Option("--weights", help="torchvision weights for named models, e.g. DEFAULT (must be cached; no download).")]
NumClassesOpt = Annotated[Optional[int], typer.Option("--num-classes", help="Classes of named models (default: the dataset's, else the model's).")]
BatchOpt = Annotated[int, typer.Option("--batch-size", help="Images per batch.")]
FloatOpt = Optional[float]
IntOpt = Optional[int]


def _opt(flag: str, text: str):
    return typer.Option(flag, help=text)


def _make_command(name: str):
    def command(ctx: typer.Context, surrogate: SurrogateOpt, victims: VictimsOpt, data: DataOpt = None,
                eps: Annotated[str, _opt("--eps", "L-inf budget, e.g. 16/255 (0 < eps <= 1).")] = "16/255",
                alpha: Annotated[Optional[str], _opt("--alpha", "Step size, e.g. 1.6/255 (default eps/steps).")] = None,
                steps: Annotated[IntOpt, _opt("--steps", "Outer iterations T (default 10; not for fgsm).")] = None,
                decay: Annotated[FloatOpt, _opt("--decay", "Momentum mu1 (MI/NI/VT/DI/TI/SI/DTA).")] = None,
                inner_steps: Annotated[IntOpt, _opt("--inner-steps", "DTA inner steps K (default 10).")] = None,
                inner_decay: Annotated[FloatOpt, _opt("--inner-decay", "DTA inner momentum mu2 (0.0; VDTA 0.8).")] = None,
                n_samples: Annotated[IntOpt, _opt("--n-samples", "Variance-tuning neighbours N (default 20).")] = None,
                beta: Annotated[FloatOpt, _opt("--beta", "Variance-tuning radius factor (default 1.5).")] = None,
                np_rate: Annotated[FloatOpt, _opt("--np-rate", "NP surrogate pruning rate gamma in [0,1) (default off).")] = None,
                ftm: Annotated[bool, _opt("--ftm/--no-ftm", "Fuzziness-tuned logits (kappa 1.0, kappa-wrong 0.9, tau 1.5 unless given).")] = False,
                kappa: Annotated[FloatOpt, _opt("--kappa", "FTM true-class scale (needs --ftm).")] = None,
                kappa_wrong: Annotated[FloatOpt, _opt("--kappa-wrong", "FTM top-wrong-class scale (needs --ftm).")] = None,
                tau: Annotated[FloatOpt, _opt("--tau", "FTM temperature (needs --ftm).")] = None,
                loss: Annotated[Loss, _opt("--loss", "Attack loss.")] = Loss.ce,
                targeted: Annotated[bool, _opt("--targeted/--untargeted", "Aim at the data's target classes.")] = False,
                target_mode: Annotated[Optional[TargetMode], _opt("--target-mode", "Targeted, targets drawn from the surrogate: random | least-likely (data without targets).")] = None,
                multistep_alpha: Annotated[Optional[str], _opt("--multistep-alpha", "Per-step alpha factors, one per step, e.g. 1,1,0.5 (DTA authors' schedule).")] = None,
                random_start: Annotated[Optional[bool], _opt("--random-start/--no-random-start", "Uniform start in the eps-ball (default: pgd only).")] = None,
                resize_rate: Annotated[FloatOpt, _opt("--resize-rate", "DI resize factor (default 0.9).")] = None,
                diversity_prob: Annotated[FloatOpt, _opt("--diversity-prob", "DI probability (default 0.5).")] = None,
                kernel_name: Annotated[Optional[str], _opt("--kernel-name", "TI kernel: gaussian|linear|uniform.")] = None,
                len_kernel: Annotated[IntOpt, _opt("--len-kernel", "TI kernel side (default 15).")] = None,
                nsig: Annotated[FloatOpt, _opt("--nsig", "TI Gaussian range in sigmas (default 3).")] = None,
                n_scales: Annotated[IntOpt, _opt("--n-scales", "SI copies m (sifgsm/sinifgsm default 5; dta/vdta: SI on).")] = None,
                ti: Annotated[bool, _opt("--ti", "TI gradient smoothing in dta/vdta (with --kernel-name/--len-kernel/--nsig).")] = False,
                score: Annotated[Score, _opt("--score", "Score the saved PNGs (png, ours) or the float tensors (float, authors' harness).")] = Score.png,
                fast: Annotated[bool, _opt("--fast/--no-fast", "bf16 autocast + channels_last (CUDA only).")] = False,
                weights: WeightsOpt = None, num_classes: NumClassesOpt = None,
                image_size: Annotated[IntOpt, _opt("--image-size", "Resize images to this square side (e.g. 224).")] = None,
                batch_size: BatchOpt = 16,
                limit: Annotated[IntOpt, _opt("--limit", "Attack only the first N images.")] = None,
                data_root: DataRootOpt = None, out: OutOpt = None, force: ForceOpt = False,
                device: DeviceOpt = None, seed: SeedOpt = None, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
        from toolkit.attacks.transfer import run_attack

        opts = resolve(ctx, device, seed, fmt, quiet)
        ftm_values = {"kappa": kappa, "kappa_wrong": kappa_wrong, "tau": tau}
        if not ftm and any(v is not None for v in ftm_values.values()):
            fail("--kappa, --kappa-wrong and --tau need --ftm")
        if ftm:
            from toolkit.attacks.ftm import FTM_DEFAULTS

            ftm_values = {k: (v if v is not None else FTM_DEFAULTS[k]) for k, v in ftm_values.items()}
        options = {"decay": decay, "inner_steps": inner_steps, "inner_decay": inner_decay, "n_samples": n_samples,
                   "beta": beta, "np_rate": np_rate, **ftm_values, "loss": loss.value,
                   "targeted": targeted, "random_start": random_start, "resize_rate": resize_rate,
                   "diversity_prob": diversity_prob, "kernel_name": kernel_name, "len_kernel": len_kernel,
                   "nsig": nsig, "n_scales": n_scales, "fast": fast, "ti": True if ti else None,
                   "target_mode": target_mode.value if target_mode else None,
                   "multistep_alpha": [parse_fraction(v, "--multistep-alpha") for v in split_list(multistep_alpha)]
                   if multistep_alpha else None}
        from toolkit.engine.runs import with_run_data

        fields = {"data": ("dataset", "--data"), "data_root": ("data_root", "--data-root"),
                  "image_size": ("input_size", "--image-size"), "num_classes": ("num_classes", "--num-classes")}
        run(ctx, with_run_data(run_attack, "surrogate", fields, required="data"), opts, attack=name,
            surrogate=surrogate, victims=split_list(victims), data=data,
            eps=parse_fraction(eps, "--eps"), alpha=parse_fraction(alpha, "--alpha") if alpha else None,
            steps=steps, options=options, out=out, force=force, weights=weights, num_classes=num_classes,
            image_size=image_size, batch_size=batch_size, limit=limit, data_root=data_root,
            device=opts["device"], seed=opts["seed"], score=score.value)

    command.__doc__ = (f"{SUMMARIES[name]} Save rounded PNGs, print transfer ASR per victim.\n\n"
                       f"Example: lt attack {name} --surrogate resnet50 --victims vgg16,inception_v3 "
                       f"--data DIR --eps 16/255 --out adv/")
    return command


for _name in ATTACK_NAMES:
    app.command(_name)(_make_command(_name))


@app.command("eval")
def eval_(ctx: typer.Context,
          adv_dir: Annotated[str, typer.Option("--adv-dir", help="Output dir of `lt attack <name>` (images/ + labels.csv).")],
          victims: VictimsOpt,
          data: Annotated[Optional[str], typer.Option("--data", help="Clean data (default: the one recorded in DIR/config.json).")] = None,
          defense: Annotated[Defense, typer.Option("--defense", help="Input-transform defense around every victim.")] = Defense.none,
          jpeg_quality: Annotated[IntOpt, typer.Option("--jpeg-quality", help="JPEG quality (jpeg; default 75).")] = None,
          bits: Annotated[IntOpt, typer.Option("--bits", help="Bits per channel, 2^bits levels (bitdepth; default 4).")] = None,
          rs_sigma: Annotated[FloatOpt, typer.Option("--rs-sigma", help="Noise std (rs; default 0.25).")] = None,
          rs_samples: Annotated[IntOpt, typer.Option("--rs-samples", help="Noisy copies n per image (rs; default 100).")] = None,
          rs_alpha: Annotated[FloatOpt, typer.Option("--rs-alpha", help="Abstention test level (rs; default 0.001).")] = None,
          weights: WeightsOpt = None, num_classes: NumClassesOpt = None, batch_size: BatchOpt = 16,
          data_root: DataRootOpt = None, device: DeviceOpt = None, seed: SeedOpt = None, fmt: FormatOpt = None,
          quiet: QuietOpt = False) -> None:
    """Re-evaluate saved adversarial PNGs on victims, optionally behind JPEG/bit-depth/R&P/RS/FD.

    Example: lt attack eval --adv-dir adv/ --victims mobilenet_v2 --defense rs --rs-sigma 0.25
    """
    from toolkit.attacks.transfer import eval_adv_dir

    opts = resolve(ctx, device, seed, fmt, quiet)
    run(ctx, eval_adv_dir, opts, adv_dir=adv_dir, victims=split_list(victims), data=data, defense=defense.value,
        weights=weights, num_classes=num_classes, batch_size=batch_size, jpeg_quality=jpeg_quality, bits=bits,
        rs_sigma=rs_sigma, rs_samples=rs_samples, rs_alpha=rs_alpha, data_root=data_root, device=opts["device"],
        seed=opts["seed"])


@app.command("list")
def list_(ctx: typer.Context, fmt: FormatOpt = None) -> None:
    """List the attacks and the options each one takes.

    Example: lt attack list --format json
    """
    from toolkit.attacks import attack_table

    run(ctx, attack_table, resolve(ctx, None, None, fmt, False))
