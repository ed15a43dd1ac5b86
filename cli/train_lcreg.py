"""``lt train lcreg``: LCReg long-tailed recognition (latent categories + class-agnostic ISDA).

Registered on the ``lt train`` group by ``cli/train.py`` through :func:`register`.
"""

import typer

HELP = """Train with LCReg: latent bank (K, tau), class-agnostic semantic augmentation (ISDA closed form,
lambda ramp) with latent-category covariances, Balanced Softmax re-balancing.

Every recipe field (--recipe, default: the dataset's) is overridable by its flag. Places-LT's recipe
needs --weights (ImageNet weights to fine-tune from).

\b
Memory of the covariance statistics (float64, G groups of d-dim features; G = K for --cov-groups
latent, the class count for class): full G*d^2*8 bytes, diagonal G*d*8 bytes (+ G*d*8 for means).
  ResNet-32 (d=64), K=64:        full 2 MiB
  ResNeXt-50/ResNet-50/152 (d=2048), K=64: full would be 2 GiB, so auto picks diagonal: 1 MiB
  per-class ImageNet-LT (1000 x 2048): diagonal 15.6 MiB
--covariance auto is full when G*d^2*8 bytes <= --cov-budget-mb (512 MiB), else diagonal.

\b
Example: lt train lcreg --dataset digits-lt --model mlp --epochs 20 --latent-k 16 --out runs/lcreg
         lt train lcreg --dataset imagenet-lt --data-root data/ImageNet_LT
"""


def register(app: typer.Typer) -> None:
    """Add the ``lcreg`` command to the ``lt train`` group (flags from ``LCRegOptions``)."""
    from toolkit.longtail.options import LCRegOptions

    from .options import command

    command(app, "lcreg", LCRegOptions, "toolkit.longtail.lcreg:train_lcreg", run=("train", "lcreg"), doc=HELP)
