#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""scikit-learn's answers for the trainer's tests (tests/unit/train): reads a JSON request of tasks
written by the test, writes a JSON list of results. Debian 12's python3-sklearn (1.2)."""
import json
import sys
import warnings

import copy

import numpy as np
import sklearn
from sklearn.base import clone
from sklearn._loss.loss import HalfBinomialLoss, HalfMultinomialLoss
from sklearn.linear_model._linear_loss import LinearModelLoss
from sklearn.utils.class_weight import compute_class_weight
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, brier_score_loss, confusion_matrix,
                             mean_absolute_error, mean_squared_error, r2_score, roc_auc_score, roc_curve)
from sklearn.calibration import calibration_curve
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold


def finish(m, x, y, C, balanced):
    """The exact minimiser of the objective LogisticRegression minimises (its own LinearModelLoss: sum
    form, l2 strength 1/C, intercept unpenalised), by Newton steps from where its L-BFGS-B stopped.
    LogisticRegression leaves SciPy's ftol at 2.2e-9 (relative change of f), which ends L-BFGS-B well
    before tol=1e-10 on features that are not standardised (its gradient is then 1e-5..1e-3).
    Returns a copy of the model with the exact coefficients, and the largest gradient component
    before and after."""
    classes = np.unique(y)
    k = len(classes)
    index = np.searchsorted(classes, y)
    sw = compute_class_weight("balanced", classes=classes, y=y)[index] if balanced else np.ones(len(y))
    if k == 2:
        loss = LinearModelLoss(base_loss=HalfBinomialLoss(), fit_intercept=True)
        w = np.r_[m.coef_.ravel(), m.intercept_]
    else:
        loss = LinearModelLoss(base_loss=HalfMultinomialLoss(n_classes=k), fit_intercept=True)
        w = np.c_[m.coef_, m.intercept_].ravel(order="F")
    args = (x, index.astype(np.float64), sw, 1.0 / C, 1)
    before = np.abs(loss.loss_gradient(w, *args)[1]).max()
    for _ in range(30):
        g, hessp = loss.gradient_hessian_product(w, *args)
        if np.abs(g).max() < 1e-12:
            break
        h = np.column_stack([hessp(e) for e in np.eye(len(w))])
        # Least squares: the multinomial Hessian is singular along a common shift of the intercepts.
        w = w - np.linalg.lstsq(h, g, rcond=None)[0]
    after = np.abs(loss.loss_gradient(w, *args)[1]).max()
    f = copy.deepcopy(m)
    if k == 2:
        f.coef_, f.intercept_ = w[:-1].reshape(1, -1), w[-1:]
    else:
        w = w.reshape((k, -1), order="F")
        f.coef_, f.intercept_ = w[:, :-1], w[:, -1]
    return f, float(before), float(after)


def logistic(t):
    x, y = np.array(t["x"], dtype=np.float64), np.array(t["y"])
    m = LogisticRegression(penalty="l2", solver="lbfgs", C=t["C"], tol=1e-10, max_iter=100000,
                           class_weight="balanced" if t["balanced"] else None)
    m.fit(x, y)
    finished, before, after = finish(m, x, y, t["C"], t["balanced"])
    x_eval = np.array(t["x_eval"], dtype=np.float64)
    proba, exact = m.predict_proba(x_eval), finished.predict_proba(x_eval)
    return {"proba": proba.tolist(), "n_iter": int(m.n_iter_.max()), "proba_finished": exact.tolist(),
            "sklearn_error": float(np.abs(proba - exact).max()),
            "gradient_sklearn": before, "gradient_finished": after}


def ridge(t):
    x, y = np.array(t["x"], dtype=np.float64), np.array(t["y"], dtype=np.float64)
    m = Ridge(alpha=t["alpha"]).fit(x, y)
    return {"coef": m.coef_.tolist(), "intercept": float(m.intercept_),
            "predicted": m.predict(np.array(t["x_eval"], dtype=np.float64)).tolist()}


def gridsearch(t):
    x, y = np.array(t["x"], dtype=np.float64), np.array(t["y"])
    groups = t.get("groups")
    cv = StratifiedGroupKFold(n_splits=t["folds"]) if groups else StratifiedKFold(n_splits=t["folds"])
    folds = np.full(len(y), -1)
    for f, (_, test) in enumerate(cv.split(x, y, groups)):
        folds[test] = f
    est = LogisticRegression(penalty="l2", solver="lbfgs", tol=1e-10, max_iter=100000,
                             class_weight="balanced" if t["balanced"] else None)
    search = GridSearchCV(est, {"C": t["grid"]}, cv=cv, refit=True).fit(x, y, groups=groups)
    finished, _, _ = finish(search.best_estimator_, x, y, t["grid"][search.best_index_], t["balanced"])
    # The same cross-validation with each fold's fit finished to the exact minimiser: where a C leaves
    # the logits of held-out cases near 0 (strong regularisation, balanced weights), which side of 0
    # they fall on depends on where L-BFGS-B stopped, and so can GridSearchCV's accuracy.
    exact = np.zeros((len(t["grid"]), t["folds"]))
    for f, (train, test) in enumerate(cv.split(x, y, groups)):
        for g, c in enumerate(t["grid"]):
            m = clone(est).set_params(C=c).fit(x[train], y[train])
            m, _, _ = finish(m, x[train], y[train], c, t["balanced"])
            exact[g, f] = accuracy_score(y[test], m.predict(x[test]))
    return {"folds": folds.tolist(), "best_index": int(search.best_index_),
            "mean_scores": search.cv_results_["mean_test_score"].tolist(),
            "mean_scores_exact": exact.mean(axis=1).tolist(),
            "proba": search.best_estimator_.predict_proba(x).tolist(),
            "proba_finished": finished.predict_proba(x).tolist()}


