#!/usr/bin/env bash
# `npm test`: the whole suite on Node 24 against this machine's real
# PostgreSQL (+ pgvector), Redis and NATS. Installs dependencies and makes the
# servers reachable first (both are no-ops when already done), then runs
# build (type-check), lint and test for every Nx project. Tests create their
# own databases and NATS namespaces, so they can run while `npm start` is up.
# Ends with one plain line summing every vitest run: "tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/infra/install-deps.sh
CSDA_NEED_CHROMIUM=1 bash tools/infra/ensure.sh # + Chromium for the /docs CSP test
export PATH="$PWD/node_modules/.bin:$PATH" NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rc=0
nx run-many -t build lint test --outputStyle=stream "$@" 2>&1 | tee "$log" || rc=$?
sed 's/\x1b\[[0-9;]*m//g' "$log" | awk '
  / Tests +[0-9]/ {
    for (i = 1; i <= NF; i++) {
      if ($(i+1) ~ /^passed/) passed += $i
      if ($(i+1) ~ /^failed/) failed += $i
    }
  }
  END { printf "tests: %d passed, %d failed\n", passed, failed }'
exit "$rc"
