#!/usr/bin/env bash
# Idempotent setup: the Python venv (from the lock) and the lakeFS binary.
# Heavy artefacts live in a cache outside the clone, keyed by what they are
# built from, so a second clone on the same machine reuses them:
#   $RETRAIN_CACHE/venvs/<hash of lock + python>/   (the venv; .venv links here)
#   $RETRAIN_CACHE/lakefs/lakefs-<version>          (built from its Go module)
#   $RETRAIN_CACHE/gomod, ~/.cache/pip, ~/.cache/go-build
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${RETRAIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/retrain-dags}
PYTHON=${PYTHON:-python3}
PIP_VERSION=26.3

step() { printf '\n==> %s\n' "$*"; }

# --- Python environment -------------------------------------------------------
pyver=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$pyver" != "3.11" ]; then
  echo "error: Python 3.11 is required (found $pyver at $(command -v "$PYTHON")); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
key=$(cat requirements.txt constraints.txt <(echo "py$pyver pip$PIP_VERSION") | sha256sum | cut -c1-16)
venv="$CACHE/venvs/$key"
if [ ! -f "$venv/.complete" ]; then
  step "Python venv: installing the lock into $venv (first run: ~7 GB, mostly torch; a few minutes)"
  rm -rf "$venv"
  mkdir -p "$CACHE/venvs"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "pip==$PIP_VERSION"
  "$venv/bin/pip" install --disable-pip-version-check --progress-bar on \
    -r requirements.txt -c constraints.txt
  "$venv/bin/pip" check
  touch "$venv/.complete"
else
  echo "Python venv: cached ($venv)"
fi
ln -sfn "$venv" .venv

# --- lakeFS --------------------------------------------------------------------
lakefs_version=$(tr -d ' \n' < tools/lakefs/LAKEFS_VERSION)
lakefs_bin="$CACHE/lakefs/lakefs-$lakefs_version"
if [ ! -x "$lakefs_bin" ]; then
  command -v go >/dev/null || { echo "error: Go is needed to build lakeFS $lakefs_version (install Go >= 1.26)" >&2; exit 1; }
  step "lakeFS $lakefs_version: building from its Go module (first run: a few minutes)"
  mkdir -p "$CACHE/lakefs"
  (cd tools/lakefs && \
    GOMODCACHE="$CACHE/gomod" GOFLAGS=-mod=mod GONOSUMDB=github.com/treeverse CGO_ENABLED=0 \
    go build -trimpath \
      -ldflags "-s -w -X github.com/treeverse/lakefs/pkg/version.Version=$lakefs_version" \
      -o "$lakefs_bin.tmp" github.com/treeverse/lakefs/cmd/lakefs)
  mv "$lakefs_bin.tmp" "$lakefs_bin"
else
  echo "lakeFS: cached ($lakefs_bin)"
fi
mkdir -p .local/bin
ln -sfn "$lakefs_bin" .local/bin/lakefs
.local/bin/lakefs --version
echo "setup done"
