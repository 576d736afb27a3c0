#!/usr/bin/env bash
# Runs each libFuzzer target in BUILD_DIR for SECONDS over its seed corpus and dictionary.
# New inputs go to a scratch corpus so the committed seeds stay small.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="$1"
seconds="${2:-20}"
found=0
for target in $(find "$build_dir" -type f -name 'fuzz_*' -executable | sort); do
  found=1
  name="$(basename "$target")"
  name="${name#fuzz_}"
  seeds="$ROOT/tests/fuzz/corpus/$name"
  scratch="$ROOT/tests/fuzz/corpus-run/$name"
  mkdir -p "$scratch"
  dict_args=()
  [ -f "$ROOT/tests/fuzz/$name.dict" ] && dict_args=(-dict="$ROOT/tests/fuzz/$name.dict")
  echo "fuzz: $name for ${seconds}s"
  "$target" "${dict_args[@]}" -max_total_time="$seconds" -print_final_stats=1 "$scratch" "$seeds" \
    2>&1 | tail -n 12
  test "${PIPESTATUS[0]}" -eq 0
done
if [ "$found" -ne 1 ]; then
  echo "fuzz: no fuzz targets found under $build_dir" >&2
  exit 1
fi
