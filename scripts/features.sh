#!/usr/bin/env bash
# Autoencoder features for downstream models: installs scikit-learn and XGBoost from Debian (not needed by
# the engine or its tests), runs graphs/pipelines/features.pipeline (trains the 784-32-784 autoencoder,
# exports codes and raw pixels), then fits logistic regression and XGBoost on each and prints test accuracy.
#   scripts/features.sh [extra `hourglass run` flags, e.g. --limit 5000]
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
missing=()
for p in python3-sklearn python3-xgboost; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  if [[ $(id -u) != 0 ]]; then sudo=sudo; fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
[[ -x build/bin/hourglass ]] || scripts/build.sh
scripts/fetch-data.sh
build/bin/hourglass run graphs/pipelines/features.pipeline "$@"
/usr/bin/python3 scripts/downstream.py out/features --json out/features/downstream.json
