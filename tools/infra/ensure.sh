#!/usr/bin/env bash
# Makes sure the infrastructure CSDA needs is reachable, installing and
# starting it on this machine when it is not:
#   PostgreSQL 15+ with pgvector  at DATABASE_URL  (postgres://postgres@127.0.0.1:5432/csda)
#   Redis                         at REDIS_URL     (redis://127.0.0.1:6379)
#   NATS with JetStream           at NATS_URL      (nats://127.0.0.1:4222)
#   (and the nats-server binary when CSDA_NEED_NATS_SERVER=1: npm start runs its own)
#   bubblewrap (bwrap), the sandbox of the tool runner's python and shell tools
# then creates the target database and the `vector` extension in it.
#
# Idempotent and fast (< 1 s) when everything already answers. A server that
# does not answer is started: a stopped system one (Debian cluster / the
# machine's usual command) if there is one, else a project-local one with its
# data under .data/ (logs in .data/logs/). Missing packages are installed with
# apt-get when running as root on Debian/Ubuntu; otherwise it stops with exit 1
# and says what to install. Used by `npm start`, `npm test` and `.ci/run`.
#
# Environment: DATABASE_URL, REDIS_URL, NATS_URL, CSDA_DATA_DIR (default
# <repo>/.data), CSDA_INFRA_WAIT (seconds to wait for a started server, 30).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DATA=${CSDA_DATA_DIR:-$ROOT/.data}
LOGS=$DATA/logs
WAIT=${CSDA_INFRA_WAIT:-30}
DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/csda}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
export PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-3}

# shellcheck source=lib.sh
source "$ROOT/tools/infra/lib.sh"

# ---------------------------------------------------------------- PostgreSQL
pg_answers() {
  if have pg_isready; then pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -U "${PG_USER:-postgres}" -d postgres -t 2; else tcp_open "$PG_HOST" "$PG_PORT"; fi
}
pg_wait() { # wait until the server accepts connections
  local i
  for ((i = 0; i < WAIT * 5; i++)); do pg_answers && return 0; sleep 0.2; done
  return 1
}
psql_q() { # psql_q <url> [psql args...]  (SQL on stdin)
  local url=$1; shift
  PGOPTIONS='-c client_min_messages=warning' psql "$url" -X -A -t -q -w -v ON_ERROR_STOP=1 "$@"
}

pg_bin_dir() { # highest installed server version's bin dir (>= 15), or nothing
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -n $d && -x $d/initdb ]]; then echo "$d"; return; fi
  if have pg_ctl && have initdb; then dirname "$(command -v initdb)"; fi
}

pg_start_local() { # project-local cluster in $DATA/postgres, trust auth on loopback
  local bin dir=$DATA/postgres log=$LOGS/postgres.log as=()
  bin=$(pg_bin_dir)
  if [[ -z $bin ]]; then
    need_root_apt "PostgreSQL" "postgresql postgresql-contrib" || return 1
    pg_prepare_install
    apt_install postgresql postgresql-contrib || return 1
    bin=$(pg_bin_dir)
  fi
  local ver; ver=$("$bin/postgres" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)?.*/\1/')
  if ((ver < 15)); then
    die_msg "PostgreSQL $ver is installed but CSDA needs 15+." \
      "Install PostgreSQL 15 or newer (Debian 12+: apt-get install postgresql; others: https://www.postgresql.org/download/)" \
      "or point DATABASE_URL at a PostgreSQL 15+ server."
    return 1
  fi
  mkdir -p "$DATA" "$LOGS"
  if ((EUID == 0)); then
    id postgres >/dev/null 2>&1 || { die_msg "user 'postgres' is missing (PostgreSQL refuses to run as root)."; return 1; }
    as=(runuser -u postgres --)
    if ! "${as[@]}" test -x "$DATA"; then
      die_msg "user 'postgres' cannot reach $DATA (a parent folder is not traversable)." \
        "Set CSDA_DATA_DIR to a folder it can reach, or start PostgreSQL yourself and set DATABASE_URL."
      return 1
    fi
  fi
  touch "$log"
  if [[ ! -f $dir/PG_VERSION ]]; then
    step "initdb $dir (PostgreSQL $ver, trust auth on loopback)"
    mkdir -p "$dir"; ((EUID == 0)) && chown postgres: "$dir" "$log"; chmod 700 "$dir"
    "${as[@]}" "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --no-locale >>"$log" 2>&1 ||
      { die_msg "initdb failed; see $log"; return 1; }
    printf "\n# csda (tools/infra/ensure.sh)\nlisten_addresses = '%s'\nunix_socket_directories = ''\n" \
      "$PG_HOST" >>"$dir/postgresql.conf"
  elif [[ -f $dir/postmaster.pid ]] && "${as[@]}" "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    die_msg "the project-local PostgreSQL in $dir is running, but not on $PG_HOST:$PG_PORT (see $dir/postmaster.pid)." \
      "Fix DATABASE_URL, or stop it: ${as[*]} $bin/pg_ctl -D $dir stop"
    return 1
  elif [[ $(cat "$dir/PG_VERSION") != "$ver" ]]; then
    bin=/usr/lib/postgresql/$(cat "$dir/PG_VERSION")/bin
    [[ -x $bin/pg_ctl ]] || { die_msg "$dir was made by PostgreSQL $(cat "$dir/PG_VERSION"), which is not installed." \
      "Install postgresql-$(cat "$dir/PG_VERSION"), or remove $dir to start afresh."; return 1; }
  fi
  ((EUID == 0)) && chown postgres: "$log"
  step "starting PostgreSQL from $dir on $PG_HOST:$PG_PORT (log $log)"
  "${as[@]}" "$bin/pg_ctl" -D "$dir" -l "$log" -w -t "$WAIT" -o "-p $PG_PORT" start </dev/null >/dev/null 2>&1 ||
    { die_msg "PostgreSQL did not start; last log lines:" "$(tail -n 15 "$log")"; return 1; }
}

