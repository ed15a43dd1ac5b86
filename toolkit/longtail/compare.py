"""Compare finished runs: group them by method, pair them by seed, and report mean ± std per method and the
paired difference to a baseline (``lt train compare``).

Each RUN is a run dir that a trainer wrote (``config.json`` in the one schema of
:mod:`toolkit.engine.lifecycle`, and ``metrics.json``), or a folder holding such run dirs (up to two levels
down: a sweep's ``runs/``, a trainer's seed sub-dirs). Nothing is trained and no run dir is written.

- **Method** of a run: its command path and its loss or method (``ce/balanced-softmax``, ``lcreg``,
  ``decouple/crt``). Runs of one such label whose other options differ (``--latent-k 0`` vs 16, another
  ``--epochs``) are different methods, labelled with the options where they differ from what most runs of
  that label use (``lcreg`` and ``lcreg --latent-k 0``). Not part of the method: the seed, where the run
  was written, run control (device, workers, ...), ``--deterministic``, the data (checked to be the same)
  and paths; an option naming another run (the run a ``decouple`` stage started from) counts as that run's
  method.
- **Pairing**: by the recorded ``seed``. Per method and metric: mean ± sample std over its runs (n);
  Δ_s = method − baseline on every seed s both ran, its mean, sample std, the 95 % t-interval half-width
  (``scipy.stats.t``, n − 1 degrees of freedom) and W/T/L (seeds better / equal / worse than the
  baseline: higher accuracy, lower ECE). Statistics: :mod:`toolkit.engine.stats`.
- **Metrics** (in %, Δ in percentage points): ``top1``, ``many``, ``medium``, ``few`` and every
  ``ece``/``ece_*`` that all runs record (``--metrics`` to choose), read from ``metrics.json``.
- Refused (one ``Error:`` line): runs of different datasets or imbalance; a method with no seed in common
  with the baseline; two runs of one method with the same seed; a folder that holds no finished run;
  a ``--baseline`` that names none of the methods.

    lt train compare runs/*/ --baseline ce/balanced-softmax --format csv > table.csv
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine.errors import LtError
from ..engine.options import flag
from ..engine.report import Report
from ..engine.runs import read_json
from ..engine.stats import mean_std, paired_delta
from .options import COMPARE_METRICS, CompareOptions

# Options that are not part of what a run's method is (with every run-control option, see _ignored).
NOT_METHOD = ("seed", "out", "deterministic", "dataset", "data_root", "download", "imbalance")
METHOD_KEYS = ("loss", "method")  # the option that names the method within a command, where it has one
PERCENT = (*COMPARE_METRICS, "top5")
LOWER_IS_BETTER = ("ece", "mce", "nll", "brier", "error")
_SHOT_ORDER = ("", "_many", "_medium", "_few")
_NESTED_DEPTH = 2


@dataclass
class RunInfo:
    """What one finished run recorded: its command, options, data, seed and metrics (in %)."""

    path: Path
    command: tuple[str, ...]
    resolved: dict[str, Any]
    data: tuple[str | None, float | None]
    seed: int
    metrics: dict[str, float]
    method: str = ""  # the label, set by label_methods


def compare_runs(opts: CompareOptions | None = None, **values: Any) -> Report:
    """Group the runs by method, pair them by seed, compare every method to the baseline:
    ``lt train compare RUN... [--baseline METHOD_OR_RUN] [--metrics top1,few]``.

    Args (:class:`~toolkit.longtail.options.CompareOptions`):
        runs: run dirs, or folders holding run dirs.
        baseline: a method label (or its last part) or one of the run dirs; default: the first run's method.
        metrics: the metrics to compare; default: top1, many, medium, few and every ece* all runs record.

    Returns a report with one row per (method, metric): n, mean, std, and for methods other than the
    baseline pairs, delta, delta_std, ci95, wins, ties, losses.
    """
    opts = CompareOptions.of(opts, **values).validate()
    runs = [read_run(p) for p in find_runs(opts.runs)]
    check_same_data(runs)
    label_methods(runs)
    groups = group_by_method(runs)
    base = pick_baseline(opts.baseline, groups, runs)
    metrics, dropped = choose_metrics(runs, opts.metrics)
    notes = check_pairs(groups, base)
    rows = []
    for method in [base] + [m for m in groups if m != base]:
        rows += method_rows(method, groups[method], groups[base] if method != base else None, metrics)
    dataset, imbalance = runs[0].data
    if dropped:
        notes.append(f"not compared ({', '.join(dropped)}): not recorded by every run")
    notes += ["mean ± sample std over a method's runs, in %; delta = method − baseline on each seed both ran "
              "(percentage points): its mean, sample std, ci95 = half-width of the 95 % t-interval (n − 1 dof)",
              "wins/ties/losses: seeds where the method is better / equal / worse than the baseline "
              "(higher accuracy; lower ECE)"]
    summary = {"dataset": dataset, "imbalance": imbalance, "baseline": base, "methods": len(groups),
               "runs": len(runs)}
    return Report(f"{len(groups)} methods on {dataset} paired by seed against {base}", rows, summary, notes=notes)


# -- finding and reading runs ---------------------------------------------------------------------
def find_runs(specs: tuple[str, ...] | list[str]) -> list[Path]:
    """The run dirs named by ``specs``: each a run dir, or a folder with run dirs up to two levels down;
    duplicates (a dir given twice, or also inside a given folder) are kept once, in first-seen order."""
    found: dict[Path, Path] = {}
    for spec in specs:
        path = Path(spec)
        if not path.exists():
            raise LtError(f"run '{spec}' does not exist")
        if path.is_file() and path.name in ("config.json", "metrics.json"):
            path = path.parent
        if not path.is_dir():
            raise LtError(f"'{spec}' is not a run dir (a folder with config.json and metrics.json)")
        dirs = [path] if (path / "config.json").is_file() else _nested_runs(path)
        if not dirs:
            raise LtError(f"'{spec}' holds no run: no config.json in it or in its sub-folders")
        for d in dirs:
            found.setdefault(d.resolve(), d)
    return list(found.values())


def _nested_runs(folder: Path) -> list[Path]:
    """Run dirs (folders with config.json) under ``folder``, up to two levels down, sorted; not below a run."""
    runs, level = [], [folder]
    for _ in range(_NESTED_DEPTH):
        below = []
        for d in level:
            for sub in sorted(p for p in d.iterdir() if p.is_dir()):
                (runs if (sub / "config.json").is_file() else below).append(sub)
        level = below
    return runs


def read_run(path: Path) -> RunInfo:
    """One run's command, options, data, seed and metrics (accuracies and ECE in %)."""
    if not (path / "metrics.json").is_file():
        raise LtError(f"'{path}' has no metrics.json: not a finished run (it stopped early, or its command "
                      f"writes no metrics)")
    config, raw = read_json(path / "config.json"), read_json(path / "metrics.json")
    resolved = config.get("resolved") if isinstance(config, dict) else None
    if not isinstance(resolved, dict) or not config.get("command"):
        raise LtError(f"'{path / 'config.json'}' is not a run config (no command and resolved options)")
    seed = resolved.get("seed")
    if not isinstance(seed, int):
        raise LtError(f"'{path}' records no seed in its config.json: it cannot be paired")
    return RunInfo(path, tuple(config["command"]), resolved, _data_of(path, config), seed, metric_values(raw))


