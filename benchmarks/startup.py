"""Start-up time: median wall time of ``lt --help`` vs ``python -c "import torch"``, same run.

    python -m benchmarks.startup [--repeats 7]

Goal (foundation issue): ratio <= 0.5 — the CLI must not pay torch's import cost for help.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def _median_seconds(cmd: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    lt = [sys.executable, "-m", "cli", "--help"]
    torch_import = [sys.executable, "-c", "import torch"]
    _median_seconds(torch_import, 1)  # warm the file cache for both sides
    _median_seconds(lt, 1)
    a, b = [], []
    for _ in range(args.repeats):  # alternate so drift hits both sides alike
        a.append(_median_seconds(lt, 1))
        b.append(_median_seconds(torch_import, 1))
    lt_s, torch_s = statistics.median(a), statistics.median(b)
    print(f"lt --help      median {lt_s * 1000:7.1f} ms")
    print(f"import torch   median {torch_s * 1000:7.1f} ms")
    print(json.dumps({"lt_help_s": round(lt_s, 4), "import_torch_s": round(torch_s, 4),
                      "ratio": round(lt_s / torch_s, 3), "goal": "<= 0.5"}))


if __name__ == "__main__":
    main()
