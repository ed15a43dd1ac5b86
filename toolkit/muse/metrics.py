"""The MuSe 2022 challenge metrics, computed as the challenge protocol and its scoring script do.

Paper: Christ et al., "The MuSe 2022 Multimodal Sentiment Analysis Challenge: Humor, Emotional
Reactions, and Stress", ACM MM workshop 2022, arXiv 2207.05691; scoring script: EIHW/MuSe2022
``eval.py``. This is the one metrics module of the MuSe family (export and late fusion use it too).

- humor: ROC-AUC over all test segments pooled (one AUC, not a mean of per-coach AUCs),
  ``sklearn.metrics.roc_auc_score``;
- reaction: the mean of the 7 per-emotion Pearson correlations, ``scipy.stats.pearsonr`` (never one
  Pearson over the 7 columns pooled: base levels differ per emotion, so pooling measures them);
- stress: CCC over all test videos concatenated, per dimension, and combined = mean of the
  arousal and valence CCC. **The reported CCC is the challenge script's**: means by ``np.mean``,
  variances and covariance by ``np.cov`` (``ddof=1``). The population-moment CCC (``ddof=0``, the
  textbook form and the one the training loss uses) is reported beside it as ``ccc_pop``; the two
  are equal when the means agree and differ through the (μp − μt)² term otherwise, by O(1/n).

All functions take array-likes and return Python floats (NaN when undefined).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

PROTOCOLS = {
    "humor": "ROC-AUC over all segments pooled",
    "reaction": "mean of the 7 per-emotion Pearson r",
    "stress": "CCC over all videos concatenated (np.cov, ddof 1, as the challenge script; ccc_pop: population "
              "moments); combined = mean(arousal, valence)",
}


def _vec(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).reshape(-1)


def roc_auc(scores, labels) -> float:
    """``sklearn.metrics.roc_auc_score`` of the pooled scores; NaN with one class only."""
    from sklearn.metrics import roc_auc_score

    s, y = _vec(scores), _vec(labels) > 0.5
    if y.all() or not y.any():
        return float("nan")
    return float(roc_auc_score(y, s))


def pearson(pred, target) -> float:
    """``scipy.stats.pearsonr`` r; NaN when either side is constant (or has fewer than 2 values)."""
    from scipy.stats import pearsonr

    p, t = _vec(pred), _vec(target)
    if p.size < 2 or np.ptp(p) == 0 or np.ptp(t) == 0:
        return float("nan")
    return float(pearsonr(p, t)[0])


def mean_pearson(pred, target) -> tuple[float, list[float]]:
    """Mean over columns of the per-column Pearson r, and the per-column values. (N, K) inputs."""
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.ndim == 1:
        p, t = p[:, None], t[:, None]
    per = [pearson(p[:, k], t[:, k]) for k in range(p.shape[1])]
    return float(np.mean(per)), per


def ccc(pred, target, ddof: int = 1) -> float:
    """Concordance correlation 2·cov/(σp² + σt² + (μp − μt)²).

    ``ddof=1`` (default): the challenge script's (``np.cov``); ``ddof=0``: population moments.
    NaN for fewer than ``ddof + 1`` points or a zero denominator.
    """
    p, t = _vec(pred), _vec(target)
    if p.size <= ddof:
        return float("nan")
    cov = np.cov(p, t, ddof=ddof)
    denom = cov[0, 0] + cov[1, 1] + (p.mean() - t.mean()) ** 2
    return float(2.0 * cov[0, 1] / denom) if denom > 0 else float("nan")


def humor_metrics(scores, labels) -> dict:
    return {"auc": roc_auc(scores, labels), "n": int(_vec(labels).size)}


def reaction_metrics(pred, target, names: Sequence[str]) -> dict:
    mean, per = mean_pearson(pred, target)
    out = {"pearson": mean, "n": int(np.asarray(target).shape[0])}
    out.update({f"r_{n.lower()}": r for n, r in zip(names, per)})
    return out


def stress_metrics(pred, target, dims: Sequence[str]) -> dict:
    """``pred``/``target``: (N, len(dims)) rows of all videos concatenated (NaN targets dropped).

    ``ccc_<dim>`` and ``ccc`` (their mean) are the challenge script's (ddof 1); ``ccc_pop_<dim>`` and
    ``ccc_pop`` the population-moment values."""
    p = np.asarray(pred, dtype=np.float64).reshape(-1, len(dims))
    t = np.asarray(target, dtype=np.float64).reshape(-1, len(dims))
    out: dict = {}
    for k, d in enumerate(dims):
        ok = np.isfinite(t[:, k])
        out[f"ccc_{d}"] = ccc(p[ok, k], t[ok, k])
        out[f"ccc_pop_{d}"] = ccc(p[ok, k], t[ok, k], ddof=0)
    out["ccc"] = float(np.mean([out[f"ccc_{d}"] for d in dims]))
    out["ccc_pop"] = float(np.mean([out[f"ccc_pop_{d}"] for d in dims]))
    out["n"] = int(p.shape[0])
    return out
