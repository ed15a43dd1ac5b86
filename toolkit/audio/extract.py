"""``lt audio features DIR``: librosa features of every audio file under DIR, cached and parallel.

Writes into the run dir (``--out``, started by :func:`toolkit.engine.lifecycle.start_run`: its
``config.json`` replays with ``--config``) either one ``.npy`` per file plus ``index.csv``
(``file,feature,shape``), or one ``features.npz`` (arrays ``f00000``, ``f00001``, ... plus ``files``,
their paths) with ``--npz``. Bad files are listed (warning + ``skipped.csv``), not fatal. Defaults:
see :mod:`toolkit.data.audio_features`.

    lt audio features DIR --features logmel --workers 2 --out runs/feats
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data.audio_features import FeatureParams, compute_many
from ..data.ssbpr_layout import AUDIO_EXTENSIONS
from ..engine.errors import DataError
from ..engine.report import Report, warn
from .options import FeaturesOptions


def audio_files(path: str | Path) -> list[Path]:
    """One audio file, or every audio file under a folder (recursive, sorted)."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise DataError(f"'{p}' does not exist")
    files = sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_EXTENSIONS and f.is_file())
    if not files:
        raise DataError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) under '{p}'")
    return files


def _write(out_dir: Path, files: list[Path], feats: list, good: list[int], skipped: list[dict], npz: bool) -> None:
    """``features.npz`` or ``.npy`` files + ``index.csv``; ``skipped.csv`` when files were bad."""
    from ..engine.checkpoint import atomic_path
    from ..engine.runs import write_csv

    if skipped:
        write_csv(out_dir / "skipped.csv", skipped)
    if npz:
        with atomic_path(out_dir / "features.npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, files=np.array([str(files[i]) for i in good]),
                         **{f"f{j:05d}": feats[i] for j, i in enumerate(good)})
        return
    rows = []
    for j, i in enumerate(good):
        name = f"{j:05d}-{files[i].stem}.npy"
        with atomic_path(out_dir / name) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, feats[i], allow_pickle=False)
        rows.append({"file": str(files[i]), "feature": name, "shape": "x".join(map(str, feats[i].shape))})
    write_csv(out_dir / "index.csv", rows)


def extract_features(opts: FeaturesOptions | None = None, **values: Any) -> Report:
    """Compute ``features`` (logmel | mfcc | stats) for every file under ``path`` into a run dir.

    Options: :class:`toolkit.audio.options.FeaturesOptions` (clip and feature parameters as
    :class:`toolkit.data.audio_features.FeatureParams`; ``fmax`` None: min(8000, sample_rate/2));
    ``workers`` processes; ``cache=False``: no cache; ``npz``: one file.

    ``lt audio features DIR --features mfcc --workers 2 --out runs/feats``
    """
    from ..engine.lifecycle import start_run

    opts = FeaturesOptions.of(opts, **values).validate()
    params = FeatureParams(kind=opts.features, sample_rate=opts.sample_rate, duration=opts.duration,
                           n_mels=opts.n_mels, n_fft=opts.n_fft, hop_length=opts.hop_length, fmin=opts.fmin,
                           fmax=opts.fmax, n_mfcc=opts.n_mfcc).resolved()
    files = audio_files(opts.path)
    features, npz, workers, cache_dir = opts.features, opts.npz, opts.workers, opts.feature_cache
    run = start_run(("audio", "features"), out=opts.out, force=opts.force, device="cpu",
                    resolved={**opts.to_dict(), "fmax": params.fmax},
                    info={"files": len(files), "feature_params": params.to_dict()})
    out_dir = run.out_dir
    t0 = time.perf_counter()
    feats, reasons, hits = compute_many([str(f) for f in files], params, workers=workers, cache_dir=cache_dir)
    seconds = time.perf_counter() - t0
    good = [i for i, r in enumerate(reasons) if not r]
    skipped = [{"path": str(files[i]), "reason": r} for i, r in enumerate(reasons) if r]
    if skipped:
        warn(f"skipped {len(skipped)} bad file(s), e.g. {skipped[0]['path']}: {skipped[0]['reason']}; "
             f"listed in {out_dir / 'skipped.csv'}")
    if run.is_main:
        _write(out_dir, files, feats, good, skipped, npz)
    shape = "x".join(map(str, feats[good[0]].shape)) if good else "-"
    summary = {"files": len(files), "written": len(good), "skipped": len(skipped), "cache_hits": hits, "shape": shape,
               "seconds": round(seconds, 3), "files_per_s": round(len(files) / max(seconds, 1e-9), 2)}
    run.finish(summary)
    return Report(title=f"audio features ({features})",
                  summary={**summary, "out": str(out_dir / ("features.npz" if npz else "index.csv"))})