def metric_values(raw: Any) -> dict[str, float]:
    """The numeric top-level entries of a ``metrics.json`` (or of its ``test`` entry); accuracies and
    calibration errors (:func:`is_percent`) in % (× 100), the others as recorded."""
    source = raw.get("test") if isinstance(raw, dict) and "top1" not in raw else raw
    if not isinstance(source, dict):
        return {}
    return {k: (100.0 if is_percent(k) else 1.0) * float(v) for k, v in source.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def is_percent(metric: str) -> bool:
    """A fraction that the table shows in %: top-1/top-5, a shot group's accuracy, an ECE."""
    return metric in PERCENT or metric.startswith(("ece", "mce"))


def _data_of(path: Path, config: dict) -> tuple[str | None, float | None]:
    """(dataset, imbalance) of a run: its own options, the imbalance the dataset reported, else its source's."""
    resolved, info = config["resolved"], config.get("info") or {}
    dataset, imbalance = resolved.get("dataset"), resolved.get("imbalance")
    if dataset in (None, "noise"):
        from ..engine.runs import recorded_data

        recorded = recorded_data(path)[0]
        dataset, imbalance = recorded.get("dataset", dataset), recorded.get("imbalance", imbalance)
    reported = (info.get("dataset_info") or {}).get("imbalance") if isinstance(info, dict) else None
    if isinstance(reported, (int, float)):
        imbalance = reported
    return dataset, (float(imbalance) if isinstance(imbalance, (int, float)) else None)


def check_same_data(runs: list[RunInfo]) -> None:
    """One dataset and imbalance for all runs, else an LtError naming the runs of each."""
    by_data: dict[tuple, list[Path]] = defaultdict(list)
    for r in runs:
        by_data[r.data].append(r.path)
    if len(by_data) > 1:
        parts = []
        for (dataset, imbalance), paths in by_data.items():
            shown = ", ".join(str(p) for p in paths[:4]) + (f" and {len(paths) - 4} more" if len(paths) > 4 else "")
            parts.append(f"{dataset} imbalance {_num(imbalance)} ({shown})")
        raise LtError(f"runs of different data cannot be paired: {'; '.join(parts)}")


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:g}"


