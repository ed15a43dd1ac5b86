"""The official MuSe 2022 data layout: folders, partition files, feature CSVs, normalisation, alignment.

Layout (as distributed by the challenge and read by the EIHW/MuSe2022 baseline, ``config.py`` and
``data_parser.py``)::

    <root>/c1_muse_humor/feature_segments/<feature>/<coach>/*.csv    timestamp, segment_id, f1..fn
    <root>/c1_muse_humor/label_segments/<coach>/*.csv                timestamp_start, timestamp_end, segment_id, <label>
    <root>/c1_muse_humor/metadata/partition.csv                      <id>, ..., <partition>
    <root>/c2_muse_reaction/feats/<feature>/<id>.csv                 File_ID ([00012]), timestamp, f1..fn
    <root>/c2_muse_reaction/labels.csv                               File_ID ([00012]) + 7 emotions
    <root>/c2_muse_reaction/partition.csv                            <File_ID>, ..., <partition>
    <root>/c3_muse_stress_2022/feature_segments/<feature>/<subject>.csv   timestamp, segment_id, f1..fn
    <root>/c3_muse_stress_2022/label_segments/<physio-arousal|valence>/<subject>.csv   timestamp, value, segment_id
    <root>/c3_muse_stress_2022/metadata/partition.csv

Read as the baseline reads them:

- partition files by position: the first column is the id, the last the partition, whatever
  their names (``get_data_partition``);
- feature CSVs: the features are the columns from index 2 on (``feature_idx = 2``); the time is
  the column named ``timestamp`` (or the first column), ``segment_id`` by name when present. A
  first column named ``File_ID`` (reaction) must hold the file's own id on every row;
- humor labels: ``timestamp_start``, ``timestamp_end``, ``segment_id`` by name and the label in the
  **last** column whatever its name (``label_df.iloc[:, -1]``); the other columns are the metadata;
- reaction labels: ``File_ID`` by name, the 7 targets are the columns after it (``iloc[:, 1:]``);
- stress labels: ``timestamp`` and ``value`` by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine.errors import DataError, LtError

TASK_DIRS = {"humor": "c1_muse_humor", "reaction": "c2_muse_reaction", "stress": "c3_muse_stress_2022"}
TASKS = tuple(TASK_DIRS)
FEATURE_DIRS = {"humor": "feature_segments", "reaction": "feats", "stress": "feature_segments"}
DEFAULT_FEATURES = {"humor": ("egemaps", "vggface2", "bert-4-sentence-level"),
                    "reaction": ("eGeMAPS", "VGGFace2", "FAUs"),
                    "stress": ("egemaps", "vggface2", "bert-4")}
REACTION_LABELS = ("Adoration", "Amusement", "Anxiety", "Disgust", "Empathic-Pain", "Fear", "Surprise")
STRESS_DIMS = ("physio-arousal", "valence")
STRESS_KEYS = ("arousal", "valence")
OUTPUTS = {"humor": 1, "reaction": 7, "stress": 2}  # model outputs per task
PARTITIONS = ("train", "devel", "test")
FEATURE_IDX = 2  # feature CSVs: timestamp, segment_id, then the features


def check_windows(win_length: int, hop_length: int) -> None:
    """Stress training windows need 1 <= hop <= win (``lt train muse``'s rule and the data layer's)."""
    if win_length < 1 or hop_length < 1 or hop_length > win_length:
        raise LtError(f"windows need 1 <= --hop-length <= --win-length (got win {win_length}, hop {hop_length})")


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
    for ident, part in zip(df.iloc[:, 0].str.strip(), df.iloc[:, -1].str.strip().str.lower(), strict=True):
        if part not in PARTITIONS:
            raise DataError(f"partition file '{path}': id '{ident}' has partition '{part}'; "
                            f"valid: {', '.join(PARTITIONS)}")
        if ident in out and out[ident] != part:
            raise DataError(f"partition file '{path}': id '{ident}' is in both '{out[ident]}' and '{part}'")
        out[ident] = part
    return out


@dataclass
class FeatureTable:
    """One feature CSV: sorted timestamps, segment ids, the (rows, dims) values (float32), and each
    row's 1-based data-row number in ``path`` (to name a bad row)."""

    ts: np.ndarray
    seg: np.ndarray
    values: np.ndarray
    row: np.ndarray | None = None
    path: Path | None = None


def row_ref(path: Path | str, row: int) -> str:
    """``'<path>' row N (line N+1)``: data rows count from 1, the header is line 1."""
    return f"'{path}' row {row} (line {row + 1})"


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0]) + 1


def _numeric(df, path: Path, what: str, cols) -> np.ndarray:
    """The columns ``cols`` as float64; a non-empty non-number is a DataError naming its row."""
    import pandas as pd

    block = df[cols] if isinstance(cols, list) else df[[cols]]
    num = block.apply(pd.to_numeric, errors="coerce")
    bad = (num.isna() & block.notna()).any(axis=1).to_numpy()
    if bad.any():
        r = _first_bad(bad)
        raise DataError(f"feature CSV {row_ref(path, r)}: {what} is not a number "
                        f"({block.iloc[r - 1].tolist()[:4]})")
    return num.to_numpy(dtype=np.float64)


