#!/usr/bin/env bash
# `npm start`: the whole CSDA platform on this machine, from a fresh clone.
#   1. npm install (when node_modules is missing or a package.json / the lockfile changed)
#   2. tools/infra/ensure.sh (PostgreSQL + pgvector, Redis, NATS with JetStream)
#   3. Node 24 (node_modules/.bin/node) runs tools/stack/start.ts with the arguments given
# Needs only Node 20+ and npm on PATH to begin with. Environment: see start.ts --help;
# CSDA_SKIP_INSTALL=1 skips step 1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
DATA=${CSDA_DATA_DIR:-$PWD/.data}

# Another `npm start` running? Say so before touching node_modules under its feet.
if [[ -f $DATA/stack.pid ]]; then
  pid=$(cat "$DATA/stack.pid" 2>/dev/null || true)
  if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'stack/start.ts'; then
    echo "✗ CSDA is already running here (stack pid $pid, $DATA/stack.pid)." >&2
    echo "  Stop it with Ctrl-C in its terminal or: kill $pid" >&2
    exit 1
  fi
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "✗ npm is not on PATH. Install Node.js 20+ with npm (https://nodejs.org/en/download), then run npm start again." >&2
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

case " $* " in *" --help "* | *" -h "*) exec "$NODE" tools/stack/start.ts --help ;; esac

echo "▸ infrastructure"
bash tools/infra/ensure.sh

exec "$NODE" tools/stack/start.ts "$@"
