"""The official MuSe 2022 data layout: folders, partition files, feature CSVs, normalisation, alignment.

Layout (as distributed by the challenge and read by the EIHW/MuSe2022 baseline)::

    <root>/c1_muse_humor/feature_segments/<feature>/<coach>/*.csv     timestamp, segment_id, f1..fn
    <root>/c1_muse_humor/label_segments/<coach>/*.csv                 timestamp_start, timestamp_end, segment_id, label
    <root>/c1_muse_humor/metadata/partition.csv                       Id, Partition
    <root>/c2_muse_reaction/feats/<feature>/<id>.csv                  timestamp, segment_id, f1..fn
    <root>/c2_muse_reaction/labels.csv                                File_ID ([00012]) + 7 emotions
    <root>/c2_muse_reaction/partition.csv                             File_ID, Split
    <root>/c3_muse_stress_2022/feature_segments/<feature>/<subject>.csv
    <root>/c3_muse_stress_2022/label_segments/<physio-arousal|valence>/<subject>.csv   timestamp, value, segment_id
    <root>/c3_muse_stress_2022/metadata/partition.csv

Partition files: first column the id, last column the partition (train/devel/test).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine.errors import DataError

TASK_DIRS = {"humor": "c1_muse_humor", "reaction": "c2_muse_reaction", "stress": "c3_muse_stress_2022"}
TASKS = tuple(TASK_DIRS)
FEATURE_DIRS = {"humor": "feature_segments", "reaction": "feats", "stress": "feature_segments"}
DEFAULT_FEATURES = {"humor": ("egemaps", "vggface2", "bert-4-sentence-level"),
                    "reaction": ("eGeMAPS", "VGGFace2", "FAUs"),
                    "stress": ("egemaps", "vggface2", "bert-4")}
REACTION_LABELS = ("Adoration", "Amusement", "Anxiety", "Disgust", "Empathic-Pain", "Fear", "Surprise")
STRESS_DIMS = ("physio-arousal", "valence")
STRESS_KEYS = ("arousal", "valence")
PARTITIONS = ("train", "devel", "test")
FEATURE_IDX = 2  # feature CSVs: timestamp, segment_id, then the features


def _listing(path: Path) -> str:
    found = sorted(p.name for p in path.iterdir()) if path.is_dir() else []
    return ", ".join(found) if found else "(nothing)"


def task_dir(root: str | Path, task: str) -> Path:
    """``<root>/<task folder>``; a missing one is a DataError naming the expected path."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"--data-root '{root}' does not exist or is not a directory")
    path = root / TASK_DIRS[task]
    if not path.is_dir():
        raise DataError(f"no '{TASK_DIRS[task]}' folder for --task {task}: expected {path}; "
                        f"found in {root}: {_listing(root)}")
    return path


def feature_dirs(tdir: Path, task: str, features: list[str]) -> dict[str, Path]:
    """The folder of each requested feature; a missing one names its path and lists those found."""
    base = tdir / FEATURE_DIRS[task]
    out = {}
    for f in features:
        if not (base / f).is_dir():
            raise DataError(f"feature '{f}' not found: expected {base / f}; features found: {_listing(base)}")
        out[f] = base / f
    return out


def partition_path(tdir: Path, task: str) -> Path:
    return tdir / "partition.csv" if task == "reaction" else tdir / "metadata" / "partition.csv"


def read_partition(path: Path) -> dict[str, str]:
    """``id -> train|devel|test``. A missing file, an unknown partition or an id listed twice is an error."""
    import pandas as pd

    if not path.is_file():
        raise DataError(f"partition file missing: expected {path}")
    df = pd.read_csv(path, dtype=str)
    if df.shape[1] < 2:
        raise DataError(f"partition file '{path}' needs an id column and a partition column")
    out: dict[str, str] = {}
    for ident, part in zip(df.iloc[:, 0].str.strip(), df.iloc[:, -1].str.strip().str.lower()):
        if part not in PARTITIONS:
            raise DataError(f"partition file '{path}': id '{ident}' has partition '{part}'; valid: {', '.join(PARTITIONS)}")
        if ident in out and out[ident] != part:
            raise DataError(f"partition file '{path}': id '{ident}' is in both '{out[ident]}' and '{part}'")
        out[ident] = part
    return out


