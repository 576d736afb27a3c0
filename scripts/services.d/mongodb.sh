#!/usr/bin/env bash
# MongoDB-compatible test servers: SecantusDB (a Python server speaking the MongoDB wire
# protocol; no mongod can be installed here), ports $PORT_BASE+50..59:
#   +50 plain, in memory     +51 SCRAM authentication (--auth)     +52 TLS (client certificates)
# SecantusDB is a test tool, never a dependency of the package: it runs from its own side
# environment, $SERVICES_DIR/secantus-venv, which this script creates on first use.
# Every server listens on 127.0.0.1 only and keeps its files under $SERVICES_DIR/mongodb/.
set -euo pipefail
# shellcheck source=../services-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../services-lib.sh"
: "${PORT_BASE:?run through scripts/services.sh}" "${SERVICES_DIR:?}" "${SERVICES_ENV:?}"
DIR="$SERVICES_DIR/mongodb"
VENV="$SERVICES_DIR/secantus-venv"
SERVER="$VENV/bin/secantusd-py"
PLAIN=$((PORT_BASE + 50))
AUTH=$((PORT_BASE + 51))
TLS=$((PORT_BASE + 52))
AUTH_USER="cachette"
AUTH_PASSWORD="cachette-mongo-secret"
NAMES=(plain auth tls provision)

start_one() {  # name port, then extra server arguments
  local name="$1" port="$2"
  shift 2
  nohup "$SERVER" --host 127.0.0.1 --port "$port" --standalone --cache-size 64M \
    --log-level WARNING "$@" > "$DIR/$name.log" 2>&1 < /dev/null &
  echo $! > "$DIR/$name.pid"
}

wait_port() {  # name port
  for _ in $(seq 1 600); do
    if (exec 3<> "/dev/tcp/127.0.0.1/$2") 2> /dev/null; then return 0; fi
    if ! kill -0 "$(cat "$DIR/$1.pid")" 2> /dev/null; then break; fi
    sleep 0.1
  done
  echo "mongodb.sh: SecantusDB ($1) did not start on port $2; see $DIR/$1.log" >&2
  exit 1
}

case "${1:-}" in
  start)
    if [ ! -x "$SERVER" ]; then
      python3 -m venv "$VENV"
      "$VENV/bin/pip" install -q secantusdb || {
        echo "mongodb.sh: could not install SecantusDB into $VENV (pip install secantusdb)" >&2
        exit 1
      }
    fi
    mkdir -p "$DIR"
    make_test_certs "$DIR/tls" cachette-mongo-test-ca
    # The authenticated server: its user is created once, without --auth, then it restarts.
    rm -rf "$DIR/auth-data"
    start_one provision "$AUTH" --storage-path "$DIR/auth-data"
    start_one plain "$PLAIN" --storage-path :memory:
    start_one tls "$TLS" --storage-path :memory: --tls-cert-file "$DIR/tls/server.crt" \
      --tls-key-file "$DIR/tls/server.key" --tls-ca-file "$DIR/tls/ca.crt"
    wait_port provision "$AUTH"
    "$VENV/bin/python" - "$AUTH" "$AUTH_USER" "$AUTH_PASSWORD" << 'PY'
import sys

from pymongo import MongoClient

port, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
client = MongoClient(f"mongodb://127.0.0.1:{port}", serverSelectionTimeoutMS=20000)
client.admin.command("createUser", user, pwd=password, roles=["root"])
client.close()
PY
    stop_pidfile "$DIR/provision.pid"
    start_one auth "$AUTH" --storage-path "$DIR/auth-data" --auth
    wait_port plain "$PLAIN"
    wait_port tls "$TLS"
    wait_port auth "$AUTH"
    cat >> "$SERVICES_ENV" << ENV
CACHETTE_TEST_SECANTUS_URL=mongodb://127.0.0.1:$PLAIN
CACHETTE_TEST_SECANTUS_AUTH_URL=mongodb://$AUTH_USER:$AUTH_PASSWORD@127.0.0.1:$AUTH
CACHETTE_TEST_SECANTUS_AUTH_WRONG_URL=mongodb://$AUTH_USER:not-the-password@127.0.0.1:$AUTH
CACHETTE_TEST_SECANTUS_TLS_URL=mongodb://localhost:$TLS
CACHETTE_TEST_SECANTUS_TLS_CA=$DIR/tls/ca.crt
CACHETTE_TEST_SECANTUS_TLS_CERT=$DIR/tls/client.crt
CACHETTE_TEST_SECANTUS_TLS_KEY=$DIR/tls/client.key
CACHETTE_TEST_SECANTUS_PYTHON=$VENV/bin/python
CACHETTE_TEST_MONGODB_SPARE_PORT=$((PORT_BASE + 53))
ENV
    ;;
  stop)
    for name in "${NAMES[@]}"; do
      stop_pidfile "$DIR/$name.pid"
    done
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
