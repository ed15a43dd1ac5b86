"""``lt attack``: transfer attacks (one command per attack), ``eval`` of saved images, ``list``.

    lt attack dta --surrogate resnet50 --victims vgg16,resnet152,inception_v3,mobilenet_v2 \
        --dataset DIR --eps 16/255 --out adv/
    lt attack mifgsm --ftm --kappa 1.0 --kappa-wrong 0.9 --tau 1.5 --surrogate runs/a --victims runs/b \
        --dataset digits-lt
    lt attack dta --diversity-prob 0.5 --ti --surrogate resnet50,vgg16 --victims inception_v3 --dataset DIR
    lt attack eval --adv-dir adv/ --victims vgg16 --defense jpeg

Each attack command's flags are its options class (``toolkit.attacks.options.COMMAND_OPTIONS``: the
transfer run's options and the attack's own), so ``lt attack NAME --help`` lists only the options
attack NAME takes. Rates are fractions in [0, 1].
"""

from __future__ import annotations

import typer

from toolkit.attacks.options import ATTACK_NAMES, COMMAND_OPTIONS, AttackEvalOptions, AttackListOptions

from .options import command

app = typer.Typer(help="Transfer attacks (FGSM family, DTA/VDTA, NP, FTM) and transfer evaluation.",
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

for _name in ATTACK_NAMES:
    command(app, _name, COMMAND_OPTIONS[_name], "toolkit.attacks.transfer:run_attack", run=("attack", _name), doc=f"""
{SUMMARIES[_name]} Save rounded PNGs, print transfer ASR per victim (fractions in [0, 1]).

The dataset, --data-root, --image-size and --num-classes default to the --surrogate run's (its config.json).

Example: lt attack {_name} --surrogate resnet50 --victims vgg16,inception_v3 --dataset DIR --eps 16/255 --out adv/
""")

command(app, "eval", AttackEvalOptions, "toolkit.attacks.transfer:eval_adv_dir", doc="""
Re-evaluate saved adversarial PNGs on victims, optionally behind JPEG/bit-depth/R&P/RS/FD (rates in [0, 1]).

Example: lt attack eval --adv-dir adv/ --victims mobilenet_v2 --defense rs --rs-sigma 0.25
""")

command(app, "list", AttackListOptions, "toolkit.attacks:attack_table", doc="""
List the attacks and the options each one takes.

Example: lt attack list --format json
""")
