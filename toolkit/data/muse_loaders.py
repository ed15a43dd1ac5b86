"""Loaders for the official MuSe 2022 layouts (humor, reaction, stress) with early fusion.

Each requested feature is z-normalised with statistics fitted on the train partition only, then
aligned on a common time grid (step = the finest frame period among the features; sample-and-hold
within each feature's own period) and concatenated (early fusion). Grid steps a feature has no row
for are zeros, as the official baseline imputes, and are counted per feature.

- humor: one n-to-1 sample per label segment (features matched by ``segment_id`` and
  ``timestamp_start <= t < timestamp_end``, as the baseline does); the label is the label file's
  last column, whatever its name;
- reaction: one n-to-1 sample per video (``File_ID`` ``[00012]`` -> ``00012.csv``), the 7 targets
  are the label file's columns after ``File_ID``;
- stress: one sequence per subject on the label timestamps, targets (physio-arousal, valence).

A feature file whose rows do not align with the labels is a DataError naming the file and its first
bad row: a stress row off the label time line, a humor file none of whose rows falls into a
labelled window, a reaction row whose ``File_ID`` is another video's (see :mod:`.muse_layout`).

Entry point :func:`load_muse`; ``lt train muse`` calls it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..engine.errors import DataError, LtError
from .muse_layout import (
    DEFAULT_FEATURES,
    STRESS_DIMS,
    STRESS_KEYS,
    TASKS,
    FeatureReader,
    FeatureTable,
    Normalizer,
    check_in_label_windows,
    check_on_label_times,
    feature_dirs,
    frame_period,
    lookup,
    partition_path,
    read_partition,
    segment_grid,
    task_dir,
)

HUMOR_NEED = ("timestamp_start", "timestamp_end", "segment_id")


@dataclass
class Sample:
    """One sequence: ``x`` (T, D) fused features, ``y`` targets ((1,), (7,) or (T, 2)), export ``meta``."""

    key: str
    group: str
    x: np.ndarray
    y: np.ndarray
    meta: list


@dataclass
class MuseData:
    task: str
    features: list[str]
    dims: list[int]
    label_names: list[str]
    parts: dict[str, list[Sample]]
    normalizer: Normalizer
    periods: dict[str, float]
    stats: dict = field(default_factory=dict)


def resplit(partition: dict[str, str], groups: dict[str, str] | None = None, devel_fraction: float = 0.2,
            seed: int = 0) -> dict[str, str]:
    """Re-draw train/devel by group (subject): no group ends up in both; test stays as it is."""
    if not 0 < devel_fraction < 1:
        raise LtError(f"--devel-fraction must be in (0, 1) (got {devel_fraction})")
    groups = groups or {}
    pool = sorted({groups.get(i, i) for i, p in partition.items() if p != "test"})
    if len(pool) < 2:
        raise LtError("re-split needs at least 2 train/devel subjects")
    random.Random(seed).shuffle(pool)
    n_dev = min(len(pool) - 1, max(1, round(devel_fraction * len(pool))))
    dev = set(pool[:n_dev])
    return {i: p if p == "test" else ("devel" if groups.get(i, i) in dev else "train") for i, p in partition.items()}


def _fit_apply(raw: dict[str, dict[str, list[FeatureTable]]], partition: dict[str, str]) -> Normalizer:
    """Fit each feature's normaliser on the train owners' tables, then normalise every table in place."""
    norm = Normalizer()
    for f, owners in raw.items():
        norm.fit(f, [t for o, ts in owners.items() if partition.get(o) == "train" for t in ts])
        for o in owners:
            owners[o] = [norm.apply(f, t) for t in owners[o]]
    return norm


class _Stats:
    def __init__(self, features: list[str]):
        self.missing = {f: 0 for f in features}
        self.steps = 0
        self.no_features: list[str] = []
        self.no_labels: list[str] = []

    def fuse(self, tables: dict[str, FeatureTable | None], grid: np.ndarray, periods: dict[str, float],
             dims: dict[str, int]) -> tuple[np.ndarray, bool]:
        """Aligned, concatenated features on ``grid``; also whether any feature had any row there."""
        parts, any_row = [], False
        for f, t in tables.items():
            v, miss = lookup(t, grid, periods[f], dims[f])
            self.missing[f] += miss
            any_row |= miss < len(grid)
            parts.append(v)
        self.steps += len(grid)
        return np.concatenate(parts, 1), any_row

    def as_dict(self) -> dict:
        return {"steps": self.steps, "missing_steps": dict(self.missing),
                "labels_without_features": len(self.no_features), "ids_without_labels": len(self.no_labels),
                "examples_without_features": self.no_features[:5]}


def _read_owner_tables(fdirs: dict[str, Path], owners: list[str], files_of,
                       id_of=None) -> dict[str, dict[str, list[FeatureTable]]]:
    """Every feature's tables per owner; ``id_of(owner)`` is the ``File_ID`` its rows must hold (reaction)."""
    raw: dict[str, dict[str, list[FeatureTable]]] = {}
    for f, d in fdirs.items():
        reader = FeatureReader(f)
        raw[f] = {o: [reader.read(p, id_of(o) if id_of else None) for p in files_of(d, o)] for o in owners}
    return raw


