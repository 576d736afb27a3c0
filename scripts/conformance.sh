#!/usr/bin/env bash
# `make conformance`: the HTTP cache-tests suite (cache-tests.fyi) against HttpCache wrapped
# around a thin ASGI reverse proxy, in front of the suite's own origin server, all on
# 127.0.0.1. Prints the counts of required / optimal / check tests passed.
#   CONFORMANCE_ID=test-id     runs one test and dumps its exchanges
#   CONFORMANCE_VERBOSE=1      lists every failure
#   CONFORMANCE_DEFAULTS=1     tests HttpCache with its default options (not the project's)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT_BASE="${CACHETTE_PORT_BASE:-17300}"
ORIGIN_PORT=$((PORT_BASE + 80))
PROXY_PORT=$((PORT_BASE + 81))
SUITE_VERSION="${CONFORMANCE_SUITE_VERSION:-0.4.5}"
WORK="$ROOT/build/conformance"
SUITE="$WORK/node_modules/http-cache-tests"
PY="$ROOT/.venv/bin/python"

mkdir -p "$WORK"
if [ ! -f "$SUITE/package.json" ] || ! grep -q "\"version\": \"$SUITE_VERSION\"" "$SUITE/package.json"; then
  (cd "$WORK" && [ -f package.json ] || echo '{"private": true}' > package.json)
  (cd "$WORK" && npm install --no-audit --no-fund --silent "http-cache-tests@$SUITE_VERSION")
fi

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

(cd "$SUITE" && npm_config_protocol=http npm_config_port="$ORIGIN_PORT" \
  npm_config_pidfile="$WORK/origin.pid" \
  exec node --import "$ROOT/tests/conformance/loopback.mjs" server/server.mjs) > "$WORK/origin.log" 2>&1 &
pids+=($!)
(cd "$ROOT" && CONFORMANCE_ORIGIN="http://127.0.0.1:$ORIGIN_PORT" \
  CONFORMANCE_DEFAULTS="${CONFORMANCE_DEFAULTS:-0}" exec "$PY" -m uvicorn \
  tests.conformance.proxy:app --host 127.0.0.1 --port "$PROXY_PORT" --no-server-header \
  --no-date-header --no-access-log --log-level warning --timeout-keep-alive 120) > "$WORK/proxy.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 100); do
  if curl -s -o /dev/null "http://127.0.0.1:$PROXY_PORT/" && \
     curl -s -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/"; then break; fi
  sleep 0.1
done
if ! curl -s -o /dev/null "http://127.0.0.1:$PROXY_PORT/"; then
  echo "conformance: the proxy did not start; see $WORK/proxy.log" >&2
  tail -20 "$WORK/proxy.log" >&2
  exit 1
fi

export npm_config_base="http://127.0.0.1:$PROXY_PORT"
export npm_config_id="${CONFORMANCE_ID:-}" npm_package_config_id=""
if [ -n "$npm_config_id" ]; then
  (cd "$SUITE" && node --no-warnings cli.mjs)
  exit 0
fi
(cd "$SUITE" && node --no-warnings cli.mjs) > "$WORK/results.json"
settings="project settings"
[ "${CONFORMANCE_DEFAULTS:-0}" = 1 ] && settings="default options"
echo "cache-tests $SUITE_VERSION against HttpCache, $settings (reverse proxy on 127.0.0.1:$PROXY_PORT):"
node "$ROOT/tests/conformance/count.mjs" "$SUITE" "$WORK/results.json"
echo
echo "for comparison, the results shipped with the suite (older runs; tests added since count as not passed):"
for peer in apache squid trafficserver varnish nginx; do
  [ -f "$SUITE/results/$peer.json" ] || continue
  printf '%-14s %s\n' "$peer" "$(node "$ROOT/tests/conformance/count.mjs" "$SUITE" "$SUITE/results/$peer.json" | tr -s ' ' | paste -sd' ')"
done