pg_prepare_install() { # keep apt's postinst from creating/starting a system cluster on our port
  mkdir -p /etc/postgresql-common/createcluster.d
  [[ -e /etc/postgresql-common/createcluster.d/csda.conf ]] ||
    echo "create_main_cluster = off  # csda: tools/infra/ensure.sh keeps its cluster in .data/" \
      >/etc/postgresql-common/createcluster.d/csda.conf
}

pg_start() {
  is_loopback "$PG_HOST" || { die_msg "PostgreSQL at $PG_HOST:$PG_PORT does not answer (not a local address: start it, or fix DATABASE_URL)."; return 1; }
  # A stopped cluster of this machine on that port: start it (pg_lsclusters: ver name port status ...).
  if have pg_lsclusters; then
    local line ver name status
    line=$(pg_lsclusters -h 2>/dev/null | awk -v p="$PG_PORT" '$3 == p { print; exit }')
    if [[ -n $line ]]; then
      read -r ver name _ status _ <<<"$line"
      need_root_apt "the stopped PostgreSQL cluster $ver/$name" "" "sudo pg_ctlcluster $ver $name start" || return 1
      step "starting the system PostgreSQL cluster $ver/$name (was $status)"
      pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start </dev/null || return 1
      pg_wait && return 0
      die_msg "PostgreSQL cluster $ver/$name did not come up on port $PG_PORT."; return 1
    fi
  fi
  pg_start_local
}

pgvector_build() { # $1 = server major version
  local major=$1 pgc=/usr/lib/postgresql/$1/bin/pg_config log=$LOGS/pgvector-build.log tmp
  need_root_apt "pgvector" "postgresql-server-dev-$major build-essential" \
    "then build pgvector 0.8 from source: https://github.com/pgvector/pgvector#linux-and-mac" || return 1
  is_loopback "$PG_HOST" || { die_msg "pgvector is not available on the server at $PG_HOST:$PG_PORT; install it there (postgresql-$major-pgvector, 0.5+)."; return 1; }
  mkdir -p "$LOGS"; : >"$log"
  step "building pgvector for PostgreSQL $major from Debian trixie's source package (log $log)"
  if ! grep -rqsE '^(deb-src .*trixie|Suites:.*trixie)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb-src http://deb.debian.org/debian trixie main" >/etc/apt/sources.list.d/csda-trixie-src.list
    APT_UPDATED=
  fi
  apt_install "postgresql-server-dev-$major" build-essential || return 1
  tmp=$(mktemp -d); chmod 755 "$tmp"
  (
    cd "$tmp" &&
      apt-get source --download-only pgvector &&
      tar xf pgvector_*.orig.tar.* &&
      cd "$(find . -mindepth 1 -maxdepth 1 -type d -name 'pgvector*' | head -n 1)" &&
      make PG_CONFIG="$pgc" &&
      make install PG_CONFIG="$pgc"
  ) >>"$log" 2>&1 || { rm -rf "$tmp"; die_msg "pgvector build failed; last lines of $log:" "$(tail -n 20 "$log")"; return 1; }
  rm -rf "$tmp"
}

