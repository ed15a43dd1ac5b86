"""``synthetic-muse``: a seeded generator that writes the official MuSe 2022 layout (all three tasks).

The data are small and carry a learnable signal, so the real loaders, models and metrics can be
exercised end to end without the licensed corpora:

- humor: coaches x videos x 2 s segments, ~25 % humorous; ``egemaps`` (500 ms), ``vggface2``
  (1000 ms) and ``bert-4-sentence-level`` (2000 ms) carry the label plus a per-coach offset;
  5 % of the ``egemaps`` rows are dropped (missing rows are imputed and counted by the loader).
  Label files ``timestamp_start, timestamp_end, segment_id, humor``: the label is the last column
  (the loader reads it by position, as the baseline does; the name is ours).
- reaction: videos with 7 intensities in [0, 1] whose base levels differ per emotion;
  ``eGeMAPS`` (500 ms), ``VGGFace2`` and ``FAUs`` (1000 ms) are noisy linear mixtures of them.
  Feature files ``File_ID ([00012]), timestamp, f1..fn``, the released reaction shape.
- stress: subjects with smooth arousal/valence curves in [-1, 1] labelled every 500 ms; every
  feature has one row per label row (the released files share the label time line: the baseline
  pairs them by position); ``egemaps`` follows arousal, ``vggface2`` valence, ``bert-4`` both
  weakly; a few label values are NaN.

Written into a temp folder and renamed, with a ``SYNTHETIC_MUSE.json`` marker naming the seed
and sizes; :func:`ensure_synthetic` reuses a matching cache. Our construction (no paper).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..engine.cache import cache_dir, marker_matches
from ..engine.errors import DataError
from .muse_layout import REACTION_LABELS, STRESS_DIMS

MARKER = "SYNTHETIC_MUSE.json"
VERSION = 2  # 2: humor label column, reaction File_ID column, stress features on the label time line


@dataclass
class SynthSpec:
    """Sizes (our choices: small enough for CPU tests, large enough for a stable metric)."""

    seed: int = 0
    coaches: int = 6
    videos_per_coach: int = 2
    segments_per_video: int = 20
    reaction_videos: int = 60
    stress_subjects: int = 8
    stress_steps: int = 300


def default_cache(seed: int = 0) -> Path:
    return cache_dir("synthetic-muse") / f"seed{seed}"


def _split(n: int) -> list[str]:
    """Partition of n ids: ~50 % train, ~25 % devel, rest test (at least one each)."""
    n_tr, n_dev = max(1, n // 2), max(1, (n + 2) // 4)
    return ["train"] * n_tr + ["devel"] * n_dev + ["test"] * (n - n_tr - n_dev)


def _feature_csv(path: Path, ts: np.ndarray, seg: np.ndarray | None, vals: np.ndarray,
                 file_id: str | None = None) -> None:
    """``timestamp, segment_id, f0..`` or, with ``file_id`` (reaction), ``File_ID, timestamp, f0..``."""
    import pandas as pd

    df = pd.DataFrame(vals.astype(np.float32), columns=[f"f{i}" for i in range(vals.shape[1])])
    if file_id is None:
        df.insert(0, "segment_id", seg)
        df.insert(0, "timestamp", ts.astype(np.int64))
    else:
        df.insert(0, "timestamp", ts.astype(np.int64))
        df.insert(0, "File_ID", file_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, float_format="%.5g")


def _write_partition(path: Path, ids: list[str], parts: list[str], id_col: str = "Id",
                     part_col: str = "Partition") -> None:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({id_col: ids, part_col: parts}).to_csv(path, index=False)


def _humor(root: Path, spec: SynthSpec, rng: np.random.Generator) -> None:
    import pandas as pd

    base = root / "c1_muse_humor"
    feats = {"egemaps": (500, 6, 1.0), "vggface2": (1000, 4, 0.8), "bert-4-sentence-level": (2000, 3, 0.5)}
    coaches = [f"coach_{c:02d}" for c in range(spec.coaches)]
    for coach in coaches:
        offset = rng.normal(0, 0.7)
        for v in range(spec.videos_per_coach):
            n = spec.segments_per_video
            labels = (rng.random(n) < 0.25).astype(int)
            seg_ids = v * 1000 + np.arange(1, n + 1)
            starts = np.arange(n) * 2000
            pd.DataFrame({"timestamp_start": starts, "timestamp_end": starts + 2000, "segment_id": seg_ids,
                          "humor": labels}).to_csv(_mk(base / "label_segments" / coach / f"{v}.csv"), index=False)
            for name, (period, dim, gain) in feats.items():
                ts = np.arange(0, n * 2000, period)
                k = ts // 2000
                vals = rng.normal(0, 1, (len(ts), dim)) + offset
                vals[:, : max(1, dim // 2)] += gain * 0.9 * labels[k, None]
                keep = rng.random(len(ts)) > (0.05 if name == "egemaps" else 0.0)
                _feature_csv(base / "feature_segments" / name / coach / f"{v}.csv", ts[keep], seg_ids[k][keep],
                             vals[keep])
    _write_partition(base / "metadata" / "partition.csv", coaches, _split(len(coaches)))


def _reaction(root: Path, spec: SynthSpec, rng: np.random.Generator) -> None:
    import pandas as pd

    base = root / "c2_muse_reaction"
    feats = {"eGeMAPS": (500, 6), "VGGFace2": (1000, 5), "FAUs": (1000, 4)}
    mix = {f: rng.normal(0, 1, (7, d)) for f, (_, d) in feats.items()}
    levels = np.linspace(0.15, 0.6, 7)
    ids = [f"{i:05d}" for i in range(spec.reaction_videos)]
    y = np.clip(levels + rng.normal(0, 0.15, (len(ids), 7)), 0, 1)
    for i, ident in enumerate(ids):
        dur = int(rng.integers(6, 13)) * 1000
        for f, (period, dim) in feats.items():
            ts = np.arange(0, dur, period)
            vals = (y[i] - levels) @ mix[f] * 3 + rng.normal(0, 1, (len(ts), dim))
            _feature_csv(base / "feats" / f / f"{ident}.csv", ts, None, vals, file_id=f"[{ident}]")
    df = pd.DataFrame(y.round(4), columns=list(REACTION_LABELS))
    df.insert(0, "File_ID", [f"[{i}]" for i in ids])
    df.to_csv(_mk(base / "labels.csv"), index=False)
    _write_partition(base / "partition.csv", [f"[{i}]" for i in ids], _split(len(ids)), "File_ID", "Split")


def _smooth_curve(rng: np.random.Generator, n: int) -> np.ndarray:
    walk = np.cumsum(rng.normal(0, 1, n + 40))
    kernel = np.ones(40) / 40
    c = np.convolve(walk, kernel, mode="valid")[:n]
    c = c - c.mean()
    return np.tanh(c / (np.abs(c).max() + 1e-9) * 1.5)


def _stress(root: Path, spec: SynthSpec, rng: np.random.Generator) -> None:
    import pandas as pd

    base = root / "c3_muse_stress_2022"
    feats = {"egemaps": (500, 6), "vggface2": (500, 4), "bert-4": (500, 3)}
    subjects = [str(s + 1) for s in range(spec.stress_subjects)]
    for s in subjects:
        n = spec.stress_steps
        ts = np.arange(n) * 500
        ar, va = _smooth_curve(rng, n), _smooth_curve(rng, n)
        for d, curve in zip(STRESS_DIMS, (ar, va), strict=True):
            val = curve.copy()
            val[rng.random(n) < 0.02] = np.nan
            pd.DataFrame({"timestamp": ts, "value": val.round(4), "segment_id": ts // 60000}).to_csv(
                _mk(base / "label_segments" / d / f"{s}.csv"), index=False)
        for f, (period, dim) in feats.items():
            fts = np.arange(0, n * 500, period)
            k = fts // 500
            vals = rng.normal(0, 0.6, (len(fts), dim))
            if f == "egemaps":
                vals[:, :3] += 1.5 * ar[k, None]
            elif f == "vggface2":
                vals[:, :2] += 1.5 * va[k, None]
            else:
                vals[:, 0] += 0.5 * (ar[k] + va[k])
            _feature_csv(base / "feature_segments" / f / f"{s}.csv", fts, fts // 60000, vals)
    _write_partition(base / "metadata" / "partition.csv", subjects, _split(len(subjects)))


def _mk(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_synthetic(root: str | Path, spec: SynthSpec | None = None) -> Path:
    """Write all three tasks under ``root`` (temp folder, then rename); returns ``root``."""
    spec = spec or SynthSpec()
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        rng = np.random.default_rng(spec.seed)
        _humor(tmp, spec, rng)
        _reaction(tmp, spec, rng)
        _stress(tmp, spec, rng)
        (tmp / MARKER).write_text(json.dumps({"version": VERSION, **asdict(spec)}, indent=2) + "\n")
        if root.exists():
            shutil.rmtree(root)
        os.replace(tmp, root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def ensure_synthetic(root: str | Path | None = None, spec: SynthSpec | None = None) -> Path:
    """The synthetic layout at ``root`` (default :func:`default_cache`), written if absent or stale.

    A non-empty ``root`` without our marker is never overwritten (it could be the user's data).
    """
    spec = spec or SynthSpec()
    root = Path(root) if root else default_cache(spec.seed)
    marker = root / MARKER
    want = {"version": VERSION, **asdict(spec)}
    if marker_matches(marker, want):
        return root
    if not marker.is_file() and root.is_dir() and any(root.iterdir()):
        raise DataError(f"'{root}' is not empty and holds no {MARKER}; synthetic-muse will not write into it "
                        f"(pick an empty --data-root or drop it to use the cache)")
    return write_synthetic(root, spec)