@dataclass
class FeatureTable:
    """One feature CSV: sorted timestamps, segment ids and the (rows, dims) values (float32)."""

    ts: np.ndarray
    seg: np.ndarray
    values: np.ndarray


class FeatureReader:
    """Reads the CSVs of one feature, checking every file has the same column count as the first."""

    def __init__(self, name: str):
        self.name, self.ncols, self.first = name, None, None

    def read(self, path: Path) -> FeatureTable:
        import pandas as pd

        try:
            df = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise DataError(f"feature CSV '{path}' is unreadable: {str(e).splitlines()[0]}") from e
        if self.ncols is None:
            self.ncols, self.first = df.shape[1], path
        elif df.shape[1] != self.ncols:
            raise DataError(f"feature CSV '{path}' has {df.shape[1]} columns but its sibling '{self.first}' "
                            f"(feature '{self.name}') has {self.ncols}")
        if df.shape[1] <= FEATURE_IDX:
            raise DataError(f"feature CSV '{path}' has no feature columns (expected timestamp, segment_id, f1..fn)")
        df = df.sort_values(df.columns[0], kind="stable")
        vals = np.nan_to_num(df.iloc[:, FEATURE_IDX:].to_numpy(dtype=np.float64)).astype(np.float32)
        return FeatureTable(df.iloc[:, 0].to_numpy(dtype=np.float64), df.iloc[:, 1].to_numpy(), vals)


class Normalizer:
    """Per-feature z-normalisation (population std, as sklearn's StandardScaler), fitted on train rows only."""

    def __init__(self) -> None:
        self.mean: dict[str, np.ndarray] = {}
        self.std: dict[str, np.ndarray] = {}

    def fit(self, feature: str, tables: list[FeatureTable]) -> None:
        rows = [t.values for t in tables if len(t.values)]
        if not rows:
            raise DataError(f"feature '{feature}': no training rows to fit the normalisation on")
        v = np.concatenate(rows).astype(np.float64)
        std = v.std(0)
        self.mean[feature], self.std[feature] = v.mean(0), np.where(std > 0, std, 1.0)

    def apply(self, feature: str, table: FeatureTable) -> FeatureTable:
        vals = (table.values - self.mean[feature]) / self.std[feature]
        return FeatureTable(table.ts, table.seg, vals.astype(np.float32))


def frame_period(tables: list[FeatureTable]) -> float:
    """A feature's frame period: the median positive step between consecutive timestamps."""
    diffs = [np.diff(t.ts) for t in tables if len(t.ts) > 1]
    diffs = np.concatenate(diffs) if diffs else np.empty(0)
    diffs = diffs[diffs > 0]
    return float(np.median(diffs)) if diffs.size else 1.0


def lookup(table: FeatureTable | None, grid: np.ndarray, period: float, dim: int) -> tuple[np.ndarray, int]:
    """Sample-and-hold alignment: at each grid time the latest row no older than one frame period.

    Steps with no such row are zeros (the normalised mean, as the official baseline imputes) and
    counted; returns (values (len(grid), dim), number of missing steps).
    """
    out = np.zeros((len(grid), dim), dtype=np.float32)
    if table is None or len(table.ts) == 0:
        return out, len(grid)
    tol = period * 1e-6
    idx = np.searchsorted(table.ts, grid + tol, side="right") - 1
    ok = idx >= 0
    ok[ok] = grid[ok] - table.ts[idx[ok]] < period - tol
    out[ok] = table.values[idx[ok]]
    return out, int((~ok).sum())


def segment_grid(start: float, end: float, step: float) -> np.ndarray:
    """Times start, start+step, ... < end (at least one)."""
    n = max(1, int(np.ceil((end - start) / step - 1e-9)))
    return start + step * np.arange(n, dtype=np.float64)