# -- methods --------------------------------------------------------------------------------------
def base_label(command: tuple[str, ...] | list[str], resolved: dict[str, Any]) -> str:
    """``train ce`` with ``--loss balanced-softmax`` -> ``ce/balanced-softmax``; ``train lcreg`` -> ``lcreg``."""
    parts = list(command[1:] if command and command[0] == "train" and len(command) > 1 else command)
    kind = next((resolved[k] for k in METHOD_KEYS if isinstance(resolved.get(k), str)), None)
    return "/".join(parts + ([kind] if kind else []))


def label_methods(runs: list[RunInfo]) -> None:
    """Set each run's method: its :func:`base_label`, plus each option where its value differs from the one most
    runs of that label have (ties: the first run's). Runs get one label exactly when their method options agree."""
    ignored = _ignored()
    by_base: dict[str, list[RunInfo]] = defaultdict(list)
    for r in runs:
        by_base[base_label(r.command, r.resolved)].append(r)
    for base, group in by_base.items():
        keys = [k for k in group[0].resolved if k not in ignored and all(k in r.resolved for r in group)]
        values = [{k: json.dumps(_method_value(r.resolved[k]), sort_keys=True) for k in keys} for r in group]
        usual = {k: Counter(v[k] for v in values).most_common(1)[0][0] for k in keys}
        for r, v in zip(group, values, strict=True):
            r.method = " ".join([base] + [f"{flag(k)} {_show(json.loads(v[k]))}" for k in keys if v[k] != usual[k]])


def _ignored() -> frozenset[str]:
    from ..engine.lifecycle import run_control

    return run_control() | frozenset(NOT_METHOD)


def _method_value(value: Any) -> Any:
    """An option's value as part of a method: a path naming a run -> that run's method (``<ce/ce>``); any
    other path -> None (where a run was read from is not its method); else the value."""
    if not isinstance(value, str) or not value:
        return value
    path = Path(value)
    run_dir = path if path.is_dir() else path.parent if path.is_file() else None
    if run_dir is not None and (run_dir / "config.json").is_file():
        try:
            config = read_json(run_dir / "config.json")
            return f"<{base_label(config['command'], config['resolved'])}>"
        except (LtError, KeyError, TypeError):
            return None
    if os.sep in value or path.exists() or value.endswith((".pt", ".pth")):
        return None
    return value


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(map(str, value)) or "none"
    return "none" if value is None else str(value)


def group_by_method(runs: list[RunInfo]) -> dict[str, dict[int, RunInfo]]:
    """method -> {seed: run}, methods in first-seen order; two runs of one method with one seed: LtError."""
    groups: dict[str, dict[int, RunInfo]] = {}
    for r in runs:
        seeds = groups.setdefault(r.method, {})
        if r.seed in seeds:
            raise LtError(f"two runs of method {r.method} have seed {r.seed}: {seeds[r.seed].path} and {r.path} "
                          f"(pairing is by seed: leave one out, or give each run its own --seed)")
        seeds[r.seed] = r
    return groups


