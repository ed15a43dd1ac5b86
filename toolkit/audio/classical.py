"""Classical baselines on MFCC statistics: standardise, then an RBF SVM or logistic regression.

``svm``: ``SVC(C=1, kernel="rbf", gamma="scale")``; its probabilities are the softmax of the
one-vs-rest decision values (uncalibrated; scikit-learn 1.9 deprecates ``probability=True``).
``logreg``: ``LogisticRegression(C=1, max_iter=2000)`` (multinomial). ``balanced`` sets
``class_weight="balanced"``. Defaults are scikit-learn's; the method page names the models only.

Saved without pickle: each fitted estimator becomes ``{"class", "params", "state"}`` with its
fitted arrays as tensors and scalars as plain types, so checkpoints load with
``torch.load(weights_only=True)``; only the classes in ``_CLASSES`` can be rebuilt.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..engine.errors import CheckpointError

CLASSICAL = ("svm", "logreg")


def _classes() -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return {"StandardScaler": StandardScaler, "SVC": SVC, "LogisticRegression": LogisticRegression}


class ClassicalModel:
    """A fitted scaler + classifier pair with ``fit``, ``predict_proba`` and weights-only state."""

    def __init__(self, kind: str, seed: int = 0, balanced: bool = False, scaler: Any = None, clf: Any = None):
        cls = _classes()
        self.kind = kind
        self.scaler = scaler or cls["StandardScaler"]()
        weight = "balanced" if balanced else None
        if clf is None:
            clf = (cls["SVC"](C=1.0, kernel="rbf", gamma="scale", class_weight=weight, random_state=seed)
                   if kind == "svm" else cls["LogisticRegression"](C=1.0, max_iter=2000, class_weight=weight))
        self.clf = clf

    def fit(self, x: np.ndarray, y: np.ndarray) -> "ClassicalModel":
        self.clf.fit(self.scaler.fit_transform(x), y)
        return self

    def predict_proba(self, x: np.ndarray, num_classes: int) -> np.ndarray:
        """(N, num_classes) probabilities; classes never seen in training get 0."""
        z = self.scaler.transform(x)
        if self.kind == "svm":
            d = self.clf.decision_function(z)
            d = d[:, None] if d.ndim == 1 else d
            if d.shape[1] == 1:  # two classes: one signed margin
                d = np.hstack([-d, d]) / 2
            p = np.exp(d - d.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
        else:
            p = self.clf.predict_proba(z)
        out = np.zeros((len(x), num_classes))
        out[:, self.clf.classes_] = p
        return out

    def state(self) -> dict:
        return {"kind": self.kind, "scaler": export_estimator(self.scaler), "clf": export_estimator(self.clf)}

    @classmethod
    def from_state(cls, state: dict) -> "ClassicalModel":
        return cls(state["kind"], scaler=import_estimator(state["scaler"]), clf=import_estimator(state["clf"]))


def _encode(v: Any, where: str) -> Any:
    if isinstance(v, np.ndarray):
        if v.dtype == object:
            raise ValueError(f"{where}: object arrays cannot be saved without pickle")
        return torch.from_numpy(np.ascontiguousarray(v).copy())
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return type(v)(_encode(x, where) for x in v)
    if isinstance(v, dict):
        return {k: _encode(x, where) for k, x in v.items()}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise ValueError(f"{where}: {type(v).__name__} cannot be saved without pickle")


def _decode(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        return v.numpy()
    if isinstance(v, (list, tuple)):
        return type(v)(_decode(x) for x in v)
    if isinstance(v, dict):
        return {k: _decode(x) for k, x in v.items()}
    return v


def export_estimator(est: Any) -> dict:
    """A fitted estimator as ``{"class", "params", "state", "sklearn"}`` of tensors and plain types."""
    import sklearn

    name = type(est).__name__
    params = est.get_params(deep=False)
    state = {k: _encode(v, f"{name}.{k}") for k, v in vars(est).items() if k not in params}
    return {"class": name, "params": _encode(params, name), "state": state, "sklearn": sklearn.__version__}


def import_estimator(d: dict) -> Any:
    """Rebuild what :func:`export_estimator` wrote (only the classes this module uses)."""
    import sklearn

    from ..engine.report import warn

    classes = _classes()
    if not isinstance(d, dict) or d.get("class") not in classes:
        raise CheckpointError("unknown classical estimator in checkpoint: "
                              f"{d.get('class') if isinstance(d, dict) else d!r}")
    if d.get("sklearn") != sklearn.__version__:
        warn(f"{d['class']} was fitted with scikit-learn {d.get('sklearn')}, this is {sklearn.__version__}; "
             f"its predictions may differ")
    est = classes[d["class"]](**_decode(d["params"]))
    for k, v in d["state"].items():
        setattr(est, k, _decode(v))
    return est