def _periods_dims(raw: dict[str, dict[str, list[FeatureTable]]]) -> tuple[dict[str, float], dict[str, int]]:
    periods, dims = {}, {}
    for f, owners in raw.items():
        tables = [t for ts in owners.values() for t in ts]
        if not tables:
            raise DataError(f"feature '{f}': no CSV files for any id in the partition file")
        periods[f], dims[f] = frame_period(tables), tables[0].values.shape[1]
    return periods, dims


def _humor_labels(tdir: Path, coach: str) -> dict[str, "object"]:
    """The coach's label files by name: timestamp_start/end and segment_id by name, the label last."""
    import pandas as pd

    out = {}
    for lf in sorted((tdir / "label_segments" / coach).glob("*.csv")):
        df = pd.read_csv(lf)
        missing = [c for c in HUMOR_NEED if c not in df.columns]
        if missing:
            raise DataError(f"humor label file '{lf}' lacks column(s) {', '.join(missing)}")
        if df.columns[-1] in HUMOR_NEED:
            raise DataError(f"humor label file '{lf}' has no label column after {', '.join(HUMOR_NEED)} "
                            f"(the label is the last column)")
        out[lf.name] = (lf, df)
    return out


def _check_humor_alignment(raw: dict, labels: dict[str, dict]) -> None:
    for owners in raw.values():
        for coach, tables in owners.items():
            for t in tables:
                if t.path is not None and t.path.name in labels[coach]:
                    lf, df = labels[coach][t.path.name]
                    windows: dict[str, list] = {}
                    for a, b, g in zip(df["timestamp_start"], df["timestamp_end"], df["segment_id"], strict=True):
                        windows.setdefault(str(g), []).append((float(a), float(b)))
                    check_in_label_windows(t, windows, lf)


