#!/usr/bin/env bash
# Runs a command with every test server started on private ports and stopped afterwards,
# whatever the command's outcome. The servers' addresses are exported to the command.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
trap 'bash "$ROOT/scripts/services.sh" stop' EXIT
bash "$ROOT/scripts/services.sh" start
set -a
# shellcheck disable=SC1091
. "${CACHETTE_SERVICES_DIR:-$ROOT/.services}/env"
set +a
"$@"
