"""The MuSe 2022 challenge metrics, computed as the challenge protocol and its scoring script do.

Paper: Christ et al., "The MuSe 2022 Multimodal Sentiment Analysis Challenge: Humor, Emotional
Reactions, and Stress", ACM MM workshop 2022, arXiv 2207.05691; scoring script: EIHW/MuSe2022
``eval.py``. The metrics are :mod:`toolkit.engine.metrics`'s (the one metrics module); this module
states the challenge protocol per task and composes them (export and late fusion use it too).

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

from ..engine.metrics import ccc, mean_pearson, roc_auc

PROTOCOLS = {
    "humor": "ROC-AUC over all segments pooled",
    "reaction": "mean of the 7 per-emotion Pearson r",
    "stress": "CCC over all videos concatenated (np.cov, ddof 1, as the challenge script; ccc_pop: population "
              "moments); combined = mean(arousal, valence)",
}


def humor_metrics(scores, labels) -> dict:
    return {"auc": roc_auc(scores, labels), "n": int(np.asarray(labels).size)}


def reaction_metrics(pred, target, names: Sequence[str]) -> dict:
    mean, per = mean_pearson(pred, target)
    out = {"pearson": mean, "n": int(np.asarray(target).shape[0])}
    out.update({f"r_{n.lower()}": r for n, r in zip(names, per, strict=True)})
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
