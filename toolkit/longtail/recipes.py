"""Named training recipes for long-tailed recognition (``--recipe NAME``; any field overridable by flag).

Community defaults (longtail.md; the LCReg paper's own recipes are not public):

- ``cifar-lt``: ResNet-32, 200 epochs, batch 128, SGD 0.1 momentum 0.9, wd 2e-4, 5-epoch linear
  warm-up, lr x0.01 at epoch 160 and x0.0001 at 180, crop + flip.
- ``imagenet-lt``: ResNeXt-50 32x4d, 90 epochs, batch 512, lr 0.2 cosine, wd 5e-4.
- ``places-lt``: ResNet-152 fine-tuned from ImageNet weights (``--weights`` required). Epochs, batch
  and lr (30, 128, 0.01 cosine, wd 5e-4) are our choice: the spec only says "fine-tuned".
- ``inat2018``: ResNet-50, 90 epochs, batch 512, lr 0.2 cosine, wd 1e-4 (wd our choice).
- ``digits-lt``: our CPU-sized recipe for the embedded set: SmallCNN, 30 epochs, batch 64, lr 0.05
  cosine with 1 warm-up epoch, wd 5e-4; shot groups many > 60, few < 20 (digits has <= 114 per class).
- ``fashion-mnist-lt``: our CPU-sized recipe for Fashion-MNIST-LT (and ``fashion-mnist``): SmallCNN at
  the native 28x28 (3 conv blocks, 94k parameters), 30 epochs, batch 128, SGD lr 0.05 cosine with 1
  warm-up epoch, wd 5e-4, crop (pad 2) + flip. Why SmallCNN, not ResNet-20 at 32 px: a 28x28 grey set
  needs no resize, and SmallCNN reaches ~92 % on balanced Fashion-MNIST at a tenth of ResNet-20's CPU
  time, which keeps 5-seed tables of several losses in CPU minutes; ResNet-20 stays one flag away
  (``--model resnet20 --image-size 32``). Shot groups many > 1000, few < 200: at IF 100 the counts
  6000 ... 60 give 4 many (6000-1292), 3 medium (774-278), 3 few (166-60) classes; the usual
  100 / 20 would leave the few group empty.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..engine.errors import LtError
from ..engine.registry import unknown_name_message


@dataclass(frozen=True)
class Recipe:
    name: str
    model: str
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    scheduler: str = "cosine"
    milestones: tuple[int, ...] = ()
    lr_factors: tuple[float, ...] = ()
    warmup_epochs: int = 0
    momentum: float = 0.9
    weights: str | None = None
    requires_weights: bool = False
    shot_many: int = 100
    shot_few: int = 20
    extra: dict[str, Any] = field(default_factory=dict)

    def override(self, **values: Any) -> "Recipe":
        """A copy with every non-None value replaced (unknown fields are an error)."""
        known = set(asdict(self))
        bad = sorted(k for k in values if k not in known)
        if bad:
            raise LtError(f"recipe has no field(s) {', '.join(bad)}")
        return replace(self, **{k: v for k, v in values.items() if v is not None})


RECIPES: dict[str, Recipe] = {
    "cifar-lt": Recipe("cifar-lt", "resnet32", 200, 128, 0.1, 2e-4, scheduler="multistep", milestones=(160, 180),
                       lr_factors=(0.01, 0.0001), warmup_epochs=5),
    "imagenet-lt": Recipe("imagenet-lt", "resnext50_32x4d", 90, 512, 0.2, 5e-4),
    "places-lt": Recipe("places-lt", "resnet152", 30, 128, 0.01, 5e-4, requires_weights=True),
    "inat2018": Recipe("inat2018", "resnet50", 90, 512, 0.2, 1e-4),
    "digits-lt": Recipe("digits-lt", "smallcnn", 30, 64, 0.05, 5e-4, warmup_epochs=1, shot_many=60, shot_few=20),
    "fashion-mnist-lt": Recipe("fashion-mnist-lt", "smallcnn", 30, 128, 0.05, 5e-4, warmup_epochs=1, shot_many=1000,
                               shot_few=200),
}

DATASET_RECIPE = {"cifar10-lt": "cifar-lt", "cifar100-lt": "cifar-lt", "imagenet-lt": "imagenet-lt",
                  "places-lt": "places-lt", "inat2018": "inat2018", "digits-lt": "digits-lt", "digits": "digits-lt",
                  "fashion-mnist-lt": "fashion-mnist-lt", "fashion-mnist": "fashion-mnist-lt"}


def list_recipes() -> list[str]:
    return sorted(RECIPES)


def get_recipe(name: str | None, dataset: str) -> Recipe:
    """The recipe ``name``, or the dataset's default (``digits-lt`` for sets without one)."""
    if name is None:
        name = DATASET_RECIPE.get(dataset, "digits-lt")
    if name not in RECIPES:
        raise LtError(unknown_name_message("recipe", name, RECIPES))
    return RECIPES[name]
