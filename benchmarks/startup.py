"""Start-up time: ``lt --help`` and every group's ``--help`` vs ``python -c "import torch"``, same run.

    python -m benchmarks.startup [--repeats 7]

Goal (issues 2 and 13): each ratio <= 0.5 — help must not pay torch's import cost. The sides
alternate (one of each per round) so that drift in machine load hits them alike; medians are printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

GROUPS = ("train", "prune", "attack", "defend", "distill", "audio")
LEAVES = (("train", "lcreg"), ("attack", "dta"), ("audio", "ssbpr", "train"))


def _seconds(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    sides = {"lt --help": [sys.executable, "-m", "cli", "--help"]}
    sides.update({f"lt {' '.join(g)} --help": [sys.executable, "-m", "cli", *g, "--help"]
                  for g in [(g,) for g in GROUPS] + list(LEAVES)})
    torch_import = [sys.executable, "-c", "import torch"]
    for cmd in [torch_import, *sides.values()]:  # warm the file cache
        _seconds(cmd)
    times: dict[str, list[float]] = {name: [] for name in [*sides, "import torch"]}
    for _ in range(args.repeats):
        times["import torch"].append(_seconds(torch_import))
        for name, cmd in sides.items():
            times[name].append(_seconds(cmd))
    medians = {name: statistics.median(t) for name, t in times.items()}
    base = medians["import torch"]
    print(f"{'command':<32}{'median ms':>10}{'ratio':>8}")
    for name, s in medians.items():
        print(f"{name:<32}{s * 1000:>10.1f}{s / base:>8.3f}")
    worst = max(s / base for name, s in medians.items() if name != "import torch")
    print(json.dumps({"import_torch_s": round(base, 4), "worst_ratio": round(worst, 3), "goal": "<= 0.5",
                      "ratios": {n: round(s / base, 3) for n, s in medians.items() if n != "import torch"}}))


if __name__ == "__main__":
    main()