class FeatureReader:
    """Reads the CSVs of one feature, checking every file has the same column count as the first."""

    def __init__(self, name: str):
        self.name, self.ncols, self.first = name, None, None

    def read(self, path: Path, expect_id: str | None = None) -> FeatureTable:
        """One feature CSV. ``expect_id`` (reaction, ``[00012]``): the value a ``File_ID`` column must hold."""
        import pandas as pd

        try:
            df = pd.read_csv(path, dtype={"File_ID": str})
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise DataError(f"feature CSV '{path}' is unreadable: {str(e).splitlines()[0]}") from e
        if self.ncols is None:
            self.ncols, self.first = df.shape[1], path
        elif df.shape[1] != self.ncols:
            raise DataError(f"feature CSV '{path}' has {df.shape[1]} columns but its sibling '{self.first}' "
                            f"(feature '{self.name}') has {self.ncols}")
        if df.shape[1] <= FEATURE_IDX:
            raise DataError(f"feature CSV '{path}' has no feature columns (expected timestamp, segment_id, f1..fn "
                            f"or File_ID, timestamp, f1..fn)")
        cols = [str(c) for c in df.columns]
        df.columns = cols
        id_col = cols[0] if cols[0] == "File_ID" else None
        if id_col and expect_id is not None:
            ids = df[id_col].astype(str).str.strip().to_numpy()
            bad = ids != expect_id
            if bad.any():
                r = _first_bad(bad)
                raise DataError(f"feature file {row_ref(path, r)} does not align with the labels: File_ID "
                                f"'{ids[r - 1]}' in the file of '{expect_id}'")
        ts_col = "timestamp" if "timestamp" in cols else cols[1 if id_col else 0]
        ts = _numeric(df, path, f"timestamp ('{ts_col}')", ts_col)[:, 0]
        if np.isnan(ts).any():
            raise DataError(f"feature CSV {row_ref(path, _first_bad(np.isnan(ts)))}: the timestamp is empty")
        vals = np.nan_to_num(_numeric(df, path, "a feature value", cols[FEATURE_IDX:])).astype(np.float32)
        seg = df["segment_id"].to_numpy() if "segment_id" in cols else np.zeros(len(df), dtype=np.int64)
        order = np.argsort(ts, kind="stable")
        return FeatureTable(ts[order], seg[order], vals[order], order + 1, path)


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
        return FeatureTable(table.ts, table.seg, vals.astype(np.float32), table.row, table.path)


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


def check_on_label_times(table: FeatureTable, label_ts: np.ndarray, label_path: Path) -> None:
    """Stress: every feature row must sit on a label timestamp (the baseline pairs feature and label
    rows by position, so the released files share one 500 ms time line; a coarser feature whose rows
    are a subset of it is our extension). The first row off that time line is a DataError naming the
    file and the row — a shifted, rescaled (s vs ms) or foreign feature file would otherwise be
    silently mis-paired."""
    if table.path is None or len(table.ts) == 0 or len(label_ts) == 0:
        return
    lts = np.sort(label_ts)
    step = np.diff(lts)
    tol = 1e-6 * (float(np.median(step[step > 0])) if (step > 0).any() else 1.0)
    i = np.clip(np.searchsorted(lts, table.ts), 1, len(lts) - 1) if len(lts) > 1 else np.zeros(len(table.ts), int)
    near = (np.minimum(np.abs(lts[i] - table.ts), np.abs(lts[i - 1] - table.ts)) if len(lts) > 1
            else np.abs(lts[0] - table.ts))
    bad = near > tol
    if bad.any():
        r = int(table.row[bad].min())
        t = float(table.ts[table.row == r][0])
        raise DataError(f"feature file {row_ref(table.path, r)} does not align with the labels '{label_path}': "
                        f"timestamp {t:g} is not a label timestamp (labels: {lts[0]:g}..{lts[-1]:g}, "
                        f"{len(lts)} rows)")


def check_in_label_windows(table: FeatureTable, windows: dict[str, list[tuple[float, float]]],
                           label_path: Path) -> None:
    """Humor: a feature file none of whose rows falls into a labelled window of its label file (same
    ``segment_id``, ``timestamp_start <= timestamp < timestamp_end``, as the baseline matches them)
    does not align with it (other time unit, other video): a DataError naming the file and its first
    row with a labelled segment (or its first row)."""
    if table.path is None or len(table.ts) == 0 or not windows:
        return
    segs = np.array([str(s) for s in table.seg])
    labelled = np.isin(segs, list(windows))
    for k in np.flatnonzero(labelled):
        if any(a <= table.ts[k] < b for a, b in windows[segs[k]]):
            return
    k = int(np.flatnonzero(labelled)[np.argmin(table.row[labelled])]) if labelled.any() else int(np.argmin(table.row))
    spans = [w for ws in windows.values() for w in ws]
    raise DataError(f"feature file {row_ref(table.path, int(table.row[k]))} does not align with the labels "
                    f"'{label_path}': none of its {len(table.ts)} rows falls into a labelled window (segment_id "
                    f"{segs[k]}, timestamp {table.ts[k]:g}; labelled windows span {min(a for a, _ in spans):g}.."
                    f"{max(b for _, b in spans):g})")
