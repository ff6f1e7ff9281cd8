#!/usr/bin/env bash
# The features recipe (graphs/pipelines/features.pipeline, then scripts/downstream.py) on a 2000-image slice:
# the exported codes and pixels load in numpy with their labels, and logistic regression and XGBoost on
# the 32-number codes do far better than chance. python3-sklearn and python3-xgboost are optional
# (scripts/features.sh installs them): without them tests/CMakeLists.txt leaves this test out, and run by
# hand it exits 77 (skipped).
#   features_recipe.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 source=$2
/usr/bin/python3 -c 'import sklearn, xgboost' 2>/dev/null || { echo "python3-sklearn/python3-xgboost missing: skipped"; exit 77; }
work=$build/test-features
rm -rf "$work" && mkdir -p "$work"
# The real pipeline, with its outputs moved into the scratch folder so a user's out/ is never touched.
sed -e "s|\"\.\./mnist_ae32.graph\"|\"$source/graphs/mnist_ae32.graph\"|" -e "s|\.\./\.\./out/features|$work|" \
  "$source/graphs/pipelines/features.pipeline" >"$work/features.pipeline"
grep -q "$work/train_codes.npy" "$work/features.pipeline"
"$build/bin/hourglass" run "$work/features.pipeline" --data-dir "$source/data" --limit 2000 --set epochs=8
/usr/bin/python3 "$source/scripts/downstream.py" "$work" --runs codes:logreg,codes:xgboost,raw:logreg \
  --json "$work/downstream.json"
/usr/bin/python3 - "$work/downstream.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
assert [(r["features"], r["model"]) for r in rows] == [("codes", "logreg"), ("codes", "xgboost"), ("raw", "logreg")], rows
for r in rows:
    assert r["train"] == 2000 and r["test"] == 2000, r
    assert r["dims"] == (32 if r["features"] == "codes" else 784), r
    assert r["accuracy"] > 0.6, r  # chance is 0.1
print("features recipe ok:", ", ".join(f"{r['features']}/{r['model']} {100 * r['accuracy']:.1f}%" for r in rows))
PY
