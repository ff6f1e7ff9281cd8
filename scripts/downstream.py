#!/usr/bin/python3
"""Downstream models on features that `hourglass encode` exported (graphs/pipelines/features.pipeline).

    scripts/downstream.py FOLDER [--runs codes:logreg,codes:xgboost,raw:logreg] [--json OUT.json]

FOLDER holds train_<set>.npy and test_<set>.npy (float32, one row per image) with their labels beside them
(train_<set>.labels.npy, int64). For each feature set and model this fits on the training rows and prints
the test accuracy, the feature count and the fit time: logistic regression (scikit-learn, lbfgs on
standardized features) and gradient-boosted trees (XGBoost, hist method). XGBoost on the 784 raw pixels
is left out by default: on 2 cores it takes many minutes (add raw:xgboost to --runs). It uses Debian's interpreter and
packages: apt-get install python3-sklearn python3-xgboost (scripts/features.sh does).
"""
import argparse
import json
import os
import sys
import time

# Before any OpenMP runtime loads: XGBoost's and OpenBLAS's threads would otherwise spin between tasks and
# starve anything else on the machine.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
import numpy as np  # noqa: E402


def load(folder, split, name):
    stem = os.path.join(folder, f"{split}_{name}")
    if not os.path.exists(stem + ".npy") or not os.path.exists(stem + ".labels.npy"):
        sys.exit(f"downstream: {stem}.npy or {stem}.labels.npy is missing: run "
                 "`hourglass run graphs/pipelines/features.pipeline` first")
    x, y = np.load(stem + ".npy"), np.load(stem + ".labels.npy")
    if x.ndim != 2 or y.shape != (x.shape[0],):
        sys.exit(f"downstream: {stem}.npy is {x.shape} with {y.shape} labels; expected (N, F) and (N,)")
    return x, y


def logreg(x_train, y_train):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x_train, y_train)


def xgboost(x_train, y_train):
    from xgboost import XGBClassifier
    return XGBClassifier(n_estimators=200, max_depth=6, learning_rate=0.3, tree_method="hist",
                         n_jobs=os.cpu_count(), random_state=0).fit(x_train, y_train)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--runs", default="codes:logreg,codes:xgboost,raw:logreg",
                        help="FEATURES:MODEL pairs; models are logreg and xgboost")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    models = {"logreg": logreg, "xgboost": xgboost}
    results = []
    runs = [run.partition(":")[::2] for run in args.runs.split(",")]
    for (name, model), run in zip(runs, args.runs.split(",")):
        if not name or model not in models:
            sys.exit(f"downstream: '{run}' names no model; write FEATURES:MODEL with a model in {', '.join(models)}")
    for name, model in runs:
        x_train, y_train = load(args.folder, "train", name)
        x_test, y_test = load(args.folder, "test", name)
        if x_train.shape[1] != x_test.shape[1]:
            sys.exit(f"downstream: train_{name} has {x_train.shape[1]} features, test_{name} {x_test.shape[1]}")
        start = time.perf_counter()
        fitted = models[model](x_train, y_train)
        seconds = time.perf_counter() - start
        accuracy = float((fitted.predict(x_test) == y_test).mean())
        row = {"features": name, "dims": int(x_train.shape[1]), "model": model, "train": int(len(y_train)),
               "test": int(len(y_test)), "accuracy": accuracy, "fit_seconds": round(seconds, 1)}
        results.append(row)
        print(f"{name:6s} ({row['dims']:4d} features)  {model:8s}  test accuracy {100 * accuracy:6.2f}%  "
              f"fit {seconds:6.1f} s  ({row['train']} train, {row['test']} test)", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
