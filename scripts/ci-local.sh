#!/usr/bin/env bash
# Run CI exactly as it runs: a fresh clone of the committed HEAD with ../shared beside it, then .ci/run.
# Catches files that were never committed and install steps that only worked on this machine.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
shared="${PARALLAX_SHARED:-$(cd "$repo/.." && pwd)/shared}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git clone -q "$repo" "$work/main"
ln -s "$shared" "$work/shared"
cd "$work/main"
start=$(date +%s)
CI=true bash .ci/run
echo "ci-local: passed in $(( $(date +%s) - start )) s"
