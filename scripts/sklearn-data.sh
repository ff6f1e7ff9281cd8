#!/usr/bin/env bash
# Puts the small real datasets that Debian's python3-sklearn ships into the data directory (data/ at the repo
# root, or $HOURGLASS_DATA) as the examples in docs/real-data.md read them: digits.csv.gz as it is, the breast
# cancer table with a header row added (sklearn's first line is "569,30,malignant,benign", not column names),
# and the two photographs as a folder of images. Installs python3-sklearn first where it is missing.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data_dir=${HOURGLASS_DATA:-$repo_root/data}
sklearn=/usr/lib/python3/dist-packages/sklearn/datasets

if [[ ! -d $sklearn/data ]]; then
  sudo=""
  if [[ $(id -u) != 0 ]]; then sudo=sudo; fi
  $sudo apt-get install -y -q --no-install-recommends python3-sklearn
fi

mkdir -p "$data_dir/sklearn/photos"
cp "$sklearn/data/digits.csv.gz" "$data_dir/sklearn/digits.csv.gz"
# the one-line conversion: a header f0..f29,target in place of sklearn's count line (target 0 = malignant)
{ echo "$(seq -s, -f 'f%g' 0 29),target"; tail -n +2 "$sklearn/data/breast_cancer.csv"; } \
  >"$data_dir/sklearn/breast_cancer.csv"
cp "$sklearn/images/china.jpg" "$sklearn/images/flower.jpg" "$data_dir/sklearn/photos/"
echo "sklearn-data: digits.csv.gz, breast_cancer.csv and photos/ in $data_dir/sklearn"