def _load_humor(tdir: Path, features: list[str], partition: dict[str, str]) -> tuple:
    fdirs = feature_dirs(tdir, "humor", features)
    coaches = sorted(partition)
    raw = _read_owner_tables(fdirs, coaches, lambda d, o: sorted((d / o).glob("*.csv")))
    labels = {c: _humor_labels(tdir, c) for c in coaches}
    _check_humor_alignment(raw, labels)
    norm = _fit_apply(raw, partition)
    periods, dims = _periods_dims(raw)
    step = min(periods.values())
    seg_tables: dict[str, dict[tuple, FeatureTable]] = {f: {} for f in features}
    for f in features:
        for coach, tables in raw[f].items():
            for t in tables:
                for s in np.unique(t.seg):
                    m = t.seg == s
                    seg_tables[f][(coach, str(s))] = FeatureTable(t.ts[m], t.seg[m], t.values[m])
    stats, parts = _Stats(features), {p: [] for p in ("train", "devel", "test")}
    for coach in coaches:
        if not labels[coach]:
            stats.no_labels.append(coach)
            continue
        for _lf, df in labels[coach].values():
            label_col, meta_cols = df.columns[-1], list(df.columns[:-1])
            for r in df.to_dict("records"):
                grid = segment_grid(float(r["timestamp_start"]), float(r["timestamp_end"]), step)
                tabs = {f: seg_tables[f].get((coach, str(r["segment_id"]))) for f in features}
                x, any_row = stats.fuse(tabs, grid, periods, dims)
                key = f"{coach}/{r['segment_id']}/{r['timestamp_start']}"
                if not any_row:
                    stats.no_features.append(key)
                parts[partition[coach]].append(Sample(key, coach, x, np.array([r[label_col]], dtype=np.float32),
                                                      [r[c] for c in meta_cols]))
    return parts, norm, periods, dims, ["humor"], stats


def _bare(ident: str) -> str:
    return ident.strip().lstrip("[").rstrip("]")


def _load_reaction(tdir: Path, features: list[str], partition: dict[str, str]) -> tuple:
    import pandas as pd

    lpath = tdir / "labels.csv"
    if not lpath.is_file():
        raise DataError(f"reaction labels missing: expected {lpath}")
    ldf = pd.read_csv(lpath, dtype={"File_ID": str})
    if "File_ID" not in ldf.columns or ldf.shape[1] != 8:
        raise DataError(f"reaction labels '{lpath}' need a File_ID column followed by the 7 emotions "
                        f"(got columns: {', '.join(map(str, ldf.columns))})")
    names = [str(c) for c in ldf.columns if c != "File_ID"]
    values = ldf[names].apply(pd.to_numeric, errors="coerce").to_numpy(np.float32)
    labels = {_bare(i): row for i, row in zip(ldf["File_ID"], values, strict=True)}
    part = {_bare(i): p for i, p in partition.items()}
    fdirs = feature_dirs(tdir, "reaction", features)
    ids = sorted(part)
    raw = _read_owner_tables(fdirs, ids, lambda d, o: [d / f"{o}.csv"] if (d / f"{o}.csv").is_file() else [],
                             id_of=lambda o: f"[{o}]")
    norm = _fit_apply(raw, part)
    periods, dims = _periods_dims(raw)
    step = min(periods.values())
    stats, parts = _Stats(features), {p: [] for p in ("train", "devel", "test")}
    for i in ids:
        tabs = {f: (raw[f][i][0] if raw[f][i] else None) for f in features}
        present = [t for t in tabs.values() if t is not None and len(t.ts)]
        if i not in labels and part[i] != "test":
            stats.no_labels.append(i)
            continue
        if not present:
            stats.no_features.append(f"[{i}]")
            continue
        t0, t1 = min(t.ts[0] for t in present), max(t.ts[-1] for t in present)
        grid = segment_grid(t0, t1 + step, step)
        x, _ = stats.fuse(tabs, grid, periods, dims)
        y = labels.get(i, np.full(len(names), np.nan, dtype=np.float32))
        parts[part[i]].append(Sample(f"[{i}]", i, x, np.asarray(y, np.float32), [f"[{i}]"]))
    return parts, norm, periods, dims, names, stats


