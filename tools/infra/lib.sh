# Helpers for tools/infra/ensure.sh (sourced; expects DATA and LOGS to be set).
# shellcheck shell=bash

have() { command -v "$1" >/dev/null 2>&1; }
step() { printf '  … %s\n' "$*"; }
ok() { printf '✓ %s\n' "$*"; }
die_msg() { # first argument is the headline, the others are indented detail lines
  printf '✗ %s\n' "$1" >&2
  shift
  local l
  for l in "$@"; do printf '%s\n' "$l" | sed 's/^/    /' >&2; done
}

is_loopback() { [[ $1 == 127.* || $1 == localhost || $1 == ::1 || $1 == '[::1]' ]]; }

url_decode() { local s=${1//+/ }; printf '%b' "${s//%/\\x}"; }

# parse_url <url> <default port>: sets U_SCHEME U_AUTH (raw "user:pass@") U_USER U_PASS
# U_HOST U_PORT U_HOSTPORT (raw) U_PATH (without the leading /) U_QUERY (with the ?).
parse_url() {
  local re='^([A-Za-z][A-Za-z0-9+.-]*)://(([^@/]*)@)?(\[[^]]*\]|[^:/?#]*)(:([0-9]*))?(/[^?#]*)?(\?[^#]*)?$'
  [[ $1 =~ $re ]] || return 1
  U_SCHEME=${BASH_REMATCH[1]}
  U_AUTH=${BASH_REMATCH[2]}
  local userinfo=${BASH_REMATCH[3]}
  U_HOST=${BASH_REMATCH[4]:-127.0.0.1}
  U_PORT=${BASH_REMATCH[6]:-$2}
  U_HOSTPORT=${BASH_REMATCH[4]}${BASH_REMATCH[5]}
  U_PATH=${BASH_REMATCH[7]#/}
  U_QUERY=${BASH_REMATCH[8]}
  U_USER= U_PASS=
  if [[ -n $userinfo ]]; then
    U_USER=$(url_decode "${userinfo%%:*}")
    [[ $userinfo == *:* ]] && U_PASS=$(url_decode "${userinfo#*:}")
  fi
  U_HOST=${U_HOST#[}; U_HOST=${U_HOST%]}
  [[ $U_HOST == localhost ]] && U_HOST=127.0.0.1
  U_PATH=$(url_decode "$U_PATH")
  return 0
}

tcp_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }

# redis_probe <host> <port> <user> <password>: prints the server version (or NOAUTH
# when it wants a password we don't have); fails when nothing answers.
_redis_probe() {
  local LC_ALL=C h=$1 p=$2 user=$3 pw=$4 line
  exec 3<>"/dev/tcp/$h/$p" || return 1
  if [[ -n $pw ]]; then
    if [[ -n $user ]]; then
      printf '*3\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n' "${#user}" "$user" "${#pw}" "$pw" >&3
    else
      printf '*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n' "${#pw}" "$pw" >&3
    fi
    IFS= read -r -t 2 line <&3 || return 1
    # a server without a password answers AUTH with "-ERR ... without any password configured"
    [[ $line == +OK* || $line == *'without any password configured'* ]] || { echo BADAUTH; return 0; }
  fi
  printf 'INFO server\r\n' >&3
  while IFS= read -r -t 2 line <&3; do
    line=${line%$'\r'}
    case $line in
      -NOAUTH*) echo NOAUTH; return 0 ;;
      redis_version:*) echo "${line#redis_version:}"; return 0 ;;
      -*) return 1 ;;
    esac
  done
  return 1
}
redis_probe() { timeout 3 bash -c "$(declare -f _redis_probe); _redis_probe \"\$@\"" _ "$@" 2>/dev/null; }

# nats_info <host> <port>: prints the server's INFO JSON; fails when nothing answers.
_nats_info() {
  local line
  exec 3<>"/dev/tcp/$1/$2" || return 1
  IFS= read -r -t 2 line <&3 || return 1
  [[ $line == INFO* ]] || return 1
  echo "${line#INFO }"
}
nats_info() { timeout 3 bash -c "$(declare -f _nats_info); _nats_info \"\$@\"" _ "$@" 2>/dev/null; }

is_debian_like() {
  [[ -r /etc/os-release ]] || return 1
  local id like
  id=$(. /etc/os-release && echo "${ID:-}") like=$(. /etc/os-release && echo "${ID_LIKE:-}")
  [[ " $id $like " == *" debian "* || " $id $like " == *" ubuntu "* ]] && have apt-get
}

# need_root_apt <what> <debian packages> [extra hint]: ok when this script may
# install with apt-get (root on Debian/Ubuntu); otherwise says what to install.
need_root_apt() {
  if ((EUID == 0)) && is_debian_like; then return 0; fi
  local why
  if is_debian_like; then why="not running as root"; else why="not a Debian/Ubuntu machine"; fi
  local lines=()
  if [[ -n $2 ]]; then
    lines+=("Debian/Ubuntu:  sudo apt-get update && sudo apt-get install -y $2")
    lines+=("                (or run this as root: sudo bash tools/infra/ensure.sh — it installs and starts everything)")
  fi
  [[ -n ${3:-} ]] && lines+=("$3")
  [[ -n $2 ]] && lines+=("Elsewhere: PostgreSQL 15+ with pgvector 0.5+, Redis 7, NATS 2.9+ started with -js (JetStream),"
    "           e.g. macOS: brew install postgresql@16 pgvector redis nats-server && brew services start postgresql@16 redis && nats-server -js &"
    "Or point DATABASE_URL / REDIS_URL / NATS_URL at servers you already run.")
  die_msg "$1 is needed but cannot be set up automatically ($why)." "${lines[@]}"
  return 1
}

APT_UPDATED=
apt_install() { # apt_install <package>...: apt-get update (once) + install, services not auto-started
  local log=$LOGS/apt.log rc=0 added_policy=
  mkdir -p "$LOGS"
  if [[ -z $APT_UPDATED ]]; then
    step "apt-get update"
    apt-get update >>"$log" 2>&1 || { die_msg "apt-get update failed; last lines of $log:" "$(tail -n 15 "$log")"; return 1; }
    APT_UPDATED=1
  fi
  step "apt-get install $*"
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then # the servers are started below, on our terms
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && added_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >>"$log" 2>&1 || rc=$?
  [[ -n $added_policy ]] && rm -f /usr/sbin/policy-rc.d
  ((rc == 0)) || { die_msg "apt-get install $* failed; last lines of $log:" "$(tail -n 15 "$log")"; return 1; }
}
