#!/usr/bin/env bash
# The breast-cancer anomaly example of docs/real-data.md, end to end: data, training on benign rows, per-sample
# reconstruction errors of the held-out rows, and the ROC AUC next to PCA and IsolationForest baselines.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
hourglass=${HOURGLASS:-build/bin/hourglass}
graph=graphs/real/breast_cancer_ae.graph
out=out/real
scripts/sklearn-data.sh
"$hourglass" train "$graph" --threads 1 --out "$out/breast_cancer_ae.safetensors" "$@"
"$hourglass" eval "$graph" --ckpt "$out/breast_cancer_ae.safetensors" --per-sample "$out/breast_cancer_scores.csv"
"$hourglass" encode "$graph" --ckpt "$out/breast_cancer_ae.safetensors" --node x --data train --out "$out/bc_train.csv"
"$hourglass" encode "$graph" --ckpt "$out/breast_cancer_ae.safetensors" --node x --data test --out "$out/bc_test.csv"
/usr/bin/python3 scripts/anomaly_baselines.py "$out/bc_train.csv" "$out/bc_test.csv" "$out/breast_cancer_scores.csv"