ensure_postgres() {
  parse_url "$DATABASE_URL" 5432 || { die_msg "DATABASE_URL is not a URL: $DATABASE_URL"; return 1; }
  PG_HOST=$U_HOST PG_PORT=$U_PORT PG_USER=$U_USER
  local db=${U_PATH:-postgres} admin_url="$U_SCHEME://$U_AUTH$U_HOSTPORT/postgres$U_QUERY"
  if ! have psql; then
    need_root_apt "the PostgreSQL client (psql)" "postgresql-client" || return 1
    apt_install postgresql-client || return 1
  fi
  if ! pg_answers; then pg_start || return 1; pg_wait || { die_msg "PostgreSQL at $PG_HOST:$PG_PORT does not answer."; return 1; }; fi
  local info
  info=$(psql_q "$admin_url" -F ' ' -v db="$db" <<'SQL'
SELECT current_setting('server_version_num'), split_part(current_setting('server_version'), ' ', 1),
       coalesce((SELECT default_version FROM pg_available_extensions WHERE name = 'vector'), '-'),
       (SELECT count(*) FROM pg_database WHERE datname = :'db');
SQL
  ) || { die_msg "cannot connect to PostgreSQL with DATABASE_URL (host $PG_HOST:$PG_PORT); check the user/password/auth settings."; return 1; }
  local num version vec exists
  read -r num version vec exists <<<"$info"
  if ((num < 150000)); then die_msg "PostgreSQL $version at $PG_HOST:$PG_PORT is too old: CSDA needs 15+."; return 1; fi
  if [[ $vec == - ]]; then
    pgvector_build $((num / 10000)) || return 1
    vec=$(psql_q "$admin_url" <<<"SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
    [[ -n $vec ]] || { die_msg "pgvector was installed but PostgreSQL does not list it (wrong PG_CONFIG?)."; return 1; }
  fi
  if [[ $exists == 0 ]]; then
    step "creating database $db"
    psql_q "$admin_url" -v db="$db" <<<'CREATE DATABASE :"db"' || return 1
  fi
  local ext
  ext=$(psql_q "$DATABASE_URL" <<'SQL'
CREATE EXTENSION IF NOT EXISTS vector;
SELECT extversion FROM pg_extension WHERE extname = 'vector';
SQL
  ) || { die_msg "could not create the vector extension in database $db."; return 1; }
  ok "postgres $version at $PG_HOST:$PG_PORT, database $db (pgvector $ext)"
}

# --------------------------------------------------------------------- Redis
ensure_redis() {
  parse_url "$REDIS_URL" 6379 || { die_msg "REDIS_URL is not a URL: $REDIS_URL"; return 1; }
  local host=$U_HOST port=$U_PORT user=$U_USER pass=$U_PASS v
  if ! v=$(redis_probe "$host" "$port" "$user" "$pass"); then
    is_loopback "$host" || { die_msg "Redis at $host:$port does not answer (not a local address: start it, or fix REDIS_URL)."; return 1; }
    if ! have redis-server; then
      need_root_apt "Redis" "redis-server" || return 1
      apt_install redis-server || return 1
    fi
    local dir=$DATA/redis logf=$LOGS/redis.log
    if ((EUID == 0)) && [[ $port == 6379 && -d /var/lib/redis && ! -d $dir ]]; then
      dir=/var/lib/redis logf=/var/log/redis/ci.log   # this machine's usual Redis
      mkdir -p /var/log/redis
      step "starting the system Redis on $host:$port"
    else
      mkdir -p "$dir" "$LOGS"
      step "starting Redis on $host:$port (data $dir, log $logf)"
    fi
    redis-server --daemonize yes --bind "$host" --port "$port" --dir "$dir" --logfile "$logf" \
      --save "" --appendonly no </dev/null >/dev/null 2>&1 || { die_msg "redis-server failed to start; see $logf"; return 1; }
    local i
    for ((i = 0; i < WAIT * 5; i++)); do v=$(redis_probe "$host" "$port" "$user" "$pass") && break; sleep 0.2; done
    [[ -n ${v:-} ]] || { die_msg "Redis did not come up on $host:$port; see $logf"; return 1; }
  fi
  [[ $v == NOAUTH ]] && { die_msg "Redis at $host:$port wants a password: put it in REDIS_URL (redis://:password@host:port)."; return 1; }
  [[ $v == BADAUTH ]] && { die_msg "Redis at $host:$port refused the user/password in REDIS_URL."; return 1; }
  ok "redis $v at $host:$port"
}

# ---------------------------------------------------------------------- NATS
ensure_nats() {
  parse_url "${NATS_URL%%,*}" 4222 || { die_msg "NATS_URL is not a URL: $NATS_URL"; return 1; }
  local host=$U_HOST port=$U_PORT info
  if ! info=$(nats_info "$host" "$port"); then
    is_loopback "$host" || { die_msg "NATS at $host:$port does not answer (not a local address: start it, or fix NATS_URL)."; return 1; }
    if ! have nats-server; then
      need_root_apt "NATS" "nats-server" || return 1
      apt_install nats-server || return 1
    fi
    local sd=$DATA/nats logf=$LOGS/nats.log
    if ((EUID == 0)) && [[ $port == 4222 && -d /var/lib/nats-server && ! -d $sd ]]; then
      sd=/var/lib/nats-server logf=/var/log/nats-server.log   # this machine's usual NATS
      step "starting the system NATS (JetStream) on $host:$port"
    else
      mkdir -p "$sd" "$LOGS"
      step "starting NATS with JetStream on $host:$port (store $sd, log $logf)"
    fi
    setsid nats-server -a "$host" -p "$port" -js -sd "$sd" -l "$logf" </dev/null >/dev/null 2>&1 &
    disown
    local i
    for ((i = 0; i < WAIT * 5; i++)); do info=$(nats_info "$host" "$port") && break; sleep 0.2; done
    [[ -n ${info:-} ]] || { die_msg "NATS did not come up on $host:$port; see $logf"; return 1; }
  fi
  local ver=${info#*\"version\":\"}; ver=${ver%%\"*}
  if [[ $info != *'"jetstream":true'* ]]; then
    die_msg "NATS $ver at $host:$port runs without JetStream: restart it with -js (e.g. nats-server -js -sd <dir>)."
    return 1
  fi
  ok "nats $ver at $host:$port (JetStream)"
}

# npm start runs its own nats-server with per-service users (tools/stack/nats.ts)
# when NATS_URL is not set: start.sh sets CSDA_NEED_NATS_SERVER=1 so the binary is
# installed even when the machine's NATS already answers.
ensure_nats_binary() {
  have nats-server || [[ -x /usr/sbin/nats-server ]] && return 0
  need_root_apt "nats-server (npm start runs its own, with one user per service)" "nats-server" || return 1
  apt_install nats-server
}

# npm test drives /docs in headless Chromium (apps/gateway/test/docs-csp.int.test.ts):
# tools/test.sh sets CSDA_NEED_CHROMIUM=1 so Debian's chromium is there (about 35 s
# to install with --no-install-recommends, once; npm start never needs it).
ensure_chromium() {
  have chromium || [[ -x /usr/bin/chromium ]] && return 0
  need_root_apt "Chromium (the gateway's /docs CSP test runs it headless)" "chromium" \
    "or point CHROMIUM_PATH at a Chromium/Chrome binary" || return 1
  local t0=$SECONDS
  apt_install chromium || return 1
  ok "chromium installed ($((SECONDS - t0)) s)"
}

# The tool runner runs python and shell tools inside bubblewrap (libs/sandbox); without
# it those tools are refused unless the operator sets TOOLS_SANDBOX=none (development).
ensure_bwrap() {
  have bwrap || [[ -x /usr/bin/bwrap ]] && return 0
  need_root_apt "bubblewrap (the tool runner's sandbox for python and shell tools)" "bubblewrap" \
    "or set TOOLS_SANDBOX=none for development only (tools then run without isolation)" || return 1
  apt_install bubblewrap || return 1
  ok "bubblewrap $(bwrap --version 2>/dev/null | awk '{print $2}') installed"
}

failed=0
ensure_postgres || failed=1
ensure_redis || failed=1
ensure_nats || failed=1
ensure_bwrap || failed=1
if [[ ${CSDA_NEED_NATS_SERVER:-} == 1 ]]; then ensure_nats_binary || failed=1; fi
if [[ ${CSDA_NEED_CHROMIUM:-} == 1 && -z ${CHROMIUM_PATH:-} ]]; then ensure_chromium || failed=1; fi
if ((failed)); then
  echo "✗ infrastructure is not ready (see above)" >&2
  exit 1
fi