def pick_baseline(spec: str | None, groups: dict[str, dict[int, RunInfo]], runs: list[RunInfo]) -> str:
    """The baseline method: ``spec`` as a method label, the last part of one, or one of the run dirs."""
    if spec is None:
        return runs[0].method
    if spec in groups:
        return spec
    if Path(spec).exists():
        match = [r.method for r in runs if r.path.resolve() == Path(spec).resolve()]
        if match:
            return match[0]
    short = [m for m in groups if spec in (m.split(" ")[0], m.split(" ")[0].split("/")[-1])]
    if len(short) == 1:
        return short[0]
    if len(short) > 1:
        raise LtError(f"--baseline '{spec}' matches several methods: {', '.join(short)}; give one of them in full")
    raise LtError(f"--baseline '{spec}' names none of the runs' methods: {', '.join(groups)}")


def check_pairs(groups: dict[str, dict[int, RunInfo]], base: str) -> list[str]:
    """LtError naming every method with no seed in common with the baseline; notes on unpaired seeds."""
    base_seeds = set(groups[base])
    alone = {m: sorted(s) for m, s in groups.items() if m != base and not base_seeds & set(s)}
    if alone:
        named = "; ".join(f"{m} (seeds {_seeds(s)})" for m, s in alone.items())
        raise LtError(f"no seed in common with the baseline {base} (seeds {_seeds(base_seeds)}): {named}")
    notes = []
    for m, s in groups.items():
        extra, missing = sorted(set(s) - base_seeds), sorted(base_seeds - set(s))
        if m != base and (extra or missing):
            notes.append(f"{m}: paired on {len(base_seeds & set(s))} seeds"
                         + (f"; seeds {_seeds(extra)} not run by the baseline" if extra else "")
                         + (f"; baseline seeds {_seeds(missing)} not run" if missing else ""))
    return notes


def _seeds(seeds) -> str:
    return ",".join(str(s) for s in sorted(seeds))


# -- metrics and rows -----------------------------------------------------------------------------
def choose_metrics(runs: list[RunInfo], asked: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(metrics to compare, metrics left out because some run lacks them). Asked ones must be in every run."""
    if asked:
        for name in asked:
            lacking = [str(r.path) for r in runs if name not in r.metrics]
            if lacking:
                raise LtError(f"--metrics {name}: not in the metrics.json of {', '.join(lacking[:4])}"
                              + (f" and {len(lacking) - 4} more" if len(lacking) > 4 else ""))
        return list(asked), []
    wanted = list(COMPARE_METRICS) + sorted({k for r in runs for k in r.metrics if k.startswith("ece")}, key=_ece_order)
    have = [m for m in wanted if all(m in r.metrics for r in runs)]
    if "top1" not in have:
        lacking = [str(r.path) for r in runs if "top1" not in r.metrics]
        raise LtError(f"no top1 in the metrics.json of {', '.join(lacking[:4])}: not a classifier's run "
                      f"(or pass --metrics)")
    return have, [m for m in wanted if m not in have]


def _ece_order(name: str) -> tuple[int, str]:
    rest = name[3:]
    return (_SHOT_ORDER.index(rest), name) if rest in _SHOT_ORDER else (len(_SHOT_ORDER), name)


def lower_is_better(metric: str) -> bool:
    return metric.startswith(LOWER_IS_BETTER)


def method_rows(method: str, runs: dict[int, RunInfo], base: dict[int, RunInfo] | None,
                metrics: list[str]) -> list[dict[str, Any]]:
    """One row per metric: n, mean, std; with a baseline, the paired Δ on the shared seeds."""
    rows = []
    seeds = sorted(runs)
    shared = sorted(set(seeds) & set(base)) if base is not None else []
    for metric in metrics:
        mean, std = mean_std([runs[s].metrics[metric] for s in seeds])
        row: dict[str, Any] = {"method": method, "metric": metric, "n": len(seeds), "mean": mean, "std": std,
                               "pairs": None, "delta": None, "delta_std": None, "ci95": None, "wins": None,
                               "ties": None, "losses": None}
        if base is not None:
            d = paired_delta([runs[s].metrics[metric] for s in shared], [base[s].metrics[metric] for s in shared],
                             better="lower" if lower_is_better(metric) else "higher")
            row.update(pairs=d.n, delta=d.mean, delta_std=d.std, ci95=d.half_width, wins=d.wins, ties=d.ties,
                       losses=d.losses)
        rows.append(row)
    return rows


__all__ = ["RunInfo", "base_label", "check_same_data", "compare_runs", "find_runs", "label_methods",
           "metric_values", "read_run"]
