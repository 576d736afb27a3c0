#!/usr/bin/env bash
# Shell functions shared by scripts/services.d/*.sh (sourced, not run).
# Sends TERM to the pid in a pidfile and waits (up to 5 s, then KILL) until the process is gone,
# so that the next start can bind the same port at once.
stop_pidfile() {
  local pidfile="$1" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

# Writes a throw-away CA and a server and a client certificate for localhost/127.0.0.1 into
# DIR (ca.crt, server.crt/key, client.crt/key), valid for two days.
make_test_certs() {
  local t="$1" ca_name="$2"
  mkdir -p "$t"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$ca_name" \
    -keyout "$t/ca.key" -out "$t/ca.crt" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$t/san.ext"
  for who in server client; do
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
      -keyout "$t/$who.key" -out "$t/$who.csr" 2>/dev/null
    openssl x509 -req -in "$t/$who.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" -CAcreateserial \
      -days 2 -extfile "$t/san.ext" -out "$t/$who.crt" 2>/dev/null
  done
}