def _stress_labels(tdir: Path, subject: str) -> tuple:
    """Label timestamps (of the first dimension present), values (T, 2) with NaN gaps, segment ids, and
    the path of the file the timestamps come from."""
    import pandas as pd

    frames = {}
    for d in STRESS_DIMS:
        p = tdir / "label_segments" / d / f"{subject}.csv"
        if p.is_file():
            df = pd.read_csv(p)
            if "timestamp" not in df.columns or "value" not in df.columns:
                raise DataError(f"stress label file '{p}' needs columns timestamp and value")
            frames[d] = df.sort_values("timestamp", kind="stable")
    if not frames:
        return None, None, None, None
    ref_dim = next(iter(frames))
    ref = frames[ref_dim]
    ts = ref["timestamp"].to_numpy(np.float64)
    y = np.full((len(ts), len(STRESS_DIMS)), np.nan, dtype=np.float32)
    for k, d in enumerate(STRESS_DIMS):
        if d in frames:
            s = pd.Series(frames[d]["value"].to_numpy(np.float32), index=frames[d]["timestamp"].to_numpy(np.float64))
            s = s[~s.index.duplicated()]
            y[:, k] = s.reindex(ts).to_numpy(np.float32)
    seg = ref["segment_id"].to_numpy() if "segment_id" in ref.columns else np.full(len(ts), -1)
    return ts, y, seg, tdir / "label_segments" / ref_dim / f"{subject}.csv"


def _load_stress(tdir: Path, features: list[str], partition: dict[str, str]) -> tuple:
    fdirs = feature_dirs(tdir, "stress", features)
    ids = sorted(partition)
    raw = _read_owner_tables(fdirs, ids, lambda d, o: [d / f"{o}.csv"] if (d / f"{o}.csv").is_file() else [])
    norm = _fit_apply(raw, partition)
    periods, dims = _periods_dims(raw)
    stats, parts = _Stats(features), {p: [] for p in ("train", "devel", "test")}
    for s in ids:
        tabs = {f: (raw[f][s][0] if raw[f][s] else None) for f in features}
        present = [t for t in tabs.values() if t is not None and len(t.ts)]
        ts, y, seg, lpath = _stress_labels(tdir, s)
        if ts is not None:
            for t in tabs.values():
                if t is not None:
                    check_on_label_times(t, ts, lpath)
        if ts is None:
            if partition[s] != "test" or not present:
                stats.no_labels.append(s)
                continue
            ts = present[0].ts
            y, seg = np.full((len(ts), 2), np.nan, np.float32), present[0].seg
        if not present:
            stats.no_features.append(s)
            continue
        x, _ = stats.fuse(tabs, ts, periods, dims)
        meta = [[s, t, g] for t, g in zip(ts.tolist(), seg.tolist(), strict=True)]
        parts[partition[s]].append(Sample(s, s, x, y, meta))
    return parts, norm, periods, dims, list(STRESS_KEYS), stats


_LOADERS = {"humor": _load_humor, "reaction": _load_reaction, "stress": _load_stress}


def load_muse(root: str | Path, task: str, features: list[str] | None = None, *, resplit_seed: int | None = None,
              devel_fraction: float = 0.2) -> MuseData:
    """Read one task of the official layout under ``root`` (see :mod:`toolkit.data.muse_layout`).

    Args:
        features: feature folder names (default per task, :data:`DEFAULT_FEATURES`), fused early.
        resplit_seed: if set, redraw train/devel by subject with this seed (test untouched).
        devel_fraction: share of train+devel subjects that go to devel on a re-split (our choice 0.2).
    """
    if task not in TASKS:
        from ..engine.registry import unknown_name_message

        raise LtError(unknown_name_message("task", task, TASKS))
    features = list(features or DEFAULT_FEATURES[task])
    if len(set(features)) != len(features):
        raise LtError(f"--features lists a feature twice: {','.join(features)}")
    tdir = task_dir(root, task)
    partition = read_partition(partition_path(tdir, task))
    if resplit_seed is not None:
        partition = resplit(partition, None, devel_fraction, resplit_seed)
    parts, norm, periods, dims, names, stats = _LOADERS[task](tdir, features, partition)
    for p in ("train", "devel"):
        if not parts[p]:
            raise DataError(f"{task}: the '{p}' partition is empty after loading {tdir}")
    return MuseData(task, features, [dims[f] for f in features], names, parts, norm, periods, stats.as_dict())
