#!/usr/bin/env bash
# Installs the workspace's npm dependencies when node_modules is missing or a
# package.json / the lockfile is newer than the last install. Uses
# `npm install` with the lockfile, not `npm ci` (see shared TOOLCHAIN.md: this
# registry lacks some platform binaries). CSDA_SKIP_INSTALL=1 skips it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if ! command -v npm >/dev/null 2>&1; then
  echo "✗ npm is not on PATH. Install Node.js 20+ with npm (https://nodejs.org/en/download), then try again." >&2
  exit 1
fi

stale=
if [[ ${CSDA_SKIP_INSTALL:-} == 1 ]]; then
  :
elif [[ ! -f node_modules/.package-lock.json ]]; then
  stale="node_modules is missing"
else
  changed=$(find . -maxdepth 3 \( -name node_modules -o -name .git -o -name .data \) -prune -o \
    \( -name package.json -o -name package-lock.json \) -newer node_modules/.package-lock.json -print -quit)
  [[ -n $changed ]] && stale="$changed changed"
fi
if [[ -n $stale ]]; then
  echo "▸ npm install ($stale)"
  t0=$SECONDS
  npm install --no-audit --no-fund
  touch node_modules/.package-lock.json # npm leaves it alone when nothing changed
  echo "✓ npm install ($((SECONDS - t0)) s)"
fi


NODE=node_modules/.bin/node
if ! major=$("$NODE" -p 'process.versions.node.split(".")[0]' 2>/dev/null) || ((major < 24)); then
  echo "✗ $NODE is not Node 24 (the devDependency \`node\` provides it; its install script must run)." >&2
  echo "  Fix: rm -rf node_modules && npm install --no-audit --no-fund   (not npm ci --ignore-scripts)" >&2
  exit 1
fi
