#!/usr/bin/env bash
# memcached test servers (Debian's memcached), ports $PORT_BASE+20..39:
#   +20 plain (also on a Unix socket)     +21 text-protocol authentication (-Y auth file)
#   +22, +23, +24 the three servers of the multi-server tests
#   +25 TLS (when this memcached is built with TLS; it is on Debian)
#   +26 plain with a small item size limit (-I 64k) for the value-too-large tests
#   a Unix socket server (memcached ignores -p once -s is given, so it runs on its own)
# Tests that start and stop a private memcached of their own (a server dying mid-run) get ports
# $PORT_BASE+40.. (17340-17359 with the default base) as CACHETTE_TEST_MEMCACHED_SPARE_PORT*.
# Every server listens on 127.0.0.1 only and keeps its files under $SERVICES_DIR/memcached/.
set -euo pipefail
# shellcheck source=../services-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../services-lib.sh"
: "${PORT_BASE:?run through scripts/services.sh}" "${SERVICES_DIR:?}" "${SERVICES_ENV:?}"
DIR="$SERVICES_DIR/memcached"
SERVER="$(command -v memcached || true)"
PLAIN=$((PORT_BASE + 20))
AUTH=$((PORT_BASE + 21))
CLUSTER=("$((PORT_BASE + 22))" "$((PORT_BASE + 23))" "$((PORT_BASE + 24))")
TLS=$((PORT_BASE + 25))
SMALL=$((PORT_BASE + 26))
SMALL_LIMIT=65536
AUTH_USER="cachette"
AUTH_PASSWORD="cachette-mc-secret"
NAMES=(plain auth cluster0 cluster1 cluster2 tls small)

# memcached refuses to run as root unless told which user to become.
user_args=()
if [ "$(id -u)" = 0 ]; then user_args=(-u root); fi

start_one() {  # name, then extra memcached arguments
  local name="$1"
  shift
  "$SERVER" -d -P "$DIR/$name.pid" -m 64 -c 4096 "${user_args[@]}" "$@" \
    > "$DIR/$name.log" 2>&1
}

wait_port() {  # name port
  for _ in $(seq 1 100); do
    if (exec 3<> "/dev/tcp/127.0.0.1/$2") 2> /dev/null; then return 0; fi
    sleep 0.05
  done
  echo "memcached.sh: $1 did not start on port $2; see $DIR/$1.log" >&2
  exit 1
}


case "${1:-}" in
  start)
    if [ -z "$SERVER" ]; then
      echo "memcached.sh: memcached not found (apt-get install memcached)" >&2
      exit 1
    fi
    mkdir -p "$DIR"
    printf '%s:%s\n' "$AUTH_USER" "$AUTH_PASSWORD" > "$DIR/authfile"
    chmod 600 "$DIR/authfile"
    start_one unix -s "$DIR/memcached.sock" -a 0700
    start_one plain -l 127.0.0.1 -p "$PLAIN" -U 0
    start_one auth -l 127.0.0.1 -p "$AUTH" -U 0 -Y "$DIR/authfile"
    for i in 0 1 2; do
      start_one "cluster$i" -l 127.0.0.1 -p "${CLUSTER[$i]}" -U 0
    done
    start_one small -l 127.0.0.1 -p "$SMALL" -U 0 -I "$SMALL_LIMIT" -o slab_chunk_max=16384
    tls_env=""
    # The help text is read whole first: `grep -q` in a pipeline under pipefail can fail
    # when it stops reading early and memcached dies of SIGPIPE.
    help_text="$("$SERVER" -h 2>&1 || true)"
    if [[ "$help_text" == *--enable-ssl* ]]; then
      make_test_certs "$DIR/tls" cachette-mc-test-ca
      start_one tls -l 127.0.0.1 -p "$TLS" -U 0 -Z \
        -o "ssl_chain_cert=$DIR/tls/server.crt,ssl_key=$DIR/tls/server.key,ssl_ca_cert=$DIR/tls/ca.crt"
      wait_port tls "$TLS"
      tls_env="CACHETTE_TEST_MEMCACHED_TLS_HOST=memcacheds://localhost:$TLS
CACHETTE_TEST_MEMCACHED_TLS_CA=$DIR/tls/ca.crt
CACHETTE_TEST_MEMCACHED_TLS_CERT=$DIR/tls/client.crt
CACHETTE_TEST_MEMCACHED_TLS_KEY=$DIR/tls/client.key"
    fi
    wait_port plain "$PLAIN"
    wait_port auth "$AUTH"
    wait_port small "$SMALL"
    for i in 0 1 2; do wait_port "cluster$i" "${CLUSTER[$i]}"; done
    for _ in $(seq 1 100); do [ -S "$DIR/memcached.sock" ] && break; sleep 0.05; done
    cat >> "$SERVICES_ENV" << ENV
CACHETTE_TEST_MEMCACHED_HOST=127.0.0.1:$PLAIN
CACHETTE_TEST_MEMCACHED_UNIX_HOST=unix:$DIR/memcached.sock
CACHETTE_TEST_MEMCACHED_AUTH_HOST=memcached://$AUTH_USER:$AUTH_PASSWORD@127.0.0.1:$AUTH
CACHETTE_TEST_MEMCACHED_AUTH_WRONG_HOST=memcached://$AUTH_USER:not-the-password@127.0.0.1:$AUTH
CACHETTE_TEST_MEMCACHED_CLUSTER=127.0.0.1:${CLUSTER[0]},127.0.0.1:${CLUSTER[1]},127.0.0.1:${CLUSTER[2]}
CACHETTE_TEST_MEMCACHED_SMALL_HOST=127.0.0.1:$SMALL
CACHETTE_TEST_MEMCACHED_SMALL_ITEM_LIMIT=$SMALL_LIMIT
CACHETTE_TEST_MEMCACHED_SERVER=$SERVER
CACHETTE_TEST_MEMCACHED_SPARE_PORT=$((PORT_BASE + 40))
CACHETTE_TEST_MEMCACHED_SPARE_PORT_CPP=$((PORT_BASE + 41))
CACHETTE_TEST_MEMCACHED_BENCH_PORT=$((PORT_BASE + 42))
${tls_env}
ENV
    ;;
  stop)
    for name in "${NAMES[@]}" unix; do
      pidfile="$DIR/$name.pid"
      stop_pidfile "$pidfile"
    done
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
