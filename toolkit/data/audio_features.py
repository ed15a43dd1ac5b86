"""librosa features for snore clips, cached on disk and computed in parallel.

Kinds (defaults from the SSBPR method page; the paper itself benchmarks AST, so these are ours):

* ``logmel``: ``power_to_db(melspectrogram(y, sr, n_fft=1024, hop_length=512, n_mels=64, fmin=50,
  fmax=min(8000, sr/2)), ref=np.max, top_db=80)`` -> (n_mels, frames), dB in [-80, 0].
* ``mfcc``: ``mfcc(y, sr, n_mfcc=20, <same mel params>)`` stacked with its first and second deltas
  -> (3*n_mfcc, frames).
* ``stats``: mean and std over time of the ``mfcc`` rows and of spectral centroid, bandwidth,
  roll-off, zero-crossing rate and RMS -> (6*n_mfcc + 10,).

The cache key is the SHA-256 of the file's bytes plus every parameter (clip and feature), so a
changed file or a changed parameter misses the cache; entries are ``<key>.npy`` under
``cache_dir`` (default ``$LT_CACHE_DIR/audio-features``, ``~/.cache/lt/audio-features``), written atomically.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from ..engine.cache import default_spec, resolve_path
from ..engine.errors import check
from ..engine.fingerprint import params_key
from .ssbpr_layout import BadClip, check_audio_params, load_clip

KINDS = ("logmel", "mfcc", "stats")
DEFAULT_CACHE = default_spec("audio-features")  # "$LT_CACHE_DIR/audio-features", resolved at use (resolve_path)
CACHE_VERSION = 1


@dataclass(frozen=True)
class FeatureParams:
    """Clip and feature parameters (all part of the cache key)."""

    kind: str = "logmel"
    sample_rate: int = 16000
    duration: float = 2.0
    top_db: float = 60.0
    n_mels: int = 64
    n_fft: int = 1024
    hop_length: int = 512
    fmin: float = 50.0
    fmax: float | None = None  # None: min(8000, sample_rate / 2)
    n_mfcc: int = 20

    def resolved(self) -> "FeatureParams":
        """Validate and fill ``fmax``; bad values are one-line user errors."""
        check(self.kind in KINDS, f"unknown feature kind '{self.kind}'; valid: {', '.join(KINDS)}")
        check_audio_params(self.sample_rate, self.duration)
        fmax = self.fmax if self.fmax is not None else min(8000.0, self.sample_rate / 2)
        check(0 <= self.fmin < fmax <= self.sample_rate / 2,
              f"need 0 <= --fmin < --fmax <= sample_rate/2 = {self.sample_rate / 2:g} Hz (got {self.fmin:g}, {fmax:g})")
        check(self.n_mels >= 1 and self.n_fft >= 16 and self.hop_length >= 1 and self.n_mfcc >= 1,
              "--n-mels, --n-fft (>= 16), --hop-length and --n-mfcc must be positive")
        return replace(self, fmax=float(fmax), sample_rate=int(self.sample_rate))

    def mel_kwargs(self) -> dict:
        return {"n_fft": self.n_fft, "hop_length": self.hop_length, "n_mels": self.n_mels,
                "fmin": self.fmin, "fmax": self.fmax}

    def to_dict(self) -> dict:
        return asdict(self)


def logmel(y: np.ndarray, p: FeatureParams) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=y, sr=p.sample_rate, **p.mel_kwargs())
    return librosa.power_to_db(mel, ref=np.max, top_db=80.0).astype(np.float32)


def mfcc(y: np.ndarray, p: FeatureParams) -> np.ndarray:
    import librosa

    m = librosa.feature.mfcc(y=y, sr=p.sample_rate, n_mfcc=p.n_mfcc, **p.mel_kwargs())
    return np.concatenate([m, librosa.feature.delta(m), librosa.feature.delta(m, order=2)]).astype(np.float32)


def stats(y: np.ndarray, p: FeatureParams) -> np.ndarray:
    import librosa

    sr, kw = p.sample_rate, {"n_fft": p.n_fft, "hop_length": p.hop_length}
    rows = [mfcc(y, p),
            librosa.feature.spectral_centroid(y=y, sr=sr, **kw),
            librosa.feature.spectral_bandwidth(y=y, sr=sr, **kw),
            librosa.feature.spectral_rolloff(y=y, sr=sr, **kw),
            librosa.feature.zero_crossing_rate(y, frame_length=p.n_fft, hop_length=p.hop_length),
            librosa.feature.rms(y=y, frame_length=p.n_fft, hop_length=p.hop_length)]
    m = np.concatenate(rows).astype(np.float64)
    return np.concatenate([m.mean(axis=1), m.std(axis=1)]).astype(np.float32)


FEATURES = {"logmel": logmel, "mfcc": mfcc, "stats": stats}


def compute(y: np.ndarray, p: FeatureParams) -> np.ndarray:
    """The ``p.kind`` feature of a loaded clip."""
    return FEATURES[p.kind](y, p)


def file_hash(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_key(path: str | Path, p: FeatureParams) -> str:
    """SHA-256 of (file content hash, parameters, cache format version)."""
    return params_key({"file": file_hash(path), "params": p.to_dict(), "v": CACHE_VERSION})


def feature_for_file(path: str, p: FeatureParams, cache_dir: str | None) -> tuple[np.ndarray | None, str, bool]:
    """(feature, '' or the reason the file was skipped, cache hit). Never raises for a bad file."""
    try:
        key = cache_key(path, p) if cache_dir else ""
    except OSError as e:
        return None, f"unreadable ({e.strerror or e})", False
    entry = Path(cache_dir) / f"{key}.npy" if cache_dir else None
    if entry is not None and entry.is_file():
        try:
            return np.load(entry, allow_pickle=False), "", True
        except (OSError, ValueError):
            pass  # a damaged cache entry is recomputed and rewritten
    try:
        feat = compute(load_clip(path, p.sample_rate, p.duration, p.top_db), p)
    except BadClip as e:
        return None, str(e), False
    if not np.all(np.isfinite(feat)):
        return None, "feature is not finite", False
    if entry is not None:
        _atomic_save(entry, feat)
    return feat, "", False


def _atomic_save(entry: Path, arr: np.ndarray) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, arr, allow_pickle=False)
    os.replace(tmp, entry)


def _one(args: tuple) -> tuple[np.ndarray | None, str, bool]:
    return feature_for_file(*args)


def check_workers(workers: int) -> None:
    """``--workers`` (feature processes) must be at least 1."""
    check(workers >= 1, f"--workers must be >= 1 (got {workers})")


def compute_many(paths: Sequence[str], p: FeatureParams, *, workers: int = 1,
                 cache_dir: str | Path | None = DEFAULT_CACHE,
                 description: str = "features") -> tuple[list[np.ndarray | None], list[str], int]:
    """Features of every path (None where skipped), the skip reasons ('' for good files) and the
    number of cache hits. ``workers`` > 1 uses a process pool; a progress bar goes to stderr."""
    from ..engine.report import progress

    check_workers(workers)
    p = p.resolved()
    jobs = [(str(x), p, str(resolve_path(cache_dir)) if cache_dir else None) for x in paths]
    if workers == 1 or len(jobs) < 2:
        results = [_one(j) for j in progress(jobs, total=len(jobs), description=description)]
    else:
        import multiprocessing as mp

        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            chunk = max(1, len(jobs) // (workers * 8))
            results = list(progress(pool.map(_one, jobs, chunksize=chunk), total=len(jobs), description=description))
    feats = [r[0] for r in results]
    reasons = [r[1] for r in results]
    return feats, reasons, sum(r[2] for r in results)
