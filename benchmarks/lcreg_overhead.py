"""LCReg training-step overhead vs plain cross-entropy on the same model and batch.

CIFAR ResNet-32 (64-d feature), 32x32 inputs, batch 128, 100 classes (CIFAR-100-LT shape), SGD.
One step = forward, loss, backward, optimizer step. CE: the ``ce`` objective on the plain model.
LCReg: the default objective (K = 64 bank, latent covariances, λ past its ramp start, Balanced
Softmax) on the wrapped model, with ``--covariance`` full (the auto choice at d = 64) and diag.
Steps alternate CE / LCReg in one process; medians are reported (CPU: process CPU time with
``--threads`` torch threads, default 1; CUDA: synchronised wall time). Goal (issue 3): <= 1.25x.

    python -m benchmarks.lcreg_overhead [--steps 20 --batch 128 --classes 100 --device auto --threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


def _step(model, objective, opt, batch, epoch: int) -> None:
    loss = objective.loss(model, batch, epoch)[0]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def _time(fn, device: torch.device) -> float:
    """Seconds of one call: wall time (synchronised) on CUDA; process CPU time on the CPU, which a
    shared, loaded machine disturbs far less than wall time."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize(device)
        return time.perf_counter() - t0
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def main() -> None:
    from toolkit.engine.device import resolve_device
    from toolkit.longtail.lcreg import LCRegObjective, build_lcreg_model
    from toolkit.longtail.losses import get_loss
    from toolkit.models import get_model

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=20, help="timed steps per side and variant")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--latent-k", type=int, default=64)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--quick", action="store_true", help="6 steps (a smoke run, noisier)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    steps = 6 if args.quick else args.steps
    device = resolve_device(args.device)
    torch.manual_seed(0)
    counts = [max(1, int(500 * 100 ** (-i / (args.classes - 1)))) for i in range(args.classes)]
    batch = (torch.rand(args.batch, 3, 32, 32, device=device),
             torch.randint(0, args.classes, (args.batch,), device=device))
    epochs, epoch = 200, 100   # λ = λ₀/2: the augmentation term is active

    sides = {"ce": (get_model("resnet32", args.classes).to(device), get_loss("ce", counts, epochs).to(device))}
    for cov in ("full", "diag"):
        m = build_lcreg_model("resnet32", args.classes, latent_k=args.latent_k).to(device)
        sides[f"lcreg-{cov}"] = (m, LCRegObjective(counts, epochs, m.feature_dim, latent_k=args.latent_k,
                                                   covariance=cov).to(device))
    opts = {k: torch.optim.SGD(list(m.parameters()), lr=0.01, momentum=0.9) for k, (m, _) in sides.items()}
    for k, (m, obj) in sides.items():   # warm-up
        m.train()
        for _ in range(2):
            _step(m, obj, opts[k], batch, epoch)
    times: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(steps):
        for k, (m, obj) in sides.items():
            times[k].append(_time(lambda m=m, obj=obj, k=k: _step(m, obj, opts[k], batch, epoch), device))
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        print(f"{k:<11} {1000 * v:8.1f} ms/step  {args.batch / v:8.1f} images/s")
    print(json.dumps({"device": str(device), "timing": "wall" if device.type == "cuda" else "process CPU",
                      "threads": torch.get_num_threads(), "batch": args.batch, "classes": args.classes,
                      "latent_k": args.latent_k, "steps": steps,
                      **{f"{k}_ms": round(1000 * v, 2) for k, v in med.items()},
                      "ratio_full": round(med["lcreg-full"] / med["ce"], 3),
                      "ratio_diag": round(med["lcreg-diag"] / med["ce"], 3), "goal": "<= 1.25"}))


if __name__ == "__main__":
    main()
