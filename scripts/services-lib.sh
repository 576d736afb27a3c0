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
