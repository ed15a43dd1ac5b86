"""Engine loop overhead: images/s of ``toolkit.engine.loop.fit`` vs a minimal hand-written loop.

Same model (CIFAR ResNet-20), same data (random 32x32 tensors in memory), same batch, SGD, CPU,
alternating rounds in one process. Goal (foundation issue): overhead <= 5 %.

    python -m benchmarks.train_loop [--images 2048 --batch 128 --rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from toolkit.engine.loop import TrainConfig, fit
from toolkit.engine.report import set_quiet
from toolkit.models import get_model


def _hand_loop(model, ds, batch: int) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loader = DataLoader(ds, batch_size=batch, shuffle=True)
    t0 = time.perf_counter()
    model.train()
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return len(ds) / (time.perf_counter() - t0)


def _engine_loop(model, ds, batch: int) -> float:
    cfg = TrainConfig(epochs=1, batch_size=batch, lr=0.01, scheduler="none", amp="off")
    t0 = time.perf_counter()
    fit(model, ds, None, cfg=cfg, device=torch.device("cpu"))
    return len(ds) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    set_quiet(True)
    torch.manual_seed(0)
    ds = TensorDataset(torch.rand(args.images, 3, 32, 32), torch.randint(0, 10, (args.images,)))
    model = get_model("resnet20", 10)
    _hand_loop(model, ds, args.batch)  # warm-up
    hand, engine = [], []
    for _ in range(args.rounds):
        hand.append(_hand_loop(model, ds, args.batch))
        engine.append(_engine_loop(model, ds, args.batch))
    h, e = statistics.median(hand), statistics.median(engine)
    print(f"hand-written loop {h:8.1f} images/s")
    print(f"engine fit()      {e:8.1f} images/s")
    print(json.dumps({"hand_images_per_s": round(h, 1), "engine_images_per_s": round(e, 1),
                      "overhead_pct": round(100 * (h / e - 1), 2), "goal": "<= 5 %"}))


if __name__ == "__main__":
    main()
