#!/usr/bin/env bash
# Installs ONNX Runtime for the ONNX export test (tests/onnx_export.sh) into a local cache: the npm package
# onnxruntime-node, which ships ONNX Runtime's CPU library and runs under Debian's nodejs. Prints the folder
# that holds node_modules/. The cache is .cache/ at the repo root, or $HOURGLASS_CACHE.
# Safe to rerun: an installed copy that loads is left alone.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache_dir=${HOURGLASS_CACHE:-$repo_root/.cache}
# Pinned, so that the test always runs against the same runtime.
package=onnxruntime-node@1.30.0
dest=$cache_dir/$package

die() {
  echo "fetch-onnxruntime: error: $*" >&2
  exit 1
}

loads() { (cd "$1" && node -e "require('onnxruntime-node')" >/dev/null 2>&1); }

if [[ -d $dest/node_modules ]] && loads "$dest"; then
  echo "$dest"
  exit 0
fi
command -v node >/dev/null || die "onnxruntime-node runs under nodejs, which is not installed"
command -v npm >/dev/null || die "onnxruntime-node comes from npm, which is not installed"
# Installed next to the cache and moved in place once it loads, so an interrupted install never looks cached.
mkdir -p "$cache_dir"
work=$(mktemp -d "$cache_dir/.install.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo '{"private": true}' >"$work/package.json"
# --ignore-scripts: the package's install script downloads GPU libraries from outside the registry, which
# fails offline and is not needed; the CPU library is in the package itself. Unlike MNIST's files, a native
# library has no checksum here to check it against, so there is no retry without TLS certificate checks.
(cd "$work" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error "$package" >/dev/null) ||
  die "'npm install $package' failed"
loads "$work" || die "$package installed but does not load under $(node --version)"
rm -rf "$dest"
mv "$work" "$dest"
trap - EXIT
echo "$dest"
