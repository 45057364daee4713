#!/usr/bin/env bash
# Re-resolve requirements.txt into constraints.txt in ONE pip run (never piecewise:
# dvc-s3 pins botocore, and a separate run leaves boto3/botocore mismatched).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet "pip==26.3"
"$tmp/venv/bin/pip" install -r requirements.txt
"$tmp/venv/bin/pip" check
{
  echo "# Lock: every package, resolved in ONE pip run from requirements.txt (make lock)."
  echo "# Python 3.11, linux x86_64. Install with: pip install -r requirements.txt -c constraints.txt"
  "$tmp/venv/bin/pip" freeze --all | grep -vE '^(pip|wheel)=='
} > constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) packages"