def ridgecv(t):
    """GridSearchCV(Ridge(), {"alpha": grid}, cv=KFold(k) or GroupKFold(k)), default scoring (R²)."""
    x, y = np.array(t["x"], dtype=np.float64), np.array(t["y"], dtype=np.float64)
    groups = t.get("groups")
    cv = GroupKFold(n_splits=t["folds"]) if groups else KFold(n_splits=t["folds"])
    folds = np.full(len(y), -1)
    for f, (_, test) in enumerate(cv.split(x, y, groups)):
        folds[test] = f
    search = GridSearchCV(Ridge(), {"alpha": t["grid"]}, cv=cv, refit=True).fit(x, y, groups=groups)
    r = search.cv_results_
    fold_scores = [[float(r["split%d_test_score" % f][g]) for f in range(t["folds"])] for g in range(len(t["grid"]))]
    m = search.best_estimator_
    return {"folds": folds.tolist(), "best_index": int(search.best_index_), "fold_scores": fold_scores,
            "mean_scores": r["mean_test_score"].tolist(), "coef": m.coef_.tolist(), "intercept": float(m.intercept_)}


def groupkfold(t):
    """GroupKFold's fold of each case for many group layouts (ties between equal-sized groups follow
    numpy's unstable argsort)."""
    out = []
    for layout in t["layouts"]:
        groups = np.array(layout["groups"])
        folds = np.full(len(groups), -1)
        for f, (_, test) in enumerate(GroupKFold(n_splits=layout["folds"]).split(groups, groups=groups)):
            folds[test] = f
        out.append(folds.tolist())
    return {"folds": out}


def metrics(t):
    y, s = np.array(t["y"]), np.array(t["scores"], dtype=np.float64)
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    best = int(np.argmax(tpr - fpr))
    prob_true, prob_pred = calibration_curve(y, t["probability"], n_bins=10, strategy="uniform")
    bins = np.linspace(0.0, 1.0, 11)
    counts = np.bincount(np.searchsorted(bins[1:-1], t["probability"]), minlength=10)
    return {"auc": roc_auc_score(y, s), "youden_threshold": float(thr[best]),
            "roc_fpr": fpr.tolist(), "roc_tpr": tpr.tolist(),
            # JSON has no infinity (scikit-learn >= 1.3 starts with +inf): null then.
            "roc_thresholds": [float(v) if np.isfinite(v) else None for v in thr],
            "brier": brier_score_loss(y, t["probability"]),
            "calibration_true": prob_true.tolist(), "calibration_pred": prob_pred.tolist(),
            "calibration_counts": counts.tolist()}


def multiclass(t):
    y, p = np.array(t["y"]), np.array(t["proba"], dtype=np.float64)
    predicted = np.array(t["predicted"])
    return {"auc_ovr": roc_auc_score(y, p, multi_class="ovr", average="macro"),
            "accuracy": accuracy_score(y, predicted), "balanced_accuracy": balanced_accuracy_score(y, predicted),
            "confusion": confusion_matrix(y, predicted, labels=list(range(p.shape[1]))).tolist()}


def regression(t):
    y, p = np.array(t["y"], dtype=np.float64), np.array(t["predicted"], dtype=np.float64)
    return {"mae": mean_absolute_error(y, p), "rmse": float(np.sqrt(mean_squared_error(y, p))), "r2": r2_score(y, p)}


def main():
    if not sklearn.__version__.startswith("1.2"):
        print("warning: scikit-learn %s, the tests were written against 1.2" % sklearn.__version__, file=sys.stderr)
    with open(sys.argv[1]) as f:
        request = json.load(f)
    handlers = {"logistic": logistic, "ridge": ridge, "gridsearch": gridsearch, "metrics": metrics,
                "multiclass": multiclass, "regression": regression,
                "ridgecv": ridgecv, "groupkfold": groupkfold}
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=sklearn.exceptions.ConvergenceWarning)
        results = [handlers[t["kind"]](t) for t in request["tasks"]]
    with open(sys.argv[2], "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
