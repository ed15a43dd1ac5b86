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
}

DATASET_RECIPE = {"cifar10-lt": "cifar-lt", "cifar100-lt": "cifar-lt", "imagenet-lt": "imagenet-lt",
                  "places-lt": "places-lt", "inat2018": "inat2018", "digits-lt": "digits-lt", "digits": "digits-lt"}


def list_recipes() -> list[str]:
    return sorted(RECIPES)


def get_recipe(name: str | None, dataset: str) -> Recipe:
    """The recipe ``name``, or the dataset's default (``digits-lt`` for sets without one)."""
    if name is None:
        name = DATASET_RECIPE.get(dataset, "digits-lt")
    if name not in RECIPES:
        raise LtError(unknown_name_message("recipe", name, RECIPES))
    return RECIPES[name]
