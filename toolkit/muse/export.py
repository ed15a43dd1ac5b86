"""Prediction files in the official submission CSV shape, and late fusion of trained runs.

Shapes follow the EIHW/MuSe2022 baseline's ``write_predictions``:

- humor: ``meta_col_0..k`` (the label file's columns except the last, the label) + ``prediction`` per segment;
- reaction: ``File_ID`` + the 7 emotions per video;
- stress: ``meta_col_0..2`` (subject, timestamp, segment_id) + ``prediction`` per step, one file
  per dimension (``physio-arousal``, ``valence``), as the baseline trains one run per dimension.

Test files have exactly that shape (``predictions_test[_<dim>].csv``). Devel files
(``predictions_devel[_<dim>].csv``) add the labels (``label`` / ``label_<Emotion>``) so late fusion
can weigh and score runs on devel. ``lt train muse --late-fusion RUN,RUN`` fuses the runs'
predictions by their mean or by a small learned fusion (logistic/linear regression on devel).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.muse_layout import REACTION_LABELS, STRESS_DIMS, TASKS
from ..data.muse_loaders import Sample
from ..engine.checkpoint import atomic_path
from ..engine.errors import DataError, LtError
from ..engine.metrics import ccc, mean_pearson, roc_auc
from ..engine.report import Report
from .metrics import PROTOCOLS


def _files(task: str, part: str) -> list[str]:
    if task == "stress":
        return [f"predictions_{part}_{d}.csv" for d in STRESS_DIMS]
    return [f"predictions_{part}.csv"]


def prediction_frames(task: str, samples: list[Sample], pred: np.ndarray, with_labels: bool) -> list:
    """DataFrames (one, or one per stress dimension) of ``pred`` for ``samples`` in submission shape."""
    import pandas as pd

    if task == "reaction":
        df = pd.DataFrame(pred.reshape(-1, 7), columns=list(REACTION_LABELS))
        df.insert(0, "File_ID", [s.meta[0] for s in samples])
        if with_labels:
            y = np.stack([s.y for s in samples])
            for k, n in enumerate(REACTION_LABELS):
                df[f"label_{n}"] = y[:, k]
        return [df]
    if task == "humor":
        meta = [s.meta for s in samples]
        y = np.array([s.y[0] for s in samples])
        preds = [pred.reshape(-1)]
    else:
        meta = [m for s in samples for m in s.meta]
        y = np.concatenate([s.y for s in samples])
        preds = [pred.reshape(-1, 2)[:, k] for k in range(2)]
    frames = []
    for k, p in enumerate(preds):
        df = pd.DataFrame(meta, columns=[f"meta_col_{i}" for i in range(len(meta[0]))])
        df["prediction"] = p
        if with_labels:
            df["label"] = y if task == "humor" else y[:, k]
        frames.append(df)
    return frames


def write_predictions(out_dir: Path, task: str, part: str, samples: list[Sample], pred: np.ndarray) -> list[str]:
    names = _files(task, part)
    for name, df in zip(names, prediction_frames(task, samples, pred, with_labels=part != "test"), strict=True):
        with atomic_path(out_dir / name) as tmp:
            df.to_csv(tmp, index=False)
    return names


def run_task(config: dict) -> str | None:
    """The task of an ``lt train muse`` run from its config.json: ``resolved.task`` (the one schema);
    run dirs written before it (lt 0.1.0) kept the task at the top level."""
    if isinstance(config.get("resolved"), dict):
        return config["resolved"].get("task")
    return config.get("task")


def _read_run(run: str, task: str | None) -> tuple[str, dict]:
    import pandas as pd

    from ..engine.runs import read_json

    d = Path(run)
    cfg_path = d / "config.json"
    if not cfg_path.is_file():
        raise DataError(f"--late-fusion: '{run}' is not an lt train muse run dir (no config.json)")
    config = read_json(cfg_path)
    command = config.get("command") if isinstance(config, dict) else None
    if not isinstance(config, dict) or (command is not None and list(command) != ["train", "muse"]):
        raise DataError(f"--late-fusion: '{run}' is not an lt train muse run dir ({cfg_path} is another command's)")
    found = run_task(config)
    if found not in TASKS:
        raise DataError(f"--late-fusion: '{cfg_path}' records no MuSe task")
    if task is not None and found != task:
        raise LtError(f"--late-fusion: run '{run}' is task '{found}', not '{task}'")
    frames = {}
    for part in ("devel", "test"):
        for name in _files(found, part):
            if not (d / name).is_file():
                hint = " (train it with --predict)" if part == "test" else ""
                raise DataError(f"--late-fusion: run '{run}' has no {name}{hint}")
            frames[name] = pd.read_csv(d / name)
    return found, frames


def _pred_cols(task: str) -> list[str]:
    return list(REACTION_LABELS) if task == "reaction" else ["prediction"]


def _score(task: str, df, pred: np.ndarray) -> float:
    if task == "humor":
        return roc_auc(pred[:, 0], df["label"].to_numpy())
    if task == "reaction":
        return mean_pearson(pred, df[[f"label_{n}" for n in REACTION_LABELS]].to_numpy())[0]
    ok = np.isfinite(df["label"].to_numpy(float))
    return ccc(pred[ok, 0], df["label"].to_numpy(float)[ok])


def _fit_fusion(task: str, dev_preds: list[np.ndarray], dev_df) -> list:
    """One regressor per output column on the runs' devel predictions (logistic for humor)."""
    from sklearn.linear_model import LinearRegression, LogisticRegression

    models = []
    for k, col in enumerate(_pred_cols(task)):
        xs = np.stack([p[:, k] for p in dev_preds], 1)
        ycol = "label" if task != "reaction" else f"label_{col}"
        y = dev_df[ycol].to_numpy(float)
        ok = np.isfinite(y)
        m = LogisticRegression() if task == "humor" else LinearRegression()
        models.append(m.fit(xs[ok], y[ok].astype(int) if task == "humor" else y[ok]))
    return models


