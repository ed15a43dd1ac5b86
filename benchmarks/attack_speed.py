"""Attack speed: our ``mifgsm`` vs ``torchattacks.MIFGSM`` on the same model, and DTA vs K × MI-FGSM.

    python -m benchmarks.attack_speed            # ResNet-18, 64x64, batch 32, T = 10, K = 10
    python -m benchmarks.attack_speed --quick    # 3 rounds, K = 5
    python -m benchmarks.attack_speed --model resnet50 --size 224 --batch 64 --device cuda [--fast]

Both sides run alternately on the same (random-init, eval-mode) model and inputs; the median of the
rounds is reported as images/s with the ratio ours/torchattacks (goal >= 1.0), and DTA's time over K
times our MI-FGSM time (goal <= 1.05: DTA costs exactly T·K gradients, nothing more). ``--fast``
(bf16 autocast + channels_last) only acts on CUDA.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def _timed(fn, device: torch.device, cpu_time: bool = False) -> float:
    """Wall seconds (GPU synchronised), or this process's CPU seconds (robust on a shared CPU)."""
    clock = time.process_time if cpu_time else time.perf_counter
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = clock()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return clock() - t


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet18")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--inner-steps", type=int, default=10)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--fast", action="store_true", help="bf16 autocast + channels_last for ours (CUDA only)")
    p.add_argument("--quick", action="store_true", help="3 rounds and K = 5 (CPU-friendly)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--cpu-time", action="store_true",
                   help="time with process CPU seconds instead of wall clock (for a loaded, shared CPU)")
    a = p.parse_args(argv)
    if a.quick:
        a.rounds, a.inner_steps = 3, 5

    import torchattacks

    from toolkit.attacks import get_attack
    from toolkit.engine.device import resolve_device
    from toolkit.models import get_model

    dev = resolve_device(a.device)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = get_model(a.model, num_classes=1000).to(dev).eval()
    if a.fast and dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    x = torch.rand(a.batch, 3, a.size, a.size, device=dev)
    y = torch.randint(0, 1000, (a.batch,), device=dev)
    eps, alpha = 16 / 255, 1.6 / 255
    ours = get_attack("mifgsm", model, eps=eps, alpha=alpha, steps=a.steps, fast=a.fast)
    theirs = torchattacks.MIFGSM(model, eps=eps, alpha=alpha, steps=a.steps, decay=1.0)
    dta = get_attack("dta", model, eps=eps, alpha=alpha, steps=a.steps, inner_steps=a.inner_steps, fast=a.fast)
    ours(x, y), theirs(x, y)  # warm-up
    t_ours, t_theirs, t_dta = [], [], []
    for r in range(a.rounds):
        pair = [(t_ours, ours), (t_theirs, theirs)]
        for times, atk in (pair if r % 2 == 0 else pair[::-1]):
            times.append(_timed(lambda atk=atk: atk(x, y), dev, a.cpu_time))
        t_dta.append(_timed(lambda: dta(x, y), dev, a.cpu_time))
    mo, mt, md = (statistics.median(t) for t in (t_ours, t_theirs, t_dta))
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; torch {torch.__version__}; model {a.model} {a.size}x{a.size}, batch {a.batch}, "
          f"T={a.steps}, rounds={a.rounds}, fast={a.fast}, clock={'process CPU' if a.cpu_time else 'wall'}")
    print(f"ours mifgsm           : {a.batch / mo:8.2f} images/s  ({mo:.3f} s/batch)")
    print(f"torchattacks MIFGSM   : {a.batch / mt:8.2f} images/s  ({mt:.3f} s/batch)")
    print(f"ratio ours/torchattacks: {mt / mo:.3f}  (goal >= 1.0)")
    print(f"dta K={a.inner_steps}              : {a.batch / md:8.2f} images/s  ({md:.3f} s/batch, "
          f"{dta.grad_calls} gradients)")
    print(f"dta time / (K x mifgsm time): {md / (a.inner_steps * mo):.3f}  (goal <= 1.05)")


if __name__ == "__main__":
    main()
