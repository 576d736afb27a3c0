#!/usr/bin/env bash
# Redis test servers (Debian's redis-server), ports $PORT_BASE+0..9:
#   +0 plain (also on a Unix socket)   +1 requirepass + an ACL user   +2 TLS only
#   +5, +6 left free for tests that start and kill a private redis of their own
# TLS certificates are generated at start with the openssl CLI.
set -euo pipefail
# shellcheck source=../services-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../services-lib.sh"
: "${PORT_BASE:?run through scripts/services.sh}" "${SERVICES_DIR:?}" "${SERVICES_ENV:?}"
DIR="$SERVICES_DIR/redis"
SERVER="$(command -v redis-server || true)"
PLAIN=$((PORT_BASE + 0))
AUTH=$((PORT_BASE + 1))
TLS=$((PORT_BASE + 2))
PASSWORD="cachette-test-secret"
ACL_USER="cachette"
ACL_PASSWORD="cachette-acl-secret"

start_one() {  # name, then extra redis-server arguments
  local name="$1"
  shift
  "$SERVER" --daemonize yes --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$DIR" --pidfile "$DIR/$name.pid" --logfile "$DIR/$name.log" "$@"
}

wait_ready() {  # name, then redis-cli arguments
  local name="$1"
  shift
  for _ in $(seq 1 100); do
    if redis-cli "$@" ping 2>/dev/null | grep -q PONG; then return 0; fi
    sleep 0.05
  done
  echo "redis.sh: $name did not start; see $DIR/$name.log" >&2
  exit 1
}


case "${1:-}" in
  start)
    if [ -z "$SERVER" ]; then
      echo "redis.sh: redis-server not found (apt-get install redis-server)" >&2
      exit 1
    fi
    mkdir -p "$DIR"
    make_test_certs "$DIR/tls" cachette-test-ca
    start_one plain --port "$PLAIN" --unixsocket "$DIR/redis.sock" --unixsocketperm 700
    start_one auth --port "$AUTH" --requirepass "$PASSWORD"
    start_one tls --port 0 --tls-port "$TLS" --tls-cert-file "$DIR/tls/server.crt" \
      --tls-key-file "$DIR/tls/server.key" --tls-ca-cert-file "$DIR/tls/ca.crt" \
      --tls-auth-clients optional
    wait_ready plain -p "$PLAIN"
    wait_ready auth -p "$AUTH" -a "$PASSWORD" --no-auth-warning
    wait_ready tls -p "$TLS" --tls --cacert "$DIR/tls/ca.crt"
    redis-cli -p "$AUTH" -a "$PASSWORD" --no-auth-warning \
      ACL SETUSER "$ACL_USER" on ">$ACL_PASSWORD" '~*' '&*' +@all > /dev/null
    cat >> "$SERVICES_ENV" <<ENV
CACHETTE_TEST_REDIS_URL=redis://127.0.0.1:$PLAIN/0
CACHETTE_TEST_REDIS_UNIX_URL=unix://$DIR/redis.sock?db=0
CACHETTE_TEST_REDIS_AUTH_URL=redis://:$PASSWORD@127.0.0.1:$AUTH/0
CACHETTE_TEST_REDIS_ACL_URL=redis://$ACL_USER:$ACL_PASSWORD@127.0.0.1:$AUTH/0
CACHETTE_TEST_REDIS_TLS_URL=rediss://localhost:$TLS/0
CACHETTE_TEST_REDIS_TLS_CA=$DIR/tls/ca.crt
CACHETTE_TEST_REDIS_TLS_CERT=$DIR/tls/client.crt
CACHETTE_TEST_REDIS_TLS_KEY=$DIR/tls/client.key
CACHETTE_TEST_REDIS_SERVER=$SERVER
CACHETTE_TEST_REDIS_SPARE_PORT=$((PORT_BASE + 5))
CACHETTE_TEST_REDIS_SPARE_PORT_CPP=$((PORT_BASE + 6))
ENV
    ;;
  stop)
    for name in plain auth tls; do
      pidfile="$DIR/$name.pid"
      stop_pidfile "$pidfile"
    done
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
