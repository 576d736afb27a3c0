#!/usr/bin/env bash
# Runs each libFuzzer target in BUILD_DIR for SECONDS over its seed corpus and dictionary.
# New inputs go to a scratch corpus so the committed seeds stay small. The seed is fixed so
# that this gate is reproducible: a failure here fails again on any machine with the same
# commit. Exploring with fresh randomness is the campaign's job (scripts/fuzz-campaign.sh).
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
  "$target" "${dict_args[@]}" -seed=1 -max_total_time="$seconds" -print_final_stats=1 "$scratch" "$seeds" \
    2>&1 | tail -n 12
  test "${PIPESTATUS[0]}" -eq 0
done
if [ "$found" -ne 1 ]; then
  echo "fuzz: no fuzz targets found under $build_dir" >&2
  exit 1
fi
