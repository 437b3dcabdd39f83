#!/usr/bin/env bash
# `npm test`: the whole suite on Node 24 against this machine's real
# PostgreSQL (+ pgvector), Redis and NATS. Installs dependencies and makes the
# servers reachable first (both are no-ops when already done), then runs
# build (type-check), lint and test for every Nx project. Tests create their
# own databases and NATS namespaces, so they can run while `npm start` is up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/infra/install-deps.sh
bash tools/infra/ensure.sh
export PATH="$PWD/node_modules/.bin:$PATH" NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
exec nx run-many -t build lint test --outputStyle=stream "$@"
