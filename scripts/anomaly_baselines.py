#!/usr/bin/python3
"""ROC AUC of malignant-vs-benign for the breast-cancer anomaly example (docs/real-data.md).

Reads what hourglass wrote: the standardized benign training rows and the held-out rows (`encode --node x`,
so the baselines see exactly the autoencoder's inputs, split and statistics) and the autoencoder's
per-sample reconstruction losses (`eval --per-sample`). Fits a PCA reconstruction baseline (as many
components as the autoencoder's code) and scikit-learn's IsolationForest on the same training rows, and
prints the three AUCs. Malignant (label 0) is the positive, anomalous class; higher scores mean anomalous.
"""
import argparse

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score


def read_encoded(path):
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    return table[:, 1:], table[:, 0].astype(int)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("train_csv")
    parser.add_argument("test_csv")
    parser.add_argument("scores_csv")
    parser.add_argument("--components", type=int, default=4)
    args = parser.parse_args()
    train, _ = read_encoded(args.train_csv)
    test, labels = read_encoded(args.test_csv)
    scores = np.loadtxt(args.scores_csv, delimiter=",", skiprows=1)
    assert (scores[:, 1].astype(int) == labels).all(), "per-sample file and test rows disagree"
    malignant = labels == 0

    pca = PCA(n_components=args.components).fit(train)
    pca_error = ((test - pca.inverse_transform(pca.transform(test))) ** 2).mean(axis=1)
    forest = IsolationForest(n_estimators=200, random_state=0).fit(train)

    print(f"test rows: {len(labels)} ({malignant.sum()} malignant), training rows (benign): {len(train)}")
    print(f"autoencoder reconstruction error  ROC AUC {roc_auc_score(malignant, scores[:, 2]):.4f}")
    print(f"PCA ({args.components} components) reconstruction error  ROC AUC {roc_auc_score(malignant, pca_error):.4f}")
    print(f"IsolationForest (200 trees)  ROC AUC {roc_auc_score(malignant, -forest.score_samples(test)):.4f}")


if __name__ == "__main__":
    main()
