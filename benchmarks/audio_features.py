"""Feature-extraction throughput: 1 worker vs 2 workers vs a cached re-run (log-mel, synthetic snores).

    python -m benchmarks.audio_features            # 504 clips (12 patients x 6 classes x 7), 2 s, 16 kHz
    python -m benchmarks.audio_features --quick    # 120 clips

Goal (issue 8): the cached re-run is >= 10x faster than the first (cold, 1 worker) run.
Each side starts from an empty cache directory; files are generated once by ``synthetic-snore``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def _timed(files, params, workers, cache):
    from toolkit.audio.features import compute_many

    t0 = time.perf_counter()
    _, reasons, hits = compute_many(files, params, workers=workers, cache_dir=cache)
    dt = time.perf_counter() - t0
    assert not any(reasons), "synthetic clips must all be valid"
    return dt, hits


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="120 clips instead of 504")
    ap.add_argument("--features", default="logmel", choices=("logmel", "mfcc", "stats"), help="as lt audio features")
    args = ap.parse_args(argv)

    from toolkit.audio.features import FeatureParams
    from toolkit.audio.synth import generate
    from toolkit.engine.report import set_quiet

    set_quiet(True)
    subjects, clips = (4, 5) if args.quick else (12, 7)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = [str(p) for p in generate(tmp / "data", subjects=subjects, clips=clips, seed=0)]
        params = FeatureParams(kind=args.features)
        _timed(files[:2], params, 1, None)  # import librosa and warm numba/FFT plans outside the timings
        cold1, _ = _timed(files, params, 1, tmp / "c1")
        cold2, _ = _timed(files, params, 2, tmp / "c2")
        warm, hits = _timed(files, params, 1, tmp / "c1")
    n = len(files)
    print(f"{n} clips, {args.features}, 2 s at 16 kHz")
    print(f"{'run':<22}{'seconds':>10}{'files/s':>10}{'speed-up':>10}")
    for name, dt in (("1 worker (cold)", cold1), ("2 workers (cold)", cold2), (f"cached ({hits} hits)", warm)):
        print(f"{name:<22}{dt:>10.2f}{n / dt:>10.1f}{cold1 / dt:>9.1f}x")
    ratio = cold1 / warm
    print(f"cached vs first run: {ratio:.1f}x (goal >= 10x: {'met' if ratio >= 10 else 'missed'})")


if __name__ == "__main__":
    main()