def _apply_fusion(task: str, models: list | None, preds: list[np.ndarray]) -> np.ndarray:
    if models is None:
        return np.mean(preds, 0)
    cols = []
    for k, m in enumerate(models):
        xs = np.stack([p[:, k] for p in preds], 1)
        cols.append(m.predict_proba(xs)[:, 1] if task == "humor" else m.predict(xs))
    return np.stack(cols, 1)


def read_fusion_runs(runs: list[str], task: str | None = None) -> tuple[str, list[tuple[str, dict]]]:
    """Check a late-fusion call's runs and read their prediction files: ``(task, [(task, frames), ...])``.

    Called before the fused run dir is made, so a refused call leaves nothing behind. The run count and
    the fusion name are the options' rules (:class:`toolkit.muse.options.MuseOptions`).
    """
    loaded = [_read_run(r, task) for r in runs]
    task = loaded[0][0]
    if any(t != task for t, _ in loaded):
        raise LtError("--late-fusion: the runs are of different tasks")
    return task, loaded


def late_fusion(runs: list[str], loaded: list[tuple[str, dict]], fusion: str, task: str, out_dir: Path | None,
                write: bool = True) -> tuple[Report, dict]:
    """Fuse the devel/test predictions of trained runs (same task, same rows, read by
    :func:`read_fusion_runs`); write the fused test files into ``out_dir`` (when ``write``: rank 0).

    Returns the report and the figures for ``metrics.json``.
    """
    rows, notes, summary = [{"run": r} for r in runs] + [{"run": f"fused ({fusion})"}], [], {}
    for dev_name, test_name in zip(_files(task, "devel"), _files(task, "test"), strict=True):
        key = {"humor": "auc", "reaction": "pearson"}.get(task) or dev_name[len("predictions_devel_"):-len(".csv")]
        dev, test = [f[dev_name] for _, f in loaded], [f[test_name] for _, f in loaded]
        meta = [c for c in test[0].columns if c not in _pred_cols(task)]
        for r, d_df, t_df in zip(runs[1:], dev[1:], test[1:], strict=True):
            if len(d_df) != len(dev[0]) or len(t_df) != len(test[0]) or not t_df[meta].equals(test[0][meta]):
                raise DataError(f"--late-fusion: run '{r}' predicts other rows than '{runs[0]}' "
                                f"({dev_name}/{test_name}); fuse runs trained on the same data")
        dp = [df[_pred_cols(task)].to_numpy(float) for df in dev]
        models = _fit_fusion(task, dp, dev[0]) if fusion == "learned" else None
        for row, p in zip(rows, dp + [_apply_fusion(task, models, dp)], strict=True):
            row[f"devel_{key}"] = _score(task, dev[0], p)
        fused = test[0].copy()
        fused[_pred_cols(task)] = _apply_fusion(task, models, [df[_pred_cols(task)].to_numpy(float) for df in test])
        if write and out_dir is not None:
            with atomic_path(out_dir / test_name) as tmp:
                fused.to_csv(tmp, index=False)
        summary[f"fused_devel_{key}"] = rows[-1][f"devel_{key}"]
    if task == "stress":
        for row in rows:
            row["devel_ccc"] = float(np.mean([row[f"devel_{d}"] for d in STRESS_DIMS]))
        summary["fused_devel_ccc"] = rows[-1]["devel_ccc"]
    if fusion == "learned":
        notes.append("learned fusion is fitted on devel: its devel score is in-sample (optimistic)")
    notes.append(f"protocol: {PROTOCOLS[task]}")
    summary = {"task": task, "fusion": fusion, **summary}
    report = Report(f"MuSe {task} late fusion", rows, {**summary, "out": str(out_dir)}, notes=notes)
    return report, {**summary, "runs": rows, "protocol": PROTOCOLS[task]}
