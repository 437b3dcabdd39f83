#!/usr/bin/env bash
# `npm start`: the whole CSDA platform on this machine, from a fresh clone.
#   1. tools/infra/install-deps.sh (npm install when node_modules is missing or stale)
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

bash tools/infra/install-deps.sh

NODE=node_modules/.bin/node
case " $* " in *" --help "* | *" -h "*) exec "$NODE" tools/stack/start.ts --help ;; esac

echo "▸ infrastructure"
# Without NATS_URL the stack runs its own nats-server with per-service users (tools/stack/nats.ts).
[[ -n ${NATS_URL:-} ]] || export CSDA_NEED_NATS_SERVER=1
bash tools/infra/ensure.sh

exec "$NODE" tools/stack/start.ts "$@"
