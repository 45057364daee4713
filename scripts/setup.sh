#!/usr/bin/env bash
# Idempotent setup: the Python venv (from the lock), lakeFS and the docker/ validators built from
# their Go modules, and Debian's Chromium for the browser tests.
# Heavy artefacts live in a cache outside the clone, keyed by what they are
# built from, so a second clone on the same machine reuses them:
#   $RETRAIN_CACHE/venvs/<hash of requirements + lock + python + pip>/   (the venv; .venv links here)
#   $RETRAIN_CACHE/lakefs/lakefs-<version>          (built from its Go module)
#   $RETRAIN_CACHE/tools/<tool>-<hash of its go.mod> (kubeconform, compose-check)
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

# --- Go tools: lakeFS, and the static validators of docker/ -------------------------
# Each builds from a tools module of ours (tools/<name>/go.mod pins the version). lakeFS is cached
# by its version (tools/lakefs/LAKEFS_VERSION), the others by the hash of their go.mod + go.sum, so
# a pin change rebuilds and nothing else does.
go_tool() {  # go_tool <name> <package> <output path> [ldflags]
  local name=$1 pkg=$2 out=$3 ldflags=${4:-}
  if [ -x "$out" ]; then echo "$name: cached ($out)"; return; fi
  command -v go >/dev/null || { echo "error: Go is needed to build $name (install Go >= 1.26)" >&2; exit 1; }
  step "$name: building from its Go module (first run: a few minutes for lakeFS, seconds for the others)"
  mkdir -p "$(dirname "$out")"
  (cd "tools/$name" && \
    GOMODCACHE="$CACHE/gomod" GOFLAGS=-mod=mod GONOSUMDB=github.com/treeverse CGO_ENABLED=0 \
    go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg")
  mv "$out.tmp" "$out"
}
tool_key() { cat "tools/$1/go.mod" "tools/$1/go.sum" 2>/dev/null | sha256sum | cut -c1-12; }

lakefs_version=$(tr -d ' \n' < tools/lakefs/LAKEFS_VERSION)
go_tool lakefs github.com/treeverse/lakefs/cmd/lakefs "$CACHE/lakefs/lakefs-$lakefs_version" \
  "-X github.com/treeverse/lakefs/pkg/version.Version=$lakefs_version"
go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform \
  "$CACHE/tools/kubeconform-$(tool_key kubeconform)"
go_tool compose-check . "$CACHE/tools/compose-check-$(tool_key compose-check)"
mkdir -p .local/bin
ln -sfn "$CACHE/lakefs/lakefs-$lakefs_version" .local/bin/lakefs
ln -sfn "$CACHE/tools/kubeconform-$(tool_key kubeconform)" .local/bin/kubeconform
ln -sfn "$CACHE/tools/compose-check-$(tool_key compose-check)" .local/bin/compose-check
.local/bin/lakefs --version

# --- Debian packages: Chromium (browser tests), PostgreSQL (the stack's databases) ------------
apt_install() {  # apt_install <package>...
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  if ! $sudo apt-get install -y --no-install-recommends "$@"; then
    $sudo apt-get update -qq && $sudo apt-get install -y --no-install-recommends "$@"
  fi
}
if [ ! -x "${RETRAIN_CHROMIUM:-/usr/bin/chromium}" ]; then
  step "Chromium: installing Debian's chromium package (browser tests)"
  apt_install chromium
else
  echo "Chromium: ${RETRAIN_CHROMIUM:-/usr/bin/chromium}"
fi
if [ "${RETRAIN_METADATA_DB:-postgres}" = postgres ] && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  step "PostgreSQL: installing Debian's postgresql package (the stack's metadata databases)"
  apt_install postgresql
  # The package starts a system cluster on :5432; the stack runs its own (port POSTGRES_PORT)
  # under .local/, so stop the system one rather than fight it for the port.
  if command -v pg_ctlcluster >/dev/null; then
    for c in $(pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}'); do pg_ctlcluster ${c/\// } stop || true; done
  fi
else
  echo "PostgreSQL: $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1 || echo 'not used (RETRAIN_METADATA_DB=sqlite)')"
fi
echo "setup done"
