"""Transfer on digits: every attack at eps in {8, 16, 32}/255, from one architecture to another.

    python -m benchmarks.transfer_digits            # 400 test images; surrogate 15 epochs, victim 6
    python -m benchmarks.transfer_digits --quick    # 200 images; 10 / 3 epochs, smaller inner loops

A SmallCNN of width 16 (surrogate; cheap gradients on CPU) and a CIFAR ResNet-20 (victim) are trained on the balanced ``digits`` set
(scikit-learn's bundled 8x8 digits, upscaled to 32x32; no download). Adversarial images are rounded
to 8-bit (as the saved PNGs are) before scoring. Reported: victim ASR over all images and over the
victim's clean-correct images, with Wilson 95 % intervals, plus the white-box ASR on the surrogate.
Inner loops are shortened for CPU (our choice, printed): DTA K=5, VDTA K=3 N=5, VMI/VNI N=5.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

ATTACK_OPTIONS = {"dta": {"inner_steps": 5}, "vdta": {"inner_steps": 3, "n_samples": 5},
                  "vmifgsm": {"n_samples": 5}, "vnifgsm": {"n_samples": 5}}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score 95 % interval for k successes out of n, in percent."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return 100 * (c - h), 100 * (c + h)


def train(arch: str, bundle, epochs: int, device: torch.device, seed: int, **kw):
    from toolkit.engine.loop import TrainConfig, fit
    from toolkit.engine.seed import seed_everything
    from toolkit.models import get_model

    seed_everything(seed)
    model = get_model(arch, num_classes=10, **kw).to(device)
    cfg = TrainConfig(epochs=epochs, batch_size=64, lr=0.05, weight_decay=5e-4, seed=seed)
    fit(model, bundle.train, bundle.val, cfg=cfg, device=device)
    return model.eval()


@torch.no_grad()
def predict(model, x: torch.Tensor, bs: int = 200) -> torch.Tensor:
    return torch.cat([model(x[i:i + bs]).argmax(1) for i in range(0, len(x), bs)])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=6, help="victim (ResNet-20) epochs")
    p.add_argument("--sur-epochs", type=int, default=15, help="surrogate (SmallCNN-16) epochs; cheap")
    p.add_argument("--limit", type=int, default=400)
    p.add_argument("--eps", default="8,16,32", help="budgets in 1/255 units")
    p.add_argument("--attacks", default="", help="comma-separated subset (default: all)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--device", default="auto")
    a = p.parse_args(argv)
    if a.quick:
        a.epochs, a.sur_epochs, a.limit = 3, 10, 200
        ATTACK_OPTIONS.update({"dta": {"inner_steps": 3}, "vdta": {"inner_steps": 2, "n_samples": 3}})

    from toolkit.attacks import get_attack, list_attacks
    from toolkit.attacks.pngs import to_uint8
    from toolkit.data import get_dataset
    from toolkit.engine.device import resolve_device

    dev = resolve_device(a.device)
    bundle = get_dataset("digits", augment=True)
    t0 = time.perf_counter()
    sur, vic = train("smallcnn", bundle, a.sur_epochs, dev, 0, width=16), train("resnet20", bundle, a.epochs, dev, 1)
    print(f"trained smallcnn-16 (surrogate, {a.sur_epochs} epochs) and resnet20 (victim, {a.epochs} epochs), "
          f"{time.perf_counter() - t0:.0f} s")
    xs, ys = zip(*[bundle.test[i] for i in range(min(a.limit, len(bundle.test)))])
    x, y = torch.stack(xs).to(dev), torch.tensor(ys, device=dev)
    ok_v, ok_s = predict(vic, x) == y, predict(sur, x) == y
    print(f"clean accuracy: surrogate {100 * ok_s.float().mean():.1f} %, victim {100 * ok_v.float().mean():.1f} %, "
          f"n = {len(y)}")
    names = a.attacks.split(",") if a.attacks else list_attacks()
    print(f"{'attack':8} {'eps':>6} {'victim ASR % [95% CI]':>24} {'on clean-correct %':>19} "
          f"{'white-box %':>11} {'grads':>6} {'s':>6}")
    for e in [int(v) for v in a.eps.split(",")]:
        for name in names:
            atk = get_attack(name, sur, eps=e / 255, steps=None if name == "fgsm" else 10, seed=0,
                             **ATTACK_OPTIONS.get(name, {}))
            t = time.perf_counter()
            adv = torch.cat([atk(x[i:i + 100], y[i:i + 100]) for i in range(0, len(x), 100)])
            dt = time.perf_counter() - t
            adv = to_uint8(adv).float().div(255).to(dev)  # what the saved PNGs hold
            fooled_v, fooled_s = predict(vic, adv) != y, predict(sur, adv) != y
            k, n = int(fooled_v.sum()), len(y)
            lo, hi = wilson(k, n)
            kc, nc = int(fooled_v[ok_v].sum()), int(ok_v.sum())
            print(f"{name:8} {e:>4}/255 {100 * k / n:8.1f} [{lo:5.1f}, {hi:5.1f}]      "
                  f"{100 * kc / max(nc, 1):12.1f}      {100 * fooled_s.float().mean():8.1f} {atk.grad_calls:6d} {dt:6.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
