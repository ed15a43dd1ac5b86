"""The MuSe 2022 challenge metrics, computed exactly as the challenge protocol states.

Paper: Christ et al., "The MuSe 2022 Multimodal Sentiment Analysis Challenge: Humor, Emotional
Reactions, and Stress", ACM MM workshop 2022, arXiv 2207.05691.

- humor: ROC-AUC over all test segments pooled (one AUC, not a mean of per-coach AUCs);
- reaction: the mean of the 7 per-emotion Pearson correlations (never one Pearson over the 7
  columns pooled: base levels differ per emotion, so pooling measures them, not the model);
- stress: CCC over all test videos concatenated, per dimension, and combined = mean of the
  arousal and valence CCC. CCC uses population moments (``ddof=0``).

All functions take array-likes and return Python floats (NaN when undefined).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

PROTOCOLS = {
    "humor": "ROC-AUC over all segments pooled",
    "reaction": "mean of the 7 per-emotion Pearson r",
    "stress": "CCC over all videos concatenated (population moments); combined = mean(arousal, valence)",
}


def _vec(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).reshape(-1)


def roc_auc(scores, labels) -> float:
    """ROC-AUC as the normalised Mann-Whitney U (tied scores count one half); NaN with one class."""
    from scipy.stats import rankdata

    s, y = _vec(scores), _vec(labels)
    pos = y > 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)  # average ranks for ties
    u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def pearson(pred, target) -> float:
    """Pearson r (float64, centred closed form); NaN when either side is constant."""
    p, t = _vec(pred), _vec(target)
    p, t = p - p.mean(), t - t.mean()
    denom = np.sqrt((p * p).sum() * (t * t).sum())
    return float((p * t).sum() / denom) if denom > 0 else float("nan")


def mean_pearson(pred, target) -> tuple[float, list[float]]:
    """Mean over columns of the per-column Pearson r, and the per-column values. (N, K) inputs."""
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.ndim == 1:
        p, t = p[:, None], t[:, None]
    per = [pearson(p[:, k], t[:, k]) for k in range(p.shape[1])]
    return float(np.mean(per)), per


def ccc(pred, target) -> float:
    """Concordance correlation 2·cov/(σp² + σt² + (μp − μt)²), population moments."""
    p, t = _vec(pred), _vec(target)
    if p.size == 0:
        return float("nan")
    mp, mt = p.mean(), t.mean()
    vp, vt = ((p - mp) ** 2).mean(), ((t - mt) ** 2).mean()
    cov = ((p - mp) * (t - mt)).mean()
    denom = vp + vt + (mp - mt) ** 2
    return float(2.0 * cov / denom) if denom > 0 else float("nan")


def humor_metrics(scores, labels) -> dict:
    return {"auc": roc_auc(scores, labels), "n": int(_vec(labels).size)}


def reaction_metrics(pred, target, names: Sequence[str]) -> dict:
    mean, per = mean_pearson(pred, target)
    out = {"pearson": mean, "n": int(np.asarray(target).shape[0])}
    out.update({f"r_{n.lower()}": r for n, r in zip(names, per)})
    return out


def stress_metrics(pred, target, dims: Sequence[str]) -> dict:
    """``pred``/``target``: (N, len(dims)) rows of all videos concatenated (NaN targets dropped)."""
    p = np.asarray(pred, dtype=np.float64).reshape(-1, len(dims))
    t = np.asarray(target, dtype=np.float64).reshape(-1, len(dims))
    out: dict = {}
    for k, d in enumerate(dims):
        ok = np.isfinite(t[:, k])
        out[f"ccc_{d}"] = ccc(p[ok, k], t[ok, k])
    out["ccc"] = float(np.mean([out[f"ccc_{d}"] for d in dims]))
    out["n"] = int(p.shape[0])
    return out
