#!/usr/bin/env bash
# Starts or stops every test server on private ports (never a default port).
#   scripts/services.sh start   -> writes .services/env (KEY=VALUE lines the tests read)
#   scripts/services.sh stop
# Each server lives in scripts/services.d/<name>.sh, which implements `start` and `stop`
# and appends its addresses to "$SERVICES_ENV".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# CACHETTE_SERVICES_DIR gives a second concurrent run (with its own CACHETTE_PORT_BASE) a directory
# of its own for pid files, logs and the env file.
export SERVICES_DIR="${CACHETTE_SERVICES_DIR:-$ROOT/.services}"
export SERVICES_ENV="$SERVICES_DIR/env"
export ROOT
# Private port range; override with CACHETTE_PORT_BASE when two runs share a machine. One run
# uses PORT_BASE+0 .. PORT_BASE+119 (the Redis cluster and Sentinel sit at +100..+119), so two
# concurrent runs need bases at least 120 apart.
export PORT_BASE="${CACHETTE_PORT_BASE:-17300}"

action="${1:-}"
case "$action" in
  start)
    mkdir -p "$SERVICES_DIR"
    : > "$SERVICES_ENV"
    for f in "$ROOT"/scripts/services.d/*.sh; do
      [ -e "$f" ] || continue
      bash "$f" start
    done
    echo "services started; environment in $SERVICES_ENV"
    ;;
  stop)
    for f in "$ROOT"/scripts/services.d/*.sh; do
      [ -e "$f" ] || continue
      bash "$f" stop || true
    done
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
